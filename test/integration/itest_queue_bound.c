// SPDX-License-Identifier: MIT
/*
 * The per-destination queue bound, exactly: a reader that stalls gets at
 * most limits.queue_depth frames of each kind (data, disco) queued, the
 * newest ones, in order; every packet past that is dropped and counted
 * (queue_head, by kind); and the daemon's memory stays flat however much
 * more is sent to it.
 *
 * The bound is counted on the kind that did not stall the socket: frames of
 * the stalling kind may sit in the send in flight, which the bound counts
 * but a drop cannot take, so their number depends on the kernel. The other
 * kind's frames all arrive after the stall and are all still queued: the
 * reader must get exactly queue_depth of them, the last ones sent. Each kind
 * is measured once, the other one stalling.
 *
 * The configuration sets the queue explicitly (queue_policy = headdrop,
 * queue_depth = 8, write timeout off so the stall lasts; TCP_USER_TIMEOUT
 * off too, since Linux applies it to zero-window probing and would close
 * the stalled reader after 15 s on a slow build): this checks the
 * fixed-depth head drop (derper's policy); codel's bounds are checked by
 * fq_codel and queue_codel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "test_mgmt_daemon.h"

#define DEPTH 8
#define DEPTH_INI                                                                    \
	"[limits]\nqueue_depth = 8\nqueue_policy = headdrop\nwrite_timeout_ms = 0\n" \
	"tcp_user_timeout_ms = 0\n"
#define COUNTED	       64   /* numbered packets of the measured kind: 8 kept, 56 dropped */
#define FILLER_PKTS    256  /* 16 MiB of 64 KiB packets: past any socket buffer */
#define MORE_PKTS      1024 /* 64 MiB more, after the stall: memory must not follow */
#define SMALL_BYTES    120
#define RSS_SLACK_KB   (16 * 1024) /* the queue holds 8 x 64 KiB; 64 MiB would show */
#define STALL_CONFIRM  3
#define STALL_PAUSE_MS 200
#define STALL_MAX_PKTS 2048 /* 128 MiB: something is wrong long before */
#define EARLY_MAX      2    /* numbered packets the stalled socket may still take */

static const uint8_t disco_magic[6] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };

enum kind { DATA, DISCO };
static const char *const kind_label[] = { "other", "disco" };

/*
 * A packet of kind numbered seq: disco packets start with the magic, the
 * sender's key and a nonce (what the relay classifies); the sequence
 * number follows in both.
 */
static size_t make_packet(uint8_t *buf, size_t len, enum kind k, uint32_t seq)
{
	memset(buf, 0x3c, len);
	size_t at = 0;
	if (k == DISCO) {
		memcpy(buf, disco_magic, sizeof(disco_magic));
		at = sizeof(disco_magic) + KEY_LEN + 24;
	}
	it_put_be32(buf + at, seq);
	buf[at + 4] = (uint8_t)k;
	return len;
}

/* The sequence number of a numbered small packet of kind k, or -1 for anything else. */
static int64_t seq_of(const uint8_t *p, uint32_t len, enum kind k)
{
	if (len != KEY_LEN + SMALL_BYTES)
		return -1;
	p += KEY_LEN; /* RecvPacket: source key, then the packet */
	bool disco = memcmp(p, disco_magic, sizeof(disco_magic)) == 0;
	if (disco != (k == DISCO))
		return -1;
	size_t at = disco ? sizeof(disco_magic) + KEY_LEN + 24 : 0;
	if (p[at + 4] != (uint8_t)k)
		return -1;
	return it_get_be32(p + at);
}

static int64_t drops(struct mgmt_daemon *d, const char *reason, enum kind k)
{
	char labels[64];
	snprintf(labels, sizeof(labels), "reason=\"%s\",kind=\"%s\"", reason, kind_label[k]);
	return md_scrape(d, "hyperderp_dropped_packets_total", labels);
}

static int64_t queue_head_drops(struct mgmt_daemon *d, enum kind k)
{
	return drops(d, "queue_head", k);
}

/* Head drops, and tail drops: a new packet dropped when all queued ones are being written. */
static int64_t queue_drops(struct mgmt_daemon *d, enum kind k)
{
	return drops(d, "queue_head", k) + drops(d, "queue_tail", k);
}

static long rss_kb(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	IT_REQUIRE(f != NULL, "cannot open %s", path);
	long kb = -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	IT_REQUIRE(kb > 0, "no VmRSS in %s", path);
	return kb;
}

static void send_big(struct derp_client *from, struct derp_client *to, enum kind k, int count,
		     uint8_t *buf)
{
	make_packet(buf, DERP_MAX_PACKET_SIZE, k, 0xffffffffu);
	for (int i = 0; i < count; i++)
		it_send_packet(from, to->pub, buf, DERP_MAX_PACKET_SIZE);
}

/*
 * Fills the stuck reader's socket and queue with big packets of kind k,
 * until the relay is seen to drop each new one even after it had time to
 * write: STALL_CONFIRM single packets in a row, each after a pause, each
 * dropped. Only then is nothing more going out (a fixed sleep is not
 * enough on a loaded host: a worker that falls behind drops from the queue
 * before the socket is full).
 */
