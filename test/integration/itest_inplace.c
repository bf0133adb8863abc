// SPDX-License-Identifier: MIT
/*
 * Relaying without a copy (limits.pinned_recv_buffers), end to end on two
 * workers. A SendPacket that arrives whole inside one provided receive
 * buffer (plain TCP, recv_mode bufring) is rewritten there into a
 * RecvPacket and queued by reference; the buffer stays pinned, away from
 * the kernel, until every packet in it has been written or dropped, and a
 * worker pins at most pinned_recv_buffers buffers, copying past that.
 *
 * What must hold, read from the real daemon's /metrics
 * (hyperderp_worker_packets_{inplace,copied}_total and
 * hyperderp_worker_recv_buffers_pinned) and from what the clients get:
 * - every packet arrives intact (source key, length, every byte, order),
 *   by reference or by copy, within a worker or across the two, also when
 *   one read carries packets for several destinations;
 * - the counters account for each relayed packet exactly once;
 * - a reader that stops reading never makes a worker pin more than the
 *   limit, others on the same worker keep relaying (by copy), and its pins
 *   come back when it leaves, by FIN or RST, also while a send to it is
 *   stuck in flight; the budget then serves new traffic again;
 * - packets held by reference survive their sender leaving and the
 *   receive ring turning over many times, and a stalled reader that
 *   drains gets them intact;
 * - the daemon stops cleanly (exit 0) with buffers pinned on both workers;
 * - 0 turns the path off; frames cut by a read (64 KiB packets), TLS and
 *   recv_mode single always copy;
 * - values outside 0..512 are refused at start, naming file, line and key.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

#define NWORKERS       2 /* md_start runs two workers */
#define MAX_PER_WORKER 4

#define M_INPLACE "hyperderp_worker_packets_inplace_total"
#define M_COPIED  "hyperderp_worker_packets_copied_total"
#define M_PINNED  "hyperderp_worker_recv_buffers_pinned"

/* In place needs the provided-buffer ring: insist on it (Linux 6.0+). */
#define BUFRING_INI "[server]\nrecv_mode = bufring\n"

/* Time allowed for every pin to come back once nothing holds it. */
#define UNPIN_WAIT_MS 5000
/* Time allowed for the counters to account for packets already delivered. */
#define COUNT_WAIT_MS 3000

/* Packets to a stalled reader: 1400 bytes, the first 4 their sequence number. */
#define FLOOD_BYTES	  1400
#define FLOOD_BURST	  500
#define FLOOD_MAX_BURSTS  80 /* 40,000 packets, 57 MB per reader: far beyond any socket buffer */
#define STALLED_RCVBUF	  4096
#define STALLED_QUEUE	  128 /* limits.queue_depth where a reader stalls */
#define STALLED_QUEUE_INI "queue_depth = 128\nwrite_timeout_ms = 0\n"

static const size_t all_sizes[] = { 0, 1, 64, 1400, 16000, 65000 };
#define N_ALL_SIZES (sizeof(all_sizes) / sizeof(all_sizes[0]))
/* Never whole in one 16 KiB receive buffer, so never in place. */
static const size_t big_size[] = { 65000 };
static const size_t mtu_size[] = { 1400 };

/* ---- counters from /metrics ---- */

struct counters {
	int64_t inplace[NWORKERS];
	int64_t copied[NWORKERS];
	int64_t pinned[NWORKERS];
	int64_t queued_max; /* hyperderp_queued_frames_max, -1 if left out */
};

static char scrape_body[1 << 20];

static void read_counters(struct mgmt_daemon *d, struct counters *c)
{
	IT_REQUIRE(md_http_get(d, "/metrics", scrape_body, sizeof(scrape_body)) == 200,
		   "GET /metrics");
	for (int w = 0; w < NWORKERS; w++) {
		char labels[32];
		snprintf(labels, sizeof(labels), "worker=\"%d\"", w);
		c->inplace[w] = md_metric(scrape_body, M_INPLACE, labels);
		c->copied[w] = md_metric(scrape_body, M_COPIED, labels);
		c->pinned[w] = md_metric(scrape_body, M_PINNED, labels);
		IT_REQUIRE(c->inplace[w] >= 0 && c->copied[w] >= 0 && c->pinned[w] >= 0,
			   "/metrics lacks %s, %s or %s for worker %d:\n%s", M_INPLACE, M_COPIED,
			   M_PINNED, w, scrape_body);
	}
	c->queued_max = md_metric(scrape_body, "hyperderp_queued_frames_max", NULL);
}

static int64_t sum(const int64_t v[NWORKERS])
{
	int64_t s = 0;
	for (int w = 0; w < NWORKERS; w++)
		s += v[w];
	return s;
}

/*
 * Requires the counters to account for exactly `relayed` packets more than
 * in `before`, in place or copied. They are bumped as a packet is routed,
 * before it can reach its reader, but a short wait costs nothing.
 */
static void require_counted(struct mgmt_daemon *d, const struct counters *before, int64_t relayed,
			    struct counters *now, const char *what)
{
	int64_t deadline = it_now_ms() + COUNT_WAIT_MS;
	int64_t in, cp;
	for (;;) {
		read_counters(d, now);
		in = sum(now->inplace) - sum(before->inplace);
		cp = sum(now->copied) - sum(before->copied);
		if (in + cp >= relayed || it_now_ms() > deadline)
			break;
		it_sleep_ms(20);
	}
	IT_REQUIRE(in + cp == relayed,
		   "%s: %lld packets relayed, but the counters say %lld in place + %lld copied",
		   what, (long long)relayed, (long long)in, (long long)cp);
	it_note("%s: %lld packets, %lld in place, %lld copied", what, (long long)relayed,
		(long long)in, (long long)cp);
}

