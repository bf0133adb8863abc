// SPDX-License-Identifier: MIT
/*
 * The TCP engine's mechanisms one at a time, against a scripted peer: each
 * test writes the peer's segments by hand and reads what the engine emits.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcp_seq.h"
#include "tcp_test_peer.h"

#define MS  1000ull
#define SEC 1000000ull

struct fixture {
	struct tcp_conn c;
	struct capture cap;
	struct tcp_snapshot snap;
	struct tcp_config cfg;
	uint64_t now;
};

static struct fixture *fx_new(int family, uint32_t iss, uint32_t irs)
{
	struct fixture *f = calloc(1, sizeof(*f));
	test_snapshot(&f->snap, family, iss, irs);
	tcp_config_default(&f->cfg);
	f->now = 1000 * SEC;
	return f;
}

static void fx_start(struct fixture *f)
{
	assert_int_equal(tcp_conn_init(&f->c, &f->snap, &f->cfg, capture_emit, &f->cap, f->now), 0);
}

static void fx_free(struct fixture *f)
{
	tcp_conn_free(&f->c);
	capture_clear(&f->cap);
	free(f);
}

static struct fixture *fx_default(void)
{
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	fx_start(f);
	return f;
}

/* The peer's data at seq, acking everything we sent. */
static enum tcp_input_result peer_data(struct fixture *f, uint32_t seq, const void *d, uint32_t len)
{
	struct peer_seg s = { .seq = seq,
			      .ack = f->c.snd_max,
			      .flags = TCP_FLAG_ACK,
			      .win = 65535,
			      .data = d,
			      .len = len };
	return peer_send(&f->c, &s, f->now);
}

static enum tcp_input_result peer_ack(struct fixture *f, uint32_t ack, uint16_t win)
{
	struct peer_seg s = { .seq = f->c.rcv_nxt, .ack = ack, .flags = TCP_FLAG_ACK, .win = win };
	return peer_send(&f->c, &s, f->now);
}

static struct tcp_segment last_seg(struct fixture *f)
{
	struct tcp_segment seg;
	assert_true(f->cap.n > 0);
	assert_int_equal(capture_seg(&f->cap, f->cap.n - 1, &seg), 0);
	return seg;
}

static void fill(uint8_t *b, size_t n, unsigned salt)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 7 + salt);
}

/* Sequence numbers wrap at 2^32 on both sides, and nothing notices. */
static void sequence_wrap(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 0xffffff00u, 0xfffffe00u);
	fx_start(f);
	uint8_t in[1500], out[1500];
	fill(in, sizeof(in), 1);
	uint32_t seq = 0xfffffe00u;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(peer_data(f, seq, in + i * 500, 500), TCP_IN_OK);
		seq += 500;
	}
	assert_int_equal(f->c.rcv_nxt, 0xfffffe00u + 1500);
	assert_int_equal(tcp_recv(&f->c, out, sizeof(out), f->now), 1500);
	assert_memory_equal(in, out, 1500);

	assert_int_equal(tcp_send(&f->c, in, 1000, f->now), 1000);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.seq, 0xffffff00u);
	assert_int_equal(seg.len, 1000);
	assert_int_equal(f->c.snd_max, 0xffffff00u + 1000);
	assert_int_equal(peer_ack(f, 0xffffff00u + 1000, 65535), TCP_IN_OK);
	assert_int_equal(f->c.sbuf_len, 0);
	assert_int_equal(f->c.rto_at, 0);
	fx_free(f);
}

/* Segments that arrive early wait in the receive buffer and come out in order. */
static void ooo_reassembly(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t in[3000], out[3000];
	fill(in, sizeof(in), 3);
	assert_int_equal(peer_data(f, 5000 + 2000, in + 2000, 1000), TCP_IN_OK);
	assert_int_equal(tcp_recv_ready(&f->c), 0);
	/* The OOO segment is acked at once, with rcv_nxt and a SACK block. */
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.ack, 5000);
	assert_int_equal(peer_data(f, 5000 + 1000, in + 1000, 1000), TCP_IN_OK);
	struct tcp_info_view info;
	tcp_info(&f->c, &info);
	assert_int_equal(info.ooo_bytes, 2000);
	assert_int_equal(f->c.ooo.n, 1);
	assert_int_equal(peer_data(f, 5000, in, 1000), TCP_IN_OK);
	assert_int_equal(f->c.rcv_nxt, 5000 + 3000);
	seg = last_seg(f);
	assert_int_equal(seg.ack, 5000 + 3000); /* the hole filled: acked at once */
	assert_int_equal(tcp_recv(&f->c, out, sizeof(out), f->now), 3000);
	assert_memory_equal(in, out, 3000);
	assert_int_equal(f->c.stats.ooo_segs, 2);
	fx_free(f);
}

/* RFC 2018: the latest block first, the others after it; 3 fit beside timestamps. */
static void sack_blocks(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.sack_ok = true;
	fx_start(f);
	uint8_t d[100] = { 0 };
	peer_data(f, 5200, d, 100);
	peer_data(f, 5400, d, 100);
	peer_data(f, 5600, d, 100);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.ack, 5000);
	assert_int_equal(seg.nsack, 3);
	assert_int_equal(seg.sack_start[0], 5600);
	assert_int_equal(seg.sack_end[0], 5700);
	assert_int_equal(seg.sack_start[1], 5200);
	assert_int_equal(seg.sack_start[2], 5400);
	/* Extending the first range puts it first. */
	peer_data(f, 5300, d, 100);
	seg = last_seg(f);
	assert_int_equal(seg.sack_start[0], 5200);
	assert_int_equal(seg.sack_end[0], 5500);
	fx_free(f);
}

