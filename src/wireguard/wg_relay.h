/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard relay as main() and the management commands see it: start
 * and stop, the table verbs (`wg peer add` ...), and a snapshot for
 * `wg show`. Table changes are validated, written to the table file, and
 * only then handed to the dataplane; a change that fails at any step
 * leaves both the file and the running table as they were.
 *
 * Control calls are serialised inside (one mutex); they may take a few
 * milliseconds, waiting for the dataplane to take the new table.
 */
#ifndef HD_WG_RELAY_H
#define HD_WG_RELAY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_maps.h"
#include "wg_table.h"

struct wg_relay_options {
	uint16_t port;		/* UDP port peers use as Endpoint */
	const char *interfaces; /* comma-separated, for XDP/AF_XDP; "" = socket only */
	const char *mode;	/* auto, xdp, afxdp, socket or dpdk */
	const char *table_file;
	const char *queues; /* wireguard.queues (wg_queues.h); NULL or "" = auto */
	uint32_t workers;   /* dataplane threads; 0 = one per queue number, at most one per CPU */
	uint32_t block_strikes; /* wireguard.block_strikes; 0 = WG_STRIKES */
	uint32_t block_seconds; /* wireguard.block_seconds; 0 = WG_BLOCK_NS */
};

struct wg_relay;

/* Loads the table, opens the dataplane in the best mode allowed; NULL with err. */
struct wg_relay *wg_relay_start(const struct wg_relay_options *opt, char *err, size_t errlen);
void wg_relay_stop(struct wg_relay *r);

/* "xdp (native) on eth0", "afxdp (copy) on eth0", "socket" ... and, if it fell back, why. */
const char *wg_relay_mode(const struct wg_relay *r);

int wg_relay_peer_add(struct wg_relay *r, const char *name, const char *endpoint, const char *label,
		      const char *pubkey_b64, char *err, size_t errlen);
int wg_relay_peer_del(struct wg_relay *r, const char *name, char *err, size_t errlen);
int wg_relay_link_add(struct wg_relay *r, const char *a, const char *b, char *err, size_t errlen);
int wg_relay_link_del(struct wg_relay *r, const char *a, const char *b, char *err, size_t errlen);

struct wg_peer_view {
	char name[WG_NAME_LEN];
	char label[WG_LABEL_LEN];
	char endpoint[WG_ENDPOINT_STRLEN];
	bool has_pubkey;
	uint32_t nlinks;
	struct wg_peer_stats stats; /* all paths added; last_rx_ns CLOCK_MONOTONIC */
	int64_t last_seen_ms;	    /* ms since the last datagram from it; -1 = never */
};

/* One (interface, queue) with an AF_XDP or DPDK port. */
struct wg_queue_view {
	char ifname[16];
	uint16_t queue;
	int worker; /* the worker that owns it */
	int cpu;    /* that worker's CPU, or -1 */
	uint64_t rx_packets, tx_packets;
};

struct wg_link_view {
	char a[WG_NAME_LEN];
	char b[WG_NAME_LEN];
};

struct wg_show {
	char mode[256];
	uint16_t port;
	uint32_t npeers, nlinks;
	struct wg_peer_view *peers;
	struct wg_link_view *links;
	struct wg_queue_view *queues;
	uint32_t nqueues;
	int nworkers;
	uint64_t counters[WG_CNT_COUNT];
	char warnings[4][160]; /* e.g. a multi-link peer's link has no public key */
	int nwarnings;
};

extern const char *const wg_counter_names[WG_CNT_COUNT];

/* A source that is no peer's endpoint, for `wg show unknown` and `wg blocklist show`. */
struct wg_source_view {
	char endpoint[WG_ENDPOINT_STRLEN]; /* the address and the last port heard */
	uint64_t count;
	int64_t last_seen_ms;
	char mac1_peer[WG_NAME_LEN]; /* the peer its initiation was made for; "" = none */
	uint32_t strikes;
	int64_t blocked_ms; /* how much longer it is blocked; 0 = not blocked */
};

/* Up to max sources, newest first; blocked_only: the blocklist. How many. */
int wg_relay_sources(struct wg_relay *r, bool blocked_only, struct wg_source_view *out, int max);
/* Lifts every block; how many there were. */
int wg_relay_blocklist_clear(struct wg_relay *r);

/* Fills a snapshot (free with wg_show_free). Returns 0 or -1. */
int wg_relay_show(struct wg_relay *r, struct wg_show *out);
void wg_show_free(struct wg_show *s);
/* The snapshot as text, the way `hdcli wg show` prints it; like snprintf. */
size_t wg_show_format(const struct wg_show *s, char *out, size_t cap);

#endif
