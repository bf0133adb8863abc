// SPDX-License-Identifier: MIT
/*
 * The outbound mesh client's bytes on the wire, checked from the other end:
 * the test plays the mesh peer (a derper, as far as the relay can tell) on
 * a socket of its own, so every byte the relay sends is read here. No Go
 * derper is available on this machine; these are the frames derper's mesh
 * client (derphttp) sends and its server expects, from its source and
 * derp-protocol.md:
 *
 *   GET /derp with Upgrade: DERP;
 *   ClientInfo: our server key, a nonce, and a box (to the peer's key)
 *     of exactly {"meshKey":"<hex>","version":2,"CanAckPings":true};
 *   WatchConns: 10 00 00 00 00;
 *   after PeerPresent(K): a client's packet for K as ForwardPacket
 *     0a, length 64+n, source key, K, packet;
 *   a Ping answered by the Pong with its 8 bytes;
 *   after PeerGone(K) nothing more for K;
 *   the connection closed: a new dial and the same handshake again.
 *
 * And what the relay keeps of the PeerPresent frames it is sent (address,
 * port, flags), as `hdcli show mesh keys` shows it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "derp_handshake.h"
#include "harness.h"
#include "test_mgmt_daemon.h"

#define WAIT_MS 10000

struct fake_peer {
	int listen_fd;
	uint16_t port;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
};

static void fake_listen(struct fake_peer *f)
{
	key_generate(f->priv, f->pub);
	f->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(f->listen_fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	IT_REQUIRE(bind(f->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		       listen(f->listen_fd, 4) == 0 &&
		       getsockname(f->listen_fd, (struct sockaddr *)&sin, &len) == 0,
		   "listen: %s", strerror(errno));
	f->port = ntohs(sin.sin_port);
}

static int fake_accept(struct fake_peer *f)
{
	struct pollfd p = { .fd = f->listen_fd, .events = POLLIN };
	IT_REQUIRE(poll(&p, 1, WAIT_MS) == 1, "the relay did not dial the mesh peer");
	int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	IT_REQUIRE(fd >= 0, "accept: %s", strerror(errno));
	return fd;
}

/* One frame: header checked against type, payload into buf; returns its length. */
static uint32_t read_frame(int fd, uint8_t *type, uint8_t *buf, size_t cap)
{
	uint8_t h[DERP_FRAME_HDR_LEN];
	uint32_t len;
	it_fd_read_exact(fd, h, sizeof(h), WAIT_MS);
	derp_frame_header_get(h, type, &len);
	IT_REQUIRE(len <= cap, "%s frame of %u bytes", it_type_name(*type), len);
	if (len)
		it_fd_read_exact(fd, buf, len, WAIT_MS);
	return len;
}

