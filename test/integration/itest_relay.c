// SPDX-License-Identifier: MIT
/*
 * Packet relaying end to end: bulk exchange with every byte checked,
 * traffic between connections on different workers, Ping/Pong and
 * NotePreferred.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "derp_handshake.h"
#include "harness.h"

#define EXCHANGE_PACKETS 10000
/*
 * Packets in flight per direction before the receiver reads. Below the
 * relay's queue depth (32), so a correct relay never has a reason to drop
 * one and every single packet can be required.
 */
#define EXCHANGE_WINDOW 16

/* Lengths cover the edges (0, 1, the 64 KiB maximum) and a spread in between. */
static size_t packet_len(uint32_t seq)
{
	switch (seq % 1000) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 499:
		return DERP_MAX_PACKET_SIZE;
	case 500:
		return DERP_MAX_PACKET_SIZE - 1;
	default:
		return 1 + (seq * 7919u) % 1500;
	}
}

/* The bytes of packet seq from sender `from`: a pure function, so the receiver can check them. */
static size_t make_packet(uint8_t *buf, uint32_t from, uint32_t seq)
{
	size_t len = packet_len(seq);
	it_fill_pattern(buf, len, (uint64_t)from << 32 | seq);
	return len;
}

static void test_two_peers_exchange_10000_packets_each_way(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	uint8_t *pkt = malloc(DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(pkt != NULL, "out of memory");

	for (uint32_t base = 0; base < EXCHANGE_PACKETS; base += EXCHANGE_WINDOW) {
		uint32_t n = EXCHANGE_PACKETS - base < EXCHANGE_WINDOW ? EXCHANGE_PACKETS - base
								       : EXCHANGE_WINDOW;
		for (uint32_t i = 0; i < n; i++) {
			size_t len = make_packet(pkt, 1, base + i);
			it_send_packet(a, b->pub, pkt, len);
		}
		for (uint32_t i = 0; i < n; i++) {
			size_t len = make_packet(pkt, 2, base + i);
			it_send_packet(b, a->pub, pkt, len);
		}
		/* Order is checked implicitly: packet seq must arrive as the seq-th. */
		for (uint32_t i = 0; i < n; i++) {
			size_t len = make_packet(pkt, 1, base + i);
			it_expect_packet(b, a->pub, pkt, len, IT_FRAME_TIMEOUT_MS);
		}
		for (uint32_t i = 0; i < n; i++) {
			size_t len = make_packet(pkt, 2, base + i);
			it_expect_packet(a, b->pub, pkt, len, IT_FRAME_TIMEOUT_MS);
		}
	}
	free(pkt);
	/* Nothing extra (duplicates, stray frames) may follow. */
	it_expect_ping_pong(a);
	it_expect_ping_pong(b);
}

/*
 * Full mesh between n clients: every round each client sends one packet to
 * every other, then each reads its n-1. Sources interleave in any order, but
 * each source's packets must arrive in order and intact.
 */
static void full_mesh_rounds(struct derp_client **cl, unsigned n, unsigned rounds)
{
	uint8_t pkt[1600];
	uint32_t *next_seq = calloc((size_t)n * n, sizeof(*next_seq)); /* [dst * n + src] */
	IT_REQUIRE(next_seq != NULL, "out of memory");
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned s = 0; s < n; s++) {
			for (unsigned t = 0; t < n; t++) {
				if (s == t)
					continue;
				it_fill_pattern(pkt, 1 + (r * 131 + s * 17 + t) % sizeof(pkt),
						(uint64_t)(s * n + t) << 32 | r);
				it_send_packet(cl[s], cl[t]->pub, pkt,
					       1 + (r * 131 + s * 17 + t) % sizeof(pkt));
			}
		}
		for (unsigned t = 0; t < n; t++) {
			for (unsigned k = 0; k + 1 < n; k++) {
				uint32_t len;
				const uint8_t *p = it_expect_frame(cl[t], DERP_FRAME_RECV_PACKET,
								   IT_FRAME_TIMEOUT_MS, &len);
				IT_REQUIRE(len >= KEY_LEN, "RecvPacket of %u bytes", len);
				unsigned s = n;
				for (unsigned i = 0; i < n; i++) {
					if (memcmp(p, cl[i]->pub, KEY_LEN) == 0)
						s = i;
				}
				IT_REQUIRE(s < n && s != t,
					   "client %u got a packet from a stranger", t);
				uint32_t seq = next_seq[t * n + s]++;
				size_t want_len = 1 + (seq * 131 + s * 17 + t) % sizeof(pkt);
				IT_REQUIRE(len - KEY_LEN == want_len,
					   "client %u: packet %u from %u has %u bytes, want %zu", t,
					   seq, s, len - KEY_LEN, want_len);
				it_fill_pattern(pkt, want_len, (uint64_t)(s * n + t) << 32 | seq);
				IT_REQUIRE(
				    memcmp(p + KEY_LEN, pkt, want_len) == 0,
				    "client %u: packet %u from %u is corrupt or out of order", t,
				    seq, s);
			}
		}
	}
	free(next_seq);
}

static void cross_worker(unsigned workers, unsigned nclients)
{
	struct it_daemon_opts o = { .workers = workers };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *cl[16];
	IT_REQUIRE(nclients <= 16, "too many clients");
	/* Handoff is round-robin, so consecutive connections land on different workers. */
	for (unsigned i = 0; i < nclients; i++)
		cl[i] = it_connect(d, NULL);

	/* Prove the premise from the daemon's own log: every worker got some of them. */
	bool seen[16] = { false };
	for (unsigned i = 0; i < nclients; i++) {
		int w = it_daemon_worker_of(d, cl[i]->pub);
		IT_REQUIRE(w >= 0 && (unsigned)w < workers, "no worker logged for client %u", i);
		seen[w] = true;
	}
	for (unsigned w = 0; w < workers; w++)
		IT_REQUIRE(seen[w], "no client landed on worker %u", w);

	full_mesh_rounds(cl, nclients, 30);
	for (unsigned i = 0; i < nclients; i++)
		it_expect_ping_pong(cl[i]);
}

