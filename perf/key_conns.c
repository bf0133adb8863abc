// SPDX-License-Identifier: MIT
/*
 * key_conns: what many connections under one node key cost the relay.
 *
 *   key_conns --port P --metrics HOST:PORT --conns N [--seconds S]
 *
 * Opens N connections with one key (the last one is the key's active
 * connection and echoes packets), plus one sender with its own key. Then,
 * for S seconds each:
 *   1. ping alone: the sender sends a 64-byte packet to the key every
 *      millisecond and waits for the echo (round trip through the relay's
 *      routing to that key, twice);
 *   2. the same while another thread scrapes /metrics back to back (each
 *      scrape lists every connection, all N of them).
 * Prints one line: conns, p50/p99/max of each phase in microseconds, and
 * scrapes per second. perf/key_conns.sh runs it against old and new relays.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp_client.h"

#define PING_LEN    64
#define PING_GAP_NS 1000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "key_conns: %s\n", what);
	exit(1);
}

/* ---- /metrics scraper ---- */

struct scraper {
	struct sockaddr_in addr;
	atomic_bool stop;
	uint64_t scrapes;
	uint64_t failures;
};

static int scrape_once(const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n";
	char buf[65536];
	int rc = -1;
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0 &&
	    write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)) {
		ssize_t n, total = 0;
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			total += n;
		/* The peer gauge is last: a whole body has it. */
		rc = n == 0 && total > 0 ? 0 : -1;
	}
	close(fd);
	return rc;
}

static void *scraper_main(void *arg)
{
	struct scraper *s = arg;
	while (!atomic_load(&s->stop)) {
		if (scrape_once(&s->addr) == 0)
			s->scrapes++;
		else
			s->failures++;
	}
	return NULL;
}

/* ---- ping through the relay ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Reads frames until a RecvPacket; returns 0, or -1 on timeout or EOF. */
static int recv_packet(struct derp_client *c, const uint8_t **pkt, uint32_t *len)
{
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t n;
		if (derp_client_read_frame(c, 2000, &type, &p, &n) != 1)
			return -1;
		if (type == DERP_FRAME_RECV_PACKET && n >= KEY_LEN) {
			*pkt = p + KEY_LEN;
			*len = n - KEY_LEN;
			return 0;
		}
	}
}

struct ping_result {
	uint64_t p50, p99, max, count, lost;
};

static void ping_for(struct derp_client *sender, struct derp_client *echo, double seconds,
		     struct ping_result *r)
{
	size_t cap = (size_t)(seconds * 1e9 / PING_GAP_NS) + 16;
	uint64_t *rtt = malloc(cap * sizeof(*rtt));
	if (!rtt)
		die("out of memory");
	memset(r, 0, sizeof(*r));
	uint8_t pkt[PING_LEN] = { 0 };
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	size_t n = 0;
	for (uint64_t next = now_ns(); next < end && n < cap; next += PING_GAP_NS) {
		struct timespec at = { .tv_sec = (time_t)(next / 1000000000ull),
				       .tv_nsec = (long)(next % 1000000000ull) };
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL);
		uint64_t t0 = now_ns();
		memcpy(pkt, &t0, sizeof(t0));
		const uint8_t *got;
		uint32_t len;
		if (derp_client_send_packet(sender, echo->pub, pkt, sizeof(pkt)) < 0 ||
		    recv_packet(echo, &got, &len) < 0 ||
		    derp_client_send_packet(echo, sender->pub, got, len) < 0 ||
		    recv_packet(sender, &got, &len) < 0) {
			r->lost++;
			continue;
		}
		rtt[n++] = now_ns() - t0;
		uint64_t late = now_ns();
		if (late > next + PING_GAP_NS)
			next = late; /* a stall: no burst to catch up */
	}
	qsort(rtt, n, sizeof(*rtt), cmp_u64);
	r->count = n;
	if (n) {
		r->p50 = rtt[n / 2] / 1000;
		r->p99 = rtt[n * 99 / 100] / 1000;
		r->max = rtt[n - 1] / 1000;
	}
	free(rtt);
}

int main(int argc, char **argv)
{
	uint16_t port = 0;
	unsigned long conns = 0;
	double seconds = 3;
	const char *metrics = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = (uint16_t)atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--conns") == 0)
			conns = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seconds") == 0)
			seconds = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--metrics") == 0)
			metrics = argv[i + 1];
		else
			die("usage: key_conns --port P --metrics HOST:PORT --conns N [--seconds "
			    "S]");
	}
	if (!port || !metrics || conns < 1 || seconds <= 0)
		die("usage: key_conns --port P --metrics HOST:PORT --conns N [--seconds S]");

	struct scraper sc = { 0 };
	char host[64];
	const char *colon = strrchr(metrics, ':');
	if (!colon || (size_t)(colon - metrics) >= sizeof(host))
		die("--metrics wants HOST:PORT");
	memcpy(host, metrics, (size_t)(colon - metrics));
	host[colon - metrics] = '\0';
	sc.addr.sin_family = AF_INET;
	sc.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sc.addr.sin_addr) != 1)
		die("--metrics wants an IPv4 HOST:PORT");

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	key_generate(priv, pub);
	struct derp_client_opts same_key = { .private_key = priv, .timeout_ms = 10000 };
	struct derp_client *held = calloc(conns, sizeof(*held));
	if (!held)
		die("out of memory");
	char err[256];
	for (unsigned long i = 0; i < conns; i++) {
		if (derp_client_connect(&held[i], "127.0.0.1", port, &same_key, err, sizeof(err)) <
		    0) {
			fprintf(stderr, "key_conns: connection %lu: %s\n", i, err);
			return 1;
		}
		/* The newest is the active one and echoes; the others only hold a socket. */
		if (i + 1 < conns)
			derp_client_trim(&held[i]);
	}
	struct derp_client sender;
	if (derp_client_connect(&sender, "127.0.0.1", port, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "key_conns: sender: %s\n", err);
		return 1;
	}
	struct derp_client *echo = &held[conns - 1];

	struct ping_result quiet, scraped;
	ping_for(&sender, echo, 0.3, &quiet); /* warm up */
	ping_for(&sender, echo, seconds, &quiet);

	pthread_t th;
	if (pthread_create(&th, NULL, scraper_main, &sc) != 0)
		die("pthread_create");
	uint64_t t0 = now_ns();
	ping_for(&sender, echo, seconds, &scraped);
	atomic_store(&sc.stop, true);
	pthread_join(th, NULL);
	double elapsed = (double)(now_ns() - t0) / 1e9;

	printf("conns=%lu ping_us p50=%llu p99=%llu max=%llu lost=%llu | with scrapes p50=%llu "
	       "p99=%llu max=%llu lost=%llu | scrapes_per_s=%.1f failed=%llu\n",
	       conns, (unsigned long long)quiet.p50, (unsigned long long)quiet.p99,
	       (unsigned long long)quiet.max, (unsigned long long)quiet.lost,
	       (unsigned long long)scraped.p50, (unsigned long long)scraped.p99,
	       (unsigned long long)scraped.max, (unsigned long long)scraped.lost,
	       (double)sc.scrapes / elapsed, (unsigned long long)sc.failures);
	for (unsigned long i = 0; i < conns; i++)
		derp_client_close(&held[i]);
	derp_client_close(&sender);
	free(held);
	return 0;
}
