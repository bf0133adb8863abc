/* SPDX-License-Identifier: MIT */
/* What the engine's files share among themselves; not for callers. */
#ifndef HD_TCP_INTERNAL_H
#define HD_TCP_INTERNAL_H

#include "tcp_conn.h"

/* tcp_output.c */
void tcp_output(struct tcp_conn *c);
void tcp_send_ack(struct tcp_conn *c);
/* RFC 5961's challenge ACK: a forged-looking RST, SYN or ACK. Rate limited. */
void tcp_send_challenge_ack(struct tcp_conn *c);
/* The ACK for a stale or out-of-window segment without data. Same budget. */
void tcp_send_oow_ack(struct tcp_conn *c);
void tcp_send_rst(struct tcp_conn *c);
void tcp_send_probe(struct tcp_conn *c);
/* Retransmits one segment (at most max_len payload) starting at seq; returns the bytes of seq
 * space. */
uint32_t tcp_retransmit(struct tcp_conn *c, uint32_t seq, uint32_t max_len);
uint32_t tcp_rcv_space(const struct tcp_conn *c);
uint32_t tcp_flight(const struct tcp_conn *c);

/* tcp_rtt.c */
void tcp_rtt_init(struct tcp_conn *c, uint32_t srtt_us, uint32_t rttvar_us);
void tcp_rtt_sample(struct tcp_conn *c, uint32_t rtt_us);
uint32_t tcp_rto_current(const struct tcp_conn *c); /* with backoff */
void tcp_rto_rearm(struct tcp_conn *c);

/* tcp_cc.c: NewReno (RFC 5681, 6582) with byte counting (RFC 3465). */
void tcp_cc_init(struct tcp_conn *c);
void tcp_cc_on_ack(struct tcp_conn *c, uint32_t acked);
void tcp_cc_on_loss(struct tcp_conn *c);
void tcp_cc_on_rto(struct tcp_conn *c);
/* Before sending new data: back to the initial window after an idle RTO. */
void tcp_cc_idle_restart(struct tcp_conn *c);

/* tcp_conn.c */
void tcp_set_closed(struct tcp_conn *c, enum tcp_close_reason why);

static inline uint32_t tcp_data_end(const struct tcp_conn *c)
{
	return c->snd_una + c->sbuf_len;
}

#endif
