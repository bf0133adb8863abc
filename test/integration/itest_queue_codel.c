// SPDX-License-Identifier: MIT
/*
 * limits.queue_policy = codel through the real daemon: the bounds of a
 * stalled reader's queue are exact, a small sender is not starved by a bulk
 * one, and drops are counted by class in /metrics.
 *
 * A reader that never reads is stalled first (a flood fills the kernel's
 * socket buffers; the relay's one send to it then waits), so from
 * then on every frame for it stays in the relay's queue, which
 * hyperderp_queued_frames_max shows exactly:
 * - data: a byte budget (queue_bytes = 256 KiB) holds floor(262144 / 65573)
 *   = 3 of the bulk sender's 64 KiB packets, the rest dropped (queue_bytes);
 * - a small sender's 100 packets of 1000 bytes then all stay: the budget
 *   takes room from the fattest flow (one more bulk packet goes), never from
 *   the small one, so 2 + 100 are queued and all 100 arrive, in order;
 * - disco: exactly queue_depth (32) of 100 stay, the oldest 68 dropped
 *   (queue_head, kind disco), and the newest 32 arrive.
 * CoDel's target and interval are set high here so that only the bounds act;
 * the second test lowers them live and requires sojourn drops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_mgmt_daemon.h"

#define BUDGET	    262144
#define BULK_FRAME  (DERP_FRAME_HDR_LEN + KEY_LEN + DERP_MAX_PACKET_SIZE) /* 65573 */
#define FLOOD_PKTS  256 /* 16 MiB: more than both socket buffers hold */
#define SMALL_PKTS  100
#define SMALL_BYTES 1000
#define DISCO_PKTS  100
#define DISCO_BYTES 100
#define QUEUE_DEPTH 32
#define STABLE_WAIT 15000

static const char *const codel_ini = "[server]\nworkers = 1\n"
				     "[limits]\nqueue_policy = codel\nqueue_bytes = 262144\n"
				     "codel_target_us = 1000000\ncodel_interval_ms = 10000\n"
				     "queue_depth = 32\nwrite_timeout_ms = 0\n";

static char body[1 << 20];

static int64_t metric(struct mgmt_daemon *d, const char *name, const char *labels)
{
	IT_REQUIRE(md_http_get(d, "/metrics", body, sizeof(body)) == 200, "GET /metrics");
	return md_metric(body, name, labels);
}

static int64_t dropped(struct mgmt_daemon *d, const char *reason, const char *kind)
{
	char labels[96];
	snprintf(labels, sizeof(labels), "reason=\"%s\",kind=\"%s\"", reason, kind);
	return metric(d, "hyperderp_dropped_packets_total", labels);
}

/* The deepest queue, once it holds want frames (the relay routes asynchronously). */
static void expect_queued(struct mgmt_daemon *d, int64_t want, const char *what)
{
	int64_t deadline = it_now_ms() + STABLE_WAIT, q = -1;
	while (it_now_ms() < deadline) {
		q = metric(d, "hyperderp_queued_frames_max", NULL);
		if (q == want)
			break;
		it_sleep_ms(50);
	}
	IT_REQUIRE(q == want, "%s: %lld frames queued for the stalled reader, want %lld", what,
		   (long long)q, (long long)want);
	/* And it stays there: nothing is still on its way in. */
	it_sleep_ms(300);
	q = metric(d, "hyperderp_queued_frames_max", NULL);
	IT_REQUIRE(q == want, "%s: then %lld queued, want %lld", what, (long long)q,
		   (long long)want);
}

/*
 * Floods the reader until the relay's send to it waits (the kernel's socket
 * buffers are full and frames stay queued), then sends 32 more 64 KiB
 * packets, 2 MiB into the 256 KiB budget.
 */
