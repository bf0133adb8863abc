// SPDX-License-Identifier: MIT
/*
 * The management plane under abuse (issue 17, items 3 and 4): out of file
 * descriptors its listeners pause instead of spinning, idle metrics
 * connections cannot lock hdcli or a scraper out, and every refusal is
 * counted and logged at a bounded rate. Real daemon, real sockets, hdcli.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

/* Sockets a test opened itself (more than the harness keeps); closed by close_all. */
#define MAX_SOCKS 512
static int socks[MAX_SOCKS];
static int nsocks;

static void close_all(void)
{
	while (nsocks > 0)
		close(socks[--nsocks]);
}

static int keep(int fd)
{
	IT_REQUIRE(nsocks < MAX_SOCKS, "more than %d sockets", MAX_SOCKS);
	socks[nsocks++] = fd;
	return fd;
}

static int tcp_connect(const char *host, uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	IT_REQUIRE(inet_pton(AF_INET, host, &sin.sin_addr) == 1, "bad host %s", host);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	keep(fd);
	IT_REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect %s:%u: %s",
		   host, port, strerror(errno));
	return fd;
}

static int metrics_connect(struct mgmt_daemon *d)
{
	char host[64];
	const char *colon = strrchr(d->metrics, ':');
	IT_REQUIRE(colon, "metrics are off");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - d->metrics), d->metrics);
	return tcp_connect(host, (uint16_t)atoi(colon + 1));
}

static int unix_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	keep(fd);
	IT_REQUIRE(connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "connect %s: %s", path,
		   strerror(errno));
	return fd;
}

/* User plus system CPU time of the whole process, in clock ticks. */
static long cpu_ticks(pid_t pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	IT_REQUIRE(f, "%s: %s", path, strerror(errno));
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* Fields after "(comm)": state is the 3rd, utime the 14th, stime the 15th. */
	char *p = strrchr(buf, ')');
	IT_REQUIRE(p, "no comm in %s", path);
	unsigned long utime = 0, stime = 0;
	IT_REQUIRE(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			  &stime) == 2,
		   "cannot parse %s", path);
	return (long)(utime + stime);
}

/* Lines in the daemon's log, and of those the ones containing text (NULL: none). */
static long log_lines(struct mgmt_daemon *d, const char *text, long *matching)
{
	FILE *f = fopen(d->it.log_path, "r");
	IT_REQUIRE(f, "%s: %s", d->it.log_path, strerror(errno));
	static char line[4096];
	long n = 0, m = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (text && strstr(line, text))
			m++;
	}
	fclose(f);
	if (matching)
		*matching = m;
	return n;
}

static uint64_t counter(const struct json_value *root, const char *listener, const char *name)
{
	return json_get_u64(json_get(json_get(root, "mgmt"), listener), name, 0);
}

/*
 * Item 3: a connection to the metrics port and one to the management socket
 * wait in the backlogs while the daemon has no fd left. Before, the
 * management thread retried accept in a loop: a core and a million log lines
 * in 3 s. Now each listener pauses, warns once a second, and serves again
 * once fds are free.
 */
