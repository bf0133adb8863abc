// SPDX-License-Identifier: MIT
/*
 * What clients that stop half-way through a frame, or fill the packet pool,
 * may cost the relay (issue 17, items 5 and 7), against the real daemon:
 *
 * - a packet pool filled by data (a reader that never reads) costs no
 *   client its ServerInfo or Pong: server frames have their own pool
 *   (limits.control_pool_mb), and the pool-full warning is rate-limited;
 * - in recv_mode single, thousands of clients stalled in the middle of a
 *   frame hold no packet buffer while they are quiet, so new clients get
 *   their ServerInfo and packets are still relayed;
 * - frames split across reads live in a budget (limits.frame_assembly_mb):
 *   hundreds of clients each holding most of a 64 KiB frame cannot grow the
 *   relay past it (gauge and RSS), the frames that waited longest are
 *   dropped to make room (counted), and a fresh 64 KiB frame still gets
 *   through;
 * - a split frame has a deadline defined by progress (limits.frame_timeout_ms
 *   plus 1 ms per byte): a frame that stopped closes its connection
 *   (frame_timeout), a 64 KiB frame dribbled for longer than the grace still
 *   arrives intact;
 * - beyond the list: the receivers remembered per key to be told PeerGone
 *   are bounded (limits.peer_gone_recipients), the rest counted.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

#define NWORKERS 2 /* md_start runs two workers */

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* ---- clients of our own: more than the harness holds ---- */

static struct {
	struct derp_client **c;
	int n;
} held;

static void held_close_all(void)
{
	for (int i = 0; i < held.n; i++) {
		derp_client_close(held.c[i]);
		free(held.c[i]);
	}
	free(held.c);
	held.c = NULL;
	held.n = 0;
}

/*
 * A client that sent the first `sent` bytes of a SendPacket frame of `whole`
 * bytes, then stopped. Trimmed (read buffers freed: it can only write and
 * close), unless it is to be read from again.
 */
static struct derp_client *stall_mid_frame(struct mgmt_daemon *d, const uint8_t dst[KEY_LEN],
					   uint32_t whole, uint32_t sent, bool trim)
{
	static uint8_t frame[DERP_FRAME_HDR_LEN + KEY_LEN + DERP_MAX_PACKET_SIZE];
	char err[256];
	struct derp_client *c = calloc(1, sizeof(*c));
	IT_REQUIRE(c, "out of memory");
	struct derp_client **grown = realloc(held.c, (size_t)(held.n + 1) * sizeof(*grown));
	IT_REQUIRE(grown, "out of memory");
	held.c = grown;
	IT_REQUIRE(derp_client_connect(c, "127.0.0.1", d->it.port, NULL, err, sizeof(err)) == 0,
		   "connect #%d: %s", held.n, err);
	held.c[held.n++] = c;
	IT_REQUIRE(whole <= sizeof(frame) && sent < whole, "bad frame sizes");
	derp_frame_header_put(frame, DERP_FRAME_SEND_PACKET, whole - DERP_FRAME_HDR_LEN);
	memcpy(frame + DERP_FRAME_HDR_LEN, dst, KEY_LEN);
	it_fill_pattern(frame + DERP_FRAME_HDR_LEN + KEY_LEN, whole - DERP_FRAME_HDR_LEN - KEY_LEN,
			whole);
	IT_REQUIRE(derp_client_write_all(c, frame, sent) == 0, "write: %s", strerror(errno));
	if (trim)
		derp_client_trim(c);
	return c;
}

/* ---- daemon state ---- */

