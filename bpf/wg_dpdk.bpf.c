// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The XDP half of the relay's DPDK mode. DPDK's net_af_xdp PMD loads this
 * program itself (devarg xdp_prog=), attaches it to the interface and puts
 * its AF_XDP socket into xsks_map at the socket's queue index. The program
 * only sorts: UDP datagrams to one of the relay's addresses and port, IPv4
 * without options or fragments and IPv6 without extension headers, go to
 * DPDK; everything else (ARP, NDP, the host's own traffic, fragments) stays
 * with the kernel, so the neighbour table and the relay's UDP socket keep
 * working beside DPDK.
 *
 * The PMD loads the object from a file and keeps it, so the relay cannot
 * reach its maps without CAP_SYS_ADMIN: the settings are a constant instead,
 * written into the object's bytes before DPDK reads them
 * (src/wireguard/wg_port_dpdk.c). A frame whose queue has no socket in
 * xsks_map (the relay has exited) goes to the kernel: the redirect falls
 * back to XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "wg_maps.h"

#define WG_DPDK_MAX_QUEUES 64

/* In .rodata: the loader freezes it. Volatile, so that the compiler reads it. */
volatile const struct wg_dpdk_cfg wg_dpdk_cfg = {};

/* The name the PMD looks for; key: rx queue index. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, WG_DPDK_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

static __always_inline int is_local(__u32 daddr)
{
	for (int i = 0; i < WG_DPDK_MAX_LOCAL; i++) {
		if (i >= wg_dpdk_cfg.naddrs)
			return 0;
		if (wg_dpdk_cfg.addrs[i] == daddr)
			return 1;
	}
	return 0;
}

static __always_inline int is_local6(const struct in6_addr *daddr)
{
	__u32 d0 = daddr->in6_u.u6_addr32[0], d1 = daddr->in6_u.u6_addr32[1];
	__u32 d2 = daddr->in6_u.u6_addr32[2], d3 = daddr->in6_u.u6_addr32[3];

	for (int i = 0; i < WG_DPDK_MAX_LOCAL; i++) {
		const volatile __u32 *a = (const volatile __u32 *)wg_dpdk_cfg.addrs6[i];
		if (i >= wg_dpdk_cfg.naddrs6)
			return 0;
		if (a[0] == d0 && a[1] == d1 && a[2] == d2 && a[3] == d3)
			return 1;
	}
	return 0;
}

/* IPv4 UDP to us, without options or fragments (the stack reassembles, the socket forwards). */
static __always_inline int ours_v4(void *data, void *data_end)
{
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end || ip->protocol != IPPROTO_UDP)
		return 0;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return 0;
	return udp->dest == wg_dpdk_cfg.port && is_local(ip->daddr);
}

/* IPv6 UDP to us, UDP right after the fixed header: extension headers stay with the kernel. */
static __always_inline int ours_v6(void *data, void *data_end)
{
	struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);
	struct udphdr *udp = (void *)(ip6 + 1);

	if ((void *)(udp + 1) > data_end || ip6->nexthdr != IPPROTO_UDP)
		return 0;
	return udp->dest == wg_dpdk_cfg.port && is_local6(&ip6->daddr);
}

SEC("xdp")
int hd_wg_dpdk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	int ours;

	if ((void *)(eth + 1) > data_end || !wg_dpdk_cfg.port)
		return XDP_PASS;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		ours = ours_v4(data, data_end);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		ours = ours_v6(data, data_end);
	else
		ours = 0;
	if (!ours)
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
