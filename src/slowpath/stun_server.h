/* SPDX-License-Identifier: MIT */
/*
 * The STUN server: one UDP socket on `stun.listen` and one thread
 * answering Tailscale's Binding Requests (stun.h) in batches. Not the hot
 * path: netcheck sends a handful of requests per client per minute.
 *
 * The socket is bound by stun_server_bind() while the daemon still has its
 * start-up privileges (port 3478 needs none, but a port below 1024 would);
 * stun_server_start() runs the thread after they are dropped.
 */
#ifndef HD_STUN_SERVER_H
#define HD_STUN_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "stun.h"

struct stun_server;

/* All uint64_t, read one by one while the thread counts. */
struct stun_stats {
	uint64_t answered_ipv4;
	uint64_t answered_ipv6;
	/* Datagrams not answered, by verdict (dropped[STUN_OK] stays 0). */
	uint64_t dropped[STUN_VERDICT_COUNT];
	uint64_t send_errors; /* answers the kernel refused to send */
	uint64_t recv_errors;
};

/*
 * Binds the UDP socket for listen (stun_listen.h). Returns the server, or
 * NULL with the reason, naming the address, in err.
 */
struct stun_server *stun_server_bind(const char *listen, char *err, size_t errlen);
/* Starts the thread and logs the address. Returns 0, or -1 with err. */
int stun_server_start(struct stun_server *s, char *err, size_t errlen);
/* Stops the thread (if started), closes the socket, frees. NULL is ignored. */
void stun_server_stop(struct stun_server *s);

/* The bound address as HOST:PORT ("127.0.0.1:3478", "[::]:3478"). */
const char *stun_server_address(const struct stun_server *s);
void stun_server_get_stats(const struct stun_server *s, struct stun_stats *out);

#endif
