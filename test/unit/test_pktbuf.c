// SPDX-License-Identifier: MIT
/* The per-worker packet buffer pool: size classes, the byte limit, rebalancing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pktbuf.h"

static void test_size_classes_fit_tightly(void **state)
{
	(void)state;
	struct pktbuf_pool pool;
	pktbuf_pool_init(&pool, 3, PKTBUF_POOL_DATA, 64u << 20);
	struct pktbuf *a = pktbuf_alloc(&pool, 1500);
	struct pktbuf *b = pktbuf_alloc(&pool, 5 + 32 + 16384);
	struct pktbuf *c = pktbuf_alloc(&pool, 5 + 32 + 65536);
	assert_non_null(a);
	assert_non_null(b);
	assert_non_null(c);
	assert_int_equal(a->cap, PKTBUF_SMALL_CAP);
	/* A 64-byte packet's frame (101 bytes) takes a 256-byte buffer, not 2 KiB. */
	struct pktbuf *t = pktbuf_alloc(&pool, 5 + 32 + 64);
	assert_non_null(t);
	assert_int_equal(t->cap, PKTBUF_TINY_CAP);
	pktbuf_free(&pool, t);
	/* A 16 KiB packet takes a 16 KiB class buffer, not a 64 KiB one. */
	assert_true(b->cap >= 5 + 32 + 16384 && b->cap < 32768);
	assert_int_equal(c->cap, PKTBUF_LARGE_CAP);
	assert_int_equal(a->owner, 3);
	assert_null(pktbuf_alloc(&pool, PKTBUF_LARGE_CAP + 1));
	assert_int_equal(pool.in_use, 3);
	pktbuf_free(&pool, a);
	pktbuf_free(&pool, b);
	pktbuf_free(&pool, c);
	assert_int_equal(pool.in_use, 0);
	/* Freed buffers are reused, not reallocated. */
	uint64_t held = pool.bytes_allocated;
	struct pktbuf *d = pktbuf_alloc(&pool, 5 + 32 + 16000);
	assert_ptr_equal(d, b);
	assert_int_equal(pool.bytes_allocated, held);
	pktbuf_free(&pool, d);
	pktbuf_pool_destroy(&pool);
}

static void test_limit_is_enforced_and_idle_buffers_rebalance(void **state)
{
	(void)state;
	struct pktbuf_pool pool;
	pktbuf_pool_init(&pool, 0, PKTBUF_POOL_DATA, 1u << 20); /* 1 MiB */
	struct pktbuf *bufs[64];
	int n = 0;
	while (n < 64 && (bufs[n] = pktbuf_alloc(&pool, 60000)))
		n++;
	/* 1 MiB holds 15 of the 64 KiB class, never more. */
	assert_int_equal(n, 15);
	assert_true(pool.bytes_allocated <= pool.bytes_limit);
	for (int i = 0; i < n; i++)
		pktbuf_free(&pool, bufs[i]);
	/* All idle in the large class: small packets must still get buffers. */
	struct pktbuf *small = pktbuf_alloc(&pool, 100);
	assert_non_null(small);
	assert_true(pool.bytes_allocated <= pool.bytes_limit);
	pktbuf_free(&pool, small);
	pktbuf_pool_destroy(&pool);
}

/* References point into memory the pool does not own, and are recycled apart from buffers. */
static void test_references(void **state)
{
	(void)state;
	struct pktbuf_pool pool;
	uint8_t recv_buf[16384];
	pktbuf_pool_init(&pool, 1, PKTBUF_POOL_DATA, 16u << 20);
	struct pktbuf *r = pktbuf_alloc_ref(&pool, recv_buf + 100, 1437, 42);
	assert_non_null(r);
	assert_true(pktbuf_is_ref(r));
	assert_ptr_equal(r->frame, recv_buf + 100);
	assert_int_equal(r->len, 1437);
	assert_int_equal(r->sent, 0);
	assert_int_equal(r->recv_buf, 42);
	assert_int_equal(r->owner, 1);
	assert_int_equal(pool.in_use, 1);
	struct pktbuf *b = pktbuf_alloc(&pool, 1437);
	assert_false(pktbuf_is_ref(b));
	assert_ptr_equal(b->frame, b->data);
	pktbuf_free(&pool, r);
	pktbuf_free(&pool, b);
	assert_int_equal(pool.in_use, 0);
	/* A freed reference comes back as a reference, a freed buffer as a buffer. */
	struct pktbuf *r2 = pktbuf_alloc_ref(&pool, recv_buf, 37, 7);
	struct pktbuf *b2 = pktbuf_alloc(&pool, 1437);
	assert_ptr_equal(r2, r);
	assert_ptr_equal(b2, b);
	assert_ptr_equal(b2->frame, b2->data);
	assert_int_equal(r2->recv_buf, 7);
	pktbuf_free(&pool, r2);
	pktbuf_free(&pool, b2);
	pktbuf_pool_destroy(&pool);
}

/* Trimming frees what stayed idle for a whole period and keeps what was used. */
static void test_trim_keeps_the_working_set(void **state)
{
	(void)state;
	struct pktbuf_pool pool;
	struct pktbuf *big[40];
	pktbuf_pool_init(&pool, 0, PKTBUF_POOL_DATA, 64u << 20);
	/* A burst of 40 large buffers, then back to 10 in use at a time. */
	for (int i = 0; i < 40; i++)
		assert_non_null(big[i] = pktbuf_alloc(&pool, 60000));
	for (int i = 0; i < 40; i++)
		pktbuf_free(&pool, big[i]);
	uint64_t after_burst = pool.bytes_allocated;
	/* The first trim only starts the period: everything was in use before it. */
	assert_int_equal(pktbuf_pool_trim(&pool), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++)
			big[i] = pktbuf_alloc(&pool, 60000);
		for (int i = 0; i < 10; i++)
			pktbuf_free(&pool, big[i]);
	}
	/* 30 of the 40 stayed idle the whole period: exactly those go. */
	uint64_t freed = pktbuf_pool_trim(&pool);
	assert_int_equal(freed, after_burst / 40 * 30);
	assert_int_equal(pool.bytes_allocated, after_burst / 40 * 10);
	assert_int_equal(pool.nfree[PKTBUF_CLASSES - 1], 10);
	/* The working set stays while it is used. */
	for (int i = 0; i < 10; i++)
		big[i] = pktbuf_alloc(&pool, 60000);
	for (int i = 0; i < 10; i++)
		pktbuf_free(&pool, big[i]);
	assert_int_equal(pktbuf_pool_trim(&pool), 0);
	/* Idle for a whole period: all of it goes. */
	assert_int_equal(pktbuf_pool_trim(&pool), after_burst / 40 * 10);
	assert_int_equal(pool.bytes_allocated, 0);
	/* And the pool still works. */
	struct pktbuf *pb = pktbuf_alloc(&pool, 100);
	assert_non_null(pb);
	pktbuf_free(&pool, pb);
	pktbuf_pool_destroy(&pool);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_classes_fit_tightly),
		cmocka_unit_test(test_limit_is_enforced_and_idle_buffers_rebalance),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_trim_keeps_the_working_set),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
