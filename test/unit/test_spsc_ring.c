// SPDX-License-Identifier: MIT
/*
 * Unit tests for the SPSC ring: single-thread edges (empty, full, wrap,
 * bursts, stale cached indices) and a two-thread run that moves millions of
 * sequenced messages in bursts of varying size and checks order and loss.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "spsc_ring.h"

/* Message number seq, spread over all three fields so that each is checked. */
static struct spsc_msg msg_of(uint64_t seq)
{
	struct spsc_msg m = {
		.type = (uint32_t)seq,
		.arg = (uint32_t)(seq >> 32) ^ 0xa5a5a5a5u,
		.ptr = (void *)(uintptr_t)(seq * 2654435761u),
	};
	return m;
}

static bool msg_is(const struct spsc_msg *m, uint64_t seq)
{
	struct spsc_msg want = msg_of(seq);

	return m->type == want.type && m->arg == want.arg && m->ptr == want.ptr;
}

static void enqueue_seq(struct spsc_ring *r, uint64_t *next, uint32_t n, uint32_t want_taken)
{
	struct spsc_msg batch[256];

	assert_true(n <= 256);
	for (uint32_t i = 0; i < n; i++)
		batch[i] = msg_of(*next + i);
	assert_int_equal(spsc_ring_enqueue_burst(r, batch, n), want_taken);
	*next += want_taken;
}

static void dequeue_seq(struct spsc_ring *r, uint64_t *next, uint32_t n, uint32_t want_taken)
{
	struct spsc_msg batch[256];

	assert_true(n <= 256);
	assert_int_equal(spsc_ring_dequeue_burst(r, batch, n), want_taken);
	for (uint32_t i = 0; i < want_taken; i++) {
		if (!msg_is(&batch[i], *next + i))
			fail_msg("message %u of burst: wrong content, want seq %llu", i,
				 (unsigned long long)(*next + i));
	}
	*next += want_taken;
}

static void test_capacity_rounding(void **state)
{
	static const struct {
		uint32_t ask, got;
	} cases[] = {
		{ 0, 2 }, { 1, 2 }, { 2, 2 },	    { 3, 4 },
		{ 4, 4 }, { 5, 8 }, { 1000, 1024 }, { 1024, 1024 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct spsc_ring r;

		assert_int_equal(spsc_ring_init(&r, cases[i].ask), 0);
		assert_int_equal(spsc_ring_capacity(&r), cases[i].got);
		assert_int_equal(spsc_ring_count(&r), 0);
		assert_true(((uintptr_t)r.slots % CACHE_LINE) == 0);
		spsc_ring_free(&r);
		assert_null(r.slots);
	}
}

static void test_empty(void **state)
{
	struct spsc_ring r;
	struct spsc_msg m[4];

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 8), 0);
	assert_int_equal(spsc_ring_dequeue_burst(&r, m, 4), 0);
	assert_int_equal(spsc_ring_dequeue_burst(&r, m, 1), 0);
	assert_int_equal(spsc_ring_dequeue_burst(&r, m, 0), 0);
	assert_int_equal(spsc_ring_enqueue_burst(&r, m, 0), 0);
	assert_int_equal(spsc_ring_count(&r), 0);
	spsc_ring_free(&r);
}

static void test_fill_to_full(void **state)
{
	struct spsc_ring r;
	uint64_t in = 0, out = 0;
	struct spsc_msg one = msg_of(999);

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 16), 0);
	/* Asking for more than fits takes exactly what fits. */
	enqueue_seq(&r, &in, 20, 16);
	assert_int_equal(spsc_ring_count(&r), 16);
	enqueue_seq(&r, &in, 1, 0);
	assert_int_equal(spsc_ring_enqueue(&r, &one), -1);
	/* Freeing one slot makes room for exactly one. */
	dequeue_seq(&r, &out, 1, 1);
	enqueue_seq(&r, &in, 5, 1);
	assert_int_equal(spsc_ring_count(&r), 16);
	/* Drain in order; asking for more than is there takes what is. */
	dequeue_seq(&r, &out, 10, 10);
	dequeue_seq(&r, &out, 10, 6);
	dequeue_seq(&r, &out, 10, 0);
	assert_int_equal(out, in);
	spsc_ring_free(&r);
}

