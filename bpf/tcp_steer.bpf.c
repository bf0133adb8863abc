// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The TCP steering program alone, for an interface without the WireGuard
 * relay: handed-off segments to the XSKs (tcp_steer.h), everything else
 * (SYNs, other ports, ARP, ICMP, connections on the kernel path) to the
 * kernel.
 */
#include "tcp_steer.h"

SEC("xdp")
int tcp_steer(struct xdp_md *ctx)
{
	int verdict = tcp_steer_step(ctx);

	return verdict == STEER_NEXT ? XDP_PASS : verdict;
}

char _license[] SEC("license") = "Dual MIT/GPL";
