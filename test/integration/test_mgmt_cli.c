// SPDX-License-Identifier: MIT
/*
 * hdcli one-shot against a running daemon: status, peers, peer close,
 * candidate config, errors and exit codes, script mode, and the raw
 * protocol (including events follow) over the socket itself.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

static struct md_out o; /* big: one for all */

static const struct json_value *find_peer(const struct json_value *peers, const char *key)
{
	for (const struct json_value *p = peers ? peers->child : NULL; p; p = p->next) {
		if (strcmp(json_get_str(p, "key", ""), key) == 0)
			return p;
	}
	return NULL;
}

static void test_status_and_exit_codes(void)
{
	struct mgmt_daemon *d = md_start(NULL);

	IT_REQUIRE(md_cli(d, &o, NULL, "show", "status", NULL) == 0, "exit %d: %s", o.status,
		   o.err);
	IT_REQUIRE(strstr(o.out, "hyper-derp 0.1.0, up "), "status: %s", o.out);
	IT_REQUIRE(strstr(o.out, "2 workers"), "status: %s", o.out);
	/* server.recv_mode = auto: bufring where the kernel has it, as the workers logged. */
	const char *recv_mode = md_logged_recv_mode(d);
	bool ktls = md_kernel_has_ktls();
	char line[128];
	snprintf(line, sizeof(line), "recv mode    %s\n", recv_mode);
	IT_REQUIRE(strstr(o.out, line), "status lacks \"%s\": %s", line, o.out);
	snprintf(line, sizeof(line), "kTLS         %s, 0 connections moved to the kernel\n",
		 ktls ? "available" : "not available in this kernel");
	IT_REQUIRE(strstr(o.out, line), "status lacks \"%s\": %s", line, o.out);
	IT_REQUIRE(strstr(o.out, "STUN         off\n"), "status lacks the STUN line: %s", o.out);

	struct json_doc doc;
	md_cli_json(d, &doc, "show", "status", NULL);
	IT_REQUIRE(json_get_u64(doc.root, "workers", 0) == 2, "workers");
	IT_REQUIRE(json_get(doc.root, "drops") && json_get(doc.root, "bytes_in"),
		   "status lacks drops or bytes_in");
	IT_REQUIRE(strcmp(json_get_str(doc.root, "recv_mode", "?"), recv_mode) == 0,
		   "recv_mode %s, the workers logged %s", json_get_str(doc.root, "recv_mode", "?"),
		   recv_mode);
	const struct json_value *v = json_get(doc.root, "ktls_available");
	IT_REQUIRE(v && v->type == JSON_BOOL && v->boolean == ktls, "ktls_available, want %s",
		   ktls ? "true" : "false");
	v = json_get(doc.root, "ktls_connections");
	IT_REQUIRE(v && json_u64(v, 1) == 0, "ktls_connections absent or not 0");
	v = json_get(doc.root, "tls_handshakes");
	IT_REQUIRE(v && json_u64(v, 1) == 0, "tls_handshakes absent or not 0");
	json_doc_free(&doc);

	/* Usage errors: exit 2, a message that says what is wrong. */
	IT_REQUIRE(md_cli(d, &o, NULL, "frobnicate", NULL) == 2, "bad verb: exit %d", o.status);
	IT_REQUIRE(strstr(o.err, "unknown command \"frobnicate\""), "bad verb: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", NULL) == 2, "incomplete verb: exit %d", o.status);
	IT_REQUIRE(strstr(o.err, "incomplete"), "incomplete verb: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "peer", "close", NULL) == 2, "no key: exit %d", o.status);
	IT_REQUIRE(strstr(o.err, "usage: peer close KEY"), "no key: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "status", "extra", NULL) == 2, "extra arg");
	IT_REQUIRE(md_cli(d, &o, NULL, "peer", "close", "nodekey:zz", NULL) == 2, "bad key");
	IT_REQUIRE(strstr(o.err, "not a peer key"), "bad key: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "set", "log-level", "loud", NULL) == 2, "bad level");
	IT_REQUIRE(md_cli(d, &o, NULL, "--frob", NULL) == 2, "bad option: exit %d", o.status);
	IT_REQUIRE(md_cli(d, &o, NULL, "--json", "frobnicate", NULL) == 2, "json bad verb");
	IT_REQUIRE(strstr(o.out, "\"code\":\"usage\""), "json error on stdout: %s", o.out);

	/* A well-formed command that fails: exit 1. */
	char absent[80];
	uint8_t key[KEY_LEN] = { 1, 2, 3 };
	md_nodekey(key, absent);
	IT_REQUIRE(md_cli(d, &o, NULL, "peer", "close", absent, NULL) == 1, "absent peer: exit %d",
		   o.status);
	IT_REQUIRE(strstr(o.err, "is not connected"), "absent peer: %s", o.err);

	/* No relay at the socket: exit 2 with a hint. */
	char saved[300];
	snprintf(saved, sizeof(saved), "%s", d->sock);
	snprintf(d->sock, sizeof(d->sock), "%s/nothing.sock", d->it.dir);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "status", NULL) == 2, "no socket: exit %d",
		   o.status);
	IT_REQUIRE(strstr(o.err, "is hyper-derp running?"), "no socket: %s", o.err);
	snprintf(d->sock, sizeof(d->sock), "%s", saved);

	/* help lists every verb; usage too. */
	IT_REQUIRE(md_cli(d, &o, NULL, "help", NULL) == 0, "help");
	static const char *const verbs[] = { "show status",   "show peers",    "show counters",
					     "show config",   "set log-level", "peer close",
					     "events follow", "config set",    "config diff",
					     "config commit", "config discard" };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		IT_REQUIRE(strstr(o.out, verbs[i]), "help lacks %s", verbs[i]);
	IT_REQUIRE(md_cli(d, &o, NULL, "--help", NULL) == 0 && strstr(o.out, "Exit status"),
		   "--help");

	struct stat st;
	IT_REQUIRE(stat(d->sock, &st) == 0 && (st.st_mode & 0777) == 0660,
		   "socket mode %o, want 0660", st.st_mode & 0777);
	md_stop(d);
	IT_REQUIRE(stat(saved, &st) < 0 && errno == ENOENT, "socket left behind after stop");
}

