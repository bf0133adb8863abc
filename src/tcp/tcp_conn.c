// SPDX-License-Identifier: MIT
/* A connection's life: taking over a snapshot, the application's calls, closing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_internal.h"
#include "tcp_seq.h"
#include "tcp_wire.h"

/* Bytes of timestamp option every segment carries when negotiated. */
#define TCP_TS_OPTION_LEN 12
#define TCP_MSS_DEFAULT	  536 /* RFC 9293 3.7.1, when the snapshot has none */
#define TCP_MSS_MIN	  64
#define TCP_BUF_MIN	  4096u
#define TCP_BUF_MAX	  (1u << 30)

void tcp_config_default(struct tcp_config *cfg)
{
	*cfg = (struct tcp_config){
		.sndbuf = 256 * 1024,
		.rcvbuf = 256 * 1024,
		.rto_min_us = 200 * 1000, /* Linux's TCP_RTO_MIN; RFC 6298 allows below 1 s */
		.rto_max_us = 120 * 1000 * 1000, /* Linux's TCP_RTO_MAX */
		.rto_initial_us = 1000 * 1000,	 /* RFC 6298 (2.1) */
		.rto_retries = 15,		 /* tcp_retries2: about 15 minutes of backoff */
		.delack_us = 40 * 1000,		 /* Linux's minimum delayed-ACK time */
		.keepalive_idle_us = 0,		 /* off: DERP has its own keepalive frames */
		.keepalive_intvl_us = 75 * 1000 * 1000,
		.keepalive_probes = 9,
		.persist_probes = 15,
		.fin_wait2_us = 60 * 1000 * 1000, /* tcp_fin_timeout */
		.time_wait_us = 60 * 1000 * 1000,
		.challenge_ack_per_s = 100, /* per connection; Linux's global default is 1000 */
		.allow_partial_csum = false,
	};
}

static bool pow2(uint32_t v)
{
	return v && (v & (v - 1)) == 0;
}

static bool config_valid(const struct tcp_config *cfg)
{
	return pow2(cfg->sndbuf) && pow2(cfg->rcvbuf) && cfg->sndbuf >= TCP_BUF_MIN &&
	       cfg->rcvbuf >= TCP_BUF_MIN && cfg->sndbuf <= TCP_BUF_MAX &&
	       cfg->rcvbuf <= TCP_BUF_MAX && cfg->rto_min_us &&
	       cfg->rto_min_us <= cfg->rto_max_us && cfg->rto_initial_us && cfg->delack_us &&
	       cfg->time_wait_us && (!cfg->keepalive_idle_us || cfg->keepalive_intvl_us);
}

static bool snapshot_valid(const struct tcp_snapshot *s, const struct tcp_config *cfg)
{
	if (s->flow.family != AF_INET && s->flow.family != AF_INET6)
		return false;
	if (s->wscale_ok && (s->snd_wscale > 14 || s->rcv_wscale > 14))
		return false;
	/* Everything sent and not acked must still be in the send queue to be resent. */
	if (seq_lt(s->snd_nxt, s->snd_una) || s->snd_nxt - s->snd_una > s->send_queue_len)
		return false;
	if (s->send_queue_len > cfg->sndbuf || s->recv_queue_len > cfg->rcvbuf)
		return false;
	if ((s->send_queue_len && !s->send_queue) || (s->recv_queue_len && !s->recv_queue))
		return false;
	return true;
}

