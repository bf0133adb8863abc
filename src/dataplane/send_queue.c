// SPDX-License-Identifier: MIT
/*
 * Outgoing frames of one connection: a FIFO of packet buffers, bounded per
 * kind, and at most one vectored send in flight.
 *
 * Drop policy, as derper: when a destination already holds queue_depth
 * packets of a kind (data or disco), the oldest one of that kind not yet
 * being written is dropped (queue_head) to make room for the new one. So a
 * slow reader loses its own oldest packets and never blocks the sender.
 * Server-generated frames (PeerGone, Pong, KeepAlive ...) are bounded too,
 * except towards mesh watchers, which must never miss a PeerPresent/PeerGone.
 *
 * That is limits.queue_policy = headdrop. Under codel (the default) frames
 * are queued in c->fq (fq_codel.c: a byte budget, fair queueing between
 * sources, sojourn-time drops) and moved to the FIFO only to be sent, one
 * send's worth (64 KiB at most) once the FIFO is empty; until a connection
 * gets its first data packet, its server frames and disco use the FIFO as
 * under headdrop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "hd_frame.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

#define CTRL_QUEUE_LIMIT 1024
/* DRR quantum: one MTU-sized RecvPacket, so flows alternate packet by packet. */
#define FQ_QUANTUM 1500
/* Frame bytes per send under codel (see codel_refill): 46 MTU-sized packets. */
#define CODEL_SEND_BYTES 65536

static void count_drop(struct worker *w, enum drop_reason why, const struct pktbuf *pb)
{
	enum drop_kind kind = pb->kind == PKT_KIND_DISCO ? DROP_KIND_DISCO : DROP_KIND_OTHER;
	stat_add(&w->stats.packets_dropped[why][kind], 1);
	stat_add(&w->stats.bytes_dropped[why][kind], pb->len > 37 ? pb->len - 37 : 0);
}

/* Frames waiting to be sent, in the FIFO or in the codel queue. */
static bool has_queued(const struct conn *c)
{
	return c->q_head || (c->fq && !fq_empty(c->fq));
}

/* Transformed bytes (TLS, WebSocket) waiting to be written, besides the queued frames. */
static bool wire_pending(const struct conn *c)
{
	return c->tls_out || (c->ssl && tls_pending_out(c->ssl)) ||
	       (c->ws && ws_conn_control_due(c->ws));
}

bool sendq_empty(const struct conn *c)
{
	return !has_queued(c) && !c->inflight && !wire_pending(c);
}

/* Unlinks the oldest buffer of a kind that has not started to go out. */
static struct pktbuf *unlink_oldest(struct conn *c, uint8_t kind)
{
	struct pktbuf *prev = NULL;
	for (struct pktbuf *pb = c->q_head; pb; prev = pb, pb = pb->next) {
		if (pb->kind != kind || pb->sent)
			continue;
		if (prev)
			prev->next = pb->next;
		else
			c->q_head = pb->next;
		if (c->q_tail == pb)
			c->q_tail = prev;
		c->q_count[kind]--;
		pb->next = NULL;
		return pb;
	}
	return NULL;
}

static void mark_dirty(struct worker *w, struct conn *c)
{
	if (c->in_dirty)
		return;
	c->in_dirty = true;
	c->dirty_next = w->dirty;
	w->dirty = c;
}

/* A server frame that will never be written; a Pong frees the connection's Pong slot. */
static void drop_unsent(struct worker *w, struct conn *c, struct pktbuf *pb, enum drop_reason why)
{
	if (pb->kind == PKT_KIND_CTRL) {
		if (pb->frame[0] == DERP_FRAME_PONG)
			c->pong_pending = false;
	} else {
		count_drop(w, why, pb);
	}
	worker_release_buf(w, pb);
}

static void fifo_append(struct conn *c, struct pktbuf *pb)
{
	pb->next = NULL;
	if (c->q_tail)
		c->q_tail->next = pb;
	else
		c->q_head = pb;
	c->q_tail = pb;
	c->q_count[pb->kind]++;
}

