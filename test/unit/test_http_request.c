// SPDX-License-Identifier: MIT
/*
 * Tests for the HTTP request head parser and derper-compatible routing
 * (derp-protocol.md 1.2, 1.3, 1.6; Go tests TestNoContent and TestProbe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http_request.h"

#define PUB_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* What the Go client (derphttp) sends, with its usual header order. */
static const char go_upgrade_request[] = "GET /derp HTTP/1.1\r\n"
					 "Host: derp.example.com\r\n"
					 "User-Agent: Go-http-client/1.1\r\n"
					 "Connection: Upgrade\r\n"
					 "Upgrade: DERP\r\n"
					 "\r\n";

static enum http_parse_status parse_bytes(const void *buf, size_t len, struct http_request *req)
{
	return http_request_parse(buf, len, req);
}

static enum http_parse_status parse_str(const char *s, struct http_request *req)
{
	return parse_bytes(s, strlen(s), req);
}

/* Parses a request that must be good and routes it; the response is NUL-terminated. */
static void route_str(const char *request, char *out, size_t cap, struct http_route_result *res)
{
	struct http_request req;

	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
	assert_int_equal(http_route(&req, PUB_HEX, (uint8_t *)out, cap - 1, res), 0);
	out[res->response_len] = '\0';
}

/* True if the response's head has exactly this header line. */
static bool has_header(const char *response, const char *line)
{
	char needle[512];
	const char *end = strstr(response, "\r\n\r\n");

	snprintf(needle, sizeof(needle), "\r\n%s\r\n", line);
	const char *hit = strstr(response, needle);
	return hit && end && hit < end + 2;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *body_of(const char *response)
{
	const char *end = strstr(response, "\r\n\r\n");
	assert_non_null(end);
	return end + 4;
}

/* ---- upgrade ---- */

static void test_go_client_upgrade(void **state)
{
	(void)state;
	struct http_request req;
	struct http_route_result res;
	char out[1024];
	static const char expected_101[] = "HTTP/1.1 101 Switching Protocols\r\n"
					   "Upgrade: DERP\r\n"
					   "Connection: Upgrade\r\n"
					   "Derp-Version: 2\r\n"
					   "Derp-Public-Key: " PUB_HEX "\r\n"
					   "\r\n";

	assert_int_equal(parse_str(go_upgrade_request, &req), HTTP_PARSE_DONE);
	assert_string_equal(req.method, "GET");
	assert_string_equal(req.path, "/derp");
	assert_string_equal(req.query, "");
	assert_int_equal(req.version_minor, 1);
	assert_string_equal(req.upgrade, "DERP");
	assert_string_equal(req.connection, "Upgrade");
	assert_string_equal(req.host, "derp.example.com");
	assert_string_equal(req.derp_fast_start, "");
	assert_int_equal(req.head_len, strlen(go_upgrade_request));

	assert_int_equal(http_route(&req, PUB_HEX, (uint8_t *)out, sizeof(out), &res), 0);
	assert_int_equal(res.action, HTTP_ACTION_DERP_UPGRADE);
	assert_false(res.fast_start);
	assert_false(res.not_ideal);
	assert_int_equal(res.status, 101);
	/* Byte for byte, no Date or anything else. */
	assert_int_equal(res.response_len, strlen(expected_101));
	assert_memory_equal(out, expected_101, res.response_len);
}

static void test_upgrade_values(void **state)
{
	(void)state;
	static const struct {
		const char *headers;
		int status;
		enum http_action action;
	} cases[] = {
		{ "Upgrade: derp\r\n", 101, HTTP_ACTION_DERP_UPGRADE },
		{ "Upgrade: DeRp\r\n", 101, HTTP_ACTION_DERP_UPGRADE },
		{ "upgrade: DERP\r\n", 101, HTTP_ACTION_DERP_UPGRADE },
		/* Old clients: "websocket" without the derp subprotocol is raw DERP. */
		{ "Upgrade: websocket\r\n", 101, HTTP_ACTION_DERP_UPGRADE },
		{ "Upgrade: WebSocket\r\nSec-WebSocket-Protocol: chat\r\n", 101,
		  HTTP_ACTION_DERP_UPGRADE },
		/* Real WebSocket DERP: the handshake's checks (test_websocket_* below). */
		{ "Upgrade: websocket\r\nSec-WebSocket-Protocol: derp\r\n", 426,
		  HTTP_ACTION_RESPOND_CLOSE },
		{ "Upgrade: WEBSOCKET\r\nsec-websocket-protocol: chat, derp\r\n"
		  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
		  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
		  101, HTTP_ACTION_DERP_UPGRADE },
		/* The subprotocol only matters with Upgrade: websocket. */
		{ "Upgrade: DERP\r\nSec-WebSocket-Protocol: derp\r\n", 101,
		  HTTP_ACTION_DERP_UPGRADE },
		{ "Upgrade: h2c\r\n", 426, HTTP_ACTION_RESPOND_CLOSE },
		{ "Upgrade: derp2\r\n", 426, HTTP_ACTION_RESPOND_CLOSE },
		{ "Upgrade: websocket, derp\r\n", 426, HTTP_ACTION_RESPOND_CLOSE },
		{ "", 426, HTTP_ACTION_RESPOND_CLOSE },
		/* Connection is not checked, as in derper. */
		{ "Connection: keep-alive\r\nUpgrade: DERP\r\n", 101, HTTP_ACTION_DERP_UPGRADE },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char request[512];
		char out[1024];
		struct http_route_result res;

		snprintf(request, sizeof(request), "GET /derp HTTP/1.1\r\nHost: h\r\n%s\r\n",
			 cases[i].headers);
		route_str(request, out, sizeof(out), &res);
		if (res.status != cases[i].status)
			fail_msg("case %zu (%s): status %d, want %d", i, cases[i].headers,
				 res.status, cases[i].status);
		assert_int_equal(res.action, cases[i].action);
	}
}

/* RFC 6455 4.2.2 / 1.3: the sample key and its accept value. */
static void test_websocket_handshake(void **state)
{
	(void)state;
	static const char request[] = "GET /derp HTTP/1.1\r\n"
				      "Host: derp.example.com\r\n"
				      "Upgrade: websocket\r\n"
				      "Connection: keep-alive, Upgrade\r\n"
				      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				      "Sec-WebSocket-Version: 13\r\n"
				      "Sec-WebSocket-Protocol: derp\r\n"
				      "Sec-WebSocket-Extensions: permessage-deflate\r\n"
				      "Origin: https://login.tailscale.com\r\n"
				      "\r\n";
	static const char expected[] = "HTTP/1.1 101 Switching Protocols\r\n"
				       "Upgrade: websocket\r\n"
				       "Connection: Upgrade\r\n"
				       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
				       "Sec-WebSocket-Protocol: derp\r\n"
				       "\r\n";
	char out[1024];
	struct http_route_result res;

	route_str(request, out, sizeof(out), &res);
	assert_int_equal(res.status, 101);
	assert_int_equal(res.action, HTTP_ACTION_DERP_UPGRADE);
	assert_true(res.websocket);
	assert_false(res.fast_start);
	assert_int_equal(res.response_len, strlen(expected));
	assert_memory_equal(out, expected, res.response_len);
}

static void test_websocket_refusals(void **state)
{
	(void)state;
	static const struct {
		const char *start; /* request line */
		const char *headers;
		int status;
		const char *needle; /* in the response */
	} cases[] = {
		{ "GET /derp HTTP/1.1", "Connection: keep-alive\r\n", 426, "Upgrade: websocket" },
		{ "GET /derp HTTP/1.0", "Connection: Upgrade\r\n", 426, "Connection: close" },
		{ "POST /derp HTTP/1.1", "Connection: Upgrade\r\n", 405, "not GET" },
		{ "GET /derp HTTP/1.1", "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n", 400,
		  "Sec-WebSocket-Version: 13\r\n" },
		{ "GET /derp HTTP/1.1", "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n", 400,
		  "missing Sec-WebSocket-Key" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char request[512], out[1024];
		struct http_route_result res;

		snprintf(request, sizeof(request),
			 "%s\r\nHost: h\r\nUpgrade: websocket\r\n"
			 "Sec-WebSocket-Protocol: derp\r\n%s\r\n",
			 cases[i].start, cases[i].headers);
		route_str(request, out, sizeof(out), &res);
		if (res.status != cases[i].status)
			fail_msg("case %zu: status %d, want %d", i, res.status, cases[i].status);
		assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
		assert_false(res.websocket);
		out[res.response_len] = '\0';
		assert_non_null(strstr(out, cases[i].needle));
	}
	/* "derpy" passes derper's substring test but is not the derp subprotocol. */
	char out[1024];
	struct http_route_result res;
	route_str("GET /derp HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
		  "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
		  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		  "Sec-WebSocket-Protocol: derpy\r\n\r\n",
		  out, sizeof(out), &res);
	assert_int_equal(res.status, 400);
	assert_false(res.websocket);
}

static void test_fast_start(void **state)
{
	(void)state;
	static const char head[] = "GET /derp HTTP/1.1\r\n"
				   "Host: derp.example.com\r\n"
				   "Connection: Upgrade\r\n"
				   "Upgrade: DERP\r\n"
				   "Derp-Fast-Start: 1\r\n"
				   "\r\n";
	/* The Go client pipelines its ClientInfo frame right behind the head. */
	uint8_t buf[sizeof(head) - 1 + 9];
	struct http_request req;
	struct http_route_result res;
	uint8_t out[512];

	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1,
	       "\x02\x00\x00\x00\x04"
	       "abcd",
	       9);

	assert_int_equal(parse_bytes(buf, sizeof(buf), &req), HTTP_PARSE_DONE);
	assert_int_equal(req.head_len, sizeof(head) - 1);
	assert_string_equal(req.derp_fast_start, "1");

	memset(out, 0xAA, sizeof(out));
	assert_int_equal(http_route(&req, PUB_HEX, out, sizeof(out), &res), 0);
	assert_int_equal(res.action, HTTP_ACTION_DERP_UPGRADE);
	assert_true(res.fast_start);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.response_len, 0);
	assert_int_equal(out[0], 0xAA); /* nothing written */
}

