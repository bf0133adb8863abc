// SPDX-License-Identifier: MIT
/*
 * The token bucket behind limits.accept_rate and limits.client_rate_bytes:
 * a burst, then the rate; debt paid back before the bucket fills again;
 * fractions kept at slow rates and no overflow at fast ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "token_bucket.h"

#define MS 1000000ull
#define S  1000000000ull

static void test_unlimited(void **state)
{
	(void)state;
	struct token_bucket b;
	token_bucket_init(&b, 0, 1, 0);
	for (int i = 0; i < 1000; i++)
		assert_true(token_bucket_take(&b, 1000000, 0));
	assert_int_equal(token_bucket_take_debt(&b, 1000000, 0), 0);
}

static void test_burst_then_rate(void **state)
{
	(void)state;
	struct token_bucket b;
	token_bucket_init(&b, 2, 3, 0);
	/* The burst at once, then nothing. */
	for (int i = 0; i < 3; i++)
		assert_true(token_bucket_take(&b, 1, 0));
	assert_false(token_bucket_take(&b, 1, 0));
	/* One every 500 ms: not at 499 ms, at 500 ms. */
	assert_false(token_bucket_take(&b, 1, 499 * MS));
	assert_true(token_bucket_take(&b, 1, 500 * MS));
	assert_false(token_bucket_take(&b, 1, 500 * MS));
	/* A long quiet spell fills it to the burst, not beyond. */
	for (int i = 0; i < 3; i++)
		assert_true(token_bucket_take(&b, 1, 3600 * S));
	assert_false(token_bucket_take(&b, 1, 3600 * S));
}

static void test_slow_rate_keeps_fractions(void **state)
{
	(void)state;
	struct token_bucket b;
	/* One token every 3 s, checked every 100 ms: the 30 small refills must add up. */
	token_bucket_init(&b, 1, 1, 0);
	assert_true(token_bucket_take(&b, 1, 0));
	uint64_t t = 0;
	while (!token_bucket_take(&b, 1, t))
		t += 100 * MS;
	assert_int_equal(t, 1 * S);
}

static void test_debt(void **state)
{
	(void)state;
	struct token_bucket b;
	token_bucket_init(&b, 1000, 1000, 0);
	/* Within the bucket: no wait. */
	assert_int_equal(token_bucket_take_debt(&b, 600, 0), 0);
	/* 600 more: 400 there, 200 owed = 200 ms at 1000 a second. */
	assert_int_equal(token_bucket_take_debt(&b, 600, 0), 200 * MS);
	/* While in debt nothing is taken without waiting. */
	assert_false(token_bucket_take(&b, 1, 100 * MS));
	/* Halfway: 100 still owed, and another 100 adds 100 ms to what is left. */
	assert_int_equal(token_bucket_take_debt(&b, 100, 100 * MS), 200 * MS);
	/* Paid at 300 ms; after that the bucket fills again. */
	assert_false(token_bucket_take(&b, 1, 299 * MS));
	assert_true(token_bucket_take(&b, 1, 301 * MS));
}

static void test_fast_rate_no_overflow(void **state)
{
	(void)state;
	struct token_bucket b;
	/* 1 GB/s for a day: the refill arithmetic must not wrap. */
	token_bucket_init(&b, 1000000000, 1000000000, 0);
	assert_int_equal(token_bucket_take_debt(&b, 3000000000ull, 0), 2 * S);
	assert_true(token_bucket_take(&b, 1000000000, 86400 * S));
	assert_false(token_bucket_take(&b, 1, 86400 * S));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_slow_rate_keeps_fractions),
		cmocka_unit_test(test_debt),
		cmocka_unit_test(test_fast_rate_no_overflow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
