// SPDX-License-Identifier: MIT
/*
 * limits.accept_rate / accept_burst (derper's -accept-connection-limit and
 * -accept-connection-burst): new connections from all sources together
 * pass a token bucket; past it a connection is accepted and closed at
 * once, unanswered, and counted. Unlike limits.max_accept_per_ip it does
 * not care where connections come from: here each one comes from its own
 * loopback address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

#define BURST	     3
#define ROUND_MAX_MS 600 /* a token comes back every 1000 ms: a round must be quicker */

/* A TCP connection to the daemon from 127.0.0.<host>. */
static int connect_from(struct mgmt_daemon *d, int host)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(d->it.port) };
	char addr[32];
	snprintf(addr, sizeof(addr), "127.0.0.%d", host);
	inet_pton(AF_INET, addr, &src.sin_addr);
	inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
	IT_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0 &&
		       connect(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0,
		   "connect from %s: %s", addr, strerror(errno));
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Whether a connection from 127.0.0.<host> gets its 101 upgrade. */
static bool served(struct mgmt_daemon *d, int host)
{
	int fd = connect_from(d, host);
	if (send(fd, it_upgrade_request, strlen(it_upgrade_request), MSG_NOSIGNAL) < 0) {
		close(fd);
		return false;
	}
	char head[64];
	ssize_t n = recv(fd, head, sizeof(head) - 1, 0);
	close(fd);
	return n >= 12 && strncmp(head, "HTTP/1.1 101", 12) == 0;
}

static void test_accept_rate_all_sources(void)
{
	char ini[128];
	snprintf(ini, sizeof(ini), "[limits]\naccept_rate = 1\naccept_burst = %d\n", BURST);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	uint64_t refused = 0;
	int rounds = 0, tries = 0;
	while (rounds < 2) {
		IT_REQUIRE(++tries <= 6, "no round finished within %d ms", ROUND_MAX_MS);
		/* A full bucket again. */
		it_sleep_ms(BURST * 1000 + 200);
		int64_t t0 = it_now_ms();
		for (int i = 0; i < BURST; i++)
			IT_REQUIRE(served(d, 10 + i), "connection %d of the burst refused", i);
		bool fourth = served(d, 20);
		refused += !fourth;
		if (it_now_ms() - t0 > ROUND_MAX_MS) {
			it_note("round took %lld ms: again", (long long)(it_now_ms() - t0));
			continue;
		}
		IT_REQUIRE(!fourth, "a connection past the burst, from a new address, was served");
		rounds++;
	}
	/* The bucket refills at the rate: one more a second later. */
	it_sleep_ms(1100);
	IT_REQUIRE(served(d, 30), "no connection served after the refill");
	IT_REQUIRE(md_scrape(d, "hyperderp_handshakes_refused_total",
			     "reason=\"accept_rate_all\"") == (int64_t)refused,
		   "/metrics does not count the %llu refused", (unsigned long long)refused);
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	uint64_t n = json_get_u64(json_get(doc.root, "slowpath"), "rejected_accept_rate", 0);
	json_doc_free(&doc);
	IT_REQUIRE(n == refused, "show counters rejected_accept_rate %llu, want %llu",
		   (unsigned long long)n, (unsigned long long)refused);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_accept_rate_all_sources),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
