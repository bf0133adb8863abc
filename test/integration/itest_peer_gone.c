// SPDX-License-Identifier: MIT
/*
 * PeerGone: "disconnected" to exactly the connections that were sent packets
 * from the departed key, on any worker; "not here" for disco packets to an
 * unknown key, rate limited (3 at once, then 1 per second).
 */
#include <sodium.h>
#include <string.h>

#include "harness.h"

#define NCLIENTS  6
#define DISCO_LEN 62

static const uint8_t disco_magic[6] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };

static void make_disco(uint8_t *pkt, size_t len)
{
	randombytes_buf(pkt, len);
	memcpy(pkt, disco_magic, sizeof(disco_magic));
}

static void expect_peer_gone(struct derp_client *c, const uint8_t key[KEY_LEN], uint8_t reason)
{
	uint32_t len;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_PEER_GONE, IT_FRAME_TIMEOUT_MS, &len);
	IT_REQUIRE(len == KEY_LEN + 1, "PeerGone of %u bytes, want 33", len);
	IT_REQUIRE(memcmp(p, key, KEY_LEN) == 0, "PeerGone names the wrong key");
	IT_REQUIRE(p[KEY_LEN] == reason, "PeerGone reason %u, want %u", p[KEY_LEN], reason);
}

/* The first unused client on worker w (same) or on another worker (!same); -1 if none. */
static int pick(struct it_daemon *d, struct derp_client **cl, const bool *used, int w, bool same)
{
	for (int i = 0; i < NCLIENTS; i++) {
		if (used[i])
			continue;
		int wi = it_daemon_worker_of(d, cl[i]->pub);
		if ((wi == w) == same)
			return i;
	}
	return -1;
}

