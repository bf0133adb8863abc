// SPDX-License-Identifier: MIT
/*
 * Accept → HTTP request → response (+ ServerKey) → ClientInfo → handoff.
 *
 * Every connection in this stage has exactly one io_uring operation in
 * flight (a recv or a send), so its state advances one completion at a
 * time. The whole stage runs under one deadline (handshake_timeout_ms);
 * connections are kept in accept order, which is deadline order, so the
 * sweep only looks at the head of the list.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp_frame.h"
#include "derp_handshake.h"
#include "handoff.h"
#include "hd_frame.h"
#include "hd_registry.h"
#include "http_request.h"
#include "ktls.h"
#include "log.h"
#include "accept_backoff.h"
#include "admission.h"
#include "mem_release.h"
#include "accept_limit.h"
#include "bootstrap_dns.h"
#include "debug_pages.h"
#include "ip_prefix.h"
#include "slowpath.h"
#include "stats.h"
#include "tcp_liveness.h"
#include "tls.h"
#include "cert_source.h"
#include "token_bucket.h"
#include "ws_frame.h"

#define SP_RING_ENTRIES	 1024
#define UD_ACCEPT	 1ull
#define UD_CANCEL	 2ull
#define UD_ADMISSION	 3ull /* the admission eventfd became readable */
#define RELEASE_WAIT_NS	 1000000000ull /* at stop, for the accept to end */
/*
 * What every connection starts with, kept small: a real client's request
 * and ClientInfo together are some 700 bytes, and every connection in its
 * handshake, however idle, holds these.
 */
#define HEAD_BUF_INITIAL 1024
#define RAW_BUF_SIZE	 4096 /* ciphertext read at a time with TLS */
/*
 * Ciphertext a client may send before its TLS handshake completes: Go's
 * crypto/tls refuses a handshake message over 64 KiB (maxHandshake), and a
 * real ClientHello is a few KiB. OpenSSL holds the hello until it is
 * whole, so this is also what a TLS handshake can make it hold.
 */
#define TLS_HANDSHAKE_IN_MAX (65536 + 2048)
/*
 * What an SSL object in its handshake takes, charged at accept. Measured
 * with OpenSSL 3.0: 2,000 TLS handshakes stalled after the ClientHello
 * held 52 KiB of RSS each, 5 KiB of it ours (a handshake buffer, its
 * buffers and records in flight are OpenSSL's). It covers a ClientHello of
 * up to TLS_HELLO_INCLUDED; ciphertext past that is charged as it arrives.
 */
#define TLS_SESSION_BYTES  (48 * 1024)
#define TLS_HELLO_INCLUDED 4096
#define LIMIT_WARN_NS	   1000000000ull /* at most one warning a second per kind */
#define TRIM_NS		   5000000000ull /* freed handshake memory goes back at most this often */
#define CERT_CHECK_NS	   1000000000ull /* the certificate files are looked at this often */

enum pending_state {
	ST_TLS_HANDSHAKE = 0, /* TLS only */
	ST_READ_HEAD,
	ST_READ_CLIENT_INFO,
	ST_READ_HD_AUTH, /* HD (docs/hd-protocol.md): ServerHello sent, waiting for Auth */
	ST_CLOSING, /* flushing a final response, then close */
	ST_ADMISSION, /* ClientInfo read; waiting for the admission check */
};

/*
 * One connection in the slow path. buf holds plaintext (the HTTP head, then
 * DERP frames); with TLS, raw receives ciphertext first. out holds bytes to
 * send (ciphertext with TLS).
 */
struct pending {
	struct pending *prev, *next;
	int fd;
	uint8_t state;
	bool op_inflight;
	bool awaiting_admission; /* a check holds p as its token: p outlives it */
	bool dead;
	bool not_ideal;
	uint64_t deadline_ns;
	SSL *ssl;
	uint8_t *buf;
	uint32_t len, cap;
	uint8_t *raw;
	uint8_t *out;
	uint32_t out_len, out_sent, out_cap;
	uint8_t ip[16];
	uint16_t port;
	int32_t source_slot; /* its place in the per-source count */
	uint32_t charged;    /* bytes counted against limits.handshake_memory_mb */
	uint32_t grown;	     /* the part of them past the first buffers */
	uint32_t tls_in;     /* ciphertext received during the TLS handshake */
	uint8_t hd_challenge[HD_CHALLENGE_LEN]; /* HD: what ServerHello asked to be boxed */
	/* What the handoff needs, kept while the admission check runs. */
	uint32_t client_info_len; /* the ClientInfo frame's length in buf */
	uint8_t client_pub[KEY_LEN];
	bool can_mesh;
	bool is_prober;
	/*
	 * DERP over WebSocket: after the head, buf holds WebSocket frames. They
	 * are decoded in place as they arrive, so buf[0..ws_decoded) is the DERP
	 * stream and only bytes past it are still framed.
	 */
	struct ws_decoder *ws;
	uint32_t ws_decoded;
};

struct slowpath {
	struct relay *relay;
	struct slowpath_settings set;
	int listen_fd;
	SSL_CTX *tls;
	bool ktls; /* sessions move to kernel TLS after the handshake when they can */
	const char *ktls_off_reason;
	pthread_t thread;
	struct io_uring ring;
	_Atomic bool stop;
	bool accept_armed;
	struct accept_backoff accept_backoff;
	bool ring_closed;
	uint64_t now_ns;
	uint64_t next_seq;
	struct pending *head, *tail;
	char server_pub_hex[KEY_HEX_LEN + 1];
	struct slowpath_stats stats;
	uint64_t last_memory_warn_ns;
	uint64_t last_source_warn_ns;
	uint64_t last_submit_warn_ns;
	struct accept_limiter per_ip;
	struct token_bucket accept_all; /* limits.accept_rate */
	struct admission *admission;	/* NULL: no [admission] check configured */
	uint64_t admission_count;	/* what the eventfd read */
	bool admission_armed;
	uint64_t last_liveness_warn_ns;
	struct pending_limiter pending_per_source;
	struct bootstrap_dns *bootstrap_dns; /* NULL until started */
	struct ip_prefix_list debug_allow;   /* debug.allow, besides loopback */
	uint64_t memory; /* all that is charged, the sum of every pending's `charged` */
	uint64_t grown;	 /* the sum of every pending's `grown` */
	uint64_t freed;	 /* charged bytes freed since the last trim */
	uint64_t next_trim_ns;
	struct cert_source *certs; /* NULL: the certificate is never reloaded */
	_Atomic bool certs_reload_asked;
	uint64_t next_cert_check_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct io_uring_sqe *get_sqe(struct slowpath *sp)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sp->ring);
	if (!sqe) {
		io_uring_submit(&sp->ring);
		sqe = io_uring_get_sqe(&sp->ring);
	}
	return sqe;
}

static void uncharge(struct slowpath *sp, struct pending *p, uint32_t bytes, bool all);

static void list_remove(struct slowpath *sp, struct pending *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		sp->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		sp->tail = p->prev;
	p->prev = p->next = NULL;
}

static void pending_free(struct slowpath *sp, struct pending *p)
{
	list_remove(sp, p);
	sp->freed += p->charged;
	uncharge(sp, p, 0, true);
	pending_limiter_put(&sp->pending_per_source, p->source_slot);
	stat_add(&sp->stats.handshakes_pending, -(uint64_t)1);
	SSL_free(p->ssl);
	free(p->ws);
	free(p->buf);
	free(p->raw);
	free(p->out);
	free(p);
}

