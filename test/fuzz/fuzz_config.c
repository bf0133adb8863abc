// SPDX-License-Identifier: MIT
/*
 * The INI loader (config_load_file) over an in-memory file, and config_set.
 *
 * Input: the INI text. config_load_file only takes a path, so the text is
 * put in a memfd and loaded from /proc/self/fd/N: no disk I/O.
 *
 * Oracles: a failed load leaves the configuration untouched and gives a
 * one-line, NUL-terminated error; a good load, printed with config_format,
 * loads again to the same configuration (what `show config` prints is a
 * valid config file). The first line, split at '=', is also tried as a
 * config_set("section.key", "value") pair.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

static struct fuzz_memfile file;

static char err[PATH_MAX + 512];

static void check_err(void)
{
	FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
	FUZZ_CHECK(strchr(err, '\n') == NULL);
}

static void try_set(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t line = nl ? (size_t)(nl - data) : size;
	const uint8_t *eq = memchr(data, '=', line);
	struct hd_config cfg, before;

	if (!eq)
		return;
	char *name = fuzz_strdup(data, (size_t)(eq - data));
	char *value = fuzz_strdup(eq + 1, line - (size_t)(eq - data) - 1);

	config_defaults(&cfg);
	before = cfg;
	memset(err, 0x55, sizeof(err));
	if (config_set(&cfg, name, value, err, sizeof(err)) < 0) {
		check_err();
		FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
	}
	free(name);
	free(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hd_config cfg, before, again;
	static char text[64 * 1024], text2[64 * 1024];
	size_t n, n2;

	if (file.path[0] == '\0')
		fuzz_memfile_open(&file, "fuzz-config");

	try_set(data, size);

	config_defaults(&cfg);
	before = cfg;
	fuzz_memfile_set(&file, data, size);
	memset(err, 0x55, sizeof(err));
	if (config_load_file(&cfg, file.path, err, sizeof(err)) < 0) {
		check_err();
		FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
		return 0;
	}

	n = config_format(&cfg, text, sizeof(text));
	FUZZ_CHECK(n < sizeof(text));
	FUZZ_CHECK(strlen(text) == n);
	fuzz_memfile_set(&file, text, n);
	config_defaults(&again);
	memset(err, 0x55, sizeof(err));
	if (config_load_file(&again, file.path, err, sizeof(err)) < 0) {
		fprintf(stderr, "formatted config does not load: %s\n%s", err, text);
		FUZZ_CHECK(!"config_format output loads");
	}
	n2 = config_format(&again, text2, sizeof(text2));
	FUZZ_CHECK(n2 == n && memcmp(text, text2, n) == 0);
	FUZZ_CHECK(memcmp(&cfg, &again, sizeof(cfg)) == 0);
	return 0;
}
