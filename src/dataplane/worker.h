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
#include "fq_codel.h"
#include "peer_table.h"
#include "pktbuf.h"
#include "recv.h"
#include "relay.h"
#include "spsc_ring.h"
#include "stats.h"
#include "token_bucket.h"
#include "ws_conn.h"

/* Messages between workers. */
enum worker_msg_type {
	MSG_PKT = 1,	/* ptr: pktbuf holding a RecvPacket for pktbuf->dst */
	MSG_FREE,	/* ptr: pktbuf going back to its owner's pool */
	MSG_REG,	/* ptr: struct peer_event, a connection registered */
	MSG_UNREG,	/* ptr: struct peer_event, a connection closed */
	MSG_CLOSE_PEER, /* ptr: struct peer_event, close every connection of the key */
	/* From a mesh link (mesh_link.h): ptr: struct peer_event, loc.worker = link index. */
	MSG_REMOTE_REG,	  /* the key is homed on that mesh peer */
	MSG_REMOTE_UNREG, /* no longer */
};

/* Messages from the management thread (worker->control). */
enum control_msg_type {
	CTL_LIST_PEERS = 1, /* ptr: struct peer_list_request */
	CTL_CLOSE_PEER,	    /* ptr: struct peer_event */
};

struct peer_list_request {
	/* One reference per worker yet to answer, plus the caller's; the last one out frees. */
	_Atomic int refs;
	/* The caller gave up waiting: workers drop the listing at their next slice. */
	_Atomic bool abandoned;
	struct peer_info **lists; /* [worker]: malloc'd by that worker */
	uint32_t *counts;	  /* [worker] */
};

void peer_list_request_free(struct peer_list_request *req, uint16_t nworkers);