/* The server side of the handshake, checking every byte the relay sends. */
static int fake_handshake(struct fake_peer *f, struct it_daemon *d)
{
	int fd = fake_accept(f);
	char head[2048];
	it_fd_read_http_head(fd, head, sizeof(head), WAIT_MS);
	IT_REQUIRE(strncmp(head, "GET /derp HTTP/1.1\r\n", 20) == 0, "request: %s", head);
	IT_REQUIRE(strstr(head, "\r\nUpgrade: DERP\r\n") &&
		       strstr(head, "\r\nConnection: Upgrade\r\n"),
		   "no DERP upgrade in: %s", head);

	char hex[KEY_HEX_LEN + 1], resp[512];
	key_to_hex(f->pub, hex);
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: DERP\r\n"
			 "Connection: Upgrade\r\nDerp-Version: 2\r\nDerp-Public-Key: %s\r\n\r\n",
			 hex);
	it_fd_send(fd, resp, (size_t)n);
	uint8_t frame[256];
	it_fd_send(fd, frame, derp_build_server_key(frame, sizeof(frame), f->pub));

	uint8_t type, ci[1024];
	uint32_t len = read_frame(fd, &type, ci, sizeof(ci));
	IT_REQUIRE(type == DERP_FRAME_CLIENT_INFO, "got %s, want ClientInfo", it_type_name(type));
	IT_REQUIRE(len > KEY_LEN + DERP_NONCE_LEN + crypto_box_MACBYTES, "ClientInfo too short");
	IT_REQUIRE(memcmp(ci, d->server_pub, KEY_LEN) == 0,
		   "the mesh client's key is not the relay's server key");
	char json[512];
	size_t box_len = len - KEY_LEN - DERP_NONCE_LEN;
	IT_REQUIRE(box_len - crypto_box_MACBYTES < sizeof(json), "ClientInfo JSON too long");
	IT_REQUIRE(crypto_box_open_easy((uint8_t *)json, ci + KEY_LEN + DERP_NONCE_LEN, box_len,
					ci + KEY_LEN, ci, f->priv) == 0,
		   "the ClientInfo box does not open with the peer's key");
	json[box_len - crypto_box_MACBYTES] = '\0';
	char want[256], mesh_hex[KEY_HEX_LEN + 1];
	key_to_hex(d->mesh_key, mesh_hex);
	snprintf(want, sizeof(want), "{\"meshKey\":\"%s\",\"version\":2,\"CanAckPings\":true}",
		 mesh_hex);
	IT_REQUIRE(strcmp(json, want) == 0, "ClientInfo JSON %s, want %s", json, want);

	it_fd_send(fd, frame, derp_build_server_info(frame, sizeof(frame), f->priv, ci));
	uint8_t watch[DERP_FRAME_HDR_LEN];
	it_fd_read_exact(fd, watch, sizeof(watch), WAIT_MS);
	static const uint8_t want_watch[] = { 0x10, 0, 0, 0, 0 };
	IT_REQUIRE(memcmp(watch, want_watch, sizeof(watch)) == 0,
		   "after ServerInfo: %02x %02x %02x %02x %02x, want WatchConns", watch[0],
		   watch[1], watch[2], watch[3], watch[4]);
	return fd;
}

/* Sends from c to key until the peer reads the ForwardPacket; checks it to the byte. */
static void expect_forward(int fd, struct derp_client *c, const uint8_t key[KEY_LEN])
{
	uint8_t pkt[300], got[2 * KEY_LEN + sizeof(pkt)];
	randombytes_buf(pkt, sizeof(pkt));
	int64_t deadline = it_now_ms() + WAIT_MS;
	for (;;) {
		IT_REQUIRE(it_now_ms() < deadline, "no ForwardPacket for the announced key");
		it_send_packet(c, key, pkt, sizeof(pkt));
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) == 1)
			break;
	}
	uint8_t type;
	uint32_t len = read_frame(fd, &type, got, sizeof(got));
	IT_REQUIRE(type == DERP_FRAME_FORWARD_PACKET, "got %s", it_type_name(type));
	IT_REQUIRE(len == sizeof(got), "ForwardPacket of %u bytes, want %zu", len, sizeof(got));
	IT_REQUIRE(memcmp(got, c->pub, KEY_LEN) == 0, "source key is not the sender's");
	IT_REQUIRE(memcmp(got + KEY_LEN, key, KEY_LEN) == 0, "destination key differs");
	IT_REQUIRE(memcmp(got + 2 * KEY_LEN, pkt, sizeof(pkt)) == 0, "packet bytes differ");
}

/* Pings the relay's mesh client; ForwardPackets may come first (skipped) unless none allowed. */
static void expect_pong(int fd, bool forwards_allowed)
{
	uint8_t ping[8], f[DERP_FRAME_HDR_LEN + 8], buf[70000];
	randombytes_buf(ping, sizeof(ping));
	it_fd_send(fd, f, derp_build_ping(f, sizeof(f), ping));
	for (;;) {
		uint8_t type;
		uint32_t len = read_frame(fd, &type, buf, sizeof(buf));
		if (type == DERP_FRAME_FORWARD_PACKET && forwards_allowed)
			continue;
		IT_REQUIRE(type == DERP_FRAME_PONG, "got %s, want Pong", it_type_name(type));
		IT_REQUIRE(len == 8 && memcmp(buf, ping, 8) == 0, "Pong does not echo the Ping");
		return;
	}
}