static void test_peer_gone_goes_to_receivers_only(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *cl[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		cl[i] = it_connect(d, NULL);

	/* Roles chosen so that each kind of peer sits both beside and apart from the leaver. */
	bool used[NCLIENTS] = { true };
	struct derp_client *leaver = cl[0];
	int lw = it_daemon_worker_of(d, leaver->pub);
	IT_REQUIRE(lw >= 0, "no worker logged for the leaving client");
	int idx[4];
	for (int k = 0; k < 4; k++) {
		idx[k] = pick(d, cl, used, lw, k % 2 == 0);
		IT_REQUIRE(idx[k] >= 0, "round-robin did not spread the clients over both workers");
		used[idx[k]] = true;
	}
	struct derp_client *recv_same = cl[idx[0]], *recv_other = cl[idx[1]];
	struct derp_client *sender_same = cl[idx[2]], *sender_other = cl[idx[3]];

	uint8_t pkt[64];
	for (int i = 0; i < 3; i++) {
		randombytes_buf(pkt, sizeof(pkt));
		it_send_packet(leaver, recv_same->pub, pkt, sizeof(pkt));
		it_expect_packet(recv_same, leaver->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		it_send_packet(leaver, recv_other->pub, pkt, sizeof(pkt));
		it_expect_packet(recv_other, leaver->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		/* These two only ever send to the leaver: they never hear from it. */
		it_send_packet(sender_same, leaver->pub, pkt, sizeof(pkt));
		it_expect_packet(leaver, sender_same->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		it_send_packet(sender_other, leaver->pub, pkt, sizeof(pkt));
		it_expect_packet(leaver, sender_other->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	/* Last words right before hanging up: delivered, and before the PeerGone. */
	uint8_t last[64];
	randombytes_buf(last, sizeof(last));
	it_send_packet(leaver, recv_same->pub, last, sizeof(last));
	it_send_packet(leaver, recv_other->pub, last, sizeof(last));
	uint8_t gone_key[KEY_LEN];
	memcpy(gone_key, leaver->pub, KEY_LEN);
	it_client_close(leaver);

	it_expect_packet(recv_same, gone_key, last, sizeof(last), IT_FRAME_TIMEOUT_MS);
	expect_peer_gone(recv_same, gone_key, 0x00);
	it_expect_packet(recv_other, gone_key, last, sizeof(last), IT_FRAME_TIMEOUT_MS);
	expect_peer_gone(recv_other, gone_key, 0x00);
	/* Once only. */
	it_expect_quiet(recv_same, 300);
	it_expect_quiet(recv_other, 50);
	/* Those that never received from it get nothing: the next frame is a real packet. */
	it_expect_quiet(sender_same, 50);
	it_expect_quiet(sender_other, 50);
	it_require_relaying(sender_same, recv_same);
	it_require_relaying(sender_other, recv_same);
	it_expect_ping_pong(sender_same);
	it_expect_ping_pong(sender_other);
}

/* A key that leaves and comes back is tracked afresh: its next departure is reported again. */
static void test_peer_gone_again_after_rejoin(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *receiver = it_connect(d, NULL);
	uint8_t priv[KEY_LEN], pub[KEY_LEN], pkt[32];
	key_generate(priv, pub);
	for (int round = 0; round < 3; round++) {
		struct derp_client *s = it_connect_with_key(d, priv);
		randombytes_buf(pkt, sizeof(pkt));
		it_send_packet(s, receiver->pub, pkt, sizeof(pkt));
		it_expect_packet(receiver, pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		it_client_close(s);
		expect_peer_gone(receiver, pub, 0x00);
	}
	/* Back once more, but never heard from: its departure is no news. */
	struct derp_client *s = it_connect_with_key(d, priv);
	it_expect_ping_pong(s);
	it_client_close(s);
	it_expect_quiet(receiver, 300);
}

/*
 * Counts the PeerGone(key, NotHere) frames that arrive before the Pong to a
 * Ping sent now; anything else is an error. The Ping is answered on the
 * same connection after the packets before it were handled, so the count is exact.
 */
static int count_not_here(struct derp_client *c, const uint8_t key[KEY_LEN])
{
	uint8_t ping[8];
	randombytes_buf(ping, sizeof(ping));
	IT_REQUIRE(derp_client_send_ping(c, ping) == 0, "send Ping");
	int got = 0;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(c, IT_FRAME_TIMEOUT_MS, &type, &p, &len);
		IT_REQUIRE(rc == 1, "waiting for Pong: %s", rc == 0 ? "timed out" : "closed");
		if (type == DERP_FRAME_PONG) {
			IT_REQUIRE(len == 8 && memcmp(p, ping, 8) == 0,
				   "Pong does not echo the Ping");
			break;
		}
		IT_REQUIRE(type == DERP_FRAME_PEER_GONE, "unexpected %s", it_type_name(type));
		IT_REQUIRE(len == KEY_LEN + 1 && memcmp(p, key, KEY_LEN) == 0 && p[KEY_LEN] == 0x01,
			   "PeerGone is not (unknown key, not here)");
		got++;
	}
	return got;
}

static void expect_not_here_count(struct derp_client *c, const uint8_t key[KEY_LEN], int want)
{
	int got = count_not_here(c, key);
	IT_REQUIRE(got == want, "%d PeerGone(NotHere) frames, want %d", got, want);
}

static void test_not_here_for_disco_to_unknown_key_is_rate_limited(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	uint8_t unknown[KEY_LEN];
	randombytes_buf(unknown, sizeof(unknown));

	/* Not disco (plain, or one byte short of a disco packet): silently dropped. */
	uint8_t pkt[200];
	randombytes_buf(pkt, sizeof(pkt));
	it_send_packet(a, unknown, pkt, sizeof(pkt));
	make_disco(pkt, DISCO_LEN - 1);
	it_send_packet(a, unknown, pkt, DISCO_LEN - 1);
	expect_not_here_count(a, unknown, 0);

	/* Disco to a connected key is simply delivered. */
	make_disco(pkt, DISCO_LEN);
	it_send_packet(a, b->pub, pkt, DISCO_LEN);
	it_expect_packet(b, a->pub, pkt, DISCO_LEN, IT_FRAME_TIMEOUT_MS);
	expect_not_here_count(a, unknown, 0);

	/* A burst of 5 disco packets in one write: 3 answers. */
	uint8_t burst[5 * (DERP_FRAME_HDR_LEN + KEY_LEN + 100)];
	size_t n = 0;
	for (int i = 0; i < 5; i++) {
		make_disco(pkt, DISCO_LEN + (size_t)i * 9);
		n += derp_build_send_packet(burst + n, sizeof(burst) - n, unknown, pkt,
					    DISCO_LEN + (size_t)i * 9);
	}
	int64_t burst_at = it_now_ms();
	it_send_raw(a, burst, n);
	expect_not_here_count(a, unknown, 3);

	/* A second later one token has come back: of two more, one is answered. */
	it_sleep_ms(1100);
	it_send_raw(a, burst, 2 * (DERP_FRAME_HDR_LEN + KEY_LEN) + 2 * DISCO_LEN + 9);
	int64_t elapsed = it_now_ms() - burst_at;
	if (elapsed < 1900) {
		expect_not_here_count(a, unknown, 1);
	} else {
		/* The host stalled us long enough for a second token: only bound it. */
		it_note("refill check loosened: %ld ms between bursts", (long)elapsed);
		int got = count_not_here(a, unknown);
		IT_REQUIRE(got >= 1 && got <= 2, "%d PeerGone(NotHere) frames, want 1..2", got);
	}
	it_require_relaying(a, b);
}

/*
 * Receivers that hear from two senders in turn are recorded again at each
 * switch (the record costs O(1) per packet and may hold repeats): when one
 * sender leaves, each receiver still gets exactly one PeerGone. One worker,
 * so that both receivers are in the same record.
 */
static void test_peer_gone_once_after_interleaved_senders(void)
{
	struct it_daemon_opts one_worker = { .workers = 1 };
	struct it_daemon *d = it_daemon_start(&one_worker);
	struct derp_client *leaver = it_connect(d, NULL);
	struct derp_client *other = it_connect(d, NULL);
	struct derp_client *rx[2] = { it_connect(d, NULL), it_connect(d, NULL) };
	uint8_t pkt[64];
	for (int i = 0; i < 100; i++) {
		struct derp_client *from = i % 2 ? other : leaver;
		for (int r = 0; r < 2; r++) {
			randombytes_buf(pkt, sizeof(pkt));
			it_send_packet(from, rx[r]->pub, pkt, sizeof(pkt));
			it_expect_packet(rx[r], from->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
		}
	}
	it_client_close(leaver);
	for (int r = 0; r < 2; r++)
		expect_peer_gone(rx[r], leaver->pub, DERP_PEER_GONE_DISCONNECTED);
	for (int r = 0; r < 2; r++) {
		it_expect_quiet(rx[r], 300);
		it_require_relaying(other, rx[r]);
	}
}

IT_MAIN(IT_TEST(test_peer_gone_goes_to_receivers_only), IT_TEST(test_peer_gone_again_after_rejoin),
	IT_TEST(test_not_here_for_disco_to_unknown_key_is_rate_limited),
	IT_TEST(test_peer_gone_once_after_interleaved_senders))
