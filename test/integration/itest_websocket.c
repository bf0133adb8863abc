// SPDX-License-Identifier: MIT
/*
 * DERP over WebSocket against the real daemon, with a real WebSocket client
 * library: ws_derp_peer.py (python3-websockets) does the DERP handshake in
 * binary messages and exchanges content-checked packets, round by round,
 * with a normal DERP client, plain and over TLS, on both receive paths. The
 * packets go as single messages, fragmented messages, frames cut across
 * messages with pings between, several frames in one message; the server's
 * answers come back in its own binary messages, and the close handshake
 * is answered.
 *
 * Malformed WebSocket frames, in the handshake (slow path) and after it
 * (dataplane), close that connection only: normal clients connected before
 * keep relaying, and a WebSocket client after them still works.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "derp_frame.h"
#include "harness.h"
#include "json_parse.h"
#include "key.h"
#include "test_mgmt_daemon.h"

#define PEER_TIMEOUT_MS 20000
/* The packet lengths ws_derp_peer.py cycles through (its SIZES): keep the two in step. */
static const size_t sizes[] = {
	1, 100, 120, 121, 1000, 16000, 16384, 16385, 30000, 65535, 65536, 2
};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static char peer_script[512];
static const char *python = "/usr/bin/python3";

struct peer_proc {
	pid_t pid;
	int out; /* its stdout */
	char buf[512];
	size_t len;
};

