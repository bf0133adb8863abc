/* SPDX-License-Identifier: MIT */
/*
 * Moving an established kernel TCP connection to the bypass dataplane, in
 * the order that loses no packet (docs/bypass.md, "The handoff"): steering
 * in, TCP_REPAIR, close in repair mode. And, first, whether it can move at
 * all: the reason it cannot is for the log and the counters.
 */
#ifndef HD_HANDOFF_H
#define HD_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "steer.h"
#include "tcp_snapshot.h"

enum handoff_veto {
	HANDOFF_OK = 0,
	HANDOFF_NO_XDP,		  /* the connection's interface has no steering program */
	HANDOFF_LOOPBACK,	  /* loopback has no queues to steer (and no XDP worth having) */
	HANDOFF_NO_CAP_NET_ADMIN, /* TCP_REPAIR needs it */
	HANDOFF_NOT_TCP,	  /* not an IPv4/IPv6 TCP socket */
	HANDOFF_NOT_ESTABLISHED,
	HANDOFF_QUEUE_UNKNOWN, /* its SYN was not seen on the steered interface */
	HANDOFF_VETO_COUNT,
};

/* A short name for logs and counter labels: "no_xdp", "loopback", ... */
const char *handoff_veto_name(enum handoff_veto veto);

/*
 * Whether fd can move to the bypass on the interface steer holds (NULL: no
 * interface has XDP). On HANDOFF_OK, *queue is the RX queue whose worker
 * must own it.
 */
enum handoff_veto handoff_check(int fd, const struct steer *steer, uint32_t *queue);

/*
 * Steers fd's flow to queue's worker, waits out the segments already past
 * XDP (one RCU grace period, ~10 ms), takes fd's state into snap and closes
 * fd in repair mode. On failure the steering is taken out again, fd stays
 * an open kernel socket as before, and err says why.
 */
int handoff_take(int fd, struct steer *steer, uint32_t queue, struct tcp_snapshot *snap, char *err,
		 size_t errlen);

#endif