static void test_cross_worker_delivery_2_workers(void)
{
	cross_worker(2, 4);
}

static void test_cross_worker_delivery_4_workers(void)
{
	cross_worker(4, 8);
}

static void test_ping_gets_pong_with_same_bytes(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *a = it_connect(d, NULL);
	for (int i = 0; i < 20; i++)
		it_expect_ping_pong(a);
	/* All-zero and all-ones payloads are echoed too. */
	static const uint8_t edge[2][8] = { { 0 },
					    { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	for (int i = 0; i < 2; i++) {
		IT_REQUIRE(derp_client_send_ping(a, edge[i]) == 0, "send Ping");
		uint32_t len;
		const uint8_t *p = it_expect_frame(a, DERP_FRAME_PONG, IT_FRAME_TIMEOUT_MS, &len);
		IT_REQUIRE(len == 8 && memcmp(p, edge[i], 8) == 0, "Pong does not echo the Ping");
	}
}

/*
 * Once a client's connect has returned (it holds ServerInfo), every worker
 * must route to it: a packet sent right then is delivered, whether it comes
 * from a connected client or rides in the first write of a fast-start
 * client (whose pipelined frames the relay handles as it takes the
 * connection over). Consecutive connections land on alternate workers, so
 * each newcomer and its sender sit on different workers.
 */
#define JUST_CONNECTED_ROUNDS 200

static void test_packet_to_a_peer_that_just_connected(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *old_timer = it_connect(d, NULL);
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n"
				  "Derp-Fast-Start: 1\r\n\r\n";
	uint8_t buf[2048], pkt[64];
	for (int i = 0; i < JUST_CONNECTED_ROUNDS; i++) {
		struct derp_client *peer = it_connect(d, NULL);
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		struct derp_client *c = it_wrap_fd(it_tcp_connect(d));
		size_t n = strlen(req);
		memcpy(buf, req, n);
		n += derp_build_client_info(buf + n, sizeof(buf) - n, c->priv, c->pub,
					    d->server_pub, "{\"version\":2}", NULL);
		n += derp_build_send_packet(buf + n, sizeof(buf) - n, peer->pub, pkt, sizeof(pkt));
		it_send_raw(c, buf, n);
		it_send_packet(old_timer, peer->pub, pkt, sizeof(pkt));

		/* Both packets, in either order. */
		bool from_new = false, from_old = false;
		for (int k = 0; k < 2; k++) {
			uint8_t type;
			const uint8_t *p;
			uint32_t len;
			int rc = it_read_frame(peer, 2000, &type, &p, &len);
			IT_REQUIRE(rc == 1 && type == DERP_FRAME_RECV_PACKET,
				   "round %d: a packet sent right after the peer connected never "
				   "reached it (from the fast-start client: %s, from the connected "
				   "client: %s): %s",
				   i, from_new ? "arrived" : "missing",
				   from_old ? "arrived" : "missing",
				   rc == 1   ? it_type_name(type)
				   : rc == 0 ? "timed out"
					     : "closed");
			IT_REQUIRE(len == KEY_LEN + sizeof(pkt) &&
				       memcmp(p + KEY_LEN, pkt, sizeof(pkt)) == 0,
				   "round %d: wrong packet", i);
			from_new |= memcmp(p, c->pub, KEY_LEN) == 0;
			from_old |= memcmp(p, old_timer->pub, KEY_LEN) == 0;
		}
		IT_REQUIRE(from_new && from_old, "round %d: a packet came twice", i);
		it_client_close(c);
		it_client_close(peer);
	}
}

/* A packet to one's own key comes back, from oneself. */
static void test_packet_to_self_is_delivered(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *a = it_connect(d, NULL);
	uint8_t pkt[500];
	for (int i = 0; i < 10; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(a, a->pub, pkt, sizeof(pkt));
		it_expect_packet(a, a->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
}

static void test_note_preferred_is_accepted(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	uint8_t frame[16];
	size_t n = derp_build_note_preferred(frame, sizeof(frame), true);
	IT_REQUIRE(n == DERP_FRAME_HDR_LEN + 1, "NotePreferred frame of %zu bytes", n);
	it_send_raw(a, frame, n);
	it_send_raw(b, frame, n);
	/* It only changes accounting: the connections stay up and nothing else changes. */
	it_expect_ping_pong(a);
	it_require_relaying(a, b);
	n = derp_build_note_preferred(frame, sizeof(frame), false);
	it_send_raw(a, frame, n);
	it_expect_ping_pong(a);
	it_require_relaying(a, b);
	it_expect_quiet(a, 200);
	it_expect_quiet(b, 50);
}

IT_MAIN(IT_TEST(test_two_peers_exchange_10000_packets_each_way),
	IT_TEST(test_cross_worker_delivery_2_workers),
	IT_TEST(test_cross_worker_delivery_4_workers), IT_TEST(test_ping_gets_pong_with_same_bytes),
	IT_TEST(test_packet_to_self_is_delivered),
	IT_TEST(test_packet_to_a_peer_that_just_connected),
	IT_TEST(test_note_preferred_is_accepted))