/* Closes a connection that will not become a DERP session. */
static void pending_close(struct slowpath *sp, struct pending *p)
{
	if (p->op_inflight || p->awaiting_admission) {
		/* Let the operation complete first; shutdown makes it complete now. */
		p->dead = true;
		shutdown(p->fd, SHUT_RDWR);
		return;
	}
	close(p->fd);
	atomic_fetch_sub_explicit(&sp->relay->conns_current, 1, memory_order_relaxed);
	pending_free(sp, p);
}

static int ensure_cap(uint8_t **buf, uint32_t *cap, uint32_t need)
{
	if (*cap >= need)
		return 0;
	uint8_t *b = realloc(*buf, need);
	if (!b)
		return -1;
	*buf = b;
	*cap = need;
	return 0;
}

/*
 * The handshake memory budget (limits.handshake_memory_mb): every buffer a
 * connection in its handshake holds is counted, so that however many
 * clients connect and whatever lengths they announce, the slow path holds
 * at most this much for them. Growth past a connection's first buffers (a
 * long HTTP head, a large ClientInfo, TLS handshake records) may take only
 * half of it: clients that send a lot cannot use up the room new
 * connections start in. Real clients never grow: their ClientInfo is a
 * few hundred bytes.
 */
static bool memory_allows(struct slowpath *sp, uint64_t more, bool growth)
{
	uint64_t budget = (uint64_t)settings_u32(&sp->relay->settings.handshake_memory_mb) << 20;
	if (sp->memory + more <= budget && (!growth || sp->grown + more <= budget / 2))
		return true;
	stat_add(&sp->stats.refused_handshake_memory, 1);
	if (log_due(&sp->last_memory_warn_ns, sp->now_ns, LIMIT_WARN_NS))
		log_warn("handshake memory full (limits.handshake_memory_mb = %u, %u handshakes "
			 "under way): refusing connections",
			 settings_u32(&sp->relay->settings.handshake_memory_mb),
			 (unsigned)stat_read(&sp->stats.handshakes_pending));
	return false;
}

static void charge(struct slowpath *sp, struct pending *p, uint32_t bytes, bool growth)
{
	p->charged += bytes;
	sp->memory += bytes;
	if (growth) {
		p->grown += bytes;
		sp->grown += bytes;
	}
	stat_add(&sp->stats.handshake_memory_bytes, bytes);
}

/* Gives back bytes of growth (all of p's charge when all is true). */
static void uncharge(struct slowpath *sp, struct pending *p, uint32_t bytes, bool all)
{
	uint32_t grown = all ? p->grown : bytes;
	if (all)
		bytes = p->charged;
	p->charged -= bytes;
	sp->memory -= bytes;
	p->grown -= grown;
	sp->grown -= grown;
	stat_add(&sp->stats.handshake_memory_bytes, -(uint64_t)bytes);
}

/*
 * ensure_cap within the budget. growth: the client's bytes make it grow
 * (else it is the relay's own output, a few KiB at most). Returns -1
 * (counted) when over the budget or out of memory.
 */
static int pending_grow(struct slowpath *sp, struct pending *p, uint8_t **buf, uint32_t *cap,
			uint32_t need, bool growth)
{
	if (*cap >= need)
		return 0;
	uint32_t more = need - *cap;
	if (!memory_allows(sp, more, growth) || ensure_cap(buf, cap, need) < 0)
		return -1;
	charge(sp, p, more, growth);
	return 0;
}

/*
 * The next size of a full buf: the HTTP head may take HTTP_MAX_HEAD, and
 * after it buf grows only as bytes arrive, never past what the announced
 * ClientInfo needs, so an announced length costs nothing until it is sent.
 * With TLS, room for whatever else has been decrypted.
 */
static uint32_t buf_next_cap(const struct pending *p)
{
	if (p->state == ST_READ_HEAD)
		return p->cap > HTTP_MAX_HEAD	    ? p->cap
		       : p->cap * 2 > HTTP_MAX_HEAD ? HTTP_MAX_HEAD + 1
						    : p->cap * 2;
	uint32_t next = p->cap * 2;
	if (p->len >= DERP_FRAME_HDR_LEN) {
		uint8_t type;
		uint32_t plen;
		derp_frame_header_get(p->buf, &type, &plen);
		uint32_t whole = DERP_FRAME_HDR_LEN + plen;
		if (plen <= DERP_CLIENT_INFO_MAX && p->cap < whole && next > whole)
			next = whole;
	}
	return next;
}

/*
 * Counts ciphertext that arrives during the TLS handshake: OpenSSL may
 * hold it all until the handshake message is whole. Returns -1 (counted)
 * past TLS_HANDSHAKE_IN_MAX or the memory budget.
 */
static uint32_t tls_input_charged(uint32_t tls_in)
{
	return tls_in > TLS_HELLO_INCLUDED ? tls_in - TLS_HELLO_INCLUDED : 0;
}

static int charge_tls_input(struct slowpath *sp, struct pending *p, uint32_t n)
{
	if (p->tls_in + n > TLS_HANDSHAKE_IN_MAX) {
		stat_add(&sp->stats.refused_tls_too_large, 1);
		log_debug("TLS handshake from port %u: over %u bytes from the client, closing",
			  p->port, TLS_HANDSHAKE_IN_MAX);
		return -1;
	}
	uint32_t more = tls_input_charged(p->tls_in + n) - tls_input_charged(p->tls_in);
	if (more && !memory_allows(sp, more, true))
		return -1;
	p->tls_in += n;
	charge(sp, p, more, true);
	return 0;
}

/* Queues plaintext for the client: encrypted first with TLS. */
static int queue_out(struct slowpath *sp, struct pending *p, const uint8_t *data, size_t len)
{
	if (p->ssl)
		return tls_write(p->ssl, data, len);
	if (pending_grow(sp, p, &p->out, &p->out_cap, p->out_len + (uint32_t)len, false) < 0)
		return -1;
	memcpy(p->out + p->out_len, data, len);
	p->out_len += (uint32_t)len;
	return 0;
}

/* Moves ciphertext the TLS engine produced into the send buffer. */
static int collect_tls_out(struct slowpath *sp, struct pending *p)
{
	size_t n = p->ssl ? tls_pending_out(p->ssl) : 0;
	if (!n)
		return 0;
	if (pending_grow(sp, p, &p->out, &p->out_cap, p->out_len + (uint32_t)n, false) < 0)
		return -1;
	p->out_len += (uint32_t)tls_take_out(p->ssl, p->out + p->out_len, n);
	return 0;
}

/*
 * An SQE for a connection's next operation. get_sqe already submitted what
 * filled the queue; when even that found no room (the kernel refused the
 * submission), this one connection is given up: counted and logged at most
 * once a second, and the caller closes it (no operation is in flight).
 */
static struct io_uring_sqe *conn_sqe(struct slowpath *sp)
{
	struct io_uring_sqe *sqe = get_sqe(sp);
	if (sqe)
		return sqe;
	stat_add(&sp->stats.submit_failures, 1);
	if (log_due(&sp->last_submit_warn_ns, sp->now_ns, LIMIT_WARN_NS))
		log_warn("slow path: io_uring submission queue full, closing a connection in its "
			 "handshake");
	return NULL;
}

/* Returns false when no SQE was to be had: the caller closes p. */
static bool submit_send(struct slowpath *sp, struct pending *p)
{
	struct io_uring_sqe *sqe = conn_sqe(sp);
	if (!sqe)
		return false;
	io_uring_prep_send(sqe, p->fd, p->out + p->out_sent, p->out_len - p->out_sent,
			   MSG_NOSIGNAL);
	io_uring_sqe_set_data(sqe, p);
	p->op_inflight = true;
	return true;
}

