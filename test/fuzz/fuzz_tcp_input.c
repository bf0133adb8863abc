// SPDX-License-Identifier: MIT
/*
 * The userspace TCP engine (src/tcp/): tcp_input and everything it drives.
 *
 * Input: a first byte of options (SACK, timestamps, window scaling, IPv6,
 * CHECKSUM_PARTIAL allowed), then a script of operations: a raw packet, a
 * well-formed segment from the peer (fields from the input, checksums
 * right, so the fuzzer reaches every state without finding a checksum),
 * time passing (timers), the application sending (at once, or queued and
 * pushed later), receiving, closing.
 *
 * Oracles:
 *  - the sequence invariants hold after every operation (snd_una <= snd_nxt
 *    <= snd_max, in-flight bytes are in the send buffer, the receive buffer
 *    and the out-of-order map stay inside their bounds, the map is sorted,
 *    disjoint and above rcv_nxt);
 *  - every packet the engine emits parses with a correct checksum, carries
 *    the connection's addresses, and its payload is exactly the bytes the
 *    application gave at that offset of the stream;
 *  - every byte tcp_recv() returns is the byte the peer's segments carried
 *    at that offset (the peer's payload is a pattern of the sequence
 *    number), whatever order, overlap, window or duplicates the segments
 *    came in;
 *  - no allocation after tcp_conn_init (the buffers are the only heap).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "tcp_conn.h"
#include "tcp_seq.h"
#include "tcp_wire.h"

#define IRS 0xfffff000u /* the peer's first byte: wraps within 4 KiB */
#define ISS 0x7ffff800u
#define BUF 4096u

struct run {
	struct tcp_conn c;
	struct tcp_flow peer;
	uint64_t now;
	bool content_ok; /* false once a raw packet was taken: its bytes are not the pattern */
	uint64_t app_sent;
	uint32_t peer_ts;
};

static uint8_t pattern(uint32_t off, unsigned salt)
{
	uint32_t x = off * 2654435761u + salt * 40503u;
	return (uint8_t)(x >> 24 ^ x >> 11);
}

static void check_emitted(void *ctx, const uint8_t *pkt, size_t len)
{
	struct run *r = ctx;
	struct tcp_segment seg;
	FUZZ_CHECK(len <= TCP_PKT_MAX);
	uint8_t *copy = fuzz_dup(pkt, len);
	FUZZ_CHECK(tcp_parse(copy, len, false, &seg) == TCP_PARSE_OK);
	size_t alen = r->c.flow.family == AF_INET ? 4 : 16;
	FUZZ_CHECK(seg.family == r->c.flow.family);
	FUZZ_CHECK(memcmp(seg.src_ip, r->c.flow.local_ip, alen) == 0);
	FUZZ_CHECK(memcmp(seg.dst_ip, r->c.flow.remote_ip, alen) == 0);
	FUZZ_CHECK(seg.src_port == r->c.flow.local_port);
	FUZZ_CHECK(seg.len <= r->c.mss);
	for (uint32_t i = 0; i < seg.len; i++)
		FUZZ_CHECK(seg.payload[i] == pattern(seg.seq + i - ISS, 2));
	free(copy);
}

static void check_invariants(const struct run *r)
{
	const struct tcp_conn *c = &r->c;
	FUZZ_CHECK((unsigned)c->state <= TCPS_CLOSED);
	FUZZ_CHECK(seq_le(c->snd_una, c->snd_nxt));
	FUZZ_CHECK(seq_le(c->snd_nxt, c->snd_max));
	FUZZ_CHECK(c->sbuf_len <= BUF);
	FUZZ_CHECK(c->snd_max - c->snd_una <= c->sbuf_len + (c->fin_sent ? 1u : 0u));
	FUZZ_CHECK(tcp_recv_ready(c) <= BUF);
	FUZZ_CHECK(c->ooo.n <= TCP_RANGES_MAX);
	uint32_t edge = c->rcv_read + BUF;
	for (unsigned i = 0; i < c->ooo.n; i++) {
		FUZZ_CHECK(seq_lt(c->ooo.start[i], c->ooo.end[i]));
		FUZZ_CHECK(seq_gt(c->ooo.start[i], c->rcv_nxt));
		FUZZ_CHECK(seq_le(c->ooo.end[i], edge));
		if (i)
			FUZZ_CHECK(seq_gt(c->ooo.start[i], c->ooo.end[i - 1]));
	}
	for (unsigned i = 0; i < c->sacked.n; i++)
		FUZZ_CHECK(seq_lt(c->sacked.start[i], c->sacked.end[i]));
	FUZZ_CHECK(c->state == TCPS_CLOSED || c->cwnd > 0);
}

