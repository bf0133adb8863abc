// SPDX-License-Identifier: MIT
#include "accept_limit.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (1u << 14)

int accept_limiter_init(struct accept_limiter *l, uint32_t per_second)
{
	memset(l, 0, sizeof(*l));
	l->per_second = per_second;
	if (!per_second)
		return 0;
	l->slots = calloc(SLOTS, sizeof(*l->slots));
	if (!l->slots)
		return -ENOMEM;
	l->mask = SLOTS - 1;
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
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, ip, 16, l->hash_key);
	struct accept_slot *s = &l->slots[h & l->mask];
	uint64_t burst = (uint64_t)l->per_second * 1000;
	if (memcmp(s->ip, ip, 16) != 0) {
		/* Another address held the slot: it starts over with a full bucket. */
		memcpy(s->ip, ip, 16);
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
