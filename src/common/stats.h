/* SPDX-License-Identifier: MIT */
/*
 * Per-worker counters. Each worker is the only writer of its own block, so
 * counters are plain integers bumped without atomic read-modify-write;
 * readers (the management plane) sum the blocks with relaxed loads.
 */
#ifndef HD_STATS_H
#define HD_STATS_H

#include <stdint.h>

enum drop_reason {
	DROP_UNKNOWN_DEST = 0,
	DROP_UNKNOWN_DEST_ON_FWD,
	DROP_GONE_DISCONNECTED,
	DROP_QUEUE_HEAD,
	DROP_QUEUE_TAIL,
	DROP_WRITE_ERROR,
	DROP_DUP_CLIENT,
	DROP_NO_BUFFER,	    /* the worker's buffer pool is at its limit */
	DROP_QUEUE_SOJOURN, /* queue_policy codel: waited past target for an interval */
	DROP_QUEUE_BYTES,   /* queue_policy codel: destination's byte budget full */
	DROP_MESH_QUEUE,    /* for a key on a mesh peer: the link's queue was full or it broke */
	DROP_HD_POLICY,	    /* an HD Send the operator's policy (hd.policy_file) refuses */
	DROP_REASON_COUNT,
};

enum drop_kind {
	DROP_KIND_DISCO = 0,
	DROP_KIND_OTHER,
	DROP_KIND_COUNT,
};

extern const char *const drop_reason_names[DROP_REASON_COUNT];

enum close_reason {
	CLOSE_EOF = 0, /* the client closed */
	CLOSE_READ_ERROR,
	CLOSE_WRITE_ERROR,
	CLOSE_WRITE_TIMEOUT,
	CLOSE_BAD_FRAME,  /* length or type the protocol forbids */
	CLOSE_CLOSE_PEER, /* a mesh peer asked */
	CLOSE_SHUTDOWN,
	CLOSE_NO_MEMORY,
	CLOSE_KEY_CONN_LIMIT, /* past limits.max_conns_per_key: the key's oldest */
	CLOSE_FRAME_TIMEOUT,  /* a frame split across reads did not complete in time */
	CLOSE_WS_BAD_FRAME,   /* a WebSocket frame the protocol forbids (DERP over WebSocket) */
	CLOSE_REASON_COUNT,
};

extern const char *const close_reason_names[CLOSE_REASON_COUNT];

struct worker_stats {
	uint64_t conns_accepted;
	uint64_t conns_closed[CLOSE_REASON_COUNT];
	uint64_t packets_recv; /* SendPacket/ForwardPacket frames received */
	uint64_t bytes_recv;   /* their packet bytes */
	uint64_t packets_sent; /* RecvPacket frames written */
	uint64_t bytes_sent;
	uint64_t packets_forwarded_in;
	uint64_t packets_forwarded_out; /* handed to a mesh link as ForwardPacket */
	uint64_t packets_dropped[DROP_REASON_COUNT][DROP_KIND_COUNT];
	uint64_t bytes_dropped[DROP_REASON_COUNT][DROP_KIND_COUNT];
	uint64_t frames_recv[0x16 + 1]; /* by type; the last slot counts unknown types */
	uint64_t frames_sent[0x16 + 1]; /* by type, counted when written */
	uint64_t peer_gone_disconnected_frames;
	uint64_t peer_gone_not_here_frames;
	uint64_t pings_dropped; /* a Ping while a Pong was still pending */
	/* A receiver not remembered for PeerGone: limits.peer_gone_recipients reached. */
	uint64_t peer_gone_recipients_refused;
	uint64_t home_connections;
	uint64_t recv_no_buffers;     /* multishot recv found the buffer ring empty */
	uint64_t packets_inplace;     /* relayed by reference from their receive buffer */
	uint64_t packets_copied;      /* relayed by a copy into a packet buffer */
	uint64_t recv_buffers_pinned; /* gauge: receive buffers held by in-place packets */
	/* Gauges, refreshed every tick: memory held by each pool (limits.*_mb). */
	uint64_t pool_bytes;		  /* packets: limits.buffer_pool_mb */
	uint64_t ctrl_pool_bytes;	  /* server frames: limits.control_pool_mb */
	uint64_t asm_pool_bytes;	  /* frames split across reads: limits.frame_assembly_mb */
	uint64_t ctrl_frames_dropped;	  /* server frames lost: the control pool was full */
	uint64_t frames_assembly_dropped; /* split frames dropped: the assembly pool was full */
	uint64_t loop_passes;
	uint64_t busy_ns; /* time spent in loop passes that found work */
	uint64_t loop_sleeps;
	uint64_t spin_hits;   /* idle spins that found work before their budget ran out */
	uint64_t spin_misses; /* idle spins that ended in a sleep */
	uint64_t wakeups;     /* sleeps ended by another thread's eventfd write */
	/* Reading paused by limits.client_rate_bytes (derper's rate_limit_per_client_waited). */
	uint64_t recv_rate_limited;
};

/* Increments a counter owned by the calling thread; readers may load it concurrently. */
static inline void stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* Sets a gauge owned by the calling thread. */
static inline void stat_set(uint64_t *gauge, uint64_t value)
{
	__atomic_store_n(gauge, value, __ATOMIC_RELAXED);
}

static inline uint64_t stat_read(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

#endif