static void test_out_of_fds_pauses_accepts(void)
{
	enum { NOFILE = 160, WINDOW_MS = 3000 };
	/*
	 * The idle connections all come from 127.0.0.1: without
	 * max_pending_per_ip = 0 the per-source cap would close them at
	 * accept, and the fds this test must use up would come free again.
	 */
	struct md_opts o = { .nofile = NOFILE,
			     .ini = "[limits]\nhandshake_timeout_ms = 120000\n"
				    "max_pending_per_ip = 0\n" };
	struct mgmt_daemon *d = md_start(&o);
	IT_REQUIRE(it_daemon_log_contains(&d->it, "the open-file limit is 160"),
		   "no start-up warning that max_connections does not fit under the fd limit");

	/* Idle DERP connections hold one fd each until the handshake deadline (2 min). */
	int before = md_open_fds(d->it.pid);
	it_note("%d fds open at start; limit %d", before, NOFILE);
	for (int i = 0; i < NOFILE - before + 16; i++)
		tcp_connect("127.0.0.1", d->it.port);
	/* Until the slow path has said it ran out (its accept fails after the last fd went). */
	int64_t deadline = it_now_ms() + 15000;
	while (!it_daemon_log_contains(&d->it, "out of file descriptors") &&
	       !it_daemon_log_contains(&d->it, "Too many open files")) {
		IT_REQUIRE(it_now_ms() < deadline,
			   "the slow path did not run out of fds in 15 s: %d fds of %d open",
			   md_open_fds(d->it.pid), NOFILE);
		it_sleep_ms(20);
	}

	/* One waiting connection on each management listener. */
	int waiting_metrics = metrics_connect(d);
	int waiting_mgmt = unix_connect(d->sock);
	(void)waiting_metrics;
	(void)waiting_mgmt;
	it_sleep_ms(300); /* the thread has seen both by now */

	long cpu0 = cpu_ticks(d->it.pid);
	long lines0 = log_lines(d, NULL, NULL);
	int64_t t0 = it_now_ms();
	it_sleep_ms(WINDOW_MS);
	long cpu1 = cpu_ticks(d->it.pid);
	long accept_lines;
	long lines1 = log_lines(d, "accept", &accept_lines);
	int64_t elapsed = it_now_ms() - t0;
	long hz = sysconf(_SC_CLK_TCK);
	long cpu_ms = (cpu1 - cpu0) * 1000 / hz;
	it_note("in %lld ms out of fds: %ld ms of CPU, %ld log lines (%ld about accept in all)",
		(long long)elapsed, cpu_ms, lines1 - lines0, accept_lines);
	/* Paused listeners wake 5 times a second; a spinning one takes a core. */
	IT_REQUIRE(cpu_ms < elapsed / 10, "%ld ms of CPU in %lld ms while out of fds", cpu_ms,
		   (long long)elapsed);
	/* One warning a second per listener (and the slow path's), not one per retry. */
	IT_REQUIRE(lines1 - lines0 <= 4 * (elapsed / 1000 + 1), "%ld log lines in %lld ms",
		   lines1 - lines0, (long long)elapsed);

	/* Free the fds: hdcli and a scrape get in again. */
	close_all();
	static struct md_out out;
	deadline = it_now_ms() + 10000;
	while (md_cli(d, &out, NULL, "--json", "show", "status", NULL) != 0) {
		IT_REQUIRE(it_now_ms() < deadline,
			   "hdcli still fails 10 s after fds were freed: %s", out.err);
		it_sleep_ms(100);
	}
	IT_REQUIRE(md_scrape(d, "hyperderp_mgmt_accept_errors_total", "listener=\"metrics\"") >= 1,
		   "metrics accept errors not counted");
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	IT_REQUIRE(counter(doc.root, "socket", "accept_errors") >= 1,
		   "management socket accept errors not counted");
	json_doc_free(&doc);
	md_stop(d);
}

/* Reads until the peer closes (true) or timeout_ms passes (false). */
static bool closed_within(int fd, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	char buf[256];
	while (it_now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			return true;
	}
	return false;
}

/*
 * Item 4: 100 idle connections to the metrics port. Before, they took the
 * 64 slots the management socket shared with them: hdcli was told "busy",
 * scrapes were refused and each refusal logged a line.
 */
