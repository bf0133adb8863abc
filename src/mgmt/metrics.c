// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mesh_link.h"
#include "peer_view.h"
#include "relay.h"
#include "stats.h"
#include "stats_snapshot.h"
#include "wg_relay.h"

struct textbuf {
	char *buf;
	size_t len;
	size_t cap;
	bool failed;
};

__attribute__((format(printf, 2, 3))) static void put(struct textbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->len;
		va_start(ap, fmt);
		int n = vsnprintf(b->buf ? b->buf + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *buf = realloc(b->buf, cap);
		if (!buf) {
			b->failed = true;
			return;
		}
		b->buf = buf;
		b->cap = cap;
	}
}

static void head(struct textbuf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP hyperderp_%s %s\n# TYPE hyperderp_%s %s\n", name, help, name, type);
}

/* A metric with no labels. */
static void single(struct textbuf *b, const char *name, const char *type, const char *help,
		   uint64_t value)
{
	head(b, name, type, help);
	put(b, "hyperderp_%s %llu\n", name, (unsigned long long)value);
}

static void write_process(struct textbuf *b, struct mgmt_context *ctx,
			  const struct stats_snapshot *s)
{
	head(b, "build_info", "gauge", "Version of the running relay; the value is always 1.");
	put(b, "hyperderp_build_info{version=\"%s\"} 1\n", HD_VERSION);
	single(b, "start_time_seconds", "gauge", "Start time of the relay, in Unix seconds.",
	       (uint64_t)ctx->started_wall);
	single(b, "uptime_seconds", "gauge", "Seconds since the relay started.",
	       s->uptime_ms / 1000);
	single(b, "workers", "gauge", "Dataplane worker threads.", s->nworkers);
	single(b, "ktls_available", "gauge",
	       "1 if the kernel offers TLS (kTLS), probed at start; 0 otherwise.",
	       ctx->ktls_available);
	head(b, "log_level", "gauge", "The current log level; the value is always 1.");
	put(b, "hyperderp_log_level{level=\"%s\"} 1\n", log_level_name(log_get_level()));
}

