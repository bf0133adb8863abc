// SPDX-License-Identifier: MIT
/*
 * Unit tests for derp_handshake.c: the ClientInfo JSON rules of Go's
 * encoding/json, the NaCl boxes both ways, and the derp-protocol.md 3.4
 * handshake vector.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "derp_handshake.h"
#include "json_reader.h"

/* derp-protocol.md 3.4 (fixed keys; clamping does not change X25519). */
static const char server_priv_hex[] =
    "0001010101010101010101010101010101010101010101010101010101010141";
static const char server_pub_hex[] =
    "a4e09292b651c278b9772c569f5fa9bb13d906b46ab68c9df9dc2b4409f8a209";
static const char client_priv_hex[] =
    "0002020202020202020202020202020202020202020202020202020202020242";
static const char client_pub_hex[] =
    "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59";
static const char client_info_frame_hex[] =
    "0200000068"
    "ce8d3ad1ccb633ec7b70c17814a5c76ecd029685050d344745ba05870e587d59"
    "000102030405060708090a0b0c0d0e0f1011121314151617"
    "3886897e2cda6c0d8dc4ad5c4b74ca7f99edf5a6e8428f59d77442f5e0be4499"
    "b5921f8df3dea51572626156526589c1";
static const char server_info_frame_hex[] =
    "0300000035"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7"
    "acc8778e9602ac03c108169d5985771712eac8a9536bf4d0c0362beebb";

static const char mesh_hex[] = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct keys {
	uint8_t server_priv[KEY_LEN], server_pub[KEY_LEN];
	uint8_t client_priv[KEY_LEN], client_pub[KEY_LEN];
};

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes lowercase hex of any length into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		assert_true(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return n;
}

static void load_keys(struct keys *k)
{
	unhex(server_priv_hex, k->server_priv, KEY_LEN);
	unhex(server_pub_hex, k->server_pub, KEY_LEN);
	unhex(client_priv_hex, k->client_priv, KEY_LEN);
	unhex(client_pub_hex, k->client_pub, KEY_LEN);
}

/* ---- ClientInfo JSON ---- */

static int parse(const char *json, struct derp_client_info *ci, char *err, size_t errlen)
{
	return derp_client_info_parse_json(json, strlen(json), ci, err, errlen);
}

static void expect_ok(const char *json, struct derp_client_info *ci)
{
	char err[256] = "";

	if (parse(json, ci, err, sizeof(err)) != 0)
		fail_msg("rejected %s: %s", json, err);
}

static void expect_reject(const char *json, const char *want_part)
{
	struct derp_client_info ci;
	char err[256] = "";

	if (parse(json, &ci, err, sizeof(err)) != -1)
		fail_msg("accepted %s", json);
	assert_true(err[0] != '\0');
	if (want_part && !strstr(err, want_part))
		fail_msg("%s: error \"%s\" lacks \"%s\"", json, err, want_part);
	/* Nothing half-parsed leaks out. */
	assert_false(ci.has_mesh_key);
	assert_int_equal(ci.version, 0);
}

static void expect_mesh(const struct derp_client_info *ci)
{
	uint8_t want[KEY_LEN];

	unhex(mesh_hex, want, KEY_LEN);
	assert_true(ci->has_mesh_key);
	assert_memory_equal(ci->mesh_key, want, KEY_LEN);
}

static void test_json_basic(void **state)
{
	struct derp_client_info ci;
	char json[256];

	(void)state;
	/* TestClientInfoUnmarshal: {} is fine and all zero. */
	expect_ok("{}", &ci);
	assert_int_equal(ci.version, 0);
	assert_false(ci.has_mesh_key);
	assert_false(ci.can_ack_pings);
	assert_false(ci.is_prober);
	expect_ok(" \t\r\n{ }\n ", &ci);
	/* Go leaves the struct alone for a top-level null. */
	expect_ok("null", &ci);
	assert_int_equal(ci.version, 0);

	/* What tailscaled sends. */
	expect_ok("{\"version\":2,\"CanAckPings\":true}", &ci);
	assert_int_equal(ci.version, 2);
	assert_true(ci.can_ack_pings);
	assert_false(ci.is_prober);
	assert_false(ci.has_mesh_key);

	snprintf(json, sizeof(json),
		 "{\"version\":2,\"meshKey\":\"%s\",\"CanAckPings\":true,\"IsProber\":true,"
		 "\"AppName\":\"derpprobe\"}",
		 mesh_hex);
	expect_ok(json, &ci);
	expect_mesh(&ci);
	assert_true(ci.is_prober);
}

