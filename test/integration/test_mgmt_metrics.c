// SPDX-License-Identifier: MIT
/* The Prometheus endpoint: format, names, and counters that move with traffic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_mgmt_daemon.h"

static char body[1 << 20];

static void test_exposition_format(void)
{
	struct mgmt_daemon *d = md_start(NULL);

	IT_REQUIRE(md_http_get(d, "/metrics", body, sizeof(body)) == 200, "GET /metrics");
	IT_REQUIRE(md_metric(body, "hyperderp_build_info", "version=\"0.1.0\"") == 1, "build_info");
	IT_REQUIRE(md_metric(body, "hyperderp_workers", NULL) == 2, "workers");
	IT_REQUIRE(md_metric(body, "hyperderp_connections", NULL) == 0, "connections");
	/* What each worker runs (server.recv_mode = auto), and the TLS facts. */
	char labels[64];
	for (int i = 0; i < 2; i++) {
		snprintf(labels, sizeof(labels), "worker=\"%d\",mode=\"%s\"", i,
			 md_logged_recv_mode(d));
		IT_REQUIRE(md_metric(body, "hyperderp_worker_recv_mode", labels) == 1,
			   "hyperderp_worker_recv_mode{%s}", labels);
	}
	IT_REQUIRE(md_metric(body, "hyperderp_ktls_available", NULL) == md_kernel_has_ktls(),
		   "ktls_available");
	IT_REQUIRE(md_metric(body, "hyperderp_ktls_connections_total", NULL) == 0,
		   "ktls_connections_total");
	IT_REQUIRE(md_metric(body, "hyperderp_tls_handshakes_total", "result=\"ok\"") == 0 &&
		       md_metric(body, "hyperderp_tls_handshakes_total", "result=\"failed\"") == 0,
		   "tls_handshakes_total");

	/* Every sample has HELP and TYPE before it, names are prefixed, counters end in _total. */
	char name[128], last_type[128] = "", type_kind[32] = "";
	for (char *line = body; line && *line;) {
		char *nl = strchr(line, '\n');
		IT_REQUIRE(nl, "last line has no newline");
		*nl = '\0';
		if (sscanf(line, "# TYPE %127s %31s", name, type_kind) == 2) {
			snprintf(last_type, sizeof(last_type), "%s", name);
			IT_REQUIRE(strncmp(name, "hyperderp_", 10) == 0, "unprefixed %s", name);
			if (strcmp(type_kind, "counter") == 0)
				IT_REQUIRE(strstr(name, "_total"), "counter %s lacks _total", name);
		} else if (line[0] != '#') {
			size_t n = strcspn(line, "{ ");
			IT_REQUIRE(strlen(last_type) == n && strncmp(line, last_type, n) == 0,
				   "sample \"%s\" without its TYPE line", line);
		}
		line = nl + 1;
	}

	IT_REQUIRE(md_http_get(d, "/debug/vars", body, sizeof(body)) == 200, "/debug/vars");
	struct json_doc doc;
	char err[128];
	IT_REQUIRE(json_parse(body, strlen(body), &doc, err, sizeof(err)) == 0, "/debug/vars: %s",
		   err);
	IT_REQUIRE(json_get(json_get(doc.root, "relay"), "packets_recv"), "debug vars content");
	json_doc_free(&doc);
	IT_REQUIRE(md_http_get(d, "/nope", body, sizeof(body)) == 404, "404 for unknown paths");
	md_stop(d);
}

