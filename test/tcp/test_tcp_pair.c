// SPDX-License-Identifier: MIT
/*
 * Two TCP engines talking to each other over a simulated link: transfers
 * both ways, checked byte by byte, on a clean link and an impaired one
 * (seeded loss, reordering, duplication), with and without SACK and
 * timestamps, IPv4 and IPv6; closing both ways; a peer that vanishes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcp_pair_link.h"

#define SEC 1000000ull
#define MIB (1024ull * 1024)

struct run {
	struct pair p;
	struct stream ab, ba;
};

/*
 * Moves total bytes each way, then closes both ends, within sim_limit of
 * simulated time. Returns the run for the caller's checks.
 */
static struct run *transfer(const struct pair_opts *o, uint64_t total, uint64_t sim_limit)
{
	struct run *r = calloc(1, sizeof(*r));
	assert_int_equal(pair_init(&r->p, o), 0);
	r->ab = (struct stream){ .total = total, .salt = 1, .last_progress = r->p.now };
	r->ba = (struct stream){ .total = total, .salt = 2, .last_progress = r->p.now };
	uint64_t limit = r->p.now + sim_limit;
	bool a_closed = false, b_closed = false;
	for (;;) {
		stream_write(&r->ab, &r->p.a, r->p.now);
		stream_write(&r->ba, &r->p.b, r->p.now);
		if (!a_closed && r->ab.written == total) {
			tcp_close(&r->p.a, r->p.now);
			a_closed = true;
		}
		if (!b_closed && r->ba.written == total) {
			tcp_close(&r->p.b, r->p.now);
			b_closed = true;
		}
		stream_read(&r->ab, &r->p.b, r->p.now);
		stream_read(&r->ba, &r->p.a, r->p.now);
		if (r->ab.read == total && r->ba.read == total && tcp_recv_eof(&r->p.a) &&
		    tcp_recv_eof(&r->p.b) && r->p.a.snd_una == r->p.a.snd_max &&
		    r->p.b.snd_una == r->p.b.snd_max)
			break;
		if (!pair_step(&r->p, limit))
			break;
	}
	return r;
}

static void report(const char *name, struct run *r)
{
	struct tcp_stats *a = &r->p.a.stats;
	print_message("%s: %llu/%llu bytes, %.1f s simulated, longest stall %.0f ms, "
		      "a: %llu retrans %llu rto %llu fast, link: %llu sent %llu dropped %llu dup "
		      "%llu reordered\n",
		      name, (unsigned long long)r->ab.read, (unsigned long long)r->ba.read,
		      (double)(r->p.now - 1000000000ull) / 1e6,
		      (double)(r->ab.longest_stall > r->ba.longest_stall ? r->ab.longest_stall
									 : r->ba.longest_stall) /
			  1000.0,
		      (unsigned long long)a->retrans_segs, (unsigned long long)a->rto_timeouts,
		      (unsigned long long)a->fast_retrans, (unsigned long long)r->p.ab.sent,
		      (unsigned long long)r->p.ab.dropped, (unsigned long long)r->p.ab.duplicated,
		      (unsigned long long)r->p.ab.reordered);
}

static void check_complete(struct run *r, uint64_t total)
{
	assert_int_equal(r->ab.read, total);
	assert_int_equal(r->ba.read, total);
	assert_false(r->ab.corrupt);
	assert_false(r->ba.corrupt);
	assert_true(tcp_recv_eof(&r->p.a));
	assert_true(tcp_recv_eof(&r->p.b));
	/* One side ends in TIME_WAIT, the other CLOSED (or both TIME_WAIT when simultaneous). */
	assert_true(r->p.a.state == TCPS_TIME_WAIT || r->p.a.state == TCPS_CLOSED);
	assert_true(r->p.b.state == TCPS_TIME_WAIT || r->p.b.state == TCPS_CLOSED);
	assert_int_equal(r->p.ab.overflow + r->p.ba.overflow, 0);
}

static void clean_link(void **state)
{
	(void)state;
	struct pair_opts o;
	pair_default_opts(&o);
	struct run *r = transfer(&o, 8 * MIB, 60 * SEC);
	report("clean", r);
	check_complete(r, 8 * MIB);
	assert_int_equal(r->p.a.stats.retrans_segs + r->p.b.stats.retrans_segs, 0);
	/* RTT is 10 ms on this link: the estimator must have found it. */
	assert_in_range(r->p.a.srtt_us, 10000, 60000);
	pair_free(&r->p);
	free(r);
}

/*
 * The stall bound: a segment lost three times in a row waits RTO + 2 RTO +
 * 4 RTO, at the 200 ms floor 1.4 s; anything longer is a stuck sender.
 */
#define STALL_BOUND_US (3 * SEC)

static void impaired(int family, bool sack, bool ts, unsigned drop_pm, uint64_t seed)
{
	struct pair_opts o;
	pair_default_opts(&o);
	o.family = family;
	o.sack = sack;
	o.ts = ts;
	o.imp.drop_pm = drop_pm;
	o.imp.dup_pm = 10;
	o.imp.reorder_pm = 30;
	o.imp.seed = seed;
	struct run *r = transfer(&o, 4 * MIB, 600 * SEC);
	char name[64];
	snprintf(name, sizeof(name), "%s sack=%d ts=%d drop=%u/1000 seed=%llu",
		 family == AF_INET ? "v4" : "v6", sack, ts, drop_pm, (unsigned long long)seed);
	report(name, r);
	check_complete(r, 4 * MIB);
	assert_true(r->p.ab.dropped > 0);
	assert_true(r->ab.longest_stall < STALL_BOUND_US);
	assert_true(r->ba.longest_stall < STALL_BOUND_US);
	pair_free(&r->p);
	free(r);
}

