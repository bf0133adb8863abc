/* SPDX-License-Identifier: MIT */
/*
 * The port layer: what a dataplane needs from whatever owns a NIC queue,
 * shared by the WireGuard relay (src/wireguard/wg_port_fwd.c) and the
 * userspace TCP of handed-off DERP connections (src/tcp/, see
 * docs/bypass.md). AF_XDP implements it (port_xsk.c); the DPDK backend
 * (src/wireguard/wg_port_dpdk.c) implements the same operations over
 * rte_eth_rx_burst/tx_burst. What runs over a port does not change with
 * the backend.
 *
 * The contract:
 *  - a frame is a buffer its port owns, writable in place (a UMEM chunk, an
 *    mbuf); rx_burst hands frames out, and each one comes back exactly once,
 *    through tx_burst (queued: the port frees it after sending) or
 *    free_burst on its own port (dropped);
 *  - tx_burst may be given frames of other ports: it copies them into its
 *    own buffers and frees the originals (separate UMEMs), or sends them as
 *    they are (a mempool shared by all ports); the caller does not care;
 *  - flush pushes queued TX to the device and recycles sent buffers;
 *  - fd is what the worker sleeps on when idle; -1 means the backend needs
 *    busy polling (DPDK) and the worker never sleeps;
 *  - a port is one (interface, queue), owned by one worker for life: that
 *    worker alone calls its operations, so its rings and counters need no
 *    lock.
 */
#ifndef HD_PORT_H
#define HD_PORT_H

#include <stdint.h>

struct port;

struct port_frame {
	uint8_t *data; /* the Ethernet header */
	uint32_t len;
	uint64_t handle;   /* the backend's reference: UMEM address, mbuf pointer */
	struct port *port; /* the owner */
};

struct port_ops {
	const char *name; /* "af_xdp", "dpdk" */
	unsigned int (*rx_burst)(struct port *port, struct port_frame *frames, unsigned int n);
	/* Queues frames for sending; returns how many it took (a prefix). */
	unsigned int (*tx_burst)(struct port *port, struct port_frame *frames, unsigned int n);
	void (*free_burst)(struct port *port, struct port_frame *frames, unsigned int n);
	void (*flush)(struct port *port);
	int (*fd)(const struct port *port);
	void (*close)(struct port *port);
};

struct port {
	const struct port_ops *ops;
	int ifindex;
	uint16_t queue;
	/* Written by the owning worker only (relaxed atomics), read by `wg show`. */
	uint64_t rx_packets; /* frames rx_burst handed out */
	uint64_t tx_packets; /* frames tx_burst took */
};

/* Bumps a port counter: one writer, so a relaxed load and store will do. */
static inline void port_count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

#endif
