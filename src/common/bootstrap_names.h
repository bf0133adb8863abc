/* SPDX-License-Identifier: MIT */
/*
 * The host names of [bootstrap_dns] names: checked when the configuration
 * is read, and split once for the resolver.
 */
#ifndef HD_BOOTSTRAP_NAMES_H
#define HD_BOOTSTRAP_NAMES_H

#include <stddef.h>

#define BOOTSTRAP_NAMES_MAX 32
#define BOOTSTRAP_NAME_LEN  253 /* a DNS name, without the trailing dot */

struct bootstrap_names {
	char names[BOOTSTRAP_NAMES_MAX][BOOTSTRAP_NAME_LEN + 1];
	unsigned count;
};

/*
 * Splits text at commas and blanks. Each name must be a DNS host name
 * (letters, digits, '-', '_', dots between labels of 1..63 bytes) or an
 * IPv4 or IPv6 literal; a name given twice counts once. Returns 0, or -1 with the reason.
 */
int bootstrap_names_parse(const char *text, struct bootstrap_names *out, char *reason,
			  size_t reason_len);

#endif
