// SPDX-License-Identifier: MIT
/*
 * The userspace TCP engine alone (src/tcp/), in memory: one engine sends a
 * bulk stream to another over a lossless FIFO "wire" that copies each
 * packet once (as a NIC's DMA would). Both engines run on this one thread,
 * so the figure is the cost of both ends of a connection on one core:
 * the sender's segmentation, checksums and ACK processing, the receiver's
 * parsing, checksum verification, reassembly and ACKs.
 *
 * Prints, per variant: payload MB/s per core (both ends), segments/s, and
 * the split of CPU time between the sending side and the receiving side
 * (each side's count includes the wire copy of the packets it emits).
 * Usage: tcp_engine_bench [MiB per run] [runs]
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tcp_conn.h"
#include "tcp_test_peer.h"

#define WIRE_SLOTS 2048

struct wire {
	uint8_t *slot[WIRE_SLOTS];
	uint32_t len[WIRE_SLOTS];
	unsigned head, tail;
	uint64_t packets;
	double copy_s;
};

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void wire_emit(void *ctx, const uint8_t *pkt, size_t len)
{
	struct wire *w = ctx;
	if (w->tail - w->head == WIRE_SLOTS) {
		fprintf(stderr, "wire full\n");
		exit(1);
	}
	unsigned i = w->tail++ % WIRE_SLOTS;
	memcpy(w->slot[i], pkt, len);
	w->len[i] = (uint32_t)len;
	w->packets++;
}

/* Delivers everything on the wire; returns the CPU seconds spent in the receiving engine. */
static double wire_deliver(struct wire *w, struct tcp_conn *to, uint64_t now)
{
	double t0 = cpu_now();
	while (w->head != w->tail) {
		unsigned i = w->head++ % WIRE_SLOTS;
		tcp_input(to, w->slot[i], w->len[i], now);
	}
	return cpu_now() - t0;
}

struct variant {
	const char *name;
	int family;
	uint16_t mss;
	bool sack, ts;
};

static void snapshots(const struct variant *v, struct tcp_snapshot *a, struct tcp_snapshot *b)
{
	test_snapshot(a, v->family, 0xfff00000u, 0x10000000u);
	test_snapshot(b, v->family, 0x10000000u, 0xfff00000u);
	b->flow = peer_flow(&a->flow);
	struct tcp_snapshot *both[2] = { a, b };
	for (int i = 0; i < 2; i++) {
		both[i]->mss = v->mss;
		both[i]->sack_ok = v->sack;
		both[i]->ts_ok = v->ts;
		both[i]->wscale_ok = true;
		both[i]->snd_wscale = both[i]->rcv_wscale = 7;
		both[i]->snd_wnd = both[i]->rcv_wnd = 1 << 20;
	}
}

static void run(const struct variant *v, uint64_t bytes, double *mbps, double *segps,
		double split[2])
{
	struct tcp_config cfg;
	tcp_config_default(&cfg);
	cfg.sndbuf = cfg.rcvbuf = 1 << 20;
	struct wire ab = { 0 }, ba = { 0 };
	for (int i = 0; i < WIRE_SLOTS; i++) {
		ab.slot[i] = malloc(TCP_PKT_MAX);
		ba.slot[i] = malloc(TCP_PKT_MAX);
	}
	struct tcp_snapshot sa, sb;
	snapshots(v, &sa, &sb);
	struct tcp_conn a, b;
	uint64_t now = 1000000000ull;
	if (tcp_conn_init(&a, &sa, &cfg, wire_emit, &ab, now) ||
	    tcp_conn_init(&b, &sb, &cfg, wire_emit, &ba, now)) {
		fprintf(stderr, "init failed\n");
		exit(1);
	}
	static uint8_t src[65536], sink[65536];
	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 7);
	uint64_t sent = 0, got = 0;
	double t_send = 0, t_recv = 0, start = cpu_now();
	while (got < bytes) {
		double t0 = cpu_now();
		while (sent < bytes) {
			uint64_t want = bytes - sent;
			ssize_t n = tcp_send(&a, src, want < sizeof(src) ? want : sizeof(src), now);
			if (n <= 0)
				break;
			sent += (uint64_t)n;
		}
		t_send += cpu_now() - t0;
		t_recv += wire_deliver(&ab, &b, now);
		t0 = cpu_now();
		for (;;) {
			ssize_t n = tcp_recv(&b, sink, sizeof(sink), now);
			if (n <= 0)
				break;
			got += (uint64_t)n;
		}
		t_recv += cpu_now() - t0;
		t_send += wire_deliver(&ba, &a, now);
		if (ab.head == ab.tail && ba.head == ba.tail) {
			/* Idle: let the clock reach the next timer (a delayed ACK). */
			uint64_t next = tcp_next_deadline(&b);
			if (tcp_next_deadline(&a) < next)
				next = tcp_next_deadline(&a);
			now = next == UINT64_MAX ? now + 1000 : next;
			tcp_timer(&a, now);
			tcp_timer(&b, now);
		}
	}
	double total = cpu_now() - start;
	if (a.stats.retrans_segs)
		fprintf(stderr, "%s: %llu retransmissions on a lossless wire\n", v->name,
			(unsigned long long)a.stats.retrans_segs);
	*mbps = (double)got / total / 1e6;
	*segps = (double)a.stats.segs_out / total;
	split[0] = t_send / total;
	split[1] = t_recv / total;
	tcp_conn_free(&a);
	tcp_conn_free(&b);
	for (int i = 0; i < WIRE_SLOTS; i++) {
		free(ab.slot[i]);
		free(ba.slot[i]);
	}
}

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
	int runs = argc > 2 ? atoi(argv[2]) : 3;
	if (runs < 1 || runs > 15 || mib < 1) {
		fprintf(stderr, "usage: tcp_engine_bench [MiB 1..] [runs 1..15]\n");
		return 2;
	}
	const struct variant variants[] = {
		{ "IPv4 MSS 1460 SACK+TS", AF_INET, 1460, true, true },
		{ "IPv4 MSS 1460 plain", AF_INET, 1460, false, false },
		{ "IPv6 MSS 1440 SACK+TS", AF_INET6, 1440, true, true },
		{ "IPv4 MSS 8960 SACK+TS", AF_INET, 8972, true, true },
	};
	printf("tcp_engine_bench: %llu MiB per run, median of %d; both ends on one core\n",
	       (unsigned long long)mib, runs);
	printf("%-24s %12s %12s %8s %8s\n", "variant", "MB/s/core", "segs/s", "send%", "recv%");
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		double mbps[15], segps[15], split[15][2];
		for (int r = 0; r < runs; r++)
			run(&variants[i], mib << 20, &mbps[r], &segps[r], split[r]);
		double sorted[15];
		memcpy(sorted, mbps, sizeof(double) * (size_t)runs);
		qsort(sorted, (size_t)runs, sizeof(double), cmp_double);
		int med = 0;
		for (int r = 0; r < runs; r++)
			if (mbps[r] == sorted[runs / 2])
				med = r;
		printf("%-24s %12.0f %12.0f %7.0f%% %7.0f%%\n", variants[i].name, mbps[med],
		       segps[med], split[med][0] * 100, split[med][1] * 100);
	}
	return 0;
}
