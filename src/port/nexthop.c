// SPDX-License-Identifier: MIT
/*
 * Next hops over rtnetlink: RTM_GETROUTE for the egress interface, the
 * preferred source address and the gateway, RTM_GETNEIGH for the MAC of the
 * gateway (or of the destination, when it is on-link): the ARP entry for
 * IPv4, the NDP entry for IPv6. One short request and reply per
 * destination; callers resolve on table changes and on a timer, never per
 * packet.
 */
#include "nexthop.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define NL_BUF 8192

struct nl_req {
	struct nlmsghdr nh;
	union {
		struct rtmsg rt;
		struct ndmsg nd;
		struct ifinfomsg ifi;
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

/*
 * The interface's MAC, over the same socket: asked in the netlink
 * socket's namespace, like the route and the neighbour.
 */
static int link_mac(int fd, int ifindex, __u8 mac[6])
{
	char buf[NL_BUF];
	struct nl_req req = {
		.nh = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST },
		.ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex },
	};

	int n = nl_call(fd, &req, buf);
	if (n < 0)
		return -1;
	struct nlmsghdr *nh = (struct nlmsghdr *)buf;
	struct ifinfomsg *ifi = NLMSG_DATA(nh);
	int len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
	for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		if (a->rta_type == IFLA_ADDRESS && RTA_PAYLOAD(a) == 6) {
			memcpy(mac, RTA_DATA(a), 6);
			return 0;
		}
	}
	return -1;
}

int nexthop_socket(void)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int nexthop_resolve(int nl_fd, int family, const uint8_t *dst, struct nexthop *nh)
{
	struct nh_addr to = { .family = family }, src, gateway;

	memcpy(to.bytes, dst, addr_len(&to));
	memset(nh, 0, sizeof(*nh));
	if (nl_fd < 0 || route_get(nl_fd, &to, &nh->ifindex, &src, &gateway) < 0 ||
	    neigh_get(nl_fd, nh->ifindex, addr_is_set(&gateway) ? &gateway : &to, nh->dmac) < 0 ||
	    link_mac(nl_fd, nh->ifindex, nh->smac) < 0)
		return -1;
	memcpy(nh->src, src.bytes, addr_len(&src));
	return 0;
}
