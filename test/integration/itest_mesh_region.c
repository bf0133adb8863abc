// SPDX-License-Identifier: MIT
/*
 * The outbound mesh (mesh.with): three real relays, each dialling the other
 * two (and itself, which it must skip) with the shared mesh key, as a
 * region of derpers is set up. Clients homed on different relays exchange
 * content-checked packets both ways, over plain HTTP and over TLS (verified
 * against mesh.ca_file); a relay restarted mid-test rejoins and traffic
 * resumes; a sender hears PeerGone when the key it sent to leaves its
 * relay; a ForwardPacket for a key homed elsewhere is never forwarded
 * again. Figures from `hdcli show mesh` and /metrics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
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

#define NRELAYS		 3
#define ROUTE_TIMEOUT_MS 20000

struct region {
	struct mgmt_daemon *d[NRELAYS];
	uint16_t port[NRELAYS];
	bool tls;
	char dir[256];
	char mesh_key_path[300];
	uint8_t mesh_key[KEY_LEN];
	struct it_tls_files certs;
	char ini[NRELAYS][2048];
};

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
	IT_REQUIRE(chmod(path, 0600) == 0, "chmod %s", path);
}

static void start_relay(struct region *g, int i)
{
	struct md_opts o = { .ini = g->ini[i], .port = g->port[i] };
	g->d[i] = md_start(&o);
}

static const char *state_of(const struct json_value *peers, const char *addr)
{
	for (const struct json_value *p = peers ? peers->child : NULL; p; p = p->next) {
		if (strcmp(json_get_str(p, "address", ""), addr) == 0)
			return json_get_str(p, "state", "?");
	}
	return "absent";
}

static void entry_text(const struct region *g, int j, char *out, size_t cap)
{
	snprintf(out, cap, "%s://127.0.0.1:%u", g->tls ? "https" : "http", g->port[j]);
}

/* Waits until relay i is connected to every other relay and has skipped itself. */
static void await_mesh(struct region *g, int i)
{
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	for (;;) {
		struct json_doc doc;
		md_cli_json(g->d[i], &doc, "show", "mesh", NULL);
		const struct json_value *peers = json_get(doc.root, "peers");
		int connected = 0;
		bool self = false;
		char last[160] = "";
		for (int j = 0; j < NRELAYS; j++) {
			char addr[64];
			entry_text(g, j, addr, sizeof(addr));
			const char *st = state_of(peers, addr);
			if (j == i)
				self = strcmp(st, "self") == 0;
			else if (strcmp(st, "connected") == 0)
				connected++;
			snprintf(last + strlen(last), sizeof(last) - strlen(last), " %s=%s", addr,
				 st);
		}
		json_doc_free(&doc);
		if (self && connected == NRELAYS - 1)
			return;
		IT_REQUIRE(it_now_ms() < deadline, "relay %d's mesh not up:%s", i, last);
		it_sleep_ms(50);
	}
}

/* Three relays, each with mesh.with listing all three (as on every relay of a region). */
static void region_start(struct region *g, bool tls)
{
	memset(g, 0, sizeof(*g));
	g->tls = tls;
	snprintf(g->dir, sizeof(g->dir), "/tmp/hd-mesh-region-XXXXXX");
	IT_REQUIRE(mkdtemp(g->dir) != NULL, "mkdtemp: %s", strerror(errno));
	randombytes_buf(g->mesh_key, sizeof(g->mesh_key));
	char hex[KEY_HEX_LEN + 2];
	key_to_hex(g->mesh_key, hex);
	strcat(hex, "\n");
	snprintf(g->mesh_key_path, sizeof(g->mesh_key_path), "%s/mesh.key", g->dir);
	write_text(g->mesh_key_path, hex);
	if (tls)
		it_tls_files_make(&g->certs, "hd-mesh-region");
	for (int i = 0; i < NRELAYS; i++)
		g->port[i] = it_free_port();
	char with[256] = "";
	for (int j = 0; j < NRELAYS; j++) {
		char e[64];
		entry_text(g, j, e, sizeof(e));
		snprintf(with + strlen(with), sizeof(with) - strlen(with), "%s%s", j ? ", " : "",
			 e);
	}
	for (int i = 0; i < NRELAYS; i++) {
		char tls_part[1024] = "";
		if (tls)
			snprintf(tls_part, sizeof(tls_part),
				 "ca_file = %s\n[tls]\ncert = %s\nkey = %s\n", g->certs.cert,
				 g->certs.cert, g->certs.key);
		snprintf(g->ini[i], sizeof(g->ini[i]),
			 "[server]\nmesh_key_file = %s\n[log]\nlevel = debug\n"
			 "[mesh]\nwith = %s\nretry_ms = 100\n%s",
			 g->mesh_key_path, with, tls_part);
		start_relay(g, i);
	}
	for (int i = 0; i < NRELAYS; i++)
		await_mesh(g, i);
}

