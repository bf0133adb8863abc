// SPDX-License-Identifier: MIT
#include "json_parse.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_reader.h"

/* ---- the arena: big blocks, bump allocation, one free ---- */

struct json_arena {
	struct json_arena *next;
	size_t used;
	size_t cap;
	max_align_t data[];
};

#define ARENA_BLOCK (64 * 1024)

static void *arena_alloc(struct json_arena **head, size_t size)
{
	size = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	struct json_arena *a = *head;
	if (!a || a->cap - a->used < size) {
		size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
		a = malloc(sizeof(*a) + cap);
		if (!a)
			return NULL;
		a->cap = cap;
		a->used = 0;
		a->next = *head;
		*head = a;
	}
	void *p = (char *)a->data + a->used;
	a->used += size;
	return p;
}

void json_doc_free(struct json_doc *doc)
{
	struct json_arena *a = doc->arena;
	while (a) {
		struct json_arena *next = a->next;
		free(a);
		a = next;
	}
	doc->arena = NULL;
	doc->root = NULL;
}

/* ---- the parser ---- */

struct parser {
	const char *text;
	size_t len;
	size_t pos;
	int depth;
	struct json_arena *arena;
	char *err;
	size_t errlen;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	if (p->failed)
		return -1;
	p->failed = true;
	int n = snprintf(p->err, p->errlen, "offset %zu: ", p->pos);
	if (n >= 0 && (size_t)n < p->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static void skip_space(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->text[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static bool at_end(const struct parser *p)
{
	return p->pos >= p->len;
}

static char peek(const struct parser *p)
{
	return at_end(p) ? '\0' : p->text[p->pos];
}

static struct json_value *new_value(struct parser *p, enum json_type type)
{
	struct json_value *v = arena_alloc(&p->arena, sizeof(*v));
	if (!v) {
		fail(p, "out of memory");
		return NULL;
	}
	memset(v, 0, sizeof(*v));
	v->type = type;
	return v;
}

/*
 * Strings and numbers are read by common/json_reader.c, the one JSON reader
 * of the project: a reader positioned where this parser stands, strict
 * about lone surrogates (RFC 8259, where the handshake follows Go).
 */
static struct json_in reader_at(const struct parser *p)
{
	return (struct json_in){
		.s = p->text,
		.len = p->len,
		.pos = p->pos,
		.strict_surrogates = true,
	};
}

/* Takes over the reader's position and, when it failed, its error. */
static int reader_done(struct parser *p, const struct json_in *in, int ret)
{
	p->pos = in->pos;
	return ret < 0 ? fail(p, "%s", in->err) : 0;
}

/* Parses a string at p->pos (on the opening quote) into arena text. */
static int parse_string(struct parser *p, const char **out, size_t *out_len)
{
	/* Unescaped text is never longer than the escaped: size by the raw span. */
	size_t end = p->pos + 1;
	while (end < p->len && p->text[end] != '"') {
		if (p->text[end] == '\\')
			end++;
		end++;
	}
	if (end >= p->len) {
		p->pos++; /* the quote */
		return fail(p, "unterminated string");
	}
	size_t cap = end - (p->pos + 1);
	char *s = arena_alloc(&p->arena, cap + 1);
	if (!s)
		return fail(p, "out of memory");
	struct json_in in = reader_at(p);
	struct json_str str = { s, cap, 0 };
	if (reader_done(p, &in, json_string(&in, &str)) < 0)
		return -1;
	if (str.len > cap) /* cannot happen (see above); never write past s */
		return fail(p, "string longer than its text");
	s[str.len] = '\0';
	*out = s;
	*out_len = str.len;
	return 0;
}

static int parse_number(struct parser *p, struct json_value *v)
{
	struct json_in in = reader_at(p);
	size_t start, end;
	bool is_int;

	if (reader_done(p, &in, json_number(&in, &start, &end, &is_int)) < 0)
		return -1;
	size_t n = end - start;
	char *s = arena_alloc(&p->arena, n + 1);
	if (!s)
		return fail(p, "out of memory");
	memcpy(s, p->text + start, n);
	s[n] = '\0';
	v->str = s;
	v->str_len = n;
	v->num = strtod(s, NULL);
	return 0;
}

static int parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);
	if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0)
		return fail(p, "unexpected character '%c'", peek(p));
	p->pos += n;
	return 0;
}

static struct json_value *parse_value(struct parser *p);

/* Parses the elements or members after '[' or '{' up to the closing bracket. */
static int parse_container(struct parser *p, struct json_value *v, char close)
{
	struct json_value **tail = &v->child;

	if (++p->depth > JSON_MAX_DEPTH)
		return fail(p, "nested deeper than %d", JSON_MAX_DEPTH);
	p->pos++; /* the opening bracket */
	skip_space(p);
	if (peek(p) == close) {
		p->pos++;
		p->depth--;
		return 0;
	}
	for (;;) {
		const char *name = NULL;
		size_t name_len;
		if (close == '}') {
			skip_space(p);
			if (peek(p) != '"')
				return fail(p, "expected a member name in quotes");
			if (parse_string(p, &name, &name_len) < 0)
				return -1;
			skip_space(p);
			if (peek(p) != ':')
				return fail(p, "expected ':' after member name");
			p->pos++;
		}
		struct json_value *item = parse_value(p);
		if (!item)
			return -1;
		item->name = name;
		*tail = item;
		tail = &item->next;
		v->count++;
		skip_space(p);
		if (peek(p) == ',') {
			p->pos++;
			continue;
		}
		if (peek(p) == close) {
			p->pos++;
			p->depth--;
			return 0;
		}
		if (at_end(p))
			return fail(p, "unexpected end of input (missing '%c')", close);
		return fail(p, "expected ',' or '%c'", close);
	}
}

static struct json_value *parse_value(struct parser *p)
{
	struct json_value *v = NULL;

