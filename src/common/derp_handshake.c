// SPDX-License-Identifier: MIT
#include "derp_handshake.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "derp_frame.h"
#include "json_reader.h"

enum client_info_field {
	CI_UNKNOWN,
	CI_VERSION,
	CI_MESH_KEY,
	CI_CAN_ACK_PINGS,
	CI_IS_PROBER,
	CI_APP_NAME,
};

/* The fields of Go's derp.ClientInfo, names already folded. */
static const struct {
	const char *folded;
	enum client_info_field field;
} client_info_fields[] = {
	{ "VERSION", CI_VERSION },	     /* int */
	{ "MESHKEY", CI_MESH_KEY },	     /* key.DERPMesh (64 hex digits) */
	{ "CANACKPINGS", CI_CAN_ACK_PINGS }, /* bool */
	{ "ISPROBER", CI_IS_PROBER },	     /* bool */
	{ "APPNAME", CI_APP_NAME },	     /* string */
};

static enum client_info_field client_info_field_of(const struct json_str *key)
{
	for (size_t i = 0; i < sizeof(client_info_fields) / sizeof(client_info_fields[0]); i++) {
		if (json_name_matches(key, client_info_fields[i].folded))
			return client_info_fields[i].field;
	}
	return CI_UNKNOWN;
}

/*
 * Go's int field: a number without fraction or exponent that fits in int64
 * (Go's int). Values outside C int are clamped: the server ignores the
 * version, and rejecting what Go accepts would be worse.
 */
