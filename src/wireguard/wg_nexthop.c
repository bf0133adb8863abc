// SPDX-License-Identifier: MIT
/*
 * Next hops of the relay's peers: the port layer's resolver (src/port/
 * nexthop.c) for each peer's endpoint, written into its wg_dst.
 */
#include "wg_nexthop.h"

#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "nexthop.h"

/* The peer's endpoint into d (addr or addr6, flags); its family and bytes for the resolver. */
static int peer_addr(const struct wg_route_peer *p, struct wg_dst *d, uint8_t bytes[16])
{
	if (wg_endpoint_is_v4(&p->ep)) {
		d->addr = wg_endpoint_v4(&p->ep);
		memcpy(bytes, &d->addr, 4);
		return AF_INET;
	}
	d->flags = WG_DST_IPV6;
	memcpy(d->addr6, p->ep.addr, 16);
	memcpy(bytes, p->ep.addr, 16);
	return AF_INET6;
}

int wg_nexthop_resolve(const struct wg_routes *routes, struct wg_dst *dsts)
{
	int unresolved = 0;
	int fd = nexthop_socket();

	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &routes->peers[i];
		struct wg_dst *d = &dsts[i];
		struct nexthop nh;
		uint8_t dst[16];

		if (!p->used)
			continue;
		memset(d, 0, sizeof(*d));
		d->port = p->ep.port;
		int family = peer_addr(p, d, dst);
		if (nexthop_resolve(fd, family, dst, &nh) < 0) {
			unresolved++;
			continue;
		}
		if (family == AF_INET6)
			memcpy(d->src_addr6, nh.src, 16);
		else
			memcpy(&d->src_addr, nh.src, 4);
		memcpy(d->smac, nh.smac, 6);
		memcpy(d->dmac, nh.dmac, 6);
		d->ifindex = (__u32)nh.ifindex;
		d->flags |= WG_DST_RESOLVED;
	}
	if (fd >= 0)
		close(fd);
	return unresolved;
}
