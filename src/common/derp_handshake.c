// SPDX-License-Identifier: MIT
#include "derp_handshake.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "derp_frame.h"

/*
 * A small, strict JSON reader. It decodes only what the handshake and the key
 * file need and validates everything else, so that what it accepts is what
 * Go's encoding/json accepts. Nesting is bounded (Go allows 10000 levels;
 * real ClientInfo has one) so that recursion depth stays small.
 */
#define JSON_MAX_DEPTH 32

struct json_in {
	const char *s;
	size_t len;
	size_t pos;
	unsigned depth;
	const char *err; /* static text of the first error */
};

/*
 * Where a decoded string goes: the first cap bytes are stored, len counts
 * them all, so a caller can tell a long string from one that fit.
 */
struct json_str {
	char *buf;
	size_t cap;
	size_t len;
};

static int json_fail(struct json_in *in, const char *why)
{
	if (!in->err)
		in->err = why;
	return -1;
}

static int json_peek(const struct json_in *in)
{
	return in->pos < in->len ? (unsigned char)in->s[in->pos] : -1;
}

static void json_skip_ws(struct json_in *in)
{
	while (in->pos < in->len) {
		char c = in->s[in->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		in->pos++;
	}
}

static int json_expect(struct json_in *in, char c, const char *why)
{
	if (json_peek(in) != (unsigned char)c)
		return json_fail(in, why);
	in->pos++;
	return 0;
}

static void str_put(struct json_str *out, const void *bytes, size_t n)
{
	if (!out)
		return;
	for (size_t i = 0; i < n; i++) {
		if (out->len + i < out->cap)
			out->buf[out->len + i] = ((const char *)bytes)[i];
	}
	out->len += n;
}

static void str_put_rune(struct json_str *out, uint32_t r)
{
	uint8_t b[4];
	size_t n;

	if (r < 0x80) {
		b[0] = (uint8_t)r;
		n = 1;
	} else if (r < 0x800) {
		b[0] = (uint8_t)(0xc0 | r >> 6);
		b[1] = (uint8_t)(0x80 | (r & 0x3f));
		n = 2;
	} else if (r < 0x10000) {
		b[0] = (uint8_t)(0xe0 | r >> 12);
		b[1] = (uint8_t)(0x80 | (r >> 6 & 0x3f));
		b[2] = (uint8_t)(0x80 | (r & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | r >> 18);
		b[1] = (uint8_t)(0x80 | (r >> 12 & 0x3f));
		b[2] = (uint8_t)(0x80 | (r >> 6 & 0x3f));
		b[3] = (uint8_t)(0x80 | (r & 0x3f));
		n = 4;
	}
	str_put(out, b, n);
}

/* Reads the 4 hex digits of a \u escape at in->pos. */
static int json_hex4(struct json_in *in, uint32_t *r)
{
	uint32_t v = 0;

	if (in->len - in->pos < 4)
		return json_fail(in, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		char c = in->s[in->pos + i];
		uint32_t d;

		if (c >= '0' && c <= '9')
			d = (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			d = (uint32_t)(c - 'A' + 10);
		else
			return json_fail(in, "bad \\u escape");
		v = v << 4 | d;
	}
	in->pos += 4;
	*r = v;
	return 0;
}

/*
 * Decodes a \u escape (the "\u" already consumed). Surrogates are combined
 * when they pair up; a lone one becomes U+FFFD, as in Go.
 */
static int json_unicode_escape(struct json_in *in, struct json_str *out)
{
	uint32_t r, lo;

	if (json_hex4(in, &r) < 0)
		return -1;
	if (r >= 0xd800 && r < 0xdc00 && in->len - in->pos >= 6 && in->s[in->pos] == '\\' &&
	    in->s[in->pos + 1] == 'u') {
		size_t save = in->pos;

		in->pos += 2;
		if (json_hex4(in, &lo) < 0)
			return -1;
		if (lo >= 0xdc00 && lo < 0xe000) {
			str_put_rune(out, 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00));
			return 0;
		}
		/* Not a pair: the second escape is decoded on its own. */
		in->pos = save;
	}
	if (r >= 0xd800 && r < 0xe000)
		r = 0xfffd;
	str_put_rune(out, r);
	return 0;
}

/*
 * Reads a string at in->pos into out (NULL to only validate). Raw bytes are
 * copied as they are: Go would replace invalid UTF-8 with U+FFFD, which
 * changes nothing for the ASCII names and hex values looked at here.
 */
static int json_string(struct json_in *in, struct json_str *out)
{
	if (json_expect(in, '"', "expected string") < 0)
		return -1;
	for (;;) {
		int c = json_peek(in);

		if (c < 0)
			return json_fail(in, "unterminated string");
		in->pos++;
		if (c == '"')
			return 0;
		if (c < 0x20)
			return json_fail(in, "control character in string");
		if (c != '\\') {
			char ch = (char)c;

			str_put(out, &ch, 1);
			continue;
		}
		c = json_peek(in);
		if (c < 0)
			return json_fail(in, "unterminated string");
		in->pos++;
		char ch;

		switch (c) {
		case '"':
		case '\\':
		case '/':
			ch = (char)c;
			break;
		case 'b':
			ch = '\b';
			break;
		case 'f':
			ch = '\f';
			break;
		case 'n':
			ch = '\n';
			break;
		case 'r':
			ch = '\r';
			break;
		case 't':
			ch = '\t';
			break;
		case 'u':
			if (json_unicode_escape(in, out) < 0)
				return -1;
			continue;
		default:
			in->pos--;
			return json_fail(in, "bad escape in string");
		}
		str_put(out, &ch, 1);
	}
}

static bool is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Validates a number (RFC 8259 grammar, as Go's scanner does) and returns its
 * text span; *is_int tells whether it has neither fraction nor exponent.
 */
static int json_number(struct json_in *in, size_t *start, size_t *end, bool *is_int)
{
	*start = in->pos;
	*is_int = true;
	if (json_peek(in) == '-')
		in->pos++;
	if (json_peek(in) == '0') {
		in->pos++;
	} else if (is_digit(json_peek(in))) {
		while (is_digit(json_peek(in)))
			in->pos++;
	} else {
		return json_fail(in, "bad number");
	}
	if (json_peek(in) == '.') {
		in->pos++;
		*is_int = false;
		if (!is_digit(json_peek(in)))
			return json_fail(in, "bad number");
		while (is_digit(json_peek(in)))
			in->pos++;
	}
	if (json_peek(in) == 'e' || json_peek(in) == 'E') {
		in->pos++;
		*is_int = false;
		if (json_peek(in) == '+' || json_peek(in) == '-')
			in->pos++;
		if (!is_digit(json_peek(in)))
			return json_fail(in, "bad number");
		while (is_digit(json_peek(in)))
			in->pos++;
	}
	*end = in->pos;
	return 0;
}

static int json_literal(struct json_in *in, const char *word)
{
	size_t n = strlen(word);

	if (in->len - in->pos < n || memcmp(in->s + in->pos, word, n) != 0)
		return json_fail(in, "invalid literal");
	in->pos += n;
	return 0;
}

/* Consumes an opening '{' or '[', counting the nesting depth. */
static int json_enter(struct json_in *in, char open)
{
	if (in->depth >= JSON_MAX_DEPTH)
		return json_fail(in, "nested too deeply");
	if (json_expect(in, open, open == '{' ? "expected object" : "expected array") < 0)
		return -1;
	in->depth++;
	return 0;
}

/* Consumes the '}' or ']' that closes what json_enter opened, if it is next. */
static bool json_leave(struct json_in *in, char close)
{
	if (json_peek(in) != close)
		return false;
	in->pos++;
	in->depth--;
	return true;
}

/*
 * Steps to the next member of an object entered with json_enter. Returns 1
 * with the decoded name in key (NULL to ignore it) and in->pos at the value,
 * 0 when the closing '}' has been consumed, or -1.
 */
static int json_object_next(struct json_in *in, bool *first, struct json_str *key)
{
	json_skip_ws(in);
	/* '}' may close an empty object or follow a value, never a ','. */
	if (json_leave(in, '}'))
		return 0;
	if (!*first) {
		if (json_expect(in, ',', "expected ',' or '}' in object") < 0)
			return -1;
		json_skip_ws(in);
	}
	*first = false;
	if (json_peek(in) != '"')
		return json_fail(in, "expected field name");
	if (key)
		key->len = 0;
	if (json_string(in, key) < 0)
		return -1;
	json_skip_ws(in);
	if (json_expect(in, ':', "expected ':' after field name") < 0)
		return -1;
	json_skip_ws(in);
	return 1;
}

static int json_skip_value(struct json_in *in);

static int json_skip_object(struct json_in *in)
{
	bool first = true;
	int r;

	if (json_enter(in, '{') < 0)
		return -1;
	while ((r = json_object_next(in, &first, NULL)) == 1) {
		if (json_skip_value(in) < 0)
			return -1;
	}
	return r;
}

static int json_skip_array(struct json_in *in)
{
	if (json_enter(in, '[') < 0)
		return -1;
	json_skip_ws(in);
	if (json_leave(in, ']'))
		return 0;
	for (;;) {
		json_skip_ws(in);
		if (json_skip_value(in) < 0)
			return -1;
		json_skip_ws(in);
		if (json_leave(in, ']'))
			return 0;
		if (json_expect(in, ',', "expected ',' or ']' in array") < 0)
			return -1;
	}
}

/* Validates and skips one value of any type at in->pos. */
static int json_skip_value(struct json_in *in)
{
	size_t start, end;
	bool is_int;

	switch (json_peek(in)) {
	case '{':
		return json_skip_object(in);
	case '[':
		return json_skip_array(in);
	case '"':
		return json_string(in, NULL);
	case 't':
		return json_literal(in, "true");
	case 'f':
		return json_literal(in, "false");
	case 'n':
		return json_literal(in, "null");
	case '-':
	case '0' ... '9':
		return json_number(in, &start, &end, &is_int);
	case -1:
		return json_fail(in, "unexpected end of JSON");
	default:
		return json_fail(in, "invalid character");
	}
}

/* After the top-level value only white space may follow. */
static int json_finish(struct json_in *in)
{
	json_skip_ws(in);
	if (in->pos != in->len)
		return json_fail(in, "trailing data after JSON value");
	return 0;
}

/*
 * Go's encoding/json folding of field names (fold.go): each rune becomes the
 * smallest rune of its case-folding orbit. For the ASCII names we look for
 * that means upper-casing a-z, plus the two non-ASCII runes whose orbit holds
 * an ASCII letter: U+212A KELVIN SIGN (K) and U+017F LATIN SMALL LETTER LONG
 * S (S). Any other non-ASCII byte becomes 0x80, which matches no name.
 * Returns the folded length, or 0 if it does not fit in cap.
 */
static size_t fold_name(const char *in, size_t n, char *out, size_t cap)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t w = 0;

	for (size_t i = 0; i < n; w++) {
		if (w >= cap)
			return 0;
		if (s[i] < 0x80) {
			out[w] = (char)(s[i] >= 'a' && s[i] <= 'z' ? s[i] - 'a' + 'A' : s[i]);
			i++;
		} else if (n - i >= 3 && s[i] == 0xe2 && s[i + 1] == 0x84 && s[i + 2] == 0xaa) {
			out[w] = 'K';
			i += 3;
		} else if (n - i >= 2 && s[i] == 0xc5 && s[i + 1] == 0xbf) {
			out[w] = 'S';
			i += 2;
		} else {
			out[w] = (char)0x80;
			i++;
		}
	}
	return w;
}

#define JSON_NAME_MAX 64

/* Whether a decoded field name equals an already folded name. */
static bool name_matches(const struct json_str *key, const char *folded)
{
	char buf[JSON_NAME_MAX];
	size_t n;

	if (key->len > key->cap)
		return false; /* longer than any name we know */
	n = fold_name(key->buf, key->len, buf, sizeof(buf));
	return n == strlen(folded) && memcmp(buf, folded, n) == 0;
}

int json_object_get_string(const char *json, size_t len, const char *name, char *out, size_t cap,
			   size_t *out_len, bool *found, char *err, size_t errlen)
{
	struct json_in in = { .s = json, .len = json ? len : 0 };
	char folded[JSON_NAME_MAX + 1];
	char keybuf[JSON_NAME_MAX];
	struct json_str key = { keybuf, sizeof(keybuf), 0 };
	size_t flen = fold_name(name, strlen(name), folded, JSON_NAME_MAX);
	bool first = true;
	int r;

	*found = false;
	*out_len = 0;
	if (flen == 0 || cap == 0) {
		snprintf(err, errlen, "bad field name or buffer");
		return -1;
	}
	folded[flen] = '\0';

	json_skip_ws(&in);
	if (json_peek(&in) == 'n') {
		/* Go leaves the target untouched for a top-level null. */
		if (json_literal(&in, "null") < 0)
			goto fail;
		goto finish;
	}
	if (json_peek(&in) != '{') {
		json_fail(&in, "not a JSON object");
		goto fail;
	}
	if (json_enter(&in, '{') < 0)
		goto fail;
	while ((r = json_object_next(&in, &first, &key)) == 1) {
		if (!name_matches(&key, folded)) {
			if (json_skip_value(&in) < 0)
				goto fail;
			continue;
		}
		if (json_peek(&in) == 'n') {
			if (json_literal(&in, "null") < 0)
				goto fail;
			continue;
		}
		if (json_peek(&in) != '"') {
			json_fail(&in, "field is not a string");
			goto fail;
		}
		struct json_str val = { out, cap - 1, 0 };

		if (json_string(&in, &val) < 0)
			goto fail;
		if (val.len > val.cap) {
			json_fail(&in, "string value too long");
			goto fail;
		}
		out[val.len] = '\0';
		*out_len = val.len;
		*found = true;
	}
	if (r < 0)
		goto fail;
finish:
	if (json_finish(&in) < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "invalid JSON: %s at offset %zu", in.err, in.pos);
	*found = false;
	*out_len = 0;
	return -1;
}

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
		if (name_matches(key, client_info_fields[i].folded))
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
	if (json_peek(in) != '-' && !is_digit(json_peek(in)))
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
