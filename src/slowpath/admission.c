// SPDX-License-Identifier: MIT
#include "admission.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <sodium.h>

#include "admission_answer.h"
#include "admission_url.h"
#include "http_client.h"
#include "key.h"
#include "log.h"
#include "version.h"

#define CACHE_SLOTS  4096 /* a power of two */
#define RESPONSE_MAX (16 * 1024)
#define BODY_MAX     (4 * 1024) /* derper reads at most 4 KiB of the answer */
#define LOG_EVERY_NS 1000000000ull
/*
 * Connections to the controller are kept open between checks, as Go's
 * HTTP client (derper's) keeps them: a check then costs one round trip,
 * not a TCP and TLS handshake more. At most one per check thread; one
 * idle for longer than this is closed rather than reused.
 */
#define IDLE_MAX_NS 30000000000ull

const char *const admission_verdict_names[ADMISSION_VERDICT_COUNT] = {
	[ADMISSION_ALLOWED] = "allowed", [ADMISSION_REFUSED] = "refused",
	[ADMISSION_FAILED] = "failed",	 [ADMISSION_FAIL_OPEN] = "fail_open",
	[ADMISSION_BUSY] = "busy",
};

struct check {
	uint8_t key[32];
	uint8_t ip[16];
	void *token;
	enum admission_verdict verdict;
};

struct cache_slot {
	uint8_t key[32];
	uint8_t ip[16];
	uint64_t expires_ns; /* 0 = empty */
	bool allowed;
};

/* A ring of checks: the queue to the threads, or the finished ones back. */
struct check_ring {
	struct check *items;
	uint32_t head, count;
};

struct admission {
	bool verify_clients;
	char socket_path[PATH_MAX];
	bool has_url;
	struct admission_url url;
	char url_text[1024];
	bool fail_open;
	uint64_t cache_ns;
	uint64_t timeout_ns;
	SSL_CTX *tls;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stopping;
	struct check_ring todo;
	struct check_ring done;
	struct cache_slot *cache;
	uint8_t hash_key[16];
	uint64_t cache_hits;
	uint32_t outstanding; /* submitted and not yet taken: bounds both rings */
	uint64_t last_log_ns;

	struct http_conn idle[ADMISSION_THREADS]; /* kept-alive controller connections */
	uint64_t idle_since[ADMISSION_THREADS];
	int nidle;

	int event_fd; /* finished checks are waiting */
	int stop_fd;  /* readable once stopping: checks under way end */
	pthread_t threads[ADMISSION_THREADS];
	int nthreads;
};

bool admission_configured(const struct admission_settings *set)
{
	return set->verify_clients || set->verify_client_url[0];
}

static bool ring_push(struct check_ring *r, const struct check *c)
{
	if (r->count == ADMISSION_QUEUE_MAX)
		return false;
	r->items[(r->head + r->count++) % ADMISSION_QUEUE_MAX] = *c;
	return true;
}

static bool ring_pop(struct check_ring *r, struct check *c)
{
	if (!r->count)
		return false;
	*c = r->items[r->head];
	r->head = (r->head + 1) % ADMISSION_QUEUE_MAX;
	r->count--;
	return true;
}

/* ---- the cache (under mu) ---- */

static struct cache_slot *cache_slot_of(struct admission *a, const uint8_t key[32],
					const uint8_t ip[16])
{
	uint8_t both[48];
	uint64_t h;
	memcpy(both, key, 32);
	memcpy(both + 32, ip, 16);
	/* Keyed: a client cannot aim its keys at someone else's slot. */
	crypto_shorthash((unsigned char *)&h, both, sizeof(both), a->hash_key);
	return &a->cache[h & (CACHE_SLOTS - 1)];
}

static bool cache_get(struct admission *a, const uint8_t key[32], const uint8_t ip[16],
		      uint64_t now, bool *allowed)
{
	if (!a->cache_ns)
		return false;
	struct cache_slot *s = cache_slot_of(a, key, ip);
	if (s->expires_ns <= now || memcmp(s->key, key, 32) != 0 || memcmp(s->ip, ip, 16) != 0)
		return false;
	*allowed = s->allowed;
	return true;
}

static void cache_put(struct admission *a, const struct check *c, uint64_t now)
{
	if (!a->cache_ns || (c->verdict != ADMISSION_ALLOWED && c->verdict != ADMISSION_REFUSED))
		return;
	struct cache_slot *s = cache_slot_of(a, c->key, c->ip);
	memcpy(s->key, c->key, 32);
	memcpy(s->ip, c->ip, 16);
	s->allowed = c->verdict == ADMISSION_ALLOWED;
	s->expires_ns = now + a->cache_ns;
}