static void test_json_keys_case_insensitive(void **state)
{
	struct derp_client_info ci;
	char json[256], upper[65];

	(void)state;
	snprintf(json, sizeof(json), "{\"Version\":5,\"MeshKey\":\"%s\"}", mesh_hex);
	expect_ok(json, &ci);
	assert_int_equal(ci.version, 5);
	expect_mesh(&ci);

	snprintf(json, sizeof(json), "{\"version\":5,\"meshkey\":\"%s\"}", mesh_hex);
	expect_ok(json, &ci);
	expect_mesh(&ci);

	for (int i = 0; i <= 64; i++)
		upper[i] = (char)(mesh_hex[i] >= 'a' ? mesh_hex[i] - 32 : mesh_hex[i]);
	snprintf(json, sizeof(json),
		 "{\"VERSION\":3,\"MESHKEY\":\"%s\",\"canackpings\":true,\"iSpRoBeR\":true}",
		 upper);
	expect_ok(json, &ci);
	assert_int_equal(ci.version, 3);
	expect_mesh(&ci);
	assert_true(ci.can_ack_pings);
	assert_true(ci.is_prober);
}

static void test_json_unicode_folding(void **state)
{
	struct derp_client_info ci;
	char json[256];

	(void)state;
	/* Go folds U+212A KELVIN SIGN to K and U+017F LONG S to S. */
	snprintf(json, sizeof(json),
		 "{\"mesh\xe2\x84\xaa"
		 "ey\":\"%s\"}",
		 mesh_hex);
	expect_ok(json, &ci);
	expect_mesh(&ci);
	snprintf(json, sizeof(json), "{\"mesh\\u212Aey\":\"%s\"}", mesh_hex);
	expect_ok(json, &ci);
	expect_mesh(&ci);
	expect_ok("{\"i\xc5\xbfprober\":true}", &ci);
	assert_true(ci.is_prober);
	/* Dotless i (U+0131) is not in I's fold class: an unknown field. */
	expect_ok("{\"\xc4\xb1sprober\":true}", &ci);
	assert_false(ci.is_prober);
	/* Escaped ASCII in a name is the same name. */
	expect_ok("{\"\\u0076ersion\":7}", &ci);
	assert_int_equal(ci.version, 7);
}

static void test_json_unknown_fields_skipped(void **state)
{
	struct derp_client_info ci;

	(void)state;
	expect_ok("{\"x\":1,\"y\":\"s\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\","
		  "\"z\":[1,{\"a\":[]},[[]],\"\"],\"w\":{\"q\":{\"r\":null}},\"t\":true,"
		  "\"f\":false,\"n\":null,\"e\":-1.5e+10,\"e2\":0.25E-3,\"e3\":0,\"e4\":-0,"
		  "\"version\":2,\"\":{},\"\xff\xfe raw bytes\":\"\xc3\x28\"}",
		  &ci);
	assert_int_equal(ci.version, 2);
	/* AppName is checked for type but not kept. */
	expect_ok("{\"AppName\":\"tailscaled\",\"appname\":null}", &ci);
	/* A lone surrogate in a string is replaced, not rejected. */
	expect_ok("{\"s\":\"\\ud800\\u0041\\udc00\"}", &ci);
}

static void test_json_duplicates_last_wins(void **state)
{
	struct derp_client_info ci;
	char json[300];
	uint8_t other[KEY_LEN];

	(void)state;
	expect_ok("{\"version\":1,\"Version\":2}", &ci);
	assert_int_equal(ci.version, 2);
	expect_ok("{\"CanAckPings\":true,\"canackpings\":false}", &ci);
	assert_false(ci.can_ack_pings);
	/* null leaves an int or bool as it was. */
	expect_ok("{\"version\":2,\"version\":null,\"IsProber\":true,\"IsProber\":null}", &ci);
	assert_int_equal(ci.version, 2);
	assert_true(ci.is_prober);

	snprintf(json, sizeof(json), "{\"meshKey\":\"%064d\",\"MeshKey\":\"%s\"}", 0, mesh_hex);
	expect_ok(json, &ci);
	expect_mesh(&ci);
	snprintf(json, sizeof(json), "{\"meshKey\":\"%s\",\"meshKey\":\"%064d\"}", mesh_hex, 7);
	expect_ok(json, &ci);
	memset(other, 0, sizeof(other));
	other[31] = 0x07;
	assert_memory_equal(ci.mesh_key, other, KEY_LEN);
}