/* Requires every worker's pin gauge to come back to 0 within UNPIN_WAIT_MS. */
static void require_unpinned(struct mgmt_daemon *d, const char *when)
{
	struct counters c;
	int64_t start = it_now_ms();
	for (;;) {
		read_counters(d, &c);
		if (sum(c.pinned) == 0)
			break;
		IT_REQUIRE(
		    it_now_ms() - start < UNPIN_WAIT_MS,
		    "%s: receive buffers still pinned after %d ms (worker 0: %lld, worker 1: "
		    "%lld)",
		    when, UNPIN_WAIT_MS, (long long)c.pinned[0], (long long)c.pinned[1]);
		it_sleep_ms(20);
	}
	it_note("%s: no receive buffer pinned (%ld ms)", when, (long)(it_now_ms() - start));
}

/* ---- where clients landed ---- */

/* The worker of each client, from `show peers` (waits until all are listed). */
static void workers_of(struct mgmt_daemon *d, struct derp_client *const *cl, int n, int *w)
{
	int64_t deadline = it_now_ms() + 3000;
	for (;;) {
		struct json_doc doc;
		int missing = 0;
		md_cli_json(d, &doc, "show", "peers", NULL);
		const struct json_value *peers = json_get(doc.root, "peers");
		for (int i = 0; i < n; i++) {
			char nodekey[80];
			md_nodekey(cl[i]->pub, nodekey);
			w[i] = -1;
			for (const struct json_value *p = peers ? peers->child : NULL; p;
			     p = p->next) {
				if (strcmp(json_get_str(p, "key", ""), nodekey) == 0)
					w[i] = (int)json_get_u64(p, "worker", 0);
			}
			missing += w[i] < 0 || w[i] >= NWORKERS;
		}
		json_doc_free(&doc);
		if (!missing)
			return;
		IT_REQUIRE(it_now_ms() < deadline, "%d clients not listed by show peers", missing);
		it_sleep_ms(20);
	}
}

/*
 * Connects clients until each worker holds `per` of them (handoff is
 * round-robin, so normally 2 * per connections); on[w][i] is the i-th on worker w.
 */
static void connect_spread(struct mgmt_daemon *d, int per, const struct derp_client_opts *opts,
			   struct derp_client *on[NWORKERS][MAX_PER_WORKER])
{
	int have[NWORKERS] = { 0 };
	IT_REQUIRE(per <= MAX_PER_WORKER, "at most %d per worker", MAX_PER_WORKER);
	for (int tries = 0; have[0] < per || have[1] < per; tries++) {
		IT_REQUIRE(tries < 4 * per,
			   "the clients do not spread over both workers (%d on worker 0, %d on 1)",
			   have[0], have[1]);
		struct derp_client *c = it_connect(&d->it, opts);
		int w;
		workers_of(d, &c, 1, &w);
		if (have[w] < per)
			on[w][have[w]++] = c;
	}
}

/* ---- verified traffic ---- */

/* Packets from src to dst; seq counts what was sent and what arrived. */
struct flow {
	struct derp_client *src, *dst;
	uint32_t id; /* distinct within a test: seeds the bytes */
	uint32_t sent;
	uint32_t got;
};

static size_t flow_len(const struct flow *f, uint32_t seq, const size_t *lens, size_t nlens)
{
	return lens[(seq + f->id) % nlens];
}

static uint64_t flow_seed(const struct flow *f, uint32_t seq)
{
	return (uint64_t)f->id << 32 | seq;
}

static size_t first_difference(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i = 0;
	while (i < len && a[i] == b[i])
		i++;
	return i;
}

/* Checks one RecvPacket that reached dst against the flow its source key names. */
static void check_arrival(struct flow *fl, size_t n, const struct derp_client *dst,
			  const uint8_t *p, uint32_t len, const size_t *lens, size_t nlens,
			  uint8_t *scratch)
{
	struct flow *f = NULL;
	IT_REQUIRE(len >= KEY_LEN, "RecvPacket of %u bytes: no source key", len);
	for (size_t i = 0; i < n && !f; i++) {
		if (fl[i].dst == dst && memcmp(p, fl[i].src->pub, KEY_LEN) == 0)
			f = &fl[i];
	}
	IT_REQUIRE(f, "a RecvPacket whose source key sends nothing to this client");
	uint32_t seq = f->got++;
	IT_REQUIRE(seq < f->sent, "flow %u: more packets than were sent (%u)", f->id, f->sent);
	size_t want = flow_len(f, seq, lens, nlens);
	IT_REQUIRE(len - KEY_LEN == want,
		   "flow %u: packet %u has %u bytes, want %zu (lost, duplicated or reordered)",
		   f->id, seq, len - KEY_LEN, want);
	it_fill_pattern(scratch, want, flow_seed(f, seq));
	size_t at = first_difference(p + KEY_LEN, scratch, want);
	IT_REQUIRE(at == want, "flow %u: packet %u (%zu bytes) differs from byte %zu on", f->id,
		   seq, want, at);
}

/*
 * `rounds` times: every flow sends `per_round` packets (interleaved over the
 * flows, so one read of a sender carries packets for several destinations),
 * then every destination reads what it was sent, checking each packet.
 * per_round times a destination's fan-in must stay below the queue depth.
 * Returns the number of packets relayed.
 */
static int64_t run_flows(struct flow *fl, size_t n, unsigned rounds, unsigned per_round,
			 const size_t *lens, size_t nlens)
{
	uint8_t *buf = malloc(DERP_MAX_PACKET_SIZE);
	int64_t relayed = 0;
	IT_REQUIRE(buf, "out of memory");
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned k = 0; k < per_round; k++) {
			for (size_t i = 0; i < n; i++) {
				struct flow *f = &fl[i];
				size_t len = flow_len(f, f->sent, lens, nlens);
				it_fill_pattern(buf, len, flow_seed(f, f->sent));
				it_send_packet(f->src, f->dst->pub, buf, len);
				f->sent++;
				relayed++;
			}
		}
		for (size_t i = 0; i < n; i++) {
			bool first = true;
			unsigned fan_in = 0;
			for (size_t j = 0; j < n; j++) {
				first &= !(j < i && fl[j].dst == fl[i].dst);
				fan_in += fl[j].dst == fl[i].dst;
			}
			if (!first)
				continue;
			for (unsigned m = 0; m < fan_in * per_round; m++) {
				uint32_t len;
				const uint8_t *p = it_expect_frame(
				    fl[i].dst, DERP_FRAME_RECV_PACKET, IT_FRAME_TIMEOUT_MS, &len);
				check_arrival(fl, n, fl[i].dst, p, len, lens, nlens, buf);
			}
		}
	}
	free(buf);
	for (size_t i = 0; i < n; i++)
		IT_REQUIRE(fl[i].got == fl[i].sent, "flow %u: %u of %u arrived", fl[i].id,
			   fl[i].got, fl[i].sent);
	return relayed;
}