/* ---- the checks (on a check thread, without mu) ---- */

/* Logs a failed check, at most once a second over all threads. */
static void log_failure(struct admission *a, const char *what, const char *why)
{
	pthread_mutex_lock(&a->mu);
	bool due = log_due(&a->last_log_ns, http_now_ns(), LOG_EVERY_NS);
	pthread_mutex_unlock(&a->mu);
	if (due)
		log_warn("admission: %s: %s", what, why);
}

static void source_text(const uint8_t ip[16], char *out, size_t cap)
{
	static const uint8_t v4_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	/* derper's Source is the address as Go prints it: IPv4 clients in dotted form. */
	if (memcmp(ip, v4_prefix, 12) == 0)
		inet_ntop(AF_INET, ip + 12, out, (socklen_t)cap);
	else
		inet_ntop(AF_INET6, ip, out, (socklen_t)cap);
}

/* A kept controller connection still fit for a request, if there is one. */
static bool idle_take(struct admission *a, struct http_conn *c)
{
	bool found = false;
	pthread_mutex_lock(&a->mu);
	uint64_t now = http_now_ns();
	while (!found && a->nidle > 0) {
		a->nidle--;
		*c = a->idle[a->nidle];
		found = now - a->idle_since[a->nidle] < IDLE_MAX_NS && http_conn_idle_usable(c);
		if (!found)
			http_conn_close(c);
	}
	pthread_mutex_unlock(&a->mu);
	return found;
}

/* Keeps a controller connection for the next check, or closes it. */
static void idle_put(struct admission *a, struct http_conn *c)
{
	pthread_mutex_lock(&a->mu);
	if (!a->stopping && a->nidle < ADMISSION_THREADS) {
		a->idle_since[a->nidle] = http_now_ns();
		a->idle[a->nidle++] = *c;
		c->fd = -1;
		c->ssl = NULL;
	}
	pthread_mutex_unlock(&a->mu);
	http_conn_close(c);
}

/*
 * One request; the parsed status and body. Returns 0, -1 when the server
 * could not be reached or did not answer in time, -2 on an answer that
 * is not HTTP. tailscaled gets a connection per request; the controller
 * gets a kept one when there is one, and a new one if that turns out to
 * have been closed before it answered anything.
 */
static int exchange(struct admission *a, bool unix_socket, const char *req, size_t req_len,
		    char *resp, int *status, const char **body, size_t *body_len, char *why,
		    size_t why_len)
{
	uint64_t deadline = http_now_ns() + a->timeout_ns;
	struct http_conn c = { .fd = -1 };
	size_t got = 0;
	bool closed = false;
	int rc = -1;
	for (int attempt = 0; attempt < 2 && rc < 0; attempt++) {
		bool reused = !unix_socket && attempt == 0 && idle_take(a, &c);
		c.stop_fd = a->stop_fd;
		c.deadline_ns = deadline;
		if (!reused) {
			rc = unix_socket ? http_conn_unix(&c, a->socket_path, why, why_len)
					 : http_conn_tcp(&c, a->url.host, a->url.port,
							 a->url.tls ? a->tls : NULL, why, why_len);
			if (rc < 0)
				return -1;
		}
		rc = http_conn_exchange(&c, req, req_len, resp, RESPONSE_MAX, &got, &closed, why,
					why_len);
		if (rc < 0)
			http_conn_close(&c);
		/* Only a kept connection that said nothing may be tried again. */
		if (rc < 0 && !(reused && got == 0))
			return -1;
	}
	if (rc < 0)
		return -1;
	if (!unix_socket && !closed && http_response_keeps_alive(resp, got))
		idle_put(a, &c);
	else
		http_conn_close(&c);
	if (http_response_parse(resp, got, status, body, body_len, 1) != 0) {
		snprintf(why, why_len, "the answer is not a whole HTTP/1.x response");
		return -2;
	}
	return 0;
}

static enum admission_verdict check_tailscaled(struct admission *a, const struct check *c)
{
	char hex[KEY_HEX_LEN + 1];
	char req[512];
	char resp[RESPONSE_MAX];
	char why[256];
	const char *body;
	size_t body_len;
	int status;
	key_to_hex(c->key, hex);
	/*
	 * As tailscale's LocalClient.WhoIsNodeKey asks it: the key's text form
	 * query-escaped (':' as %3A), and the Host and Sec-Tailscale headers
	 * tailscaled requires of LocalAPI callers.
	 */
	int n = snprintf(req, sizeof(req),
			 "GET /localapi/v0/whois?addr=nodekey%%3A%s HTTP/1.1\r\n"
			 "Host: local-tailscaled.sock\r\n"
			 "Sec-Tailscale: localapi\r\n"
			 "User-Agent: hyper-derp/" HD_VERSION "\r\n"
			 "Connection: close\r\n\r\n",
			 hex);
	if (exchange(a, true, req, (size_t)n, resp, &status, &body, &body_len, why, sizeof(why)) <
	    0) {
		log_failure(a, "tailscaled LocalAPI", why);
		return ADMISSION_FAILED;
	}
	if (status == 200)
		return ADMISSION_ALLOWED;
	if (status == 404)
		return ADMISSION_REFUSED;
	snprintf(why, sizeof(why), "whois answered status %d", status);
	log_failure(a, "tailscaled LocalAPI", why);
	return ADMISSION_FAILED;
}

