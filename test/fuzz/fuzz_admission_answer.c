// SPDX-License-Identifier: MIT
/*
 * What an admission controller (or something posing as one) answers:
 * src/slowpath/http_client.c's response parser and
 * src/slowpath/admission_answer.c's reading of the body.
 *
 * Input: the bytes of a response as the relay would receive them.
 *
 * Oracles:
 *  - the body the parser returns lies inside the buffer it was given;
 *  - a response complete before the close is complete, the same, at it;
 *  - the parser only ever shrinks a chunked body in place, never writes
 *    past the input;
 *  - the answer reader never reports Allow from a body with no "allow"
 *    in it (case-folded, as Go matches field names).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "admission_answer.h"
#include "fuzz_common.h"
#include "http_client.h"

static bool mentions_allow(const char *body, size_t len)
{
	for (size_t i = 0; i + 5 <= len; i++)
		if (strncasecmp(body + i, "allow", 5) == 0)
			return true;
	/* Go also folds U+017F (long s) and K (Kelvin): neither is in "allow", but \u escapes are.
	 */
	return memchr(body, '\\', len) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	char *open = (char *)fuzz_dup(data, n);
	char *closed = (char *)fuzz_dup(data, n);
	int status_open = 0, status_closed = 0;
	const char *body_open = NULL, *body_closed = NULL;
	size_t len_open = 0, len_closed = 0;
	int rc_open = http_response_parse(open, n, &status_open, &body_open, &len_open, 0);
	int rc_closed =
	    http_response_parse(closed, n, &status_closed, &body_closed, &len_closed, 1);
	if (rc_open == 0) {
		if (body_open < open || body_open + len_open > open + n)
			abort();
		if (rc_closed != 0 || status_closed != status_open || len_closed != len_open ||
		    memcmp(body_closed, body_open, len_open) != 0)
			abort();
	}
	if (rc_closed == 0) {
		if (body_closed < closed || body_closed + len_closed > closed + n)
			abort();
		bool allow = false;
		if (admission_answer_allows(body_closed, len_closed, &allow) == 0 && allow &&
		    !mentions_allow(body_closed, len_closed))
			abort();
	}
	free(open);
	free(closed);
	return 0;
}