/* Flow ids are never reused in a run, so no two flows carry the same bytes. */
static uint32_t next_flow_id = 1;

static struct flow new_flow(struct derp_client *src, struct derp_client *dst)
{
	return (struct flow){ .src = src, .dst = dst, .id = next_flow_id++ };
}

/* Both directions between a and b. */
static size_t add_pair(struct flow *fl, size_t n, struct derp_client *a, struct derp_client *b)
{
	fl[n] = new_flow(a, b);
	fl[n + 1] = new_flow(b, a);
	return n + 2;
}

/* Every client to every other. */
static size_t add_mesh(struct flow *fl, size_t n, struct derp_client *const *cl, int ncl)
{
	for (int s = 0; s < ncl; s++) {
		for (int t = 0; t < ncl; t++) {
			if (s != t)
				fl[n++] = new_flow(cl[s], cl[t]);
		}
	}
	return n;
}

/* ---- stalled readers ---- */

/* A reader that stops reading: its socket buffer made small, so the relay's backs up. */
static void stall(struct derp_client *c)
{
	int size = STALLED_RCVBUF;
	IT_REQUIRE(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == 0,
		   "SO_RCVBUF: %s", strerror(errno));
}

static void flood_packet(uint8_t *buf, uint32_t seq)
{
	it_fill_pattern(buf, FLOOD_BYTES, 0xf100d00000000ull + seq);
	it_put_be32(buf, seq);
}

/* A stalled reader and who sends to it. */
struct stalled {
	struct derp_client *from, *to;
	uint32_t sent;
};

/* The fewest frames queued for any of the stalled readers, from show peers. */
static int64_t min_queued(struct mgmt_daemon *d, const struct stalled *st, int n)
{
	struct json_doc doc;
	int64_t least = INT64_MAX;
	md_cli_json(d, &doc, "show", "peers", NULL);
	const struct json_value *peers = json_get(doc.root, "peers");
	for (int s = 0; s < n; s++) {
		char nodekey[80];
		int64_t q = -1;
		md_nodekey(st[s].to->pub, nodekey);
		for (const struct json_value *p = peers ? peers->child : NULL; p; p = p->next) {
			if (strcmp(json_get_str(p, "key", ""), nodekey) == 0)
				q = (int64_t)json_get_u64(p, "queued", 0);
		}
		if (q < least)
			least = q;
	}
	json_doc_free(&doc);
	return least;
}

/*
 * Floods the stalled readers in bursts until the relay holds at least
 * `want` frames queued for each of them, and keeps them: each burst ends
 * with a Ping from every sender (so the relay has routed all of it) and a
 * pause, so that a queue that only grew for a moment, while the relay
 * wrote into socket buffers with room left, has drained again.
 */
#define SETTLE_MS 30

static void flood_until_backed_up(struct mgmt_daemon *d, struct stalled *st, int n, int64_t want)
{
	uint8_t pkt[FLOOD_BYTES];
	for (int burst = 0;; burst++) {
		IT_REQUIRE(burst < FLOOD_MAX_BURSTS,
			   "after %d packets each the relay's queues never backed up",
			   burst * FLOOD_BURST);
		for (int i = 0; i < FLOOD_BURST; i++) {
			for (int s = 0; s < n; s++) {
				flood_packet(pkt, st[s].sent++);
				it_send_packet(st[s].from, st[s].to->pub, pkt, FLOOD_BYTES);
			}
		}
		for (int s = 0; s < n; s++)
			it_expect_ping_pong(st[s].from);
		it_sleep_ms(SETTLE_MS);
		if (min_queued(d, st, n) >= want)
			return;
	}
}

/* ---- a thread sampling the pin gauges while the test drives traffic ---- */

static struct {
	pthread_t thread;
	bool running;
	struct sockaddr_in addr;
	atomic_bool stop;
	int64_t max_pinned[NWORKERS];
	long samples;
	long failures;
	char body[1 << 20];
} sampler;

/* One GET /metrics; no IT_REQUIRE off the test's thread. */
static bool sampler_get(void)
{
	static const char req[] =
	    "GET /metrics HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
	size_t len = 0;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	bool ok = connect(fd, (struct sockaddr *)&sampler.addr, sizeof(sampler.addr)) == 0 &&
		  write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1);
	while (ok) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 2000) <= 0 || len + 1 >= sizeof(sampler.body)) {
			ok = false;
			break;
		}
		ssize_t r = read(fd, sampler.body + len, sizeof(sampler.body) - 1 - len);
		if (r < 0)
			ok = false;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	sampler.body[len] = '\0';
	return ok && strncmp(sampler.body, "HTTP/1.1 200", 12) == 0;
}

static void *sampler_main(void *arg)
{
	(void)arg;
	int64_t end = it_now_ms() + 60000; /* never outlives a test for long */
	while (!atomic_load(&sampler.stop) && it_now_ms() < end) {
		bool ok = sampler_get();
		for (int w = 0; ok && w < NWORKERS; w++) {
			char labels[32];
			snprintf(labels, sizeof(labels), "worker=\"%d\"", w);
			int64_t v = md_metric(sampler.body, M_PINNED, labels);
			ok = v >= 0;
			if (v > sampler.max_pinned[w])
				sampler.max_pinned[w] = v;
		}
		if (ok)
			sampler.samples++;
		else
			sampler.failures++;
		usleep(500);
	}
	return NULL;
}

