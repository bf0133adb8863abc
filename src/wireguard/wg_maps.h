/* SPDX-License-Identifier: MIT */
/*
 * What the XDP program and userspace share: the layout of every BPF map's
 * keys and values, and the counter numbers. Userspace keeps the same
 * structures for its own paths, so `wg show` adds the two without
 * translating. Fixed-width kernel types only: bpf/ includes this file.
 */
#ifndef HD_WG_MAPS_H
#define HD_WG_MAPS_H

#include <linux/types.h>

/* Global counters, one per-CPU slot each; the drop reasons first. */
enum wg_counter {
	WG_CNT_DROP_UNKNOWN_SOURCE = 0, /* no peer has this source address and port */
	WG_CNT_DROP_MALFORMED,		/* not a WireGuard message: type or length wrong */
	WG_CNT_DROP_NO_LINK,		/* the source peer has no link */
	WG_CNT_DROP_NO_ROUTE,		/* several links, and no index or MAC1 picked one */
	WG_CNT_DROP_HANDSHAKE_RATE,	/* the source's handshake bucket was empty */
	WG_CNT_DROP_BAD_MAC1,		/* a handshake whose MAC1 is not for its destination's key */
	WG_CNT_DROP_INDEX_TAKEN,	/* claimed an index another peer holds, fresh */
	WG_CNT_DROP_UNMATCHED_RESPONSE, /* a response to no initiation forwarded to its sender */
	WG_CNT_DROP_INDEX_FULL,		/* no room for the index in its probe window */
	WG_CNT_DROP_BLOCKED,		/* from a blocked address (wg_sources.h) */
	WG_CNT_DROP_TX_ERROR,		/* the send failed or the ring was full */
	WG_CNT_XDP_TX,			/* forwarded in the kernel, out the same interface */
	WG_CNT_XDP_REDIRECT,		/* forwarded in the kernel, out another interface */
	WG_CNT_TO_XSK,			/* handed to the AF_XDP worker (or to DPDK's AF_XDP port) */
	WG_CNT_TO_STACK,		/* to the stack: fragments, IPv6 extension headers,
					   unresolved next hops, a change of IP family */
	WG_CNT_USER_FORWARD,		/* forwarded by the AF_XDP or socket path */
	WG_CNT_INDEX_EVICTED,		/* indices a peer's own quota pushed out (wg_index.h) */
	WG_CNT_ROAMED,			/* peers moved to the address their handshake came from */
	WG_CNT_SOURCES_BLOCKED,		/* times an address was put on the blocklist */
	WG_CNT_SOURCES_UNTRACKED,	/* unknown sources the full sources table could not take */
	WG_CNT_COUNT,
};

/*
 * wg_peers: who sent this datagram. Key: source address and port, network
 * order; an IPv4 address in its IPv4-mapped form (::ffff:a.b.c.d), as in
 * struct wg_endpoint.
 */
struct wg_peer_key {
	__u8 addr[16];
	__u16 port;
	__u16 pad;
};

/* wg_local: the relay's own addresses, in the same form. */
struct wg_local_key {
	__u8 addr[16];
};

struct wg_peer_val {
	__u32 slot;
	__u32 nlinks;
	__u32 dst_slot; /* the only link's slot when nlinks == 1 */
	__u32 pad;
};

/* wg_dsts, by slot: where to send and how (filled from the routing and neighbour tables). */
#define WG_DST_RESOLVED 1 /* next-hop MAC known: the dataplane may build the frame itself */
#define WG_DST_IPV6	2 /* the peer is IPv6: addr6 and src_addr6 hold the addresses */

struct wg_dst {
	__u32 addr; /* the peer's IPv4 endpoint, network order (IPv4 peers) */
	__u16 port;
	__u16 flags;	/* WG_DST_* */
	__u32 src_addr; /* the relay's IPv4 address towards the peer */
	__u32 ifindex;	/* egress interface */
	__u8 smac[6];
	__u8 dmac[6];
	__u8 addr6[16];	    /* the peer's IPv6 endpoint (WG_DST_IPV6) */
	__u8 src_addr6[16]; /* the relay's IPv6 address towards the peer */
};

/* wg_links: present when two slots are linked, both orders stored. */
struct wg_link_key {
	__u32 a;
	__u32 b;
};

/* wg_peer_stats, per CPU by slot. rx: received from the peer and forwarded; tx: sent to it. */
struct wg_peer_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 last_rx_ns; /* CLOCK_MONOTONIC of the last forwarded datagram from the peer */
};

/* wg_config, one entry. */
#define WG_XDP_FORWARD	  0 /* forward what the maps allow, send the rest to the XSK */
#define WG_XDP_ALL_TO_XSK 1 /* AF_XDP mode: every relay datagram goes to the XSK */

struct wg_xdp_config {
	__u16 port;	/* the relay's UDP port, network order */
	__u8 mode;	/* WG_XDP_* */
	__u8 xsk_ready; /* 0: what would go to the XSK is passed to the stack instead */
};

/*
 * The settings of the DPDK mode's XDP filter (bpf/wg_dpdk.bpf.c): a constant
 * of the object, written into its bytes before DPDK loads it.
 */
#define WG_DPDK_MAX_LOCAL 16

struct wg_dpdk_cfg {
	__u16 port;   /* the relay's UDP port, network order; 0 = pass everything to the kernel */
	__u16 naddrs; /* how many of addrs are set */
	__u32 addrs[WG_DPDK_MAX_LOCAL]; /* the relay's IPv4 addresses, network order */
	__u16 naddrs6;			/* how many of addrs6 are set */
	__u16 pad;
	__u8 addrs6[WG_DPDK_MAX_LOCAL][16]; /* the relay's IPv6 addresses (not link-local) */
};

#endif