/*
 * The relay's end of the mesh connection (to the fake peer's port) has TCP
 * keepalive on, as Go's dialer sets it for derper: `ss -o` shows its timer.
 */
static void expect_keepalive(uint16_t peer_port)
{
	char cmd[160], line[512] = "";
	snprintf(cmd, sizeof(cmd), "ss -tnoH state established dst 127.0.0.1:%u 2>&1", peer_port);
	/* ss shows one timer: until the last bytes are acknowledged, the retransmit one. */
	int64_t deadline = it_now_ms() + WAIT_MS;
	for (;;) {
		FILE *p = popen(cmd, "r");
		IT_REQUIRE(p != NULL, "popen ss: %s", strerror(errno));
		bool seen = false;
		while (fgets(line, sizeof(line), p))
			seen = seen || strstr(line, "timer:(keepalive") != NULL;
		pclose(p);
		if (seen)
			return;
		IT_REQUIRE(it_now_ms() < deadline,
			   "the mesh connection has no keepalive timer (ss: %s)", line);
		it_sleep_ms(50);
	}
}

/* A relay with a mesh key file that dials the fake peer; its management socket for show. */
struct relay_under_test {
	struct mgmt_daemon *md;
	char dir[64], key_path[128], entry[64];
};

static struct it_daemon *relay_start(struct relay_under_test *t, const struct fake_peer *f,
				     const char *mesh_extra)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/hd-mesh-wire-XXXXXX");
	IT_REQUIRE(mkdtemp(t->dir) != NULL, "mkdtemp: %s", strerror(errno));
	uint8_t mesh_key[KEY_LEN];
	randombytes_buf(mesh_key, sizeof(mesh_key));
	char hex[KEY_HEX_LEN + 1];
	key_to_hex(mesh_key, hex);
	snprintf(t->key_path, sizeof(t->key_path), "%s/mesh.key", t->dir);
	FILE *kf = fopen(t->key_path, "w");
	IT_REQUIRE(kf != NULL, "%s: %s", t->key_path, strerror(errno));
	fprintf(kf, "%s\n", hex);
	fclose(kf);
	IT_REQUIRE(chmod(t->key_path, 0600) == 0, "chmod %s", t->key_path);
	snprintf(t->entry, sizeof(t->entry), "http://127.0.0.1:%u", f->port);
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[server]\nmesh_key_file = %s\n[mesh]\nwith = %s\nretry_ms = 100\n%s", t->key_path,
		 t->entry, mesh_extra ? mesh_extra : "");
	struct md_opts o = { .ini = ini };
	t->md = md_start(&o);
	/* The daemon has read the file: the test keeps the key for fake_handshake only. */
	unlink(t->key_path);
	rmdir(t->dir);
	t->md->it.has_mesh_key = true;
	memcpy(t->md->it.mesh_key, mesh_key, KEY_LEN);
	return &t->md->it;
}

/* What show mesh keys says of one key; found false if it is not listed. */
struct shown_key {
	bool found;
	int rows;
	char peer[64], addr[64];
	uint64_t flags;
	bool is_regular, is_mesh_peer, is_prober, not_ideal, first;
};

static struct shown_key show_key(struct mgmt_daemon *md, const char *peer_arg,
				 const uint8_t key[KEY_LEN])
{
	struct shown_key sk = { 0 };
	char nodekey[80];
	md_nodekey(key, nodekey);
	struct json_doc doc;
	md_cli_json(md, &doc, "show", "mesh", "keys", peer_arg, NULL);
	const struct json_value *keys = json_get(doc.root, "keys");
	for (const struct json_value *k = keys ? keys->child : NULL; k; k = k->next) {
		sk.rows++;
		if (strcmp(json_get_str(k, "key", ""), nodekey) != 0)
			continue;
		IT_REQUIRE(!sk.found, "%s listed twice for one peer", nodekey);
		sk.found = true;
		snprintf(sk.peer, sizeof(sk.peer), "%s", json_get_str(k, "peer", "?"));
		snprintf(sk.addr, sizeof(sk.addr), "%s", json_get_str(k, "addr", "?"));
		sk.flags = json_get_u64(k, "flags", UINT64_MAX);
		sk.is_regular = json_get_bool(k, "is_regular", false);
		sk.is_mesh_peer = json_get_bool(k, "is_mesh_peer", false);
		sk.is_prober = json_get_bool(k, "is_prober", false);
		sk.not_ideal = json_get_bool(k, "not_ideal", false);
		sk.first = json_get_bool(k, "first", false);
	}
	json_doc_free(&doc);
	return sk;
}