static void test_partial_bursts(void **state)
{
	struct spsc_ring r;
	uint64_t in = 0, out = 0;

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 8), 0);
	enqueue_seq(&r, &in, 6, 6);
	enqueue_seq(&r, &in, 5, 2); /* only 2 free */
	dequeue_seq(&r, &out, 3, 3);
	enqueue_seq(&r, &in, 3, 3); /* exactly the freed room */
	enqueue_seq(&r, &in, 1, 0);
	dequeue_seq(&r, &out, 8, 8);
	assert_int_equal(in, out);
	assert_int_equal(spsc_ring_count(&r), 0);
	spsc_ring_free(&r);
}

static void test_single_enqueue(void **state)
{
	struct spsc_ring r;
	uint64_t out = 0;

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 2), 0);
	for (uint64_t i = 0; i < 2; i++) {
		struct spsc_msg m = msg_of(i);

		assert_int_equal(spsc_ring_enqueue(&r, &m), 0);
	}
	struct spsc_msg m = msg_of(2);
	assert_int_equal(spsc_ring_enqueue(&r, &m), -1);
	dequeue_seq(&r, &out, 2, 2);
	spsc_ring_free(&r);
}

static void test_wraparound(void **state)
{
	struct spsc_ring r;
	uint64_t in = 0, out = 0;

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 8), 0);
	/* Burst sizes that do not divide the capacity walk every slot offset. */
	for (int i = 0; i < 1000; i++) {
		uint32_t n = 1 + (uint32_t)(i % 7);

		enqueue_seq(&r, &in, n, n);
		assert_int_equal(spsc_ring_count(&r), n);
		dequeue_seq(&r, &out, n, n);
	}
	/* Keep the ring nearly full while wrapping. */
	enqueue_seq(&r, &in, 7, 7);
	for (int i = 0; i < 1000; i++) {
		uint32_t n = 1 + (uint32_t)(i % 3);

		dequeue_seq(&r, &out, n, n);
		enqueue_seq(&r, &in, n, n);
		assert_int_equal(spsc_ring_count(&r), 7);
	}
	dequeue_seq(&r, &out, 8, 7);
	assert_int_equal(in, out);
	spsc_ring_free(&r);
}

/* The 64-bit indices overflowing must not matter (unsigned arithmetic). */
static void test_index_overflow(void **state)
{
	struct spsc_ring r;
	uint64_t in = 0, out = 0;
	const uint64_t start = UINT64_MAX - 5;

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 8), 0);
	atomic_store(&r.tail, start);
	atomic_store(&r.head, start);
	r.head_cache = start;
	r.tail_cache = start;
	for (int i = 0; i < 20; i++) {
		enqueue_seq(&r, &in, 8, 8);
		enqueue_seq(&r, &in, 1, 0);
		assert_int_equal(spsc_ring_count(&r), 8);
		dequeue_seq(&r, &out, 5, 5);
		dequeue_seq(&r, &out, 5, 3);
	}
	assert_true(atomic_load(&r.tail) < start); /* it did wrap */
	spsc_ring_free(&r);
}

/* Each side must refresh its cached copy of the other's index when needed. */
static void test_stale_caches(void **state)
{
	struct spsc_ring r;
	uint64_t in = 0, out = 0;

	(void)state;
	assert_int_equal(spsc_ring_init(&r, 4), 0);
	/* Consumer saw an empty ring, then the producer adds: it must notice. */
	dequeue_seq(&r, &out, 4, 0);
	enqueue_seq(&r, &in, 2, 2);
	dequeue_seq(&r, &out, 4, 2);
	/* Producer saw a full ring, then the consumer drains: it must notice. */
	enqueue_seq(&r, &in, 4, 4);
	enqueue_seq(&r, &in, 1, 0);
	dequeue_seq(&r, &out, 4, 4);
	enqueue_seq(&r, &in, 4, 4);
	dequeue_seq(&r, &out, 4, 4);
	assert_int_equal(in, out);
	spsc_ring_free(&r);
}