/* The OOO map is bounded: past 16 holes a segment is refused, and data past the buffer is cut. */
static void ooo_bounds(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->cfg.rcvbuf = 8192;
	fx_start(f);
	uint8_t d[100] = { 0 };
	for (uint32_t i = 0; i < TCP_RANGES_MAX + 2; i++)
		peer_data(f, 5000 + 200 * (i + 1), d, 100);
	assert_int_equal(f->c.ooo.n, TCP_RANGES_MAX);
	assert_int_equal(f->c.stats.ooo_drops, 2);
	/* The window edge is 5000 + 8192: the part past it is trimmed off. */
	uint8_t big[1000] = { 0 };
	peer_data(f, 5000 + 8192 - 500, big, 1000);
	assert_int_equal(f->c.stats.rcv_window_drops, 500);
	fx_free(f);
}

/* RFC 6298: RTO doubles on each timeout up to the retry bound, then the connection goes. */
static void rto_backoff(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->cfg.rto_retries = 4;
	fx_start(f);
	uint8_t d[4000];
	fill(d, sizeof(d), 5);
	assert_int_equal(tcp_send(&f->c, d, sizeof(d), f->now), (ssize_t)sizeof(d));
	assert_int_equal(f->cap.n, 3); /* 1460 + 1460 + 1080: inside IW10 */
	uint64_t start = f->now;
	uint64_t expect = f->cfg.rto_initial_us;
	uint64_t at = start;
	for (int i = 0; i < 4; i++) {
		uint64_t next = tcp_next_deadline(&f->c);
		assert_int_equal(next - at, expect);
		at = next;
		f->now = next;
		unsigned before = f->cap.n;
		tcp_timer(&f->c, f->now);
		assert_int_equal(f->cap.n, before + 1); /* cwnd is 1 MSS: one segment */
		struct tcp_segment seg = last_seg(f);
		assert_int_equal(seg.seq, 1000);
		assert_int_equal(seg.len, 1460);
		assert_int_equal(f->c.cwnd, f->c.mss);
		expect *= 2;
	}
	assert_int_equal(f->c.stats.rto_timeouts, 4);
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now);
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_RTO_TIMEOUT);
	assert_true(last_seg(f).flags & TCP_FLAG_RST);
	assert_int_equal(tcp_send(&f->c, d, 1, f->now), -ECONNRESET);
	fx_free(f);
}

/* An ACK after a timeout resets the backoff, and its RTT sample sets the RTO. */
static void rtt_sample(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[100] = { 0 };
	tcp_send(&f->c, d, 100, f->now);
	f->now += 100 * MS;
	peer_ack(f, 1100, 65535);
	assert_int_equal(f->c.srtt_us, 100 * MS);
	assert_int_equal(f->c.rttvar_us, 50 * MS);
	assert_int_equal(f->c.rto_us, 100 * MS + 4 * 50 * MS);
	/* A second sample, 20 ms: (2.3) with alpha 1/8, beta 1/4. */
	tcp_send(&f->c, d, 100, f->now);
	f->now += 20 * MS;
	peer_ack(f, 1200, 65535);
	assert_int_equal(f->c.rttvar_us, 50 * MS - 50 * MS / 4 + 80 * MS / 4);
	assert_int_equal(f->c.srtt_us, 100 * MS - 100 * MS / 8 + 20 * MS / 8);
	/* Small samples: the RTO stays at its floor. */
	for (int i = 0; i < 50; i++) {
		tcp_send(&f->c, d, 1, f->now);
		f->now += 1 * MS;
		peer_ack(f, f->c.snd_max, 65535);
	}
	assert_int_equal(f->c.rto_us, f->cfg.rto_min_us);
	fx_free(f);
}

/* RFC 7323 PAWS: an older timestamp is an old duplicate, dropped but acked. */
static void paws(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.ts_ok = true;
	f->snap.ts_recent = 1000;
	fx_start(f);
	uint8_t d[100] = { 1 };
	struct peer_seg s = { .seq = 5000,
			      .ack = 1000,
			      .flags = TCP_FLAG_ACK,
			      .win = 65535,
			      .data = d,
			      .len = 100,
			      .ts = true,
			      .tsval = 999,
			      .tsecr = 0 };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->c.rcv_nxt, 5000);
	assert_int_equal(f->c.stats.paws_drops, 1);
	assert_int_equal(last_seg(f).ack, 5000);
	/* A stale pure ACK (a duplicate from the network) is answered, but is no attack. */
	struct peer_seg stale = { .seq = 5000,
				  .ack = 1000,
				  .flags = TCP_FLAG_ACK,
				  .win = 65535,
				  .ts = true,
				  .tsval = 998 };
	unsigned before = f->cap.n;
	assert_int_equal(peer_send(&f->c, &stale, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->cap.n, before + 1);
	assert_int_equal(f->c.stats.oow_acks, 1);
	assert_int_equal(f->c.stats.challenge_acks, 0);
	/* A newer timestamp passes and becomes ts_recent; our ACK echoes it. */
	s.tsval = 1001;
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_OK);
	assert_int_equal(f->c.rcv_nxt, 5100);
	assert_int_equal(f->c.ts_recent, 1001);
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now); /* the delayed ACK */
	struct tcp_segment seg = last_seg(f);
	assert_true(seg.has_ts);
	assert_int_equal(seg.tsecr, 1001);
	assert_int_equal(seg.ack, 5100);
	/* The wrap: 0x00000005 is newer than 0xfffffff0. */
	f->c.ts_recent = 0xfffffff0u;
	s.seq = 5100;
	s.tsval = 5;
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_OK);
	fx_free(f);
}

