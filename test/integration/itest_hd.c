// SPDX-License-Identifier: MIT
/*
 * HD on the relay (docs/hd-protocol.md), with libhd as the client: the
 * upgrade, the proof of key possession and the enrollment tokens (each
 * refusal told and counted, a replayed Auth refused), content-checked
 * packets between HD peers on two workers, plain and TLS, Lookup and
 * PeerGone, and a client breaking the rules closing only itself.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "hd.h"
#include "hd_auth.h"
#include "hd_frame.h"
#include "key.h"

#define REVOKED_ID 0xab /* a token id the revocation file lists, 8 times */

static char revoked_path[128];
static struct it_tls_files tls_files;

struct peer {
	uint8_t priv[32], pub[32];
	struct hd_client *c;
};

static void peer_new(struct peer *p)
{
	crypto_box_keypair(p->pub, p->priv);
	p->c = NULL;
}

/* The token secret the daemon made beside its key. */
static void daemon_secret(struct it_daemon *d, uint8_t secret[32])
{
	char path[400], err[256];
	snprintf(path, sizeof(path), "%s/hd-token.secret", d->dir);
	IT_REQUIRE(mesh_key_file_load(path, secret, err, sizeof(err)) == 0, "%s", err);
}

static void token_for(struct it_daemon *d, const uint8_t key[32], uint8_t id_byte, uint64_t expiry,
		      char out[HD_TOKEN_TEXT_LEN + 1])
{
	uint8_t secret[32], id[8];
	daemon_secret(d, secret);
	memset(id, id_byte, sizeof(id));
	hd_token_issue(secret, id, key, expiry, out);
}

static int hd_connect(struct it_daemon *d, struct peer *p, const char *token, bool tls, char *err,
		      size_t errlen)
{
	struct hd_client_config cfg = {
		.host = "127.0.0.1",
		.port = d->port,
		.tls = tls,
		.ca_file = tls ? tls_files.cert : NULL,
		.token = token,
		.timeout_ms = 5000,
	};
	memcpy(cfg.private_key, p->priv, 32);
	return hd_client_connect(&cfg, &p->c, err, errlen);
}

static void must_connect(struct it_daemon *d, struct peer *p, const char *token, bool tls)
{
	char err[256];
	IT_REQUIRE(hd_connect(d, p, token, tls, err, sizeof(err)) == 0, "HD connect: %s", err);
	IT_REQUIRE(hd_client_peer_id(p->c) != 0, "no peer id");
}

static void must_refuse(struct it_daemon *d, struct peer *p, const char *token, const char *want)
{
	char err[256];
	IT_REQUIRE(hd_connect(d, p, token, false, err, sizeof(err)) < 0, "admitted, wanted %s",
		   want);
	IT_REQUIRE(strstr(err, want), "refused with \"%s\", wanted \"%s\"", err, want);
}

static int next_event(struct peer *p, struct hd_event *ev)
{
	return hd_client_next(p->c, ev, IT_FRAME_TIMEOUT_MS);
}

/* Sends a packet of each size a -> b and checks every byte and the source id. */
static void exchange(struct peer *a, struct peer *b, uint64_t seed)
{
	static const size_t sizes[] = { 0, 1, 100, 1400, 16384, 65536 };
	static uint8_t pkt[65536];
	struct hd_event ev;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		it_fill_pattern(pkt, sizes[i], seed + i);
		IT_REQUIRE(hd_client_send(a->c, hd_client_peer_id(b->c), pkt, sizes[i]) == 0,
			   "send: %s", hd_client_error(a->c));
	}
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		it_fill_pattern(pkt, sizes[i], seed + i);
		IT_REQUIRE(next_event(b, &ev) == 1 && ev.type == HD_EVENT_PACKET,
			   "packet %zu (%zu bytes) did not arrive", i, sizes[i]);
		IT_REQUIRE(ev.peer_id == hd_client_peer_id(a->c), "source id %u, want %u",
			   ev.peer_id, hd_client_peer_id(a->c));
		IT_REQUIRE(ev.len == sizes[i] && memcmp(ev.data, pkt, sizes[i]) == 0,
			   "packet %zu: %zu bytes, want %zu, or different bytes", i, ev.len,
			   sizes[i]);
	}
}

