// SPDX-License-Identifier: MIT
/*
 * /bootstrap-dns's query string (bootstrap_dns_query_param) and the names
 * list parser (bootstrap_names_parse), which the answer is built from.
 *
 * Input: a query string. Oracles: the decoded value is NUL-terminated within
 * its buffer and never longer than the query; every name the parser accepts
 * is a non-empty host name or address without '"' or '\\' (the answer puts
 * names in JSON unescaped), and at most BOOTSTRAP_NAMES_MAX of them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap_dns.h"
#include "bootstrap_names.h"
#include "fuzz_common.h"

static struct bootstrap_names names;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query = malloc(size + 1);
	char out[64];
	char reason[128];

	if (!query)
		return 0;
	memcpy(query, data, size);
	query[size] = '\0';

	memset(out, 'x', sizeof(out));
	bootstrap_dns_query_param(query, "q", out, sizeof(out));
	FUZZ_CHECK(memchr(out, 0, sizeof(out)) != NULL);
	FUZZ_CHECK(strlen(out) <= strlen(query));

	if (bootstrap_names_parse(query, &names, reason, sizeof(reason)) == 0) {
		FUZZ_CHECK(names.count <= BOOTSTRAP_NAMES_MAX);
		for (unsigned i = 0; i < names.count; i++) {
			FUZZ_CHECK(names.names[i][0] != '\0');
			FUZZ_CHECK(strpbrk(names.names[i], "\"\\ ,\t") == NULL);
		}
	} else {
		FUZZ_CHECK(memchr(reason, 0, sizeof(reason)) != NULL);
	}
	free(query);
	return 0;
}
