// SPDX-License-Identifier: MIT
/* The RTT estimator and retransmission timeout of RFC 6298. */
#include "tcp_internal.h"

/* RFC 6298's G: the clock granularity; our clock is microseconds, 1 ms keeps RTO above jitter. */
#define TCP_RTO_GRANULARITY_US 1000u

static void rto_update(struct tcp_conn *c)
{
	uint64_t var = 4ull * c->rttvar_us;
	if (var < TCP_RTO_GRANULARITY_US)
		var = TCP_RTO_GRANULARITY_US;
	uint64_t rto = c->srtt_us + var;
	if (rto < c->cfg.rto_min_us)
		rto = c->cfg.rto_min_us;
	if (rto > c->cfg.rto_max_us)
		rto = c->cfg.rto_max_us;
	c->rto_us = (uint32_t)rto;
}

void tcp_rtt_init(struct tcp_conn *c, uint32_t srtt_us, uint32_t rttvar_us)
{
	if (srtt_us == 0) {
		/* (2.1): no measurement yet. */
		c->srtt_us = 0;
		c->rttvar_us = 0;
		c->rto_us = c->cfg.rto_initial_us;
		return;
	}
	c->srtt_us = srtt_us;
	c->rttvar_us = rttvar_us;
	rto_update(c);
}

void tcp_rtt_sample(struct tcp_conn *c, uint32_t r)
{
	if (r == 0)
		r = 1;
	c->stats.rtt_samples++;
	if (c->srtt_us == 0) {
		/* (2.2) */
		c->srtt_us = r;
		c->rttvar_us = r / 2;
	} else {
		/* (2.3), beta = 1/4, alpha = 1/8 */
		uint32_t err = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
		c->rttvar_us = c->rttvar_us - c->rttvar_us / 4 + err / 4;
		c->srtt_us = c->srtt_us - c->srtt_us / 8 + r / 8;
	}
	rto_update(c);
}

uint32_t tcp_rto_current(const struct tcp_conn *c)
{
	uint64_t rto = (uint64_t)c->rto_us << (c->backoff > 20 ? 20 : c->backoff);
	return rto > c->cfg.rto_max_us ? c->cfg.rto_max_us : (uint32_t)rto;
}

/* (5.1)/(5.3): the timer runs while data is outstanding and restarts on new ACKs. */
void tcp_rto_rearm(struct tcp_conn *c)
{
	if (c->snd_una == c->snd_max) {
		if (!c->persist)
			c->rto_at = 0;
		return;
	}
	c->persist = false;
	c->rto_at = c->now + tcp_rto_current(c);
}
