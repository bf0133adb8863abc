// SPDX-License-Identifier: MIT
/*
 * recv_mode bufring: one multishot recv per connection, fed from the
 * worker's provided-buffer ring. The kernel picks a buffer only when bytes
 * arrive, so an idle connection holds none. A buffer goes back to the ring
 * in the pass that consumed it, unless packets in it are being relayed in
 * place: then it goes back when the last of them has been written or
 * dropped (recv_ring_ref, recv_ring_unpin).
 *
 * liburing 2.3 has no io_uring_setup_buf_ring, so the ring is mapped and
 * registered by hand.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "worker.h"

#define BUF_GROUP      0
#define RECV_BUF_SIZE  (16 * 1024) /* platform notes: 2 KiB buffers cost 4x at depth */
#define RECV_BUF_COUNT 1024

/* ---- probe ---- */

struct probe {
	struct io_uring ring;
	bool ring_ok;
	int sv[2];
	struct io_uring_buf_ring *br;
	uint8_t buf[64];
};

static void probe_close(struct probe *p)
{
	/* Exiting the ring cancels the multishot recv still armed on sv[0]. */
	if (p->ring_ok)
		io_uring_queue_exit(&p->ring);
	if (p->br != MAP_FAILED)
		munmap(p->br, (size_t)sysconf(_SC_PAGESIZE));
	for (int i = 0; i < 2; i++) {
		if (p->sv[i] >= 0)
			close(p->sv[i]);
	}
}

static int probe_run(struct probe *p, char *why, size_t why_len)
{
	int rc = io_uring_queue_init(4, &p->ring, 0);
	if (rc < 0) {
		snprintf(why, why_len, "io_uring_setup: %s", strerror(-rc));
		return rc;
	}
	p->ring_ok = true;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sv) < 0) {
		rc = -errno;
		snprintf(why, why_len, "socketpair: %s", strerror(-rc));
		return rc;
	}
	p->br = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
		     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (p->br == MAP_FAILED) {
		rc = -errno;
		snprintf(why, why_len, "mmap: %s", strerror(-rc));
		return rc;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)p->br,
		.ring_entries = 1,
		.bgid = BUF_GROUP,
	};
	rc = io_uring_register_buf_ring(&p->ring, &reg, 0);
	if (rc < 0) {
		/* Before Linux 5.19 the register opcode itself is unknown: EINVAL. */
		snprintf(why, why_len, "provided buffer rings refused: %s", strerror(-rc));
		return rc;
	}
	io_uring_buf_ring_init(p->br);
	io_uring_buf_ring_add(p->br, p->buf, sizeof(p->buf), 0, io_uring_buf_ring_mask(1), 0);
	io_uring_buf_ring_advance(p->br, 1);
	if (write(p->sv[1], "x", 1) != 1) {
		rc = -errno;
		snprintf(why, why_len, "write: %s", strerror(-rc));
		return rc;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&p->ring);
	io_uring_prep_recv_multishot(sqe, p->sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	struct io_uring_cqe *cqe;
	rc = io_uring_submit_and_wait(&p->ring, 1);
	if (rc >= 0)
		rc = io_uring_peek_cqe(&p->ring, &cqe);
	if (rc < 0) {
		snprintf(why, why_len, "io_uring_enter: %s", strerror(-rc));
		return rc;
	}
	/* Linux 5.19 has buffer rings but refuses the multishot flag: EINVAL. */
	if (cqe->res < 0) {
		rc = cqe->res;
		snprintf(why, why_len, "multishot recv refused: %s", strerror(-rc));
		return rc;
	}
	if (cqe->res != 1 || !(cqe->flags & IORING_CQE_F_BUFFER)) {
		snprintf(why, why_len, "multishot recv returned %d without a provided buffer",
			 cqe->res);
		return -EOPNOTSUPP;
	}
	return 0;
}

int recv_ring_probe(char *why, size_t why_len)
{
	struct probe p = { .sv = { -1, -1 }, .br = MAP_FAILED };
	int rc = probe_run(&p, why, why_len);
	probe_close(&p);
	return rc;
}

/* ---- the worker's ring ---- */

static void buf_return(struct worker *w, uint16_t bid)
{
	io_uring_buf_ring_add(w->br, w->br_mem + (size_t)bid * w->br_size, w->br_size, bid,
			      io_uring_buf_ring_mask(w->br_count), (int)w->br_returned);
	w->br_returned++;
}

