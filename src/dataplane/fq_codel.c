// SPDX-License-Identifier: MIT
/*
 * Per-destination fair queueing with CoDel (see fq_codel.h).
 *
 * Why: derper's policy keeps 32 packets per destination and drops the oldest
 * when a 33rd arrives. A receiver that reads a little slower than its sender
 * sends fills those 32 in a burst, and from then on every new packet pushes
 * one out: hundreds of losses within a round trip, which the TCP connection
 * inside the tunnel can only recover from by timeouts. CoDel instead lets a
 * burst through (the byte budget is large) and, once packets have waited
 * longer than target for a whole interval, drops one at the head, then the
 * next one interval / sqrt(count) later: TCP sees an early single loss,
 * halves its window, and the queue drains.
 */
#include "fq_codel.h"

#include <stddef.h>
#include <string.h>

#include "derp_frame.h"
#include "hd_frame.h"

#define FQ_NO_FLOW 0xff

void fq_init(struct fq_sched *q)
{
	memset(q, 0, sizeof(*q));
}

/*
 * The sender of a data frame: DERP's RecvPacket carries its key; HD's Recv
 * its 2-byte peer id, hashed as the key of that id. (0x11 is never a DERP
 * frame the server sends.)
 */
static uint32_t flow_of_frame(const struct fq_params *p, const struct pktbuf *pb)
{
	if (pb->frame[0] == HD_FRAME_RECV) {
		uint8_t id_key[KEY_LEN] = { 0 };
		memcpy(id_key, pb->frame + HD_FRAME_HDR_LEN, 2);
		return fq_flow_of(p, id_key);
	}
	return fq_flow_of(p, pb->frame + DERP_FRAME_HDR_LEN);
}

bool fq_empty(const struct fq_sched *q)
{
	return !q->ctrl.head && !q->disco.head && !q->data_count;
}

uint32_t fq_flow_of(const struct fq_params *p, const uint8_t src_key[KEY_LEN])
{
	/*
	 * Keys are chosen by clients, so a fixed hash would let one pick a key
	 * that shares a victim's flow; the seed is secret per worker. One
	 * multiply spreads the seeded bits into the top ones.
	 */
	uint64_t k;
	memcpy(&k, src_key, sizeof(k));
	k ^= p->seed;
	k *= 0x9e3779b97f4a7c15ull;
	k ^= k >> 29;
	k *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(k >> 60) % FQ_FLOWS;
}

static void fifo_push(struct fq_fifo *f, struct pktbuf *pb)
{
	pb->next = NULL;
	if (f->tail)
		f->tail->next = pb;
	else
		f->head = pb;
	f->tail = pb;
	f->count++;
}

static struct pktbuf *fifo_pop(struct fq_fifo *f)
{
	struct pktbuf *pb = f->head;
	if (!pb)
		return NULL;
	f->head = pb->next;
	if (!f->head)
		f->tail = NULL;
	f->count--;
	pb->next = NULL;
	return pb;
}

static struct pktbuf *flow_pop(struct fq_sched *q, struct fq_flow *f)
{
	struct pktbuf *pb = fifo_pop(&f->q);
	if (!pb)
		return NULL;
	f->bytes -= pb->len;
	f->deq_seq++;
	q->data_bytes -= pb->len;
	q->data_count--;
	return pb;
}

static struct fq_flow *fattest_flow(struct fq_sched *q)
{
	struct fq_flow *fat = &q->flows[0];
	for (uint32_t i = 1; i < FQ_FLOWS; i++) {
		if (q->flows[i].bytes > fat->bytes)
			fat = &q->flows[i];
	}
	return fat;
}

