// SPDX-License-Identifier: MIT
/*
 * The relay's cache-line-aligned objects really are aligned: the
 * worker-to-worker rings and the workers (which hold the handoff and
 * control rings). calloc promised only 16 bytes, so the padding that keeps
 * a ring's producer and consumer off each other's lines (and off the
 * neighbouring ring's) depended on the allocator's luck.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "cache_line.h"
#include "config.h"
#include "config_relay.h"
#include "relay.h"
#include "worker.h"

static void assert_line_aligned(const void *p)
{
	assert_int_equal((uintptr_t)p % CACHE_LINE, 0);
}

static void check_relay(uint32_t nworkers)
{
	struct hd_config cfg;
	struct relay_settings set;
	struct relay r;
	uint8_t priv[KEY_LEN] = { 1 }, pub[KEY_LEN] = { 2 };

	config_defaults(&cfg);
	cfg.workers = nworkers;
	strcpy(cfg.pin_cores, "none");
	config_relay_settings(&cfg, &set);
	if (relay_init(&r, &set, priv, pub) < 0) {
		/* qemu-user has no io_uring: the workers cannot be set up there. */
		relay_destroy(&r);
		skip();
	}
	for (uint32_t i = 0; i < nworkers * nworkers; i++)
		assert_line_aligned(&r.rings[i]);
	for (uint32_t i = 0; i < nworkers; i++) {
		assert_line_aligned(r.workers[i]);
		assert_line_aligned(&r.workers[i]->handoff);
		assert_line_aligned(&r.workers[i]->control);
	}
	relay_destroy(&r);
}

static void test_one_worker(void **state)
{
	(void)state;
	check_relay(1);
}

static void test_two_workers(void **state)
{
	(void)state;
	check_relay(2);
}

static void test_three_workers(void **state)
{
	(void)state;
	check_relay(3);
}

static void test_cache_line_calloc(void **state)
{
	(void)state;
	for (size_t n = 0; n < 5; n++) {
		unsigned char *p = cache_line_calloc(n, 24);
		assert_non_null(p);
		assert_line_aligned(p);
		for (size_t i = 0; i < n * 24; i++)
			assert_int_equal(p[i], 0);
		free(p);
	}
	assert_null(cache_line_calloc(SIZE_MAX / 2, 3));
	assert_null(cache_line_calloc(1, SIZE_MAX - 1));
	void *q = cache_line_alloc(3, 24);
	assert_non_null(q);
	assert_line_aligned(q);
	free(q);
	assert_null(cache_line_alloc(SIZE_MAX / 2, 3));
	assert_null(cache_line_alloc(1, SIZE_MAX - 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_worker),
		cmocka_unit_test(test_two_workers),
		cmocka_unit_test(test_three_workers),
		cmocka_unit_test(test_cache_line_calloc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
