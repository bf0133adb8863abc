/* SPDX-License-Identifier: MIT */
/*
 * Per-source limits on new connections, checked at accept:
 *
 * - limits.max_accept_per_ip: a rate, a token bucket per source with a
 *   burst of one second's worth;
 * - limits.max_pending_per_ip: how many connections of one source may be
 *   in their handshake (TLS, HTTP request, ClientInfo) at once.
 *
 * A source is an IPv4 address, or an IPv6 /64: one site gets a /64 and
 * can use every address in it, so counting /128s would limit nothing.
 *
 * Both tables have a fixed size, whatever the number of sources; a slot is
 * found by SipHash of the source under a random key, so a client cannot aim
 * its collisions at someone else's slot. The pending counts are kept per
 * slot: sources that happen to share one share its count (with 65,536
 * slots, rarely, and never by a client's choice).
 */
#ifndef HD_ACCEPT_LIMIT_H
#define HD_ACCEPT_LIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* The source of an address (IPv6, or IPv4-mapped): IPv6 cut to its /64. */
void accept_source_of(const uint8_t ip[16], uint8_t source[16]);

struct accept_slot {
	uint8_t source[16];
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

struct pending_limiter {
	uint32_t mask;
	uint32_t *counts; /* connections in their handshake, per slot */
	uint8_t hash_key[16];
};

int pending_limiter_init(struct pending_limiter *l);
void pending_limiter_destroy(struct pending_limiter *l);
/*
 * Takes a place for a new handshake from ip if its source has fewer than
 * max (0 = no limit) under way. Returns the slot to give back with
 * pending_limiter_put, or -1 when the source is at its limit.
 */
int32_t pending_limiter_take(struct pending_limiter *l, const uint8_t ip[16], uint32_t max);
/* The handshake in that slot ended (handed to a worker or closed). */
void pending_limiter_put(struct pending_limiter *l, int32_t slot);

#endif
