// SPDX-License-Identifier: MIT
#include "peer_table.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_SLOTS 1024

static uint64_t key_hash(const struct peer_table *t, const uint8_t key[KEY_LEN])
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, key, KEY_LEN, t->hash_key);
	return h;
}

int peer_table_init(struct peer_table *t, const uint8_t hash_key[16])
{
	memset(t, 0, sizeof(*t));
	t->slots = calloc(INITIAL_SLOTS, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = INITIAL_SLOTS - 1;
	memcpy(t->hash_key, hash_key, sizeof(t->hash_key));
	return 0;
}

static void entry_free(struct peer_entry *e)
{
	free(e->locs);
	free(e->subs);
	free(e);
}

void peer_table_destroy(struct peer_table *t)
{
	for (uint32_t i = 0; i <= t->mask; i++) {
		if (t->slots[i])
			entry_free(t->slots[i]);
	}
	free(t->slots);
	t->slots = NULL;
}

struct peer_entry *peer_table_lookup(const struct peer_table *t, const uint8_t key[KEY_LEN])
{
	uint64_t h = key_hash(t, key);
	for (uint32_t i = (uint32_t)h & t->mask;; i = (i + 1) & t->mask) {
		struct peer_entry *e = t->slots[i];
		if (!e)
			return NULL;
		if (e->hash == h && memcmp(e->key, key, KEY_LEN) == 0)
			return e;
	}
}

static void insert_slot(struct peer_entry **slots, uint32_t mask, struct peer_entry *e)
{
	uint32_t i = (uint32_t)e->hash & mask;
	while (slots[i])
		i = (i + 1) & mask;
	slots[i] = e;
}

static int grow(struct peer_table *t)
{
	uint32_t n = (t->mask + 1) * 2;
	struct peer_entry **slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (uint32_t i = 0; i <= t->mask; i++) {
		if (t->slots[i])
			insert_slot(slots, n - 1, t->slots[i]);
	}
	free(t->slots);
	t->slots = slots;
	t->mask = n - 1;
	return 0;
}

struct peer_entry *peer_table_get_or_add(struct peer_table *t, const uint8_t key[KEY_LEN])
{
	struct peer_entry *e = peer_table_lookup(t, key);
	if (e)
		return e;
	/* Keep the load under one half so that probe runs stay short. */
	if ((t->count + 1) * 2 > t->mask + 1 && grow(t) < 0)
		return NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->key, key, KEY_LEN);
	e->hash = key_hash(t, key);
	insert_slot(t->slots, t->mask, e);
	t->count++;
	return e;
}

void peer_table_remove(struct peer_table *t, struct peer_entry *e)
{
	uint32_t i = (uint32_t)e->hash & t->mask;
	while (t->slots[i] != e)
		i = (i + 1) & t->mask;
	t->slots[i] = NULL;
	/*
	 * Backward-shift deletion: move later members of the probe run into the
	 * hole when their home slot allows it, so lookups never need tombstones.
	 */
	uint32_t hole = i;
	for (uint32_t j = (i + 1) & t->mask; t->slots[j]; j = (j + 1) & t->mask) {
		uint32_t home = (uint32_t)t->slots[j]->hash & t->mask;
		bool movable =
		    (hole <= j) ? (home <= hole || home > j) : (home <= hole && home > j);
		if (movable) {
			t->slots[hole] = t->slots[j];
			t->slots[j] = NULL;
			hole = j;
		}
	}
	t->count--;
	entry_free(e);
}

struct peer_entry *peer_table_next(const struct peer_table *t, uint32_t *pos)
{
	while (*pos <= t->mask) {
		struct peer_entry *e = t->slots[(*pos)++];
		if (e)
			return e;
	}
	return NULL;
}

const struct peer_loc *peer_entry_active(const struct peer_entry *e)
{
	const struct peer_loc *best = NULL;
	for (uint16_t i = 0; i < e->nlocs; i++) {
		if (!best || e->locs[i].seq > best->seq)
			best = &e->locs[i];
	}
	return best;
}

int peer_entry_add_loc(struct peer_entry *e, const struct peer_loc *loc)
{
	if (e->nlocs == e->cap_locs) {
		uint16_t cap = e->cap_locs ? e->cap_locs * 2 : 1;
		struct peer_loc *locs = realloc(e->locs, cap * sizeof(*locs));
		if (!locs)
			return -ENOMEM;
		e->locs = locs;
		e->cap_locs = cap;
	}
	e->locs[e->nlocs++] = *loc;
	return 0;
}

bool peer_entry_remove_loc(struct peer_entry *e, uint64_t seq)
{
	for (uint16_t i = 0; i < e->nlocs; i++) {
		if (e->locs[i].seq == seq) {
			e->locs[i] = e->locs[--e->nlocs];
			return true;
		}
	}
	return false;
}

int peer_entry_add_sub(struct peer_entry *e, uint32_t conn_id, uint32_t gen, uint32_t max,
		       bool (*live)(void *ctx, uint32_t conn_id, uint32_t gen), void *ctx)
{
	for (uint32_t i = 0; i < e->nsubs; i++) {
		if (e->subs[i].conn_id == conn_id && e->subs[i].gen == gen)
			return 0;
	}
	if (e->nsubs == e->cap_subs || e->nsubs >= max) {
		/* Drop subscribers that have gone before growing the list or refusing. */
		uint32_t kept = 0;
		for (uint32_t i = 0; i < e->nsubs; i++) {
			if (live(ctx, e->subs[i].conn_id, e->subs[i].gen))
				e->subs[kept++] = e->subs[i];
		}
		e->nsubs = kept;
	}
	if (e->nsubs >= max)
		return -ENOSPC;
	if (e->nsubs == e->cap_subs) {
		uint32_t cap = e->cap_subs ? e->cap_subs * 2 : 2;
		struct peer_sub *subs = realloc(e->subs, cap * sizeof(*subs));
		if (!subs)
			return -ENOMEM;
		e->subs = subs;
		e->cap_subs = cap;
	}
	e->subs[e->nsubs++] = (struct peer_sub){ .conn_id = conn_id, .gen = gen };
	return 0;
}
