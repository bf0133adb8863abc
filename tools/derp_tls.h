/* SPDX-License-Identifier: MIT */
/*
 * The client side of TLS for derp_client: OpenSSL over the (nonblocking)
 * socket, as a Tailscale client talks to a derper that has a certificate.
 *
 * Every call here is nonblocking: a step that cannot finish reports which
 * socket event it waits for (POLLIN or POLLOUT), and the caller polls and
 * calls again. The same functions serve the blocking derp_client API (which
 * polls with a deadline) and hdbench's epoll loop.
 */
#ifndef HD_DERP_TLS_H
#define HD_DERP_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "key.h"

/*
 * The client context for these settings, made once and shared by every
 * connection that uses the same ones (safe from any thread). TLS 1.3 is
 * offered and 1.2 accepted, unless tls12_only. With ca_file the server's
 * chain is verified against it; without, nothing is verified (a benchmark
 * or test relay has a self-signed certificate). Returns NULL with a reason.
 */
SSL_CTX *derp_tls_client_ctx(bool tls12_only, const char *ca_file, char *err, size_t errlen);
/*
 * Same, verifying the server also without a CA file (against the system's
 * trusted roots) when verify is set: the relay's mesh client.
 */
SSL_CTX *derp_tls_client_ctx_verify(bool tls12_only, const char *ca_file, bool verify, char *err,
				    size_t errlen);

/*
 * A client session on a connected socket. server_name goes in SNI and is
 * what verification checks (NULL: nothing is sent; with a CA file the
 * literal address ip is checked instead, when given).
 */
SSL *derp_tls_client_session(SSL_CTX *ctx, int fd, const char *server_name, const char *ip,
			     char *err, size_t errlen);

/*
 * One handshake step. Returns 1 when done, 0 when it waits for *want
 * (POLLIN/POLLOUT), -1 on failure with a reason in err.
 */
int derp_tls_handshake_step(SSL *ssl, short *want, char *err, size_t errlen);

/*
 * Decrypted bytes, like recv(): > 0 bytes, 0 at the end of the stream
 * (close_notify or a bare TCP close), -1 with errno (EAGAIN: wait for *want;
 * EPROTO: a TLS error).
 */
ssize_t derp_tls_recv(SSL *ssl, void *buf, size_t cap, short *want);

/* Encrypts and sends, like send(): bytes taken, or -1 with errno (EAGAIN: wait for *want). */
ssize_t derp_tls_send(SSL *ssl, const void *buf, size_t len, short *want);

/*
 * On TLS 1.3, the key named by derper's metacert, the last certificate of
 * the served chain (subject CN "derpkey" + 64 hex digits). Returns 1 and
 * the key, or 0 if the chain has none (or the version is not 1.3).
 */
int derp_tls_metacert_key(SSL *ssl, uint8_t key[KEY_LEN]);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384", for reports. */
const char *derp_tls_describe(SSL *ssl, char *buf, size_t len);

/* Drops the record buffers of an idle session (they come back when used). */
void derp_tls_trim(SSL *ssl);

/* Sends close_notify if the socket takes it right away, and frees the session. */
void derp_tls_close(SSL *ssl);

#endif
