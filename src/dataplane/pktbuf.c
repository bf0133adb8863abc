// SPDX-License-Identifier: MIT
#include "pktbuf.h"

#include <stdbool.h>
#include <stdlib.h>

/* Small buffers come in slabs so that a burst of connections does not call malloc per packet. */
#define SMALL_SLAB_COUNT 256

void pktbuf_pool_init(struct pktbuf_pool *pool, uint16_t owner, uint64_t bytes_limit)
{
	*pool = (struct pktbuf_pool){ .owner = owner, .bytes_limit = bytes_limit };
}

static void free_list(struct pktbuf *pb)
{
	while (pb) {
		struct pktbuf *next = pb->next;
		free(pb);
		pb = next;
	}
}

void pktbuf_pool_destroy(struct pktbuf_pool *pool)
{
	/* Slab members are allocated one by one (see grow_small), so each is freed alone. */
	free_list(pool->free_small);
	free_list(pool->free_large);
	pool->free_small = NULL;
	pool->free_large = NULL;
}

static size_t buf_size(uint32_t cap)
{
	return sizeof(struct pktbuf) + cap;
}

/*
 * At the limit, idle buffers of the other size class are given back to the
 * system first: otherwise a burst of small packets could fill the budget
 * with free small buffers and make every large packet fail for good.
 */
static bool make_room(struct pktbuf_pool *pool, size_t need, struct pktbuf **other)
{
	while (pool->bytes_allocated + need > pool->bytes_limit && *other) {
		struct pktbuf *pb = *other;
		*other = pb->next;
		pool->bytes_allocated -= buf_size(pb->cap);
		free(pb);
	}
	return pool->bytes_allocated + need <= pool->bytes_limit;
}

static int grow_small(struct pktbuf_pool *pool)
{
	size_t one = buf_size(PKTBUF_SMALL_CAP);
	for (int i = 0; i < SMALL_SLAB_COUNT; i++) {
		if (!make_room(pool, one, &pool->free_large))
			return i ? 0 : -1;
		struct pktbuf *pb = malloc(one);
		if (!pb)
			return i ? 0 : -1;
		pb->cap = PKTBUF_SMALL_CAP;
		pb->owner = pool->owner;
		pb->next = pool->free_small;
		pool->free_small = pb;
		pool->bytes_allocated += one;
	}
	return 0;
}

static struct pktbuf *take_large(struct pktbuf_pool *pool)
{
	if (pool->free_large) {
		struct pktbuf *pb = pool->free_large;
		pool->free_large = pb->next;
		return pb;
	}
	size_t one = buf_size(PKTBUF_LARGE_CAP);
	if (!make_room(pool, one, &pool->free_small))
		return NULL;
	struct pktbuf *pb = malloc(one);
	if (!pb)
		return NULL;
	pb->cap = PKTBUF_LARGE_CAP;
	pb->owner = pool->owner;
	pool->bytes_allocated += one;
	return pb;
}

struct pktbuf *pktbuf_alloc(struct pktbuf_pool *pool, size_t frame_len)
{
	struct pktbuf *pb;

	if (frame_len > PKTBUF_LARGE_CAP)
		return NULL;
	if (frame_len <= PKTBUF_SMALL_CAP) {
		if (!pool->free_small && grow_small(pool) < 0)
			return NULL;
		pb = pool->free_small;
		pool->free_small = pb->next;
	} else {
		pb = take_large(pool);
		if (!pb)
			return NULL;
	}
	pb->next = NULL;
	pb->len = 0;
	pb->sent = 0;
	pb->kind = PKT_KIND_CTRL;
	pb->dst_seq = 0;
	pool->in_use++;
	return pb;
}

void pktbuf_free(struct pktbuf_pool *pool, struct pktbuf *pb)
{
	pool->in_use--;
	if (pb->cap == PKTBUF_SMALL_CAP) {
		pb->next = pool->free_small;
		pool->free_small = pb;
	} else {
		pb->next = pool->free_large;
		pool->free_large = pb;
	}
}
