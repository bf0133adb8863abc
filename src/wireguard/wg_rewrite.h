/* SPDX-License-Identifier: MIT */
/*
 * Turning a received datagram into the one the relay sends: new MACs, new
 * IP source and destination, the relay's port as source, the peer's as
 * destination, TTL (hop limit) reset, and the checksums updated
 * incrementally (RFC 1624) rather than recomputed, so the cost does not
 * grow with the payload. One function per family; the frame keeps its
 * family and its length (a datagram that changes family is sent by the
 * kernel, see wg_port_fwd.c). Header-only and libc-free: the XDP program and the AF_XDP worker
 * include the same code, and the unit test checks it against a full
 * computation.
 */
#ifndef HD_WG_REWRITE_H
#define HD_WG_REWRITE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/types.h>
#include <linux/udp.h>

#include "wg_maps.h"

#ifndef WG_INLINE
#define WG_INLINE static inline __attribute__((always_inline))
#endif

#define WG_RELAY_TTL 64

/* Folds a 32-bit one's-complement sum to 16 bits. */
WG_INLINE __u16 wg_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/*
 * Adds the change of one 16-bit word from old to new into sum, which
 * holds the complemented checksum (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
 * Words are taken as stored: the one's-complement sum does not care about
 * byte order as long as every term is read the same way.
 */
WG_INLINE __u32 wg_csum_diff16(__u32 sum, __u16 old, __u16 new)
{
	return sum + (__u16)~old + new;
}

WG_INLINE __u32 wg_csum_diff32(__u32 sum, __u32 old, __u32 new)
{
	sum = wg_csum_diff16(sum, (__u16)old, (__u16) new);
	return wg_csum_diff16(sum, (__u16)(old >> 16), (__u16)(new >> 16));
}

