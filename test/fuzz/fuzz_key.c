// SPDX-License-Identifier: MIT
/*
 * The key text parsers (src/common/key.h): key_from_hex with and without a
 * type prefix, mesh_key_parse, and the two key files, the derper server key
 * file (key_file_load_or_create on an existing file) and the mesh key file
 * (mesh_key_file_load), read from an in-memory file with mode 0600.
 *
 * Input: the text (or the file's content).
 *
 * Oracles: a parsed key prints back to the text it came from (case aside);
 * the mesh key file and mesh_key_parse agree on text without NULs; a loaded
 * server key's public key is crypto_scalarmult_base of it; errors are
 * NUL-terminated.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "fuzz_common.h"
#include "json_reader.h"
#include "key.h"

static struct fuzz_memfile file;

static void check_hex(const uint8_t *data, size_t size, const char *prefix)
{
	char *text = (char *)fuzz_dup(data, size);
	size_t plen = prefix ? strlen(prefix) : 0;
	uint8_t key[KEY_LEN];
	char hex[KEY_HEX_LEN + 1];

	if (key_from_hex(text, size, prefix, key) == 0) {
		FUZZ_CHECK(size == plen + KEY_HEX_LEN);
		key_to_hex(key, hex);
		FUZZ_CHECK(strncasecmp(hex, text + plen, KEY_HEX_LEN) == 0);
		FUZZ_CHECK(plen == 0 || memcmp(text, prefix, plen) == 0);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[KEY_LEN], key2[KEY_LEN], priv[KEY_LEN], pub[KEY_LEN], pub2[KEY_LEN];
	char err[256];
	bool created = true;
	bool has_nul = memchr(data, 0, size) != NULL;
	int parsed, r;

	if (file.path[0] == '\0') {
		if (sodium_init() < 0)
			abort();
		fuzz_memfile_open(&file, "fuzz-key");
	}

	check_hex(data, size, NULL);
	check_hex(data, size, "nodekey:");
	check_hex(data, size, "privkey:");

	char *text = fuzz_strdup(data, size);
	parsed = mesh_key_parse(text, key);
	free(text);

	fuzz_memfile_set(&file, data, size);

	/* The mesh key file: the same text as mesh_key_parse, if it has no NULs. */
	memset(err, 0x55, sizeof(err));
	r = mesh_key_file_load(file.path, key2, err, sizeof(err));
	if (r < 0)
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	if (!has_nul && size < 4095)
		FUZZ_CHECK(r == parsed);
	if (r == 0 && parsed == 0)
		FUZZ_CHECK(memcmp(key, key2, KEY_LEN) == 0);
	if (r == 0)
		FUZZ_CHECK(!has_nul);

	/* The server key file: the file exists, so it is only ever read. */
	memset(err, 0x55, sizeof(err));
	r = key_file_load_or_create(file.path, priv, pub, &created, err, sizeof(err));
	FUZZ_CHECK(!created);
	if (r < 0) {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	} else {
		char value[128];
		size_t vlen;
		bool found;
		char jerr[96];

		FUZZ_CHECK(key_public_from_private(priv, pub2) == 0);
		FUZZ_CHECK(memcmp(pub, pub2, KEY_LEN) == 0);
		/* The key is the "PrivateKey" string the JSON getter sees. */
		FUZZ_CHECK(json_object_get_string((const char *)data, size, "PrivateKey", value,
						  sizeof(value), &vlen, &found, jerr,
						  sizeof(jerr)) == 0);
		FUZZ_CHECK(found);
		FUZZ_CHECK(key_from_hex(value, vlen, "privkey:", key2) == 0);
		FUZZ_CHECK(memcmp(key2, priv, KEY_LEN) == 0);
	}
	return 0;
}
