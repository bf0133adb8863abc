/* SPDX-License-Identifier: MIT */
/*
 * The text of `admission.verify_client_url` split into what a request
 * needs. Inline so that the config loader (src/mgmt/config.c, which does
 * not link the slow path) rejects a bad URL with the same rules the
 * verifier connects with.
 *
 *   http://host[:port][/path]     port 80 unless given
 *   https://host[:port][/path]    port 443 unless given; system CAs
 *
 * host is a name, an IPv4 literal or a bracketed IPv6 literal. As in Go's
 * net/http (derper's client), the path defaults to "/", and user info,
 * queries with spaces and fragments are not taken.
 */
#ifndef HD_ADMISSION_URL_H
#define HD_ADMISSION_URL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct admission_url {
	bool tls;
	char host[256]; /* without brackets */
	char port[6];
	char path[768]; /* with any query */
	bool host_is_v6;
};

static inline int admission_url_parse(const char *text, struct admission_url *u, char *reason,
				      size_t reason_len)
{
	const char *rest;

	memset(u, 0, sizeof(*u));
	if (strncmp(text, "http://", 7) == 0) {
		rest = text + 7;
		strcpy(u->port, "80");
	} else if (strncmp(text, "https://", 8) == 0) {
		rest = text + 8;
		u->tls = true;
		strcpy(u->port, "443");
	} else {
		snprintf(reason, reason_len, "\"%s\" is not an http:// or https:// URL", text);
		return -1;
	}
	for (const char *c = text; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == 0x7f || *c == '#') {
			snprintf(reason, reason_len,
				 "URL has a blank, a control character or a fragment");
			return -1;
		}
	}
	size_t auth_len = strcspn(rest, "/?");
	const char *path = rest + auth_len;
	if (memchr(rest, '@', auth_len)) {
		snprintf(reason, reason_len, "URL must not carry user info");
		return -1;
	}
	const char *port = NULL;
	const char *host = rest;
	size_t host_len;
	if (rest[0] == '[') {
		const char *close = memchr(rest, ']', auth_len);
		if (!close) {
			snprintf(reason, reason_len, "URL has an unclosed '[' in its host");
			return -1;
		}
		host = rest + 1;
		host_len = (size_t)(close - host);
		u->host_is_v6 = true;
		if (close + 1 < rest + auth_len) {
			if (close[1] != ':') {
				snprintf(reason, reason_len, "URL has junk after its IPv6 host");
				return -1;
			}
			port = close + 2;
		}
	} else {
		const char *colon = memchr(rest, ':', auth_len);
		host_len = colon ? (size_t)(colon - rest) : auth_len;
		if (colon)
			port = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(u->host)) {
		snprintf(reason, reason_len, "URL host is empty or longer than %zu bytes",
			 sizeof(u->host) - 1);
		return -1;
	}
	memcpy(u->host, host, host_len);
	if (port) {
		size_t port_len = (size_t)(rest + auth_len - port);
		unsigned long n = 0;
		if (port_len == 0 || port_len > 5) {
			snprintf(reason, reason_len, "URL port is not a number in 1..65535");
			return -1;
		}
		for (size_t i = 0; i < port_len; i++) {
			if (port[i] < '0' || port[i] > '9') {
				snprintf(reason, reason_len,
					 "URL port is not a number in 1..65535");
				return -1;
			}
			n = n * 10 + (unsigned long)(port[i] - '0');
		}
		if (n < 1 || n > 65535) {
			snprintf(reason, reason_len, "URL port is not a number in 1..65535");
			return -1;
		}
		snprintf(u->port, sizeof(u->port), "%lu", n);
	}
	if (path[0] == '\0')
		path = "/";
	if (path[0] == '?') {
		/* "http://h?q" asks for "/?q", as Go sends it. */
		if (strlen(path) + 2 > sizeof(u->path)) {
			snprintf(reason, reason_len, "URL path is longer than %zu bytes",
				 sizeof(u->path) - 2);
			return -1;
		}
		u->path[0] = '/';
		strcpy(u->path + 1, path);
		return 0;
	}
	if (strlen(path) >= sizeof(u->path)) {
		snprintf(reason, reason_len, "URL path is longer than %zu bytes",
			 sizeof(u->path) - 1);
		return -1;
	}
	strcpy(u->path, path);
	return 0;
}

#endif
