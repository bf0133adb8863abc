// SPDX-License-Identifier: MIT
/*
 * hdcat's session: the local endpoint's bytes cut into numbered chunks to one
 * HD peer, under a window the peer's acks open, and the peer's chunks written
 * out in order (docs/hdcat.md).
 *
 * The relay delivers one sender's packets to one receiver in order but drops
 * them when the receiver's queue is over its byte budget or has stood too
 * long (limits.queue_bytes, codel): a receiver that stops reading for a
 * while loses chunks. So the sender keeps what is in flight until it is
 * acked and goes back to the first chunk the receiver is missing (go-back-N)
 * when the receiver reports a gap (NACK) or nothing is acked for RESEND_MS.
 * The window keeps what is in flight well below the relay's default queue,
 * so with a reader that keeps up nothing needs resending.
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
#define WINDOW_BYTES (256 * 1024)
/*
 * A relay may be set to a smaller queue (limits.queue_bytes down to 128 KiB)
 * than our window: each loss halves the window, down to this, and each
 * window's worth of acks grows it by a chunk again (AIMD, as TCP does).
 */
#define WINDOW_MIN_BYTES STREAM_CHUNK
#define WINDOW_CHUNKS	 64
/* A stream is read in chunks of this much: large enough to amortize a frame. */
#define STREAM_CHUNK (32 * 1024)
/* The receiver acks once this much of the window is used, or when it runs out of input. */
#define ACK_EVERY_CHUNKS (WINDOW_CHUNKS / 4)
#define ACK_EVERY_BYTES	 (WINDOW_BYTES / 4)
/*
 * No ack for this long with chunks in flight: resend them (the tail of a
 * burst can be lost with no later chunk to reveal the gap). Each resend
 * without progress doubles the wait, up to RESEND_MS << RESEND_MAX_SHIFT:
 * a receiver whose output is paused (a pager, a full disk being cleared)
 * acks nothing for as long as it likes, and is not flooded meanwhile. We
 * give up only when told (--ack-timeout): a receiver that is gone is
 * reported by the relay (PeerGone).
 */
#define RESEND_MS	 500
#define RESEND_MAX_SHIFT 4

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
	uint32_t send_upto;  /* the next kept chunk to put on the wire (after a go-back) */
	size_t inflight_bytes;
	size_t window; /* bytes allowed in flight, WINDOW_MIN_BYTES..WINDOW_BYTES */
	uint32_t chunk_len[WINDOW_CHUNKS]; /* by seq % WINDOW_CHUNKS, while in flight */
	uint8_t *chunk[WINDOW_CHUNKS];	   /* the whole message, kept to resend */
	int64_t progress_ms;		   /* when the ack last moved (or we last sent) */
	int64_t resend_ms;		   /* when we last sent the window again */
	unsigned backoff;		   /* resends since the ack last moved */
	bool in_eof;
	bool fin_sent;

	/* receiving */
	uint32_t recv_next;
	uint32_t unacked_chunks;
	size_t unacked_bytes;
	bool fin_recv;
	uint32_t nacked; /* recv_next when we last sent a NACK: one per gap */
	bool nack_sent;

	int exit_code; /* -1 while running */
	char why[200]; /* what ended it, told to the peer too */
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
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
		fprintf(stderr, "hdcat: %s\n", s->why);
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
	return s->send_upto == s->send_next && s->send_next - s->send_acked < WINDOW_CHUNKS &&
	       s->inflight_bytes + STREAM_CHUNK <= s->window;
}

static int send_kept(struct session *s, uint32_t seq)
{
	uint32_t slot = seq % WINDOW_CHUNKS;
	if (hd_client_send(s->c, s->peer, s->chunk[slot], HDCAT_MSG_HDR_LEN + s->chunk_len[slot]) <
	    0) {
		finish(s, HDCAT_EXIT_RELAY, "relay connection: %s", hd_client_error(s->c));
		return -1;
	}
	return 0;
}

