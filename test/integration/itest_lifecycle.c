// SPDX-License-Identifier: MIT
/*
 * Connection and process lifecycle: SIGTERM drains (Restarting frame, then
 * exit 0), the handshake deadline closes idle newcomers, KeepAlives arrive
 * at the configured interval.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "harness.h"

static void expect_restarting(struct derp_client *c)
{
	uint32_t len;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_RESTARTING, IT_FRAME_TIMEOUT_MS, &len);
	IT_REQUIRE(len == 8, "Restarting frame of %u bytes, want 8", len);
	uint32_t reconnect_ms = it_get_be32(p), try_for_ms = it_get_be32(p + 4);
	/* The values docs/derp-compat.md promises: reconnect in 1 s, keep trying for 60 s. */
	IT_REQUIRE(reconnect_ms == 1000 && try_for_ms == 60000,
		   "Restarting says reconnect in %u ms, try for %u ms; want 1000 and 60000",
		   reconnect_ms, try_for_ms);
}

static void expect_exit_0_within(struct it_daemon *d, int64_t since, int limit_ms)
{
	IT_REQUIRE(it_daemon_wait_exit(d, limit_ms), "the daemon did not exit within %d ms",
		   limit_ms);
	IT_REQUIRE(WIFEXITED(d->wait_status) && WEXITSTATUS(d->wait_status) == 0,
		   "the daemon ended with wait status 0x%x", d->wait_status);
	it_note("exited 0 after %ld ms", (long)(it_now_ms() - since));
}

