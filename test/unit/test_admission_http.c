// SPDX-License-Identifier: MIT
/*
 * The admission checks' HTTP pieces that do not need a server: the
 * verify_client_url parser (the config loader uses it too) and the
 * response parser, on whole, partial, chunked and bad responses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "admission_answer.h"
#include "admission_url.h"
#include "http_client.h"

static void test_url_forms(void **state)
{
	(void)state;
	struct admission_url u;
	char why[256];
	assert_int_equal(admission_url_parse("http://127.0.0.1:8080/verify", &u, why, sizeof(why)),
			 0);
	assert_false(u.tls);
	assert_string_equal(u.host, "127.0.0.1");
	assert_string_equal(u.port, "8080");
	assert_string_equal(u.path, "/verify");

	assert_int_equal(admission_url_parse("https://hs.example.com", &u, why, sizeof(why)), 0);
	assert_true(u.tls);
	assert_string_equal(u.host, "hs.example.com");
	assert_string_equal(u.port, "443");
	assert_string_equal(u.path, "/");

	assert_int_equal(admission_url_parse("http://[::1]:81/a?b=c", &u, why, sizeof(why)), 0);
	assert_true(u.host_is_v6);
	assert_string_equal(u.host, "::1");
	assert_string_equal(u.port, "81");
	assert_string_equal(u.path, "/a?b=c");

	assert_int_equal(admission_url_parse("http://h?q=1", &u, why, sizeof(why)), 0);
	assert_string_equal(u.path, "/?q=1");
}

static void test_url_refused(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"h/verify",
		"ftp://h/",
		"http://",
		"http:///x",
		"http://h:/",
		"http://h:0/",
		"http://h:65536/",
		"http://h:8x/",
		"http://user:pw@h/",
		"http://[::1/",
		"http://[::1]x/",
		"http://h/a b",
		"http://h/#frag",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct admission_url u;
		char why[256] = "";
		assert_int_equal(admission_url_parse(bad[i], &u, why, sizeof(why)), -1);
		assert_true(why[0] != '\0');
	}
}

/* Parses text (copied: chunked bodies are decoded in place). */
static int parse(const char *text, int at_eof, int *status, char *body, size_t cap)
{
	static char buf[4096];
	const char *b;
	size_t n;
	size_t len = strlen(text);
	memcpy(buf, text, len);
	int rc = http_response_parse(buf, len, status, &b, &n, at_eof);
	if (rc == 0) {
		assert_true(n < cap);
		memcpy(body, b, n);
		body[n] = '\0';
	}
	return rc;
}

static void test_response_content_length(void **state)
{
	(void)state;
	int status;
	char body[256];
	const char *r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			"content-length: 14\r\n\r\n{\"Allow\":true}";
	assert_int_equal(parse(r, 0, &status, body, sizeof(body)), 0);
	assert_int_equal(status, 200);
	assert_string_equal(body, "{\"Allow\":true}");
	/* Not all of the body yet: more needed; at the close, a short body is an error. */
	const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\n{\"Allow\"";
	assert_int_equal(parse(cut, 0, &status, body, sizeof(body)), 1);
	assert_int_equal(parse(cut, 1, &status, body, sizeof(body)), -1);
	/* Head not complete. */
	assert_int_equal(
	    parse("HTTP/1.1 404 Not Found\r\nX: y\r\n", 0, &status, body, sizeof(body)), 1);
}

static void test_response_chunked(void **state)
{
	(void)state;
	int status;
	char body[256];
	const char *r = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"5\r\n{\"All\r\n9\r\now\":true}\r\n0\r\n\r\n";
	assert_int_equal(parse(r, 0, &status, body, sizeof(body)), 0);
	assert_string_equal(body, "{\"Allow\":true}");
	/* A body whose last chunk has not come is left as it came. */
	static char buf[256];
	const char *part =
	    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"All\r\n9\r\now";
	size_t len = strlen(part);
	memcpy(buf, part, len);
	const char *b;
	size_t n;
	assert_int_equal(http_response_parse(buf, len, &status, &b, &n, 0), 1);
	assert_memory_equal(buf, part, len);
	assert_int_equal(http_response_parse(buf, len, &status, &b, &n, 1), -1);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0,
			       &status, body, sizeof(body)),
			 -1);
}

