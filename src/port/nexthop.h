/* SPDX-License-Identifier: MIT */
/*
 * Where a frame to a destination goes, for the paths that build frames
 * themselves (XDP, AF_XDP, DPDK): egress interface, our source address on
 * it, and the next hop's MAC, asked of the kernel's routing and neighbour
 * tables over rtnetlink. A destination whose neighbour entry is not
 * complete yet stays unresolved: its traffic takes the kernel stack, which
 * resolves it.
 */
#ifndef HD_NEXTHOP_H
#define HD_NEXTHOP_H

#include <stdint.h>

struct nexthop {
	int ifindex;	 /* egress interface */
	uint8_t src[16]; /* our address towards the destination; IPv4 in the first 4 bytes */
	uint8_t smac[6]; /* the egress interface's */
	uint8_t dmac[6]; /* the gateway's, or the destination's when it is on-link */
};

/* A NETLINK_ROUTE socket for nexthop_resolve (replies bounded to 200 ms); -1 on failure. */
int nexthop_socket(void);

/* Resolves dst (AF_INET: 4 bytes, AF_INET6: 16). 0, or -1 when unresolved. */
int nexthop_resolve(int nl_fd, int family, const uint8_t *dst, struct nexthop *nh);

#endif
