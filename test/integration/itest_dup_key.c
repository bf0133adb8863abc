// SPDX-License-Identifier: MIT
/*
 * One node key connected twice: the newest connection gets the packets, the
 * older one is told so with a Health frame, and becomes active again (with
 * an empty Health frame) when the newer one leaves. Run with both
 * connections on one worker and on two.
 */
#include <sodium.h>
#include <string.h>

#include "harness.h"

#define DUP_PACKETS 20

static void expect_health(struct derp_client *c, bool want_text)
{
	uint32_t len;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_HEALTH, IT_FRAME_TIMEOUT_MS, &len);
	if (!want_text) {
		IT_REQUIRE(len == 0, "Health frame with %u bytes of text, want empty", len);
		return;
	}
	IT_REQUIRE(len > 0, "Health frame with empty text, want a problem description");
	for (uint32_t i = 0; i < len; i++)
		IT_REQUIRE(p[i] >= 0x20 && p[i] != 0x7f, "Health text has a control byte");
	it_note("Health: %.*s", (int)len, (const char *)p);
}

static void send_and_expect(struct derp_client *from, struct derp_client *to, int count)
{
	uint8_t pkt[120];
	for (int i = 0; i < count; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(from, to->pub, pkt, sizeof(pkt));
	}
	for (int i = 0; i < count; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_expect_packet(to, from->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
}

static void duplicate_key(bool same_worker)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *sender = it_connect(d, NULL);
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);

	struct derp_client *older = it_connect_with_key(d, priv);
	/* Handoff is round-robin over 2 workers: a filler in between puts the next one beside. */
	if (same_worker)
		it_connect(d, NULL);
	send_and_expect(sender, older, 3);
	struct derp_client *newer = it_connect_with_key(d, priv);
	int w_old = it_daemon_worker_of_nth(d, pub, 0);
	int w_new = it_daemon_worker_of_nth(d, pub, 1);
	IT_REQUIRE(w_old >= 0 && w_new >= 0, "workers of the two connections not logged");
	IT_REQUIRE((w_old == w_new) == same_worker, "connections on workers %d and %d", w_old,
		   w_new);

	/* The older one learns that it lost; the newer one hears nothing of the sort. */
	expect_health(older, true);

	/* Packets go to the newest connection only. */
	send_and_expect(sender, newer, DUP_PACKETS);
	it_expect_quiet(older, 300);
	it_expect_quiet(newer, 50);

	/* The inactive one may still send. */
	send_and_expect(older, sender, 3);
	send_and_expect(newer, sender, 3);

	/* The newer one leaves: the older is active again, and says so. */
	it_client_close(newer);
	expect_health(older, false);
	send_and_expect(sender, older, DUP_PACKETS);
	/* A shrinking duplicate set is no departure: the sender gets no PeerGone. */
	it_expect_quiet(sender, 200);
	it_expect_ping_pong(older);

	/* The last connection of the key leaves: now it is gone. */
	it_client_close(older);
	uint32_t len;
	const uint8_t *p = it_expect_frame(sender, DERP_FRAME_PEER_GONE, IT_FRAME_TIMEOUT_MS, &len);
	IT_REQUIRE(len == KEY_LEN + 1 && memcmp(p, pub, KEY_LEN) == 0 && p[KEY_LEN] == 0,
		   "want PeerGone(key, disconnected)");
}

static void test_duplicate_key_on_one_worker(void)
{
	duplicate_key(true);
}

static void test_duplicate_key_across_workers(void)
{
	duplicate_key(false);
}

/* Three connections of a key: the newest wins; as they leave newest-first, each older one takes
 * over. */
static void test_duplicate_key_three_connections(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *sender = it_connect(d, NULL);
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);
	struct derp_client *conn[3];
	for (int i = 0; i < 3; i++) {
		conn[i] = it_connect_with_key(d, priv);
		if (i > 0)
			expect_health(conn[i - 1], true);
	}
	send_and_expect(sender, conn[2], DUP_PACKETS);
	it_expect_quiet(conn[0], 200);
	it_expect_quiet(conn[1], 50);

	it_client_close(conn[2]);
	expect_health(conn[1], false);
	send_and_expect(sender, conn[1], DUP_PACKETS);
	/* The oldest was told once and stays inactive: nothing new for it. */
	it_expect_quiet(conn[0], 200);

	it_client_close(conn[1]);
	expect_health(conn[0], false);
	send_and_expect(sender, conn[0], DUP_PACKETS);
	it_expect_quiet(sender, 100);
}

IT_MAIN(IT_TEST(test_duplicate_key_on_one_worker), IT_TEST(test_duplicate_key_across_workers),
	IT_TEST(test_duplicate_key_three_connections))
