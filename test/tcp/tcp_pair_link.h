/* SPDX-License-Identifier: MIT */
/*
 * Two TCP engines joined by a simulated link in memory, on a simulated
 * clock: each direction delays, drops, duplicates and reorders packets
 * from a seeded generator, with a bounded queue. Used by the pair tests
 * and the engine benchmark (perf/tcp_engine_bench.c). Header-only.
 */
#ifndef HD_TCP_PAIR_LINK_H
#define HD_TCP_PAIR_LINK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_test_peer.h"

#define LINK_SLOTS	4096
#define LINK_SLOT_BYTES 2048

struct impair {
	unsigned drop_pm; /* per mille */
	unsigned dup_pm;
	unsigned reorder_pm; /* held back by an extra reorder_us */
	uint64_t delay_us;
	uint64_t reorder_us;
	uint64_t seed;
};

struct link_pkt {
	uint64_t at;
	uint64_t id; /* the order of sending: equal times leave in it */
	uint32_t len;
	uint8_t *data;
};

struct link_dir {
	struct impair imp;
	uint64_t rng;
	struct link_pkt q[LINK_SLOTS]; /* unsorted; scanned for the earliest */
	unsigned n;
	bool cut; /* a vanished peer: everything is dropped */
	uint64_t sent, dropped, duplicated, reordered, overflow;
	uint64_t next_id;
	uint64_t *clock;
};

static inline uint64_t link_rand(struct link_dir *d)
{
	/* splitmix64: seeded, so a failure replays exactly. */
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void link_push(struct link_dir *d, const uint8_t *pkt, size_t len, uint64_t at)
{
	if (d->n == LINK_SLOTS || len > LINK_SLOT_BYTES) {
		d->overflow++;
		return;
	}
	struct link_pkt *p = &d->q[d->n++];
	if (!p->data)
		p->data = malloc(LINK_SLOT_BYTES);
	memcpy(p->data, pkt, len);
	p->len = (uint32_t)len;
	p->at = at;
	p->id = d->next_id++;
}

/* The emit callback: one packet onto the link. */
static inline void link_emit(void *ctx, const uint8_t *pkt, size_t len)
{
	struct link_dir *d = ctx;
	uint64_t now = *d->clock;
	d->sent++;
	if (d->cut || link_rand(d) % 1000 < d->imp.drop_pm) {
		d->dropped++;
		return;
	}
	uint64_t at = now + d->imp.delay_us;
	if (link_rand(d) % 1000 < d->imp.reorder_pm) {
		at += d->imp.reorder_us;
		d->reordered++;
	}
	link_push(d, pkt, len, at);
	if (link_rand(d) % 1000 < d->imp.dup_pm) {
		d->duplicated++;
		link_push(d, pkt, len, at + 1);
	}
}

static inline uint64_t link_next(const struct link_dir *d)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < d->n; i++)
		if (d->q[i].at < next)
			next = d->q[i].at;
	return next;
}

/* Takes the earliest packet due by now; its data stays valid until the next push. */
static inline bool link_pop(struct link_dir *d, uint64_t now, struct link_pkt *out)
{
	unsigned best = d->n;
	for (unsigned i = 0; i < d->n; i++)
		if (d->q[i].at <= now &&
		    (best == d->n || d->q[i].at < d->q[best].at ||
		     (d->q[i].at == d->q[best].at && d->q[i].id < d->q[best].id)))
			best = i;
	if (best == d->n)
		return false;
	struct link_pkt p = d->q[best];
	/* Swap it to the end: its buffer is reused by the next push. */
	d->q[best] = d->q[d->n - 1];
	d->q[d->n - 1] = p;
	d->n--;
	*out = p;
	return true;
}

/* Delivers every packet due by now, earliest first, into conn. */
static inline void link_deliver(struct link_dir *d, struct tcp_conn *to, uint64_t now)
{
	struct link_pkt p;
	while (link_pop(d, now, &p))
		tcp_input(to, p.data, p.len, now);
}

static inline void link_free(struct link_dir *d)
{
	for (unsigned i = 0; i < LINK_SLOTS; i++)
		free(d->q[i].data);
}

struct pair {
	struct tcp_conn a, b;
	struct link_dir ab, ba; /* a's packets towards b, and back */
	uint64_t now;
};

struct pair_opts {
	int family;
	bool sack, ts, wscale;
	uint32_t buf;
	struct impair imp;
	struct tcp_config cfg;
};

static inline void pair_default_opts(struct pair_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->family = AF_INET;
	o->sack = o->ts = o->wscale = true;
	o->buf = 256 * 1024;
	o->imp.delay_us = 5000;
	o->imp.reorder_us = 3000;
	o->imp.seed = 1;
	tcp_config_default(&o->cfg);
	o->cfg.sndbuf = o->cfg.rcvbuf = o->buf;
}