/* How many lines of the daemon's log contain text. */
static int log_count(struct mgmt_daemon *d, const char *text)
{
	FILE *f = fopen(d->it.log_path, "r");
	char line[2048];
	int n = 0;
	IT_REQUIRE(f, "open %s: %s", d->it.log_path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* A per-worker metric summed over the workers. */
static int64_t scrape_workers(struct mgmt_daemon *d, const char *name, int64_t *max_one)
{
	int64_t sum = 0, most = 0;
	for (int w = 0; w < NWORKERS; w++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "worker=\"%d\"", w);
		int64_t v = md_scrape(d, name, labels);
		sum += v;
		if (v > most)
			most = v;
	}
	if (max_one)
		*max_one = most;
	return sum;
}

static int64_t no_buffer_drops(struct mgmt_daemon *d)
{
	return md_scrape(d, "hyperderp_dropped_packets_total",
			 "reason=\"no_buffer\",kind=\"other\"");
}

/* ---- item 7: server frames are never starved by data ---- */

#define FLOOD_MAX_PACKETS 4000 /* 256 MiB of 64 KiB packets: far past a 16 MiB pool */
#define SMALL_PKT	  200
#define SMALL_MAX_PACKETS 3000 /* stays below queue_depth with the large ones */

/*
 * Packets to a reader that never reads, until the sender's worker drops
 * `more` of them for want of a buffer. Each batch ends with a Ping: its
 * Pong comes after every packet before it has been routed.
 */
static int flood_until_drops(struct mgmt_daemon *d, struct derp_client *from,
			     struct derp_client *to, size_t len, int more, int max)
{
	static uint8_t pkt[DERP_MAX_PACKET_SIZE];
	int64_t want = no_buffer_drops(d) + more;
	int sent = 0;
	while (no_buffer_drops(d) < want) {
		IT_REQUIRE(sent < max, "%d packets of %zu bytes and the pool never filled", sent,
			   len);
		for (int i = 0; i < 32; i++, sent++)
			it_send_packet(from, to->pub, pkt, len);
		it_expect_ping_pong(from);
	}
	return sent;
}

static void test_full_packet_pool_starves_no_control_frame(void)
{
	/*
	 * derper's head-drop queue, 4096 deep, lets one stalled reader fill
	 * the pool; codel's byte budget (a quarter of the pool at most) would
	 * need several, and the pool is what this test fills.
	 */
	struct md_opts o = { .ini = "[limits]\nbuffer_pool_mb = 16\nqueue_depth = 4096\n"
				    "queue_policy = headdrop\nwrite_timeout_ms = 0\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *sender = it_connect(&d->it, NULL);
	struct derp_client *stuck = it_connect(&d->it, NULL);
	int size = 4096;
	IT_REQUIRE(setsockopt(stuck->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0,
		   "SO_RCVBUF: %s", strerror(errno));

	/*
	 * 64 KiB packets fill the sender's pool to within one of them; small
	 * ones then take the rest, so that no size class has a buffer left,
	 * the size server frames use included.
	 */
	int big = flood_until_drops(d, sender, stuck, DERP_MAX_PACKET_SIZE, 1, FLOOD_MAX_PACKETS);
	int small = flood_until_drops(d, sender, stuck, SMALL_PKT, 10, SMALL_MAX_PACKETS);
	it_note("pool full after %d packets of 64 KiB and %d of %d bytes", big, small, SMALL_PKT);

	/* New clients, on both workers, get their ServerInfo; everyone gets Pongs. */
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	for (int i = 0; i < 20; i++) {
		it_expect_ping_pong(sender);
		it_expect_ping_pong(a);
		it_expect_ping_pong(b);
	}
	IT_REQUIRE(scrape_workers(d, "hyperderp_worker_control_frames_dropped_total", NULL) == 0,
		   "server frames were dropped");
	int64_t drops = no_buffer_drops(d);
	int warnings = log_count(d, "at its limit");
	it_note("%lld packets dropped as no_buffer, %d pool warnings", (long long)drops, warnings);
	/* One warning per 10 s and worker, however many drops. */
	IT_REQUIRE(warnings <= 4, "%d pool warnings for %lld drops", warnings, (long long)drops);
	IT_REQUIRE(log_count(d, "dropped a") == 0, "server frames dropped (log)");
	md_stop(d);
}

/* ---- item 7: recv_mode single, clients stalled mid-frame ---- */

/*
 * More clients per worker than a 16 MiB pool holds 16 KiB receive buffers
 * (about 1,000), each stopped after 700 bytes of an 8 KiB frame: enough
 * for the relay to have asked for a large read.
 */
#define SINGLE_STALLED (2 * 1100)
#define SINGLE_FRAME   8192
#define SINGLE_SENT    700

static void test_single_mode_stalled_frames_hold_no_pool_buffer(void)
{
	struct md_opts o = { .ini =
				 "[server]\nrecv_mode = single\n[limits]\nbuffer_pool_mb = 16\n" };
	struct mgmt_daemon *d = md_start(&o);
	IT_REQUIRE(strcmp(md_logged_recv_mode(d), "single") == 0, "not in recv_mode single");
	struct derp_client *sink = it_connect(&d->it, NULL);
	int64_t start = it_now_ms();
	for (int i = 0; i < SINGLE_STALLED; i++)
		stall_mid_frame(d, sink->pub, SINGLE_FRAME, SINGLE_SENT, true);
	it_note("%d clients stalled mid-frame in %lld ms", SINGLE_STALLED,
		(long long)(it_now_ms() - start));
	/*
	 * Time for the workers to read what the stalled clients sent. Too
	 * little would only let old code pass, never fail new code.
	 */
	it_sleep_ms(500);

	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	for (int i = 0; i < 10; i++)
		it_require_relaying(a, b);
	it_expect_ping_pong(a);
	it_expect_ping_pong(b);
	IT_REQUIRE(no_buffer_drops(d) == 0, "packets dropped for want of a buffer");
	int64_t most;
	scrape_workers(d, "hyperderp_worker_buffer_pool_bytes", &most);
	it_note("largest packet pool: %lld KiB", (long long)(most >> 10));
	IT_REQUIRE(most < 4 << 20, "a worker's packet pool holds %lld KiB",
		   (long long)(most >> 10));

	/* The stalled frames are intact: two of them completed arrive whole. */
	uint8_t rest[SINGLE_FRAME];
	derp_frame_header_put(rest, DERP_FRAME_SEND_PACKET, SINGLE_FRAME - DERP_FRAME_HDR_LEN);
	memcpy(rest + DERP_FRAME_HDR_LEN, sink->pub, KEY_LEN);
	size_t pkt_len = SINGLE_FRAME - DERP_FRAME_HDR_LEN - KEY_LEN;
	it_fill_pattern(rest + DERP_FRAME_HDR_LEN + KEY_LEN, pkt_len, SINGLE_FRAME);
	for (int i = 0; i < 2; i++) {
		struct derp_client *c = held.c[i * 777];
		IT_REQUIRE(
		    derp_client_write_all(c, rest + SINGLE_SENT, SINGLE_FRAME - SINGLE_SENT) == 0,
		    "write: %s", strerror(errno));
		it_expect_packet(sink, c->pub, rest + DERP_FRAME_HDR_LEN + KEY_LEN, pkt_len,
				 IT_FRAME_TIMEOUT_MS);
	}
	held_close_all();
	md_stop(d);
}

/* ---- item 5: the assembly budget ---- */

/*
 * Clients each holding all but a few KiB of a 64 KiB frame: 23 MiB
 * without a budget, against 2 x 2 MiB allowed here.
 */
#define ASM_STALLED   360
#define ASM_WHOLE     (DERP_FRAME_HDR_LEN + KEY_LEN + DERP_MAX_PACKET_SIZE)
#define ASM_SENT      (ASM_WHOLE - 4000)
#define ASM_BUDGET_MB 2
/* RSS growth allowed: both budgets, plus connection state and allocator slack. */
#define ASM_RSS_GROWTH_MAX_KIB (2 * ASM_BUDGET_MB * 1024 + 8 * 1024)

static void test_split_frames_stay_within_their_budget(void)
{
	struct md_opts o = { .ini = "[limits]\nframe_assembly_mb = 2\n" };
	/*
	 * The receive rings (16 MiB per worker) become resident only as the
	 * stalled clients' 22 MB pass through them: filling every allocation
	 * at malloc time (as itest_churn does) makes them resident at start,
	 * so that RSS growth is what the relay keeps.
	 */
	setenv("MALLOC_PERTURB_", "165", 1);
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *sink = it_connect(&d->it, NULL);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	it_require_relaying(a, b);
	it_dribble_max_frame(a, b, 16384, 1, 0, 1);
	it_dribble_max_frame(b, a, 16384, 1, 0, 2);
	long rss_before = md_rss_kib(d->it.pid);

	for (int i = 0; i < ASM_STALLED; i++)
		stall_mid_frame(d, sink->pub, ASM_WHOLE, ASM_SENT, i != 0);
	it_sleep_ms(500); /* as above: time to read; too little only weakens the test */
	/* Each of the stalled connections is past its header: its frame is being assembled. */
	it_require_relaying(a, b);

	long growth = md_rss_kib(d->it.pid) - rss_before;
	it_note("%d clients holding %d bytes of a 64 KiB frame: RSS +%ld KiB", ASM_STALLED,
		ASM_SENT, growth);
#ifndef UNDER_ASAN
	IT_REQUIRE(growth <= ASM_RSS_GROWTH_MAX_KIB, "RSS grew by %ld KiB", growth);
#endif
	int64_t most;
	scrape_workers(d, "hyperderp_worker_frame_assembly_bytes", &most);
	int64_t dropped = scrape_workers(d, "hyperderp_worker_frames_assembly_dropped_total", NULL);
	it_note("largest assembly pool %lld KiB, %lld frames dropped", (long long)(most >> 10),
		(long long)dropped);
	IT_REQUIRE(most <= ASM_BUDGET_MB << 20, "assembly pool at %lld KiB", (long long)most >> 10);
	IT_REQUIRE(dropped > 0, "the budget was exceeded but no frame was dropped");

	/* Fresh 64 KiB frames still get through, cut by reads or dribbled. */
	for (uint64_t i = 0; i < 4; i++) {
		it_dribble_max_frame(a, b, 1000, 1, 0, 10 + i);
		it_dribble_max_frame(b, a, 1000, 1, 0, 20 + i);
	}
	/* A stalled client whose frame was dropped is still served: the rest is discarded. */
	struct derp_client *first = held.c[0];
	static uint8_t tail[ASM_WHOLE - ASM_SENT];
	IT_REQUIRE(derp_client_write_all(first, tail, sizeof(tail)) == 0, "write: %s",
		   strerror(errno));
	it_expect_ping_pong(first);
	held_close_all();
	md_stop(d);
}

/* ---- item 5: the deadline ---- */

static void test_stopped_frame_closes_slow_frame_completes(void)
{
	struct md_opts o = { .ini = "[limits]\nframe_timeout_ms = 1000\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *sink = it_connect(&d->it, NULL);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);

	/* Stopped after half of a 1000-byte frame, and after 3 bytes of a header. */
	struct derp_client *half = stall_mid_frame(d, sink->pub, 1000, 500, false);
	struct derp_client *header = it_connect(&d->it, NULL);
	it_send_raw(header, "\x04\x00\x00", 3);

	/*
	 * 64 KiB dribbled over about 4 s, four times the grace: it keeps
	 * arriving at ~16 KB/s, far above the 1 KB/s it must average.
	 */
	int64_t t0 = it_now_ms();
	it_dribble_max_frame(a, b, 2048, 1, 120, 7);
	it_note("dribbled a 64 KiB frame over %lld ms", (long long)(it_now_ms() - t0));

	/* Deadlines: 1000 + 1000 ms and 1000 + 5 ms; the workers look every 250 ms. */
	it_expect_closed(header, 10000);
	it_expect_closed(half, 10000);
	it_expect_ping_pong(a);
	it_expect_ping_pong(b);
	it_require_relaying(a, b);
	int64_t closed =
	    md_scrape(d, "hyperderp_connections_closed_total", "reason=\"frame_timeout\"");
	IT_REQUIRE(closed == 2, "%lld connections closed for frame_timeout, want 2",
		   (long long)closed);
	held_close_all();
	md_stop(d);
}

/* ---- beyond the list: who is told PeerGone ---- */

#define GONE_RECEIVERS 4

/* Whether c is told within timeout_ms that key left (PeerGone, disconnected). */
static bool told_gone(struct derp_client *c, const uint8_t key[KEY_LEN], int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int64_t left = deadline - it_now_ms();
		int rc = it_read_frame(c, left > 0 ? (int)left : 0, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "connection closed");
		if (rc == 0)
			return false;
		if (type == DERP_FRAME_PEER_GONE && len == KEY_LEN + 1 &&
		    memcmp(p, key, KEY_LEN) == 0)
			return true;
	}
}

/*
 * One key sends to four receivers with peer_gone_recipients = 1: each
 * worker remembers one receiver of it, the others are counted as refused,
 * and only the remembered ones are told when it leaves (each has 5 s to
 * be told: the others take that long to show they were not).
 */
static void test_peer_gone_recipients_are_bounded(void)
{
	struct md_opts o = { .ini = "[limits]\npeer_gone_recipients = 1\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *src = it_connect(&d->it, NULL);
	struct derp_client *rx[GONE_RECEIVERS];
	uint8_t pkt[64] = { 0 };
	for (int i = 0; i < GONE_RECEIVERS; i++)
		rx[i] = it_connect(&d->it, NULL);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < GONE_RECEIVERS; i++) {
			it_send_packet(src, rx[i]->pub, pkt, sizeof(pkt));
			it_expect_packet(rx[i], src->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		}
	}
	/* Counted per receiver, not per packet: the repeats found it the last source. */
	int64_t refused = md_scrape(d, "hyperderp_peer_gone_recipients_refused_total", NULL);
	uint8_t gone_key[KEY_LEN];
	memcpy(gone_key, src->pub, KEY_LEN);
	it_client_close(src);
	int told = 0;
	for (int i = 0; i < GONE_RECEIVERS; i++)
		told += told_gone(rx[i], gone_key, 5000);
	it_note("%d receivers told, %lld refused", told, (long long)refused);
	IT_REQUIRE(told >= 1 && told <= NWORKERS, "%d receivers told, want 1..%d", told, NWORKERS);
	IT_REQUIRE(told + refused == GONE_RECEIVERS, "%d told + %lld refused, want %d", told,
		   (long long)refused, GONE_RECEIVERS);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_full_packet_pool_starves_no_control_frame),
		IT_TEST(test_single_mode_stalled_frames_hold_no_pool_buffer),
		IT_TEST(test_split_frames_stay_within_their_budget),
		IT_TEST(test_stopped_frame_closes_slow_frame_completes),
		IT_TEST(test_peer_gone_recipients_are_bounded),
	};
	atexit(held_close_all);
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