static void test_json_version_numbers(void **state)
{
	struct derp_client_info ci;

	(void)state;
	expect_ok("{\"version\":-3}", &ci);
	assert_int_equal(ci.version, -3);
	expect_ok("{\"version\":-0}", &ci);
	assert_int_equal(ci.version, 0);
	/* Go's int is 64 bits: accepted, and clamped into a C int. */
	expect_ok("{\"version\":9223372036854775807}", &ci);
	assert_int_equal(ci.version, INT_MAX);
	expect_ok("{\"version\":-9223372036854775808}", &ci);
	assert_int_equal(ci.version, INT_MIN);
	expect_ok("{\"version\":2147483648}", &ci);
	assert_int_equal(ci.version, INT_MAX);
	expect_ok("{\"version\":-2147483648}", &ci);
	assert_int_equal(ci.version, INT_MIN);

	expect_reject("{\"version\":9223372036854775808}", "overflow");
	expect_reject("{\"version\":-9223372036854775809}", "overflow");
	expect_reject("{\"version\":99999999999999999999999}", "overflow");
	expect_reject("{\"version\":2.0}", "integer");
	expect_reject("{\"version\":2e0}", "integer");
	expect_reject("{\"version\":\"2\"}", "version");
	expect_reject("{\"version\":true}", "version");
	expect_reject("{\"version\":{}}", "version");
	expect_reject("{\"version\":[]}", "version");
}

static void test_json_mesh_key_errors(void **state)
{
	char json[300];

	(void)state;
	/* TestClientInfoUnmarshal. */
	expect_reject("{\"meshKey\":\"abcdefg\"}", "invalid mesh key");
	snprintf(json, sizeof(json), "{\"meshKey\":\"%s1234\"}", mesh_hex); /* 68 digits */
	expect_reject(json, "invalid mesh key");
	expect_reject("{\"meshKey\":\"\"}", "invalid mesh key");
	expect_reject("{\"meshKey\":null}", "invalid mesh key");

	snprintf(json, sizeof(json), "{\"meshKey\":\"%.63s\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");
	snprintf(json, sizeof(json), "{\"meshKey\":\"%s0\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");
	snprintf(json, sizeof(json), "{\"meshKey\":\"%.63sg\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");
	snprintf(json, sizeof(json), "{\"meshKey\":\"%.63s\\u0000\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");
	snprintf(json, sizeof(json), "{\"meshKey\":\" %.63s\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");
	expect_reject("{\"meshKey\":123}", "invalid mesh key");
	expect_reject("{\"meshKey\":true}", "invalid mesh key");
	expect_reject("{\"meshKey\":{}}", "invalid mesh key");
	expect_reject("{\"meshKey\":[]}", "invalid mesh key");
	/* A bad one anywhere fails, even if a good one came first. */
	snprintf(json, sizeof(json), "{\"meshKey\":\"%s\",\"meshKey\":\"x\"}", mesh_hex);
	expect_reject(json, "invalid mesh key");

	/* Escapes are decoded before the hex check: this one is valid. */
	struct derp_client_info ci;
	snprintf(json, sizeof(json), "{\"meshKey\":\"\\u0030%s\"}", mesh_hex + 1);
	expect_ok(json, &ci);
	expect_mesh(&ci);
}

static void test_json_wrong_types(void **state)
{
	(void)state;
	expect_reject("{\"CanAckPings\":1}", "CanAckPings");
	expect_reject("{\"CanAckPings\":\"true\"}", "CanAckPings");
	expect_reject("{\"IsProber\":0}", "IsProber");
	expect_reject("{\"IsProber\":[]}", "IsProber");
	expect_reject("{\"AppName\":5}", "AppName");
	expect_reject("{\"AppName\":{}}", "AppName");
	/* The top level must be an object. */
	expect_reject("[]", NULL);
	expect_reject("\"x\"", NULL);
	expect_reject("5", NULL);
	expect_reject("true", NULL);
}

