/* SPDX-License-Identifier: MIT */
/*
 * The slow path: one thread with its own io_uring that accepts TCP
 * connections, reads the HTTP request, answers it, runs the DERP handshake
 * and hands each ready connection to a dataplane worker.
 */
#ifndef HD_SLOWPATH_H
#define HD_SLOWPATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "relay.h"
#include "slowpath_settings.h"

struct slowpath;
struct cert_source;
struct cert_info;

/*
 * Opens the listening socket: the one systemd passed (LISTEN_FDS=1, fd 3) if
 * any, else a new one bound to set->listen:set->port. Writes the bound port
 * to *port_out. Returns the fd, or -1 with the reason in err.
 */
int slowpath_listen(const struct slowpath_settings *set, uint16_t *port_out, char *err,
		    size_t errlen);
/*
 * Whether fd is the socket systemd passed: it stays listening after we
 * exit, so stopping must not shut it down.
 */
bool slowpath_listen_inherited(int fd);

/* tls: the server TLS context, or NULL for plain HTTP. The slow path keeps a copy of set. */
struct slowpath *slowpath_create(struct relay *r, const struct slowpath_settings *set,
				 int listen_fd, SSL_CTX *tls);
/*
 * Before slowpath_start: the slow path re-reads the certificate of certs
 * (kept by the caller) when its files change, checked once a second.
 */
void slowpath_watch_certificates(struct slowpath *sp, struct cert_source *certs,
				 const struct cert_info *loaded);
/* Asks for a reload at the next turn of the loop (SIGHUP), changed or not. */
void slowpath_reload_certificates(struct slowpath *sp);
int slowpath_start(struct slowpath *sp);
/* Stops accepting, closes connections still in their handshake, joins the thread. */
void slowpath_stop(struct slowpath *sp);
void slowpath_destroy(struct slowpath *sp);

/* All uint64_t: slowpath_get_stats reads them one by one. */
struct slowpath_stats {
	uint64_t accepted;
	uint64_t rejected_max_conns;
	uint64_t rejected_rate; /* over limits.max_accept_per_ip */
	uint64_t rejected_accept_rate; /* over limits.accept_rate, all sources together */
	uint64_t http_requests;
	uint64_t http_errors;
	uint64_t upgrades;
	uint64_t websocket_upgrades; /* of them, DERP over WebSocket (derper's websocket accepts) */
	uint64_t
	    websocket_bad_frames; /* WebSocket frames the protocol forbids, during handshakes */
	uint64_t handshakes_ok;
	uint64_t handshakes_failed;
	uint64_t handshake_timeouts;
	uint64_t tls_handshakes;
	uint64_t tls_failures;
	uint64_t ktls_connections; /* TLS sessions handed to the kernel after the handshake */
	uint64_t cert_reloads;	   /* new certificates taken (file change or SIGHUP) */
	uint64_t cert_reload_failures; /* new certificates refused; the previous one kept */
	uint64_t cert_not_after;       /* gauge: the served certificate's expiry, Unix seconds */
	/* The bounds on what clients that have not authenticated can make the relay hold. */
	uint64_t refused_pending_per_ip;   /* over limits.max_pending_per_ip, at accept */
	uint64_t refused_handshake_memory; /* limits.handshake_memory_mb full: refused or closed */
	uint64_t refused_tls_too_large;	   /* over 64 KiB sent during the TLS handshake */
	uint64_t submit_failures;	 /* no io_uring SQE: a handshake closed or an accept late */
	uint64_t accept_errors; /* accept failed (EMFILE, ENFILE, ENOMEM ...): paused 200 ms */
	/* [admission] checks, by verdict (admission.h), counted as they are decided. */
	uint64_t admission_allowed;
	uint64_t admission_refused;   /* told no: closed */
	uint64_t admission_failed;    /* could not ask, or a bad answer: closed */
	uint64_t admission_fail_open; /* the controller could not be asked: admitted */
	uint64_t admission_busy;      /* too many checks waiting: closed */
	uint64_t admission_cache_hits; /* answers reused (admission.cache_ms) */
	uint64_t admission_pending;    /* gauge: connections waiting for their check */
	/* /bootstrap-dns and /debug/ on the DERP port. */
	uint64_t bootstrap_dns_requests;
	uint64_t bootstrap_dns_published_hits;	   /* ?q= a configured name that resolved */
	uint64_t bootstrap_dns_unpublished_hits;   /* ?q= an unpublished name: answered alone */
	uint64_t bootstrap_dns_unpublished_misses; /* ?q= any other name */
	uint64_t bootstrap_dns_lookup_failures;	   /* lookups of a configured name that failed */
	uint64_t debug_requests;		   /* /debug/ requests answered */
	uint64_t debug_denied;		 /* /debug/ outside debug.allow, or proxied: 403 */
	uint64_t handshakes_pending;	 /* gauge: connections in their handshake */
	uint64_t handshake_memory_bytes; /* gauge: what they hold (limits.handshake_memory_mb) */
};

void slowpath_get_stats(const struct slowpath *sp, struct slowpath_stats *out);

#endif