static void stall(struct mgmt_daemon *d, struct derp_client *bulk, struct derp_client *reader)
{
	uint8_t *flood = calloc(1, DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(flood != NULL, "out of memory");
	int sent = 0;
	while (metric(d, "hyperderp_queued_frames_max", NULL) == 0) {
		IT_REQUIRE(sent < FLOOD_PKTS, "%d packets of 64 KiB did not back the relay up",
			   sent);
		for (int i = 0; i < 8; i++, sent++)
			it_send_packet(bulk, reader->pub, flood, DERP_MAX_PACKET_SIZE);
		it_sleep_ms(20);
	}
	for (int i = 0; i < 32; i++)
		it_send_packet(bulk, reader->pub, flood, DERP_MAX_PACKET_SIZE);
	free(flood);
}

static void disco_packet(uint8_t *p, uint32_t seq)
{
	static const uint8_t magic[6] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };
	memset(p, 0, DISCO_BYTES);
	memcpy(p, magic, sizeof(magic));
	memcpy(p + 90, &seq, sizeof(seq));
}

static void test_codel_bounds_exact_and_fair(void)
{
	struct md_opts o = { .ini = codel_ini };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *bulk = it_connect(&d->it, NULL);
	struct derp_client *small = it_connect(&d->it, NULL);
	struct derp_client *disco = it_connect(&d->it, NULL);
	struct derp_client *reader = it_connect(&d->it, NULL);

	stall(d, bulk, reader);
	expect_queued(d, BUDGET / BULK_FRAME, "bulk flood into a 256 KiB budget");
	int64_t bytes_drops = dropped(d, "queue_bytes", "other");
	IT_REQUIRE(bytes_drops > 0, "no queue_bytes drop counted");
	IT_REQUIRE(dropped(d, "queue_head", "other") == 0, "headdrop's counter moved under codel");

	uint8_t pkt[SMALL_BYTES];
	for (uint32_t i = 0; i < SMALL_PKTS; i++) {
		it_fill_pattern(pkt, sizeof(pkt), i);
		it_send_packet(small, reader->pub, pkt, sizeof(pkt));
	}
	/*
	 * 3 x 65573 + 63 x 1037 fit in 262144; the 64th small packet pushes the
	 * total over and the fattest flow, the bulk one, gives up its oldest.
	 */
	expect_queued(d, 2 + SMALL_PKTS, "small sender after the bulk one");
	IT_REQUIRE(dropped(d, "queue_bytes", "other") == bytes_drops + 1,
		   "queue_bytes drops: %lld, want %lld",
		   (long long)dropped(d, "queue_bytes", "other"), (long long)bytes_drops + 1);

	uint8_t dp[DISCO_BYTES];
	for (uint32_t i = 0; i < DISCO_PKTS; i++) {
		disco_packet(dp, i);
		it_send_packet(disco, reader->pub, dp, sizeof(dp));
	}
	expect_queued(d, 2 + SMALL_PKTS + QUEUE_DEPTH, "disco into its own class");
	IT_REQUIRE(dropped(d, "queue_head", "disco") == DISCO_PKTS - QUEUE_DEPTH,
		   "disco queue_head drops: %lld, want %d",
		   (long long)dropped(d, "queue_head", "disco"), DISCO_PKTS - QUEUE_DEPTH);

	/* The reader reads again: every small packet in order, the newest 32 disco in order. */
	uint32_t next_small = 0, next_disco = DISCO_PKTS - QUEUE_DEPTH, bulk_got = 0;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(reader, 2000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the reader's connection closed");
		if (rc == 0)
			break;
		if (type != DERP_FRAME_RECV_PACKET)
			continue;
		IT_REQUIRE(len >= KEY_LEN, "short RecvPacket");
		const uint8_t *src = p, *data = p + KEY_LEN;
		uint32_t n = len - KEY_LEN;
		if (memcmp(src, small->pub, KEY_LEN) == 0) {
			IT_REQUIRE(next_small < SMALL_PKTS, "more small packets than sent");
			it_fill_pattern(pkt, sizeof(pkt), next_small);
			IT_REQUIRE(n == SMALL_BYTES && memcmp(data, pkt, n) == 0,
				   "small packet %u lost, damaged or out of order", next_small);
			next_small++;
		} else if (memcmp(src, disco->pub, KEY_LEN) == 0) {
			disco_packet(dp, next_disco);
			IT_REQUIRE(n == DISCO_BYTES && memcmp(data, dp, n) == 0,
				   "disco packet %u missing or out of order", next_disco);
			next_disco++;
		} else {
			bulk_got++;
		}
	}
	it_note("reader got %u bulk, %u small, %u disco packets", bulk_got, next_small,
		next_disco - (DISCO_PKTS - QUEUE_DEPTH));
	IT_REQUIRE(next_small == SMALL_PKTS, "small sender: %u of %d packets arrived", next_small,
		   SMALL_PKTS);
	IT_REQUIRE(next_disco == DISCO_PKTS, "disco: the newest %d did not all arrive",
		   QUEUE_DEPTH);
	IT_REQUIRE(dropped(d, "queue_sojourn", "other") == 0,
		   "sojourn drops with a 1 s target and a 10 s interval");
	md_stop(d);
}

