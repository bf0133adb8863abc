// SPDX-License-Identifier: MIT
#include "json_reader.h"

#include <stdio.h>
#include <string.h>

int json_fail(struct json_in *in, const char *why)
{
	if (!in->err)
		in->err = why;
	return -1;
}

int json_peek(const struct json_in *in)
{
	return in->pos < in->len ? (unsigned char)in->s[in->pos] : -1;
}

void json_skip_ws(struct json_in *in)
{
	while (in->pos < in->len) {
		char c = in->s[in->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		in->pos++;
	}
}

int json_expect(struct json_in *in, char c, const char *why)
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
			return json_fail(in, "bad hex digit in \\u escape");
		v = v << 4 | d;
	}
	in->pos += 4;
	*r = v;
	return 0;
}

/*
 * Decodes a \u escape (the "\u" already consumed). Surrogates are combined
 * when they pair up; a lone one becomes U+FFFD, as in Go, or is an error
 * when in->strict_surrogates.
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
		if (in->strict_surrogates)
			return json_fail(in, "unpaired surrogate in \\u escape");
		/* Not a pair: the second escape is decoded on its own. */
		in->pos = save;
	}
	if (r >= 0xd800 && r < 0xe000) {
		if (in->strict_surrogates)
			return json_fail(in, "unpaired surrogate in \\u escape");
		r = 0xfffd;
	}
	str_put_rune(out, r);
	return 0;
}

/*
 * Reads a string at in->pos into out (NULL to only validate). Raw bytes are
 * copied as they are: Go would replace invalid UTF-8 with U+FFFD, which
 * changes nothing for the ASCII names and hex values looked at here.
 */
int json_string(struct json_in *in, struct json_str *out)
{
	if (json_expect(in, '"', "expected string") < 0)
		return -1;
	for (;;) {
		int c = json_peek(in);

		if (c < 0)
			return json_fail(in, "unterminated string");
		if (c < 0x20)
			return json_fail(in, "control character in string");
		in->pos++;
		if (c == '"')
			return 0;
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
			snprintf(in->msg, sizeof(in->msg), "bad escape \\%c", c);
			return json_fail(in, in->msg);
		}
		str_put(out, &ch, 1);
	}
}

bool json_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/*
 * Validates a number (RFC 8259 grammar, as Go's scanner does) and returns its
 * text span; *is_int tells whether it has neither fraction nor exponent.
 */
int json_number(struct json_in *in, size_t *start, size_t *end, bool *is_int)
{
	*start = in->pos;
	*is_int = true;
	if (json_peek(in) == '-')
		in->pos++;
	if (json_peek(in) == '0') {
		in->pos++;
	} else if (json_is_digit(json_peek(in))) {
		while (json_is_digit(json_peek(in)))
			in->pos++;
	} else {
		return json_fail(in, "bad number");
	}
	if (json_peek(in) == '.') {
		in->pos++;
		*is_int = false;
		if (!json_is_digit(json_peek(in)))
			return json_fail(in, "bad number: digits must follow '.'");
		while (json_is_digit(json_peek(in)))
			in->pos++;
	}
	if (json_peek(in) == 'e' || json_peek(in) == 'E') {
		in->pos++;
		*is_int = false;
		if (json_peek(in) == '+' || json_peek(in) == '-')
			in->pos++;
		if (!json_is_digit(json_peek(in)))
			return json_fail(in, "bad number: digits must follow the exponent");
		while (json_is_digit(json_peek(in)))
			in->pos++;
	}
	*end = in->pos;
	return 0;
}

int json_literal(struct json_in *in, const char *word)
{
	size_t n = strlen(word);

	if (in->len - in->pos < n || memcmp(in->s + in->pos, word, n) != 0)
		return json_fail(in, "invalid literal");
	in->pos += n;
	return 0;
}

/* Consumes an opening '{' or '[', counting the nesting depth. */
int json_enter(struct json_in *in, char open)
{
	if (in->depth >= JSON_READER_MAX_DEPTH)
		return json_fail(in, "nested too deeply");
	if (json_expect(in, open, open == '{' ? "expected object" : "expected array") < 0)
		return -1;
	in->depth++;
	return 0;
}

/* Consumes the '}' or ']' that closes what json_enter opened, if it is next. */
bool json_leave(struct json_in *in, char close)
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
int json_object_next(struct json_in *in, bool *first, struct json_str *key)
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
int json_skip_value(struct json_in *in)
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
int json_finish(struct json_in *in)
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

/* Whether a decoded field name equals an already folded name. */
bool json_name_matches(const struct json_str *key, const char *folded)
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
		if (!json_name_matches(&key, folded)) {
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