/* SIGTERM to each relay, each required to exit 0. */
static void region_stop(struct region *g)
{
	for (int i = 0; i < NRELAYS; i++)
		md_stop(g->d[i]);
}

static void region_files_remove(struct region *g)
{
	unlink(g->mesh_key_path);
	rmdir(g->dir);
	if (g->tls)
		it_tls_files_remove(&g->certs);
}

static struct derp_client *client_on(struct region *g, int i)
{
	struct derp_client_opts o = { .tls = g->tls };
	return it_connect(&g->d[i]->it, &o);
}

/*
 * Sends from `from` to `to` until one arrives: the relays learn where
 * `to` is from its relay's PeerPresent, a moment after it connected.
 * Warm-up packets sent before are dropped or arrive in order; the ones
 * still on their way are read off afterwards.
 */
static void await_route(struct derp_client *from, struct derp_client *to)
{
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	uint8_t pkt[48];
	for (uint32_t i = 0;; i++) {
		IT_REQUIRE(it_now_ms() < deadline, "no route after %d ms", ROUTE_TIMEOUT_MS);
		it_fill_pattern(pkt, sizeof(pkt), 0x5700 + i);
		it_send_packet(from, to->pub, pkt, sizeof(pkt));
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(to, 100, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "receiver closed while waiting for a route");
		if (rc == 1 && type == DERP_FRAME_PEER_GONE && memcmp(p, from->pub, KEY_LEN) != 0)
			continue;
		if (rc == 1) {
			IT_REQUIRE(type == DERP_FRAME_RECV_PACKET, "got %s", it_type_name(type));
			IT_REQUIRE(memcmp(p, from->pub, KEY_LEN) == 0, "from the wrong source");
			break;
		}
	}
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(to, 300, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "receiver closed");
		if (rc == 0)
			return;
		/* PeerGone about an earlier peer (a restarted relay's old client) may come too. */
		if (type == DERP_FRAME_PEER_GONE && memcmp(p, from->pub, KEY_LEN) != 0)
			continue;
		IT_REQUIRE(type == DERP_FRAME_RECV_PACKET && len == KEY_LEN + sizeof(pkt),
			   "got %s of %u bytes", it_type_name(type), len);
	}
}

/* Packets of several sizes each way, every byte checked, in order. */
static void exchange(struct derp_client *a, struct derp_client *b)
{
	static const size_t sizes[] = { 1, 100, 1400, 16000, 65000 };
	static uint8_t pkt[65536];
	for (int dir = 0; dir < 2; dir++) {
		struct derp_client *from = dir ? b : a, *to = dir ? a : b;
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			randombytes_buf(pkt, sizes[i]);
			it_send_packet(from, to->pub, pkt, sizes[i]);
			it_expect_packet(to, from->pub, pkt, sizes[i], IT_FRAME_TIMEOUT_MS);
		}
	}
}