static void test_mesh_client_bytes(void)
{
	struct fake_peer f;
	fake_listen(&f);
	struct relay_under_test t;
	struct it_daemon *d = relay_start(&t, &f, NULL);
	int fd = fake_handshake(&f, d);
	expect_keepalive(f.port);

	uint8_t kpriv[KEY_LEN], k[KEY_LEN], frame[128];
	key_generate(kpriv, k);
	static const uint8_t ip[16] = { [10] = 0xff, [11] = 0xff, 10, 0, 0, 7 };
	it_fd_send(fd, frame,
		   derp_build_peer_present(frame, sizeof(frame), k, ip, 41641,
					   DERP_PEER_PRESENT_IS_REGULAR));
	struct derp_client *c = it_connect(d, NULL);
	expect_forward(fd, c, k);
	expect_pong(fd, true);

	/* PeerGone: K is no longer routed there; nothing for it reaches the peer. */
	it_fd_send(fd, frame,
		   derp_build_peer_gone(frame, sizeof(frame), k, DERP_PEER_GONE_DISCONNECTED));
	/*
	 * The relay's mesh client read the PeerGone (and told the workers)
	 * before this Ping; c's worker applies it at the start of the pass
	 * that answers c's Ping; then c's packet is routed (or dropped), and
	 * a ForwardPacket for it would follow the next Pong from the mesh
	 * client at the latest: the second Pong must come first.
	 */
	expect_pong(fd, false);
	it_expect_ping_pong(c);
	uint8_t pkt[40] = { 1 };
	it_send_packet(c, k, pkt, sizeof(pkt));
	it_expect_ping_pong(c);
	expect_pong(fd, false);
	expect_pong(fd, false);

	/* The connection ends: the relay dials again and says the same. */
	close(fd);
	fd = fake_handshake(&f, d);
	it_fd_send(fd, frame,
		   derp_build_peer_present(frame, sizeof(frame), k, ip, 41641,
					   DERP_PEER_PRESENT_IS_REGULAR));
	expect_forward(fd, c, k);
	close(fd);
	close(f.listen_fd);
	it_client_close(c);
	md_stop(t.md);
}

/*
 * The PeerPresent data as the relay shows it: what was sent, to the byte,
 * for each of the three frame sizes derpers have sent; a repeat (a newer
 * connection of the key there) replaces it; PeerGone and the connection's
 * end remove it.
 */