static enum admission_verdict check_url(struct admission *a, const struct check *c)
{
	char hex[KEY_HEX_LEN + 1];
	char source[INET6_ADDRSTRLEN];
	char json[160];
	char req[2048];
	char resp[RESPONSE_MAX];
	char why[256];
	const char *body;
	size_t body_len;
	int status;
	key_to_hex(c->key, hex);
	source_text(c->ip, source, sizeof(source));
	/* tailcfg.DERPAdmitClientRequest as Go marshals it. */
	int jn = snprintf(json, sizeof(json), "{\"NodePublic\":\"nodekey:%s\",\"Source\":\"%s\"}",
			  hex, source);
	bool v6 = a->url.host_is_v6;
	bool default_port = strcmp(a->url.port, a->url.tls ? "443" : "80") == 0;
	int n = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\n"
			 "Host: %s%s%s%s%s\r\n"
			 "User-Agent: hyper-derp/" HD_VERSION "\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %d\r\n\r\n%s",
			 a->url.path, v6 ? "[" : "", a->url.host, v6 ? "]" : "",
			 default_port ? "" : ":", default_port ? "" : a->url.port, jn, json);
	if (n < 0 || (size_t)n >= sizeof(req)) {
		log_failure(a, "admission controller", "request too long");
		return ADMISSION_FAILED;
	}
	int rc =
	    exchange(a, false, req, (size_t)n, resp, &status, &body, &body_len, why, sizeof(why));
	if (rc == -1) {
		/* derper fails open only here: the controller could not be asked. */
		log_failure(a,
			    a->fail_open ? "controller unreachable, admitting (fail_open)"
					 : "controller unreachable, refusing",
			    why);
		return a->fail_open ? ADMISSION_FAIL_OPEN : ADMISSION_FAILED;
	}
	if (rc < 0) {
		log_failure(a, "admission controller", why);
		return ADMISSION_FAILED;
	}
	if (status != 200) {
		snprintf(why, sizeof(why), "answered status %d", status);
		log_failure(a, "admission controller", why);
		return ADMISSION_FAILED;
	}
	bool allow;
	if (admission_answer_allows(body, body_len < BODY_MAX ? body_len : BODY_MAX, &allow) < 0) {
		log_failure(a, "admission controller", "the answer is not a JSON object");
		return ADMISSION_FAILED;
	}
	return allow ? ADMISSION_ALLOWED : ADMISSION_REFUSED;
}

static enum admission_verdict check_client(struct admission *a, const struct check *c)
{
	if (a->verify_clients) {
		enum admission_verdict v = check_tailscaled(a, c);
		if (v != ADMISSION_ALLOWED)
			return v;
	}
	if (a->has_url)
		return check_url(a, c);
	return ADMISSION_ALLOWED;
}