static uint64_t mesh_figure(struct mgmt_daemon *d, const char *addr, const char *name)
{
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "mesh", NULL);
	uint64_t v = UINT64_MAX;
	const struct json_value *peers = json_get(doc.root, "peers");
	for (const struct json_value *p = peers ? peers->child : NULL; p; p = p->next) {
		if (strcmp(json_get_str(p, "address", ""), addr) == 0)
			v = json_get_u64(p, name, UINT64_MAX);
	}
	json_doc_free(&doc);
	IT_REQUIRE(v != UINT64_MAX, "show mesh has no %s for %s", name, addr);
	return v;
}

/* Clients on each pair of relays reach each other, both ways; the figures say by which way. */
static void all_pairs_exchange(struct region *g)
{
	struct derp_client *c[NRELAYS];
	for (int i = 0; i < NRELAYS; i++)
		c[i] = client_on(g, i);
	for (int i = 0; i < NRELAYS; i++) {
		for (int j = 0; j < NRELAYS; j++) {
			if (i != j)
				await_route(c[i], c[j]);
		}
	}
	for (int i = 0; i < NRELAYS; i++) {
		for (int j = i + 1; j < NRELAYS; j++)
			exchange(c[i], c[j]);
	}
	char a1[64];
	entry_text(g, 1, a1, sizeof(a1));
	/* Relay 0 forwarded to relay 1 (at least the 5 packets of the exchange). */
	IT_REQUIRE(mesh_figure(g->d[0], a1, "packets_out") >= 5, "relay 0 sent nothing to 1");
	IT_REQUIRE(mesh_figure(g->d[0], a1, "packets_in") >= 5, "relay 0 got nothing from 1");
	char label[96];
	snprintf(label, sizeof(label), "peer=\"%s\"", a1);
	IT_REQUIRE(md_scrape(g->d[0], "hyperderp_mesh_forwarded_out_packets_total", label) ==
		       (int64_t)mesh_figure(g->d[0], a1, "packets_out"),
		   "/metrics and show mesh disagree");
	for (int i = 0; i < NRELAYS; i++)
		it_client_close(c[i]);
}

static void test_region_plain(void)
{
	struct region g;
	region_start(&g, false);
	region_files_remove(&g);
	all_pairs_exchange(&g);
	region_stop(&g);
}

static void test_region_tls(void)
{
	struct region g;
	region_start(&g, true);
	all_pairs_exchange(&g);
	region_files_remove(&g);
	region_stop(&g);
}

/*
 * Relay 1 restarts (SIGTERM, then the same port): the others see the
 * connection break, drop its keys, redial, and traffic to a client that
 * reconnects there resumes.
 */
static void test_region_relay_restart(void)
{
	struct region g;
	region_start(&g, false);
	struct derp_client *a = client_on(&g, 0);
	struct derp_client *b = client_on(&g, 1);
	await_route(a, b);
	await_route(b, a);
	exchange(a, b);

	it_client_close(b);
	md_stop(g.d[1]);
	start_relay(&g, 1);
	for (int i = 0; i < NRELAYS; i++)
		await_mesh(&g, i);
	char a1[64];
	entry_text(&g, 1, a1, sizeof(a1));
	IT_REQUIRE(mesh_figure(g.d[0], a1, "reconnects") >= 1, "relay 0 counted no reconnect");
	b = client_on(&g, 1);
	await_route(a, b);
	await_route(b, a);
	exchange(a, b);
	region_files_remove(&g);
	region_stop(&g);
}

/*
 * A client on relay 0 that was sent packets by a client of relay 1 hears
 * PeerGone (disconnected) when that client leaves relay 1, as from derper
 * (notePeerGoneFromRegionLocked): the region lost the key. Before that, relay 0's own mesh watcher
 * saw nothing of the remote key (watchers hear of a relay's own clients only).
 */
