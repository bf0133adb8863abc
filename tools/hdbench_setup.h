/* SPDX-License-Identifier: MIT */
/*
 * hdbench's connection benchmarks, beside its packet benchmark:
 *
 * --connect-rate: complete DERP handshakes (TCP, TLS if asked, the HTTP
 *   upgrade, ServerKey/ClientInfo/ServerInfo) and close, from several
 *   threads, paced or flat out; reports handshakes/s, handshake time and
 *   the relay's CPU per handshake.
 * --idle: opens N DERP connections and leaves them idle; reports the
 *   relay's resident memory per connection and its CPU while they idle.
 *
 * Source addresses are spread over 127.0.0.2, .3 ... when the relay is on
 * loopback, since one address has only ~28k ephemeral ports.
 */
#ifndef HD_HDBENCH_SETUP_H
#define HD_HDBENCH_SETUP_H

#include <stdbool.h>
#include <stdint.h>

#include "derp_client.h"

struct setup_bench_opts {
	const char *server;
	uint16_t port;
	int relay_pid; /* 0 = relay figures not measured */
	struct derp_client_opts client;
	uint32_t threads;
	bool json;
	/* --connect-rate */
	double rate;	   /* handshakes/s offered; 0 = as fast as the threads go */
	double duration_s; /* run time, when count is 0 */
	uint64_t count;	   /* handshakes in all */
	/* --idle */
	uint64_t idle_conns;
	double hold_s;
};

/* Both return hdbench's exit status: 0 pass, 1 a failure, 2 a setup error. */
int bench_connect_rate(const struct setup_bench_opts *o);
int bench_idle(const struct setup_bench_opts *o);

#endif
