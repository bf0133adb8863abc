// SPDX-License-Identifier: MIT
/*
 * What the HD policy (src/hd/hd_policy.c) costs: per decision, as a worker
 * makes one for every Send, and per load, as a reload does.
 *
 *   build/tools/hd_policy_bench [decisions per case, default 20000000]
 *
 * Policies of N named keys in two groups (a, b) with "allow group:a
 * group:b", "allow group:b group:a", "deny * *"; decisions over pairs drawn
 * from the named keys (odd indices, both ends) and unnamed ones (even), so
 * lookups both hit and miss. Also the worst load: 4,096 keys and 4,096 "allow * *" rules (every
 * rule touches the whole matrix). Prints ns per decision and ms per load,
 * the median of 5 runs; single-threaded, run it when nothing else does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hd_policy.h"

#define RUNS  5
#define PAIRS 4096

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void key_of(uint32_t i, uint8_t k[HD_POLICY_KEY_LEN])
{
	/* Spread over the first bytes, as random keys are. */
	for (int b = 0; b < HD_POLICY_KEY_LEN; b++)
		k[b] = (uint8_t)((i * 2654435761u) >> (8 * (b % 4))) ^ (uint8_t)b;
	k[31] = (uint8_t)i;
	k[30] = (uint8_t)(i >> 8);
	k[29] = (uint8_t)(i >> 16);
}

static size_t put_key(char *s, uint32_t i)
{
	uint8_t k[HD_POLICY_KEY_LEN];
	size_t n = (size_t)sprintf(s, " nodekey:");
	key_of(i, k);
	for (int b = 0; b < HD_POLICY_KEY_LEN; b++)
		n += (size_t)sprintf(s + n, "%02x", k[b]);
	return n;
}

static struct hd_policy *make(uint32_t nkeys, char **text_out, size_t *len_out)
{
	char *t = malloc((size_t)nkeys * 80 + 256), err[256];
	size_t n = 0;
	struct hd_policy *p;

	n += (size_t)sprintf(t + n, "group a");
	for (uint32_t i = 0; i < nkeys / 2; i++)
		n += put_key(t + n, i);
	n += (size_t)sprintf(t + n, "\ngroup b");
	for (uint32_t i = nkeys / 2; i < nkeys; i++)
		n += put_key(t + n, i);
	n += (size_t)sprintf(t + n, "\nallow group:a group:b\nallow group:b group:a\ndeny * *\n");
	if (hd_policy_parse(t, n, "bench", &p, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		exit(1);
	}
	*text_out = t;
	*len_out = n;
	return p;
}

static void bench_decisions(uint32_t nkeys, long decisions)
{
	static uint8_t keys[PAIRS][HD_POLICY_KEY_LEN];
	char *text = NULL;
	size_t len = 0;
	struct hd_policy *p = nkeys ? make(nkeys, &text, &len) : NULL;
	double t[RUNS];
	unsigned long allowed = 0;

	for (uint32_t i = 0; i < PAIRS; i++)
		key_of(nkeys ? (i % 2 ? i % nkeys : 1000000 + i) : i, keys[i]);
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_s();
		for (long i = 0; i < decisions; i++)
			allowed += hd_policy_allows(p, keys[i % PAIRS], keys[(i * 7 + 2) % PAIRS]);
		t[r] = (now_s() - t0) / (double)decisions * 1e9;
	}
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	printf("decision, %4u keys: %6.1f ns (%.0f%% allowed)\n", nkeys, t[RUNS / 2],
	       100.0 * (double)allowed / ((double)decisions * RUNS));
	if (p) {
		double l[RUNS];
		for (int r = 0; r < RUNS; r++) {
			struct hd_policy *q;
			char err[256];
			double t0 = now_s();
			if (hd_policy_parse(text, len, "bench", &q, err, sizeof(err)) < 0)
				exit(1);
			l[r] = (now_s() - t0) * 1e3;
			hd_policy_free(q);
		}
		qsort(l, RUNS, sizeof(l[0]), cmp_double);
		printf("load,     %4u keys, 3 rules: %8.2f ms (%zu bytes)\n", nkeys, l[RUNS / 2],
		       len);
	}
	hd_policy_free(p);
	free(text);
}

static void bench_worst_load(void)
{
	uint32_t nkeys = HD_POLICY_MAX_KEYS;
	size_t cap = (size_t)nkeys * 80 + (size_t)HD_POLICY_MAX_RULES * 12 + 64, n = 0;
	char *t = malloc(cap), err[256];
	struct hd_policy *p;
	double l[RUNS];

	n += (size_t)sprintf(t + n, "group all");
	for (uint32_t i = 0; i < nkeys; i++)
		n += put_key(t + n, i);
	n += (size_t)sprintf(t + n, "\n");
	for (int r = 0; r < HD_POLICY_MAX_RULES - 1; r++)
		n += (size_t)sprintf(t + n, "allow * *\n");
	n += (size_t)sprintf(t + n, "deny group:all *\n");
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_s();
		if (hd_policy_parse(t, n, "bench", &p, err, sizeof(err)) < 0) {
			fprintf(stderr, "%s\n", err);
			exit(1);
		}
		l[r] = (now_s() - t0) * 1e3;
		hd_policy_free(p);
	}
	qsort(l, RUNS, sizeof(l[0]), cmp_double);
	printf("load, worst (4096 keys, 4096 rules over all of them): %.1f ms\n", l[RUNS / 2]);
	free(t);
}

int main(int argc, char **argv)
{
	long decisions = argc > 1 ? atol(argv[1]) : 20000000;
	static const uint32_t sizes[] = { 0, 16, 256, 4096 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		bench_decisions(sizes[i], decisions);
	bench_worst_load();
	return 0;
}