static void test_region_peer_gone_reaches_sender(void)
{
	struct region g;
	region_start(&g, false);
	region_files_remove(&g);
	struct derp_client_opts mo = { .mesh_key = g.mesh_key };
	struct derp_client *watcher = it_connect(&g.d[0]->it, &mo);
	uint8_t f[DERP_FRAME_HDR_LEN];
	it_send_raw(watcher, f, derp_build_watch_conns(f, sizeof(f)));
	struct derp_client *a = client_on(&g, 0);
	struct derp_client *b = client_on(&g, 1);
	await_route(b, a);

	it_client_close(b);
	uint32_t len;
	const uint8_t *p = it_expect_frame(a, DERP_FRAME_PEER_GONE, ROUTE_TIMEOUT_MS, &len);
	IT_REQUIRE(len == KEY_LEN + 1, "PeerGone of %u bytes", len);
	IT_REQUIRE(memcmp(p, b->pub, KEY_LEN) == 0, "PeerGone for another key");
	IT_REQUIRE(p[KEY_LEN] == DERP_PEER_GONE_DISCONNECTED, "reason %u", p[KEY_LEN]);

	/* The watcher on relay 0: PeerPresent for a (local), never anything about b (remote). */
	for (;;) {
		uint8_t type;
		int rc = it_read_frame(watcher, 500, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "watcher closed");
		if (rc == 0)
			break;
		IT_REQUIRE(len >= KEY_LEN && memcmp(p, b->pub, KEY_LEN) != 0,
			   "relay 0's watcher heard %s about a key of relay 1", it_type_name(type));
	}
	region_stop(&g);
}

/*
 * A ForwardPacket is delivered locally or dropped, never forwarded again:
 * a mesh peer sends relay 0 a packet for a key homed on relay 1, and relay
 * 1 must not receive it (relay 0 counts it as unknown_dest_on_fwd).
 */
static void test_region_forwarded_never_forwarded_again(void)
{
	struct region g;
	region_start(&g, false);
	region_files_remove(&g);
	struct derp_client *a = client_on(&g, 0);
	struct derp_client *b = client_on(&g, 1);
	await_route(a, b);

	int64_t fwd_in_1 = md_scrape(g.d[1], "hyperderp_forwarded_in_packets_total", NULL);
	int64_t drop_0 = md_scrape(g.d[0], "hyperderp_dropped_packets_total",
				   "reason=\"unknown_dest_on_fwd\",kind=\"other\"");
	struct derp_client_opts mo = { .mesh_key = g.mesh_key };
	struct derp_client *m = it_connect(&g.d[0]->it, &mo);
	uint8_t pkt[200], f[DERP_FRAME_HDR_LEN + 2 * KEY_LEN + sizeof(pkt)];
	randombytes_buf(pkt, sizeof(pkt));
	size_t n = derp_build_forward_packet(f, sizeof(f), a->pub, b->pub, pkt, sizeof(pkt));
	it_send_raw(m, f, n);
	it_expect_ping_pong(m); /* relay 0 has handled the ForwardPacket */

	it_expect_quiet(b, 500);
	int64_t deadline = it_now_ms() + IT_FRAME_TIMEOUT_MS;
	while (md_scrape(g.d[0], "hyperderp_dropped_packets_total",
			 "reason=\"unknown_dest_on_fwd\",kind=\"other\"") != drop_0 + 1) {
		IT_REQUIRE(it_now_ms() < deadline, "relay 0 did not count the drop");
		it_sleep_ms(20);
	}
	IT_REQUIRE(md_scrape(g.d[1], "hyperderp_forwarded_in_packets_total", NULL) == fwd_in_1,
		   "relay 1 received a packet relay 0 had been forwarded");
	/* The route itself still works: a's packets do reach b through the mesh. */
	exchange(a, b);
	region_stop(&g);
}

/*
 * Sends from `from` to key until one of `x`'s n connections gets it;
 * returns which. Later warm-up packets are read off both.
 */
