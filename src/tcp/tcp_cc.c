// SPDX-License-Identifier: MIT
/*
 * NewReno congestion control: slow start and congestion avoidance of
 * RFC 5681 with appropriate byte counting (RFC 3465, L = 2 SMSS). Why
 * NewReno and not CUBIC: docs/bypass.md. Loss recovery itself (which
 * segment to resend) is in tcp_input.c; this file only moves cwnd.
 */
#include "tcp_internal.h"

#define TCP_INITIAL_WINDOW_SEGS 10 /* RFC 6928 */

void tcp_cc_init(struct tcp_conn *c)
{
	/*
	 * The kernel's cwnd is not in the snapshot: restart from the initial
	 * window, as after an idle period (RFC 5681 4.1), and let slow start
	 * find the path again.
	 */
	c->cwnd = TCP_INITIAL_WINDOW_SEGS * (uint32_t)c->mss;
	c->ssthresh = UINT32_MAX;
	c->bytes_acked = 0;
}

void tcp_cc_idle_restart(struct tcp_conn *c)
{
	/*
	 * RFC 5681 4.1: after an RTO of silence the ACK clock is gone, and a
	 * full cwnd at once would land as one burst in some queue. Start
	 * again from the initial window (ssthresh keeps what was learnt).
	 */
	uint32_t iw = TCP_INITIAL_WINDOW_SEGS * (uint32_t)c->mss;
	if (c->snd_una == c->snd_max && c->last_data_tx && c->now - c->last_data_tx > c->rto_us &&
	    c->cwnd > iw)
		c->cwnd = iw;
}

void tcp_cc_on_ack(struct tcp_conn *c, uint32_t acked)
{
	/* A cwnd beyond what the send buffer can hold would grow for nothing. */
	uint32_t cap = c->sbuf_mask + 1;
	if (c->cwnd >= cap)
		return;
	if (c->cwnd < c->ssthresh) {
		uint32_t limit = 2u * c->mss;
		c->cwnd += acked < limit ? acked : limit;
	} else {
		c->bytes_acked += acked;
		if (c->bytes_acked >= c->cwnd) {
			c->bytes_acked -= c->cwnd;
			c->cwnd += c->mss;
		}
	}
	if (c->cwnd > cap)
		c->cwnd = cap;
}

static uint32_t half_flight(const struct tcp_conn *c)
{
	/* RFC 5681 (4): ssthresh = max(FlightSize / 2, 2 * SMSS) */
	uint32_t half = (c->snd_max - c->snd_una) / 2;
	uint32_t floor = 2u * c->mss;
	return half > floor ? half : floor;
}

void tcp_cc_on_loss(struct tcp_conn *c)
{
	c->ssthresh = half_flight(c);
	c->bytes_acked = 0;
}

void tcp_cc_on_rto(struct tcp_conn *c)
{
	/* (5.5) on the first timeout only: later ones would halve an already collapsed flight. */
	if (c->backoff <= 1)
		c->ssthresh = half_flight(c);
	c->cwnd = c->mss;
	c->bytes_acked = 0;
}
