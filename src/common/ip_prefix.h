/* SPDX-License-Identifier: MIT */
/*
 * A short list of IP networks ("10.0.0.0/8, fd7a:115c:a1e0::/48"), parsed
 * once from the configuration and matched against a peer's address. IPv4
 * is kept as ::ffff:a.b.c.d, the form the slow path stores peers in, so one
 * comparison serves both families.
 */
#ifndef HD_IP_PREFIX_H
#define HD_IP_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IP_PREFIX_LIST_MAX 32

struct ip_prefix {
	uint8_t addr[16]; /* bits past the length are zero */
	uint8_t bits;	  /* 0..128, IPv4 lengths plus 96 */
};

struct ip_prefix_list {
	struct ip_prefix items[IP_PREFIX_LIST_MAX];
	unsigned count;
};

/*
 * Parses networks separated by commas and/or blanks: ADDR/LEN, or a bare
 * ADDR (one host). Host bits set past LEN are an error, as a typo there
 * would widen or narrow the network silently. Empty text gives an empty
 * list. Returns 0, or -1 with the reason in reason.
 */
int ip_prefix_list_parse(const char *text, struct ip_prefix_list *out, char *reason,
			 size_t reason_len);

/* Whether addr (16 bytes, IPv4 mapped) lies in one of the networks. */
bool ip_prefix_list_contains(const struct ip_prefix_list *list, const uint8_t addr[16]);

#endif
