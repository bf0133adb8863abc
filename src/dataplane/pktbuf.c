// SPDX-License-Identifier: MIT
#include "pktbuf.h"

#include <stdbool.h>
#include <stdlib.h>

/*
 * The two smallest classes come in slabs so that a burst of connections does
 * not call malloc per packet.
 */
#define SLAB_COUNT   256
#define SLAB_CLASSES 2

static const uint32_t class_cap[PKTBUF_CLASSES] = {
	PKTBUF_TINY_CAP,	PKTBUF_SMALL_CAP,	 4096 + PKTBUF_HEADROOM,
	8192 + PKTBUF_HEADROOM, 16384 + PKTBUF_HEADROOM, 32768 + PKTBUF_HEADROOM,
	PKTBUF_LARGE_CAP,
};

static int class_of_len(size_t frame_len)
{
	for (int i = 0; i < PKTBUF_CLASSES; i++) {
		if (frame_len <= class_cap[i])
			return i;
	}
	return -1;
}

static int class_of_buf(const struct pktbuf *pb)
{
	for (int i = 0; i < PKTBUF_CLASSES; i++) {
		if (pb->cap == class_cap[i])
			return i;
	}
	return PKTBUF_CLASSES - 1; /* not reached: every buffer is made with a class cap */
}

void pktbuf_pool_init(struct pktbuf_pool *pool, uint16_t owner, enum pktbuf_pool_id id,
		      uint64_t bytes_limit)
{
	*pool =
	    (struct pktbuf_pool){ .owner = owner, .id = (uint8_t)id, .bytes_limit = bytes_limit };
}

void pktbuf_pool_destroy(struct pktbuf_pool *pool)
{
	/* Slab members are allocated one by one (see grow_slab), so each is freed alone. */
	for (int i = 0; i < PKTBUF_CLASSES; i++) {
		struct pktbuf *pb = pool->free[i];
		while (pb) {
			struct pktbuf *next = pb->next;
			free(pb);
			pb = next;
		}
		pool->free[i] = NULL;
	}
	while (pool->free_refs) {
		struct pktbuf *next = pool->free_refs->next;
		free(pool->free_refs);
		pool->free_refs = next;
	}
}

static size_t buf_size(uint32_t cap)
{
	return sizeof(struct pktbuf) + cap;
}

/* Takes one buffer off a free list; the fewest-idle mark follows it down. */
static struct pktbuf *take_idle(struct pktbuf_pool *pool, int cls)
{
	struct pktbuf *pb = pool->free[cls];
	pool->free[cls] = pb->next;
	pool->nfree[cls]--;
	if (pool->nfree[cls] < pool->min_free[cls])
		pool->min_free[cls] = pool->nfree[cls];
	return pb;
}

static void put_idle(struct pktbuf_pool *pool, int cls, struct pktbuf *pb)
{
	pb->next = pool->free[cls];
	pool->free[cls] = pb;
	pool->nfree[cls]++;
}

static uint64_t release_idle(struct pktbuf_pool *pool, int cls)
{
	struct pktbuf *pb = take_idle(pool, cls);
	uint64_t size = buf_size(pb->cap);
	pool->bytes_allocated -= size;
	free(pb);
	return size;
}

/*
 * At the limit, idle buffers of other size classes are given back to the
 * system first (largest first): otherwise a burst of one size could fill the
 * budget with free buffers and make every other size fail for good.
 */
static bool make_room(struct pktbuf_pool *pool, size_t need, int keep_class)
{
	for (int c = PKTBUF_CLASSES - 1; c >= 0; c--) {
		while (pool->bytes_allocated + need > pool->bytes_limit && c != keep_class &&
		       pool->free[c])
			release_idle(pool, c);
	}
	return pool->bytes_allocated + need <= pool->bytes_limit;
}

/* A new buffer with cap bytes of data (0: a reference), within the pool's limit. */
static struct pktbuf *new_buf_cap(struct pktbuf_pool *pool, uint32_t cap, int keep_class)
{
	size_t one = buf_size(cap);
	if (!make_room(pool, one, keep_class))
		return NULL;
	struct pktbuf *pb = malloc(one);
	if (!pb)
		return NULL;
	pb->cap = cap;
	pb->owner = pool->owner;
	pb->pool = pool->id;
	pool->bytes_allocated += one;
	return pb;
}

static struct pktbuf *new_buf(struct pktbuf_pool *pool, int cls)
{
	return new_buf_cap(pool, class_cap[cls], cls);
}

/* Resets what the last user left and counts the buffer as in use. */
static struct pktbuf *hand_out(struct pktbuf_pool *pool, struct pktbuf *pb, uint8_t *frame,
			       uint32_t len)
{
	pb->next = NULL;
	pb->frame = frame;
	pb->len = len;
	pb->sent = 0;
	pb->kind = PKT_KIND_CTRL;
	pb->dst_seq = 0;
	pool->in_use++;
	return pb;
}

static void grow_slab(struct pktbuf_pool *pool, int cls)
{
	for (int i = 0; i < SLAB_COUNT; i++) {
		struct pktbuf *pb = new_buf(pool, cls);
		if (!pb)
			return;
		put_idle(pool, cls, pb);
	}
}

struct pktbuf *pktbuf_alloc(struct pktbuf_pool *pool, size_t frame_len)
{
	int cls = class_of_len(frame_len);
	if (cls < 0)
		return NULL;
	if (!pool->free[cls] && cls < SLAB_CLASSES)
		grow_slab(pool, cls);
	struct pktbuf *pb;
	if (pool->free[cls])
		pb = take_idle(pool, cls);
	else if (!(pb = new_buf(pool, cls)))
		return NULL;
	return hand_out(pool, pb, pb->data, 0);
}

struct pktbuf *pktbuf_alloc_ref(struct pktbuf_pool *pool, uint8_t *frame, uint32_t len,
				uint16_t recv_buf)
{
	struct pktbuf *pb = pool->free_refs;
	if (pb)
		pool->free_refs = pb->next;
	else if (!(pb = new_buf_cap(pool, 0, -1))) /* descriptors count against the budget too */
		return NULL;
	pb->recv_buf = recv_buf;
	return hand_out(pool, pb, frame, len);
}

void pktbuf_free(struct pktbuf_pool *pool, struct pktbuf *pb)
{
	pool->in_use--;
	if (pktbuf_is_ref(pb)) {
		pb->next = pool->free_refs;
		pool->free_refs = pb;
		return;
	}
	put_idle(pool, class_of_buf(pb), pb);
}

uint64_t pktbuf_pool_trim(struct pktbuf_pool *pool)
{
	uint64_t freed = 0;
	for (int c = 0; c < PKTBUF_CLASSES; c++) {
		/* Idle the whole time since the last trim: not part of the working set. */
		for (uint32_t n = pool->min_free[c]; n > 0 && pool->free[c]; n--)
			freed += release_idle(pool, c);
		pool->min_free[c] = pool->nfree[c];
	}
	return freed;
}
