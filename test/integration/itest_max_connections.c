// SPDX-License-Identifier: MIT
/*
 * server.max_connections, exactly: with that many connections open, the
 * next one is closed unanswered and counted (tcp_rejected_total); once one
 * leaves, a newcomer gets in again. The number open is read from the
 * connections gauge in /metrics, so the test waits for the relay's own
 * count rather than for a fixed time.
 */
#include <string.h>

#include "test_mgmt_daemon.h"

#define MAX_CONNS 4
#define MAX_INI	  "[server]\nmax_connections = 4\n"
#define WAIT_MS	  5000

static void wait_connections(struct mgmt_daemon *d, int64_t want)
{
	int64_t deadline = it_now_ms() + WAIT_MS, now;
	while ((now = md_scrape(d, "hyperderp_connections", NULL)) != want) {
		IT_REQUIRE(it_now_ms() < deadline, "the relay counts %ld connections, want %ld",
			   (long)now, (long)want);
		it_sleep_ms(20);
	}
}

static void test_max_connections_is_exact(void)
{
	struct md_opts o = { .ini = MAX_INI };
	struct mgmt_daemon *d = md_start(&o);
	wait_connections(d, 0); /* the readiness probe has gone */

	struct derp_client *held[MAX_CONNS];
	for (int i = 0; i < MAX_CONNS; i++)
		held[i] = it_connect(&d->it, NULL);
	wait_connections(d, MAX_CONNS);

	int64_t rejected = md_scrape(d, "hyperderp_tcp_rejected_total", NULL);
	int fd = it_tcp_connect(&d->it);
	it_fd_send_ignoring_errors(fd, it_upgrade_request, strlen(it_upgrade_request));
	char junk[256];
	size_t got = it_fd_read_until_closed(fd, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(got == 0, "connection %d of at most %d was answered (%zu bytes)", MAX_CONNS + 1,
		   MAX_CONNS, got);
	it_fd_close(fd);
	IT_REQUIRE(md_scrape(d, "hyperderp_tcp_rejected_total", NULL) == rejected + 1,
		   "the refused connection was not counted in tcp_rejected_total");

	/* One leaves: a newcomer gets its place, and the others never noticed. */
	it_client_close(held[0]);
	wait_connections(d, MAX_CONNS - 1);
	held[0] = it_connect(&d->it, NULL);
	wait_connections(d, MAX_CONNS);
	it_require_relaying(held[0], held[1]);
	it_require_relaying(held[2], held[3]);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_max_connections_is_exact),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
