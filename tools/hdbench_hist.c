// SPDX-License-Identifier: MIT
/* hdbench's latency histogram (bucket layout in hdbench.h). */
#include <stdint.h>

#include "hdbench.h"

static unsigned int hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < HIST_EXACT)
		return (unsigned int)v;
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	/* (v >> shift) lies in [HIST_SUB, 2 * HIST_SUB). */
	return HIST_EXACT + (msb - HIST_SUB_BITS - 1) * HIST_SUB +
	       (unsigned int)((v >> shift) - HIST_SUB);
}

/* The middle of the value range a bucket covers. */
static double hist_bucket_value(unsigned int index)
{
	unsigned int k, msb, shift;
	uint64_t mant;

	if (index < HIST_EXACT)
		return index;
	k = index - HIST_EXACT;
	msb = HIST_SUB_BITS + 1 + k / HIST_SUB;
	shift = msb - HIST_SUB_BITS;
	mant = HIST_SUB + k % HIST_SUB;
	return (double)(mant << shift) + (double)((1ULL << shift) - 1) / 2.0;
}

void hist_record(struct latency_hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum_ns += (double)v;
	if (v > h->max_ns)
		h->max_ns = v;
}

void hist_merge(struct latency_hist *into, const struct latency_hist *from)
{
	for (unsigned int i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
}

double hist_percentile(const struct latency_hist *h, double pct)
{
	double want = pct / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)want, seen = 0;

	if (h->count == 0)
		return 0;
	/* The smallest value with at least pct percent of samples at or below it. */
	if ((double)rank < want || rank == 0)
		rank++;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return hist_bucket_value(i);
	}
	return (double)h->max_ns;
}
