/* SPDX-License-Identifier: MIT */
/*
 * A small JSON writer into a growing buffer. Commas and nesting are tracked
 * for the caller, so a handler writes fields and never punctuation:
 *
 *	jw_object_begin(w, NULL);
 *	jw_string(w, "key", "nodekey:...");
 *	jw_array_begin(w, "drops");
 *	jw_u64(w, NULL, 3);
 *	jw_end(w);
 *	jw_end(w);
 *
 * Names are given inside objects and NULL inside arrays. Strings are escaped
 * as RFC 8259 requires. Allocation failure is remembered (w->failed) and
 * every later call is a no-op, so callers check once, at the end.
 */
#ifndef HD_JSON_WRITER_H
#define HD_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 16

struct json_writer {
	char *buf; /* NUL-terminated text written so far (malloc'd) */
	size_t len;
	size_t cap;
	bool failed; /* out of memory or nesting too deep: the text is incomplete */
	int depth;
	bool need_comma[JW_MAX_DEPTH + 1]; /* [depth]: a value was written at this level */
	char closer[JW_MAX_DEPTH + 1];	   /* [depth]: '}' or ']' */
};

void jw_init(struct json_writer *w);
void jw_free(struct json_writer *w);
/* Empties the text but keeps the buffer, for writing the next message. */
void jw_reset(struct json_writer *w);

void jw_object_begin(struct json_writer *w, const char *name);
void jw_array_begin(struct json_writer *w, const char *name);
void jw_end(struct json_writer *w); /* closes the innermost object or array */

void jw_string(struct json_writer *w, const char *name, const char *value);
void jw_stringf(struct json_writer *w, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void jw_u64(struct json_writer *w, const char *name, uint64_t value);
void jw_i64(struct json_writer *w, const char *name, int64_t value);
void jw_double(struct json_writer *w, const char *name, double value);
void jw_bool(struct json_writer *w, const char *name, bool value);
void jw_null(struct json_writer *w, const char *name);
/* Inserts already-valid JSON text as a value (no checking). */
void jw_raw(struct json_writer *w, const char *name, const char *json);

#endif
