// SPDX-License-Identifier: MIT
/*
 * derper's command line (derper_flags.c) through config_from_args.
 *
 * Input: the arguments, one a line (at most 24). Lines that would print
 * (help, version) or read a file (--config) are dropped: the target is the
 * parsing and the mapping, not stdout or the file system.
 *
 * Oracles: the result is -1 (with a one-line, NUL-terminated error) or 0;
 * parsing the same command line again gives the same configuration, byte
 * for byte as config_format prints it (a SIGHUP reload parses it again and
 * must not see changes that are not there); an accepted configuration's
 * text loads back through config_set key by key.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz_common.h"

#define MAX_WORDS 24

static struct hd_config first, second;
static char err[PATH_MAX + 512];

/* A name (up to '=') equal to word, or, when abbrev, a prefix of it as getopt_long takes it. */
static bool names(const char *name, const char *word, bool abbrev)
{
	size_t len = strcspn(name, "=");
	return len > 0 && len <= strlen(word) && strncmp(name, word, len) == 0 &&
	       (abbrev || len == strlen(word));
}

static bool dropped(const char *w)
{
	if (w[0] != '-')
		return false;
	bool ours = w[1] == '-';
	const char *name = w + 1 + ours;
	/* Our options may be abbreviated (getopt_long); derper's may not. */
	return names(name, "config", ours) || names(name, "help", ours) ||
	       names(name, "version", ours) || names(name, "h", false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char *argv[MAX_WORDS + 2];
	int argc = 0;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[argc++] = "hyper-derp";
	for (char *line = text; line && argc <= MAX_WORDS;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!dropped(line))
			argv[argc++] = line;
		line = nl ? nl + 1 : NULL;
	}
	argv[argc] = NULL;

	err[0] = '\0';
	int rc = config_from_args(&first, argc, argv, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc < 0) {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
		free(text);
		return 0;
	}
	FUZZ_CHECK(config_from_args(&second, argc, argv, err, sizeof(err)) == 0);
	size_t len = config_format(&first, NULL, 0);
	char *a = malloc(len + 1), *b = malloc(len + 1);
	if (a && b) {
		config_format(&first, a, len + 1);
		FUZZ_CHECK(config_format(&second, b, len + 1) == len);
		FUZZ_CHECK(memcmp(a, b, len) == 0);
	}
	free(a);
	free(b);
	free(text);
	return 0;
}