static int await_route_any(struct derp_client *from, const uint8_t key[KEY_LEN],
			   struct derp_client **x, int n)
{
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	uint8_t pkt[48];
	int got = -1;
	for (uint32_t i = 0; got < 0; i++) {
		IT_REQUIRE(it_now_ms() < deadline, "no route after %d ms", ROUTE_TIMEOUT_MS);
		it_fill_pattern(pkt, sizeof(pkt), 0x7700 + i);
		it_send_packet(from, key, pkt, sizeof(pkt));
		for (int k = 0; k < n && got < 0; k++) {
			uint8_t type;
			const uint8_t *p;
			uint32_t len;
			int rc = it_read_frame(x[k], 50, &type, &p, &len);
			IT_REQUIRE(rc >= 0, "receiver %d closed", k);
			if (rc == 1 && type == DERP_FRAME_RECV_PACKET)
				got = k;
		}
	}
	for (int k = 0; k < n; k++) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		while (it_read_frame(x[k], 300, &type, &p, &len) == 1)
			IT_REQUIRE(type == DERP_FRAME_RECV_PACKET, "got %s", it_type_name(type));
	}
	return got;
}

/* A row of show mesh keys for one key. */
struct key_row {
	char peer[64], addr[64];
	uint64_t flags;
	bool first;
};

/* The rows relay d shows for key (at most max); returns how many there are. */
static int mesh_key_rows(struct mgmt_daemon *d, const uint8_t key[KEY_LEN], struct key_row *rows,
			 int max)
{
	char nodekey[80];
	md_nodekey(key, nodekey);
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "mesh", "keys", NULL);
	int n = 0;
	const struct json_value *keys = json_get(doc.root, "keys");
	for (const struct json_value *k = keys ? keys->child : NULL; k; k = k->next) {
		if (strcmp(json_get_str(k, "key", ""), nodekey) != 0)
			continue;
		if (n < max) {
			snprintf(rows[n].peer, sizeof(rows[n].peer), "%s",
				 json_get_str(k, "peer", "?"));
			snprintf(rows[n].addr, sizeof(rows[n].addr), "%s",
				 json_get_str(k, "addr", "?"));
			rows[n].flags = json_get_u64(k, "flags", UINT64_MAX);
			rows[n].first = json_get_bool(k, "first", false);
		}
		n++;
	}
	json_doc_free(&doc);
	return n;
}

/* Waits until relay d shows key on n mesh peers; returns the rows. */
static void await_mesh_key_rows(struct mgmt_daemon *d, const uint8_t key[KEY_LEN],
				struct key_row *rows, int n)
{
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	int got;
	while ((got = mesh_key_rows(d, key, rows, n)) != n) {
		IT_REQUIRE(it_now_ms() < deadline, "show mesh keys lists the key %d times, want %d",
			   got, n);
		it_sleep_ms(50);
	}
}

/* The row says: homed on relay j, at the address c connects from, a regular client. */
static void require_row(const struct region *g, const struct key_row *row, int j,
			const struct derp_client *c, bool first)
{
	char entry[64], addr[64];
	entry_text(g, j, entry, sizeof(entry));
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	IT_REQUIRE(getsockname(c->fd, (struct sockaddr *)&sin, &len) == 0, "getsockname");
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(sin.sin_port));
	IT_REQUIRE(strcmp(row->peer, entry) == 0, "peer %s, want %s", row->peer, entry);
	IT_REQUIRE(strcmp(row->addr, addr) == 0, "address %s, want %s", row->addr, addr);
	IT_REQUIRE(row->flags == DERP_PEER_PRESENT_IS_REGULAR, "flags %" PRIu64 ", want regular",
		   row->flags);
	IT_REQUIRE(row->first == first, "%s shown %s", entry, first ? "second" : "first");
}

/*
 * One node key on relays 1 and 2 at once (a client reconnecting, say):
 * relay 0 sends its packets to the one that announced it first, as
 * derper's multiForwarder does, and show mesh keys says which, with the
 * address and flags each relay announced; when that connection goes, to
 * the other, and its senders are not told PeerGone, for the key is
 * still in the region. When the second goes too, they are.
 */
