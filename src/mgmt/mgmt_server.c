// SPDX-License-Identifier: MIT
/*
 * One thread, one poll loop: the listening sockets, the clients, and an
 * eventfd that tells the loop to stop. Clients are nonblocking and have a
 * buffer each way; a request is served only once the previous reply is
 * out, so a client that does not read stalls only itself.
 *
 * Every way in is bounded (mgmt_stats.h counts each): the management
 * socket and the metrics port have budgets of their own (mgmt.max_clients,
 * metrics.max_clients), so idle metrics connections cannot lock hdcli out;
 * a full metrics budget first closes its oldest connection that has not
 * sent a request; a metrics exchange has a deadline (metrics.timeout_ms);
 * an `events follow` reader that stops reading is dropped past
 * mgmt.events_backlog_kb; and a listener whose accept fails for want of
 * fds pauses (accept_backoff.h) instead of spinning.
 */
#include "mgmt_server.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accept_backoff.h"
#include "events.h"
#include "log.h"
#include "metrics_http.h"
#include "mgmt_listen.h"
#include "mgmt_request.h"
#include "outbuf.h"
#include "stats.h"

/* The most mgmt.max_clients and metrics.max_clients allow (config.c). */
#define LISTENER_CLIENTS_MAX 1024
#define MAX_CLIENTS	     (LISTENER_CLIENTS_MAX * MGMT_LISTENER_COUNT)
/* Accepts per listener per loop pass, so clients already in are read between batches. */
#define ACCEPT_BATCH	      64
#define REFUSED_WARN_EVERY_NS 1000000000ull

struct listener {
	int fd; /* -1: none */
	enum mgmt_listener kind;
	int nclients;
	struct accept_backoff backoff;
	uint64_t last_refused_warn_ns;
	uint64_t refused_unlogged;
};

struct client {
	int fd;
	enum mgmt_listener kind;
	bool http;     /* kind == MGMT_LISTENER_METRICS */
	bool follower; /* receives events; its input is ignored */
	bool closing;  /* close once out is written */
	bool eof;      /* the client shut down its side: answer what it sent, then close */
	char *in;
	size_t in_len;
	size_t in_cap;
	struct outbuf out;
	uint64_t deadline_ms; /* HTTP: give up on the request then */
	uint64_t seq;	      /* accept order, to find the oldest */
	uint64_t pass;	      /* the loop pass that accepted it */
};

