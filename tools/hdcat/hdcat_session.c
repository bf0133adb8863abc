// SPDX-License-Identifier: MIT
/*
 * hdcat's session: the local endpoint's bytes cut into numbered chunks to one
 * HD peer, under a window the peer's acks open, and the peer's chunks written
 * out in order (docs/hdcat.md).
 *
 * The relay delivers one sender's packets to one receiver in order but may
 * drop them when the receiver's queue is full (limits.queue_bytes). The
 * window keeps what we have in flight far below that queue, so a drop means
 * something else went wrong; a gap in the sequence numbers is reported and
 * ends the session instead of corrupting the stream.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hdcat.h"

/*
 * In flight at most 256 KiB or 64 chunks: a quarter of the relay's default
 * per-destination queue (1 MiB), leaving room for the other direction and
 * other senders to the same peer.
 */
#define WINDOW_BYTES  (256 * 1024)
#define WINDOW_CHUNKS 64
/* A stream is read in chunks of this much: large enough to amortize a frame. */
#define STREAM_CHUNK (32 * 1024)
/* The receiver acks once this much of the window is used, or when it runs out of input. */
#define ACK_EVERY_CHUNKS (WINDOW_CHUNKS / 4)
#define ACK_EVERY_BYTES	 (WINDOW_BYTES / 4)

struct session {
	const struct hdcat_opts *o;
	struct hd_client *c;
	struct hdcat_local local;
	bool local_open;
	uint16_t peer;	 /* 0 while listening for the first peer */
	bool peer_ready; /* HELLO exchanged */

	/* sending */
	uint32_t send_next;  /* seq of the next chunk */
	uint32_t send_acked; /* chunks the peer has acked */
	size_t inflight_bytes;
	uint32_t chunk_len[WINDOW_CHUNKS]; /* by seq % WINDOW_CHUNKS, while in flight */
	bool in_eof;
	bool fin_sent;

	/* receiving */
	uint32_t recv_next;
	uint32_t unacked_chunks;
	size_t unacked_bytes;
	bool fin_recv;

