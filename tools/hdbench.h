/* SPDX-License-Identifier: MIT */
/*
 * hdbench's packet benchmark, shared between its parts: the options, the
 * state of pairs, connections and threads, and the result. hdbench.c runs
 * it; hdbench_args.c reads the command line, hdbench_connect.c opens the
 * pairs' connections, hdbench_pair.c moves and checks the traffic,
 * hdbench_payload.c and hdbench_hist.c hold the payload pattern and the
 * latency histogram, hdbench_report.c prints what was seen.
 */
#ifndef HD_HDBENCH_H
#define HD_HDBENCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>
#include <openssl/ssl.h>

#include "derp_client.h"
#include "derp_frame.h"
#include "hd_frame.h"
#include "key.h"

enum {
	EXIT_PASS = 0,	 /* every packet arrived intact and in order */
	EXIT_FAILED = 1, /* loss, corruption, reordering or a connection dropped mid-run */
	EXIT_SETUP = 2,	 /* bad usage or could not connect */
};

#define NSEC_PER_SEC   1000000000ULL
#define DEFAULT_PORT   3340
#define DEFAULT_COUNT  10000
#define DEFAULT_SIZE   1000
#define DEFAULT_WINDOW 16
#define PAYLOAD_MIN    16
#define PAYLOAD_MAX    DERP_MAX_PACKET_SIZE
#define PAIRS_MAX      100000
#define IDLE_MAX       1000000
/* Connecting threads for --connect-rate and --idle: handshakes block on round trips. */
#define SETUP_DEFAULT_THREADS 4
#define DEFAULT_HOLD_S	      10.0
/* A run with packets in flight and none arriving for this long is over (--stall-timeout). */
#define DEFAULT_STALL_TIMEOUT_S 10.0
#define FAILURE_REPORTS_MAX	10
#define NOTE_REPORTS_MAX	10
#define EVENTS_MAX		256
#define CONNECT_TIMEOUT_MS	10000
/* Room in every write queue for Pongs next to the data frames. */
#define PONG_FRAME_LEN (DERP_FRAME_HDR_LEN + 8)
#define PONG_ROOM      (32 * PONG_FRAME_LEN)
/* --ack: an acknowledgement is a SendPacket of the sequence number and send time. */
#define ACK_PAYLOAD_LEN 16
#define ACK_FRAME_LEN	(DERP_FRAME_HDR_LEN + KEY_LEN + ACK_PAYLOAD_LEN)
/* --proto hd: a Send is the header and the destination peer id, then the packet. */
#define HD_SEND_HDR_LEN	 (HD_FRAME_HDR_LEN + 2)
#define HD_ACK_FRAME_LEN (HD_SEND_HDR_LEN + ACK_PAYLOAD_LEN)
/* Room for the largest frame and a socket read's worth behind it. */
#define HD_CONN_RX_CAP (HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD + 16384)

/*
 * Payload layout: sequence number (8, big endian), send time (8, CLOCK_MONOTONIC
 * ns), pair id (4, big endian), then pattern bytes from (pair, seq). Short
 * payloads keep as much of this as fits; the minimum keeps seq and time.
 */
#define PAYLOAD_SEQ_OFF	    0
#define PAYLOAD_TIME_OFF    8
#define PAYLOAD_PAIR_OFF    16
#define PAYLOAD_PATTERN_OFF 20

/*
 * Latency histogram: exact below 256 ns, then 128 buckets per power of two,
 * so any reported percentile is within 0.4% (bucket midpoint).
 */
#define HIST_SUB_BITS 7
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_EXACT    (2 * HIST_SUB)
#define HIST_BUCKETS  (HIST_EXACT + (64 - HIST_SUB_BITS - 1) * HIST_SUB)

struct bench_opts {
	const char *server;
	uint16_t port;
	uint16_t recv_port; /* receivers' relay (a mesh peer of port's); 0 = port */
	uint32_t pairs;
	uint32_t size;
	uint64_t count;	   /* packets per pair, when duration_s is 0 */
	double duration_s; /* run time; 0 = count mode */
	uint32_t window;
	bool ack;      /* --ack: acknowledgements back through the relay open the window */
	int relay_pid; /* 0 = not measured */
	bool direct;
	double rate; /* packets/s per pair; 0 = as fast as the window allows */
	bool fast_start;
	uint32_t threads;
	bool threads_given;
	bool json;
	bool tls;
	bool tls12;
	const char *tls_ca_file;
	const char *tls_server_name;
	bool websocket;		/* --websocket: DERP over WebSocket */
	bool hd;		/* --proto hd: HD (docs/hd-protocol.md) instead of DERP */
	bool connect_rate_mode; /* --connect-rate */
	double connect_rate;	/* handshakes/s; 0 = unpaced */
	uint64_t idle_conns;	/* --idle */
	double hold_s;
	uint64_t stall_timeout_ns;
};

struct latency_hist {
	uint64_t buckets[HIST_BUCKETS];
	uint64_t count;
	uint64_t max_ns;
	double sum_ns;
};

struct bench_thread;
struct bench_pair;

