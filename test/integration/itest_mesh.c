// SPDX-License-Identifier: MIT
/*
 * Mesh frames: WatchConns, ClosePeer and ForwardPacket are refused (the
 * connection is closed) without the mesh key, and work with it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/socket.h>

#include "derp_handshake.h"
#include "harness.h"

static const uint8_t disco_magic[6] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };

/* The client's port as the server sees it (the local end of its socket). */
static uint16_t client_port(struct derp_client *c)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	IT_REQUIRE(getsockname(c->fd, (struct sockaddr *)&sin, &len) == 0, "getsockname");
	return ntohs(sin.sin_port);
}

static void send_watch_conns(struct derp_client *c)
{
	uint8_t f[DERP_FRAME_HDR_LEN];
	it_send_raw(c, f, derp_build_watch_conns(f, sizeof(f)));
}

static void send_close_peer(struct derp_client *c, const uint8_t key[KEY_LEN])
{
	uint8_t f[DERP_FRAME_HDR_LEN + KEY_LEN];
	it_send_raw(c, f, derp_build_close_peer(f, sizeof(f), key));
}

static void send_forward(struct derp_client *c, const uint8_t src[KEY_LEN],
			 const uint8_t dst[KEY_LEN], const uint8_t *pkt, size_t len)
{
	uint8_t f[DERP_FRAME_HDR_LEN + 2 * KEY_LEN + 256];
	size_t n = derp_build_forward_packet(f, sizeof(f), src, dst, pkt, len);
	IT_REQUIRE(n > 0, "ForwardPacket does not fit");
	it_send_raw(c, f, n);
}

/* Each mesh-only frame from an ordinary client closes that client and nothing else. */
static void refuse_mesh_frames(struct it_daemon *d, const uint8_t *wrong_mesh_key)
{
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	struct derp_client_opts o = { .mesh_key = wrong_mesh_key };
	uint8_t pkt[80];
	randombytes_buf(pkt, sizeof(pkt));

	struct derp_client *x = it_connect(d, &o);
	send_watch_conns(x);
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	it_require_relaying(a, b);

	x = it_connect(d, &o);
	send_close_peer(x, a->pub);
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	it_require_relaying(a, b); /* a was not closed */

	x = it_connect(d, &o);
	send_forward(x, b->pub, a->pub, pkt, sizeof(pkt));
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	/* Not delivered either: a's next frame is the real packet from b. */
	it_require_relaying(b, a);
	it_expect_ping_pong(a);
	it_expect_ping_pong(b);
}

/*
 * A daemon with a mesh key, and connected to it in this order (handoff is
 * round-robin over the workers): two ordinary clients and a mesh peer.
 */
struct mesh_scene {
	struct it_daemon *d;
	struct derp_client *a, *b, *m;
};

static struct mesh_scene mesh_scene_start(void)
{
	struct it_daemon_opts o = { .mesh_key = true };
	struct mesh_scene s = { .d = it_daemon_start(&o) };
	s.a = it_connect(s.d, NULL);
	s.b = it_connect(s.d, NULL);
	struct derp_client_opts mo = { .mesh_key = s.d->mesh_key };
	s.m = it_connect(s.d, &mo);
	return s;
}

static void test_mesh_frames_refused_without_the_mesh_key(void)
{
	struct it_daemon_opts o = { .mesh_key = true };
	struct it_daemon *d = it_daemon_start(&o);
	uint8_t wrong[KEY_LEN];
	randombytes_buf(wrong, sizeof(wrong));
	refuse_mesh_frames(d, NULL);  /* no mesh key at all */
	refuse_mesh_frames(d, wrong); /* a wrong one */
}

/*
 * A relay without a mesh key holds 32 zero bytes where the key would be: a
 * client offering exactly those must not become a mesh peer, nor one
 * offering a random key. An empty meshKey is no key at all (derper's
 * key.DERPMesh refuses it): the handshake fails.
 */