int tcp_conn_init(struct tcp_conn *c, const struct tcp_snapshot *snap, const struct tcp_config *cfg,
		  tcp_emit_fn emit, void *emit_ctx, uint64_t now)
{
	memset(c, 0, sizeof(*c));
	if (!emit || !config_valid(cfg) || !snapshot_valid(snap, cfg))
		return -EINVAL;
	c->sbuf = malloc(cfg->sndbuf);
	c->rbuf = malloc(cfg->rcvbuf);
	if (!c->sbuf || !c->rbuf) {
		free(c->sbuf);
		free(c->rbuf);
		c->sbuf = c->rbuf = NULL;
		return -ENOMEM;
	}
	c->flow = snap->flow;
	c->cfg = *cfg;
	c->emit = emit;
	c->emit_ctx = emit_ctx;
	c->now = now;
	c->state = TCPS_ESTABLISHED;

	c->ts_ok = snap->ts_ok;
	c->sack_ok = snap->sack_ok;
	if (snap->wscale_ok) {
		c->adv_shift = snap->snd_wscale;
		c->peer_shift = snap->rcv_wscale;
	}
	/* RFC 6691: the peer's MSS counts payload and options; timestamps ride on every segment. */
	uint32_t mss = snap->mss ? snap->mss : TCP_MSS_DEFAULT;
	if (c->ts_ok)
		mss = mss > TCP_TS_OPTION_LEN + TCP_MSS_MIN ? mss - TCP_TS_OPTION_LEN : TCP_MSS_MIN;
	if (mss < TCP_MSS_MIN)
		mss = TCP_MSS_MIN;
	if (mss > TCP_MSS_CAP)
		mss = TCP_MSS_CAP;
	c->mss = (uint16_t)mss;

	c->sbuf_mask = cfg->sndbuf - 1;
	c->sbuf_base = snap->snd_una;
	c->sbuf_len = snap->send_queue_len;
	if (snap->send_queue_len)
		memcpy(c->sbuf, snap->send_queue, snap->send_queue_len);
	c->snd_una = snap->snd_una;
	c->snd_nxt = snap->snd_nxt;
	c->snd_max = snap->snd_nxt;
	c->snd_wnd = snap->snd_wnd;
	c->max_snd_wnd = snap->snd_wnd;
	c->snd_wl1 = snap->snd_wl1;
	c->snd_wl2 = snap->snd_wl2;
	c->recover = snap->snd_una;

	c->rbuf_mask = cfg->rcvbuf - 1;
	c->rcv_nxt = snap->rcv_nxt;
	c->rcv_read = snap->rcv_nxt - snap->recv_queue_len;
	c->rbuf_base = c->rcv_read;
	if (snap->recv_queue_len)
		memcpy(c->rbuf, snap->recv_queue, snap->recv_queue_len);
	/*
	 * The kernel may have advertised more than our buffer holds (the slow
	 * path should clamp it with TCP_WINDOW_CLAMP before the move, see
	 * docs/bypass.md). We do not repeat that promise: our first ACK
	 * shrinks the window to the buffer. Segments the peer sends inside the
	 * old promise are still acceptable (no challenge ACK); what does not
	 * fit is trimmed and resent by the peer.
	 */
	c->rcv_promised = snap->rcv_wup + snap->rcv_wnd;
	if (seq_lt(c->rcv_promised, c->rcv_nxt))
		c->rcv_promised = c->rcv_nxt;
	uint32_t buf_edge = c->rcv_read + cfg->rcvbuf;
	c->rcv_adv = seq_min(c->rcv_promised, buf_edge);
	if (seq_lt(c->rcv_adv, c->rcv_nxt))
		c->rcv_adv = c->rcv_nxt;
	c->last_ack_sent = snap->rcv_nxt;

	c->ts_recent = snap->ts_recent;
	c->ts_offset = snap->ts_offset;
	tcp_rtt_init(c, snap->srtt_us, snap->rttvar_us);
	tcp_cc_init(c);
	c->last_rx = now;
	if (cfg->keepalive_idle_us)
		c->keepalive_at = now + cfg->keepalive_idle_us;
	/* Bytes the kernel had in flight are ours to time out now; unsent ones go out. */
	tcp_rto_rearm(c);
	tcp_output(c);
	return 0;
}

void tcp_conn_free(struct tcp_conn *c)
{
	free(c->sbuf);
	free(c->rbuf);
	c->sbuf = c->rbuf = NULL;
}

void tcp_set_closed(struct tcp_conn *c, enum tcp_close_reason why)
{
	c->state = TCPS_CLOSED;
	c->close_reason = why;
	c->rto_at = c->delack_at = c->keepalive_at = c->close_at = c->tlp_at = 0;
	c->persist = false;
}

uint32_t tcp_send_space(const struct tcp_conn *c)
{
	if ((c->state != TCPS_ESTABLISHED && c->state != TCPS_CLOSE_WAIT) || c->fin_queued)
		return 0;
	return c->sbuf_mask + 1 - c->sbuf_len;
}

ssize_t tcp_queue(struct tcp_conn *c, const void *buf, size_t len, uint64_t now)
{
	c->now = now;
	if (c->state == TCPS_CLOSED && c->close_reason != TCP_CLOSE_NORMAL)
		return -ECONNRESET;
	if ((c->state != TCPS_ESTABLISHED && c->state != TCPS_CLOSE_WAIT) || c->fin_queued)
		return -EPIPE;
	uint32_t space = tcp_send_space(c);
	uint32_t n = len < space ? (uint32_t)len : space;
	if (n == 0)
		return 0;
	uint32_t size = c->sbuf_mask + 1;
	uint32_t off = (tcp_data_end(c) - c->sbuf_base) & c->sbuf_mask;
	uint32_t first = n < size - off ? n : size - off;
	memcpy(c->sbuf + off, buf, first);
	memcpy(c->sbuf, (const uint8_t *)buf + first, n - first);
	c->sbuf_len += n;
	return n;
}