/* Sets up both ends of one connection, as if the kernel had handed both over. */
static inline int pair_init(struct pair *p, const struct pair_opts *o)
{
	memset(p, 0, sizeof(*p));
	p->now = 1000000000ull;
	p->ab.imp = p->ba.imp = o->imp;
	p->ab.rng = o->imp.seed;
	p->ba.rng = o->imp.seed * 31 + 7;
	p->ab.clock = p->ba.clock = &p->now;

	const uint32_t ia = 0xfff00000u, ib = 0x7ffffff0u; /* both wrap during a long transfer */
	struct tcp_snapshot sa, sb;
	test_snapshot(&sa, o->family, ia, ib);
	test_snapshot(&sb, o->family, ib, ia);
	sb.flow = peer_flow(&sa.flow);
	struct tcp_snapshot *both[2] = { &sa, &sb };
	for (int i = 0; i < 2; i++) {
		struct tcp_snapshot *s = both[i];
		s->sack_ok = o->sack;
		s->ts_ok = o->ts;
		s->wscale_ok = o->wscale;
		s->snd_wscale = s->rcv_wscale = o->wscale ? 7 : 0;
		uint32_t wnd = o->cfg.rcvbuf < 65535 || o->wscale ? o->cfg.rcvbuf : 65535;
		s->snd_wnd = wnd;
		s->rcv_wnd = wnd;
		s->ts_offset = i ? 5000 : -3000;
	}
	uint32_t ts_now = (uint32_t)(p->now / 1000);
	sa.ts_recent = ts_now + (uint32_t)sb.ts_offset;
	sb.ts_recent = ts_now + (uint32_t)sa.ts_offset;
	int err = tcp_conn_init(&p->a, &sa, &o->cfg, link_emit, &p->ab, p->now);
	if (err)
		return err;
	return tcp_conn_init(&p->b, &sb, &o->cfg, link_emit, &p->ba, p->now);
}

/* Advances the clock to the next event (a delivery or a timer) and handles it. */
static inline bool pair_step(struct pair *p, uint64_t limit)
{
	uint64_t next = link_next(&p->ab);
	uint64_t n2 = link_next(&p->ba);
	uint64_t ta = tcp_next_deadline(&p->a), tb = tcp_next_deadline(&p->b);
	if (n2 < next)
		next = n2;
	if (ta < next)
		next = ta;
	if (tb < next)
		next = tb;
	if (next == UINT64_MAX || next > limit)
		return false;
	if (next > p->now)
		p->now = next;
	link_deliver(&p->ab, &p->b, p->now);
	link_deliver(&p->ba, &p->a, p->now);
	if (tcp_next_deadline(&p->a) <= p->now)
		tcp_timer(&p->a, p->now);
	if (tcp_next_deadline(&p->b) <= p->now)
		tcp_timer(&p->b, p->now);
	return true;
}

static inline void pair_free(struct pair *p)
{
	tcp_conn_free(&p->a);
	tcp_conn_free(&p->b);
	link_free(&p->ab);
	link_free(&p->ba);
}

/* A byte pattern that is different at every offset of a stream (salted per direction). */
static inline uint8_t stream_byte(uint64_t off, unsigned salt)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + salt;
	return (uint8_t)(x >> 56 ^ x >> 17);
}

/* One direction of a transfer: what was written and what was read and checked. */
struct stream {
	uint64_t total, written, read;
	unsigned salt;
	bool corrupt;
	uint64_t last_progress, longest_stall;
};

static inline void stream_write(struct stream *s, struct tcp_conn *c, uint64_t now)
{
	uint8_t buf[16384];
	while (s->written < s->total) {
		uint64_t want = s->total - s->written;
		size_t n = want < sizeof(buf) ? (size_t)want : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = stream_byte(s->written + i, s->salt);
		ssize_t took = tcp_send(c, buf, n, now);
		if (took <= 0)
			return;
		s->written += (uint64_t)took;
	}
}

static inline void stream_read(struct stream *s, struct tcp_conn *c, uint64_t now)
{
	uint8_t buf[16384];
	for (;;) {
		ssize_t n = tcp_recv(c, buf, sizeof(buf), now);
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != stream_byte(s->read + (uint64_t)i, s->salt))
				s->corrupt = true;
		s->read += (uint64_t)n;
		uint64_t stall = now - s->last_progress;
		if (stall > s->longest_stall)
			s->longest_stall = stall;
		s->last_progress = now;
	}
}

#endif
