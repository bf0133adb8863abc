// SPDX-License-Identifier: MIT
#include "cache_line.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * n * size rounded up to whole lines (C11 aligned_alloc wants a multiple of
 * the alignment, and ASan checks it), at least one line; 0 on overflow.
 */
static size_t line_bytes(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return 0;
	size_t bytes = n * size;
	if (bytes > SIZE_MAX - CACHE_LINE)
		return 0;
	return bytes ? (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE : CACHE_LINE;
}

void *cache_line_alloc(size_t n, size_t size)
{
	size_t bytes = line_bytes(n, size);
	if (!bytes) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned_alloc(CACHE_LINE, bytes);
}

void *cache_line_calloc(size_t n, size_t size)
{
	void *p = cache_line_alloc(n, size);
	if (p)
		memset(p, 0, line_bytes(n, size));
	return p;
}