static void test_mesh_keys_shown(void)
{
	struct fake_peer f;
	fake_listen(&f);
	struct relay_under_test t;
	struct it_daemon *d = relay_start(&t, &f, NULL);
	int fd = fake_handshake(&f, d);
	struct shown_key sk = show_key(t.md, NULL, f.pub);
	IT_REQUIRE(sk.rows == 0, "%d keys shown before any PeerPresent", sk.rows);

	uint8_t priv[KEY_LEN], k[KEY_LEN], old[KEY_LEN], mid[KEY_LEN], frame[128];
	key_generate(priv, k);
	key_generate(priv, old);
	key_generate(priv, mid);
	static const uint8_t ip4[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 7 };
	it_fd_send(fd, frame,
		   derp_build_peer_present(frame, sizeof(frame), k, ip4, 41641,
					   DERP_PEER_PRESENT_IS_REGULAR));
	/* The 32-byte frame of derpers before the address, and the 50-byte one before flags. */
	size_t n = derp_build_peer_present(frame, sizeof(frame), old, ip4, 1, 0);
	it_put_be32(frame + 1, KEY_LEN);
	it_fd_send(fd, frame, DERP_FRAME_HDR_LEN + KEY_LEN);
	n = derp_build_peer_present(frame, sizeof(frame), mid, ip4, 3478, 0);
	it_put_be32(frame + 1, (uint32_t)(n - DERP_FRAME_HDR_LEN - 1));
	it_fd_send(fd, frame, n - 1);
	/* The relay's mesh client reads in order: after the Pong, all three are applied. */
	expect_pong(fd, false);

	sk = show_key(t.md, NULL, k);
	IT_REQUIRE(sk.found && sk.rows == 3, "K not shown (%d rows)", sk.rows);
	IT_REQUIRE(strcmp(sk.peer, t.entry) == 0, "peer %s, want %s", sk.peer, t.entry);
	IT_REQUIRE(strcmp(sk.addr, "192.0.2.7:41641") == 0, "address %s", sk.addr);
	IT_REQUIRE(sk.flags == DERP_PEER_PRESENT_IS_REGULAR && sk.is_regular && !sk.is_mesh_peer &&
		       !sk.is_prober && !sk.not_ideal && sk.first,
		   "flags %" PRIu64 " shown wrong", sk.flags);
	sk = show_key(t.md, NULL, old);
	IT_REQUIRE(sk.found && sk.addr[0] == '\0' && sk.flags == 0 && !sk.is_regular,
		   "a key-only PeerPresent shown with address '%s', flags %" PRIu64, sk.addr,
		   sk.flags);
	sk = show_key(t.md, NULL, mid);
	IT_REQUIRE(sk.found && strcmp(sk.addr, "192.0.2.7:3478") == 0 && sk.flags == 0,
		   "a PeerPresent without flags shown with address '%s', flags %" PRIu64, sk.addr,
		   sk.flags);

	/* A newer connection of K there: an IPv6 address, every other flag. */
	static const uint8_t ip6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };
	uint8_t flags = DERP_PEER_PRESENT_IS_MESH_PEER | DERP_PEER_PRESENT_IS_PROBER |
			DERP_PEER_PRESENT_NOT_IDEAL;
	it_fd_send(fd, frame, derp_build_peer_present(frame, sizeof(frame), k, ip6, 443, flags));
	expect_pong(fd, false);
	sk = show_key(t.md, t.entry, k);
	IT_REQUIRE(sk.found && sk.rows == 3, "K not shown for PEER %s", t.entry);
	IT_REQUIRE(strcmp(sk.addr, "[2001:db8::42]:443") == 0, "address %s after the repeat",
		   sk.addr);
	IT_REQUIRE(sk.flags == flags && !sk.is_regular && sk.is_mesh_peer && sk.is_prober &&
		       sk.not_ideal,
		   "flags %" PRIu64 " after the repeat, want %u", sk.flags, flags);

	/* The text form: the address and the flags' names. */
	static struct md_out out;
	IT_REQUIRE(md_cli(t.md, &out, NULL, "show", "mesh", "keys", NULL) == 0, "hdcli: %s",
		   out.err);
	char nodekey[80];
	md_nodekey(k, nodekey);
	const char *row = strstr(out.out, nodekey);
	IT_REQUIRE(row && strstr(row, "[2001:db8::42]:443") &&
		       strstr(row, "mesh-peer prober not-ideal"),
		   "show mesh keys:\n%s", out.out);
	IT_REQUIRE(strstr(out.out, "3 keys"), "show mesh keys:\n%s", out.out);

	/* A PEER that is no mesh peer: a usage error naming it. */
	IT_REQUIRE(md_cli(t.md, &out, NULL, "show", "mesh", "keys", "http://192.0.2.1:1", NULL) ==
			   2 &&
		       strstr(out.err, "http://192.0.2.1:1"),
		   "bad PEER: exit %d, %s", out.status, out.err);

	/* PeerGone removes K; the connection's end removes the rest. */
	it_fd_send(fd, frame,
		   derp_build_peer_gone(frame, sizeof(frame), k, DERP_PEER_GONE_DISCONNECTED));
	expect_pong(fd, false);
	sk = show_key(t.md, NULL, k);
	IT_REQUIRE(!sk.found && sk.rows == 2, "after PeerGone: K %s, %d rows",
		   sk.found ? "still shown" : "gone", sk.rows);
	close(fd);
	fd = fake_handshake(&f, d);
	sk = show_key(t.md, NULL, k);
	IT_REQUIRE(sk.rows == 0, "%d keys still shown after the connection ended", sk.rows);
	close(fd);
	close(f.listen_fd);
	md_stop(t.md);
}

