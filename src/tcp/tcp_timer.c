// SPDX-License-Identifier: MIT
/*
 * The engine's timers: retransmission (RFC 6298), zero-window probes,
 * delayed ACK, keepalive, FIN_WAIT_2 and TIME_WAIT. Each is an absolute
 * deadline in the conn; tcp_timer() runs the ones that have passed.
 */
#include "tcp_internal.h"
#include "tcp_seq.h"

static void persist_timeout(struct tcp_conn *c)
{
	if (c->persist_unanswered >= c->cfg.persist_probes) {
		tcp_send_rst(c);
		tcp_set_closed(c, TCP_CLOSE_PROBE_TIMEOUT);
		return;
	}
	c->persist_unanswered++;
	c->stats.zero_window_probes++;
	tcp_send_probe(c);
	if (c->persist_backoff < 20)
		c->persist_backoff++;
	uint64_t wait = (uint64_t)c->rto_us << c->persist_backoff;
	if (wait > c->cfg.rto_max_us)
		wait = c->cfg.rto_max_us;
	c->rto_at = c->now + wait;
}

/*
 * Tail loss probe (RFC 8985 7): when the last segments of a burst are
 * lost there is no later data to produce duplicate ACKs, and only the RTO
 * (200 ms at least) would find them. A relay's frames are mostly such
 * tails. So, two RTTs after the last send, the last segment sent goes
 * again. Its ACK either repairs the tail or, with SACK, shows the hole.
 */
static void tail_loss_probe(struct tcp_conn *c)
{
	if (c->snd_una == c->snd_max || c->in_recovery || c->persist || c->tlp_sent)
		return;
	c->tlp_sent = true;
	c->stats.tail_probes++;
	uint32_t sent_end = c->fin_sent ? c->fin_seq : c->snd_max;
	uint32_t flight = sent_end - c->snd_una;
	uint32_t len = flight < c->mss ? flight : c->mss;
	tcp_retransmit(c, sent_end - len, len);
}

static void retransmit_timeout(struct tcp_conn *c)
{
	if (c->backoff >= c->cfg.rto_retries) {
		tcp_send_rst(c);
		tcp_set_closed(c, TCP_CLOSE_RTO_TIMEOUT);
		return;
	}
	c->backoff++; /* (5.5) */
	c->tlp_at = 0;
	c->stats.rto_timeouts++;
	tcp_cc_on_rto(c);
	/*
	 * Go back to snd_una: everything in flight is taken as lost. The SACK
	 * scoreboard is dropped, as the receiver may have reneged (RFC 2018 8);
	 * new SACKs rebuild it and send_next() skips what they cover.
	 */
	c->in_recovery = false;
	c->recover = c->snd_max;
	c->dupacks = 0;
	c->sacked.n = 0;
	c->snd_nxt = c->snd_una;
	c->rtt_timing = false;
	c->rto_at = 0;
	tcp_output(c);
	if (c->state != TCPS_CLOSED && c->rto_at == 0)
		tcp_rto_rearm(c);
}

static void keepalive_timeout(struct tcp_conn *c)
{
	bool idle = (c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT) &&
		    c->snd_una == c->snd_max && c->sbuf_len == 0;
	if (!idle) {
		/* Data in flight has the retransmission timer to find a dead peer. */
		c->keepalive_at = c->now + c->cfg.keepalive_idle_us;
		return;
	}
	if (c->keepalive_unanswered >= c->cfg.keepalive_probes) {
		tcp_send_rst(c);
		tcp_set_closed(c, TCP_CLOSE_KEEPALIVE);
		return;
	}
	c->keepalive_unanswered++;
	c->stats.keepalive_probes++;
	tcp_send_probe(c);
	c->keepalive_at = c->now + c->cfg.keepalive_intvl_us;
}

static bool due(uint64_t at, uint64_t now)
{
	return at && at <= now;
}

uint64_t tcp_timer(struct tcp_conn *c, uint64_t now)
{
	c->now = now;
	if (c->state == TCPS_CLOSED)
		return UINT64_MAX;
	if (due(c->close_at, now)) {
		bool tw = c->state == TCPS_TIME_WAIT;
		tcp_set_closed(c, tw ? TCP_CLOSE_NORMAL : TCP_CLOSE_FIN_WAIT2);
		return UINT64_MAX;
	}
	if (due(c->delack_at, now)) {
		c->stats.delayed_acks++;
		tcp_send_ack(c);
	}
	if (due(c->tlp_at, now)) {
		c->tlp_at = 0;
		tail_loss_probe(c);
	}
	if (c->state != TCPS_CLOSED && due(c->rto_at, now)) {
		if (c->persist)
			persist_timeout(c);
		else if (c->snd_una != c->snd_max)
			retransmit_timeout(c);
		else
			c->rto_at = 0;
	}
	if (c->state != TCPS_CLOSED && due(c->keepalive_at, now))
		keepalive_timeout(c);
	return tcp_next_deadline(c);
}

uint64_t tcp_next_deadline(const struct tcp_conn *c)
{
	if (c->state == TCPS_CLOSED)
		return UINT64_MAX;
	uint64_t next = UINT64_MAX;
	const uint64_t at[] = { c->rto_at, c->delack_at, c->keepalive_at, c->close_at, c->tlp_at };
	for (unsigned i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (at[i] && at[i] < next)
			next = at[i];
	return next;
}
