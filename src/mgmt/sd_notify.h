/* SPDX-License-Identifier: MIT */
/*
 * systemd's readiness protocol without libsystemd: one datagram of
 * "KEY=VALUE" lines to the Unix socket named by $NOTIFY_SOCKET (a path, or
 * an abstract name written with a leading '@'). Without the variable,
 * nothing is sent, so the relay runs the same outside systemd.
 */
#ifndef HD_SD_NOTIFY_H
#define HD_SD_NOTIFY_H

/*
 * Sends state, e.g. "READY=1" or "STOPPING=1". Returns 1 when sent, 0 when
 * $NOTIFY_SOCKET is unset, -1 on failure (errno set).
 */
int sd_notify_send(const char *state);

/* "RELOADING=1" with MONOTONIC_USEC, as Type=notify-reload expects. */
int sd_notify_reloading(void);

#endif
