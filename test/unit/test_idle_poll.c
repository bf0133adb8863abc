// SPDX-License-Identifier: MIT
/* idle_poll: how long a worker out of work spins before it sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "idle_poll.h"

/* Idle periods in a row that sleep at once (budget 0) from now on. */
static unsigned sleeps_before_next_spin(struct idle_poll *p)
{
	unsigned n = 0;
	while (idle_poll_budget(p) == 0 && n < 1000)
		n++;
	return n;
}

/* The budget of the next idle period that spins at all (0 if none within 1000). */
static uint32_t next_spin_budget(struct idle_poll *p)
{
	for (int i = 0; i < 1000; i++) {
		uint32_t b = idle_poll_budget(p);
		if (b)
			return b;
	}
	return 0;
}

static void test_spin_zero_never_spins(void **state)
{
	(void)state;
	struct idle_poll p;
	idle_poll_init(&p, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(idle_poll_budget(&p), 0);
}

static void test_misses_back_off_and_a_hit_resets(void **state)
{
	(void)state;
	struct idle_poll p;
	idle_poll_init(&p, 50);
	uint32_t budget = idle_poll_budget(&p);
	assert_true(budget > 0);
	/* 1, 2, 4 ... 64 at most: idle periods that sleep at once after each miss. */
	unsigned want[] = { 1, 2, 4, 8, 16, 32, 64, 64 };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		idle_poll_spun(&p, budget, 50000, false);
		/* The last call of the helper already took the next spin's budget. */
		assert_int_equal(sleeps_before_next_spin(&p), want[i]);
	}
	idle_poll_spun(&p, 10, 500, true);
	assert_true(idle_poll_budget(&p) > 0);
	idle_poll_spun(&p, budget, 50000, false);
	assert_int_equal(sleeps_before_next_spin(&p), 1);
}

static void test_preempted_spin_does_not_stop_spinning(void **state)
{
	(void)state;
	struct idle_poll p;
	idle_poll_init(&p, 50);
	/* Calibrated: a spin pass costs 50 ns, so 50 us are about 1000 passes. */
	for (int i = 0; i < 50; i++)
		idle_poll_spun(&p, 20, 1000, true);
	assert_in_range(next_spin_budget(&p), 900, 1100);
	/* The thread lost its core for 10 ms in the middle of a 16-pass spin. */
	idle_poll_spun(&p, 16, 10000000, true);
	assert_true(next_spin_budget(&p) > 0);
	/* Normal spins bring the budget back. */
	for (int i = 0; i < 50; i++)
		idle_poll_spun(&p, 20, 1000, true);
	assert_in_range(next_spin_budget(&p), 900, 1100);
}

/* Found work, but only after 20 us: sleeping through the gap was cheaper. */
static void test_slow_hits_back_off(void **state)
{
	(void)state;
	struct idle_poll p;
	idle_poll_init(&p, 50);
	uint32_t budget = idle_poll_budget(&p);
	assert_true(budget > 0);
	idle_poll_spun(&p, budget / 2, 20000, true);
	assert_int_equal(sleeps_before_next_spin(&p), 1);
	idle_poll_spun(&p, budget / 2, 20000, true);
	assert_int_equal(sleeps_before_next_spin(&p), 2);
	/* A quick hit pays: spinning again at once. */
	idle_poll_spun(&p, 20, 1000, true);
	assert_true(idle_poll_budget(&p) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spin_zero_never_spins),
		cmocka_unit_test(test_misses_back_off_and_a_hit_resets),
		cmocka_unit_test(test_preempted_spin_does_not_stop_spinning),
		cmocka_unit_test(test_slow_hits_back_off),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