static void *check_thread(void *arg)
{
	struct admission *a = arg;
	log_set_thread_role("admission");
	pthread_mutex_lock(&a->mu);
	for (;;) {
		struct check c;
		while (!a->stopping && !ring_pop(&a->todo, &c))
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stopping)
			break;
		pthread_mutex_unlock(&a->mu);
		c.verdict = check_client(a, &c);
		pthread_mutex_lock(&a->mu);
		cache_put(a, &c, http_now_ns());
		/* done has the room: at most ADMISSION_QUEUE_MAX checks are outstanding. */
		ring_push(&a->done, &c);
		uint64_t one = 1;
		if (write(a->event_fd, &one, sizeof(one)) < 0)
			log_warn("admission: eventfd write: %s", strerror(errno));
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* ---- the slow path's side ---- */

struct admission *admission_create(const struct admission_settings *set, char *err, size_t errlen)
{
	struct admission *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->event_fd = a->stop_fd = -1;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->verify_clients = set->verify_clients;
	snprintf(a->socket_path, sizeof(a->socket_path), "%s", set->tailscaled_socket);
	a->fail_open = set->fail_open;
	a->cache_ns = (uint64_t)set->cache_ms * 1000000ull;
	a->timeout_ns = (uint64_t)set->timeout_ms * 1000000ull;
	randombytes_buf(a->hash_key, sizeof(a->hash_key));
	if (set->verify_client_url[0]) {
		char why[1200];
		a->has_url = true;
		snprintf(a->url_text, sizeof(a->url_text), "%s", set->verify_client_url);
		if (admission_url_parse(a->url_text, &a->url, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "admission.verify_client_url: %s", why);
			goto fail;
		}
	}
	if (a->has_url && a->url.tls) {
		/* The system's CAs (SSL_CERT_FILE / SSL_CERT_DIR override them, as for OpenSSL). */
		a->tls = SSL_CTX_new(TLS_client_method());
		if (!a->tls || !SSL_CTX_set_default_verify_paths(a->tls) ||
		    !SSL_CTX_set_min_proto_version(a->tls, TLS1_2_VERSION)) {
			snprintf(err, errlen, "admission: cannot set up a TLS client context");
			goto fail;
		}
		SSL_CTX_set_verify(a->tls, SSL_VERIFY_PEER, NULL);
	}
	a->todo.items = calloc(ADMISSION_QUEUE_MAX, sizeof(struct check));
	a->done.items = calloc(ADMISSION_QUEUE_MAX, sizeof(struct check));
	a->cache = calloc(CACHE_SLOTS, sizeof(struct cache_slot));
	a->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!a->todo.items || !a->done.items || !a->cache || a->event_fd < 0 || a->stop_fd < 0) {
		snprintf(err, errlen, "admission: out of memory or file descriptors");
		goto fail;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	/* A check's buffers (some 20 KiB) and OpenSSL's fit many times over. */
	pthread_attr_setstacksize(&attr, ADMISSION_STACK_SIZE);
	for (; a->nthreads < ADMISSION_THREADS; a->nthreads++) {
		int rc = pthread_create(&a->threads[a->nthreads], &attr, check_thread, a);
		if (rc)
			pthread_attr_destroy(&attr);
		if (rc) {
			snprintf(err, errlen, "admission: cannot start a thread: %s", strerror(rc));
			goto fail;
		}
	}
	pthread_attr_destroy(&attr);
	return a;
fail:
	admission_destroy(a);
	return NULL;
}

void admission_destroy(struct admission *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->mu);
	a->stopping = true;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	if (a->stop_fd >= 0) {
		uint64_t one = 1;
		if (write(a->stop_fd, &one, sizeof(one)) < 0)
			log_warn("admission: eventfd write: %s", strerror(errno));
	}
	for (int i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	while (a->nidle > 0)
		http_conn_close(&a->idle[--a->nidle]);
	if (a->event_fd >= 0)
		close(a->event_fd);
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	SSL_CTX_free(a->tls);
	free(a->todo.items);
	free(a->done.items);
	free(a->cache);
	pthread_cond_destroy(&a->cv);
	pthread_mutex_destroy(&a->mu);
	free(a);
}

int admission_event_fd(const struct admission *a)
{
	return a->event_fd;
}

bool admission_submit(struct admission *a, const uint8_t key[32], const uint8_t ip[16], void *token,
		      enum admission_verdict *now)
{
	struct check c = { .token = token };
	bool allowed;
	memcpy(c.key, key, 32);
	memcpy(c.ip, ip, 16);
	pthread_mutex_lock(&a->mu);
	bool answered = true;
	if (cache_get(a, key, ip, http_now_ns(), &allowed)) {
		__atomic_store_n(&a->cache_hits, a->cache_hits + 1, __ATOMIC_RELAXED);
		*now = allowed ? ADMISSION_ALLOWED : ADMISSION_REFUSED;
	} else if (a->outstanding == ADMISSION_QUEUE_MAX || !ring_push(&a->todo, &c)) {
		*now = ADMISSION_BUSY;
	} else {
		a->outstanding++;
		answered = false;
		pthread_cond_signal(&a->cv);
	}
	pthread_mutex_unlock(&a->mu);
	return answered;
}

bool admission_take(struct admission *a, struct admission_result *out)
{
	struct check c;
	pthread_mutex_lock(&a->mu);
	bool got = ring_pop(&a->done, &c);
	if (got)
		a->outstanding--;
	else {
		/* Empty under the lock: no write can come between this read and the next push. */
		uint64_t n;
		if (read(a->event_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			log_warn("admission: eventfd read: %s", strerror(errno));
	}
	pthread_mutex_unlock(&a->mu);
	if (got) {
		out->token = c.token;
		out->verdict = c.verdict;
	}
	return got;
}

uint64_t admission_cache_hits(const struct admission *a)
{
	return __atomic_load_n(&a->cache_hits, __ATOMIC_RELAXED);
}
