/* SPDX-License-Identifier: MIT */
/*
 * A dataplane worker: one pinned thread that owns its connections, its
 * io_uring, its buffer pool and its replica of the peer table. It talks to
 * other threads only through SPSC rings (see relay.h).
 *
 * Files: worker.c is the loop and the rings, recv_*.c get bytes off the
 * sockets (recv.h: multishot or single-shot recv), conn_recv.c turns
 * received bytes into frames, derp_session.c handles the frames and routes
 * packets, send_queue.c queues, drops and writes outgoing frames.
 */
#ifndef HD_WORKER_H
#define HD_WORKER_H

#include <liburing.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "idle_poll.h"
#include "key.h"
#include "peer_table.h"
#include "pktbuf.h"
#include "recv.h"
#include "relay.h"
#include "spsc_ring.h"
#include "stats.h"

/* Messages between workers. */
enum worker_msg_type {
	MSG_PKT = 1,	/* ptr: pktbuf holding a RecvPacket for pktbuf->dst */
	MSG_FREE,	/* ptr: pktbuf going back to its owner's pool */
	MSG_REG,	/* ptr: struct peer_event, a connection registered */
	MSG_UNREG,	/* ptr: struct peer_event, a connection closed */
	MSG_CLOSE_PEER, /* ptr: struct peer_event, close every connection of the key */
};

/* Messages from the management thread (worker->control). */
enum control_msg_type {
	CTL_LIST_PEERS = 1, /* ptr: struct peer_list_request */
	CTL_CLOSE_PEER,	    /* ptr: struct peer_event */
};

struct peer_list_request {
	/* One reference per worker yet to answer, plus the caller's; the last one out frees. */
	_Atomic int refs;
	struct peer_info **lists; /* [worker]: malloc'd by that worker */
	uint32_t *counts;	  /* [worker] */
};

void peer_list_request_free(struct peer_list_request *req, uint16_t nworkers);

struct peer_event {
	uint8_t key[KEY_LEN];
	struct peer_loc loc;
};

#define SEND_BATCH	64    /* frames per vectored send */
#define TLS_PLAIN_CHUNK 16384 /* one TLS record's worth of plaintext */

struct send_ctx {
	struct send_ctx *next; /* free list */
	struct msghdr msg;
	uint32_t nbufs;
	struct iovec iov[SEND_BATCH];
	struct pktbuf *bufs[SEND_BATCH];
};

struct conn {
	int fd;
	uint32_t id;  /* slot in worker->conns */
	uint32_t gen; /* bumped each time the slot is reused */
	uint64_t seq;
	uint8_t key[KEY_LEN];
	uint8_t ip[16];
	uint16_t port;
	uint8_t present_flags;
	bool can_mesh;
	bool preferred;
	bool closing;	 /* unregistered, waiting for its I/O to finish */
	bool recv_armed; /* a recv (multishot or single-shot) is in flight */
	bool in_dirty;	 /* on the worker's list of connections to flush */
	bool pong_pending;
	bool is_watcher;
	bool told_inactive; /* sent a Health frame saying a newer connection is active */
	bool rx_want_big;   /* single mode: the last read says more bytes are on the way */
	uint8_t close_reason;

	/* Single-shot receive (recv_single.c): what the armed recv writes into. */
	uint8_t *rx_small;     /* RECV_SMALL_SIZE bytes, held for the connection's life */
	struct pktbuf *rx_big; /* from the worker's pool while a large recv is armed */

	/* Receive side: a frame split across reads is assembled here. */
	uint8_t *partial;
	uint32_t partial_len;
	uint32_t partial_cap;
	uint32_t partial_need; /* whole frame length once the header is known, else 0 */
	uint64_t skip_left;    /* payload bytes of an ignored frame still to discard */

	/* Send side: FIFO of frames, counted per kind for the drop policy. */
	struct pktbuf *q_head;
	struct pktbuf *q_tail;
	uint32_t q_count[3]; /* by enum pktbuf_kind */
	struct send_ctx *inflight;
	uint64_t send_started_ns;

	/* TLS: the session, and the ciphertext of the send in flight. */
	SSL *ssl;
	/*
	 * The kernel carries this connection's TLS (kTLS): plain I/O for us, but
	 * a record other than application data ends the recv with EIO.
	 */
	bool kernel_tls;
	uint8_t *tls_out;
	uint32_t tls_out_len;
	uint32_t tls_out_sent;

	uint64_t next_keepalive_ns;
	uint64_t keepalive_jitter_ns;
	/* PeerGone(NotHere) limiter: 3 burst, 1 per second. */
	uint64_t not_here_tokens_ns;
	/* Source key last recorded for PeerGone, to skip the table on repeats. */
	uint8_t last_src[KEY_LEN];
	bool last_src_valid;

