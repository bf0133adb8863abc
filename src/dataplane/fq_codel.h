/* SPDX-License-Identifier: MIT */
/*
 * The send queue of one destination under limits.queue_policy = codel: a
 * control class (server frames, then disco) served first but never allowed
 * to starve data, and a data class split by source into a fixed number of
 * flows served by deficit round robin, each flow with its own CoDel state
 * (sojourn-time drops at the head, spaced by interval / sqrt(count)), all
 * of it inside one byte budget.
 *
 * Pure data structure: it knows nothing of sockets or workers, takes the
 * time from its caller (one clock read per loop pass) and hands every packet
 * it gives up to the caller's drop function, so send_queue.c can count and
 * release it and the unit tests can watch it. No allocation per packet:
 * packets are linked through pb->next, the flows are an array.
 */
#ifndef HD_FQ_CODEL_H
#define HD_FQ_CODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "pktbuf.h"

/*
 * Flows per destination. Sources are hashed (with a secret seed) into them:
 * a bounded table, so a destination's memory does not grow with the number
 * of senders; sources that share a flow share its fair share.
 */
#define FQ_FLOWS 16

/* Control frames served in a row while data waits; then one data packet. */
#define FQ_CTRL_BURST 8

enum fq_drop_why {
	FQ_DROP_SOJOURN = 0, /* CoDel: waited longer than target for a whole interval */
	FQ_DROP_BYTES,	     /* byte budget full: the head of the fattest flow */
	FQ_DROP_CTRL_LIMIT,  /* control class full (disco: queue_depth; server frames) */
};

struct fq_params {
	uint64_t target_ns;   /* CoDel target sojourn time */
	uint64_t interval_ns; /* CoDel interval */
	uint32_t byte_limit;  /* data bytes (frame bytes) queued per destination */
	uint32_t quantum;     /* DRR quantum, bytes; also CoDel's "one MTU" */
	uint32_t disco_limit; /* disco frames queued (limits.queue_depth) */
	uint32_t ctrl_limit;  /* server frames queued; 0 = unbounded (mesh watchers) */
	uint64_t seed;	      /* secret for hashing sources into flows */
};

typedef void (*fq_drop_fn)(void *ctx, struct pktbuf *pb, enum fq_drop_why why);

struct fq_fifo {
	struct pktbuf *head, *tail;
	uint32_t count;
};

struct fq_flow {
	struct fq_fifo q;
	struct fq_flow *next_active; /* round-robin list of backlogged flows */
	uint32_t bytes;
	int32_t deficit;
	/* Packets ever queued and ever taken out (sent or dropped): PeerGone ordering. */
	uint32_t enq_seq, deq_seq;
	bool active;
	/* CoDel (RFC 8289), per flow so that only the flow that builds a queue is hit. */
	bool dropping;
	uint32_t count;	     /* drops in this dropping state (or carried over) */
	uint32_t last_count; /* count when the last dropping state began */
	uint64_t first_above_ns;
	uint64_t drop_next_ns;
};

struct fq_sched {
	struct fq_fifo ctrl;  /* server frames */
	struct fq_fifo disco; /* disco packets */
	struct fq_flow *active_head, *active_tail;
	uint32_t data_bytes;
	uint32_t data_count;
	uint32_t ctrl_streak; /* control frames served in a row while data waited */
	uint64_t last_enq_ns; /* when a frame was last queued (idle queues are freed) */
	struct fq_flow flows[FQ_FLOWS];
};

void fq_init(struct fq_sched *q);
bool fq_empty(const struct fq_sched *q);

/*
 * Queues pb (pb->kind picks the class; a data frame is a RecvPacket whose
 * source key picks the flow), stamped with now_ns. May give older packets,
 * or pb itself, to drop to respect the bounds.
 */
void fq_enqueue(struct fq_sched *q, const struct fq_params *p, struct pktbuf *pb, uint64_t now_ns,
		fq_drop_fn drop, void *ctx);

/*
 * The next frame to send, or NULL. CoDel's drops happen here, at the head,
 * through drop.
 */
struct pktbuf *fq_dequeue(struct fq_sched *q, const struct fq_params *p, uint64_t now_ns,
			  fq_drop_fn drop, void *ctx);

/* Unlinks every queued frame and hands each to fn (closing); q is empty after. */
void fq_purge(struct fq_sched *q, void (*fn)(void *ctx, struct pktbuf *pb), void *ctx);

/* Which flow a source key goes to (exposed for the tests). */
uint32_t fq_flow_of(const struct fq_params *p, const uint8_t src_key[KEY_LEN]);

#endif
