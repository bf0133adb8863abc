// SPDX-License-Identifier: MIT
/*
 * Unit tests (cmocka) for the management protocol's pieces that need no
 * daemon: the JSON parser and writer, request parsing, verb matching and
 * the replies to bad requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "json_parse.h"
#include "json_writer.h"
#include "mgmt_request.h"

/* ---- JSON parser ---- */

static void test_json_values(void **state)
{
	struct json_doc doc;
	char err[128];
	const char *text =
	    " {\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\ty\\u00e9\\ud83d\\ude00\","
	    " \"big\": 18446744073709551615, \"o\": {}} ";
	(void)state;

	assert_int_equal(json_parse(text, strlen(text), &doc, err, sizeof(err)), 0);
	const struct json_value *a = json_get(doc.root, "a");
	assert_non_null(a);
	assert_int_equal(a->type, JSON_ARRAY);
	assert_int_equal(a->count, 5);
	assert_int_equal(json_u64(a->child, 0), 1);
	assert_true(a->child->next->num == -2500.0);
	assert_int_equal(json_u64(a->child->next, 7), 7); /* not an unsigned integer */
	assert_true(a->child->next->next->boolean);
	assert_int_equal(a->child->next->next->next->next->type, JSON_NULL);
	assert_string_equal(json_get_str(doc.root, "b", ""), "x\ty\xc3\xa9\xf0\x9f\x98\x80");
	assert_true(json_get_u64(doc.root, "big", 0) == UINT64_MAX);
	assert_int_equal(json_get(doc.root, "o")->count, 0);
	assert_null(json_get(doc.root, "missing"));
	json_doc_free(&doc);
}

static void test_json_errors(void **state)
{
	static const struct {
		const char *text;
		const char *reason;
	} bad[] = {
		{ "", "unexpected end of input" },
		{ "{", "expected a member name" },
		{ "{\"a\":1,}", "expected a member name" },
		{ "[1,]", "unexpected character ']'" },
		{ "[1 2]", "expected ',' or ']'" },
		{ "\"abc", "unterminated string" },
		{ "\"a\nb\"", "control character in string" },
		{ "\"\\x\"", "bad escape \\x" },
		{ "\"\\ud800\"", "unpaired surrogate" },
		{ "\"\\u12g4\"", "bad hex digit" },
		{ "01", "unexpected text after the value" },
		{ "1.", "digits must follow '.'" },
		{ "-", "bad number" },
		{ "tru", "unexpected character 't'" },
		{ "{} x", "unexpected text after the value" },
		{ "garbage", "unexpected character 'g'" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_doc doc;
		char err[128] = "";
		assert_int_equal(
		    json_parse(bad[i].text, strlen(bad[i].text), &doc, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].reason))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].reason);
		json_doc_free(&doc);
	}

	/* Nesting is bounded, so a hostile line cannot exhaust the stack. */
	char deep[200];
	memset(deep, '[', sizeof(deep));
	struct json_doc doc;
	char err[128];
	assert_int_equal(json_parse(deep, sizeof(deep), &doc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "nested deeper than"));
}

/* ---- JSON writer ---- */

static void test_json_writer(void **state)
{
	struct json_writer w;
	(void)state;

	jw_init(&w);
	jw_object_begin(&w, NULL);
	jw_string(&w, "s", "q\"b\\n\nt\x01");
	jw_u64(&w, "u", UINT64_MAX);
	jw_i64(&w, "i", -5);
	jw_bool(&w, "t", true);
	jw_null(&w, "n");
	jw_array_begin(&w, "a");
	jw_u64(&w, NULL, 1);
	jw_object_begin(&w, NULL);
	jw_end(&w);
	jw_stringf(&w, NULL, "%d-%s", 7, "x");
	jw_end(&w);
	jw_end(&w);
	assert_false(w.failed);
	assert_string_equal(w.buf, "{\"s\":\"q\\\"b\\\\n\\nt\\u0001\",\"u\":18446744073709551615,"
				   "\"i\":-5,\"t\":true,\"n\":null,\"a\":[1,{},\"7-x\"]}");

	/* What it writes, the parser reads back. */
	struct json_doc doc;
	char err[128];
	assert_int_equal(json_parse(w.buf, w.len, &doc, err, sizeof(err)), 0);
	assert_string_equal(json_get_str(doc.root, "s", ""), "q\"b\\n\nt\x01");
	json_doc_free(&doc);

	/* Too deep, or more ends than begins: failed, not corrupt. */
	jw_reset(&w);
	for (int i = 0; i <= JW_MAX_DEPTH; i++)
		jw_array_begin(&w, NULL);
	assert_true(w.failed);
	jw_reset(&w);
	jw_end(&w);
	assert_true(w.failed);
	jw_free(&w);
}

/* ---- requests ---- */

static void parse_ok(const char *line, int argc, const char *first)
{
	struct mgmt_request req;
	char err[256];
	if (mgmt_request_parse(line, strlen(line), &req, err, sizeof(err)) < 0)
		fail_msg("%s: %s", line, err);
	assert_int_equal(req.argc, argc);
	assert_string_equal(req.argv[0], first);
	assert_null(req.argv[argc]);
	mgmt_request_free(&req);
}

static void parse_bad(const char *line, const char *reason)
{
	struct mgmt_request req;
	char err[256] = "";
	assert_int_equal(mgmt_request_parse(line, strlen(line), &req, err, sizeof(err)), -1);
	if (!strstr(err, reason))
		fail_msg("%s: got \"%s\", want \"%s\"", line, err, reason);
	assert_int_equal(req.argc, 0);
	assert_null(req.argv);
}

