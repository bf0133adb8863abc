// SPDX-License-Identifier: MIT
/*
 * The codel send queue on its own (src/dataplane/fq_codel.c): sojourn-time
 * drops only after a whole interval above target, later drops spread out by
 * interval/sqrt(n), fairness between sources, control frames never starved
 * (and never starving data), exact bounds for the byte budget and the disco
 * and control classes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "derp_frame.h"
#include "fq_codel.h"

#define MS 1000000ull
#define US 1000ull

struct drops {
	uint32_t n[3];	  /* by enum fq_drop_why */
	uint64_t at[256]; /* time of each sojourn drop */
	uint32_t n_at;
	uint8_t src_of[1024]; /* source id of each dropped packet, in order */
	uint32_t n_src;
	uint64_t now;
};

static void on_drop(void *ctx, struct pktbuf *pb, enum fq_drop_why why)
{
	struct drops *d = ctx;
	d->n[why]++;
	if (why == FQ_DROP_SOJOURN && d->n_at < 256)
		d->at[d->n_at++] = d->now;
	if (d->n_src < 1024)
		d->src_of[d->n_src++] = pb->frame[DERP_FRAME_HDR_LEN];
	free(pb);
}

static void free_pb(void *ctx, struct pktbuf *pb)
{
	(void)ctx;
	free(pb);
}

/* A RecvPacket of len frame bytes from source key {src, 0, ...}. */
static struct pktbuf *pkt(uint8_t kind, uint8_t src, uint32_t len)
{
	struct pktbuf *pb = calloc(1, sizeof(*pb) + len);
	assert_non_null(pb);
	pb->frame = pb->data;
	pb->len = len;
	pb->cap = len;
	pb->kind = kind;
	pb->frame[0] = DERP_FRAME_RECV_PACKET;
	pb->frame[DERP_FRAME_HDR_LEN] = src;
	return pb;
}

static struct fq_params params(void)
{
	struct fq_params p = {
		.target_ns = 5 * MS,
		.interval_ns = 100 * MS,
		.byte_limit = 1 << 20,
		.quantum = 1500,
		.disco_limit = 32,
		.ctrl_limit = 1024,
		.seed = 0x1234567890abcdefull,
	};
	return p;
}

/* Two source ids that land in different flows under p. */
static void two_flows(const struct fq_params *p, uint8_t *a, uint8_t *b)
{
	uint8_t ka[KEY_LEN] = { 0 }, kb[KEY_LEN] = { 0 };
	*a = 1;
	ka[0] = *a;
	for (uint32_t i = 2; i < 256; i++) {
		kb[0] = (uint8_t)i;
		if (fq_flow_of(p, kb) != fq_flow_of(p, ka)) {
			*b = (uint8_t)i;
			return;
		}
	}
	fail_msg("no two sources in different flows");
}

static uint8_t src_of(const struct pktbuf *pb)
{
	return pb->frame[DERP_FRAME_HDR_LEN];
}

/*
 * A standing queue: packets wait 20 ms (above the 5 ms target). Nothing is
 * dropped during the first interval; then one packet, then the next ones
 * interval/sqrt(n) apart: 100, 70.7, 57.7 ms ...
 */
static void test_sojourn_drops_after_interval_then_spread(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	fq_init(&q);

	/* One packet in and one out every ms; each waits 20 ms in the queue. */
	uint64_t t = 0;
	for (uint32_t i = 0; i < 20; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, 1, 1400), t, on_drop, &d);
	for (uint32_t ms = 20; ms < 520; ms++) {
		t = ms * MS;
		d.now = t;
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, 1, 1400), t, on_drop, &d);
		struct pktbuf *pb = fq_dequeue(&q, &p, t, on_drop, &d);
		assert_non_null(pb);
		free(pb);
	}
	assert_int_equal(d.n[FQ_DROP_BYTES], 0);
	assert_true(d.n_at >= 4);
	/* First drop: once the head has been above target for a whole interval. */
	assert_true(d.at[0] >= 20 * MS + 100 * MS);
	assert_true(d.at[0] <= 20 * MS + 100 * MS + 2 * MS);
	/* Each drop comes interval/sqrt(n) after the one before, never in a burst. */
	static const uint64_t gap_ms[] = { 100, 70, 57, 50, 44, 40 };
	for (uint32_t i = 1; i < d.n_at && i < 6; i++) {
		uint64_t gap = d.at[i] - d.at[i - 1];
		assert_true(gap >= gap_ms[i - 1] * MS);
		assert_true(gap <= (gap_ms[i - 1] + 3) * MS);
	}
	fq_purge(&q, free_pb, NULL);
}