void fq_enqueue(struct fq_sched *q, const struct fq_params *p, struct pktbuf *pb, uint64_t now_ns,
		fq_drop_fn drop, void *ctx)
{
	pb->enq_ns = now_ns;
	q->last_enq_ns = now_ns;
	if (pb->kind == PKT_KIND_CTRL || pb->kind == PKT_KIND_DISCO) {
		bool ctrl = pb->kind == PKT_KIND_CTRL;
		pb->fq_flow = FQ_NO_FLOW;
		/*
		 * A PeerGone must not overtake the packets its peer sent before
		 * it left (the peer's last words come first): it waits until
		 * everything queued so far in that peer's flow has gone out.
		 */
		if (ctrl && pb->frame[0] == DERP_FRAME_PEER_GONE &&
		    pb->len >= DERP_FRAME_HDR_LEN + KEY_LEN) {
			uint32_t i = fq_flow_of(p, pb->frame + DERP_FRAME_HDR_LEN);
			pb->fq_flow = (uint8_t)i;
			pb->fq_after = q->flows[i].enq_seq;
		}
		struct fq_fifo *f = ctrl ? &q->ctrl : &q->disco;
		uint32_t limit = ctrl ? p->ctrl_limit : p->disco_limit;
		/* As derper: the oldest of the class makes room for the newest. */
		if (limit && f->count >= limit)
			drop(ctx, fifo_pop(f), FQ_DROP_CTRL_LIMIT);
		fifo_push(f, pb);
		return;
	}

	struct fq_flow *f = &q->flows[flow_of_frame(p, pb)];
	fifo_push(&f->q, pb);
	f->enq_seq++;
	f->bytes += pb->len;
	q->data_bytes += pb->len;
	q->data_count++;
	if (!f->active) {
		f->active = true;
		f->deficit = (int32_t)p->quantum;
		f->next_active = NULL;
		if (q->active_tail)
			q->active_tail->next_active = f;
		else
			q->active_head = f;
		q->active_tail = f;
	}
	/*
	 * Over budget: one packet off the head of the fattest flow, so the bulk
	 * sender pays and not the small one, and only as many as needed (one,
	 * as a rule): never the burst that a tail or head drop of a full FIFO
	 * would be.
	 */
	while (q->data_bytes > p->byte_limit) {
		struct pktbuf *old = flow_pop(q, fattest_flow(q));
		if (!old)
			break;
		drop(ctx, old, FQ_DROP_BYTES);
	}
}

static uint64_t isqrt64(uint64_t x)
{
	if (!x)
		return 0;
	uint64_t r = x, y = x / 2 + 1;
	while (y < r) {
		r = y;
		y = (r + x / r) / 2;
	}
	return r;
}

/*
 * interval / sqrt(count): drops come closer while the queue persists. In
 * 16-bit fixed point (sqrt(count << 32) = sqrt(count) << 16), so that the
 * second drop comes interval/1.41 after the first, not interval/1. Runs
 * only when a packet is dropped.
 */
static uint64_t control_law(const struct fq_params *p, uint64_t t, uint32_t count)
{
	uint64_t root = isqrt64((uint64_t)(count ? count : 1) << 32);
	return t + (p->interval_ns << 16) / root;
}

/* RFC 8289's dodequeue: is the head's sojourn above target for a whole interval? */
static bool codel_over(struct fq_flow *f, const struct fq_params *p, const struct pktbuf *pb,
		       uint64_t now_ns)
{
	uint64_t sojourn = now_ns > pb->enq_ns ? now_ns - pb->enq_ns : 0;
	/* Less than one packet left behind: dropping would only idle the link. */
	if (sojourn < p->target_ns || f->bytes <= p->quantum) {
		f->first_above_ns = 0;
		return false;
	}
	if (!f->first_above_ns) {
		f->first_above_ns = now_ns + p->interval_ns;
		return false;
	}
	return now_ns >= f->first_above_ns;
}