	int exit_code; /* -1 while running */
	uint8_t pkt[HD_CLIENT_MAX_PACKET];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 3, 4))) static void finish(struct session *s, int code,
							 const char *fmt, ...)
{
	if (s->exit_code >= 0)
		return;
	s->exit_code = code;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fputs("hdcat: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

static int send_msg(struct session *s, enum hdcat_msg_type type, uint32_t seq, const void *data,
		    size_t len)
{
	hdcat_msg_header(s->pkt, type, seq);
	if (len && s->pkt + HDCAT_MSG_HDR_LEN != data)
		memcpy(s->pkt + HDCAT_MSG_HDR_LEN, data, len);
	if (hd_client_send(s->c, s->peer, s->pkt, HDCAT_MSG_HDR_LEN + len) < 0) {
		finish(s, HDCAT_EXIT_RELAY, "relay connection: %s", hd_client_error(s->c));
		return -1;
	}
	return 0;
}

static void send_ack(struct session *s)
{
	if (s->unacked_chunks == 0)
		return;
	if (send_msg(s, HDCAT_MSG_ACK, s->recv_next, NULL, 0) == 0) {
		s->unacked_chunks = 0;
		s->unacked_bytes = 0;
	}
}

static bool window_open(const struct session *s)
{
	return s->send_next - s->send_acked < WINDOW_CHUNKS &&
	       s->inflight_bytes + STREAM_CHUNK <= WINDOW_BYTES;
}

/* Sends a chunk (or the FIN, len 0) and counts it in flight until acked. */
static void send_chunk(struct session *s, enum hdcat_msg_type type, size_t len)
{
	uint32_t seq = s->send_next;
	if (send_msg(s, type, seq, s->pkt + HDCAT_MSG_HDR_LEN, len) < 0)
		return;
	s->chunk_len[seq % WINDOW_CHUNKS] = (uint32_t)len;
	s->inflight_bytes += len;
	s->send_next++;
}

static void open_local(struct session *s)
{
	char err[256];
	if (hdcat_local_open(s->o, &s->local, err, sizeof(err)) < 0) {
		finish(s, HDCAT_EXIT_USAGE, "%s", err);
		return;
	}
	s->local_open = true;
}

static void on_ack(struct session *s, uint32_t acked)
{
	/* An ack can only cover what we sent; anything else is a confused peer. */
	if (acked - s->send_acked > s->send_next - s->send_acked) {
		finish(s, HDCAT_EXIT_PEER, "peer acked chunk %u, we sent %u", acked, s->send_next);
		return;
	}
	while (s->send_acked != acked)
		s->inflight_bytes -= s->chunk_len[s->send_acked++ % WINDOW_CHUNKS];
}

static void on_chunk(struct session *s, const struct hdcat_msg *m)
{
	if (s->fin_recv) {
		finish(s, HDCAT_EXIT_PEER, "peer sent chunk %u after its end", m->seq);
		return;
	}
	if (m->seq != s->recv_next) {
		/* Ordered delivery means a gap is a drop: say so, never splice around it. */
		static const char why[] = "lost data";
		send_msg(s, HDCAT_MSG_ABORT, 0, why, sizeof(why) - 1);
		finish(s, HDCAT_EXIT_LOST,
		       "lost data: chunk %u arrived where %u was due (%u chunks dropped on the "
		       "way; see the relay's drop counters)",
		       m->seq, s->recv_next, m->seq - s->recv_next);
		return;
	}
	s->recv_next++;
	s->unacked_chunks++;
	s->unacked_bytes += m->len;
	if (m->type == HDCAT_MSG_FIN) {
		s->fin_recv = true;
		hdcat_local_close_output(&s->local);
		send_ack(s);
		return;
	}
	if (hdcat_local_write(&s->local, m->data, m->len) < 0) {
		finish(s, HDCAT_EXIT_USAGE, "writing the local side: %s", strerror(errno));
		return;
	}
	if (s->unacked_chunks >= ACK_EVERY_CHUNKS || s->unacked_bytes >= ACK_EVERY_BYTES)
		send_ack(s);
}

static void on_packet(struct session *s, const struct hd_event *ev)
{
	struct hdcat_msg m;

	if (hdcat_msg_parse(ev->data, ev->len, &m) < 0)
		return; /* not hdcat's: some other program on the peer's key */
	if (s->peer == 0) {
		if (m.type != HDCAT_MSG_HELLO)
			return;
		s->peer = ev->peer_id;
		if (s->o->verbose)
			fprintf(stderr, "hdcat: peer id %u connected\n", s->peer);
	}
	if (ev->peer_id != s->peer)
		return; /* one session per run, as netcat: others are ignored */
	switch (m.type) {
	case HDCAT_MSG_HELLO:
		if (s->peer_ready)
			return;
		s->peer_ready = true;
		if (s->o->listen) {
			if (send_msg(s, HDCAT_MSG_HELLO, 0, NULL, 0) == 0)
				open_local(s);
		} else if (s->o->verbose) {
			fprintf(stderr, "hdcat: connected to peer id %u\n", s->peer);
		}
		return;
	case HDCAT_MSG_DATA:
	case HDCAT_MSG_FIN:
		if (!s->peer_ready || !s->local_open) {
			finish(s, HDCAT_EXIT_PEER, "peer sent data before its hello");
			return;
		}
		on_chunk(s, &m);
		return;
	case HDCAT_MSG_ACK:
		on_ack(s, m.seq);
		return;
	case HDCAT_MSG_ABORT:
		finish(s, HDCAT_EXIT_LOST, "peer aborted: %.*s", (int)m.len, m.data);
		return;
	}
}

static void on_event(struct session *s, const struct hd_event *ev)
{
	switch (ev->type) {
	case HD_EVENT_PACKET:
		on_packet(s, ev);
		return;
	case HD_EVENT_PEER_GONE:
		if (ev->peer_id != s->peer || s->peer == 0)
			return;
		/* Gone after both ends finished is the normal end, not an error. */
		if (s->fin_recv && s->fin_sent) {
			finish(s, HDCAT_OK, NULL);
			return;
		}
		finish(s, HDCAT_EXIT_PEER, "peer id %u %s", s->peer,
		       ev->reason == 1 ? "is not here" : "left before the end of the stream");
		return;
	case HD_EVENT_CLOSED:
		finish(s, HDCAT_EXIT_RELAY, "relay closed the connection%s%s",
		       ev->text[0] ? ": " : "", ev->text);
		return;
	case HD_EVENT_PEER_INFO:
		return;
	}
}

static void drain_relay(struct session *s)
{
	struct hd_event ev;
	int r;
	while (s->exit_code < 0 && (r = hd_client_next(s->c, &ev, 0)) == 1)
		on_event(s, &ev);
	if (s->exit_code < 0 && r < 0)
		finish(s, HDCAT_EXIT_RELAY, "relay connection: %s", hd_client_error(s->c));
	/* Out of input for now: ack what we have, so a sender waiting on us moves on. */
	if (s->exit_code < 0)
		send_ack(s);
}

static void read_local(struct session *s)
{
	size_t cap = s->local.datagrams ? HDCAT_MAX_CHUNK : STREAM_CHUNK;
	ssize_t n = hdcat_local_read(&s->local, s->pkt + HDCAT_MSG_HDR_LEN, cap);
	if (n == -2)
		return;
	if (n < 0) {
		finish(s, HDCAT_EXIT_USAGE, "reading the local side: %s", strerror(errno));
		return;
	}
	if (n == 0 && !s->local.datagrams) {
		s->in_eof = true;
		return;
	}
	send_chunk(s, HDCAT_MSG_DATA, (size_t)n);
}

int hdcat_session_run(const struct hdcat_opts *o, struct hd_client *c, uint16_t peer_id)
{
	struct session *s = calloc(1, sizeof(*s));
	int64_t hello_deadline = now_ms() + o->wait_ms;
	int code;

	if (!s) {
		fprintf(stderr, "hdcat: out of memory\n");
		return HDCAT_EXIT_USAGE;
	}
	s->o = o;
	s->c = c;
	s->peer = peer_id;
	s->exit_code = -1;
	if (!o->listen) {
		/* The connecting side opens its local end first (a --tcp-listen waits for its
		 * client here), then greets the peer, which opens its own. */
		open_local(s);
		if (s->exit_code < 0)
			send_msg(s, HDCAT_MSG_HELLO, 0, NULL, 0);
		hello_deadline = now_ms() + o->wait_ms;
	}
	while (s->exit_code < 0) {
		drain_relay(s);
		if (s->exit_code >= 0)
			break;
		if (s->peer_ready && s->local_open && s->in_eof && !s->fin_sent &&
		    s->send_next - s->send_acked < WINDOW_CHUNKS) {
			send_chunk(s, HDCAT_MSG_FIN, 0);
			s->fin_sent = s->exit_code < 0;
		}
		if (s->fin_sent && s->fin_recv && s->send_acked == s->send_next) {
			finish(s, HDCAT_OK, NULL);
			break;
		}
		struct pollfd pfd[2] = { { .fd = hd_client_fd(c), .events = POLLIN },
					 { .fd = -1, .events = POLLIN } };
		if (s->peer_ready && s->local_open && !s->in_eof && window_open(s))
			pfd[1].fd = s->local.in_fd;
		int timeout = -1;
		if (!o->listen && !s->peer_ready) {
			timeout = (int)(hello_deadline - now_ms());
			if (timeout <= 0) {
				finish(s, HDCAT_EXIT_PEER, "peer id %u did not answer within %d s",
				       s->peer, o->wait_ms / 1000);
				break;
			}
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			finish(s, HDCAT_EXIT_USAGE, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_local(s);
	}
	code = s->exit_code;
	/*
	 * Read what the relay still sent us before closing, so the close is a FIN
	 * and not a reset that could discard our last ack on its way.
	 */
	struct hd_event ev;
	while (hd_client_next(c, &ev, 0) == 1 && ev.type != HD_EVENT_CLOSED)
		;
	if (s->local_open)
		hdcat_local_close(&s->local);
	free(s);
	return code;
}