static void peer_start(struct peer_proc *pp, char *const argv[])
{
	int fds[2];
	IT_REQUIRE(pipe(fds) == 0, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* A failing test exits at once: the peer must not outlive it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execv(python, argv);
		fprintf(stderr, "exec %s: %s\n", python, strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	pp->pid = pid;
	pp->out = fds[0];
	pp->len = 0;
}

/* The peer's next stdout line (without the newline). */
static void peer_line(struct peer_proc *pp, char *line, size_t cap)
{
	int64_t deadline = it_now_ms() + PEER_TIMEOUT_MS;
	for (;;) {
		char *nl = memchr(pp->buf, '\n', pp->len);
		if (nl) {
			size_t n = (size_t)(nl - pp->buf);
			IT_REQUIRE(n < cap, "peer line too long");
			memcpy(line, pp->buf, n);
			line[n] = '\0';
			pp->len -= n + 1;
			memmove(pp->buf, nl + 1, pp->len);
			return;
		}
		int left = (int)(deadline - it_now_ms());
		IT_REQUIRE(left > 0, "no line from ws_derp_peer.py within %d ms", PEER_TIMEOUT_MS);
		struct pollfd pfd = { .fd = pp->out, .events = POLLIN };
		if (poll(&pfd, 1, left) <= 0)
			continue;
		IT_REQUIRE(pp->len < sizeof(pp->buf), "peer output overflow");
		ssize_t r = read(pp->out, pp->buf + pp->len, sizeof(pp->buf) - pp->len);
		IT_REQUIRE(r > 0, "ws_derp_peer.py ended without a line (see its stderr above)");
		pp->len += (size_t)r;
	}
}

static void peer_expect_exit_0(struct peer_proc *pp)
{
	int64_t deadline = it_now_ms() + PEER_TIMEOUT_MS;
	int status = 0;
	pid_t r;
	while ((r = waitpid(pp->pid, &status, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(20);
	if (r == 0) {
		kill(pp->pid, SIGKILL);
		waitpid(pp->pid, &status, 0);
	}
	close(pp->out);
	IT_REQUIRE(r == pp->pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "ws_derp_peer.py failed (status 0x%x; see its stderr above)", status);
}

static void peer_key(struct peer_proc *pp, uint8_t key[KEY_LEN])
{
	char line[128];
	peer_line(pp, line, sizeof(line));
	IT_REQUIRE(strncmp(line, "KEY ", 4) == 0 &&
		       key_from_hex(line + 4, strlen(line + 4), NULL, key) == 0,
		   "peer's first line: %s", line);
}

/* The peer's command line. */
struct peer_args {
	char *v[24];
	int n;
};

/* Adds an option, with its value unless value is NULL. */
static void peer_arg(struct peer_args *a, const char *opt, const char *value)
{
	IT_REQUIRE(a->n + 3 <= (int)(sizeof(a->v) / sizeof(a->v[0])), "peer argv full");
	a->v[a->n++] = (char *)opt;
	if (value)
		a->v[a->n++] = (char *)value;
	a->v[a->n] = NULL;
}

static void peer_args_begin(struct peer_args *a, const char *url, const char *mode,
			    const char *cafile)
{
	a->n = 0;
	a->v[a->n++] = (char *)python;
	a->v[a->n++] = peer_script;
	peer_arg(a, "--url", url);
	peer_arg(a, "--mode", mode);
	if (cafile)
		peer_arg(a, "--cafile", cafile);
}

static void url_of(struct it_daemon *d, bool tls, char *url, size_t cap)
{
	snprintf(url, cap, "%s://127.0.0.1:%u/derp", tls ? "wss" : "ws", d->port);
}

/* COUNT rounds between a WebSocket client and b, each packet checked on both sides. */
static void relay_rounds(struct it_daemon *d, struct derp_client *b, bool tls, const char *cafile,
			 int count, int seed, bool pipeline)
{
	char url[128], peer_hex[KEY_HEX_LEN + 1], count_s[16], seed_s[16];
	url_of(d, tls, url, sizeof(url));
	key_to_hex(b->pub, peer_hex);
	snprintf(count_s, sizeof(count_s), "%d", count);
	snprintf(seed_s, sizeof(seed_s), "%d", seed);
	struct peer_args a;
	peer_args_begin(&a, url, "relay", cafile);
	peer_arg(&a, "--peer", peer_hex);
	peer_arg(&a, "--count", count_s);
	peer_arg(&a, "--seed", seed_s);
	/* The pipelined run also closes with a code of an application's range, to be echoed. */
	if (pipeline) {
		peer_arg(&a, "--pipeline", NULL);
		peer_arg(&a, "--close-code", "4001");
	}
	struct peer_proc pp;
	peer_start(&pp, a.v);
	uint8_t ws_key[KEY_LEN];
	peer_key(&pp, ws_key);

	static uint8_t pkt[65536];
	for (int i = 0; i < count; i++) {
		size_t len = sizes[(size_t)i % NSIZES];
		it_fill_pattern(pkt, len, (uint64_t)(seed + i));
		it_expect_packet(b, ws_key, pkt, len, PEER_TIMEOUT_MS);
		it_fill_pattern(pkt, len, (uint64_t)(seed + 1000 + i));
		it_send_packet(b, ws_key, pkt, len);
	}
	char line[64];
	peer_line(&pp, line, sizeof(line));
	IT_REQUIRE(strcmp(line, "OK") == 0, "peer said %s", line);
	peer_expect_exit_0(&pp);
}

/* One malformed frame of a kind, in the handshake (early) or after it: that connection closes. */
static void bad_frame(struct it_daemon *d, bool tls, const char *cafile, const char *kind,
		      bool early)
{
	char url[128];
	url_of(d, tls, url, sizeof(url));
	struct peer_args a;
	peer_args_begin(&a, url, "bad", cafile);
	peer_arg(&a, "--bad", kind);
	if (early)
		peer_arg(&a, "--early", NULL);
	struct peer_proc pp;
	peer_start(&pp, a.v);
	uint8_t ws_key[KEY_LEN];
	peer_key(&pp, ws_key);
	char line[64];
	peer_line(&pp, line, sizeof(line));
	IT_REQUIRE(strcmp(line, "CLOSED") == 0, "%s frame%s: peer said %s", kind,
		   early ? " in the handshake" : "", line);
	peer_expect_exit_0(&pp);
}

static struct it_tls_files tls_files;

static struct it_daemon *start(bool tls, const char *extra_ini)
{
	static char ini[1024];
	if (!tls) {
		struct it_daemon_opts o = { .ini = extra_ini };
		return it_daemon_start(&o);
	}
	it_tls_files_make(&tls_files, "hd-ws-tls");
	snprintf(ini, sizeof(ini), "%s[tls]\ncert = %s\nkey = %s\n", extra_ini ? extra_ini : "",
		 tls_files.cert, tls_files.key);
	struct it_daemon_opts o = { .ini = ini, .tls = true };
	return it_daemon_start(&o);
}

static void relay_test(bool tls, const char *extra_ini)
{
	struct it_daemon *d = start(tls, extra_ini);
	struct derp_client_opts opts = { .tls = tls };
	struct derp_client *b = it_connect(d, &opts);
	const char *cafile = tls ? tls_files.cert : NULL;
	relay_rounds(d, b, tls, cafile, (int)NSIZES * 2, 7, false);
	/*
	 * The first packet in ClientInfo's WebSocket frame, half of it late: the
	 * worker takes over the slow path's decoder in the middle of a frame.
	 */
	struct derp_client *b2 = it_connect(d, &opts);
	relay_rounds(d, b2, tls, cafile, 4, 11, true);
	/* The closed WebSocket left the relay as it was (b saw it go: PeerGone). */
	struct derp_client *c = it_connect(d, &opts);
	struct derp_client *e = it_connect(d, &opts);
	it_require_relaying(c, e);
	it_daemon_require_alive(d);
	if (tls)
		it_tls_files_remove(&tls_files);
}

static void test_relay_plain(void)
{
	relay_test(false, NULL);
}

static void test_relay_plain_single_recv(void)
{
	relay_test(false, "[server]\nrecv_mode = single\n");
}

static void test_relay_tls(void)
{
	relay_test(true, NULL);
}

/*
 * The relay's own C client (tools/derp_client.c) in WebSocket mode, each of
 * its writes one message: WebSocket to WebSocket and to a normal client,
 * both ways, a 64 KiB packet dribbled in 7-byte messages, and a burst of
 * 64 KiB packets (each comes back cut into 16 KiB messages).
 */
static void c_client_test(bool tls)
{
	struct it_daemon *d = start(tls, NULL);
	struct derp_client_opts ws_opts = { .tls = tls, .websocket = true };
	struct derp_client_opts plain_opts = { .tls = tls };
	struct derp_client *w1 = it_connect(d, &ws_opts);
	struct derp_client *w2 = it_connect(d, &ws_opts);
	struct derp_client *n = it_connect(d, &plain_opts);
	it_require_relaying(w1, w2);
	it_require_relaying(w1, n);
	it_require_relaying(n, w2);
	it_dribble_max_frame(w1, w2, 7, 0, 0, 3);
	it_dribble_max_frame(n, w1, 1000, 0, 0, 4);
	static uint8_t pkt[DERP_MAX_PACKET_SIZE];
	for (int i = 0; i < 8; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)(100 + i));
		it_send_packet(w2, w1->pub, pkt, sizeof(pkt));
	}
	for (int i = 0; i < 8; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)(100 + i));
		it_expect_packet(w1, w2->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	it_daemon_require_alive(d);
	if (tls)
		it_tls_files_remove(&tls_files);
}

static void test_c_client_plain(void)
{
	c_client_test(false);
}

static void test_c_client_tls(void)
{
	c_client_test(true);
}

static const char *const bad_kinds[] = { "unmasked", "text",	     "rsv",    "opcode",
					 "bigping",  "continuation", "hugelen" };

static void bad_frames_test(bool tls)
{
	struct it_daemon *d = start(tls, NULL);
	struct derp_client_opts opts = { .tls = tls };
	struct derp_client *a = it_connect(d, &opts);
	struct derp_client *b = it_connect(d, &opts);
	const char *cafile = tls ? tls_files.cert : NULL;
	for (size_t i = 0; i < sizeof(bad_kinds) / sizeof(bad_kinds[0]); i++) {
		bad_frame(d, tls, cafile, bad_kinds[i], true);
		bad_frame(d, tls, cafile, bad_kinds[i], false);
		it_require_relaying(a, b);
	}
	/* WebSocket itself still works. */
	relay_rounds(d, b, tls, cafile, 4, 99, false);
	struct derp_client *c = it_connect(d, &opts);
	it_require_relaying(a, c);
	it_daemon_require_alive(d);
	if (tls)
		it_tls_files_remove(&tls_files);
}

static void test_bad_frames_plain(void)
{
	bad_frames_test(false);
}

static void test_bad_frames_tls(void)
{
	bad_frames_test(true);
}

/*
 * What an operator sees: WebSocket upgrades, bad frames in the handshake and
 * connections closed for one after it, in /metrics and `show counters`.
 */
static void test_counters(void)
{
	struct md_opts o = { .ini = "[server]\nworkers = 1\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *b = it_connect(&d->it, NULL);
	relay_rounds(&d->it, b, false, NULL, 2, 5, false);
	bad_frame(&d->it, false, NULL, "text", true);
	bad_frame(&d->it, false, NULL, "unmasked", false);
	bad_frame(&d->it, false, NULL, "rsv", false);

	IT_REQUIRE(md_scrape(d, "hyperderp_websocket_upgrades_total", NULL) == 4,
		   "websocket_upgrades_total");
	IT_REQUIRE(md_scrape(d, "hyperderp_websocket_bad_frames_total", NULL) == 1,
		   "websocket_bad_frames_total");
	IT_REQUIRE(md_scrape(d, "hyperderp_connections_closed_total",
			     "reason=\"websocket_bad_frame\"") == 2,
		   "connections_closed_total{websocket_bad_frame}");
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	const struct json_value *slow = json_get(doc.root, "slowpath");
	IT_REQUIRE(json_get_u64(slow, "websocket_upgrades", 0) == 4 &&
		       json_get_u64(slow, "websocket_bad_frames", 0) == 1,
		   "show counters: slowpath.websocket_*");
	IT_REQUIRE(
	    json_get_u64(json_get(doc.root, "connections_closed"), "websocket_bad_frame", 0) == 2,
	    "show counters: connections_closed.websocket_bad_frame");
	json_doc_free(&doc);

	/*
	 * Unmasked in place, a whole frame in a receive buffer is relayed from it
	 * without a copy, as on a plain connection.
	 */
	static const char inplace[] = "hyperderp_worker_packets_inplace_total";
	static const char copied[] = "hyperderp_worker_packets_copied_total";
	struct derp_client_opts ws_opts = { .websocket = true };
	struct derp_client *w = it_connect(&d->it, &ws_opts);
	struct derp_client *n = it_connect(&d->it, NULL);
	it_require_relaying(w, n);
	int64_t inplace0 = md_scrape(d, inplace, "worker=\"0\"");
	int64_t copied0 = md_scrape(d, copied, "worker=\"0\"");
	uint8_t pkt[1000];
	for (int i = 0; i < 10; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(w, n->pub, pkt, sizeof(pkt));
		it_expect_packet(n, w->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	int64_t inplace1 = md_scrape(d, inplace, "worker=\"0\"");
	int64_t copied1 = md_scrape(d, copied, "worker=\"0\"");
	IT_REQUIRE(inplace1 - inplace0 == 10 && copied1 == copied0,
		   "WebSocket packets: %lld relayed in place, %lld copied; want 10 and 0",
		   (long long)(inplace1 - inplace0), (long long)(copied1 - copied0));
	md_stop(d);
}

static void remove_tls_files_at_exit(void)
{
	it_tls_files_remove(&tls_files);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_relay_plain),    IT_TEST(test_relay_plain_single_recv),
		IT_TEST(test_relay_tls),      IT_TEST(test_bad_frames_plain),
		IT_TEST(test_bad_frames_tls), IT_TEST(test_counters),
		IT_TEST(test_c_client_plain), IT_TEST(test_c_client_tls),
	};
	const char *dir = getenv("WS_PEER_DIR");
	snprintf(peer_script, sizeof(peer_script), "%s/ws_derp_peer.py", dir ? dir : ".");
	if (getenv("WS_PYTHON"))
		python = getenv("WS_PYTHON");
	atexit(remove_tls_files_at_exit);
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
