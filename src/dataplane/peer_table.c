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

int peer_table_init(struct peer_table *t, const uint8_t hash_key[16], uint16_t self)
{
	memset(t, 0, sizeof(*t));
	t->slots = calloc(INITIAL_SLOTS, sizeof(*t->slots));
	if (!t->slots)
		return -ENOMEM;
	t->mask = INITIAL_SLOTS - 1;
	memcpy(t->hash_key, hash_key, sizeof(t->hash_key));
	t->self = self;
	return 0;
}

static void entry_free(struct peer_entry *e)
{
	free(e->locs);
	free(e->subs);
	free(e->remotes);
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
	e->local_newest = PEER_LOC_NONE;
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

/*
 * Doubles an array's capacity. The counts are 32-bit and clients choose
 * how many connections and subscribers a key gets: refuse to wrap, and
 * never ask realloc for 0 bytes (that frees the array).
 */
static int grow_array(void **arr, uint32_t *cap, size_t elem, uint32_t first)
{
	if (*cap > UINT32_MAX / 2)
		return -ENOMEM;
	uint32_t n = *cap ? *cap * 2 : first;
	void *p = realloc(*arr, (size_t)n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

const struct peer_loc *peer_entry_active(const struct peer_entry *e)
{
	return e->nlocs ? &e->locs[e->nlocs - 1] : NULL;
}

const struct peer_loc *peer_entry_local_newest(const struct peer_entry *e)
{
	return e->local_newest != PEER_LOC_NONE ? &e->locs[e->local_newest] : NULL;
}

/* The index of the first connection with a seq not below seq. */
static uint32_t loc_lower_bound(const struct peer_entry *e, uint64_t seq)
{
	uint32_t lo = 0, hi = e->nlocs;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (e->locs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int peer_entry_add_loc(const struct peer_table *t, struct peer_entry *e,
		       const struct peer_loc *loc)
{
	if (e->nlocs == e->cap_locs &&
	    grow_array((void **)&e->locs, &e->cap_locs, sizeof(*e->locs), 2) < 0)
		return -ENOMEM;
	/* Registrations arrive mostly newest last: usually an append. */
	uint32_t at = e->nlocs && e->locs[e->nlocs - 1].seq < loc->seq
			  ? e->nlocs
			  : loc_lower_bound(e, loc->seq);
	memmove(&e->locs[at + 1], &e->locs[at], (size_t)(e->nlocs - at) * sizeof(*e->locs));
	e->locs[at] = *loc;
	e->nlocs++;
	if (e->local_newest != PEER_LOC_NONE && e->local_newest >= at)
		e->local_newest++;
	if (loc->worker == t->self && (e->local_newest == PEER_LOC_NONE || at > e->local_newest))
		e->local_newest = at;
	return 0;
}

bool peer_entry_remove_loc(const struct peer_table *t, struct peer_entry *e, uint64_t seq)
{
	uint32_t at = loc_lower_bound(e, seq);
	if (at == e->nlocs || e->locs[at].seq != seq)
		return false;
	memmove(&e->locs[at], &e->locs[at + 1], (size_t)(e->nlocs - at - 1) * sizeof(*e->locs));
	e->nlocs--;
	if (e->local_newest == PEER_LOC_NONE || e->local_newest < at)
		return true;
	if (e->local_newest > at) {
		e->local_newest--;
		return true;
	}
	/* The local newest left: the next older local one, if any, takes over. */
	e->local_newest = PEER_LOC_NONE;
	for (uint32_t i = at; i-- > 0;) {
		if (e->locs[i].worker == t->self) {
			e->local_newest = i;
			break;
		}
	}
	return true;
}

void peer_entry_compact_subs(struct peer_table *t, struct peer_entry *e, peer_sub_keep_fn keep,
			     void *ctx)
{
	uint64_t pass = ++t->sub_pass;
	uint32_t kept = 0;
	for (uint32_t i = 0; i < e->nsubs; i++) {
		if (keep(ctx, e->subs[i].conn_id, e->subs[i].gen, pass))
			e->subs[kept++] = e->subs[i];
	}
	e->nsubs = kept;
}

int peer_entry_add_sub(struct peer_table *t, struct peer_entry *e, uint32_t conn_id, uint32_t gen,
		       uint32_t max, peer_sub_keep_fn keep, void *ctx)
{
	/* The same destination as last time: the common repeat, caught for free. */
	if (e->nsubs && e->subs[e->nsubs - 1].conn_id == conn_id &&
	    e->subs[e->nsubs - 1].gen == gen)
		return 0;
	if (e->nsubs >= max) {
		/*
		 * At the bound. A pass may free room (gone and repeated
		 * subscribers), but a list full of live ones would make every
		 * packet pay a pass: after a pass that freed nothing, the next
		 * runs only after max / 2 more refusals, so each pays O(1).
		 * (Until then a repeat of a recorded subscriber is refused and
		 * counted too; it keeps its PeerGone.)
		 */
		if (e->subs_refused++ % (max / 2 + 1) != 0)
			return -ENOSPC;
		peer_entry_compact_subs(t, e, keep, ctx);
		if (e->nsubs >= max)
			return -ENOSPC;
		e->subs_refused = 0;
	}
	if (e->nsubs == e->cap_subs) {
		peer_entry_compact_subs(t, e, keep, ctx);
		/*
		 * Grow unless the pass freed over half the list: then more
		 * than cap / 2 appends come before the next pass, which costs
		 * cap, so each append pays O(1) for it.
		 */
		if ((uint64_t)e->nsubs * 2 >= e->cap_subs &&
		    grow_array((void **)&e->subs, &e->cap_subs, sizeof(*e->subs), 2) < 0 &&
		    e->nsubs == e->cap_subs)
			return -ENOMEM;
	}
	e->subs[e->nsubs++] = (struct peer_sub){ .conn_id = conn_id, .gen = gen };
	return 0;
}

int peer_entry_add_remote(struct peer_entry *e, uint16_t link)
{
	for (uint16_t i = 0; i < e->nremotes; i++) {
		if (e->remotes[i] == link)
			return 0;
	}
	/* At most one per mesh link (MESH_MAX_PEERS): grown one at a time. */
	uint16_t *r = realloc(e->remotes, ((size_t)e->nremotes + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	r[e->nremotes++] = link;
	e->remotes = r;
	return 0;
}

bool peer_entry_remove_remote(struct peer_entry *e, uint16_t link)
{
	for (uint16_t i = 0; i < e->nremotes; i++) {
		if (e->remotes[i] != link)
			continue;
		memmove(&e->remotes[i], &e->remotes[i + 1],
			(size_t)(e->nremotes - i - 1) * sizeof(*e->remotes));
		e->nremotes--;
		return true;
	}
	return false;
}
