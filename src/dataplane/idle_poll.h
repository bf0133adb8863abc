/* SPDX-License-Identifier: MIT */
/*
 * When a dataplane worker runs out of work: how long it spins before it
 * sleeps in io_uring. docs/polling.md has the measurements behind it.
 *
 * A spin is worth it only when new work shows up sooner than a sleep and
 * its wake-up would cost (an io_uring wait, a context switch, the waker's
 * eventfd write: some microseconds of CPU). So the spin is bounded by
 * server.idle_spin_us and it backs off: a spin that ends without work, or
 * finds it only after longer than a sleep would have cost (SPIN_PAYS_NS),
 * makes the next idle periods sleep at once, for twice as many periods
 * after each further miss (up to 64); a spin that finds work quickly
 * resets that. The spin never reads the clock: it counts passes, and the cost of a
 * pass is calibrated from the clock reads the loop makes anyway.
 */
#ifndef HD_IDLE_POLL_H
#define HD_IDLE_POLL_H

#include <stdbool.h>
#include <stdint.h>

struct idle_poll {
	uint64_t spin_ns;     /* the ceiling: server.idle_spin_us */
	uint64_t ns_per_pass; /* calibrated cost of one spin pass, in 1/16 ns */
	uint32_t misses;      /* spins in a row that ended without work */
	uint32_t skip;	      /* idle periods left that sleep without spinning */
};

void idle_poll_init(struct idle_poll *p, uint32_t idle_spin_us);
/* Passes to spin in the idle period that starts now (0: sleep at once). */
uint32_t idle_poll_budget(struct idle_poll *p);
/*
 * The spin of this idle period is over: after `passes` passes over
 * `elapsed_ns`, it found work (`hit`) or gave up.
 */
void idle_poll_spun(struct idle_poll *p, uint32_t passes, uint64_t elapsed_ns, bool hit);

#endif
