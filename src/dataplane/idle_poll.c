// SPDX-License-Identifier: MIT
#include "idle_poll.h"

/*
 * The longest spin that pays for itself: a sleep and its wake-up cost the
 * sleeper and the waker a few microseconds of CPU together. A spin that
 * found work only after longer than this cost more than sleeping through
 * the gap would have (and on a box shared with the clients it took CPU from
 * the very threads it waited for), so it counts as a miss for the back-off.
 */
#define SPIN_PAYS_NS 5000ull
/* Back-off after misses: at most this many idle periods sleep without a spin. */
#define SKIP_MAX 64u
/* Before the first calibration: a guess of one spin pass, in 1/16 ns. */
#define PASS_NS16_GUESS (40u * 16u)
/* A calibration from fewer passes is mostly the clock read itself. */
#define CALIBRATE_MIN_PASSES 16u
/*
 * A spin pass only loads a few cache lines; one that seems to take longer
 * than this lost its core to another thread in the middle of the spin. An
 * unclamped sample could shrink the budget to 0, and with no spin there is
 * no sample to grow it back.
 */
#define PASS_NS16_MAX (1000u * 16u)

void idle_poll_init(struct idle_poll *p, uint32_t idle_spin_us)
{
	*p = (struct idle_poll){ 0 };
	p->spin_ns = (uint64_t)idle_spin_us * 1000ull;
	p->ns_per_pass = PASS_NS16_GUESS;
}

uint32_t idle_poll_budget(struct idle_poll *p)
{
	if (!p->spin_ns)
		return 0;
	if (p->skip) {
		p->skip--;
		return 0;
	}
	uint64_t passes = p->spin_ns * 16 / p->ns_per_pass;
	return passes > UINT32_MAX ? UINT32_MAX : (uint32_t)passes;
}

void idle_poll_spun(struct idle_poll *p, uint32_t passes, uint64_t elapsed_ns, bool hit)
{
	if (passes >= CALIBRATE_MIN_PASSES) {
		/* Moving average over ~8 spins; a preempted spin only skews one sample. */
		uint64_t sample = elapsed_ns * 16 / passes;
		if (sample > PASS_NS16_MAX)
			sample = PASS_NS16_MAX;
		p->ns_per_pass = (p->ns_per_pass * 7 + sample) / 8;
		if (!p->ns_per_pass)
			p->ns_per_pass = 1;
	}
	if (hit && elapsed_ns <= SPIN_PAYS_NS) {
		p->misses = 0;
		return;
	}
	if (p->misses < 7)
		p->misses++;
	/* 1, 2, 4 ... SKIP_MAX idle periods without a spin: probe again less often. */
	p->skip = 1u << (p->misses - 1);
	if (p->skip > SKIP_MAX)
		p->skip = SKIP_MAX;
}