/* RFC 5961 3: RST at rcv_nxt resets; in the window it is challenged; outside it, ignored. */
static void rst_checks(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	struct peer_seg s = { .seq = 5000 + 10, .flags = TCP_FLAG_RST, .win = 0 };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->c.state, TCPS_ESTABLISHED);
	assert_int_equal(f->cap.n, 1);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.flags, TCP_FLAG_ACK); /* the challenge ACK */
	assert_int_equal(seg.ack, 5000);
	assert_int_equal(f->c.stats.challenge_acks, 1);

	s.seq = 5000 + 1000000; /* outside the window */
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(f->c.stats.rst_ignored, 1);

	s.seq = 5000;
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_CLOSED);
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_RESET);
	fx_free(f);
}

/* RFC 5961 4: a SYN on an established connection gets a challenge ACK, whatever its seq. */
static void syn_challenge(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	struct peer_seg s = { .seq = 5000 + 10, .flags = TCP_FLAG_SYN, .win = 100 };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	s.seq = 123; /* far outside the window */
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->c.state, TCPS_ESTABLISHED);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(last_seg(f).ack, 5000);
	fx_free(f);
}

/* RFC 5961 7: challenge ACKs are rate limited; the budget comes back a second later. */
static void challenge_rate_limit(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->cfg.challenge_ack_per_s = 10;
	fx_start(f);
	struct peer_seg s = { .seq = 5000 + 10, .flags = TCP_FLAG_RST };
	for (int i = 0; i < 50; i++)
		peer_send(&f->c, &s, f->now + (uint64_t)i);
	assert_int_equal(f->cap.n, 10);
	assert_int_equal(f->c.stats.challenge_acks_suppressed, 40);
	peer_send(&f->c, &s, f->now + SEC);
	assert_int_equal(f->cap.n, 11);
	fx_free(f);
}

/* RFC 5961 5: an ACK of bytes never sent is challenged and its data not taken. */
static void bad_ack(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[100] = { 0 };
	struct peer_seg s = { .seq = 5000,
			      .ack = 1000 + 5000,
			      .flags = TCP_FLAG_ACK,
			      .win = 65535,
			      .data = d,
			      .len = 100 };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->c.rcv_nxt, 5000);
	assert_int_equal(f->c.stats.bad_acks, 1);
	/* Data with a sequence number outside the window: not taken, acked. */
	s.ack = 1000;
	s.seq = 5000 + 10000000;
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_DROPPED);
	assert_int_equal(f->c.rcv_nxt, 5000);
	assert_int_equal(last_seg(f).ack, 5000);
	fx_free(f);
}

/* A zero window: no data goes; probes do, backing off; the window opening lets data go. */
static void zero_window_probe(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.snd_wnd = 0;
	f->cfg.persist_probes = 3;
	fx_start(f);
	uint8_t d[3000];
	fill(d, sizeof(d), 9);
	assert_int_equal(tcp_send(&f->c, d, sizeof(d), f->now), (ssize_t)sizeof(d));
	assert_int_equal(f->cap.n, 0);
	assert_true(f->c.persist);
	uint64_t prev = f->now, gap = 0;
	for (int i = 0; i < 5; i++) {
		f->now = tcp_next_deadline(&f->c);
		tcp_timer(&f->c, f->now);
		struct tcp_segment seg = last_seg(f);
		assert_int_equal(seg.seq, 999); /* snd_una - 1 */
		assert_int_equal(seg.len, 0);
		assert_true(f->now - prev > gap); /* backing off */
		gap = f->now - prev;
		prev = f->now;
		/* The peer answers, still with no room: the connection stays. */
		peer_ack(f, 1000, 0);
	}
	assert_int_equal(f->c.state, TCPS_ESTABLISHED);
	assert_int_equal(f->c.stats.zero_window_probes, 5);
	/* The window opens: data flows. */
	unsigned first = f->cap.n;
	peer_ack(f, 1000, 65535);
	struct tcp_segment seg;
	assert_int_equal(capture_seg(&f->cap, first, &seg), 0);
	assert_int_equal(seg.seq, 1000);
	assert_int_equal(seg.len, 1460);
	assert_false(f->c.persist);
	fx_free(f);
}