static void test_region_key_on_two_relays(void)
{
	struct region g;
	region_start(&g, false);
	region_files_remove(&g);
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);
	struct key_row rows[2];
	/* One after the other, each seen by relay 0 first: relay 1 announced the key first. */
	struct derp_client *x[2];
	x[0] = it_connect_with_key(&g.d[1]->it, priv);
	await_mesh_key_rows(g.d[0], pub, rows, 1);
	require_row(&g, &rows[0], 1, x[0], true);
	x[1] = it_connect_with_key(&g.d[2]->it, priv);
	await_mesh_key_rows(g.d[0], pub, rows, 2);
	char e1[64];
	entry_text(&g, 1, e1, sizeof(e1));
	int on1 = strcmp(rows[0].peer, e1) == 0 ? 0 : 1;
	require_row(&g, &rows[on1], 1, x[0], true);
	require_row(&g, &rows[1 - on1], 2, x[1], false);

	struct derp_client *a = client_on(&g, 0);
	/* a hears from the key (so it is told when the key leaves the region). */
	await_route(x[0], a);
	int first = await_route_any(a, pub, x, 2);
	IT_REQUIRE(first == 0, "packets went to relay 2, show mesh keys says relay 1 is first");
	it_client_close(x[first]);
	struct derp_client *rest = x[1 - first];
	int again = await_route_any(a, pub, &rest, 1);
	IT_REQUIRE(again == 0, "no route to the key's other relay");
	await_mesh_key_rows(g.d[0], pub, rows, 1);
	require_row(&g, &rows[0], 2, rest, true);
	exchange(a, rest);
	it_expect_ping_pong(a); /* no PeerGone came before the Pong */

	it_client_close(rest);
	uint32_t len;
	const uint8_t *p = it_expect_frame(a, DERP_FRAME_PEER_GONE, ROUTE_TIMEOUT_MS, &len);
	IT_REQUIRE(len == KEY_LEN + 1 && memcmp(p, pub, KEY_LEN) == 0, "PeerGone for another key");
	region_stop(&g);
}

/*
 * The mesh key is sealed to whatever server key answers, so a TLS mesh
 * peer must prove itself: relay 0 without mesh.ca_file (the system's roots)
 * refuses relay 1's self-signed certificate and never connects; with the
 * certificate as its mesh.ca_file it does.
 */
static void test_region_tls_peer_verified(void)
{
	struct region g = { .tls = true };
	snprintf(g.dir, sizeof(g.dir), "/tmp/hd-mesh-verify-XXXXXX");
	IT_REQUIRE(mkdtemp(g.dir) != NULL, "mkdtemp: %s", strerror(errno));
	randombytes_buf(g.mesh_key, sizeof(g.mesh_key));
	char hex[KEY_HEX_LEN + 2];
	key_to_hex(g.mesh_key, hex);
	strcat(hex, "\n");
	snprintf(g.mesh_key_path, sizeof(g.mesh_key_path), "%s/mesh.key", g.dir);
	write_text(g.mesh_key_path, hex);
	it_tls_files_make(&g.certs, "hd-mesh-verify");
	g.port[1] = it_free_port();
	snprintf(g.ini[1], sizeof(g.ini[1]),
		 "[server]\nmesh_key_file = %s\n[tls]\ncert = %s\nkey = %s\n", g.mesh_key_path,
		 g.certs.cert, g.certs.key);
	start_relay(&g, 1);
	char a1[64];
	entry_text(&g, 1, a1, sizeof(a1));
	snprintf(g.ini[0], sizeof(g.ini[0]),
		 "[server]\nmesh_key_file = %s\n[mesh]\nwith = %s\nretry_ms = 50\n",
		 g.mesh_key_path, a1);
	start_relay(&g, 0);
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	while (mesh_figure(g.d[0], a1, "dial_failures") < 3) {
		IT_REQUIRE(it_now_ms() < deadline, "relay 0 kept no count of its failed dials");
		it_sleep_ms(50);
	}
	IT_REQUIRE(mesh_figure(g.d[0], a1, "connects") == 0,
		   "relay 0 connected to a peer its CA roots do not vouch for");
	IT_REQUIRE(it_daemon_log_contains(&g.d[0]->it, "certificate not accepted"),
		   "relay 0's log does not say why");
	md_stop(g.d[0]);

	snprintf(g.ini[0], sizeof(g.ini[0]),
		 "[server]\nmesh_key_file = %s\n[mesh]\nwith = %s\nretry_ms = 50\nca_file = %s\n",
		 g.mesh_key_path, a1, g.certs.cert);
	start_relay(&g, 0);
	deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	while (mesh_figure(g.d[0], a1, "connects") < 1) {
		IT_REQUIRE(it_now_ms() < deadline, "relay 0 did not connect with mesh.ca_file");
		it_sleep_ms(50);
	}
	region_files_remove(&g);
	md_stop(g.d[0]);
	md_stop(g.d[1]);
}

