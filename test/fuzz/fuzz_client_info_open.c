// SPDX-License-Identifier: MIT
/*
 * ClientInfo open (derp_client_info_open) with a fixed server key.
 *
 * Input: a mode byte, then data. Mode 0: the data is a raw ClientInfo frame
 * payload from an unknown client (length checks, box open failures). Mode 1:
 * the data is JSON that a well-behaved client seals with the server's key
 * (derp_build_client_info, fixed client key and nonce), so that the fuzzer
 * reaches the JSON behind the box. Mode 2: as 1, then one byte of the sealed
 * payload is flipped.
 *
 * Oracles: a sealed payload opens to exactly what derp_client_info_parse_json
 * says of the plain JSON, and the claimed client key is reported; a tampered
 * payload never opens; errors are NUL-terminated.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "derp_frame.h"
#include "derp_handshake.h"
#include "fuzz_common.h"

static uint8_t server_priv[KEY_LEN], server_pub[KEY_LEN];
static uint8_t client_priv[KEY_LEN], client_pub[KEY_LEN];
static const uint8_t nonce[DERP_NONCE_LEN] = "hyper-derp fuzz nonce.."; /* 23 + NUL */

static void init_keys(void)
{
	static bool done;

	if (done)
		return;
	if (sodium_init() < 0)
		abort();
	/* Fixed keys: every run of an input does the same thing. */
	for (int i = 0; i < KEY_LEN; i++) {
		server_priv[i] = (uint8_t)(0x40 + i);
		client_priv[i] = (uint8_t)(0x80 + i);
	}
	server_priv[0] &= 248;
	server_priv[31] = (server_priv[31] & 127) | 64;
	client_priv[0] &= 248;
	client_priv[31] = (client_priv[31] & 127) | 64;
	if (key_public_from_private(server_priv, server_pub) < 0 ||
	    key_public_from_private(client_priv, client_pub) < 0)
		abort();
	done = true;
}

static int open_copy(const uint8_t *payload, size_t len, uint8_t claimed[KEY_LEN],
		     struct derp_client_info *ci, char *err, size_t errlen)
{
	uint8_t *p = fuzz_dup(payload, len);
	int r;

	memset(err, 0x55, errlen);
	r = derp_client_info_open(p, len, server_priv, claimed, ci, err, errlen);
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0)
		FUZZ_CHECK(memchr(err, 0, errlen) != NULL);
	free(p);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct derp_client_info ci, want;
	uint8_t claimed[KEY_LEN];
	char err[128], want_err[128];
	int mode, r;

	init_keys();
	if (size < 1)
		return 0;
	mode = data[0] % 3;
	data++;
	size--;

	if (mode == 0) {
		r = open_copy(data, size, claimed, &ci, err, sizeof(err));
		if (size < KEY_LEN + DERP_NONCE_LEN + crypto_box_MACBYTES ||
		    size > DERP_CLIENT_INFO_MAX)
			FUZZ_CHECK(r < 0);
		else
			FUZZ_CHECK(memcmp(claimed, data, KEY_LEN) == 0);
		return 0;
	}

	/* JSON as a client would seal it: the builder takes a C string. */
	char *json = fuzz_strdup(data, size);
	size_t json_len = strlen(json);
	size_t cap = DERP_FRAME_HDR_LEN + KEY_LEN + DERP_NONCE_LEN + crypto_box_MACBYTES + json_len;
	uint8_t *frame = malloc(cap);
	size_t n;

	if (!frame)
		abort();
	n = derp_build_client_info(frame, cap, client_priv, client_pub, server_pub, json, nonce);
	FUZZ_CHECK(n == cap);
	/* One byte short must be refused, not overrun. */
	FUZZ_CHECK(derp_build_client_info(frame, cap - 1, client_priv, client_pub, server_pub, json,
					  nonce) == 0);
	n = derp_build_client_info(frame, cap, client_priv, client_pub, server_pub, json, nonce);
	FUZZ_CHECK(frame[0] == DERP_FRAME_CLIENT_INFO);

	uint8_t *payload = frame + DERP_FRAME_HDR_LEN;
	size_t plen = n - DERP_FRAME_HDR_LEN;

	if (mode == 2 && size > 0) {
		/* Tamper with the nonce, tag or ciphertext (not the claimed key). */
		size_t at = KEY_LEN + (size_t)data[size - 1] * 131 % (plen - KEY_LEN);

		payload[at] ^= (uint8_t)(1u << (data[0] & 7));
		r = open_copy(payload, plen, claimed, &ci, err, sizeof(err));
		FUZZ_CHECK(r < 0);
	} else {
		int w =
		    derp_client_info_parse_json(json, json_len, &want, want_err, sizeof(want_err));

		r = open_copy(payload, plen, claimed, &ci, err, sizeof(err));
		if (plen > DERP_CLIENT_INFO_MAX) {
			FUZZ_CHECK(r < 0);
		} else {
			FUZZ_CHECK(memcmp(claimed, client_pub, KEY_LEN) == 0);
			FUZZ_CHECK(r == w);
			if (r == 0)
				FUZZ_CHECK(memcmp(&ci, &want, sizeof(ci)) == 0);
			else
				FUZZ_CHECK(strcmp(err, want_err) == 0);
		}
	}
	free(frame);
	free(json);
	return 0;
}
