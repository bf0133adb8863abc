// SPDX-License-Identifier: MIT
/*
 * limits.client_rate_bytes / client_burst_bytes: derper's per-client
 * receive rate limit (-per-client-rate-limit, -per-client-rate-burst). As
 * derper does, the relay slows its reading of a client that sends too
 * fast instead of dropping what it sent: once a read takes more bytes
 * than the client's token bucket holds, the connection's receive is not
 * re-armed until the debt is paid (in bufring mode such a client reads
 * with single-shot recvs, one buffer each: recv_ring.c). The kernel's socket buffers fill meanwhile
 * and TCP flow control holds the client back. Mesh peers are exempt, as in derper.
 *
 * Paused connections are kept on a per-worker list with the earliest
 * resume time, which the worker's loop checks every pass and its sleep
 * does not overshoot: no timer and no system call per packet.
 */
#include "worker.h"

void recv_limit_start(struct worker *w, struct conn *c)
{
	const struct relay_settings *set = &w->relay->settings;
	uint64_t rate = c->can_mesh ? 0 : set->client_rate_bytes;
	token_bucket_init(&c->recv_bucket, rate, set->client_burst_bytes, w->now_ns);
}

static void pause_list_remove(struct worker *w, struct conn *c)
{
	if (c->paused_prev)
		c->paused_prev->paused_next = c->paused_next;
	else
		w->paused = c->paused_next;
	if (c->paused_next)
		c->paused_next->paused_prev = c->paused_prev;
	c->paused_prev = c->paused_next = NULL;
	c->recv_paused = false;
}

void recv_limit_charge(struct worker *w, struct conn *c, size_t n)
{
	if (!c->recv_bucket.rate || c->closing)
		return;
	uint64_t wait_ns = token_bucket_take_debt(&c->recv_bucket, n, w->now_ns);
	if (!wait_ns)
		return;
	c->recv_resume_ns = w->now_ns + wait_ns;
	if (!c->recv_paused) {
		stat_add(&w->stats.recv_rate_limited, 1);
		c->recv_paused = true;
		c->paused_prev = NULL;
		c->paused_next = w->paused;
		if (w->paused)
			w->paused->paused_prev = c;
		w->paused = c;
	}
	if (!w->next_resume_ns || c->recv_resume_ns < w->next_resume_ns)
		w->next_resume_ns = c->recv_resume_ns;
}

void recv_limit_forget(struct worker *w, struct conn *c)
{
	if (c->recv_paused)
		pause_list_remove(w, c);
}

uint32_t recv_limit_resume_due(struct worker *w)
{
	if (!w->paused || w->now_ns < w->next_resume_ns)
		return 0;
	uint32_t resumed = 0;
	uint64_t next = 0;
	struct conn *c = w->paused;
	while (c) {
		struct conn *after = c->paused_next;
		if (c->recv_resume_ns <= w->now_ns) {
			pause_list_remove(w, c);
			if (!c->recv_armed && !c->closing)
				recv_arm(w, c);
			resumed++;
		} else if (!next || c->recv_resume_ns < next) {
			next = c->recv_resume_ns;
		}
		c = after;
	}
	w->next_resume_ns = next;
	return resumed;
}