/*
 * A partition: relay 1 stops (SIGSTOP) while relay 0 forwards to it. Relay
 * 0's writes stall; after mesh.write_timeout_ms (set live to 300 ms) it
 * closes the connection (mesh_write_timeouts_total), forgets relay 1's
 * keys, and once relay 1 runs again it redials and traffic resumes.
 */
static void test_region_partition_write_timeout(void)
{
	struct region g;
	region_start(&g, false);
	region_files_remove(&g);
	struct md_out o;
	IT_REQUIRE(
	    md_cli(g.d[0], &o, NULL, "config", "set", "mesh.write_timeout_ms", "300", NULL) == 0 &&
		md_cli(g.d[0], &o, NULL, "config", "commit", NULL) == 0,
	    "setting mesh.write_timeout_ms: %s", o.err);
	struct derp_client *a = client_on(&g, 0);
	struct derp_client *b = client_on(&g, 1);
	await_route(a, b);

	char a1[64], label[96];
	entry_text(&g, 1, a1, sizeof(a1));
	snprintf(label, sizeof(label), "peer=\"%s\"", a1);
	IT_REQUIRE(kill(g.d[1]->it.pid, SIGSTOP) == 0, "SIGSTOP: %s", strerror(errno));
	static uint8_t pkt[60000];
	randombytes_buf(pkt, sizeof(pkt));
	int64_t deadline = it_now_ms() + ROUTE_TIMEOUT_MS;
	while (md_scrape(g.d[0], "hyperderp_mesh_write_timeouts_total", label) < 1) {
		if (it_now_ms() >= deadline)
			kill(g.d[1]->it.pid, SIGCONT);
		IT_REQUIRE(it_now_ms() < deadline, "relay 0 never gave up on the stalled peer");
		for (int i = 0; i < 32; i++)
			it_send_packet(a, b->pub, pkt, sizeof(pkt));
		it_sleep_ms(20);
	}
	IT_REQUIRE(kill(g.d[1]->it.pid, SIGCONT) == 0, "SIGCONT: %s", strerror(errno));
	IT_REQUIRE(mesh_figure(g.d[0], a1, "reconnects") >= 1, "no reconnect counted");
	/* The bound's counter in show counters too, beside /metrics. */
	struct json_doc doc;
	md_cli_json(g.d[0], &doc, "show", "counters", NULL);
	const struct json_value *mesh = json_get(json_get(doc.root, "mesh"), a1);
	uint64_t timeouts = mesh ? json_get_u64(mesh, "write_timeouts", 0) : 0;
	json_doc_free(&doc);
	IT_REQUIRE(timeouts >= 1, "show counters has no mesh write timeout for %s", a1);
	await_mesh(&g, 0);
	struct derp_client *b2 = client_on(&g, 1);
	await_route(a, b2);
	await_route(b2, a);
	exchange(a, b2);
	region_stop(&g);
}

/*
 * A client with the mesh key gets mesh.write_timeout_ms, not
 * limits.write_timeout_ms: with 300 ms for clients and never for mesh
 * peers, a client and a mesh peer that both stop reading under a flood
 * see the client closed (write_timeout) and the mesh peer kept, which
 * then reads everything it was sent and answers a Ping.
 */