/*
 * Live target 1 ms / interval 5 ms. The reader is stalled with 100 small
 * packets queued behind the bulk ones, then reads one frame every 20 ms:
 * each read lets the relay send one more 64 KiB batch, so dequeues come
 * 20 ms apart (more than the interval) and find heads that waited far
 * longer than 1 ms. CoDel must drop at the head (queue_sojourn), spread
 * out: most of the small packets still arrive.
 */
#define SOJOURN_PKTS SMALL_PKTS

static void test_codel_sojourn_drops_live(void)
{
	struct md_opts o = { .ini = codel_ini };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *bulk = it_connect(&d->it, NULL);
	struct derp_client *small = it_connect(&d->it, NULL);
	struct derp_client *reader = it_connect(&d->it, NULL);

	/*
	 * The reader stalls first, under the start-up target of 1 s: until its
	 * queue holds still, sends to it may still complete, and a 1 ms target
	 * would already drop bulk packets then (on a loaded machine the send
	 * buffer takes a while to fill). Only then the live change.
	 */
	stall(d, bulk, reader);
	expect_queued(d, BUDGET / BULK_FRAME, "bulk flood into a 256 KiB budget");
	struct md_out *out = malloc(sizeof(*out));
	IT_REQUIRE(out != NULL, "out of memory");
	IT_REQUIRE(md_cli(d, out, NULL, "config", "set", "limits.codel_target_us", "1000", NULL) ==
		       0,
		   "config set: %s", out->err);
	IT_REQUIRE(md_cli(d, out, NULL, "config", "set", "limits.codel_interval_ms", "5", NULL) ==
		       0,
		   "config set: %s", out->err);
	IT_REQUIRE(md_cli(d, out, NULL, "config", "commit", NULL) == 0 &&
		       strstr(out->out, "applied: limits.codel_target_us = 1000") &&
		       strstr(out->out, "applied: limits.codel_interval_ms = 5"),
		   "config commit: %s %s", out->out, out->err);
	free(out);

	uint8_t pkt[SMALL_BYTES];
	for (uint32_t i = 0; i < SOJOURN_PKTS; i++) {
		it_fill_pattern(pkt, sizeof(pkt), i);
		it_send_packet(small, reader->pub, pkt, sizeof(pkt));
	}
	expect_queued(d, 2 + SOJOURN_PKTS, "small packets behind the bulk ones");
	IT_REQUIRE(dropped(d, "queue_sojourn", "other") == 0, "sojourn drops before any dequeue");

	uint32_t got = 0;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(reader, 2000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the reader's connection closed");
		if (rc == 0)
			break;
		got += type == DERP_FRAME_RECV_PACKET && memcmp(p, small->pub, KEY_LEN) == 0;
		it_sleep_ms(20);
	}
	int64_t sojourn = dropped(d, "queue_sojourn", "other");
	it_note("small packets: %u of %d arrived; %lld sojourn drops", got, SOJOURN_PKTS,
		(long long)sojourn);
	IT_REQUIRE(sojourn > 0, "no queue_sojourn drop from a standing queue with a 1 ms target");
	IT_REQUIRE(got + sojourn == SOJOURN_PKTS, "%u arrived + %lld dropped != %d sent", got,
		   (long long)sojourn, SOJOURN_PKTS);
	IT_REQUIRE(got >= SOJOURN_PKTS / 2, "CoDel dropped %lld of %d: a burst, not spread out",
		   (long long)sojourn, SOJOURN_PKTS);
	md_stop(d);
}

int main(int argc, char **argv)
{
	const struct it_test tests[] = { IT_TEST(test_codel_bounds_exact_and_fair),
					 IT_TEST(test_codel_sojourn_drops_live) };
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
