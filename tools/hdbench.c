// SPDX-License-Identifier: MIT
/*
 * hdbench: load generator and end-to-end verifier for a DERP relay.
 *
 * Each pair is one sender connection and one receiver connection with
 * distinct keys. The sender keeps at most --window packets in flight (sent
 * but not yet seen by the receiver), optionally paced to --rate packets/s.
 * Every payload carries its sequence number, its send time and bytes derived
 * from (pair, sequence), so the receiver can check the source key, the
 * length, the order, loss and every byte. Both connections of a pair live in
 * the same thread, so pair state needs no locks; each thread runs one epoll
 * loop over nonblocking sockets with a write queue per connection.
 *
 * --ack makes the receiver acknowledge every packet back through the relay
 * (a small packet to the sender carrying the sequence number and send time),
 * and the window counts packets not yet acknowledged: request/response
 * traffic in both directions, like a real tunnel's data and its ACKs. The
 * latency is then the round trip, packet there and acknowledgement back.
 *
 * --direct replaces the relay by plain loopback TCP connections carrying the
 * same frames (the sender writes the RecvPacket frames the relay would have
 * written), which gives the no-relay limit of the same machine. With --tls
 * those connections are TLS too (a throwaway certificate), so the limit
 * includes one encryption and one decryption per packet, as a real path
 * between two peers would.
 *
 * --connect-rate and --idle measure connections rather than packets; they
 * live in hdbench_setup.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "bench_proc.h"
#include "derp_client.h"
#include "derp_frame.h"
#include "derp_tls.h"
#include "hdbench_setup.h"
#include "key.h"
#include "tls_selfsigned.h"

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

static atomic_uint failures_reported;
static atomic_uint notes_reported;

/* ---- small helpers ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void report_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first few failures go to stderr; the counts in the summary tell the rest. */
static void report_failure(const char *fmt, ...)
{
	unsigned int n = atomic_fetch_add(&failures_reported, 1);
	va_list ap;

	if (n > FAILURE_REPORTS_MAX)
		return;
	if (n == FAILURE_REPORTS_MAX) {
		fprintf(stderr, "hdbench: FAIL: further failures not shown\n");
		return;
	}
	va_start(ap, fmt);
	fprintf(stderr, "hdbench: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Things a relay may legitimately say (Health, PeerGone...) that are worth seeing. */
static void report_note(const char *fmt, ...)
{
	unsigned int n = atomic_fetch_add(&notes_reported, 1);
	va_list ap;

	if (n >= NOTE_REPORTS_MAX)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "hdbench: note: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- payload pattern ---- */

/* splitmix64 finalizer: cheap, and every input bit affects every output bit. */
static uint64_t mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

static uint64_t pattern_seed(uint32_t pair, uint64_t seq)
{
	return mix64(((uint64_t)pair << 40) ^ seq ^ 0x6864626e63680000ULL);
}

static uint64_t pattern_word(uint64_t seed, size_t index)
{
	return mix64(seed + index * 0x9e3779b97f4a7c15ULL);
}

static void pattern_fill(uint8_t *p, size_t len, uint64_t seed)
{
	size_t off = 0, index = 0;
	uint64_t w;

	for (; off + 8 <= len; off += 8, index++) {
		w = pattern_word(seed, index);
		memcpy(p + off, &w, 8);
	}
	if (off < len) {
		w = pattern_word(seed, index);
		memcpy(p + off, &w, len - off);
	}
}

/* Returns the offset of the first byte that differs from the pattern, or -1. */
static ssize_t pattern_mismatch(const uint8_t *p, size_t len, uint64_t seed)
{
	size_t off = 0, index = 0, n;
	uint64_t want;
	uint8_t bytes[8];

	for (; off < len; off += 8, index++) {
		want = pattern_word(seed, index);
		n = len - off < 8 ? len - off : 8;
		if (memcmp(p + off, &want, n) == 0)
			continue;
		memcpy(bytes, &want, 8);
		for (size_t i = 0; i < n; i++) {
			if (p[off + i] != bytes[i])
				return (ssize_t)(off + i);
		}
	}
	return -1;
}

static void payload_build(uint8_t *p, size_t size, uint32_t pair, uint64_t seq, uint64_t time_ns)
{
	uint8_t id[4];

	put_be64(p + PAYLOAD_SEQ_OFF, seq);
	put_be64(p + PAYLOAD_TIME_OFF, time_ns);
	put_be32(id, pair);
	memcpy(p + PAYLOAD_PAIR_OFF, id, size - PAYLOAD_PAIR_OFF < 4 ? size - PAYLOAD_PAIR_OFF : 4);
	if (size > PAYLOAD_PATTERN_OFF)
		pattern_fill(p + PAYLOAD_PATTERN_OFF, size - PAYLOAD_PATTERN_OFF,
			     pattern_seed(pair, seq));
}

/* Checks everything after seq and time. Returns the first bad offset, or -1. */
static ssize_t payload_verify_body(const uint8_t *p, size_t size, uint32_t pair, uint64_t seq)
{
	size_t id_len = size - PAYLOAD_PAIR_OFF < 4 ? size - PAYLOAD_PAIR_OFF : 4;
	uint8_t id[4];
	ssize_t bad;

	put_be32(id, pair);
	for (size_t i = 0; i < id_len; i++) {
		if (p[PAYLOAD_PAIR_OFF + i] != id[i])
			return (ssize_t)(PAYLOAD_PAIR_OFF + i);
	}
	if (size <= PAYLOAD_PATTERN_OFF)
		return -1;
	bad = pattern_mismatch(p + PAYLOAD_PATTERN_OFF, size - PAYLOAD_PATTERN_OFF,
			       pattern_seed(pair, seq));
	return bad < 0 ? -1 : bad + PAYLOAD_PATTERN_OFF;
}

/* ---- latency histogram ---- */

static unsigned int hist_index(uint64_t v)
{
	unsigned int msb, shift;

	if (v < HIST_EXACT)
		return (unsigned int)v;
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - HIST_SUB_BITS;
	/* (v >> shift) lies in [HIST_SUB, 2 * HIST_SUB). */
	return HIST_EXACT + (msb - HIST_SUB_BITS - 1) * HIST_SUB +
	       (unsigned int)((v >> shift) - HIST_SUB);
}

/* The middle of the value range a bucket covers. */
static double hist_bucket_value(unsigned int index)
{
	unsigned int k, msb, shift;
	uint64_t mant;

	if (index < HIST_EXACT)
		return index;
	k = index - HIST_EXACT;
	msb = HIST_SUB_BITS + 1 + k / HIST_SUB;
	shift = msb - HIST_SUB_BITS;
	mant = HIST_SUB + k % HIST_SUB;
	return (double)(mant << shift) + (double)((1ULL << shift) - 1) / 2.0;
}

static void hist_record(struct latency_hist *h, uint64_t v)
{
	h->buckets[hist_index(v)]++;
	h->count++;
	h->sum_ns += (double)v;
	if (v > h->max_ns)
		h->max_ns = v;
}

static void hist_merge(struct latency_hist *into, const struct latency_hist *from)
{
	for (unsigned int i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
}

static double hist_percentile(const struct latency_hist *h, double pct)
{
	double want = pct / 100.0 * (double)h->count;
	uint64_t rank = (uint64_t)want, seen = 0;

	if (h->count == 0)
		return 0;
	/* The smallest value with at least pct percent of samples at or below it. */
	if ((double)rank < want || rank == 0)
		rank++;
	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return hist_bucket_value(i);
	}
	return (double)h->max_ns;
}

/* ---- connections ---- */

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
	uint8_t *dst = conn_out_reserve(&p->rx, ACK_FRAME_LEN);

	if (!dst) {
		report_failure("pair %u: no room to acknowledge packet %" PRIu64, p->id, seq);
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

/* Checks one RecvPacket payload (source key + packet) on the receiver. */
static void pair_verify_packet(struct bench_pair *p, const uint8_t *frame, uint32_t len)
{
	const struct bench *b = p->thread->bench;
	uint64_t now = now_ns(), seq, sent_at;
	const uint8_t *pkt = frame + KEY_LEN;
	char key_short[8];
	size_t pkt_len;
	ssize_t bad;

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
	pkt_len = len - KEY_LEN;
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

/* --ack, sender: an acknowledgement from the pair's receiver; records the round trip. */
static void pair_verify_ack(struct bench_pair *p, const uint8_t *frame, uint32_t len)
{
	uint64_t now = now_ns(), seq, sent_at;

	if (len != KEY_LEN + ACK_PAYLOAD_LEN || memcmp(frame, p->rx.client.pub, KEY_LEN) != 0) {
		p->misrouted++;
		report_failure("pair %u: acknowledgement of %u bytes not from the pair's receiver",
			       p->id, len);
		return;
	}
	seq = get_be64(frame + KEY_LEN);
	sent_at = get_be64(frame + KEY_LEN + 8);
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

static void conn_unexpected_frame(struct bench_conn *c, uint8_t type, uint32_t len, const char *why)
{
	c->pair->unexpected++;
	report_failure("pair %u %s connection: unexpected %s frame (type 0x%02x, %u bytes)%s%s",
		       c->pair->id, conn_role(c), derp_frame_type_name(type), type, len,
		       why ? ": " : "", why ? why : "");
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

	while (!c->closed) {
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

static void *thread_main(void *arg)
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

/* ---- setup ---- */

static int conn_init_queue(struct bench_conn *c, struct bench_pair *p, bool is_sender, size_t cap)
{
	c->pair = p;
	c->is_sender = is_sender;
	c->out_cap = cap;
	c->out = malloc(cap);
	return c->out ? 0 : -1;
}

static int pair_connect_relay(struct bench *b, struct bench_pair *p)
{
	struct derp_client_opts copts = {
		.fast_start = b->opts.fast_start,
		.timeout_ms = CONNECT_TIMEOUT_MS,
		.tls = b->opts.tls,
		.tls12 = b->opts.tls12,
		.tls_ca_file = b->opts.tls_ca_file,
		.tls_server_name = b->opts.tls_server_name,
	};
	char err[256];

	/* The receiver first, so the relay knows it before the first packet. */
	if (derp_client_connect(&p->rx.client, b->opts.server, b->opts.port, &copts, err,
				sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u receiver: %s\n", p->id, err);
		return -1;
	}
	if (derp_client_connect(&p->tx.client, b->opts.server, b->opts.port, &copts, err,
				sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u sender: %s\n", p->id, err);
		return -1;
	}
	return 0;
}

static int direct_listen(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * Runs both ends of a TLS handshake in this thread: each step goes as far
 * as the other end's bytes allow, then we wait for either socket.
 */
static int direct_tls_handshake(SSL *client, int cfd, SSL *server, int sfd, char *err,
				size_t errlen)
{
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_MS * 1000000ULL;
	bool cdone = false, sdone = false;
	short cwant = POLLIN, swant = POLLIN;
	int ret;

	while (!cdone || !sdone) {
		struct pollfd pfd[2] = { { .fd = cfd, .events = cwant },
					 { .fd = sfd, .events = swant } };

		if (!cdone) {
			ret = derp_tls_handshake_step(client, &cwant, err, errlen);
			if (ret < 0)
				return -1;
			cdone = ret == 1;
		}
		if (!sdone) {
			ret = derp_tls_handshake_step(server, &swant, err, errlen);
			if (ret < 0)
				return -1;
			sdone = ret == 1;
		}
		if (cdone && sdone)
			break;
		if (now_ns() > deadline) {
			snprintf(err, errlen, "direct TLS handshake timed out");
			return -1;
		}
		pfd[0].events = cdone ? 0 : cwant;
		pfd[1].events = sdone ? 0 : swant;
		poll(pfd, 2, 100);
	}
	return 0;
}

/* Wraps a connected sender/receiver socket pair in TLS, sender as the client. */
static int pair_wrap_direct_tls(struct bench *b, struct bench_pair *p, int sfd, int rfd)
{
	SSL *client = NULL, *server = NULL;
	SSL_CTX *cctx;
	char err[256];

	if (set_nonblocking(sfd) < 0 || set_nonblocking(rfd) < 0) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	cctx = derp_tls_client_ctx(b->opts.tls12, NULL, err, sizeof(err));
	if (!cctx)
		goto fail;
	client = derp_tls_client_session(cctx, sfd, NULL, NULL, err, sizeof(err));
	server = SSL_new(b->direct_server_tls);
	if (!client || !server || SSL_set_fd(server, rfd) != 1) {
		if (client && !server)
			snprintf(err, sizeof(err), "TLS server session failed");
		goto fail;
	}
	SSL_set_accept_state(server);
	if (direct_tls_handshake(client, sfd, server, rfd, err, sizeof(err)) < 0)
		goto fail;
	if (derp_client_wrap_tls(&p->tx.client, sfd, client, err, sizeof(err)) < 0) {
		close(rfd);
		derp_tls_close(server);
		goto fail_wrapped;
	}
	if (derp_client_wrap_tls(&p->rx.client, rfd, server, err, sizeof(err)) < 0)
		goto fail_wrapped;
	return 0;
fail:
	derp_tls_close(client);
	derp_tls_close(server);
	close(sfd);
	close(rfd);
fail_wrapped:
	fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
	return -1;
}

/*
 * One loopback TCP connection per pair. Connecting and accepting one at a
 * time pairs each accepted socket with the connection just made.
 */
static int pair_connect_direct(struct bench *b, struct bench_pair *p, int listen_fd,
			       const struct sockaddr_in *addr)
{
	char err[256];
	int sfd, rfd;

	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 || connect(sfd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		fprintf(stderr, "hdbench: pair %u: direct connect: %s\n", p->id, strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return -1;
	}
	if (b->opts.tls) {
		rfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (rfd < 0) {
			fprintf(stderr, "hdbench: pair %u: accept: %s\n", p->id, strerror(errno));
			close(sfd);
			return -1;
		}
		return pair_wrap_direct_tls(b, p, sfd, rfd);
	}
	if (derp_client_wrap_socket(&p->tx.client, sfd, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
		return -1;
	}
	rfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (rfd < 0) {
		fprintf(stderr, "hdbench: pair %u: accept: %s\n", p->id, strerror(errno));
		return -1;
	}
	if (derp_client_wrap_socket(&p->rx.client, rfd, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
		return -1;
	}
	return 0;
}

static int bench_connect_all(struct bench *b)
{
	struct sockaddr_in addr;
	int listen_fd = -1, ret = 0;

	if (b->opts.direct && b->opts.tls) {
		char err[256];

		b->direct_server_tls = tls_selfsigned_server_ctx(err, sizeof(err));
		if (!b->direct_server_tls) {
			fprintf(stderr, "hdbench: %s\n", err);
			return -1;
		}
		/* The receiver gets what the sender offers, as from the relay. */
		SSL_CTX_set_max_proto_version(b->direct_server_tls,
					      b->opts.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	}
	if (b->opts.direct) {
		listen_fd = direct_listen(&addr);
		if (listen_fd < 0) {
			fprintf(stderr, "hdbench: loopback listener: %s\n", strerror(errno));
			return -1;
		}
	}
	for (uint32_t i = 0; i < b->opts.pairs && ret == 0; i++) {
		struct bench_pair *p = &b->pairs[i];

		p->rx.client.fd = -1;
		p->tx.client.fd = -1;
		if (b->opts.direct)
			ret = pair_connect_direct(b, p, listen_fd, &addr);
		else
			ret = pair_connect_relay(b, p);
	}
	if (listen_fd >= 0)
		close(listen_fd);
	if (ret == 0 && b->opts.tls && b->pairs[0].tx.client.ssl)
		derp_tls_describe(b->pairs[0].tx.client.ssl, b->tls_desc, sizeof(b->tls_desc));
	return ret;
}

static int thread_add_conn(struct bench_thread *t, struct bench_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int flags = fcntl(c->client.fd, F_GETFL);

	if (flags < 0 || fcntl(c->client.fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	return epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->client.fd, &ev);
}

/* Pairs go to threads round robin; both connections of a pair share a thread. */
static int bench_assign_threads(struct bench *b)
{
	uint32_t nthreads = b->opts.threads;
	size_t tx_cap = (size_t)b->opts.window * b->frame_len + PONG_ROOM;
	size_t rx_cap = (b->opts.ack ? (size_t)b->opts.window * ACK_FRAME_LEN : 0) + PONG_ROOM;

	for (uint32_t i = 0; i < nthreads; i++) {
		struct bench_thread *t = &b->threads[i];

		t->bench = b;
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		t->pairs = calloc(b->opts.pairs / nthreads + 1, sizeof(*t->pairs));
		if (t->epfd < 0 || !t->pairs)
			return -1;
	}
	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		struct bench_pair *p = &b->pairs[i];
		struct bench_thread *t = &b->threads[i % nthreads];

		p->thread = t;
		t->pairs[t->npairs++] = p;
		t->active++;
		if (conn_init_queue(&p->tx, p, true, tx_cap) < 0 ||
		    conn_init_queue(&p->rx, p, false, rx_cap) < 0)
			return -1;
		if (thread_add_conn(t, &p->tx) < 0 || thread_add_conn(t, &p->rx) < 0)
			return -1;
	}
	return 0;
}

static void bench_free(struct bench *b)
{
	if (b->pairs) {
		for (uint32_t i = 0; i < b->opts.pairs; i++) {
			derp_client_close(&b->pairs[i].tx.client);
			derp_client_close(&b->pairs[i].rx.client);
			free(b->pairs[i].tx.out);
			free(b->pairs[i].rx.out);
		}
	}
	if (b->threads) {
		for (uint32_t i = 0; i < b->opts.threads; i++) {
			if (b->threads[i].epfd > 0)
				close(b->threads[i].epfd);
			free(b->threads[i].pairs);
		}
	}
	free(b->pairs);
	free(b->threads);
	SSL_CTX_free(b->direct_server_tls);
}

/* ---- measurement ---- */

static void bench_collect(const struct bench *b, struct bench_result *r)
{
	uint64_t end = b->start_ns;

	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		const struct bench_pair *p = &b->pairs[i];
		uint64_t expected = b->opts.duration_s > 0 ? p->sent : b->opts.count;

		r->sent += p->sent;
		r->expected += expected;
		r->arrived += p->arrived;
		r->lost += p->arrived < expected ? expected - p->arrived : 0;
		r->corrupt += p->corrupt;
		r->misrouted += p->misrouted;
		r->reordered += p->reordered;
		r->unexpected += p->unexpected;
	}
	for (uint32_t i = 0; i < b->opts.threads; i++) {
		const struct bench_thread *t = &b->threads[i];

		r->conn_errors += t->conn_errors;
		r->timed_out |= t->timed_out;
		if (t->end_ns > end)
			end = t->end_ns;
		hist_merge(&r->hist, &t->hist);
	}
	r->elapsed_s = (double)(end - b->start_ns) / (double)NSEC_PER_SEC;
}

static bool bench_result_ok(const struct bench_result *r)
{
	return r->lost == 0 && r->corrupt == 0 && r->misrouted == 0 && r->reordered == 0 &&
	       r->unexpected == 0 && r->conn_errors == 0 && !r->timed_out;
}

/* ---- output ---- */

struct bench_rates {
	double pps;
	double mbps;
	double gb;
	double lat_us[3]; /* p50, p99, p99.9 */
	double lat_max_us;
	double lat_mean_us;
};

static void bench_rates_compute(const struct bench *b, const struct bench_result *r,
				struct bench_rates *out)
{
	double bytes = (double)r->arrived * b->opts.size;
	double elapsed = r->elapsed_s > 0 ? r->elapsed_s : 1e-9;

	out->pps = (double)r->arrived / elapsed;
	out->mbps = bytes * 8 / elapsed / 1e6;
	out->gb = bytes / 1e9;
	out->lat_us[0] = hist_percentile(&r->hist, 50) / 1e3;
	out->lat_us[1] = hist_percentile(&r->hist, 99) / 1e3;
	out->lat_us[2] = hist_percentile(&r->hist, 99.9) / 1e3;
	out->lat_max_us = (double)r->hist.max_ns / 1e3;
	out->lat_mean_us = r->hist.count ? r->hist.sum_ns / (double)r->hist.count / 1e3 : 0;
}

static void bench_report_print(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts *o = &b->opts;
	struct bench_rates x;

	bench_rates_compute(b, r, &x);
	if (o->direct)
		printf("hdbench: direct loopback TCP (no relay)");
	else
		printf("hdbench: relay %s port %u%s", o->server, o->port,
		       o->fast_start ? " (fast start)" : "");
	printf(", %u pair%s, %u-byte payloads, window %u, %u thread%s", o->pairs,
	       o->pairs == 1 ? "" : "s", o->size, o->window, o->threads,
	       o->threads == 1 ? "" : "s");
	if (o->rate > 0)
		printf(", %.0f packets/s per pair", o->rate);
	if (o->ack)
		printf(", acknowledged");
	if (o->tls)
		printf(", %s", b->tls_desc);
	printf("\n");
	printf("  packets    sent %" PRIu64 "  received %" PRIu64 "  lost %" PRIu64
	       "  corrupt %" PRIu64 "  reordered %" PRIu64 "  misrouted %" PRIu64 "\n",
	       r->sent, r->arrived, r->lost, r->corrupt, r->reordered, r->misrouted);
	printf("  problems   unexpected frames %" PRIu64 "  connection errors %" PRIu64
	       "  stalled %s\n",
	       r->unexpected, r->conn_errors, r->timed_out ? "yes" : "no");
	printf("  elapsed    %.3f s\n", r->elapsed_s);
	printf("  throughput %.0f packets/s  %.1f Mbit/s of payload\n", x.pps, x.mbps);
	printf("  latency    p50 %.1f us  p99 %.1f us  p99.9 %.1f us  max %.1f us  mean %.1f us"
	       "  (%s)\n",
	       x.lat_us[0], x.lat_us[1], x.lat_us[2], x.lat_max_us, x.lat_mean_us,
	       o->ack ? "round trip: packet and its acknowledgement" : "one-way, same host clock");
	if (r->relay_cpu_s >= 0)
		printf("  relay CPU  %.2f s  (%.2f CPU s per GB of payload)\n", r->relay_cpu_s,
		       x.gb > 0 ? r->relay_cpu_s / x.gb : 0);
	printf("  hdbench CPU %.2f s\n", r->self_cpu_s);
	printf("  result     %s\n", bench_result_ok(r) ? "PASS" : "FAIL");
}

static void bench_report_json(const struct bench *b, const struct bench_result *r)
{
	const struct bench_opts *o = &b->opts;
	struct bench_rates x;

	bench_rates_compute(b, r, &x);
	printf("{\"mode\":\"%s\",\"server\":\"%s\",\"port\":%u,\"fast_start\":%s,"
	       "\"pairs\":%u,\"size\":%u,\"window\":%u,\"threads\":%u,\"rate_pps\":%.3f,",
	       o->direct ? "direct" : "relay", o->direct ? "127.0.0.1" : o->server, o->port,
	       o->fast_start ? "true" : "false", o->pairs, o->size, o->window, o->threads, o->rate);
	printf("\"ack\":%s,", o->ack ? "true" : "false");
	printf("\"transport\":\"%s\",\"tls\":\"%s\",",
	       o->tls ? (o->tls12 ? "tls1.2" : "tls") : "plain", o->tls ? b->tls_desc : "");
	printf("\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64
	       ",\"corrupt\":%" PRIu64 ",\"reordered\":%" PRIu64 ",\"misrouted\":%" PRIu64
	       ",\"unexpected_frames\":%" PRIu64 ",\"connection_errors\":%" PRIu64
	       ",\"stalled\":%s,",
	       r->sent, r->arrived, r->lost, r->corrupt, r->reordered, r->misrouted, r->unexpected,
	       r->conn_errors, r->timed_out ? "true" : "false");
	printf("\"elapsed_s\":%.6f,\"packets_per_s\":%.1f,\"mbit_per_s\":%.3f,", r->elapsed_s,
	       x.pps, x.mbps);
	printf("\"latency_us\":{\"p50\":%.2f,\"p99\":%.2f,\"p999\":%.2f,\"max\":%.2f,"
	       "\"mean\":%.2f},",
	       x.lat_us[0], x.lat_us[1], x.lat_us[2], x.lat_max_us, x.lat_mean_us);
	if (r->relay_cpu_s >= 0)
		printf("\"relay_cpu_s\":%.3f,\"relay_cpu_s_per_gb\":%.4f,", r->relay_cpu_s,
		       x.gb > 0 ? r->relay_cpu_s / x.gb : 0);
	else
		printf("\"relay_cpu_s\":null,\"relay_cpu_s_per_gb\":null,");
	printf("\"hdbench_cpu_s\":%.3f,\"ok\":%s}\n", r->self_cpu_s,
	       bench_result_ok(r) ? "true" : "false");
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hdbench [options]\n"
		"Sends verified traffic through a DERP relay and reports throughput,\n"
		"latency and any loss, corruption or reordering.\n"
		"\n"
		"  --server HOST     relay address (default 127.0.0.1)\n"
		"  --port N          relay port (default %d)\n"
		"  --pairs N         sender/receiver connection pairs (default 1)\n"
		"  --size BYTES      packet payload size, %d..%d (default %d)\n"
		"  --count N         packets per pair (default %d)\n"
		"  --duration SEC    send for SEC seconds instead of a fixed count\n"
		"  --window N        packets in flight per pair: sent, not yet received "
		"(default %d)\n"
		"  --rate PPS        fixed offered load per pair, for latency at a known load\n"
		"                    (the window still caps packets in flight)\n"
		"  --ack             the receiver acknowledges each packet back through the\n"
		"                    relay; the window counts unacknowledged packets and the\n"
		"                    latency is the round trip\n"
		"  --relay-pid PID   report the relay's CPU seconds (from /proc/PID/stat)\n"
		"  --direct          no relay: the same frames over direct loopback TCP,\n"
		"                    the no-relay limit of this machine\n"
		"  --fast-start      send Derp-Fast-Start: 1 (no HTTP response expected;\n"
		"                    over TLS 1.3 the relay's metacert must name its key)\n"
		"  --threads N       event loop threads (default 1; %d for the modes below)\n"
		"  --stall-timeout SEC  give up when packets are in flight and none arrived\n"
		"                    for SEC (default %.0f); rates then end at the last arrival\n"
		"  --tls             TLS to the relay (TLS 1.3 offered, 1.2 accepted; the\n"
		"                    certificate is not verified unless --tls-ca is given);\n"
		"                    with --direct, TLS between the peers\n"
		"  --tls12           TLS 1.2 only (implies --tls)\n"
		"  --tls-ca FILE     verify the relay's certificate against FILE (PEM)\n"
		"  --tls-name NAME   SNI and the name verified (default: --server unless an IP)\n"
		"  --json            print one JSON object instead of the text summary\n"
		"  --help            this text\n"
		"\n"
		"Connection benchmarks (instead of packets):\n"
		"  --connect-rate N  open, complete the DERP handshake and close, N per second\n"
		"                    (0 or max: as fast as --threads connections go) for\n"
		"                    --duration (default 3 s) or --count handshakes in all;\n"
		"                    reports handshakes/s, handshake time, relay CPU each\n"
		"  --idle N          open N DERP connections and leave them idle for --hold;\n"
		"  --hold SEC        reports the relay's RSS growth per connection and its\n"
		"                    CPU while idle (needs --relay-pid; default hold 10 s)\n"
		"\n"
		"Latency is one-way: receive time minus the send time in the packet, both\n"
		"CLOCK_MONOTONIC on this host. Exit status: 0 every packet arrived intact and\n"
		"in order; 1 loss, corruption, reordering or a dropped connection (or a\n"
		"failed handshake, or an idle connection the relay closed); 2 usage or\n"
		"connection setup error.\n",
		DEFAULT_PORT, PAYLOAD_MIN, PAYLOAD_MAX, DEFAULT_SIZE, DEFAULT_COUNT, DEFAULT_WINDOW,
		SETUP_DEFAULT_THREADS, DEFAULT_STALL_TIMEOUT_S);
}

static int parse_u64(const char *name, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"hdbench: --%s wants an integer in %" PRIu64 "..%" PRIu64 ", not \"%s\"\n",
			name, min, max, text);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_positive_double(const char *name, const char *text, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(v > 0) || v > 1e12) {
		fprintf(stderr, "hdbench: --%s wants a positive number, not \"%s\"\n", name, text);
		return -1;
	}
	*out = v;
	return 0;
}

enum {
	OPT_SERVER = 256,
	OPT_PORT,
	OPT_PAIRS,
	OPT_SIZE,
	OPT_COUNT,
	OPT_DURATION,
	OPT_WINDOW,
	OPT_RELAY_PID,
	OPT_DIRECT,
	OPT_RATE,
	OPT_ACK,
	OPT_FAST_START,
	OPT_THREADS,
	OPT_JSON,
	OPT_TLS,
	OPT_TLS12,
	OPT_TLS_CA,
	OPT_TLS_NAME,
	OPT_CONNECT_RATE,
	OPT_IDLE,
	OPT_HOLD,
	OPT_STALL_TIMEOUT,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "pairs", required_argument, NULL, OPT_PAIRS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "relay-pid", required_argument, NULL, OPT_RELAY_PID },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "ack", no_argument, NULL, OPT_ACK },
	{ "fast-start", no_argument, NULL, OPT_FAST_START },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tls12", no_argument, NULL, OPT_TLS12 },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-name", required_argument, NULL, OPT_TLS_NAME },
	{ "connect-rate", required_argument, NULL, OPT_CONNECT_RATE },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0, 1 for --help, or -1 on a usage error (already printed). */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	double stall_s = DEFAULT_STALL_TIMEOUT_S;
	bool count_given = false;
	uint64_t v;
	int opt;

	*o = (struct bench_opts){
		.server = "127.0.0.1",
		.port = DEFAULT_PORT,
		.pairs = 1,
		.size = DEFAULT_SIZE,
		.count = DEFAULT_COUNT,
		.window = DEFAULT_WINDOW,
		.threads = 1,
	};
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_SERVER:
			o->server = optarg;
			break;
		case OPT_PORT:
			if (parse_u64("port", optarg, 1, 65535, &v) < 0)
				return -1;
			o->port = (uint16_t)v;
			break;
		case OPT_PAIRS:
			if (parse_u64("pairs", optarg, 1, PAIRS_MAX, &v) < 0)
				return -1;
			o->pairs = (uint32_t)v;
			break;
		case OPT_SIZE:
			if (parse_u64("size", optarg, PAYLOAD_MIN, PAYLOAD_MAX, &v) < 0)
				return -1;
			o->size = (uint32_t)v;
			break;
		case OPT_COUNT:
			if (parse_u64("count", optarg, 1, UINT64_MAX / 2, &o->count) < 0)
				return -1;
			count_given = true;
			break;
		case OPT_DURATION:
			if (parse_positive_double("duration", optarg, &o->duration_s) < 0)
				return -1;
			break;
		case OPT_WINDOW:
			if (parse_u64("window", optarg, 1, 1 << 20, &v) < 0)
				return -1;
			o->window = (uint32_t)v;
			break;
		case OPT_RELAY_PID:
			if (parse_u64("relay-pid", optarg, 1, INT32_MAX, &v) < 0)
				return -1;
			o->relay_pid = (int)v;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_RATE:
			if (parse_positive_double("rate", optarg, &o->rate) < 0)
				return -1;
			break;
		case OPT_ACK:
			o->ack = true;
			break;
		case OPT_FAST_START:
			o->fast_start = true;
			break;
		case OPT_THREADS:
			if (parse_u64("threads", optarg, 1, 1024, &v) < 0)
				return -1;
			o->threads = (uint32_t)v;
			o->threads_given = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TLS12:
			o->tls12 = true;
			/* fall through */
		case OPT_TLS:
			o->tls = true;
			break;
		case OPT_TLS_CA:
			o->tls_ca_file = optarg;
			break;
		case OPT_TLS_NAME:
			o->tls_server_name = optarg;
			break;
		case OPT_CONNECT_RATE:
			o->connect_rate_mode = true;
			if (strcmp(optarg, "max") == 0 || strcmp(optarg, "0") == 0)
				o->connect_rate = 0;
			else if (parse_positive_double("connect-rate", optarg, &o->connect_rate) <
				 0)
				return -1;
			break;
		case OPT_IDLE:
			if (parse_u64("idle", optarg, 1, IDLE_MAX, &o->idle_conns) < 0)
				return -1;
			break;
		case OPT_HOLD:
			if (parse_positive_double("hold", optarg, &o->hold_s) < 0)
				return -1;
			break;
		case OPT_STALL_TIMEOUT:
			if (parse_positive_double("stall-timeout", optarg, &stall_s) < 0)
				return -1;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hdbench: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	o->stall_timeout_ns = (uint64_t)(stall_s * (double)NSEC_PER_SEC);
	if (count_given && o->duration_s > 0) {
		fprintf(stderr, "hdbench: --count and --duration exclude each other\n");
		return -1;
	}
	if ((o->connect_rate_mode || o->idle_conns) && o->direct) {
		fprintf(stderr, "hdbench: --connect-rate and --idle need a relay, not --direct\n");
		return -1;
	}
	if (o->connect_rate_mode && o->idle_conns) {
		fprintf(stderr, "hdbench: --connect-rate and --idle exclude each other\n");
		return -1;
	}
	if (o->ack && o->direct) {
		fprintf(stderr, "hdbench: --ack needs a relay, not --direct\n");
		return -1;
	}
	if (o->hold_s > 0 && !o->idle_conns) {
		fprintf(stderr, "hdbench: --hold goes with --idle\n");
		return -1;
	}
	if (!count_given)
		o->count = o->connect_rate_mode ? 0 : o->count;
	if (o->connect_rate_mode || o->idle_conns) {
		if (!o->threads_given)
			o->threads = SETUP_DEFAULT_THREADS;
		return 0;
	}
	if (o->threads > o->pairs)
		o->threads = o->pairs;
	return 0;
}

/* ---- main ---- */

static int bench_setup(struct bench *b)
{
	b->frame_len = DERP_FRAME_HDR_LEN + KEY_LEN + b->opts.size;
	b->pairs = calloc(b->opts.pairs, sizeof(*b->pairs));
	b->threads = calloc(b->opts.threads, sizeof(*b->threads));
	if (!b->pairs || !b->threads) {
		fprintf(stderr, "hdbench: out of memory\n");
		return -1;
	}
	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		b->pairs[i].id = i;
		b->pairs[i].tx.client.fd = -1;
		b->pairs[i].rx.client.fd = -1;
	}
	/* Each pair needs two sockets here (and two more in the relay). */
	raise_fd_limit((uint64_t)b->opts.pairs * 2 + 64);
	if (bench_connect_all(b) < 0)
		return -1;
	if (bench_assign_threads(b) < 0) {
		fprintf(stderr, "hdbench: setting up event loops: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Starts the threads together, measures around them, and collects the result. */
static int bench_run(struct bench *b, struct bench_result *r)
{
	double relay_before = 0, relay_after = 0, self_before;
	uint32_t started = 0;
	int ret;

	r->relay_cpu_s = -1;
	if (pthread_barrier_init(&b->start_barrier, NULL, b->opts.threads + 1) != 0)
		return -1;
	for (; started < b->opts.threads; started++) {
		ret = pthread_create(&b->threads[started].tid, NULL, thread_main,
				     &b->threads[started]);
		if (ret != 0) {
			/* Threads already waiting at the barrier cannot be released safely. */
			fprintf(stderr, "hdbench: pthread_create: %s\n", strerror(ret));
			exit(EXIT_SETUP);
		}
	}
	if (b->opts.relay_pid > 0 && proc_cpu_seconds(b->opts.relay_pid, &relay_before) < 0)
		fprintf(stderr, "hdbench: warning: cannot read /proc/%d/stat\n", b->opts.relay_pid);
	self_before = self_cpu_seconds();
	b->start_ns = now_ns();
	b->send_end_ns = b->start_ns + (uint64_t)(b->opts.duration_s * (double)NSEC_PER_SEC);
	pthread_barrier_wait(&b->start_barrier);

	for (uint32_t i = 0; i < started; i++)
		pthread_join(b->threads[i].tid, NULL);

	r->self_cpu_s = self_cpu_seconds() - self_before;
	if (b->opts.relay_pid > 0 && proc_cpu_seconds(b->opts.relay_pid, &relay_after) == 0)
		r->relay_cpu_s = relay_after - relay_before;
	pthread_barrier_destroy(&b->start_barrier);
	bench_collect(b, r);
	return 0;
}

/* --connect-rate and --idle: hdbench_setup.c. */
static int run_setup_bench(const struct bench_opts *o)
{
	struct setup_bench_opts so = {
		.server = o->server,
		.port = o->port,
		.relay_pid = o->relay_pid,
		.client = {
			.fast_start = o->fast_start,
			.tls = o->tls,
			.tls12 = o->tls12,
			.tls_ca_file = o->tls_ca_file,
			.tls_server_name = o->tls_server_name,
		},
		.threads = o->threads,
		.json = o->json,
		.rate = o->connect_rate,
		.duration_s = o->duration_s,
		.count = o->count,
		.idle_conns = o->idle_conns,
		.hold_s = o->hold_s > 0 ? o->hold_s : DEFAULT_HOLD_S,
	};

	return o->idle_conns ? bench_idle(&so) : bench_connect_rate(&so);
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct bench_result *r;
	int ret;

	ret = parse_args(argc, argv, &b.opts);
	if (ret != 0)
		return ret > 0 ? EXIT_PASS : EXIT_SETUP;
	/* A relay that closes on us must not kill us with SIGPIPE (TLS writes use write()). */
	signal(SIGPIPE, SIG_IGN);
	if (b.opts.connect_rate_mode || b.opts.idle_conns)
		return run_setup_bench(&b.opts);

	/* The result embeds a 60 KiB histogram: keep it off the stack. */
	r = calloc(1, sizeof(*r));
	if (!r || bench_setup(&b) < 0 || bench_run(&b, r) < 0) {
		bench_free(&b);
		free(r);
		return EXIT_SETUP;
	}
	if (b.opts.json)
		bench_report_json(&b, r);
	else
		bench_report_print(&b, r);
	if (r->lost > 0)
		fprintf(stderr, "hdbench: FAIL: %" PRIu64 " of %" PRIu64 " packets lost\n", r->lost,
			r->expected);
	ret = bench_result_ok(r) ? EXIT_PASS : EXIT_FAILED;
	bench_free(&b);
	free(r);
	return ret;
}