static void test_mesh_frames_refused_when_no_mesh_key_configured(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	uint8_t some[KEY_LEN], zero[KEY_LEN] = { 0 };
	randombytes_buf(some, sizeof(some));
	refuse_mesh_frames(d, some);
	refuse_mesh_frames(d, zero);
	refuse_mesh_frames(d, NULL);

	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	uint8_t priv[KEY_LEN], pub[KEY_LEN], ci[512];
	key_generate(priv, pub);
	int fd = it_raw_upgrade(d);
	size_t n = derp_build_client_info(ci, sizeof(ci), priv, pub, d->server_pub,
					  "{\"version\":2,\"meshKey\":\"\"}", NULL);
	IT_REQUIRE(n > 0, "building ClientInfo failed");
	it_fd_send_ignoring_errors(fd, ci, n);
	uint8_t junk[256];
	it_fd_read_until_closed(fd, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	it_require_relaying(a, b);
}

/*
 * Reads watcher frames until PeerPresent or PeerGone (type) about key;
 * events about other keys (other tests' leftovers, the readiness probe)
 * are skipped. Returns the payload.
 */
static const uint8_t *expect_watch_event(struct derp_client *m, uint8_t type,
					 const uint8_t key[KEY_LEN], uint32_t *len)
{
	int64_t deadline = it_now_ms() + IT_FRAME_TIMEOUT_MS;
	for (;;) {
		uint8_t got;
		const uint8_t *p;
		uint32_t n;
		int64_t left = deadline - it_now_ms();
		int rc = it_read_frame(m, left > 0 ? (int)left : 0, &got, &p, &n);
		IT_REQUIRE(rc == 1, "waiting for %s: %s", it_type_name(type),
			   rc == 0 ? "timed out" : "closed");
		IT_REQUIRE(got == DERP_FRAME_PEER_PRESENT || got == DERP_FRAME_PEER_GONE,
			   "watcher got %s", it_type_name(got));
		IT_REQUIRE(n >= KEY_LEN, "%s of %u bytes", it_type_name(got), n);
		if (memcmp(p, key, KEY_LEN) != 0)
			continue;
		IT_REQUIRE(got == type, "got %s for the key, want %s", it_type_name(got),
			   it_type_name(type));
		*len = n;
		return p;
	}
}

/* Pings the watcher; no event about key may come before the Pong. */
static void expect_no_event_before_pong(struct derp_client *m, const uint8_t key[KEY_LEN])
{
	uint8_t ping[8];
	randombytes_buf(ping, sizeof(ping));
	IT_REQUIRE(derp_client_send_ping(m, ping) == 0, "send Ping");
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(m, IT_FRAME_TIMEOUT_MS, &type, &p, &len);
		IT_REQUIRE(rc == 1, "waiting for Pong: %s", rc == 0 ? "timed out" : "closed");
		if (type == DERP_FRAME_PONG && len == 8 && memcmp(p, ping, 8) == 0)
			return;
		IT_REQUIRE(len < KEY_LEN || memcmp(p, key, KEY_LEN) != 0,
			   "unexpected %s about the key", it_type_name(type));
	}
}

static void check_peer_present(const uint8_t *p, uint32_t len, struct derp_client *c, uint8_t flags)
{
	static const uint8_t v4mapped_loopback[16] = { 0, 0, 0,	   0,	 0,   0, 0, 0,
						       0, 0, 0xff, 0xff, 127, 0, 0, 1 };
	IT_REQUIRE(len == DERP_PEER_PRESENT_LEN, "PeerPresent of %u bytes, want 51", len);
	IT_REQUIRE(memcmp(p + KEY_LEN, v4mapped_loopback, 16) == 0,
		   "PeerPresent address is not ::ffff:127.0.0.1");
	uint16_t port = (uint16_t)(p[KEY_LEN + 16] << 8 | p[KEY_LEN + 17]);
	IT_REQUIRE(port == client_port(c), "PeerPresent port %u, want %u", port, client_port(c));
	IT_REQUIRE(p[KEY_LEN + 18] == flags, "PeerPresent flags 0x%02x, want 0x%02x",
		   p[KEY_LEN + 18], flags);
}

