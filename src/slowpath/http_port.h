/* SPDX-License-Identifier: MIT */
/*
 * The plain-HTTP port ([http] port, 80 in production), as derper's
 * -http-port: GET /generate_204 answers the captive-portal check (with the
 * X-Tailscale-Challenge / X-Tailscale-Response echo), GET
 * /.well-known/acme-challenge/TOKEN serves ACME HTTP-01 tokens from
 * tls.acme_challenge_dir, and any other GET or HEAD is redirected (302) to
 * https on the DERP port; other methods get 400 "Use HTTPS".
 *
 * One thread polls the listener and at most max_clients connections, each
 * allowed timeout_ms from accept to its last byte; a request is one head of
 * at most HTTP_MAX_HEAD bytes and the response closes the connection.
 */
#ifndef HD_HTTP_PORT_H
#define HD_HTTP_PORT_H

#include <stddef.h>
#include <stdint.h>

struct http_port;

struct http_port_options {
	const char *challenge_dir; /* "" = no ACME tokens */
	const char *hostname;	   /* the redirect's host; "" = the request's Host */
	uint16_t https_port;	   /* the DERP port, named in the redirect unless 443 */
	uint32_t max_clients;
	uint32_t timeout_ms;
};

/* All uint64_t: read one by one while the thread counts. */
struct http_port_stats {
	uint64_t requests;     /* answered */
	uint64_t generate_204; /* of them, /generate_204 */
	uint64_t acme_served;  /* of them, ACME tokens found */
	uint64_t redirects;    /* of them, sent to https */
	uint64_t bad_requests; /* unparseable heads, methods other than GET/HEAD */
	uint64_t evicted;      /* closed to make room past http.max_clients */
	uint64_t timeouts;     /* closed at http.timeout_ms */
};

/* Binds addr:port (while privileged, for port 80). NULL with the reason in err. */
struct http_port *http_port_bind(const char *addr, uint16_t port, char *err, size_t errlen);
/* Starts the thread; opt's strings are copied. Returns 0 or -1 with the reason. */
int http_port_start(struct http_port *hp, const struct http_port_options *opt, char *err,
		    size_t errlen);
/* Stops the thread, closes everything and frees hp (NULL is fine). */
void http_port_stop(struct http_port *hp);
void http_port_get_stats(const struct http_port *hp, struct http_port_stats *out);
/* The port bound. */
uint16_t http_port_bound(const struct http_port *hp);

#endif
