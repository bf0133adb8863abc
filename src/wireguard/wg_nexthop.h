/* SPDX-License-Identifier: MIT */
/*
 * Where a frame to a peer goes, for the paths that build frames themselves
 * (XDP, AF_XDP): the port layer's next hop (src/port/nexthop.h) of each
 * peer's endpoint. A peer whose neighbour entry is not complete yet stays
 * unresolved: its datagrams take the kernel stack, which resolves it.
 */
#ifndef HD_WG_NEXTHOP_H
#define HD_WG_NEXTHOP_H

#include "wg_maps.h"
#include "wg_route.h"

/* Fills dsts[slot] for every peer of routes. Returns how many are unresolved. */
int wg_nexthop_resolve(const struct wg_routes *routes, struct wg_dst *dsts);

#endif