static void sampler_stop(void)
{
	if (!sampler.running)
		return;
	atomic_store(&sampler.stop, true);
	pthread_join(sampler.thread, NULL);
	sampler.running = false;
}

static void sampler_start(struct mgmt_daemon *d)
{
	sampler_stop(); /* one a failed test left behind */
	const char *colon = strrchr(d->metrics, ':');
	IT_REQUIRE(colon, "metrics are off");
	char host[64];
	snprintf(host, sizeof(host), "%.*s", (int)(colon - d->metrics), d->metrics);
	memset(&sampler.addr, 0, sizeof(sampler.addr));
	sampler.addr.sin_family = AF_INET;
	sampler.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	IT_REQUIRE(inet_pton(AF_INET, host, &sampler.addr.sin_addr) == 1, "metrics at %s",
		   d->metrics);
	for (int w = 0; w < NWORKERS; w++)
		sampler.max_pinned[w] = 0;
	sampler.samples = sampler.failures = 0;
	atomic_store(&sampler.stop, false);
	IT_REQUIRE(pthread_create(&sampler.thread, NULL, sampler_main, NULL) == 0,
		   "pthread_create");
	sampler.running = true;
}

/* ---- tests ---- */

/*
 * Pairs within a worker, pairs across the two, 64 KiB packets, then a full
 * mesh over all of them: sizes 0 to 65000, every byte checked, and the
 * counters must say each packet went one way or the other.
 */
static void test_inplace_within_and_across_workers(void)
{
	struct md_opts o = { .ini = BUFRING_INI };
	struct mgmt_daemon *d = md_start(&o);
	IT_REQUIRE(strcmp(md_logged_recv_mode(d), "bufring") == 0, "not in bufring mode");
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 4, NULL, on);
	struct counters before, after;
	struct flow same[4], cross[4], all[8], mesh[56];
	size_t ns = 0, nc = 0, na = 0;

	ns = add_pair(same, ns, on[0][0], on[0][1]);
	ns = add_pair(same, ns, on[1][0], on[1][1]);
	read_counters(d, &before);
	int64_t n = run_flows(same, ns, 15, 12, all_sizes, N_ALL_SIZES);
	require_counted(d, &before, n, &after, "within a worker");
	IT_REQUIRE(sum(after.inplace) > sum(before.inplace),
		   "no packet between clients of one worker went in place");
	require_unpinned(d, "within a worker, all delivered");

	nc = add_pair(cross, nc, on[0][2], on[1][2]);
	nc = add_pair(cross, nc, on[1][3], on[0][3]);
	read_counters(d, &before);
	n = run_flows(cross, nc, 15, 12, all_sizes, N_ALL_SIZES);
	require_counted(d, &before, n, &after, "across workers");
	IT_REQUIRE(sum(after.inplace) > sum(before.inplace),
		   "no packet between clients of different workers went in place");
	require_unpinned(d, "across workers, all delivered");

	/* 65,037-byte frames span several 16 KiB reads: always assembled, always copied. */
	memcpy(all, same, sizeof(same));
	memcpy(all + ns, cross, sizeof(cross));
	na = ns + nc;
	read_counters(d, &before);
	n = run_flows(all, na, 2, 4, big_size, 1);
	require_counted(d, &before, n, &after, "64 KiB packets");
	IT_REQUIRE(sum(after.inplace) == sum(before.inplace),
		   "%lld packets of 65000 bytes counted as relayed in place",
		   (long long)(sum(after.inplace) - sum(before.inplace)));

	/* One read of a sender carries packets for both workers. */
	struct derp_client *cl[8];
	for (int i = 0; i < 8; i++)
		cl[i] = on[i % 2][i / 2];
	size_t nm = add_mesh(mesh, 0, cl, 8);
	read_counters(d, &before);
	n = run_flows(mesh, nm, 10, 2, all_sizes, N_ALL_SIZES);
	require_counted(d, &before, n, &after, "full mesh");
	IT_REQUIRE(sum(after.inplace) > sum(before.inplace), "no packet of the mesh went in place");

	for (int i = 0; i < 8; i++)
		it_expect_ping_pong(cl[i]); /* nothing extra was queued */
	for (int i = 0; i < 8; i++)
		it_client_close(cl[i]);
	require_unpinned(d, "clients closed");

	/* hdcli's view agrees with /metrics once it has the keys. */
	struct json_doc doc;
	read_counters(d, &after);
	md_cli_json(d, &doc, "show", "counters", NULL);
	const struct json_value *relay = json_get(doc.root, "relay");
	uint64_t cli_in = json_get_u64(relay, "packets_inplace", UINT64_MAX);
	uint64_t cli_cp = json_get_u64(relay, "packets_copied", UINT64_MAX);
	uint64_t cli_pin = json_get_u64(relay, "recv_buffers_pinned", UINT64_MAX);
	json_doc_free(&doc);
	if (cli_in == UINT64_MAX) {
		it_note("show counters has no packets_inplace yet: not compared");
	} else {
		IT_REQUIRE(cli_in == (uint64_t)sum(after.inplace) &&
			       cli_cp == (uint64_t)sum(after.copied) && cli_pin == 0,
			   "show counters says %llu in place, %llu copied, %llu pinned; /metrics "
			   "%lld, %lld, 0",
			   (unsigned long long)cli_in, (unsigned long long)cli_cp,
			   (unsigned long long)cli_pin, (long long)sum(after.inplace),
			   (long long)sum(after.copied));
	}
	md_stop(d);
}

/* Whether show peers lists key. */
static bool peer_listed(struct mgmt_daemon *d, const uint8_t key[KEY_LEN])
{
	struct json_doc doc;
	char nodekey[80];
	bool found = false;
	md_nodekey(key, nodekey);
	md_cli_json(d, &doc, "show", "peers", NULL);
	const struct json_value *peers = json_get(doc.root, "peers");
	for (const struct json_value *p = peers ? peers->child : NULL; p; p = p->next)
		found |= strcmp(json_get_str(p, "key", ""), nodekey) == 0;
	json_doc_free(&doc);
	return found;
}

