// SPDX-License-Identifier: MIT
/*
 * The receiver-index table: open addressing over a fixed window, keyed by
 * a secret hash, with per-owner FIFO lists so that a quota can push out an
 * owner's oldest entry in O(1). See wg_index.h for the rules.
 */
#include "wg_index.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define KIND_ROUTE   1ull
#define KIND_PENDING 2ull

static uint64_t make_key(uint32_t index, uint16_t owner, uint64_t kind)
{
	return (uint64_t)index | (uint64_t)owner << 32 | kind << 48;
}

static uint32_t key_index(uint64_t k)
{
	return (uint32_t)k;
}

static uint16_t key_owner(uint64_t k)
{
	return (uint16_t)(k >> 32);
}

static uint64_t key_kind(uint64_t k)
{
	return k >> 48;
}

/* Keyed, so that nobody outside can pick indices that fill one window. */
static uint32_t home(const struct wg_index *t, uint32_t index)
{
	uint64_t h = ((uint64_t)index ^ t->seed[0]) * (t->seed[1] | 1);

	h ^= h >> 31;
	h *= 0x9E3779B97F4A7C15ull;
	return (uint32_t)(h >> 40);
}

static uint32_t at(uint32_t home_pos, uint32_t i)
{
	return (home_pos + i) & (WG_INDEX_SLOTS - 1);
}

