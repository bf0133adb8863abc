/* SPDX-License-Identifier: MIT */
/*
 * /bootstrap-dns as derper serves it: the addresses of [bootstrap_dns]
 * names, which clients use when their own DNS is broken. A thread of its
 * own resolves the names every refresh_s seconds (getaddrinfo blocks, and
 * nothing on the slow path or the dataplane may wait on DNS); the slow path
 * only copies the last answer out.
 */
#ifndef HD_BOOTSTRAP_DNS_H
#define HD_BOOTSTRAP_DNS_H

#include <stddef.h>
#include <stdint.h>

struct bootstrap_dns;

/*
 * Starts resolving names and unpublished (bootstrap_names_parse text; both
 * empty = no thread). Returns NULL only when out of memory or without a
 * thread (logged).
 */
struct bootstrap_dns *bootstrap_dns_start(const char *names, const char *unpublished,
					  uint32_t refresh_s);
/* Stops the resolver and frees it; NULL is fine. */
void bootstrap_dns_stop(struct bootstrap_dns *b);

/* What a ?q= query found, for derper's hit and miss counters. */
enum bootstrap_dns_query {
	BOOTSTRAP_DNS_NO_QUERY = 0,
	BOOTSTRAP_DNS_PUBLISHED_HIT,	/* q is a configured name that resolved */
	BOOTSTRAP_DNS_UNPUBLISHED_HIT,	/* q is an unpublished name that resolved: answered alone */
	BOOTSTRAP_DNS_UNPUBLISHED_MISS, /* q is not among the names that resolved */
};

/*
 * The body derper would send for a request with this query string (the
 * part after '?', may be empty): as Go's json.MarshalIndent(map[string]
 * []net.IP, "", "\t") writes it, the one unpublished name q asks for if it
 * resolved, else every resolved published name; empty without published
 * names or before the first round, "null" while none resolved.
 * *body is malloc'd (free it), NULL when empty. Returns 0, or -1 when out
 * of memory.
 */
int bootstrap_dns_answer(struct bootstrap_dns *b, const char *query, char **body, size_t *len,
			 enum bootstrap_dns_query *found);

/* Lookups that failed, since start. */
uint64_t bootstrap_dns_lookup_failures(const struct bootstrap_dns *b);

/* The value of parameter name in a query string, URL-decoded ('+' is a blank), or "" */
void bootstrap_dns_query_param(const char *query, const char *name, char *out, size_t cap);

#endif