/* The codel queue's parameters, from the live configuration. */
static void fq_params_get(const struct worker *w, const struct conn *c, struct fq_params *p)
{
	const struct relay_settings *set = &w->relay->settings;
	uint64_t budget = settings_u32(&set->queue_bytes);
	/* One destination never holds more than a quarter of the worker's pool. */
	if (budget > w->pool.bytes_limit / 4)
		budget = w->pool.bytes_limit / 4;
	p->target_ns = (uint64_t)settings_u32(&set->codel_target_us) * 1000;
	p->interval_ns = (uint64_t)settings_u32(&set->codel_interval_ms) * 1000000;
	p->byte_limit = (uint32_t)budget;
	p->quantum = FQ_QUANTUM;
	p->disco_limit = settings_u32(&set->queue_depth);
	p->ctrl_limit = c->is_watcher ? 0 : CTRL_QUEUE_LIMIT;
	p->seed = w->fq_seed;
}

struct fq_drop_ctx {
	struct worker *w;
	struct conn *c;
};

static void fq_drop(void *arg, struct pktbuf *pb, enum fq_drop_why why)
{
	struct fq_drop_ctx *d = arg;
	static const enum drop_reason reason[] = {
		[FQ_DROP_SOJOURN] = DROP_QUEUE_SOJOURN,
		[FQ_DROP_BYTES] = DROP_QUEUE_BYTES,
		[FQ_DROP_CTRL_LIMIT] = DROP_QUEUE_HEAD,
	};
	drop_unsent(d->w, d->c, pb, reason[why]);
}

static void headdrop_push(struct worker *w, struct conn *c, struct pktbuf *pb);

static void codel_push(struct worker *w, struct conn *c, struct pktbuf *pb)
{
	/*
	 * Every connection gets KeepAlives and most get disco; a codel queue
	 * (~1.2 KB) for each of 100,000 idle ones would cost 120 MB. Until data
	 * comes, server frames and disco take the plain FIFO with the same
	 * bounds (1024, queue_depth).
	 */
	if (!c->fq && pb->kind != PKT_KIND_DATA) {
		headdrop_push(w, c, pb);
		return;
	}
	if (!c->fq) {
		/* Once per connection that is ever sent to, not per packet. */
		c->fq = malloc(sizeof(*c->fq));
		if (!c->fq) {
			drop_unsent(w, c, pb, DROP_NO_BUFFER);
			return;
		}
		fq_init(c->fq);
	}
	struct fq_params p;
	fq_params_get(w, c, &p);
	struct fq_drop_ctx d = { w, c };
	fq_enqueue(c->fq, &p, pb, w->now_ns, fq_drop, &d);
	mark_dirty(w, c);
}

/*
 * Moves frames from the codel queue to the FIFO: one send's worth, and only
 * once the FIFO is empty. Frames should wait in the codel queue, where their
 * sojourn time is seen, not in the FIFO: a send of SEND_BATCH 64 KiB frames
 * to a slow reader would hold 4 MiB outside the budget, its frames never
 * counted as standing. So a send covers at most CODEL_SEND_BYTES (and at
 * least one frame).
 */
static void codel_refill(struct worker *w, struct conn *c)
{
	if (!c->fq || c->q_head)
		return;
	struct fq_params p;
	fq_params_get(w, c, &p);
	struct fq_drop_ctx d = { w, c };
	uint32_t bytes = 0;
	for (uint32_t n = 0; n < SEND_BATCH && bytes < CODEL_SEND_BYTES; n++) {
		struct pktbuf *pb = fq_dequeue(c->fq, &p, w->now_ns, fq_drop, &d);
		if (!pb)
			break;
		bytes += pb->len;
		fifo_append(c, pb);
	}
}

void sendq_push(struct worker *w, struct conn *c, struct pktbuf *pb)
{
	if (c->closing) {
		drop_unsent(w, c, pb, DROP_GONE_DISCONNECTED);
		return;
	}
	if (w->queue_codel)
		codel_push(w, c, pb);
	else
		headdrop_push(w, c, pb);
}

