/* SPDX-License-Identifier: MIT */
/*
 * The cache-line size shared data is padded to, and an allocator for the
 * types that are aligned to it.
 *
 * 64 bytes. That is the line of x86-64 and of the ARM64 server cores the
 * appliance runs on: Neoverse N1 (Graviton 2, Ampere Altra), V1 (Graviton
 * 3) and V2 (Graviton 4, Google Axion). Apple's M-series cores have
 * 128-byte lines; there two fields padded 64 bytes apart may share a line,
 * which costs speed (false sharing), never correctness. Padding to 128
 * everywhere would double the padding for no gain on the targets.
 */
#ifndef HD_CACHE_LINE_H
#define HD_CACHE_LINE_H

#include <stddef.h>

#define CACHE_LINE 64

/*
 * n objects of size bytes at a CACHE_LINE boundary, not zeroed: for large
 * arrays that are written before they are read (a ring's slots), whose
 * pages the kernel then maps only as they are first touched. Free with
 * free(). NULL on overflow or no memory.
 */
void *cache_line_alloc(size_t n, size_t size);

/*
 * Zeroed, for arrays of types with _Alignas(CACHE_LINE) members: malloc and
 * calloc promise only 16-byte alignment, which leaves such an object
 * misaligned (undefined behaviour, and the padding no longer keeps its
 * fields off their neighbours' lines). Free with free(). NULL on overflow
 * or no memory.
 */
void *cache_line_calloc(size_t n, size_t size);

#endif