void tcp_push(struct tcp_conn *c, uint64_t now)
{
	c->now = now;
	tcp_output(c);
}

ssize_t tcp_send(struct tcp_conn *c, const void *buf, size_t len, uint64_t now)
{
	ssize_t n = tcp_queue(c, buf, len, now);
	if (n > 0)
		tcp_output(c);
	return n;
}

uint32_t tcp_recv_ready(const struct tcp_conn *c)
{
	uint32_t end = c->rcv_nxt - (c->peer_fin ? 1 : 0);
	return end - c->rcv_read;
}

bool tcp_recv_eof(const struct tcp_conn *c)
{
	return c->peer_fin && tcp_recv_ready(c) == 0;
}

ssize_t tcp_recv(struct tcp_conn *c, void *buf, size_t len, uint64_t now)
{
	c->now = now;
	uint32_t ready = tcp_recv_ready(c);
	if (ready == 0 && c->state == TCPS_CLOSED && c->close_reason != TCP_CLOSE_NORMAL)
		return -ECONNRESET;
	uint32_t n = len < ready ? (uint32_t)len : ready;
	if (n == 0)
		return 0;
	uint32_t size = c->rbuf_mask + 1;
	uint32_t off = (c->rcv_read - c->rbuf_base) & c->rbuf_mask;
	uint32_t first = n < size - off ? n : size - off;
	memcpy(buf, c->rbuf + off, first);
	memcpy((uint8_t *)buf + first, c->rbuf, n - first);
	c->rcv_read += n;

	/*
	 * Receiver-side silly window avoidance (RFC 9293 3.8.6.2.2): tell the
	 * peer about the room reading made once it is worth a segment or half
	 * the buffer, whichever is less.
	 */
	if (c->state != TCPS_CLOSED && !c->peer_fin) {
		uint32_t edge = c->rcv_read + size;
		uint32_t grown = seq_gt(edge, c->rcv_adv) ? edge - c->rcv_adv : 0;
		uint32_t worth = size / 2 < c->mss ? size / 2 : c->mss;
		if (grown >= worth && grown > 0)
			tcp_send_ack(c);
	}
	return n;
}

void tcp_close(struct tcp_conn *c, uint64_t now)
{
	c->now = now;
	if (c->state == TCPS_ESTABLISHED)
		c->state = TCPS_FIN_WAIT_1;
	else if (c->state == TCPS_CLOSE_WAIT)
		c->state = TCPS_LAST_ACK;
	else
		return;
	c->fin_queued = true;
	c->fin_seq = tcp_data_end(c);
	tcp_output(c);
}

void tcp_abort(struct tcp_conn *c, uint64_t now)
{
	c->now = now;
	if (c->state == TCPS_CLOSED)
		return;
	tcp_send_rst(c);
	tcp_set_closed(c, TCP_CLOSE_ABORT);
}

void tcp_info(const struct tcp_conn *c, struct tcp_info_view *out)
{
	*out = (struct tcp_info_view){
		.state = c->state,
		.srtt_us = c->srtt_us,
		.rttvar_us = c->rttvar_us,
		.rto_us = tcp_rto_current(c),
		.cwnd = c->cwnd,
		.ssthresh = c->ssthresh,
		.snd_wnd = c->snd_wnd,
		.rcv_wnd = tcp_rcv_space(c),
		.inflight = c->snd_max - c->snd_una,
		.ooo_bytes = tcp_ranges_bytes(&c->ooo),
		.unsent = seq_gt(tcp_data_end(c), c->snd_max) ? tcp_data_end(c) - c->snd_max : 0,
		.unread = tcp_recv_ready(c),
	};
}

const char *tcp_state_name(enum tcp_state s)
{
	static const char *const names[] = {
		[TCPS_ESTABLISHED] = "established", [TCPS_FIN_WAIT_1] = "fin-wait-1",
		[TCPS_FIN_WAIT_2] = "fin-wait-2",   [TCPS_CLOSING] = "closing",
		[TCPS_TIME_WAIT] = "time-wait",	    [TCPS_CLOSE_WAIT] = "close-wait",
		[TCPS_LAST_ACK] = "last-ack",	    [TCPS_CLOSED] = "closed",
	};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}
