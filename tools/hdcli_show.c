// SPDX-License-Identifier: MIT
/* Printing `show ...` replies, and the shared formatting helpers. */
#include "hdcli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_writer.h"

void hdcli_format_bytes(uint64_t n, char *out, size_t cap)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	if (n < 1024) {
		snprintf(out, cap, "%" PRIu64 " B", n);
		return;
	}
	double v = (double)n / 1024;
	size_t u = 0;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(out, cap, "%.1f %s", v, units[u]);
}

void hdcli_format_duration_ms(uint64_t ms, char *out, size_t cap)
{
	uint64_t s = ms / 1000;
	uint64_t d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60;
	if (d)
		snprintf(out, cap, "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m);
	else if (h)
		snprintf(out, cap, "%" PRIu64 "h %" PRIu64 "m %" PRIu64 "s", h, m, s % 60);
	else if (m)
		snprintf(out, cap, "%" PRIu64 "m %" PRIu64 "s", m, s % 60);
	else
		snprintf(out, cap, "%" PRIu64 ".%01" PRIu64 "s", s, ms % 1000 / 100);
}

/* ---- JSON and generic output ---- */

static void write_value(struct json_writer *w, const char *name, const struct json_value *v)
{
	switch (v->type) {
	case JSON_NULL:
		jw_null(w, name);
		return;
	case JSON_BOOL:
		jw_bool(w, name, v->boolean);
		return;
	case JSON_NUMBER:
		jw_raw(w, name, v->str);
		return;
	case JSON_STRING:
		jw_string(w, name, v->str);
		return;
	case JSON_ARRAY:
	case JSON_OBJECT:
		if (v->type == JSON_ARRAY)
			jw_array_begin(w, name);
		else
			jw_object_begin(w, name);
		for (const struct json_value *c = v->child; c; c = c->next)
			write_value(w, v->type == JSON_OBJECT ? c->name : NULL, c);
		jw_end(w);
		return;
	}
}

void hdcli_print_json(const struct json_value *v)
{
	struct json_writer w;
	jw_init(&w);
	if (v)
		write_value(&w, NULL, v);
	else
		jw_null(&w, NULL);
	if (!w.failed)
		printf("%s\n", w.buf);
	jw_free(&w);
}

void hdcli_print_generic(const struct json_value *v, const char *path)
{
	char sub[512];

	if (!v)
		return;
	switch (v->type) {
	case JSON_OBJECT:
	case JSON_ARRAY: {
		size_t i = 0;
		for (const struct json_value *c = v->child; c; c = c->next, i++) {
			int n;
			if (v->type == JSON_OBJECT)
				n = snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "",
					     c->name);
			else
				n = snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
			/* A path too deep to show is cut, never printed half. */
			if (n < 0 || (size_t)n >= sizeof(sub))
				continue;
			hdcli_print_generic(c, sub);
		}
		if (v->count == 0 && path[0])
			printf("%s %s\n", path, v->type == JSON_OBJECT ? "{}" : "[]");
		return;
	}
	case JSON_NULL:
		printf("%s%snull\n", path, path[0] ? " " : "");
		return;
	case JSON_BOOL:
		printf("%s%s%s\n", path, path[0] ? " " : "", v->boolean ? "true" : "false");
		return;
	case JSON_NUMBER:
	case JSON_STRING:
		printf("%s%s%s\n", path, path[0] ? " " : "", v->str);
		return;
	}
}

/* ---- show status ---- */

static uint64_t u64(const struct json_value *v, const char *name)
{
	return json_get_u64(v, name, 0);
}

