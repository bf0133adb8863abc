// SPDX-License-Identifier: MIT
/*
 * events follow: after the reply the relay keeps sending one JSON event per
 * line. Printed until the relay hangs up or Ctrl-C, which in the shell
 * returns to the prompt.
 */
#include "hdcli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static void print_event(const struct json_value *ev)
{
	const char *type = json_get_str(ev, "event", "?");
	const char *time = json_get_str(ev, "time", "");
	const struct json_value *peer = json_get(ev, "peer");
	char bytes[32];

	if (strcmp(type, "connect") == 0 || strcmp(type, "disconnect") == 0) {
		bool is_connect = strcmp(type, "connect") == 0;
		printf("%s %-10s %s %s worker %" PRIu64, time,
		       is_connect ? "connect" : "disconnect", json_get_str(peer, "key", "?"),
		       json_get_str(peer, "addr", "?"), json_get_u64(peer, "worker", 0));
		if (!is_connect)
			printf(" (rx %" PRIu64 " packets, tx %" PRIu64 " packets)",
			       json_get_u64(peer, "rx_packets", 0),
			       json_get_u64(peer, "tx_packets", 0));
		printf("\n");
	} else if (strcmp(type, "drop") == 0) {
		hdcli_format_bytes(json_get_u64(ev, "bytes", 0), bytes, sizeof(bytes));
		printf("%s %-10s %s (%s) %" PRIu64 " packets, %s\n", time, "drop",
		       json_get_str(ev, "reason", "?"), json_get_str(ev, "kind", "?"),
		       json_get_u64(ev, "packets", 0), bytes);
	} else if (strcmp(type, "closed") == 0) {
		uint64_t n = json_get_u64(ev, "connections", 0);
		printf("%s %-10s %" PRIu64 " connection%s (%s)\n", time, "closed", n,
		       n == 1 ? "" : "s", json_get_str(ev, "reason", "?"));
	} else {
		hdcli_print_json(ev);
	}
}

int hdcli_print_events(struct hdcli *h, const struct json_value *data)
{
	struct sigaction sa = { .sa_handler = on_sigint }, old;
	int rc = HDCLI_OK;
	(void)data;

	/* No SA_RESTART: Ctrl-C must wake the read. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old);
	interrupted = 0;
	if (!h->json)
		fprintf(stderr, "following events (Ctrl-C stops)\n");
	while (!interrupted) {
		char *line;
		int n = hdcli_read_line(h, 1000, &line);
		if (n == 0)
			continue;
		if (n < 0) {
			fprintf(stderr, "hdcli: the relay closed the event stream\n");
			rc = HDCLI_FAILED;
			break;
		}
		if (h->json) {
			printf("%s\n", line);
		} else {
			struct json_doc doc;
			char err[128];
			if (json_parse(line, strlen(line), &doc, err, sizeof(err)) == 0) {
				print_event(doc.root);
				json_doc_free(&doc);
			} else {
				fprintf(stderr, "hdcli: bad event line (%s)\n", err);
			}
		}
		fflush(stdout);
		free(line);
	}
	sigaction(SIGINT, &old, NULL);
	/* The connection now only carries events: the next command opens a new one. */
	hdcli_disconnect(h);
	return rc;
}
