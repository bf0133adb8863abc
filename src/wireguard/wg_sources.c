// SPDX-License-Identifier: MIT
/*
 * Unknown sources and the blocklist: a small open-addressing table keyed by
 * address (a keyed hash, so nobody can aim at one window). A full window
 * gives up its least recently heard entry that is not blocked.
 */
#include "wg_sources.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"

static uint32_t home(const struct wg_sources *t, const uint8_t addr[16])
{
	uint64_t hi, lo;

	memcpy(&hi, addr, 8);
	memcpy(&lo, addr + 8, 8);
	uint64_t h = (hi ^ t->seed) * 0x9E3779B97F4A7C15ull;
	h ^= lo;
	h *= 0xC2B2AE3D27D4EB4Full;
	return (uint32_t)(h >> 40) % WG_SOURCES;
}

struct wg_sources *wg_sources_new(uint32_t strikes, uint64_t block_ns)
{
	struct wg_sources *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->strikes_to_block = strikes ? strikes : WG_STRIKES;
	t->block_ns = block_ns ? block_ns : WG_BLOCK_NS;
	if (getrandom(&t->seed, sizeof(t->seed), 0) != sizeof(t->seed))
		t->seed = 0x243F6A8885A308D3ull;
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

void wg_sources_free(struct wg_sources *t)
{
	if (!t)
		return;
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void wg_sources_set_mirror(struct wg_sources *t,
			   void (*fn)(void *ctx, const uint8_t addr[16], uint64_t until_ns),
			   void *ctx)
{
	pthread_mutex_lock(&t->lock);
	t->mirror = fn;
	t->mirror_ctx = ctx;
	pthread_mutex_unlock(&t->lock);
}

static bool same_addr(const struct wg_source *s, const struct wg_endpoint *ep)
{
	return memcmp(s->last.addr, ep->addr, sizeof(ep->addr)) == 0;
}

static void unblock(struct wg_sources *t, struct wg_source *s)
{
	if (!s->blocked_until_ns)
		return;
	s->blocked_until_ns = 0;
	s->strikes = 0; /* a block served starts the count again */
	atomic_fetch_sub(&t->nblocked, 1);
	if (t->mirror)
		t->mirror(t->mirror_ctx, s->last.addr, 0);
}

/* src's entry, or NULL; expired blocks are lifted on the way. */
static struct wg_source *find(struct wg_sources *t, const struct wg_endpoint *src, uint64_t now)
{
	uint32_t h = home(t, src->addr);

	for (uint32_t i = 0; i < WG_SOURCES_PROBE; i++) {
		struct wg_source *s = &t->s[(h + i) % WG_SOURCES];
		if (s->used && same_addr(s, src)) {
			if (s->blocked_until_ns && s->blocked_until_ns <= now)
				unblock(t, s);
			return s;
		}
	}
	return NULL;
}

bool wg_sources_blocked(struct wg_sources *t, const struct wg_endpoint *src, uint64_t now_ns)
{
	if (!atomic_load_explicit(&t->nblocked, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&t->lock);
	struct wg_source *s = find(t, src, now_ns);
	bool blocked = s && s->blocked_until_ns > now_ns;
	pthread_mutex_unlock(&t->lock);
	return blocked;
}

/* A slot for src: free, or the least recently heard unblocked one of its window. */
static struct wg_source *take_slot(struct wg_sources *t, const struct wg_endpoint *src)
{
	uint32_t h = home(t, src->addr);
	struct wg_source *victim = NULL;

	for (uint32_t i = 0; i < WG_SOURCES_PROBE; i++) {
		struct wg_source *s = &t->s[(h + i) % WG_SOURCES];
		if (!s->used)
			return s;
		if (!s->blocked_until_ns && (!victim || s->last_ns < victim->last_ns))
			victim = s;
	}
	return victim;
}

bool wg_sources_note(struct wg_sources *t, const struct wg_endpoint *src, int mac1_peer,
		     const char *mac1_name, bool strike, uint64_t now_ns)
{
	bool blocked_now = false, is_new = false;
	char text[WG_ENDPOINT_STRLEN];

	pthread_mutex_lock(&t->lock);
	struct wg_source *s = find(t, src, now_ns);
	if (!s) {
		s = take_slot(t, src);
		if (!s) {
			atomic_fetch_add(&t->not_tracked, 1);
			pthread_mutex_unlock(&t->lock);
			return false;
		}
		*s = (struct wg_source){ .used = true, .mac1_peer = -1 };
		is_new = true;
	}
	s->last = *src;
	s->count++;
	s->last_ns = now_ns;
	if (mac1_peer >= 0)
		s->mac1_peer = mac1_peer;
	if (strike && !s->blocked_until_ns) {
		if (now_ns - s->strikes_since_ns > WG_STRIKE_WINDOW_NS) {
			s->strikes = 0;
			s->strikes_since_ns = now_ns;
		}
		if (++s->strikes >= t->strikes_to_block) {
			s->blocked_until_ns = now_ns + t->block_ns;
			atomic_fetch_add(&t->nblocked, 1);
			atomic_fetch_add(&t->blocks, 1);
			if (t->mirror)
				t->mirror(t->mirror_ctx, s->last.addr, s->blocked_until_ns);
			blocked_now = true;
		}
	}
	bool log_it = (is_new || blocked_now) && log_due(&t->last_log_ns, now_ns, 1000000000ull);
	pthread_mutex_unlock(&t->lock);
	if (log_it) {
		wg_endpoint_format(src, text, sizeof(text));
		if (blocked_now)
			log_warn(
			    "wg: blocking %s for %llu s: %u initiations made for no peer's key",
			    text, (unsigned long long)(t->block_ns / 1000000000ull),
			    t->strikes_to_block);
		else if (mac1_name)
			log_warn("wg: datagrams from %s, which is no peer's endpoint; its "
				 "initiation is made for peer %s's key (hdcli wg show unknown)",
				 text, mac1_name);
		else
			log_warn("wg: datagrams from %s, which is no peer's endpoint (hdcli wg "
				 "show unknown)",
				 text);
	}
	return blocked_now;
}

static int newest_first(const void *a, const void *b)
{
	const struct wg_source *x = a, *y = b;

	return x->last_ns < y->last_ns ? 1 : x->last_ns > y->last_ns ? -1 : 0;
}

int wg_sources_list(struct wg_sources *t, struct wg_source *out, int max, bool blocked_only,
		    uint64_t now_ns)
{
	struct wg_source *all = malloc(WG_SOURCES * sizeof(*all));
	int n = 0;

	if (!all)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < WG_SOURCES; i++) {
		struct wg_source *s = &t->s[i];
		if (!s->used)
			continue;
		if (s->blocked_until_ns && s->blocked_until_ns <= now_ns)
			unblock(t, s);
		if (!blocked_only || s->blocked_until_ns)
			all[n++] = *s;
	}
	pthread_mutex_unlock(&t->lock);
	qsort(all, (size_t)n, sizeof(*all), newest_first);
	n = n < max ? n : max;
	memcpy(out, all, (size_t)n * sizeof(*out));
	free(all);
	return n;
}

int wg_sources_clear_blocks(struct wg_sources *t)
{
	int n = 0;

	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < WG_SOURCES; i++) {
		struct wg_source *s = &t->s[i];
		n += s->blocked_until_ns != 0;
		unblock(t, s);
		s->strikes = 0;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}