	struct conn *dirty_next;
	struct conn *watch_next;

	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct outbox_node {
	struct outbox_node *next;
	struct spsc_msg msg;
};

struct outbox {
	/* Messages that did not fit the ring to their worker; sent first next pass. */
	struct outbox_node *head, *tail;
	uint32_t count;
	bool wrote; /* wrote this pass: the target may need a wake-up */
};

struct worker {
	uint16_t id;
	struct relay *relay;
	pthread_t thread;
	struct io_uring ring;
	int event_fd;
	uint64_t event_buf;
	_Atomic bool sleeping;
	_Atomic bool wake_sent; /* this sleep's eventfd write is done or on its way */
	struct idle_poll idle;	/* how long to spin before sleeping */
	bool eventfd_armed;
	bool ring_disabled; /* created disabled; enabled by the worker thread */
	bool ring_ready;    /* io_uring set up: worker_destroy must tear it down */
	uint64_t last_submit_warn_ns;

	struct spsc_ring handoff; /* from the slow path */
	struct spsc_ring control; /* from the management thread */
	struct outbox *outboxes;  /* one per worker */

	struct pktbuf_pool pool;
	struct peer_table peers;

	struct conn **conns;
	uint32_t conn_cap;
	uint32_t *free_ids;
	uint32_t nfree_ids;
	uint32_t nconns; /* live (not finalized) */

	struct conn *dirty;
	struct conn *watchers;
	struct send_ctx *free_ctx;

	enum recv_mode recv_mode;
	/* recv_mode bufring: the provided-buffer ring for multishot recv (recv_ring.c). */
	struct io_uring_buf_ring *br;
	uint8_t *br_mem;
	uint32_t br_count;
	uint32_t br_size;
	uint32_t br_returned; /* buffers added since the last advance */
	/*
	 * Packets relayed in place hold references into receive buffers; a
	 * buffer goes back to the kernel when its last reference is freed.
	 */
	uint16_t *br_refs; /* [br_count]: references into each buffer */
	/* How many have references: stats.recv_buffers_pinned (limits.pinned_recv_buffers). */
	uint8_t *rx_buf;     /* the buffer being parsed, during its completion; else NULL */
	uint32_t rx_buf_len; /* its received bytes */
	uint16_t rx_buf_id;

	uint8_t *tls_plain; /* scratch: decrypted bytes, then plaintext to encrypt */

	uint64_t now_ns;
	uint64_t next_tick_ns;
	uint64_t pool_warned_ns; /* last "pool at its limit" warning */
	uint64_t next_trim_ns;	 /* next return of idle packet buffers (worker.c) */
	bool draining;
	uint64_t drain_deadline_ns;
	bool done;

	struct worker_stats stats;
};

/* io_uring user_data: operation, connection slot (24 bits) and generation. */
enum worker_op {
	OP_NONE = 0,
	OP_RECV,
	OP_SEND,
	OP_EVENT,
};

static inline uint64_t conn_udata(enum worker_op op, const struct conn *c)
{
	return (uint64_t)op << 56 | (uint64_t)c->id << 32 | c->gen;
}

#define WORKER_MAX_CONNS (1u << 24)

/* worker.c */
struct worker *worker_create(struct relay *r, uint16_t id);
int worker_start(struct worker *w);
void worker_wake(struct worker *w);
/*
 * Applies what the other workers sent (packets, REG/UNREG, buffers to free);
 * returns how many messages. The loop calls it once per pass; route_packet
 * calls it again before it gives up on a destination.
 */
uint32_t worker_drain_peer_rings(struct worker *w);
/* A free SQE, submitting what is queued to make room; NULL if still none. */
struct io_uring_sqe *worker_get_sqe(struct worker *w);
void worker_destroy(struct worker *w);
uint64_t worker_now_ns(void);
struct conn *worker_conn_new(struct worker *w, int fd);
struct conn *worker_conn_get(struct worker *w, uint32_t id, uint32_t gen);
bool worker_conn_live(void *worker, uint32_t id, uint32_t gen);
void worker_post(struct worker *w, uint16_t target, uint32_t type, void *ptr);
/* Done with a buffer or reference: back to its pool, or home to its owner. */
void worker_release_buf(struct worker *w, struct pktbuf *pb);
void worker_conn_close(struct worker *w, struct conn *c, enum close_reason why);

/* conn_recv.c */
int conn_recv_bytes(struct worker *w, struct conn *c, const uint8_t *p, size_t n);
/* Received ciphertext of a TLS connection: decrypt, then conn_recv_bytes. */
int conn_recv_tls(struct worker *w, struct conn *c, const uint8_t *p, size_t n);

/* derp_session.c */
void session_accept(struct worker *w, struct handoff *h);
int session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			 uint32_t len);
void session_deliver_remote(struct worker *w, struct pktbuf *pb);
void session_apply_event(struct worker *w, uint32_t type, const struct peer_event *ev);
void session_unregister(struct worker *w, struct conn *c);
void session_tick(struct worker *w, struct conn *c);
void session_drain(struct worker *w, struct conn *c);
void session_list_peers(struct worker *w, struct peer_list_request *req);

/* send_queue.c */
void sendq_push(struct worker *w, struct conn *c, struct pktbuf *pb);
/* Asks for a flush of a connection with nothing queued (TLS output pending). */
void sendq_kick(struct worker *w, struct conn *c);
struct pktbuf *sendq_ctrl_frame(struct worker *w, size_t len);
void sendq_flush(struct worker *w, struct conn *c);
void sendq_complete(struct worker *w, struct conn *c, int res);
void sendq_discard(struct worker *w, struct conn *c);
bool sendq_empty(const struct conn *c);

#endif