int hdcli_print_status(struct hdcli *h, const struct json_value *d)
{
	char up[48], in[32], out[32];
	(void)h;

	hdcli_format_duration_ms(u64(d, "uptime_ms"), up, sizeof(up));
	hdcli_format_bytes(u64(d, "bytes_in"), in, sizeof(in));
	hdcli_format_bytes(u64(d, "bytes_out"), out, sizeof(out));
	const char *metrics = json_get_str(d, "metrics", "");

	printf("hyper-derp %s, up %s (since %s)\n", json_get_str(d, "version", "?"), up,
	       json_get_str(d, "started", "?"));
	printf("  %-12s %s\n", "server key", json_get_str(d, "server_key", "?"));
	printf("  %-12s port %" PRIu64 " (%s), %" PRIu64 " worker%s\n", "listening", u64(d, "port"),
	       json_get_bool(d, "tls", false) ? "HTTPS" : "plain HTTP", u64(d, "workers"),
	       u64(d, "workers") == 1 ? "" : "s");
	printf("  %-12s %s\n", "recv mode", json_get_str(d, "recv_mode", "?"));
	printf("  %-12s %s", "kTLS",
	       json_get_bool(d, "ktls_available", false) ? "available"
							 : "not available in this kernel");
	if (json_get(d, "ktls_connections"))
		printf(", %" PRIu64 " connection%s moved to the kernel", u64(d, "ktls_connections"),
		       u64(d, "ktls_connections") == 1 ? "" : "s");
	printf("\n");
	const char *stun = json_get_str(d, "stun", "");
	printf("  %-12s %s\n", "STUN", stun[0] ? stun : "off");
	if (metrics[0])
		printf("  %-12s http://%s/metrics\n", "metrics", metrics);
	else
		printf("  %-12s off\n", "metrics");
	printf("  %-12s %s%s\n", "log level", json_get_str(d, "log_level", "?"),
	       json_get_bool(d, "candidate_open", false) ? "  (uncommitted config changes)" : "");
	printf("  %-12s %" PRIu64 " open (%" PRIu64 " home), %" PRIu64 " accepted, %" PRIu64
	       " closed\n",
	       "connections", u64(d, "connections"), u64(d, "home_connections"),
	       u64(d, "connections_accepted"), u64(d, "connections_closed"));
	if (json_get(d, "handshakes_ok"))
		printf("  %-12s %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " TLS\n",
		       "handshakes", u64(d, "handshakes_ok"), u64(d, "handshakes_failed"),
		       u64(d, "tls_handshakes"));
	printf("  %-12s %" PRIu64 " packets, %s\n", "in", u64(d, "packets_in"), in);
	printf("  %-12s %" PRIu64 " packets, %s\n", "out", u64(d, "packets_out"), out);
	printf("  %-12s %" PRIu64, "drops", u64(d, "drops_total"));
	const char *sep = ": ";
	for (const struct json_value *r = json_get(d, "drops") ? json_get(d, "drops")->child : NULL;
	     r; r = r->next) {
		if (json_u64(r, 0) == 0)
			continue;
		printf("%s%s %" PRIu64, sep, r->name, json_u64(r, 0));
		sep = ", ";
	}
	printf("\n");
	return HDCLI_OK;
}

/* ---- show peers ---- */

int hdcli_print_peers(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *peers = json_get(d, "peers");
	(void)h;

	if (!peers || peers->count == 0) {
		printf("no peers connected\n");
		return HDCLI_OK;
	}
	printf("%-72s %6s %-22s %10s %10s %10s %10s %5s %s\n", "KEY", "WORKER", "ADDRESS",
	       "RX PKTS", "RX", "TX PKTS", "TX", "QUEUE", "FLAGS");
	for (const struct json_value *p = peers->child; p; p = p->next) {
		char rx[32], tx[32], flags[48];
		hdcli_format_bytes(u64(p, "rx_bytes"), rx, sizeof(rx));
		hdcli_format_bytes(u64(p, "tx_bytes"), tx, sizeof(tx));
		snprintf(flags, sizeof(flags), "%s%s%s%s",
			 json_get_bool(p, "preferred", false) ? "preferred " : "",
			 json_get_bool(p, "mesh", false) ? "mesh " : "",
			 json_get_bool(p, "watcher", false) ? "watcher " : "",
			 json_get_bool(p, "active", true) ? "" : "superseded ");
		printf("%-72s %6" PRIu64 " %-22s %10" PRIu64 " %10s %10" PRIu64 " %10s %5" PRIu64
		       " %s\n",
		       json_get_str(p, "key", "?"), u64(p, "worker"), json_get_str(p, "addr", "?"),
		       u64(p, "rx_packets"), rx, u64(p, "tx_packets"), tx, u64(p, "queued"), flags);
	}
	printf("%zu connection%s\n", peers->count, peers->count == 1 ? "" : "s");
	return HDCLI_OK;
}

