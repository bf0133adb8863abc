// SPDX-License-Identifier: MIT
/* Everything the engine sends: data, retransmissions, FIN, ACKs, probes, RST. */
#include <string.h>

#include "tcp_internal.h"
#include "tcp_seq.h"
#include "tcp_wire.h"

#define TCP_CHALLENGE_WINDOW_US 1000000u
#define TCP_TLP_MIN_US		10000u /* RFC 8985's floor for the probe timeout */

uint32_t tcp_rcv_space(const struct tcp_conn *c)
{
	/* The buffer holds [rcv_read, rcv_read + size); a received FIN takes no room. */
	uint32_t edge = c->rcv_read + c->rbuf_mask + 1;
	return seq_gt(edge, c->rcv_nxt) ? edge - c->rcv_nxt : 0;
}

uint32_t tcp_flight(const struct tcp_conn *c)
{
	uint32_t out = c->snd_nxt - c->snd_una;
	if (!c->sack_ok)
		return out; /* NewReno: cwnd inflation stands in for what left the network */
	/*
	 * RFC 6675 "pipe": bytes the peer holds (SACKed) and bytes lost and
	 * not yet resent are not in flight.
	 */
	uint32_t sacked = tcp_ranges_bytes_in(&c->sacked, c->snd_una, c->snd_nxt);
	out -= sacked;
	if (c->in_recovery) {
		uint32_t high = tcp_ranges_high(&c->sacked, c->snd_una);
		uint32_t lo = seq_max(c->high_rxt, c->snd_una);
		if (seq_lt(lo, high)) {
			uint32_t lost = (high - lo) - tcp_ranges_bytes_in(&c->sacked, lo, high);
			out = out > lost ? out - lost : 0;
		}
	}
	return out;
}

static uint16_t window_field(struct tcp_conn *c)
{
	uint32_t space = tcp_rcv_space(c);
	/* Never move the right edge back (RFC 9293 3.8.6.2.2): keep what we advertised. */
	if (seq_gt(c->rcv_adv, c->rcv_nxt + space))
		space = c->rcv_adv - c->rcv_nxt;
	uint32_t field = space >> c->adv_shift;
	if (field > 0xffff)
		field = 0xffff;
	uint32_t edge = c->rcv_nxt + (field << c->adv_shift);
	if (seq_gt(edge, c->rcv_adv))
		c->rcv_adv = edge;
	return (uint16_t)field;
}

static void fill_opts(struct tcp_conn *c, struct tcp_out_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->wscale = -1;
	if (c->ts_ok) {
		o->ts = true;
		o->tsval = (uint32_t)(c->now / 1000) + (uint32_t)c->ts_offset;
		o->tsecr = c->ts_recent;
	}
	if (c->sack_ok && c->ooo.n) {
		/* RFC 2018 4: the block with the latest arrival first, then the others. */
		unsigned room = c->ts_ok ? 3 : 4;
		o->sack_start[0] = c->ooo.start[c->ooo.last];
		o->sack_end[0] = c->ooo.end[c->ooo.last];
		o->nsack = 1;
		for (unsigned i = 0; i < c->ooo.n && o->nsack < room; i++) {
			if (i == c->ooo.last)
				continue;
			o->sack_start[o->nsack] = c->ooo.start[i];
			o->sack_end[o->nsack] = c->ooo.end[i];
			o->nsack++;
		}
	}
}

/* Builds and emits one segment; its payload (len bytes from seq) comes from the send buffer. */
static void xmit(struct tcp_conn *c, uint32_t seq, uint32_t len, uint8_t flags)
{
	uint8_t pkt[TCP_PKT_MAX];
	struct tcp_out_opts o;
	fill_opts(c, &o);
	size_t hdr = tcp_header_len(c->flow.family, &o);
	if (len) {
		uint32_t size = c->sbuf_mask + 1;
		uint32_t off = (seq - c->sbuf_base) & c->sbuf_mask;
		uint32_t first = len < size - off ? len : size - off;
		memcpy(pkt + hdr, c->sbuf + off, first);
		memcpy(pkt + hdr + first, c->sbuf, len - first);
	}
	if (!(flags & TCP_FLAG_RST))
		flags |= TCP_FLAG_ACK;
	uint32_t ack = (flags & TCP_FLAG_ACK) ? c->rcv_nxt : 0;
	uint16_t win = (flags & TCP_FLAG_RST) ? 0 : window_field(c);
	size_t n = tcp_build(pkt, &c->flow, seq, ack, flags, win, &o, len, c->ip_id++);
	c->emit(c->emit_ctx, pkt, n);
	c->stats.segs_out++;
	if (flags & TCP_FLAG_ACK) {
		c->last_ack_sent = c->rcv_nxt;
		c->ack_now = false;
		c->delack_at = 0;
		c->unacked_segs = 0;
	}
}