static bool submit_recv(struct slowpath *sp, struct pending *p)
{
	struct io_uring_sqe *sqe = conn_sqe(sp);
	if (!sqe)
		return false;
	if (p->ssl)
		io_uring_prep_recv(sqe, p->fd, p->raw, RAW_BUF_SIZE, 0);
	else
		io_uring_prep_recv(sqe, p->fd, p->buf + p->len, p->cap - p->len, 0);
	io_uring_sqe_set_data(sqe, p);
	p->op_inflight = true;
	return true;
}

static void respond_error(struct slowpath *sp, struct pending *p, int status)
{
	uint8_t resp[512];
	stat_add(&sp->stats.http_errors, 1);
	size_t n = http_error_response(status, resp, sizeof(resp));
	p->state = ST_CLOSING;
	if (queue_out(sp, p, resp, n) < 0)
		p->dead = true;
}

static void handshake_failed(struct slowpath *sp, struct pending *p, const char *why)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET6, p->ip, addr, sizeof(addr));
	log_debug("handshake from [%s]:%u failed: %s", addr, p->port, why);
	stat_add(&sp->stats.handshakes_failed, 1);
	p->dead = true;
}

/*
 * Called right before a TLS connection's handoff, when every byte for the
 * client has been sent and everything received has been decrypted: from
 * this point the kernel can carry the session on. Returns true when it
 * does; the worker then sees a plain connection. False leaves the session
 * with OpenSSL, or, when the kernel took only half of it, marks the
 * connection dead.
 */
static bool move_to_kernel_tls(struct slowpath *sp, struct pending *p)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET6, p->ip, addr, sizeof(addr));
	if (!sp->ktls) {
		log_debug("TLS from [%s]:%u: userspace (%s)", addr, p->port, sp->ktls_off_reason);
		return false;
	}
	struct ktls_crypto tx, rx;
	const char *why = NULL;
	int err = 0;
	enum ktls_attach_result res = KTLS_REFUSED;
	if (ktls_crypto_get(p->ssl, &tx, &rx, &why) == 0) {
		res = ktls_socket_attach(p->fd, &tx, &rx, &err);
		why = strerror(err);
	}
	const char *suite = ktls_crypto_name(&tx);
	ktls_crypto_wipe(&tx);
	ktls_crypto_wipe(&rx);
	switch (res) {
	case KTLS_ATTACHED:
		stat_add(&sp->stats.ktls_connections, 1);
		log_debug("TLS from [%s]:%u: kTLS (%s)", addr, p->port, suite);
		return true;
	case KTLS_REFUSED:
		ktls_untrack(p->ssl);
		log_debug("TLS from [%s]:%u: userspace (kTLS not possible: %s)", addr, p->port,
			  why);
		return false;
	case KTLS_BROKEN:
		break;
	}
	/* The kernel decrypts but would not encrypt: nobody can finish this session. */
	sp->ktls = false;
	sp->ktls_off_reason = "kTLS turned off after a failure";
	log_warn("kTLS: the kernel took the receive side of a %s session but refused the send "
		 "side (%s); closing that connection and using userspace TLS from now on",
		 suite, why);
	handshake_failed(sp, p, "kTLS set up only halfway");
	return false;
}

/*
 * The 101 for /hd goes out with ServerHello, whose challenge the client
 * must box with its key (docs/hd-protocol.md, section 3). Returns true.
 */
static bool start_hd(struct slowpath *sp, struct pending *p, const struct http_request *req,
		     uint8_t *resp, size_t n)
{
	if (!sp->relay->hd) {
		respond_error(sp, p, 404);
		return true;
	}
	hd_challenge_new(p->hd_challenge);
	size_t hello = hd_build_server_hello(resp + n, 2048 - n, sp->relay->server_pub,
					     p->hd_challenge);
	if (!hello || queue_out(sp, p, resp, n + hello) < 0) {
		p->dead = true;
		return true;
	}
	p->len -= (uint32_t)req->head_len;
	memmove(p->buf, p->buf + req->head_len, p->len);
	p->state = ST_READ_HD_AUTH;
	return true;
}

/*
 * The connection speaks DERP over WebSocket from here on: its decoder,
 * counted against the handshake memory like its buffers. Returns -1 when
 * the budget or memory refuses it.
 */
static int start_websocket(struct slowpath *sp, struct pending *p)
{
	if (!memory_allows(sp, sizeof(*p->ws), false))
		return -1;
	p->ws = malloc(sizeof(*p->ws));
	if (!p->ws)
		return -1;
	ws_decoder_init(p->ws);
	charge(sp, p, sizeof(*p->ws), false);
	stat_add(&sp->stats.websocket_upgrades, 1);
	return 0;
}

/* The ServerKey frame in a binary message of its own. Returns its length, or 0. */
static size_t server_key_message(uint8_t *out, size_t cap, const uint8_t server_pub[KEY_LEN])
{
	uint8_t frame[DERP_FRAME_HDR_LEN + DERP_MAGIC_LEN + KEY_LEN];
	size_t len = derp_build_server_key(frame, sizeof(frame), server_pub);
	uint8_t hdr[WS_SERVER_HDR_MAX];
	size_t hlen = ws_server_header(hdr, WS_OP_BINARY, len);
	if (!len || hlen + len > cap)
		return 0;
	memcpy(out, hdr, hlen);
	memcpy(out + hlen, frame, len);
	return hlen + len;
}

/*
 * DERP over WebSocket: decodes in place what arrived past buf[ws_decoded],
 * leaving buf[0..len) all DERP bytes. A ping is answered; a close, or a
 * frame the protocol forbids, ends the handshake. Returns -1 then.
 */
static int ws_pull(struct slowpath *sp, struct pending *p)
{
	uint32_t in = p->ws_decoded;
	while (in < p->len) {
		size_t used, got;
		enum ws_event ev = ws_decode(p->ws, p->buf + in, p->len - in, &used,
					     p->buf + p->ws_decoded, p->cap - p->ws_decoded, &got);
		in += (uint32_t)used;
		p->ws_decoded += (uint32_t)got;
		if (ev == WS_EV_PING) {
			uint8_t pong[2 + WS_CONTROL_MAX];
			size_t n = ws_server_control(pong, sizeof(pong), WS_OP_PONG, p->ws->control,
						     p->ws->control_len);
			if (queue_out(sp, p, pong, n) < 0) {
				p->dead = true;
				return -1;
			}
		} else if (ev == WS_EV_CLOSE) {
			handshake_failed(sp, p, "WebSocket closed by the client");
			return -1;
		} else if (ev == WS_EV_ERROR) {
			stat_add(&sp->stats.websocket_bad_frames, 1);
			handshake_failed(sp, p, p->ws->error);
			return -1;
		}
	}
	p->len = p->ws_decoded;
	return 0;
}

/* Queues a complete response and closes after it; out is freed. NULL: out of memory. */
static void respond_built(struct slowpath *sp, struct pending *p, uint8_t *out, size_t len)
{
	if (!out) {
		respond_error(sp, p, 500);
		return;
	}
	p->state = ST_CLOSING;
	if (queue_out(sp, p, out, len) < 0)
		p->dead = true;
	free(out);
}

