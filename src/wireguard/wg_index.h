/* SPDX-License-Identifier: MIT */
/*
 * Who owns a WireGuard receiver index, and who may claim one.
 *
 * A relay routes transport data by the receiver index it carries, so
 * whoever can bind an index to a peer decides where that peer's traffic
 * goes. Indices are therefore only learned from a complete handshake the
 * relay saw both halves of:
 *
 *   - an initiation from A, forwarded to B, leaves a *pending* entry: A's
 *     sender index, waiting for B (and only B) to answer, for a few seconds;
 *   - a response from B whose receiver index is such a pending entry turns
 *     it into a *route* to A, and B's own sender index into a route to B.
 *
 * An entry belongs to the peer that announced it; while it is fresh no
 * other peer can take it over, whatever it sends. Every peer has a quota of
 * pending entries and one of routes, both growing with its links; a peer at
 * its quota replaces its own oldest entry, never anyone else's, so a flood
 * of made-up indices only churns the flooder's own entries.
 *
 * Shared by every dataplane thread: route lookups read one atomic word per
 * probed slot and take no lock; handshakes, which change entries, take a
 * mutex (they are rare and rate-limited per peer). An optional mirror is
 * told every route added or removed, in order, so the XDP program's map
 * holds exactly the routes this table does.
 */
#ifndef HD_WG_INDEX_H
#define HD_WG_INDEX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wg_table.h"

#define WG_INDEX_SLOTS (1u << 17) /* at least twice every quota added up */
#define WG_INDEX_PROBE 16

/*
 * Quotas: what a peer may hold at once. A WireGuard peer keeps at most a
 * current, a previous and a next session per remote peer, plus a handshake
 * in flight: four indices per link. Summed over the table's limits (1024
 * peers, 4096 links counted from both ends) that is at most 40960 routes
 * and 24576 pending entries: the XDP map and WG_INDEX_SLOTS are sized by it.
 */
#define WG_INDEX_ROUTES_BASE	  8
#define WG_INDEX_ROUTES_PER_LINK  4
#define WG_INDEX_PENDING_BASE	  8
#define WG_INDEX_PENDING_PER_LINK 2
#define WG_INDEX_MAX_ROUTES \
	(WG_INDEX_ROUTES_BASE * WG_MAX_PEERS + WG_INDEX_ROUTES_PER_LINK * 2 * WG_MAX_LINKS)

/*
 * A route stays its owner's for WireGuard's REJECT_AFTER_TIME (180 s): no
 * session key is used longer. After that it still routes, until its owner's
 * quota or another peer's handshake needs the slot. A pending entry waits
 * for its response twice WireGuard's REKEY_TIMEOUT (5 s), after which the
 * initiator has long given up on it.
 */
#define WG_INDEX_FRESH_NS   (180ull * 1000000000ull)
#define WG_INDEX_PENDING_NS (10ull * 1000000000ull)

/*
 * Handshake messages per peer: a token bucket of 20 + 2 per link, refilled
 * at 10 + 1 per link per second: room for a peer to initiate to all of its
 * links at once and to retry each every REKEY_TIMEOUT.
 */
#define WG_HS_BURST_BASE     20
#define WG_HS_BURST_PER_LINK 2
#define WG_HS_RATE_BASE	     10
#define WG_HS_RATE_PER_LINK  1

/* The outcome of a handshake step: a slot (>= 0) or one of these. */
enum wg_index_result {
	WG_INDEX_TAKEN = -1,	 /* the index is another peer's, and fresh */
	WG_INDEX_FULL = -2,	 /* no free slot in its probe window */
	WG_INDEX_UNMATCHED = -3, /* a response to no initiation forwarded to its sender */
};

struct wg_index_list {
	uint32_t head, tail; /* slot positions + 1; 0 = none. head is the oldest */
	uint32_t count;
};

struct wg_index_meta {
	uint64_t until_ns;   /* fresh until (route) or pending until */
	uint32_t prev, next; /* in the owner's list of its kind; positions + 1 */
	uint16_t responder;  /* pending: the peer the initiation was forwarded to */
};

struct wg_hs_bucket {
	uint64_t last_ns;
	uint32_t tokens_milli; /* tokens * 1000 */
};

/*
 * Roaming (a peer's address changed: NAT rebinding, Wi-Fi to LTE). An
 * initiation from an unknown source whose MAC1 is made for a peer R with
 * one link I may be I at a new address; it is forwarded to R and offered
 * here. Only R's response to it, which R sends only after it has
 * authenticated the initiator as one of its WireGuard peers, moves I. A
 * forged initiation is never answered, so it moves nothing. Offers sit
 * apart from the index quotas (a stranger cannot spend I's), in a small
 * ring: a flood of them only pushes out other offers.
 */
