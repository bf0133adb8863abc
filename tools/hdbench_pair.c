// SPDX-License-Identifier: MIT
/*
 * hdbench's pair engine: each thread runs one epoll loop over its pairs'
 * nonblocking sockets. A sender keeps at most --window packets in flight,
 * paced to --rate if asked; its receiver checks every packet (source, length,
 * order, bytes) and, with --ack, acknowledges it back through the relay.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "hdbench.h"

#include "derp_tls.h"

static const char *conn_role(const struct bench_conn *c)
{
	return c->is_sender ? "sender" : "receiver";
}

static void conn_set_want_write(struct bench_conn *c, bool want)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };

	if (c->want_write == want)
		return;
	if (want)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(c->pair->thread->epfd, EPOLL_CTL_MOD, c->client.fd, &ev) == 0)
		c->want_write = want;
}

static void pair_finish(struct bench_pair *p, uint64_t now)
{
	struct bench_thread *t = p->thread;

	if (p->finished)
		return;
	p->finished = true;
	t->active--;
	if (t->active == 0)
		t->end_ns = now;
}

/*
 * A connection ended or failed while the run was going on. The pair stops;
 * what it did not deliver counts as lost.
 */
static void conn_fail(struct bench_conn *c, const char *why)
{
	struct bench_pair *p = c->pair;

	if (c->closed)
		return;
	c->closed = true;
	epoll_ctl(p->thread->epfd, EPOLL_CTL_DEL, c->client.fd, NULL);
	if (p->failed)
		return;
	p->failed = true;
	p->thread->conn_errors++;
	report_failure("pair %u %s connection: %s (sent %" PRIu64 ", received %" PRIu64 ")", p->id,
		       conn_role(c), why, p->sent, p->arrived);
	pair_finish(p, now_ns());
}

static void conn_flush(struct bench_conn *c)
{
	ssize_t n;

	while (!c->closed && c->out_head < c->out_tail) {
		n = derp_client_send_some(&c->client, c->out + c->out_head,
					  c->out_tail - c->out_head);
		if (n > 0) {
			c->out_head += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/*
			 * A TLS write may wait for a read instead (POLLIN, always
			 * watched): the next readable event reads and flushes again.
			 */
			conn_set_want_write(c, c->client.io_wait == POLLOUT || c->read_wants_write);
			return;
		}
		conn_fail(c, n < 0 ? strerror(errno) : "send returned 0");
		return;
	}
	c->out_head = 0;
	c->out_tail = 0;
	if (!c->closed)
		conn_set_want_write(c, c->read_wants_write);
}

/* Space for n more bytes at the end of the write queue, or NULL if it is full. */
static uint8_t *conn_out_reserve(struct bench_conn *c, size_t n)
{
	if (c->out_cap - c->out_tail < n && c->out_head > 0) {
		memmove(c->out, c->out + c->out_head, c->out_tail - c->out_head);
		c->out_tail -= c->out_head;
		c->out_head = 0;
	}
	if (c->out_cap - c->out_tail < n)
		return NULL;
	return c->out + c->out_tail;
}

static void conn_queue_pong(struct bench_conn *c, const uint8_t *data)
{
	uint8_t *dst = conn_out_reserve(c, PONG_FRAME_LEN);

	/* Pongs are best effort, like the relay's own; never displace data. */
	if (!dst) {
		report_note("pair %u %s: write queue full, Pong dropped", c->pair->id,
			    conn_role(c));
		return;
	}
	if (c->pair->thread->bench->opts.hd)
		c->out_tail += hd_build_ping(dst, PONG_FRAME_LEN, HD_FRAME_PONG, data);
	else
		c->out_tail += derp_build_pong(dst, PONG_FRAME_LEN, data);
}

/* ---- the traffic of one pair ---- */

/* Packets that still hold a place in the window: not received, or with --ack not acknowledged. */
static uint64_t pair_in_flight(const struct bench_pair *p)
{
	return p->sent - (p->thread->bench->opts.ack ? p->acked : p->next_seq);
}