static bool wait_unlisted(struct mgmt_daemon *d, const uint8_t key[KEY_LEN], int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	while (peer_listed(d, key)) {
		if (it_now_ms() > deadline)
			return false;
		it_sleep_ms(20);
	}
	return true;
}

/*
 * pinned_recv_buffers = 4. A on worker 0 floods B1 and B2 on worker 1, who
 * never read; C, also on worker 0, keeps sending to D meanwhile. Worker 0
 * must never pin more than 4 buffers (a thread samples the gauges all
 * along), must reach 4, must copy most of what arrives once it has, and
 * C's packets must all arrive intact. Then the readers leave both ways a
 * client can: B2 hangs up (FIN: the relay closes while its stuck send is
 * still in flight), B1 closes with unread data (RST: the send fails
 * first). Every pin must come back, and new traffic then goes in place again.
 */
#define LIMIT 4
/*
 * Bursts of FLOOD_BURST x 1400 bytes, over two readers: 26 MB. Past the
 * first 24 (8.6 MB per reader, twice what the sockets hold here) the
 * readers are stalled for sure.
 */
#define SLOW_BURSTS    36
#define SLOW_MID_BURST 24
#define SIDE_PER_BURST 16

static void test_pin_limit_holds_against_stalled_readers(void)
{
	struct md_opts o = {
		.ini = BUFRING_INI "[limits]\npinned_recv_buffers = 4\n" STALLED_QUEUE_INI,
	};
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 3, NULL, on);
	struct derp_client *a = on[0][0], *c = on[0][1];
	struct derp_client *b[2] = { on[1][0], on[1][1] }, *dd = on[1][2];
	struct flow side[1] = { new_flow(c, dd) };
	struct counters start, mid, end;
	uint8_t pkt[FLOOD_BYTES];
	uint32_t seq = 0;
	int64_t side_n = 0, mid_seq = 0;

	stall(b[0]);
	stall(b[1]);
	read_counters(d, &start);
	sampler_start(d);
	for (int burst = 0; burst < SLOW_BURSTS; burst++) {
		if (burst == SLOW_MID_BURST) {
			/*
			 * All of A's packets so far are routed, so counted; worker 1
			 * may still be taking them off the ring from worker 0.
			 */
			it_expect_ping_pong(a);
			mid_seq = seq;
			it_sleep_ms(SETTLE_MS);
			int64_t deadline = it_now_ms() + 3000;
			do {
				read_counters(d, &mid);
				IT_REQUIRE(it_now_ms() < deadline,
					   "after %u packets the stalled readers' queues hold at "
					   "most %lld frames: they are not stalled",
					   seq, (long long)mid.queued_max);
			} while (mid.queued_max < STALLED_QUEUE / 2);
		}
		for (int i = 0; i < FLOOD_BURST; i++) {
			flood_packet(pkt, seq);
			it_send_packet(a, b[seq % 2]->pub, pkt, FLOOD_BYTES);
			seq++;
		}
		side_n += run_flows(side, 1, 1, SIDE_PER_BURST, mtu_size, 1);
	}
	it_expect_ping_pong(a);
	require_counted(d, &start, seq + side_n, &end, "flood and side traffic");
	sampler_stop();
	it_note("pin gauge: %ld samples (%ld failed), highest worker 0: %lld, worker 1: %lld",
		sampler.samples, sampler.failures, (long long)sampler.max_pinned[0],
		(long long)sampler.max_pinned[1]);
	IT_REQUIRE(sampler.samples >= 10, "only %ld samples of the pin gauge", sampler.samples);
	for (int w = 0; w < NWORKERS; w++) {
		IT_REQUIRE(sampler.max_pinned[w] <= LIMIT && end.pinned[w] <= LIMIT,
			   "worker %d pinned %lld receive buffers (now %lld): the limit is %d", w,
			   (long long)sampler.max_pinned[w], (long long)end.pinned[w], LIMIT);
	}
	IT_REQUIRE(sampler.max_pinned[0] == LIMIT,
		   "worker 0 never reached its limit of %d pins (highest %lld) while readers "
		   "stalled",
		   LIMIT, (long long)sampler.max_pinned[0]);
	/*
	 * Once the queues are full, at most 4 buffers' worth of them (44
	 * packets of 1400 bytes) can be in place and the rest must be copies:
	 * far more than the few frames cut by a read that are copied anyway.
	 */
	int64_t late = seq - mid_seq;
	int64_t late_copied = sum(end.copied) - sum(mid.copied);
	IT_REQUIRE(late_copied >= late / 4,
		   "of %lld packets sent to the stalled readers past their full queues only %lld "
		   "were copied: the pin limit was not applied",
		   (long long)late, (long long)late_copied);

	/*
	 * Something must be pinned for the readers when they leave, or the
	 * check below proves nothing. The queues may by now hold only copies
	 * (pins are given back when old packets are dropped, after the newer
	 * ones were already copied), so one more packet each: a free pin goes
	 * to it, and it stays queued; were all 4 taken, its drop of an older
	 * packet frees at most one.
	 */
	it_sleep_ms(SETTLE_MS);
	for (int k = 0; k < 2; k++) {
		flood_packet(pkt, seq++);
		it_send_packet(a, b[k]->pub, pkt, FLOOD_BYTES);
	}
	it_expect_ping_pong(a);
	it_sleep_ms(SETTLE_MS);
	read_counters(d, &end);
	it_note("pinned for the stalled readers: %lld", (long long)end.pinned[0]);
	IT_REQUIRE(end.pinned[0] > 0 && end.pinned[0] <= LIMIT,
		   "worker 0 pins %lld buffers for the stalled readers, want 1..%d",
		   (long long)end.pinned[0], LIMIT);

	/* The readers leave: what was queued or mid-write to them lets go of its buffers. */
	sampler_start(d);
	IT_REQUIRE(shutdown(b[1]->fd, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
	IT_REQUIRE(wait_unlisted(d, b[1]->pub, 5000), "the relay did not close B2 after its FIN");
	it_client_close(b[1]);
	it_client_close(b[0]);
	require_unpinned(d, "stalled readers gone");
	sampler_stop();
	IT_REQUIRE(sampler.max_pinned[0] <= LIMIT && sampler.max_pinned[1] <= LIMIT,
		   "more than %d pins while the readers left", LIMIT);

	/* The budget serves again: new traffic, a newcomer too, goes in place and intact. */
	struct derp_client *e = it_connect(&d->it, NULL);
	struct flow after[6];
	size_t na = add_pair(after, 0, a, dd);
	na = add_pair(after, na, c, e);
	na = add_pair(after, na, a, e);
	read_counters(d, &start);
	int64_t n = run_flows(after, na, 6, 8, all_sizes, N_ALL_SIZES);
	require_counted(d, &start, n, &end, "after the readers left");
	IT_REQUIRE(sum(end.inplace) > sum(start.inplace),
		   "nothing went in place after the stalled readers left: pins leaked");
	require_unpinned(d, "all delivered");
	md_stop(d);
}

/*
 * Readers that leave while a send to them is stuck in flight, holding
 * pinned buffers itself. Two hang up (FIN: the relay closes the
 * connection while the send is in flight, and the send fails after), two
 * close with unread data (RST: the send fails first); of each kind one on
 * the sender's worker and one on the other. The first reader, on the
 * sender's worker, is stalled alone with the largest budget, so every
 * frame of its stuck send is in place (no packets in transit between the
 * workers compete for pins). Every pin must come back.
 */
static void test_readers_leaving_mid_write_give_pins_back(void)
{
	struct md_opts o = {
		.ini = BUFRING_INI "[limits]\npinned_recv_buffers = 512\n" STALLED_QUEUE_INI,
	};
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 3, NULL, on);
	struct derp_client *a = on[0][0];
	struct derp_client *fin[2] = { on[0][1], on[1][0] }, *rst[2] = { on[0][2], on[1][1] };
	struct stalled st[4] = { { .from = a, .to = fin[0] },
				 { .from = a, .to = fin[1] },
				 { .from = a, .to = rst[0] },
				 { .from = a, .to = rst[1] } };
	struct counters cnt;

	for (int i = 0; i < 4; i++)
		stall(st[i].to);
	flood_until_backed_up(d, st, 1, STALLED_QUEUE / 2);
	it_sleep_ms(SETTLE_MS);
	read_counters(d, &cnt);
	it_note("%u packets to the first reader; worker 0 pins %lld buffers", st[0].sent,
		(long long)cnt.pinned[0]);
	IT_REQUIRE(cnt.pinned[0] > 0, "nothing pinned for a stalled reader");
	flood_until_backed_up(d, st + 1, 3, STALLED_QUEUE / 2);
	it_sleep_ms(SETTLE_MS);
	read_counters(d, &cnt);
	it_note("%u packets to the others; pinned: worker 0 %lld, worker 1 %lld", st[1].sent,
		(long long)cnt.pinned[0], (long long)cnt.pinned[1]);

	for (int i = 0; i < 2; i++)
		IT_REQUIRE(shutdown(fin[i]->fd, SHUT_WR) == 0, "shutdown: %s", strerror(errno));
	for (int i = 0; i < 2; i++)
		IT_REQUIRE(wait_unlisted(d, fin[i]->pub, 5000),
			   "the relay did not close a reader after its FIN");
	for (int i = 0; i < 2; i++) {
		it_client_close(fin[i]);
		it_client_close(rst[i]);
	}
	require_unpinned(d, "stalled readers gone");
	it_require_relaying(a, on[1][2]);
	md_stop(d);
}