/* A peer that stops answering zero-window probes is dropped after persist_probes. */
static void zero_window_dead_peer(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.snd_wnd = 0;
	f->cfg.persist_probes = 3;
	fx_start(f);
	uint8_t d[10] = { 0 };
	tcp_send(&f->c, d, sizeof(d), f->now);
	for (int i = 0; i < 4 && f->c.state != TCPS_CLOSED; i++) {
		f->now = tcp_next_deadline(&f->c);
		tcp_timer(&f->c, f->now);
	}
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_PROBE_TIMEOUT);
	fx_free(f);
}

/* Active close: FIN_WAIT_1, FIN_WAIT_2, TIME_WAIT, CLOSED. */
static void fin_active(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[10] = { 0 };
	tcp_send(&f->c, d, 10, f->now);
	tcp_close(&f->c, f->now);
	assert_int_equal(f->c.state, TCPS_FIN_WAIT_1);
	struct tcp_segment seg = last_seg(f);
	assert_true(seg.flags & TCP_FLAG_FIN);
	assert_int_equal(seg.seq + seg.len, 1010);
	assert_int_equal(tcp_send(&f->c, d, 1, f->now), -EPIPE);
	peer_ack(f, 1011, 65535);
	assert_int_equal(f->c.state, TCPS_FIN_WAIT_2);
	/* The peer's data still arrives in FIN_WAIT_2, then its FIN. */
	struct peer_seg s = { .seq = 5000,
			      .ack = 1011,
			      .flags = TCP_FLAG_ACK | TCP_FLAG_FIN,
			      .win = 65535,
			      .data = "bye",
			      .len = 3 };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_OK);
	assert_int_equal(f->c.state, TCPS_TIME_WAIT);
	seg = last_seg(f);
	assert_int_equal(seg.ack, 5004);
	char out[8];
	assert_int_equal(tcp_recv(&f->c, out, sizeof(out), f->now), 3);
	assert_true(tcp_recv_eof(&f->c));
	/* A retransmitted FIN in TIME_WAIT is acked again. */
	unsigned before = f->cap.n;
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->cap.n, before + 1);
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now);
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_NORMAL);
	fx_free(f);
}

/* Passive close: CLOSE_WAIT, LAST_ACK, CLOSED. */
static void fin_passive(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	struct peer_seg s = {
		.seq = 5000, .ack = 1000, .flags = TCP_FLAG_ACK | TCP_FLAG_FIN, .win = 65535
	};
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.state, TCPS_CLOSE_WAIT);
	assert_int_equal(last_seg(f).ack, 5001);
	assert_true(tcp_recv_eof(&f->c));
	/* We may still send in CLOSE_WAIT. */
	assert_int_equal(tcp_send(&f->c, "abc", 3, f->now), 3);
	tcp_close(&f->c, f->now);
	assert_int_equal(f->c.state, TCPS_LAST_ACK);
	struct tcp_segment seg = last_seg(f);
	assert_true(seg.flags & TCP_FLAG_FIN);
	peer_ack(f, 1004, 65535);
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_NORMAL);
	fx_free(f);
}

/* Simultaneous close: FIN_WAIT_1 and the peer's FIN before its ACK of ours: CLOSING. */
static void fin_simultaneous(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	tcp_close(&f->c, f->now);
	struct peer_seg s = {
		.seq = 5000, .ack = 1000, .flags = TCP_FLAG_ACK | TCP_FLAG_FIN, .win = 65535
	};
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.state, TCPS_CLOSING);
	peer_ack(f, 1001, 65535);
	assert_int_equal(f->c.state, TCPS_TIME_WAIT);
	fx_free(f);
}

/* A FIN that arrives before the data in front of it waits for that data. */
static void fin_out_of_order(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	struct peer_seg s = { .seq = 5100,
			      .ack = 1000,
			      .flags = TCP_FLAG_ACK | TCP_FLAG_FIN,
			      .win = 65535,
			      .data = "tail",
			      .len = 4 };
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.state, TCPS_ESTABLISHED);
	uint8_t d[100] = { 0 };
	peer_data(f, 5000, d, 100);
	assert_int_equal(f->c.state, TCPS_CLOSE_WAIT);
	assert_int_equal(f->c.rcv_nxt, 5105);
	fx_free(f);
}

/* RFC 5681 4.2: one segment waits for the delayed-ACK timer, a second is acked at once. */
static void delayed_ack(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[1460] = { 0 };
	peer_data(f, 5000, d, 1460);
	assert_int_equal(f->cap.n, 0);
	assert_int_equal(tcp_next_deadline(&f->c), f->now + f->cfg.delack_us);
	f->now += f->cfg.delack_us;
	tcp_timer(&f->c, f->now);
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(last_seg(f).ack, 5000 + 1460);
	peer_data(f, 5000 + 1460, d, 1460);
	assert_int_equal(f->cap.n, 1);
	peer_data(f, 5000 + 2920, d, 1460);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(last_seg(f).ack, 5000 + 4380);
	fx_free(f);
}