static bool pair_done_sending(const struct bench_pair *p, uint64_t now)
{
	const struct bench *b = p->thread->bench;

	if (b->opts.duration_s > 0)
		return now >= b->send_end_ns;
	return p->sent >= b->opts.count;
}

/*
 * Paced pairs are spread evenly over each interval (pair i is i/pairs of an
 * interval late), so the offered load is smooth rather than one burst of
 * every pair at once, which would measure hdbench's own queueing.
 */
static double pair_phase(const struct bench_pair *p)
{
	return (double)p->id / (double)p->thread->bench->opts.pairs;
}

static bool pair_may_send(const struct bench_pair *p, uint64_t now)
{
	const struct bench *b = p->thread->bench;
	double due;

	if (pair_done_sending(p, now))
		return false;
	if (pair_in_flight(p) >= b->opts.window)
		return false;
	if (b->opts.rate > 0) {
		/* Packet k is due at start + (k + phase) / rate. */
		due = (double)(now - b->start_ns) * b->opts.rate / (double)NSEC_PER_SEC;
		if ((double)p->sent + pair_phase(p) > due)
			return false;
	}
	return true;
}

/*
 * Next time (ns) a rate-paced pair may send, or UINT64_MAX if only an
 * arrival (or nothing) can let it send again.
 */
static uint64_t pair_next_due(const struct bench_pair *p, uint64_t now)
{
	const struct bench *b = p->thread->bench;

	if (b->opts.rate <= 0 || p->finished || pair_done_sending(p, now) ||
	    pair_in_flight(p) >= b->opts.window)
		return UINT64_MAX;
	return b->start_ns +
	       (uint64_t)(((double)p->sent + pair_phase(p)) * (double)NSEC_PER_SEC / b->opts.rate);
}

/*
 * Writes one data frame straight into the sender's write queue. Through the
 * relay it is a SendPacket to the receiver; direct, it is the RecvPacket the
 * relay would have produced, so the receiver sees identical bytes.
 */
static bool pair_queue_packet(struct bench_pair *p, uint64_t now)
{
	const struct bench *b = p->thread->bench;
	uint8_t *dst = conn_out_reserve(&p->tx, b->frame_len);

	if (!dst)
		return false;
	if (b->opts.hd) {
		/* The same payload after HD's Send header: the peer id, not the key. */
		hd_build_routed_header(dst, b->frame_len, HD_FRAME_SEND, 0, p->rx.hd_peer_id,
				       b->opts.size);
		payload_build(dst + HD_SEND_HDR_LEN, b->opts.size, p->id, p->sent, now);
		p->tx.out_tail += b->frame_len;
		p->sent++;
		return true;
	}
	if (b->opts.direct) {
		derp_frame_header_put(dst, DERP_FRAME_RECV_PACKET, KEY_LEN + b->opts.size);
		memcpy(dst + DERP_FRAME_HDR_LEN, p->tx.client.pub, KEY_LEN);
	} else {
		derp_frame_header_put(dst, DERP_FRAME_SEND_PACKET, KEY_LEN + b->opts.size);
		memcpy(dst + DERP_FRAME_HDR_LEN, p->rx.client.pub, KEY_LEN);
	}
	payload_build(dst + DERP_FRAME_HDR_LEN + KEY_LEN, b->opts.size, p->id, p->sent, now);
	p->tx.out_tail += b->frame_len;
	p->sent++;
	return true;
}

static void pair_check_finished(struct bench_pair *p, uint64_t now)
{
	if (!p->finished && pair_done_sending(p, now) && pair_in_flight(p) == 0)
		pair_finish(p, now);
}

/* Fills the window (as far as pacing allows) and pushes the bytes out. */
static void pair_pump(struct bench_pair *p, uint64_t now)
{
	if (p->finished || p->tx.closed)
		return;
	while (pair_may_send(p, now)) {
		if (!pair_queue_packet(p, now))
			break;
	}
	conn_flush(&p->tx);
	pair_check_finished(p, now);
}

/*
 * --ack, receiver: queues the acknowledgement of one packet. The write queue
 * has room for a whole window of them, and no more than a window can be
 * waiting, so this cannot fail short of a bug.
 */