static void test_request_parse(void **state)
{
	(void)state;
	parse_ok("{\"argv\":[\"show\",\"status\"]}", 2, "show");
	parse_ok(" { \"argv\" : [ \"peer\" , \"close\", \"nodekey:00\" ] } ", 3, "peer");
	parse_ok("{\"argv\":[\"sh\\u006fw\"]}", 1, "show");

	parse_bad("", "not valid JSON");
	parse_bad("show status", "not valid JSON: offset 0: unexpected character 's'");
	parse_bad("[\"show\"]", "must be a JSON object");
	parse_bad("{}", "request has no \"argv\"");
	parse_bad("{\"argv\":\"show\"}", "\"argv\" must be an array of strings");
	parse_bad("{\"argv\":[]}", "\"argv\" is empty");
	parse_bad("{\"argv\":[\"show\",2]}", "argv[1] is not a string");
	parse_bad("{\"argv\":[\"show\",\"\"]}", "argv[1] is empty");
	parse_bad("{\"argv\":[\"a\\u0000b\"]}", "argv[0] contains a NUL character");
	parse_bad("{\"argv\":[\"show\"],\"id\":1}", "unknown request member \"id\"");
	parse_bad("{\"argv\":[\"a\"],\"argv\":[\"b\"]}", "\"argv\" given more than once");

	/* Limits: words, word length, line length. */
	char line[MGMT_MAX_LINE + 64];
	size_t n = (size_t)snprintf(line, sizeof(line), "{\"argv\":[");
	for (int i = 0; i <= MGMT_MAX_WORDS; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s\"w\"", i ? "," : "");
	snprintf(line + n, sizeof(line) - n, "]}");
	parse_bad(line, "at most 64");

	n = (size_t)snprintf(line, sizeof(line), "{\"argv\":[\"");
	memset(line + n, 'x', MGMT_MAX_WORD + 1);
	n += MGMT_MAX_WORD + 1;
	snprintf(line + n, sizeof(line) - n, "\"]}");
	parse_bad(line, "argv[0] is longer than 4096 bytes");

	memset(line, ' ', MGMT_MAX_LINE + 1);
	line[MGMT_MAX_LINE + 1] = '\0';
	parse_bad(line, "request longer than");
}

static void test_command_find(void **state)
{
	char *show_peers[] = { "show", "peers", "extra" };
	char *show[] = { "show" };
	char *peer_close[] = { "peer", "close", "KEY" };
	char *nothing[] = { "frobnicate" };
	char *prefix_word[] = { "shows", "peers" };
	int n;
	(void)state;

	const struct mgmt_command *c = mgmt_command_find(3, show_peers, &n);
	assert_non_null(c);
	assert_string_equal(c->verb, "show peers");
	assert_int_equal(n, 2);
	assert_null(mgmt_command_find(1, show, &n));
	c = mgmt_command_find(3, peer_close, &n);
	assert_non_null(c);
	assert_string_equal(c->verb, "peer close");
	assert_null(mgmt_command_find(1, nothing, &n));
	assert_null(mgmt_command_find(2, prefix_word, &n));

	/* Every verb is unique and documented. */
	for (int i = 0; i < mgmt_command_count; i++) {
		assert_non_null(mgmt_commands[i].handler);
		assert_true(strlen(mgmt_commands[i].help) > 0);
		for (int j = i + 1; j < mgmt_command_count; j++)
			assert_string_not_equal(mgmt_commands[i].verb, mgmt_commands[j].verb);
	}
}

/* ---- replies ---- */

static void serve(const char *line, enum mgmt_status want, const char *want_text)
{
	struct json_writer reply;
	bool subscribe = true;
	jw_init(&reply);
	enum mgmt_status st = mgmt_serve_line(NULL, line, strlen(line), &reply, &subscribe);
	if (st != want || !strstr(reply.buf, want_text))
		fail_msg("%s: status %d, reply %s; want %d and %s", line, st, reply.buf, want,
			 want_text);
	assert_false(subscribe);
	/* Every reply is one line of valid JSON. */
	assert_null(strchr(reply.buf, '\n'));
	struct json_doc doc;
	char err[128];
	assert_int_equal(json_parse(reply.buf, reply.len, &doc, err, sizeof(err)), 0);
	json_doc_free(&doc);
	jw_free(&reply);
}

static void test_replies(void **state)
{
	(void)state;
	serve("{\"argv\":[\"frobnicate\",\"x\"]}", MGMT_E_USAGE,
	      "{\"ok\":false,\"error\":{\"code\":\"usage\",\"message\":\"unknown command "
	      "\\\"frobnicate x\\\"; try \\\"help\\\"\"}}");
	serve("{\"argv\":[\"config\"]}", MGMT_E_USAGE,
	      "\\\"config\\\" is incomplete; try \\\"help config\\\"");
	serve("{\"argv\":[\"peer\",\"close\"]}", MGMT_E_USAGE, "usage: peer close KEY");
	serve("{\"argv\":[\"config\",\"set\",\"a\"]}", MGMT_E_USAGE, "usage: config set KEY VALUE");
	serve("{\"argv\":[\"show\",\"status\",\"now\"]}", MGMT_E_USAGE, "usage: show status");
	serve("nonsense", MGMT_E_PROTOCOL, "\"code\":\"protocol\"");
	/* help needs no relay. */
	serve("{\"argv\":[\"help\",\"config\"]}", MGMT_OK, "{\"verb\":\"config diff\"");
	serve("{\"argv\":[\"help\",\"nope\"]}", MGMT_E_USAGE, "no command starts with");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_values),  cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_json_writer),  cmocka_unit_test(test_request_parse),
		cmocka_unit_test(test_command_find), cmocka_unit_test(test_replies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
