// SPDX-License-Identifier: MIT
/* What hdbench says: failures as they happen, then the summary, as text or JSON. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

#include "hdbench.h"

static atomic_uint failures_reported;
static atomic_uint notes_reported;

/* The first few failures go to stderr; the counts in the summary tell the rest. */
void report_failure(const char *fmt, ...)
{
	unsigned int n = atomic_fetch_add(&failures_reported, 1);
	va_list ap;

	if (n > FAILURE_REPORTS_MAX)
		return;
	if (n == FAILURE_REPORTS_MAX) {
		fprintf(stderr, "hdbench: FAIL: further failures not shown\n");
		return;
	}
	va_start(ap, fmt);
	fprintf(stderr, "hdbench: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Things a relay may legitimately say (Health, PeerGone...) that are worth seeing. */
void report_note(const char *fmt, ...)
{
	unsigned int n = atomic_fetch_add(&notes_reported, 1);
	va_list ap;

	if (n >= NOTE_REPORTS_MAX)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "hdbench: note: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- measurement ---- */

void bench_collect(const struct bench *b, struct bench_result *r)
{
	uint64_t end = b->start_ns;

	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		const struct bench_pair *p = &b->pairs[i];
		uint64_t expected = b->opts.duration_s > 0 ? p->sent : b->opts.count;

		r->sent += p->sent;
		r->expected += expected;
		r->arrived += p->arrived;
		r->lost += p->arrived < expected ? expected - p->arrived : 0;
		r->corrupt += p->corrupt;
		r->misrouted += p->misrouted;
		r->reordered += p->reordered;
		r->unexpected += p->unexpected;
	}
	for (uint32_t i = 0; i < b->opts.threads; i++) {
		const struct bench_thread *t = &b->threads[i];

		r->conn_errors += t->conn_errors;
		r->timed_out |= t->timed_out;
		if (t->end_ns > end)
			end = t->end_ns;
		hist_merge(&r->hist, &t->hist);
	}
	r->elapsed_s = (double)(end - b->start_ns) / (double)NSEC_PER_SEC;
}

bool bench_result_ok(const struct bench_result *r)
{
	return r->lost == 0 && r->corrupt == 0 && r->misrouted == 0 && r->reordered == 0 &&
	       r->unexpected == 0 && r->conn_errors == 0 && !r->timed_out;
}

/* ---- output ---- */

struct bench_rates {
	double pps;
	double mbps;
	double gb;
	double lat_us[3]; /* p50, p99, p99.9 */
	double lat_max_us;
	double lat_mean_us;
};

static void bench_rates_compute(const struct bench *b, const struct bench_result *r,
				struct bench_rates *out)
{
	double bytes = (double)r->arrived * b->opts.size;
	double elapsed = r->elapsed_s > 0 ? r->elapsed_s : 1e-9;

	out->pps = (double)r->arrived / elapsed;
	out->mbps = bytes * 8 / elapsed / 1e6;
	out->gb = bytes / 1e9;
	out->lat_us[0] = hist_percentile(&r->hist, 50) / 1e3;
	out->lat_us[1] = hist_percentile(&r->hist, 99) / 1e3;
	out->lat_us[2] = hist_percentile(&r->hist, 99.9) / 1e3;
	out->lat_max_us = (double)r->hist.max_ns / 1e3;
	out->lat_mean_us = r->hist.count ? r->hist.sum_ns / (double)r->hist.count / 1e3 : 0;
}

void bench_report_print(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts *o = &b->opts;
	struct bench_rates x;

	bench_rates_compute(b, r, &x);
	if (o->direct)
		printf("hdbench: direct loopback TCP (no relay)");
	else
		printf("hdbench: relay %s port %u%s%s", o->server, o->port,
		       o->fast_start ? " (fast start)" : "", o->hd ? ", HD on /hd" : "");
	printf(", %u pair%s, %u-byte payloads, window %u, %u thread%s", o->pairs,
	       o->pairs == 1 ? "" : "s", o->size, o->window, o->threads,
	       o->threads == 1 ? "" : "s");
	if (o->rate > 0)
		printf(", %.0f packets/s per pair", o->rate);
	if (o->ack)
		printf(", acknowledged");
	if (o->tls)
		printf(", %s", b->tls_desc);
	if (o->websocket)
		printf(", WebSocket");
	printf("\n");
	printf("  packets    sent %" PRIu64 "  received %" PRIu64 "  lost %" PRIu64
	       "  corrupt %" PRIu64 "  reordered %" PRIu64 "  misrouted %" PRIu64 "\n",
	       r->sent, r->arrived, r->lost, r->corrupt, r->reordered, r->misrouted);
	printf("  problems   unexpected frames %" PRIu64 "  connection errors %" PRIu64
	       "  stalled %s\n",
	       r->unexpected, r->conn_errors, r->timed_out ? "yes" : "no");
	printf("  elapsed    %.3f s\n", r->elapsed_s);
	printf("  throughput %.0f packets/s  %.1f Mbit/s of payload\n", x.pps, x.mbps);
	printf("  latency    p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  mean %.1f us"
	       "  (%s)\n",
	       x.lat_us[0], x.lat_us[1], x.lat_us[2], x.lat_max_us, x.lat_mean_us,
	       o->ack ? "round trip: packet and its acknowledgement" : "one-way, same host clock");
	if (r->relay_cpu_s >= 0)
		printf("  relay CPU  %.2f s  (%.2f CPU s per GB of payload)\n", r->relay_cpu_s,
		       x.gb > 0 ? r->relay_cpu_s / x.gb : 0);
	printf("  hdbench CPU %.2f s\n", r->self_cpu_s);
	printf("  result     %s\n", bench_result_ok(r) ? "PASS" : "FAIL");
}

void bench_report_json(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts *o = &b->opts;
	struct bench_rates x;

	bench_rates_compute(b, r, &x);
	printf("{\"mode\":\"%s\",\"server\":\"%s\",\"port\":%u,\"fast_start\":%s,"
	       "\"pairs\":%u,\"size\":%u,\"window\":%u,\"threads\":%u,\"rate_pps\":%.3f,",
	       o->direct ? "direct" : "relay", o->direct ? "127.0.0.1" : o->server, o->port,
	       o->fast_start ? "true" : "false", o->pairs, o->size, o->window, o->threads, o->rate);
	printf("\"ack\":%s,\"websocket\":%s,\"proto\":\"%s\",", o->ack ? "true" : "false",
	       o->websocket ? "true" : "false", o->hd ? "hd" : "derp");
	printf("\"transport\":\"%s\",\"tls\":\"%s\",",
	       o->tls ? (o->tls12 ? "tls1.2" : "tls") : "plain", o->tls ? b->tls_desc : "");
	printf("\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"misrouted\":%" PRIu64
	       ",\"unexpected_frames\":%" PRIu64 ",\"connection_errors\":%" PRIu64
	       ",\"stalled\":%s,",
	       r->sent, r->arrived, r->lost, r->corrupt, r->reordered, r->misrouted, r->unexpected,
	       r->conn_errors, r->timed_out ? "true" : "false");
	printf("\"elapsed_s\":%.6f,\"packets_per_s\":%.1f,\"mbit_per_s\":%.3f,", r->elapsed_s,
	       x.pps, x.mbps);
	printf("\"latency_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f,"
	       "\"mean\":%.2f},",
	       x.lat_us[0], x.lat_us[1], x.lat_us[2], x.lat_max_us, x.lat_mean_us);
	if (r->relay_cpu_s >= 0)
		printf("\"relay_cpu_s\":%.3f,\"relay_cpu_s_per_gb\":%.4f,", r->relay_cpu_s,
		       x.gb > 0 ? r->relay_cpu_s / x.gb : 0);
	else
		printf("\"relay_cpu_s\":null,\"relay_cpu_s_per_gb\":null,");
	printf("\"hdbench_cpu_s\":%.3f,\"ok\":%s}\n", r->self_cpu_s,
	       bench_result_ok(r) ? "true" : "false");
}