static void test_peers_and_close(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	char ka[80], kb[80];
	md_nodekey(a->pub, ka);
	md_nodekey(b->pub, kb);
	it_require_relaying(a, b);

	struct json_doc doc;
	md_cli_json(d, &doc, "show", "peers", NULL);
	const struct json_value *peers = json_get(doc.root, "peers");
	IT_REQUIRE(json_get_u64(doc.root, "count", 0) == 2, "want 2 peers");
	const struct json_value *pa = find_peer(peers, ka), *pb = find_peer(peers, kb);
	IT_REQUIRE(pa && pb, "show peers lacks a client");
	IT_REQUIRE(json_get_u64(pa, "worker", 9) < 2, "worker");
	IT_REQUIRE(strncmp(json_get_str(pa, "addr", ""), "127.0.0.1:", 10) == 0, "addr %s",
		   json_get_str(pa, "addr", ""));
	IT_REQUIRE(json_get_u64(pa, "rx_packets", 0) >= 1 && json_get_u64(pa, "tx_packets", 0) >= 1,
		   "a's packet counts");
	IT_REQUIRE(json_get_u64(pb, "rx_bytes", 0) >= 100 && json_get_u64(pb, "tx_bytes", 0) >= 100,
		   "b's byte counts");
	IT_REQUIRE(json_get(pa, "queued") && json_get(pa, "preferred"), "queued/preferred");
	json_doc_free(&doc);

	IT_REQUIRE(md_cli(d, &o, NULL, "show", "peers", NULL) == 0, "show peers");
	IT_REQUIRE(strstr(o.out, ka) && strstr(o.out, kb) && strstr(o.out, "2 connections"),
		   "show peers: %s", o.out);

	/* peer close really closes: by nodekey:, then by bare hex. */
	IT_REQUIRE(md_cli(d, &o, NULL, "peer", "close", ka, NULL) == 0, "close a: %d %s", o.status,
		   o.err);
	IT_REQUIRE(strstr(o.out, "closed nodekey:"), "close a: %s", o.out);
	it_expect_closed(a, 5000);
	md_cli_json(d, &doc, "show", "peers", NULL);
	IT_REQUIRE(json_get_u64(doc.root, "count", 0) == 1, "one peer after close");
	json_doc_free(&doc);

	IT_REQUIRE(md_cli(d, &o, NULL, "peer", "close", kb + 8, NULL) == 0, "close b by hex: %s",
		   o.err);
	it_expect_closed(b, 5000);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "peers", NULL) == 0 &&
		       strstr(o.out, "no peers connected"),
		   "after closing both: %s", o.out);
	md_stop(d);
}

