/* SPDX-License-Identifier: MIT */
/*
 * One outbound mesh peer (an entry of mesh.with) as the workers and its
 * mesh client thread (src/mesh/mesh_client.c) share it.
 *
 * Why a thread per peer and not a connection on a worker: dialling, TLS,
 * the HTTP upgrade and the handshake block, and a peer that is down must
 * not cost any client a slow handshake, so they run on a thread of their
 * own; once connected the same thread writes the ForwardPackets the
 * workers hand it over SPSC rings and reads the peer's PeerPresent /
 * PeerGone. The hot path stays on the workers: a lookup in their own peer
 * table finds the key homed on the link, a ring enqueue hands over the
 * frame, and nothing there blocks on the peer. A region has a handful of
 * relays, so a handful of mostly sleeping threads.
 *
 * Rings, one pair per worker w:
 *   from_workers[w]  worker w -> link: MSG_PKT, a pktbuf holding a whole
 *                    ForwardPacket frame (pb->owner's pool);
 *   to_workers[w]    link -> worker w: MSG_REMOTE_REG / MSG_REMOTE_UNREG
 *                    (struct peer_event, loc.worker = link index) and
 *                    MSG_FREE for the buffers it wrote.
 */
#ifndef HD_MESH_LINK_H
#define HD_MESH_LINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "key.h"
#include "mesh_with.h"
#include "spsc_ring.h"

/* Frames a worker may have waiting for one link; past it they are dropped (mesh_queue). */
#define MESH_LINK_RING_ENTRIES 4096

enum mesh_link_state {
	MESH_LINK_DIALING = 0, /* connecting or in the handshake */
	MESH_LINK_CONNECTED,   /* watching; forwarding */
	MESH_LINK_WAITING,     /* the dial failed or the connection broke: mesh.retry_ms */
	MESH_LINK_SELF,	       /* the address is this relay: skipped for good (derper) */
	MESH_LINK_STATE_COUNT,
};

extern const char *const mesh_link_state_names[MESH_LINK_STATE_COUNT];

/* Counters: each written by one thread (or atomically by several), read by any. */
struct mesh_link_stats {
	uint64_t keys;		  /* gauge: keys homed on the peer now (link thread) */
	uint64_t fwd_out_packets; /* ForwardPackets written to the peer (link thread) */
	uint64_t fwd_out_bytes;	  /* their packet bytes */
	uint64_t fwd_in_packets;  /* ForwardPackets the peer sent us (workers, atomic add) */
	uint64_t fwd_in_bytes;	  /* their packet bytes */
	uint64_t queue_drops;	  /* a worker's ring to the link was full (workers, atomic) */
	uint64_t unsent_drops;	  /* queued when the connection broke (link thread) */
	uint64_t connects;	  /* handshakes completed (link thread) */
	uint64_t reconnects;	  /* connections lost after a handshake (link thread) */
	uint64_t dial_failures;	  /* dials or handshakes that failed (link thread) */
	uint64_t write_timeouts;  /* closed by mesh.write_timeout_ms (link thread) */
	uint64_t peer_present;	  /* PeerPresent frames received (link thread) */
	uint64_t peer_gone;	  /* PeerGone frames received (link thread) */
	uint64_t keys_refused;	  /* PeerPresent for a new key past mesh.max_keys (link thread) */
};

struct mesh_link {
	uint16_t index;
	struct mesh_target target;
	struct spsc_ring *from_workers; /* [nworkers] */
	struct spsc_ring *to_workers;	/* [nworkers] */
	int event_fd;			/* workers wake the link thread here */
	_Atomic bool sleeping;
	_Atomic bool wake_sent;
	_Atomic bool stopping;
	_Atomic int state; /* enum mesh_link_state */
	/* The peer's server key, from its ServerKey frame; valid once key_known. */
	_Atomic bool key_known;
	uint8_t server_key[KEY_LEN];
	struct mesh_link_stats stats;
	pthread_t thread;
	bool started;
};

struct relay;

/* Parses mesh.with into r->links with their rings; after the workers exist. 0 or -1 (logged). */
int mesh_links_init(struct relay *r);
/* Frees the links and what their rings still hold; after their threads stopped. */
void mesh_links_destroy(struct relay *r);

/* Wakes the link thread if it sleeps (any thread); same protocol as worker_wake. */
void mesh_link_wake(struct mesh_link *l);

static inline void mesh_stat_add_atomic(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

#endif