/*
 * 2,000 packets a -> b in windows of 100 (120 KB, well inside the queue's
 * byte budget, so nothing is dropped by design), in order, every byte checked.
 */
static void burst(struct peer *a, struct peer *b)
{
	uint8_t pkt[1200];
	struct hd_event ev;
	for (uint32_t base = 0; base < 2000; base += 100) {
		for (uint32_t i = base; i < base + 100; i++) {
			it_fill_pattern(pkt, sizeof(pkt), 1000 + i);
			IT_REQUIRE(
			    hd_client_send(a->c, hd_client_peer_id(b->c), pkt, sizeof(pkt)) == 0,
			    "send: %s", hd_client_error(a->c));
		}
		for (uint32_t i = base; i < base + 100; i++) {
			it_fill_pattern(pkt, sizeof(pkt), 1000 + i);
			IT_REQUIRE(next_event(b, &ev) == 1 && ev.type == HD_EVENT_PACKET,
				   "packet %u lost", i);
			IT_REQUIRE(ev.len == sizeof(pkt) && memcmp(ev.data, pkt, sizeof(pkt)) == 0,
				   "packet %u out of order or changed", i);
		}
	}
}

static struct it_daemon *start(bool require_token, bool tls)
{
	static char ini[1024];
	int n = snprintf(ini, sizeof(ini), "[hd]\nrequire_token = %s\nrevoked_file = %s\n",
			 require_token ? "true" : "false", revoked_path);
	if (tls)
		snprintf(ini + n, sizeof(ini) - (size_t)n, "[tls]\ncert = %s\nkey = %s\n",
			 tls_files.cert, tls_files.key);
	struct it_daemon_opts o = { .workers = 2, .ini = ini, .tls = tls };
	return it_daemon_start(&o);
}

static void relay_between(bool tls)
{
	struct it_daemon *d = start(false, tls);
	struct peer a, b;
	struct hd_event ev;
	peer_new(&a);
	peer_new(&b);
	must_connect(d, &a, NULL, tls);
	must_connect(d, &b, NULL, tls);
	IT_REQUIRE(hd_client_peer_id(a.c) != hd_client_peer_id(b.c), "two peers, one id");
	/* Round-robin handoff: the two are on different workers. */
	IT_REQUIRE(it_daemon_worker_of(d, a.pub) != it_daemon_worker_of(d, b.pub),
		   "both peers on one worker: the cross-worker path is not tested");
	exchange(&a, &b, 1);
	exchange(&b, &a, 2);
	burst(&a, &b);

	/* Lookup: b's id by its key, and id 0 for a key the relay never saw. */
	IT_REQUIRE(hd_client_lookup(a.c, b.pub) == 0, "lookup");
	IT_REQUIRE(next_event(&a, &ev) == 1 && ev.type == HD_EVENT_PEER_INFO, "no PeerInfo");
	IT_REQUIRE(ev.peer_id == hd_client_peer_id(b.c) && memcmp(ev.key, b.pub, 32) == 0,
		   "PeerInfo names id %u", ev.peer_id);
	uint8_t stranger[32];
	randombytes_buf(stranger, sizeof(stranger));
	IT_REQUIRE(hd_client_lookup(a.c, stranger) == 0, "lookup");
	IT_REQUIRE(next_event(&a, &ev) == 1 && ev.type == HD_EVENT_PEER_INFO && ev.peer_id == 0,
		   "an unknown key got id %u", ev.peer_id);

	/* A Send to an id nobody has: PeerGone, not here. */
	IT_REQUIRE(hd_client_send(a.c, 0xfff0, "x", 1) == 0, "send");
	IT_REQUIRE(next_event(&a, &ev) == 1 && ev.type == HD_EVENT_PEER_GONE &&
		       ev.peer_id == 0xfff0 && ev.reason == HD_GONE_NOT_HERE,
		   "no PeerGone for an unknown id");

	/* b reconnects: the same key keeps its id, and packets reach the new connection. */
	uint16_t b_id = hd_client_peer_id(b.c);
	hd_client_close(b.c);
	must_connect(d, &b, NULL, tls);
	IT_REQUIRE(hd_client_peer_id(b.c) == b_id, "id %u after reconnecting, was %u",
		   hd_client_peer_id(b.c), b_id);
	it_sleep_ms(100); /* its registration reaches a's worker */
	exchange(&a, &b, 3);

	/* a leaves: b, which got packets from a, hears PeerGone with a's id. */
	uint16_t a_id = hd_client_peer_id(a.c);
	hd_client_close(a.c);
	IT_REQUIRE(next_event(&b, &ev) == 1 && ev.type == HD_EVENT_PEER_GONE &&
		       ev.peer_id == a_id && ev.reason == HD_GONE_DISCONNECTED,
		   "no PeerGone for %u (event %d, id %u)", a_id, ev.type, ev.peer_id);
	hd_client_close(b.c);
	it_daemon_require_alive(d);
	it_daemon_signal(d, SIGTERM);
	IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS), "daemon did not stop");
}