struct peer_list_job; /* peer_list.c: a listing in progress on one worker */

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
	bool is_hd;	     /* speaks HD (docs/hd-protocol.md), not DERP */
	uint16_t hd_peer_id; /* HD: its peer id */
	bool can_mesh;
	bool preferred;
	bool closing;	 /* unregistered, waiting for its I/O to finish */
	bool recv_armed; /* a recv (multishot or single-shot) is in flight */
	bool in_dirty;	 /* on the worker's list of connections to flush */
	bool pong_pending;
	bool is_watcher;
	bool told_inactive; /* sent a Health frame saying a newer connection is active */
	/* A mesh peer's connection: the mesh link with its key, -1 if none (yet). */
	int16_t mesh_in_link;
	bool rx_want_big;   /* single mode: the last read says more bytes are on the way */
	uint8_t close_reason;

	/* Single-shot receive (recv_single.c): what the armed recv writes into. */
	uint8_t *rx_small;     /* RECV_SMALL_SIZE bytes, held for the connection's life */
	struct pktbuf *rx_big; /* from the worker's pool while a large recv is armed */

	/*
	 * Receive side: a frame split across reads is assembled in a buffer of
	 * the worker's assembly pool (frame_assembly.c).
	 */
	struct pktbuf *partial_buf; /* held while a frame is open */
	uint8_t *partial;	    /* partial_buf->data */
	uint32_t partial_len;
	uint32_t partial_need;	   /* whole frame length once the header is known, else 0 */
	uint64_t partial_since_ns; /* its first byte's arrival: the deadline counts from here */
	struct conn *asm_prev;	   /* the worker's open frames, oldest first */
	struct conn *asm_next;
	bool asm_listed;
	uint64_t skip_left; /* payload bytes of an ignored frame still to discard */

	/*
	 * Send side: FIFO of frames, counted per kind. Under queue_policy
	 * headdrop it is the whole queue and its counts drive the drop policy;
	 * under codel it holds only the frames taken out of fq for the next
	 * send (and those a partial send gave back), at most SEND_BATCH.
	 */
	struct pktbuf *q_head;
	struct pktbuf *q_tail;
	uint32_t q_count[3]; /* by enum pktbuf_kind */
	/* queue_policy codel: the queue proper, allocated at the first frame queued. */
	struct fq_sched *fq;
	struct send_ctx *inflight;
	uint64_t send_started_ns;

	/* TLS: the session, and the ciphertext of the send in flight. */
	SSL *ssl;
	/*
	 * The kernel carries this connection's TLS (kTLS): plain I/O for us, but
	 * a record other than application data ends the recv with EIO.
	 */
	bool kernel_tls;
	/*
	 * The wire bytes of the send in flight when frames are transformed on
	 * their way out: ciphertext with TLS, WebSocket messages (then
	 * encrypted with TLS, if any) with ws.
	 */
	uint8_t *tls_out;
	uint32_t tls_out_len;
	uint32_t tls_out_sent;
	/* DERP over WebSocket (ws_conn.h), or NULL. */
	struct ws_conn *ws;

	uint64_t next_keepalive_ns;
	uint64_t keepalive_jitter_ns;
	/* PeerGone(NotHere) limiter: 3 burst, 1 per second. */
	uint64_t not_here_tokens_ns;
	/* Source key last recorded for PeerGone, to skip the table on repeats. */
	uint8_t last_src[KEY_LEN];
	bool last_src_valid;
	uint64_t sub_pass; /* the last peer_entry_compact_subs pass that saw it */

	struct conn *dirty_next;
	struct conn *watch_next;

	/* limits.client_rate_bytes (recv_limit.c): reading waits while the bucket is in debt. */
	struct token_bucket recv_bucket;
	uint64_t recv_resume_ns;
	bool recv_paused; /* on the worker's paused list: its recv is not re-armed */
	struct conn *paused_prev, *paused_next;

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
	uint64_t mesh_wrote;	  /* bit per mesh link handed a frame this pass: wake it */

	struct pktbuf_pool pool;      /* packets: limits.buffer_pool_mb */
	struct pktbuf_pool ctrl_pool; /* server frames: limits.control_pool_mb */
	struct pktbuf_pool asm_pool;  /* frames split across reads: limits.frame_assembly_mb */
	struct peer_table peers;

	struct conn **conns;
	uint32_t conn_cap;
	uint32_t *free_ids;
	uint32_t nfree_ids;
	uint32_t nconns; /* live (not finalized) */

	struct conn *dirty;
	struct conn *watchers;
	struct conn *paused;	 /* reading paused by the rate limit (recv_limit.c) */
	uint64_t next_resume_ns; /* the earliest of their resume times */
	struct peer_list_job *list_head, *list_tail; /* listings in progress, oldest first */
	/* Connections with a frame being assembled, oldest first (frame_assembly.c). */
	struct conn *asm_oldest;
	struct conn *asm_newest;
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

	bool queue_codel; /* limits.queue_policy = codel (fixed at start) */
	uint64_t fq_seed; /* secret: hashes sources into a destination's flows */

	uint64_t now_ns;
	uint64_t next_tick_ns;
	uint64_t pool_warned_ns; /* last "pool at its limit" warning */
	uint64_t key_limit_warned_ns; /* last limits.max_conns_per_key warning */
	uint64_t ctrl_warned_ns; /* last "control pool at its limit" warning */
	uint64_t asm_warned_ns;	 /* last "frame assembly pool at its limit" warning */
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
/* A connection in a free slot; the caller arms its recv once it is set up. */
struct conn *worker_conn_new(struct worker *w, int fd);
struct conn *worker_conn_get(struct worker *w, uint32_t id, uint32_t gen);
/* peer_sub_keep_fn of the worker's table: live, and first seen in this pass. */
bool worker_conn_sub_keep(void *worker, uint32_t id, uint32_t gen, uint64_t pass);
void worker_post(struct worker *w, uint16_t target, uint32_t type, void *ptr);
/* Done with a buffer or reference: back to its pool, or home to its owner. */
void worker_release_buf(struct worker *w, struct pktbuf *pb);
void worker_conn_close(struct worker *w, struct conn *c, enum close_reason why);

/* recv_limit.c: limits.client_rate_bytes */
/* Fills the connection's bucket (once its can_mesh is known). */
void recv_limit_start(struct worker *w, struct conn *c);
/* n bytes were read: past the bucket, reading pauses until they are paid for. */
void recv_limit_charge(struct worker *w, struct conn *c, size_t n);
/* c is closing: off the paused list. */
void recv_limit_forget(struct worker *w, struct conn *c);
/* Re-arms the connections whose pause is over; returns how many. */
uint32_t recv_limit_resume_due(struct worker *w);