static int parse_version(struct json_in *in, int *version)
{
	size_t start, end;
	bool is_int, neg = false;
	uint64_t v = 0;

	if (json_peek(in) == 'n')
		return json_literal(in, "null"); /* null leaves an int alone */
	if (json_peek(in) != '-' && !json_is_digit(json_peek(in)))
		return json_fail(in, "version is not a number");
	if (json_number(in, &start, &end, &is_int) < 0)
		return -1;
	if (!is_int)
		return json_fail(in, "version is not an integer");
	if (in->s[start] == '-') {
		neg = true;
		start++;
	}
	for (size_t i = start; i < end; i++) {
		uint64_t d = (uint64_t)(in->s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return json_fail(in, "version overflows int64");
		v = v * 10 + d;
	}
	if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return json_fail(in, "version overflows int64");
	if (neg && v == 0)
		*version = 0;
	else if (neg)
		*version = v > (uint64_t)INT_MAX + 1 ? INT_MIN : -(int)(v - 1) - 1;
	else
		*version = v > INT_MAX ? INT_MAX : (int)v;
	return 0;
}

static int parse_bool(struct json_in *in, bool *value, const char *what)
{
	switch (json_peek(in)) {
	case 't':
		*value = true;
		return json_literal(in, "true");
	case 'f':
		*value = false;
		return json_literal(in, "false");
	case 'n':
		return json_literal(in, "null"); /* null leaves a bool alone */
	default:
		return json_fail(in, what);
	}
}

/* AppName is not kept, but its type is still checked, as Go does. */
static int parse_app_name(struct json_in *in)
{
	if (json_peek(in) == 'n')
		return json_literal(in, "null");
	if (json_peek(in) != '"')
		return json_fail(in, "AppName is not a string");
	return json_string(in, NULL);
}

/*
 * key.DERPMesh.UnmarshalJSON: any value that is not a string of exactly 64
 * hex digits (either case) is an error, null and "" included.
 */
static int parse_mesh_key(struct json_in *in, struct derp_client_info *out)
{
	char hex[KEY_HEX_LEN];
	struct json_str s = { hex, sizeof(hex), 0 };
	int ret = -1;

	if (json_peek(in) != '"')
		return json_fail(in, "invalid mesh key");
	if (json_string(in, &s) < 0)
		goto out;
	if (s.len != KEY_HEX_LEN || key_from_hex(hex, KEY_HEX_LEN, NULL, out->mesh_key) < 0) {
		json_fail(in, "invalid mesh key");
		goto out;
	}
	out->has_mesh_key = true;
	ret = 0;
out:
	sodium_memzero(hex, sizeof(hex));
	return ret;
}

static int parse_client_info(struct json_in *in, struct derp_client_info *out)
{
	char keybuf[JSON_NAME_MAX];
	struct json_str key = { keybuf, sizeof(keybuf), 0 };
	bool first = true;
	int r;

	json_skip_ws(in);
	if (json_peek(in) == 'n') {
		/* Go accepts a top-level null and leaves ClientInfo zero. */
		if (json_literal(in, "null") < 0)
			return -1;
		return json_finish(in);
	}
	if (json_peek(in) != '{')
		return json_fail(in, "ClientInfo is not a JSON object");
	if (json_enter(in, '{') < 0)
		return -1;
	while ((r = json_object_next(in, &first, &key)) == 1) {
		switch (client_info_field_of(&key)) {
		case CI_VERSION:
			r = parse_version(in, &out->version);
			break;
		case CI_MESH_KEY:
			r = parse_mesh_key(in, out);
			break;
		case CI_CAN_ACK_PINGS:
			r = parse_bool(in, &out->can_ack_pings, "CanAckPings is not a bool");
			break;
		case CI_IS_PROBER:
			r = parse_bool(in, &out->is_prober, "IsProber is not a bool");
			break;
		case CI_APP_NAME:
			r = parse_app_name(in);
			break;
		case CI_UNKNOWN:
			r = json_skip_value(in);
			break;
		}
		if (r < 0)
			return -1;
	}
	if (r < 0)
		return -1;
	return json_finish(in);
}

int derp_client_info_parse_json(const char *json, size_t len, struct derp_client_info *out,
				char *err, size_t errlen)
{
	struct json_in in = { .s = json, .len = json ? len : 0 };

	memset(out, 0, sizeof(*out));
	if (parse_client_info(&in, out) < 0) {
		snprintf(err, errlen, "ClientInfo: %s at offset %zu", in.err, in.pos);
		sodium_memzero(out, sizeof(*out));
		return -1;
	}
	return 0;
}

/* ClientInfo payload: client key, nonce, then the box (tag first). */
#define CLIENT_INFO_BOX_OFF (KEY_LEN + DERP_NONCE_LEN)

int derp_client_info_open(const uint8_t *payload, size_t len, const uint8_t server_priv[KEY_LEN],
			  uint8_t client_pub[KEY_LEN], struct derp_client_info *out, char *err,
			  size_t errlen)
{
	const uint8_t *nonce, *box;
	size_t box_len, json_len;
	char *json;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (len < CLIENT_INFO_BOX_OFF + crypto_box_MACBYTES || len > DERP_CLIENT_INFO_MAX) {
		snprintf(err, errlen, "bad length %zu", len);
		return -1;
	}
	/* Written before the box is opened so that a failure can be logged with it. */
	memcpy(client_pub, payload, KEY_LEN);
	nonce = payload + KEY_LEN;
	box = payload + CLIENT_INFO_BOX_OFF;
	box_len = len - CLIENT_INFO_BOX_OFF;
	json_len = box_len - crypto_box_MACBYTES;
	/* Up to 256 KiB: too big for a worker's stack, so from the heap. */
	json = malloc(json_len + 1);
	if (!json) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (crypto_box_open_easy((unsigned char *)json, box, box_len, nonce, client_pub,
				 server_priv) != 0) {
		snprintf(err, errlen, "box open failed");
		goto out;
	}
	ret = derp_client_info_parse_json(json, json_len, out, err, errlen);
out:
	/* The JSON may carry the mesh key. */
	sodium_memzero(json, json_len + 1);
	free(json);
	return ret;
}

/* Seals plaintext into dst: nonce, then tag and ciphertext. */
static int seal(uint8_t *dst, const void *plain, size_t plain_len, const uint8_t *nonce,
		const uint8_t to_pub[KEY_LEN], const uint8_t from_priv[KEY_LEN])
{
	memcpy(dst, nonce, DERP_NONCE_LEN);
	return crypto_box_easy(dst + DERP_NONCE_LEN, plain, plain_len, nonce, to_pub, from_priv);
}

size_t derp_build_server_info(uint8_t *dst, size_t cap, const uint8_t server_priv[KEY_LEN],
			      const uint8_t client_pub[KEY_LEN])
{
	static const char json[] = "{\"version\":2}";
	const size_t json_len = sizeof(json) - 1;
	const size_t plen = DERP_NONCE_LEN + crypto_box_MACBYTES + json_len;
	uint8_t nonce[DERP_NONCE_LEN];

	if (cap < DERP_FRAME_HDR_LEN + plen)
		return 0;
	if (sodium_init() < 0)
		return 0;
	/* A fresh random nonce per box: reusing one with the same keys leaks plaintext. */
	randombytes_buf(nonce, sizeof(nonce));
	derp_frame_header_put(dst, DERP_FRAME_SERVER_INFO, (uint32_t)plen);
	/* Fails only for a low-order client key, which no honest client has. */
	if (seal(dst + DERP_FRAME_HDR_LEN, json, json_len, nonce, client_pub, server_priv) != 0)
		return 0;
	return DERP_FRAME_HDR_LEN + plen;
}

size_t derp_build_client_info(uint8_t *dst, size_t cap, const uint8_t client_priv[KEY_LEN],
			      const uint8_t client_pub[KEY_LEN], const uint8_t server_pub[KEY_LEN],
			      const char *json, const uint8_t *nonce)
{
	size_t json_len = strlen(json);
	size_t plen = CLIENT_INFO_BOX_OFF + crypto_box_MACBYTES + json_len;
	uint8_t random_nonce[DERP_NONCE_LEN];

	if (json_len > DERP_CLIENT_INFO_MAX || cap < DERP_FRAME_HDR_LEN + plen)
		return 0;
	if (!nonce) {
		if (sodium_init() < 0)
			return 0;
		randombytes_buf(random_nonce, sizeof(random_nonce));
		nonce = random_nonce;
	}
	derp_frame_header_put(dst, DERP_FRAME_CLIENT_INFO, (uint32_t)plen);
	memcpy(dst + DERP_FRAME_HDR_LEN, client_pub, KEY_LEN);
	if (seal(dst + DERP_FRAME_HDR_LEN + KEY_LEN, json, json_len, nonce, server_pub,
		 client_priv) != 0)
		return 0;
	return DERP_FRAME_HDR_LEN + plen;
}

/* The Go client's bound on the ServerInfo JSON (maxInfoLen). */
#define SERVER_INFO_MAX_JSON (1024 * 1024)

int derp_server_info_open(const uint8_t *payload, size_t len, const uint8_t client_priv[KEY_LEN],
			  const uint8_t server_pub[KEY_LEN], char *json, size_t json_cap)
{
	size_t box_len, json_len;

	if (json_cap > 0)
		json[0] = '\0';
	if (len < DERP_NONCE_LEN + crypto_box_MACBYTES ||
	    len > DERP_NONCE_LEN + SERVER_INFO_MAX_JSON)
		return -1;
	box_len = len - DERP_NONCE_LEN;
	json_len = box_len - crypto_box_MACBYTES;
	if (json_cap < json_len + 1)
		return -1;
	if (crypto_box_open_easy((unsigned char *)json, payload + DERP_NONCE_LEN, box_len, payload,
				 server_pub, client_priv) != 0)
		return -1;
	json[json_len] = '\0';
	return 0;
}
