/* SPDX-License-Identifier: MIT */
/*
 * `mesh.with`: the region's other relays, as derper's -mesh-with names them.
 * A list separated by commas and/or spaces; each entry is one of
 *
 *   host            TLS on port 443 (derper dials https://host/derp)
 *   host:port       TLS on that port (derper's form, too)
 *   https://host[:port]   likewise, 443 by default
 *   http://host[:port]    plain HTTP, port 80 by default
 *
 * host is a name, an IPv4 literal, or an IPv6 literal in brackets. A path
 * after the authority is refused: the DERP path is always /derp. Pure
 * function, so the config loader checks a value with the rules the mesh
 * client dials by.
 */
#ifndef HD_MESH_WITH_H
#define HD_MESH_WITH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* More relays than a region ever has; each costs a thread and two rings per worker. */
#define MESH_MAX_PEERS 32
#define MESH_HOST_MAX  256

struct mesh_target {
	char host[MESH_HOST_MAX]; /* without brackets */
	uint16_t port;
	bool tls;
	char text[MESH_HOST_MAX + 16]; /* the entry as written, for logs and `show mesh` */
};

/*
 * Parses text into at most max targets. Returns how many (0 for an empty or
 * blank list), or -1 with the reason in reason.
 */
int mesh_with_parse(const char *text, struct mesh_target *out, size_t max, char *reason,
		    size_t reason_len);

#endif
