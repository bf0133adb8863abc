// SPDX-License-Identifier: MIT
/* Connection setup rate and idle connections (see hdbench_setup.h). */
#include "hdbench_setup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"
#include "derp_tls.h"

#define NSEC_PER_SEC	   1000000000ULL
#define CONNECT_TIMEOUT_MS 10000
/* Below the ~28k ephemeral ports (32768..60999) that one source address has. */
#define CONNS_PER_SOURCE 20000
/*
 * Handshakes rotate over this many source addresses: each closed connection
 * leaves a TIME_WAIT socket on our side for 60 s, holding its port.
 */
#define RATE_SOURCES	     64
#define IDLE_SETTLE_NS	     (1 * NSEC_PER_SEC)
#define IDLE_PROGRESS_EVERY  20000
#define EVENTS_MAX	     512
#define DRAIN_BUF	     (16 * 1024)
#define DEFAULT_RATE_SECONDS 3.0

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t when)
{
	struct timespec ts = { .tv_sec = (time_t)(when / NSEC_PER_SEC),
			       .tv_nsec = (long)(when % NSEC_PER_SEC) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * The source address for connection number index, n connections per
 * address: 127.0.0.2 onwards. NULL (no bind) unless the relay is on IPv4
 * loopback, where all of 127/8 reaches it.
 */
static const char *source_addr(const char *server, uint64_t index, char out[INET_ADDRSTRLEN])
{
	struct in_addr a;
	uint64_t n = 2 + index;

	if (inet_pton(AF_INET, server, &a) != 1 || (ntohl(a.s_addr) >> 24) != 127)
		return NULL;
	snprintf(out, INET_ADDRSTRLEN, "127.%u.%u.%u", (unsigned)(n >> 16) & 255,
		 (unsigned)(n >> 8) & 255, (unsigned)n & 255);
	return out;
}

static const char *transport_name(const struct derp_client_opts *c)
{
	if (c->websocket)
		return c->tls ? (c->tls12 ? "websocket+tls1.2" : "websocket+tls") : "websocket";
	if (!c->tls)
		return "plain";
	return c->tls12 ? "tls1.2" : "tls";
}

/* ---- --connect-rate ---- */

struct rate_shared {
	const struct setup_bench_opts *opts;
	atomic_uint_fast64_t next_ticket;
	uint64_t start_ns;
	uint64_t end_ns; /* duration mode: no handshake starts after this */
	pthread_barrier_t start;
};

struct rate_thread {
	struct rate_shared *sh;
	pthread_t tid;
	double *ms; /* handshake times */
	size_t nms;
	size_t cap;
	uint64_t ok;
	uint64_t failed;
	uint64_t last_done_ns;
	char first_error[256];
};

static int record_ms(struct rate_thread *t, double ms)
{
	if (t->nms == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 4096;
		double *p = realloc(t->ms, cap * sizeof(*p));

		if (!p)
			return -1;
		t->ms = p;
		t->cap = cap;
	}
	t->ms[t->nms++] = ms;
	return 0;
}

/* When handshake k may start, or 0 when it must not start at all. */
static uint64_t ticket_due(const struct rate_shared *sh, uint64_t k)
{
	const struct setup_bench_opts *o = sh->opts;
	uint64_t due = sh->start_ns;

	if (o->count > 0 && k >= o->count)
		return 0;
	if (o->rate > 0)
		due += (uint64_t)((double)k * (double)NSEC_PER_SEC / o->rate);
	if (o->count == 0 && due >= sh->end_ns)
		return 0;
	return due;
}

static void *rate_thread_main(void *arg)
{
	struct rate_thread *t = arg;
	struct rate_shared *sh = t->sh;
	const struct setup_bench_opts *o = sh->opts;
	struct derp_client_opts copts = o->client;
	char src[INET_ADDRSTRLEN], err[256];
	struct derp_client c;
	uint64_t k, due, t0, t1;

	copts.timeout_ms = CONNECT_TIMEOUT_MS;
	pthread_barrier_wait(&sh->start);
	for (;;) {
		k = atomic_fetch_add(&sh->next_ticket, 1);
		due = ticket_due(sh, k);
		if (due == 0)
			break;
		sleep_until(due);
		if (o->count == 0 && now_ns() >= sh->end_ns)
			break;
		copts.bind_addr = source_addr(o->server, k % RATE_SOURCES, src);
		t0 = now_ns();
		if (derp_client_connect(&c, o->server, o->port, &copts, err, sizeof(err)) < 0) {
			if (t->failed++ == 0)
				snprintf(t->first_error, sizeof(t->first_error), "%s", err);
			continue;
		}
		t1 = now_ns();
		derp_client_close(&c);
		t->ok++;
		t->last_done_ns = now_ns();
		if (record_ms(t, (double)(t1 - t0) / 1e6) < 0)
			break;
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values. */
static double percentile(const double *v, size_t n, double pct)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)(pct / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	return v[(rank > n ? n : rank) - 1];
}

struct rate_result {
	uint64_t ok;
	uint64_t failed;
	double elapsed_s;
	double relay_cpu_s; /* < 0: not measured */
	double self_cpu_s;
	double p50_ms;
	double p99_ms;
	double max_ms;
	const char *first_error;
};

static void rate_report(const struct setup_bench_opts *o, const struct rate_result *r)
{
	double per_s = r->elapsed_s > 0 ? (double)r->ok / r->elapsed_s : 0;
	double cpu_us = r->ok && r->relay_cpu_s >= 0 ? r->relay_cpu_s / (double)r->ok * 1e6 : 0;

	if (o->json) {
		printf("{\"mode\":\"connect_rate\",\"transport\":\"%s\",\"threads\":%u,"
		       "\"offered_per_s\":%.1f,\"handshakes\":%" PRIu64 ",\"failed\":%" PRIu64
		       ",\"elapsed_s\":%.3f,\"handshakes_per_s\":%.1f,"
		       "\"handshake_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f},",
		       transport_name(&o->client), o->threads, o->rate, r->ok, r->failed,
		       r->elapsed_s, per_s, r->p50_ms, r->p99_ms, r->max_ms);
		if (r->relay_cpu_s >= 0)
			printf("\"relay_cpu_s\":%.3f,\"relay_cpu_us_per_handshake\":%.1f,",
			       r->relay_cpu_s, cpu_us);
		else
			printf("\"relay_cpu_s\":null,\"relay_cpu_us_per_handshake\":null,");
		printf("\"hdbench_cpu_s\":%.3f,\"ok\":%s}\n", r->self_cpu_s,
		       r->failed == 0 && r->ok > 0 ? "true" : "false");
		return;
	}
	printf("hdbench: connection setup to %s port %u over %s, %u thread%s, ", o->server, o->port,
	       transport_name(&o->client), o->threads, o->threads == 1 ? "" : "s");
	if (o->rate > 0)
		printf("%.0f handshakes/s offered\n", o->rate);
	else
		printf("as fast as they go\n");
	printf("  handshakes %" PRIu64 " completed, %" PRIu64 " failed in %.3f s\n", r->ok,
	       r->failed, r->elapsed_s);
	printf("  rate       %.0f handshakes/s (connect, TLS, upgrade, DERP handshake, close)\n",
	       per_s);
	printf("  time       p50 %.2f ms  p99 %.2f ms  max %.2f ms per handshake\n", r->p50_ms,
	       r->p99_ms, r->max_ms);
	if (r->relay_cpu_s >= 0)
		printf("  relay CPU  %.2f s  (%.0f us per handshake)\n", r->relay_cpu_s, cpu_us);
	printf("  hdbench CPU %.2f s\n", r->self_cpu_s);
	if (r->failed)
		printf("  first error: %s\n", r->first_error);
	printf("  result     %s\n", r->failed == 0 && r->ok > 0 ? "PASS" : "FAIL");
}

int bench_connect_rate(const struct setup_bench_opts *o)
{
	struct rate_shared sh = { .opts = o };
	struct rate_thread *threads = calloc(o->threads, sizeof(*threads));
	struct rate_result r = { .relay_cpu_s = -1, .first_error = "" };
	double relay0 = 0, relay1, self0, *all = NULL;
	uint64_t last = 0;
	size_t n = 0;
	int ret = 0;

	if (!threads || pthread_barrier_init(&sh.start, NULL, o->threads + 1) != 0)
		return 2;
	for (uint32_t i = 0; i < o->threads; i++) {
		threads[i].sh = &sh;
		if (pthread_create(&threads[i].tid, NULL, rate_thread_main, &threads[i]) != 0) {
			fprintf(stderr, "hdbench: pthread_create failed\n");
			exit(2);
		}
	}
	if (o->relay_pid > 0 && proc_cpu_seconds(o->relay_pid, &relay0) < 0)
		fprintf(stderr, "hdbench: warning: cannot read /proc/%d/stat\n", o->relay_pid);
	self0 = self_cpu_seconds();
	sh.start_ns = now_ns();
	sh.end_ns =
	    sh.start_ns + (uint64_t)((o->count == 0 && o->duration_s <= 0 ? DEFAULT_RATE_SECONDS
									  : o->duration_s) *
				     (double)NSEC_PER_SEC);
	pthread_barrier_wait(&sh.start);
	for (uint32_t i = 0; i < o->threads; i++)
		pthread_join(threads[i].tid, NULL);
	r.self_cpu_s = self_cpu_seconds() - self0;
	if (o->relay_pid > 0 && proc_cpu_seconds(o->relay_pid, &relay1) == 0)
		r.relay_cpu_s = relay1 - relay0;

	for (uint32_t i = 0; i < o->threads; i++) {
		r.ok += threads[i].ok;
		r.failed += threads[i].failed;
		if (threads[i].last_done_ns > last)
			last = threads[i].last_done_ns;
		if (threads[i].failed && !r.first_error[0])
			r.first_error = threads[i].first_error;
	}
	all = malloc((r.ok + 1) * sizeof(*all));
	if (!all) {
		ret = 2;
		goto out;
	}
	for (uint32_t i = 0; i < o->threads; i++) {
		memcpy(all + n, threads[i].ms, threads[i].nms * sizeof(*all));
		n += threads[i].nms;
	}
	qsort(all, n, sizeof(*all), cmp_double);
	r.p50_ms = percentile(all, n, 50);
	r.p99_ms = percentile(all, n, 99);
	r.max_ms = n ? all[n - 1] : 0;
	r.elapsed_s = last > sh.start_ns ? (double)(last - sh.start_ns) / 1e9 : 0;
	rate_report(o, &r);
	ret = r.failed == 0 && r.ok > 0 ? 0 : 1;
out:
	for (uint32_t i = 0; i < o->threads; i++)
		free(threads[i].ms);
	free(threads);
	free(all);
	pthread_barrier_destroy(&sh.start);
	return ret;
}

/* ---- --idle ---- */

struct idle_shared {
	const struct setup_bench_opts *opts;
	struct derp_client *conns;
	bool *up;
	atomic_uint_fast64_t connected;
	atomic_uint_fast64_t failed;
	atomic_bool error_taken;
	char first_error[256];
};

struct idle_thread {
	struct idle_shared *sh;
	pthread_t tid;
	uint32_t index;
};

static void *idle_connect_main(void *arg)
{
	struct idle_thread *t = arg;
	struct idle_shared *sh = t->sh;
	const struct setup_bench_opts *o = sh->opts;
	struct derp_client_opts copts = o->client;
	char src[INET_ADDRSTRLEN], err[256];
	uint64_t done;

	copts.timeout_ms = CONNECT_TIMEOUT_MS;
	for (uint64_t i = t->index; i < o->idle_conns; i += o->threads) {
		copts.bind_addr = source_addr(o->server, i / CONNS_PER_SOURCE, src);
		if (derp_client_connect(&sh->conns[i], o->server, o->port, &copts, err,
					sizeof(err)) < 0) {
			atomic_fetch_add(&sh->failed, 1);
			if (!atomic_exchange(&sh->error_taken, true))
				snprintf(sh->first_error, sizeof(sh->first_error), "%s", err);
			/* A relay at its limit refuses the rest too: this thread stops. */
			return NULL;
		}
		/* Only the socket (and TLS session) stay: ~200 KB of buffers go. */
		derp_client_trim(&sh->conns[i]);
		sh->up[i] = true;
		done = atomic_fetch_add(&sh->connected, 1) + 1;
		if (done % IDLE_PROGRESS_EVERY == 0 && !o->json)
			fprintf(stderr, "hdbench: %" PRIu64 " connections up\n", done);
	}
	return NULL;
}

struct idle_watch {
	int epfd;
	uint64_t closed_by_relay;
	uint64_t bytes_received;
};

static int idle_watch_init(struct idle_watch *w, struct idle_shared *sh)
{
	const struct setup_bench_opts *o = sh->opts;

	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -1;
	for (uint64_t i = 0; i < o->idle_conns; i++) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = i };

		if (sh->up[i] && epoll_ctl(w->epfd, EPOLL_CTL_ADD, sh->conns[i].fd, &ev) < 0)
			return -1;
	}
	return 0;
}

/* Reads what the relay sends an idle connection (KeepAlives) and notes closes. */
static void idle_drain(struct idle_watch *w, struct idle_shared *sh, uint64_t i)
{
	static uint8_t scratch[DRAIN_BUF];
	struct derp_client *c = &sh->conns[i];
	short want;
	ssize_t n;

	for (;;) {
		if (c->ssl)
			n = derp_tls_recv(c->ssl, scratch, sizeof(scratch), &want);
		else
			n = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT);
		if (n > 0) {
			w->bytes_received += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break;
	}
	w->closed_by_relay++;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	sh->up[i] = false;
}

/* Watches the connections until `until`. */
static void idle_watch_until(struct idle_watch *w, struct idle_shared *sh, uint64_t until)
{
	struct epoll_event ev[EVENTS_MAX];
	uint64_t now;
	int n;

	while ((now = now_ns()) < until) {
		n = epoll_wait(w->epfd, ev, EVENTS_MAX, (int)((until - now) / 1000000 + 1));
		for (int i = 0; i < n; i++)
			idle_drain(w, sh, ev[i].data.u64);
	}
}

struct idle_result {
	uint64_t connected;
	uint64_t failed;
	double setup_s;
	bool relay_measured;
	uint64_t rss_before_kib;
	uint64_t rss_up_kib;  /* all connections up and settled */
	uint64_t rss_end_kib; /* after the hold */
	bool slab_measured;
	uint64_t slab_before;
	uint64_t slab_up;
	double idle_cpu_s;
	double hold_s;
	uint64_t closed_by_relay;
	uint64_t bytes_received;
};

static void idle_report(const struct setup_bench_opts *o, const struct idle_result *r,
			const char *first_error)
{
	double per_conn = r->connected ? ((double)r->rss_up_kib - (double)r->rss_before_kib) *
					     1024.0 / (double)r->connected
				       : 0;
	double slab_per_conn =
	    r->connected && r->slab_measured
		? ((double)r->slab_up - (double)r->slab_before) / (double)r->connected
		: 0;
	double cpu_pct = r->hold_s > 0 ? r->idle_cpu_s / r->hold_s * 100.0 : 0;
	bool ok = r->failed == 0 && r->closed_by_relay == 0;

	if (o->json) {
		printf("{\"mode\":\"idle\",\"transport\":\"%s\",\"requested\":%" PRIu64
		       ",\"connected\":%" PRIu64 ",\"failed\":%" PRIu64
		       ",\"setup_s\":%.3f,\"setup_per_s\":%.1f,",
		       transport_name(&o->client), o->idle_conns, r->connected, r->failed,
		       r->setup_s, r->setup_s > 0 ? (double)r->connected / r->setup_s : 0);
		if (r->relay_measured)
			printf("\"rss_before_kib\":%" PRIu64 ",\"rss_connected_kib\":%" PRIu64
			       ",\"rss_after_hold_kib\":%" PRIu64
			       ",\"rss_bytes_per_conn\":%.1f,\"hold_s\":%.3f,"
			       "\"idle_cpu_s\":%.3f,\"idle_cpu_pct\":%.3f,",
			       r->rss_before_kib, r->rss_up_kib, r->rss_end_kib, per_conn,
			       r->hold_s, r->idle_cpu_s, cpu_pct);
		else
			printf("\"rss_bytes_per_conn\":null,\"idle_cpu_pct\":null,");
		if (r->slab_measured)
			printf("\"kernel_slab_bytes_per_conn\":%.1f,", slab_per_conn);
		printf("\"closed_by_relay\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		       ",\"ok\":%s}\n",
		       r->closed_by_relay, r->bytes_received, ok ? "true" : "false");
		return;
	}
	printf("hdbench: %" PRIu64 " idle connections to %s port %u over %s\n", o->idle_conns,
	       o->server, o->port, transport_name(&o->client));
	printf("  connected  %" PRIu64 " (%" PRIu64 " failed) in %.2f s, %.0f/s\n", r->connected,
	       r->failed, r->setup_s, r->setup_s > 0 ? (double)r->connected / r->setup_s : 0);
	if (r->relay_measured) {
		printf(
		    "  relay RSS  %.1f MiB before, %.1f MiB connected, %.1f MiB after the hold\n",
		    (double)r->rss_before_kib / 1024, (double)r->rss_up_kib / 1024,
		    (double)r->rss_end_kib / 1024);
		printf("             %.0f bytes per connection\n", per_conn);
		printf("  relay CPU  %.3f s over a %.1f s hold: %.3f%% of one core\n",
		       r->idle_cpu_s, r->hold_s, cpu_pct);
	}
	if (r->slab_measured)
		printf("  kernel     %.0f bytes of slab per connection (sockets of both ends, "
		       "whole machine)\n",
		       slab_per_conn);
	printf("  during the hold: %" PRIu64 " bytes received (KeepAlives), %" PRIu64
	       " connections closed by the relay\n",
	       r->bytes_received, r->closed_by_relay);
	if (r->failed)
		printf("  first error: %s\n", first_error);
	printf("  result     %s\n", ok ? "PASS" : "FAIL");
}

static int idle_connect_all(struct idle_shared *sh)
{
	const struct setup_bench_opts *o = sh->opts;
	struct idle_thread *threads = calloc(o->threads, sizeof(*threads));

	if (!threads)
		return -1;
	for (uint32_t i = 0; i < o->threads; i++) {
		threads[i].sh = sh;
		threads[i].index = i;
		if (pthread_create(&threads[i].tid, NULL, idle_connect_main, &threads[i]) != 0) {
			fprintf(stderr, "hdbench: pthread_create failed\n");
			exit(2);
		}
	}
	for (uint32_t i = 0; i < o->threads; i++)
		pthread_join(threads[i].tid, NULL);
	free(threads);
	return 0;
}

int bench_idle(const struct setup_bench_opts *o)
{
	struct idle_shared sh = { .opts = o };
	struct idle_result r = { 0 };
	struct idle_watch w = { .epfd = -1 };
	double cpu0 = 0, cpu1 = 0;
	uint64_t t0, until;
	int ret = 2;

	raise_fd_limit(o->idle_conns + 64);
	sh.conns = calloc(o->idle_conns, sizeof(*sh.conns));
	sh.up = calloc(o->idle_conns, sizeof(*sh.up));
	if (!sh.conns || !sh.up) {
		fprintf(stderr, "hdbench: out of memory\n");
		goto out;
	}
	for (uint64_t i = 0; i < o->idle_conns; i++)
		sh.conns[i].fd = -1;
	r.relay_measured = o->relay_pid > 0 && proc_rss_kib(o->relay_pid, &r.rss_before_kib) == 0;
	if (o->relay_pid > 0 && !r.relay_measured)
		fprintf(stderr, "hdbench: warning: cannot read /proc/%d/status\n", o->relay_pid);
	r.slab_measured = kernel_slab_bytes(&r.slab_before) == 0;

	t0 = now_ns();
	if (idle_connect_all(&sh) < 0)
		goto out;
	r.setup_s = (double)(now_ns() - t0) / 1e9;
	r.connected = atomic_load(&sh.connected);
	r.failed = atomic_load(&sh.failed);
	if (idle_watch_init(&w, &sh) < 0) {
		fprintf(stderr, "hdbench: epoll: %s\n", strerror(errno));
		goto out;
	}
	/* Let the relay finish handing the last connections to its workers. */
	idle_watch_until(&w, &sh, now_ns() + IDLE_SETTLE_NS);
	if (r.relay_measured && (proc_rss_kib(o->relay_pid, &r.rss_up_kib) < 0 ||
				 proc_cpu_seconds(o->relay_pid, &cpu0) < 0))
		r.relay_measured = false;
	if (r.slab_measured && kernel_slab_bytes(&r.slab_up) < 0)
		r.slab_measured = false;

	t0 = now_ns();
	until = t0 + (uint64_t)(o->hold_s * (double)NSEC_PER_SEC);
	idle_watch_until(&w, &sh, until);
	r.hold_s = (double)(now_ns() - t0) / 1e9;
	if (r.relay_measured && (proc_cpu_seconds(o->relay_pid, &cpu1) < 0 ||
				 proc_rss_kib(o->relay_pid, &r.rss_end_kib) < 0))
		r.relay_measured = false;
	r.idle_cpu_s = cpu1 - cpu0;
	r.closed_by_relay = w.closed_by_relay;
	r.bytes_received = w.bytes_received;
	idle_report(o, &r, sh.first_error);
	ret = r.failed == 0 && r.closed_by_relay == 0 ? 0 : 1;
out:
	if (w.epfd >= 0)
		close(w.epfd);
	if (sh.conns) {
		for (uint64_t i = 0; i < o->idle_conns; i++)
			derp_client_close(&sh.conns[i]);
	}
	free(sh.conns);
	free(sh.up);
	return ret;
}