/* pinned_recv_buffers = 0: the same traffic, all of it copied, nothing ever pinned. */
static void test_zero_limit_always_copies(void)
{
	struct md_opts o = { .ini = BUFRING_INI "[limits]\npinned_recv_buffers = 0\n" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 2, NULL, on);
	struct derp_client *cl[4] = { on[0][0], on[1][0], on[0][1], on[1][1] };
	struct flow mesh[12];
	struct flow flood[2];
	struct counters before, after;

	size_t nm = add_mesh(mesh, 0, cl, 4);
	size_t nf = add_pair(flood, 0, on[0][0], on[1][0]);
	read_counters(d, &before);
	int64_t n = run_flows(mesh, nm, 10, 2, all_sizes, N_ALL_SIZES);
	n += run_flows(flood, nf, 20, 16, mtu_size, 1);
	require_counted(d, &before, n, &after, "pinned_recv_buffers = 0");
	for (int w = 0; w < NWORKERS; w++) {
		IT_REQUIRE(after.inplace[w] == 0 && after.pinned[w] == 0,
			   "worker %d: %lld packets in place, %lld buffers pinned with "
			   "pinned_recv_buffers = 0",
			   w, (long long)after.inplace[w], (long long)after.pinned[w]);
	}
	IT_REQUIRE(sum(after.copied) - sum(before.copied) == n, "not every packet copied");
	md_stop(d);
}

