/* SPDX-License-Identifier: MIT */
/*
 * The revocation list for HD enrollment tokens (docs/hd-protocol.md, 3.2):
 * token ids and keys the operator has revoked, read from a text file:
 *
 *   # comments and blank lines are ignored
 *   token 0001020304050607        (the 16 hex digits of a token id)
 *   key nodekey:<64 hex digits>    (every token for that key)
 *
 * A token is refused when its id or its key is listed, even while its MAC
 * and expiry are good. Loaded whole into a new list and swapped in by the
 * caller, so a bad file leaves the list in use as it was.
 */
#ifndef HD_HD_REVOKED_H
#define HD_HD_REVOKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hd_auth.h"

#define HD_REVOKED_MAX 1000000 /* entries of each kind */

struct hd_revoked {
	uint8_t (*ids)[HD_TOKEN_ID_LEN]; /* sorted */
	size_t n_ids;
	uint8_t (*keys)[HD_KEY_LEN]; /* sorted */
	size_t n_keys;
};

/*
 * Reads path into out (empty on entry). A missing file is an empty list.
 * Returns 0, or -1 with "PATH:LINE: why" in err and out left empty.
 */
int hd_revoked_load(const char *path, struct hd_revoked *out, char *err, size_t errlen);
void hd_revoked_free(struct hd_revoked *r);

bool hd_revoked_token(const struct hd_revoked *r, const struct hd_token *t);

#endif