/* frame_assembly.c */
/*
 * An assembly buffer of cap bytes for c's frame that a read cut short,
 * holding its first len bytes from p. When the assembly pool is full, the
 * frame that has waited longest on this worker is dropped to make
 * room. Returns 0, or -1 when no buffer can be had (c untouched).
 */
int frame_assembly_start(struct worker *w, struct conn *c, uint32_t cap, const uint8_t *p,
			 uint32_t len);
/* Grows c's buffer to cap bytes, keeping what it holds. Returns 0 or -1. */
int frame_assembly_grow(struct worker *w, struct conn *c, uint32_t cap);
/* c's frame is complete: its buffer goes back to the pool. */
void frame_assembly_done(struct worker *w, struct conn *c);
/* c is closing: its frame no longer counts as waiting (the buffer goes at finalize). */
void frame_assembly_forget(struct worker *w, struct conn *c);
/* Gives back c's buffer, if any (finalize). */
void frame_assembly_release(struct worker *w, struct conn *c);
/* Closes the connections whose frame is past its deadline (limits.frame_timeout_ms). */
void frame_assembly_expire(struct worker *w);

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

/* mesh_forward.c: the workers' side of the outbound mesh (mesh_link.h) */
/*
 * Hands a packet for a key homed on mesh link `link` to that link as a
 * ForwardPacket (src, dst, packet). Returns false if it was dropped
 * (counted: no_buffer, or mesh_queue when the link's ring is full).
 */
bool mesh_forward(struct worker *w, uint16_t link, const uint8_t src[KEY_LEN],
		  const uint8_t dst[KEY_LEN], const uint8_t *pkt, uint32_t len, bool disco);
/* Applies what the mesh links sent (remote keys, buffers coming home); returns how many. */
uint32_t mesh_drain_links(struct worker *w);
/* Whether a mesh link has sent this worker something not yet applied. */
bool mesh_links_have_work(struct worker *w);
/* Wakes the links handed frames this pass. */
void mesh_wake_links(struct worker *w);
/* Counts a ForwardPacket received on c under the mesh link of c's key, if any. */
void mesh_count_in(struct worker *w, struct conn *c, uint32_t len);
/* What hd_session.c shares with derp_session.c: one routing path for both protocols. */
bool session_queue_ctrl(struct worker *w, struct conn *c, const uint8_t *frame, size_t len);
void session_route(struct worker *w, struct conn *from, const uint8_t dst[KEY_LEN],
		   const uint8_t *pkt, uint32_t len);
bool session_not_here_allowed(struct worker *w, struct conn *c);

/* HD connections (hd_session.c). */
int hd_session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			    uint32_t len);
void hd_session_tick_keepalive(struct worker *w, struct conn *c);
void hd_session_drain(struct worker *w, struct conn *c);

/* peer_list.c */
/* Queues a listing of this worker's connections (CTL_LIST_PEERS). */
void peer_list_start(struct worker *w, struct peer_list_request *req);
/* Advances the oldest listing by a bounded slice; returns the work done (0: none pending). */
uint32_t peer_list_step(struct worker *w);
/* Answers every pending listing with what it has (the worker is going away). */
void peer_list_cancel_all(struct worker *w);

/* send_queue.c */
void sendq_push(struct worker *w, struct conn *c, struct pktbuf *pb);
/* Asks for a flush of a connection with nothing queued (TLS output pending). */
void sendq_kick(struct worker *w, struct conn *c);
/* Frees a codel queue idle for 10 s (worker tick): idle connections hold none. */
void sendq_trim(struct conn *c, uint64_t now_ns);
struct pktbuf *sendq_ctrl_frame(struct worker *w, size_t len);
void sendq_flush(struct worker *w, struct conn *c);
void sendq_complete(struct worker *w, struct conn *c, int res);
void sendq_discard(struct worker *w, struct conn *c);
bool sendq_empty(const struct conn *c);

#endif
