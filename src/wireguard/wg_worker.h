/* SPDX-License-Identifier: MIT */
/*
 * The WireGuard relay's dataplane threads and what each owns. A worker is
 * a poll-mode thread with its own copy of the compiled routes, its own
 * learned-index cache and its own counters, and the ports (interface,
 * queue) given to it at start, for life: it alone touches their rings, so
 * the hot path takes no lock. Worker 0, the leader, also reads the UDP
 * socket (what XDP passes to the stack) and writes the XDP maps on table
 * changes; every worker may send on the socket (sendto is thread-safe).
 * The control plane hands each worker new routes through `pending` and
 * waits for `applied_gen` to catch up.
 *
 * Learned receiver indices must be seen by every worker: a response on
 * queue 0 teaches the route of transport data that arrives on queue 1.
 * They live in one struct wg_index (wg_index.h) that every worker shares:
 * lookups take no lock, handshakes take its mutex. In XDP mode it mirrors
 * its routes into the XDP program's wg_index map, which XDP only reads.
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
#include "port.h"
#include "wg_route.h"
#include "wg_sources.h"

#define WG_MAX_IFACES  4
#define WG_MAX_WORKERS 16
#define WG_MAX_PORTS   (WG_MAX_IFACES * 64) /* every queue the XSKMAP has room for */
#define WG_SOCK_BATCH  64
#define WG_SOCK_DGRAM  9216 /* room for a jumbo-frame WireGuard MTU */

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
	struct port_frame frames[WG_PORT_BATCH];
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
	int id;
	bool leader; /* reads the socket, writes the XDP maps */
	int cpu;     /* pinned to this CPU, or -1 */
	enum wg_mode mode;
	uint16_t port;	    /* network order */
	int sock_fd;	    /* the UDP socket: the socket path, and what XDP passes to the stack */
	bool sock_v4;	    /* sock_fd is IPv4 only (a kernel without IPv6), not dual-stack */
	int wake_fd;	    /* eventfd: an update or stop is waiting */
	struct wg_xdp *xdp; /* NULL in socket and DPDK mode */
	struct wg_index *index; /* shared by all workers, owned by the relay */
	struct wg_sources *sources; /* unknown sources and the blocklist, shared likewise */
	/* A peer roamed to ep (its response was just sent there): the table must follow. */
	void (*on_roam)(void *ctx, int slot, const struct wg_endpoint *ep);
	void *roam_ctx;
	struct port *ports[WG_MAX_PORTS]; /* AF_XDP or DPDK: the queues this worker owns */
	int nports;
	/*
	 * Per egress interface, the owned port this worker sends on: a frame
	 * received on any queue leaves through the TX ring of a queue the same
	 * worker owns, so no two threads share a ring. An interface where the
	 * worker owns no queue has none here; the socket sends for it.
	 */
	struct port *tx_ports[WG_MAX_IFACES];
	int ntx;

	/* Control plane to worker. */
	_Atomic bool stop;
	_Atomic(struct wg_update *) pending;
	_Atomic uint64_t applied_gen;
	uint64_t gen; /* control plane only: the last update handed over */

	/* Worker only. */
	pthread_t thread;
	struct wg_routes *routes;
	struct wg_dst dsts[WG_MAX_PEERS]; /* next hops, for frames built in userspace */
	uint64_t nexthop_refresh_ns;
	uint8_t sock_bufs[WG_SOCK_BATCH][WG_SOCK_DGRAM]; /* the socket path's receive batch */
	struct wg_port_queue port_queues[WG_MAX_IFACES]; /* the port path's TX, by tx_ports index */

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

/*
 * Opens the relay's UDP socket on port (host order): dual-stack, or IPv4
 * only on a kernel without IPv6. Returns the fd or -1 (errno).
 */
int wg_sock_open(uint16_t port);
/* True when fd is an IPv4-only socket, which cannot take sockaddr_in6. */
bool wg_sock_is_v4(int fd);
/* Receives and forwards what is waiting, up to a budget. Returns datagrams handled. */
unsigned int wg_sock_poll(struct wg_worker *w);
/* Sends one datagram to slot through the socket (AF_XDP without a next hop). */
void wg_sock_send_one(struct wg_worker *w, int slot, const uint8_t *payload, size_t len);
/* The same, to ep rather than to slot's endpoint in the routes (counted as slot's). */
void wg_sock_send_to(struct wg_worker *w, int slot, const struct wg_endpoint *ep,
		     const uint8_t *payload, size_t len);

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
