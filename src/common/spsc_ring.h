/* SPDX-License-Identifier: MIT */
/*
 * Lock-free single-producer/single-consumer ring of small fixed-size messages.
 *
 * One thread may call the producer functions and one (other) thread the
 * consumer functions. Head and tail sit on their own cache lines, and each
 * side keeps a cached copy of the other side's index so that a burst touches
 * the shared line once, not once per message.
 */
#ifndef HD_SPSC_RING_H
#define HD_SPSC_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache_line.h"

struct spsc_msg {
	uint32_t type;
	uint32_t arg;
	void *ptr;
};

struct spsc_ring {
	/* Producer side. */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail;
	uint64_t head_cache;
	/* Consumer side. */
	_Alignas(CACHE_LINE) _Atomic uint64_t head;
	uint64_t tail_cache;
	/* Read-only after init. */
	_Alignas(CACHE_LINE) uint32_t mask;
	struct spsc_msg *slots;
};

/*
 * capacity is rounded up to a power of two (at least 2). Returns 0 or
 * -ENOMEM. A struct spsc_ring is aligned to CACHE_LINE: allocate arrays
 * of them, and structs that hold one, with cache_line_calloc.
 */
int spsc_ring_init(struct spsc_ring *r, uint32_t capacity);
void spsc_ring_free(struct spsc_ring *r);

/* Enqueues up to n messages in order; returns how many fit (0..n). */
uint32_t spsc_ring_enqueue_burst(struct spsc_ring *r, const struct spsc_msg *msgs, uint32_t n);
/* Dequeues up to n messages in order; returns how many were taken. */
uint32_t spsc_ring_dequeue_burst(struct spsc_ring *r, struct spsc_msg *msgs, uint32_t n);

static inline int spsc_ring_enqueue(struct spsc_ring *r, const struct spsc_msg *m)
{
	return spsc_ring_enqueue_burst(r, m, 1) == 1 ? 0 : -1;
}

/* Approximate fill level; exact when called by either side with the other idle. */
uint32_t spsc_ring_count(struct spsc_ring *r);
uint32_t spsc_ring_capacity(const struct spsc_ring *r);

#endif