/* derper's /bootstrap-dns: the last resolution of bootstrap_dns.names, as JSON. */
static void respond_bootstrap_dns(struct slowpath *sp, struct pending *p,
				  const struct http_request *req)
{
	char *body = NULL;
	size_t body_len = 0;
	enum bootstrap_dns_query found = BOOTSTRAP_DNS_NO_QUERY;

	stat_add(&sp->stats.bootstrap_dns_requests, 1);
	if (sp->bootstrap_dns &&
	    bootstrap_dns_answer(sp->bootstrap_dns, req->query, &body, &body_len, &found) < 0) {
		respond_error(sp, p, 500);
		return;
	}
	if (found == BOOTSTRAP_DNS_PUBLISHED_HIT)
		stat_add(&sp->stats.bootstrap_dns_published_hits, 1);
	else if (found == BOOTSTRAP_DNS_UNPUBLISHED_HIT)
		stat_add(&sp->stats.bootstrap_dns_unpublished_hits, 1);
	else if (found == BOOTSTRAP_DNS_UNPUBLISHED_MISS)
		stat_add(&sp->stats.bootstrap_dns_unpublished_misses, 1);
	struct http_response resp = {
		.status = 200,
		.content_type = "application/json",
		.body = body,
		.body_len = body_len,
		.head_only = strcmp(req->method, "HEAD") == 0,
		.browser = true,
	};
	size_t cap = body_len + 2048;
	uint8_t *out = malloc(cap);
	size_t len = out ? http_response_write(&resp, out, cap) : 0;
	free(body);
	if (len == 0) {
		free(out);
		out = NULL;
	}
	respond_built(sp, p, out, len);
}

static void respond_debug(struct slowpath *sp, struct pending *p, const struct http_request *req)
{
	bool allowed = debug_pages_allowed(req, p->ip, &sp->debug_allow);
	struct slowpath_stats stats;
	size_t len = 0;
	int status = 0;

	if (!allowed) {
		char addr[INET6_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET6, p->ip, addr, sizeof(addr));
		log_debug("/debug/ from [%s]:%u refused%s", addr, p->port,
			  req->forwarded_for ? " (X-Forwarded-For)" : "");
		stat_add(&sp->stats.debug_denied, 1);
	} else {
		stat_add(&sp->stats.debug_requests, 1);
	}
	slowpath_get_stats(sp, &stats);
	uint8_t *out = debug_pages_respond(req, allowed, sp->relay, &stats, &len, &status);
	respond_built(sp, p, out, len);
}

/* Returns true when the state advanced (the caller pumps again). */
static bool step_head(struct slowpath *sp, struct pending *p)
{
	struct http_request req;
	switch (http_request_parse(p->buf, p->len, &req)) {
	case HTTP_PARSE_NEED_MORE:
		return false;
	case HTTP_PARSE_BAD_REQUEST:
		respond_error(sp, p, 400);
		return true;
	case HTTP_PARSE_TOO_LARGE:
		respond_error(sp, p, 431);
		return true;
	case HTTP_PARSE_BAD_VERSION:
		respond_error(sp, p, 505);
		return true;
	case HTTP_PARSE_DONE:
		break;
	}
	stat_add(&sp->stats.http_requests, 1);
	uint8_t resp[2048];
	struct http_route_result res;
	if (http_route(&req, sp->server_pub_hex, resp, sizeof(resp), &res) < 0) {
		respond_error(sp, p, 500);
		return true;
	}
	if (res.action == HTTP_ACTION_BOOTSTRAP_DNS) {
		respond_bootstrap_dns(sp, p, &req);
		return true;
	}
	if (res.action == HTTP_ACTION_DEBUG) {
		respond_debug(sp, p, &req);
		return true;
	}
	if (res.action == HTTP_ACTION_RESPOND_CLOSE) {
		p->state = ST_CLOSING;
		if (queue_out(sp, p, resp, res.response_len) < 0)
			p->dead = true;
		return true;
	}
	stat_add(&sp->stats.upgrades, 1);
	if (res.action == HTTP_ACTION_HD_UPGRADE)
		return start_hd(sp, p, &req, resp, res.response_len);
	p->not_ideal = res.not_ideal;
	if (res.websocket && start_websocket(sp, p) < 0) {
		p->dead = true;
		return true;
	}
	/* The ServerKey frame goes in the same write as the 101, as derper does. */
	size_t n = res.response_len;
	if (p->ws)
		n += server_key_message(resp + n, sizeof(resp) - n, sp->relay->server_pub);
	else
		n += derp_build_server_key(resp + n, sizeof(resp) - n, sp->relay->server_pub);
	if (queue_out(sp, p, resp, n) < 0) {
		p->dead = true;
		return true;
	}
	/* Bytes after the head are already DERP frames (fast start): keep them. */
	p->len -= (uint32_t)req.head_len;
	memmove(p->buf, p->buf + req.head_len, p->len);
	p->ws_decoded = 0;
	p->state = ST_READ_CLIENT_INFO;
	return true;
}

/*
 * Hands the connection to a worker: decided holds what its handshake settled
 * (key, flags, is_hd and peer id, the first frame to send in server_info);
 * the rest (socket, TLS or kTLS, the bytes past the handshake's last
 * frame_len bytes, a WebSocket decoder's state) is the same for DERP and
 * HD. Returns true when it went (and p is freed); false leaves p dead.
 */
static bool hand_off(struct slowpath *sp, struct pending *p, uint32_t frame_len,
		     const struct handoff *decided)
{
	struct relay *r = sp->relay;
	/* With kTLS the kernel has the session: the worker gets a plain connection. */
	bool kernel_tls = p->ssl && move_to_kernel_tls(sp, p);
	if (p->dead)
		return false;
	uint32_t leftover = p->len - frame_len;
	struct handoff *h = malloc(sizeof(*h) + leftover);
	if (!h) {
		handshake_failed(sp, p, "out of memory");
		return false;
	}
	*h = *decided;
	h->fd = p->fd;
	h->seq = ++sp->next_seq;
	memcpy(h->remote_ip, p->ip, sizeof(h->remote_ip));
	h->remote_port = p->port;
	h->ssl = kernel_tls ? NULL : p->ssl;
	h->kernel_tls = kernel_tls;
	h->leftover_len = leftover;
	memcpy(h->leftover, p->buf + frame_len, leftover);
	if (p->ws) {
		/* What the decoder holds (a frame half read) goes on with the connection. */
		h->websocket = true;
		h->ws = *p->ws;
	}
	if (!h->server_info_len || relay_handoff(r, h) < 0) {
		free(h);
		handshake_failed(sp, p, "no worker could take the connection");
		return false;
	}
	stat_add(&sp->stats.handshakes_ok, 1);
	/*
	 * The worker owns the socket and any userspace TLS session now; a
	 * session the kernel took over is freed with p.
	 */
	if (!kernel_tls)
		p->ssl = NULL;
	pending_free(sp, p);
	return true;
}

/* A DERP client whose ClientInfo (and admission) is through: ServerInfo goes first. */
static bool hand_off_derp(struct slowpath *sp, struct pending *p)
{
	struct handoff d;

	memset(&d, 0, sizeof(d));
	memcpy(d.client_key, p->client_pub, KEY_LEN);
	d.can_mesh = p->can_mesh;
	d.is_prober = p->is_prober;
	d.not_ideal = p->not_ideal;
	d.server_info_len = (uint32_t)derp_build_server_info(
	    d.server_info, sizeof(d.server_info), sp->relay->server_priv, p->client_pub);
	return hand_off(sp, p, p->client_info_len, &d);
}

static void count_admission(struct slowpath *sp, enum admission_verdict v)
{
	uint64_t *counters[ADMISSION_VERDICT_COUNT] = {
		[ADMISSION_ALLOWED] = &sp->stats.admission_allowed,
		[ADMISSION_REFUSED] = &sp->stats.admission_refused,
		[ADMISSION_FAILED] = &sp->stats.admission_failed,
		[ADMISSION_FAIL_OPEN] = &sp->stats.admission_fail_open,
		[ADMISSION_BUSY] = &sp->stats.admission_busy,
	};
	stat_add(counters[v], 1);
}

/*
 * The admission check's verdict on p. Returns true when p went to a
 * worker; otherwise p is dead (refused: closed without a ServerInfo, as
 * derper does) and the caller closes it.
 */
