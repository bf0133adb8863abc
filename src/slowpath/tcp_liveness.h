/* SPDX-License-Identifier: MIT */
/*
 * How a client that vanished (its host lost power, its NAT forgot it) is
 * noticed: TCP keepalive probes after limits.tcp_keepalive_ms of silence,
 * and TCP_USER_TIMEOUT, which closes the socket once data the relay sent
 * (a packet, a KeepAlive frame, a probe) has gone unacknowledged for
 * limits.tcp_user_timeout_ms. derper sets both on its listener; here they
 * go on each accepted socket, before it is handed to a worker.
 */
#ifndef HD_TCP_LIVENESS_H
#define HD_TCP_LIVENESS_H

#include <stdint.h>

/*
 * keepalive_ms 0: no keepalive; user_timeout_ms 0: the kernel's default.
 * Returns 0, or -1 with errno when the kernel refused an option.
 */
int tcp_liveness_apply(int fd, uint32_t keepalive_ms, uint32_t user_timeout_ms);

#endif