static void test_candidate_config(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	char v[64];

	/* A bad value is refused and leaves no candidate behind. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.queue_depth", "0", NULL) == 2,
		   "bad value accepted");
	IT_REQUIRE(strstr(o.err, "limits.queue_depth: \"0\" is not an integer in 1..4096"),
		   "bad value: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "nosuch.key", "1", NULL) == 2, "bad key");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "diff", NULL) == 0 &&
		       strstr(o.out, "no candidate changes"),
		   "diff after bad sets: %s", o.out);

	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.write_timeout_ms", "1234", NULL) ==
		       0,
		   "set live key: %s", o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.queue_depth", "48", NULL) == 0,
		   "set queue_depth");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.buffer_pool_mb", "64", NULL) == 0,
		   "set restart-only key");
	/* A later bad value keeps the earlier good ones. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.keepalive_ms", "5", NULL) == 2,
		   "bad keepalive accepted");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "diff", NULL) == 0, "diff");
	IT_REQUIRE(strstr(o.out, "limits.write_timeout_ms: 2000 -> 1234  (live)") &&
		       strstr(o.out, "limits.queue_depth: 32 -> 48  (live)") &&
		       strstr(o.out, "limits.buffer_pool_mb: 512 -> 64  (needs a restart)") &&
		       !strstr(o.out, "keepalive"),
		   "diff: %s", o.out);
	md_config_value(d, "limits.write_timeout_ms", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "2000") == 0, "running changed before commit: %s", v);

	IT_REQUIRE(md_cli(d, &o, NULL, "config", "commit", NULL) == 0, "commit: %s", o.err);
	IT_REQUIRE(strstr(o.out, "applied: limits.write_timeout_ms = 1234 (was 2000)") &&
		       strstr(o.out, "applied: limits.queue_depth = 48") &&
		       strstr(o.out, "needs a restart, not applied: limits.buffer_pool_mb = 64"),
		   "commit: %s", o.out);
	md_config_value(d, "limits.write_timeout_ms", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "1234") == 0, "write_timeout_ms after commit: %s", v);
	md_config_value(d, "limits.buffer_pool_mb", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "512") == 0, "buffer_pool_mb must need a restart: %s", v);
	IT_REQUIRE(it_daemon_log_contains(&d->it, "config: limits.queue_depth = 48 (was 32)"),
		   "no log line for the change");

	/* Nothing left to commit; discard drops a candidate. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "commit", NULL) == 1, "empty commit: exit %d",
		   o.status);
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "limits.keepalive_ms", "5000", NULL) == 0,
		   "set keepalive");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "discard", NULL) == 0 &&
		       strstr(o.out, "candidate changes discarded"),
		   "discard: %s", o.out);
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "diff", NULL) == 0 &&
		       strstr(o.out, "no candidate changes"),
		   "diff after discard: %s", o.out);
	md_config_value(d, "limits.keepalive_ms", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "60000") == 0, "discarded change applied: %s", v);

	/* set log-level acts at once. */
	IT_REQUIRE(md_cli(d, &o, NULL, "set", "log-level", "warn", NULL) == 0 &&
		       strstr(o.out, "log level warn (was info)"),
		   "set log-level: %s", o.out);
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "status", NULL);
	IT_REQUIRE(strcmp(json_get_str(doc.root, "log_level", ""), "warn") == 0, "log level");
	json_doc_free(&doc);

	/* The relay still relays with the new settings. */
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	it_require_relaying(a, b);
	md_stop(d);
}

static void test_script_on_stdin(void)
{
	struct mgmt_daemon *d = md_start(NULL);

	IT_REQUIRE(md_cli(d, &o, "# a comment\nshow status\n\nshow peers\n", NULL) == 0,
		   "script: exit %d: %s", o.status, o.err);
	IT_REQUIRE(strstr(o.out, "hyper-derp 0.1.0") && strstr(o.out, "no peers connected"),
		   "script output: %s", o.out);
	/* The worst exit code of the script's commands. */
	IT_REQUIRE(md_cli(d, &o, "show status\nfrobnicate\nshow peers\n", NULL) == 2,
		   "script with a bad verb: exit %d", o.status);
	IT_REQUIRE(strstr(o.out, "no peers connected"), "later commands still run: %s", o.out);
	IT_REQUIRE(md_cli(d, &o, "config \"set\n", NULL) == 2 && strstr(o.err, "quote"),
		   "unbalanced quote: %s", o.err);
	md_stop(d);
}

/* ---- the protocol, spoken directly ---- */

static int unix_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	IT_REQUIRE(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect: %s",
		   strerror(errno));
	return fd;
}

/*
 * Reads one line into buf; false when none starts within timeout_ms.
 * Requires no EOF. A line once started is read to its end (5 s more at
 * most): cut at the deadline, its head would be lost and its tail read as
 * the next line (seen on a loaded machine, where a line read a byte at a
 * time can take longer than the wait).
 */
static bool read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t len = 0;
	int64_t deadline = it_now_ms() + timeout_ms;
	while (it_now_ms() < deadline || (len > 0 && it_now_ms() < deadline + 5000)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		char c;
		ssize_t n = read(fd, &c, 1);
		IT_REQUIRE(n == 1, "the relay closed the connection");
		if (c == '\n') {
			buf[len] = '\0';
			return true;
		}
		IT_REQUIRE(len + 1 < cap, "line too long");
		buf[len++] = c;
	}
	IT_REQUIRE(len == 0, "a line cut off after %zu bytes", len);
	return false;
}

