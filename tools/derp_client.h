/* SPDX-License-Identifier: MIT */
/*
 * A small blocking DERP client over plain TCP or TLS: the HTTP upgrade, the
 * handshake, and frame send/receive. Used by the load generator (hdbench) and
 * the integration tests; it speaks to the relay exactly as a Tailscale client
 * does on the wire.
 */
#ifndef HD_DERP_CLIENT_H
#define HD_DERP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "derp_frame.h"
#include "key.h"

struct derp_saved_frame;
struct derp_ws;
struct ssl_st;

struct derp_client_opts {
	bool fast_start;	    /* send Derp-Fast-Start: 1 and expect no HTTP response */
	const uint8_t *mesh_key;    /* 32 bytes, or NULL */
	const uint8_t *private_key; /* 32 bytes to use, or NULL for a fresh random key */
	bool is_prober;
	bool skip_server_info_wait; /* return right after sending ClientInfo */
	int timeout_ms;		    /* connect + handshake deadline; 0 = 5000 */
	/*
	 * TLS over the connection (OpenSSL), as derper serves it with a
	 * certificate. TLS 1.3 is offered and 1.2 accepted, unless tls12.
	 * Nothing is verified unless tls_ca_file is given.
	 */
	bool tls;
	bool tls12;		     /* TLS 1.2 only */
	const char *tls_server_name; /* SNI and the name verified; NULL = host unless an IP */
	const char *tls_ca_file;     /* PEM certificates to verify the server against */
	bool tls_verify;	     /* verify even without tls_ca_file: the system's roots */
	const char *bind_addr;	     /* numeric source address to connect from, or NULL */
	/*
	 * DERP over WebSocket (subprotocol derp), as browser and wasm clients
	 * speak it: every write is one binary message. Not with fast_start.
	 */
	bool websocket;
};

struct derp_client {
	/*
	 * With TLS, fd is nonblocking and carries records: move bytes only
	 * through the functions below. Without, it is a blocking TCP socket.
	 */
	int fd;
	struct ssl_st *ssl; /* NULL on plain TCP */
	struct derp_ws *ws; /* DERP over WebSocket once upgraded, else NULL */
	/*
	 * TLS 1.3: the key that derper's metacert (the last certificate of the
	 * chain) names. connect requires it to equal the ServerKey frame's.
	 */
	bool has_metacert_key;
	uint8_t metacert_key[KEY_LEN];
	uint8_t priv[KEY_LEN];
	uint8_t pub[KEY_LEN];
	uint8_t server_pub[KEY_LEN];
	struct derp_frame_reader reader;
	uint8_t *rbuf; /* reader storage, DERP_CLIENT_MAX_FRAME + header */
	uint8_t *wbuf; /* scratch for building frames */
	size_t wcap;
	/*
	 * Private to derp_client.c. rx holds bytes received from the socket
	 * that the reader could not take yet (it takes at most one frame's
	 * worth beyond what it holds); saved holds frames that arrived while
	 * connect waited for ServerInfo, handed out first by read_frame.
	 */
	uint8_t *rx;
	size_t rx_off;
	size_t rx_len;
	struct derp_saved_frame *saved;
	struct derp_saved_frame *saved_done; /* handed out last; freed on the next read */
	short io_wait; /* POLLIN or POLLOUT: what the last operation that would block waits for */
};

/*
 * Connects to host:port (numeric IPv4/IPv6; a name is resolved first, outside
 * the deadline), upgrades, reads ServerKey, sends ClientInfo and waits for
 * ServerInfo (unless opts say otherwise; opts may be NULL for defaults).
 * Frames that arrive before ServerInfo are kept for derp_client_read_frame.
 * In non-fast-start mode a Derp-Public-Key header that disagrees with the
 * ServerKey frame is an error; so is, on TLS 1.3, a metacert that does (and
 * with fast start over TLS 1.3, a chain without one). Returns 0, or -1 with a reason in err; on
 * failure c holds nothing (derp_client_close on it is harmless).
 */
int derp_client_connect(struct derp_client *c, const char *host, uint16_t port,
			const struct derp_client_opts *opts, char *err, size_t errlen);
void derp_client_close(struct derp_client *c);

/*
 * Only the transport of derp_client_connect: TCP and, with opts->tls, TLS;
 * no HTTP request and no DERP handshake. For speaking another protocol over
 * the same connection code (hdbench's HD mode). Same returns.
 */
int derp_client_connect_transport(struct derp_client *c, const char *host, uint16_t port,
				  const struct derp_client_opts *opts, char *err, size_t errlen);

/*
 * Wraps an already connected TCP socket without any HTTP or DERP handshake:
 * allocates the buffers, makes a fresh key pair (c->pub) and sets TCP_NODELAY.
 * Used for direct socket-to-socket baselines and for tests that speak raw
 * frames. Takes ownership of fd (closed by derp_client_close, also on failure).
 * Returns 0, or -1 with a reason in err.
 */
int derp_client_wrap_socket(struct derp_client *c, int fd, char *err, size_t errlen);
/*
 * Same over an established TLS session on fd (either side: hdbench's direct
 * TLS baseline wraps the accepting end too). Takes ownership of both; fd
 * should be nonblocking.
 */
int derp_client_wrap_tls(struct derp_client *c, int fd, struct ssl_st *ssl, char *err,
			 size_t errlen);

/*
 * Frees the frame buffers but keeps the connection (and TLS session) open:
 * for holding many idle connections. Only derp_client_close may follow.
 */
void derp_client_trim(struct derp_client *c);

/* Writes all bytes (blocking). Returns 0 or -1. */
int derp_client_write_all(struct derp_client *c, const void *buf, size_t len);
/*
 * Writes what the socket takes now, for an event loop: bytes taken, or -1
 * with errno (EAGAIN: try again when c->io_wait is ready, POLLOUT or, for
 * TLS, sometimes POLLIN). Retries may pass the same bytes at a new address.
 */
ssize_t derp_client_send_some(struct derp_client *c, const void *buf, size_t len);
/*
 * Reads what the connection has now, without framing, for an event loop:
 * bytes read, 0 at the end of the stream, or -1 with errno (EAGAIN: wait
 * for c->io_wait). Not to be mixed with derp_client_read_frame.
 */
ssize_t derp_client_recv_some(struct derp_client *c, void *buf, size_t cap);
int derp_client_send_packet(struct derp_client *c, const uint8_t dst[KEY_LEN], const void *pkt,
			    size_t len);
int derp_client_send_ping(struct derp_client *c, const uint8_t data[8]);

/*
 * Waits up to timeout_ms (-1 = forever) for the next frame. Returns 1 with a
 * frame (payload valid until the next call), 0 on timeout, -1 on EOF or
 * error (errno set; 0 for a clean EOF). With timeout_ms 0 it never blocks and
 * never calls poll: it returns buffered frames, then reads what the socket
 * has, then 0. An event loop calls it until 0 on every readable event (the
 * socket may be nonblocking or not; all I/O here uses MSG_DONTWAIT + poll).
 * With TLS, such a 0 leaves no decrypted bytes behind either, and
 * c->io_wait says whether the session waits for POLLIN or (rarely) POLLOUT.
 */
int derp_client_read_frame(struct derp_client *c, int timeout_ms, uint8_t *type,
			   const uint8_t **payload, uint32_t *len);

/*
 * Reads frames until one of the given type arrives (others are skipped) or
 * timeout_ms passes. Same returns as derp_client_read_frame.
 */
int derp_client_wait_frame(struct derp_client *c, int timeout_ms, uint8_t want_type,
			   const uint8_t **payload, uint32_t *len);

#endif
