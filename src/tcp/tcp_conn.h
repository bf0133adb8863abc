/* SPDX-License-Identifier: MIT */
/*
 * Userspace TCP for established connections handed off by the kernel
 * (docs/bypass.md). One struct tcp_conn per connection, owned by one
 * dataplane worker: nothing is shared, nothing is allocated per packet and
 * the engine makes no system call. Packets come in through tcp_input(),
 * go out through the emit callback, and time only moves when the caller
 * passes `now` (microseconds, any monotonic origin).
 *
 * The caller's loop: feed received packets to tcp_input(), move bytes with
 * tcp_send()/tcp_recv(), and call tcp_timer() when tcp_next_deadline() has
 * passed. Every entry point may emit packets.
 */
#ifndef HD_TCP_CONN_H
#define HD_TCP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "tcp_ranges.h"
#include "tcp_snapshot.h"

/* Largest payload we put in one segment, whatever the peer's MSS says (jumbo frames). */
#define TCP_MSS_CAP 8960
/* Room for the largest packet the engine emits: IPv6 + TCP with 40 option bytes + payload. */
#define TCP_PKT_MAX (40 + 60 + TCP_MSS_CAP)

enum tcp_state {
	TCPS_ESTABLISHED = 0,
	TCPS_FIN_WAIT_1, /* our FIN sent, not acked */
	TCPS_FIN_WAIT_2, /* our FIN acked, the peer's not seen */
	TCPS_CLOSING,	 /* both FINs sent, ours not acked */
	TCPS_TIME_WAIT,
	TCPS_CLOSE_WAIT, /* the peer's FIN seen, ours not sent */
	TCPS_LAST_ACK,
	TCPS_CLOSED,
};

/* Why a connection reached TCPS_CLOSED. */
enum tcp_close_reason {
	TCP_CLOSE_NONE = 0,
	TCP_CLOSE_NORMAL,	 /* FIN both ways, TIME_WAIT over */
	TCP_CLOSE_RESET,	 /* the peer sent a valid RST */
	TCP_CLOSE_ABORT,	 /* tcp_abort(): we sent RST */
	TCP_CLOSE_RTO_TIMEOUT,	 /* retransmissions unanswered */
	TCP_CLOSE_KEEPALIVE,	 /* keepalive probes unanswered */
	TCP_CLOSE_PROBE_TIMEOUT, /* zero-window probes unanswered */
	TCP_CLOSE_FIN_WAIT2,	 /* the peer never sent its FIN */
};

/* Emits one IP packet (IPv4 or IPv6, per the flow). The buffer is only valid during the call. */
typedef void (*tcp_emit_fn)(void *ctx, const uint8_t *pkt, size_t len);

struct tcp_config {
	uint32_t sndbuf;	 /* send buffer bytes, power of two */
	uint32_t rcvbuf;	 /* receive buffer bytes, power of two; also bounds the OOO data */
	uint32_t rto_min_us;	 /* RFC 6298 (2.4) lower bound */
	uint32_t rto_max_us;	 /* backoff cap */
	uint32_t rto_initial_us; /* when the snapshot has no RTT */
	uint8_t rto_retries;	 /* consecutive timeouts before the connection is dropped */
	uint32_t delack_us;	 /* delayed ACK timer */
	uint32_t keepalive_idle_us; /* 0: no keepalive */
	uint32_t keepalive_intvl_us;
	uint8_t keepalive_probes;
	uint8_t persist_probes; /* unanswered zero-window probes before dropping */
	uint32_t fin_wait2_us;	/* how long to wait for the peer's FIN after ours is acked */
	uint32_t time_wait_us;
	uint16_t challenge_ack_per_s; /* RFC 5961 section 7 */
	bool allow_partial_csum;      /* veth: see tcp_parse() */
};

/* The defaults: Linux's where a peer's expectations depend on them (docs/bypass.md). */
void tcp_config_default(struct tcp_config *cfg);

