// SPDX-License-Identifier: MIT
#include "ip_prefix.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* "ADDR" or "ADDR/LEN" in word[0..len) into *p. */
static int parse_one(const char *word, size_t len, struct ip_prefix *p, char *reason,
		     size_t reason_len)
{
	char text[80];
	if (len >= sizeof(text)) {
		snprintf(reason, reason_len, "\"%.*s...\" is not a network", 20, word);
		return -1;
	}
	memcpy(text, word, len);
	text[len] = '\0';

	char *slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	memset(p, 0, sizeof(*p));
	unsigned max_bits;
	unsigned offset;
	if (inet_pton(AF_INET, text, p->addr + 12) == 1) {
		memcpy(p->addr, v4_mapped, sizeof(v4_mapped));
		max_bits = 32;
		offset = 96;
	} else if (inet_pton(AF_INET6, text, p->addr) == 1) {
		max_bits = 128;
		offset = 0;
	} else {
		snprintf(reason, reason_len, "\"%s\" is not an IPv4 or IPv6 address", text);
		return -1;
	}

	unsigned bits = max_bits;
	if (slash) {
		const char *s = slash + 1;
		char *end;
		if (*s < '0' || *s > '9' || strlen(s) > 3) {
			snprintf(reason, reason_len, "\"%s/%s\": bad prefix length", text, s);
			return -1;
		}
		unsigned long v = strtoul(s, &end, 10);
		if (*end != '\0' || v > max_bits) {
			snprintf(reason, reason_len, "\"%s/%s\": prefix length must be 0..%u", text,
				 s, max_bits);
			return -1;
		}
		bits = (unsigned)v;
	}
	p->bits = (uint8_t)(bits + offset);
	/* Host bits set: "10.1.2.3/8" is more likely a mistake than a way to write 10/8. */
	for (unsigned i = p->bits; i < 128; i++) {
		if (p->addr[i / 8] & (0x80 >> (i % 8))) {
			snprintf(reason, reason_len,
				 "\"%s/%u\" has bits set past the prefix length", text, bits);
			return -1;
		}
	}
	return 0;
}

int ip_prefix_list_parse(const char *text, struct ip_prefix_list *out, char *reason,
			 size_t reason_len)
{
	struct ip_prefix_list list = { .count = 0 };
	const char *s = text;

	for (;;) {
		while (is_separator(*s))
			s++;
		if (*s == '\0')
			break;
		size_t len = 0;
		while (s[len] && !is_separator(s[len]))
			len++;
		if (list.count == IP_PREFIX_LIST_MAX) {
			snprintf(reason, reason_len, "more than %d networks", IP_PREFIX_LIST_MAX);
			return -1;
		}
		if (parse_one(s, len, &list.items[list.count], reason, reason_len) < 0)
			return -1;
		list.count++;
		s += len;
	}
	*out = list;
	return 0;
}

static bool prefix_contains(const struct ip_prefix *p, const uint8_t addr[16])
{
	unsigned full = p->bits / 8;
	unsigned rest = p->bits % 8;
	if (memcmp(p->addr, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (addr[full] & mask) == p->addr[full];
}

bool ip_prefix_list_contains(const struct ip_prefix_list *list, const uint8_t addr[16])
{
	for (unsigned i = 0; i < list->count; i++) {
		if (prefix_contains(&list->items[i], addr))
			return true;
	}
	return false;
}
