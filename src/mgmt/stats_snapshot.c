// SPDX-License-Identifier: MIT
#include "stats_snapshot.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mesh_link.h"
#include "relay.h"

/* struct worker_stats is nothing but uint64_t counters: it is summed slot by slot. */
_Static_assert(sizeof(struct worker_stats) % sizeof(uint64_t) == 0,
	       "struct worker_stats must hold only uint64_t counters");

#define N_FRAME_SLOTS (sizeof(((struct worker_stats *)0)->frames_recv) / sizeof(uint64_t))

static const char *const frame_type_names[N_FRAME_SLOTS] = {
	[0x01] = "server_key",
	[0x02] = "client_info",
	[0x03] = "server_info",
	[0x04] = "send_packet",
	[0x05] = "recv_packet",
	[0x06] = "keep_alive",
	[0x07] = "note_preferred",
	[0x08] = "peer_gone",
	[0x09] = "peer_present",
	[0x0a] = "forward_packet",
	[0x10] = "watch_conns",
	[0x11] = "close_peer",
	[0x12] = "ping",
	[0x13] = "pong",
	[0x14] = "health",
	[0x15] = "restarting",
	[N_FRAME_SLOTS - 1] = "unknown",
};

const char *stats_frame_type_name(unsigned type)
{
	return type < N_FRAME_SLOTS ? frame_type_names[type] : NULL;
}

static uint64_t elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms =
	    (int64_t)(now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
	return ms > 0 ? (uint64_t)ms : 0;
}

/*
 * Every worker chooses the same way on the same kernel, so one name
 * normally describes them all; per-worker modes are in /metrics.
 */
static const char *workers_recv_mode(const struct relay *r)
{
	const char *mode = r->nworkers ? relay_worker_recv_mode(r, 0) : "";
	for (uint16_t i = 1; i < r->nworkers; i++) {
		if (strcmp(relay_worker_recv_mode(r, i), mode) != 0)
			return "mixed";
	}
	return mode;
}

void stats_snapshot_take(const struct mgmt_context *ctx, struct stats_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->uptime_ms = elapsed_ms(&ctx->started);
	s->nworkers = ctx->relay->nworkers;
	s->recv_mode = workers_recv_mode(ctx->relay);
	s->conns_current = atomic_load_explicit(&ctx->relay->conns_current, memory_order_relaxed);
	s->nlinks = ctx->relay->nlinks;
	s->links = ctx->relay->links;
	if (ctx->relay->hd) {
		const struct hd_registry *hd = ctx->relay->hd;
		s->has_hd = true;
		s->hd_admitted = __atomic_load_n(&hd->admitted, __ATOMIC_RELAXED);
		for (int r = HD_REASON_BAD_PROOF; r <= HD_REASON_DRAINING; r++)
			s->hd_denied[r] = __atomic_load_n(&hd->denied[r], __ATOMIC_RELAXED);
		s->hd_peer_ids = __atomic_load_n(&hd->ids.count, __ATOMIC_ACQUIRE);
		s->hd_policy_reloads = __atomic_load_n(&hd->policy_reloads, __ATOMIC_RELAXED);
		s->hd_policy_reload_failures =
		    __atomic_load_n(&hd->policy_reload_failures, __ATOMIC_RELAXED);
	}
	uint64_t *slots = (uint64_t *)&s->total;
	for (size_t i = 0; i < sizeof(s->total) / sizeof(uint64_t); i++)
		slots[i] = relay_stat_sum(ctx->relay, i * sizeof(uint64_t));
	if (ctx->slowpath) {
		s->has_slowpath = true;
		slowpath_get_stats(ctx->slowpath, &s->slow);
	}
	if (ctx->stun) {
		s->has_stun = true;
		stun_server_get_stats(ctx->stun, &s->stun);
	}
	if (ctx->http_port) {
		s->has_http_port = true;
		http_port_get_stats(ctx->http_port, &s->http_port);
	}
	/* Field by field: the management thread may be counting (a hook, a SIGHUP reload). */
	const uint64_t *src = (const uint64_t *)&ctx->mgmt_stats;
	uint64_t *dst = (uint64_t *)&s->mgmt;
	for (size_t i = 0; i < sizeof(s->mgmt) / sizeof(uint64_t); i++)
		dst[i] = stat_read(&src[i]);
}