/* Bytes on the wire: sent (or resent) since the last go-back and not acked. */
static size_t wire_bytes(const struct session *s)
{
	size_t n = 0;
	for (uint32_t seq = s->send_acked; seq != s->send_upto; seq++)
		n += s->chunk_len[seq % WINDOW_CHUNKS];
	return n;
}

/*
 * Puts kept chunks on the wire while the window allows: after a go-back the
 * window has shrunk, and resending all that was in flight at once would
 * overrun the relay's queue again.
 */
static void pump(struct session *s)
{
	size_t wire = wire_bytes(s);
	while (s->send_upto != s->send_next && s->exit_code < 0) {
		size_t len = s->chunk_len[s->send_upto % WINDOW_CHUNKS];
		if (wire > 0 && wire + len > s->window)
			return;
		wire += len;
		send_kept(s, s->send_upto++);
	}
}

/*
 * Sends a chunk of len bytes from pkt's payload (or the FIN, len 0), kept
 * until acked.
 */
static void send_chunk(struct session *s, enum hdcat_msg_type type, size_t len)
{
	uint32_t seq = s->send_next, slot = seq % WINDOW_CHUNKS;
	uint8_t *kept = realloc(s->chunk[slot], HDCAT_MSG_HDR_LEN + len);
	if (!kept) {
		finish(s, HDCAT_EXIT_USAGE, "out of memory");
		return;
	}
	s->chunk[slot] = kept;
	hdcat_msg_header(kept, type, seq);
	memcpy(kept + HDCAT_MSG_HDR_LEN, s->pkt + HDCAT_MSG_HDR_LEN, len);
	s->chunk_len[slot] = (uint32_t)len;
	if (s->send_next == s->send_acked)
		s->progress_ms = now_ms(); /* the clock for RESEND_MS starts with the first */
	s->inflight_bytes += len;
	s->send_next++;
	pump(s);
}

/* Go-back-N: everything from the first unacked chunk again, in order. */
static void resend_window(struct session *s, const char *why)
{
	if (s->o->verbose)
		fprintf(stderr, "hdcat: resending from chunk %u (%s)\n", s->send_acked, why);
	s->resend_ms = now_ms();
	s->window = s->window / 2 < WINDOW_MIN_BYTES ? WINDOW_MIN_BYTES : s->window / 2;
	s->send_upto = s->send_acked;
	pump(s);
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
	if (s->send_acked != acked) {
		s->progress_ms = now_ms();
		s->backoff = 0;
	}
	size_t freed = 0;
	while (s->send_acked != acked)
		freed += s->chunk_len[s->send_acked++ % WINDOW_CHUNKS];
	s->inflight_bytes -= freed;
	s->window += freed * STREAM_CHUNK / s->window;
	if (s->window > WINDOW_BYTES)
		s->window = WINDOW_BYTES;
	/* An ack past what we resent so far (the first copies got through). */
	if ((int32_t)(s->send_upto - s->send_acked) < 0)
		s->send_upto = s->send_acked;
	pump(s);
}

/* When the next resend is due, if nothing is acked before it. */
static int64_t resend_due(const struct session *s)
{
	int64_t last = s->resend_ms > s->progress_ms ? s->resend_ms : s->progress_ms;
	unsigned shift = s->backoff < RESEND_MAX_SHIFT ? s->backoff : RESEND_MAX_SHIFT;
	return last + ((int64_t)RESEND_MS << shift);
}

/* Resends when nothing was acked for a while; gives up after --ack-timeout, if set. */
static void check_resend(struct session *s)
{
	if (s->send_acked == s->send_next)
		return;
	int64_t now = now_ms();
	if (s->o->ack_timeout_ms > 0 && now - s->progress_ms >= s->o->ack_timeout_ms) {
		finish(s, HDCAT_EXIT_LOST,
		       "lost data: peer acknowledged nothing past chunk %u in %d s", s->send_acked,
		       s->o->ack_timeout_ms / 1000);
		return;
	}
	if (now >= resend_due(s)) {
		s->backoff++;
		resend_window(s, "no ack");
	}
}

