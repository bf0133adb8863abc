// SPDX-License-Identifier: MIT
#include "bootstrap_names.h"

#include <arpa/inet.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* A host name: labels of 1..63 name characters between single dots, one trailing dot allowed. */
static bool is_host_name(const char *s, size_t len)
{
	size_t label = 0;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len > BOOTSTRAP_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_name_char(s[i]) || ++label > 63)
			return false;
	}
	return label > 0;
}

/* An address as a name resolves to itself, in Go's resolver and in getaddrinfo. */
static bool is_ip_literal(const char *s, size_t len)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char addr[16];

	if (len >= sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1;
}

int bootstrap_names_parse(const char *text, struct bootstrap_names *out, char *reason,
			  size_t reason_len)
{
	const char *s = text;

	out->count = 0;
	for (;;) {
		while (is_separator(*s))
			s++;
		if (*s == '\0')
			return 0;
		size_t len = 0;
		while (s[len] && !is_separator(s[len]))
			len++;
		const char *slash = memchr(s, '/', len);
		if (slash && is_host_name(s, (size_t)(slash - s))) {
			/* derper's NAME/TXTNAME: a rollout percentage read from a TXT record. */
			snprintf(reason, reason_len,
				 "\"%.*s\": rollout TXT records (NAME/TXTNAME) are not supported",
				 (int)(len > 64 ? 64 : len), s);
			return -1;
		}
		if (!is_host_name(s, len) && !is_ip_literal(s, len)) {
			snprintf(reason, reason_len, "\"%.*s\" is not a host name",
				 (int)(len > 64 ? 64 : len), s);
			return -1;
		}
		bool dup = false;
		for (unsigned i = 0; i < out->count; i++)
			dup |= strlen(out->names[i]) == len && memcmp(out->names[i], s, len) == 0;
		if (!dup) {
			if (out->count == BOOTSTRAP_NAMES_MAX) {
				snprintf(reason, reason_len, "more than %d names",
					 BOOTSTRAP_NAMES_MAX);
				return -1;
			}
			memcpy(out->names[out->count], s, len);
			out->names[out->count][len] = '\0';
			out->count++;
		}
		s += len;
	}
}
