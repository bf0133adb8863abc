// SPDX-License-Identifier: MIT
/*
 * One thread, one poll loop: the listening sockets, the clients, and an
 * eventfd that tells the loop to stop. Clients are nonblocking and have a
 * buffer each way; a request is served only once the previous reply is
 * out, so a client that does not read stalls only itself.
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

#include "events.h"
#include "log.h"
#include "metrics_http.h"
#include "mgmt_listen.h"
#include "mgmt_request.h"

#define MAX_CLIENTS	     64
#define HTTP_TIMEOUT_MS	     10000	/* a whole metrics exchange */
#define FOLLOWER_BACKLOG_MAX (4u << 20) /* unread event bytes before a follower is dropped */

struct client {
	int fd;
	bool http;
	bool follower; /* receives events; its input is ignored */
	bool closing;  /* close once out is written */
	bool eof;      /* the client shut down its side: answer what it sent, then close */
	char *in;
	size_t in_len;
	size_t in_cap;
	char *out;
	size_t out_off; /* written so far */
	size_t out_len;
	size_t out_cap;
	uint64_t deadline_ms; /* HTTP: give up on the request then */
};

struct mgmt_server {
	struct mgmt_context *ctx;
	pthread_t thread;
	int wake_fd;
	int unix_fd; /* -1: none */
	int http_fd; /* -1: none */
	char unix_path[PATH_MAX];
	dev_t unix_dev; /* of the socket file we made, so stop removes only ours */
	ino_t unix_ino;
	struct client *clients[MAX_CLIENTS];
	int nclients;
	int nfollowers;
	struct events_state events;
	uint64_t next_events_ms;
	struct json_writer reply;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
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

static int out_append(struct client *c, const char *data, size_t len)
{
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *out = realloc(c->out, cap);
		if (!out)
			return -1;
		c->out = out;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
	return 0;
}

static bool out_pending(const struct client *c)
{
	return c->out_off < c->out_len;
}

/* Writes what the socket takes. Returns -1 when the client is gone. */
static int flush(struct client *c)
{
	while (out_pending(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == EINTR)
				continue;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	return 0;
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void drop_client(struct mgmt_server *s, int i)
{
	struct client *c = s->clients[i];
	if (c->follower && --s->nfollowers == 0)
		events_reset(&s->events);
	client_free(c);
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
		if (s->reply.failed || out_append(c, s->reply.buf, s->reply.len) < 0 ||
		    out_append(c, "\n", 1) < 0) {
			log_warn("management client dropped: out of memory for its reply");
			c->closing = true;
			c->out_len = c->out_off = 0;
			return;
		}
		if (flush(c) < 0) {
			c->closing = true;
			c->out_len = c->out_off = 0;
		}
	}
}

/* ---- events ---- */

static void emit_event(void *arg, const char *line, size_t len)
{
	struct mgmt_server *s = arg;
	for (int i = 0; i < s->nclients; i++) {
		struct client *c = s->clients[i];
		if (!c->follower || c->closing)
			continue;
		if (c->out_len - c->out_off > FOLLOWER_BACKLOG_MAX) {
			log_warn("events: dropping a follower that stopped reading");
			c->closing = true;
			c->out_len = c->out_off = 0;
			continue;
		}
		if (out_append(c, line, len) < 0 || out_append(c, "\n", 1) < 0)
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
			c->out_len = c->out_off = 0;
		}
	}
}

/* ---- accepting and reading ---- */

static void accept_clients(struct mgmt_server *s, int lfd, bool http)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("%s: accept: %s", http ? "metrics" : "management socket",
					 strerror(errno));
			return;
		}
		struct client *c = calloc(1, sizeof(*c));
		size_t cap = http ? METRICS_HTTP_MAX_HEAD : MGMT_MAX_LINE + 2;
		if (c)
			c->in = malloc(cap);
		if (s->nclients == MAX_CLIENTS || !c || !c->in) {
			static const char busy[] =
			    "{\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"too many "
			    "management connections\"}}\n";
			if (!http &&
			    send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				log_debug("management socket: cannot tell a client it is refused");
			log_warn("%s: refusing a connection: %d clients already",
				 http ? "metrics" : "management socket", s->nclients);
			if (c)
				free(c->in);
			free(c);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->http = http;
		c->in_cap = cap;
		c->deadline_ms = http ? now_ms() + HTTP_TIMEOUT_MS : 0;
		s->clients[s->nclients++] = c;
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
	if (!resp || out_append(c, resp, len) < 0)
		log_warn("metrics: out of memory for a response");
	free(resp);
	if (flush(c) < 0)
		c->out_len = c->out_off = 0;
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
	if (c->http && now >= c->deadline_ms)
		return -1; /* too slow to send its request or to take the response */
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
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)(next - now);
}

static void *server_main(void *arg)
{
	struct mgmt_server *s = arg;
	struct pollfd pfd[3 + MAX_CLIENTS];
	struct client *polled[MAX_CLIENTS];

	log_set_thread_role("mgmt");
	for (;;) {
		int n = 0;
		pfd[n++] = (struct pollfd){ .fd = s->wake_fd, .events = POLLIN };
		/* Always accept: past MAX_CLIENTS a newcomer is told "busy", not left waiting. */
		pfd[n++] = (struct pollfd){ .fd = s->unix_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = s->http_fd, .events = POLLIN };
		int nc = s->nclients;
		for (int i = 0; i < nc; i++) {
			struct client *c = s->clients[i];
			short ev = 0;
			if (c->in_len < c->in_cap && !c->closing && !c->eof)
				ev |= POLLIN;
			if (out_pending(c))
				ev |= POLLOUT;
			polled[i] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		int rc = poll(pfd, (nfds_t)n, poll_timeout(s, now_ms()));
		if (rc < 0 && errno != EINTR) {
			log_error("management thread: poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents)
			break;
		uint64_t now = now_ms();
		/* Clients first: new ones were not in pfd. */
		for (int i = 0; i < nc; i++) {
			struct client *c = polled[i];
			if (handle_client(s, c, rc > 0 ? pfd[3 + i].revents : 0, now) < 0) {
				for (int j = 0; j < s->nclients; j++) {
					if (s->clients[j] == c) {
						drop_client(s, j);
						break;
					}
				}
			}
		}
		if (pfd[1].revents & POLLIN)
			accept_clients(s, s->unix_fd, false);
		if (pfd[2].revents & POLLIN)
			accept_clients(s, s->http_fd, true);
		events_tick(s);
	}
	return NULL;
}

/* ---- start and stop ---- */

static void close_listeners(struct mgmt_server *s)
{
	if (s->unix_fd >= 0) {
		struct stat st;
		/* Remove the file only if it is still the one we made. */
		if (lstat(s->unix_path, &st) == 0 && st.st_dev == s->unix_dev &&
		    st.st_ino == s->unix_ino)
			unlink(s->unix_path);
		close(s->unix_fd);
	}
	if (s->http_fd >= 0)
		close(s->http_fd);
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
	s->unix_fd = s->http_fd = -1;
	jw_init(&s->reply);
	s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0) {
		snprintf(err, errlen, "management plane: eventfd: %s", strerror(errno));
		goto fail;
	}
	if (cfg->mgmt_socket[0]) {
		s->unix_fd = mgmt_listen_unix(cfg->mgmt_socket, why, sizeof(why));
		if (s->unix_fd < 0) {
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
		s->http_fd = mgmt_listen_tcp(cfg->metrics_listen, ctx->metrics_addr,
					     sizeof(ctx->metrics_addr), why, sizeof(why));
		if (s->http_fd < 0) {
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