#define WG_ROAM_OFFERS 64
struct wg_roam_offer {
	uint32_t index; /* the initiation's sender index */
	uint16_t initiator, responder;
	uint64_t until_ns;
	struct wg_endpoint ep; /* where the initiation came from */
};

/* Initiations from unknown sources looked at, for all of them together. */
#define WG_UNKNOWN_HS_BURST 200
#define WG_UNKNOWN_HS_RATE  100 /* per second */

struct wg_index {
	/* index | owner << 32 | kind << 48; 0 = empty. Read without the lock. */
	_Atomic uint64_t key[WG_INDEX_SLOTS];
	pthread_mutex_t lock; /* everything below */
	struct wg_index_meta meta[WG_INDEX_SLOTS];
	struct wg_index_list routes[WG_MAX_PEERS], pending[WG_MAX_PEERS];
	struct wg_hs_bucket bucket[WG_MAX_PEERS];
	struct wg_hs_bucket unknown_bucket;
	struct wg_roam_offer offers[WG_ROAM_OFFERS];
	uint32_t next_offer;
	uint64_t seed[2];
	void (*mirror)(void *ctx, uint32_t index, int owner); /* owner -1: removed */
	void *mirror_ctx;
	_Atomic uint64_t evicted; /* entries a peer's own quota pushed out */
};

/* A table with a random hash key (so probe windows cannot be aimed at); NULL on ENOMEM. */
struct wg_index *wg_index_new(void);
void wg_index_free(struct wg_index *t);
/* Tells fn of every route added (owner >= 0) or removed (-1) from now on. */
void wg_index_set_mirror(struct wg_index *t, void (*fn)(void *ctx, uint32_t index, int owner),
			 void *ctx);

/* The owner of a route for index, or -1. Lock-free; any thread. */
int wg_index_lookup(const struct wg_index *t, uint32_t index);

/* Takes a token from peer's handshake bucket; false when it is empty. */
bool wg_index_handshake_allowed(struct wg_index *t, uint16_t peer, uint32_t nlinks,
				uint64_t now_ns);

/* An initiation from initiator, with its sender index, forwarded to responder. 0 or < 0. */
int wg_index_initiation(struct wg_index *t, uint32_t sender, uint16_t initiator, uint16_t responder,
			uint32_t nlinks, uint64_t now_ns);
/* The initiator whose pending initiation receiver was forwarded to responder, or < 0. */
int wg_index_pending_initiator(struct wg_index *t, uint32_t receiver, uint16_t responder,
			       uint64_t now_ns);
/*
 * A response from responder: if receiver is pending for it, makes routes of
 * receiver (to the initiator) and sender (to responder). Returns the
 * initiator's slot or < 0; on failure nothing changes.
 */
int wg_index_response(struct wg_index *t, uint32_t sender, uint32_t receiver, uint16_t responder,
		      uint32_t nlinks_initiator, uint32_t nlinks_responder, uint64_t now_ns);

/* Takes a token from the bucket shared by every unknown source. */
bool wg_index_unknown_allowed(struct wg_index *t, uint64_t now_ns);
/* Offers a roam: initiator may be at ep, if responder answers the initiation sender. */
void wg_index_roam_offer(struct wg_index *t, uint32_t sender, uint16_t initiator,
			 uint16_t responder, const struct wg_endpoint *ep, uint64_t now_ns);
/* The initiator of a roam offer that receiver answers, from responder; or < 0. */
int wg_index_roam_peek(struct wg_index *t, uint32_t receiver, uint16_t responder, uint64_t now_ns);
/*
 * Takes the offer that a response from responder answers: routes for both
 * indices, the offer consumed, its endpoint in *ep. The initiator or < 0.
 */
int wg_index_roam_response(struct wg_index *t, uint32_t sender, uint32_t receiver,
			   uint16_t responder, uint32_t nlinks_initiator, uint32_t nlinks_responder,
			   uint64_t now_ns, struct wg_endpoint *ep);

/* Drops everything peer owns (a peer removed, or its slot given to a new one). */
void wg_index_forget(struct wg_index *t, uint16_t peer);
/* How many routes and pending entries peer holds. */
void wg_index_counts(struct wg_index *t, uint16_t peer, uint32_t *routes, uint32_t *pending);

#endif