struct reader {
	const uint8_t *p;
	size_t n;
};

static bool take(struct reader *rd, void *out, size_t n)
{
	if (rd->n < n)
		return false;
	memcpy(out, rd->p, n);
	rd->p += n;
	rd->n -= n;
	return true;
}

static bool peer_segment(struct run *r, struct reader *rd)
{
	struct {
		int16_t seq_off;
		uint8_t ack_mode;
		uint8_t flags;
		uint16_t win;
		uint16_t len;
		int8_t ts_delta;
		uint8_t nsack;
		int16_t sack_off[2];
		uint16_t sack_len[2];
	} f;
	if (!take(rd, &f, sizeof(f)))
		return false;
	struct tcp_conn *c = &r->c;
	uint32_t seq = c->rcv_nxt + (uint32_t)(int32_t)f.seq_off;
	uint32_t ack;
	switch (f.ack_mode & 3) {
	case 0:
		ack = c->snd_una;
		break;
	case 1:
		ack = c->snd_max;
		break;
	case 2:
		ack = c->snd_una + (f.ack_mode >> 2) * 97u;
		break;
	default:
		ack = c->snd_una - (f.ack_mode >> 2) * 4099u;
		break;
	}
	uint32_t len = f.len % 1600;
	struct tcp_out_opts o = { .wscale = -1 };
	if (c->ts_ok && !(f.flags & 0x80)) {
		r->peer_ts += (uint32_t)(int32_t)f.ts_delta;
		o.ts = true;
		o.tsval = r->peer_ts;
		o.tsecr = (uint32_t)(r->now / 1000);
	}
	o.nsack = (uint8_t)(f.nsack % 3);
	for (unsigned i = 0; i < o.nsack; i++) {
		o.sack_start[i] = c->snd_una + (uint32_t)(int32_t)f.sack_off[i];
		o.sack_end[i] = o.sack_start[i] + f.sack_len[i] % 3000;
	}
	uint8_t pkt[TCP_PKT_MAX];
	size_t hdr = tcp_header_len(r->peer.family, &o);
	for (uint32_t i = 0; i < len; i++)
		pkt[hdr + i] = pattern(seq + i - IRS, 1);
	size_t n = tcp_build(pkt, &r->peer, seq, ack, f.flags & 0x3f, f.win, &o, len, 0);
	uint8_t *copy = fuzz_dup(pkt, n);
	tcp_input(c, copy, n, r->now);
	free(copy);
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t opts = data[0];
	struct reader rd = { data + 1, size - 1 };

	static struct run r;
	memset(&r, 0, sizeof(r));
	struct tcp_snapshot s;
	memset(&s, 0, sizeof(s));
	int family = (opts & 8) ? AF_INET6 : AF_INET;
	s.flow.family = (uint8_t)family;
	if (family == AF_INET) {
		inet_pton(AF_INET, "10.99.0.1", s.flow.local_ip);
		inet_pton(AF_INET, "10.99.0.2", s.flow.remote_ip);
	} else {
		inet_pton(AF_INET6, "fd99::1", s.flow.local_ip);
		inet_pton(AF_INET6, "fd99::2", s.flow.remote_ip);
	}
	s.flow.local_port = htons(443);
	s.flow.remote_port = htons(40000);
	s.snd_una = s.snd_nxt = ISS;
	s.snd_wnd = 3000;
	s.snd_wl1 = IRS;
	s.snd_wl2 = ISS;
	s.rcv_nxt = s.rcv_wup = IRS;
	s.rcv_wnd = 3000;
	s.mss = 536;
	s.sack_ok = opts & 1;
	s.ts_ok = opts & 2;
	s.wscale_ok = opts & 4;
	s.snd_wscale = 2;
	s.rcv_wscale = 3;
	s.ts_recent = 100;
	r.peer_ts = 100;

	struct tcp_config cfg;
	tcp_config_default(&cfg);
	cfg.sndbuf = cfg.rcvbuf = BUF;
	cfg.allow_partial_csum = opts & 16;
	cfg.rto_retries = 6;
	cfg.keepalive_idle_us = (opts & 32) ? 5000000 : 0;
	r.now = 1000000000ull;
	r.content_ok = true;
	FUZZ_CHECK(tcp_conn_init(&r.c, &s, &cfg, check_emitted, &r, r.now) == 0);
	r.peer = r.c.flow;
	memcpy(r.peer.local_ip, r.c.flow.remote_ip, 16);
	memcpy(r.peer.remote_ip, r.c.flow.local_ip, 16);
	r.peer.local_port = r.c.flow.remote_port;
	r.peer.remote_port = r.c.flow.local_port;

	uint8_t buf[BUF];
	for (int ops = 0; ops < 4096; ops++) {
		uint8_t op;
		if (!take(&rd, &op, 1))
			break;
		switch (op % 7) {
		case 0: { /* a raw packet */
			uint16_t n;
			if (!take(&rd, &n, 2))
				goto done;
			n %= 1600;
			if (rd.n < n)
				n = (uint16_t)rd.n;
			uint8_t *copy = fuzz_dup(rd.p, n);
			if (tcp_input(&r.c, copy, n, r.now) == TCP_IN_OK)
				r.content_ok = false;
			free(copy);
			rd.p += n;
			rd.n -= n;
			break;
		}
		case 1:
		case 2:
			if (!peer_segment(&r, &rd))
				goto done;
			break;
		case 3: { /* time passes */
			uint16_t ms;
			if (!take(&rd, &ms, 2))
				goto done;
			r.now += (uint64_t)ms * 1000;
			if (op & 0x80)
				tcp_push(&r.c, r.now);
			uint64_t deadline = tcp_next_deadline(&r.c);
			FUZZ_CHECK(r.c.state != TCPS_CLOSED || deadline == UINT64_MAX);
			if (deadline <= r.now)
				tcp_timer(&r.c, r.now);
			break;
		}
		case 4: { /* the application sends */
			uint16_t n;
			if (!take(&rd, &n, 2))
				goto done;
			n %= BUF;
			for (uint32_t i = 0; i < n; i++)
				buf[i] = pattern((uint32_t)(r.app_sent + i), 2);
			/* The high bit queues without sending; a later time step pushes. */
			ssize_t took = (op & 0x80) ? tcp_queue(&r.c, buf, n, r.now)
						   : tcp_send(&r.c, buf, n, r.now);
			FUZZ_CHECK(took <= (ssize_t)n);
			if (took > 0)
				r.app_sent += (uint64_t)took;
			break;
		}
		case 5: { /* the application reads */
			uint16_t n;
			if (!take(&rd, &n, 2))
				goto done;
			n %= BUF;
			uint32_t off = r.c.rcv_read - IRS;
			ssize_t got = tcp_recv(&r.c, buf, n, r.now);
			FUZZ_CHECK(got <= (ssize_t)n);
			for (ssize_t i = 0; r.content_ok && i < got; i++)
				FUZZ_CHECK(buf[i] == pattern(off + (uint32_t)i, 1));
			break;
		}
		default: /* close or abort */
			if (op & 0x80)
				tcp_abort(&r.c, r.now);
			else
				tcp_close(&r.c, r.now);
			break;
		}
		check_invariants(&r);
	}
done:
	tcp_conn_free(&r.c);
	return 0;
}
