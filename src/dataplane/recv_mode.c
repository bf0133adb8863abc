// SPDX-License-Identifier: MIT
/*
 * Choosing a worker's receive strategy (see recv.h), and the calls the
 * worker loop makes, which go to the chosen one.
 *
 * server.recv_mode: "bufring" insists on multishot recv with a provided
 * buffer ring, "single" takes the single-shot path, and "auto" tries bufring
 * and falls back to single when the kernel refuses it. Only a refusal falls
 * back (EINVAL, ENOSYS, EOPNOTSUPP: the kernel does not know the feature);
 * any other failure, such as running out of memory, is an error either way,
 * since the single path would meet the same shortage.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "worker.h"

const char *recv_mode_name(enum recv_mode mode)
{
	return mode == RECV_MODE_SINGLE ? "single" : "bufring";
}

static bool kernel_refused(int rc)
{
	return rc == -EINVAL || rc == -ENOSYS || rc == -EOPNOTSUPP;
}

/* Single-shot IORING_OP_RECV came with Linux 5.6, as did the opcode probe itself. */
static bool recv_op_supported(struct worker *w)
{
	struct io_uring_probe *probe = io_uring_get_probe_ring(&w->ring);
	bool ok = probe && io_uring_opcode_supported(probe, IORING_OP_RECV);
	io_uring_free_probe(probe);
	return ok;
}

static int try_bufring(struct worker *w, char *why, size_t why_len)
{
	int rc = recv_ring_probe(why, why_len);
	if (rc == 0)
		rc = recv_ring_setup(w, why, why_len);
	if (rc < 0)
		recv_ring_teardown(w);
	return rc;
}

int recv_setup(struct worker *w)
{
	const char *want = w->relay->settings.recv_mode;
	char why[192] = "";

	if (!recv_op_supported(w)) {
		log_error("worker %u: io_uring has no IORING_OP_RECV; Linux 5.6 or newer is "
			  "required",
			  w->id);
		return -EOPNOTSUPP;
	}
	if (strcmp(want, "single") == 0) {
		w->recv_mode = RECV_MODE_SINGLE;
		log_info("worker %u: recv_mode single: single-shot recv per connection "
			 "(server.recv_mode = single)",
			 w->id);
		return 0;
	}
	int rc = try_bufring(w, why, sizeof(why));
	if (rc == 0) {
		w->recv_mode = RECV_MODE_BUFRING;
		log_info("worker %u: recv_mode bufring: multishot recv into a provided buffer ring "
			 "(server.recv_mode = %s)",
			 w->id, want);
		return 0;
	}
	if (strcmp(want, "auto") == 0 && kernel_refused(rc)) {
		w->recv_mode = RECV_MODE_SINGLE;
		log_info("worker %u: recv_mode single: single-shot recv per connection "
			 "(server.recv_mode = auto; falling back: %s; bufring needs Linux 6.0)",
			 w->id, why);
		return 0;
	}
	log_error("worker %u: recv_mode bufring unavailable: %s%s", w->id, why,
		  kernel_refused(rc) ? "; multishot recv with provided buffer rings needs Linux "
				       "6.0 or newer (or set server.recv_mode = single or auto)"
				     : "");
	return rc;
}

void recv_teardown(struct worker *w)
{
	recv_ring_teardown(w);
}

int recv_conn_init(struct worker *w, struct conn *c)
{
	if (w->recv_mode == RECV_MODE_SINGLE && recv_single_conn_init(w, c) < 0)
		return -ENOMEM;
	return 0;
}

void recv_conn_free(struct worker *w, struct conn *c)
{
	if (w->recv_mode == RECV_MODE_SINGLE)
		recv_single_conn_free(w, c);
}

void recv_arm(struct worker *w, struct conn *c)
{
	if (w->recv_mode == RECV_MODE_SINGLE)
		recv_single_arm(w, c);
	else
		recv_ring_arm(w, c);
}

void recv_complete(struct worker *w, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (w->recv_mode == RECV_MODE_SINGLE)
		recv_single_complete(w, c, cqe);
	else
		recv_ring_complete(w, c, cqe);
}

void recv_orphan(struct worker *w, const struct io_uring_cqe *cqe)
{
	/* A single-mode connection is only finalized with no recv armed: nothing to return. */
	if (w->recv_mode == RECV_MODE_BUFRING)
		recv_ring_orphan(w, cqe);
}

void recv_batch_done(struct worker *w)
{
	if (w->recv_mode == RECV_MODE_BUFRING)
		recv_ring_batch_done(w);
}

/* ---- shared by both strategies ---- */

void recv_deliver(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
	if (c->closing)
		return; /* closed earlier in this batch: the bytes have nowhere to go */
	if (c->ssl)
		conn_recv_tls(w, c, p, n);
	else if (c->ws)
		conn_recv_ws(w, c, p, n);
	else
		conn_recv_bytes(w, c, p, n);
	recv_limit_charge(w, c, n);
}

/* Whether a recv's end (res <= 0) is the client going away rather than a fault. */
static bool recv_end_is_eof(const struct conn *c, int res)
{
	if (res == 0 || res == -ECONNRESET)
		return true;
	/*
	 * On a kTLS socket the kernel hands a plain recv application data only;
	 * any other record fails it with EIO. The record a departing client
	 * sends is close_notify (Go's tls.Conn.Close does), so this is the
	 * usual end of such a connection, not a read error. A KeyUpdate, which
	 * the kernel cannot follow, fails the recv the same way; the two cannot
	 * be told apart here, and either way the connection cannot go on (the
	 * client reconnects after a KeyUpdate).
	 */
	return res == -EIO && c->kernel_tls;
}

void recv_ended(struct worker *w, struct conn *c, int res)
{
	worker_conn_close(w, c, recv_end_is_eof(c, res) ? CLOSE_EOF : CLOSE_READ_ERROR);
}
