/* SPDX-License-Identifier: MIT */
/*
 * Takes an established kernel TCP socket's state with TCP_REPAIR into a
 * struct tcp_snapshot (src/tcp/tcp_snapshot.h) and closes the socket in
 * repair mode, so the kernel sends neither FIN nor RST. Steering must be in
 * before (docs/bypass.md, "The handoff"): from then on the kernel sees no
 * more packets of the flow, so its numbers stop moving.
 */
#ifndef HD_TCP_REPAIR_H
#define HD_TCP_REPAIR_H

#include <stddef.h>

#include "tcp_snapshot.h"

/* fd's addresses and ports as its packets carry them (v4-mapped IPv6 is IPv4). */
int tcp_flow_of(int fd, struct tcp_flow *flow, char *err, size_t errlen);

/*
 * Reads fd's state into snap (queues malloc'ed: tcp_snapshot_free) with fd
 * in repair mode. On failure fd is back out of repair mode, untouched, and
 * err says why (EPERM: no CAP_NET_ADMIN). Does not close fd.
 */
int tcp_repair_take(int fd, struct tcp_snapshot *snap, char *err, size_t errlen);

/* Closes a socket tcp_repair_take left in repair mode: no FIN, no RST. */
void tcp_repair_close(int fd);

/* Leaves repair mode (the kernel carries on as before) without closing. */
void tcp_repair_abort(int fd);

void tcp_snapshot_free(struct tcp_snapshot *snap);

/* The kernel's TCP timestamp clock (CLOCK_MONOTONIC in ms), what ts_offset is relative to. */
uint32_t tcp_repair_clock_ms(void);

#endif
