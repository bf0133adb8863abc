/* SPDX-License-Identifier: MIT */
/* Test helper: gives a handshake message a MAC1 made for a peer's public key. */
#ifndef HD_WG_TEST_MAC1_H
#define HD_WG_TEST_MAC1_H

#include <sodium.h>
#include <string.h>

#include "blake2s.h"
#include "wg_msg.h"

/* buf is an initiation (WG_INITIATION_LEN) or a response; b64 the peer's key. */
static inline void sign_for(uint8_t *buf, size_t len, const char *b64)
{
	uint8_t pub[32], key[32];
	size_t klen, off = len == WG_INITIATION_LEN ? WG_INITIATION_MAC1 : WG_RESPONSE_MAC1;

	sodium_base642bin(pub, 32, b64, strlen(b64), NULL, &klen, NULL,
			  sodium_base64_VARIANT_ORIGINAL);
	wg_mac1_key(key, pub);
	blake2s(buf + off, 16, key, 32, buf, off);
}

#endif