	skip_space(p);
	if (at_end(p)) {
		fail(p, "unexpected end of input");
		return NULL;
	}
	switch (peek(p)) {
	case '{':
		v = new_value(p, JSON_OBJECT);
		if (v && parse_container(p, v, '}') < 0)
			return NULL;
		return v;
	case '[':
		v = new_value(p, JSON_ARRAY);
		if (v && parse_container(p, v, ']') < 0)
			return NULL;
		return v;
	case '"':
		v = new_value(p, JSON_STRING);
		if (v && parse_string(p, &v->str, &v->str_len) < 0)
			return NULL;
		return v;
	case 't':
	case 'f':
		v = new_value(p, JSON_BOOL);
		if (!v)
			return NULL;
		v->boolean = peek(p) == 't';
		if (parse_literal(p, v->boolean ? "true" : "false") < 0)
			return NULL;
		return v;
	case 'n':
		v = new_value(p, JSON_NULL);
		if (v && parse_literal(p, "null") < 0)
			return NULL;
		return v;
	default:
		if (peek(p) != '-' && !(peek(p) >= '0' && peek(p) <= '9')) {
			fail(p, "unexpected character '%c'", peek(p));
			return NULL;
		}
		v = new_value(p, JSON_NUMBER);
		if (v && parse_number(p, v) < 0)
			return NULL;
		return v;
	}
}

int json_parse(const char *text, size_t len, struct json_doc *doc, char *err, size_t errlen)
{
	struct parser p = { .text = text, .len = len, .err = err, .errlen = errlen };

	doc->root = NULL;
	doc->arena = NULL;
	struct json_value *root = parse_value(&p);
	if (root) {
		skip_space(&p);
		if (!at_end(&p)) {
			fail(&p, "unexpected text after the value");
			root = NULL;
		}
	}
	doc->arena = p.arena;
	if (!root) {
		json_doc_free(doc);
		return -1;
	}
	doc->root = root;
	return 0;
}

/* ---- readers ---- */

const struct json_value *json_get(const struct json_value *v, const char *name)
{
	if (!v || v->type != JSON_OBJECT)
		return NULL;
	for (const struct json_value *m = v->child; m; m = m->next) {
		if (strcmp(m->name, name) == 0)
			return m;
	}
	return NULL;
}

const char *json_get_str(const struct json_value *v, const char *name, const char *fallback)
{
	const struct json_value *m = json_get(v, name);
	return m && m->type == JSON_STRING ? m->str : fallback;
}

uint64_t json_u64(const struct json_value *v, uint64_t fallback)
{
	if (!v || v->type != JSON_NUMBER || v->str[0] == '-')
		return fallback;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v->str, &end, 10);
	if (errno || *end != '\0')
		return fallback;
	return n;
}

uint64_t json_get_u64(const struct json_value *v, const char *name, uint64_t fallback)
{
	return json_u64(json_get(v, name), fallback);
}

bool json_get_bool(const struct json_value *v, const char *name, bool fallback)
{
	const struct json_value *m = json_get(v, name);
	return m && m->type == JSON_BOOL ? m->boolean : fallback;
}