/* Out of 0..512, negative, not a number: refused, naming file, line and key. */
static void test_bad_limit_is_refused(void)
{
	static const char *const bad[] = { "513", "-1", "abc", "4096" };
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], out[4096], want[512];

	snprintf(dir, sizeof(dir), "%s/hd-inplace-ini-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/bad.ini", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		FILE *f = fopen(path, "w");
		IT_REQUIRE(f, "open %s: %s", path, strerror(errno));
		fprintf(f,
			"[server]\nworkers = 2\n\n[limits]\nqueue_depth = 64\n"
			"pinned_recv_buffers = %s\n",
			bad[i]);
		fclose(f);
		char *args[] = { "--config", path, "--mgmt-socket", "", NULL };
		int status;
		bool exited = it_run_daemon_to_exit(args, out, sizeof(out), &status);
		if (!exited) {
			unlink(path);
			rmdir(dir);
		}
		IT_REQUIRE(exited, "pinned_recv_buffers = %s: the daemon ran on; its output:\n%s",
			   bad[i], out);
		IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 0,
			   "pinned_recv_buffers = %s: exited with status 0x%x", bad[i], status);
		snprintf(want, sizeof(want),
			 "%s:6: limits.pinned_recv_buffers: \"%s\" is not an integer in 0..512",
			 path, bad[i]);
		if (!strstr(out, want)) {
			unlink(path);
			rmdir(dir);
		}
		IT_REQUIRE(strstr(out, want), "output lacks \"%s\":\n%s", want, out);
		it_note("refused: %.*s", (int)strcspn(out, "\n"), out);
	}
	unlink(path);
	rmdir(dir);

	/* The top of the range is taken, and is what the daemon runs with. */
	struct md_opts o = { .ini = "[limits]\npinned_recv_buffers = 512\n" };
	struct mgmt_daemon *d = md_start(&o);
	char value[32];
	md_config_value(d, "limits.pinned_recv_buffers", value, sizeof(value));
	IT_REQUIRE(strcmp(value, "512") == 0, "show config: limits.pinned_recv_buffers = \"%s\"",
		   value);
	it_require_relaying(it_connect(&d->it, NULL), it_connect(&d->it, NULL));
	md_stop(d);
}

/*
 * Packets held by reference outlive their sender and the ring turning
 * over: A floods B, who has stopped reading, until B's queue is full of
 * packets in A's worker's receive buffers; A leaves; C, on the same
 * worker, then makes that worker receive into far more buffers than its
 * ring has (each packet followed by a Ping/Pong round trip: at least one
 * read each), so a buffer given back while still referenced would be
 * overwritten. Then B reads: what reaches it must be A's packets, intact,
 * in order, up to the very last one; after that nothing is pinned.
 */
#define RING_TURN_PACKETS 2400 /* the ring has 1024 buffers */

static void test_references_outlive_their_sender(void)
{
	struct md_opts o = { .ini = BUFRING_INI "[limits]\n" STALLED_QUEUE_INI };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 2, NULL, on);
	struct derp_client *a = on[0][0], *c = on[0][1], *b = on[1][0], *dd = on[1][1];
	struct stalled st = { .from = a, .to = b };
	struct flow side[1] = { new_flow(c, dd) };
	struct counters cnt;
	uint8_t want[FLOOD_BYTES];

	/*
	 * B's receive buffer is left as it is: shrunk, it would later drain at
	 * a few KB per window update. The relay's queue backs up all the same.
	 */
	flood_until_backed_up(d, &st, 1, STALLED_QUEUE / 2);
	/* One more: whatever the flood left pinned, a free pin goes to it. */
	uint8_t pkt[FLOOD_BYTES];
	flood_packet(pkt, st.sent++);
	it_send_packet(a, b->pub, pkt, FLOOD_BYTES);
	it_expect_ping_pong(a);
	it_sleep_ms(SETTLE_MS);
	read_counters(d, &cnt);
	IT_REQUIRE(cnt.pinned[0] > 0, "nothing pinned on worker 0 for the stalled reader");
	it_note("%u packets sent to the stalled reader; worker 0 pins %lld buffers", st.sent,
		(long long)cnt.pinned[0]);
	uint8_t a_pub[KEY_LEN];
	memcpy(a_pub, a->pub, KEY_LEN);
	it_client_close(a);

	for (int i = 0; i < RING_TURN_PACKETS; i++) {
		uint8_t small[64];
		it_fill_pattern(small, sizeof(small), flow_seed(&side[0], side[0].sent));
		it_send_packet(c, dd->pub, small, sizeof(small));
		side[0].sent++;
		it_expect_ping_pong(c);
		if (side[0].sent % 16 == 0) {
			/* D reads them. */
			while (side[0].got < side[0].sent) {
				uint32_t len;
				const uint8_t *p = it_expect_frame(dd, DERP_FRAME_RECV_PACKET,
								   IT_FRAME_TIMEOUT_MS, &len);
				uint8_t scratch[64];
				IT_REQUIRE(len == KEY_LEN + sizeof(small) &&
					       memcmp(p, c->pub, KEY_LEN) == 0,
					   "D: a packet of %u bytes, or not from C", len);
				it_fill_pattern(scratch, sizeof(scratch),
						flow_seed(&side[0], side[0].got));
				IT_REQUIRE(memcmp(p + KEY_LEN, scratch, sizeof(scratch)) == 0,
					   "D: packet %u differs", side[0].got);
				side[0].got++;
			}
		}
	}
	read_counters(d, &cnt);
	IT_REQUIRE(cnt.pinned[0] > 0,
		   "worker 0 let go of every pin while the stalled reader still had packets "
		   "queued");

	/* B reads again. */
	uint32_t got = 0, first = 0;
	int64_t last = -1, drain_end = it_now_ms() + 30000;
	for (;;) {
		IT_REQUIRE(it_now_ms() < drain_end, "B still reading after 30 s (%u packets)", got);
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = it_read_frame(b, 1000, &type, &p, &len);
		IT_REQUIRE(rc >= 0, "the stalled reader's connection was closed");
		if (rc == 0)
			break;
		if (type == DERP_FRAME_PEER_GONE)
			continue; /* A left */
		IT_REQUIRE(type == DERP_FRAME_RECV_PACKET, "B got a %s frame", it_type_name(type));
		IT_REQUIRE(len == KEY_LEN + FLOOD_BYTES, "B: a packet of %u bytes", len - KEY_LEN);
		IT_REQUIRE(memcmp(p, a_pub, KEY_LEN) == 0, "B: a packet not from A");
		uint32_t seq = it_get_be32(p + KEY_LEN);
		IT_REQUIRE((int64_t)seq > last && seq < st.sent,
			   "B: packet %u after %lld (of %u sent): reordered, duplicated or made up",
			   seq, (long long)last, st.sent);
		flood_packet(want, seq);
		size_t at = first_difference(p + KEY_LEN, want, FLOOD_BYTES);
		IT_REQUIRE(at == FLOOD_BYTES,
			   "B: packet %u (the %uth read) differs from byte %zu on: its receive "
			   "buffer was reused while still referenced",
			   seq, got + 1, at);
		if (!got)
			first = seq;
		last = seq;
		got++;
	}
	it_note("B read %u packets, %u to %lld, all intact", got, first, (long long)last);
	IT_REQUIRE(got >= STALLED_QUEUE, "B read only %u packets; its queue alone held %d", got,
		   STALLED_QUEUE);
	IT_REQUIRE(last == (int64_t)st.sent - 1, "B's last packet is %lld, A's last was %u",
		   (long long)last, st.sent - 1);
	require_unpinned(d, "stalled reader drained");
	it_require_relaying(b, dd);
	md_stop(d);
}