static struct pktbuf *codel_dequeue(struct fq_sched *q, struct fq_flow *f,
				    const struct fq_params *p, uint64_t now_ns, fq_drop_fn drop,
				    void *ctx)
{
	struct pktbuf *pb = flow_pop(q, f);
	if (!pb) {
		f->dropping = false;
		f->first_above_ns = 0;
		return NULL;
	}
	bool over = codel_over(f, p, pb, now_ns);
	if (f->dropping) {
		if (!over) {
			f->dropping = false;
			return pb;
		}
		while (f->dropping && now_ns >= f->drop_next_ns) {
			drop(ctx, pb, FQ_DROP_SOJOURN);
			f->count++;
			pb = flow_pop(q, f);
			if (!pb) {
				f->dropping = false;
				return NULL;
			}
			if (!codel_over(f, p, pb, now_ns))
				f->dropping = false;
			else
				f->drop_next_ns = control_law(p, f->drop_next_ns, f->count);
		}
		return pb;
	}
	if (over) {
		drop(ctx, pb, FQ_DROP_SOJOURN);
		pb = flow_pop(q, f);
		f->dropping = true;
		/* Came back soon after the last dropping state: resume near its rate. */
		uint32_t delta = f->count - f->last_count;
		if (delta > 1 && now_ns - f->drop_next_ns < 16 * p->interval_ns)
			f->count = delta;
		else
			f->count = 1;
		f->last_count = f->count;
		f->drop_next_ns = control_law(p, now_ns, f->count);
	}
	return pb;
}

static void deactivate_head(struct fq_sched *q)
{
	struct fq_flow *f = q->active_head;
	q->active_head = f->next_active;
	if (!q->active_head)
		q->active_tail = NULL;
	f->next_active = NULL;
	f->active = false;
}

static void rotate_head(struct fq_sched *q)
{
	struct fq_flow *f = q->active_head;
	if (f == q->active_tail)
		return;
	q->active_head = f->next_active;
	f->next_active = NULL;
	q->active_tail->next_active = f;
	q->active_tail = f;
}

static struct pktbuf *data_dequeue(struct fq_sched *q, const struct fq_params *p, uint64_t now_ns,
				   fq_drop_fn drop, void *ctx)
{
	while (q->active_head) {
		struct fq_flow *f = q->active_head;
		if (f->deficit <= 0) {
			f->deficit += (int32_t)p->quantum;
			rotate_head(q);
			continue;
		}
		struct pktbuf *pb = codel_dequeue(q, f, p, now_ns, drop, ctx);
		if (!pb) {
			deactivate_head(q);
			continue;
		}
		f->deficit -= (int32_t)pb->len;
		return pb;
	}
	return NULL;
}

/* The head server frame may go: it is not a PeerGone still behind its peer's packets. */
static bool ctrl_ready(const struct fq_sched *q)
{
	const struct pktbuf *pb = q->ctrl.head;
	if (!pb)
		return false;
	if (pb->fq_flow == FQ_NO_FLOW)
		return true;
	const struct fq_flow *f = &q->flows[pb->fq_flow];
	return (int32_t)(f->deq_seq - pb->fq_after) >= 0;
}

struct pktbuf *fq_dequeue(struct fq_sched *q, const struct fq_params *p, uint64_t now_ns,
			  fq_drop_fn drop, void *ctx)
{
	bool ctrl_ok = ctrl_ready(q);
	/*
	 * Control first, so a Pong or a disco ping never waits behind a bulk
	 * transfer; but at most FQ_CTRL_BURST in a row while data waits, so a
	 * flood of disco cannot starve data either.
	 */
	if ((ctrl_ok || q->disco.head) && (!q->data_count || q->ctrl_streak < FQ_CTRL_BURST)) {
		q->ctrl_streak++;
		return ctrl_ok ? fifo_pop(&q->ctrl) : fifo_pop(&q->disco);
	}
	q->ctrl_streak = 0;
	struct pktbuf *pb = data_dequeue(q, p, now_ns, drop, ctx);
	if (pb)
		return pb;
	/* No data left (CoDel may have dropped the rest): every PeerGone is free to go. */
	if (q->ctrl.head)
		return fifo_pop(&q->ctrl);
	return fifo_pop(&q->disco);
}

void fq_purge(struct fq_sched *q, void (*fn)(void *ctx, struct pktbuf *pb), void *ctx)
{
	struct pktbuf *pb;
	while ((pb = fifo_pop(&q->ctrl)))
		fn(ctx, pb);
	while ((pb = fifo_pop(&q->disco)))
		fn(ctx, pb);
	for (uint32_t i = 0; i < FQ_FLOWS; i++) {
		while ((pb = flow_pop(q, &q->flows[i])))
			fn(ctx, pb);
	}
	fq_init(q);
}
