// SPDX-License-Identifier: MIT
#include "debug_pages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derper_vars.h"
#include "version.h"

#define HEADROOM 2048 /* status line and headers */

static const char index_page[] =
    "<html><body>\n"
    "<h1>hyper-derp debug</h1>\n"
    "<ul>\n"
    "<li><a href=\"/debug/vars\">/debug/vars</a> (derper's names)</li>\n"
    "</ul>\n"
    "<p>hyper-derp " HD_VERSION "</p>\n"
    "</body></html>\n";

bool debug_pages_allowed(const struct http_request *req, const uint8_t peer[16],
			 const struct ip_prefix_list *allow)
{
	/* As derper: a proxy in front could make anyone look local. */
	if (req->forwarded_for)
		return false;
	return ip_prefix_list_contains(allow, peer);
}

static uint8_t *build(const struct http_response *r, size_t *len)
{
	size_t cap = HEADROOM + (r->body ? r->body_len : 0);
	uint8_t *out = malloc(cap);
	if (!out)
		return NULL;
	*len = http_response_write(r, out, cap);
	if (*len == 0) {
		free(out);
		return NULL;
	}
	return out;
}

uint8_t *debug_pages_respond(const struct http_request *req, bool allowed, const struct relay *r,
			     const struct slowpath_stats *slow, size_t *len, int *status)
{
	bool head_only = strcmp(req->method, "HEAD") == 0;
	struct http_response resp = {
		.content_type = "text/plain; charset=utf-8",
		.extra_headers = "X-Content-Type-Options: nosniff\r\n",
		.head_only = head_only,
	};

	if (!allowed) {
		resp.status = 403;
		resp.body = "debug access denied\n";
	} else if (strcmp(req->path, "/debug/") == 0) {
		resp.status = 200;
		resp.content_type = "text/html; charset=utf-8";
		resp.extra_headers = NULL;
		resp.browser = true;
		resp.body = index_page;
	} else if (strcmp(req->path, "/debug/vars") == 0) {
		char *body;
		size_t body_len;
		if (derper_vars_format(r, slow, &body, &body_len) < 0)
			return NULL;
		resp.status = 200;
		resp.content_type = "application/json; charset=utf-8";
		resp.extra_headers = NULL;
		resp.body = body;
		resp.body_len = body_len;
		uint8_t *out = build(&resp, len);
		free(body);
		*status = resp.status;
		return out;
	} else {
		resp.status = 404;
		resp.body = "404 page not found\n";
	}
	resp.body_len = strlen(resp.body);
	*status = resp.status;
	return build(&resp, len);
}