/*
 * SIGTERM while both workers hold pins for stalled readers (one fed from
 * its own worker, one from the other): the daemon must still stop cleanly.
 */
static void test_stop_with_buffers_pinned(void)
{
	struct md_opts o = {
		.ini = BUFRING_INI "[limits]\n" STALLED_QUEUE_INI "drain_timeout_ms = 500\n",
	};
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 2, NULL, on);
	struct stalled st[3] = {
		{ .from = on[0][0], .to = on[0][1] }, /* within worker 0 */
		{ .from = on[0][0], .to = on[1][1] }, /* worker 0 to 1 */
		{ .from = on[1][0], .to = on[0][1] }, /* worker 1 to 0 */
	};
	struct counters cnt;

	stall(on[0][1]);
	stall(on[1][1]);
	flood_until_backed_up(d, st, 3, STALLED_QUEUE / 2);
	/*
	 * A burst from one sender can push all of the other's packets out of
	 * a shared queue. One last packet per flow, in place (a pin is free)
	 * and never pushed out, makes sure both workers hold pins.
	 */
	uint8_t pkt[FLOOD_BYTES];
	for (int s = 0; s < 3; s++) {
		flood_packet(pkt, st[s].sent++);
		it_send_packet(st[s].from, st[s].to->pub, pkt, FLOOD_BYTES);
	}
	it_expect_ping_pong(on[0][0]);
	it_expect_ping_pong(on[1][0]);
	it_sleep_ms(SETTLE_MS);
	read_counters(d, &cnt);
	it_note("pinned at SIGTERM: worker 0 %lld, worker 1 %lld", (long long)cnt.pinned[0],
		(long long)cnt.pinned[1]);
	IT_REQUIRE(cnt.pinned[0] > 0 && cnt.pinned[1] > 0,
		   "want pins on both workers at the stop (worker 0: %lld, worker 1: %lld)",
		   (long long)cnt.pinned[0], (long long)cnt.pinned[1]);
	md_stop(d);
}

/* TLS certificate, made per test in its own directory. */
static struct it_tls_files tls_files;

/* Mesh traffic over four clients on two workers; requires none of it in place. */
static void require_all_copied(struct mgmt_daemon *d, const struct derp_client_opts *opts,
			       const char *what)
{
	struct derp_client *on[NWORKERS][MAX_PER_WORKER];
	connect_spread(d, 2, opts, on);
	struct derp_client *cl[4] = { on[0][0], on[1][0], on[0][1], on[1][1] };
	struct flow mesh[12];
	struct counters before, after;
	size_t nm = add_mesh(mesh, 0, cl, 4);
	read_counters(d, &before);
	int64_t n = run_flows(mesh, nm, 6, 2, all_sizes, N_ALL_SIZES);
	n += run_flows(mesh, nm, 4, 2, mtu_size, 1);
	require_counted(d, &before, n, &after, what);
	IT_REQUIRE(sum(after.inplace) == sum(before.inplace) && sum(after.pinned) == 0,
		   "%s: %lld packets in place, %lld buffers pinned", what,
		   (long long)(sum(after.inplace) - sum(before.inplace)),
		   (long long)sum(after.pinned));
}

/* recv_mode single reads into per-connection and pool buffers; TLS decrypts into scratch. */
static void test_single_mode_and_tls_always_copy(void)
{
	struct md_opts o = { .ini = "[server]\nrecv_mode = single\n" };
	struct mgmt_daemon *d = md_start(&o);
	IT_REQUIRE(strcmp(md_logged_recv_mode(d), "single") == 0, "not in single mode");
	require_all_copied(d, NULL, "recv_mode single");
	md_stop(d);

	char ini[1024];
	it_tls_files_make(&tls_files, "hd-inplace-tls");
	snprintf(ini, sizeof(ini), BUFRING_INI "[tls]\ncert = %s\nkey = %s\n", tls_files.cert,
		 tls_files.key);
	struct md_opts ot = { .ini = ini };
	d = md_start(&ot);
	struct derp_client_opts tls = { .tls = true };
	if (md_kernel_has_ktls()) {
		/* kTLS hands the worker plaintext in its own buffers: only check the bytes. */
		it_note("kernel TLS here: TLS traffic checked, its in-place count not");
		struct derp_client *x = it_connect(&d->it, &tls), *y = it_connect(&d->it, &tls);
		struct flow fl[2];
		size_t n = add_pair(fl, 0, x, y);
		run_flows(fl, n, 4, 6, all_sizes, N_ALL_SIZES);
	} else {
		require_all_copied(d, &tls, "TLS");
	}
	md_stop(d);
	it_tls_files_remove(&tls_files);
}

static void stop_sampler_and_remove_files(void)
{
	sampler_stop();
	it_tls_files_remove(&tls_files);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_inplace_within_and_across_workers),
		IT_TEST(test_pin_limit_holds_against_stalled_readers),
		IT_TEST(test_readers_leaving_mid_write_give_pins_back),
		IT_TEST(test_zero_limit_always_copies),
		IT_TEST(test_bad_limit_is_refused),
		IT_TEST(test_references_outlive_their_sender),
		IT_TEST(test_stop_with_buffers_pinned),
		IT_TEST(test_single_mode_and_tls_always_copy),
	};
	atexit(stop_sampler_and_remove_files);
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
