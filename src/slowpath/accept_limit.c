// SPDX-License-Identifier: MIT
#include "accept_limit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define RATE_SLOTS    (1u << 14)
#define PENDING_SLOTS (1u << 16)

static bool is_v4_mapped(const uint8_t ip[16])
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return memcmp(ip, prefix, sizeof(prefix)) == 0;
}

void accept_source_of(const uint8_t ip[16], uint8_t source[16])
{
	memcpy(source, ip, 16);
	if (!is_v4_mapped(ip))
		memset(source + 8, 0, 8);
}

static uint64_t source_hash(const uint8_t source[16], const uint8_t key[16])
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, source, 16, key);
	return h;
}

int accept_limiter_init(struct accept_limiter *l, uint32_t per_second)
{
	memset(l, 0, sizeof(*l));
	l->per_second = per_second;
	if (!per_second)
		return 0;
	l->slots = calloc(RATE_SLOTS, sizeof(*l->slots));
	if (!l->slots)
		return -ENOMEM;
	l->mask = RATE_SLOTS - 1;
	randombytes_buf(l->hash_key, sizeof(l->hash_key));
	return 0;
}

void accept_limiter_destroy(struct accept_limiter *l)
{
	free(l->slots);
	l->slots = NULL;
}

bool accept_limiter_allow(struct accept_limiter *l, const uint8_t ip[16], uint64_t now_ns)
{
	if (!l->per_second)
		return true;
	uint8_t source[16];
	accept_source_of(ip, source);
	struct accept_slot *s = &l->slots[source_hash(source, l->hash_key) & l->mask];
	uint64_t burst = (uint64_t)l->per_second * 1000;
	if (memcmp(s->source, source, 16) != 0) {
		/* Another source held the slot: it starts over with a full bucket. */
		memcpy(s->source, source, 16);
		s->tokens_milli = burst;
		s->last_ns = now_ns;
	}
	uint64_t elapsed_ms = (now_ns - s->last_ns) / 1000000;
	s->tokens_milli += elapsed_ms * l->per_second;
	if (s->tokens_milli > burst)
		s->tokens_milli = burst;
	s->last_ns += elapsed_ms * 1000000;
	if (s->tokens_milli < 1000)
		return false;
	s->tokens_milli -= 1000;
	return true;
}

int pending_limiter_init(struct pending_limiter *l)
{
	memset(l, 0, sizeof(*l));
	l->counts = calloc(PENDING_SLOTS, sizeof(*l->counts));
	if (!l->counts)
		return -ENOMEM;
	l->mask = PENDING_SLOTS - 1;
	randombytes_buf(l->hash_key, sizeof(l->hash_key));
	return 0;
}

void pending_limiter_destroy(struct pending_limiter *l)
{
	free(l->counts);
	l->counts = NULL;
}

int32_t pending_limiter_take(struct pending_limiter *l, const uint8_t ip[16], uint32_t max)
{
	uint8_t source[16];
	accept_source_of(ip, source);
	uint32_t slot = (uint32_t)(source_hash(source, l->hash_key) & l->mask);
	if (max && l->counts[slot] >= max)
		return -1;
	l->counts[slot]++;
	return (int32_t)slot;
}

void pending_limiter_put(struct pending_limiter *l, int32_t slot)
{
	if (slot >= 0 && l->counts[slot] > 0)
		l->counts[slot]--;
}
