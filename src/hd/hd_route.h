/* SPDX-License-Identifier: MIT */
/*
 * The fleet's routing table (docs/hd-protocol.md, section 5): a path vector
 * over the relay's fleet links. Each link is a direct neighbour; each
 * destination relay has the shortest path any neighbour offered to it.
 *
 * Why paths and not hop counts: a distance vector counts to infinity around
 * a loop of three relays when the way out is cut, and forwards in circles
 * meanwhile. A path names every relay on the way, so a relay refuses any
 * path that already contains itself, and a cut link is forgotten in a round
 * or two instead of sixteen. Paths are at most HD_ROUTE_MAX_PATH relays,
 * and FleetData's hops-left stays as the last guard while announcements are
 * in flight.
 *
 * One owner (the fleet thread); no locks. Sized at init (max_relays
 * destinations, HD_ROUTE_MAX_LINKS neighbours); no allocation after. A relay
 * id past the table's room is not learned, and counted.
 */
#ifndef HD_HD_ROUTE_H
#define HD_HD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hd_frame.h"

#define HD_ROUTE_MAX_LINKS 16 /* direct neighbours of one relay */
/* A whole table, this relay included, fits one RouteAnnounce frame. */
#define HD_ROUTE_MAX_RELAYS (HD_ROUTE_ANNOUNCE_MAX - 1)
#define HD_ROUTE_NONE	    0xff /* path length: no path */

struct hd_route_path {
	uint8_t len;			    /* HD_ROUTE_NONE = none */
	uint16_t relays[HD_ROUTE_MAX_PATH]; /* from the neighbour to the destination */
};

struct hd_route_entry {
	uint16_t relay;
	int8_t link;   /* the chosen neighbour's link index, -1 = unreachable */
	uint32_t seen; /* the announcement that last listed it (hd_route_announce_in) */
	struct hd_route_path heard[HD_ROUTE_MAX_LINKS]; /* each link's offer */
};

struct hd_route_table {
	uint16_t self;			/* this relay's id */
	uint16_t *slot_of;		/* relay id -> entry index + 1; 0 = none */
	struct hd_route_entry *entries; /* max_relays of them, n used */
	size_t n;
	size_t max_relays;
	uint16_t link_relay[HD_ROUTE_MAX_LINKS]; /* the neighbour's relay id, 0 = free */
	uint64_t changes;			 /* bumped when a route changes: announce again */
	uint64_t table_full;			 /* relay ids not learned: no room */
	uint64_t loops_refused;			 /* offered paths that contained this relay */
	uint32_t generation;			 /* counts announcements taken in */
};

/*
 * Sets up an empty table for relay id self (1..65534) with room for
 * max_relays destinations (1..HD_ROUTE_MAX_RELAYS). Returns 0 or -1.
 */
int hd_route_init(struct hd_route_table *t, uint16_t self, size_t max_relays);
void hd_route_free(struct hd_route_table *t);

/* A link to neighbour relay id came up: a one-hop route. Returns its index or -1. */
int hd_route_link_up(struct hd_route_table *t, uint16_t neighbour);
/* The link went down: every route through it moves to the next best or goes. */
void hd_route_link_down(struct hd_route_table *t, int link);

/*
 * A RouteAnnounce from link: the neighbour's whole table. A relay it no
 * longer lists is unreachable through it. Returns the routes that changed.
 */
size_t hd_route_announce_in(struct hd_route_table *t, int link, const struct hd_route *routes,
			    size_t n);

/*
 * What to announce over link: this relay (an empty path), then every relay
 * reachable through another link, with its path. Returns the count written
 * (at most max).
 */
size_t hd_route_announce_out(const struct hd_route_table *t, int link, struct hd_route *out,
			     size_t max);

/*
 * Where FleetData for relay dst goes: the link index, -1 when dst is this
 * relay (deliver locally), -2 when unreachable.
 */
int hd_route_next(const struct hd_route_table *t, uint16_t dst);
/* The hops to dst (0 for this relay), or -1 when unreachable. */
int hd_route_hops(const struct hd_route_table *t, uint16_t dst);

#endif
