// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * WireGuard relay fast path. For a UDP datagram (IPv4 or IPv6) to the relay
 * port from a known peer: classify the WireGuard message (type and exact
 * length), pick the destination of transport data (the only link, or the
 * owner of the receiver index), rewrite MACs, addresses, ports, TTL and
 * both checksums incrementally, and send it out: XDP_TX on the same
 * interface, bpf_redirect to another. The payload is never touched.
 *
 * What this program cannot finish goes on: handshake messages and cookie
 * replies (MAC1 needs BLAKE2s, and index ownership is decided in one place,
 * src/wireguard/wg_index.c) to the AF_XDP socket; fragments, IPv4
 * options, IPv6 extension headers, destinations whose next-hop MAC is not
 * resolved, and datagrams between an IPv4 and an IPv6 peer (a header of
 * another size) to the kernel stack, where the relay's UDP socket takes
 * them. Unknown sources and
 * malformed messages are dropped here and counted. In AF_XDP mode
 * (WG_XDP_ALL_TO_XSK) every relay datagram goes to the AF_XDP socket.
 *
 * The maps are filled by userspace (src/wireguard/wg_xdp.c); their keys and
 * values are declared in wg_maps.h, shared with it.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define WG_INLINE static __always_inline
#include "wg_maps.h"
#include "wg_proto.h"
#include "wg_rewrite.h"

#define WG_MAX_PEERS	 1024
#define WG_MAX_LINKS	 4096
#define WG_INDEX_ENTRIES 65536 /* >= WG_INDEX_MAX_ROUTES (wg_index.h): 40960 */
#define WG_MAX_LOCAL	 64
#define WG_MAX_SOURCES	 1024 /* WG_SOURCES in wg_sources.h */
#define WG_XSK_PER_IF	 64 /* XSKMAP key: interface slot * WG_XSK_PER_IF + rx queue */
#define WG_MAX_XSK	 (4 * WG_XSK_PER_IF)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct wg_xdp_config);
} wg_config SEC(".maps");

/* Source address and port to peer. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WG_MAX_PEERS);
	__type(key, struct wg_peer_key);
	__type(value, struct wg_peer_val);
} wg_peers SEC(".maps");

/* Peer slot to where and how to send. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, WG_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct wg_dst);
} wg_dsts SEC(".maps");

/* Linked slot pairs, both orders. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2 * WG_MAX_LINKS);
	__type(key, struct wg_link_key);
	__type(value, __u8);
} wg_links SEC(".maps");

/*
 * Receiver index to the slot of the peer that chose it. Written only by
 * userspace (src/wireguard/wg_index.c), from handshakes it checked: XDP
 * only reads it. A plain hash, not an LRU: nothing here may push out an
 * entry; the per-peer quotas in userspace bound it (WG_INDEX_MAX_ROUTES).
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WG_INDEX_ENTRIES);
	__type(key, __u32);
	__type(value, __u32);
} wg_index SEC(".maps");

/*
 * Addresses (not table peers) that sent initiations made for no peer's key
 * too often, to when they are blocked (bpf_ktime_get_ns clock). Written by
 * userspace (src/wireguard/wg_sources.c); an expired entry is removed here.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WG_MAX_SOURCES);
	__type(key, struct wg_local_key);
	__type(value, __u64);
} wg_blocklist SEC(".maps");

/* The relay's own addresses, IPv4 mapped: only datagrams to these are ours. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, WG_MAX_LOCAL);
	__type(key, struct wg_local_key);
	__type(value, __u8);
} wg_local SEC(".maps");

/* Interface index to its slot in the XSKMAP. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} wg_ifslots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, WG_MAX_XSK);
	__type(key, __u32);
	__type(value, __u32);
} wg_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WG_MAX_PEERS);
	__type(key, __u32);
	__type(value, struct wg_peer_stats);
} wg_peer_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, WG_CNT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} wg_counters SEC(".maps");

WG_INLINE void count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&wg_counters, &counter);

	if (c)
		*c += 1;
}

WG_INLINE int drop(__u32 counter)
{
	count(counter);
	return XDP_DROP;
}

WG_INLINE int to_stack(void)
{
	count(WG_CNT_TO_STACK);
	return XDP_PASS;
}

/* Hands the frame to the AF_XDP worker of this interface and queue, or to the stack. */
WG_INLINE int to_xsk(struct xdp_md *ctx, const struct wg_xdp_config *cfg)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 *slot = bpf_map_lookup_elem(&wg_ifslots, &ifindex);

	if (!cfg->xsk_ready || !slot || ctx->rx_queue_index >= WG_XSK_PER_IF)
		return to_stack();
	count(WG_CNT_TO_XSK);
	return bpf_redirect_map(&wg_xsks, *slot * WG_XSK_PER_IF + ctx->rx_queue_index, XDP_PASS);
}

