// SPDX-License-Identifier: MIT
#include "metrics.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "peer_view.h"
#include "stats_snapshot.h"

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
	single(b, "pings_dropped_total", "counter",
	       "Ping frames ignored because a Pong was still pending.", t->pings_dropped);

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

/* Queue gauges need the peer list, which the workers give between loop passes. */
static void write_queues(struct textbuf *b, struct mgmt_context *ctx)
{
	struct peer_info *peers;
	int n = relay_list_peers(ctx->relay, &peers, PEER_LIST_TIMEOUT_MS);
	if (n < 0) {
		log_warn("metrics: the workers did not list their peers in time; queue gauges "
			 "left out of this scrape");
		return;
	}
	uint64_t queued = 0, deepest = 0;
	for (int i = 0; i < n; i++) {
		queued += peers[i].queued;
		if (peers[i].queued > deepest)
			deepest = peers[i].queued;
	}
	free(peers);
	single(b, "peers", "gauge", "Client connections registered with the workers.", (uint64_t)n);
	single(b, "queued_frames", "gauge", "Frames waiting to be written, all connections.",
	       queued);
	single(b, "queued_frames_max", "gauge",
	       "Frames waiting to be written on the most backed-up connection.", deepest);
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
	write_workers(&b, ctx, &s);
	write_queues(&b, ctx);
	if (b.failed) {
		free(b.buf);
		return -1;
	}
	*out = b.buf;
	*len = b.len;
	return 0;
}