static void test_idle_metrics_connections_do_not_lock_out(void)
{
	enum { IDLE = 100 };
	struct mgmt_daemon *d = md_start(NULL);
	long refused_lines0;
	log_lines(d, "refus", &refused_lines0);

	for (int i = 0; i < IDLE; i++)
		metrics_connect(d);
	/* Until the daemon has taken them all in (accepted, evicted or refused). */
	struct json_doc doc;
	int64_t deadline = it_now_ms() + 10000;
	for (;;) {
		static struct md_out out;
		IT_REQUIRE(md_cli(d, &out, NULL, "--json", "show", "counters", NULL) == 0,
			   "hdcli locked out by idle metrics connections: %s%s", out.out, out.err);
		char err[128];
		IT_REQUIRE(json_parse(out.out, strlen(out.out), &doc, err, sizeof(err)) == 0,
			   "show counters: %s", err);
		uint64_t seen = counter(doc.root, "metrics", "accepted") +
				counter(doc.root, "metrics", "refused");
		if (seen >= IDLE)
			break;
		json_doc_free(&doc);
		IT_REQUIRE(it_now_ms() < deadline, "only %llu of %d metrics connections seen",
			   (unsigned long long)seen, IDLE);
		it_sleep_ms(50);
	}
	IT_REQUIRE(counter(doc.root, "metrics", "clients") <= 16,
		   "%llu metrics connections open, metrics.max_clients is 16",
		   (unsigned long long)counter(doc.root, "metrics", "clients"));
	/*
	 * Connections that came in one burst are refused; one that waited a
	 * loop pass without a request makes room for the next.
	 */
	IT_REQUIRE(counter(doc.root, "metrics", "evicted") +
			   counter(doc.root, "metrics", "refused") >=
		       IDLE - 16,
		   "%llu evicted, %llu refused",
		   (unsigned long long)counter(doc.root, "metrics", "evicted"),
		   (unsigned long long)counter(doc.root, "metrics", "refused"));
	json_doc_free(&doc);

	/* A scrape and hdcli still get in, more than once. */
	for (int i = 0; i < 3; i++) {
		IT_REQUIRE(md_scrape(d, "hyperderp_mgmt_clients", "listener=\"metrics\"") <= 16,
			   "metrics clients over budget");
		md_cli_json(d, &doc, "show", "status", NULL);
		json_doc_free(&doc);
	}
	/* Refusals are logged at most once a second. */
	long refused_lines;
	log_lines(d, "refus", &refused_lines);
	IT_REQUIRE(refused_lines - refused_lines0 <= 3, "%ld refusal lines logged",
		   refused_lines - refused_lines0);
	close_all();
	md_stop(d);
}

/* metrics.timeout_ms: a connection that never sends its request is closed at the deadline. */
static void test_metrics_deadline(void)
{
	struct md_opts o = { .ini = "[metrics]\ntimeout_ms = 500\n" };
	struct mgmt_daemon *d = md_start(&o);
	int64_t t0 = it_now_ms();
	int fd = metrics_connect(d);
	IT_REQUIRE(closed_within(fd, 5000), "an idle metrics connection outlived 5 s");
	int64_t took = it_now_ms() - t0;
	IT_REQUIRE(took >= 400, "closed after %lld ms, before metrics.timeout_ms = 500",
		   (long long)took);
	IT_REQUIRE(md_scrape(d, "hyperderp_metrics_timeouts_total", NULL) >= 1,
		   "timeout not counted");
	close_all();
	md_stop(d);
}

/*
 * mgmt.max_clients: the management socket's own budget. Past it hdcli is
 * told busy and the refusal counted; the metrics port is not affected.
 */
static void test_mgmt_budget(void)
{
	struct md_opts o = { .ini = "[mgmt]\nmax_clients = 4\n" };
	struct mgmt_daemon *d = md_start(&o);
	for (int i = 0; i < 4; i++)
		unix_connect(d->sock);
	static struct md_out out;
	int64_t deadline = it_now_ms() + 10000;
	while (md_cli(d, &out, NULL, "show", "status", NULL) == 0) {
		IT_REQUIRE(it_now_ms() < deadline, "a fifth hdcli still gets in");
		it_sleep_ms(50);
	}
	IT_REQUIRE(strstr(out.err, "too many management connections"), "hdcli said: %s%s", out.out,
		   out.err);
	IT_REQUIRE(md_scrape(d, "hyperderp_mgmt_refused_total", "listener=\"socket\"") >= 1,
		   "refusal not counted");
	close_all();
	/* Room again once they leave. */
	deadline = it_now_ms() + 10000;
	while (md_cli(d, &out, NULL, "show", "status", NULL) != 0) {
		IT_REQUIRE(it_now_ms() < deadline, "hdcli still refused: %s", out.err);
		it_sleep_ms(50);
	}
	md_stop(d);
}