/* The client of the two on a worker other than w's, or the first if both share it. */
static struct derp_client *on_other_worker(struct it_daemon *d, struct derp_client *m,
					   struct derp_client *a, struct derp_client *b)
{
	int wm = it_daemon_worker_of(d, m->pub);
	return it_daemon_worker_of(d, a->pub) != wm ? a : b;
}

static void test_watch_conns_reports_present_and_gone(void)
{
	struct mesh_scene s = mesh_scene_start();
	struct it_daemon *d = s.d;
	struct derp_client *a = s.a, *b = s.b, *m = s.m;

	send_watch_conns(m);
	/* Everyone already connected, the watcher itself included; in any order. */
	struct derp_client *expected[3] = { a, b, m };
	const uint8_t flags[3] = { DERP_PEER_PRESENT_IS_REGULAR, DERP_PEER_PRESENT_IS_REGULAR,
				   DERP_PEER_PRESENT_IS_MESH_PEER };
	bool seen[3] = { false };
	int64_t deadline = it_now_ms() + IT_FRAME_TIMEOUT_MS;
	while (!(seen[0] && seen[1] && seen[2])) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int64_t left = deadline - it_now_ms();
		int rc = it_read_frame(m, left > 0 ? (int)left : 0, &type, &p, &len);
		IT_REQUIRE(rc == 1, "initial PeerPresent flood incomplete (%d %d %d): %s", seen[0],
			   seen[1], seen[2], rc == 0 ? "timed out" : "closed");
		if (type != DERP_FRAME_PEER_PRESENT)
			continue; /* e.g. PeerGone of the readiness probe */
		for (int i = 0; i < 3; i++) {
			if (len >= KEY_LEN && memcmp(p, expected[i]->pub, KEY_LEN) == 0) {
				IT_REQUIRE(!seen[i], "PeerPresent twice for client %d", i);
				check_peer_present(p, len, expected[i], flags[i]);
				seen[i] = true;
			}
		}
	}

	/* A newcomer is announced, and its departure too. */
	struct derp_client *c = it_connect(d, NULL);
	uint32_t len;
	const uint8_t *p = expect_watch_event(m, DERP_FRAME_PEER_PRESENT, c->pub, &len);
	check_peer_present(p, len, c, DERP_PEER_PRESENT_IS_REGULAR);
	uint8_t c_key[KEY_LEN];
	memcpy(c_key, c->pub, KEY_LEN);
	it_client_close(c);
	p = expect_watch_event(m, DERP_FRAME_PEER_GONE, c_key, &len);
	IT_REQUIRE(len == KEY_LEN + 1 && p[KEY_LEN] == 0x00, "PeerGone is not (key, disconnected)");

	/* A key connected twice is announced twice, and gone only when both have left. */
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);
	struct derp_client *dup1 = it_connect_with_key(d, priv);
	p = expect_watch_event(m, DERP_FRAME_PEER_PRESENT, pub, &len);
	check_peer_present(p, len, dup1, DERP_PEER_PRESENT_IS_REGULAR);
	struct derp_client *dup2 = it_connect_with_key(d, priv);
	p = expect_watch_event(m, DERP_FRAME_PEER_PRESENT, pub, &len);
	check_peer_present(p, len, dup2, DERP_PEER_PRESENT_IS_REGULAR);
	it_client_close(dup2);
	it_expect_frame(dup1, DERP_FRAME_HEALTH, IT_FRAME_TIMEOUT_MS, &len); /* lost ... */
	it_expect_frame(dup1, DERP_FRAME_HEALTH, IT_FRAME_TIMEOUT_MS, &len); /* ... and back */
	/* Both workers have seen dup2 go (dup1 heard of it): no PeerGone for the key yet. */
	expect_no_event_before_pong(m, pub);
	it_client_close(dup1);
	p = expect_watch_event(m, DERP_FRAME_PEER_GONE, pub, &len);
	IT_REQUIRE(len == KEY_LEN + 1 && p[KEY_LEN] == 0x00, "PeerGone is not (key, disconnected)");

	/* A prober is flagged as one. */
	struct derp_client_opts po = { .is_prober = true };
	struct derp_client *prober = it_connect(d, &po);
	p = expect_watch_event(m, DERP_FRAME_PEER_PRESENT, prober->pub, &len);
	check_peer_present(p, len, prober, DERP_PEER_PRESENT_IS_PROBER);
	it_require_relaying(a, b);
}