static void pair_queue_ack(struct bench_pair *p, uint64_t seq, uint64_t sent_at)
{
	bool hd = p->thread->bench->opts.hd;
	uint8_t *dst = conn_out_reserve(&p->rx, hd ? HD_ACK_FRAME_LEN : ACK_FRAME_LEN);

	if (!dst) {
		report_failure("pair %u: no room to acknowledge packet %" PRIu64, p->id, seq);
		return;
	}
	if (hd) {
		dst += hd_build_routed_header(dst, HD_ACK_FRAME_LEN, HD_FRAME_SEND, 0,
					      p->tx.hd_peer_id, ACK_PAYLOAD_LEN);
		put_be64(dst, seq);
		put_be64(dst + 8, sent_at);
		p->rx.out_tail += HD_ACK_FRAME_LEN;
		return;
	}
	derp_frame_header_put(dst, DERP_FRAME_SEND_PACKET, KEY_LEN + ACK_PAYLOAD_LEN);
	memcpy(dst + DERP_FRAME_HDR_LEN, p->tx.client.pub, KEY_LEN);
	put_be64(dst + DERP_FRAME_HDR_LEN + KEY_LEN, seq);
	put_be64(dst + DERP_FRAME_HDR_LEN + KEY_LEN + 8, sent_at);
	p->rx.out_tail += ACK_FRAME_LEN;
}

/* Checks the sequence number; counts gaps and late packets. */
static void pair_verify_order(struct bench_pair *p, uint64_t seq)
{
	if (seq == p->next_seq) {
		p->next_seq++;
		return;
	}
	if (seq > p->next_seq) {
		report_failure("pair %u: packets %" PRIu64 "..%" PRIu64
			       " missing (next arrival was %" PRIu64 ")",
			       p->id, p->next_seq, seq - 1, seq);
		p->next_seq = seq + 1;
		return;
	}
	p->reordered++;
	report_failure("pair %u: packet %" PRIu64 " arrived after packet %" PRIu64
		       " (reordered or duplicated)",
		       p->id, seq, p->next_seq - 1);
}

/* Checks one packet from the pair's sender (the source is checked already) on the receiver. */
static void pair_verify_payload(struct bench_pair *p, const uint8_t *pkt, size_t pkt_len)
{
	const struct bench *b = p->thread->bench;
	uint64_t now = now_ns(), seq, sent_at;
	ssize_t bad;

	if (pkt_len != b->opts.size) {
		p->corrupt++;
		report_failure("pair %u: packet of %zu bytes, want %u", p->id, pkt_len,
			       b->opts.size);
		return;
	}
	seq = get_be64(pkt + PAYLOAD_SEQ_OFF);
	sent_at = get_be64(pkt + PAYLOAD_TIME_OFF);
	if (seq >= p->sent) {
		p->corrupt++;
		report_failure("pair %u: sequence number %" PRIu64 " was never sent (sent %" PRIu64
			       ")",
			       p->id, seq, p->sent);
		return;
	}
	p->arrived++;
	p->thread->last_progress_ns = now;
	pair_verify_order(p, seq);

	bad = payload_verify_body(pkt, pkt_len, p->id, seq);
	if (bad >= 0) {
		p->corrupt++;
		report_failure("pair %u: packet %" PRIu64 " corrupt at byte %zd of %zu", p->id, seq,
			       bad, pkt_len);
		return;
	}
	if (sent_at > now || sent_at < b->start_ns) {
		p->corrupt++;
		report_failure("pair %u: packet %" PRIu64 " has an impossible send time", p->id,
			       seq);
		return;
	}
	if (b->opts.ack)
		pair_queue_ack(p, seq, sent_at);
	else
		hist_record(&p->thread->hist, now - sent_at);
}

/* Checks one RecvPacket payload (source key + packet) on the receiver. */
static void pair_verify_packet(struct bench_pair *p, const uint8_t *frame, uint32_t len)
{
	char key_short[8];

	if (len < KEY_LEN || memcmp(frame, p->tx.client.pub, KEY_LEN) != 0) {
		p->misrouted++;
		if (len < KEY_LEN)
			snprintf(key_short, sizeof(key_short), "none");
		else
			key_to_short(frame, key_short);
		report_failure("pair %u: RecvPacket from %s, not from the pair's sender", p->id,
			       key_short);
		return;
	}
	pair_verify_payload(p, frame + KEY_LEN, len - KEY_LEN);
}