static void stall(struct mgmt_daemon *d, struct derp_client *sender, struct derp_client *stuck,
		  enum kind k, uint8_t *big)
{
	send_big(sender, stuck, k, FILLER_PKTS, big);
	it_expect_ping_pong(sender);
	int confirmed = 0, sent = FILLER_PKTS;
	while (confirmed < STALL_CONFIRM) {
		IT_REQUIRE(sent < STALL_MAX_PKTS, "%d big packets and the reader is not stalled",
			   sent);
		it_sleep_ms(STALL_PAUSE_MS);
		int64_t before = queue_drops(d, k);
		send_big(sender, stuck, k, 1, big);
		sent++;
		it_expect_ping_pong(sender);
		int64_t deadline = it_now_ms() + STALL_PAUSE_MS;
		int64_t after;
		while ((after = queue_drops(d, k)) == before && it_now_ms() < deadline)
			it_sleep_ms(10);
		confirmed = after == before + 1 ? confirmed + 1 : 0;
	}
	it_note("stalled after %d packets of %d KiB", sent, DERP_MAX_PACKET_SIZE >> 10);
}

/*
 * Stalls a reader with big packets of kind stall_kind, then sends COUNTED
 * numbered small packets of the other kind, then 64 MiB more of the
 * stalling kind; reads everything once it lets the reader go.
 */
static void measure_bound(enum kind stall_kind)
{
	enum kind measured = stall_kind == DATA ? DISCO : DATA;
	struct md_opts o = { .ini = DEPTH_INI };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *sender = it_connect(&d->it, NULL);
	struct derp_client *stuck = it_connect(&d->it, NULL);
	uint8_t *big = malloc(DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(big != NULL, "out of memory");

	stall(d, sender, stuck, stall_kind, big);

	int64_t drops_before = queue_head_drops(d, measured);
	uint8_t pkt[SMALL_BYTES];
	for (uint32_t i = 0; i < COUNTED; i++) {
		make_packet(pkt, sizeof(pkt), measured, i);
		it_send_packet(sender, stuck->pub, pkt, sizeof(pkt));
	}
	it_expect_ping_pong(sender);
	/* Much more of the stalling kind: dropped, not kept. */
	long rss_before = rss_kb(d->it.pid);
	send_big(sender, stuck, stall_kind, MORE_PKTS, big);
	it_expect_ping_pong(sender);
	long grew = rss_kb(d->it.pid) - rss_before;
	it_note("%d MiB more to the stalled reader: RSS %+ld KiB", MORE_PKTS >> 4, grew);
	IT_REQUIRE(grew < RSS_SLACK_KB,
		   "the daemon grew by %ld KiB while %d MiB went to a reader that holds %d frames",
		   grew, MORE_PKTS >> 4, DEPTH);
	free(big);

	/*
	 * Let the reader go. It must get the newest DEPTH numbered packets, in
	 * order, after at most EARLY_MAX of the first ones: those the socket
	 * itself took in the last moment of the stall (a small packet can still
	 * fit where a 64 KiB one did not). Every other one was dropped and counted.
	 */
	int64_t seqs[COUNTED];
	int got = 0;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(stuck, 2000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the stalled reader was closed");
		if (rc == 0)
			break;
		int64_t seq = type == DERP_FRAME_RECV_PACKET ? seq_of(p, len, measured) : -1;
		if (seq < 0)
			continue;
		IT_REQUIRE(got < COUNTED, "more numbered packets than were sent");
		seqs[got++] = seq;
	}
	int early = got - DEPTH;
	it_note("%s: %d of %d numbered packets arrived (%d taken by the socket before the queue)",
		kind_label[measured], got, COUNTED, early);
	IT_REQUIRE(early >= 0 && early <= EARLY_MAX,
		   "%s: %d numbered packets arrived, want %d (limits.queue_depth) after at most %d "
		   "the socket took",
		   kind_label[measured], got, DEPTH, EARLY_MAX);
	for (int i = 0; i < got; i++) {
		int64_t want = i < early ? i : COUNTED - DEPTH + (i - early);
		IT_REQUIRE(seqs[i] == want,
			   "%s: arrival %d is packet %ld, want %ld: the queue did not keep the "
			   "newest %d",
			   kind_label[measured], i, (long)seqs[i], (long)want, DEPTH);
	}
	int64_t dropped = queue_head_drops(d, measured) - drops_before;
	IT_REQUIRE(dropped == COUNTED - got,
		   "%s: %ld queue_head drops counted, but %d of %d packets did not arrive",
		   kind_label[measured], (long)dropped, COUNTED - got, COUNTED);
	/* The connection itself is fine. */
	it_expect_ping_pong(stuck);
	md_stop(d);
}

static void test_disco_queue_holds_queue_depth(void)
{
	measure_bound(DATA);
}

static void test_data_queue_holds_queue_depth(void)
{
	measure_bound(DISCO);
}

int main(int argc, char **argv)
{
	/*
	 * A sanitizer build keeps freed memory in quarantine (256 MiB): the
	 * daemon's RSS would follow the churn of 64 MiB, not what it holds.
	 */
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_opts[512];
	snprintf(asan_opts, sizeof(asan_opts), "%s%squarantine_size_mb=0", asan ? asan : "",
		 asan && asan[0] ? ":" : "");
	setenv("ASAN_OPTIONS", asan_opts, 1);
	static const struct it_test tests[] = {
		IT_TEST(test_disco_queue_holds_queue_depth),
		IT_TEST(test_data_queue_holds_queue_depth),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