static void test_json_invalid_syntax(void **state)
{
	static const char *const bad[] = {
		"",
		"   ",
		"{",
		"}",
		"{\"a\"}",
		"{\"a\":}",
		"{\"a\":1,}",
		"{,}",
		"{\"a\" 1}",
		"{'a':1}",
		"{a:1}",
		"{\"a\":01}",
		"{\"a\":1.}",
		"{\"a\":.5}",
		"{\"a\":-}",
		"{\"a\":+1}",
		"{\"a\":1e}",
		"{\"a\":1e+}",
		"{\"a\":tru}",
		"{\"a\":nul}",
		"{\"a\":True}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\t\"}",
		"{\"a\":\"\\q\"}",
		"{\"a\":\"\\u12g4\"}",
		"{\"a\":\"\\u12\"}",
		"{\"a\":\"abc",
		"{\"a\":\"abc\\",
		"{\"a\":[1,]}",
		"{\"a\":[1 2]}",
		"{\"a\":[}",
		"{\"a\":NaN}",
		"{\"a\":Infinity}",
		"{\"a\n\":1}",
		"\xef\xbb\xbf{}",
		"{}/**/",
		"{} x",
		"{}{}",
		"{}}",
		"{}\x0c",
		"nullx",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_reject(bad[i], NULL);

	/* A NUL after the object is trailing data, not an end. */
	struct derp_client_info ci;
	char err[128];
	assert_int_equal(derp_client_info_parse_json("{}\0", 3, &ci, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "trailing"));
	assert_int_equal(derp_client_info_parse_json(NULL, 0, &ci, err, sizeof(err)), -1);
}

static void test_json_nesting_limit(void **state)
{
	char json[200];
	struct derp_client_info ci;
	size_t n = 0;

	(void)state;
	/* The object is level 1; 31 arrays inside make 32: accepted. */
	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"deep\":");
	for (int i = 0; i < 31; i++)
		json[n++] = '[';
	for (int i = 0; i < 31; i++)
		json[n++] = ']';
	snprintf(json + n, sizeof(json) - n, ",\"version\":2}");
	expect_ok(json, &ci);
	assert_int_equal(ci.version, 2);

	n = 0;
	n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"deep\":");
	for (int i = 0; i < 32; i++)
		json[n++] = '[';
	for (int i = 0; i < 32; i++)
		json[n++] = ']';
	snprintf(json + n, sizeof(json) - n, "}");
	expect_reject(json, "nested too deeply");

	/* Objects count the same as arrays. */
	n = 0;
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(json + n, sizeof(json) - n, "{\"a\":");
	n += (size_t)snprintf(json + n, sizeof(json) - n, "1");
	for (int i = 0; i < 33; i++)
		json[n++] = '}';
	json[n] = '\0';
	expect_reject(json, "nested too deeply");
}

/* ---- json_object_get_string (used for the key file) ---- */