static void test_mesh_peer_gets_the_mesh_write_timeout(void)
{
	struct region g = { 0 };
	snprintf(g.dir, sizeof(g.dir), "/tmp/hd-mesh-wt-XXXXXX");
	IT_REQUIRE(mkdtemp(g.dir) != NULL, "mkdtemp: %s", strerror(errno));
	randombytes_buf(g.mesh_key, sizeof(g.mesh_key));
	char hex[KEY_HEX_LEN + 2];
	key_to_hex(g.mesh_key, hex);
	strcat(hex, "\n");
	snprintf(g.mesh_key_path, sizeof(g.mesh_key_path), "%s/mesh.key", g.dir);
	write_text(g.mesh_key_path, hex);
	snprintf(g.ini[0], sizeof(g.ini[0]),
		 "[server]\nmesh_key_file = %s\n[limits]\nwrite_timeout_ms = 300\n"
		 "[mesh]\nwrite_timeout_ms = 0\n",
		 g.mesh_key_path);
	struct md_opts o = { .ini = g.ini[0] };
	g.d[0] = md_start(&o);
	region_files_remove(&g);

	struct derp_client *sender = it_connect(&g.d[0]->it, NULL);
	struct derp_client *plain = it_connect(&g.d[0]->it, NULL);
	struct derp_client_opts mo = { .mesh_key = g.mesh_key };
	struct derp_client *mesh = it_connect(&g.d[0]->it, &mo);
	int small = 4096;
	setsockopt(plain->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	setsockopt(mesh->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

	static uint8_t pkt[60000];
	randombytes_buf(pkt, sizeof(pkt));
	const char *closed = "reason=\"write_timeout\"";
	int64_t deadline = it_now_ms() + 20000;
	while (md_scrape(g.d[0], "hyperderp_connections_closed_total", closed) < 1) {
		IT_REQUIRE(it_now_ms() < deadline, "the stalled client was not closed");
		for (int i = 0; i < 8; i++) {
			it_send_packet(sender, plain->pub, pkt, sizeof(pkt));
			it_send_packet(sender, mesh->pub, pkt, sizeof(pkt));
		}
		it_sleep_ms(50);
	}
	/* Well past the clients' 300 ms with the mesh peer still stalled. */
	for (int i = 0; i < 10; i++) {
		it_send_packet(sender, mesh->pub, pkt, sizeof(pkt));
		it_sleep_ms(100);
	}
	IT_REQUIRE(md_scrape(g.d[0], "hyperderp_connections_closed_total", closed) == 1,
		   "the mesh peer was closed by limits.write_timeout_ms");
	/* Alive: it answers a Ping once it reads what was queued for it (zero-window probes back
	 * off). */
	int big = 1 << 20;
	setsockopt(mesh->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	uint8_t ping[8];
	randombytes_buf(ping, sizeof(ping));
	IT_REQUIRE(derp_client_send_ping(mesh, ping) == 0, "send Ping");
	deadline = it_now_ms() + 20000;
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(mesh, 1000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the mesh peer was closed");
		if (rc == 1 && type == DERP_FRAME_PONG && len == 8 && memcmp(p, ping, 8) == 0)
			break;
		IT_REQUIRE(it_now_ms() < deadline, "no Pong from the relay");
	}
	md_stop(g.d[0]);
}

/* mesh.with without a mesh key is refused at start (derper: --mesh-with requires --mesh-psk-file).
 */
static void test_mesh_with_needs_the_mesh_key(void)
{
	static char log[65536];
	struct md_opts o = { .ini = "[mesh]\nwith = http://127.0.0.1:1\n" };
	IT_REQUIRE(md_start_failing(&o, log, sizeof(log)) == 1, "exit status not 1: %s", log);
	IT_REQUIRE(strstr(log, "mesh.with needs server.mesh_key_file"), "log: %s", log);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_region_plain),
		IT_TEST(test_region_tls),
		IT_TEST(test_region_relay_restart),
		IT_TEST(test_region_peer_gone_reaches_sender),
		IT_TEST(test_region_forwarded_never_forwarded_again),
		IT_TEST(test_region_key_on_two_relays),
		IT_TEST(test_region_tls_peer_verified),
		IT_TEST(test_region_partition_write_timeout),
		IT_TEST(test_mesh_peer_gets_the_mesh_write_timeout),
		IT_TEST(test_mesh_with_needs_the_mesh_key),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
