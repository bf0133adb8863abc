/* SPDX-License-Identifier: MIT */
/*
 * Handing freed memory back to the kernel after a burst. glibc keeps what
 * is freed in its arenas and gives pages back on its own only from the top
 * of a heap, so a burst's memory stays resident long after it was freed;
 * malloc_trim(0) gives back every whole free page, in every arena. It walks
 * the arenas, so it is worth calling only after bulk frees: the packet pools
 * (worker.c) and the slow path's handshake buffers call it at most once per
 * period, when at least MEM_RELEASE_MIN has been freed since.
 */
#ifndef HD_MEM_RELEASE_H
#define HD_MEM_RELEASE_H

#include <stdbool.h>
#include <stdint.h>

#define MEM_RELEASE_MIN (1u << 20) /* freed bytes worth a malloc_trim */

/* After freeing `freed` bytes in bulk: trims if that is worth it. Returns whether it did. */
bool mem_release_freed(uint64_t freed);

#endif
