// SPDX-License-Identifier: MIT
/*
 * Next hops over rtnetlink: RTM_GETROUTE for the egress interface, the
 * preferred source address and the gateway, RTM_GETNEIGH for the MAC of the
 * gateway (or of the peer, when it is on-link): the ARP entry for an IPv4
 * peer, the NDP entry for an IPv6 one. One short request and reply
 * per peer; the worker calls this on table changes and on a timer, never
 * per packet.
 */
#include "wg_nexthop.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF 8192

struct nl_req {
	struct nlmsghdr nh;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
	};
	char attrs[64];
};

static void add_attr(struct nl_req *req, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	req->nh.nlmsg_len = NLMSG_ALIGN(req->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Sends req and receives the one reply into buf; returns its length or -1. */
static int nl_call(int fd, struct nl_req *req, char *buf)
{
	static __u32 seq;

	req->nh.nlmsg_seq = ++seq;
	if (send(fd, req, req->nh.nlmsg_len, 0) < 0)
		return -1;
	for (;;) {
		ssize_t n = recv(fd, buf, NL_BUF, 0);
		if (n < 0)
			return -1;
		struct nlmsghdr *nh = (struct nlmsghdr *)buf;
		if (!NLMSG_OK(nh, (unsigned)n) || nh->nlmsg_seq != req->nh.nlmsg_seq)
			continue; /* a late answer to an earlier request */
		if (nh->nlmsg_type == NLMSG_ERROR)
			return -1;
		return (int)n;
	}
}

/* An address of either family, as the kernel's rtattrs carry it. */
struct nh_addr {
	int family; /* AF_INET or AF_INET6 */
	__u8 bytes[16];
};

static size_t addr_len(const struct nh_addr *a)
{
	return a->family == AF_INET6 ? 16 : 4;
}

static bool addr_is_set(const struct nh_addr *a)
{
	static const __u8 zeros[16];

	return memcmp(a->bytes, zeros, addr_len(a)) != 0;
}

/* RTM_GETROUTE: the egress interface, the preferred source and the gateway (if any) to dst. */
static int route_get(int fd, const struct nh_addr *dst, int *oif, struct nh_addr *src,
		     struct nh_addr *gateway)
{
	char buf[NL_BUF];
	size_t alen = addr_len(dst);
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
			.nlmsg_type = RTM_GETROUTE,
			.nlmsg_flags = NLM_F_REQUEST },
		.rt = { .rtm_family = (unsigned char)dst->family,
			.rtm_dst_len = (unsigned char)(alen * 8) },
	};

	add_attr(&req, RTA_DST, dst->bytes, alen);
	int n = nl_call(fd, &req, buf);
	if (n < 0)
		return -1;
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct rtmsg *rt = NLMSG_DATA(nh);
	int len = (int)RTM_PAYLOAD(nh);
	*oif = 0;
	*src = *gateway = (struct nh_addr){ .family = dst->family };
	for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == sizeof(*oif))
			memcpy(oif, RTA_DATA(a), sizeof(*oif));
		else if (a->rta_type == RTA_PREFSRC && RTA_PAYLOAD(a) == alen)
			memcpy(src->bytes, RTA_DATA(a), alen);
		else if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == alen)
			memcpy(gateway->bytes, RTA_DATA(a), alen);
	}
	return *oif && addr_is_set(src) ? 0 : -1;
}

/*
 * The MAC of addr on ifindex, if the neighbour entry is usable: the ARP
 * entry for IPv4, the NDP entry for IPv6 (the same table, by family).
 */
static int neigh_get(int fd, int ifindex, const struct nh_addr *addr, __u8 mac[6])
{
	char buf[NL_BUF];
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ndmsg)),
			.nlmsg_type = RTM_GETNEIGH,
			.nlmsg_flags = NLM_F_REQUEST },
		.nd = { .ndm_family = (__u8)addr->family, .ndm_ifindex = ifindex },
	};

	add_attr(&req, NDA_DST, addr->bytes, addr_len(addr));
	int n = nl_call(fd, &req, buf);
	if (n < 0)
		return -1;
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct ndmsg *nd = NLMSG_DATA(nh);
	/* STALE still holds a good MAC; traffic that bypasses the stack never refreshes it. */
	if (!(nd->ndm_state & (NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT)))
		return -1;
	int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
	for (struct rtattr *a = (struct rtattr *)((char *)nd + NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
			memcpy(mac, RTA_DATA(a), 6);
			return 0;
		}
	}
	return -1;
}

static int if_mac(int ifindex, __u8 mac[6])
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (if_indextoname((unsigned)ifindex, ifr.ifr_name) &&
	    ioctl(fd, SIOCGIFHWADDR, &ifr) == 0) {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		rc = 0;
	}
	close(fd);
	return rc;
}

/* The peer's address as route_get takes it; its fields in dst (addr or addr6, flags). */
static struct nh_addr peer_addr(const struct wg_route_peer *p, struct wg_dst *d)
{
	struct nh_addr a = { .family = AF_INET };

	if (wg_endpoint_is_v4(&p->ep)) {
		d->addr = wg_endpoint_v4(&p->ep);
		memcpy(a.bytes, &d->addr, 4);
	} else {
		a.family = AF_INET6;
		d->flags = WG_DST_IPV6;
		memcpy(d->addr6, p->ep.addr, 16);
		memcpy(a.bytes, p->ep.addr, 16);
	}
	return a;
}

static void set_source(struct wg_dst *d, const struct nh_addr *src)
{
	if (src->family == AF_INET6)
		memcpy(d->src_addr6, src->bytes, 16);
	else
		memcpy(&d->src_addr, src->bytes, 4);
}

int wg_nexthop_resolve(const struct wg_routes *routes, struct wg_dst *dsts)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int unresolved = 0;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &routes->peers[i];
		struct wg_dst *d = &dsts[i];
		struct nh_addr dst, src, gateway;
		int oif;

		if (!p->used)
			continue;
		memset(d, 0, sizeof(*d));
		d->port = p->ep.port;
		dst = peer_addr(p, d);
		if (fd < 0 || route_get(fd, &dst, &oif, &src, &gateway) < 0 ||
		    neigh_get(fd, oif, addr_is_set(&gateway) ? &gateway : &dst, d->dmac) < 0 ||
		    if_mac(oif, d->smac) < 0) {
			unresolved++;
			continue;
		}
		set_source(d, &src);
		d->ifindex = (__u32)oif;
		d->flags |= WG_DST_RESOLVED;
	}
	if (fd >= 0)
		close(fd);
	return unresolved;
}