/*
 * --ack, sender: an acknowledgement (sequence and send time) from the pair's
 * receiver, source checked already; records the round trip.
 */
static void pair_verify_ack_payload(struct bench_pair *p, const uint8_t *ack)
{
	uint64_t now = now_ns(), seq, sent_at;

	seq = get_be64(ack);
	sent_at = get_be64(ack + 8);
	if (seq != p->acked || seq >= p->sent || sent_at > now) {
		p->reordered++;
		report_failure("pair %u: acknowledgement of packet %" PRIu64 ", want %" PRIu64,
			       p->id, seq, p->acked);
		return;
	}
	p->acked++;
	p->thread->last_progress_ns = now;
	hist_record(&p->thread->hist, now - sent_at);
}

static void pair_verify_ack(struct bench_pair *p, const uint8_t *frame, uint32_t len)
{
	if (len != KEY_LEN + ACK_PAYLOAD_LEN || memcmp(frame, p->rx.client.pub, KEY_LEN) != 0) {
		p->misrouted++;
		report_failure("pair %u: acknowledgement of %u bytes not from the pair's receiver",
			       p->id, len);
		return;
	}
	pair_verify_ack_payload(p, frame + KEY_LEN);
}

static void conn_unexpected_frame(struct bench_conn *c, uint8_t type, uint32_t len, const char *why)
{
	const char *name =
	    c->pair->thread->bench->opts.hd ? hd_frame_type_name(type) : derp_frame_type_name(type);

	c->pair->unexpected++;
	report_failure("pair %u %s connection: unexpected %s frame (type 0x%02x, %u bytes)%s%s",
		       c->pair->id, conn_role(c), name, type, len, why ? ": " : "", why ? why : "");
}

/* --proto hd: a Recv on either side, checked as a RecvPacket is, by peer id instead of key. */
static void conn_handle_hd_recv(struct bench_conn *c, const uint8_t *payload, uint32_t len)
{
	struct bench_pair *p = c->pair;
	const struct bench_conn *from = c->is_sender ? &p->rx : &p->tx;
	struct hd_routed rt;

	if (hd_parse_routed(HD_FRAME_RECV, payload, len, &rt) < 0 ||
	    rt.peer_id != from->hd_peer_id) {
		p->misrouted++;
		report_failure("pair %u %s: Recv from peer id %u, want %u", p->id, conn_role(c),
			       len >= 2 ? (payload[0] << 8 | payload[1]) : 0, from->hd_peer_id);
		return;
	}
	if (!c->is_sender) {
		pair_verify_payload(p, rt.packet, rt.packet_len);
	} else if (rt.packet_len != ACK_PAYLOAD_LEN) {
		p->misrouted++;
		report_failure("pair %u: acknowledgement of %u bytes, want %d", p->id,
			       rt.packet_len, ACK_PAYLOAD_LEN);
	} else {
		pair_verify_ack_payload(p, rt.packet);
	}
}

static void conn_handle_hd_frame(struct bench_conn *c, uint8_t type, const uint8_t *payload,
				 uint32_t len)
{
	struct hd_reason_msg rm;
	struct hd_peer_info pi;

	switch (type) {
	case HD_FRAME_RECV:
		if (c->is_sender && !c->pair->thread->bench->opts.ack)
			conn_unexpected_frame(c, type, len, "nobody sends to the sender");
		else
			conn_handle_hd_recv(c, payload, len);
		break;
	case HD_FRAME_PING:
		if (len != 8)
			conn_unexpected_frame(c, type, len, "Ping not of 8 bytes");
		else
			conn_queue_pong(c, payload);
		break;
	case HD_FRAME_KEEP_ALIVE:
	case HD_FRAME_PONG:
	case HD_FRAME_PEER_INFO:
		break;
	case HD_FRAME_PEER_GONE:
		if (hd_parse_peer(type, payload, len, &pi) == 0)
			report_note("pair %u %s: relay says peer id %u is gone (reason %u)",
				    c->pair->id, conn_role(c), pi.peer_id, pi.reason);
		break;
	case HD_FRAME_CLOSE:
		if (hd_parse_reason(type, payload, len, &rm) == 0)
			report_note("pair %u %s: relay closes: %s: %.*s", c->pair->id, conn_role(c),
				    hd_reason_name(rm.reason), (int)rm.text_len, rm.text);
		break;
	default:
		if (type < HD_FRAME_OPTIONAL_MIN)
			conn_unexpected_frame(c, type, len, NULL);
		break;
	}
}

