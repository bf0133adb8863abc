// SPDX-License-Identifier: MIT
/*
 * Userspace forwarding over ports (port.h), whatever their backend: a
 * burst from each port is parsed, routed with the same decision as the
 * socket path, rewritten in place and queued on the egress port, grouped so
 * that each port gets one tx_burst per round. A frame whose next hop is not
 * resolved, or leaves by an interface without a port, is sent through the
 * UDP socket instead: the kernel routes it and resolves the neighbour.
 * IPv4 and IPv6 frames alike; a datagram that changes family on the way
 * also goes through the socket (see route_frame).
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <stdbool.h>
#include <string.h>

#include "port.h"
#include "wg_rewrite.h"
#include "wg_worker.h"

#define BATCH WG_PORT_BATCH

/* The index in tx_ports of the port this worker sends on for ifindex, or -1. */
static int port_index(const struct wg_worker *w, __u32 ifindex)
{
	for (int i = 0; i < w->ntx; i++) {
		if ((__u32)w->tx_ports[i]->ifindex == ifindex)
			return i;
	}
	return -1;
}

/* Where a frame's headers are, once its family is known. */
struct parsed {
	__u8 *ip;
	__u8 *udp;
	bool v6;
	struct wg_endpoint src;
};

/*
 * Finds the headers of a frame XDP (or DPDK's filter) sent us: IPv4 without
 * options or fragments, or IPv6 whose next header is UDP (extension headers
 * stay with the kernel). Returns -1, or the drop counter (as wg_route does).
 */
static int parse_frame(struct port_frame *f, struct parsed *p)
{
	__u8 *eth = f->data;

	if (f->len < sizeof(struct ethhdr))
		return WG_CNT_DROP_MALFORMED;
	__u16 proto = wg_load16(eth + 12);
	p->ip = eth + sizeof(struct ethhdr);
	p->v6 = proto == htons(ETH_P_IPV6);
	if (p->v6) {
		p->udp = p->ip + sizeof(struct ipv6hdr);
		if (f->len < (__u32)(p->udp - eth) + sizeof(struct udphdr) ||
		    p->ip[WG_IP6_NEXTHDR] != IPPROTO_UDP)
			return WG_CNT_DROP_MALFORMED;
		/* Zero is no valid IPv6 UDP checksum (RFC 8200): the kernel drops it too. */
		if (wg_load16(p->udp + WG_UDP_CHECK) == 0)
			return WG_CNT_DROP_MALFORMED;
		memset(&p->src, 0, sizeof(p->src));
		memcpy(p->src.addr, p->ip + WG_IP6_SADDR, 16);
		p->src.port = wg_load16(p->udp + WG_UDP_SOURCE);
		return -1;
	}
	if (proto != htons(ETH_P_IP))
		return WG_CNT_DROP_MALFORMED;
	p->udp = p->ip + sizeof(struct iphdr);
	if (f->len < (__u32)(p->udp - eth) + sizeof(struct udphdr))
		return WG_CNT_DROP_MALFORMED;
	p->src =
	    wg_endpoint_from_v4(wg_load32(p->ip + WG_IP_SADDR), wg_load16(p->udp + WG_UDP_SOURCE));
	return -1;
}

/*
 * Routes one frame and rewrites it for its destination. Returns the egress
 * port's index with *slot and *plen set, or -1 when the frame is done with
 * (dropped and counted, or sent through the socket): the caller frees it.
 *
 * A datagram between an IPv4 and an IPv6 peer goes through the socket as
 * well. Rebuilding it here would mean a 20-byte longer or shorter IP header
 * and a UDP checksum over a new pseudo-header, a frame that moves within its
 * buffer (UMEM headroom, mbuf prepend: one more thing every port backend
 * must offer) and a second rewrite beside the one the XDP program shares;
 * mixed links are the exception (one peer without IPv4, or without IPv6),
 * and the kernel builds the other family's header for free.
 */
