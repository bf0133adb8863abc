// SPDX-License-Identifier: MIT
#include "tcp_ranges.h"

#include <string.h>

#include "tcp_seq.h"

static void remove_at(struct tcp_ranges *r, unsigned i)
{
	memmove(&r->start[i], &r->start[i + 1], (r->n - i - 1) * sizeof(r->start[0]));
	memmove(&r->end[i], &r->end[i + 1], (r->n - i - 1) * sizeof(r->end[0]));
	r->n--;
	if (r->last > i)
		r->last--;
	else if (r->last == i)
		r->last = 0;
}

bool tcp_ranges_add(struct tcp_ranges *r, uint32_t start, uint32_t end)
{
	if (!seq_lt(start, end))
		return true;
	unsigned i = 0;
	while (i < r->n && seq_lt(r->end[i], start))
		i++;
	if (i == r->n || seq_lt(end, r->start[i])) {
		/* Disjoint from everything: a new slot at i. */
		if (r->n == TCP_RANGES_MAX)
			return false;
		memmove(&r->start[i + 1], &r->start[i], (r->n - i) * sizeof(r->start[0]));
		memmove(&r->end[i + 1], &r->end[i], (r->n - i) * sizeof(r->end[0]));
		r->start[i] = start;
		r->end[i] = end;
		r->n++;
		r->last = (uint8_t)i;
		return true;
	}
	/* Overlaps or touches range i: widen it, then swallow what it now reaches. */
	r->start[i] = seq_min(r->start[i], start);
	r->end[i] = seq_max(r->end[i], end);
	while (i + 1 < r->n && seq_le(r->start[i + 1], r->end[i])) {
		r->end[i] = seq_max(r->end[i], r->end[i + 1]);
		remove_at(r, i + 1);
	}
	r->last = (uint8_t)i;
	return true;
}

void tcp_ranges_trim(struct tcp_ranges *r, uint32_t seq)
{
	while (r->n && seq_le(r->end[0], seq))
		remove_at(r, 0);
	if (r->n && seq_lt(r->start[0], seq))
		r->start[0] = seq;
}

uint32_t tcp_ranges_bytes(const struct tcp_ranges *r)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < r->n; i++)
		n += r->end[i] - r->start[i];
	return n;
}

uint32_t tcp_ranges_bytes_in(const struct tcp_ranges *r, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;
	for (unsigned i = 0; i < r->n; i++) {
		uint32_t s = seq_max(r->start[i], lo), e = seq_min(r->end[i], hi);
		if (seq_lt(s, e))
			n += e - s;
	}
	return n;
}

uint32_t tcp_ranges_skip(const struct tcp_ranges *r, uint32_t seq)
{
	for (unsigned i = 0; i < r->n; i++)
		if (seq_ge(seq, r->start[i]) && seq_lt(seq, r->end[i]))
			return r->end[i];
	return seq;
}

uint32_t tcp_ranges_next_start(const struct tcp_ranges *r, uint32_t seq, uint32_t limit)
{
	for (unsigned i = 0; i < r->n; i++)
		if (seq_gt(r->start[i], seq))
			return seq_min(r->start[i], limit);
	return limit;
}

uint32_t tcp_ranges_high(const struct tcp_ranges *r, uint32_t base)
{
	return r->n ? r->end[r->n - 1] : base;
}