void tcp_send_ack(struct tcp_conn *c)
{
	xmit(c, c->snd_nxt, 0, TCP_FLAG_ACK);
}

/*
 * One budget for every ACK a segment we refuse can provoke, so a flood of
 * forged or stale segments makes at most challenge_ack_per_s replies.
 */
static bool reply_budget(struct tcp_conn *c)
{
	if (c->now - c->challenge_window_start >= TCP_CHALLENGE_WINDOW_US) {
		c->challenge_window_start = c->now;
		c->challenge_count = 0;
	}
	if (c->challenge_count >= c->cfg.challenge_ack_per_s) {
		c->stats.challenge_acks_suppressed++;
		return false;
	}
	c->challenge_count++;
	return true;
}

void tcp_send_challenge_ack(struct tcp_conn *c)
{
	if (!reply_budget(c))
		return;
	c->stats.challenge_acks++;
	tcp_send_ack(c);
}

void tcp_send_oow_ack(struct tcp_conn *c)
{
	if (!reply_budget(c))
		return;
	c->stats.oow_acks++;
	tcp_send_ack(c);
}

void tcp_send_rst(struct tcp_conn *c)
{
	xmit(c, c->snd_max, 0, TCP_FLAG_RST);
}

/*
 * A segment one below snd_una with no data: the peer must answer it with an
 * ACK that carries its current window. Used for zero-window probes and
 * keepalives alike, as Linux does, so no byte needs to go past the window.
 */
void tcp_send_probe(struct tcp_conn *c)
{
	xmit(c, c->snd_una - 1, 0, TCP_FLAG_ACK);
}

/* Whether a segment ending at end carries our FIN. */
static bool carries_fin(const struct tcp_conn *c, uint32_t end)
{
	return c->fin_queued && end == c->fin_seq;
}

uint32_t tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t max_len)
{
	/* Only what was sent before: bytes past snd_max are new data, for send_next(). */
	uint32_t sent_end = c->fin_sent ? c->fin_seq : c->snd_max;
	uint32_t len = seq_lt(seq, sent_end) ? sent_end - seq : 0;
	if (len > max_len)
		len = max_len;
	bool fin = carries_fin(c, seq + len) && c->fin_sent;
	if (len == 0 && !fin)
		return 0;
	xmit(c, seq, len, fin ? TCP_FLAG_FIN : 0);
	c->stats.retrans_segs++;
	c->stats.retrans_bytes += len;
	c->rtt_timing = false; /* Karn: no sample from a retransmitted segment */
	c->rxt_mark = c->snd_max;
	if (c->rto_at == 0 || c->persist)
		tcp_rto_rearm(c);
	return len + fin;
}

/* RFC 6675 NextSeg (1): the first hole below the highest SACKed byte not yet resent. */
static bool next_hole(const struct tcp_conn *c, uint32_t *seq, uint32_t *len)
{
	uint32_t high = tcp_ranges_high(&c->sacked, c->snd_una);
	uint32_t s = seq_max(c->high_rxt, c->snd_una);
	s = tcp_ranges_skip(&c->sacked, s);
	if (!seq_lt(s, high))
		return false;
	uint32_t end = tcp_ranges_next_start(&c->sacked, s, high);
	*seq = s;
	*len = end - s < c->mss ? end - s : c->mss;
	return true;
}

static bool may_send_data(const struct tcp_conn *c)
{
	return c->state == TCPS_ESTABLISHED || c->state == TCPS_CLOSE_WAIT ||
	       c->state == TCPS_FIN_WAIT_1 || c->state == TCPS_CLOSING || c->state == TCPS_LAST_ACK;
}

