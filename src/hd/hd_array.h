/* SPDX-License-Identifier: MIT */
/*
 * Growing an array by doubling, for the HD lists read from operator files
 * (revocations, policy): one element more fits after a successful call.
 */
#ifndef HD_HD_ARRAY_H
#define HD_HD_ARRAY_H

#include <stddef.h>
#include <stdlib.h>

/*
 * Returns arr, or arr reallocated to twice *cap elements of size sz (first
 * when *cap is 0) when n has reached *cap; NULL (arr untouched) when out of
 * memory. *cap is updated on growth.
 */
static inline void *hd_array_grow(void *arr, size_t n, size_t *cap, size_t sz, size_t first)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : first;
	void *p = realloc(arr, ncap * sz);
	if (p)
		*cap = ncap;
	return p;
}

#endif
