// SPDX-License-Identifier: MIT
#include "cache_line.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *cache_line_calloc(size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	size_t bytes = n * size;
	/* C11 aligned_alloc wants a multiple of the alignment (ASan checks it). */
	if (bytes > SIZE_MAX - CACHE_LINE) {
		errno = ENOMEM;
		return NULL;
	}
	bytes = bytes ? (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE : CACHE_LINE;
	void *p = aligned_alloc(CACHE_LINE, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}
