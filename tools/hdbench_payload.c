// SPDX-License-Identifier: MIT
/*
 * hdbench's payloads: every byte derives from (pair, sequence), so the
 * receiver can check each one without keeping a copy.
 */
#include <stdint.h>
#include <string.h>

#include "hdbench.h"

void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* splitmix64 finalizer: cheap, and every input bit affects every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t pattern_seed(uint32_t pair, uint64_t seq)
{
	return mix64(((uint64_t)pair << 40) ^ seq ^ 0x6864626e63680000ULL);
}

static uint64_t pattern_word(uint64_t seed, size_t index)
{
	return mix64(seed + index * 0x9e3779b97f4a7c15ULL);
}

static void pattern_fill(uint8_t *p, size_t len, uint64_t seed)
{
	size_t off = 0, index = 0;
	uint64_t w;

	for (; off + 8 <= len; off += 8, index++) {
		w = pattern_word(seed, index);
		memcpy(p + off, &w, 8);
	}
	if (off < len) {
		w = pattern_word(seed, index);
		memcpy(p + off, &w, len - off);
	}
}

/* Returns the offset of the first byte that differs from the pattern, or -1. */
static ssize_t pattern_mismatch(const uint8_t *p, size_t len, uint64_t seed)
{
	size_t off = 0, index = 0, n;
	uint64_t want;
	uint8_t bytes[8];

	for (; off < len; off += 8, index++) {
		want = pattern_word(seed, index);
		n = len - off < 8 ? len - off : 8;
		if (memcmp(p + off, &want, n) == 0)
			continue;
		memcpy(bytes, &want, 8);
		for (size_t i = 0; i < n; i++) {
			if (p[off + i] != bytes[i])
				return (ssize_t)(off + i);
		}
	}
	return -1;
}

void payload_build(uint8_t *p, size_t size, uint32_t pair, uint64_t seq, uint64_t time_ns)
{
	uint8_t id[4];

	put_be64(p + PAYLOAD_SEQ_OFF, seq);
	put_be64(p + PAYLOAD_TIME_OFF, time_ns);
	put_be32(id, pair);
	memcpy(p + PAYLOAD_PAIR_OFF, id, size - PAYLOAD_PAIR_OFF < 4 ? size - PAYLOAD_PAIR_OFF : 4);
	if (size > PAYLOAD_PATTERN_OFF)
		pattern_fill(p + PAYLOAD_PATTERN_OFF, size - PAYLOAD_PATTERN_OFF,
			     pattern_seed(pair, seq));
}

/* Checks everything after seq and time. Returns the first bad offset, or -1. */
ssize_t payload_verify_body(const uint8_t *p, size_t size, uint32_t pair, uint64_t seq)
{
	size_t id_len = size - PAYLOAD_PAIR_OFF < 4 ? size - PAYLOAD_PAIR_OFF : 4;
	uint8_t id[4];
	ssize_t bad;

	put_be32(id, pair);
	for (size_t i = 0; i < id_len; i++) {
		if (p[PAYLOAD_PAIR_OFF + i] != id[i])
			return (ssize_t)(PAYLOAD_PAIR_OFF + i);
	}
	if (size <= PAYLOAD_PATTERN_OFF)
		return -1;
	bad = pattern_mismatch(p + PAYLOAD_PATTERN_OFF, size - PAYLOAD_PATTERN_OFF,
			       pattern_seed(pair, seq));
	return bad < 0 ? -1 : bad + PAYLOAD_PATTERN_OFF;
}
