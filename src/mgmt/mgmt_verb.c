// SPDX-License-Identifier: MIT
/* Verb prefix matching (see mgmt_verb.h). */
#include "mgmt_verb.h"

#include <stddef.h>
#include <string.h>

const char *mgmt_verb_rest(const char *verb, int argc, char *const *argv)
{
	const char *p = verb;
	for (int i = 0; i < argc; i++) {
		size_t len = strlen(argv[i]);
		if (strncmp(p, argv[i], len) != 0 || (p[len] != ' ' && p[len] != '\0'))
			return NULL;
		p += len;
		if (*p == ' ')
			p++;
		else if (i + 1 < argc)
			return NULL; /* the verb ended but words remain */
	}
	return p;
}