/* NewReno (no SACK): three duplicate ACKs resend snd_una's segment; a partial ACK the next. */
static void newreno_fast_retransmit(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[14600];
	fill(d, sizeof(d), 11);
	tcp_send(&f->c, d, sizeof(d), f->now);
	assert_int_equal(f->cap.n, 10);
	capture_clear(&f->cap);
	for (int i = 0; i < 3; i++)
		peer_ack(f, 1000, 65535);
	assert_true(f->c.in_recovery);
	assert_int_equal(f->c.stats.fast_retrans, 1);
	struct tcp_segment seg;
	assert_int_equal(capture_seg(&f->cap, 0, &seg), 0);
	assert_int_equal(seg.seq, 1000);
	assert_int_equal(seg.len, 1460);
	assert_memory_equal(seg.payload, d, 1460);
	/* Partial ACK: the second segment was lost too. */
	capture_clear(&f->cap);
	peer_ack(f, 1000 + 1460, 65535);
	assert_int_equal(capture_seg(&f->cap, 0, &seg), 0);
	assert_int_equal(seg.seq, 1000 + 1460);
	assert_true(f->c.in_recovery);
	/* Full ACK: out of recovery, cwnd deflated to ssthresh. */
	peer_ack(f, 1000 + 14600, 65535);
	assert_false(f->c.in_recovery);
	assert_true(f->c.cwnd <= f->c.ssthresh);
	fx_free(f);
}

/* SACK recovery (RFC 6675): the holes below SACKed data are resent, the SACKed data not. */
static void sack_recovery(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.sack_ok = true;
	fx_start(f);
	uint8_t d[14600];
	fill(d, sizeof(d), 13);
	tcp_send(&f->c, d, sizeof(d), f->now);
	capture_clear(&f->cap);
	/* Segments 0 and 2 lost; 1 and 3..5 SACKed. */
	struct peer_seg s = {
		.seq = 5000, .ack = 1000, .flags = TCP_FLAG_ACK, .win = 65535, .nsack = 2
	};
	s.sack_start[0] = 1000 + 1460;
	s.sack_end[0] = 1000 + 2920;
	s.sack_start[1] = 1000 + 3 * 1460;
	s.sack_end[1] = 1000 + 6 * 1460;
	peer_send(&f->c, &s, f->now);
	assert_true(f->c.in_recovery);
	/*
	 * The first hole goes at once. Then pipe (4 segments above the
	 * highest SACK + 1 resent) equals cwnd (half of 10): nothing more.
	 */
	assert_int_equal(f->cap.n, 1);
	struct tcp_segment seg;
	assert_int_equal(capture_seg(&f->cap, 0, &seg), 0);
	assert_int_equal(seg.seq, 1000);
	assert_memory_equal(seg.payload, d, 1460);
	/* Segment 6 arrives too: pipe shrinks by one, and the second hole goes. */
	s.sack_end[1] = 1000 + 7 * 1460;
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(capture_seg(&f->cap, 1, &seg), 0);
	assert_int_equal(seg.seq, 1000 + 2920);
	assert_memory_equal(seg.payload, d + 2920, 1460);
	/* Nothing SACKed was sent again. */
	for (unsigned i = 0; i < f->cap.n; i++) {
		assert_int_equal(capture_seg(&f->cap, i, &seg), 0);
		assert_false(seg.seq == 1000 + 1460 ||
			     (seg.seq >= 1000 + 3 * 1460 && seg.seq < 1000 + 6 * 1460));
	}
	peer_ack(f, 1000 + 14600, 65535);
	assert_false(f->c.in_recovery);
	fx_free(f);
}

/* Keepalive: an idle connection is probed; a peer that never answers is dropped. */
static void keepalive(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->cfg.keepalive_idle_us = 10 * SEC;
	f->cfg.keepalive_intvl_us = 1 * SEC;
	f->cfg.keepalive_probes = 3;
	fx_start(f);
	f->now = tcp_next_deadline(&f->c);
	assert_int_equal(f->now, 1010 * SEC);
	tcp_timer(&f->c, f->now);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.seq, 999);
	/* An answer puts it back to idle. */
	peer_ack(f, 1000, 65535);
	assert_int_equal(tcp_next_deadline(&f->c), f->now + 10 * SEC);
	for (int i = 0; i < 10 && f->c.state != TCPS_CLOSED; i++) {
		f->now = tcp_next_deadline(&f->c);
		tcp_timer(&f->c, f->now);
	}
	assert_int_equal(f->c.state, TCPS_CLOSED);
	assert_int_equal(f->c.close_reason, TCP_CLOSE_KEEPALIVE);
	assert_int_equal(f->c.stats.keepalive_probes, 4);
	fx_free(f);
}

/* Window scaling: the peer's field is shifted by its scale, ours by ours. */
static void window_scaling(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.wscale_ok = true;
	f->snap.snd_wscale = 3; /* ours */
	f->snap.rcv_wscale = 7; /* the peer's */
	f->snap.rcv_wnd = 0;
	fx_start(f);
	peer_ack(f, 1000, 1000);
	assert_int_equal(f->c.snd_wnd, 1000u << 7);
	tcp_send(&f->c, "x", 1, f->now);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.win, (256 * 1024) >> 3);
	fx_free(f);
}

