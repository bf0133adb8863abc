// SPDX-License-Identifier: MIT
/*
 * Restart on the same port (issue 17, item 11): a relay that binds its own
 * port, stopped with SIGTERM while clients are connected, passing packets
 * and half-way through handshakes, must have released the port by the time
 * it has exited, and a relay started right then must come up (what
 * `systemctl restart` does). Repeated, since the failure was a race.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define RESTARTS      8
#define CLIENTS	      4
#define HALF_REQUESTS 8
#define PKT_BYTES     1200
#define BUSY_MS	      500 /* how long the port is taken when the relay starts */

static const char half_request[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: DE";


/*
 * Whether 127.0.0.1:port can be listened on now, as the next relay would
 * (SO_REUSEADDR: connections of the old one in TIME_WAIT do not count, a
 * socket still in LISTEN does). errno is set when not.
 */
static bool port_listenable(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	bool ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 1) == 0;
	int saved = errno;
	close(fd);
	errno = saved;
	return ok;
}

/* Clients passing packets and connections stuck in the handshake, as a live relay has. */
static void make_traffic(struct it_daemon *d, struct derp_client **c)
{
	uint8_t pkt[PKT_BYTES];
	for (int i = 0; i < CLIENTS; i++)
		c[i] = it_connect(d, NULL);
	for (int i = 0; i < CLIENTS; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(c[i], c[(i + 1) % CLIENTS]->pub, pkt, sizeof(pkt));
	}
	for (int i = 0; i < CLIENTS; i++) {
		int from = (i + CLIENTS - 1) % CLIENTS;
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)from);
		it_expect_packet(c[i], c[from]->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	for (int i = 0; i < HALF_REQUESTS; i++)
		it_fd_send(it_tcp_connect(d), half_request, sizeof(half_request) - 1);
	/* Packets still in flight when the signal lands. */
	for (int i = 0; i < CLIENTS; i++)
		it_send_packet(c[i], c[(i + 1) % CLIENTS]->pub, pkt, sizeof(pkt));
}

static void test_restart_on_the_same_port(void)
{
	struct it_daemon_opts o = { .bind_port = it_free_port() };
	struct it_daemon *d = it_daemon_start(&o);
	for (int round = 0; round < RESTARTS; round++) {
		struct derp_client *c[CLIENTS];
		make_traffic(d, c);
		it_daemon_signal(d, SIGTERM);
		IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS),
			   "round %d: the relay did not exit after SIGTERM", round);
		IT_REQUIRE(WIFEXITED(d->wait_status) && WEXITSTATUS(d->wait_status) == 0,
			   "round %d: the relay exited with wait status 0x%x", round,
			   d->wait_status);
		/* The process is gone: so must be its listening socket. */
		IT_REQUIRE(port_listenable(o.bind_port),
			   "round %d: port %u still taken after the relay exited: %s", round,
			   o.bind_port, strerror(errno));
		for (int i = 0; i < CLIENTS; i++)
			it_client_close(c[i]);
		d = it_daemon_start(&o); /* requires it to come up */
	}
	it_note("%d restarts on port %u, each start succeeded", RESTARTS, o.bind_port);
}

static void *release_later(void *arg)
{
	it_sleep_ms(BUSY_MS);
	close(*(int *)arg);
	return NULL;
}

/*
 * The other half of a restart: a port still taken for a moment when the
 * relay starts (here bound, without SO_REUSEADDR, by this test for
 * BUSY_MS) delays the start instead of failing it.
 */
static void test_start_rides_out_a_busy_port(void)
{
	uint16_t port = it_free_port();
	static int blocker;
	blocker = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(blocker >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	IT_REQUIRE(bind(blocker, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind: %s",
		   strerror(errno));
	pthread_t t;
	IT_REQUIRE(pthread_create(&t, NULL, release_later, &blocker) == 0, "pthread_create");
	struct it_daemon_opts o = { .bind_port = port };
	struct it_daemon *d = it_daemon_start(&o); /* requires it to come up */
	pthread_join(t, NULL);
	IT_REQUIRE(it_daemon_log_contains(d, "is in use; trying again"),
		   "the relay did not say it waited for the port");
	struct derp_client *a = it_connect(d, NULL), *b = it_connect(d, NULL);
	it_require_relaying(a, b);
}

IT_MAIN(IT_TEST(test_restart_on_the_same_port), IT_TEST(test_start_rides_out_a_busy_port))
