// SPDX-License-Identifier: MIT
/*
 * The HTTP request head parser and router (src/slowpath/http_request.h).
 *
 * Input: the bytes a client sent on the front door.
 *
 * Oracles:
 *  - the parser is called again as bytes arrive, so once a head parses, every
 *    shorter prefix of it must say NEED_MORE (never an error), the head alone
 *    must parse to the same request, and bytes after it must not matter;
 *  - a routed response fits exactly response_len bytes (one byte less fails
 *    cleanly), starts with a status line carrying res->status, uses CRLF
 *    line ends only (no header injection through echoed values), and its
 *    body matches its Content-Length;
 *  - the fixed-status error responses behave the same way.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "http_request.h"

static const char server_pub_hex[] =
    "6d6f636b6b65796d6f636b6b65796d6f636b6b65796d6f636b6b65796d6f636b";

static enum http_parse_status parse_copy(const uint8_t *data, size_t n, struct http_request *req)
{
	uint8_t *p = fuzz_dup(data, n);
	enum http_parse_status st = http_request_parse(p, n, req);

	free(p);
	return st;
}

static bool fields_terminated(const struct http_request *req)
{
	return memchr(req->method, 0, sizeof(req->method)) &&
	       memchr(req->path, 0, sizeof(req->path)) &&
	       memchr(req->query, 0, sizeof(req->query)) &&
	       memchr(req->upgrade, 0, sizeof(req->upgrade)) &&
	       memchr(req->connection, 0, sizeof(req->connection)) &&
	       memchr(req->host, 0, sizeof(req->host)) &&
	       memchr(req->derp_fast_start, 0, sizeof(req->derp_fast_start)) &&
	       memchr(req->ideal_node, 0, sizeof(req->ideal_node)) &&
	       memchr(req->sec_websocket_protocol, 0, sizeof(req->sec_websocket_protocol)) &&
	       memchr(req->sec_websocket_key, 0, sizeof(req->sec_websocket_key)) &&
	       memchr(req->sec_websocket_version, 0, sizeof(req->sec_websocket_version)) &&
	       memchr(req->x_tailscale_challenge, 0, sizeof(req->x_tailscale_challenge));
}

/*
 * Checks a whole closing or 101 response: CRLF-only head, a status line with
 * the expected code, and a body as long as Content-Length says (unless the
 * request was HEAD, where only the header is sent).
 */
static void check_response(const uint8_t *out, size_t len, int status, bool head_only)
{
	char line[32];
	const uint8_t *end = NULL;
	size_t head_len;

	FUZZ_CHECK(len > 12);
	snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
	FUZZ_CHECK(memcmp(out, line, strlen(line)) == 0);
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(out + i, "\r\n\r\n", 4) == 0) {
			end = out + i;
			break;
		}
	}
	FUZZ_CHECK(end != NULL);
	head_len = (size_t)(end - out) + 4;
	for (size_t i = 0; i < head_len - 2; i++) {
		if (out[i] == '\r')
			FUZZ_CHECK(out[i + 1] == '\n');
		if (out[i] == '\n')
			FUZZ_CHECK(i > 0 && out[i - 1] == '\r');
		FUZZ_CHECK(out[i] != 0);
	}

	/* Content-Length, when present, must describe the body sent. */
	static const char cl[] = "\r\nContent-Length: ";
	for (size_t i = 0; i + sizeof(cl) - 1 < head_len; i++) {
		if (memcmp(out + i, cl, sizeof(cl) - 1) != 0)
			continue;
		size_t v = 0;
		for (size_t j = i + sizeof(cl) - 1; j < head_len && out[j] >= '0' && out[j] <= '9';
		     j++)
			v = v * 10 + (size_t)(out[j] - '0');
		FUZZ_CHECK(head_only ? len == head_len : len - head_len == v);
		return;
	}
	FUZZ_CHECK(len == head_len); /* no Content-Length (204, 101): no body */
}

