// SPDX-License-Identifier: MIT
#include "json_writer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jw_init(struct json_writer *w)
{
	memset(w, 0, sizeof(*w));
}

void jw_free(struct json_writer *w)
{
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

void jw_reset(struct json_writer *w)
{
	w->len = 0;
	if (w->buf)
		w->buf[0] = '\0';
	w->failed = false;
	w->depth = 0;
	w->need_comma[0] = false;
}

static bool reserve(struct json_writer *w, size_t more)
{
	if (w->failed)
		return false;
	if (w->len + more + 1 <= w->cap)
		return true;
	size_t cap = w->cap ? w->cap : 256;
	while (cap < w->len + more + 1)
		cap *= 2;
	char *buf = realloc(w->buf, cap);
	if (!buf) {
		w->failed = true;
		return false;
	}
	w->buf = buf;
	w->cap = cap;
	return true;
}

static void put(struct json_writer *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static void put_str(struct json_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_quoted(struct json_writer *w, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	put(w, "\"", 1);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[7];
		switch (*p) {
		case '"':
			put(w, "\\\"", 2);
			break;
		case '\\':
			put(w, "\\\\", 2);
			break;
		case '\n':
			put(w, "\\n", 2);
			break;
		case '\r':
			put(w, "\\r", 2);
			break;
		case '\t':
			put(w, "\\t", 2);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[*p >> 4];
				esc[5] = hex[*p & 15];
				put(w, esc, 6);
			} else {
				put(w, (const char *)p, 1);
			}
		}
	}
	put(w, "\"", 1);
}

/* The comma and "name": that go before every value. */
static void begin_value(struct json_writer *w, const char *name)
{
	if (w->need_comma[w->depth])
		put(w, ",", 1);
	w->need_comma[w->depth] = true;
	if (name) {
		put_quoted(w, name);
		put(w, ":", 1);
	}
}

static void open_container(struct json_writer *w, const char *name, char bracket)
{
	begin_value(w, name);
	if (w->depth >= JW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	put(w, &bracket, 1);
	w->depth++;
	w->need_comma[w->depth] = false;
	w->closer[w->depth] = bracket == '{' ? '}' : ']';
}

void jw_object_begin(struct json_writer *w, const char *name)
{
	open_container(w, name, '{');
}

void jw_array_begin(struct json_writer *w, const char *name)
{
	open_container(w, name, '[');
}

void jw_end(struct json_writer *w)
{
	if (w->failed)
		return;
	if (w->depth == 0) {
		w->failed = true; /* more ends than begins: a bug in the caller */
		return;
	}
	put(w, &w->closer[w->depth], 1);
	w->depth--;
}

void jw_string(struct json_writer *w, const char *name, const char *value)
{
	begin_value(w, name);
	put_quoted(w, value);
}

void jw_stringf(struct json_writer *w, const char *name, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		w->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		jw_string(w, name, small);
		return;
	}
	char *big = malloc((size_t)n + 1);
	if (!big) {
		w->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	jw_string(w, name, big);
	free(big);
}

void jw_u64(struct json_writer *w, const char *name, uint64_t value)
{
	char num[24];

	begin_value(w, name);
	snprintf(num, sizeof(num), "%" PRIu64, value);
	put_str(w, num);
}

void jw_i64(struct json_writer *w, const char *name, int64_t value)
{
	char num[24];

	begin_value(w, name);
	snprintf(num, sizeof(num), "%" PRId64, value);
	put_str(w, num);
}

void jw_double(struct json_writer *w, const char *name, double value)
{
	char num[40];

	begin_value(w, name);
	/* JSON has no NaN or infinity. */
	if (!isfinite(value)) {
		put_str(w, "null");
		return;
	}
	snprintf(num, sizeof(num), "%.6g", value);
	put_str(w, num);
}

void jw_bool(struct json_writer *w, const char *name, bool value)
{
	begin_value(w, name);
	put_str(w, value ? "true" : "false");
}

void jw_null(struct json_writer *w, const char *name)
{
	begin_value(w, name);
	put_str(w, "null");
}

void jw_raw(struct json_writer *w, const char *name, const char *json)
{
	begin_value(w, name);
	put_str(w, json);
}