static bool admission_decided(struct slowpath *sp, struct pending *p, enum admission_verdict v)
{
	count_admission(sp, v);
	if (admission_admits(v))
		return hand_off_derp(sp, p);
	char why[64];
	snprintf(why, sizeof(why), "not admitted (%s)", admission_verdict_names[v]);
	handshake_failed(sp, p, why);
	return false;
}

/*
 * ClientInfo is whole in buf. Returns true when the connection went to a
 * worker (and p is freed); false when p is dead or waits for its
 * admission check (ST_ADMISSION).
 */
static bool finish_handshake(struct slowpath *sp, struct pending *p, uint32_t frame_len)
{
	struct relay *r = sp->relay;
	struct derp_client_info info;
	char err[128];
	if (derp_client_info_open(p->buf + DERP_FRAME_HDR_LEN, frame_len - DERP_FRAME_HDR_LEN,
				  r->server_priv, p->client_pub, &info, err, sizeof(err)) < 0) {
		handshake_failed(sp, p, err);
		return false;
	}
	p->client_info_len = frame_len;
	/* A wrong or absent mesh key still makes an ordinary client, as in derper. */
	p->can_mesh =
	    r->has_mesh_key && info.has_mesh_key && key_equal_ct(info.mesh_key, r->mesh_key);
	p->is_prober = info.is_prober;
	/* Mesh peers are not in the tailnet: derper does not ask about them. */
	if (!sp->admission || p->can_mesh)
		return hand_off_derp(sp, p);
	enum admission_verdict now;
	if (admission_submit(sp->admission, p->client_pub, p->ip, p, &now))
		return admission_decided(sp, p, now);
	p->state = ST_ADMISSION;
	p->awaiting_admission = true;
	stat_add(&sp->stats.admission_pending, 1);
	return false;
}

enum step_result {
	STEP_WAIT = 0,	 /* needs more bytes (or its output sent first) */
	STEP_ADVANCED,	 /* state changed or failed (p->dead): look again */
	STEP_HANDED_OFF, /* p now belongs to a worker and is freed */
};

static bool output_pending(const struct pending *p)
{
	return p->out_sent < p->out_len || (p->ssl && tls_pending_out(p->ssl));
}

static enum step_result step_client_info(struct slowpath *sp, struct pending *p)
{
	if (p->len < DERP_FRAME_HDR_LEN)
		return STEP_WAIT;
	uint8_t type;
	uint32_t plen;
	derp_frame_header_get(p->buf, &type, &plen);
	if (type != DERP_FRAME_CLIENT_INFO) {
		handshake_failed(sp, p, "first frame is not ClientInfo");
		return STEP_ADVANCED;
	}
	if (plen < DERP_CLIENT_INFO_MIN || plen > DERP_CLIENT_INFO_MAX) {
		handshake_failed(sp, p, "ClientInfo length out of range");
		return STEP_ADVANCED;
	}
	uint32_t whole = DERP_FRAME_HDR_LEN + plen;
	if (p->len < whole)
		return STEP_WAIT; /* buf grows as the rest arrives (buf_next_cap) */
	/*
	 * A client that pipelines ClientInfo behind its request must still get
	 * the 101 and ServerKey first: the worker writes ServerInfo next.
	 */
	if (output_pending(p))
		return STEP_WAIT;
	return finish_handshake(sp, p, whole) ? STEP_HANDED_OFF : STEP_ADVANCED;
}

/*
 * The Auth frame decides: Denied (sent, then close) or Welcome, which the
 * worker sends first, as it sends DERP's ServerInfo.
 */
static enum step_result finish_hd(struct slowpath *sp, struct pending *p, uint32_t whole)
{
	struct relay *r = sp->relay;
	uint8_t key[KEY_LEN], frame[HD_FRAME_HDR_LEN + 1 + HD_REASON_TEXT_MAX];
	uint16_t peer_id = 0;
	const char *why = NULL;
	enum hd_reason verdict =
	    hd_registry_admit(r->hd, r->server_priv, p->ssl, p->hd_challenge,
			      p->buf + HD_FRAME_HDR_LEN, whole - HD_FRAME_HDR_LEN,
			      (uint64_t)time(NULL), key, &peer_id, &why);
	if (verdict != HD_REASON_OK) {
		char addr[INET6_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET6, p->ip, addr, sizeof(addr));
		log_info("hd: [%s]:%u refused: %s (%s)", addr, p->port, hd_reason_name(verdict),
			 why);
		stat_add(&sp->stats.handshakes_failed, 1);
		size_t n = hd_build_reason(frame, sizeof(frame), HD_FRAME_DENIED, verdict, why);
		p->state = ST_CLOSING;
		if (queue_out(sp, p, frame, n) < 0)
			p->dead = true;
		return STEP_ADVANCED;
	}
	struct handoff d;
	memset(&d, 0, sizeof(d));
	memcpy(d.client_key, key, KEY_LEN);
	d.is_hd = true;
	d.hd_peer_id = peer_id;
	d.server_info_len =
	    (uint32_t)hd_build_welcome(d.server_info, sizeof(d.server_info), peer_id, HD_ID_NONE,
				       settings_u32(&r->settings.keepalive_ms));
	return hand_off(sp, p, whole, &d) ? STEP_HANDED_OFF : STEP_ADVANCED;
}

static enum step_result step_hd_auth(struct slowpath *sp, struct pending *p)
{
	uint8_t type;
	uint32_t plen;

	if (p->len < HD_FRAME_HDR_LEN)
		return STEP_WAIT;
	if (hd_frame_header_parse(p->buf, &type, &plen) < 0 || type != HD_FRAME_AUTH ||
	    hd_frame_check(type, plen) != HD_FRAME_OK) {
		handshake_failed(sp, p, "hd: first frame is not a well-formed Auth");
		return STEP_ADVANCED;
	}
	uint32_t whole = HD_FRAME_HDR_LEN + plen;
	if (p->len < whole)
		return STEP_WAIT;
	/* ServerHello goes out before Welcome, whatever the client pipelined. */
	if (output_pending(p))
		return STEP_WAIT;
	return finish_hd(sp, p, whole);
}

/* With TLS: decrypts what has arrived into buf. Returns -1 on a TLS error or close. */
static int tls_pull(struct slowpath *sp, struct pending *p)
{
	for (;;) {
		if (p->len == p->cap &&
		    pending_grow(sp, p, &p->buf, &p->cap, buf_next_cap(p), true) < 0) {
			p->dead = true;
			return -1;
		}
		size_t got = 0;
		enum tls_status st = tls_read(p->ssl, p->buf + p->len, p->cap - p->len, &got);
		if (st == TLS_WANT_MORE)
			return 0;
		if (st != TLS_OK) {
			char why[160];
			if (st == TLS_ERROR)
				handshake_failed(sp, p, tls_last_error(why, sizeof(why)));
			else
				p->dead = true;
			return -1;
		}
		p->len += (uint32_t)got;
		if (p->state == ST_READ_HEAD && p->len > HTTP_MAX_HEAD)
			return 0; /* the parser reports it too large */
		/*
		 * Decoded at once, so that buf fills only with DERP bytes: the
		 * framing of a ClientInfo cut into many small messages never needs
		 * room past the ClientInfo's own length.
		 */
		if (p->ws && p->state == ST_READ_CLIENT_INFO && ws_pull(sp, p) < 0)
			return -1;
	}
}

/*
 * Moves a connection forward as far as the bytes at hand allow, then starts
 * its one next operation: a send if anything is waiting to go out, else a
 * recv. Called after every completion.
 */