static void lossy_sack_ts(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++)
		impaired(AF_INET, true, true, 30, seed);
	impaired(AF_INET, true, true, 50, 4);
}

static void lossy_newreno(void **state)
{
	(void)state;
	impaired(AF_INET, false, false, 10, 5);
	impaired(AF_INET, false, true, 30, 6);
}

static void lossy_v6(void **state)
{
	(void)state;
	impaired(AF_INET6, true, true, 30, 7);
}

/* The peer vanishes mid-transfer: the sender gives up after its retransmissions. */
static void peer_vanishes(void **state)
{
	(void)state;
	struct pair_opts o;
	pair_default_opts(&o);
	o.cfg.rto_retries = 5;
	o.cfg.keepalive_idle_us = 5 * SEC;
	o.cfg.keepalive_intvl_us = 1 * SEC;
	o.cfg.keepalive_probes = 3;
	struct pair p;
	assert_int_equal(pair_init(&p, &o), 0);
	struct stream s = { .total = 64 * MIB, .salt = 3, .last_progress = p.now };
	uint64_t cut_at = p.now + 1 * SEC;
	while (p.now < cut_at + 600 * SEC) {
		if (p.now >= cut_at)
			p.ab.cut = p.ba.cut = true;
		stream_write(&s, &p.a, p.now);
		stream_read(&s, &p.b, p.now);
		if (p.a.state == TCPS_CLOSED && p.b.state == TCPS_CLOSED)
			break;
		if (!pair_step(&p, cut_at + 600 * SEC))
			break;
	}
	/* a had data in flight: the RTO gives up; b was only receiving: keepalive finds it. */
	assert_int_equal(p.a.state, TCPS_CLOSED);
	assert_int_equal(p.a.close_reason, TCP_CLOSE_RTO_TIMEOUT);
	assert_int_equal(p.b.state, TCPS_CLOSED);
	assert_int_equal(p.b.close_reason, TCP_CLOSE_KEEPALIVE);
	assert_false(s.corrupt);
	assert_true(s.read > 0);
	print_message("vanish: %llu bytes before the cut, a closed after %llu RTOs\n",
		      (unsigned long long)s.read, (unsigned long long)p.a.stats.rto_timeouts);
	pair_free(&p);
}

/*
 * A small receive buffer read slowly, and not at all for two seconds: the
 * window shuts, zero-window probes keep the sender asking, and no byte is
 * lost or sent past the window.
 */
static void slow_reader(void **state)
{
	(void)state;
	struct pair_opts o;
	pair_default_opts(&o);
	o.cfg.rcvbuf = 8192;
	o.imp.drop_pm = 20; /* window updates get lost too */
	struct pair p;
	assert_int_equal(pair_init(&p, &o), 0);
	struct stream s = { .total = 1 * MIB, .salt = 4, .last_progress = p.now };
	uint64_t start = p.now, limit = p.now + 3600 * SEC, next_read = p.now;
	uint8_t buf[1000];
	while (s.read < s.total) {
		stream_write(&s, &p.a, p.now);
		bool paused = p.now >= start + 1 * SEC && p.now < start + 3 * SEC;
		if (p.now >= next_read && !paused) {
			/* 1000 bytes every 10 ms: the buffer fills and the window shuts. */
			ssize_t n = tcp_recv(&p.b, buf, sizeof(buf), p.now);
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != stream_byte(s.read + (uint64_t)i, s.salt))
					s.corrupt = true;
			s.read += n > 0 ? (uint64_t)n : 0;
		}
		if (p.now >= next_read)
			next_read = p.now + 10000;
		uint64_t step_limit = next_read < limit ? next_read : limit;
		if (!pair_step(&p, step_limit))
			p.now = step_limit;
		if (p.now >= limit)
			break;
	}
	assert_int_equal(s.read, s.total);
	assert_false(s.corrupt);
	assert_int_equal(p.a.state, TCPS_ESTABLISHED);
	assert_true(p.a.stats.zero_window_probes > 0);
	assert_int_equal(p.b.stats.rcv_window_drops, 0);
	print_message("slow reader: %llu zero-window probes, %llu retrans, %llu rto, %llu fast, "
		      "link drops %llu\n",
		      (unsigned long long)p.a.stats.zero_window_probes,
		      (unsigned long long)p.a.stats.retrans_segs,
		      (unsigned long long)p.a.stats.rto_timeouts,
		      (unsigned long long)p.a.stats.fast_retrans, (unsigned long long)p.ab.dropped);
	pair_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(clean_link),	 cmocka_unit_test(lossy_sack_ts),
		cmocka_unit_test(lossy_newreno), cmocka_unit_test(lossy_v6),
		cmocka_unit_test(peer_vanishes), cmocka_unit_test(slow_reader),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