static void test_forward_packet_delivers_with_the_forwarded_source(void)
{
	struct mesh_scene s = mesh_scene_start();
	struct derp_client *a = s.a, *b = s.b, *m = s.m;

	/* The source is a client of another region server: unknown here. */
	uint8_t remote_src[KEY_LEN], pkt[200];
	randombytes_buf(remote_src, sizeof(remote_src));
	struct derp_client *targets[2] = { a, b }; /* one of them on another worker than m */
	for (int round = 0; round < 5; round++) {
		for (int t = 0; t < 2; t++) {
			randombytes_buf(pkt, sizeof(pkt));
			send_forward(m, remote_src, targets[t]->pub, pkt, sizeof(pkt));
			it_expect_packet(targets[t], remote_src, pkt, sizeof(pkt),
					 IT_FRAME_TIMEOUT_MS);
		}
	}
	/* A forwarded disco packet for a key not here: NotHere goes back to the mesh peer. */
	uint8_t unknown[KEY_LEN];
	randombytes_buf(unknown, sizeof(unknown));
	randombytes_buf(pkt, sizeof(pkt));
	memcpy(pkt, disco_magic, sizeof(disco_magic));
	send_forward(m, remote_src, unknown, pkt, 62);
	uint32_t len;
	const uint8_t *p = it_expect_frame(m, DERP_FRAME_PEER_GONE, IT_FRAME_TIMEOUT_MS, &len);
	IT_REQUIRE(len == KEY_LEN + 1 && memcmp(p, unknown, KEY_LEN) == 0 && p[KEY_LEN] == 0x01,
		   "want PeerGone(unknown, not here)");
	/* The mesh peer is an ordinary client too. */
	it_require_relaying(m, a);
	it_require_relaying(a, b);
}

static void test_close_peer_closes_the_target(void)
{
	struct mesh_scene s = mesh_scene_start();
	struct it_daemon *d = s.d;
	struct derp_client *a = s.a, *b = s.b, *m = s.m;

	/* Target one on another worker than the mesh peer: the close must cross workers. */
	struct derp_client *victim = on_other_worker(d, m, a, b);
	struct derp_client *bystander = victim == a ? b : a;
	send_close_peer(m, victim->pub);
	it_expect_closed(victim, IT_FRAME_TIMEOUT_MS);
	it_expect_ping_pong(m); /* the mesh peer stays */
	struct derp_client *c = it_connect(d, NULL);
	it_require_relaying(bystander, c);
	it_require_relaying(m, c);

	/* A key connected twice, on both workers: every connection of it closes. */
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);
	struct derp_client *dup1 = it_connect_with_key(d, priv);
	struct derp_client *dup2 = it_connect_with_key(d, priv);
	send_close_peer(m, pub);
	it_expect_closed(dup1, IT_FRAME_TIMEOUT_MS);
	it_expect_closed(dup2, IT_FRAME_TIMEOUT_MS);
	it_require_relaying(bystander, c);

	/* Closing a key that is not connected is harmless. */
	uint8_t nobody[KEY_LEN];
	randombytes_buf(nobody, sizeof(nobody));
	send_close_peer(m, nobody);
	it_expect_ping_pong(m);
	it_require_relaying(m, bystander);
}

IT_MAIN(IT_TEST(test_mesh_frames_refused_without_the_mesh_key),
	IT_TEST(test_mesh_frames_refused_when_no_mesh_key_configured),
	IT_TEST(test_watch_conns_reports_present_and_gone),
	IT_TEST(test_forward_packet_delivers_with_the_forwarded_source),
	IT_TEST(test_close_peer_closes_the_target))