static void headdrop_push(struct worker *w, struct conn *c, struct pktbuf *pb)
{
	uint32_t limit = pb->kind == PKT_KIND_CTRL ? CTRL_QUEUE_LIMIT
						   : settings_u32(&w->relay->settings.queue_depth);
	bool unbounded = pb->kind == PKT_KIND_CTRL && c->is_watcher;
	if (!unbounded && c->q_count[pb->kind] >= limit) {
		struct pktbuf *old = unlink_oldest(c, pb->kind);
		if (!old) {
			/* Everything of this kind is mid-write: the new one has to go. */
			drop_unsent(w, c, pb, DROP_QUEUE_TAIL);
			return;
		}
		drop_unsent(w, c, old, DROP_QUEUE_HEAD);
	}
	fifo_append(c, pb);
	mark_dirty(w, c);
}

/* A codel queue that stayed empty this long goes back to malloc. */
#define FQ_IDLE_NS (10 * 1000000000ull)

void sendq_trim(struct conn *c, uint64_t now_ns)
{
	if (c->fq && fq_empty(c->fq) && now_ns - c->fq->last_enq_ns > FQ_IDLE_NS) {
		free(c->fq);
		c->fq = NULL;
	}
}

void sendq_kick(struct worker *w, struct conn *c)
{
	mark_dirty(w, c);
}

/*
 * Server frames come from their own pool: a packet pool filled by data (a
 * slow reader's queue, a burst) must never cost a client its ServerInfo,
 * KeepAlive or Pong. Per connection they are bounded by CTRL_QUEUE_LIMIT.
 */
struct pktbuf *sendq_ctrl_frame(struct worker *w, size_t len)
{
	struct pktbuf *pb = pktbuf_alloc(&w->ctrl_pool, len);
	if (pb)
		pb->kind = PKT_KIND_CTRL;
	return pb;
}

static void count_sent(struct worker *w, struct conn *c, const struct pktbuf *pb);

static struct send_ctx *ctx_get(struct worker *w)
{
	struct send_ctx *ctx = w->free_ctx;
	if (ctx) {
		w->free_ctx = ctx->next;
		return ctx;
	}
	return malloc(sizeof(*ctx));
}

static void ctx_put(struct worker *w, struct send_ctx *ctx)
{
	ctx->next = w->free_ctx;
	w->free_ctx = ctx;
}

/* Most plaintext encrypted (or framed) in one flush, bounding what is held per connection. */
#define TLS_FLUSH_MAX (256 * 1024)

/*
 * The bytes of a plain WebSocket connection's send being built. With TLS
 * the engine holds them instead.
 */
struct wire_buf {
	uint8_t *p;
	size_t len, cap;
};

/* Room for n more bytes in o. */
static int wire_grow(struct wire_buf *o, size_t n)
{
	if (o->len + n <= o->cap)
		return 0;
	size_t cap = o->cap ? o->cap * 2 : 4096;
	while (cap < o->len + n)
		cap *= 2;
	uint8_t *b = realloc(o->p, cap);
	if (!b)
		return -1;
	o->p = b;
	o->cap = cap;
	return 0;
}

/* Hands plaintext to the wire: TLS encrypts it, else it is appended to o. */
static int wire_put(struct conn *c, struct wire_buf *o, const uint8_t *p, size_t n)
{
	if (c->ssl)
		return tls_write(c->ssl, p, n);
	if (wire_grow(o, n) < 0)
		return -1;
	memcpy(o->p + o->len, p, n);
	o->len += n;
	return 0;
}

/*
 * A frame too big for a batch goes by itself. On a WebSocket connection it
 * is cut into messages of at most WS_MESSAGE_MAX bytes: the client reads
 * messages as one stream, and Go's websocket library, which Tailscale's
 * clients use, refuses messages over 32 KiB unless told otherwise.
 */
