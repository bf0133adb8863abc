// SPDX-License-Identifier: MIT
/*
 * The management socket's request handling (src/mgmt/mgmt_request.h): one
 * request line through mgmt_serve_line, which parses it (json_parse.c),
 * matches it against the command table, checks the argument count, calls
 * the handler and writes the reply (json_writer.c).
 *
 * The real command table (mgmt_commands.c) points at every handler of the
 * daemon, so it is replaced here by a table of stub commands; the helpers
 * handlers use (mgmt_error, mgmt_status_name ...) come from mgmt_call.c.
 * The stubs echo their words back, fail, subscribe, or nest deeper than the
 * writer allows.
 *
 * Input: the request line, without its newline.
 *
 * Oracles: every reply is valid JSON for json_parse, an object whose "ok" is
 * true exactly when the status is MGMT_OK and whose error code is the
 * status's name otherwise; an echoed request comes back word for word
 * (jw_string's escaping undone by json_parse); a request that parses has
 * 1..MGMT_MAX_WORDS non-empty words without NULs; nothing leaks.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "json_parse.h"
#include "json_writer.h"
#include "mgmt_command.h"
#include "mgmt_request.h"

static int h_echo(struct mgmt_call *call)
{
	jw_array_begin(call->out, NULL);
	for (int i = 0; i < call->argc; i++)
		jw_string(call->out, NULL, call->argv[i]);
	jw_end(call->out);
	return 0;
}

static int h_fail(struct mgmt_call *call)
{
	/* The message quotes the input, as real handlers do ("nodekey:zz: ..."). */
	return mgmt_error(call, call->argc > 1 ? MGMT_E_USAGE : MGMT_E_FAILED, "%s: no such peer",
			  call->argv[0]);
}

static int h_events(struct mgmt_call *call)
{
	mgmt_subscribe_events(call);
	jw_null(call->out, NULL);
	return 0;
}

static int h_deep(struct mgmt_call *call)
{
	for (int i = 0; i < JW_MAX_DEPTH + 2; i++)
		jw_array_begin(call->out, NULL);
	for (int i = 0; i < JW_MAX_DEPTH + 2; i++)
		jw_end(call->out);
	return 0;
}

static int h_status(struct mgmt_call *call)
{
	jw_object_begin(call->out, NULL);
	jw_u64(call->out, "peers", UINT64_MAX);
	jw_i64(call->out, "delta", INT64_MIN);
	jw_double(call->out, "ratio", call->argc ? 0.5 : 1e300 * 1e10); /* inf included */
	jw_bool(call->out, "tls", false);
	jw_stringf(call->out, "who", "%s=%d", call->argc ? call->argv[0] : "", call->argc);
	jw_end(call->out);
	return 0;
}

const struct mgmt_command mgmt_commands[] = {
	{ "echo", "WORDS...", 0, -1, h_echo, "echo the words" },
	{ "peer close", "KEY", 1, 1, h_fail, "always fails" },
	{ "peer fail", "KEY [KEY]", 1, 2, h_fail, "always fails" },
	{ "show status", "[WHO]", 0, 1, h_status, "numbers of every kind" },
	{ "show deep", "", 0, 0, h_deep, "nests too deep" },
	{ "events", "", 0, 0, h_events, "subscribe" },
};
const int mgmt_command_count = (int)(sizeof(mgmt_commands) / sizeof(mgmt_commands[0]));

/* ---- the target ---- */