static int route_frame(struct wg_worker *w, struct port_frame *f, uint64_t now, int *slot,
		       uint32_t *plen)
{
	struct parsed p;
	int drop = parse_frame(f, &p);

	if (drop >= 0) {
		stat_add(&w->counters[drop], 1);
		return -1;
	}
	__u8 *payload = p.udp + sizeof(struct udphdr);
	__u32 hdrs = (__u32)(payload - f->data);
	__u32 ulen = ntohs(wg_load16(p.udp + 4));
	if (ulen < sizeof(struct udphdr) || ulen > f->len - (__u32)(p.udp - f->data)) {
		stat_add(&w->counters[WG_CNT_DROP_MALFORMED], 1);
		return -1;
	}
	*plen = ulen - (__u32)sizeof(struct udphdr);
	*slot = wg_worker_route(w, &p.src, payload, *plen, now);
	if (*slot < 0)
		return -1;
	const struct wg_dst *d = &w->dsts[*slot];
	bool dst_v6 = d->flags & WG_DST_IPV6;
	int out = (d->flags & WG_DST_RESOLVED) && dst_v6 == p.v6 ? port_index(w, d->ifindex) : -1;
	if (out < 0) {
		wg_sock_send_one(w, *slot, payload, *plen);
		return -1;
	}
	if (p.v6)
		wg_rewrite_frame6(f->data, p.ip, p.udp, d, w->port);
	else
		wg_rewrite_frame(f->data, p.ip, p.udp, d, w->port);
	f->len = hdrs + *plen;
	return out;
}

static void send_queue(struct wg_worker *w, struct port *port, struct wg_port_queue *q)
{
	unsigned int sent = port->ops->tx_burst(port, q->frames, q->n);

	port_count(&port->tx_packets, sent);
	for (unsigned int i = 0; i < sent; i++)
		wg_worker_count_tx(w, q->slot[i], q->plen[i]);
	/* What the port could not take goes back to its owner. */
	for (unsigned int i = sent; i < q->n; i++) {
		struct port_frame *f = &q->frames[i];
		f->port->ops->free_burst(f->port, f, 1);
	}
	stat_add(&w->counters[WG_CNT_DROP_TX_ERROR], q->n - sent);
	q->n = 0;
}

static unsigned int poll_port(struct wg_worker *w, struct port *port, struct wg_port_queue *queues,
			      uint64_t now)
{
	struct port_frame frames[BATCH], done[BATCH];
	unsigned int n = port->ops->rx_burst(port, frames, BATCH), ndone = 0;

	if (n)
		port_count(&port->rx_packets, n);
	/* XDP counts what it hands to its XSKs; DPDK's filter has no counters, so count here. */
	if (w->mode == WG_MODE_DPDK)
		stat_add(&w->counters[WG_CNT_TO_XSK], n);
	for (unsigned int i = 0; i < n; i++) {
		int slot;
		uint32_t plen;
		int out = route_frame(w, &frames[i], now, &slot, &plen);
		if (out < 0) {
			done[ndone++] = frames[i];
			continue;
		}
		struct wg_port_queue *q = &queues[out];
		q->frames[q->n] = frames[i];
		q->slot[q->n] = slot;
		q->plen[q->n++] = plen;
	}
	port->ops->free_burst(port, done, ndone);
	for (int i = 0; i < w->ntx; i++) {
		if (queues[i].n)
			send_queue(w, w->tx_ports[i], &queues[i]);
	}
	return n;
}

unsigned int wg_ports_poll(struct wg_worker *w)
{
	struct wg_port_queue *queues = w->port_queues;
	uint64_t now = wg_now_ns();
	unsigned int total = 0;

	for (int i = 0; i < w->nports; i++)
		total += poll_port(w, w->ports[i], queues, now);
	for (int i = 0; i < w->nports; i++)
		w->ports[i]->ops->flush(w->ports[i]);
	return total;
}
