/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the TCP engine without a network: a capture of what the
 * engine emits, and a scripted peer that writes the segments it receives.
 * Header-only, shared by the unit tests, the in-memory pair tests and the
 * benchmark.
 */
#ifndef HD_TCP_TEST_PEER_H
#define HD_TCP_TEST_PEER_H

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_conn.h"
#include "tcp_wire.h"

#define CAP_MAX 512

/* What the engine emitted, oldest first. */
struct capture {
	unsigned n;
	size_t len[CAP_MAX];
	uint8_t *pkt[CAP_MAX];
	unsigned dropped; /* emitted past CAP_MAX */
};

static inline void capture_emit(void *ctx, const uint8_t *pkt, size_t len)
{
	struct capture *cap = ctx;
	if (cap->n == CAP_MAX) {
		cap->dropped++;
		return;
	}
	cap->pkt[cap->n] = malloc(len);
	memcpy(cap->pkt[cap->n], pkt, len);
	cap->len[cap->n] = len;
	cap->n++;
}

static inline void capture_clear(struct capture *cap)
{
	for (unsigned i = 0; i < cap->n; i++)
		free(cap->pkt[i]);
	cap->n = 0;
	cap->dropped = 0;
}

/* The i-th captured segment, parsed (a failure to parse fails the caller's check). */
static inline int capture_seg(const struct capture *cap, unsigned i, struct tcp_segment *seg)
{
	if (i >= cap->n)
		return -1;
	return tcp_parse(cap->pkt[i], cap->len[i], false, seg) == TCP_PARSE_OK ? 0 : -1;
}

/* A snapshot of a fresh connection: we are 10.99.0.1:443, the peer 10.99.0.2:40000. */
static inline void test_snapshot(struct tcp_snapshot *s, int family, uint32_t iss, uint32_t irs)
{
	memset(s, 0, sizeof(*s));
	s->flow.family = (uint8_t)family;
	if (family == AF_INET) {
		inet_pton(AF_INET, "10.99.0.1", s->flow.local_ip);
		inet_pton(AF_INET, "10.99.0.2", s->flow.remote_ip);
	} else {
		inet_pton(AF_INET6, "fd99::1", s->flow.local_ip);
		inet_pton(AF_INET6, "fd99::2", s->flow.remote_ip);
	}
	s->flow.local_port = htons(443);
	s->flow.remote_port = htons(40000);
	s->snd_una = s->snd_nxt = iss;
	s->snd_wnd = 65535;
	s->snd_wl1 = irs;
	s->snd_wl2 = iss;
	s->rcv_nxt = s->rcv_wup = irs;
	s->rcv_wnd = 65535;
	s->mss = 1460;
}

/* The flow as the peer sees it. */
static inline struct tcp_flow peer_flow(const struct tcp_flow *f)
{
	struct tcp_flow p = *f;
	memcpy(p.local_ip, f->remote_ip, 16);
	memcpy(p.remote_ip, f->local_ip, 16);
	p.local_port = f->remote_port;
	p.remote_port = f->local_port;
	return p;
}

struct peer_seg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const void *data;
	uint32_t len;
	bool ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack_start[TCP_MAX_SACK_BLOCKS], sack_end[TCP_MAX_SACK_BLOCKS];
};

/* Writes the peer's segment into buf; returns its length. */
static inline size_t peer_build(const struct tcp_conn *c, const struct peer_seg *s, uint8_t *buf)
{
	struct tcp_flow pf = peer_flow(&c->flow);
	struct tcp_out_opts o;
	memset(&o, 0, sizeof(o));
	o.wscale = -1;
	o.ts = s->ts;
	o.tsval = s->tsval;
	o.tsecr = s->tsecr;
	o.nsack = s->nsack;
	memcpy(o.sack_start, s->sack_start, sizeof(o.sack_start));
	memcpy(o.sack_end, s->sack_end, sizeof(o.sack_end));
	size_t hdr = tcp_header_len(pf.family, &o);
	if (s->len)
		memcpy(buf + hdr, s->data, s->len);
	return tcp_build(buf, &pf, s->seq, s->ack, s->flags, s->win, &o, s->len, 1);
}

static inline enum tcp_input_result peer_send(struct tcp_conn *c, const struct peer_seg *s,
					      uint64_t now)
{
	static uint8_t buf[TCP_PKT_MAX];
	size_t n = peer_build(c, s, buf);
	return tcp_input(c, buf, n, now);
}

#endif