int recv_ring_setup(struct worker *w, char *why, size_t why_len)
{
	w->br_count = RECV_BUF_COUNT;
	w->br_size = RECV_BUF_SIZE;
	size_t ring_bytes = w->br_count * sizeof(struct io_uring_buf);
	w->br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (w->br == MAP_FAILED) {
		w->br = NULL;
		snprintf(why, why_len, "mmap: %s", strerror(errno));
		return -errno;
	}
	w->br_mem = malloc((size_t)w->br_count * w->br_size);
	w->br_refs = calloc(w->br_count, sizeof(*w->br_refs));
	if (!w->br_mem || !w->br_refs) {
		snprintf(why, why_len, "out of memory for %u receive buffers", w->br_count);
		return -ENOMEM;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (unsigned long)w->br,
		.ring_entries = w->br_count,
		.bgid = BUF_GROUP,
	};
	int rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0) {
		snprintf(why, why_len, "registering the provided buffer ring: %s", strerror(-rc));
		return rc;
	}
	io_uring_buf_ring_init(w->br);
	for (uint32_t i = 0; i < w->br_count; i++)
		buf_return(w, (uint16_t)i);
	io_uring_buf_ring_advance(w->br, (int)w->br_returned);
	w->br_returned = 0;
	return 0;
}

void recv_ring_teardown(struct worker *w)
{
	/* The io_uring is gone by now, and with it the kernel's hold on the ring. */
	if (w->br)
		munmap(w->br, w->br_count * sizeof(struct io_uring_buf));
	w->br = NULL;
	free(w->br_mem);
	w->br_mem = NULL;
	free(w->br_refs);
	w->br_refs = NULL;
}

/* ---- per connection ---- */

void recv_ring_arm(struct worker *w, struct conn *c)
{
	struct io_uring_sqe *sqe = worker_get_sqe(w);
	if (!sqe)
		return;
	/*
	 * A rate-limited client gets one buffer per recv instead: a multishot
	 * recv would empty its socket (megabytes) before the limit could
	 * pause it (recv_limit.c).
	 */
	if (c->recv_bucket.rate)
		io_uring_prep_recv(sqe, c->fd, NULL, 0, 0);
	else
		io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	io_uring_sqe_set_data64(sqe, conn_udata(OP_RECV, c));
	c->recv_armed = true;
}

void recv_ring_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (cqe->res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
		w->rx_buf = w->br_mem + (size_t)bid * w->br_size;
		w->rx_buf_len = (uint32_t)cqe->res;
		w->rx_buf_id = bid;
		recv_deliver(w, c, w->rx_buf, (size_t)cqe->res);
		w->rx_buf = NULL;
		if (!w->br_refs[bid])
			buf_return(w, bid);
	} else if (cqe->res == -ENOBUFS) {
		/* Buffers ran out for a moment; they come back this pass. */
		stat_add(&w->stats.recv_no_buffers, 1);
	} else if (cqe->res <= 0) {
		recv_ended(w, c, cqe->res);
	}
	if (!c->recv_armed && !c->closing && !c->recv_paused)
		recv_ring_arm(w, c);
}

void recv_ring_orphan(struct worker *w, const struct io_uring_cqe *cqe)
{
	if (cqe->flags & IORING_CQE_F_BUFFER)
		buf_return(w, (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT));
}

/* ---- in-place relaying ---- */

struct pktbuf *recv_ring_ref(struct worker *w, const uint8_t *frame, uint32_t len)
{
	if (!w->rx_buf)
		return NULL; /* no ring buffer is being parsed (a frame from elsewhere) */
	/*
	 * Only a frame whole inside the buffer being parsed; a TLS connection's
	 * plaintext or a frame assembled from two reads lies elsewhere.
	 */
	uintptr_t lo = (uintptr_t)w->rx_buf, at = (uintptr_t)frame;
	if (at < lo || at - lo > w->rx_buf_len || len > w->rx_buf_len - (at - lo))
		return NULL;
	uint16_t bid = w->rx_buf_id;
	/*
	 * A pinned buffer is lost to the kernel until its slowest packet has
	 * gone: past the budget, copy, so slow readers cannot drain the ring.
	 * A buffer already pinned costs nothing more.
	 */
	if (!w->br_refs[bid] && stat_read(&w->stats.recv_buffers_pinned) >=
				    settings_u32(&w->relay->settings.pinned_recv_buffers))
		return NULL;
	if (w->br_refs[bid] == UINT16_MAX)
		return NULL;
	struct pktbuf *pb = pktbuf_alloc_ref(&w->pool, w->rx_buf + (at - lo), len, bid);
	if (!pb)
		return NULL;
	if (w->br_refs[bid]++ == 0)
		stat_add(&w->stats.recv_buffers_pinned, 1);
	return pb;
}

void recv_ring_unpin(struct worker *w, uint16_t bid)
{
	if (--w->br_refs[bid])
		return;
	stat_add(&w->stats.recv_buffers_pinned, (uint64_t)-1);
	/* Parsed and unreferenced: back to the kernel (published at the end of the pass). */
	if (!(w->rx_buf && w->rx_buf_id == bid))
		buf_return(w, bid);
}

void recv_ring_batch_done(struct worker *w)
{
	if (w->br_returned) {
		io_uring_buf_ring_advance(w->br, (int)w->br_returned);
		w->br_returned = 0;
	}
}
