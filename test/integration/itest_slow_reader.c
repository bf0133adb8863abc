// SPDX-License-Identifier: MIT
/*
 * A receiver that never reads must cost only itself: its sender keeps
 * going, another receiver of the same sender gets every packet, the daemon
 * answers others at once, and the write timeout (2 s by default) finally
 * closes the stuck connection.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "harness.h"

#define ROUNDS		 125
#define READER_WINDOW	 16 /* packets to the reading receiver per round (queue depth 32) */
#define FLOOD_PER_ROUND	 4  /* 64 KiB packets to the stuck receiver per round: 32 MiB in all */
#define STALL_WAIT_MS	 8000
#define READER_PKT_BYTES 200

static void test_slow_reader_costs_only_itself(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *sender = it_connect(d, NULL);
	struct derp_client *stuck = it_connect(d, NULL);
	struct derp_client *reader = it_connect(d, NULL);
	/* Two bystanders: with round-robin handoff one shares the stuck one's worker. */
	struct derp_client *probe[2] = { it_connect(d, NULL), it_connect(d, NULL) };

	uint8_t *flood = malloc(DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(flood != NULL, "out of memory");
	memset(flood, 0x5a, DERP_MAX_PACKET_SIZE);
	uint8_t pkt[READER_PKT_BYTES];
	int64_t worst_pong_ms = 0;
	int64_t start = it_now_ms();
	for (uint32_t r = 0; r < ROUNDS; r++) {
		for (int k = 0; k < FLOOD_PER_ROUND; k++)
			it_send_packet(sender, stuck->pub, flood, DERP_MAX_PACKET_SIZE);
		for (uint32_t i = 0; i < READER_WINDOW; i++) {
			it_fill_pattern(pkt, sizeof(pkt), r * READER_WINDOW + i);
			it_send_packet(sender, reader->pub, pkt, sizeof(pkt));
		}
		/* Every packet for the reading receiver, in order, intact. */
		for (uint32_t i = 0; i < READER_WINDOW; i++) {
			it_fill_pattern(pkt, sizeof(pkt), r * READER_WINDOW + i);
			it_expect_packet(reader, sender->pub, pkt, sizeof(pkt),
					 IT_FRAME_TIMEOUT_MS);
		}
		if (r % 25 == 0) {
			for (int p = 0; p < 2; p++) {
				int64_t t0 = it_now_ms();
				it_expect_ping_pong(probe[p]);
				if (it_now_ms() - t0 > worst_pong_ms)
					worst_pong_ms = it_now_ms() - t0;
			}
		}
	}
	free(flood);
	it_note("flood of %d MiB took %ld ms; slowest Pong %ld ms",
		ROUNDS * FLOOD_PER_ROUND * DERP_MAX_PACKET_SIZE >> 20, (long)(it_now_ms() - start),
		(long)worst_pong_ms);

	/* Still responsive: a new client completes its handshake and relays. */
	struct derp_client *late = it_connect(d, NULL);
	it_require_relaying(late, reader);
	it_require_relaying(sender, probe[0]);

	/*
	 * The stuck one must be closed by the write timeout. Reading it now would
	 * unstick it, so first wait for the daemon to say it gave up (its log is
	 * only the signal to look; the socket is the proof).
	 */
	int64_t deadline = it_now_ms() + STALL_WAIT_MS;
	while (!it_daemon_log_contains(d, "write stalled")) {
		IT_REQUIRE(it_now_ms() < deadline, "the daemon never timed out the stalled write");
		it_sleep_ms(50);
	}
	/* Drained now, it must show the data that was in flight and then the close. */
	it_expect_closed(stuck, 20000);

	/* Nobody else was hurt. */
	it_require_relaying(sender, reader);
	for (int p = 0; p < 2; p++)
		it_expect_ping_pong(probe[p]);
	it_expect_quiet(reader, 100);
}

/*
 * A Pong queued behind a stalled write must not be lost for good. The
 * client pings while its socket is full; then more than the control-frame
 * queue holds (1024) piles up behind the Pong (PeerGone frames of 1100
 * departing senders). Once the client reads again, Pings must be answered
 * again. (The write timeout is off so that the stall can last.)
 */
#define CHURN_SENDERS 1100

static void test_pong_answered_after_control_queue_overflow(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nwrite_timeout_ms = 0\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *sender = it_connect(d, NULL);
	struct derp_client *victim = it_connect(d, NULL);

	/* Stall the victim: 8 MiB it does not read fills both socket buffers. */
	uint8_t *flood = calloc(1, DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(flood != NULL, "out of memory");
	for (int i = 0; i < 128; i++)
		it_send_packet(sender, victim->pub, flood, DERP_MAX_PACKET_SIZE);
	free(flood);
	it_expect_ping_pong(sender); /* the daemon has routed the flood */
	/* Let the last write to the victim run into the full socket, so the Pong queues behind it.
	 */
	it_sleep_ms(500);

	uint8_t ping[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	IT_REQUIRE(derp_client_send_ping(victim, ping) == 0, "send Ping");
	it_sleep_ms(200);

	/* Each sender is heard from once and leaves: a PeerGone for the victim each. */
	int64_t start = it_now_ms();
	for (int i = 0; i < CHURN_SENDERS; i++) {
		struct derp_client c;
		struct derp_client_opts co = { .timeout_ms = 5000 };
		char err[256];
		IT_REQUIRE(derp_client_connect(&c, "127.0.0.1", d->port, &co, err, sizeof(err)) ==
			       0,
			   "churn connection %d: %s", i, err);
		uint8_t pkt[8] = { 0 };
		int rc = derp_client_send_packet(&c, victim->pub, pkt, sizeof(pkt));
		derp_client_close(&c);
		IT_REQUIRE(rc == 0, "churn send %d", i);
	}
	it_note("%d senders came and went in %ld ms", CHURN_SENDERS, (long)(it_now_ms() - start));
	it_expect_ping_pong(sender); /* the daemon is keeping up */
	it_sleep_ms(300);

	/* Read everything that piled up. */
	int peer_gone = 0, pongs = 0;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(victim, 1000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the victim's connection was closed");
		if (rc == 0)
			break;
		peer_gone += type == DERP_FRAME_PEER_GONE;
		pongs += type == DERP_FRAME_PONG;
	}
	it_note("after the stall: %d PeerGone, %d Pong", peer_gone, pongs);
	if (pongs)
		it_note("the Pong was already being written when the stall began: nothing to lose");

	/* Whatever was dropped while stalled, the connection must answer Pings now. */
	IT_REQUIRE(derp_client_send_ping(victim, ping) == 0, "send Ping");
	uint8_t type;
	const uint8_t *p;
	uint32_t len;
	int rc = it_read_frame(victim, 3000, &type, &p, &len);
	IT_REQUIRE(rc == 1 && type == DERP_FRAME_PONG,
		   "no Pong after the stall (%s): the dropped Pong left the connection's one "
		   "Pong slot taken",
		   rc == 1   ? it_type_name(type)
		   : rc == 0 ? "timed out"
			     : "closed");
	IT_REQUIRE(len == 8 && memcmp(p, ping, 8) == 0, "Pong does not echo the Ping");
}

IT_MAIN(IT_TEST(test_slow_reader_costs_only_itself),
	IT_TEST(test_pong_answered_after_control_queue_overflow))
