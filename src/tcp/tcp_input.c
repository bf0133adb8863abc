// SPDX-License-Identifier: MIT
/*
 * One received segment, in the order of RFC 9293 3.10.7.4 with the checks of
 * RFC 7323 (PAWS) and RFC 5961 (blind RST, SYN and data injection) in front.
 */
#include <string.h>

#include "tcp_internal.h"
#include "tcp_seq.h"
#include "tcp_wire.h"

static bool flow_matches(const struct tcp_conn *c, const struct tcp_segment *seg)
{
	size_t alen = c->flow.family == AF_INET ? 4 : 16;
	return seg->family == c->flow.family && seg->src_port == c->flow.remote_port &&
	       seg->dst_port == c->flow.local_port &&
	       memcmp(seg->src_ip, c->flow.remote_ip, alen) == 0 &&
	       memcmp(seg->dst_ip, c->flow.local_ip, alen) == 0;
}

/* The receive window for the acceptability test: whatever was ever offered, or room we have. */
static uint32_t rcv_window(const struct tcp_conn *c)
{
	uint32_t edge = c->rcv_nxt + tcp_rcv_space(c);
	edge = seq_max(edge, c->rcv_adv);
	edge = seq_max(edge, c->rcv_promised);
	return edge - c->rcv_nxt;
}