struct bench_conn {
	struct derp_client client; /* socket, keys and the frame reader */
	struct bench_pair *pair;
	bool is_sender;
	bool closed;
	bool want_write;       /* EPOLLOUT is registered */
	bool read_wants_write; /* TLS: a read waits for the socket to take bytes */
	uint8_t *out;	       /* write queue: bytes [out_head, out_tail) wait for the socket */
	size_t out_head;
	size_t out_tail;
	size_t out_cap;
	/* --proto hd: the id the relay gave this connection, and bytes read, not yet framed. */
	uint16_t hd_peer_id;
	uint8_t *hd_rx; /* HD_CONN_RX_CAP bytes; [hd_rx_off, + hd_rx_len) unread */
	size_t hd_rx_off;
	size_t hd_rx_len;
};

struct bench_pair {
	uint32_t id;
	struct bench_thread *thread;
	struct bench_conn tx;
	struct bench_conn rx;
	uint64_t sent;	   /* packets queued for sending; also the next sequence number */
	uint64_t next_seq; /* receiver: highest sequence seen + 1 */
	uint64_t acked;	   /* --ack, sender: highest sequence acknowledged + 1 */
	uint64_t arrived;  /* packets from the right sender with a sequence we sent */
	uint64_t corrupt;
	uint64_t misrouted;
	uint64_t reordered;
	uint64_t unexpected; /* frames that have no business on this connection */
	bool finished;
	bool failed; /* a connection ended early */
};

struct bench;

struct bench_thread {
	struct bench *bench;
	pthread_t tid;
	int epfd;
	struct bench_pair **pairs;
	uint32_t npairs;
	uint32_t active;
	uint64_t last_progress_ns;
	uint64_t end_ns;
	uint64_t conn_errors;
	bool send_end_seen; /* duration mode: the sweep at the end of sending is done */
	bool timed_out;
	struct latency_hist hist;
};

struct bench {
	struct bench_opts opts;
	struct bench_pair *pairs;
	struct bench_thread *threads;
	size_t frame_len; /* one data frame on the wire: header, key, payload */
	uint64_t start_ns;
	uint64_t send_end_ns; /* duration mode: no new packets after this */
	pthread_barrier_t start_barrier;
	SSL_CTX *direct_server_tls; /* --direct --tls: the receivers' side */
	char tls_desc[96];	    /* negotiated version and cipher, for the report */
};

struct bench_result {
	uint64_t sent;
	uint64_t expected;
	uint64_t arrived;
	uint64_t lost;
	uint64_t corrupt;
	uint64_t misrouted;
	uint64_t reordered;
	uint64_t unexpected;
	uint64_t conn_errors;
	bool timed_out;
	double elapsed_s;
	double relay_cpu_s; /* < 0 when not measured */
	double self_cpu_s;
	struct latency_hist hist;
};

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* hdbench_args.c: returns 0, 1 for --help, or -1 on a usage error (already printed). */
int parse_args(int argc, char **argv, struct bench_opts *o);

/* hdbench_payload.c: sequence, send time, pair id and pattern bytes (layout above). */
void put_be64(uint8_t *p, uint64_t v);
uint64_t get_be64(const uint8_t *p);
void payload_build(uint8_t *p, size_t size, uint32_t pair, uint64_t seq, uint64_t time_ns);
/* Checks everything after seq and time. Returns the first bad offset, or -1. */
ssize_t payload_verify_body(const uint8_t *p, size_t size, uint32_t pair, uint64_t seq);

/* hdbench_hist.c */
void hist_record(struct latency_hist *h, uint64_t v);
void hist_merge(struct latency_hist *into, const struct latency_hist *from);
double hist_percentile(const struct latency_hist *h, double pct);

/* hdbench_pair.c: one thread's event loop over its pairs; arg is its bench_thread. */
void *thread_main(void *arg);

/*
 * hdbench_hd.c: connects c over the transport of o (TCP or TLS), upgrades
 * to HD on /hd and authenticates with a fresh key (no token: the relay must
 * admit any key that proves itself). Returns 0, or -1 with a reason in err.
 */
int hd_conn_connect(struct bench_conn *c, const struct bench_opts *o, uint16_t port, char *err,
		    size_t errlen);
/*
 * The next HD frame, as derp_client_read_frame does for DERP: 1 with a
 * frame (payload valid until the next call), 0 when none came within
 * timeout_ms (0: only what is there, reading until the socket would block),
 * -1 at the end of the stream (errno 0) or on an error.
 */
int hd_conn_read_frame(struct bench_conn *c, int timeout_ms, uint8_t *type, const uint8_t **payload,
		       uint32_t *len);

/* hdbench_connect.c */
int bench_connect_all(struct bench *b);
int bench_assign_threads(struct bench *b);
void bench_free(struct bench *b);

/* hdbench_report.c */
void report_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_collect(const struct bench *b, struct bench_result *r);
bool bench_result_ok(const struct bench_result *r);
void bench_report_print(const struct bench *b, const struct bench_result *r);
void bench_report_json(const struct bench *b, const struct bench_result *r);

#endif
