// SPDX-License-Identifier: MIT
/*
 * wg show, wg peer add|del, wg link add|del, wg show unknown, wg blocklist
 * show|clear: the WireGuard relay table
 * through the management socket. The relay validates and persists every
 * change (src/wireguard/wg_relay.c); these handlers only parse words and
 * shape the JSON.
 */
#include "mgmt_command.h"

#include <stdlib.h>
#include <string.h>

#include "wg_relay.h"
#include "wg_sources.h"

static struct wg_relay *relay_or_error(struct mgmt_call *call)
{
	if (!call->ctx->wg)
		mgmt_error(call, MGMT_E_FAILED,
			   "the WireGuard relay is off ([wireguard] enabled = false)");
	return call->ctx->wg;
}

/* A change went through: answer with what the table holds now, like `wg show`. */
static int answer_change(struct mgmt_call *call, int rc, const char *err)
{
	if (rc < 0)
		return mgmt_error(call, MGMT_E_FAILED, "%s", err);
	return cmd_wg_show(call);
}

int cmd_wg_peer_add(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);
	const char *label = NULL, *pubkey = NULL;
	char err[256];

	if (!wg)
		return -1;
	for (int i = 2; i < call->argc; i++) {
		const char *arg = call->argv[i];
		if (strncmp(arg, "pubkey=", 7) == 0 && !pubkey)
			pubkey = arg + 7;
		else if (!strchr(arg, '=') && !label)
			label = arg;
		else
			return mgmt_error(call, MGMT_E_USAGE,
					  "\"%s\": expected one LABEL and one pubkey=BASE64", arg);
	}
	int rc =
	    wg_relay_peer_add(wg, call->argv[0], call->argv[1], label, pubkey, err, sizeof(err));
	return answer_change(call, rc, err);
}

int cmd_wg_peer_del(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);
	char err[256];

	if (!wg)
		return -1;
	return answer_change(call, wg_relay_peer_del(wg, call->argv[0], err, sizeof(err)), err);
}

int cmd_wg_link_add(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);
	char err[256];

	if (!wg)
		return -1;
	return answer_change(
	    call, wg_relay_link_add(wg, call->argv[0], call->argv[1], err, sizeof(err)), err);
}

int cmd_wg_link_del(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);
	char err[256];

	if (!wg)
		return -1;
	return answer_change(
	    call, wg_relay_link_del(wg, call->argv[0], call->argv[1], err, sizeof(err)), err);
}

int cmd_wg_show(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);
	struct json_writer *out = call->out;
	struct wg_show s;

	if (!wg)
		return -1;
	if (wg_relay_show(wg, &s) < 0)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	jw_object_begin(out, NULL);
	jw_string(out, "mode", s.mode);
	jw_u64(out, "port", s.port);
	jw_array_begin(out, "peers");
	for (uint32_t i = 0; i < s.npeers; i++) {
		const struct wg_peer_view *p = &s.peers[i];
		jw_object_begin(out, NULL);
		jw_string(out, "name", p->name);
		jw_string(out, "endpoint", p->endpoint);
		jw_string(out, "label", p->label);
		jw_bool(out, "pubkey", p->has_pubkey);
		jw_u64(out, "links", p->nlinks);
		jw_u64(out, "rx_packets", p->stats.rx_packets);
		jw_u64(out, "rx_bytes", p->stats.rx_bytes);
		jw_u64(out, "tx_packets", p->stats.tx_packets);
		jw_u64(out, "tx_bytes", p->stats.tx_bytes);
		jw_i64(out, "last_seen_ms", p->last_seen_ms);
		jw_end(out);
	}
	jw_end(out);
	jw_u64(out, "workers", (uint64_t)s.nworkers);
	jw_array_begin(out, "queues");
	for (uint32_t i = 0; i < s.nqueues; i++) {
		const struct wg_queue_view *q = &s.queues[i];
		jw_object_begin(out, NULL);
		jw_string(out, "interface", q->ifname);
		jw_u64(out, "queue", q->queue);
		jw_u64(out, "worker", (uint64_t)q->worker);
		jw_i64(out, "cpu", q->cpu);
		jw_u64(out, "rx_packets", q->rx_packets);
		jw_u64(out, "tx_packets", q->tx_packets);
		jw_end(out);
	}
	jw_end(out);
	jw_array_begin(out, "links");
	for (uint32_t i = 0; i < s.nlinks; i++) {
		jw_object_begin(out, NULL);
		jw_string(out, "a", s.links[i].a);
		jw_string(out, "b", s.links[i].b);
		jw_end(out);
	}
	jw_end(out);
	jw_object_begin(out, "counters");
	for (int i = 0; i < WG_CNT_COUNT; i++)
		jw_u64(out, wg_counter_names[i], s.counters[i]);
	jw_end(out);
	jw_array_begin(out, "warnings");
	for (int i = 0; i < s.nwarnings; i++)
		jw_string(out, NULL, s.warnings[i]);
	jw_end(out);
	jw_end(out);
	wg_show_free(&s);
	return 0;
}

/* The sources as JSON: {"sources": [...]} (with "cleared" for a clear). */
static int answer_sources(struct mgmt_call *call, struct wg_relay *wg, bool blocked_only)
{
	struct wg_source_view *v = calloc(WG_SOURCES, sizeof(*v));
	struct json_writer *out = call->out;

	if (!v)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	int n = wg_relay_sources(wg, blocked_only, v, WG_SOURCES);
	jw_object_begin(out, NULL);
	jw_array_begin(out, "sources");
	for (int i = 0; i < n; i++) {
		jw_object_begin(out, NULL);
		jw_string(out, "endpoint", v[i].endpoint);
		jw_u64(out, "count", v[i].count);
		jw_i64(out, "last_seen_ms", v[i].last_seen_ms);
		jw_string(out, "mac1_peer", v[i].mac1_peer);
		jw_u64(out, "strikes", v[i].strikes);
		jw_i64(out, "blocked_ms", v[i].blocked_ms);
		jw_end(out);
	}
	jw_end(out);
	jw_end(out);
	free(v);
	return 0;
}

int cmd_wg_show_unknown(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);

	return wg ? answer_sources(call, wg, false) : -1;
}

int cmd_wg_blocklist_show(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);

	return wg ? answer_sources(call, wg, true) : -1;
}

int cmd_wg_blocklist_clear(struct mgmt_call *call)
{
	struct wg_relay *wg = relay_or_error(call);

	if (!wg)
		return -1;
	wg_relay_blocklist_clear(wg);
	return answer_sources(call, wg, true);
}
