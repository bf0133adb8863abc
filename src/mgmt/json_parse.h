/* SPDX-License-Identifier: MIT */
/*
 * A small, strict JSON parser (RFC 8259) into a tree, for management
 * requests on the server and replies in hdcli. Everything a document holds
 * lives in one arena, freed at once by json_doc_free. Numbers keep their
 * text as well, because counters go beyond what a double holds exactly.
 */
#ifndef HD_JSON_PARSE_H
#define HD_JSON_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

enum json_type {
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value {
	enum json_type type;
	const char *name;	  /* member name inside an object, else NULL */
	const char *str;	  /* JSON_STRING: the unescaped text; JSON_NUMBER: as written */
	size_t str_len;		  /* strings may hold NUL (\u0000), so the length counts */
	double num;		  /* JSON_NUMBER */
	bool boolean;		  /* JSON_BOOL */
	struct json_value *child; /* first element or member */
	struct json_value *next;  /* next sibling */
	size_t count;		  /* elements or members */
};

struct json_arena;

struct json_doc {
	struct json_value *root;
	struct json_arena *arena;
};

/*
 * Parses text[0..len) as one JSON value, optionally surrounded by
 * whitespace. Returns 0, or -1 with "offset N: reason" in err (the doc then
 * holds nothing to free, but json_doc_free on it is harmless).
 */
int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen);
void json_doc_free(struct json_doc *doc);

/* The member called name of an object, or NULL (also when v is no object). */
const struct json_value *json_get(const struct json_value *v, const char *name);
/* Convenience readers: a fallback when the member is absent or of another type. */
const char *json_get_str(const struct json_value *v, const char *name, const char *fallback);
uint64_t json_get_u64(const struct json_value *v, const char *name, uint64_t fallback);
bool json_get_bool(const struct json_value *v, const char *name, bool fallback);
/* A number value as an unsigned integer; fallback for negatives, fractions, others. */
uint64_t json_u64(const struct json_value *v, uint64_t fallback);

#endif