static void send_text(int fd, const char *text)
{
	IT_REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text), "write: %s",
		   strerror(errno));
}

static void test_protocol_errors(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	int fd = unix_connect(d->sock);
	static char line[65536];

	static const struct {
		const char *request;
		const char *want;
	} cases[] = {
		{ "not json\n", "\"code\":\"protocol\",\"message\":\"request is not valid JSON" },
		{ "[\"show\",\"status\"]\n", "request must be a JSON object" },
		{ "{}\n", "request has no \\\"argv\\\"" },
		{ "{\"argv\":[]}\n", "\\\"argv\\\" is empty" },
		{ "{\"argv\":[\"show\",1]}\n", "argv[1] is not a string" },
		{ "{\"argv\":[\"show\"],\"x\":1}\n", "unknown request member \\\"x\\\"" },
		{ "{\"argv\":[\"sh\\u006fw\",\"status\"]}\n", "\"ok\":true" },
		{ "{\"argv\":[\"show\",\"status\"]}\r\n", "\"ok\":true" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		send_text(fd, cases[i].request);
		IT_REQUIRE(read_line(fd, line, sizeof(line), 5000), "no reply to %s",
			   cases[i].request);
		IT_REQUIRE(strstr(line, cases[i].want), "%s got %s, want %s", cases[i].request,
			   line, cases[i].want);
	}
	/* Several requests in one write are answered in order. */
	send_text(fd, "{\"argv\":[\"help\",\"show\"]}\n{\"argv\":[\"show\",\"peers\"]}\n");
	IT_REQUIRE(read_line(fd, line, sizeof(line), 5000) && strstr(line, "show counters"),
		   "first of two: %s", line);
	IT_REQUIRE(read_line(fd, line, sizeof(line), 5000) && strstr(line, "\"peers\":[]"),
		   "second of two: %s", line);

	/* An over-long request is refused and the connection closed. */
	static char big[70000];
	memset(big, 'x', sizeof(big));
	IT_REQUIRE(write(fd, big, sizeof(big)) > 0, "write big");
	IT_REQUIRE(read_line(fd, line, sizeof(line), 5000) && strstr(line, "longer than"),
		   "over-long: %s", line);
	close(fd);

	/* Others are unaffected. */
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "status", NULL) == 0, "status after errors");
	md_stop(d);
}

/*
 * Events come from looks once a second, and a look is skipped while the
 * workers are too busy to list their peers (a loaded CI machine, ASan, other
 * tests beside this one): allow several looks' worth before calling one missing.
 */
#define EVENT_WAIT_MS 15000

static void test_events_follow(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	int fd = unix_connect(d->sock);
	static char line[65536];

	send_text(fd, "{\"argv\":[\"events\",\"follow\"]}\n");
	IT_REQUIRE(read_line(fd, line, sizeof(line), 5000) && strstr(line, "\"following\":true"),
		   "follow reply: %s", line);
	it_sleep_ms(1200); /* the first look sets the baseline */

	struct derp_client *a = it_connect(&d->it, NULL);
	char ka[80];
	md_nodekey(a->pub, ka);
	bool seen = false;
	for (int64_t end = it_now_ms() + EVENT_WAIT_MS; !seen && it_now_ms() < end;)
		seen = read_line(fd, line, sizeof(line), 500) && strstr(line, "\"connect\"") &&
		       strstr(line, ka);
	IT_REQUIRE(seen, "no connect event for %s", ka);

	/* A packet to nobody is a drop. */
	uint8_t nobody[KEY_LEN] = { 9 };
	uint8_t pkt[64] = { 0 };
	it_send_packet(a, nobody, pkt, sizeof(pkt));
	seen = false;
	for (int64_t end = it_now_ms() + EVENT_WAIT_MS; !seen && it_now_ms() < end;)
		seen = read_line(fd, line, sizeof(line), 500) && strstr(line, "\"drop\"") &&
		       strstr(line, "\"reason\":\"unknown_dest\"");
	IT_REQUIRE(seen, "no drop event");

	it_client_close(a);
	seen = false;
	for (int64_t end = it_now_ms() + EVENT_WAIT_MS; !seen && it_now_ms() < end;)
		seen = read_line(fd, line, sizeof(line), 500) && strstr(line, "\"disconnect\"") &&
		       strstr(line, ka);
	IT_REQUIRE(seen, "no disconnect event");
	close(fd);

	/* hdcli formats them; --json passes them through. */
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_status_and_exit_codes), IT_TEST(test_peers_and_close),
		IT_TEST(test_candidate_config),	     IT_TEST(test_script_on_stdin),
		IT_TEST(test_protocol_errors),	     IT_TEST(test_events_follow)
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