static int wire_big_message(struct conn *c, struct wire_buf *o, const uint8_t *p, size_t n)
{
	if (!c->ws)
		return wire_put(c, o, p, n);
	while (n) {
		size_t part = n < WS_MESSAGE_MAX ? n : WS_MESSAGE_MAX;
		uint8_t hdr[WS_SERVER_HDR_MAX];
		size_t hlen = ws_server_header(hdr, WS_OP_BINARY, part);
		if (wire_put(c, o, hdr, hlen) < 0 || wire_put(c, o, p, part) < 0)
			return -1;
		p += part;
		n -= part;
	}
	return 0;
}

/* The head frame is in the wire bytes: counted as sent and released. */
static void take_written(struct worker *w, struct conn *c)
{
	struct pktbuf *pb = c->q_head;
	c->q_head = pb->next;
	c->q_count[pb->kind]--;
	count_sent(w, c, pb);
	worker_release_buf(w, pb);
}

/*
 * The bytes of the frames at the head of the queue that go together in one
 * TLS record or WebSocket message (at most max); 0 when the first frame is
 * bigger than that by itself.
 */
static size_t batch_len(const struct conn *c, size_t max)
{
	size_t fill = 0;
	for (const struct pktbuf *pb = c->q_head; pb; pb = pb->next) {
		size_t rest = pb->len - pb->sent;
		if (fill + rest > max)
			break;
		fill += rest;
	}
	return fill;
}

/*
 * A plain WebSocket connection's send buffer, sized once for what this flush
 * may write (frames up to TLS_FLUSH_MAX past a batch, a header each, the
 * control frames), so that building it copies every byte once.
 */
static int wire_reserve(const struct conn *c, struct wire_buf *o)
{
	size_t bytes = WS_CONTROL_OUT_MAX, frames = 0;
	for (const struct pktbuf *pb = c->q_head; pb && bytes < TLS_FLUSH_MAX + TLS_PLAIN_CHUNK;
	     pb = pb->next) {
		bytes += pb->len - pb->sent;
		frames++;
	}
	size_t headers = (frames + bytes / WS_MESSAGE_MAX + 1) * WS_SERVER_HDR_MAX;
	o->p = malloc(bytes + headers);
	o->cap = o->p ? bytes + headers : 0;
	return o->p ? 0 : -1;
}

/*
 * TLS and WebSocket: queued frames are copied in record-sized batches (so
 * many small frames share a record and a message), framed and encrypted,
 * released at once, and the result goes out in one send. A partly sent one
 * is finished first. WebSocket control frames due (pong, close) go first;
 * once the close is sent, no data follows it.
 */
static int wire_encode_queue(struct worker *w, struct conn *c)
{
	struct wire_buf o = { 0 };
	/* A batch and its message header fit one record. */
	size_t batch_max = TLS_PLAIN_CHUNK - (c->ws ? WS_SERVER_HDR_MAX : 0);
	size_t total = 0;

	if (!c->ssl && wire_reserve(c, &o) < 0)
		return -1;
	if (c->ws && ws_conn_control_due(c->ws)) {
		uint8_t ctrl[WS_CONTROL_OUT_MAX];
		size_t n = ws_conn_take_control(c->ws, ctrl, sizeof(ctrl));
		if (wire_put(c, &o, ctrl, n) < 0)
			goto fail;
	}
	while (c->q_head && total < TLS_FLUSH_MAX && !(c->ws && c->ws->close_sent)) {
		size_t fill = batch_len(c, batch_max);
		if (!fill) {
			struct pktbuf *pb = c->q_head;
			size_t rest = pb->len - pb->sent;
			if (wire_big_message(c, &o, pb->frame + pb->sent, rest) < 0)
				goto fail;
			total += rest;
			take_written(w, c);
			continue;
		}
		/* Into a record's plaintext with TLS; else straight into the send buffer. */
		if (!c->ssl && wire_grow(&o, WS_SERVER_HDR_MAX + fill) < 0)
			goto fail;
		uint8_t *dst = c->ssl ? w->tls_plain : o.p + o.len;
		size_t at = c->ws ? ws_server_header(dst, WS_OP_BINARY, fill) : 0;
		for (size_t left = fill; left;) {
			struct pktbuf *pb = c->q_head;
			size_t rest = pb->len - pb->sent;
			memcpy(dst + at, pb->frame + pb->sent, rest);
			at += rest;
			left -= rest;
			take_written(w, c);
		}
		if (c->ssl && tls_write(c->ssl, dst, at) < 0)
			goto fail;
		if (!c->ssl)
			o.len += at;
		total += fill;
	}
	if (!c->q_head)
		c->q_tail = NULL;
	if (!c->ssl) {
		if (!o.len) {
			free(o.p);
			return 0;
		}
		c->tls_out = o.p;
		c->tls_out_len = (uint32_t)o.len;
		c->tls_out_sent = 0;
		return 0;
	}
	size_t n = tls_pending_out(c->ssl);
	if (!n)
		return 0;
	c->tls_out = malloc(n);
	if (!c->tls_out)
		return -1;
	c->tls_out_len = (uint32_t)tls_take_out(c->ssl, c->tls_out, n);
	c->tls_out_sent = 0;
	return 0;
fail:
	free(o.p);
	return -1;
}