/* Sends new data, or data again after an RTO moved snd_nxt back, within cwnd and window. */
static bool send_next(struct tcp_conn *c)
{
	uint32_t data_end = c->fin_queued ? c->fin_seq : tcp_data_end(c);
	uint32_t seq = c->snd_nxt;
	if (c->sack_ok && seq_lt(seq, c->snd_max)) {
		/* Resending after an RTO: what the peer SACKed since needs no second copy. */
		seq = tcp_ranges_skip(&c->sacked, seq);
		if (seq_gt(seq, c->snd_max))
			seq = c->snd_max;
		c->snd_nxt = seq;
	}
	if (seq_gt(seq, data_end))
		return false; /* FIN already sent */
	uint32_t avail = data_end - seq;
	uint32_t wnd_end = c->snd_una + c->snd_wnd;
	uint32_t usable = seq_gt(wnd_end, seq) ? wnd_end - seq : 0;
	uint32_t len = avail < c->mss ? avail : c->mss;
	if (len > usable)
		len = usable;
	if (len < avail && len < c->mss) {
		/* Sender-side silly window avoidance (RFC 9293 3.8.6.2.1). */
		if (len == 0 || (c->snd_nxt != c->snd_una && len < c->max_snd_wnd / 2))
			return false;
	}
	bool fin = carries_fin(c, seq + len);
	if (len == 0 && !fin)
		return false;
	bool again = seq_lt(seq, c->snd_max);
	if (!again)
		c->last_data_tx = c->now;
	xmit(c, seq, len, fin ? TCP_FLAG_FIN : 0);
	if (fin)
		c->fin_sent = true;
	c->snd_nxt = seq + len + fin;
	if (again) {
		c->stats.retrans_segs++;
		c->stats.retrans_bytes += len;
		c->rtt_timing = false;
	} else {
		c->stats.bytes_out += len;
		c->snd_max = c->snd_nxt;
		if (!c->rtt_timing) {
			/* Time one segment at a time in microseconds (timestamps tick in ms). */
			c->rtt_timing = true;
			c->rtt_seq = c->snd_nxt;
			c->rtt_start = c->now;
		}
	}
	if (seq_gt(c->snd_nxt, c->snd_max))
		c->snd_max = c->snd_nxt;
	if (c->rto_at == 0 || c->persist)
		tcp_rto_rearm(c);
	return true;
}

/* Arms the tail loss probe (tcp_timer.c) while data is in flight and no recovery runs. */
static void tlp_arm(struct tcp_conn *c)
{
	if (c->snd_una == c->snd_max || c->in_recovery || c->persist || c->tlp_sent || c->backoff ||
	    c->srtt_us == 0 || c->tlp_at) {
		return;
	}
	/*
	 * Two RTTs; with one segment out, the peer may be holding its ACK for
	 * the delayed-ACK timer, so that is added (RFC 8985 7.2).
	 */
	uint64_t pto = 2ull * c->srtt_us;
	if (c->snd_max - c->snd_una <= c->mss)
		pto += c->cfg.delack_us;
	if (pto < TCP_TLP_MIN_US)
		pto = TCP_TLP_MIN_US;
	if (c->rto_at && c->now + pto >= c->rto_at)
		return; /* the RTO comes first anyway */
	c->tlp_at = c->now + pto;
}

void tcp_output(struct tcp_conn *c)
{
	if (c->state == TCPS_CLOSED)
		return;
	if (may_send_data(c)) {
		tcp_cc_idle_restart(c);
		/*
		 * Limited transmit (RFC 3042): each of the first two duplicate
		 * ACKs says a segment left the network, so one new segment may
		 * go. With SACK the pipe estimate already counts it.
		 */
		uint32_t allowed = c->cwnd;
		if (!c->sack_ok && !c->in_recovery && c->dupacks)
			allowed += (c->dupacks < 2 ? c->dupacks : 2) * (uint32_t)c->mss;
		for (;;) {
			if (tcp_flight(c) >= allowed)
				break;
			if (c->in_recovery && c->sack_ok) {
				uint32_t seq, len;
				if (next_hole(c, &seq, &len)) {
					uint32_t took = tcp_retransmit(c, seq, len);
					c->high_rxt = seq + (took ? took : len);
					continue;
				}
			}
			if (!send_next(c))
				break;
		}
		/* Data waits, the window is shut, nothing in flight: probe (RFC 9293 3.8.6.1). */
		uint32_t data_end = c->fin_queued ? c->fin_seq + 1 : tcp_data_end(c);
		if (c->snd_una == c->snd_max && seq_lt(c->snd_nxt, data_end) && !c->persist &&
		    seq_le(c->snd_una + c->snd_wnd, c->snd_nxt)) {
			c->persist = true;
			c->persist_backoff = 0;
			c->rto_at = c->now + c->rto_us;
		}
	}
	tlp_arm(c);
	if (c->ack_now)
		tcp_send_ack(c);
}