static void test_counters_move(void)
{
	/* A spin ceiling (the default is 0), so that the idle spins are counted. */
	struct md_opts o = { .ini = "[server]\nidle_spin_us = 50\n" };
	struct mgmt_daemon *d = md_start(&o);
	int64_t hs0 = md_scrape(d, "hyperderp_handshakes_total", "result=\"ok\"");

	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	enum { N = 25, SIZE = 300 };
	uint8_t pkt[SIZE];
	for (int i = 0; i < N; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(a, b->pub, pkt, sizeof(pkt));
		it_expect_packet(b, a->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	uint8_t nobody[KEY_LEN] = { 7 };
	for (int i = 0; i < 3; i++)
		it_send_packet(a, nobody, pkt, 40);
	it_expect_ping_pong(a); /* the drops are counted once a later frame is answered */

	IT_REQUIRE(md_scrape(d, "hyperderp_connections", NULL) == 2, "connections");
	IT_REQUIRE(md_scrape(d, "hyperderp_handshakes_total", "result=\"ok\"") >= hs0 + 2,
		   "handshakes");
	IT_REQUIRE(md_scrape(d, "hyperderp_received_packets_total", NULL) >= N + 3, "received");
	IT_REQUIRE(md_scrape(d, "hyperderp_received_bytes_total", NULL) >= N * SIZE, "rx bytes");
	IT_REQUIRE(md_scrape(d, "hyperderp_sent_packets_total", NULL) >= N, "sent");
	IT_REQUIRE(md_scrape(d, "hyperderp_sent_bytes_total", NULL) >= N * SIZE, "tx bytes");
	IT_REQUIRE(md_scrape(d, "hyperderp_frames_received_total", "type=\"send_packet\"") >= N + 3,
		   "send_packet frames");
	IT_REQUIRE(md_scrape(d, "hyperderp_frames_received_total", "type=\"ping\"") >= 1, "pings");
	IT_REQUIRE(md_scrape(d, "hyperderp_dropped_packets_total",
			     "reason=\"unknown_dest\",kind=\"other\"") == 3,
		   "unknown_dest drops");
	/* The peer-list gauges may be up to 250 ms old (scrapes share one listing). */
	int64_t peers = -1;
	for (int64_t end = it_now_ms() + 5000; it_now_ms() < end; it_sleep_ms(50)) {
		peers = md_scrape(d, "hyperderp_peers", NULL);
		if (peers == 2)
			break;
	}
	IT_REQUIRE(peers == 2, "peers gauge %lld", (long long)peers);
	int64_t passes = md_scrape(d, "hyperderp_worker_loop_passes_total", "worker=\"0\"") +
			 md_scrape(d, "hyperderp_worker_loop_passes_total", "worker=\"1\"");
	IT_REQUIRE(passes > 0, "loop passes");
	/*
	 * Each packet waited for the one before it, so the workers ran out of
	 * work between them: every idle period spins first (or sleeps, backing
	 * off), and the connections' handoffs woke a sleeping worker.
	 */
	int64_t spins = 0, wakeups = 0;
	for (int i = 0; i < 2; i++) {
		char worker[16];
		snprintf(worker, sizeof(worker), "worker=\"%d\"", i);
		spins += md_scrape(d, "hyperderp_worker_spin_hits_total", worker) +
			 md_scrape(d, "hyperderp_worker_spin_misses_total", worker);
		wakeups += md_scrape(d, "hyperderp_worker_wakeups_total", worker);
	}
	IT_REQUIRE(spins > 0, "idle spins counted");
	IT_REQUIRE(wakeups > 0, "wake-ups counted");

	/* hdcli sees the same. */
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "status", NULL);
	IT_REQUIRE(json_get_u64(doc.root, "drops_total", 0) == 3, "status drops_total");
	IT_REQUIRE(json_get_u64(json_get(doc.root, "drops"), "unknown_dest", 0) == 3,
		   "status drops by reason");
	IT_REQUIRE(json_get_u64(doc.root, "packets_out", 0) >= N, "status packets_out");
	json_doc_free(&doc);

	it_client_close(a);
	int64_t closed = -1;
	for (int64_t end = it_now_ms() + 5000; it_now_ms() < end; it_sleep_ms(50)) {
		closed = md_scrape(d, "hyperderp_connections_closed_total", "reason=\"eof\"");
		if (closed >= 1)
			break;
	}
	IT_REQUIRE(closed >= 1, "closed eof counter");
	md_stop(d);
}

/* server.recv_mode = single: status and metrics say so for every worker. */
static void test_recv_mode_single(void)
{
	struct md_opts single = { .ini = "[server]\nrecv_mode = single\n" };
	struct mgmt_daemon *d = md_start(&single);
	IT_REQUIRE(strcmp(md_logged_recv_mode(d), "single") == 0, "workers logged bufring");

	struct json_doc doc;
	md_cli_json(d, &doc, "show", "status", NULL);
	IT_REQUIRE(strcmp(json_get_str(doc.root, "recv_mode", "?"), "single") == 0,
		   "status recv_mode %s", json_get_str(doc.root, "recv_mode", "?"));
	json_doc_free(&doc);
	md_cli_json(d, &doc, "show", "counters", NULL);
	IT_REQUIRE(strcmp(json_get_str(doc.root, "recv_mode", "?"), "single") == 0,
		   "counters recv_mode %s", json_get_str(doc.root, "recv_mode", "?"));
	json_doc_free(&doc);
	IT_REQUIRE(
	    md_scrape(d, "hyperderp_worker_recv_mode", "worker=\"0\",mode=\"single\"") == 1 &&
		md_scrape(d, "hyperderp_worker_recv_mode", "worker=\"1\",mode=\"single\"") == 1,
	    "worker_recv_mode");
	const char *bufring = "worker=\"0\",mode=\"bufring\"";
	IT_REQUIRE(md_metric(body, "hyperderp_worker_recv_mode", bufring) < 0,
		   "worker 0 also reported as bufring");
	md_stop(d);
}

static void test_metrics_off(void)
{
	struct md_opts off = { .no_metrics = true };
	struct mgmt_daemon *d = md_start(&off);
	IT_REQUIRE(d->metrics[0] == '\0', "metrics on by default: %s", d->metrics);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = { IT_TEST(test_exposition_format),
						IT_TEST(test_counters_move),
						IT_TEST(test_recv_mode_single),
						IT_TEST(test_metrics_off) };
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
