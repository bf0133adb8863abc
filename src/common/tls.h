/* SPDX-License-Identifier: MIT */
/*
 * TLS for the relay's connections: OpenSSL driven through memory BIOs, so
 * the socket I/O stays in io_uring. The slow path runs the handshake; the
 * SSL object then moves with the connection to its worker, which owns it
 * for life (never used by two threads at once).
 *
 * The served chain ends with derper's "metacert": a throwaway Ed25519
 * certificate whose subject CN is "derpkey" + the server's public key in
 * hex. A Go client that sees it on a TLS 1.3 connection knows the key and
 * uses Derp-Fast-Start, saving a round trip.
 */
#ifndef HD_TLS_H
#define HD_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

/*
 * Loads cert (PEM chain) and key, adds the metacert for server_pub, and
 * allows TLS 1.2 and 1.3 as derper does. Returns NULL with a reason in err.
 */
SSL_CTX *tls_server_ctx_create(const char *cert_file, const char *key_file,
			       const uint8_t server_pub[KEY_LEN], char *err, size_t errlen);

/* The same from a certificate and key in memory (the context takes its own references). */
SSL_CTX *tls_server_ctx_create_mem(X509 *cert, EVP_PKEY *key, const uint8_t server_pub[KEY_LEN],
				   char *err, size_t errlen);

/* Builds the metacert (exposed for tests). Returns NULL on failure. */
X509 *tls_metacert_create(const uint8_t server_pub[KEY_LEN]);

/* A new server-side session with empty memory BIOs. */
SSL *tls_session_new(SSL_CTX *ctx);

/* Hands received ciphertext to the session. Returns 0 or -1. */
int tls_feed(SSL *ssl, const uint8_t *p, size_t n);

enum tls_status {
	TLS_OK = 0,    /* done (handshake complete / bytes returned) */
	TLS_WANT_MORE, /* needs more ciphertext from the peer */
	TLS_CLOSED,    /* the peer sent close_notify */
	TLS_ERROR,     /* protocol error: close the connection */
};

/* Advances the handshake. */
enum tls_status tls_handshake(SSL *ssl);
/* Decrypts up to cap bytes into buf; *got bytes on TLS_OK. */
enum tls_status tls_read(SSL *ssl, uint8_t *buf, size_t cap, size_t *got);
/* Encrypts all n bytes (memory BIOs never block). Returns 0 or -1. */
int tls_write(SSL *ssl, const uint8_t *p, size_t n);
/* Ciphertext waiting to be sent, and taking it out. */
size_t tls_pending_out(SSL *ssl);
size_t tls_take_out(SSL *ssl, uint8_t *buf, size_t cap);
/* The last OpenSSL error as text, for logs. */
const char *tls_last_error(char *buf, size_t len);

/* Whether the kernel offers kTLS (TCP_ULP "tls"). */
bool tls_kernel_has_ktls(void);

/*
 * Decides, once at start, whether sessions of ctx move to kernel TLS after
 * their handshake (wanted, i.e. tls.ktls = auto, and the kernel has it), arms
 * ctx for it (ktls.h) and logs the outcome. Returns whether kTLS is in use.
 */
bool tls_ktls_setup(SSL_CTX *ctx, bool wanted);

#endif