static void test_relay_plain(void)
{
	relay_between(false);
}

static void test_relay_tls(void)
{
	relay_between(true);
}

static void test_tokens(void)
{
	struct it_daemon *d = start(true, false);
	struct peer a, b, x;
	char tok[HD_TOKEN_TEXT_LEN + 1], other[HD_TOKEN_TEXT_LEN + 1];
	peer_new(&a);
	peer_new(&b);
	peer_new(&x);

	must_refuse(d, &x, NULL, "no-token");
	token_for(d, a.pub, 1, 0, tok);
	must_refuse(d, &x, tok, "wrong-key"); /* a's token, x's key */
	token_for(d, x.pub, 2, 1000, other);  /* expired in 1970 */
	must_refuse(d, &x, other, "expired");
	token_for(d, x.pub, REVOKED_ID, 0, other);
	must_refuse(d, &x, other, "revoked");
	/* A token with one character changed: its MAC fails. */
	token_for(d, x.pub, 3, 0, other);
	other[40] = other[40] == 'A' ? 'B' : 'A';
	must_refuse(d, &x, other, "no-token");

	must_connect(d, &a, tok, false);
	token_for(d, b.pub, 4, (uint64_t)time(NULL) + 3600, other);
	must_connect(d, &b, other, false);
	exchange(&a, &b, 7);
	IT_REQUIRE(it_daemon_log_contains(d, "hd: [::ffff:127.0.0.1]"), "refusals not logged");
	hd_client_close(a.c);
	hd_client_close(b.c);
	it_daemon_require_alive(d);
	it_daemon_signal(d, SIGTERM);
	IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS), "daemon did not stop");
}

/* Reads until the head's end and the ServerHello; returns its challenge. */
static void raw_upgrade(int fd, uint8_t relay_key[32], uint8_t challenge[32])
{
	const char req[] = "GET /hd HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: hd\r\n"
			   "HD-Version: 1\r\n\r\n";
	uint8_t buf[4096];
	size_t have = 0;
	IT_REQUIRE(send(fd, req, sizeof(req) - 1, 0) == (ssize_t)(sizeof(req) - 1), "send");
	for (;;) {
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
		IT_REQUIRE(k > 0, "no ServerHello");
		have += (size_t)k;
		uint8_t *end = memmem(buf, have, "\r\n\r\n", 4);
		if (end && have >= (size_t)(end + 4 - buf) + 4 + 65) {
			const uint8_t *f = end + 4;
			IT_REQUIRE(f[0] == HD_FRAME_SERVER_HELLO, "frame 0x%02x, not ServerHello",
				   f[0]);
			memcpy(relay_key, f + 5, 32);
			memcpy(challenge, f + 37, 32);
			return;
		}
	}
}

static void expect_denied(int fd, uint8_t reason)
{
	uint8_t buf[512];
	size_t have = 0;
	while (have < 5) {
		ssize_t k = recv(fd, buf + have, sizeof(buf) - have, 0);
		IT_REQUIRE(k > 0, "closed without Denied");
		have += (size_t)k;
	}
	IT_REQUIRE(buf[0] == HD_FRAME_DENIED && buf[4] == reason,
		   "frame 0x%02x reason %u, want "
		   "Denied %u",
		   buf[0], buf[4], reason);
}