static void check_route(const struct http_request *req)
{
	struct http_route_result res, res2;
	const size_t big = 8192;
	uint8_t *out = malloc(big);
	bool head_only = strcmp(req->method, "HEAD") == 0;

	if (!out)
		abort();
	FUZZ_CHECK(http_route(req, server_pub_hex, out, big, &res) == 0);
	FUZZ_CHECK(res.response_len <= big);
	if (res.fast_start) {
		FUZZ_CHECK(res.action == HTTP_ACTION_DERP_UPGRADE);
		FUZZ_CHECK(res.response_len == 0 && res.status == 0);
	} else if (res.action == HTTP_ACTION_BOOTSTRAP_DNS || res.action == HTTP_ACTION_DEBUG) {
		/* The slow path answers these itself: nothing written, only for their paths. */
		FUZZ_CHECK(res.response_len == 0 && res.status == 0);
		FUZZ_CHECK(res.action == HTTP_ACTION_DEBUG ? strncmp(req->path, "/debug/", 7) == 0
							   : strcmp(req->path, "/bootstrap-dns") == 0);
	} else {
		check_response(out, res.response_len, res.status, head_only);
		FUZZ_CHECK((res.action == HTTP_ACTION_DERP_UPGRADE) == (res.status == 101));
	}
	FUZZ_CHECK(res.not_ideal == (req->ideal_node[0] != '\0'));

	/* The same answer in a buffer of exactly its size; one byte less fails. */
	uint8_t *exact = malloc(res.response_len ? res.response_len : 1);
	if (!exact)
		abort();
	FUZZ_CHECK(http_route(req, server_pub_hex, exact, res.response_len, &res2) == 0);
	FUZZ_CHECK(res2.response_len == res.response_len && res2.status == res.status);
	FUZZ_CHECK(memcmp(exact, out, res.response_len) == 0);
	if (res.response_len > 0)
		FUZZ_CHECK(http_route(req, server_pub_hex, exact, res.response_len - 1, &res2) < 0);
	free(exact);
	free(out);
}

static void check_error_response(int status, size_t cap)
{
	uint8_t *out = malloc(cap ? cap : 1);
	size_t n;

	if (!out)
		abort();
	n = http_error_response(status, out, cap);
	FUZZ_CHECK(n <= cap);
	if (n)
		check_response(out, n, status, false);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_request req, req2;
	enum http_parse_status st;

	st = parse_copy(data, size, &req);
	FUZZ_CHECK(st >= HTTP_PARSE_DONE && st <= HTTP_PARSE_BAD_VERSION);
	if (st == HTTP_PARSE_NEED_MORE)
		FUZZ_CHECK(size < HTTP_MAX_HEAD);

	if (st == HTTP_PARSE_DONE) {
		size_t h = req.head_len;

		FUZZ_CHECK(h > 0 && h <= size && h <= HTTP_MAX_HEAD);
		FUZZ_CHECK(fields_terminated(&req));
		FUZZ_CHECK(req.version_minor == 0 || req.version_minor == 1);
		/* The head alone parses to the same request: trailing bytes are not read. */
		FUZZ_CHECK(parse_copy(data, h, &req2) == HTTP_PARSE_DONE);
		FUZZ_CHECK(memcmp(&req, &req2, sizeof(req)) == 0);
		/* Shorter prefixes, as a trickling client would send them. */
		size_t cuts[] = { h - 1, h / 2, data[0] % h, h > 2 ? h - 2 : 0, data[h - 1] % h };
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
			FUZZ_CHECK(parse_copy(data, cuts[i], &req2) == HTTP_PARSE_NEED_MORE);
		check_route(&req);
	}

	static const int statuses[] = { 400, 408, 431, 505, 500, 503, 999, -1 };
	int status = statuses[size % (sizeof(statuses) / sizeof(statuses[0]))];
	check_error_response(status, 256);
	check_error_response(status, size % 128);
	return 0;
}
