/* SPDX-License-Identifier: MIT */
/*
 * Which CPU each thread runs on (server.pin_cores): "none", "auto" (workers
 * on distinct CPUs, the slow path on a CPU of its own when there are more
 * CPUs than workers), or a list such as "2,3" or "2-5".
 */
#ifndef HD_CPU_PIN_H
#define HD_CPU_PIN_H

#include <stddef.h>
#include <stdint.h>

#define CPU_PIN_NONE (-1)

struct cpu_plan {
	int slowpath_cpu;    /* or CPU_PIN_NONE */
	int worker_cpu[256]; /* [worker], or CPU_PIN_NONE */
};

/*
 * Builds the plan for nworkers from the pin_cores text and the CPUs this
 * process may run on. Returns 0, or -1 with a reason in err (a CPU that is
 * not available, a malformed list).
 */
int cpu_plan_make(const char *pin_cores, unsigned nworkers, struct cpu_plan *plan, char *err,
		  size_t errlen);

/* Pins the calling thread; cpu may be CPU_PIN_NONE. Returns 0 or an errno. */
int cpu_pin_self(int cpu);

#endif
