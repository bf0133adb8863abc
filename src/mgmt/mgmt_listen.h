/* SPDX-License-Identifier: MIT */
/* The management plane's listening sockets: the Unix socket and the metrics port. */
#ifndef HD_MGMT_LISTEN_H
#define HD_MGMT_LISTEN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Listens on a Unix stream socket at path, mode 0660, creating its
 * directory (0755) if needed. A socket file nobody answers on is left over
 * from a crash and is replaced; one that answers belongs to a running
 * relay and is refused, as is anything that is not a socket. Returns a
 * nonblocking fd, or -1 with the reason (naming the path) in err.
 */
int mgmt_listen_unix(const char *path, char *err, size_t errlen);

/*
 * Listens on TCP at "HOST:PORT" ("127.0.0.1:9100", "[::1]:9100"; port 0
 * picks one). HOST must be an IP literal. Writes the bound address, as
 * HOST:PORT, into bound. Returns a nonblocking fd, or -1 with err.
 */
int mgmt_listen_tcp(const char *addr, char *bound, size_t bound_len, char *err, size_t errlen);

/* Splits "HOST:PORT" / "[V6]:PORT" into host and port. Returns 0 or -1. */
int mgmt_split_host_port(const char *addr, char *host, size_t host_len, uint16_t *port);

#endif
