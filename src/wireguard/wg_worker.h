/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard relay's dataplane thread and what it owns. One poll-mode
 * thread serves the UDP socket and, in the XDP modes, the AF_XDP sockets:
 * it is the only reader of the compiled routes and the only writer of the
 * learned indices and the counters below, so the hot path takes no lock.
 * The control plane hands it new routes through `pending` and waits for
 * `applied_gen` to catch up.
 */
#ifndef HD_WG_WORKER_H
#define HD_WG_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "stats.h"
#include "wg_maps.h"
#include "wg_port.h"
#include "wg_route.h"

#define WG_MAX_IFACES 4
#define WG_SOCK_BATCH 64
#define WG_SOCK_DGRAM 9216 /* room for a jumbo-frame WireGuard MTU */

enum wg_mode {
	WG_MODE_SOCKET = 0,
	WG_MODE_XDP,   /* XDP forwards in the kernel; the XSK takes what it cannot */
	WG_MODE_AFXDP, /* XDP hands every relay datagram to the XSK */
	WG_MODE_DPDK,  /* DPDK owns queue 0 of each interface; no XDP fast path */
};

struct wg_xdp;

/* Frames bound for one egress port, with what counting them needs (wg_port_fwd.c). */
#define WG_PORT_BATCH 64
struct wg_port_queue {
	struct wg_frame frames[WG_PORT_BATCH];
	int slot[WG_PORT_BATCH];
	uint32_t plen[WG_PORT_BATCH];
	unsigned int n;
};

/* What a control-plane change carries to the worker. */
struct wg_update {
	struct wg_routes *routes;
	uint64_t gen;
};

struct wg_worker {
	/* Set before the thread starts, then read-only. */
	enum wg_mode mode;
	uint16_t port;	    /* network order */
	int sock_fd;	    /* the UDP socket: the socket path, and what XDP passes to the stack */
	int wake_fd;	    /* eventfd: an update or stop is waiting */
	struct wg_xdp *xdp; /* NULL in socket mode */
	struct wg_port *ports[WG_MAX_IFACES]; /* AF_XDP or DPDK, one per interface */
	int nports;

	/* Control plane to worker. */
	_Atomic bool stop;
	_Atomic(struct wg_update *) pending;
	_Atomic uint64_t applied_gen;
	uint64_t gen; /* control plane only: the last update handed over */

	/* Worker only. */
	pthread_t thread;
	struct wg_routes *routes;
	struct wg_index_table idx;
	struct wg_dst dsts[WG_MAX_PEERS]; /* next hops, for frames built in userspace */
	uint64_t nexthop_refresh_ns;
	uint8_t sock_bufs[WG_SOCK_BATCH][WG_SOCK_DGRAM]; /* the socket path's receive batch */
	struct wg_port_queue port_queues[WG_MAX_IFACES]; /* the port path's TX, by egress port */

	/* Written by the worker (stat_add, wg_count), read by anyone (stat_read, wg_read). */
	struct wg_peer_stats stats[WG_MAX_PEERS];
	uint64_t counters[WG_CNT_COUNT];
};

int wg_worker_start(struct wg_worker *w);
/* Hands over new routes (the worker frees the old ones) and waits up to timeout_ms. */
int wg_worker_update(struct wg_worker *w, struct wg_routes *routes, int timeout_ms);
void wg_worker_stop(struct wg_worker *w);

/* ---- shared by the userspace paths ---- */

/* stat_add and stat_read for the __u64 fields of struct wg_peer_stats. */
static inline void wg_count(__u64 *counter, __u64 n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static inline __u64 wg_read(const __u64 *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/*
 * Routes one datagram received by a userspace path and counts it. Returns
 * the destination slot, or -1 when it is dropped (counted here).
 */
int wg_worker_route(struct wg_worker *w, const struct wg_endpoint *src, const uint8_t *payload,
		    size_t len, uint64_t now_ns);

/* Counts one datagram a userspace path sent to slot. */
void wg_worker_count_tx(struct wg_worker *w, int slot, size_t len);

/* ---- the socket path (wg_sock.c) ---- */

/* Opens the relay's UDP socket on port (host order). Returns the fd or -1 (errno). */
int wg_sock_open(uint16_t port);
/* Receives and forwards what is waiting, up to a budget. Returns datagrams handled. */
unsigned int wg_sock_poll(struct wg_worker *w);
/* Sends one datagram to slot through the socket (AF_XDP without a next hop). */
void wg_sock_send_one(struct wg_worker *w, int slot, const uint8_t *payload, size_t len);

/* ---- the port path (wg_port_fwd.c) ---- */

/* Receives, routes and transmits a burst from every port. Returns frames handled. */
unsigned int wg_ports_poll(struct wg_worker *w);

/* CLOCK_MONOTONIC in ns: the clock of last_rx_ns, the same as bpf_ktime_get_ns(). */
static inline uint64_t wg_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
