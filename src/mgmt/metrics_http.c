// SPDX-License-Identifier: MIT
#include "metrics_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_request.h"
#include "metrics.h"
#include "stats_snapshot.h"

#define PROMETHEUS_TEXT "text/plain; version=0.0.4; charset=utf-8"

static const char index_page[] = "hyper-derp metrics\n"
				 "  /metrics     Prometheus text format\n"
				 "  /debug/vars  every counter as JSON\n";

/* Status line, headers and (unless head_only) body, in one malloc'd buffer. */
static char *build(int status, const char *type, const char *body, size_t body_len, bool head_only,
		   size_t *len)
{
	char headers[512];
	int n = snprintf(headers, sizeof(headers),
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %zu\r\n"
			 "Cache-Control: no-store\r\n"
			 "%s"
			 "Connection: close\r\n\r\n",
			 status, http_reason_phrase(status), type, body_len,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t total = (size_t)n + (head_only ? 0 : body_len);
	char *out = malloc(total);
	if (!out)
		return NULL;
	memcpy(out, headers, (size_t)n);
	if (!head_only)
		memcpy(out + n, body, body_len);
	*len = total;
	return out;
}

static char *plain(int status, const char *text, bool head_only, size_t *len)
{
	return build(status, "text/plain; charset=utf-8", text, strlen(text), head_only, len);
}

int metrics_http_respond(struct mgmt_context *ctx, const char *in, size_t in_len, char **resp,
			 size_t *len)
{
	struct http_request req;
	enum http_parse_status st = http_request_parse((const uint8_t *)in, in_len, &req);

	switch (st) {
	case HTTP_PARSE_NEED_MORE:
		if (in_len < METRICS_HTTP_MAX_HEAD)
			return 0;
		*resp = plain(431, "request head too large\n", false, len);
		return 1;
	case HTTP_PARSE_BAD_REQUEST:
		*resp = plain(400, "bad request\n", false, len);
		return 1;
	case HTTP_PARSE_TOO_LARGE:
		*resp = plain(431, "request head too large\n", false, len);
		return 1;
	case HTTP_PARSE_BAD_VERSION:
		*resp = plain(505, "HTTP/1.0 or 1.1 only\n", false, len);
		return 1;
	case HTTP_PARSE_DONE:
		break;
	}

	bool head_only = strcmp(req.method, "HEAD") == 0;
	if (!head_only && strcmp(req.method, "GET") != 0) {
		*resp = plain(405, "only GET and HEAD\n", false, len);
		return 1;
	}
	if (strcmp(req.path, "/metrics") == 0) {
		char *body;
		size_t body_len;
		if (metrics_format(ctx, &body, &body_len) < 0) {
			*resp = plain(500, "out of memory\n", head_only, len);
			return 1;
		}
		*resp = build(200, PROMETHEUS_TEXT, body, body_len, head_only, len);
		free(body);
		return 1;
	}
	if (strcmp(req.path, "/debug/vars") == 0) {
		struct stats_snapshot s;
		struct json_writer w;
		jw_init(&w);
		stats_snapshot_take(ctx, &s);
		stats_write_json(&s, &w);
		if (w.failed)
			*resp = plain(500, "out of memory\n", head_only, len);
		else
			*resp = build(200, "application/json", w.buf, w.len, head_only, len);
		jw_free(&w);
		return 1;
	}
	if (strcmp(req.path, "/") == 0) {
		*resp = plain(200, index_page, head_only, len);
		return 1;
	}
	*resp = plain(404, "not found; try /metrics\n", head_only, len);
	return 1;
}
