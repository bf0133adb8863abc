/* SPDX-License-Identifier: MIT */
/*
 * A small set of disjoint sequence ranges [start, end), kept sorted. It is
 * both the receiver's out-of-order map (which bytes above rcv_nxt are in the
 * receive buffer) and the sender's SACK scoreboard (which bytes above
 * snd_una the peer holds). Fixed size: a range that would need a slot more
 * is refused, and the caller counts it.
 */
#ifndef HD_TCP_RANGES_H
#define HD_TCP_RANGES_H

#include <stdbool.h>
#include <stdint.h>

#define TCP_RANGES_MAX 16

struct tcp_ranges {
	uint32_t start[TCP_RANGES_MAX];
	uint32_t end[TCP_RANGES_MAX];
	uint8_t n;
	uint8_t last; /* the range the latest add touched (first SACK block, RFC 2018) */
};

/* Adds [start, end), merging with neighbours. False if it needs a slot and none is free. */
bool tcp_ranges_add(struct tcp_ranges *r, uint32_t start, uint32_t end);
/* Drops everything below seq (ranges that straddle it are cut). */
void tcp_ranges_trim(struct tcp_ranges *r, uint32_t seq);
/* Bytes covered. */
uint32_t tcp_ranges_bytes(const struct tcp_ranges *r);
/* Bytes covered inside [lo, hi). */
uint32_t tcp_ranges_bytes_in(const struct tcp_ranges *r, uint32_t lo, uint32_t hi);
/* If seq lies in a range, that range's end; else seq. */
uint32_t tcp_ranges_skip(const struct tcp_ranges *r, uint32_t seq);
/* The start of the first range above seq, or limit if none is below it. */
uint32_t tcp_ranges_next_start(const struct tcp_ranges *r, uint32_t seq, uint32_t limit);
/* The highest end, or base when empty. */
uint32_t tcp_ranges_high(const struct tcp_ranges *r, uint32_t base);

#endif