/* The snapshot's queues: unread bytes are readable, unacked bytes are resent on RTO. */
static void snapshot_queues(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET6, 1000, 5000);
	uint8_t sq[3000], rq[500], out[500];
	fill(sq, sizeof(sq), 17);
	fill(rq, sizeof(rq), 19);
	f->snap.send_queue = sq;
	f->snap.send_queue_len = sizeof(sq);
	f->snap.snd_nxt = 1000 + 2000; /* 2000 in flight, 1000 unsent */
	f->snap.recv_queue = rq;
	f->snap.recv_queue_len = sizeof(rq);
	fx_start(f);
	/* The unsent kilobyte went out at once. */
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.seq, 3000);
	assert_int_equal(seg.len, 1000);
	assert_memory_equal(seg.payload, sq + 2000, 1000);
	assert_int_equal(tcp_recv(&f->c, out, sizeof(out), f->now), 500);
	assert_memory_equal(out, rq, 500);
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now);
	seg = last_seg(f);
	assert_int_equal(seg.seq, 1000);
	assert_memory_equal(seg.payload, sq, seg.len);
	fx_free(f);
}

/* Bad snapshots and configs are refused without touching anything. */
static void init_rejects(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.snd_nxt = 1100; /* 100 bytes in flight, none in the queue */
	assert_int_equal(tcp_conn_init(&f->c, &f->snap, &f->cfg, capture_emit, &f->cap, 0),
			 -EINVAL);
	f->snap.snd_nxt = 1000;
	f->cfg.sndbuf = 5000; /* not a power of two */
	assert_int_equal(tcp_conn_init(&f->c, &f->snap, &f->cfg, capture_emit, &f->cap, 0),
			 -EINVAL);
	f->cfg.sndbuf = 8192;
	f->snap.flow.family = 99;
	assert_int_equal(tcp_conn_init(&f->c, &f->snap, &f->cfg, capture_emit, &f->cap, 0),
			 -EINVAL);
	free(f);
}

/* Another flow's packet is not taken. */
static void not_mine(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	struct tcp_conn other = f->c;
	other.flow.remote_port = htons(40001);
	uint8_t buf[TCP_PKT_MAX];
	struct peer_seg s = { .seq = 5000, .ack = 1000, .flags = TCP_FLAG_ACK, .win = 100 };
	size_t n = peer_build(&other, &s, buf);
	assert_int_equal(tcp_input(&f->c, buf, n, f->now), TCP_IN_NOT_MINE);
	fx_free(f);
}

/*
 * The kernel advertised more than our buffer: we do not repeat the promise,
 * but a segment inside it is taken up to the buffer and acked, not challenged.
 */
static void kernel_window_beyond_buffer(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.rcv_wnd = 65535;
	f->cfg.rcvbuf = 8192;
	fx_start(f);
	uint8_t d[1000] = { 0 };
	assert_int_equal(peer_data(f, 5000, d, 1000), TCP_IN_OK);
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.ack, 6000);
	assert_int_equal(seg.win, 8192 - 1000); /* the buffer, not the kernel's 64 KiB */
	/* Inside the kernel's promise, past our buffer: trimmed, acked at once. */
	assert_int_equal(peer_data(f, 20000, d, 1000), TCP_IN_OK);
	assert_int_equal(f->c.stats.rcv_window_drops, 1000);
	assert_int_equal(f->c.stats.challenge_acks, 0);
	assert_int_equal(last_seg(f).ack, 6000);
	fx_free(f);
}

/* RFC 7323 RTTM: after a retransmission (no Karn sample), the echoed timestamp gives one. */
static void rtt_from_timestamps(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.ts_ok = true;
	f->snap.ts_offset = 12345;
	fx_start(f);
	uint8_t d[100] = { 0 };
	tcp_send(&f->c, d, 100, f->now);
	f->now = tcp_next_deadline(&f->c); /* the RTO: resent, the microsecond timer is off */
	tcp_timer(&f->c, f->now);
	struct tcp_segment seg = last_seg(f);
	assert_true(seg.has_ts);
	assert_int_equal(seg.tsval, (uint32_t)(f->now / 1000) + 12345);
	assert_false(f->c.rtt_timing);
	f->now += 300 * MS;
	struct peer_seg s = { .seq = 5000,
			      .ack = 1100,
			      .flags = TCP_FLAG_ACK,
			      .win = 65535,
			      .ts = true,
			      .tsval = 1,
			      .tsecr = seg.tsval };
	assert_int_equal(peer_send(&f->c, &s, f->now), TCP_IN_OK);
	assert_int_equal(f->c.stats.rtt_samples, 1);
	assert_int_equal(f->c.srtt_us, 300 * MS);
	fx_free(f);
}

/* A FIN below bytes already held out of order is a lie: ignored (found by fuzz_tcp_input). */
static void fin_below_ooo_data(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t in[301], out[301];
	fill(in, sizeof(in), 23);
	peer_data(f, 5101, in + 101, 200);
	struct peer_seg s = { .seq = 5000,
			      .ack = 1000,
			      .flags = TCP_FLAG_ACK | TCP_FLAG_FIN,
			      .win = 65535,
			      .data = in,
			      .len = 100 };
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.state, TCPS_ESTABLISHED);
	assert_int_equal(f->c.rcv_nxt, 5100);
	/* The missing byte comes: everything is delivered, in order. */
	peer_data(f, 5100, in + 100, 1);
	assert_int_equal(f->c.rcv_nxt, 5301);
	assert_int_equal(tcp_recv(&f->c, out, sizeof(out), f->now), 301);
	assert_memory_equal(in, out, 301);
	fx_free(f);
}

