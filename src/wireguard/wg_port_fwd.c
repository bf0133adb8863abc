// SPDX-License-Identifier: MIT
/*
 * Userspace forwarding over ports (wg_port.h), whatever their backend: a
 * burst from each port is parsed, routed with the same decision as the
 * socket path, rewritten in place and queued on the egress port, grouped so
 * that each port gets one tx_burst per round. A frame whose next hop is not
 * resolved, or leaves by an interface without a port, is sent through the
 * UDP socket instead: the kernel routes it and resolves the neighbour.
 */
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>

#include "wg_port.h"
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

/*
 * Routes one frame and rewrites it for its destination. Returns the egress
 * port's index with *slot and *plen set, or -1 when the frame is done with
 * (dropped and counted, or sent through the socket): the caller frees it.
 */
static int route_frame(struct wg_worker *w, struct wg_frame *f, uint64_t now, int *slot,
		       uint32_t *plen)
{
	__u8 *ip = f->data + sizeof(struct ethhdr);
	__u8 *udp = ip + sizeof(struct iphdr);
	__u8 *payload = udp + sizeof(struct udphdr);
	__u32 hdrs = (__u32)(payload - f->data);

	/* XDP sent only IPv4 UDP without options or fragments; check the lengths. */
	if (f->len < hdrs) {
		stat_add(&w->counters[WG_CNT_DROP_MALFORMED], 1);
		return -1;
	}
	__u32 ulen = ntohs(wg_load16(udp + 4));
	if (ulen < sizeof(struct udphdr) || ulen > f->len - (__u32)(udp - f->data)) {
		stat_add(&w->counters[WG_CNT_DROP_MALFORMED], 1);
		return -1;
	}
	*plen = ulen - (__u32)sizeof(struct udphdr);
	struct wg_endpoint src = { .addr = wg_load32(ip + WG_IP_SADDR),
				   .port = wg_load16(udp + WG_UDP_SOURCE) };
	*slot = wg_worker_route(w, &src, payload, *plen, now);
	if (*slot < 0)
		return -1;
	const struct wg_dst *d = &w->dsts[*slot];
	int out = (d->flags & WG_DST_RESOLVED) ? port_index(w, d->ifindex) : -1;
	if (out < 0) {
		wg_sock_send_one(w, *slot, payload, *plen);
		return -1;
	}
	wg_rewrite_frame(f->data, ip, udp, d, w->port);
	f->len = hdrs + *plen;
	return out;
}

static void send_queue(struct wg_worker *w, struct wg_port *port, struct wg_port_queue *q)
{
	unsigned int sent = port->ops->tx_burst(port, q->frames, q->n);

	wg_port_count(&port->tx_packets, sent);
	for (unsigned int i = 0; i < sent; i++)
		wg_worker_count_tx(w, q->slot[i], q->plen[i]);
	/* What the port could not take goes back to its owner. */
	for (unsigned int i = sent; i < q->n; i++) {
		struct wg_frame *f = &q->frames[i];
		f->port->ops->free_burst(f->port, f, 1);
	}
	stat_add(&w->counters[WG_CNT_DROP_TX_ERROR], q->n - sent);
	q->n = 0;
}

static unsigned int poll_port(struct wg_worker *w, struct wg_port *port,
			      struct wg_port_queue *queues, uint64_t now)
{
	struct wg_frame frames[BATCH], done[BATCH];
	unsigned int n = port->ops->rx_burst(port, frames, BATCH), ndone = 0;

	if (n)
		wg_port_count(&port->rx_packets, n);
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
