/* SPDX-License-Identifier: MIT */
/*
 * The keys one mesh peer said are homed there, with what its PeerPresent
 * said about each: the client's address and port as that relay saw them,
 * and its flags (regular client, mesh peer, prober, not ideal).
 *
 * The mesh client thread of that peer is the only writer; the management
 * thread reads a copy (mesh_keys_copy) for `show mesh keys`. The lock is
 * taken for changes and copies only, never on the packet path: the workers
 * route by their own peer tables, told by MSG_REMOTE_REG / UNREG.
 *
 * derper keeps no more than the key (cmd/derper/mesh.go hands only the key
 * to AddPacketForwarder); the rest is kept here for the operator. Its
 * server sends PeerPresent for every new connection of a key and PeerGone
 * only for the last one, so a repeat replaces the data: it describes the
 * key's newest connection there, the one that relay delivers to.
 */
#ifndef HD_MESH_KEYS_H
#define HD_MESH_KEYS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "key.h"
#include "peer_table.h"

/* One key homed on one mesh peer, as copied out. */
struct mesh_key_info {
	uint8_t key[KEY_LEN];
	uint16_t link; /* index of the mesh.with entry */
	/*
	 * Order of the first PeerPresent, across every peer: the workers send
	 * a key's packets to the peer that announced it first (derper's
	 * multiForwarder), unless it has a connection on this relay.
	 */
	uint64_t seq;
	uint8_t ip[16]; /* IPv6 or IPv4-mapped; all zero: the peer did not say */
	uint16_t port;
	uint8_t flags; /* DERP_PEER_PRESENT_*; 0 from a derper too old to send them */
};

struct mesh_keys {
	pthread_mutex_t lock;
	struct peer_table table; /* one peer_loc per key: the PeerPresent data */
	uint16_t link;
};

int mesh_keys_init(struct mesh_keys *k, const uint8_t hash_key[16], uint16_t link);
void mesh_keys_destroy(struct mesh_keys *k);

/*
 * A PeerPresent frame's payload (32, 50 or 51 bytes). Returns 1 if the key
 * is new here (to be routed there), 0 for a repeat (its data updated);
 * -ENOSPC when the key is new and max keys are kept, -ENOMEM, -EINVAL for
 * a short frame (nothing changed).
 */
int mesh_keys_present(struct mesh_keys *k, const uint8_t *payload, uint32_t len, uint32_t max);
/* PeerGone: true if the key was there (and is removed). */
bool mesh_keys_gone(struct mesh_keys *k, const uint8_t key[KEY_LEN]);
/* Every key is forgotten (the connection ended). */
void mesh_keys_clear(struct mesh_keys *k);
static inline uint32_t mesh_keys_count(const struct mesh_keys *k)
{
	return k->table.count;
}

/*
 * Appends a copy of every key to *out (grown with realloc, *n entries
 * used, *cap allocated), under the lock. 0, or -1 out of memory (*out
 * keeps what it had).
 */
int mesh_keys_copy(struct mesh_keys *k, struct mesh_key_info **out, size_t *n, size_t *cap);

#endif
