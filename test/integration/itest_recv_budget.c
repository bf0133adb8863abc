// SPDX-License-Identifier: MIT
/*
 * What clients may cost the relay on its receive side (issue 17), against
 * the real daemon:
 *
 * - a packet pool filled by data (a reader that never reads) costs no
 *   client its ServerInfo or Pong: server frames have their own pool
 *   (limits.control_pool_mb), and the pool-full warning is rate-limited.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

#define NWORKERS 2 /* md_start runs two workers */

/* ---- daemon state ---- */

/* How many lines of the daemon's log contain text. */
static int log_count(struct mgmt_daemon *d, const char *text)
{
	FILE *f = fopen(d->it.log_path, "r");
	char line[2048];
	int n = 0;
	IT_REQUIRE(f, "open %s: %s", d->it.log_path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

/* A per-worker metric summed over the workers. */
static int64_t scrape_workers(struct mgmt_daemon *d, const char *name, int64_t *max_one)
{
	int64_t sum = 0, most = 0;
	for (int w = 0; w < NWORKERS; w++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "worker=\"%d\"", w);
		int64_t v = md_scrape(d, name, labels);
		sum += v;
		if (v > most)
			most = v;
	}
	if (max_one)
		*max_one = most;
	return sum;
}

static int64_t no_buffer_drops(struct mgmt_daemon *d)
{
	return md_scrape(d, "hyperderp_dropped_packets_total",
			 "reason=\"no_buffer\",kind=\"other\"");
}

/* ---- item 7: server frames are never starved by data ---- */

#define FLOOD_MAX_PACKETS 4000 /* 256 MiB of 64 KiB packets: far past a 16 MiB pool */
#define SMALL_PKT	  200
#define SMALL_MAX_PACKETS 3000 /* stays below queue_depth with the large ones */

/*
 * Packets to a reader that never reads, until the sender's worker drops
 * `more` of them for want of a buffer. Each batch ends with a Ping: its
 * Pong comes after every packet before it has been routed.
 */
static int flood_until_drops(struct mgmt_daemon *d, struct derp_client *from,
			     struct derp_client *to, size_t len, int more, int max)
{
	static uint8_t pkt[DERP_MAX_PACKET_SIZE];
	int64_t want = no_buffer_drops(d) + more;
	int sent = 0;
	while (no_buffer_drops(d) < want) {
		IT_REQUIRE(sent < max, "%d packets of %zu bytes and the pool never filled", sent,
			   len);
		for (int i = 0; i < 32; i++, sent++)
			it_send_packet(from, to->pub, pkt, len);
		it_expect_ping_pong(from);
	}
	return sent;
}

static void test_full_packet_pool_starves_no_control_frame(void)
{
	struct md_opts o = { .ini = "[limits]\nbuffer_pool_mb = 16\nqueue_depth = 4096\n"
				    "write_timeout_ms = 0\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *sender = it_connect(&d->it, NULL);
	struct derp_client *stuck = it_connect(&d->it, NULL);
	int size = 4096;
	IT_REQUIRE(setsockopt(stuck->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0,
		   "SO_RCVBUF: %s", strerror(errno));

	/*
	 * 64 KiB packets fill the sender's pool to within one of them; small
	 * ones then take the rest, so that no size class has a buffer left,
	 * the size server frames use included.
	 */
	int big = flood_until_drops(d, sender, stuck, DERP_MAX_PACKET_SIZE, 1, FLOOD_MAX_PACKETS);
	int small = flood_until_drops(d, sender, stuck, SMALL_PKT, 10, SMALL_MAX_PACKETS);
	it_note("pool full after %d packets of 64 KiB and %d of %d bytes", big, small, SMALL_PKT);

	/* New clients, on both workers, get their ServerInfo; everyone gets Pongs. */
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	for (int i = 0; i < 20; i++) {
		it_expect_ping_pong(sender);
		it_expect_ping_pong(a);
		it_expect_ping_pong(b);
	}
	IT_REQUIRE(scrape_workers(d, "hyperderp_worker_control_frames_dropped_total", NULL) == 0,
		   "server frames were dropped");
	int64_t drops = no_buffer_drops(d);
	int warnings = log_count(d, "at its limit");
	it_note("%lld packets dropped as no_buffer, %d pool warnings", (long long)drops, warnings);
	/* One warning per 10 s and worker, however many drops. */
	IT_REQUIRE(warnings <= 4, "%d pool warnings for %lld drops", warnings, (long long)drops);
	IT_REQUIRE(log_count(d, "dropped a") == 0, "server frames dropped (log)");
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_full_packet_pool_starves_no_control_frame),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