struct tcp_stats {
	uint64_t segs_in, segs_out;
	uint64_t bytes_in, bytes_out; /* payload delivered in order / first sent */
	uint64_t retrans_segs, retrans_bytes;
	uint64_t fast_retrans; /* recoveries entered by dupacks or SACK */
	uint64_t lost_retrans; /* retransmissions found lost by SACK, resent without an RTO */
	uint64_t tail_probes;  /* tail loss probes sent */
	uint64_t rto_timeouts;
	uint64_t ooo_segs;	   /* segments that arrived above rcv_nxt */
	uint64_t ooo_drops;	   /* out-of-order segments refused: map full */
	uint64_t rcv_window_drops; /* bytes beyond our window (trimmed) */
	uint64_t dup_segs;	   /* segments entirely below rcv_nxt */
	uint64_t dupacks_in;
	uint64_t bad_csum, malformed;
	uint64_t paws_drops;
	uint64_t challenge_acks;	    /* RFC 5961: in-window RST, SYN, bad ACK */
	uint64_t oow_acks;		    /* replies to stale or out-of-window ACKs (PAWS too) */
	uint64_t challenge_acks_suppressed; /* either kind, over challenge_ack_per_s */
	uint64_t rst_ignored;		    /* out-of-window RSTs */
	uint64_t bad_acks;		    /* ACKs for data never sent, or too old */
	uint64_t zero_window_probes, keepalive_probes;
	uint64_t delayed_acks;
	uint64_t rtt_samples;
};

/* A snapshot of the figures an operator looks at (hdcli, /metrics). */
struct tcp_info_view {
	enum tcp_state state;
	uint32_t srtt_us, rttvar_us, rto_us;
	uint32_t cwnd, ssthresh; /* bytes */
	uint32_t snd_wnd, rcv_wnd;
	uint32_t inflight;
	uint32_t ooo_bytes; /* bytes held above rcv_nxt */
	uint32_t unsent, unread;
};

struct tcp_conn {
	struct tcp_flow flow;
	struct tcp_config cfg;
	enum tcp_state state;
	enum tcp_close_reason close_reason;
	tcp_emit_fn emit;
	void *emit_ctx;

	/* Send side. The send buffer holds [snd_una, snd_una + sbuf_len). */
	uint8_t *sbuf;
	uint32_t sbuf_mask;
	uint32_t sbuf_base; /* the sequence number that maps to sbuf[0] */
	uint32_t sbuf_len;
	uint32_t snd_una, snd_nxt;
	uint32_t snd_max; /* highest sequence sent (snd_nxt moves back after an RTO) */
	uint32_t snd_wnd, max_snd_wnd;
	uint32_t snd_wl1, snd_wl2;
	uint16_t mss;	    /* our segments' payload */
	uint8_t adv_shift;  /* the scale of window fields we send */
	uint8_t peer_shift; /* the scale of window fields the peer sends */
	bool sack_ok, ts_ok;
	bool fin_queued; /* tcp_close(): FIN after the last byte */
	bool fin_sent;
	uint32_t fin_seq; /* the sequence number our FIN takes */

	/* Receive side. The buffer holds [rcv_read, rcv_read + rbuf size). */
	uint8_t *rbuf;
	uint32_t rbuf_mask;
	uint32_t rbuf_base;
	uint32_t rcv_read; /* the next byte the application reads */
	uint32_t rcv_nxt;
	uint32_t rcv_adv;      /* the right edge we last advertised */
	uint32_t rcv_promised; /* the kernel's advertised edge at handoff (see tcp_conn_init) */
	uint32_t last_ack_sent;
	struct tcp_ranges ooo; /* received above rcv_nxt */
	bool peer_fin;	       /* FIN received in order: rcv_nxt counts it */
	bool ooo_fin;	       /* FIN seen out of order, at ooo_fin_seq */
	uint32_t ooo_fin_seq;
	uint8_t unacked_segs; /* full segments received since our last ACK */

	/* Timestamps (RFC 7323). */
	uint32_t ts_recent;
	int32_t ts_offset;

	/* RTT and retransmission timer (RFC 6298), microseconds. */
	uint32_t srtt_us, rttvar_us, rto_us;
	uint8_t backoff;
	bool rtt_timing; /* Karn timing of one segment when no timestamps */
	uint32_t rtt_seq;
	uint64_t rtt_start;

	/* Congestion control (tcp_cc.c) and loss recovery. */
	uint32_t cwnd, ssthresh;
	uint32_t bytes_acked; /* RFC 3465 byte counting in congestion avoidance */
	uint8_t dupacks;
	bool in_recovery;
	uint32_t recover;  /* snd_max when recovery began (RFC 6582) */
	uint32_t high_rxt; /* retransmitted up to here in this recovery (RFC 6675) */
	uint32_t rxt_mark; /* snd_max at the latest retransmission in this recovery */
	struct tcp_ranges sacked;