static void pump(struct slowpath *sp, struct pending *p)
{
	for (;;) {
		if (p->dead)
			break;
		if (p->state == ST_TLS_HANDSHAKE) {
			enum tls_status st = tls_handshake(p->ssl);
			if (st == TLS_OK) {
				stat_add(&sp->stats.tls_handshakes, 1);
				/* OpenSSL has let go of the handshake messages. */
				uncharge(sp, p, tls_input_charged(p->tls_in), false);
				p->tls_in = 0;
				p->state = ST_READ_HEAD;
				continue;
			}
			if (st != TLS_WANT_MORE) {
				char why[160];
				stat_add(&sp->stats.tls_failures, 1);
				handshake_failed(sp, p, tls_last_error(why, sizeof(why)));
			}
			break;
		}
		if (p->ssl && p->state != ST_CLOSING && tls_pull(sp, p) < 0)
			break;
		if (p->ws && p->state == ST_READ_CLIENT_INFO && ws_pull(sp, p) < 0)
			break;
		if (p->state == ST_READ_HEAD) {
			if (step_head(sp, p))
				continue;
		} else if (p->state == ST_READ_CLIENT_INFO || p->state == ST_READ_HD_AUTH) {
			enum step_result r = p->state == ST_READ_HD_AUTH ? step_hd_auth(sp, p)
									  : step_client_info(sp, p);
			if (r == STEP_HANDED_OFF)
				return;
			if (r == STEP_ADVANCED)
				continue;
		}
		break;
	}
	/* No operation while the check runs: the bytes that follow wait in the socket. */
	if (p->state == ST_ADMISSION && !p->dead)
		return;
	if (p->dead && !p->op_inflight) {
		pending_close(sp, p);
		return;
	}
	if (collect_tls_out(sp, p) < 0) {
		pending_close(sp, p);
		return;
	}
	if (p->out_sent < p->out_len) {
		if (!submit_send(sp, p))
			pending_close(sp, p);
		return;
	}
	p->out_sent = p->out_len = 0;
	if (p->state == ST_CLOSING) {
		pending_close(sp, p);
		return;
	}
	if (!p->ssl && p->len == p->cap) {
		uint32_t want = buf_next_cap(p);
		if (p->len >= want || pending_grow(sp, p, &p->buf, &p->cap, want, true) < 0) {
			pending_close(sp, p);
			return;
		}
	}
	if (!submit_recv(sp, p))
		pending_close(sp, p);
}

static void handle_completion(struct slowpath *sp, struct pending *p, int res)
{
	p->op_inflight = false;
	if (p->dead) {
		pending_close(sp, p);
		return;
	}
	if (p->out_sent < p->out_len) {
		/* A send completed. */
		if (res < 0) {
			pending_close(sp, p);
			return;
		}
		p->out_sent += (uint32_t)res;
		pump(sp, p);
		return;
	}
	if (res <= 0) {
		/* The client went away (or reset) before the handshake finished. */
		if (p->state == ST_READ_CLIENT_INFO)
			handshake_failed(sp, p, res == 0 ? "closed" : strerror(-res));
		pending_close(sp, p);
		return;
	}
	if (p->ssl) {
		if (p->state == ST_TLS_HANDSHAKE && charge_tls_input(sp, p, (uint32_t)res) < 0) {
			pending_close(sp, p);
			return;
		}
		if (tls_feed(p->ssl, p->raw, (size_t)res) < 0) {
			pending_close(sp, p);
			return;
		}
	} else {
		p->len += (uint32_t)res;
	}
	pump(sp, p);
}

static void arm_accept(struct slowpath *sp)
{
	struct io_uring_sqe *sqe = get_sqe(sp);
	if (!sqe) {
		/* The loop tries again on its next pass, after submitting. */
		stat_add(&sp->stats.submit_failures, 1);
		return;
	}
	io_uring_prep_multishot_accept(sqe, sp->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, UD_ACCEPT);
	sp->accept_armed = true;
}

static void remote_address(int fd, uint8_t ip[16], uint16_t *port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	memset(ip, 0, 16);
	*port = 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		/* IPv4 as ::ffff:a.b.c.d, the form PeerPresent carries. */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &sin->sin_addr, 4);
		*port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		memcpy(ip, &sin6->sin6_addr, 16);
		*port = ntohs(sin6->sin6_port);
	}
}

/* A new connection's state and first buffers, or NULL (out of memory). */
static struct pending *accept_pending(struct slowpath *sp, int fd)
{
	struct pending *p = calloc(1, sizeof(*p));
	uint8_t *buf = malloc(HEAD_BUF_INITIAL);
	if (!p || !buf)
		goto fail;
	p->fd = fd;
	p->buf = buf;
	p->cap = HEAD_BUF_INITIAL;
	p->state = ST_READ_HEAD;
	p->source_slot = -1;
	if (sp->tls) {
		p->ssl = tls_session_new(sp->tls);
		p->raw = malloc(RAW_BUF_SIZE);
		p->state = ST_TLS_HANDSHAKE;
		/* Untracked (out of memory), the session just stays in userspace. */
		if (p->ssl && sp->ktls)
			ktls_track(p->ssl);
		if (!p->ssl || !p->raw)
			goto fail;
	}
	return p;
fail:
	if (p) {
		SSL_free(p->ssl);
		free(p->raw);
	}
	free(p);
	free(buf);
	return NULL;
}

static void handle_accept(struct slowpath *sp, const struct io_uring_cqe *cqe)
{
	if (!(cqe->flags & IORING_CQE_F_MORE))
		sp->accept_armed = false; /* re-armed by the loop */
	if (cqe->res < 0) {
		if (cqe->res == -ECANCELED)
			return;
		stat_add(&sp->stats.accept_errors, 1);
		/*
		 * An accept that ended on an error is re-armed only after a pause:
		 * an error that persists would otherwise fail it again at once,
		 * every pass of the loop.
		 */
		if (!(cqe->flags & IORING_CQE_F_MORE))
			accept_backoff_pause(&sp->accept_backoff, sp->now_ns);
		/* EMFILE and friends: say so, at most once a second. */
		if (accept_backoff_failed(&sp->accept_backoff, -cqe->res, sp->now_ns, NULL))
			log_warn("accept failed: %s%s", strerror(-cqe->res),
				 cqe->res == -EMFILE || cqe->res == -ENFILE
				     ? " (out of file descriptors: pausing accepts)"
				     : "");
		/*
		 * Without fds every retry fails at once: a multishot accept would
		 * spin. Stop it and try again a little later; the backlog waits.
		 */
		if (accept_backoff_paused(&sp->accept_backoff, sp->now_ns)) {
			/* Without an SQE the next failure of the accept tries again. */
			struct io_uring_sqe *sqe =
			    cqe->flags & IORING_CQE_F_MORE ? get_sqe(sp) : NULL;
			if (sqe) {
				io_uring_prep_cancel64(sqe, UD_ACCEPT, 0);
				io_uring_sqe_set_data64(sqe, UD_CANCEL);
			}
		}
		return;
	}
	int fd = cqe->res;
	struct relay *r = sp->relay;
	uint64_t current = atomic_load_explicit(&r->conns_current, memory_order_relaxed);
	if (current >= settings_u32(&r->settings.max_connections)) {
		stat_add(&sp->stats.rejected_max_conns, 1);
		close(fd);
		return;
	}
	/*
	 * As derper's rate-limited listener: accepted and closed at once rather
	 * than left in the backlog, which tells the client to back off and
	 * holds nothing in the kernel.
	 */
	if (!token_bucket_take(&sp->accept_all, 1, sp->now_ns)) {
		stat_add(&sp->stats.rejected_accept_rate, 1);
		close(fd);
		return;
	}
	uint8_t ip[16];
	uint16_t port;
	remote_address(fd, ip, &port);
	if (!accept_limiter_allow(&sp->per_ip, ip, sp->now_ns)) {
		stat_add(&sp->stats.rejected_rate, 1);
		close(fd);
		return;
	}
	int32_t slot = pending_limiter_take(&sp->pending_per_source, ip,
					    settings_u32(&r->settings.max_pending_per_ip));
	if (slot < 0) {
		stat_add(&sp->stats.refused_pending_per_ip, 1);
		if (log_due(&sp->last_source_warn_ns, sp->now_ns, LIMIT_WARN_NS)) {
			char addr[INET6_ADDRSTRLEN] = "?";
			inet_ntop(AF_INET6, ip, addr, sizeof(addr));
			log_warn("refusing connections from %s: limits.max_pending_per_ip (%u) "
				 "handshakes under way",
				 addr, settings_u32(&r->settings.max_pending_per_ip));
		}
		close(fd);
		return;
	}
	/* What a handshake holds from the start; what it may grow to is charged as it grows. */
	uint32_t initial = (uint32_t)sizeof(struct pending) + HEAD_BUF_INITIAL +
			   (sp->tls ? RAW_BUF_SIZE + TLS_SESSION_BYTES : 0);
	if (!memory_allows(sp, initial, false)) {
		pending_limiter_put(&sp->pending_per_source, slot);
		close(fd);
		return;
	}
	struct pending *p = accept_pending(sp, fd);
	if (!p) {
		pending_limiter_put(&sp->pending_per_source, slot);
		close(fd);
		return;
	}
	atomic_fetch_add_explicit(&r->conns_current, 1, memory_order_relaxed);
	stat_add(&sp->stats.accepted, 1);
	stat_add(&sp->stats.handshakes_pending, 1);
	p->source_slot = slot;
	charge(sp, p, initial, false);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tcp_liveness_apply(fd, sp->set.tcp_keepalive_ms, sp->set.tcp_user_timeout_ms) < 0 &&
	    log_due(&sp->last_liveness_warn_ns, sp->now_ns, LIMIT_WARN_NS))
		log_warn("TCP keepalive or user timeout not set on a client connection: %s",
			 strerror(errno));
	p->deadline_ns =
	    sp->now_ns + (uint64_t)settings_u32(&r->settings.handshake_timeout_ms) * 1000000ull;
	memcpy(p->ip, ip, sizeof(p->ip));
	p->port = port;
	p->prev = sp->tail;
	if (sp->tail)
		sp->tail->next = p;
	else
		sp->head = p;
	sp->tail = p;
	if (!submit_recv(sp, p))
		pending_close(sp, p);
}

