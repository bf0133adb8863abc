// SPDX-License-Identifier: MIT
/*
 * Printing the `wg ...` replies: every wg verb answers with the relay's
 * table and counters, printed as a peer table, the links, the drops and any
 * warning (a multi-link peer whose link has no public key).
 */
#include "hdcli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void print_peer(const struct json_value *p)
{
	char rx[32], tx[32], seen[32];
	int64_t last = (int64_t)json_get_u64(p, "last_seen_ms", 0);
	const struct json_value *ls = json_get(p, "last_seen_ms");

	hdcli_format_bytes(json_get_u64(p, "rx_bytes", 0), rx, sizeof(rx));
	hdcli_format_bytes(json_get_u64(p, "tx_bytes", 0), tx, sizeof(tx));
	/* -1 (never) does not parse as an unsigned number. */
	if (!ls || (ls->str && ls->str[0] == '-')) {
		snprintf(seen, sizeof(seen), "never");
	} else {
		hdcli_format_duration_ms((uint64_t)last, seen, sizeof(seen));
		strncat(seen, " ago", sizeof(seen) - strlen(seen) - 1);
	}
	printf("  %-16s %-21s %-12s %5" PRIu64 "  %10" PRIu64 " %10s  %10" PRIu64 " %10s  %s\n",
	       json_get_str(p, "name", "?"), json_get_str(p, "endpoint", "?"),
	       json_get_str(p, "label", "")[0] ? json_get_str(p, "label", "") : "-",
	       json_get_u64(p, "links", 0), json_get_u64(p, "rx_packets", 0), rx,
	       json_get_u64(p, "tx_packets", 0), tx, seen);
}

/* The AF_XDP (or DPDK) queues, with the worker that owns each; none in socket mode. */
static void print_queues(const struct json_value *d)
{
	const struct json_value *queues = json_get(d, "queues");

	if (!queues || !queues->count)
		return;
	printf("queues: %zu on %" PRIu64 " worker%s\n", queues->count,
	       json_get_u64(d, "workers", 0), json_get_u64(d, "workers", 0) == 1 ? "" : "s");
	printf("  %-16s %5s %6s %4s %12s %12s\n", "INTERFACE", "QUEUE", "WORKER", "CPU", "RX PKTS",
	       "TX PKTS");
	for (const struct json_value *q = queues->child; q; q = q->next) {
		/* -1: not pinned. The number's text, as written, is what to print. */
		const struct json_value *cpu = json_get(q, "cpu");
		const char *cpu_text = cpu && cpu->str && cpu->str[0] != '-' ? cpu->str : "-";
		printf("  %-16s %5" PRIu64 " %6" PRIu64 " %4s %12" PRIu64 " %12" PRIu64 "\n",
		       json_get_str(q, "interface", "?"), json_get_u64(q, "queue", 0),
		       json_get_u64(q, "worker", 0), cpu_text, json_get_u64(q, "rx_packets", 0),
		       json_get_u64(q, "tx_packets", 0));
	}
}

int hdcli_print_wg_show(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *peers = json_get(d, "peers");
	const struct json_value *links = json_get(d, "links");
	const struct json_value *counters = json_get(d, "counters");
	const struct json_value *warnings = json_get(d, "warnings");
	(void)h;

	printf("mode: %s\nport: %" PRIu64 "\n", json_get_str(d, "mode", "?"),
	       json_get_u64(d, "port", 0));
	printf("peers: %zu\n", peers ? peers->count : 0);
	if (peers && peers->count) {
		printf("  %-16s %-21s %-12s %5s  %10s %10s  %10s %10s  %s\n", "NAME", "ENDPOINT",
		       "LABEL", "LINKS", "RX PKTS", "RX", "TX PKTS", "TX", "LAST SEEN");
		for (const struct json_value *p = peers->child; p; p = p->next)
			print_peer(p);
	}
	print_queues(d);
	printf("links: %zu\n", links ? links->count : 0);
	for (const struct json_value *l = links ? links->child : NULL; l; l = l->next)
		printf("  %s <-> %s\n", json_get_str(l, "a", "?"), json_get_str(l, "b", "?"));
	if (counters) {
		printf("counters:\n");
		for (const struct json_value *c = counters->child; c; c = c->next)
			printf("  %-22s %s\n", c->name, c->str ? c->str : "?");
	}
	for (const struct json_value *w = warnings ? warnings->child : NULL; w; w = w->next)
		printf("warning: %s\n", w->str ? w->str : "");
	return HDCLI_OK;
}

/* `wg show unknown` and `wg blocklist ...`: one line per source, newest first. */
int hdcli_print_wg_sources(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *sources = json_get(d, "sources");
	(void)h;

	printf("sources: %zu\n", sources ? sources->count : 0);
	if (!sources || !sources->count)
		return HDCLI_OK;
	printf("  %-47s %10s  %-12s %-16s %7s  %s\n", "SOURCE", "COUNT", "LAST SEEN", "MAC1 FOR",
	       "STRIKES", "BLOCKED");
	for (const struct json_value *s = sources->child; s; s = s->next) {
		char seen[32], blocked[32] = "-";
		hdcli_format_duration_ms(json_get_u64(s, "last_seen_ms", 0), seen, sizeof(seen));
		strncat(seen, " ago", sizeof(seen) - strlen(seen) - 1);
		uint64_t left = json_get_u64(s, "blocked_ms", 0);
		if (left) {
			hdcli_format_duration_ms(left, blocked, sizeof(blocked));
			strncat(blocked, " more", sizeof(blocked) - strlen(blocked) - 1);
		}
		const char *mac1 = json_get_str(s, "mac1_peer", "");
		printf("  %-47s %10" PRIu64 "  %-12s %-16s %7" PRIu64 "  %s\n",
		       json_get_str(s, "endpoint", "?"), json_get_u64(s, "count", 0), seen,
		       mac1[0] ? mac1 : "-", json_get_u64(s, "strikes", 0), blocked);
	}
	return HDCLI_OK;
}