static void conn_handle_frame(struct bench_conn *c, uint8_t type, const uint8_t *payload,
			      uint32_t len)
{
	char key_short[8];

	switch (type) {
	case DERP_FRAME_RECV_PACKET:
		if (c->is_sender && c->pair->thread->bench->opts.ack)
			pair_verify_ack(c->pair, payload, len);
		else if (c->is_sender)
			conn_unexpected_frame(c, type, len, "nobody sends to the sender");
		else
			pair_verify_packet(c->pair, payload, len);
		break;
	case DERP_FRAME_PING:
		if (len < 8)
			conn_unexpected_frame(c, type, len, "Ping shorter than 8 bytes");
		else
			conn_queue_pong(c, payload);
		break;
	case DERP_FRAME_KEEP_ALIVE:
	case DERP_FRAME_PONG:
	case DERP_FRAME_PEER_PRESENT:
		break;
	case DERP_FRAME_HEALTH:
		if (len > 0)
			report_note("pair %u %s: relay health message: %.*s", c->pair->id,
				    conn_role(c), (int)(len > 200 ? 200 : len),
				    (const char *)payload);
		break;
	case DERP_FRAME_PEER_GONE:
		if (len >= KEY_LEN)
			key_to_short(payload, key_short);
		else
			snprintf(key_short, sizeof(key_short), "?");
		report_note("pair %u %s: relay says peer %s is gone (reason %d)", c->pair->id,
			    conn_role(c), key_short, len > KEY_LEN ? payload[KEY_LEN] : 0);
		break;
	case DERP_FRAME_RESTARTING:
		report_note("pair %u %s: relay says it is restarting", c->pair->id, conn_role(c));
		break;
	default:
		conn_unexpected_frame(c, type, len, NULL);
		break;
	}
}

/*
 * Reads until the socket has nothing more. Everything buffered must be
 * consumed now: with nothing left on the socket, epoll would not wake us for
 * frames already sitting in the reader.
 */
static void conn_read_frames(struct bench_conn *c)
{
	const uint8_t *payload;
	uint32_t len;
	uint8_t type;
	int ret;

	bool hd = c->pair->thread->bench->opts.hd;

	while (!c->closed) {
		if (hd)
			ret = hd_conn_read_frame(c, 0, &type, &payload, &len);
		else
			ret = derp_client_read_frame(&c->client, 0, &type, &payload, &len);
		if (ret == 0) {
			/* TLS only: the session must write before it can read on. */
			c->read_wants_write = c->client.io_wait == POLLOUT;
			if (c->read_wants_write)
				conn_set_want_write(c, true);
			break;
		}
		if (ret < 0) {
			conn_fail(c, errno == 0 ? "closed by the other end" : strerror(errno));
			return;
		}
		if (hd)
			conn_handle_hd_frame(c, type, payload, len);
		else
			conn_handle_frame(c, type, payload, len);
	}
	/* Pongs go out now, also on a finished pair (pair_pump no longer flushes it). */
	if (c->out_tail > c->out_head)
		conn_flush(c);
}

static void conn_handle_events(struct bench_conn *c, uint32_t events)
{
	if (c->closed)
		return;
	if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ||
	    ((events & EPOLLOUT) && c->read_wants_write))
		conn_read_frames(c);
	if (!c->closed && (events & EPOLLOUT))
		conn_flush(c);
	/* Arrivals open the window; a drained queue makes room. */
	pair_pump(c->pair, now_ns());
}

/* ---- event loop ---- */

static uint64_t thread_in_flight(const struct bench_thread *t)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < t->npairs; i++) {
		if (!t->pairs[i]->finished)
			n += pair_in_flight(t->pairs[i]);
	}
	return n;
}