static void arm_admission(struct slowpath *sp)
{
	struct io_uring_sqe *sqe = get_sqe(sp);
	if (!sqe)
		return; /* the loop tries again on its next pass */
	io_uring_prep_read(sqe, admission_event_fd(sp->admission), &sp->admission_count,
			   sizeof(sp->admission_count), 0);
	io_uring_sqe_set_data64(sqe, UD_ADMISSION);
	sp->admission_armed = true;
}

static void handle_admission(struct slowpath *sp)
{
	sp->admission_armed = false;
	struct admission_result res;
	while (admission_take(sp->admission, &res)) {
		struct pending *p = res.token;
		p->awaiting_admission = false;
		stat_add(&sp->stats.admission_pending, -(uint64_t)1);
		/* Timed out (or the relay is stopping) while the check ran. */
		if (p->dead) {
			pending_close(sp, p);
			continue;
		}
		if (!admission_decided(sp, p, res.verdict))
			pending_close(sp, p);
	}
}

static void sweep_deadlines(struct slowpath *sp)
{
	struct pending *p = sp->head;
	while (p && p->deadline_ns <= sp->now_ns) {
		struct pending *next = p->next;
		if (!p->dead) {
			stat_add(&sp->stats.handshake_timeouts, 1);
			log_debug("connection closed: handshake not finished within %u ms",
				  settings_u32(&sp->relay->settings.handshake_timeout_ms));
			pending_close(sp, p);
		}
		p = next;
	}
}

/*
 * At stop: lets go of the port before the process exits. Closing our fd is
 * not enough: a multishot accept holds its own reference to the socket
 * until the ring's teardown, which the kernel finishes after we are gone,
 * so the port stayed in LISTEN and a relay restarted at once could not
 * bind it. shutdown() takes the socket out of LISTEN now, whoever holds it
 * (and ends the accept); then the accept is cancelled and its last
 * completion reaped. A socket systemd passed is left listening: it is
 * systemd's, and connections queue on it for the next relay.
 */
static void release_listener(struct slowpath *sp)
{
	if (!slowpath_listen_inherited(sp->listen_fd))
		shutdown(sp->listen_fd, SHUT_RDWR);
	if (!sp->accept_armed)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&sp->ring);
	if (sqe) {
		io_uring_prep_cancel64(sqe, UD_ACCEPT, 0);
		io_uring_sqe_set_data64(sqe, UD_CANCEL);
	}
	uint64_t deadline = now_ns() + RELEASE_WAIT_NS;
	while (sp->accept_armed && now_ns() < deadline) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 50000000 };
		struct io_uring_cqe *cqe;
		if (io_uring_submit_and_wait_timeout(&sp->ring, &cqe, 1, &ts, NULL) < 0 &&
		    io_uring_peek_cqe(&sp->ring, &cqe) != 0)
			continue;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&sp->ring, head, cqe)
		{
			n++;
			/* Connections mid-handshake are closed by slowpath_stop. */
			if (cqe->user_data != UD_ACCEPT)
				continue;
			if (!(cqe->flags & IORING_CQE_F_MORE))
				sp->accept_armed = false;
			if (cqe->res >= 0)
				close(cqe->res); /* accepted before the shutdown: too late now */
		}
		io_uring_cq_advance(&sp->ring, n);
	}
}

/*
 * A burst of handshakes (a reconnect storm, a flood of connections that
 * stall) leaves its buffers freed but resident: they go back to the
 * kernel here, as the packet pools' do (mem_release.h).
 */
static void trim_after_burst(struct slowpath *sp)
{
	if (sp->now_ns < sp->next_trim_ns)
		return;
	sp->next_trim_ns = sp->now_ns + TRIM_NS;
	if (mem_release_freed(sp->freed))
		log_debug(
		    "slow path: returned memory after %llu KiB of handshake buffers were freed",
		    (unsigned long long)(sp->freed >> 10));
	sp->freed = 0;
}

/*
 * New handshakes take the new context; every connection already accepted
 * holds a reference to its own (SSL_new takes one), so freeing ours here
 * never pulls a certificate from under a connection.
 */
static void swap_context(struct slowpath *sp, SSL_CTX *ctx)
{
	SSL_CTX_free(sp->tls);
	sp->tls = ctx;
}

/* Reloads the certificate when asked (SIGHUP) or when its files changed. */
static void check_certificates(struct slowpath *sp)
{
	bool asked = atomic_exchange_explicit(&sp->certs_reload_asked, false, memory_order_acq_rel);
	if (!sp->certs || (!asked && sp->now_ns < sp->next_cert_check_ns))
		return;
	sp->next_cert_check_ns = sp->now_ns + CERT_CHECK_NS;
	if (!asked && !cert_source_changed(sp->certs))
		return;
	char err[512];
	struct cert_info info;
	SSL_CTX *ctx = cert_source_load(sp->certs, &info, err, sizeof(err));
	/* kTLS needs the context armed; one that cannot be keeps the old context. */
	if (ctx && sp->ktls && ktls_ctx_enable(ctx) < 0) {
		snprintf(err, sizeof(err), "cannot set kTLS up on the new context");
		SSL_CTX_free(ctx);
		ctx = NULL;
	}
	if (!ctx) {
		stat_add(&sp->stats.cert_reload_failures, 1);
		log_error("TLS: new certificate refused, still serving the previous one: %s", err);
		return;
	}
	swap_context(sp, ctx);
	stat_add(&sp->stats.cert_reloads, 1);
	stat_set(&sp->stats.cert_not_after, (uint64_t)info.not_after_unix);
	log_info("TLS: certificate reloaded%s from %s: %s, valid until %s, %s",
		 asked ? " (SIGHUP)" : "", sp->certs->cert_path, info.subject, info.not_after,
		 info.pin);
	if (info.expired)
		log_warn("TLS: the certificate in %s has expired (%s)", sp->certs->cert_path,
			 info.not_after);
}