/* ---- two threads ---- */

struct run {
	struct spsc_ring ring;
	uint64_t total;
	uint32_t max_burst;
	/* Set by the consumer. */
	uint64_t received;
	uint64_t first_bad; /* UINT64_MAX if every message was right */
	uint64_t empty_polls, full_polls;
};

static uint32_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return (uint32_t)(*s >> 32);
}

static void *producer(void *arg)
{
	struct run *run = arg;
	struct spsc_msg batch[256];
	uint64_t seq = 0, rng = 0x12345678abcdefull;

	while (seq < run->total) {
		uint32_t n = 1 + xorshift(&rng) % run->max_burst;

		if (n > run->total - seq)
			n = (uint32_t)(run->total - seq);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = msg_of(seq + i);
		/* Whatever did not fit is offered again, first, next round. */
		uint32_t done = 0;

		while (done < n) {
			uint32_t k = spsc_ring_enqueue_burst(&run->ring, batch + done, n - done);

			if (k == 0) {
				run->full_polls++;
				sched_yield();
			}
			done += k;
		}
		seq += n;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *run = arg;
	struct spsc_msg batch[256];
	uint64_t seq = 0, rng = 0xfeedfacecafebeefull;

	run->first_bad = UINT64_MAX;
	while (seq < run->total) {
		uint32_t n = 1 + xorshift(&rng) % run->max_burst;
		uint32_t k = spsc_ring_dequeue_burst(&run->ring, batch, n);

		if (k == 0) {
			run->empty_polls++;
			sched_yield();
			continue;
		}
		for (uint32_t i = 0; i < k; i++) {
			if (run->first_bad == UINT64_MAX && !msg_is(&batch[i], seq + i))
				run->first_bad = seq + i;
		}
		seq += k;
	}
	run->received = seq;
	return NULL;
}

static void run_threads(uint32_t capacity, uint64_t total, uint32_t max_burst)
{
	struct run *run = calloc(1, sizeof(*run));
	pthread_t p, c;
	struct spsc_msg extra[1];

	assert_non_null(run);
	assert_int_equal(spsc_ring_init(&run->ring, capacity), 0);
	run->total = total;
	run->max_burst = max_burst;
	assert_int_equal(pthread_create(&c, NULL, consumer, run), 0);
	assert_int_equal(pthread_create(&p, NULL, producer, run), 0);
	pthread_join(p, NULL);
	pthread_join(c, NULL);

	if (run->first_bad != UINT64_MAX)
		fail_msg("capacity %u: message %llu out of order or corrupt", capacity,
			 (unsigned long long)run->first_bad);
	assert_int_equal(run->received, total);
	/* Nothing left over, nothing duplicated. */
	assert_int_equal(spsc_ring_count(&run->ring), 0);
	assert_int_equal(spsc_ring_dequeue_burst(&run->ring, extra, 1), 0);
	spsc_ring_free(&run->ring);
	free(run);
}

static void test_two_threads_5m(void **state)
{
	(void)state;
	/* Bursts up to twice the capacity: both full and empty are hit often. */
	run_threads(128, 5000000, 256);
}

static void test_two_threads_tiny_ring(void **state)
{
	(void)state;
	run_threads(2, 500000, 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_rounding),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_fill_to_full),
		cmocka_unit_test(test_partial_bursts),
		cmocka_unit_test(test_single_enqueue),
		cmocka_unit_test(test_wraparound),
		cmocka_unit_test(test_index_overflow),
		cmocka_unit_test(test_stale_caches),
		cmocka_unit_test(test_two_threads_5m),
		cmocka_unit_test(test_two_threads_tiny_ring),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
