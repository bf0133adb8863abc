// SPDX-License-Identifier: MIT
/*
 * Every numeric key at the edges of its range, through the real file loader:
 * min-1 and max+1 refused with FILE:LINE and the key, min and max accepted
 * and shown back as given.
 *
 * The keys are not listed here. They come from the configuration itself
 * (config_format names every key; a key whose bad value is refused as "not an
 * integer in MIN..MAX" is numeric, with that range), so a key added later is
 * covered without touching this file. The range the table enforces must
 * also be the one the shipped conf/hyper-derp.ini documents ("Range
 * MIN..MAX." in the comment above the key): that is what catches a bound
 * changed in the table alone (limits.buffer_pool_mb accepting 0, say), and
 * what keeps the operator's documentation honest.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define MAX_KEYS 256

struct numeric_key {
	char section[24];
	char name[64];
	uint32_t min;
	uint32_t max;
};

/* Every "section.key" of the configuration, in table order, from config_format(). */
static size_t all_keys(char names[][96], size_t cap)
{
	struct hd_config cfg;
	config_defaults(&cfg);
	size_t len = config_format(&cfg, NULL, 0);
	char *text = malloc(len + 1);
	assert_non_null(text);
	config_format(&cfg, text, len + 1);

	size_t n = 0;
	char section[32] = "";
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		size_t l = strlen(line);
		char *eq = strstr(line, " =");
		if (line[0] == '[' && line[l - 1] == ']') {
			snprintf(section, sizeof(section), "%.*s", (int)(l - 2), line + 1);
		} else if (eq) {
			assert_true(n < cap);
			snprintf(names[n++], 96, "%s.%.*s", section, (int)(eq - line), line);
		}
	}
	free(text);
	return n;
}

/* Whether name is numeric, and its range, as config_set states it for a bad value. */
static bool numeric_range(const char *name, uint32_t *min, uint32_t *max)
{
	static const char marker[] = "is not an integer in ";
	struct hd_config cfg;
	char err[512];

	config_defaults(&cfg);
	if (config_set(&cfg, name, "not-a-number", err, sizeof(err)) == 0)
		return false; /* free text takes anything */
	const char *p = strstr(err, marker);
	return p && sscanf(p + strlen(marker), "%u..%u", min, max) == 2;
}

static size_t numeric_keys(struct numeric_key *out, size_t cap)
{
	static char names[MAX_KEYS][96];
	size_t nkeys = all_keys(names, MAX_KEYS);
	size_t n = 0;

	for (size_t i = 0; i < nkeys; i++) {
		uint32_t min, max;
		if (!numeric_range(names[i], &min, &max))
			continue;
		assert_true(n < cap);
		const char *dot = strchr(names[i], '.');
		snprintf(out[n].section, sizeof(out[n].section), "%.*s", (int)(dot - names[i]),
			 names[i]);
		snprintf(out[n].name, sizeof(out[n].name), "%s", dot + 1);
		out[n].min = min;
		out[n].max = max;
		n++;
	}
	return n;
}

/* ---- the shipped file's documentation ---- */

static char *read_whole(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s", path);
	static char buf[65536];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	assert_true(n < sizeof(buf) - 1);
	buf[n] = '\0';
	return buf;
}

/*
 * The "Range A..B" stated in the comment block right above "key =" in
 * [section] of the shipped file. Returns false when the key or the range is
 * not there.
 */
static bool documented_range(const char *text, const struct numeric_key *k, uint64_t *min,
			     uint64_t *max)
{
	char header[48], key_line[96];
	snprintf(header, sizeof(header), "\n[%.23s]\n", k->section);
	snprintf(key_line, sizeof(key_line), "\n%.63s =", k->name);
	const char *sec = strstr(text, header);
	if (!sec)
		return false;
	const char *next_sec = strstr(sec + 1, "\n[");
	const char *key = strstr(sec, key_line);
	if (!key || (next_sec && key > next_sec))
		return false;
	/* Back to the start of the comment block: the blank line (or header) above it. */
	const char *block = key;
	while (block > sec && !(block[-1] == '\n' && block[0] == '\n'))
		block--;
	const char *found = NULL;
	for (const char *p = block; p < key; p++) {
		if (strncmp(p, "Range ", 6) == 0)
			found = p + 6;
	}
	unsigned long long a, b;
	if (!found || sscanf(found, "%llu..%llu", &a, &b) != 2)
		return false;
	*min = a;
	*max = b;
	return true;
}

