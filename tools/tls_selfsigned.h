/* SPDX-License-Identifier: MIT */
/*
 * Throwaway self-signed certificates for benchmarks and tests: an ECDSA
 * P-256 key and a certificate for "localhost" (SAN DNS:localhost and
 * IP:127.0.0.1), valid for a day, made in memory with OpenSSL. Nothing here
 * is fit to protect anything; it only lets a relay or a direct baseline
 * speak TLS on loopback.
 */
#ifndef HD_TLS_SELFSIGNED_H
#define HD_TLS_SELFSIGNED_H

#include <openssl/ssl.h>
#include <stddef.h>

/* Makes a key and its certificate. Returns 0, or -1 with a reason in err. */
int tls_selfsigned_make(EVP_PKEY **key, X509 **cert, char *err, size_t errlen);

/*
 * Writes a fresh key and certificate as PEM files (the key with mode 0600).
 * The certificate file also serves as the CA file to verify it with.
 */
int tls_selfsigned_write_pem(const char *cert_path, const char *key_path, char *err, size_t errlen);

/* A TLS 1.2/1.3 server context with a fresh certificate, for direct baselines. */
SSL_CTX *tls_selfsigned_server_ctx(char *err, size_t errlen);

#endif
