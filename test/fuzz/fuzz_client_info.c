// SPDX-License-Identifier: MIT
/*
 * The ClientInfo JSON reader (derp_client_info_parse_json) and the strict
 * JSON string getter it shares with the key file (json_object_get_string).
 *
 * Input: the JSON text (not NUL-terminated: an exact-size heap copy).
 *
 * Oracles: both readers agree on the same text: when ClientInfo accepts it,
 * the whole text is valid JSON, so the getter must accept it too and find
 * "meshKey" exactly when ClientInfo has one, with the same 32 bytes. The
 * getter's output is NUL-terminated and within its buffer whatever the
 * buffer size, and errors are NUL-terminated strings even in tiny buffers.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "derp_handshake.h"
#include "json_reader.h"
#include "fuzz_common.h"

static int get_string(const char *json, size_t len, const char *name, size_t cap, char **out,
		      size_t *out_len, bool *found)
{
	char err[96];
	int r;

	*out = malloc(cap ? cap : 1);
	if (!*out)
		abort();
	memset(err, 0x55, sizeof(err));
	r = json_object_get_string(json, len, name, *out, cap, out_len, found, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0)
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL && !*found);
	if (r == 0 && *found) {
		FUZZ_CHECK(*out_len < cap);
		FUZZ_CHECK((*out)[*out_len] == '\0');
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *json = (const char *)fuzz_dup(data, size);
	struct derp_client_info ci, ci2;
	char err[128], tiny[4];
	char *out;
	size_t out_len;
	bool found;
	int r, r2;

	memset(err, 0x55, sizeof(err));
	r = derp_client_info_parse_json(json, size, &ci, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -1);
	if (r < 0)
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	/* Deterministic, and an error message cut to a tiny buffer stays a string. */
	memset(tiny, 0x55, sizeof(tiny));
	r2 = derp_client_info_parse_json(json, size, &ci2, tiny, sizeof(tiny));
	FUZZ_CHECK(r2 == r);
	if (r2 < 0)
		FUZZ_CHECK(memchr(tiny, 0, sizeof(tiny)) != NULL);
	if (r == 0) {
		FUZZ_CHECK(memcmp(&ci, &ci2, sizeof(ci)) == 0);
		if (!ci.has_mesh_key) {
			for (size_t i = 0; i < KEY_LEN; i++)
				FUZZ_CHECK(ci.mesh_key[i] == 0);
		}
	}

	/* The getter over the same text, with a big and a small buffer. */
	int g = get_string(json, size, "meshKey", 128, &out, &out_len, &found);
	if (r == 0) {
		uint8_t key[KEY_LEN];

		FUZZ_CHECK(g == 0);
		FUZZ_CHECK(found == ci.has_mesh_key);
		if (found) {
			FUZZ_CHECK(out_len == KEY_HEX_LEN);
			FUZZ_CHECK(key_from_hex(out, out_len, NULL, key) == 0);
			FUZZ_CHECK(memcmp(key, ci.mesh_key, KEY_LEN) == 0);
		}
	}
	free(out);
	get_string(json, size, "PrivateKey", 1 + size % 80, &out, &out_len, &found);
	free(out);
	free((void *)json);
	return 0;
}
