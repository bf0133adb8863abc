/* SPDX-License-Identifier: MIT */
/*
 * The relay as a whole: what the slow path, the workers and main share.
 * Everything here is set before threads start and read-only afterwards,
 * except the few atomics, which say so.
 */
#ifndef HD_RELAY_H
#define HD_RELAY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cpu_pin.h"
#include "handoff.h"
#include "hd_registry.h"
#include "key.h"
#include "relay_settings.h"
#include "spsc_ring.h"

struct worker;
struct mesh_link;

struct relay {
	/* Filled by relay_init; the live fields change under the workers (relay_settings.h). */
	struct relay_settings settings;
	uint8_t server_priv[KEY_LEN];
	uint8_t server_pub[KEY_LEN];
	bool has_mesh_key;
	uint8_t mesh_key[KEY_LEN];
	uint8_t hash_key[16]; /* SipHash key of the peer tables */
	struct hd_registry *hd; /* HD clients (docs/hd-protocol.md); NULL when hd.enabled is off */

	struct cpu_plan cpus;

	uint16_t nworkers;
	struct worker **workers;
	/* rings[i * nworkers + j] carries messages from worker i to worker j. */
	struct spsc_ring *rings;

	/* mesh.with: the outbound mesh peers (mesh_link.h); set up by relay_init. */
	uint16_t nlinks;
	struct mesh_link *links;

	_Atomic uint64_t conns_current; /* accepted and not yet closed, all stages */
	_Atomic bool draining;		/* SIGTERM: send Restarting, flush, close */
	uint32_t next_worker;		/* slow path only: round-robin handoff */
};

/* Returns 0, or -1 with the reason logged. */
int relay_init(struct relay *r, const struct relay_settings *set, const uint8_t priv[KEY_LEN],
	       const uint8_t pub[KEY_LEN]);
/* Starts the worker threads. */
int relay_start_workers(struct relay *r);
/*
 * Hands a connection that finished its handshake to a worker (slow path
 * thread only). Returns 0, or -1 if every handoff ring is full (the caller
 * closes the connection).
 */
int relay_handoff(struct relay *r, struct handoff *h);
/* Tells the workers to drain; returns after all have exited. */
void relay_stop_workers(struct relay *r);
void relay_destroy(struct relay *r);

/* One connection as the management plane sees it. */
struct peer_info {
	uint8_t key[KEY_LEN];
	uint64_t seq;
	uint16_t worker;
	uint8_t ip[16]; /* IPv6 or IPv4-mapped */
	uint16_t port;
	bool preferred;
	bool can_mesh;
	bool is_watcher;
	bool active;	 /* the newest connection of its key: the one packets go to */
	uint32_t queued; /* frames waiting to be written */
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

/*
 * Lists every connection. Each worker lists a bounded slice per loop pass
 * (peer_list.c) and answers when it is through, so the dataplane never
 * waits on the caller nor stalls on a long list; the caller waits up to
 * timeout_ms. On success returns the count and a malloc'd array in *out
 * (free it). Returns -1 on timeout or allocation failure. Management thread
 * only (one caller at a time).
 */
int relay_list_peers(struct relay *r, struct peer_info **out, int timeout_ms);
/* Closes every connection of key, wherever it lives. Management thread only. */
void relay_close_peer(struct relay *r, const uint8_t key[KEY_LEN]);

/* Sums a counter over all workers (any thread). */
uint64_t relay_stat_sum(const struct relay *r, size_t offset);
/* One worker's counter, for per-worker metrics (any thread). */
uint64_t relay_worker_stat(const struct relay *r, uint16_t worker, size_t offset);
/* How a worker receives ("bufring" or "single", recv.h); fixed before threads start. */
const char *relay_worker_recv_mode(const struct relay *r, uint16_t worker);

#endif
