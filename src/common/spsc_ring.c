// SPDX-License-Identifier: MIT
#include "spsc_ring.h"

#include <errno.h>
#include <stdlib.h>

int spsc_ring_init(struct spsc_ring *r, uint32_t capacity)
{
	uint32_t cap = 2;
	while (cap < capacity && cap < (1u << 31))
		cap <<= 1;
	/*
	 * Not zeroed: a slot is written before it is read, and a large ring's
	 * pages then stay unmapped until the ring first wraps through them
	 * (relay_init makes workers * (workers - 1) rings of 256 KiB).
	 */
	struct spsc_msg *slots = cache_line_alloc(cap, sizeof(struct spsc_msg));
	if (!slots)
		return -ENOMEM;
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->head_cache = 0;
	r->tail_cache = 0;
	r->mask = cap - 1;
	r->slots = slots;
	return 0;
}

void spsc_ring_free(struct spsc_ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

uint32_t spsc_ring_enqueue_burst(struct spsc_ring *r, const struct spsc_msg *msgs, uint32_t n)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t cap = (uint64_t)r->mask + 1;

	if (tail - r->head_cache + n > cap) {
		/* Only now pay for the consumer's cache line. */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
	}
	uint64_t room = cap - (tail - r->head_cache);
	if (n > room)
		n = (uint32_t)room;
	for (uint32_t i = 0; i < n; i++)
		r->slots[(tail + i) & r->mask] = msgs[i];
	/* Release: the slots written above become visible before the new tail. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

uint32_t spsc_ring_dequeue_burst(struct spsc_ring *r, struct spsc_msg *msgs, uint32_t n)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	if (r->tail_cache - head < n)
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t avail = r->tail_cache - head;
	if (n > avail)
		n = (uint32_t)avail;
	for (uint32_t i = 0; i < n; i++)
		msgs[i] = r->slots[(head + i) & r->mask];
	/* Release: the producer may reuse the slots only after we have read them. */
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

uint32_t spsc_ring_count(struct spsc_ring *r)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	return (uint32_t)(tail - head);
}

uint32_t spsc_ring_capacity(const struct spsc_ring *r)
{
	return r->mask + 1;
}