/* ---- show mesh ---- */

int hdcli_print_mesh(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *peers = json_get(d, "peers");
	(void)h;

	if (!peers || peers->count == 0) {
		printf("no mesh peers (mesh.with is empty)\n");
		return HDCLI_OK;
	}
	printf("%-28s %-10s %6s %10s %10s %10s %10s %6s %6s %s\n", "PEER", "STATE", "KEYS",
	       "OUT PKTS", "OUT", "IN PKTS", "IN", "RECONN", "DROPS", "SERVER KEY");
	for (const struct json_value *p = peers->child; p; p = p->next) {
		char out[32], in[32];
		hdcli_format_bytes(u64(p, "bytes_out"), out, sizeof(out));
		hdcli_format_bytes(u64(p, "bytes_in"), in, sizeof(in));
		const char *key = json_get_str(p, "server_key", "");
		printf("%-28s %-10s %6" PRIu64 " %10" PRIu64 " %10s %10" PRIu64 " %10s %6" PRIu64
		       " %6" PRIu64 " %s\n",
		       json_get_str(p, "address", "?"), json_get_str(p, "state", "?"),
		       u64(p, "keys"), u64(p, "packets_out"), out, u64(p, "packets_in"), in,
		       u64(p, "reconnects"), u64(p, "queue_drops") + u64(p, "unsent_drops"),
		       key[0] ? key : "-");
	}
	return HDCLI_OK;
}

/* ---- show mesh keys ---- */

int hdcli_print_mesh_keys(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *keys = json_get(d, "keys");
	(void)h;

	if (!keys || keys->count == 0) {
		printf("no keys homed on mesh peers\n");
		return HDCLI_OK;
	}
	printf("%-72s %-28s %-47s %s\n", "KEY", "PEER", "ADDRESS", "FLAGS");
	for (const struct json_value *k = keys->child; k; k = k->next) {
		char flags[64];
		/* "second": another peer announced the key first and gets its packets. */
		snprintf(flags, sizeof(flags), "%s%s%s%s%s",
			 json_get_bool(k, "is_regular", false) ? "regular " : "",
			 json_get_bool(k, "is_mesh_peer", false) ? "mesh-peer " : "",
			 json_get_bool(k, "is_prober", false) ? "prober " : "",
			 json_get_bool(k, "not_ideal", false) ? "not-ideal " : "",
			 json_get_bool(k, "first", true) ? "" : "second ");
		const char *addr = json_get_str(k, "addr", "");
		printf("%-72s %-28s %-47s %s\n", json_get_str(k, "key", "?"),
		       json_get_str(k, "peer", "?"), addr[0] ? addr : "-", flags);
	}
	printf("%zu key%s\n", keys->count, keys->count == 1 ? "" : "s");
	return HDCLI_OK;
}

/* ---- show counters, show config ---- */

int hdcli_print_counters(struct hdcli *h, const struct json_value *d)
{
	(void)h;
	hdcli_print_generic(d, "");
	return HDCLI_OK;
}

int hdcli_print_config(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *keys = json_get(d, "keys");
	char section[64] = "";
	(void)h;

	for (const struct json_value *k = keys ? keys->child : NULL; k; k = k->next) {
		const char *name = json_get_str(k, "key", "?");
		const char *dot = strchr(name, '.');
		if (!dot)
			continue;
		if (strlen(section) != (size_t)(dot - name) ||
		    strncmp(section, name, (size_t)(dot - name)) != 0) {
			snprintf(section, sizeof(section), "%.*s", (int)(dot - name), name);
			printf("%s[%s]\n", k == keys->child ? "" : "\n", section);
		}
		const char *value = json_get_str(k, "value", "");
		printf("%s =%s%s\n", dot + 1, value[0] ? " " : "", value);
	}
	if (json_get_bool(d, "candidate_open", false))
		fprintf(stderr, "hdcli: note: uncommitted candidate changes (see config diff)\n");
	return HDCLI_OK;
}
