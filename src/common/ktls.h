/* SPDX-License-Identifier: MIT */
/*
 * Moving a finished TLS session from OpenSSL into the kernel (kTLS).
 *
 * Our OpenSSL sessions run over memory BIOs, so OpenSSL never configures
 * kTLS itself. Instead we watch each session from its first byte:
 *
 *  - the key log callback hands us the TLS 1.3 application traffic secrets
 *    (TLS 1.2 needs only the master secret, which the session keeps);
 *  - the message callback counts the records sent and received under the
 *    current keys in each direction, which are the record sequence numbers
 *    the kernel must continue from, and notices anything after the
 *    handshake that would make those keys stale (KeyUpdate, renegotiation,
 *    alerts);
 *  - a callback on the write BIO keeps the explicit nonce of our first
 *    TLS 1.2 GCM record, because OpenSSL 3.0 starts that nonce counter at a
 *    random value and the kernel must carry it on, not restart it.
 *
 * ktls_crypto_get then derives the keys and IVs (HKDF-Expand-Label for
 * TLS 1.3, the PRF key block for TLS 1.2) and fills the structures of
 * <linux/tls.h>; ktls_socket_attach hands them to the socket. Only the AEAD
 * suites the kernel knows are moved: AES-128-GCM, AES-256-GCM and
 * ChaCha20-Poly1305, TLS 1.2 or 1.3. Anything else stays in userspace.
 */
#ifndef HD_KTLS_H
#define HD_KTLS_H

#include <linux/tls.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/socket.h>

/* One direction's crypto state, as setsockopt(SOL_TLS, TLS_TX or TLS_RX) takes it. */
struct ktls_crypto {
	union {
		struct tls_crypto_info info; /* version and cipher_type, shared by all */
		struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
		struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
		struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
	};
	socklen_t len; /* size of the member in use */
};

/*
 * Installs the key log callback on ctx, so sessions made from it can be
 * tracked. Returns 0 or -1.
 */
int ktls_ctx_enable(SSL_CTX *ctx);
/* Whether ktls_ctx_enable was called on ctx. */
bool ktls_ctx_enabled(const SSL_CTX *ctx);

/*
 * Starts tracking a server session created with memory BIOs; call before its
 * first byte is fed. Returns 0, or -1 (out of memory: the session simply
 * stays in userspace).
 */
int ktls_track(SSL *ssl);

/*
 * Stops tracking (the session stays in userspace): removes the callbacks,
 * so they cost nothing for the rest of the connection, and wipes the
 * secrets kept so far.
 */
void ktls_untrack(SSL *ssl);

/*
 * Fills the kernel's crypto state for sending (tx) and receiving (rx) the
 * session's next records. Only possible when every byte OpenSSL produced has
 * been taken from the write BIO, every byte received has been consumed as
 * whole records, and all decrypted data has been read: the kernel continues
 * exactly where OpenSSL stopped. Returns 0, or -1 with a short reason in
 * *why (static text) and tx/rx wiped.
 */
int ktls_crypto_get(SSL *ssl, struct ktls_crypto *tx, struct ktls_crypto *rx, const char **why);

/* Overwrites key material that is no longer needed. */
void ktls_crypto_wipe(struct ktls_crypto *c);

enum ktls_attach_result {
	KTLS_ATTACHED = 0, /* the kernel encrypts and decrypts from here on */
	KTLS_REFUSED,	   /* nothing changed for the connection: userspace TLS goes on */
	KTLS_BROKEN,	   /* receive was moved but send was not: close the connection */
};

/*
 * Attaches the "tls" upper layer protocol to a connected TCP socket and
 * sets the receive, then the send state. The receive side goes first
 * because kernels gained it later and so refuse it more often: refused
 * there, the socket is still plain TCP underneath and OpenSSL carries on.
 * *err gets the errno of a failure.
 */
enum ktls_attach_result ktls_socket_attach(int fd, const struct ktls_crypto *tx,
					   const struct ktls_crypto *rx, int *err);

/* "TLS 1.3 AES-128-GCM" and the like, for logs. */
const char *ktls_crypto_name(const struct ktls_crypto *c);

#endif