static void test_ranges_are_documented(void **state)
{
	(void)state;
	struct numeric_key keys[MAX_KEYS];
	size_t n = numeric_keys(keys, MAX_KEYS);
	const char *text = read_whole(HD_DEFAULT_CONF);

	/* The ten or so numeric keys of today at least: the discovery itself works. */
	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++) {
		const struct numeric_key *k = &keys[i];
		uint64_t min, max;
		if (!documented_range(text, k, &min, &max))
			fail_msg("%s.%s: conf/hyper-derp.ini states no \"Range %u..%u.\" above the "
				 "key",
				 k->section, k->name, k->min, k->max);
		if (min != k->min || max != k->max)
			fail_msg("%s.%s: the loader takes %u..%u, conf/hyper-derp.ini says "
				 "%llu..%llu",
				 k->section, k->name, k->min, k->max, (unsigned long long)min,
				 (unsigned long long)max);
	}
}

/* ---- the edges, through the file loader ---- */

static char tmp_path[64];

static int make_tmp(void **state)
{
	(void)state;
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/hd-test-ranges-XXXXXX");
	int fd = mkstemp(tmp_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int remove_tmp(void **state)
{
	(void)state;
	return unlink(tmp_path);
}

/* The value `show config` prints for section.key. */
static void shown_value(const struct hd_config *cfg, const struct numeric_key *k, char *out,
			size_t cap)
{
	size_t len = config_format(cfg, NULL, 0);
	char *text = malloc(len + 1);
	assert_non_null(text);
	config_format(cfg, text, len + 1);
	char header[48], key_line[96];
	snprintf(header, sizeof(header), "[%.23s]\n", k->section);
	snprintf(key_line, sizeof(key_line), "\n%.63s = ", k->name);
	const char *sec = strstr(text, header);
	assert_non_null(sec);
	const char *p = strstr(sec, key_line);
	assert_non_null(p);
	p += strlen(key_line);
	snprintf(out, cap, "%.*s", (int)strcspn(p, "\n"), p);
	free(text);
}

/* Loads "[section]\nkey = value\n" (the key on line 3) over the defaults. */
static int load_one(const struct numeric_key *k, const char *value, struct hd_config *cfg,
		    char *err, size_t errlen)
{
	FILE *f = fopen(tmp_path, "w");
	assert_non_null(f);
	fprintf(f, "# edge\n[%s]\n%s = %s\n", k->section, k->name, value);
	fclose(f);
	config_defaults(cfg);
	err[0] = '\0';
	return config_load_file(cfg, tmp_path, err, errlen);
}

static void expect_accepted(const struct numeric_key *k, uint64_t v)
{
	char value[32], err[512], shown[64];
	struct hd_config cfg;
	snprintf(value, sizeof(value), "%llu", (unsigned long long)v);
	if (load_one(k, value, &cfg, err, sizeof(err)) != 0)
		fail_msg("%s.%s = %s (in %u..%u) refused: %s", k->section, k->name, value, k->min,
			 k->max, err);
	shown_value(&cfg, k, shown, sizeof(shown));
	if (strcmp(shown, value) != 0)
		fail_msg("%s.%s = %s loaded, but shows as %s", k->section, k->name, value, shown);
}

static void expect_refused(const struct numeric_key *k, const char *value)
{
	char err[512], want[640];
	struct hd_config cfg, defaults;
	config_defaults(&defaults);
	if (load_one(k, value, &cfg, err, sizeof(err)) == 0)
		fail_msg("%s.%s = %s accepted (range %u..%u)", k->section, k->name, value, k->min,
			 k->max);
	snprintf(want, sizeof(want), "%s:3: %s.%s: \"%s\" is not an integer in %u..%u", tmp_path,
		 k->section, k->name, value, k->min, k->max);
	assert_string_equal(err, want);
	/* A refused file changes nothing. */
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
}

static void test_edges_through_the_loader(void **state)
{
	(void)state;
	struct numeric_key keys[MAX_KEYS];
	size_t n = numeric_keys(keys, MAX_KEYS);

	assert_true(n >= 10);
	for (size_t i = 0; i < n; i++) {
		const struct numeric_key *k = &keys[i];
		char below[32], above[32];
		/* 0's neighbour below is "-1": no sign is accepted either. */
		if (k->min > 0)
			snprintf(below, sizeof(below), "%u", k->min - 1);
		else
			snprintf(below, sizeof(below), "-1");
		snprintf(above, sizeof(above), "%llu", (unsigned long long)k->max + 1);
		expect_refused(k, below);
		expect_accepted(k, k->min);
		expect_accepted(k, k->max);
		expect_refused(k, above);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ranges_are_documented),
		cmocka_unit_test_setup_teardown(test_edges_through_the_loader, make_tmp,
						remove_tmp),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
