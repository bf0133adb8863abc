/* SPDX-License-Identifier: MIT */
/*
 * A small, strict, bounded JSON reader, shared by everything that reads
 * JSON: the DERP handshake (ClientInfo), the key file, and the management
 * plane's tree parser (mgmt/json_parse.c, for requests and hdcli replies).
 *
 * It reads in place, one piece at a time (strings with their escapes,
 * numbers, literals, objects and arrays), and validates what it skips, so
 * that what it accepts is what Go's encoding/json accepts. Its bounds hold
 * on untrusted input: decoded strings go into a caller's buffer of fixed
 * size (longer ones are counted, not stored), and nesting entered with
 * json_enter stops at JSON_READER_MAX_DEPTH (Go allows 10000 levels; real
 * ClientInfo has one), so recursion depth stays small.
 */
#ifndef HD_JSON_READER_H
#define HD_JSON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_READER_MAX_DEPTH 32
/* Longest field name json_name_matches compares (longer ones match nothing). */
#define JSON_NAME_MAX 64

struct json_in {
	const char *s;
	size_t len;
	size_t pos;
	unsigned depth;
	/*
	 * A \u escape of a lone UTF-16 surrogate: false decodes it as U+FFFD,
	 * as Go does; true makes it an error (the management plane's RFC 8259
	 * strictness).
	 */
	bool strict_surrogates;
	const char *err; /* text of the first error */
	char msg[32];	 /* room for an error that names a character */
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

/* Records why (the first error only) and returns -1. */
int json_fail(struct json_in *in, const char *why);
/* The byte at in->pos, or -1 at the end. */
int json_peek(const struct json_in *in);
bool json_is_digit(int c);
void json_skip_ws(struct json_in *in);
/* Consumes c, or fails with why. */
int json_expect(struct json_in *in, char c, const char *why);
/* Reads a string at in->pos (on its quote) into out (NULL to only validate). */
int json_string(struct json_in *in, struct json_str *out);
/* Validates a number and returns its text span; *is_int: no fraction, no exponent. */
int json_number(struct json_in *in, size_t *start, size_t *end, bool *is_int);
int json_literal(struct json_in *in, const char *word);
/* Consumes '{' or '[', counting the depth against JSON_READER_MAX_DEPTH. */
int json_enter(struct json_in *in, char open);
/* Consumes the '}' or ']' that closes what json_enter opened, if it is next. */
bool json_leave(struct json_in *in, char close);
/*
 * Steps to the next member of an object entered with json_enter. Returns 1
 * with the decoded name in key (NULL to ignore it) and in->pos at the value,
 * 0 when the closing '}' has been consumed, or -1.
 */
int json_object_next(struct json_in *in, bool *first, struct json_str *key);
/* Validates and skips one value of any type at in->pos. */
int json_skip_value(struct json_in *in);
/* After the top-level value only white space may follow. */
int json_finish(struct json_in *in);
/*
 * Whether a decoded field name equals a name folded the way Go's
 * encoding/json matches field names (upper case, as in "MESHKEY").
 */
bool json_name_matches(const struct json_str *key, const char *folded);

/*
 * Returns in out the string value of field `name` of a top-level JSON
 * object (the key file's "PrivateKey"), matching field names the way Go's
 * encoding/json does (case-insensitively, with Go's Unicode case folding).
 * The whole text must be valid JSON with at most 32 levels of nesting and
 * nothing but white space after the value. The last duplicate wins; a null
 * value is ignored, as Go does; any other non-string value is an error. A
 * top-level null is accepted as "no fields". On success *found tells
 * whether a string was seen; if so out holds it NUL-terminated and *out_len
 * is its length (a string longer than cap - 1 bytes is an error; it may
 * contain NULs from \u0000 escapes). Returns 0, or -1 with a short reason
 * in err.
 */
int json_object_get_string(const char *json, size_t len, const char *name, char *out, size_t cap,
			   size_t *out_len, bool *found, char *err, size_t errlen);

#endif
