/* SPDX-License-Identifier: MIT */
/*
 * A small HTTP/1.1 client for the admission checks: one request per
 * connection (Connection: close), over a Unix socket (tailscaled's
 * LocalAPI) or TCP, plain or TLS (OpenSSL with the caller's context).
 *
 * Blocking in the caller's thread, but every wait is a poll() bounded by
 * one deadline for the whole exchange, and ends early when stop_fd
 * becomes readable (the relay is stopping).
 */
#ifndef HD_HTTP_CLIENT_H
#define HD_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

struct http_conn {
	int fd;
	SSL *ssl;
	int stop_fd;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC */
};

/* The monotonic clock in nanoseconds, which deadlines are on. */
uint64_t http_now_ns(void);

/*
 * Connects to a Unix socket. Returns 0, or -1 with the reason in why (the
 * connection holds nothing then).
 */
int http_conn_unix(struct http_conn *c, const char *path, char *why, size_t why_len);
/*
 * Connects to host:port (a name is resolved; each address is tried in
 * turn) and, with tls set, completes a TLS handshake that verifies the
 * server's certificate for host. Returns 0, or -1 with the reason in why.
 */
int http_conn_tcp(struct http_conn *c, const char *host, const char *port, SSL_CTX *tls, char *why,
		  size_t why_len);
/*
 * Sends req and reads the response until the server closes or the body
 * is complete, keeping at most cap bytes. Returns 0 with *got bytes and
 * *closed telling whether the server closed the connection, or -1 with
 * the reason in why (also when the response is longer than cap); *got
 * says then whether any of the response came.
 */
int http_conn_exchange(struct http_conn *c, const char *req, size_t req_len, char *resp, size_t cap,
		       size_t *got, bool *closed, char *why, size_t why_len);
/*
 * Whether an idle kept-alive connection may carry another request: the
 * server has neither closed it nor sent anything unasked.
 */
bool http_conn_idle_usable(struct http_conn *c);
/* Whether the server of a whole response keeps the connection (HTTP/1.1, no "Connection: close").
 */
bool http_response_keeps_alive(const char *buf, size_t len);
void http_conn_close(struct http_conn *c);

/*
 * The status and the body (Content-Length, chunked, or up to the close) of
 * a whole response. A chunked body is decoded in place. Returns 0 when
 * the response is complete, 1 when more bytes are needed, -1 when it is
 * not HTTP/1.x.
 */
int http_response_parse(char *buf, size_t len, int *status, const char **body, size_t *body_len,
			int at_eof);

#endif
