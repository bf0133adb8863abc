/* SPDX-License-Identifier: MIT */
/*
 * BLAKE2s (RFC 7693), the hash WireGuard's MAC1 is built on, through
 * OpenSSL 3: the BLAKE2S-256 digest for unkeyed hashes and the keyed
 * BLAKE2SMAC, whose output size is settable. That is exactly what MAC1
 * needs: HASH("mac1----" || pubkey) unkeyed at 32 bytes, then a keyed
 * 16-byte MAC over the message. (OpenSSL 3.0's digest is fixed at 32 bytes
 * and its MAC needs a key, so an unkeyed hash shorter than 32 bytes is the
 * one BLAKE2s this cannot compute; WireGuard never uses one.)
 */
#ifndef HD_BLAKE2S_H
#define HD_BLAKE2S_H

#include <stddef.h>
#include <stdint.h>

#define BLAKE2S_OUT_MAX 32
#define BLAKE2S_KEY_MAX 32

/*
 * out = BLAKE2s-outlen(key; in). With a key (keylen 1..32), outlen is
 * 1..32; without one (keylen 0, key may be NULL), outlen must be 32.
 * Returns 0, or -1 for other lengths or if OpenSSL fails (out is then
 * zeroed, which no real MAC equals by more than chance).
 */
int blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen, const void *in,
	    size_t inlen);

#endif
