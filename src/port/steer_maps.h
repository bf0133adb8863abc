/* SPDX-License-Identifier: MIT */
/*
 * What the TCP steering XDP program (bpf/tcp_steer.bpf.c) and userspace
 * (steer.c) share: map keys, values and counter numbers. Fixed-width
 * kernel types only: bpf/ includes this file.
 */
#ifndef HD_STEER_MAPS_H
#define HD_STEER_MAPS_H

#include <linux/types.h>

#define STEER_MAX_FLOWS	 65536 /* handed-off connections per interface */
#define STEER_MAX_SEEN	 65536 /* connections being set up whose RX queue is remembered */
#define STEER_MAX_PORTS	 16    /* listening ports whose SYNs are watched */
#define STEER_MAX_QUEUES 64    /* XSKMAP: one XSK per RX queue */

enum steer_counter {
	STEER_CNT_TO_XSK = 0,  /* segments of handed-off flows sent to the XSK */
	STEER_CNT_WRONG_QUEUE, /* ...that arrived on a queue other than the owner's */
	STEER_CNT_NO_XSK,      /* ...dropped: no XSK bound on their queue (never to the stack) */
	STEER_CNT_SYN_SEEN,    /* SYNs to a watched port whose RX queue was remembered */
	STEER_CNT_COUNT,
};

/*
 * A connection, as its packets arrive: remote (source) and local
 * (destination) address and port, network byte order. IPv4 addresses take
 * the first 4 bytes, the rest zero.
 */
struct steer_flow_key {
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 pad[3];
	__be16 remote_port;
	__be16 local_port;
	__u8 remote_ip[16];
	__u8 local_ip[16];
};

/* tcp_flows: a handed-off connection and the RX queue whose worker owns it. */
struct steer_flow_val {
	__u32 queue;
	__u32 pad;
	__u64 packets; /* steered so far (racy across CPUs: a figure, not an account) */
};

/* tcp_seen: the RX queue a connection's SYN came in on, learnt before the move. */
struct steer_seen_val {
	__u32 queue;
	__u32 pad;
};

#endif