static void wire_flush(struct worker *w, struct conn *c, struct io_uring_sqe *sqe,
		       struct send_ctx *ctx)
{
	if (!c->tls_out && wire_encode_queue(w, c) < 0) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, 0);
		ctx_put(w, ctx);
		worker_conn_close(w, c, CLOSE_NO_MEMORY);
		return;
	}
	if (!c->tls_out) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, 0);
		ctx_put(w, ctx);
		return;
	}
	ctx->nbufs = 0;
	ctx->iov[0].iov_base = c->tls_out + c->tls_out_sent;
	ctx->iov[0].iov_len = c->tls_out_len - c->tls_out_sent;
	memset(&ctx->msg, 0, sizeof(ctx->msg));
	ctx->msg.msg_iov = ctx->iov;
	ctx->msg.msg_iovlen = 1;
	c->inflight = ctx;
	c->send_started_ns = w->now_ns;
	io_uring_prep_sendmsg(sqe, c->fd, &ctx->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, conn_udata(OP_SEND, c));
}

static void wire_complete(struct worker *w, struct conn *c, int res)
{
	if (res < 0) {
		if (!c->closing)
			worker_conn_close(w, c, CLOSE_WRITE_ERROR);
		return;
	}
	c->tls_out_sent += (uint32_t)res;
	if (c->tls_out_sent >= c->tls_out_len) {
		free(c->tls_out);
		c->tls_out = NULL;
		c->tls_out_len = c->tls_out_sent = 0;
	}
	if (wire_pending(c) || (has_queued(c) && !(c->ws && c->ws->close_sent))) {
		mark_dirty(w, c);
		return;
	}
	/* The answer to the client's WebSocket close is written: the connection ends. */
	if (c->ws && c->ws->close_sent && !c->closing)
		worker_conn_close(w, c, CLOSE_EOF);
}

/* Starts one vectored send of up to SEND_BATCH queued frames. */
void sendq_flush(struct worker *w, struct conn *c)
{
	if (c->inflight || c->closing)
		return;
	codel_refill(w, c);
	if (!c->q_head && !wire_pending(c))
		return;
	struct io_uring_sqe *sqe = worker_get_sqe(w);
	if (!sqe) {
		mark_dirty(w, c); /* try again next pass */
		return;
	}
	struct send_ctx *ctx = ctx_get(w);
	if (!ctx) {
		/* Give the SQE back as a no-op; the next pass retries. */
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, 0);
		mark_dirty(w, c);
		return;
	}
	if (c->ssl || c->ws) {
		wire_flush(w, c, sqe, ctx);
		return;
	}
	uint32_t n = 0;
	while (c->q_head && n < SEND_BATCH) {
		struct pktbuf *pb = c->q_head;
		c->q_head = pb->next;
		c->q_count[pb->kind]--;
		ctx->bufs[n] = pb;
		ctx->iov[n].iov_base = pb->frame + pb->sent;
		ctx->iov[n].iov_len = pb->len - pb->sent;
		n++;
	}
	if (!c->q_head)
		c->q_tail = NULL;
	ctx->nbufs = n;
	memset(&ctx->msg, 0, sizeof(ctx->msg));
	ctx->msg.msg_iov = ctx->iov;
	ctx->msg.msg_iovlen = n;
	c->inflight = ctx;
	c->send_started_ns = w->now_ns;
	io_uring_prep_sendmsg(sqe, c->fd, &ctx->msg, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, conn_udata(OP_SEND, c));
}