	/* Timers: absolute deadlines, 0 = off. */
	uint64_t rto_at; /* retransmission, or zero-window probe when persist is set */
	uint64_t tlp_at; /* tail loss probe (tcp_timer.c) */
	bool tlp_sent;	 /* one probe per tail, until an ACK moves snd_una */
	bool persist;
	uint8_t persist_backoff;
	uint8_t persist_unanswered; /* zero-window probes sent since the last ACK */
	uint8_t keepalive_unanswered;
	uint64_t delack_at;
	uint64_t keepalive_at;
	uint64_t close_at; /* FIN_WAIT_2 or TIME_WAIT expiry */
	uint64_t last_rx;
	uint64_t last_data_tx; /* when new data last went out (idle restart) */
	uint64_t now;	       /* the latest time the caller passed */

	/* Challenge-ACK budget (RFC 5961 section 7). */
	uint64_t challenge_window_start;
	uint16_t challenge_count;

	uint16_t ip_id;
	bool ack_now; /* an ACK is owed at the end of this call */
	struct tcp_stats stats;
};

/*
 * Takes the connection over from a snapshot (its queues are copied in, the
 * caller keeps the snapshot's buffers). Allocates the send and receive
 * buffers, nothing else. Returns 0, or -EINVAL (bad config or snapshot)
 * or -ENOMEM; the conn is then unusable and needs no tcp_conn_free().
 */
int tcp_conn_init(struct tcp_conn *c, const struct tcp_snapshot *snap, const struct tcp_config *cfg,
		  tcp_emit_fn emit, void *emit_ctx, uint64_t now);
void tcp_conn_free(struct tcp_conn *c);

enum tcp_input_result {
	TCP_IN_OK = 0,
	TCP_IN_NOT_MINE, /* another flow's packet (the caller's demux is wrong) */
	TCP_IN_BAD,	 /* malformed or bad checksum: counted, dropped */
	TCP_IN_DROPPED,	 /* valid but not acceptable (window, PAWS, RFC 5961) */
	TCP_IN_CLOSED,	 /* the connection is (now) closed */
};

/* One received IP packet. */
enum tcp_input_result tcp_input(struct tcp_conn *c, const uint8_t *pkt, size_t len, uint64_t now);
/*
 * Queues up to len bytes and sends what it may. Returns how many were
 * taken (0: buffer full), -EPIPE after close, -ECONNRESET after a reset.
 */
ssize_t tcp_send(struct tcp_conn *c, const void *buf, size_t len, uint64_t now);
/*
 * The same without sending: a worker that writes several frames in one
 * turn queues them all and calls tcp_push() once, so they leave as full
 * segments instead of one small segment per frame.
 */
ssize_t tcp_queue(struct tcp_conn *c, const void *buf, size_t len, uint64_t now);
void tcp_push(struct tcp_conn *c, uint64_t now);
/* Reads up to len in-order bytes; 0 when none (see tcp_recv_eof()), -ECONNRESET after a reset. */
ssize_t tcp_recv(struct tcp_conn *c, void *buf, size_t len, uint64_t now);
/* The peer's FIN has been read up to: no byte will come. */
bool tcp_recv_eof(const struct tcp_conn *c);
/* Bytes tcp_send() would take now. */
uint32_t tcp_send_space(const struct tcp_conn *c);
/* Bytes tcp_recv() would return now. */
uint32_t tcp_recv_ready(const struct tcp_conn *c);
/* Half-close: FIN after every queued byte. */
void tcp_close(struct tcp_conn *c, uint64_t now);
/* RST now, and TCPS_CLOSED. */
void tcp_abort(struct tcp_conn *c, uint64_t now);
/* Runs expired timers. Returns the next deadline (UINT64_MAX: none). */
uint64_t tcp_timer(struct tcp_conn *c, uint64_t now);
uint64_t tcp_next_deadline(const struct tcp_conn *c);
void tcp_info(const struct tcp_conn *c, struct tcp_info_view *out);
const char *tcp_state_name(enum tcp_state s);

#endif
