// SPDX-License-Identifier: MIT
/*
 * The HD policy parser and compiler (src/hd/hd_policy.c).
 *
 * Input: a policy file's text. Oracles: a refusal gives a one-line,
 * NUL-terminated error that starts with the file's name and leaves nothing
 * behind (LeakSanitizer); an accepted policy answers hd_policy_allows for
 * keys it names and for one it does not, without reading out of bounds,
 * and parsing the same text again gives the same matrix (compiling is a
 * function of the text).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "hd_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hd_policy *p, *again;
	char err[512];
	uint8_t other[HD_POLICY_KEY_LEN];

	if (hd_policy_parse((const char *)data, size, "fuzz", &p, err, sizeof(err)) < 0) {
		FUZZ_CHECK(p == NULL);
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
		FUZZ_CHECK(strchr(err, '\n') == NULL);
		FUZZ_CHECK(strncmp(err, "fuzz:", 5) == 0);
		return 0;
	}
	FUZZ_CHECK(p != NULL);
	FUZZ_CHECK(p->n_keys <= HD_POLICY_MAX_KEYS && p->n_rules <= HD_POLICY_MAX_RULES);
	memset(other, 0x5a, sizeof(other));
	for (size_t i = 0; i < p->n_keys && i < 16; i++) {
		(void)hd_policy_allows(p, p->keys[i], other);
		(void)hd_policy_allows(p, other, p->keys[i]);
		(void)hd_policy_allows(p, p->keys[i], p->keys[p->n_keys - 1 - i]);
	}
	(void)hd_policy_allows(p, other, other);
	FUZZ_CHECK(hd_policy_parse((const char *)data, size, "fuzz", &again, err, sizeof(err)) ==
		   0);
	FUZZ_CHECK(again->n_keys == p->n_keys && again->words == p->words);
	FUZZ_CHECK(memcmp(again->allow, p->allow, (p->n_keys + 1) * p->words * sizeof(*p->allow)) ==
		   0);
	hd_policy_free(again);
	hd_policy_free(p);
	return 0;
}