/* A queue that drains below target within the interval is never dropped from. */
static void test_no_drop_below_target_or_short_burst(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	fq_init(&q);

	/* A burst of 500 packets served 1 per 0.1 ms: the last waits 50 ms, < interval. */
	for (uint32_t i = 0; i < 500; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, 1, 1400), 0, on_drop, &d);
	uint32_t got = 0;
	for (uint32_t i = 0; i < 500; i++) {
		d.now = i * 100 * US;
		struct pktbuf *pb = fq_dequeue(&q, &p, d.now, on_drop, &d);
		assert_non_null(pb);
		free(pb);
		got++;
	}
	assert_int_equal(got, 500);
	assert_int_equal(d.n[FQ_DROP_SOJOURN], 0);
	assert_true(fq_empty(&q));
}

/* One bulk sender and one small one: the small one gets its packets out at once. */
static void test_drr_fairness(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	uint8_t bulk, small;
	fq_init(&q);
	two_flows(&p, &bulk, &small);

	for (uint32_t i = 0; i < 400; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, bulk, 1400), 0, on_drop, &d);
	for (uint32_t i = 0; i < 10; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, small, 1400), 0, on_drop, &d);

	/* Served alternately: all 10 small packets within the first 20 out. */
	uint32_t small_out = 0;
	for (uint32_t i = 0; i < 20; i++) {
		struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
		assert_non_null(pb);
		small_out += src_of(pb) == small;
		free(pb);
	}
	assert_int_equal(small_out, 10);

	/* In bytes too: 64-byte packets against 1400-byte ones get the same byte share. */
	fq_purge(&q, free_pb, NULL);
	for (uint32_t i = 0; i < 100; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, bulk, 1400), 0, on_drop, &d);
	for (uint32_t i = 0; i < 1000; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, small, 64), 0, on_drop, &d);
	uint64_t bytes[2] = { 0, 0 };
	while (bytes[0] + bytes[1] < 60000) {
		struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
		assert_non_null(pb);
		bytes[src_of(pb) == small] += pb->len;
		free(pb);
	}
	assert_true(bytes[1] * 10 >= bytes[0] * 8 && bytes[1] * 10 <= bytes[0] * 12);
	fq_purge(&q, free_pb, NULL);
}

/* Over the byte budget, the fattest flow loses its oldest packet; the small one nothing. */
static void test_byte_budget_exact_and_fair(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	uint8_t bulk, small;
	p.byte_limit = 100 * 1000;
	fq_init(&q);
	two_flows(&p, &bulk, &small);

	for (uint32_t i = 0; i < 5; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, small, 1000), 0, on_drop, &d);
	for (uint32_t i = 0; i < 300; i++) {
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, bulk, 1000), 0, on_drop, &d);
		assert_true(q.data_bytes <= p.byte_limit);
	}
	/* The small sender sends again into the full budget: the bulk sender pays. */
	for (uint32_t i = 0; i < 5; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, small, 1000), 0, on_drop, &d);
	/* Exactly the budget is held, and the 210 dropped are all the bulk sender's. */
	assert_int_equal(q.data_bytes, 100 * 1000);
	assert_int_equal(q.data_count, 100);
	assert_int_equal(d.n[FQ_DROP_BYTES], 210);
	for (uint32_t i = 0; i < d.n_src; i++)
		assert_int_equal(d.src_of[i], bulk);
	/* Head drops: the bulk packets left are the newest 90. */
	uint32_t small_left = 0;
	struct pktbuf *pb;
	while ((pb = fq_dequeue(&q, &p, 0, on_drop, &d))) {
		small_left += src_of(pb) == small;
		free(pb);
	}
	assert_int_equal(small_left, 10);
	assert_int_equal(q.data_bytes, 0);
}

