// SPDX-License-Identifier: MIT
/*
 * limits.max_accept_per_ip: one address gets that many new connections per
 * second (a bucket of one second's worth); past it, a new connection is
 * closed at once, unanswered, and the others carry on. The bucket refills
 * at the configured rate.
 */
#include <string.h>

#include "harness.h"

#define PER_SECOND   2
#define REFILL_MS    1100 /* a whole bucket again: PER_SECOND tokens */
#define ACCEPT_INI   "[limits]\nmax_accept_per_ip = 2\n"
#define ROUND_MAX_MS 250

/* A new connection that gets its upgrade: 101, then the ServerKey frame. */
static void expect_served(struct it_daemon *d, int n)
{
	int fd = it_tcp_connect(d);
	it_fd_send(fd, it_upgrade_request, strlen(it_upgrade_request));
	char head[1024];
	it_fd_read_http_head(fd, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(strncmp(head, "HTTP/1.1 101", 12) == 0, "connection %d: %.40s", n, head);
	it_fd_expect_server_key(d, fd);
	it_fd_close(fd);
}

/* A new connection closed without a byte of answer. */
static void expect_refused(struct it_daemon *d, int n)
{
	int fd = it_tcp_connect(d);
	it_fd_send_ignoring_errors(fd, it_upgrade_request, strlen(it_upgrade_request));
	char junk[256];
	size_t got = it_fd_read_until_closed(fd, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(got == 0, "connection %d past the limit got %zu bytes of answer", n, got);
	it_fd_close(fd);
}

static void test_accept_limit_per_ip(void)
{
	struct it_daemon_opts o = { .ini = ACCEPT_INI };
	struct it_daemon *d = it_daemon_start(&o);
	it_sleep_ms(REFILL_MS); /* the readiness probe took a token */
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);

	/*
	 * a and b took the tokens: each round starts from a
	 * full bucket. A token comes back every 500 ms, so a round must take
	 * less than that to say anything; a round slowed down that much (a
	 * loaded host) is run again rather than judged.
	 */
	int rounds = 0, tries = 0;
	while (rounds < 2) {
		IT_REQUIRE(++tries <= 8, "no round finished within %d ms", ROUND_MAX_MS);
		it_sleep_ms(REFILL_MS);
		int64_t t0 = it_now_ms();
		for (int i = 0; i < PER_SECOND; i++)
			expect_served(d, i);
		if (it_now_ms() - t0 > ROUND_MAX_MS) {
			it_note("round took %ld ms: again", (long)(it_now_ms() - t0));
			continue;
		}
		expect_refused(d, PER_SECOND);
		rounds++;
	}
	/* Sessions already in are not affected. */
	it_require_relaying(a, b);
}

IT_MAIN(IT_TEST(test_accept_limit_per_ip))