struct wg_index *wg_index_new(void)
{
	struct wg_index *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (getrandom(t->seed, sizeof(t->seed), 0) != sizeof(t->seed)) {
		/* No entropy yet: a fixed key still spreads indices, only predictably. */
		t->seed[0] = 0x243F6A8885A308D3ull;
		t->seed[1] = 0x13198A2E03707344ull;
	}
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void wg_index_free(struct wg_index *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void wg_index_set_mirror(struct wg_index *t, void (*fn)(void *ctx, uint32_t index, int owner),
			 void *ctx)
{
	pthread_mutex_lock(&t->lock);
	t->mirror = fn;
	t->mirror_ctx = ctx;
	pthread_mutex_unlock(&t->lock);
}

int wg_index_lookup(const struct wg_index *t, uint32_t index)
{
	uint32_t h = home(t, index);

	for (uint32_t i = 0; i < WG_INDEX_PROBE; i++) {
		uint64_t k = atomic_load_explicit(&t->key[at(h, i)], memory_order_acquire);
		if (k && key_index(k) == index && key_kind(k) == KIND_ROUTE)
			return key_owner(k);
	}
	return -1;
}

/* ---- under the lock ---- */

static struct wg_index_list *list_of(struct wg_index *t, uint64_t k)
{
	return key_kind(k) == KIND_ROUTE ? &t->routes[key_owner(k)] : &t->pending[key_owner(k)];
}

static int find(const struct wg_index *t, uint32_t index)
{
	uint32_t h = home(t, index);

	for (uint32_t i = 0; i < WG_INDEX_PROBE; i++) {
		uint64_t k = atomic_load_explicit(&t->key[at(h, i)], memory_order_relaxed);
		if (k && key_index(k) == index)
			return (int)at(h, i);
	}
	return -1;
}

static void unlink_pos(struct wg_index *t, uint32_t pos)
{
	uint64_t k = atomic_load_explicit(&t->key[pos], memory_order_relaxed);
	struct wg_index_list *l = list_of(t, k);
	struct wg_index_meta *m = &t->meta[pos];

	if (m->prev)
		t->meta[m->prev - 1].next = m->next;
	else
		l->head = m->next;
	if (m->next)
		t->meta[m->next - 1].prev = m->prev;
	else
		l->tail = m->prev;
	l->count--;
	m->prev = m->next = 0;
}

static void link_tail(struct wg_index *t, uint32_t pos, uint64_t k)
{
	struct wg_index_list *l = list_of(t, k);
	struct wg_index_meta *m = &t->meta[pos];

	m->prev = l->tail;
	m->next = 0;
	if (l->tail)
		t->meta[l->tail - 1].next = pos + 1;
	else
		l->head = pos + 1;
	l->tail = pos + 1;
	l->count++;
}

static void remove_pos(struct wg_index *t, uint32_t pos)
{
	uint64_t k = atomic_load_explicit(&t->key[pos], memory_order_relaxed);

	unlink_pos(t, pos);
	atomic_store_explicit(&t->key[pos], 0, memory_order_release);
	memset(&t->meta[pos], 0, sizeof(t->meta[pos]));
	if (key_kind(k) == KIND_ROUTE && t->mirror)
		t->mirror(t->mirror_ctx, key_index(k), -1);
}

/*
 * Makes index owner's, of kind, fresh until until_ns: refreshes or converts
 * owner's own entry, takes over a stale one of another peer, or fills a
 * free slot of the window. At its quota the owner's oldest entry of that
 * kind goes. Returns the position or WG_INDEX_TAKEN / WG_INDEX_FULL.
 */
static int claim(struct wg_index *t, uint32_t index, uint16_t owner, uint64_t kind, uint32_t quota,
		 uint64_t until_ns, uint64_t now_ns)
{
	int pos = find(t, index);

	if (pos >= 0) {
		uint64_t k = atomic_load_explicit(&t->key[pos], memory_order_relaxed);
		/* The decision this whole table exists for: a fresh entry stays its owner's. */
		if (key_owner(k) != owner && t->meta[pos].until_ns > now_ns)
			return WG_INDEX_TAKEN;
		if (key_owner(k) == owner && key_kind(k) == kind)
			unlink_pos(t, (uint32_t)pos); /* relinked at the tail below */
		else
			remove_pos(t, (uint32_t)pos);
	} else {
		uint32_t h = home(t, index);
		for (uint32_t i = 0; i < WG_INDEX_PROBE && pos < 0; i++) {
			if (!atomic_load_explicit(&t->key[at(h, i)], memory_order_relaxed))
				pos = (int)at(h, i);
		}
		/* No free slot: one whose entry nobody can count on any more. */
		for (uint32_t i = 0; i < WG_INDEX_PROBE && pos < 0; i++) {
			if (t->meta[at(h, i)].until_ns <= now_ns) {
				pos = (int)at(h, i);
				remove_pos(t, (uint32_t)pos);
			}
		}
		if (pos < 0)
			return WG_INDEX_FULL;
	}
	uint64_t k = make_key(index, owner, kind);
	struct wg_index_list *l = list_of(t, k);
	if (l->count >= quota && l->head) {
		remove_pos(t, l->head - 1);
		atomic_fetch_add_explicit(&t->evicted, 1, memory_order_relaxed);
	}
	t->meta[pos].until_ns = until_ns;
	link_tail(t, (uint32_t)pos, k);
	atomic_store_explicit(&t->key[pos], k, memory_order_release);
	if (kind == KIND_ROUTE && t->mirror)
		t->mirror(t->mirror_ctx, index, owner);
	return pos;
}

static int pending_initiator(struct wg_index *t, uint32_t receiver, uint16_t responder,
			     uint64_t now_ns)
{
	int pos = find(t, receiver);

	if (pos < 0)
		return WG_INDEX_UNMATCHED;
	uint64_t k = atomic_load_explicit(&t->key[pos], memory_order_relaxed);
	const struct wg_index_meta *m = &t->meta[pos];
	if (key_kind(k) != KIND_PENDING || m->until_ns <= now_ns || m->responder != responder)
		return WG_INDEX_UNMATCHED;
	return key_owner(k);
}

/* ---- the handshake steps ---- */

/* Refills b for the time since its last use, then takes a token if there is one. */
static bool bucket_take(struct wg_hs_bucket *b, uint64_t burst, uint64_t rate, uint64_t now_ns)
{
	uint64_t tokens = b->tokens_milli;

	burst *= 1000;
	if (!b->last_ns) {
		tokens = burst;
	} else if (now_ns > b->last_ns) {
		uint64_t elapsed = now_ns - b->last_ns;
		if (elapsed > 100000000000ull)
			elapsed = 100000000000ull;
		tokens += elapsed * rate / 1000000; /* ns * tokens/s -> milli-tokens */
	}
	if (tokens > burst)
		tokens = burst;
	bool ok = tokens >= 1000;
	if (ok)
		tokens -= 1000;
	b->tokens_milli = (uint32_t)tokens;
	if (now_ns > b->last_ns)
		b->last_ns = now_ns;
	return ok;
}

bool wg_index_handshake_allowed(struct wg_index *t, uint16_t peer, uint32_t nlinks, uint64_t now_ns)
{
	pthread_mutex_lock(&t->lock);
	bool ok = bucket_take(&t->bucket[peer], WG_HS_BURST_BASE + WG_HS_BURST_PER_LINK * nlinks,
			      WG_HS_RATE_BASE + WG_HS_RATE_PER_LINK * (uint64_t)nlinks, now_ns);
	pthread_mutex_unlock(&t->lock);
	return ok;
}

bool wg_index_unknown_allowed(struct wg_index *t, uint64_t now_ns)
{
	pthread_mutex_lock(&t->lock);
	bool ok = bucket_take(&t->unknown_bucket, WG_UNKNOWN_HS_BURST, WG_UNKNOWN_HS_RATE, now_ns);
	pthread_mutex_unlock(&t->lock);
	return ok;
}

int wg_index_initiation(struct wg_index *t, uint32_t sender, uint16_t initiator, uint16_t responder,
			uint32_t nlinks, uint64_t now_ns)
{
	uint32_t quota = WG_INDEX_PENDING_BASE + WG_INDEX_PENDING_PER_LINK * nlinks;

	pthread_mutex_lock(&t->lock);
	int pos =
	    claim(t, sender, initiator, KIND_PENDING, quota, now_ns + WG_INDEX_PENDING_NS, now_ns);
	if (pos >= 0)
		t->meta[pos].responder = responder;
	pthread_mutex_unlock(&t->lock);
	return pos < 0 ? pos : 0;
}

int wg_index_pending_initiator(struct wg_index *t, uint32_t receiver, uint16_t responder,
			       uint64_t now_ns)
{
	pthread_mutex_lock(&t->lock);
	int initiator = pending_initiator(t, receiver, responder, now_ns);
	pthread_mutex_unlock(&t->lock);
	return initiator;
}

int wg_index_response(struct wg_index *t, uint32_t sender, uint32_t receiver, uint16_t responder,
		      uint32_t nlinks_initiator, uint32_t nlinks_responder, uint64_t now_ns)
{
	uint64_t until = now_ns + WG_INDEX_FRESH_NS;

	pthread_mutex_lock(&t->lock);
	int initiator = pending_initiator(t, receiver, responder, now_ns);
	if (initiator >= 0) {
		/* The responder's index first: if it is taken, the pending entry stays as it was.
		 */
		int rc = claim(t, sender, responder, KIND_ROUTE,
			       WG_INDEX_ROUTES_BASE + WG_INDEX_ROUTES_PER_LINK * nlinks_responder,
			       until, now_ns);
		if (rc >= 0)
			rc = claim(t, receiver, (uint16_t)initiator, KIND_ROUTE,
				   WG_INDEX_ROUTES_BASE +
				       WG_INDEX_ROUTES_PER_LINK * nlinks_initiator,
				   until, now_ns);
		if (rc < 0)
			initiator = rc;
	}
	pthread_mutex_unlock(&t->lock);
	return initiator;
}

/* ---- roaming ---- */

void wg_index_roam_offer(struct wg_index *t, uint32_t sender, uint16_t initiator,
			 uint16_t responder, const struct wg_endpoint *ep, uint64_t now_ns)
{
	pthread_mutex_lock(&t->lock);
	t->offers[t->next_offer++ % WG_ROAM_OFFERS] = (struct wg_roam_offer){
		.index = sender,
		.initiator = initiator,
		.responder = responder,
		.until_ns = now_ns + WG_INDEX_PENDING_NS,
		.ep = *ep,
	};
	pthread_mutex_unlock(&t->lock);
}

static struct wg_roam_offer *find_offer(struct wg_index *t, uint32_t receiver, uint16_t responder,
					uint64_t now_ns)
{
	for (int i = 0; i < WG_ROAM_OFFERS; i++) {
		struct wg_roam_offer *o = &t->offers[i];
		if (o->until_ns > now_ns && o->index == receiver && o->responder == responder)
			return o;
	}
	return NULL;
}

int wg_index_roam_peek(struct wg_index *t, uint32_t receiver, uint16_t responder, uint64_t now_ns)
{
	pthread_mutex_lock(&t->lock);
	struct wg_roam_offer *o = find_offer(t, receiver, responder, now_ns);
	int initiator = o ? o->initiator : WG_INDEX_UNMATCHED;
	pthread_mutex_unlock(&t->lock);
	return initiator;
}

int wg_index_roam_response(struct wg_index *t, uint32_t sender, uint32_t receiver,
			   uint16_t responder, uint32_t nlinks_initiator, uint32_t nlinks_responder,
			   uint64_t now_ns, struct wg_endpoint *ep)
{
	uint64_t until = now_ns + WG_INDEX_FRESH_NS;
	int rc;

	pthread_mutex_lock(&t->lock);
	struct wg_roam_offer *o = find_offer(t, receiver, responder, now_ns);
	if (!o) {
		pthread_mutex_unlock(&t->lock);
		return WG_INDEX_UNMATCHED;
	}
	rc = claim(t, sender, responder, KIND_ROUTE,
		   WG_INDEX_ROUTES_BASE + WG_INDEX_ROUTES_PER_LINK * nlinks_responder, until,
		   now_ns);
	if (rc >= 0)
		rc = claim(t, receiver, o->initiator, KIND_ROUTE,
			   WG_INDEX_ROUTES_BASE + WG_INDEX_ROUTES_PER_LINK * nlinks_initiator,
			   until, now_ns);
	if (rc >= 0) {
		rc = o->initiator;
		*ep = o->ep;
		memset(o, 0, sizeof(*o));
	}
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void wg_index_forget(struct wg_index *t, uint16_t peer)
{
	pthread_mutex_lock(&t->lock);
	while (t->routes[peer].head)
		remove_pos(t, t->routes[peer].head - 1);
	while (t->pending[peer].head)
		remove_pos(t, t->pending[peer].head - 1);
	memset(&t->bucket[peer], 0, sizeof(t->bucket[peer]));
	for (int i = 0; i < WG_ROAM_OFFERS; i++) {
		if (t->offers[i].initiator == peer || t->offers[i].responder == peer)
			memset(&t->offers[i], 0, sizeof(t->offers[i]));
	}
	pthread_mutex_unlock(&t->lock);
}

void wg_index_counts(struct wg_index *t, uint16_t peer, uint32_t *routes, uint32_t *pending)
{
	pthread_mutex_lock(&t->lock);
	*routes = t->routes[peer].count;
	*pending = t->pending[peer].count;
	pthread_mutex_unlock(&t->lock);
}