/*
 * Each scrape asked every worker to list its peers: a client of the metrics
 * port scraping in a loop kept the workers walking their peer tables. Now
 * scrapes within 250 ms share one listing.
 */
static void test_scrapes_share_peer_listings(void)
{
	enum { SCRAPES = 40 };
	static char body[1 << 20];
	struct mgmt_daemon *d = md_start(NULL);
	int64_t before = md_scrape(d, "hyperderp_metrics_peer_listings_total", NULL);
	int64_t t0 = it_now_ms();
	for (int i = 0; i < SCRAPES; i++)
		IT_REQUIRE(md_http_get(d, "/metrics", body, sizeof(body)) == 200, "scrape %d", i);
	int64_t after = md_scrape(d, "hyperderp_metrics_peer_listings_total", NULL);
	int64_t elapsed = it_now_ms() - t0;
	it_note("%d scrapes in %lld ms: %lld peer listings", SCRAPES + 1, (long long)elapsed,
		(long long)(after - before));
	IT_REQUIRE(after - before <= elapsed / 250 + 2,
		   "%lld peer listings for %d scrapes in %lld ms", (long long)(after - before),
		   SCRAPES + 1, (long long)elapsed);
	md_stop(d);
}

/*
 * mgmt.events_backlog_kb: an `events follow` reader that stops reading is
 * dropped once that much is unsent, counted, and its memory given back.
 * Hundreds of connects and disconnects make a few hundred KiB of events:
 * more than the socket's kernel buffer (about 200 KiB) and the 64 KiB
 * backlog together.
 */
static void test_stalled_follower_is_dropped(void)
{
	enum { CLIENTS = 450, ROUNDS = 2 };
	struct md_opts o = { .ini = "[mgmt]\nevents_backlog_kb = 64\n" };
	struct mgmt_daemon *d = md_start(&o);
	int fd = unix_connect(d->sock);
	static const char follow[] = "{\"argv\":[\"events\",\"follow\"]}\n";
	IT_REQUIRE(write(fd, follow, sizeof(follow) - 1) == (ssize_t)sizeof(follow) - 1,
		   "write: %s", strerror(errno));
	it_sleep_ms(1200); /* the first look sets the baseline */

	static struct derp_client *clients[CLIENTS];
	struct json_doc doc;
	uint64_t dropped = 0;
	for (int round = 0; round < ROUNDS && dropped == 0; round++) {
		for (int i = 0; i < CLIENTS; i++)
			clients[i] = it_connect(&d->it, NULL);
		it_sleep_ms(1500); /* a look sees them all */
		for (int i = 0; i < CLIENTS; i++)
			it_client_close(clients[i]);
		for (int64_t end = it_now_ms() + 5000; dropped == 0 && it_now_ms() < end;
		     it_sleep_ms(100)) {
			md_cli_json(d, &doc, "show", "counters", NULL);
			dropped = json_get_u64(json_get(doc.root, "mgmt"), "followers_dropped", 0);
			json_doc_free(&doc);
		}
	}
	IT_REQUIRE(dropped == 1, "%llu followers dropped", (unsigned long long)dropped);
	IT_REQUIRE(closed_within(fd, 5000), "the dropped follower's connection is still open");
	IT_REQUIRE(md_scrape(d, "hyperderp_events_followers_dropped_total", NULL) == 1,
		   "not in /metrics");
	/* What it held is given back: an idle daemon keeps a few buffers of 64 KiB or less. */
	int64_t held = md_scrape(d, "hyperderp_mgmt_buffer_bytes", NULL);
	IT_REQUIRE(held < 512 * 1024, "%lld bytes still held by client buffers", (long long)held);
	close_all();
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_out_of_fds_pauses_accepts),
		IT_TEST(test_idle_metrics_connections_do_not_lock_out),
		IT_TEST(test_metrics_deadline),
		IT_TEST(test_mgmt_budget),
		IT_TEST(test_scrapes_share_peer_listings),
		IT_TEST(test_stalled_follower_is_dropped),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
