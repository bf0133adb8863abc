/* SPDX-License-Identifier: MIT */
/*
 * `events follow`: once a second the management thread lists the peers and
 * reads the counters, compares them with the previous look, and sends each
 * change as one JSON line to every follower. Polling keeps the dataplane
 * free of any event plumbing; the price is a second of latency and that a
 * connection shorter than a second may go unseen (its close still counts).
 */
#ifndef HD_EVENTS_H
#define HD_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "mgmt_command.h"
#include "relay.h"
#include "stats.h"

#define EVENTS_INTERVAL_MS 1000

struct events_state {
	bool primed;		 /* a first look was taken: later looks are compared with it */
	struct peer_info *peers; /* sorted by key, then seq */
	int npeers;
	uint64_t dropped[DROP_REASON_COUNT][DROP_KIND_COUNT];
	uint64_t dropped_bytes[DROP_REASON_COUNT][DROP_KIND_COUNT];
	uint64_t closed[CLOSE_REASON_COUNT];
};

typedef void (*events_emit_fn)(void *arg, const char *line, size_t len);

/* Forgets the last look (no followers left). */
void events_reset(struct events_state *st);

/*
 * Takes a look and emits one JSON object (no newline) per change since the
 * last. The first look after a reset only sets the baseline.
 */
void events_poll(struct events_state *st, struct mgmt_context *ctx, events_emit_fn emit, void *arg);

#endif