/* Milliseconds until check_resend has work, for poll; -1 with nothing in flight. */
static int resend_timeout(const struct session *s)
{
	if (s->send_acked == s->send_next)
		return -1;
	int64_t t = resend_due(s) - now_ms();
	return t < 0 ? 0 : (int)t;
}

static void on_chunk(struct session *s, const struct hdcat_msg *m)
{
	if (s->fin_recv) {
		s->unacked_chunks++; /* our ack of the FIN was lost: it resent the tail */
		return;
	}
	if (m->seq - s->recv_next < 0x80000000u && m->seq != s->recv_next) {
		/*
		 * Ordered delivery means a gap is a drop: never splice around it. Drop
		 * what follows too and ask once for the missing chunk onwards.
		 */
		if (!s->nack_sent || s->nacked != s->recv_next) {
			if (s->o->verbose)
				fprintf(stderr, "hdcat: chunk %u arrived where %u was due\n",
					m->seq, s->recv_next);
			s->nack_sent = send_msg(s, HDCAT_MSG_NACK, s->recv_next, NULL, 0) == 0;
			s->nacked = s->recv_next;
		}
		return;
	}
	if (m->seq != s->recv_next) {
		s->unacked_chunks++; /* a resent chunk we had: ack again so the sender moves on */
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
		if (s->peer_ready) {
			/* Our answer was lost and the peer says hello again: answer again. */
			if (s->o->listen)
				send_msg(s, HDCAT_MSG_HELLO, 0, NULL, 0);
			return;
		}
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
	case HDCAT_MSG_NACK:
		on_ack(s, m.seq); /* the peer has everything before it */
		if (s->exit_code < 0 && s->send_acked != s->send_next)
			resend_window(s, "the peer missed it");
		return;
	case HDCAT_MSG_ABORT:
		finish(s, HDCAT_EXIT_PEER, "peer aborted: %.*s", (int)m.len, m.data);
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
	int r = 0;
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
	s->window = WINDOW_BYTES;
	if (!o->listen) {
		/* The connecting side opens its local end first (a --tcp-listen waits for its
		 * client here), then greets the peer, which opens its own. */
		open_local(s);
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
		check_resend(s);
		if (s->exit_code >= 0)
			break;
		int timeout = resend_timeout(s);
		if (!o->listen && !s->peer_ready) {
			int64_t now = now_ms();
			if (now >= hello_deadline) {
				finish(s, HDCAT_EXIT_PEER, "peer id %u did not answer within %d s",
				       s->peer, o->wait_ms / 1000);
				break;
			}
			/* A hello can be lost like any packet: say it again every RESEND_MS. */
			if (now - s->resend_ms >= RESEND_MS) {
				s->resend_ms = now;
				if (send_msg(s, HDCAT_MSG_HELLO, 0, NULL, 0) < 0)
					break;
			}
			timeout = RESEND_MS;
		}
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			finish(s, HDCAT_EXIT_USAGE, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
			read_local(s);
	}
	code = s->exit_code;
	/* A peer still waiting on us hears why we stop, instead of waiting on. */
	if (code != HDCAT_OK && code != HDCAT_EXIT_RELAY && s->peer_ready)
		send_msg(s, HDCAT_MSG_ABORT, 0, s->why, strlen(s->why));
	/*
	 * Read what the relay still sent us before closing, so the close is a FIN
	 * and not a reset that could discard our last ack on its way.
	 */
	struct hd_event ev;
	while (hd_client_next(c, &ev, 0) == 1 && ev.type != HD_EVENT_CLOSED)
		;
	if (s->local_open)
		hdcat_local_close(&s->local);
	for (int i = 0; i < WINDOW_CHUNKS; i++)
		free(s->chunk[i]);
	free(s);
	return code;
}