/* RFC 9293's four cases of segment acceptability. */
static bool seq_acceptable(const struct tcp_conn *c, uint32_t seq, uint32_t seg_len)
{
	uint32_t wnd = rcv_window(c);
	if (seg_len == 0) {
		if (wnd == 0)
			return seq == c->rcv_nxt;
		return seq_in(seq, c->rcv_nxt, c->rcv_nxt + wnd);
	}
	if (wnd == 0)
		return false;
	return seq_in(seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
	       seq_in(seq + seg_len - 1, c->rcv_nxt, c->rcv_nxt + wnd);
}

static void enter_recovery(struct tcp_conn *c)
{
	c->stats.fast_retrans++;
	c->tlp_at = 0;
	c->in_recovery = true;
	c->recover = c->snd_max;
	tcp_cc_on_loss(c);
	c->rtt_timing = false;
	if (c->sack_ok) {
		/* RFC 6675 5 (4.2-4.3): cwnd = ssthresh, and the first hole goes now. */
		c->cwnd = c->ssthresh;
		c->high_rxt = c->snd_una;
		uint32_t first =
		    tcp_ranges_next_start(&c->sacked, c->snd_una, c->snd_max) - c->snd_una;
		uint32_t took = tcp_retransmit(c, c->snd_una, first < c->mss ? first : c->mss);
		c->high_rxt = c->snd_una + took;
	} else {
		/* RFC 6582 3.2 (2): inflate by the three segments that left. */
		tcp_retransmit(c, c->snd_una, c->mss);
		c->cwnd = c->ssthresh + 3u * c->mss;
	}
	tcp_rto_rearm(c);
}

static void fin_acked(struct tcp_conn *c)
{
	switch (c->state) {
	case TCPS_FIN_WAIT_1:
		c->state = TCPS_FIN_WAIT_2;
		if (c->cfg.fin_wait2_us)
			c->close_at = c->now + c->cfg.fin_wait2_us;
		break;
	case TCPS_CLOSING:
		c->state = TCPS_TIME_WAIT;
		c->close_at = c->now + c->cfg.time_wait_us;
		break;
	case TCPS_LAST_ACK:
		tcp_set_closed(c, TCP_CLOSE_NORMAL);
		break;
	default:
		break;
	}
}

static void new_ack(struct tcp_conn *c, const struct tcp_segment *seg)
{
	uint32_t acked = seg->ack - c->snd_una;
	bool fin_now_acked = c->fin_sent && seq_gt(seg->ack, c->fin_seq);
	uint32_t data_acked = acked - (fin_now_acked ? 1 : 0);
	if (data_acked > c->sbuf_len)
		data_acked = c->sbuf_len;
	c->sbuf_len -= data_acked;
	c->snd_una = seg->ack;
	if (seq_lt(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;
	tcp_ranges_trim(&c->sacked, c->snd_una);

	/*
	 * An RTT sample: our own microsecond timer when it covers this ACK.
	 * While retransmitting, Karn's rule leaves the timer off, and the
	 * echoed timestamp (RFC 7323 RTTM) keeps the estimate alive; it ticks
	 * in milliseconds, so it is not used when the timer can do better.
	 */
	if (c->rtt_timing && seq_ge(seg->ack, c->rtt_seq)) {
		c->rtt_timing = false;
		tcp_rtt_sample(c, (uint32_t)(c->now - c->rtt_start));
	} else if (c->ts_ok && seg->has_ts && seg->tsecr && (c->backoff || c->in_recovery)) {
		uint32_t ts_now = (uint32_t)(c->now / 1000) + (uint32_t)c->ts_offset;
		uint32_t ms = ts_now - seg->tsecr;
		if (ms < 0x7fffffffu / 1000)
			tcp_rtt_sample(c, ms ? ms * 1000 : 1000);
	}
	c->backoff = 0;
	c->dupacks = 0;
	c->tlp_sent = false;
	c->tlp_at = 0; /* re-armed from the new tail by tcp_output() */

	if (c->in_recovery) {
		if (seq_ge(seg->ack, c->recover)) {
			/* Full ACK (RFC 6582 3.2 (3)): deflate. */
			c->in_recovery = false;
			uint32_t flight = c->snd_max - c->snd_una;
			if (c->sack_ok)
				c->cwnd = c->ssthresh;
			else
				c->cwnd =
				    flight + c->mss < c->ssthresh ? flight + c->mss : c->ssthresh;
		} else if (!c->sack_ok) {
			/* Partial ACK: the next hole is at snd_una; deflate by what left. */
			tcp_retransmit(c, c->snd_una, c->mss);
			c->cwnd = c->cwnd > data_acked ? c->cwnd - data_acked : 0;
			if (data_acked >= c->mss)
				c->cwnd += c->mss;
			if (c->cwnd < c->mss)
				c->cwnd = c->mss;
		}
	} else {
		tcp_cc_on_ack(c, data_acked);
	}
	tcp_rto_rearm(c);
	if (fin_now_acked)
		fin_acked(c);
}

static void take_sack(struct tcp_conn *c, const struct tcp_segment *seg)
{
	for (unsigned i = 0; i < seg->nsack; i++) {
		uint32_t s = seg->sack_start[i], e = seg->sack_end[i];
		/* Blocks below snd_una (D-SACK) or above what we sent are ignored. */
		if (!seq_lt(s, e) || !seq_gt(s, c->snd_una) || seq_gt(e, c->snd_max))
			continue;
		/* A full scoreboard loses the block, not the data: the RTO still covers it. */
		tcp_ranges_add(&c->sacked, s, e);
	}
}

/*
 * A retransmission can be lost too. Once the peer SACKs bytes first sent
 * after our latest retransmission (above rxt_mark) while a resent hole
 * below high_rxt is still missing, that copy is gone: the holes count as
 * lost again and go once more, instead of waiting for the RTO. Reordering
 * deeper than one flight makes this resend early, as it does dupacks.
 */
static void detect_lost_retransmit(struct tcp_conn *c)
{
	if (!c->in_recovery || !c->sack_ok || !seq_gt(c->high_rxt, c->snd_una))
		return;
	if (!seq_gt(tcp_ranges_high(&c->sacked, c->snd_una), c->rxt_mark))
		return;
	uint32_t hole = tcp_ranges_skip(&c->sacked, c->snd_una);
	if (!seq_lt(hole, c->high_rxt))
		return;
	c->stats.lost_retrans++;
	c->high_rxt = c->snd_una;
	c->rxt_mark = c->snd_max;
}

/* Returns false when the segment must go no further. */
static bool process_ack(struct tcp_conn *c, const struct tcp_segment *seg)
{
	/* RFC 5961 5.2: an ACK for data never sent, or older than any window we were offered. */
	if (seq_gt(seg->ack, c->snd_max) || seq_lt(seg->ack, c->snd_una - c->max_snd_wnd)) {
		c->stats.bad_acks++;
		tcp_send_challenge_ack(c);
		return false;
	}
	c->persist_unanswered = 0;
	uint32_t old_wnd = c->snd_wnd;
	uint32_t new_wnd = (uint32_t)seg->win << c->peer_shift;
	bool is_dup = seg->ack == c->snd_una && seg->len == 0 &&
		      !(seg->flags & (TCP_FLAG_FIN | TCP_FLAG_SYN)) && c->snd_una != c->snd_max &&
		      (new_wnd == old_wnd || seg->nsack);

	if (c->sack_ok)
		take_sack(c, seg);
	if (seq_gt(seg->ack, c->snd_una))
		new_ack(c, seg);
	if (c->state == TCPS_CLOSED)
		return false;
	detect_lost_retransmit(c);

	/* Window update (RFC 9293 3.10.7.4, with snd_wl1/snd_wl2). */
	if (seq_lt(c->snd_wl1, seg->seq) ||
	    (c->snd_wl1 == seg->seq && seq_le(c->snd_wl2, seg->ack))) {
		c->snd_wnd = new_wnd;
		c->snd_wl1 = seg->seq;
		c->snd_wl2 = seg->ack;
		if (new_wnd > c->max_snd_wnd)
			c->max_snd_wnd = new_wnd;
		if (new_wnd && c->persist) {
			c->persist = false;
			c->rto_at = 0;
			tcp_rto_rearm(c);
		}
	}

	if (is_dup) {
		c->stats.dupacks_in++;
		if (c->in_recovery) {
			if (!c->sack_ok)
				c->cwnd += c->mss; /* RFC 6582 3.2 (4) */
		} else {
			c->dupacks++;
		}
	}
	if (!c->in_recovery && c->snd_una != c->snd_max && seq_ge(c->snd_una, c->recover)) {
		/* RFC 6675 IsLost(snd_una): three dupacks, or more than 2 SMSS SACKed above it. */
		bool lost =
		    c->dupacks >= 3 || (c->sack_ok && tcp_ranges_bytes(&c->sacked) > 2u * c->mss);
		if (lost)
			enter_recovery(c);
	}
	return true;
}

static void peer_fin(struct tcp_conn *c)
{
	c->peer_fin = true;
	c->ooo_fin = false;
	c->rcv_nxt++;
	c->ack_now = true;
	switch (c->state) {
	case TCPS_ESTABLISHED:
		c->state = TCPS_CLOSE_WAIT;
		break;
	case TCPS_FIN_WAIT_1:
		c->state = TCPS_CLOSING;
		break;
	case TCPS_FIN_WAIT_2:
		c->state = TCPS_TIME_WAIT;
		c->close_at = c->now + c->cfg.time_wait_us;
		break;
	default:
		break;
	}
}

/*
 * Remembers where the peer's FIN sits. A FIN below bytes already received,
 * or at another place than an earlier FIN, is a lie or corruption: ignored,
 * so rcv_nxt can never jump past data in the out-of-order map.
 */
static void note_fin(struct tcp_conn *c, uint32_t pos)
{
	if (seq_gt(tcp_ranges_high(&c->ooo, pos), pos))
		return;
	if (c->ooo_fin && c->ooo_fin_seq != pos)
		return;
	c->ooo_fin = true;
	c->ooo_fin_seq = pos;
}

static void store(struct tcp_conn *c, uint32_t seq, const uint8_t *data, uint32_t len)
{
	uint32_t size = c->rbuf_mask + 1;
	uint32_t off = (seq - c->rbuf_base) & c->rbuf_mask;
	uint32_t first = len < size - off ? len : size - off;
	memcpy(c->rbuf + off, data, first);
	memcpy(c->rbuf, data + first, len - first);
}

static void process_data(struct tcp_conn *c, const struct tcp_segment *seg)
{
	uint32_t seq = seg->seq, len = seg->len;
	const uint8_t *data = seg->payload;
	bool fin = seg->flags & TCP_FLAG_FIN;

	if (c->peer_fin)
		return; /* nothing counts after the FIN */
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;
		if (skip > len) {
			/* Only an old FIN remains, and rcv_nxt is past it. */
			return;
		}
		seq += skip;
		data += skip;
		len -= skip;
	}
	uint32_t edge = c->rcv_read + c->rbuf_mask + 1;
	if (seq_gt(seq + len, edge)) {
		uint32_t cut = seq_ge(seq, edge) ? len : seq + len - edge;
		c->stats.rcv_window_drops += cut;
		len -= cut;
		fin = false;
		c->ack_now = true;
	}
	if (c->ooo_fin && seq_gt(seq + len, c->ooo_fin_seq)) {
		/* Bytes past a FIN already seen: a liar or a corrupt segment. */
		return;
	}
	if (len)
		store(c, seq, data, len);

	if (seq == c->rcv_nxt) {
		bool had_ooo = c->ooo.n != 0;
		c->rcv_nxt += len;
		while (c->ooo.n && seq_le(c->ooo.start[0], c->rcv_nxt)) {
			c->rcv_nxt = seq_max(c->rcv_nxt, c->ooo.end[0]);
			tcp_ranges_trim(&c->ooo, c->rcv_nxt);
			c->ack_now = true; /* a hole filled: tell the sender at once */
		}
		tcp_ranges_trim(&c->ooo, c->rcv_nxt);
		c->stats.bytes_in += c->rcv_nxt - seq;
		if (fin)
			note_fin(c, seq + len);
		if (c->ooo_fin && c->rcv_nxt == c->ooo_fin_seq) {
			peer_fin(c);
		} else if (len) {
			/* Delayed ACK: every second segment at once (RFC 5681 4.2). */
			if (++c->unacked_segs >= 2 || had_ooo)
				c->ack_now = true;
			else if (!c->delack_at)
				c->delack_at = c->now + c->cfg.delack_us;
		}
		return;
	}

	/* Above rcv_nxt: stored now, delivered later; a duplicate ACK with SACK goes back. */
	c->stats.ooo_segs++;
	c->ack_now = true;
	if (len && !tcp_ranges_add(&c->ooo, seq, seq + len))
		c->stats.ooo_drops++;
	if (fin)
		note_fin(c, seq + len);
}

static bool accepts_data(enum tcp_state s)
{
	return s == TCPS_ESTABLISHED || s == TCPS_FIN_WAIT_1 || s == TCPS_FIN_WAIT_2;
}

/* A segment that fails the sequence test: RFC 9293 says ACK it, RFC 5961 says not too often. */
static void unacceptable(struct tcp_conn *c, const struct tcp_segment *seg, uint32_t seg_len)
{
	if (seg->flags & TCP_FLAG_RST) {
		c->stats.rst_ignored++;
		return;
	}
	if (seg_len && !(seg->flags & TCP_FLAG_SYN)) {
		/*
		 * Data: an old duplicate means our ACK was lost, and the peer
		 * needs this one to move on. As Linux, only pure ACKs and SYNs
		 * go through the rate limit.
		 */
		if (seq_le(seg->seq + seg_len, c->rcv_nxt))
			c->stats.dup_segs++;
		if (c->state == TCPS_TIME_WAIT && (seg->flags & TCP_FLAG_FIN))
			c->close_at = c->now + c->cfg.time_wait_us; /* RFC 9293: restart 2 MSL */
		tcp_send_ack(c);
		return;
	}
	if (seg->flags & TCP_FLAG_SYN)
		tcp_send_challenge_ack(c); /* RFC 5961 4.2, whatever the sequence number */
	else
		tcp_send_oow_ack(c); /* often a duplicated or reordered ACK: not an attack */
}

enum tcp_input_result tcp_input(struct tcp_conn *c, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct tcp_segment seg;
	c->now = now;
	switch (tcp_parse(pkt, len, c->cfg.allow_partial_csum, &seg)) {
	case TCP_PARSE_OK:
		break;
	case TCP_PARSE_BAD_CSUM:
		c->stats.bad_csum++;
		return TCP_IN_BAD;
	case TCP_PARSE_NOT_TCP:
		return TCP_IN_NOT_MINE;
	case TCP_PARSE_MALFORMED:
	default:
		c->stats.malformed++;
		return TCP_IN_BAD;
	}
	if (!flow_matches(c, &seg))
		return TCP_IN_NOT_MINE;
	if (c->state == TCPS_CLOSED)
		return TCP_IN_CLOSED;
	c->stats.segs_in++;

	uint32_t seg_len = seg.len + ((seg.flags & TCP_FLAG_FIN) ? 1 : 0);

	/* PAWS (RFC 7323 5.3): a timestamp older than the latest is an old duplicate. */
	if (c->ts_ok && seg.has_ts && !(seg.flags & TCP_FLAG_RST) &&
	    seq_lt(seg.tsval, c->ts_recent)) {
		c->stats.paws_drops++;
		unacceptable(c, &seg, seg_len);
		return TCP_IN_DROPPED;
	}
	if (!seq_acceptable(c, seg.seq, seg_len)) {
		unacceptable(c, &seg, seg_len);
		return TCP_IN_DROPPED;
	}
	if (seg.flags & TCP_FLAG_RST) {
		/* RFC 5961 3.2: rcv_nxt itself resets; elsewhere in the window, a challenge. */
		if (seg.seq == c->rcv_nxt) {
			tcp_set_closed(c, TCP_CLOSE_RESET);
			return TCP_IN_CLOSED;
		}
		tcp_send_challenge_ack(c);
		return TCP_IN_DROPPED;
	}
	if (seg.flags & TCP_FLAG_SYN) {
		/* RFC 5961 4.2: a SYN on a synchronized connection, whatever its sequence. */
		tcp_send_challenge_ack(c);
		return TCP_IN_DROPPED;
	}
	if (!(seg.flags & TCP_FLAG_ACK))
		return TCP_IN_DROPPED;

	/* RFC 7323 4.3: remember the timestamp of the segment that covers our last ACK. */
	if (c->ts_ok && seg.has_ts && seq_le(seg.seq, c->last_ack_sent) &&
	    seq_le(c->last_ack_sent, seg.seq + seg_len))
		c->ts_recent = seg.tsval;

	if (!process_ack(c, &seg))
		return c->state == TCPS_CLOSED ? TCP_IN_CLOSED : TCP_IN_DROPPED;

	/* The peer is alive: keepalive starts over. */
	c->last_rx = now;
	c->keepalive_unanswered = 0;
	if (c->cfg.keepalive_idle_us)
		c->keepalive_at = now + c->cfg.keepalive_idle_us;

	if (seg_len && accepts_data(c->state))
		process_data(c, &seg);
	else if (seg_len && c->state == TCPS_TIME_WAIT)
		c->ack_now = true;
	tcp_output(c);
	return c->state == TCPS_CLOSED ? TCP_IN_CLOSED : TCP_IN_OK;
}