static void write_connections(struct textbuf *b, const struct stats_snapshot *s)
{
	const struct worker_stats *t = &s->total;

	single(b, "connections", "gauge",
	       "Client connections open now, handshakes in progress included.", s->conns_current);
	single(b, "home_connections", "gauge",
	       "Connections whose client calls this relay its home (NotePreferred).",
	       t->home_connections);
	single(b, "connections_accepted_total", "counter",
	       "Connections that finished the handshake and reached a worker.", t->conns_accepted);
	head(b, "connections_closed_total", "counter", "Connections closed, by reason.");
	for (int r = 0; r < CLOSE_REASON_COUNT; r++)
		put(b, "hyperderp_connections_closed_total{reason=\"%s\"} %llu\n",
		    close_reason_names[r], (unsigned long long)t->conns_closed[r]);
	if (!s->has_slowpath)
		return;
	single(b, "tcp_accepted_total", "counter", "TCP connections accepted.", s->slow.accepted);
	single(b, "tcp_rejected_total", "counter",
	       "TCP connections refused because server.max_connections was reached.",
	       s->slow.rejected_max_conns);
	single(b, "http_requests_total", "counter", "HTTP requests read.", s->slow.http_requests);
	single(b, "http_errors_total", "counter", "HTTP requests answered with an error.",
	       s->slow.http_errors);
	single(b, "derp_upgrades_total", "counter", "Requests upgraded to DERP.", s->slow.upgrades);
	single(b, "websocket_upgrades_total", "counter",
	       "Requests upgraded to DERP over WebSocket (derper's derp_websocket_accepts).",
	       s->slow.websocket_upgrades);
	single(b, "websocket_bad_frames_total", "counter",
	       "Handshakes ended by a WebSocket frame the protocol forbids (after the handshake: "
	       "connections_closed_total{reason=\"websocket_bad_frame\"}).",
	       s->slow.websocket_bad_frames);
	head(b, "handshakes_total", "counter", "DERP handshakes, by result.");
	put(b, "hyperderp_handshakes_total{result=\"ok\"} %llu\n",
	    (unsigned long long)s->slow.handshakes_ok);
	put(b, "hyperderp_handshakes_total{result=\"failed\"} %llu\n",
	    (unsigned long long)s->slow.handshakes_failed);
	put(b, "hyperderp_handshakes_total{result=\"timeout\"} %llu\n",
	    (unsigned long long)s->slow.handshake_timeouts);
	head(b, "tls_handshakes_total", "counter", "TLS handshakes, by result.");
	put(b, "hyperderp_tls_handshakes_total{result=\"ok\"} %llu\n",
	    (unsigned long long)s->slow.tls_handshakes);
	put(b, "hyperderp_tls_handshakes_total{result=\"failed\"} %llu\n",
	    (unsigned long long)s->slow.tls_failures);
	single(b, "ktls_connections_total", "counter",
	       "TLS connections handed to kernel TLS (kTLS) after the handshake.",
	       s->slow.ktls_connections);
	head(b, "tls_cert_reloads_total", "counter",
	     "New certificates read while running (file change or SIGHUP), by result.");
	put(b, "hyperderp_tls_cert_reloads_total{result=\"ok\"} %llu\n",
	    (unsigned long long)s->slow.cert_reloads);
	put(b, "hyperderp_tls_cert_reloads_total{result=\"refused\"} %llu\n",
	    (unsigned long long)s->slow.cert_reload_failures);
	if (s->slow.cert_not_after)
		single(b, "tls_cert_expiry_timestamp_seconds", "gauge",
		       "When the certificate served to new connections expires, in Unix seconds.",
		       s->slow.cert_not_after);
	head(b, "handshakes_refused_total", "counter",
	     "Connections refused at accept or closed in their handshake by a bound, by reason.");
	const struct {
		const char *reason;
		uint64_t n;
	} refused[] = {
		{ "accept_rate", s->slow.rejected_rate },
		{ "accept_rate_all", s->slow.rejected_accept_rate },
		{ "pending_per_ip", s->slow.refused_pending_per_ip },
		{ "handshake_memory", s->slow.refused_handshake_memory },
		{ "tls_too_large", s->slow.refused_tls_too_large },
		{ "submit_failed", s->slow.submit_failures },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		put(b, "hyperderp_handshakes_refused_total{reason=\"%s\"} %llu\n",
		    refused[i].reason, (unsigned long long)refused[i].n);
	head(b, "admission_checks_total", "counter",
	     "Clients decided by the [admission] checks, by result: allowed, refused (told no), "
	     "failed (could not ask, or a bad answer: refused), fail_open (the controller could "
	     "not be asked: admitted), busy (too many checks waiting: refused).");
	const struct {
		const char *result;
		uint64_t n;
	} admission[] = {
		{ "allowed", s->slow.admission_allowed },
		{ "refused", s->slow.admission_refused },
		{ "failed", s->slow.admission_failed },
		{ "fail_open", s->slow.admission_fail_open },
		{ "busy", s->slow.admission_busy },
	};
	for (size_t i = 0; i < sizeof(admission) / sizeof(admission[0]); i++)
		put(b, "hyperderp_admission_checks_total{result=\"%s\"} %llu\n",
		    admission[i].result, (unsigned long long)admission[i].n);
	single(b, "admission_cache_hits_total", "counter",
	       "Admission answers reused from the cache (admission.cache_ms).",
	       s->slow.admission_cache_hits);
	single(b, "admission_pending", "gauge", "Connections waiting for their admission check.",
	       s->slow.admission_pending);
	single(b, "accept_errors_total", "counter",
	       "Accepts that failed (out of file descriptors or memory); accepting pauses 200 ms.",
	       s->slow.accept_errors);
	single(b, "handshakes_pending", "gauge", "Connections in their handshake now.",
	       s->slow.handshakes_pending);
	single(b, "handshake_memory_bytes", "gauge",
	       "Buffer memory held by connections in their handshake (limits.handshake_memory_mb).",
	       s->slow.handshake_memory_bytes);
	single(b, "bootstrap_dns_requests_total", "counter",
	       "/bootstrap-dns requests on the DERP port.", s->slow.bootstrap_dns_requests);
	head(b, "bootstrap_dns_queries_total", "counter",
	     "/bootstrap-dns requests with ?q=: a published or unpublished name that resolved, "
	     "or a miss.");
	put(b, "hyperderp_bootstrap_dns_queries_total{result=\"hit\"} %llu\n",
	    (unsigned long long)s->slow.bootstrap_dns_published_hits);
	put(b, "hyperderp_bootstrap_dns_queries_total{result=\"unpublished_hit\"} %llu\n",
	    (unsigned long long)s->slow.bootstrap_dns_unpublished_hits);
	put(b, "hyperderp_bootstrap_dns_queries_total{result=\"miss\"} %llu\n",
	    (unsigned long long)s->slow.bootstrap_dns_unpublished_misses);
	single(b, "bootstrap_dns_lookup_failures_total", "counter",
	       "Resolutions of a bootstrap_dns.names name that failed.",
	       s->slow.bootstrap_dns_lookup_failures);
	head(b, "debug_requests_total", "counter",
	     "/debug/ requests on the DERP port, by whether debug.allow let them in.");
	put(b, "hyperderp_debug_requests_total{result=\"allowed\"} %llu\n",
	    (unsigned long long)s->slow.debug_requests);
	put(b, "hyperderp_debug_requests_total{result=\"denied\"} %llu\n",
	    (unsigned long long)s->slow.debug_denied);
}

static void write_traffic(struct textbuf *b, const struct stats_snapshot *s)
{
	const struct worker_stats *t = &s->total;

	single(b, "received_packets_total", "counter",
	       "Packets received from clients (SendPacket and ForwardPacket frames).",
	       t->packets_recv);
	single(b, "received_bytes_total", "counter", "Packet bytes received from clients.",
	       t->bytes_recv);
	single(b, "sent_packets_total", "counter", "Packets written to clients (RecvPacket).",
	       t->packets_sent);
	single(b, "sent_bytes_total", "counter", "Packet bytes written to clients.", t->bytes_sent);
	single(b, "forwarded_in_packets_total", "counter",
	       "Packets that arrived from a mesh peer (ForwardPacket).", t->packets_forwarded_in);
	single(b, "forwarded_out_packets_total", "counter",
	       "Packets for keys homed on a mesh peer handed to its link (ForwardPacket).",
	       t->packets_forwarded_out);

	head(b, "frames_received_total", "counter", "DERP frames received from clients, by type.");
	for (unsigned i = 0; i < sizeof(t->frames_recv) / sizeof(t->frames_recv[0]); i++) {
		const char *name = stats_frame_type_name(i);
		if (name)
			put(b, "hyperderp_frames_received_total{type=\"%s\"} %llu\n", name,
			    (unsigned long long)t->frames_recv[i]);
	}
	head(b, "peer_gone_frames_total", "counter", "PeerGone frames sent, by reason.");
	put(b, "hyperderp_peer_gone_frames_total{reason=\"disconnected\"} %llu\n",
	    (unsigned long long)t->peer_gone_disconnected_frames);
	put(b, "hyperderp_peer_gone_frames_total{reason=\"not_here\"} %llu\n",
	    (unsigned long long)t->peer_gone_not_here_frames);
	single(b, "client_rate_limited_total", "counter",
	       "Times reading from a client paused because it sent past "
	       "limits.client_rate_bytes (derper: rate_limit_per_client_waited).",
	       t->recv_rate_limited);
	single(b, "pings_dropped_total", "counter",
	       "Ping frames ignored because a Pong was still pending.", t->pings_dropped);
	single(b, "peer_gone_recipients_refused_total", "counter",
	       "Receivers not remembered for PeerGone because the sender's key had "
	       "limits.peer_gone_recipients of them on that worker already.",
	       t->peer_gone_recipients_refused);

	head(b, "dropped_packets_total", "counter", "Packets dropped, by reason and kind.");
	for (int r = 0; r < DROP_REASON_COUNT; r++)
		for (int k = 0; k < DROP_KIND_COUNT; k++)
			put(b, "hyperderp_dropped_packets_total{reason=\"%s\",kind=\"%s\"} %llu\n",
			    drop_reason_names[r], stats_drop_kind_name(k),
			    (unsigned long long)t->packets_dropped[r][k]);
	head(b, "dropped_bytes_total", "counter", "Packet bytes dropped, by reason and kind.");
	for (int r = 0; r < DROP_REASON_COUNT; r++)
		for (int k = 0; k < DROP_KIND_COUNT; k++)
			put(b, "hyperderp_dropped_bytes_total{reason=\"%s\",kind=\"%s\"} %llu\n",
			    drop_reason_names[r], stats_drop_kind_name(k),
			    (unsigned long long)t->bytes_dropped[r][k]);
}

static void write_workers(struct textbuf *b, struct mgmt_context *ctx,
			  const struct stats_snapshot *s)
{
	static const struct {
		const char *name;
		const char *type;
		size_t offset;
		const char *help;
	} per_worker[] = {
		{ "worker_loop_passes_total", "counter", offsetof(struct worker_stats, loop_passes),
		  "Event loop passes of each worker." },
		{ "worker_loop_sleeps_total", "counter", offsetof(struct worker_stats, loop_sleeps),
		  "Times each worker ran out of work and slept." },
		{ "worker_spin_hits_total", "counter", offsetof(struct worker_stats, spin_hits),
		  "Idle spins of each worker that found work before sleeping." },
		{ "worker_spin_misses_total", "counter", offsetof(struct worker_stats, spin_misses),
		  "Idle spins of each worker that found no work and ended in a sleep." },
		{ "worker_wakeups_total", "counter", offsetof(struct worker_stats, wakeups),
		  "Sleeps of each worker ended by another thread's wake-up." },
		{ "worker_recv_no_buffer_total", "counter",
		  offsetof(struct worker_stats, recv_no_buffers),
		  "Times a worker's receive buffer ring was empty." },
		{ "worker_connections_accepted_total", "counter",
		  offsetof(struct worker_stats, conns_accepted),
		  "Connections handed to each worker." },
		{ "worker_packets_inplace_total", "counter",
		  offsetof(struct worker_stats, packets_inplace),
		  "Packets relayed from their receive buffer without a copy." },
		{ "worker_packets_copied_total", "counter",
		  offsetof(struct worker_stats, packets_copied),
		  "Packets relayed by a copy (TLS, split frames, recv_mode single, pin limit)." },
		{ "worker_recv_buffers_pinned", "gauge",
		  offsetof(struct worker_stats, recv_buffers_pinned),
		  "Receive buffers held by packets relayed in place "
		  "(limits.pinned_recv_buffers)." },
		{ "worker_buffer_pool_bytes", "gauge", offsetof(struct worker_stats, pool_bytes),
		  "Memory held by each worker's packet buffer pool (limits.buffer_pool_mb)." },
		{ "worker_control_pool_bytes", "gauge",
		  offsetof(struct worker_stats, ctrl_pool_bytes),
		  "Memory held by each worker's pool of server frames (limits.control_pool_mb)." },
		{ "worker_frame_assembly_bytes", "gauge",
		  offsetof(struct worker_stats, asm_pool_bytes),
		  "Memory held by each worker's frames split across reads "
		  "(limits.frame_assembly_mb)." },
		{ "worker_control_frames_dropped_total", "counter",
		  offsetof(struct worker_stats, ctrl_frames_dropped),
		  "Server frames (ServerInfo, Pong, PeerGone ...) dropped because the control pool "
		  "was full (limits.control_pool_mb)." },
		{ "worker_frames_assembly_dropped_total", "counter",
		  offsetof(struct worker_stats, frames_assembly_dropped),
		  "Frames split across reads dropped to make room in a full assembly pool "
		  "(limits.frame_assembly_mb)." },
	};

	head(b, "worker_recv_mode", "gauge",
	     "How each worker receives (bufring or single); the value is always 1.");
	for (uint16_t i = 0; i < s->nworkers; i++)
		put(b, "hyperderp_worker_recv_mode{worker=\"%u\",mode=\"%s\"} 1\n", i,
		    relay_worker_recv_mode(ctx->relay, i));
	for (size_t m = 0; m < sizeof(per_worker) / sizeof(per_worker[0]); m++) {
		head(b, per_worker[m].name, per_worker[m].type, per_worker[m].help);
		for (uint16_t i = 0; i < s->nworkers; i++)
			put(b, "hyperderp_%s{worker=\"%u\"} %llu\n", per_worker[m].name, i,
			    (unsigned long long)relay_worker_stat(ctx->relay, i,
								  per_worker[m].offset));
	}
}

/* Only when http.port is set. */
static void write_http_port(struct textbuf *b, const struct stats_snapshot *s)
{
	if (!s->has_http_port)
		return;
	head(b, "http_port_requests_total", "counter",
	     "Requests answered on the plain-HTTP port (http.port), by what they got.");
	put(b, "hyperderp_http_port_requests_total{route=\"generate_204\"} %llu\n",
	    (unsigned long long)s->http_port.generate_204);
	put(b, "hyperderp_http_port_requests_total{route=\"acme_challenge\"} %llu\n",
	    (unsigned long long)s->http_port.acme_served);
	put(b, "hyperderp_http_port_requests_total{route=\"redirect\"} %llu\n",
	    (unsigned long long)s->http_port.redirects);
	put(b, "hyperderp_http_port_requests_total{route=\"bad_request\"} %llu\n",
	    (unsigned long long)s->http_port.bad_requests);
	single(b, "http_port_refused_total", "counter",
	       "Plain-HTTP connections closed to make room past http.max_clients.",
	       s->http_port.evicted);
	single(b, "http_port_timeouts_total", "counter",
	       "Plain-HTTP connections closed at http.timeout_ms.", s->http_port.timeouts);
}

/* Only when stun.listen is set, so a relay without STUN shows no STUN series. */
static void write_stun(struct textbuf *b, const struct stats_snapshot *s)
{
	if (!s->has_stun)
		return;
	head(b, "stun_responses_total", "counter",
	     "STUN binding requests answered, by the client's address family.");
	put(b, "hyperderp_stun_responses_total{family=\"ipv4\"} %llu\n",
	    (unsigned long long)s->stun.answered_ipv4);
	put(b, "hyperderp_stun_responses_total{family=\"ipv6\"} %llu\n",
	    (unsigned long long)s->stun.answered_ipv6);
	head(b, "stun_dropped_total", "counter",
	     "UDP datagrams on the STUN port left unanswered, by reason.");
	for (int v = STUN_OK + 1; v < STUN_VERDICT_COUNT; v++)
		put(b, "hyperderp_stun_dropped_total{reason=\"%s\"} %llu\n", stun_verdict_name(v),
		    (unsigned long long)s->stun.dropped[v]);
	single(b, "stun_send_errors_total", "counter", "STUN answers the kernel failed to send.",
	       s->stun.send_errors);
	single(b, "stun_recv_errors_total", "counter", "Errors reading the STUN socket.",
	       s->stun.recv_errors);
}

/*
 * The WireGuard relay's counters (the same as `hdcli wg show`): the drops
 * by reason in one metric, so that an attack on the index table, the
 * handshake rate or the blocklist shows while it happens; the rest each
 * under its own name.
 */
static void write_wireguard(struct textbuf *b, struct mgmt_context *ctx)
{
	struct wg_show s;

	if (!ctx->wg || wg_relay_show(ctx->wg, &s) < 0)
		return;
	head(b, "wg_dropped_total", "counter",
	     "WireGuard relay datagrams dropped, by reason (hdcli wg show).");
	for (int i = 0; i < WG_CNT_COUNT; i++) {
		if (strncmp(wg_counter_names[i], "drop_", 5) == 0)
			put(b, "hyperderp_wg_dropped_total{reason=\"%s\"} %llu\n",
			    wg_counter_names[i] + 5, (unsigned long long)s.counters[i]);
	}
	head(b, "wg_events_total", "counter",
	     "WireGuard relay: datagrams by path, index evictions, roams, blocks (hdcli wg show).");
	for (int i = 0; i < WG_CNT_COUNT; i++) {
		if (strncmp(wg_counter_names[i], "drop_", 5) != 0)
			put(b, "hyperderp_wg_events_total{event=\"%s\"} %llu\n",
			    wg_counter_names[i], (unsigned long long)s.counters[i]);
	}
	wg_show_free(&s);
}

/* The management thread's own listeners (mgmt_stats.h): an attack on them shows here. */
static void write_mgmt(struct textbuf *b, const struct stats_snapshot *s)
{
	static const struct {
		const char *name;
		const char *type;
		size_t offset;
		const char *help;
	} per_listener[] = {
		{ "mgmt_clients", "gauge", offsetof(struct mgmt_listener_stats, clients),
		  "Connections open on the management socket and the metrics port." },
		{ "mgmt_accepted_total", "counter", offsetof(struct mgmt_listener_stats, accepted),
		  "Connections accepted by the management socket and the metrics port." },
		{ "mgmt_refused_total", "counter", offsetof(struct mgmt_listener_stats, refused),
		  "Connections closed at once: mgmt.max_clients or metrics.max_clients reached." },
		{ "mgmt_accept_errors_total", "counter",
		  offsetof(struct mgmt_listener_stats, accept_errors),
		  "accept() failures (out of file descriptors ...); the listener pauses." },
	};

	for (size_t m = 0; m < sizeof(per_listener) / sizeof(per_listener[0]); m++) {
		head(b, per_listener[m].name, per_listener[m].type, per_listener[m].help);
		for (int i = 0; i < MGMT_LISTENER_COUNT; i++) {
			const char *base = (const char *)&s->mgmt.listener[i];
			uint64_t v;
			memcpy(&v, base + per_listener[m].offset, sizeof(v));
			put(b, "hyperderp_%s{listener=\"%s\"} %llu\n", per_listener[m].name,
			    mgmt_listener_name(i), (unsigned long long)v);
		}
	}
	const struct mgmt_listener_stats *http = &s->mgmt.listener[MGMT_LISTENER_METRICS];
	single(b, "metrics_evicted_total", "counter",
	       "Metrics connections closed before sending a request, to make room for a new one.",
	       http->evicted);
	single(b, "metrics_timeouts_total", "counter",
	       "Metrics exchanges cut at metrics.timeout_ms.", http->timeouts);
	single(b, "events_followers_dropped_total", "counter",
	       "`events follow` readers dropped for leaving more than mgmt.events_backlog_kb "
	       "unread.",
	       s->mgmt.followers_dropped);
	single(b, "metrics_peer_listings_total", "counter",
	       "Peer lists /metrics asked the workers for (at most four a second).",
	       s->mgmt.peer_listings);
	single(b, "mgmt_buffer_bytes", "gauge",
	       "Memory held by management and metrics client buffers.", s->mgmt.buffer_bytes);
}

#define QUEUE_GAUGES_MAX_AGE_MS 250

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Queue gauges need the peer list, which every worker walks its peers for
 * (and the management thread waits up to PEER_LIST_TIMEOUT_MS). Scrapes
 * come at whatever rate clients of the metrics port like: the list is asked
 * for at most four times a second, and scrapes in between reuse it.
 */
static void refresh_queue_gauges(struct mgmt_context *ctx)
{
	uint64_t now = monotonic_ms();
	if (ctx->queue_gauges.taken_ms &&
	    now - ctx->queue_gauges.taken_ms < QUEUE_GAUGES_MAX_AGE_MS)
		return;
	struct peer_info *peers;
	stat_add(&ctx->mgmt_stats.peer_listings, 1);
	int n = relay_list_peers(ctx->relay, &peers, PEER_LIST_TIMEOUT_MS);
	ctx->queue_gauges.taken_ms = monotonic_ms();
	ctx->queue_gauges.listed = n >= 0;
	if (n < 0) {
		if (log_due(&ctx->queue_gauges.last_warn_ns, now * 1000000, 60000000000ull))
			log_warn("metrics: the workers did not list their peers in time; queue "
				 "gauges left out of scrapes meanwhile");
		return;
	}
	uint64_t queued = 0, deepest = 0;
	for (int i = 0; i < n; i++) {
		queued += peers[i].queued;
		if (peers[i].queued > deepest)
			deepest = peers[i].queued;
	}
	free(peers);
	ctx->queue_gauges.peers = (uint64_t)n;
	ctx->queue_gauges.queued = queued;
	ctx->queue_gauges.deepest = deepest;
}

static uint64_t rd(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

/* One series per mesh.with entry, labelled peer="<entry as written>"; none without mesh.with. */
static void write_mesh(struct textbuf *b, const struct relay *r)
{
	if (!r->nlinks)
		return;
	const struct {
		const char *name, *type, *help;
		size_t offset;
	} series[] = {
		{ "mesh_peer_keys", "gauge", "Node keys homed on the mesh peer now.",
		  offsetof(struct mesh_link_stats, keys) },
		{ "mesh_forwarded_out_packets_total", "counter",
		  "ForwardPackets written to the mesh peer.",
		  offsetof(struct mesh_link_stats, fwd_out_packets) },
		{ "mesh_forwarded_out_bytes_total", "counter",
		  "Packet bytes of the ForwardPackets written to the mesh peer.",
		  offsetof(struct mesh_link_stats, fwd_out_bytes) },
		{ "mesh_forwarded_in_packets_total", "counter",
		  "ForwardPackets the mesh peer sent this relay.",
		  offsetof(struct mesh_link_stats, fwd_in_packets) },
		{ "mesh_forwarded_in_bytes_total", "counter",
		  "Packet bytes of the ForwardPackets the mesh peer sent this relay.",
		  offsetof(struct mesh_link_stats, fwd_in_bytes) },
		{ "mesh_queue_drops_total", "counter",
		  "Packets for the mesh peer dropped: its queue was full (a slow or stalled peer).",
		  offsetof(struct mesh_link_stats, queue_drops) },
		{ "mesh_unsent_drops_total", "counter",
		  "Packets for the mesh peer dropped: queued when its connection broke.",
		  offsetof(struct mesh_link_stats, unsent_drops) },
		{ "mesh_connects_total", "counter", "Mesh connections established to the peer.",
		  offsetof(struct mesh_link_stats, connects) },
		{ "mesh_reconnects_total", "counter",
		  "Mesh connections to the peer lost after their handshake.",
		  offsetof(struct mesh_link_stats, reconnects) },
		{ "mesh_dial_failures_total", "counter",
		  "Dials or handshakes to the mesh peer that failed.",
		  offsetof(struct mesh_link_stats, dial_failures) },
		{ "mesh_write_timeouts_total", "counter",
		  "Mesh connections closed by mesh.write_timeout_ms.",
		  offsetof(struct mesh_link_stats, write_timeouts) },
		{ "mesh_peer_present_total", "counter", "PeerPresent frames from the mesh peer.",
		  offsetof(struct mesh_link_stats, peer_present) },
		{ "mesh_peer_gone_total", "counter", "PeerGone frames from the mesh peer.",
		  offsetof(struct mesh_link_stats, peer_gone) },
		{ "mesh_keys_refused_total", "counter",
		  "PeerPresent frames for a new key ignored: mesh.max_keys keys kept for the peer.",
		  offsetof(struct mesh_link_stats, keys_refused) },
	};
	for (size_t k = 0; k < sizeof(series) / sizeof(series[0]); k++) {
		head(b, series[k].name, series[k].type, series[k].help);
		for (uint16_t i = 0; i < r->nlinks; i++) {
			const struct mesh_link *l = &r->links[i];
			const uint8_t *base = (const uint8_t *)&l->stats;
			put(b, "hyperderp_%s{peer=\"%s\"} %llu\n", series[k].name, l->target.text,
			    (unsigned long long)rd((const uint64_t *)(base + series[k].offset)));
		}
	}
	head(b, "mesh_peer_state", "gauge",
	     "The mesh peer connection's state: 1 for the state it is in, 0 for the others.");
	for (uint16_t i = 0; i < r->nlinks; i++) {
		const struct mesh_link *l = &r->links[i];
		int st = atomic_load_explicit(&l->state, memory_order_relaxed);
		for (int j = 0; j < MESH_LINK_STATE_COUNT; j++)
			put(b, "hyperderp_mesh_peer_state{peer=\"%s\",state=\"%s\"} %d\n",
			    l->target.text, mesh_link_state_names[j], st == j);
	}
}

/* HD admission (docs/hd-protocol.md): who got in, and why the others did not. */
static void write_hd(struct textbuf *b, const struct stats_snapshot *s)
{
	if (!s->has_hd)
		return;
	single(b, "hd_admitted_total", "counter", "HD clients admitted (Welcome sent).",
	       s->hd_admitted);
	head(b, "hd_refused_total", "counter",
	     "HD clients refused (Denied sent), by reason: bad-proof, no-token, wrong-key, "
	     "expired, revoked, policy, full.");
	for (int r = HD_REASON_BAD_PROOF; r <= HD_REASON_DRAINING; r++)
		put(b, "hyperderp_hd_refused_total{reason=\"%s\"} %llu\n",
		    hd_reason_name((uint8_t)r), (unsigned long long)s->hd_denied[r]);
	single(b, "hd_peer_ids", "gauge", "HD peer ids given out (never reused; hd.max_peers).",
	       s->hd_peer_ids);
	single(b, "hd_policy_reloads_total", "counter",
	       "HD policy files loaded by hdcli hd policy reload or SIGHUP.", s->hd_policy_reloads);
	single(b, "hd_policy_reload_failures_total", "counter",
	       "HD policy reloads refused (bad file); the old policy stayed.",
	       s->hd_policy_reload_failures);
}

static void write_queues(struct textbuf *b, struct mgmt_context *ctx)
{
	refresh_queue_gauges(ctx);
	if (!ctx->queue_gauges.listed)
		return;
	single(b, "peers", "gauge", "Client connections registered with the workers.",
	       ctx->queue_gauges.peers);
	single(b, "queued_frames", "gauge", "Frames waiting to be written, all connections.",
	       ctx->queue_gauges.queued);
	single(b, "queued_frames_max", "gauge",
	       "Frames waiting to be written on the most backed-up connection.",
	       ctx->queue_gauges.deepest);
}

int metrics_format(struct mgmt_context *ctx, char **out, size_t *len)
{
	struct textbuf b = { 0 };
	struct stats_snapshot s;

	stats_snapshot_take(ctx, &s);
	write_process(&b, ctx, &s);
	write_connections(&b, &s);
	write_traffic(&b, &s);
	write_stun(&b, &s);
	write_http_port(&b, &s);
	write_workers(&b, ctx, &s);
	write_mgmt(&b, &s);
	write_queues(&b, ctx);
	write_mesh(&b, ctx->relay);
	write_hd(&b, &s);
	write_wireguard(&b, ctx);
	if (b.failed) {
		free(b.buf);
		return -1;
	}
	*out = b.buf;
	*len = b.len;
	return 0;
}
