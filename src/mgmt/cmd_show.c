// SPDX-License-Identifier: MIT
/* show status, show peers, show counters, show config. */
#include "mgmt_command.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_entries.h"
#include "config_live.h"
#include "log.h"
#include "peer_view.h"
#include "stats_snapshot.h"

int cmd_show_status(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;
	struct json_writer *w = call->out;
	struct stats_snapshot s;
	struct tm tm;
	char started[32];

	stats_snapshot_take(ctx, &s);
	gmtime_r(&ctx->started_wall, &tm);
	strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);

	jw_object_begin(w, NULL);
	jw_string(w, "version", HD_VERSION);
	jw_string(w, "server_key", ctx->server_key);
	jw_string(w, "started", started);
	jw_u64(w, "uptime_ms", s.uptime_ms);
	jw_u64(w, "workers", s.nworkers);
	jw_string(w, "recv_mode", s.recv_mode);
	jw_u64(w, "port", ctx->port);
	jw_bool(w, "tls", ctx->tls);
	jw_bool(w, "ktls_available", ctx->ktls_available);
	jw_string(w, "metrics", ctx->metrics_addr);
	jw_string(w, "stun", ctx->stun ? stun_server_address(ctx->stun) : "");
	jw_string(w, "log_level", log_level_name(log_get_level()));
	jw_bool(w, "candidate_open", ctx->candidate_open);
	jw_u64(w, "connections", s.conns_current);
	jw_u64(w, "home_connections", s.total.home_connections);
	jw_u64(w, "connections_accepted", s.total.conns_accepted);
	jw_u64(w, "connections_closed", stats_total_closed(&s));
	if (s.has_slowpath) {
		jw_u64(w, "handshakes_ok", s.slow.handshakes_ok);
		jw_u64(w, "handshakes_failed", s.slow.handshakes_failed);
		jw_u64(w, "tls_handshakes", s.slow.tls_handshakes);
		jw_u64(w, "ktls_connections", s.slow.ktls_connections);
	}
	jw_u64(w, "packets_in", s.total.packets_recv);
	jw_u64(w, "bytes_in", s.total.bytes_recv);
	jw_u64(w, "packets_out", s.total.packets_sent);
	jw_u64(w, "bytes_out", s.total.bytes_sent);
	jw_u64(w, "drops_total", stats_total_drops(&s));
	jw_object_begin(w, "drops");
	for (int r = 0; r < DROP_REASON_COUNT; r++) {
		uint64_t n = 0;
		for (int k = 0; k < DROP_KIND_COUNT; k++)
			n += s.total.packets_dropped[r][k];
		jw_u64(w, drop_reason_names[r], n);
	}
	jw_end(w);
	jw_end(w);
	return 0;
}

int cmd_show_peers(struct mgmt_call *call)
{
	struct peer_info *peers;
	int n = peer_list_sorted(call->ctx->relay, &peers);
	if (n < 0)
		return mgmt_error(call, MGMT_E_BUSY,
				  "the workers did not list their peers within %d ms; try again",
				  PEER_LIST_TIMEOUT_MS);
	jw_object_begin(call->out, NULL);
	jw_u64(call->out, "count", (uint64_t)n);
	jw_array_begin(call->out, "peers");
	for (int i = 0; i < n; i++)
		peer_write_json(call->out, NULL, &peers[i]);
	jw_end(call->out);
	jw_end(call->out);
	free(peers);
	return 0;
}

int cmd_show_counters(struct mgmt_call *call)
{
	struct stats_snapshot s;
	stats_snapshot_take(call->ctx, &s);
	stats_write_json(&s, call->out);
	return 0;
}

/* Writes the entries as [{"key":..,"value":..,"live":..}]. */
static void write_config_keys(struct json_writer *w, const char *name,
			      const struct config_entries *e)
{
	jw_array_begin(w, name);
	for (size_t i = 0; i < e->count; i++) {
		jw_object_begin(w, NULL);
		jw_string(w, "key", e->items[i].name);
		jw_string(w, "value", e->items[i].value);
		jw_bool(w, "live", config_key_is_live(e->items[i].name));
		jw_end(w);
	}
	jw_end(w);
}

int cmd_show_config(struct mgmt_call *call)
{
	struct mgmt_context *ctx = call->ctx;
	struct config_entries e;

	pthread_mutex_lock(&ctx->config_lock);
	int rc = config_entries_load(&e, ctx->running);
	pthread_mutex_unlock(&ctx->config_lock);
	if (rc < 0)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory");
	jw_object_begin(call->out, NULL);
	write_config_keys(call->out, "keys", &e);
	jw_bool(call->out, "candidate_open", ctx->candidate_open);
	jw_end(call->out);
	config_entries_free(&e);
	return 0;
}
