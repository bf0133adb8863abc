/* SPDX-License-Identifier: MIT */
/*
 * The routing table of one worker: every key connected to the relay, on any
 * worker, and where its connections live.
 *
 * Each worker keeps its own replica, changed only by its own thread from the
 * registration events every worker broadcasts over the rings, so a lookup on
 * the packet path takes no lock and touches no shared cache line. A key can
 * have several connections (same node connected twice); the one with the
 * highest connection sequence (the newest) is active and receives packets.
 *
 * Open addressing with linear probing, keyed by SipHash (libsodium
 * crypto_shorthash) under a per-process random key: clients choose their
 * keys, so a plain hash of the key bytes would let them pick collisions.
 */
#ifndef HD_PEER_TABLE_H
#define HD_PEER_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "key.h"

/* One connection of a key. */
struct peer_loc {
	uint64_t seq;
	uint16_t worker;
	uint8_t present_flags; /* PeerPresent flags */
	uint32_t conn_id;      /* slot on its worker */
	uint8_t ip[16];
	uint16_t port;
};

/* A local connection that was sent packets from this key (gets PeerGone). */
struct peer_sub {
	uint32_t conn_id;
	uint32_t gen;
};

struct peer_entry {
	uint8_t key[KEY_LEN];
	uint64_t hash;
	struct peer_loc *locs;
	uint16_t nlocs;
	uint16_t cap_locs;
	uint32_t nsubs;
	uint32_t cap_subs;
	struct peer_sub *subs;
};

struct peer_table {
	struct peer_entry **slots;
	uint32_t mask;
	uint32_t count;
	uint8_t hash_key[16];
};

int peer_table_init(struct peer_table *t, const uint8_t hash_key[16]);
void peer_table_destroy(struct peer_table *t);

struct peer_entry *peer_table_lookup(const struct peer_table *t, const uint8_t key[KEY_LEN]);
/* Returns the entry for key, creating an empty one; NULL only on allocation failure. */
struct peer_entry *peer_table_get_or_add(struct peer_table *t, const uint8_t key[KEY_LEN]);
/* Removes and frees an entry. */
void peer_table_remove(struct peer_table *t, struct peer_entry *e);

/* Iteration: start with *pos = 0; returns NULL at the end. */
struct peer_entry *peer_table_next(const struct peer_table *t, uint32_t *pos);

/* The active connection (highest seq), or NULL if the key has none. */
const struct peer_loc *peer_entry_active(const struct peer_entry *e);
int peer_entry_add_loc(struct peer_entry *e, const struct peer_loc *loc);
/* Removes the connection with this seq; returns false if it was not there. */
bool peer_entry_remove_loc(struct peer_entry *e, uint64_t seq);

/*
 * Records that local connection (conn_id, gen) was sent a packet from this
 * key. live(conn_id, gen) tells whether a recorded connection still exists,
 * so that dead ones are dropped when the list needs to grow or is full.
 * Returns 0, -ENOSPC when max live connections are recorded already (keys
 * are free: without a bound, clients sending to each other grow these lists
 * as the square of their number), or -ENOMEM.
 */
int peer_entry_add_sub(struct peer_entry *e, uint32_t conn_id, uint32_t gen, uint32_t max,
		       bool (*live)(void *ctx, uint32_t conn_id, uint32_t gen), void *ctx);

#endif
