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
 * How many a key may have is bounded by the caller (limits.max_conns_per_key,
 * derp_session.c); the table itself counts in 32 bits and never wraps.
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
	uint16_t hd_peer_id; /* an HD connection's peer id; 0 for DERP */
};

/* A local connection that was sent packets from this key (gets PeerGone). */
struct peer_sub {
	uint32_t conn_id;
	uint32_t gen;
};

#define PEER_LOC_NONE UINT32_MAX

struct peer_entry {
	uint8_t key[KEY_LEN];
	uint64_t hash;
	/*
	 * Sorted by seq, oldest first, so that the active connection is the
	 * last one and the packet path finds it without a scan.
	 */
	struct peer_loc *locs;
	uint32_t nlocs;
	uint32_t cap_locs;
	/* Index of the newest connection on the table's own worker, or PEER_LOC_NONE. */
	uint32_t local_newest;
	uint32_t nsubs;
	uint32_t cap_subs;
	uint32_t subs_refused; /* -ENOSPC answers since the list was last compacted at max */
	struct peer_sub *subs;
	/*
	 * Mesh links (mesh_link.h) the key is homed on, in the order they
	 * said so: packets go to the first, as derper's multiForwarder does.
	 * Local connections (locs) come before any of them.
	 */
	uint16_t *remotes;
	uint16_t nremotes;
};

struct peer_table {
	struct peer_entry **slots;
	uint32_t mask;
	uint32_t count;
	uint8_t hash_key[16];
	uint16_t self;	   /* the worker owning this replica */
	uint64_t sub_pass; /* the last pass of peer_entry_compact_subs */
};

int peer_table_init(struct peer_table *t, const uint8_t hash_key[16], uint16_t self);
void peer_table_destroy(struct peer_table *t);

struct peer_entry *peer_table_lookup(const struct peer_table *t, const uint8_t key[KEY_LEN]);
/* Returns the entry for key, creating an empty one; NULL only on allocation failure. */
struct peer_entry *peer_table_get_or_add(struct peer_table *t, const uint8_t key[KEY_LEN]);
/* Removes and frees an entry. */
void peer_table_remove(struct peer_table *t, struct peer_entry *e);

/* Iteration: start with *pos = 0; returns NULL at the end. */
struct peer_entry *peer_table_next(const struct peer_table *t, uint32_t *pos);

/* The active connection (highest seq), or NULL if the key has none. O(1). */
const struct peer_loc *peer_entry_active(const struct peer_entry *e);
/* The newest connection of the key on the table's own worker, or NULL. O(1). */
const struct peer_loc *peer_entry_local_newest(const struct peer_entry *e);
/* Adds a connection (seqs are unique); -ENOMEM leaves the entry as it was. */
int peer_entry_add_loc(const struct peer_table *t, struct peer_entry *e,
		       const struct peer_loc *loc);
/* Removes the connection with this seq; returns false if it was not there. */
bool peer_entry_remove_loc(const struct peer_table *t, struct peer_entry *e, uint64_t seq);

/* Adds a mesh link the key is homed on (a repeat is ignored). 0 or -ENOMEM. */
int peer_entry_add_remote(struct peer_entry *e, uint16_t link);
/* Removes it; false if it was not there. */
bool peer_entry_remove_remote(struct peer_entry *e, uint16_t link);

/*
 * Filters a key's subscriber list: called once per recorded connection, in
 * order, within one pass; returns false for a connection that is gone or
 * that it already saw in this pass (pass numbers only grow, never 0).
 */
typedef bool (*peer_sub_keep_fn)(void *ctx, uint32_t conn_id, uint32_t gen, uint64_t pass);

/*
 * Records that local connection (conn_id, gen) was sent a packet from this
 * key. O(1) amortized, whatever the list's length: a packet's path must not
 * scan a list that a client makes as long as it likes (one key sending to
 * many connections), so the list may hold repeats until it is full, when
 * keep() drops the gone and the repeated ones. At most max live connections
 * are recorded (keys are free: without a bound, clients sending to each
 * other grow these lists as the square of their number). Returns 0,
 * -ENOSPC when max are recorded already, or -ENOMEM.
 */
int peer_entry_add_sub(struct peer_table *t, struct peer_entry *e, uint32_t conn_id, uint32_t gen,
		       uint32_t max, peer_sub_keep_fn keep, void *ctx);
/* Drops the gone and repeated subscribers: afterwards each is live and listed once. */
void peer_entry_compact_subs(struct peer_table *t, struct peer_entry *e, peer_sub_keep_fn keep,
			     void *ctx);

#endif
