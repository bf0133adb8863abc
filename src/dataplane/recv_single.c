// SPDX-License-Identifier: MIT
/*
 * recv_mode single: one single-shot IORING_OP_RECV per connection, re-armed
 * after each completion, for kernels without multishot recv or provided
 * buffer rings.
 *
 * A single-shot recv must be given its buffer when it is armed, and it
 * stays armed for as long as the connection is idle: whatever it holds is
 * the idle cost of a connection. So the resting recv reads into a small
 * buffer the connection owns (RECV_SMALL_SIZE), big enough for the control
 * and disco frames of an idle client. Only when the last read says more
 * is on the way (it filled its buffer, or a frame's header promised more
 * than the small buffer holds) is the next recv given a large buffer from
 * the worker's packet-buffer pool, which goes back to the pool as soon as
 * its bytes are parsed. See docs/buffers.md for the figures.
 *
 * The large recv never waits: it is issued with MSG_DONTWAIT, so it takes
 * what the socket holds or ends at once with -EAGAIN, and then the small
 * recv waits instead. A client that stops right after a full read (or in
 * the middle of a frame) therefore holds no pool buffer while it is quiet:
 * a large buffer is held only for the time of one read, and thousands of
 * stalled clients cannot empty the pool that packets come from.
 */
#include <errno.h>
#include <sys/socket.h>
#include <stdlib.h>

#include "worker.h"

#define RECV_SMALL_SIZE 512
/* Large reads take a 16 KiB pool buffer: one TLS record, as in bufring mode. */
#define RECV_BIG_SIZE 16384

int recv_single_conn_init(struct worker *w, struct conn *c)
{
	(void)w;
	c->rx_small = malloc(RECV_SMALL_SIZE);
	return c->rx_small ? 0 : -1;
}

void recv_single_conn_free(struct worker *w, struct conn *c)
{
	/* Only reached with no recv armed, so neither buffer can still be written. */
	if (c->rx_big)
		pktbuf_free(&w->pool, c->rx_big);
	c->rx_big = NULL;
	free(c->rx_small);
	c->rx_small = NULL;
}

void recv_single_arm(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = worker_get_sqe(w);
	if (!sqe)
		return;
	uint8_t *buf = c->rx_small;
	size_t len = RECV_SMALL_SIZE;
	int flags = 0;
	if (c->rx_want_big) {
		/* At the pool's limit the small buffer still keeps the bytes moving. */
		c->rx_big = pktbuf_alloc(&w->pool, RECV_BIG_SIZE);
		if (c->rx_big) {
			buf = c->rx_big->data;
			len = c->rx_big->cap;
			flags = MSG_DONTWAIT; /* never park a pool buffer on a quiet socket */
		}
	}
	io_uring_prep_recv(sqe, c->fd, buf, len, flags);
	io_uring_sqe_set_data64(sqe, conn_udata(OP_RECV, c));
	c->recv_armed = true;
}

/* Whether the next read should get a large buffer. */
static bool more_on_the_way(const struct conn *c, size_t got, size_t cap)
{
	/* A read that filled its buffer most likely left bytes in the socket. */
	if (got == cap)
		return true;
	/* The header of the frame being assembled (or skipped) promised more than fits. */
	if (c->partial_need && c->partial_need - c->partial_len > RECV_SMALL_SIZE)
		return true;
	return c->skip_left > RECV_SMALL_SIZE;
}

void recv_single_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	c->recv_armed = false;
	struct pktbuf *big = c->rx_big;
	c->rx_big = NULL;
	if (cqe->res > 0) {
		uint8_t *data = big ? big->data : c->rx_small;
		size_t cap = big ? big->cap : RECV_SMALL_SIZE;
		recv_deliver(w, c, data, (size_t)cqe->res);
		c->rx_want_big = more_on_the_way(c, (size_t)cqe->res, cap);
	} else if (big && cqe->res == -EAGAIN) {
		/* Nothing more yet: wait with the small buffer, which the connection owns. */
		c->rx_want_big = false;
	} else {
		recv_ended(w, c, cqe->res);
	}
	/* Parsed already (frames are copied into packet buffers), so it can go back now. */
	if (big)
		pktbuf_free(&w->pool, big);
	if (!c->closing && !c->recv_paused)
		recv_single_arm(w, c);
}
