// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The XDP half of the relay's DPDK mode. DPDK's net_af_xdp PMD loads this
 * program itself (devarg xdp_prog=), attaches it to the interface and puts
 * its AF_XDP socket into xsks_map at the socket's queue index. The program
 * only sorts: IPv4 UDP datagrams to one of the relay's addresses and port,
 * without IP options or fragments, go to DPDK; everything else (ARP, the
 * host's own traffic, fragments) stays with the kernel, so the neighbour
 * table and the relay's UDP socket keep working beside DPDK.
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

SEC("xdp")
int hd_wg_dpdk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct udphdr *udp = (void *)(ip + 1);

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	/* Options and fragments: the stack reassembles, the relay's socket forwards. */
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return XDP_PASS;
	if (!wg_dpdk_cfg.port || udp->dest != wg_dpdk_cfg.port || !is_local(ip->daddr))
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