/*
 * mesh.max_keys: past it a PeerPresent for a new key is ignored and
 * counted, and that key's packets do not go to the peer; a repeat for a
 * kept key still updates it; after a PeerGone there is room again.
 */
static void test_mesh_max_keys(void)
{
	struct fake_peer f;
	fake_listen(&f);
	struct relay_under_test t;
	struct it_daemon *d = relay_start(&t, &f, "max_keys = 2\n");
	int fd = fake_handshake(&f, d);
	uint8_t priv[KEY_LEN], k[3][KEY_LEN], frame[128];
	static const uint8_t ip4[16] = { [10] = 0xff, [11] = 0xff, 192, 0, 2, 9 };
	for (int i = 0; i < 3; i++) {
		key_generate(priv, k[i]);
		it_fd_send(fd, frame,
			   derp_build_peer_present(frame, sizeof(frame), k[i], ip4,
						   (uint16_t)(1000 + i),
						   DERP_PEER_PRESENT_IS_REGULAR));
	}
	expect_pong(fd, false);
	struct shown_key sk = show_key(t.md, NULL, k[2]);
	IT_REQUIRE(!sk.found && sk.rows == 2, "past mesh.max_keys = 2: %d keys shown, third %s",
		   sk.rows, sk.found ? "kept" : "not kept");
	char label[96];
	snprintf(label, sizeof(label), "peer=\"%s\"", t.entry);
	IT_REQUIRE(md_scrape(t.md, "hyperderp_mesh_keys_refused_total", label) == 1,
		   "mesh_keys_refused_total is not 1");
	IT_REQUIRE(md_scrape(t.md, "hyperderp_mesh_peer_keys", label) == 2,
		   "mesh_peer_keys is not 2");

	/* The refused key is not routed there: a packet for it never reaches the peer. */
	struct derp_client *c = it_connect(d, NULL);
	uint8_t pkt[40] = { 1 };
	it_send_packet(c, k[2], pkt, sizeof(pkt));
	it_expect_ping_pong(c);
	expect_pong(fd, false);
	expect_forward(fd, c, k[0]);

	/* A repeat for a kept key is no new key: it updates, refuses nothing more. */
	it_fd_send(fd, frame,
		   derp_build_peer_present(frame, sizeof(frame), k[1], ip4, 2001,
					   DERP_PEER_PRESENT_IS_REGULAR));
	expect_pong(fd, false);
	sk = show_key(t.md, NULL, k[1]);
	IT_REQUIRE(sk.found && strcmp(sk.addr, "192.0.2.9:2001") == 0, "repeat at the bound: %s",
		   sk.addr);
	IT_REQUIRE(md_scrape(t.md, "hyperderp_mesh_keys_refused_total", label) == 1,
		   "a repeat was refused");

	/* PeerGone makes room: the third key, announced again, is kept and routed there. */
	it_fd_send(fd, frame,
		   derp_build_peer_gone(frame, sizeof(frame), k[0], DERP_PEER_GONE_DISCONNECTED));
	it_fd_send(fd, frame,
		   derp_build_peer_present(frame, sizeof(frame), k[2], ip4, 1002,
					   DERP_PEER_PRESENT_IS_REGULAR));
	expect_pong(fd, false);
	sk = show_key(t.md, NULL, k[2]);
	IT_REQUIRE(sk.found && sk.rows == 2, "after PeerGone the third key is %s",
		   sk.found ? "kept" : "still refused");
	expect_forward(fd, c, k[2]);
	it_client_close(c);
	close(fd);
	close(f.listen_fd);
	md_stop(t.md);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_mesh_client_bytes),
		IT_TEST(test_mesh_keys_shown),
		IT_TEST(test_mesh_max_keys),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
