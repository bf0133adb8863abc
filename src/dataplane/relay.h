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

#include "config.h"
#include "handoff.h"
#include "key.h"
#include "spsc_ring.h"

struct worker;

struct relay {
	const struct hd_config *cfg;
	uint8_t server_priv[KEY_LEN];
	uint8_t server_pub[KEY_LEN];
	bool has_mesh_key;
	uint8_t mesh_key[KEY_LEN];
	uint8_t hash_key[16]; /* SipHash key of the peer tables */

	uint16_t nworkers;
	struct worker **workers;
	/* rings[i * nworkers + j] carries messages from worker i to worker j. */
	struct spsc_ring *rings;

	_Atomic uint64_t conns_current; /* accepted and not yet closed, all stages */
	_Atomic bool draining;		/* SIGTERM: send Restarting, flush, close */
	uint32_t next_worker;		/* slow path only: round-robin handoff */
};

int relay_init(struct relay *r, const struct hd_config *cfg, const uint8_t priv[KEY_LEN],
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

/* Sums a counter over all workers (any thread). */
uint64_t relay_stat_sum(const struct relay *r, size_t offset);

#endif