static void test_get_string(void **state)
{
	char out[16], err[128];
	size_t len;
	bool found;
	const char *j;

	(void)state;
	j = "{\"a\":1,\"privatekey\":\"v1\",\"PrivateKey\":\"v2\",\"PRIVATEKEY\":null}";
	assert_int_equal(json_object_get_string(j, strlen(j), "PrivateKey", out, sizeof(out), &len,
						&found, err, sizeof(err)),
			 0);
	assert_true(found);
	assert_string_equal(out, "v2");
	assert_int_equal(len, 2);

	j = "{\"b\":\"x\"}";
	assert_int_equal(json_object_get_string(j, strlen(j), "PrivateKey", out, sizeof(out), &len,
						&found, err, sizeof(err)),
			 0);
	assert_false(found);
	assert_int_equal(json_object_get_string("null", 4, "PrivateKey", out, sizeof(out), &len,
						&found, err, sizeof(err)),
			 0);
	assert_false(found);

	/* Fits in cap - 1, with NULs kept and counted. */
	j = "{\"k\":\"123456789012345\"}";
	assert_int_equal(json_object_get_string(j, strlen(j), "K", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 0);
	assert_int_equal(len, 15);
	j = "{\"k\":\"a\\u0000b\"}";
	assert_int_equal(json_object_get_string(j, strlen(j), "k", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "a\0b", 4);

	j = "{\"k\":\"1234567890123456\"}";
	assert_int_equal(json_object_get_string(j, strlen(j), "k", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "too long"));
	assert_false(found);
	j = "{\"k\":5}";
	assert_int_equal(json_object_get_string(j, strlen(j), "k", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 -1);
	j = "{\"k\":\"v\"";
	assert_int_equal(json_object_get_string(j, strlen(j), "k", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 -1);
	assert_false(found);
	j = "{\"k\":\"v\"} 1";
	assert_int_equal(json_object_get_string(j, strlen(j), "k", out, sizeof(out), &len, &found,
						err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "trailing"));
}

/* ---- boxes ---- */

static void test_client_info_vector_build(void **state)
{
	struct keys k;
	uint8_t want[200], frame[200], nonce[DERP_NONCE_LEN];
	size_t want_len = unhex(client_info_frame_hex, want, sizeof(want));
	const char *json = "{\"version\":2,\"CanAckPings\":true}";

	(void)state;
	load_keys(&k);
	for (int i = 0; i < DERP_NONCE_LEN; i++)
		nonce[i] = (uint8_t)i;
	assert_int_equal(want_len, 109);
	assert_int_equal(derp_build_client_info(frame, sizeof(frame), k.client_priv, k.client_pub,
						k.server_pub, json, nonce),
			 want_len);
	assert_memory_equal(frame, want, want_len);
	assert_int_equal(derp_build_client_info(frame, want_len - 1, k.client_priv, k.client_pub,
						k.server_pub, json, nonce),
			 0);
}

static void test_client_info_vector_open(void **state)
{
	struct keys k;
	struct derp_client_info ci;
	uint8_t frame[200], client_pub[KEY_LEN], type;
	uint32_t len;
	char err[128] = "";

	(void)state;
	load_keys(&k);
	unhex(client_info_frame_hex, frame, sizeof(frame));
	derp_frame_header_get(frame, &type, &len);
	assert_int_equal(type, DERP_FRAME_CLIENT_INFO);
	assert_int_equal(len, 104);
	assert_true(len >= DERP_CLIENT_INFO_MIN && len <= DERP_CLIENT_INFO_MAX);
	assert_int_equal(
	    derp_client_info_open(frame + 5, len, k.server_priv, client_pub, &ci, err, sizeof(err)),
	    0);
	assert_memory_equal(client_pub, k.client_pub, KEY_LEN);
	assert_int_equal(ci.version, 2);
	assert_true(ci.can_ack_pings);
	assert_false(ci.is_prober);
	assert_false(ci.has_mesh_key);
}

static void expect_open_fails(const uint8_t *payload, size_t len, const uint8_t *server_priv,
			      const char *want)
{
	struct derp_client_info ci;
	uint8_t client_pub[KEY_LEN];
	char err[128] = "";

	assert_int_equal(
	    derp_client_info_open(payload, len, server_priv, client_pub, &ci, err, sizeof(err)),
	    -1);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_false(ci.has_mesh_key);
}

static void test_client_info_open_failures(void **state)
{
	struct keys k;
	uint8_t frame[200];
	uint8_t *payload = frame + 5;
	const size_t len = 104;

	(void)state;
	load_keys(&k);
	unhex(client_info_frame_hex, frame, sizeof(frame));

	/* Shorter than key + nonce + tag: not even worth opening. */
	expect_open_fails(payload, 71, k.server_priv, "bad length");
	expect_open_fails(payload, 56, k.server_priv, "bad length");
	expect_open_fails(payload, 0, k.server_priv, "bad length");
	/* An empty box (just the tag) is the right size but does not open. */
	expect_open_fails(payload, 72, k.server_priv, "box open failed");
	expect_open_fails(payload, len - 1, k.server_priv, "box open failed");

	/* Any flipped bit in key, nonce, tag or ciphertext. */
	static const size_t spots[] = { 0, 31, 32, 55, 56, 71, 72, 103 };
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		payload[spots[i]] ^= 0x01;
		expect_open_fails(payload, len, k.server_priv, "box open failed");
		payload[spots[i]] ^= 0x01;
	}
	/* Wrong server key. */
	uint8_t other_priv[KEY_LEN], other_pub[KEY_LEN];
	key_generate(other_priv, other_pub);
	expect_open_fails(payload, len, other_priv, "box open failed");
}

static void test_client_info_round_trip(void **state)
{
	struct keys k;
	struct derp_client_info ci;
	uint8_t frame1[300], frame2[300], client_pub[KEY_LEN];
	char json[200], err[128];
	size_t n1, n2;

	(void)state;
	load_keys(&k);
	snprintf(json, sizeof(json), "{\"version\":2,\"meshKey\":\"%s\",\"CanAckPings\":true}",
		 mesh_hex);
	n1 = derp_build_client_info(frame1, sizeof(frame1), k.client_priv, k.client_pub,
				    k.server_pub, json, NULL);
	n2 = derp_build_client_info(frame2, sizeof(frame2), k.client_priv, k.client_pub,
				    k.server_pub, json, NULL);
	assert_int_equal(n1, 5 + 32 + 24 + 16 + strlen(json));
	assert_int_equal(n1, n2);
	/* Random nonces differ. */
	assert_memory_not_equal(frame1 + 37, frame2 + 37, DERP_NONCE_LEN);
	assert_int_equal(derp_client_info_open(frame1 + 5, n1 - 5, k.server_priv, client_pub, &ci,
					       err, sizeof(err)),
			 0);
	expect_mesh(&ci);
	assert_memory_equal(client_pub, k.client_pub, KEY_LEN);

	/* A JSON error inside a good box is reported as such. */
	n1 = derp_build_client_info(frame1, sizeof(frame1), k.client_priv, k.client_pub,
				    k.server_pub, "{\"meshKey\":\"abcdefg\"}", NULL);
	assert_true(n1 > 0);
	expect_open_fails(frame1 + 5, n1 - 5, k.server_priv, "invalid mesh key");
	n1 = derp_build_client_info(frame1, sizeof(frame1), k.client_priv, k.client_pub,
				    k.server_pub, "", NULL);
	assert_int_equal(n1, 5 + 72);
	expect_open_fails(frame1 + 5, n1 - 5, k.server_priv, "ClientInfo");
}

static void test_client_info_max_size(void **state)
{
	struct keys k;
	struct derp_client_info ci;
	const size_t max = DERP_CLIENT_INFO_MAX;
	size_t json_len = max - 72, n;
	char *json = malloc(json_len + 2);
	uint8_t *frame = malloc(max + 6), client_pub[KEY_LEN];
	char err[128];

	(void)state;
	assert_non_null(json);
	assert_non_null(frame);
	load_keys(&k);
	/* {"pad":"xxx...","version":2} padded to exactly 256 KiB of payload. */
	memset(json, 'x', json_len);
	memcpy(json, "{\"pad\":\"", 8);
	memcpy(json + json_len - 14, "\",\"version\":2}", 14);
	json[json_len] = '\0';
	n = derp_build_client_info(frame, max + 5, k.client_priv, k.client_pub, k.server_pub, json,
				   NULL);
	assert_int_equal(n, max + 5);
	assert_int_equal(
	    derp_client_info_open(frame + 5, max, k.server_priv, client_pub, &ci, err, sizeof(err)),
	    0);
	assert_int_equal(ci.version, 2);

	/* One byte more is over derper's limit. */
	json[json_len] = ' ';
	json[json_len + 1] = '\0';
	n = derp_build_client_info(frame, max + 6, k.client_priv, k.client_pub, k.server_pub, json,
				   NULL);
	assert_int_equal(n, max + 6);
	expect_open_fails(frame + 5, max + 1, k.server_priv, "bad length");
	free(json);
	free(frame);
}

static void test_server_info_vector_open(void **state)
{
	struct keys k;
	uint8_t frame[100], type;
	uint32_t len;
	char json[64];

	(void)state;
	load_keys(&k);
	unhex(server_info_frame_hex, frame, sizeof(frame));
	derp_frame_header_get(frame, &type, &len);
	assert_int_equal(type, DERP_FRAME_SERVER_INFO);
	assert_int_equal(len, 53);
	assert_int_equal(
	    derp_server_info_open(frame + 5, len, k.client_priv, k.server_pub, json, sizeof(json)),
	    0);
	assert_string_equal(json, "{\"version\":2}");
	/* Exactly room for the JSON and its NUL. */
	assert_int_equal(
	    derp_server_info_open(frame + 5, len, k.client_priv, k.server_pub, json, 14), 0);
	assert_int_equal(
	    derp_server_info_open(frame + 5, len, k.client_priv, k.server_pub, json, 13), -1);
	assert_string_equal(json, "");
}

static void test_server_info_open_failures(void **state)
{
	struct keys k;
	uint8_t frame[100];
	uint8_t *payload = frame + 5;
	char json[64];

	(void)state;
	load_keys(&k);
	unhex(server_info_frame_hex, frame, sizeof(frame));
	assert_int_equal(
	    derp_server_info_open(payload, 39, k.client_priv, k.server_pub, json, sizeof(json)),
	    -1);
	assert_int_equal(
	    derp_server_info_open(payload, 52, k.client_priv, k.server_pub, json, sizeof(json)),
	    -1);
	for (size_t i = 0; i < 53; i += 13) {
		payload[i] ^= 0x80;
		assert_int_equal(derp_server_info_open(payload, 53, k.client_priv, k.server_pub,
						       json, sizeof(json)),
				 -1);
		assert_string_equal(json, "");
		payload[i] ^= 0x80;
	}
	/* Opened with the wrong private key. (Swapping the two pairs would open it:
	 * both sides derive the same shared key.) */
	uint8_t other_priv[KEY_LEN], other_pub[KEY_LEN];
	key_generate(other_priv, other_pub);
	assert_int_equal(
	    derp_server_info_open(payload, 53, other_priv, k.server_pub, json, sizeof(json)), -1);
	assert_int_equal(
	    derp_server_info_open(payload, 53, k.server_priv, k.client_pub, json, sizeof(json)), 0);
}

static void test_server_info_build(void **state)
{
	struct keys k;
	uint8_t f1[100], f2[58], small[57], type;
	uint32_t len;
	char json[64];

	(void)state;
	load_keys(&k);
	assert_int_equal(derp_build_server_info(f1, sizeof(f1), k.server_priv, k.client_pub), 58);
	assert_int_equal(derp_build_server_info(f2, sizeof(f2), k.server_priv, k.client_pub), 58);
	assert_int_equal(derp_build_server_info(small, sizeof(small), k.server_priv, k.client_pub),
			 0);
	derp_frame_header_get(f1, &type, &len);
	assert_int_equal(type, DERP_FRAME_SERVER_INFO);
	assert_int_equal(len, 53);
	/* A fresh nonce every time. */
	assert_memory_not_equal(f1 + 5, f2 + 5, DERP_NONCE_LEN);
	assert_int_equal(
	    derp_server_info_open(f1 + 5, len, k.client_priv, k.server_pub, json, sizeof(json)), 0);
	assert_string_equal(json, "{\"version\":2}");
	assert_int_equal(
	    derp_server_info_open(f2 + 5, len, k.client_priv, k.server_pub, json, sizeof(json)), 0);
	assert_string_equal(json, "{\"version\":2}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_basic),
		cmocka_unit_test(test_json_keys_case_insensitive),
		cmocka_unit_test(test_json_unicode_folding),
		cmocka_unit_test(test_json_unknown_fields_skipped),
		cmocka_unit_test(test_json_duplicates_last_wins),
		cmocka_unit_test(test_json_version_numbers),
		cmocka_unit_test(test_json_mesh_key_errors),
		cmocka_unit_test(test_json_wrong_types),
		cmocka_unit_test(test_json_invalid_syntax),
		cmocka_unit_test(test_json_nesting_limit),
		cmocka_unit_test(test_get_string),
		cmocka_unit_test(test_client_info_vector_build),
		cmocka_unit_test(test_client_info_vector_open),
		cmocka_unit_test(test_client_info_open_failures),
		cmocka_unit_test(test_client_info_round_trip),
		cmocka_unit_test(test_client_info_max_size),
		cmocka_unit_test(test_server_info_vector_open),
		cmocka_unit_test(test_server_info_open_failures),
		cmocka_unit_test(test_server_info_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
