/* SPDX-License-Identifier: MIT */
/*
 * HD authentication (docs/hd-protocol.md, section 3): the client proves it
 * holds its private key by boxing the relay's fresh challenge (and the TLS
 * channel binding) to the relay's key, and shows an enrollment token that
 * the operator issued for that key.
 *
 * Pure functions over libsodium (and OpenSSL for the TLS binding): the
 * caller owns the keys, the clock and the revocation list.
 */
#ifndef HD_HD_AUTH_H
#define HD_HD_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hd_frame.h"

#define HD_BINDING_LEN	    32
#define HD_NONCE_LEN	    24
#define HD_TOKEN_SECRET_LEN 32
#define HD_TOKEN_ID_LEN	    8
#define HD_TOKEN_MAX	    512 /* the longest token text an Auth may carry */
#define HD_TOKEN_BIN_LEN    81
/* "hdt1_" + unpadded base64url of 81 bytes (108 characters). */
#define HD_TOKEN_TEXT_LEN 113

struct hd_token {
	uint8_t id[HD_TOKEN_ID_LEN];
	uint8_t key[HD_KEY_LEN];
	uint64_t expiry; /* Unix seconds; 0 = never */
};

/* A fresh random challenge for one connection. */
void hd_challenge_new(uint8_t challenge[HD_CHALLENGE_LEN]);

/*
 * The channel binding: 32 bytes of keying material exported from the TLS
 * session under "EXPORTER-hd-v1-auth", or 32 zero bytes when ssl is NULL
 * (plain HTTP). Returns 0, or -1 if OpenSSL cannot export (no handshake).
 */
int hd_channel_binding(SSL *ssl, uint8_t binding[HD_BINDING_LEN]);

/*
 * Client side: builds the Auth frame (header included) into dst. token may
 * be NULL (token_len 0). Returns the frame length, or 0 when dst is too
 * small, the token is too long, or the box cannot be made.
 */
size_t hd_auth_build(uint8_t *dst, size_t cap, const uint8_t client_priv[HD_KEY_LEN],
		     const uint8_t client_pub[HD_KEY_LEN], const uint8_t relay_pub[HD_KEY_LEN],
		     const uint8_t challenge[HD_CHALLENGE_LEN],
		     const uint8_t binding[HD_BINDING_LEN], const char *token, size_t token_len);

/*
 * Relay side: opens an Auth payload. On success returns HD_REASON_OK with
 * the client's key and the token text (token_len 0 when there was none;
 * token holds HD_TOKEN_MAX + 1 bytes and is NUL-terminated). Returns
 * HD_REASON_BAD_PROOF when the box does not open or the challenge or
 * binding differ, HD_REASON_NO_TOKEN when the token field is malformed.
 */
enum hd_reason hd_auth_open(const uint8_t *payload, uint32_t len,
			    const uint8_t relay_priv[HD_KEY_LEN],
			    const uint8_t challenge[HD_CHALLENGE_LEN],
			    const uint8_t binding[HD_BINDING_LEN], uint8_t client_pub[HD_KEY_LEN],
			    char token[HD_TOKEN_MAX + 1], size_t *token_len);

/*
 * Issues a token for key, valid until expiry (0 = never). Writes
 * HD_TOKEN_TEXT_LEN characters and a NUL into out (HD_TOKEN_TEXT_LEN + 1
 * bytes).
 */
void hd_token_issue(const uint8_t secret[HD_TOKEN_SECRET_LEN], const uint8_t id[HD_TOKEN_ID_LEN],
		    const uint8_t key[HD_KEY_LEN], uint64_t expiry,
		    char out[HD_TOKEN_TEXT_LEN + 1]);

/*
 * Checks a token for the authenticated client_key at time now (Unix
 * seconds), in the documented order: form, MAC, key, expiry. Revocation is
 * the caller's last check, on out->id. Returns HD_REASON_OK (out filled),
 * HD_REASON_NO_TOKEN, HD_REASON_WRONG_KEY or HD_REASON_EXPIRED.
 */
enum hd_reason hd_token_check(const char *text, size_t len,
			      const uint8_t secret[HD_TOKEN_SECRET_LEN],
			      const uint8_t client_key[HD_KEY_LEN], uint64_t now,
			      struct hd_token *out);

#endif
