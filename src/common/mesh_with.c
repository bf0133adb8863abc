// SPDX-License-Identifier: MIT
#include "mesh_with.h"

#include <stdio.h>
#include <string.h>

static bool is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

static int parse_port(const char *p, size_t len, uint16_t *port)
{
	unsigned long v = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* A host name or IPv4 literal: letters, digits, '-', '.', '_'. */
static bool host_chars_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
		if (!ok)
			return false;
	}
	return true;
}

static bool v6_chars_ok(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
			  (c >= '0' && c <= '9') || c == ':' || c == '.';
		if (!ok)
			return false;
	}
	return len > 0;
}

static int parse_entry(const char *e, size_t len, struct mesh_target *t, char *reason,
		       size_t reason_len)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->text, sizeof(t->text), "%.*s", (int)len, e);
	t->tls = true;
	t->port = 443;
	if (len >= 7 && strncmp(e, "http://", 7) == 0) {
		t->tls = false;
		t->port = 80;
		e += 7;
		len -= 7;
	} else if (len >= 8 && strncmp(e, "https://", 8) == 0) {
		e += 8;
		len -= 8;
	} else if (memmem(e, len, "://", 3)) {
		snprintf(reason, reason_len, "\"%s\": only http:// and https:// are known",
			 t->text);
		return -1;
	}
	/* Optional trailing slash; any other path is an error. */
	if (len && e[len - 1] == '/')
		len--;
	const char *host = e;
	size_t host_len;
	const char *port = NULL;
	size_t port_len = 0;
	if (len && e[0] == '[') {
		const char *close = memchr(e, ']', len);
		if (!close) {
			snprintf(reason, reason_len, "\"%s\": no ']' after the IPv6 address",
				 t->text);
			return -1;
		}
		host = e + 1;
		host_len = (size_t)(close - host);
		size_t rest = len - (size_t)(close + 1 - e);
		if (rest) {
			if (close[1] != ':') {
				snprintf(reason, reason_len, "\"%s\": junk after ']'", t->text);
				return -1;
			}
			port = close + 2;
			port_len = rest - 1;
		}
		if (!v6_chars_ok(host, host_len)) {
			snprintf(reason, reason_len, "\"%s\": not an IPv6 address in brackets",
				 t->text);
			return -1;
		}
	} else {
		const char *colon = memchr(e, ':', len);
		host_len = colon ? (size_t)(colon - e) : len;
		if (colon) {
			port = colon + 1;
			port_len = len - host_len - 1;
		}
		if (host_len == 0 || !host_chars_ok(host, host_len)) {
			snprintf(reason, reason_len,
				 "\"%s\": want HOST, HOST:PORT, http://HOST:PORT or "
				 "https://HOST:PORT (IPv6 in brackets), no path",
				 t->text);
			return -1;
		}
	}
	if (host_len >= sizeof(t->host)) {
		snprintf(reason, reason_len, "\"%s\": host name too long", t->text);
		return -1;
	}
	if (port && parse_port(port, port_len, &t->port) < 0) {
		snprintf(reason, reason_len, "\"%s\": the port is not a number in 1..65535",
			 t->text);
		return -1;
	}
	memcpy(t->host, host, host_len);
	t->host[host_len] = '\0';
	return 0;
}

int mesh_with_parse(const char *text, struct mesh_target *out, size_t max, char *reason,
		    size_t reason_len)
{
	size_t n = 0;
	const char *p = text;
	for (;;) {
		while (*p && is_sep(*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && !is_sep(*p))
			p++;
		if (n == max) {
			snprintf(reason, reason_len, "more than %zu relays listed", max);
			return -1;
		}
		if (parse_entry(start, (size_t)(p - start), &out[n], reason, reason_len) < 0)
			return -1;
		n++;
	}
	return (int)n;
}