struct mgmt_server {
	struct mgmt_context *ctx;
	pthread_t thread;
	int wake_fd;
	struct listener listeners[MGMT_LISTENER_COUNT];
	char unix_path[PATH_MAX];
	dev_t unix_dev; /* of the socket file we made, so stop removes only ours */
	ino_t unix_ino;
	struct client *clients[MAX_CLIENTS];
	int nclients;
	int nfollowers;
	uint64_t pass;	   /* loop passes so far */
	uint64_t next_seq; /* of the next client accepted */
	uint64_t buffer_bytes;
	struct pollfd pfd[1 + MGMT_LISTENER_COUNT + MAX_CLIENTS];
	struct client *polled[MAX_CLIENTS];
	struct events_state events;
	uint64_t next_events_ms;
	struct json_writer reply;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ms(void)
{
	return now_ns() / 1000000;
}

static struct mgmt_listener_stats *listener_stats(struct mgmt_server *s, enum mgmt_listener kind)
{
	return &s->ctx->mgmt_stats.listener[kind];
}

/* The client buffers' memory, published as a gauge. */
static void account_buffers(struct mgmt_server *s, size_t added, size_t removed)
{
	s->buffer_bytes += added;
	s->buffer_bytes -= removed;
	__atomic_store_n(&s->ctx->mgmt_stats.buffer_bytes, s->buffer_bytes, __ATOMIC_RELAXED);
}

static void count_clients(struct mgmt_server *s, struct listener *l, int delta)
{
	l->nclients += delta;
	__atomic_store_n(&listener_stats(s, l->kind)->clients, (uint64_t)l->nclients,
			 __ATOMIC_RELAXED);
}

void mgmt_context_init(struct mgmt_context *ctx)
{
	pthread_mutex_init(&ctx->config_lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ctx->started);
	ctx->started_wall = time(NULL);
}

void mgmt_context_destroy(struct mgmt_context *ctx)
{
	pthread_mutex_destroy(&ctx->config_lock);
}

/* ---- client buffers ---- */

static int out_append(struct mgmt_server *s, struct client *c, const char *data, size_t len)
{
	size_t grown;
	if (outbuf_append(&c->out, data, len, &grown) < 0)
		return -1;
	account_buffers(s, grown, 0);
	return 0;
}

static bool out_pending(const struct client *c)
{
	return outbuf_pending(&c->out) > 0;
}

/* Writes what the socket takes. Returns -1 when the client is gone. */
static int flush(struct client *c)
{
	while (out_pending(c)) {
		ssize_t n = send(c->fd, outbuf_head(&c->out), outbuf_pending(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		outbuf_consumed(&c->out, (size_t)n);
	}
	return 0;
}

static void client_free(struct mgmt_server *s, struct client *c)
{
	account_buffers(s, 0, c->in_cap + c->out.cap);
	close(c->fd);
	free(c->in);
	outbuf_free(&c->out);
	free(c);
}

static void drop_client(struct mgmt_server *s, int i)
{
	struct client *c = s->clients[i];
	if (c->follower && --s->nfollowers == 0)
		events_reset(&s->events);
	count_clients(s, &s->listeners[c->kind], -1);
	client_free(s, c);
	s->clients[i] = s->clients[--s->nclients];
}

/* ---- management requests ---- */

static void serve_lines(struct mgmt_server *s, struct client *c)
{
	while (!c->closing && !out_pending(c)) {
		if (c->follower) {
			c->in_len = 0; /* followers only listen */
			return;
		}
		char *nl = memchr(c->in, '\n', c->in_len);
		if (!nl) {
			if (c->in_len < c->in_cap)
				return;
			/* A full buffer without a newline: no request is that long. */
			jw_reset(&s->reply);
			jw_object_begin(&s->reply, NULL);
			jw_bool(&s->reply, "ok", false);
			jw_object_begin(&s->reply, "error");
			jw_string(&s->reply, "code", mgmt_status_name(MGMT_E_PROTOCOL));
			jw_stringf(&s->reply, "message", "request longer than %d bytes",
				   MGMT_MAX_LINE);
			jw_end(&s->reply);
			jw_end(&s->reply);
			c->closing = true;
		} else {
			size_t len = (size_t)(nl - c->in);
			if (len > 0 && c->in[len - 1] == '\r')
				len--;
			bool subscribe = false;
			bool blank = len == 0;
			if (!blank)
				mgmt_serve_line(s->ctx, c->in, len, &s->reply, &subscribe);
			size_t used = (size_t)(nl - c->in) + 1;
			memmove(c->in, c->in + used, c->in_len - used);
			c->in_len -= used;
			if (blank)
				continue;
			if (subscribe && !c->follower) {
				c->follower = true;
				if (s->nfollowers++ == 0)
					s->next_events_ms = now_ms(); /* take the baseline now */
			}
		}
		if (s->reply.failed || out_append(s, c, s->reply.buf, s->reply.len) < 0 ||
		    out_append(s, c, "\n", 1) < 0) {
			log_warn("management client dropped: out of memory for its reply");
			c->closing = true;
			outbuf_discard(&c->out);
			return;
		}
		if (flush(c) < 0) {
			c->closing = true;
			outbuf_discard(&c->out);
		}
	}
}

/* ---- events ---- */

static void emit_event(void *arg, const char *line, size_t len)
{
	struct mgmt_server *s = arg;
	uint64_t backlog = (uint64_t)cfg_live_u32(&s->ctx->running->events_backlog_kb) * 1024;
	for (int i = 0; i < s->nclients; i++) {
		struct client *c = s->clients[i];
		if (!c->follower || c->closing)
			continue;
		if (outbuf_pending(&c->out) + len + 1 > backlog) {
			stat_add(&s->ctx->mgmt_stats.followers_dropped, 1);
			log_warn("events: dropping a follower that left more than "
				 "mgmt.events_backlog_kb = %u KiB unread",
				 cfg_live_u32(&s->ctx->running->events_backlog_kb));
			c->closing = true;
			outbuf_discard(&c->out);
			continue;
		}
		if (out_append(s, c, line, len) < 0 || out_append(s, c, "\n", 1) < 0)
			c->closing = true;
	}
}

static void events_tick(struct mgmt_server *s)
{
	if (s->nfollowers == 0 || now_ms() < s->next_events_ms)
		return;
	events_poll(&s->events, s->ctx, emit_event, s);
	s->next_events_ms = now_ms() + EVENTS_INTERVAL_MS;
	for (int i = 0; i < s->nclients; i++) {
		struct client *c = s->clients[i];
		if (c->follower && flush(c) < 0) {
			c->closing = true;
			outbuf_discard(&c->out);
		}
	}
}

/* ---- accepting and reading ---- */

static const char *listener_label(enum mgmt_listener kind)
{
	return kind == MGMT_LISTENER_METRICS ? "metrics" : "management socket";
}

/*
 * The metrics budget is full: closes the longest-waiting metrics client that
 * has not sent a whole request, so idle connections cannot keep scrapes out.
 * Only clients accepted in an earlier loop pass qualify: they have had
 * their chance to be read. Returns whether one was closed.
 */
static bool evict_idle_metrics_client(struct mgmt_server *s)
{
	int oldest = -1;
	for (int i = 0; i < s->nclients; i++) {
		const struct client *c = s->clients[i];
		if (!c->http || c->closing || out_pending(c) || c->pass == s->pass)
			continue;
		if (oldest < 0 || c->seq < s->clients[oldest]->seq)
			oldest = i;
	}
	if (oldest < 0)
		return false;
	stat_add(&listener_stats(s, MGMT_LISTENER_METRICS)->evicted, 1);
	drop_client(s, oldest);
	return true;
}

/* Closes a connection the listener has no room for; says so at most once a second. */
static void refuse(struct mgmt_server *s, struct listener *l, int fd, uint32_t budget, uint64_t now)
{
	static const char busy[] =
	    "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"too many "
	    "management connections\"}}\n";
	if (l->kind == MGMT_LISTENER_SOCKET &&
	    send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("management socket: cannot tell a client it is refused");
	close(fd);
	stat_add(&listener_stats(s, l->kind)->refused, 1);
	if (!log_due(&l->last_refused_warn_ns, now, REFUSED_WARN_EVERY_NS)) {
		l->refused_unlogged++;
		return;
	}
	log_warn("%s: refusing connections: %d open, %s.max_clients = %u (%llu more refused "
		 "since the last warning)",
		 listener_label(l->kind), l->nclients,
		 l->kind == MGMT_LISTENER_METRICS ? "metrics" : "mgmt", budget,
		 (unsigned long long)l->refused_unlogged);
	l->refused_unlogged = 0;
}

static uint32_t listener_budget(const struct mgmt_server *s, const struct listener *l)
{
	const struct hd_config *cfg = s->ctx->running;
	uint32_t n = cfg_live_u32(l->kind == MGMT_LISTENER_METRICS ? &cfg->metrics_max_clients
								   : &cfg->mgmt_max_clients);
	return n < LISTENER_CLIENTS_MAX ? n : LISTENER_CLIENTS_MAX;
}

static struct client *client_new(struct mgmt_server *s, int fd, enum mgmt_listener kind,
				 uint64_t now)
{
	bool http = kind == MGMT_LISTENER_METRICS;
	size_t cap = http ? METRICS_HTTP_MAX_HEAD : MGMT_MAX_LINE + 2;
	struct client *c = calloc(1, sizeof(*c));
	if (c)
		c->in = malloc(cap);
	if (!c || !c->in) {
		free(c);
		return NULL;
	}
	c->fd = fd;
	c->kind = kind;
	c->http = http;
	c->in_cap = cap;
	c->seq = s->next_seq++;
	c->pass = s->pass;
	if (http)
		c->deadline_ms = now / 1000000 + cfg_live_u32(&s->ctx->running->metrics_timeout_ms);
	account_buffers(s, cap, 0);
	return c;
}

static void accept_clients(struct mgmt_server *s, struct listener *l, uint64_t now)
{
	struct mgmt_listener_stats *st = listener_stats(s, l->kind);

	for (int n = 0; n < ACCEPT_BATCH; n++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			if (err == EINTR || err == ECONNABORTED)
				continue; /* that connection is gone; the next may be fine */
			/*
			 * Out of fds the connection stays queued and the listener
			 * readable: pause it rather than fail again at once. Any
			 * other error may repeat as well, and hdcli can wait 200 ms.
			 */
			stat_add(&st->accept_errors, 1);
			uint64_t unlogged;
			if (accept_backoff_failed(&l->backoff, err, now, &unlogged))
				log_warn("%s: accept: %s; pausing accepts (%llu more failures "
					 "since the last warning)",
					 listener_label(l->kind), strerror(err),
					 (unsigned long long)unlogged);
			accept_backoff_pause(&l->backoff, now);
			return;
		}
		uint32_t budget = listener_budget(s, l);
		bool room = (uint32_t)l->nclients < budget;
		if (!room && l->kind == MGMT_LISTENER_METRICS)
			room = evict_idle_metrics_client(s) && (uint32_t)l->nclients < budget;
		struct client *c = room ? client_new(s, fd, l->kind, now) : NULL;
		if (!c) {
			if (room)
				log_debug("%s: out of memory for a client",
					  listener_label(l->kind));
			refuse(s, l, fd, budget, now);
			continue;
		}
		stat_add(&st->accepted, 1);
		s->clients[s->nclients++] = c;
		count_clients(s, l, 1);
	}
}

/* Reads what is there. Returns -1 on a read error: the client is done. */
static int read_client(struct client *c)
{
	while (c->in_len < c->in_cap && !c->eof) {
		ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n == 0) {
			c->eof = true;
			/* A last request without its newline still counts. */
			if (!c->http && c->in_len > 0 && c->in[c->in_len - 1] != '\n' &&
			    c->in_len < c->in_cap)
				c->in[c->in_len++] = '\n';
			return 0;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->in_len += (size_t)n;
		if (c->follower)
			c->in_len = 0;
	}
	return 0;
}

static void serve_http(struct mgmt_server *s, struct client *c)
{
	char *resp;
	size_t len;
	if (c->closing || metrics_http_respond(s->ctx, c->in, c->in_len, &resp, &len) == 0)
		return; /* not a whole request yet */
	c->closing = true;
	if (!resp || out_append(s, c, resp, len) < 0)
		log_warn("metrics: out of memory for a response");
	free(resp);
	if (flush(c) < 0)
		outbuf_discard(&c->out);
}

/* One client's poll result. Returns -1 when it should be dropped now. */
static int handle_client(struct mgmt_server *s, struct client *c, short revents, uint64_t now)
{
	if (revents & POLLOUT) {
		if (flush(c) < 0)
			return -1;
		if (!c->http)
			serve_lines(s, c); /* requests waiting behind the reply just sent */
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		if (read_client(c) < 0)
			return -1;
		if (c->http)
			serve_http(s, c);
		else
			serve_lines(s, c);
	}
	if (c->http && !c->closing && c->eof)
		return -1; /* gave up before a whole request */
	if (c->http && now >= c->deadline_ms) {
		/* Too slow to send its request or to take the response. */
		stat_add(&listener_stats(s, MGMT_LISTENER_METRICS)->timeouts, 1);
		return -1;
	}
	if (out_pending(c))
		return 0;
	if (c->closing)
		return -1;
	if (c->eof && !memchr(c->in, '\n', c->in_len))
		return -1; /* everything it asked is answered */
	return 0;
}

/* ---- the loop ---- */

static int poll_timeout(const struct mgmt_server *s, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	if (s->nfollowers)
		next = s->next_events_ms;
	for (int i = 0; i < s->nclients; i++) {
		if (s->clients[i]->http && s->clients[i]->deadline_ms < next)
			next = s->clients[i]->deadline_ms;
	}
	for (int i = 0; i < MGMT_LISTENER_COUNT; i++) {
		const struct listener *l = &s->listeners[i];
		uint64_t resume_ms = (l->backoff.paused_until_ns + 999999) / 1000000;
		if (l->fd >= 0 && accept_backoff_paused(&l->backoff, now * 1000000) &&
		    resume_ms < next)
			next = resume_ms;
	}
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static void *server_main(void *arg)
{
	struct mgmt_server *s = arg;
	struct pollfd *pfd = s->pfd;

	log_set_thread_role("mgmt");
	for (;;) {
		int n = 0;
		uint64_t now = now_ns();
		s->pass++;
		pfd[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		/*
		 * Always accept: past a budget a newcomer is told "busy", not left
		 * waiting. Only a listener paused by accept_backoff is left out.
		 */
		for (int i = 0; i < MGMT_LISTENER_COUNT; i++) {
			struct listener *l = &s->listeners[i];
			bool paused = accept_backoff_paused(&l->backoff, now);
			pfd[n++] = (struct pollfd){ .fd = paused ? -1 : l->fd, .events = POLLIN };
		}
		int nc = s->nclients;
		for (int i = 0; i < nc; i++) {
			struct client *c = s->clients[i];
			short ev = 0;
			if (c->in_len < c->in_cap && !c->closing && !c->eof)
				ev |= POLLIN;
			if (out_pending(c))
				ev |= POLLOUT;
			s->polled[i] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int rc = poll(pfd, (nfds_t)n, poll_timeout(s, now / 1000000));
		if (rc < 0 && errno != EINTR) {
			log_error("management thread: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		now = now_ns();
		/* Clients first: new ones were not in pfd. */
		for (int i = 0; i < nc; i++) {
			struct client *c = s->polled[i];
			short revents = rc > 0 ? pfd[1 + MGMT_LISTENER_COUNT + i].revents : 0;
			if (handle_client(s, c, revents, now / 1000000) < 0) {
				for (int j = 0; j < s->nclients; j++) {
					if (s->clients[j] == c) {
						drop_client(s, j);
						break;
					}
				}
			}
		}
		for (int i = 0; i < MGMT_LISTENER_COUNT; i++) {
			if (rc > 0 && (pfd[1 + i].revents & POLLIN))
				accept_clients(s, &s->listeners[i], now);
		}
		events_tick(s);
	}
	return NULL;
}

/* ---- start and stop ---- */

static void close_listeners(struct mgmt_server *s)
{
	int unix_fd = s->listeners[MGMT_LISTENER_SOCKET].fd;
	int http_fd = s->listeners[MGMT_LISTENER_METRICS].fd;
	if (unix_fd >= 0) {
		struct stat st;
		/* Remove the file only if it is still the one we made. */
		if (lstat(s->unix_path, &st) == 0 && st.st_dev == s->unix_dev &&
		    st.st_ino == s->unix_ino)
			unlink(s->unix_path);
		close(unix_fd);
	}
	if (http_fd >= 0)
		close(http_fd);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
}

struct mgmt_server *mgmt_server_start(struct mgmt_context *ctx, char *err, size_t errlen)
{
	const struct hd_config *cfg = ctx->running;
	struct mgmt_server *s = calloc(1, sizeof(*s));
	char why[PATH_MAX + 256];

	if (!s) {
		snprintf(err, errlen, "management plane: out of memory");
		return NULL;
	}
	s->ctx = ctx;
	for (int i = 0; i < MGMT_LISTENER_COUNT; i++)
		s->listeners[i] = (struct listener){ .fd = -1, .kind = (enum mgmt_listener)i };
	jw_init(&s->reply);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		snprintf(err, errlen, "management plane: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (cfg->mgmt_socket[0]) {
		int fd = mgmt_listen_unix(cfg->mgmt_socket, why, sizeof(why));
		s->listeners[MGMT_LISTENER_SOCKET].fd = fd;
		if (fd < 0) {
			snprintf(err, errlen, "mgmt.socket: %s", why);
			goto fail;
		}
		struct stat st;
		if (lstat(cfg->mgmt_socket, &st) == 0) {
			s->unix_dev = st.st_dev;
			s->unix_ino = st.st_ino;
		}
		snprintf(s->unix_path, sizeof(s->unix_path), "%s", cfg->mgmt_socket);
	}
	ctx->metrics_addr[0] = '\0';
	if (cfg->metrics_listen[0]) {
		int fd = mgmt_listen_tcp(cfg->metrics_listen, ctx->metrics_addr,
					 sizeof(ctx->metrics_addr), why, sizeof(why));
		s->listeners[MGMT_LISTENER_METRICS].fd = fd;
		if (fd < 0) {
			snprintf(err, errlen, "metrics.listen: %s", why);
			goto fail;
		}
	}
	int rc = pthread_create(&s->thread, NULL, server_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "management plane: cannot start its thread: %s",
			 strerror(rc));
		goto fail;
	}
	return s;
fail:
	close_listeners(s);
	jw_free(&s->reply);
	free(s);
	return NULL;
}

void mgmt_server_stop(struct mgmt_server *s)
{
	uint64_t one = 1;

	if (!s)
		return;
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		log_warn("management thread: cannot wake it: %s", strerror(errno));
	pthread_join(s->thread, NULL);
	while (s->nclients > 0)
		drop_client(s, s->nclients - 1);
	events_reset(&s->events);
	close_listeners(s);
	jw_free(&s->reply);
	free(s);
}