/* An Auth recorded on one connection and played on another opens to a stale challenge. */
static void test_replay_refused(void)
{
	struct it_daemon *d = start(false, false);
	struct peer a;
	uint8_t relay_key[32], ch1[32], ch2[32], zero[32] = { 0 }, auth[1100];
	peer_new(&a);

	int fd1 = it_tcp_connect(d);
	raw_upgrade(fd1, relay_key, ch1);
	size_t n = hd_auth_build(auth, sizeof(auth), a.priv, a.pub, relay_key, ch1, zero, NULL, 0);
	IT_REQUIRE(n > 0, "Auth");
	close(fd1); /* recorded, never used there */

	int fd2 = it_tcp_connect(d);
	raw_upgrade(fd2, relay_key, ch2);
	IT_REQUIRE(memcmp(ch1, ch2, 32) != 0, "the challenge repeated");
	IT_REQUIRE(send(fd2, auth, n, 0) == (ssize_t)n, "send");
	expect_denied(fd2, HD_REASON_BAD_PROOF);
	close(fd2);

	/* A client speaking a relay's frame after Welcome: closed, and only it. */
	struct peer b, c;
	peer_new(&b);
	peer_new(&c);
	must_connect(d, &a, NULL, false);
	must_connect(d, &b, NULL, false);
	must_connect(d, &c, NULL, false);
	uint8_t f[16];
	size_t fn = hd_build_welcome(f, sizeof(f), 1, 0, 0);
	IT_REQUIRE(send(hd_client_fd(c.c), f, fn, 0) == (ssize_t)fn, "send");
	struct hd_event ev;
	IT_REQUIRE(next_event(&c, &ev) == 1 && ev.type == HD_EVENT_CLOSED,
		   "the rule breaker was not closed");
	exchange(&a, &b, 9);

	hd_client_close(a.c);
	hd_client_close(b.c);
	hd_client_close(c.c);
	it_daemon_require_alive(d);
	it_daemon_signal(d, SIGTERM);
	IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS), "daemon did not stop");
}

/* The upgrade's answers: a version we do not speak, and no Upgrade header. */
static void test_upgrade_answers(void)
{
	struct it_daemon *d = start(false, false);
	static const struct {
		const char *req, *want;
	} cases[] = {
		{ "GET /hd HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: "
		  "hd\r\nHD-Version: "
		  "2\r\n\r\n",
		  "HD-Version: 1" },
		{ "GET /hd HTTP/1.1\r\nHost: x\r\n\r\n", "HD requires connection upgrade" },
	};
	for (size_t i = 0; i < 2; i++) {
		char buf[1024] = { 0 };
		int fd = it_tcp_connect(d);
		IT_REQUIRE(send(fd, cases[i].req, strlen(cases[i].req), 0) > 0, "send");
		size_t have = 0;
		ssize_t k;
		while ((k = recv(fd, buf + have, sizeof(buf) - 1 - have, 0)) > 0)
			have += (size_t)k;
		close(fd);
		IT_REQUIRE(strncmp(buf, "HTTP/1.1 426", 12) == 0 && strstr(buf, cases[i].want),
			   "case %zu answered: %.60s", i, buf);
	}
	it_daemon_signal(d, SIGTERM);
	IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS), "daemon did not stop");
}

static void cleanup(void)
{
	unlink(revoked_path);
	it_tls_files_remove(&tls_files);
}

static void setup(void)
{
	snprintf(revoked_path, sizeof(revoked_path), "/tmp/hd-it-revoked-XXXXXX");
	int fd = mkstemp(revoked_path);
	IT_REQUIRE(fd >= 0, "mkstemp");
	dprintf(fd, "# the test's revoked token\ntoken abababababababab\n");
	close(fd);
	it_tls_files_make(&tls_files, "hd-it-hd-tls");
	atexit(cleanup);
}

static void test_all(void)
{
	setup();
}

IT_MAIN(IT_TEST(test_all), IT_TEST(test_upgrade_answers), IT_TEST(test_relay_plain),
	IT_TEST(test_relay_tls), IT_TEST(test_tokens), IT_TEST(test_replay_refused))
