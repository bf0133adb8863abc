/* SPDX-License-Identifier: MIT */
/*
 * Receiving: how bytes get from a connection's socket to conn_recv.c. Each
 * worker runs one of two strategies, chosen once at start (recv_mode.c,
 * config key server.recv_mode):
 *
 *   bufring  One multishot recv per connection; the kernel takes a buffer
 *            from the worker's provided-buffer ring only when bytes arrive
 *            (recv_ring.c). Needs Linux 6.0.
 *   single   One single-shot recv per connection into a buffer the
 *            connection holds while the recv is armed, re-armed after each
 *            completion (recv_single.c). Needs only IORING_OP_RECV (5.6).
 *
 * Either way the bytes go through the same conn_recv path. A receive
 * buffer is free again once its completion has been handled, except that in
 * bufring mode packets relayed in place keep theirs until they are written
 * (bounded by limits.pinned_recv_buffers). docs/buffers.md says who owns
 * which buffer in each mode.
 */
#ifndef HD_RECV_H
#define HD_RECV_H

#include <liburing.h>
#include <stddef.h>
#include <stdint.h>

struct worker;
struct conn;

enum recv_mode {
	RECV_MODE_BUFRING = 0,
	RECV_MODE_SINGLE,
};

/* ---- recv_mode.c: choosing, and what the worker loop calls ---- */

/* Picks the worker's strategy from server.recv_mode and the kernel, logs it, sets it up. */
int recv_setup(struct worker *w);
void recv_teardown(struct worker *w);
const char *recv_mode_name(enum recv_mode mode);

/* Per-connection state (single mode: the small buffer). Returns 0 or -ENOMEM. */
int recv_conn_init(struct worker *w, struct conn *c);
void recv_conn_free(struct worker *w, struct conn *c);
/*
 * Arms the connection's recv. Without a free SQE it stays unarmed
 * (c->recv_armed false) and the worker's tick tries again.
 */
void recv_arm(struct worker *w, struct conn *c);
/* A recv completion of a live connection; re-arms it unless it is closing. */
void recv_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe);
/* A recv completion whose connection is gone: give back what it holds. */
void recv_orphan(struct worker *w, const struct io_uring_cqe *cqe);
/* End of a completion batch: publish buffers given back during it. */
void recv_batch_done(struct worker *w);

/*
 * Shared by the strategies: received bytes, or the recv's end (res <= 0).
 * The bytes are the worker's (a ring or connection buffer): a WebSocket
 * connection unmasks them in place.
 */
void recv_deliver(struct worker *w, struct conn *c, uint8_t *p, size_t n);
void recv_ended(struct worker *w, struct conn *c, int res);

/* ---- recv_ring.c: multishot recv into a provided-buffer ring ---- */

/*
 * Whether this kernel runs a multishot recv from a provided-buffer ring,
 * tried on a throwaway ring and socket pair. Returns 0, or the kernel's
 * negative errno with what was refused in why.
 */
int recv_ring_probe(char *why, size_t why_len);
/* Registers the worker's buffer ring. Returns 0 or a negative errno (reason in why). */
int recv_ring_setup(struct worker *w, char *why, size_t why_len);
void recv_ring_teardown(struct worker *w);
void recv_ring_arm(struct worker *w, struct conn *c);
void recv_ring_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe);
void recv_ring_orphan(struct worker *w, const struct io_uring_cqe *cqe);
void recv_ring_batch_done(struct worker *w);
/*
 * In-place relaying: a reference to len frame bytes at frame when they lie
 * in the receive buffer being parsed and the pin budget allows, pinning
 * that buffer; NULL otherwise (the caller copies). recv_ring_unpin drops a
 * reference; the buffer goes back to the kernel with its last one.
 */
struct pktbuf *recv_ring_ref(struct worker *w, const uint8_t *frame, uint32_t len);
void recv_ring_unpin(struct worker *w, uint16_t bid);

/* ---- recv_single.c: one single-shot recv per connection ---- */

int recv_single_conn_init(struct worker *w, struct conn *c);
void recv_single_conn_free(struct worker *w, struct conn *c);
void recv_single_arm(struct worker *w, struct conn *c);
void recv_single_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe);

#endif
