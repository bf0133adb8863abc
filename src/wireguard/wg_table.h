/* SPDX-License-Identifier: MIT */
/*
 * The operator's WireGuard relay table: named peers (an endpoint, a label,
 * optionally a public key) and links between two peers. Control plane only:
 * the dataplane never reads this structure, it gets a compiled copy
 * (wg_routes.h). Every change is validated first and applied whole or not at
 * all, so an error leaves the table as it was.
 *
 * A peer keeps its slot (its index in peers[]) for as long as it exists;
 * counters in the dataplane and the BPF maps are indexed by slot.
 */
#ifndef HD_WG_TABLE_H
#define HD_WG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_proto.h"

#define WG_MAX_PEERS 1024
#define WG_MAX_LINKS 4096
#define WG_NAME_LEN  32 /* with the NUL */
#define WG_LABEL_LEN 64

/*
 * An endpoint, in network byte order as on the wire. An IPv4 address is
 * held as its IPv4-mapped IPv6 address (::ffff:a.b.c.d), the form a
 * dual-stack socket reports it in, so that one key, one hash and one
 * comparison serve both families. The operator never types the mapped
 * form: `[::ffff:a.b.c.d]:PORT` is refused, `a.b.c.d:PORT` is the way.
 */
struct wg_endpoint {
	uint8_t addr[16];
	uint16_t port;
};

/* ::ffff:0:0/96, the prefix of an IPv4 address in a wg_endpoint. */
static inline bool wg_endpoint_is_v4(const struct wg_endpoint *ep)
{
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	for (int i = 0; i < 12; i++) {
		if (ep->addr[i] != mapped[i])
			return false;
	}
	return true;
}

/* The IPv4 address of an IPv4 endpoint, network order. */
static inline uint32_t wg_endpoint_v4(const struct wg_endpoint *ep)
{
	uint32_t a;

	__builtin_memcpy(&a, ep->addr + 12, sizeof(a));
	return a;
}

/* An IPv4 endpoint from an address and a port, both in network order. */
static inline struct wg_endpoint wg_endpoint_from_v4(uint32_t addr, uint16_t port)
{
	struct wg_endpoint ep = { .addr = { [10] = 0xff, [11] = 0xff }, .port = port };

	__builtin_memcpy(ep.addr + 12, &addr, sizeof(addr));
	return ep;
}

static inline bool wg_endpoint_equal(const struct wg_endpoint *a, const struct wg_endpoint *b)
{
	return a->port == b->port && __builtin_memcmp(a->addr, b->addr, sizeof(a->addr)) == 0;
}

struct wg_peer {
	bool used;
	bool has_pubkey;
	char name[WG_NAME_LEN];
	char label[WG_LABEL_LEN];
	struct wg_endpoint ep;
	uint8_t pubkey[WG_KEY_LEN];
};

/* Links are undirected; a and b are slots, kept in the order they were given. */
struct wg_link {
	uint16_t a;
	uint16_t b;
};

struct wg_table {
	struct wg_peer peers[WG_MAX_PEERS];
	uint32_t npeers;
	struct wg_link links[WG_MAX_LINKS];
	uint32_t nlinks;
};

void wg_table_init(struct wg_table *t);

/*
 * "A.B.C.D:PORT" or "[IPV6]:PORT" to an endpoint; 0, or -1 with the reason
 * in err. Refused: port 0; IPv4 0.0.0.0, broadcast, multicast; IPv6 ::,
 * multicast, link-local (the table holds no interface scope), IPv4-mapped
 * (write the IPv4 form) and an address without brackets.
 */
int wg_endpoint_parse(const char *text, struct wg_endpoint *ep, char *err, size_t errlen);
/* The longest text wg_endpoint_format writes, with the NUL: "[" 39 "]:" 5. */
#define WG_ENDPOINT_STRLEN 48
/* "A.B.C.D:PORT" or "[IPV6]:PORT" (RFC 5952 form); buf of WG_ENDPOINT_STRLEN. Returns buf. */
char *wg_endpoint_format(const struct wg_endpoint *ep, char *buf, size_t len);

/* The slot of the peer called name, or -1. */
int wg_table_find(const struct wg_table *t, const char *name);
/* The slot of the peer with this endpoint, or -1. */
int wg_table_find_endpoint(const struct wg_table *t, const struct wg_endpoint *ep);

/*
 * Adds a peer. label may be NULL or empty; pubkey_b64 may be NULL (no key:
 * handshake initiations cannot be routed to this peer from a peer with
 * several links). Returns the new slot, or -1 with the reason in err.
 */
int wg_table_peer_add(struct wg_table *t, const char *name, const char *endpoint, const char *label,
		      const char *pubkey_b64, char *err, size_t errlen);
/* Removes a peer and its links; *links_removed (may be NULL) says how many. */
int wg_table_peer_del(struct wg_table *t, const char *name, uint32_t *links_removed, char *err,
		      size_t errlen);
int wg_table_link_add(struct wg_table *t, const char *a, const char *b, char *err, size_t errlen);
int wg_table_link_del(struct wg_table *t, const char *a, const char *b, char *err, size_t errlen);

/* The slots linked to slot, up to max of them; returns how many there are. */
uint32_t wg_table_links_of(const struct wg_table *t, int slot, uint16_t *out, uint32_t max);

/*
 * Applies one line of the table file: "peer NAME IP:PORT [LABEL]
 * [pubkey=BASE64]" or "link A B"; blank lines and '#' comments do nothing.
 */
int wg_table_apply_line(struct wg_table *t, const char *line, char *err, size_t errlen);

/*
 * Loads the table file into t, replacing it. A missing file is an empty
 * table. On any error ("FILE:LINE: reason") t is unchanged. Returns 0 or -1.
 */
int wg_table_load(struct wg_table *t, const char *path, char *err, size_t errlen);
/*
 * Writes the table to path atomically: a temporary file in the same
 * directory, fsync, rename over path, fsync of the directory.
 */
int wg_table_save(const struct wg_table *t, const char *path, char *err, size_t errlen);
/* The file text (what save writes). Like snprintf: returns the full length. */
size_t wg_table_format(const struct wg_table *t, char *out, size_t cap);

#endif
