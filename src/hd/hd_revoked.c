// SPDX-License-Identifier: MIT
#include "hd_revoked.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_array.h"
#include "key.h"

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, HD_TOKEN_ID_LEN);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, HD_KEY_LEN);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int parse_token_id(const char *text, uint8_t out[HD_TOKEN_ID_LEN])
{
	if (strlen(text) != 2 * HD_TOKEN_ID_LEN)
		return -1;
	for (int i = 0; i < HD_TOKEN_ID_LEN; i++) {
		int hi = hex_digit(text[2 * i]), lo = hex_digit(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Parses one line (comment and newline cut off). Returns 0 or -1 with why set. */
static int parse_line(char *line, struct hd_revoked *r, size_t *cap_ids, size_t *cap_keys,
		      const char **why)
{
	char *save = NULL;
	char *kind = strtok_r(line, " \t", &save);
	char *value = kind ? strtok_r(NULL, " \t", &save) : NULL;

	if (!kind)
		return 0;
	if (!value || strtok_r(NULL, " \t", &save)) {
		*why = "want \"token ID\" or \"key nodekey:HEX\"";
		return -1;
	}
	if (strcmp(kind, "token") == 0) {
		uint8_t id[HD_TOKEN_ID_LEN];
		void *p;
		if (parse_token_id(value, id) < 0) {
			*why = "a token id is 16 hex digits";
			return -1;
		}
		if (r->n_ids == HD_REVOKED_MAX) {
			*why = "too many token entries";
			return -1;
		}
		p = hd_array_grow(r->ids, r->n_ids, cap_ids, HD_TOKEN_ID_LEN, 64);
		if (!p) {
			*why = "out of memory";
			return -1;
		}
		r->ids = p;
		memcpy(r->ids[r->n_ids++], id, HD_TOKEN_ID_LEN);
		return 0;
	}
	if (strcmp(kind, "key") == 0) {
		uint8_t key[HD_KEY_LEN];
		void *p;
		if (key_from_hex(value, strlen(value), "nodekey:", key) < 0) {
			*why = "a key is nodekey: and 64 hex digits";
			return -1;
		}
		if (r->n_keys == HD_REVOKED_MAX) {
			*why = "too many key entries";
			return -1;
		}
		p = hd_array_grow(r->keys, r->n_keys, cap_keys, HD_KEY_LEN, 64);
		if (!p) {
			*why = "out of memory";
			return -1;
		}
		r->keys = p;
		memcpy(r->keys[r->n_keys++], key, HD_KEY_LEN);
		return 0;
	}
	*why = "unknown entry (want token or key)";
	return -1;
}

int hd_revoked_load(const char *path, struct hd_revoked *out, char *err, size_t errlen)
{
	size_t cap_ids = 0, cap_keys = 0, lineno = 0;
	char line[256];
	FILE *f;

	memset(out, 0, sizeof(*out));
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *why = NULL;
		size_t len = strlen(line);
		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
			snprintf(err, errlen, "%s:%zu: line too long", path, lineno);
			goto fail;
		}
		line[strcspn(line, "#\r\n")] = '\0';
		if (parse_line(line, out, &cap_ids, &cap_keys, &why) < 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
			goto fail;
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		goto fail;
	}
	fclose(f);
	/* qsort's array may not be NULL, even empty (UBSan holds glibc to it). */
	if (out->n_ids)
		qsort(out->ids, out->n_ids, HD_TOKEN_ID_LEN, cmp_id);
	if (out->n_keys)
		qsort(out->keys, out->n_keys, HD_KEY_LEN, cmp_key);
	return 0;
fail:
	fclose(f);
	hd_revoked_free(out);
	return -1;
}

void hd_revoked_free(struct hd_revoked *r)
{
	free(r->ids);
	free(r->keys);
	memset(r, 0, sizeof(*r));
}

bool hd_revoked_token(const struct hd_revoked *r, const struct hd_token *t)
{
	return (r->n_ids && bsearch(t->id, r->ids, r->n_ids, HD_TOKEN_ID_LEN, cmp_id)) ||
	       (r->n_keys && bsearch(t->key, r->keys, r->n_keys, HD_KEY_LEN, cmp_key));
}