/* A control frame queued behind a bulk backlog goes out next. */
static void test_control_never_starved(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	fq_init(&q);

	for (uint32_t i = 0; i < 500; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, 1, 1400), 0, on_drop, &d);
	for (uint32_t i = 0; i < 3; i++) {
		struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
		assert_int_equal(pb->kind, PKT_KIND_DATA);
		free(pb);
	}
	fq_enqueue(&q, &p, pkt(PKT_KIND_DISCO, 2, 100), 0, on_drop, &d);
	fq_enqueue(&q, &p, pkt(PKT_KIND_CTRL, 0, 40), 0, on_drop, &d);
	struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
	assert_int_equal(pb->kind, PKT_KIND_CTRL); /* server frames first */
	free(pb);
	pb = fq_dequeue(&q, &p, 0, on_drop, &d);
	assert_int_equal(pb->kind, PKT_KIND_DISCO);
	free(pb);
	fq_purge(&q, free_pb, NULL);
}

/* ... and a disco flood does not starve data: one data packet per FQ_CTRL_BURST control. */
static void test_control_flood_does_not_starve_data(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	p.disco_limit = 4096;
	fq_init(&q);

	for (uint32_t i = 0; i < 50; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, 1, 1400), 0, on_drop, &d);
	for (uint32_t i = 0; i < 1000; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DISCO, 2, 100), 0, on_drop, &d);
	uint32_t data = 0;
	for (uint32_t i = 0; i < 9 * 40; i++) {
		struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
		data += pb->kind == PKT_KIND_DATA;
		free(pb);
	}
	assert_int_equal(data, 40);
	fq_purge(&q, free_pb, NULL);
}

/* Disco: exactly disco_limit kept, the oldest dropped; server frames: ctrl_limit, or none. */
static void test_control_class_bounds_exact(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	fq_init(&q);

	for (uint32_t i = 0; i < 100; i++) {
		struct pktbuf *pb = pkt(PKT_KIND_DISCO, 2, 100);
		pb->frame[6] = (uint8_t)i;
		fq_enqueue(&q, &p, pb, 0, on_drop, &d);
	}
	assert_int_equal(q.disco.count, 32);
	assert_int_equal(d.n[FQ_DROP_CTRL_LIMIT], 68);
	assert_int_equal(q.disco.head->frame[6], 68); /* the newest 32 stay */

	for (uint32_t i = 0; i < 1500; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_CTRL, 0, 40), 0, on_drop, &d);
	assert_int_equal(q.ctrl.count, 1024);
	fq_purge(&q, free_pb, NULL);

	p.ctrl_limit = 0; /* mesh watchers miss nothing */
	for (uint32_t i = 0; i < 1500; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_CTRL, 0, 40), 0, on_drop, &d);
	assert_int_equal(q.ctrl.count, 1500);
	fq_purge(&q, free_pb, NULL);
	assert_true(fq_empty(&q));
}

/*
 * Only the flow that builds the standing queue is dropped from: a sparse
 * sender's packets never wait long enough.
 */