/* True when packets are in flight and nothing arrived for the stall timeout. */
static bool thread_stalled(struct bench_thread *t, uint64_t now)
{
	uint64_t timeout = t->bench->opts.stall_timeout_ns, in_flight;

	if (now - t->last_progress_ns < timeout)
		return false;
	in_flight = thread_in_flight(t);
	if (in_flight == 0) {
		/* Idle between paced packets is not a stall. */
		t->last_progress_ns = now;
		return false;
	}
	report_failure("no packet arrived for %.1f s with %" PRIu64
		       " packets in flight on %u unfinished pairs; giving up",
		       (double)timeout / (double)NSEC_PER_SEC, in_flight, t->active);
	return true;
}

static uint64_t thread_next_wakeup(const struct bench_thread *t, uint64_t now)
{
	const struct bench *b = t->bench;
	uint64_t wake = t->last_progress_ns + b->opts.stall_timeout_ns, due;

	if (b->opts.duration_s > 0 && now < b->send_end_ns && b->send_end_ns < wake)
		wake = b->send_end_ns;
	if (b->opts.rate > 0) {
		for (uint32_t i = 0; i < t->npairs; i++) {
			due = pair_next_due(t->pairs[i], now);
			if (due < wake)
				wake = due;
		}
	}
	return wake;
}

static int thread_wait(struct bench_thread *t, struct epoll_event *events, uint64_t now)
{
	uint64_t wake = thread_next_wakeup(t, now);
	uint64_t wait = wake > now ? wake - now : 0;
	struct timespec ts = { .tv_sec = (time_t)(wait / NSEC_PER_SEC),
			       .tv_nsec = (long)(wait % NSEC_PER_SEC) };
	int n;

	n = epoll_pwait2(t->epfd, events, EVENTS_MAX, &ts, NULL);
	if (n < 0 && errno == ENOSYS)
		n = epoll_wait(t->epfd, events, EVENTS_MAX, (int)((wait + 999999) / 1000000));
	return n;
}

/*
 * Arrivals drive sending, except where time does: paced pairs become due, and
 * at the end of a --duration run pairs with nothing in flight are finished.
 */
static bool thread_needs_sweep(struct bench_thread *t, uint64_t now)
{
	const struct bench *b = t->bench;

	if (b->opts.rate > 0)
		return true;
	if (b->opts.duration_s > 0 && !t->send_end_seen && now >= b->send_end_ns) {
		t->send_end_seen = true;
		return true;
	}
	return false;
}

void *thread_main(void *arg)
{
	struct bench_thread *t = arg;
	struct epoll_event events[EVENTS_MAX];
	uint64_t now;
	int n;

	pthread_barrier_wait(&t->bench->start_barrier);
	now = now_ns();
	t->last_progress_ns = now;
	/*
	 * The handshake may have buffered frames already (a Ping right after
	 * ServerInfo, say); epoll reports only new bytes, so drain them first.
	 */
	for (uint32_t i = 0; i < t->npairs; i++) {
		conn_read_frames(&t->pairs[i]->tx);
		conn_read_frames(&t->pairs[i]->rx);
	}
	for (uint32_t i = 0; i < t->npairs; i++)
		pair_pump(t->pairs[i], now);

	while (t->active > 0) {
		now = now_ns();
		if (thread_needs_sweep(t, now)) {
			for (uint32_t i = 0; i < t->npairs; i++)
				pair_pump(t->pairs[i], now);
			if (t->active == 0)
				break;
		}
		if (thread_stalled(t, now)) {
			t->timed_out = true;
			/* Rates count the time packets flowed, not the wait for lost ones. */
			t->end_ns = t->last_progress_ns;
			break;
		}
		n = thread_wait(t, events, now);
		if (n < 0 && errno != EINTR) {
			report_failure("epoll_wait: %s", strerror(errno));
			t->timed_out = true;
			t->end_ns = now_ns();
			break;
		}
		for (int i = 0; i < n; i++)
			conn_handle_events(events[i].data.ptr, events[i].events);
	}
	return NULL;
}