/* Unaligned-safe loads and stores: headers follow a 14-byte Ethernet header. */
WG_INLINE __u16 wg_load16(const void *p)
{
	__u16 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

WG_INLINE __u32 wg_load32(const void *p)
{
	__u32 v;
	__builtin_memcpy(&v, p, sizeof(v));
	return v;
}

WG_INLINE void wg_store16(void *p, __u16 v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

WG_INLINE void wg_store32(void *p, __u32 v)
{
	__builtin_memcpy(p, &v, sizeof(v));
}

/* IPv4 and UDP field offsets (linux/ip.h, linux/udp.h). */
#define WG_IP_TTL_PROTO 8 /* TTL and protocol, as the 16-bit word the checksum sees */
#define WG_IP_CHECK	10
#define WG_IP_SADDR	12
#define WG_IP_DADDR	16
#define WG_UDP_SOURCE	0
#define WG_UDP_DEST	2
#define WG_UDP_CHECK	6

/*
 * Rewrites a frame from a peer into the frame to dst. eth, ip and udp point
 * at the three headers, already bounds-checked; relay_port is in network
 * order.
 */
WG_INLINE void wg_rewrite_frame(__u8 *eth, __u8 *ip, __u8 *udp, const struct wg_dst *dst,
				__u16 relay_port)
{
	__u32 old_saddr = wg_load32(ip + WG_IP_SADDR), old_daddr = wg_load32(ip + WG_IP_DADDR);
	__u16 old_ttl_proto = wg_load16(ip + WG_IP_TTL_PROTO);
	__u16 old_sport = wg_load16(udp + WG_UDP_SOURCE), old_dport = wg_load16(udp + WG_UDP_DEST);
	__u16 check;
	__u32 sum;

	__builtin_memcpy(eth, dst->dmac, ETH_ALEN);
	__builtin_memcpy(eth + ETH_ALEN, dst->smac, ETH_ALEN);

	wg_store32(ip + WG_IP_SADDR, dst->src_addr);
	wg_store32(ip + WG_IP_DADDR, dst->addr);
	ip[WG_IP_TTL_PROTO] = WG_RELAY_TTL;
	sum = (__u16)~wg_load16(ip + WG_IP_CHECK);
	sum = wg_csum_diff32(sum, old_saddr, dst->src_addr);
	sum = wg_csum_diff32(sum, old_daddr, dst->addr);
	sum = wg_csum_diff16(sum, old_ttl_proto, wg_load16(ip + WG_IP_TTL_PROTO));
	wg_store16(ip + WG_IP_CHECK, (__u16)~wg_csum_fold(sum));

	wg_store16(udp + WG_UDP_SOURCE, relay_port);
	wg_store16(udp + WG_UDP_DEST, dst->port);
	check = wg_load16(udp + WG_UDP_CHECK);
	/* Zero means "no checksum" in IPv4 UDP: keep it so. */
	if (check == 0)
		return;
	sum = (__u16)~check;
	sum = wg_csum_diff32(sum, old_saddr, dst->src_addr); /* pseudo-header */
	sum = wg_csum_diff32(sum, old_daddr, dst->addr);
	sum = wg_csum_diff16(sum, old_sport, relay_port);
	sum = wg_csum_diff16(sum, old_dport, dst->port);
	check = (__u16)~wg_csum_fold(sum);
	/* A computed zero is sent as all ones (RFC 768). */
	wg_store16(udp + WG_UDP_CHECK, check ? check : 0xffff);
}

/* IPv6 header offsets (linux/ipv6.h). */
#define WG_IP6_NEXTHDR	6
#define WG_IP6_HOPLIMIT 7
#define WG_IP6_SADDR	8
#define WG_IP6_DADDR	24

/* Adds the change of a 16-byte address from old to new (both as stored) into sum. */
WG_INLINE __u32 wg_csum_diff128(__u32 sum, const __u8 *old, const __u8 *new)
{
	sum = wg_csum_diff32(sum, wg_load32(old), wg_load32(new));
	sum = wg_csum_diff32(sum, wg_load32(old + 4), wg_load32(new + 4));
	sum = wg_csum_diff32(sum, wg_load32(old + 8), wg_load32(new + 8));
	return wg_csum_diff32(sum, wg_load32(old + 12), wg_load32(new + 12));
}

/*
 * The IPv6 form of wg_rewrite_frame: dst is an IPv6 peer (WG_DST_IPV6).
 * IPv6 has no header checksum; the UDP checksum is mandatory and covers
 * both addresses through the pseudo-header, so it is updated for the two
 * addresses and the two ports. The caller has refused a zero checksum
 * (invalid in IPv6: RFC 8200, 8.1), so there is always one to update.
 */
WG_INLINE void wg_rewrite_frame6(__u8 *eth, __u8 *ip6, __u8 *udp, const struct wg_dst *dst,
				 __u16 relay_port)
{
	__u8 old_saddr[16], old_daddr[16];
	__u16 old_sport = wg_load16(udp + WG_UDP_SOURCE), old_dport = wg_load16(udp + WG_UDP_DEST);
	__u16 check;
	__u32 sum;

	__builtin_memcpy(old_saddr, ip6 + WG_IP6_SADDR, 16);
	__builtin_memcpy(old_daddr, ip6 + WG_IP6_DADDR, 16);
	__builtin_memcpy(eth, dst->dmac, ETH_ALEN);
	__builtin_memcpy(eth + ETH_ALEN, dst->smac, ETH_ALEN);

	__builtin_memcpy(ip6 + WG_IP6_SADDR, dst->src_addr6, 16);
	__builtin_memcpy(ip6 + WG_IP6_DADDR, dst->addr6, 16);
	ip6[WG_IP6_HOPLIMIT] = WG_RELAY_TTL;

	wg_store16(udp + WG_UDP_SOURCE, relay_port);
	wg_store16(udp + WG_UDP_DEST, dst->port);
	sum = (__u16)~wg_load16(udp + WG_UDP_CHECK);
	sum = wg_csum_diff128(sum, old_saddr, dst->src_addr6); /* pseudo-header */
	sum = wg_csum_diff128(sum, old_daddr, dst->addr6);
	sum = wg_csum_diff16(sum, old_sport, relay_port);
	sum = wg_csum_diff16(sum, old_dport, dst->port);
	check = (__u16)~wg_csum_fold(sum);
	wg_store16(udp + WG_UDP_CHECK, check ? check : 0xffff);
}

#endif
