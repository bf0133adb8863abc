/* SPDX-License-Identifier: MIT */
/*
 * Counters of the management thread's own listeners: the management socket
 * (hdcli) and the metrics port. Each bound the thread enforces (client
 * budgets, the metrics deadline, the follower backlog, accept back-off)
 * counts what it turned away, so an operator sees an attack in /metrics and
 * `hdcli show counters` while it happens. Written by the management thread
 * only (stat_add), read by whoever reports them.
 */
#ifndef HD_MGMT_STATS_H
#define HD_MGMT_STATS_H

#include <stdint.h>

enum mgmt_listener {
	MGMT_LISTENER_SOCKET = 0, /* mgmt.socket */
	MGMT_LISTENER_METRICS,	  /* metrics.listen */
	MGMT_LISTENER_COUNT,
};

/* "socket" or "metrics": the label in /metrics and the key in `show counters`. */
const char *mgmt_listener_name(enum mgmt_listener l);

struct mgmt_listener_stats {
	uint64_t clients;	/* gauge: connections open now */
	uint64_t accepted;	/* connections taken in */
	uint64_t refused;	/* closed at once: the listener's budget was full */
	uint64_t evicted;	/* metrics: idle connections closed to make room */
	uint64_t timeouts;	/* metrics: exchanges cut at metrics.timeout_ms */
	uint64_t accept_errors; /* accept() failures (out of fds ...); the listener pauses */
};

struct mgmt_stats {
	struct mgmt_listener_stats listener[MGMT_LISTENER_COUNT];
	uint64_t followers_dropped; /* `events follow` readers past mgmt.events_backlog_kb */
	uint64_t peer_listings;	    /* peer lists /metrics asked the workers for */
	uint64_t buffer_bytes;	    /* gauge: memory held by client buffers, both listeners */
};

#endif