_Static_assert(sizeof(struct mgmt_stats) % sizeof(uint64_t) == 0,
	       "struct mgmt_stats must hold only uint64_t counters");

const char *mgmt_listener_name(enum mgmt_listener l)
{
	return l == MGMT_LISTENER_METRICS ? "metrics" : "socket";
}

uint64_t stats_total_drops(const struct stats_snapshot *s)
{
	uint64_t n = 0;
	for (int r = 0; r < DROP_REASON_COUNT; r++)
		for (int k = 0; k < DROP_KIND_COUNT; k++)
			n += s->total.packets_dropped[r][k];
	return n;
}

uint64_t stats_total_closed(const struct stats_snapshot *s)
{
	uint64_t n = 0;
	for (int r = 0; r < CLOSE_REASON_COUNT; r++)
		n += s->total.conns_closed[r];
	return n;
}

static const char *const drop_kind_names[DROP_KIND_COUNT] = {
	[DROP_KIND_DISCO] = "disco",
	[DROP_KIND_OTHER] = "other",
};

const char *stats_drop_kind_name(int kind)
{
	return kind >= 0 && kind < DROP_KIND_COUNT ? drop_kind_names[kind] : "?";
}

static uint64_t rd(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* "mesh": one object per mesh.with entry, named as written (show mesh has the rest). */
static void write_mesh_json(const struct stats_snapshot *s, struct json_writer *w)
{
	jw_object_begin(w, "mesh");
	for (uint16_t i = 0; i < s->nlinks; i++) {
		const struct mesh_link_stats *m = &s->links[i].stats;
		jw_object_begin(w, s->links[i].target.text);
		jw_u64(w, "keys", rd(&m->keys));
		jw_u64(w, "packets_out", rd(&m->fwd_out_packets));
		jw_u64(w, "packets_in", rd(&m->fwd_in_packets));
		jw_u64(w, "queue_drops", rd(&m->queue_drops));
		jw_u64(w, "unsent_drops", rd(&m->unsent_drops));
		jw_u64(w, "reconnects", rd(&m->reconnects));
		jw_u64(w, "dial_failures", rd(&m->dial_failures));
		jw_u64(w, "write_timeouts", rd(&m->write_timeouts));
		jw_u64(w, "keys_refused", rd(&m->keys_refused));
		jw_end(w);
	}
	jw_end(w);
}

void stats_write_json(const struct stats_snapshot *s, struct json_writer *w)
{
	const struct worker_stats *t = &s->total;

	jw_object_begin(w, NULL);
	jw_u64(w, "uptime_ms", s->uptime_ms);
	jw_u64(w, "workers", s->nworkers);
	jw_string(w, "recv_mode", s->recv_mode);
	jw_u64(w, "connections", s->conns_current);
	jw_u64(w, "home_connections", t->home_connections);

	jw_object_begin(w, "connections_closed");
	for (int r = 0; r < CLOSE_REASON_COUNT; r++)
		jw_u64(w, close_reason_names[r], t->conns_closed[r]);
	jw_end(w);

	if (s->has_slowpath) {
		jw_object_begin(w, "slowpath");
		jw_u64(w, "accepted", s->slow.accepted);
		jw_u64(w, "rejected_max_conns", s->slow.rejected_max_conns);
		jw_u64(w, "rejected_rate", s->slow.rejected_rate);
		jw_u64(w, "rejected_accept_rate", s->slow.rejected_accept_rate);
		jw_u64(w, "http_requests", s->slow.http_requests);
		jw_u64(w, "http_errors", s->slow.http_errors);
		jw_u64(w, "upgrades", s->slow.upgrades);
		jw_u64(w, "websocket_upgrades", s->slow.websocket_upgrades);
		jw_u64(w, "websocket_bad_frames", s->slow.websocket_bad_frames);
		jw_u64(w, "handshakes_ok", s->slow.handshakes_ok);
		jw_u64(w, "handshakes_failed", s->slow.handshakes_failed);
		jw_u64(w, "handshake_timeouts", s->slow.handshake_timeouts);
		jw_u64(w, "tls_handshakes", s->slow.tls_handshakes);
		jw_u64(w, "tls_failures", s->slow.tls_failures);
		jw_u64(w, "ktls_connections", s->slow.ktls_connections);
		jw_u64(w, "tls_cert_reloads", s->slow.cert_reloads);
		jw_u64(w, "tls_cert_reload_failures", s->slow.cert_reload_failures);
		jw_u64(w, "tls_cert_not_after", s->slow.cert_not_after);
		jw_u64(w, "refused_pending_per_ip", s->slow.refused_pending_per_ip);
		jw_u64(w, "refused_handshake_memory", s->slow.refused_handshake_memory);
		jw_u64(w, "refused_tls_too_large", s->slow.refused_tls_too_large);
		jw_u64(w, "submit_failures", s->slow.submit_failures);
		jw_u64(w, "accept_errors", s->slow.accept_errors);
		jw_object_begin(w, "admission");
		jw_u64(w, "allowed", s->slow.admission_allowed);
		jw_u64(w, "refused", s->slow.admission_refused);
		jw_u64(w, "failed", s->slow.admission_failed);
		jw_u64(w, "fail_open", s->slow.admission_fail_open);
		jw_u64(w, "busy", s->slow.admission_busy);
		jw_u64(w, "cache_hits", s->slow.admission_cache_hits);
		jw_u64(w, "pending", s->slow.admission_pending);
		jw_end(w);
		jw_u64(w, "bootstrap_dns_requests", s->slow.bootstrap_dns_requests);
		jw_u64(w, "bootstrap_dns_published_hits", s->slow.bootstrap_dns_published_hits);
		jw_u64(w, "bootstrap_dns_unpublished_hits", s->slow.bootstrap_dns_unpublished_hits);
		jw_u64(w, "bootstrap_dns_unpublished_misses",
		       s->slow.bootstrap_dns_unpublished_misses);
		jw_u64(w, "bootstrap_dns_lookup_failures", s->slow.bootstrap_dns_lookup_failures);
		jw_u64(w, "debug_requests", s->slow.debug_requests);
		jw_u64(w, "debug_denied", s->slow.debug_denied);
		jw_u64(w, "handshakes_pending", s->slow.handshakes_pending);
		jw_u64(w, "handshake_memory_bytes", s->slow.handshake_memory_bytes);
		jw_end(w);
	}

	if (s->has_stun) {
		jw_object_begin(w, "stun");
		jw_u64(w, "answered_ipv4", s->stun.answered_ipv4);
		jw_u64(w, "answered_ipv6", s->stun.answered_ipv6);
		jw_object_begin(w, "dropped");
		for (int v = STUN_OK + 1; v < STUN_VERDICT_COUNT; v++)
			jw_u64(w, stun_verdict_name(v), s->stun.dropped[v]);
		jw_end(w);
		jw_u64(w, "send_errors", s->stun.send_errors);
		jw_u64(w, "recv_errors", s->stun.recv_errors);
		jw_end(w);
	}

	if (s->has_http_port) {
		jw_object_begin(w, "http_port");
		jw_u64(w, "requests", s->http_port.requests);
		jw_u64(w, "generate_204", s->http_port.generate_204);
		jw_u64(w, "acme_served", s->http_port.acme_served);
		jw_u64(w, "redirects", s->http_port.redirects);
		jw_u64(w, "bad_requests", s->http_port.bad_requests);
		jw_u64(w, "evicted", s->http_port.evicted);
		jw_u64(w, "timeouts", s->http_port.timeouts);
		jw_end(w);
	}

	jw_object_begin(w, "mgmt");
	for (int i = 0; i < MGMT_LISTENER_COUNT; i++) {
		const struct mgmt_listener_stats *l = &s->mgmt.listener[i];
		jw_object_begin(w, mgmt_listener_name(i));
		jw_u64(w, "clients", l->clients);
		jw_u64(w, "accepted", l->accepted);
		jw_u64(w, "refused", l->refused);
		if (i == MGMT_LISTENER_METRICS) {
			jw_u64(w, "evicted", l->evicted);
			jw_u64(w, "timeouts", l->timeouts);
		}
		jw_u64(w, "accept_errors", l->accept_errors);
		jw_end(w);
	}
	jw_u64(w, "followers_dropped", s->mgmt.followers_dropped);
	jw_u64(w, "peer_listings", s->mgmt.peer_listings);
	jw_u64(w, "buffer_bytes", s->mgmt.buffer_bytes);
	jw_end(w);

	jw_object_begin(w, "relay");
	jw_u64(w, "conns_accepted", t->conns_accepted);
	jw_u64(w, "packets_recv", t->packets_recv);
	jw_u64(w, "bytes_recv", t->bytes_recv);
	jw_u64(w, "packets_sent", t->packets_sent);
	jw_u64(w, "bytes_sent", t->bytes_sent);
	jw_u64(w, "packets_forwarded_in", t->packets_forwarded_in);
	jw_u64(w, "packets_forwarded_out", t->packets_forwarded_out);
	jw_u64(w, "peer_gone_disconnected_frames", t->peer_gone_disconnected_frames);
	jw_u64(w, "peer_gone_not_here_frames", t->peer_gone_not_here_frames);
	jw_u64(w, "pings_dropped", t->pings_dropped);
	jw_u64(w, "recv_rate_limited", t->recv_rate_limited);
	jw_u64(w, "peer_gone_recipients_refused", t->peer_gone_recipients_refused);
	jw_u64(w, "recv_no_buffers", t->recv_no_buffers);
	jw_u64(w, "packets_inplace", t->packets_inplace);
	jw_u64(w, "packets_copied", t->packets_copied);
	jw_u64(w, "recv_buffers_pinned", t->recv_buffers_pinned);
	jw_u64(w, "pool_bytes", t->pool_bytes);
	jw_u64(w, "ctrl_pool_bytes", t->ctrl_pool_bytes);
	jw_u64(w, "asm_pool_bytes", t->asm_pool_bytes);
	jw_u64(w, "ctrl_frames_dropped", t->ctrl_frames_dropped);
	jw_u64(w, "frames_assembly_dropped", t->frames_assembly_dropped);
	jw_u64(w, "loop_passes", t->loop_passes);
	jw_u64(w, "loop_sleeps", t->loop_sleeps);
	jw_u64(w, "spin_hits", t->spin_hits);
	jw_u64(w, "spin_misses", t->spin_misses);
	jw_u64(w, "wakeups", t->wakeups);
	jw_end(w);

	jw_object_begin(w, "frames_recv");
	for (unsigned i = 0; i < N_FRAME_SLOTS; i++) {
		if (frame_type_names[i])
			jw_u64(w, frame_type_names[i], t->frames_recv[i]);
	}
	jw_end(w);

	if (s->nlinks)
		write_mesh_json(s, w);
	if (s->has_hd) {
		jw_object_begin(w, "hd");
		jw_u64(w, "admitted", s->hd_admitted);
		jw_u64(w, "peer_ids", s->hd_peer_ids);
		jw_u64(w, "policy_reloads", s->hd_policy_reloads);
		jw_u64(w, "policy_reload_failures", s->hd_policy_reload_failures);
		for (int r = HD_REASON_BAD_PROOF; r <= HD_REASON_DRAINING; r++) {
			char name[32];
			snprintf(name, sizeof(name), "refused_%s", hd_reason_name((uint8_t)r));
			jw_u64(w, name, s->hd_denied[r]);
		}
		jw_end(w);
	}

	jw_u64(w, "drops_total", stats_total_drops(s));
	jw_object_begin(w, "drops");
	for (int r = 0; r < DROP_REASON_COUNT; r++) {
		jw_object_begin(w, drop_reason_names[r]);
		for (int k = 0; k < DROP_KIND_COUNT; k++) {
			jw_object_begin(w, drop_kind_names[k]);
			jw_u64(w, "packets", t->packets_dropped[r][k]);
			jw_u64(w, "bytes", t->bytes_dropped[r][k]);
			jw_end(w);
		}
		jw_end(w);
	}
	jw_end(w);
	jw_end(w);
}