static void test_sigterm_sends_restarting_and_exits_0(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *cl[4];
	for (int i = 0; i < 4; i++)
		cl[i] = it_connect(d, NULL); /* spread over both workers */
	it_require_relaying(cl[0], cl[1]);
	/* Connections still in the handshake at shutdown are simply closed. */
	int silent = it_tcp_connect(d);
	int upgraded = it_raw_upgrade(d);

	int64_t t0 = it_now_ms();
	it_daemon_signal(d, SIGTERM);
	for (int i = 0; i < 4; i++) {
		expect_restarting(cl[i]);
		it_expect_closed(cl[i], IT_FRAME_TIMEOUT_MS);
	}
	uint8_t junk[64];
	it_fd_read_until_closed(silent, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	it_fd_read_until_closed(upgraded, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	expect_exit_0_within(d, t0, 5000);
}

/*
 * A client that never reads cannot hold shutdown up past the drain timeout
 * (2 s by default). The write timeout is off so that only the drain applies.
 */
static void test_sigterm_with_a_stuck_client_still_exits(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nwrite_timeout_ms = 0\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *sender = it_connect(d, NULL);
	struct derp_client *stuck = it_connect(d, NULL);
	struct derp_client *good = it_connect(d, NULL);
	uint8_t *flood = calloc(1, DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(flood != NULL, "out of memory");
	for (int i = 0; i < 256; i++) /* 16 MiB: well past every socket buffer */
		it_send_packet(sender, stuck->pub, flood, DERP_MAX_PACKET_SIZE);
	free(flood);
	/* The daemon has read all of it once it answers a Ping sent after. */
	it_expect_ping_pong(sender);

	int64_t t0 = it_now_ms();
	it_daemon_signal(d, SIGTERM);
	expect_restarting(good);
	it_expect_closed(good, IT_FRAME_TIMEOUT_MS);
	expect_exit_0_within(d, t0, 6000);
	/* The stuck one was closed too: draining it ends in EOF. */
	it_expect_closed(stuck, 20000);
}

/*
 * SIGTERM in the middle of traffic between workers: packets, buffer returns
 * and peer events are in flight between threads when they stop. Still a
 * clean exit 0 (and, in a sanitizer build, no leak or use-after-free report).
 */
static void test_sigterm_under_load_exits_0(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *cl[4];
	for (int i = 0; i < 4; i++)
		cl[i] = it_connect(d, NULL);
	uint8_t pkt[1200] = { 0 };
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 4; i++)
			it_send_packet(cl[i], cl[(i + 1) % 4]->pub, pkt, sizeof(pkt));
	}
	int64_t t0 = it_now_ms();
	it_daemon_signal(d, SIGTERM);
	/* Whatever was queued may still come first; then Restarting, then the close. */
	for (int i = 0; i < 4; i++) {
		bool restarting = false;
		for (;;) {
			uint8_t type;
			const uint8_t *p;
			uint32_t len;
			int rc = it_read_frame(cl[i], IT_FRAME_TIMEOUT_MS, &type, &p, &len);
			IT_REQUIRE(rc != 0, "client %d: neither Restarting nor a close", i);
			if (rc < 0)
				break;
			restarting |= type == DERP_FRAME_RESTARTING;
		}
		IT_REQUIRE(restarting, "client %d was closed without a Restarting frame", i);
	}
	expect_exit_0_within(d, t0, 5000);
}

static void test_sigint_also_drains(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *c = it_connect(d, NULL);
	int64_t t0 = it_now_ms();
	it_daemon_signal(d, SIGINT);
	expect_restarting(c);
	it_expect_closed(c, IT_FRAME_TIMEOUT_MS);
	expect_exit_0_within(d, t0, 5000);
}

/* SIGHUP reloads the configuration: sessions carry on, nothing drains, nothing exits. */
static void test_sighup_does_not_disturb_sessions(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nqueue_depth = 64\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	for (int i = 0; i < 3; i++) {
		it_daemon_signal(d, SIGHUP);
		it_sleep_ms(100);
		it_daemon_require_alive(d);
		it_require_relaying(a, b);
	}
	it_expect_quiet(a, 300);
	it_expect_quiet(b, 50);
	struct derp_client *c = it_connect(d, NULL);
	it_require_relaying(c, a);
}

/* Requires fd to be closed by the server between min_ms and max_ms after since. */
static void expect_closed_between(int fd, int64_t since, int min_ms, int max_ms, const char *what)
{
	uint8_t junk[256];
	it_fd_read_until_closed(fd, junk, sizeof(junk), max_ms + 1000);
	int64_t after = it_now_ms() - since;
	it_note("%s: closed after %ld ms", what, (long)after);
	IT_REQUIRE(after >= min_ms && after <= max_ms, "%s: closed after %ld ms, want %d..%d ms",
		   what, (long)after, min_ms, max_ms);
}

static void test_handshake_deadline_closes_idle_newcomers(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nhandshake_timeout_ms = 500\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *established = it_connect(d, NULL);

	/* Nothing at all; half a request head; a whole upgrade but no ClientInfo. */
	int64_t t_silent = it_now_ms();
	int silent = it_tcp_connect(d);
	int64_t t_partial = it_now_ms();
	int partial = it_tcp_connect(d);
	static const char half[] = "GET /derp HTTP/1.1\r\nHost: 127.0";
	it_fd_send(partial, half, strlen(half));
	int64_t t_upgraded = it_now_ms();
	int upgraded = it_raw_upgrade(d);

	/* The deadline is swept every 100 ms or so: allow for that and a loaded host. */
	expect_closed_between(silent, t_silent, 450, 2500, "silent connection");
	expect_closed_between(partial, t_partial, 450, 2500, "partial request head");
	expect_closed_between(upgraded, t_upgraded, 450, 2500, "upgrade without ClientInfo");

	/* The deadline ends with the handshake: an established session is not subject to it. */
	it_sleep_ms(600);
	it_expect_ping_pong(established);
	struct derp_client *late = it_connect(d, NULL);
	it_require_relaying(established, late);
}

/*
 * Many newcomers expiring at once are all closed on time, not one per pass
 * of the slow path's loop: 40 silent connections and 16 upgraded ones that
 * never send ClientInfo, then an established session still relays.
 */
#define MANY_SILENT   40 /* the harness owns at most 64 raw sockets */
#define MANY_UPGRADED 16

static void test_handshake_deadline_closes_many_at_once(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nhandshake_timeout_ms = 500\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *established = it_connect(d, NULL);
	static int fds[MANY_SILENT + MANY_UPGRADED];
	int64_t t0 = it_now_ms();
	for (int i = 0; i < MANY_SILENT; i++)
		fds[i] = it_tcp_connect(d);
	for (int i = 0; i < MANY_UPGRADED; i++)
		fds[MANY_SILENT + i] = it_raw_upgrade(d);
	int64_t opened = it_now_ms() - t0;
	it_note("%d newcomers opened in %ld ms", MANY_SILENT + MANY_UPGRADED, (long)opened);

	/* Each is due 500 ms after its own connect, so all of them by opened + 500 ms. */
	for (int i = 0; i < MANY_SILENT + MANY_UPGRADED; i++) {
		uint8_t junk[256];
		int64_t left = t0 + opened + 2500 - it_now_ms();
		it_fd_read_until_closed(fds[i], junk, sizeof(junk), left > 0 ? (int)left : 1);
	}
	int64_t all = it_now_ms() - t0;
	it_note("all closed %ld ms after the first connect", (long)all);
	IT_REQUIRE(all <= opened + 2500, "the last newcomer closed after %ld ms, want <= %ld",
		   (long)all, (long)(opened + 2500));
	it_expect_ping_pong(established);
	struct derp_client *late = it_connect(d, NULL);
	it_require_relaying(established, late);
}

/*
 * KeepAlives come every keepalive_ms plus a fixed per-connection jitter
 * under 5 s (the workers look every 250 ms). Each gap between two of them,
 * and the first after the handshake, must lie in that window: not sooner
 * than the configured interval (a deadline never moved on would send one
 * every look), not later than interval + jitter + a loaded host's slack (a
 * configured interval ignored would send one a minute).
 */
#define KEEPALIVE_MS	    1000
#define KEEPALIVE_JITTER_MS 5000
#define KEEPALIVE_EARLY_MS  200	 /* our clock against the server's, and its 250 ms tick */
#define KEEPALIVE_LATE_MS   1500 /* a loaded host */
#define KEEPALIVES	    3

static void test_keepalive_interval(void)
{
	struct it_daemon_opts o = { .ini = "[limits]\nkeepalive_ms = 1000\n" };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *c = it_connect(d, NULL);
	const int min_gap = KEEPALIVE_MS - KEEPALIVE_EARLY_MS;
	const int max_gap = KEEPALIVE_MS + KEEPALIVE_JITTER_MS + KEEPALIVE_LATE_MS;
	int64_t last = it_now_ms();
	for (int seen = 0; seen < KEEPALIVES; seen++) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = derp_client_read_frame(c, max_gap + 1000, &type, &p, &len);
		IT_REQUIRE(rc == 1, "no KeepAlive within %d ms (%d seen)", max_gap + 1000, seen);
		IT_REQUIRE(type == DERP_FRAME_KEEP_ALIVE, "unexpected %s", it_type_name(type));
		IT_REQUIRE(len == 0, "KeepAlive with %u payload bytes", len);
		int64_t now = it_now_ms();
		int64_t gap = now - last;
		last = now;
		it_note("KeepAlive %d after %ld ms", seen + 1, (long)gap);
		IT_REQUIRE(gap >= min_gap && gap <= max_gap,
			   "KeepAlive %d came %ld ms after the %s, want %d..%d ms "
			   "(keepalive_ms = %d plus up to %d ms of jitter)",
			   seen + 1, (long)gap, seen ? "one before" : "handshake", min_gap, max_gap,
			   KEEPALIVE_MS, KEEPALIVE_JITTER_MS);
	}
}

IT_MAIN(IT_TEST(test_sigterm_sends_restarting_and_exits_0),
	IT_TEST(test_sigterm_with_a_stuck_client_still_exits),
	IT_TEST(test_sigterm_under_load_exits_0), IT_TEST(test_sigint_also_drains),
	IT_TEST(test_sighup_does_not_disturb_sessions),
	IT_TEST(test_handshake_deadline_closes_idle_newcomers),
	IT_TEST(test_handshake_deadline_closes_many_at_once), IT_TEST(test_keepalive_interval))