/*
 * WireGuard message type by its first 4 bytes and exact length, or 0:
 * the same rule as wg_msg_classify() in userspace.
 */
WG_INLINE __u32 classify(const __u8 *msg, __u32 len)
{
	if (msg[1] || msg[2] || msg[3])
		return 0;
	switch (msg[0]) {
	case WG_MSG_INITIATION:
		return len == WG_INITIATION_LEN ? WG_MSG_INITIATION : 0;
	case WG_MSG_RESPONSE:
		return len == WG_RESPONSE_LEN ? WG_MSG_RESPONSE : 0;
	case WG_MSG_COOKIE_REPLY:
		return len == WG_COOKIE_REPLY_LEN ? WG_MSG_COOKIE_REPLY : 0;
	case WG_MSG_TRANSPORT:
		return len >= WG_TRANSPORT_MIN_LEN ? WG_MSG_TRANSPORT : 0;
	}
	return 0;
}

/*
 * A transport message's destination: the owner of its receiver index, if
 * that peer is linked to src; or -1. The same rule as wg_route() in userspace.
 */
WG_INLINE int route_by_index(const __u8 *msg, __u32 src)
{
	struct wg_link_key link = { .a = src };
	__u32 index, *owner;

	index = wg_load32(msg + WG_TRANSPORT_RECEIVER);
	owner = bpf_map_lookup_elem(&wg_index, &index);
	if (!owner)
		return -1;
	link.b = *owner;
	if (!bpf_map_lookup_elem(&wg_links, &link))
		return -1;
	return (int)link.b;
}

WG_INLINE void count_peers(__u32 src, __u32 dst, __u32 len)
{
	struct wg_peer_stats *s = bpf_map_lookup_elem(&wg_peer_stats, &src);

	if (s) {
		s->rx_packets++;
		s->rx_bytes += len;
		s->last_rx_ns = bpf_ktime_get_ns();
	}
	s = bpf_map_lookup_elem(&wg_peer_stats, &dst);
	if (s) {
		s->tx_packets++;
		s->tx_bytes += len;
	}
}

/* A relay datagram's headers, once its family is known, and who sent it. */
struct wg_pkt {
	__u8 *eth;
	__u8 *ip;
	struct udphdr *udp;
	struct wg_peer_key src;
	int v6;
};

#define WG_OURS (-1) /* a parse step's "go on": anything else is the XDP verdict */

/* ::ffff:a.b.c.d, the form wg_peers and wg_local key IPv4 by. */
WG_INLINE void map_v4(__u8 *out, __u32 addr)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	wg_store32(out + 12, addr);
}

WG_INLINE int is_local(const __u8 *addr16)
{
	struct wg_local_key k;

	__builtin_memcpy(k.addr, addr16, sizeof(k.addr));
	return bpf_map_lookup_elem(&wg_local, &k) != NULL;
}

/* Whether an address is on the blocklist now; an expired entry goes. */
WG_INLINE int blocked(const __u8 *addr16)
{
	struct wg_local_key k;
	__u64 *until;

	__builtin_memcpy(k.addr, addr16, sizeof(k.addr));
	until = bpf_map_lookup_elem(&wg_blocklist, &k);
	if (!until)
		return 0;
	if (*until > bpf_ktime_get_ns())
		return 1;
	bpf_map_delete_elem(&wg_blocklist, &k);
	return 0;
}

/* IPv4 UDP to one of our addresses and the relay port, without options or fragments. */
WG_INLINE int parse_ipv4(struct wg_pkt *p, void *data, void *data_end,
			 const struct wg_xdp_config *cfg)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 daddr[16];

	if ((void *)(udp + 1) + 12 > data_end || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	if (udp->dest != cfg->port)
		return XDP_PASS;
	map_v4(daddr, ip->daddr);
	if (!is_local(daddr))
		return XDP_PASS;
	/* Options and fragments: the stack reassembles, the socket path forwards. */
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return to_stack();
	p->eth = data;
	p->ip = (__u8 *)ip;
	p->udp = udp;
	p->v6 = 0;
	map_v4(p->src.addr, ip->saddr);
	p->src.port = udp->source;
	return WG_OURS;
}

/* The IPv6 extension headers (RFC 8200, 4) that may stand between IPv6 and UDP. */
WG_INLINE int is_ext_header(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_DSTOPTS;
}

/*
 * IPv6 UDP to one of our addresses and the relay port, UDP right after the
 * fixed header. With extension headers the port is out of reach without
 * walking the chain: such packets to our addresses go to the stack, counted,
 * whatever their port (the socket takes the relay's, reassembled if need be).
 */
