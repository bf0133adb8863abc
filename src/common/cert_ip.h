/* SPDX-License-Identifier: MIT */
/*
 * The certificate of tls.mode = ip: a relay reached by an IP address has no
 * name a public CA would vouch for, so (as derper does) it makes its own
 * self-signed certificate for the address, and clients trust it through
 * the DERP map: the node's CertName "sha256-raw:<hex>" pins the SHA-256 of
 * the certificate's DER bytes instead of a CA chain.
 */
#ifndef HD_CERT_IP_H
#define HD_CERT_IP_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>

/* Whether s is an IPv4 or IPv6 literal. */
bool cert_ip_hostname(const char *s);

/*
 * A new ECDSA P-256 key and a self-signed certificate for host (SAN IP or
 * DNS) valid for validity_s seconds. Returns 0, or -1 (OpenSSL's error queue
 * says why).
 */
int cert_self_signed(const char *host, long validity_s, EVP_PKEY **key, X509 **cert);

/* "sha256-raw:" and 64 hex digits, NUL-terminated. */
#define CERT_PIN_LEN (11 + 64 + 1)

/*
 * Writes a new ECDSA P-256 key (mode 0600) and a self-signed certificate
 * for the IP literal ip (subject CN and SAN IP), valid for ten years, as
 * PEM files. Nothing is left behind on failure. Returns 0, or -1 with the
 * reason in err.
 */
int cert_ip_write(const char *ip, const char *cert_path, const char *key_path, char *err,
		  size_t errlen);

/* The DERP map pin of cert: "sha256-raw:" + hex(SHA-256(DER)). Returns 0 or -1. */
int cert_pin(X509 *cert, char out[CERT_PIN_LEN]);

#endif
