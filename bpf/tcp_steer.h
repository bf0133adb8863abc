/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * TCP steering for the kernel-bypass handoff (docs/bypass.md), as maps and
 * one step an XDP program calls first: tcp_steer.bpf.c is that step alone;
 * an interface that also carries the WireGuard relay runs one program that
 * calls it before its own work (an interface holds one XDP program here,
 * see docs/bypass.md, "One XDP program per interface").
 *
 * A segment of a handed-off connection (tcp_flows, filled by userspace
 * before it takes the socket with TCP_REPAIR) goes to the XSK of the queue
 * it arrived on; the worker owning that queue owns the flow, or passes it
 * to its owner. A handed-off segment never goes to the kernel, even when no
 * XSK is bound: the kernel has no socket for it any more and would answer
 * with an RST; dropped, the peer retransmits. SYNs to a watched port
 * (tcp_ports) leave the queue they came in on in tcp_seen, so the slow path
 * knows the owning worker before the move.
 *
 * The maps are filled by userspace (src/port/steer.c); their keys and
 * values are declared in steer_maps.h, shared with it.
 */
#ifndef HD_TCP_STEER_H
#define HD_TCP_STEER_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "steer_maps.h"

#define STEER_NEXT (-1) /* not a handed-off segment: the calling program goes on */

#define STEER_INLINE static __always_inline

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_FLOWS);
	__type(key, struct steer_flow_key);
	__type(value, struct steer_flow_val);
} tcp_flows SEC(".maps");

/* An LRU: a SYN flood pushes out old entries instead of filling it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, STEER_MAX_SEEN);
	__type(key, struct steer_flow_key);
	__type(value, struct steer_seen_val);
} tcp_seen SEC(".maps");

/* Local ports (network byte order) whose SYNs are watched. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, STEER_MAX_PORTS);
	__type(key, __be16);
	__type(value, __u8);
} tcp_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, STEER_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} tcp_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STEER_CNT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} tcp_counters SEC(".maps");

STEER_INLINE void steer_count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&tcp_counters, &counter);

	if (c)
		*c += 1;
}

/* The TCP header of an IPv4 packet (any options), or NULL. Fills the key's addresses. */
STEER_INLINE struct tcphdr *steer_parse_ipv4(void *data, void *data_end, struct steer_flow_key *k)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct tcphdr *tcp;

	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_TCP || ip->ihl < 5)
		return NULL;
	/* A later fragment has no TCP header: it is not ours to look into. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return NULL;
	tcp = (void *)ip + ip->ihl * 4;
	if ((void *)(tcp + 1) > data_end)
		return NULL;
	k->family = 2; /* AF_INET */
	__builtin_memcpy(k->remote_ip, &ip->saddr, 4);
	__builtin_memcpy(k->local_ip, &ip->daddr, 4);
	return tcp;
}

/* The TCP header right after a fixed IPv6 header, or NULL (extension headers: the kernel's). */
STEER_INLINE struct tcphdr *steer_parse_ipv6(void *data, void *data_end, struct steer_flow_key *k)
{
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct tcphdr *tcp = (void *)(ip6 + 1);

	if ((void *)(tcp + 1) > data_end || ip6->nexthdr != IPPROTO_TCP)
		return NULL;
	k->family = 10; /* AF_INET6 */
	__builtin_memcpy(k->remote_ip, &ip6->saddr, 16);
	__builtin_memcpy(k->local_ip, &ip6->daddr, 16);
	return tcp;
}

/* A handed-off segment: to the XSK of this queue, never to the kernel. */
STEER_INLINE int steer_to_xsk(struct xdp_md *ctx, struct steer_flow_val *flow)
{
	__u32 queue = ctx->rx_queue_index;

	flow->packets++;
	if (queue != flow->queue)
		steer_count(STEER_CNT_WRONG_QUEUE);
	if (!bpf_map_lookup_elem(&tcp_xsks, &queue)) {
		steer_count(STEER_CNT_NO_XSK);
		return XDP_DROP;
	}
	steer_count(STEER_CNT_TO_XSK);
	return bpf_redirect_map(&tcp_xsks, queue, XDP_DROP);
}

/* Remembers the RX queue of a SYN to a watched port: the owner of the connection to come. */
STEER_INLINE void steer_learn_queue(struct xdp_md *ctx, const struct tcphdr *tcp,
				    const struct steer_flow_key *k)
{
	struct steer_seen_val seen = { .queue = ctx->rx_queue_index };

	if (!tcp->syn || tcp->ack || !bpf_map_lookup_elem(&tcp_ports, &k->local_port))
		return;
	bpf_map_update_elem(&tcp_seen, k, &seen, BPF_ANY);
	steer_count(STEER_CNT_SYN_SEEN);
}

/*
 * The steering step on its own, for any XDP program of the interface: the
 * verdict for a handed-off segment, or STEER_NEXT for everything else (a
 * SYN to a watched port has left its queue in tcp_seen by then).
 */
STEER_INLINE int tcp_steer_step(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct steer_flow_key k = {};
	struct steer_flow_val *flow;
	struct tcphdr *tcp;

	if ((void *)(eth + 1) > data_end)
		return STEER_NEXT;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		tcp = steer_parse_ipv4(data, data_end, &k);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		tcp = steer_parse_ipv6(data, data_end, &k);
	else
		return STEER_NEXT;
	if (!tcp)
		return STEER_NEXT;
	k.remote_port = tcp->source;
	k.local_port = tcp->dest;
	flow = bpf_map_lookup_elem(&tcp_flows, &k);
	if (flow)
		return steer_to_xsk(ctx, flow);
	steer_learn_queue(ctx, tcp, &k);
	return STEER_NEXT;
}

#endif