static void test_fast_start_only_exactly_one(void **state)
{
	(void)state;
	static const char *const values[] = { "0", "true", "01", "11", "yes", "1 1" };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char request[256];
		char out[1024];
		struct http_route_result res;

		snprintf(request, sizeof(request),
			 "GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nDerp-Fast-Start: %s\r\n\r\n",
			 values[i]);
		route_str(request, out, sizeof(out), &res);
		assert_false(res.fast_start);
		assert_int_equal(res.status, 101);
	}

	/* Surrounding whitespace is not part of a header value. */
	char out[1024];
	struct http_route_result res;
	route_str("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nDerp-Fast-Start:  1 \t\r\n\r\n", out,
		  sizeof(out), &res);
	assert_true(res.fast_start);
}

static void test_ideal_node(void **state)
{
	(void)state;
	char out[1024];
	struct http_route_result res;

	route_str("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nIdeal-Node: 1b\r\n\r\n", out, sizeof(out),
		  &res);
	assert_true(res.not_ideal);
	assert_int_equal(res.status, 101);

	route_str("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nIdeal-Node:\r\n\r\n", out, sizeof(out),
		  &res);
	assert_false(res.not_ideal);
}

static void test_upgrade_required(void **state)
{
	(void)state;
	char out[1024];
	struct http_route_result res;

	route_str("GET /derp HTTP/1.1\r\nHost: h\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
	assert_int_equal(res.status, 426);
	assert_true(starts_with(out, "HTTP/1.1 426 Upgrade Required\r\n"));
	assert_true(has_header(out, "Connection: close"));
	assert_true(has_header(out, "Content-Length: 33"));
	assert_true(has_header(out, "Content-Type: text/plain; charset=utf-8"));
	assert_string_equal(body_of(out), "DERP requires connection upgrade\n");

	/* The method is not checked either. */
	route_str("POST /derp HTTP/1.1\r\nUpgrade: DERP\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 101);
}

static void test_derp_path_exact_with_query(void **state)
{
	(void)state;
	char out[1024];
	struct http_route_result res;
	struct http_request req;

	assert_int_equal(parse_str("GET /derp?x=1&y HTTP/1.1\r\nUpgrade: DERP\r\n\r\n", &req),
			 HTTP_PARSE_DONE);
	assert_string_equal(req.path, "/derp");
	assert_string_equal(req.query, "x=1&y");
	route_str("GET /derp?x=1&y HTTP/1.1\r\nUpgrade: DERP\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 101);

	/* Only /derp itself: TestProbe's /derp/sdf is 426 in the bare Handler, but
	 * derper mounts the handler at the exact path. */
	static const char *const others[] = { "/derp/", "/derp/sdf", "/derpx", "/DERP", "//derp" };
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		char request[256];
		snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\nUpgrade: DERP\r\n\r\n",
			 others[i]);
		route_str(request, out, sizeof(out), &res);
		assert_int_equal(res.status, 404);
		assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
	}
}

static void test_absolute_form_and_escapes(void **state)
{
	(void)state;
	struct http_request req;

	assert_int_equal(parse_str("GET http://derp.example.com/derp?a=b HTTP/1.1\r\n\r\n", &req),
			 HTTP_PARSE_DONE);
	assert_string_equal(req.path, "/derp");
	assert_string_equal(req.query, "a=b");

	assert_int_equal(parse_str("GET HTTPS://derp.example.com HTTP/1.1\r\n\r\n", &req),
			 HTTP_PARSE_DONE);
	assert_string_equal(req.path, "/");

	/* The path is percent-decoded before routing, as Go's r.URL.Path is. */
	assert_int_equal(parse_str("GET /%64erp?q=%41 HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	assert_string_equal(req.path, "/derp");
	assert_string_equal(req.query, "q=%41");
}

/* ---- other endpoints ---- */

static void test_probe(void **state)
{
	(void)state;
	char out[1024];
	struct http_route_result res;

	route_str("GET /derp/probe HTTP/1.1\r\nHost: h\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
	assert_true(has_header(out, "Access-Control-Allow-Origin: *"));
	assert_true(has_header(out, "Content-Length: 0"));
	assert_string_equal(body_of(out), "");

	route_str("GET /derp/latency-check HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);

	route_str("HEAD /derp/probe HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_true(has_header(out, "Access-Control-Allow-Origin: *"));

	/* Probe paths win over the Upgrade check. */
	route_str("GET /derp/probe HTTP/1.1\r\nUpgrade: DERP\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);

	route_str("POST /derp/probe HTTP/1.1\r\nContent-Length: 0\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 405);
	assert_false(has_header(out, "Access-Control-Allow-Origin: *"));
	assert_string_equal(body_of(out), "bogus probe method\n");

	route_str("get /derp/latency-check HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 405); /* methods are case-sensitive */
}

/* TestNoContent, plus the edges of the challenge rules. */
static void test_generate_204(void **state)
{
	(void)state;
	char x64[65], x65[66], x64_response[80];
	memset(x64, 'x', 64);
	x64[64] = '\0';
	memset(x65, 'x', 65);
	x65[65] = '\0';
	snprintf(x64_response, sizeof(x64_response), "response %s", x64);
	const struct {
		const char *challenge; /* NULL: no header */
		const char *response;  /* NULL: no X-Tailscale-Response */
	} cases[] = {
		{ "input", "response input" },
		{ "ts_derp99b.tailscale.com", "response ts_derp99b.tailscale.com" },
		{ "foo bar", NULL },
		{ x65, NULL },
		{ x64, x64_response },
		{ "a:b.c-d_E9", "response a:b.c-d_E9" },
		{ "foo/bar", NULL },
		{ "caf\xc3\xa9", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char request[512];
		char out[1024];
		char want[128];
		struct http_route_result res;
		const char *response = cases[i].response;

		if (cases[i].challenge)
			snprintf(request, sizeof(request),
				 "GET /generate_204?t=1700000000 HTTP/1.1\r\n"
				 "X-Tailscale-Challenge: %s\r\n\r\n",
				 cases[i].challenge);
		else
			snprintf(request, sizeof(request), "GET /generate_204 HTTP/1.1\r\n\r\n");
		route_str(request, out, sizeof(out), &res);

		assert_int_equal(res.status, 204);
		assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
		assert_true(starts_with(out, "HTTP/1.1 204 No Content\r\n"));
		assert_true(has_header(out, "Cache-Control: no-cache, no-store, must-revalidate, "
					    "no-transform, max-age=0"));
		assert_string_equal(body_of(out), "");
		if (response) {
			snprintf(want, sizeof(want), "X-Tailscale-Response: %s", response);
			if (!has_header(out, want))
				fail_msg("case %zu: missing %s in\n%s", i, want, out);
		} else if (strstr(out, "X-Tailscale-Response")) {
			fail_msg("case %zu: unexpected response header in\n%s", i, out);
		}
	}
}

static void test_generate_204_control_chars(void **state)
{
	(void)state;
	static const char nul_request[] = "GET /generate_204 HTTP/1.1\r\n"
					  "X-Tailscale-Challenge: foo\0bar\r\n\r\n";
	struct http_request req;
	char out[1024];
	struct http_route_result res;

	/* "foo\x00bar" never reaches the router: control bytes fail the parse. */
	assert_int_equal(parse_bytes(nul_request, sizeof(nul_request) - 1, &req),
			 HTTP_PARSE_BAD_REQUEST);

	/* And a router handed a bad challenge directly still does not echo it. */
	assert_int_equal(parse_str("GET /generate_204 HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	strcpy(req.x_tailscale_challenge, "foo\x01"
					  "bar");
	assert_int_equal(http_route(&req, PUB_HEX, (uint8_t *)out, sizeof(out) - 1, &res), 0);
	out[res.response_len] = '\0';
	assert_null(strstr(out, "X-Tailscale-Response"));

	strcpy(req.x_tailscale_challenge, "ok");
	req.challenge_too_long = true;
	assert_int_equal(http_route(&req, PUB_HEX, (uint8_t *)out, sizeof(out) - 1, &res), 0);
	out[res.response_len] = '\0';
	assert_null(strstr(out, "X-Tailscale-Response"));
}

static void test_robots_home_404(void **state)
{
	(void)state;
	char out[2048];
	struct http_route_result res;

	route_str("GET /robots.txt HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_string_equal(body_of(out), "User-agent: *\nDisallow: /\n");
	assert_true(has_header(out, "Content-Length: 26"));
	assert_true(has_header(out, "Connection: close"));

	route_str("GET / HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_true(has_header(out, "Content-Type: text/html; charset=utf-8"));
	assert_non_null(strstr(body_of(out), "hyper-derp"));

	/* HEAD: same headers, no body. */
	route_str("HEAD / HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 200);
	assert_string_equal(body_of(out), "");
	assert_false(has_header(out, "Content-Length: 0"));

	route_str("GET /nope HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 404);
	assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
	assert_string_equal(body_of(out), "404 page not found\n");
}

/* Answered by the slow path, which holds the resolver and the counters: nothing written here. */
static void test_bootstrap_and_debug_routes(void **state)
{
	(void)state;
	char out[2048];
	struct http_route_result res;

	route_str("GET /bootstrap-dns?q=x HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.action, HTTP_ACTION_BOOTSTRAP_DNS);
	assert_int_equal(res.response_len, 0);
	route_str("GET /debug/vars HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.action, HTTP_ACTION_DEBUG);
	assert_int_equal(res.response_len, 0);
	route_str("GET /debug/ HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.action, HTTP_ACTION_DEBUG);
	/* Go's ServeMux: the subtree without its slash is redirected to it. */
	route_str("GET /debug HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.action, HTTP_ACTION_RESPOND_CLOSE);
	assert_int_equal(res.status, 301);
	assert_true(has_header(out, "Location: /debug/"));
	route_str("GET /debugx HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 404);
	route_str("GET /bootstrap-dns/x HTTP/1.1\r\n\r\n", out, sizeof(out), &res);
	assert_int_equal(res.status, 404);
}

static void test_forwarded_for(void **state)
{
	(void)state;
	struct http_request req;
	const char *with = "GET /debug/ HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n";
	const char *empty = "GET /debug/ HTTP/1.1\r\nx-forwarded-for:\r\n\r\n";
	const char *without = "GET /debug/ HTTP/1.1\r\nHost: x\r\n\r\n";

	assert_int_equal(http_request_parse((const uint8_t *)with, strlen(with), &req),
			 HTTP_PARSE_DONE);
	assert_true(req.forwarded_for);
	/* Go's Header.Get("X-Forwarded-For") != "": an empty value does not count. */
	assert_int_equal(http_request_parse((const uint8_t *)empty, strlen(empty), &req),
			 HTTP_PARSE_DONE);
	assert_false(req.forwarded_for);
	assert_int_equal(http_request_parse((const uint8_t *)without, strlen(without), &req),
			 HTTP_PARSE_DONE);
	assert_false(req.forwarded_for);
}

static void test_response_write(void **state)
{
	(void)state;
	uint8_t out[1024];
	struct http_response r = {
		.status = 200,
		.content_type = "application/json",
		.body = "{}x",
		.body_len = 2,
		.browser = true,
	};
	size_t n = http_response_write(&r, out, sizeof(out) - 1);
	out[n] = '\0';
	assert_true(has_header((char *)out, "Content-Length: 2"));
	assert_true(has_header((char *)out, "X-Frame-Options: DENY"));
	assert_string_equal(body_of((char *)out), "{}");
	assert_int_equal(http_response_write(&r, out, 40), 0); /* too small */
}

static void test_route_small_buffer(void **state)
{
	(void)state;
	struct http_request req;
	struct http_route_result res;
	uint8_t out[64];

	assert_int_equal(parse_str(go_upgrade_request, &req), HTTP_PARSE_DONE);
	assert_int_equal(http_route(&req, PUB_HEX, out, sizeof(out), &res), -1);
	assert_int_equal(parse_str("GET / HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	assert_int_equal(http_route(&req, PUB_HEX, out, sizeof(out), &res), -1);
}

static void test_error_response(void **state)
{
	(void)state;
	char out[512];
	size_t n;

	n = http_error_response(400, (uint8_t *)out, sizeof(out) - 1);
	assert_true(n > 0);
	out[n] = '\0';
	assert_true(starts_with(out, "HTTP/1.1 400 Bad Request\r\n"));
	assert_true(has_header(out, "Connection: close"));
	assert_string_equal(body_of(out), "400 Bad Request");

	n = http_error_response(431, (uint8_t *)out, sizeof(out) - 1);
	out[n] = '\0';
	assert_true(starts_with(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n"));

	n = http_error_response(505, (uint8_t *)out, sizeof(out) - 1);
	out[n] = '\0';
	assert_true(starts_with(out, "HTTP/1.1 505 HTTP Version Not Supported\r\n"));

	n = http_error_response(408, (uint8_t *)out, sizeof(out) - 1);
	out[n] = '\0';
	assert_true(starts_with(out, "HTTP/1.1 408 Request Timeout\r\n"));

	assert_int_equal(http_error_response(400, (uint8_t *)out, 10), 0);
}

/* ---- incremental input and limits ---- */

static void test_every_prefix_needs_more(void **state)
{
	(void)state;
	static const char *const requests[] = {
		go_upgrade_request,
		"GET /derp HTTP/1.1\nUpgrade: DERP\nDerp-Fast-Start: 1\n\n", /* bare LF */
		"HEAD /derp/probe?x HTTP/1.0\r\nHost: h\r\n\r\n",
	};

	for (size_t r = 0; r < sizeof(requests) / sizeof(requests[0]); r++) {
		const char *s = requests[r];
		size_t len = strlen(s);
		struct http_request req;

		for (size_t i = 0; i < len; i++) {
			enum http_parse_status st = parse_bytes(s, i, &req);
			if (st != HTTP_PARSE_NEED_MORE)
				fail_msg("request %zu, prefix %zu: status %d", r, i, st);
		}
		assert_int_equal(parse_bytes(s, len, &req), HTTP_PARSE_DONE);
		assert_int_equal(req.head_len, len);
	}
}

static void test_bytes_after_head_kept(void **state)
{
	(void)state;
	struct http_request req;
	/* A second request and junk after the first head stay with the caller. */
	static const char buf[] = "GET /derp HTTP/1.1\r\nUpgrade: DERP\r\n\r\n"
				  "GET /x HTTP/1.1\r\n\r\n\x00\xff";

	assert_int_equal(parse_bytes(buf, sizeof(buf) - 1, &req), HTTP_PARSE_DONE);
	assert_int_equal(req.head_len, strlen("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\n\r\n"));
	assert_string_equal(req.path, "/derp");

	/* Bare LF ends, and a mix: the head ends at the first empty line either way. */
	assert_int_equal(parse_str("GET / HTTP/1.1\nA: b\r\n\nrest", &req), HTTP_PARSE_DONE);
	assert_int_equal(req.head_len, strlen("GET / HTTP/1.1\nA: b\r\n\n"));
	assert_int_equal(parse_str("GET / HTTP/1.1\r\nA: b\n\r\nrest", &req), HTTP_PARSE_DONE);
	assert_int_equal(req.head_len, strlen("GET / HTTP/1.1\r\nA: b\n\r\n"));
}

/* Builds "GET / HTTP/1.1\r\nX-Pad: xxx...\r\n\r\n" of exactly total bytes. */
static char *padded_request(size_t total)
{
	static const char prefix[] = "GET / HTTP/1.1\r\nX-Pad: ";
	static const char suffix[] = "\r\n\r\n";
	char *s = malloc(total + 1);
	size_t pad = total - (sizeof(prefix) - 1) - (sizeof(suffix) - 1);

	assert_non_null(s);
	memcpy(s, prefix, sizeof(prefix) - 1);
	memset(s + sizeof(prefix) - 1, 'x', pad);
	memcpy(s + total - (sizeof(suffix) - 1), suffix, sizeof(suffix));
	return s;
}

static void test_head_size_limit(void **state)
{
	(void)state;
	struct http_request req;
	char *s;

	s = padded_request(HTTP_MAX_HEAD);
	assert_int_equal(parse_str(s, &req), HTTP_PARSE_DONE);
	assert_int_equal(req.head_len, HTTP_MAX_HEAD);
	free(s);

	s = padded_request(HTTP_MAX_HEAD + 1);
	assert_int_equal(parse_str(s, &req), HTTP_PARSE_TOO_LARGE);
	/* Still incomplete just under the limit; over it, no more waiting. */
	assert_int_equal(parse_bytes(s, HTTP_MAX_HEAD - 1, &req), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse_bytes(s, HTTP_MAX_HEAD, &req), HTTP_PARSE_TOO_LARGE);
	free(s);

	/* A flood with no line ends at all. */
	s = malloc(3 * HTTP_MAX_HEAD);
	assert_non_null(s);
	memcpy(s, "GET /", 5);
	memset(s + 5, 'a', 3 * HTTP_MAX_HEAD - 5);
	assert_int_equal(parse_bytes(s, 3 * HTTP_MAX_HEAD, &req), HTTP_PARSE_TOO_LARGE);
	free(s);
}

static void test_field_limits(void **state)
{
	(void)state;
	struct http_request req;
	char request[4096];
	char value[2048];

	/* Upgrade holds 63 bytes. */
	memset(value, 'u', 63);
	value[63] = '\0';
	snprintf(request, sizeof(request), "GET /derp HTTP/1.1\r\nUpgrade: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
	value[63] = 'u';
	value[64] = '\0';
	snprintf(request, sizeof(request), "GET /derp HTTP/1.1\r\nUpgrade: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_TOO_LARGE);

	/* Host holds 255 bytes. */
	memset(value, 'h', 256);
	value[256] = '\0';
	snprintf(request, sizeof(request), "GET /derp HTTP/1.1\r\nHost: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_TOO_LARGE);

	/* Path holds 1023 bytes. */
	value[0] = '/';
	memset(value + 1, 'p', 1022);
	value[1023] = '\0';
	snprintf(request, sizeof(request), "GET %s HTTP/1.1\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
	snprintf(request, sizeof(request), "GET %sp HTTP/1.1\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_TOO_LARGE);

	/* So does the query. */
	memset(value, 'q', 1024);
	value[1024] = '\0';
	snprintf(request, sizeof(request), "GET /?%s HTTP/1.1\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_TOO_LARGE);

	/* Method holds 15 bytes; too long a method is known before the line ends. */
	assert_int_equal(parse_str("ABCDEFGHIJKLMNO / HTTP/1.1\r\n\r\n", &req), HTTP_PARSE_DONE);
	assert_int_equal(parse_str("ABCDEFGHIJKLMNOP / HTTP/1.1\r\n\r\n", &req),
			 HTTP_PARSE_TOO_LARGE);
	assert_int_equal(parse_str("ABCDEFGHIJKLMNOP", &req), HTTP_PARSE_TOO_LARGE);

	/* Unknown headers may be long; only the overall head size bounds them. */
	memset(value, 'z', 2000);
	value[2000] = '\0';
	snprintf(request, sizeof(request), "GET / HTTP/1.1\r\nX-Long: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
}

static void test_header_count_limit(void **state)
{
	(void)state;
	struct http_request req;
	char request[4096];
	size_t len;

	len = (size_t)snprintf(request, sizeof(request), "GET / HTTP/1.1\r\n");
	for (int i = 0; i < HTTP_MAX_HEADERS; i++)
		len += (size_t)snprintf(request + len, sizeof(request) - len, "X-H%d: v\r\n", i);
	snprintf(request + len, sizeof(request) - len, "\r\n");
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);

	snprintf(request + len, sizeof(request) - len, "X-One-More: v\r\n\r\n");
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_TOO_LARGE);
}

static void test_challenge_too_long_flag(void **state)
{
	(void)state;
	struct http_request req;
	char request[512];
	char value[200];

	memset(value, 'c', 150);
	value[150] = '\0';
	snprintf(request, sizeof(request),
		 "GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
	assert_true(req.challenge_too_long);

	value[64] = '\0';
	snprintf(request, sizeof(request),
		 "GET /generate_204 HTTP/1.1\r\nX-Tailscale-Challenge: %s\r\n\r\n", value);
	assert_int_equal(parse_str(request, &req), HTTP_PARSE_DONE);
	assert_false(req.challenge_too_long);
	assert_string_equal(req.x_tailscale_challenge, value);
}

/* ---- malformed input ---- */

static void test_bad_requests(void **state)
{
	(void)state;
	static const char *const cases[] = {
		/* request line not in three parts */
		"GET /derp\r\n\r\n",
		"GET\r\n\r\n",
		"GET /derp HTTP/1.1 extra\r\n\r\n",
		"GET  /derp HTTP/1.1\r\n\r\n",
		"GET /derp  HTTP/1.1\r\n\r\n",
		" GET /derp HTTP/1.1\r\n\r\n",
		"GET\t/derp HTTP/1.1\r\n\r\n",
		"\r\nGET / HTTP/1.1\r\n\r\n",
		"\r\n\r\n",
		"G(T / HTTP/1.1\r\n\r\n",
		/* target */
		"GET derp HTTP/1.1\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\n\r\n",
		"CONNECT derp.example.com:443 HTTP/1.1\r\n\r\n",
		"GET /%zz HTTP/1.1\r\n\r\n",
		"GET /%4 HTTP/1.1\r\n\r\n",
		"GET /a%00b HTTP/1.1\r\n\r\n",
		"GET /a\x7f HTTP/1.1\r\n\r\n",
		/* version, malformed rather than unsupported */
		"GET / HTTP/1\r\n\r\n",
		"GET / http/1.1\r\n\r\n",
		"GET / HTTP/1.10\r\n\r\n",
		"GET / HTTP/1.1\rX\r\n\r\n",
		/* header lines */
		"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
		"GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
		"GET / HTTP/1.1\r\nBad(Name): v\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: b\001c\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: b\rc\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: b\x7f\r\n\r\n",
		/* obs-fold continuation, and a first header line that looks like one */
		"GET / HTTP/1.1\r\nX-A: b\r\n  c\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n",
		"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
		/* bodies, which the relay never reads */
		"POST /derp HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
		"GET /derp HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n",
		"GET /derp HTTP/1.1\r\nContent-Length: 0\r\ncontent-length: 0\r\n\r\n",
		"GET /derp HTTP/1.1\r\nContent-Length: x\r\n\r\n",
		"GET /derp HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"GET /derp HTTP/1.1\r\nContent-Length:\r\n\r\n",
		"GET /derp HTTP/1.1\r\nContent-Length: 00001\r\n\r\n",
		"GET /derp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET /derp HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
		/* two Host headers */
		"GET /derp HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request req;
		enum http_parse_status st = parse_str(cases[i], &req);
		if (st != HTTP_PARSE_BAD_REQUEST)
			fail_msg("case %zu %s: status %d, want BAD_REQUEST", i, cases[i], st);
	}
}

static void test_garbage_rejected_early(void **state)
{
	(void)state;
	struct http_request req;
	/* A TLS ClientHello on the plain-HTTP port: no need to wait for a blank line. */
	static const uint8_t client_hello[] = { 0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00 };

	assert_int_equal(parse_bytes(client_hello, sizeof(client_hello), &req),
			 HTTP_PARSE_BAD_REQUEST);
	assert_int_equal(parse_str("GE\x01", &req), HTTP_PARSE_BAD_REQUEST);
	assert_int_equal(parse_str(" ", &req), HTTP_PARSE_BAD_REQUEST);
	assert_int_equal(parse_str("GET\r\n", &req), HTTP_PARSE_BAD_REQUEST);
	assert_int_equal(parse_str("GET /de", &req), HTTP_PARSE_NEED_MORE);
	assert_int_equal(parse_bytes("", 0, &req), HTTP_PARSE_NEED_MORE);
}

static void test_content_length_zero_ok(void **state)
{
	(void)state;
	struct http_request req;

	assert_int_equal(
	    parse_str("GET /derp HTTP/1.1\r\nContent-Length: 0\r\nUpgrade: DERP\r\n\r\n", &req),
	    HTTP_PARSE_DONE);
	assert_string_equal(req.upgrade, "DERP");
}

static void test_versions(void **state)
{
	(void)state;
	struct http_request req;

	assert_int_equal(parse_str("GET /derp HTTP/2.0\r\nUpgrade: DERP\r\n\r\n", &req),
			 HTTP_PARSE_BAD_VERSION);
	assert_int_equal(parse_str("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", &req),
			 HTTP_PARSE_BAD_VERSION);
	assert_int_equal(parse_str("GET / HTTP/1.2\r\n\r\n", &req), HTTP_PARSE_BAD_VERSION);
	assert_int_equal(parse_str("GET / HTTP/0.9\r\n\r\n", &req), HTTP_PARSE_BAD_VERSION);
	assert_int_equal(parse_str("GET / HTTP/3.0\r\n\r\n", &req), HTTP_PARSE_BAD_VERSION);

	assert_int_equal(parse_str("GET /derp HTTP/1.0\r\nUpgrade: DERP\r\n\r\n", &req),
			 HTTP_PARSE_DONE);
	assert_int_equal(req.version_minor, 0);
}

static void test_header_values(void **state)
{
	(void)state;
	struct http_request req;

	/* Names in any case; values trimmed of spaces and tabs; inner spaces kept. */
	assert_int_equal(parse_str("GET /derp HTTP/1.1\r\n"
				   "uPgRaDe: \t DERP \t\r\n"
				   "CONNECTION:Upgrade\r\n"
				   "ideal-node: node 1\r\n"
				   "sec-websocket-protocol: a, derp\r\n"
				   "X-Empty:\r\n"
				   "X-Obs: caf\xc3\xa9\r\n"
				   "\r\n",
				   &req),
			 HTTP_PARSE_DONE);
	assert_string_equal(req.upgrade, "DERP");
	assert_string_equal(req.connection, "Upgrade");
	assert_string_equal(req.ideal_node, "node 1");
	assert_string_equal(req.sec_websocket_protocol, "a, derp");

	/* The first of a repeated header wins, like Go's Header.Get. */
	assert_int_equal(
	    parse_str("GET /derp HTTP/1.1\r\nUpgrade: DERP\r\nUpgrade: h2c\r\n\r\n", &req),
	    HTTP_PARSE_DONE);
	assert_string_equal(req.upgrade, "DERP");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_client_upgrade),
		cmocka_unit_test(test_upgrade_values),
		cmocka_unit_test(test_websocket_handshake),
		cmocka_unit_test(test_websocket_refusals),
		cmocka_unit_test(test_fast_start),
		cmocka_unit_test(test_fast_start_only_exactly_one),
		cmocka_unit_test(test_ideal_node),
		cmocka_unit_test(test_upgrade_required),
		cmocka_unit_test(test_derp_path_exact_with_query),
		cmocka_unit_test(test_absolute_form_and_escapes),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_generate_204),
		cmocka_unit_test(test_generate_204_control_chars),
		cmocka_unit_test(test_robots_home_404),
		cmocka_unit_test(test_bootstrap_and_debug_routes),
		cmocka_unit_test(test_forwarded_for),
		cmocka_unit_test(test_response_write),
		cmocka_unit_test(test_route_small_buffer),
		cmocka_unit_test(test_error_response),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_bytes_after_head_kept),
		cmocka_unit_test(test_head_size_limit),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_header_count_limit),
		cmocka_unit_test(test_challenge_too_long_flag),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_garbage_rejected_early),
		cmocka_unit_test(test_content_length_zero_ok),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_header_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
