/* SPDX-License-Identifier: MIT */
/*
 * The operator's rules for which HD peers may send to which
 * (docs/hd-protocol.md, section 4.1), read from a text file:
 *
 *   # comments and blank lines are ignored
 *   group NAME MEMBER...    MEMBER: nodekey:<64 hex> or group:NAME (defined above)
 *   allow FROM TO           FROM, TO: nodekey:<64 hex>, group:NAME or *
 *   deny FROM TO
 *
 * Rules are read top down and the first that matches a (sender, receiver)
 * pair decides, as in a firewall; a pair that no rule matches is denied.
 * Rules are one-way: "allow A B" lets A send to B, not B to A.
 *
 * The rules are compiled when loaded into a matrix of decisions over the
 * keys the file names plus one class for every other key, so a packet costs
 * two lookups in a hash table of the named keys and one bit test, whatever
 * the number of rules or keys. A loaded policy is never changed: a reload builds a new
 * one and the caller swaps the pointer.
 */
#ifndef HD_HD_POLICY_H
#define HD_HD_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_POLICY_KEY_LEN     32
#define HD_POLICY_MAX_KEYS    4096	  /* distinct keys named; the matrix is 2 MiB at most */
#define HD_POLICY_MAX_RULES   4096	  /* allow and deny lines */
#define HD_POLICY_MAX_GROUPS  1024	  /* group names */
#define HD_POLICY_MAX_MEMBERS 65536	  /* group members, summed over all groups */
#define HD_POLICY_MAX_FILE    (16u << 20) /* bytes of policy file */
#define HD_POLICY_NAME_MAX    63	  /* characters of a group name */

struct hd_policy {
	size_t n_rules;
	size_t n_groups;
	size_t n_keys;			    /* keys the file names: classes 0..n_keys-1 */
	uint8_t (*keys)[HD_POLICY_KEY_LEN]; /* sorted; a key's class is its index */
	uint32_t *slots;		    /* open addressing: class + 1 of a key, 0 = empty */
	size_t slot_mask;
	uint8_t seed[16]; /* SipHash key: peers choose their keys, not where they land */
	size_t words;	  /* uint64_t per matrix row */
	uint64_t *allow;  /* row = sender class, bit = receiver class */
};

/*
 * Parses a policy from text (len bytes; NUL bytes are refused). name goes
 * into errors as "NAME:LINE: why". Returns 0 with *out set, or -1 with err
 * and *out NULL.
 */
int hd_policy_parse(const char *text, size_t len, const char *name, struct hd_policy **out,
		    char *err, size_t errlen);

/* Reads and parses path. A file that cannot be read is an error: it must not mean "allow all". */
int hd_policy_load(const char *path, struct hd_policy **out, char *err, size_t errlen);

void hd_policy_free(struct hd_policy *p);

/* May src send to dst? NULL policy = no policy: yes. */
bool hd_policy_allows(const struct hd_policy *p, const uint8_t src[HD_POLICY_KEY_LEN],
		      const uint8_t dst[HD_POLICY_KEY_LEN]);

#endif
