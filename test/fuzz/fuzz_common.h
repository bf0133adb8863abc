/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the libFuzzer targets: a deterministic PRNG seeded from
 * the input (to cut a byte stream into chunks), exact-size heap copies (so
 * that AddressSanitizer sees any read past the end), a check macro that
 * aborts with a message (libFuzzer then saves the input), and in-memory
 * files for the APIs that only take a path.
 */
#ifndef HD_FUZZ_COMMON_H
#define HD_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a failure is a finding, not a harness error. */
#define FUZZ_CHECK(cond)                                                                     \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#cond);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

/* splitmix64: tiny, deterministic, good enough to pick chunk sizes. */
struct fuzz_rng {
	uint64_t s;
};

static inline void fuzz_rng_seed(struct fuzz_rng *r, const uint8_t *data, size_t n)
{
	r->s = 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < n; i++)
		r->s = (r->s ^ data[i]) * 0x100000001b3ull;
}

static inline uint64_t fuzz_rng_next(struct fuzz_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * A chunk size in 1..max: mostly small (1..16, where the split-header cases
 * live), sometimes anything up to max.
 */
static inline size_t fuzz_chunk_len(struct fuzz_rng *r, size_t max)
{
	uint64_t v = fuzz_rng_next(r);
	size_t n;

	if (max == 0)
		return 0;
	n = (v & 3) ? (size_t)((v >> 8) % 16) + 1 : (size_t)((v >> 8) % max) + 1;
	return n < max ? n : max;
}

/* An exact-size heap copy (malloc(0) avoided): reads past n hit a redzone. */
static inline uint8_t *fuzz_dup(const uint8_t *data, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, data, n);
	return p;
}

/* A NUL-terminated heap copy of n bytes (n + 1 bytes allocated). */
static inline char *fuzz_strdup(const uint8_t *data, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		abort();
	if (n)
		memcpy(p, data, n);
	p[n] = '\0';
	return p;
}

/*
 * An in-memory file with a path (/proc/self/fd/N) for APIs that take one:
 * no disk I/O and nothing left behind. Mode 0600, as secret files must be.
 */
struct fuzz_memfile {
	int fd;
	char path[64];
};

static inline void fuzz_memfile_open(struct fuzz_memfile *f, const char *name)
{
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0 || fchmod(f->fd, 0600) < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

static inline void fuzz_memfile_set(struct fuzz_memfile *f, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t done = 0;

	if (ftruncate(f->fd, 0) < 0)
		abort();
	while (done < n) {
		ssize_t w = pwrite(f->fd, p + done, n - done, (off_t)done);

		if (w <= 0)
			abort();
		done += (size_t)w;
	}
}

#endif
