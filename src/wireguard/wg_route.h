/* SPDX-License-Identifier: MIT */
/*
 * The forwarding decision the userspace paths (socket and AF_XDP) make for
 * one datagram, on a compiled, read-only copy of the table (wg_routes) and
 * the receiver indices learned from handshakes (wg_index.h). The XDP
 * program makes the same decision in bpf/wg_relay.bpf.c.
 */
#ifndef HD_WG_ROUTE_H
#define HD_WG_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_index.h"
#include "wg_maps.h"
#include "wg_table.h"

#define WG_EP_HASH_SIZE 4096 /* power of two, at least 2 * WG_MAX_PEERS */

struct wg_route_peer {
	bool used;
	bool has_mac1_key;
	uint16_t nlinks;
	uint32_t first_link; /* into wg_routes.adj */
	uint32_t gen;	     /* changes when the slot is given to a new peer (set by the caller) */
	struct wg_endpoint ep;
	uint8_t mac1_key[WG_KEY_LEN];
	char name[WG_NAME_LEN]; /* for log lines */
};

/* Built by the control plane, then owned and only read by one dataplane thread. */
struct wg_routes {
	struct wg_route_peer peers[WG_MAX_PEERS];
	uint16_t adj[2 * WG_MAX_LINKS];	   /* each peer's linked slots, back to back */
	uint16_t ep_hash[WG_EP_HASH_SIZE]; /* slot + 1 by endpoint; 0 = empty */
};

/* Compiles t; returns a malloc'd copy (free() it) or NULL. */
struct wg_routes *wg_routes_build(const struct wg_table *t);
int wg_routes_find(const struct wg_routes *r, const struct wg_endpoint *ep);
bool wg_routes_linked(const struct wg_routes *r, int a, int b);

struct wg_decision {
	int src;      /* slot, or -1 */
	int dst;      /* slot, when forwarding */
	uint8_t type; /* WG_MSG_*, or 0 */
	/* An unknown source's initiation: the peer whose key its MAC1 is made for, or -1. */
	int mac1_peer;
	bool unknown; /* the source is no peer's endpoint (even when forwarded as a roam) */
	bool strike;  /* an unknown source's initiation made for no peer's key */
	/* A response that completed a roam: dst is now at roam_ep (send it there). */
	bool roamed;
	struct wg_endpoint roam_ep;
};

/*
 * Decides where a datagram from src goes: returns -1 to forward to
 * d->dst, or the WG_CNT_DROP_* counter to bump. Handshakes are checked
 * and their indices learned in ix (wg_index.h): rate-limited per source,
 * MAC1 checked against the destination's key where the table has it, a
 * response accepted only for an initiation forwarded to its sender.
 * Transport and cookie replies from a peer with several links go to the
 * owner of their receiver index. now is CLOCK_MONOTONIC in ns.
 *
 * An initiation from an unknown source whose MAC1 is made for a peer with
 * one link is forwarded as that link's (d->src), and offered as a roam
 * (wg_index.h); the response that answers it sets d->roamed.
 */
int wg_route(const struct wg_routes *r, struct wg_index *ix, const struct wg_endpoint *src,
	     const uint8_t *payload, size_t len, uint64_t now, struct wg_decision *d);

#endif