static void count_sent(struct worker *w, struct conn *c, const struct pktbuf *pb)
{
	uint8_t type = pb->frame[0];
	stat_add(&w->stats.frames_sent[type <= 0x16 ? type : 0x16], 1);
	if (pb->kind == PKT_KIND_CTRL) {
		if (!c->is_hd && pb->frame[0] == DERP_FRAME_PONG)
			c->pong_pending = false;
		return;
	}
	uint32_t payload = c->is_hd ? pb->len - HD_FRAME_HDR_LEN - 2
				    : pb->len - DERP_FRAME_HDR_LEN - KEY_LEN;
	c->tx_packets++;
	c->tx_bytes += payload;
	stat_add(&w->stats.packets_sent, 1);
	stat_add(&w->stats.bytes_sent, payload);
}

/*
 * A send finished. Fully written buffers are released; the rest go back to
 * the head of the queue, in order, the first one remembering how much of it
 * has been written.
 */
void sendq_complete(struct worker *w, struct conn *c, int res)
{
	struct send_ctx *ctx = c->inflight;
	c->inflight = NULL;
	if (!ctx)
		return;
	if (c->ssl || c->ws) {
		ctx_put(w, ctx);
		wire_complete(w, c, res);
		return;
	}
	size_t left = res > 0 ? (size_t)res : 0;
	uint32_t i = 0;
	for (; i < ctx->nbufs; i++) {
		struct pktbuf *pb = ctx->bufs[i];
		size_t rest = pb->len - pb->sent;
		if (left < rest) {
			pb->sent += (uint32_t)left;
			break;
		}
		left -= rest;
		count_sent(w, c, pb);
		worker_release_buf(w, pb);
	}
	/* Requeue what is left in front of anything queued meanwhile. */
	struct pktbuf *head = c->q_head;
	bool was_empty = !head;
	for (uint32_t j = ctx->nbufs; j > i; j--) {
		struct pktbuf *pb = ctx->bufs[j - 1];
		pb->next = head;
		head = pb;
		c->q_count[pb->kind]++;
	}
	c->q_head = head;
	if (was_empty && head) {
		struct pktbuf *t = head;
		while (t->next)
			t = t->next;
		c->q_tail = t;
	}
	ctx_put(w, ctx);

	if (res < 0) {
		if (!c->closing) {
			log_debug("conn %u: send failed: %s", c->id, strerror(-res));
			worker_conn_close(w, c, CLOSE_WRITE_ERROR);
		}
		return;
	}
	if (has_queued(c))
		mark_dirty(w, c);
}

static void drop_gone(void *arg, struct pktbuf *pb)
{
	struct fq_drop_ctx *d = arg;
	drop_unsent(d->w, d->c, pb, DROP_GONE_DISCONNECTED);
}

/* Drops everything queued (connection closing). In-flight buffers stay with their send. */
void sendq_discard(struct worker *w, struct conn *c)
{
	struct pktbuf *pb = c->q_head;
	while (pb) {
		struct pktbuf *next = pb->next;
		drop_unsent(w, c, pb, DROP_GONE_DISCONNECTED);
		pb = next;
	}
	c->q_head = c->q_tail = NULL;
	memset(c->q_count, 0, sizeof(c->q_count));
	if (c->fq) {
		struct fq_drop_ctx d = { w, c };
		fq_purge(c->fq, drop_gone, &d);
		free(c->fq);
		c->fq = NULL;
	}
}
