// SPDX-License-Identifier: MIT
#include "cpu_pin.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "2,3" / "2-5,8" into cpus; returns the count or -1. */
static int parse_cpu_list(const char *text, int *cpus, int cap)
{
	int n = 0;
	const char *p = text;
	while (*p) {
		char *end;
		long a = strtol(p, &end, 10);
		if (end == p || a < 0 || a >= CPU_SETSIZE)
			return -1;
		long b = a;
		p = end;
		if (*p == '-') {
			b = strtol(p + 1, &end, 10);
			if (end == p + 1 || b < a || b >= CPU_SETSIZE)
				return -1;
			p = end;
		}
		for (long c = a; c <= b; c++) {
			if (n == cap)
				return -1;
			cpus[n++] = (int)c;
		}
		if (*p == ',')
			p++;
		else if (*p)
			return -1;
	}
	return n;
}

int cpu_plan_make(const char *pin_cores, unsigned nworkers, struct cpu_plan *plan, char *err,
		  size_t errlen)
{
	plan->slowpath_cpu = CPU_PIN_NONE;
	for (size_t i = 0; i < sizeof(plan->worker_cpu) / sizeof(plan->worker_cpu[0]); i++)
		plan->worker_cpu[i] = CPU_PIN_NONE;
	if (strcmp(pin_cores, "none") == 0)
		return 0;

	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0) {
		snprintf(err, errlen, "server.pin_cores: cannot read the CPU affinity: %s",
			 strerror(errno));
		return -1;
	}
	int cpus[CPU_SETSIZE];
	int ncpus = 0;
	if (strcmp(pin_cores, "auto") == 0) {
		for (int c = 0; c < CPU_SETSIZE; c++) {
			if (CPU_ISSET(c, &allowed))
				cpus[ncpus++] = c;
		}
		if (ncpus == 0)
			return 0;
		/* With a spare CPU, keep the slow path (TLS handshakes) off the workers. */
		int first = 0;
		if ((unsigned)ncpus > nworkers) {
			plan->slowpath_cpu = cpus[0];
			first = 1;
		}
		for (unsigned i = 0; i < nworkers && i < 256; i++)
			plan->worker_cpu[i] = cpus[first + (int)(i % (unsigned)(ncpus - first))];
		return 0;
	}
	ncpus = parse_cpu_list(pin_cores, cpus, CPU_SETSIZE);
	if (ncpus <= 0) {
		snprintf(
		    err, errlen,
		    "server.pin_cores: \"%s\" is not auto, none or a CPU list such as 2,3 or 2-5",
		    pin_cores);
		return -1;
	}
	for (int i = 0; i < ncpus; i++) {
		if (!CPU_ISSET(cpus[i], &allowed)) {
			snprintf(err, errlen,
				 "server.pin_cores: CPU %d is not available to this process",
				 cpus[i]);
			return -1;
		}
	}
	for (unsigned i = 0; i < nworkers && i < 256; i++)
		plan->worker_cpu[i] = cpus[i % (unsigned)ncpus];
	return 0;
}

int cpu_pin_self(int cpu)
{
	if (cpu == CPU_PIN_NONE)
		return 0;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}