static void test_codel_per_flow(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	uint8_t bulk, small;
	fq_init(&q);
	two_flows(&p, &bulk, &small);

	for (uint32_t i = 0; i < 100; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, bulk, 1400), 0, on_drop, &d);
	for (uint32_t ms = 1; ms < 1000; ms++) {
		d.now = ms * MS;
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, bulk, 1400), d.now, on_drop, &d);
		if (ms % 10 == 0)
			fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, small, 200), d.now, on_drop, &d);
		struct pktbuf *pb = fq_dequeue(&q, &p, d.now, on_drop, &d);
		assert_non_null(pb);
		free(pb);
	}
	assert_true(d.n[FQ_DROP_SOJOURN] > 0);
	for (uint32_t i = 0; i < d.n_src; i++)
		assert_int_equal(d.src_of[i], bulk);
	fq_purge(&q, free_pb, NULL);
}

/* A PeerGone frame (server frame) naming source src. */
static struct pktbuf *peer_gone(uint8_t src)
{
	struct pktbuf *pb = pkt(PKT_KIND_CTRL, src, DERP_FRAME_HDR_LEN + KEY_LEN + 1);
	pb->frame[0] = DERP_FRAME_PEER_GONE;
	return pb;
}

/*
 * Control goes first, except a PeerGone: it must not overtake the packets
 * its peer sent before leaving. A PeerGone for a peer with nothing queued
 * goes first like any server frame.
 */
static void test_peer_gone_after_its_peers_packets(void **state)
{
	(void)state;
	struct fq_params p = params();
	struct fq_sched q;
	struct drops d = { 0 };
	uint8_t leaver, other;
	fq_init(&q);
	two_flows(&p, &leaver, &other);

	for (uint32_t i = 0; i < 5; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, other, 1400), 0, on_drop, &d);
	for (uint32_t i = 0; i < 3; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, leaver, 1400), 0, on_drop, &d);
	fq_enqueue(&q, &p, peer_gone(leaver), 0, on_drop, &d);
	uint32_t leaver_out = 0;
	for (;;) {
		struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
		assert_non_null(pb);
		if (pb->kind == PKT_KIND_CTRL) {
			assert_int_equal(pb->frame[0], DERP_FRAME_PEER_GONE);
			free(pb);
			break;
		}
		leaver_out += src_of(pb) == leaver;
		free(pb);
	}
	assert_int_equal(leaver_out, 3);
	fq_purge(&q, free_pb, NULL);

	/* Nothing of the leaver queued: its PeerGone goes before the backlog. */
	for (uint32_t i = 0; i < 5; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, other, 1400), 0, on_drop, &d);
	fq_enqueue(&q, &p, peer_gone(leaver), 0, on_drop, &d);
	struct pktbuf *pb = fq_dequeue(&q, &p, 0, on_drop, &d);
	assert_int_equal(pb->kind, PKT_KIND_CTRL);
	free(pb);

	/* Its packets dropped rather than sent count as gone too. */
	fq_purge(&q, free_pb, NULL);
	p.byte_limit = 3 * 1400;
	for (uint32_t i = 0; i < 3; i++)
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, leaver, 1400), 0, on_drop, &d);
	fq_enqueue(&q, &p, peer_gone(leaver), 0, on_drop, &d);
	for (uint32_t i = 0; i < 3; i++) /* the leaver's 3 pushed out by the budget */
		fq_enqueue(&q, &p, pkt(PKT_KIND_DATA, leaver, 1400), 0, on_drop, &d);
	pb = fq_dequeue(&q, &p, 0, on_drop, &d);
	assert_int_equal(pb->kind, PKT_KIND_CTRL);
	free(pb);
	fq_purge(&q, free_pb, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sojourn_drops_after_interval_then_spread),
		cmocka_unit_test(test_no_drop_below_target_or_short_burst),
		cmocka_unit_test(test_drr_fairness),
		cmocka_unit_test(test_byte_budget_exact_and_fair),
		cmocka_unit_test(test_control_never_starved),
		cmocka_unit_test(test_control_flood_does_not_starve_data),
		cmocka_unit_test(test_control_class_bounds_exact),
		cmocka_unit_test(test_codel_per_flow),
		cmocka_unit_test(test_peer_gone_after_its_peers_packets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
