// SPDX-License-Identifier: MIT
#include "mem_release.h"

#include <malloc.h>
#include <stdlib.h>

/*
 * malloc_trim() merges the small free chunks (fastbins) and gives back the
 * free pages between used ones, but the free top of a thread's heap goes
 * back only when a free() of 64 KiB or more merges into it. The handshake
 * buffers are small, so after they are all gone the whole burst can sit in
 * that top: one such free, from the calling thread's heap, releases it.
 */
#define TOP_NUDGE \
	(96 << 10) /* over glibc's 64 KiB consolidation mark, under its 128 KiB mmap one */

bool mem_release_freed(uint64_t freed)
{
	if (freed < MEM_RELEASE_MIN)
		return false;
	malloc_trim(0);
	/* volatile: the compiler would drop a malloc that is freed unused. */
	void *volatile nudge = malloc(TOP_NUDGE);
	free(nudge);
	return true;
}
