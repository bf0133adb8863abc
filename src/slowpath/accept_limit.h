/* SPDX-License-Identifier: MIT */
/*
 * Per-source-IP accept rate limit (limits.max_accept_per_ip): a token
 * bucket per address, burst equal to one second's worth. The table has a
 * fixed size; a slot is keyed by SipHash of the address under a random key,
 * so a client cannot aim its collisions at someone else's slot.
 */
#ifndef HD_ACCEPT_LIMIT_H
#define HD_ACCEPT_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct accept_slot {
	uint8_t ip[16];
	uint64_t last_ns;
	uint64_t tokens_milli; /* thousandths of a connection */
};

struct accept_limiter {
	uint32_t per_second; /* 0 = no limit */
	uint32_t mask;
	struct accept_slot *slots;
	uint8_t hash_key[16];
};

int accept_limiter_init(struct accept_limiter *l, uint32_t per_second);
void accept_limiter_destroy(struct accept_limiter *l);
/* Whether a new connection from ip (IPv6 or IPv4-mapped) may be accepted now. */
bool accept_limiter_allow(struct accept_limiter *l, const uint8_t ip[16], uint64_t now_ns);

#endif