/* RFC 3042 limited transmit: the first two duplicate ACKs each let one new segment go. */
static void limited_transmit(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[20000];
	fill(d, sizeof(d), 29);
	tcp_send(&f->c, d, sizeof(d), f->now);
	assert_int_equal(f->cap.n, 10); /* the initial window */
	capture_clear(&f->cap);
	for (uint32_t i = 0; i < 2; i++) {
		peer_ack(f, 1000, 65535);
		assert_int_equal(f->cap.n, i + 1);
		struct tcp_segment seg = last_seg(f);
		assert_int_equal(seg.seq, 1000 + 14600 + i * 1460);
		assert_memory_equal(seg.payload, d + 14600 + i * 1460, 1460);
	}
	assert_false(f->c.in_recovery);
	assert_int_equal(f->c.cwnd, 14600); /* cwnd itself unchanged */
	fx_free(f);
}

/* Without loss, only the microsecond timer samples: millisecond timestamps would blur it. */
static void rtt_timestamps_not_while_timing(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.ts_ok = true;
	fx_start(f);
	uint8_t d[200] = { 0 };
	tcp_send(&f->c, d, 100, f->now); /* timed */
	uint32_t tsval = last_seg(f).tsval;
	tcp_send(&f->c, d, 100, f->now); /* not timed: one at a time */
	f->now += 10 * MS;
	struct peer_seg s = { .seq = 5000,
			      .ack = 1100,
			      .flags = TCP_FLAG_ACK,
			      .win = 65535,
			      .ts = true,
			      .tsval = 1,
			      .tsecr = tsval };
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.stats.rtt_samples, 1);
	assert_int_equal(f->c.srtt_us, 10 * MS);
	f->now += 290 * MS;
	s.ack = 1200;
	s.tsval = 2;
	peer_send(&f->c, &s, f->now);
	assert_int_equal(f->c.stats.rtt_samples, 1);
	assert_int_equal(f->c.srtt_us, 10 * MS);
	fx_free(f);
}

/* A retransmission never carries bytes that were not sent before (they would pass snd_max). */
static void retransmit_within_snd_max(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.snd_wnd = 1000; /* the peer's window holds less than a segment */
	fx_start(f);
	uint8_t d[3000];
	fill(d, sizeof(d), 31);
	tcp_send(&f->c, d, sizeof(d), f->now);
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(last_seg(f).len, 1000);
	for (int i = 0; i < 3; i++)
		peer_ack(f, 1000, 1000);
	assert_true(f->c.in_recovery);
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.seq, 1000);
	assert_int_equal(seg.len, 1000);
	assert_int_equal(f->c.snd_max, 2000);
	/* And after a timeout, the same. */
	f->now = tcp_next_deadline(&f->c);
	tcp_timer(&f->c, f->now);
	seg = last_seg(f);
	assert_int_equal(seg.seq, 1000);
	assert_int_equal(seg.len, 1000);
	fx_free(f);
}

/* RFC 5681 4.1: after an idle RTO, a grown cwnd starts again from the initial window. */
static void idle_restart(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[14600];
	fill(d, sizeof(d), 37);
	/* Grow cwnd: a window's worth sent and acked in slow start. */
	tcp_send(&f->c, d, sizeof(d), f->now);
	f->now += 10 * MS;
	peer_ack(f, 1000 + 14600, 65535);
	assert_true(f->c.cwnd > 14600);
	/* Busy again at once: the grown window is used. */
	capture_clear(&f->cap);
	tcp_send(&f->c, d, sizeof(d), f->now);
	assert_int_equal(f->cap.n, 10);
	f->now += 10 * MS;
	peer_ack(f, 1000 + 2 * 14600, 65535);
	uint32_t grown = f->c.cwnd;
	/* Silent for longer than the RTO: back to 10 segments. */
	f->now += 2 * SEC;
	capture_clear(&f->cap);
	uint8_t big[20000] = { 0 };
	tcp_send(&f->c, big, sizeof(big), f->now);
	assert_true(grown > 14600);
	assert_int_equal(f->c.cwnd, 14600);
	assert_int_equal(f->cap.n, 10);
	fx_free(f);
}

/* A retransmission lost too: found from SACKs of data sent after it, resent without an RTO. */
static void lost_retransmission(void **state)
{
	(void)state;
	struct fixture *f = fx_new(AF_INET, 1000, 5000);
	f->snap.sack_ok = true;
	fx_start(f);
	uint8_t d[20000];
	fill(d, sizeof(d), 41);
	tcp_send(&f->c, d, sizeof(d), f->now);
	assert_int_equal(f->cap.n, 10);
	capture_clear(&f->cap);
	/* Segment 0 lost; 1..3 SACKed: recovery, segment 0 resent. */
	struct peer_seg s = {
		.seq = 5000, .ack = 1000, .flags = TCP_FLAG_ACK, .win = 65535, .nsack = 1
	};
	s.sack_start[0] = 1000 + 1460;
	s.sack_end[0] = 1000 + 4 * 1460;
	peer_send(&f->c, &s, f->now);
	assert_true(f->c.in_recovery);
	/* 4..9 SACKed too: the pipe empties and new data goes. */
	s.sack_end[0] = 1000 + 10 * 1460;
	peer_send(&f->c, &s, f->now);
	assert_true(seq_gt(f->c.snd_max, 1000 + 10 * 1460));
	/* The first new segment is SACKed while segment 0 is still missing: its copy was lost. */
	s.sack_end[0] = 1000 + 11 * 1460;
	peer_send(&f->c, &s, f->now);
	unsigned resent = 0;
	for (unsigned i = 0; i < f->cap.n; i++) {
		struct tcp_segment seg;
		assert_int_equal(capture_seg(&f->cap, i, &seg), 0);
		if (seg.seq == 1000 && seg.len) {
			resent++;
			assert_memory_equal(seg.payload, d, seg.len);
		}
	}
	assert_int_equal(resent, 2);
	assert_int_equal(f->c.stats.lost_retrans, 1);
	assert_int_equal(f->c.stats.rto_timeouts, 0);
	fx_free(f);
}