WG_INLINE int parse_ipv6(struct wg_pkt *p, void *data, void *data_end,
			 const struct wg_xdp_config *cfg)
{
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip6 + 1);

	if ((void *)(ip6 + 1) > data_end)
		return XDP_PASS;
	if (ip6->nexthdr != IPPROTO_UDP) {
		if (is_ext_header(ip6->nexthdr) && is_local((__u8 *)&ip6->daddr))
			return to_stack();
		return XDP_PASS;
	}
	if ((void *)(udp + 1) + 12 > data_end || udp->dest != cfg->port)
		return XDP_PASS;
	if (!is_local((__u8 *)&ip6->daddr))
		return XDP_PASS;
	p->eth = data;
	p->ip = (__u8 *)ip6;
	p->udp = udp;
	p->v6 = 1;
	__builtin_memcpy(p->src.addr, &ip6->saddr, 16);
	p->src.port = udp->source;
	return WG_OURS;
}

/* Rewrites for the destination and sends; the frame keeps its family (checked by the caller). */
WG_INLINE int forward(struct xdp_md *ctx, struct wg_pkt *p, const struct wg_dst *d, __u16 port)
{
	if (p->v6)
		wg_rewrite_frame6(p->eth, p->ip, (__u8 *)p->udp, d, port);
	else
		wg_rewrite_frame(p->eth, p->ip, (__u8 *)p->udp, d, port);
	if (d->ifindex == ctx->ingress_ifindex) {
		count(WG_CNT_XDP_TX);
		return XDP_TX;
	}
	count(WG_CNT_XDP_REDIRECT);
	return bpf_redirect(d->ifindex, 0);
}

SEC("xdp")
int wg_relay(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct wg_pkt p = {};
	__u32 zero = 0, len, type;
	int dst, verdict;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	struct wg_xdp_config *cfg = bpf_map_lookup_elem(&wg_config, &zero);
	if (!cfg)
		return XDP_PASS;
	/* Only UDP to one of our addresses and the relay port is ours. */
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		verdict = parse_ipv4(&p, data, data_end, cfg);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		verdict = parse_ipv6(&p, data, data_end, cfg);
	else
		return XDP_PASS;
	if (verdict != WG_OURS)
		return verdict;
	if (cfg->mode == WG_XDP_ALL_TO_XSK)
		return to_xsk(ctx, cfg);

	struct udphdr *udp = p.udp;
	__u8 *msg = (void *)(udp + 1);
	if ((void *)msg + 12 > data_end)
		return XDP_PASS;
	len = bpf_ntohs(udp->len);
	if (len < sizeof(*udp) || (void *)udp + len > data_end)
		return drop(WG_CNT_DROP_MALFORMED);
	/* Zero is not a valid IPv6 UDP checksum (RFC 8200, 8.1); the stack would drop it too. */
	if (p.v6 && udp->check == 0)
		return drop(WG_CNT_DROP_MALFORMED);
	len -= sizeof(*udp);

	struct wg_peer_val *peer = bpf_map_lookup_elem(&wg_peers, &p.src);
	type = classify(msg, len);
	/* A known peer at a new address starts with an initiation: userspace may roam it. */
	if (!peer) {
		if (blocked(p.src.addr))
			return drop(WG_CNT_DROP_BLOCKED);
		return type == WG_MSG_INITIATION ? to_xsk(ctx, cfg)
						 : drop(WG_CNT_DROP_UNKNOWN_SOURCE);
	}
	if (!type)
		return drop(WG_CNT_DROP_MALFORMED);
	if (peer->nlinks == 0)
		return drop(WG_CNT_DROP_NO_LINK);
	/*
	 * Handshakes (and the cookie replies that answer them) decide who owns
	 * an index: userspace checks MAC1, rate and the initiation a response
	 * answers, and writes wg_index. They are a few per peer every two
	 * minutes, so the fast path loses nothing by not deciding them here.
	 */
	if (type != WG_MSG_TRANSPORT)
		return to_xsk(ctx, cfg);
	if (peer->nlinks == 1)
		dst = (int)peer->dst_slot;
	else
		dst = route_by_index(msg, peer->slot);
	if (dst < 0)
		return drop(WG_CNT_DROP_NO_ROUTE);

	__u32 dslot = (__u32)dst;
	struct wg_dst *d = bpf_map_lookup_elem(&wg_dsts, &dslot);
	if (!d || !(d->flags & WG_DST_RESOLVED))
		return to_stack(); /* the kernel resolves the neighbour on the way out */
	/* IPv4 to IPv6 or back: a header of another size; the kernel builds it. */
	if (!(d->flags & WG_DST_IPV6) != !p.v6)
		return to_stack();

	count_peers(peer->slot, dslot, len);
	return forward(ctx, &p, d, cfg->port);
}

char _license[] SEC("license") = "Dual MIT/GPL";
