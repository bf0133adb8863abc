/* SPDX-License-Identifier: MIT */
/*
 * Per-worker pool of packet buffers.
 *
 * A buffer holds one whole outgoing DERP frame. It belongs to the worker
 * whose pool allocated it for life: a worker that sends a buffer it received
 * from another worker hands it back over the ring (MSG_FREE) instead of
 * freeing it, so a pool is only ever touched by its own thread and needs no
 * lock. See docs/buffers.md.
 *
 * A buffer either holds its frame in data[] or, as a reference (cap 0),
 * points into one of its owner's receive buffers, where a SendPacket was
 * rewritten into a RecvPacket in place (derp_session.c, recv_ring.c).
 * Readers use frame, never data.
 */
#ifndef HD_PKTBUF_H
#define HD_PKTBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

enum pktbuf_kind {
	PKT_KIND_DATA = 0, /* RecvPacket with ordinary payload: data queue */
	PKT_KIND_DISCO,	   /* RecvPacket with a disco payload: disco queue */
	PKT_KIND_CTRL,	   /* server-generated frames: PeerGone, Pong, KeepAlive ... */
};

/*
 * A worker has one pool per use, each with its own budget, so that one use
 * filling its budget cannot starve another: packets (limits.buffer_pool_mb),
 * server frames (limits.control_pool_mb: a full packet pool must not cost a
 * client its ServerInfo or Pong) and frames being assembled across reads
 * (limits.frame_assembly_mb). A buffer remembers which one it came from.
 */
enum pktbuf_pool_id {
	PKTBUF_POOL_DATA = 0,
	PKTBUF_POOL_CTRL,
	PKTBUF_POOL_ASSEMBLY,
	PKTBUF_POOL_COUNT,
};

/*
 * Size classes: 256 bytes for small packets (WireGuard keepalives and
 * handshakes, disco pings, 64-byte tests: 8x less memory per queued packet
 * than 2 KiB); 2 KiB covers every MTU-sized packet; larger packets take the
 * smallest class that fits, up to a whole 64 KiB packet with its headers, so
 * a 16 KiB packet does not hold 64 KiB of the pool's budget.
 */
#define PKTBUF_CLASSES	 7
#define PKTBUF_HEADROOM	 128 /* frame header and keys above a power-of-two payload */
#define PKTBUF_TINY_CAP	 256
#define PKTBUF_SMALL_CAP 2048
#define PKTBUF_LARGE_CAP (65536 + PKTBUF_HEADROOM)

struct pktbuf {
	struct pktbuf *next; /* queue or free-list link */
	uint8_t *frame;	     /* the frame: data[], or a receive buffer for a reference */
	uint32_t len;	     /* frame bytes */
	uint32_t sent;	     /* bytes of the frame already written (partial sends) */
	uint32_t cap;	     /* bytes of data[]; 0 for a reference */
	uint16_t owner;	     /* worker whose pool holds the memory */
	uint8_t kind;	     /* enum pktbuf_kind */
	uint8_t pool;	     /* enum pktbuf_pool_id: the owner's pool it goes back to */
	uint8_t fq_flow;     /* codel queue: flow a PeerGone waits for (fq_codel.c) */
	uint16_t recv_buf;    /* reference: the owner's receive buffer it points into */
	uint32_t fq_after;    /* codel queue: that flow's packets to go out first */
	uint64_t dst_seq;     /* connection sequence of the destination (cross-worker) */
	uint64_t enq_ns;      /* when it was queued (queue_policy codel: sojourn time) */
	uint8_t dst[KEY_LEN]; /* destination key (cross-worker) */
	uint8_t data[];
};

struct pktbuf_pool {
	uint16_t owner;
	uint8_t id;			     /* enum pktbuf_pool_id */
	struct pktbuf *free[PKTBUF_CLASSES]; /* idle buffers, by size class */
	struct pktbuf *free_refs;	     /* idle reference descriptors */
	uint64_t bytes_allocated;	     /* memory held by the pool, free or in use */
	uint64_t bytes_limit;		/* allocation beyond this fails (counted by the caller) */
	uint64_t in_use;		/* buffers handed out and not yet returned */
	uint32_t nfree[PKTBUF_CLASSES]; /* idle buffers, by size class */
	uint32_t min_free[PKTBUF_CLASSES]; /* fewest idle since the last trim */
};

void pktbuf_pool_init(struct pktbuf_pool *pool, uint16_t owner, enum pktbuf_pool_id id,
		      uint64_t bytes_limit);
void pktbuf_pool_destroy(struct pktbuf_pool *pool);

/*
 * Gives back to the system the buffers that stayed idle since the previous
 * call (per size class, the fewest idle seen in between), so memory taken
 * in a burst goes back once the burst is over while a steady load keeps its
 * working set. Returns the bytes freed.
 */
uint64_t pktbuf_pool_trim(struct pktbuf_pool *pool);

/* Returns a buffer with room for frame_len bytes, or NULL when over the limit. */
struct pktbuf *pktbuf_alloc(struct pktbuf_pool *pool, size_t frame_len);
/*
 * Returns a reference to len frame bytes at frame, inside receive buffer
 * recv_buf of the pool's worker, or NULL when over the limit. The caller
 * keeps the receive buffer alive until the reference is freed.
 */
struct pktbuf *pktbuf_alloc_ref(struct pktbuf_pool *pool, uint8_t *frame, uint32_t len,
				uint16_t recv_buf);
static inline bool pktbuf_is_ref(const struct pktbuf *pb)
{
	return pb->cap == 0;
}
/*
 * Returns a buffer or reference to its pool; only for buffers with
 * owner == pool->owner. Freeing a reference does not release its receive
 * buffer: the worker does (worker_free_own_buf).
 */
void pktbuf_free(struct pktbuf_pool *pool, struct pktbuf *pb);

#endif