/* RFC 8985 tail loss probe: a lost last segment goes again after 2 RTTs, not after the RTO. */
static void tail_loss_probe(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[3000];
	fill(d, sizeof(d), 43);
	/* An RTT sample first: 10 ms. */
	tcp_send(&f->c, d, 100, f->now);
	f->now += 10 * MS;
	peer_ack(f, 1100, 65535);
	assert_int_equal(f->c.srtt_us, 10 * MS);
	/* Two segments, both lost. */
	capture_clear(&f->cap);
	tcp_send(&f->c, d + 100, 2000, f->now);
	assert_int_equal(f->cap.n, 2);
	uint64_t sent = f->now;
	f->now = tcp_next_deadline(&f->c);
	assert_int_equal(f->now - sent, 20 * MS); /* 2 x srtt, well before the 200 ms RTO */
	tcp_timer(&f->c, f->now);
	assert_int_equal(f->cap.n, 3);
	struct tcp_segment seg = last_seg(f);
	/* The last MSS of what was sent: it covers the last segment. */
	assert_int_equal(seg.seq, 1100 + 2000 - 1460);
	assert_int_equal(seg.len, 1460);
	assert_memory_equal(seg.payload, d + 100 + 2000 - 1460, 1460);
	assert_int_equal(f->c.stats.tail_probes, 1);
	/* One probe per tail: the next deadline is the RTO. */
	f->now = tcp_next_deadline(&f->c);
	assert_int_equal(f->now - sent, f->c.rto_us);
	tcp_timer(&f->c, f->now);
	assert_int_equal(f->c.stats.rto_timeouts, 1);
	assert_int_equal(f->c.stats.tail_probes, 1);
	fx_free(f);
}

/* tcp_queue() + tcp_push(): many small writes leave as full segments. */
static void queue_then_push(void **state)
{
	(void)state;
	struct fixture *f = fx_default();
	uint8_t d[100];
	fill(d, sizeof(d), 47);
	for (int i = 0; i < 30; i++)
		assert_int_equal(tcp_queue(&f->c, d, sizeof(d), f->now), 100);
	assert_int_equal(f->cap.n, 0);
	tcp_push(&f->c, f->now);
	assert_int_equal(f->cap.n, 3); /* 1460 + 1460 + 80, not 30 segments */
	struct tcp_segment seg = last_seg(f);
	assert_int_equal(seg.seq, 1000 + 2920);
	assert_int_equal(seg.len, 80);
	/* tcp_send() sends at once. */
	assert_int_equal(tcp_send(&f->c, d, sizeof(d), f->now), 100);
	assert_int_equal(f->cap.n, 4);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sequence_wrap),
		cmocka_unit_test(ooo_reassembly),
		cmocka_unit_test(sack_blocks),
		cmocka_unit_test(ooo_bounds),
		cmocka_unit_test(rto_backoff),
		cmocka_unit_test(rtt_sample),
		cmocka_unit_test(rtt_from_timestamps),
		cmocka_unit_test(rtt_timestamps_not_while_timing),
		cmocka_unit_test(paws),
		cmocka_unit_test(rst_checks),
		cmocka_unit_test(syn_challenge),
		cmocka_unit_test(challenge_rate_limit),
		cmocka_unit_test(bad_ack),
		cmocka_unit_test(zero_window_probe),
		cmocka_unit_test(zero_window_dead_peer),
		cmocka_unit_test(fin_active),
		cmocka_unit_test(fin_passive),
		cmocka_unit_test(fin_simultaneous),
		cmocka_unit_test(fin_out_of_order),
		cmocka_unit_test(fin_below_ooo_data),
		cmocka_unit_test(delayed_ack),
		cmocka_unit_test(newreno_fast_retransmit),
		cmocka_unit_test(limited_transmit),
		cmocka_unit_test(retransmit_within_snd_max),
		cmocka_unit_test(idle_restart),
		cmocka_unit_test(sack_recovery),
		cmocka_unit_test(lost_retransmission),
		cmocka_unit_test(tail_loss_probe),
		cmocka_unit_test(queue_then_push),
		cmocka_unit_test(keepalive),
		cmocka_unit_test(window_scaling),
		cmocka_unit_test(snapshot_queues),
		cmocka_unit_test(init_rejects),
		cmocka_unit_test(not_mine),
		cmocka_unit_test(kernel_window_beyond_buffer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