static void *slowpath_main(void *arg)
{
	struct slowpath *sp = arg;
	log_set_thread_role("slow");
	int cpu = sp->relay->cpus.slowpath_cpu;
	int prc = cpu_pin_self(cpu);
	if (prc)
		log_warn("slow path: cannot pin to CPU %d: %s", cpu, strerror(prc));
	while (!atomic_load_explicit(&sp->stop, memory_order_acquire)) {
		sp->now_ns = now_ns();
		if (!sp->accept_armed && !accept_backoff_paused(&sp->accept_backoff, sp->now_ns))
			arm_accept(sp);
		if (sp->admission && !sp->admission_armed)
			arm_admission(sp);
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100000000 };
		struct io_uring_cqe *cqe;
		io_uring_submit_and_wait_timeout(&sp->ring, &cqe, 1, &ts, NULL);
		sp->now_ns = now_ns();
		unsigned head, n = 0;
		io_uring_for_each_cqe(&sp->ring, head, cqe)
		{
			n++;
			if (cqe->user_data == UD_ACCEPT)
				handle_accept(sp, cqe);
			else if (cqe->user_data == UD_CANCEL)
				; /* the accept's own CQE says it ended */
			else if (cqe->user_data == UD_ADMISSION)
				handle_admission(sp);
			else if (cqe->user_data)
				handle_completion(sp, io_uring_cqe_get_data(cqe), cqe->res);
		}
		io_uring_cq_advance(&sp->ring, n);
		sweep_deadlines(sp);
		trim_after_burst(sp);
		check_certificates(sp);
	}
	release_listener(sp);
	return NULL;
}

struct slowpath *slowpath_create(struct relay *r, const struct slowpath_settings *set,
				 int listen_fd, SSL_CTX *tls)
{
	struct slowpath *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return NULL;
	sp->relay = r;
	sp->set = *set;
	sp->listen_fd = listen_fd;
	/* Our own reference: a reload frees it while the caller still holds its own. */
	if (tls)
		SSL_CTX_up_ref(tls);
	sp->tls = tls;
	sp->ktls = tls && ktls_ctx_enabled(tls);
	sp->ktls_off_reason = set->ktls_off ? "tls.ktls = off" : "no kTLS in this kernel";
	if (accept_limiter_init(&sp->per_ip, set->max_accept_per_ip) < 0 ||
	    pending_limiter_init(&sp->pending_per_source) < 0) {
		accept_limiter_destroy(&sp->per_ip);
		free(sp);
		return NULL;
	}
	if (admission_configured(&set->admission)) {
		char err[256];
		uint32_t handshake_ms = settings_u32(&r->settings.handshake_timeout_ms);
		/* The check runs inside the handshake's deadline: one that cannot fit is a mistake. */
		if (set->admission.timeout_ms >= handshake_ms)
			log_warn(
			    "admission.timeout_ms (%u) is not below limits.handshake_timeout_ms "
			    "(%u): a slow check ends as a handshake timeout instead",
			    set->admission.timeout_ms, handshake_ms);
		sp->admission = admission_create(&set->admission, err, sizeof(err));
		if (!sp->admission) {
			log_error("%s", err);
			accept_limiter_destroy(&sp->per_ip);
			pending_limiter_destroy(&sp->pending_per_source);
			free(sp);
			return NULL;
		}
	}
	token_bucket_init(&sp->accept_all, set->accept_rate, set->accept_burst, now_ns());
	key_to_hex(r->server_pub, sp->server_pub_hex);
	char reason[128];
	if (ip_prefix_list_parse(set->debug_allow, &sp->debug_allow, reason, sizeof(reason)) < 0) {
		/* Checked when the configuration was read; refuse rather than open /debug/. */
		log_error("debug.allow: %s", reason);
		accept_limiter_destroy(&sp->per_ip);
		pending_limiter_destroy(&sp->pending_per_source);
		free(sp);
		return NULL;
	}
	struct io_uring_params p = { 0 };
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
	int rc = io_uring_queue_init_params(SP_RING_ENTRIES, &sp->ring, &p);
	if (rc < 0) {
		log_error("slow path: io_uring_queue_init: %s", strerror(-rc));
		admission_destroy(sp->admission);
		accept_limiter_destroy(&sp->per_ip);
		pending_limiter_destroy(&sp->pending_per_source);
		free(sp);
		return NULL;
	}
	return sp;
}

int slowpath_start(struct slowpath *sp)
{
	/* Its thread starts here, after the privileges are dropped, like the others. */
	const struct slowpath_settings *set = &sp->set;
	sp->bootstrap_dns = bootstrap_dns_start(
	    set->bootstrap_dns_names, set->bootstrap_dns_unpublished, set->bootstrap_dns_refresh_s);
	if (!sp->bootstrap_dns)
		return -1;
	return -pthread_create(&sp->thread, NULL, slowpath_main, sp);
}

void slowpath_stop(struct slowpath *sp)
{
	atomic_store_explicit(&sp->stop, true, memory_order_release);
	pthread_join(sp->thread, NULL);
	/* Tear the ring down first: it cancels the I/O that still points at our buffers. */
	io_uring_queue_exit(&sp->ring);
	sp->ring_closed = true;
	/* Checks under way end; their results, which name freed connections, are never taken. */
	admission_destroy(sp->admission);
	sp->admission = NULL;
	/* Connections still mid-handshake are closed outright. */
	while (sp->head) {
		struct pending *p = sp->head;
		close(p->fd);
		atomic_fetch_sub_explicit(&sp->relay->conns_current, 1, memory_order_relaxed);
		pending_free(sp, p);
	}
	close(sp->listen_fd);
	bootstrap_dns_stop(sp->bootstrap_dns);
	sp->bootstrap_dns = NULL;
}

void slowpath_destroy(struct slowpath *sp)
{
	if (!sp)
		return;
	if (!sp->ring_closed)
		io_uring_queue_exit(&sp->ring);
	admission_destroy(sp->admission);
	accept_limiter_destroy(&sp->per_ip);
	pending_limiter_destroy(&sp->pending_per_source);
	SSL_CTX_free(sp->tls);
	free(sp);
}

void slowpath_watch_certificates(struct slowpath *sp, struct cert_source *certs,
				 const struct cert_info *loaded)
{
	sp->certs = certs;
	stat_set(&sp->stats.cert_not_after, (uint64_t)loaded->not_after_unix);
}

void slowpath_reload_certificates(struct slowpath *sp)
{
	atomic_store_explicit(&sp->certs_reload_asked, true, memory_order_release);
}

void slowpath_get_stats(const struct slowpath *sp, struct slowpath_stats *out)
{
	/* Field by field: the slow path thread keeps counting meanwhile. */
	const uint64_t *src = (const uint64_t *)&sp->stats;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = stat_read(&src[i]);
	out->admission_cache_hits = sp->admission ? admission_cache_hits(sp->admission) : 0;
	/* Counted by the resolver's thread, which keeps its own. */
	if (sp->bootstrap_dns)
		out->bootstrap_dns_lookup_failures =
		    bootstrap_dns_lookup_failures(sp->bootstrap_dns);
}