static void test_response_to_close(void **state)
{
	(void)state;
	int status;
	char body[256];
	const char *r = "HTTP/1.0 200 OK\r\n\r\n{\"Allow\":false}";
	assert_int_equal(parse(r, 0, &status, body, sizeof(body)), 1);
	assert_int_equal(parse(r, 1, &status, body, sizeof(body)), 0);
	assert_string_equal(body, "{\"Allow\":false}");
}

static void test_response_not_http(void **state)
{
	(void)state;
	int status;
	char body[256];
	assert_int_equal(parse("SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, &status, body, sizeof(body)), -1);
	assert_int_equal(parse("HTTP/1.1 2x0 OK\r\n\r\n", 1, &status, body, sizeof(body)), -1);
	assert_int_equal(
	    parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 1, &status, body, sizeof(body)),
	    -1);
	assert_int_equal(parse("HTTP", 1, &status, body, sizeof(body)), -1);
}

/* A controller connection is kept only when the answer allows it. */
static void test_keeps_alive(void **state)
{
	(void)state;
	static const char keep[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	static const char close1[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{}";
	static const char close2[] = "HTTP/1.1 200 OK\r\nconnection:Close\r\n\r\n";
	static const char v10[] = "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}";
	static const char head_only[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n";
	assert_true(http_response_keeps_alive(keep, strlen(keep)));
	assert_false(http_response_keeps_alive(close1, strlen(close1)));
	assert_false(http_response_keeps_alive(close2, strlen(close2)));
	assert_false(http_response_keeps_alive(v10, strlen(v10)));
	assert_false(http_response_keeps_alive(head_only, strlen(head_only)));
}

static int allows(const char *json, bool *allow)
{
	return admission_answer_allows(json, strlen(json), allow);
}

/* tailcfg.DERPAdmitClientResponse as Go's encoding/json reads it. */
static void test_answer(void **state)
{
	(void)state;
	bool allow;
	assert_int_equal(allows("{\"Allow\":true}", &allow), 0);
	assert_true(allow);
	assert_int_equal(allows(" {\"allow\" : true }\n", &allow), 0);
	assert_true(allow);
	assert_int_equal(allows("{\"ALLOW\":false}", &allow), 0);
	assert_false(allow);
	assert_int_equal(allows("{\"Allow\":null}", &allow), 0);
	assert_false(allow);
	assert_int_equal(allows("{}", &allow), 0);
	assert_false(allow);
	assert_int_equal(allows("{\"x\":{\"y\":[1,\"z\"]},\"Allow\":true,\"n\":2}", &allow), 0);
	assert_true(allow);
	/* The last duplicate wins, as in Go. */
	assert_int_equal(allows("{\"Allow\":true,\"Allow\":false}", &allow), 0);
	assert_false(allow);
	/* One value is read: what follows it is not looked at (json.Decoder). */
	assert_int_equal(allows("{\"Allow\":true}garbage", &allow), 0);
	assert_true(allow);
	static const char *const bad[] = {
		"",
		"[]",
		"true",
		"{\"Allow\":\"true\"}",
		"{\"Allow\":1}",
		"{\"Allow\":tru}",
		"{\"Allow\":true",
		"{\"x\":[1,}",
		"{\"Allow\" true}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(allows(bad[i], &allow), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_forms),
		cmocka_unit_test(test_url_refused),
		cmocka_unit_test(test_response_content_length),
		cmocka_unit_test(test_response_chunked),
		cmocka_unit_test(test_response_to_close),
		cmocka_unit_test(test_response_not_http),
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_keeps_alive),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
