/* SPDX-License-Identifier: MIT */
/*
 * What the slow path reads of the configuration at start: where to listen,
 * the accept limits, admission, kTLS, /debug/ and /bootstrap-dns. The live
 * numbers it shares with the workers (limits.handshake_timeout_ms ...) are
 * in struct relay_settings. The daemon fills this from the configuration
 * (config_relay.c in mgmt/): the slow path does not know the configuration
 * file (docs/layers.md).
 */
#ifndef HD_SLOWPATH_SETTINGS_H
#define HD_SLOWPATH_SETTINGS_H

#include <stdbool.h>
#include <stdint.h>

#include "admission.h"

struct slowpath_settings {
	char listen[64];	      /* address to bind, e.g. 127.0.0.1, 0.0.0.0, :: */
	uint16_t port;		      /* 0 = pick a free port */
	bool ktls_off;		      /* tls.ktls = off: sessions stay in userspace TLS */
	uint32_t max_accept_per_ip;   /* new connections per second from one IP; 0 = no limit */
	uint32_t accept_rate;	      /* new connections per second, all sources; 0 = no limit */
	uint32_t accept_burst;	      /* connections accept_rate lets in at once */
	uint32_t tcp_keepalive_ms;    /* idle time before TCP keepalive probes; 0 = off */
	uint32_t tcp_user_timeout_ms; /* unacknowledged data closes the socket; 0 = kernel's */
	struct admission_settings admission;
	char debug_allow[512]; /* networks that may reach /debug/ */
	char bootstrap_dns_names[1024];
	char bootstrap_dns_unpublished[1024];
	uint32_t bootstrap_dns_refresh_s;
};

#endif