/* Walks a parsed tree, checking counts and strings; returns the node count. */
static size_t walk(const struct json_value *v, bool in_object, int depth)
{
	size_t n = 1, count = 0;

	FUZZ_CHECK(depth <= JSON_MAX_DEPTH + 1);
	FUZZ_CHECK(in_object ? v->name != NULL : v->name == NULL);
	switch (v->type) {
	case JSON_STRING:
	case JSON_NUMBER:
		FUZZ_CHECK(v->str != NULL && v->str[v->str_len] == '\0');
		FUZZ_CHECK(v->child == NULL);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		for (const struct json_value *c = v->child; c; c = c->next) {
			n += walk(c, v->type == JSON_OBJECT, depth + 1);
			count++;
		}
		FUZZ_CHECK(count == v->count);
		break;
	case JSON_NULL:
	case JSON_BOOL:
		FUZZ_CHECK(v->child == NULL);
		break;
	default:
		FUZZ_CHECK(!"json type");
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *line = (const char *)fuzz_dup(data, size);
	struct json_doc doc;
	struct mgmt_request req;
	struct mgmt_context ctx;
	struct json_writer reply;
	char err[256];
	bool subscribe = true;
	int parsed;

	/* The JSON parser alone. */
	memset(err, 0x55, sizeof(err));
	if (json_parse(line, size, &doc, err, sizeof(err)) == 0) {
		walk(doc.root, false, 0);
		json_doc_free(&doc);
	} else {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
		json_doc_free(&doc); /* documented as harmless */
	}

	/* The request parser alone. */
	parsed = mgmt_request_parse(line, size, &req, err, sizeof(err));
	if (parsed == 0) {
		FUZZ_CHECK(req.argc >= 1 && req.argc <= MGMT_MAX_WORDS);
		FUZZ_CHECK(req.argv[req.argc] == NULL);
		for (int i = 0; i < req.argc; i++) {
			size_t len = strlen(req.argv[i]);

			FUZZ_CHECK(len >= 1 && len <= MGMT_MAX_WORD);
		}
	} else {
		FUZZ_CHECK(req.argc == 0 && req.argv == NULL);
	}

	/* The whole line served. */
	memset(&ctx, 0, sizeof(ctx));
	jw_init(&reply);
	enum mgmt_status st = mgmt_serve_line(&ctx, line, size, &reply, &subscribe);

	FUZZ_CHECK(!reply.failed);
	FUZZ_CHECK(reply.buf != NULL && strlen(reply.buf) == reply.len);
	FUZZ_CHECK(json_parse(reply.buf, reply.len, &doc, err, sizeof(err)) == 0);
	walk(doc.root, false, 0);
	FUZZ_CHECK(doc.root->type == JSON_OBJECT);
	const struct json_value *ok = json_get(doc.root, "ok");
	FUZZ_CHECK(ok && ok->type == JSON_BOOL && ok->boolean == (st == MGMT_OK));
	FUZZ_CHECK((parsed != 0) == (st == MGMT_E_PROTOCOL));
	if (st != MGMT_OK) {
		const struct json_value *e = json_get(doc.root, "error");

		FUZZ_CHECK(!subscribe);
		FUZZ_CHECK(e && e->type == JSON_OBJECT);
		FUZZ_CHECK(strcmp(json_get_str(e, "code", ""), mgmt_status_name(st)) == 0);
	} else {
		int nwords = 0;
		const struct mgmt_command *cmd;

		FUZZ_CHECK(parsed == 0);
		cmd = mgmt_command_find(req.argc, req.argv, &nwords);
		FUZZ_CHECK(cmd != NULL && nwords >= 1 && nwords <= req.argc);
		FUZZ_CHECK(subscribe == (cmd->handler == h_events));
		if (cmd->handler == h_echo) {
			const struct json_value *d = json_get(doc.root, "data");
			const struct json_value *w;
			int i = nwords;

			FUZZ_CHECK(d && d->type == JSON_ARRAY);
			FUZZ_CHECK(d->count == (size_t)(req.argc - nwords));
			for (w = d->child; w; w = w->next, i++) {
				FUZZ_CHECK(w->type == JSON_STRING);
				FUZZ_CHECK(w->str_len == strlen(req.argv[i]));
				FUZZ_CHECK(memcmp(w->str, req.argv[i], w->str_len) == 0);
			}
		}
	}
	json_doc_free(&doc);
	jw_free(&reply);
	if (parsed == 0)
		mgmt_request_free(&req);
	free((void *)line);
	return 0;
}
