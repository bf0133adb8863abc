// SPDX-License-Identifier: MIT
/* The plain-HTTP port (http_port.h). */
#include "http_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http_request.h"
#include "log.h"
#include "stats.h"

#define ACME_PREFIX    "/.well-known/acme-challenge/"
#define ACME_TOKEN_MAX 256  /* RFC 8555 tokens are 43 base64url characters */
#define ACME_FILE_MAX  1024 /* a key authorization is token "." thumbprint: ~90 bytes */
#define RESPONSE_MAX   (HTTP_MAX_HEAD + 2048)
#define POLL_TICK_MS   200 /* how soon a stop request is seen */

struct client {
	int fd;
	uint64_t deadline_ms;
	uint64_t accepted_ms; /* the oldest makes room when the table is full */
	uint32_t in_len;
	uint32_t out_len, out_sent;
	bool responding;
	char in[HTTP_MAX_HEAD];
	char *out;
};

struct http_port {
	int fd;
	uint16_t port;
	pthread_t thread;
	bool started;
	_Atomic bool stop;
	char challenge_dir[PATH_MAX];
	char hostname[256];
	uint16_t https_port;
	uint32_t timeout_ms;
	uint32_t max_clients;
	struct client *clients; /* max_clients slots; fd -1 = free */
	struct pollfd *pfds;
	struct http_port_stats stats;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct http_port *http_port_bind(const char *addr, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	} else {
		snprintf(err, errlen, "http.listen: \"%s\" is not an IP address", addr);
		return NULL;
	}
	struct http_port *hp = calloc(1, sizeof(*hp));
	if (!hp) {
		snprintf(err, errlen, "http.port: out of memory");
		return NULL;
	}
	hp->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, zero = 0;
	if (hp->fd >= 0) {
		setsockopt(hp->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* "::" serves IPv4 too, as server.listen does. */
		if (ss.ss_family == AF_INET6)
			setsockopt(hp->fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (hp->fd < 0 || bind(hp->fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(hp->fd, 128) < 0) {
		snprintf(err, errlen, "http.port: cannot listen on [%s]:%u: %s", addr,
			 (unsigned)port, strerror(errno));
		if (hp->fd >= 0)
			close(hp->fd);
		free(hp);
		return NULL;
	}
	len = sizeof(ss);
	getsockname(hp->fd, (struct sockaddr *)&ss, &len);
	hp->port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	return hp;
}

uint16_t http_port_bound(const struct http_port *hp)
{
	return hp->port;
}

static void client_close(struct client *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->in_len = c->out_len = c->out_sent = 0;
	c->responding = false;
}

__attribute__((format(printf, 5, 6))) static void
respond(struct client *c, int status, const char *headers, bool head_only, const char *fmt, ...)
{
	char body[ACME_FILE_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	int blen = vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (blen < 0 || (size_t)blen >= sizeof(body))
		blen = 0;
	c->out = malloc(RESPONSE_MAX);
	c->responding = true;
	if (!c->out)
		return;
	int n = snprintf(c->out, RESPONSE_MAX,
			 "HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			 status, status == 302 ? "Found" : http_reason_phrase(status), headers,
			 blen, head_only ? "" : body);
	c->out_len = n > 0 && n < RESPONSE_MAX ? (uint32_t)n : 0;
}

static bool is_token_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* The key authorization the ACME client left for token, or false. */
static bool read_token(const struct http_port *hp, const char *token, char *buf, size_t cap)
{
	size_t n = strlen(token);
	if (!hp->challenge_dir[0] || n == 0 || n > ACME_TOKEN_MAX)
		return false;
	/* base64url only: no '/', no "..", nothing else the directory could be left by. */
	for (const char *t = token; *t; t++) {
		if (!is_token_char(*t))
			return false;
	}
	char path[PATH_MAX + ACME_TOKEN_MAX + 2];
	snprintf(path, sizeof(path), "%s/%s", hp->challenge_dir, token);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return false;
	ssize_t got = read(fd, buf, cap - 1);
	close(fd);
	if (got <= 0)
		return false;
	buf[got] = '\0';
	return strlen(buf) == (size_t)got;
}

/* Writes s to out with everything outside a URL's safe characters percent-encoded. */
static void url_escape(char *out, size_t cap, const char *s)
{
	static const char safe[] = "-._~/!$&'()*+,;=:@%?";
	size_t o = 0;
	for (; *s && o + 4 < cap; s++) {
		unsigned char ch = (unsigned char)*s;
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(safe, ch))
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, cap - o, "%%%02X", ch);
	}
	out[o] = '\0';
}

/* The host part of a Host header: "[v6]:port" -> "[v6]", "name:port" -> "name". */
static void host_only(char *out, size_t cap, const char *host)
{
	snprintf(out, cap, "%s", host);
	char *first = strchr(out, ':');
	if (out[0] == '[') {
		char *end = strchr(out, ']');
		if (end)
			end[1] = '\0';
	} else if (first && first == strrchr(out, ':')) {
		*first = '\0'; /* one colon: name:port; more: a bare IPv6 address */
	}
}

static void route(struct http_port *hp, struct client *c, const struct http_request *req)
{
	bool head = strcmp(req->method, "HEAD") == 0;
	if (!head && strcmp(req->method, "GET") != 0) {
		stat_add(&hp->stats.bad_requests, 1);
		respond(c, 400, "Content-Type: text/plain; charset=utf-8\r\n", false,
			"Use HTTPS\n");
		return;
	}
	stat_add(&hp->stats.requests, 1);
	if (strcmp(req->path, "/generate_204") == 0) {
		/* The DERP port's answer, challenge echo included (http_request.c). */
		struct http_route_result res;
		c->out = malloc(RESPONSE_MAX);
		c->responding = true;
		if (c->out && http_route(req, NULL, (uint8_t *)c->out, RESPONSE_MAX, &res) == 0)
			c->out_len = (uint32_t)res.response_len;
		stat_add(&hp->stats.generate_204, 1);
		return;
	}
	if (strncmp(req->path, ACME_PREFIX, strlen(ACME_PREFIX)) == 0) {
		char keyauth[ACME_FILE_MAX];
		if (read_token(hp, req->path + strlen(ACME_PREFIX), keyauth, sizeof(keyauth))) {
			stat_add(&hp->stats.acme_served, 1);
			respond(c, 200, "Content-Type: text/plain\r\n", head, "%s", keyauth);
		} else {
			respond(c, 404, "Content-Type: text/plain; charset=utf-8\r\n", head,
				"404 page not found\n");
		}
		return;
	}
	char host[256], target[2 * sizeof(req->path) + 64], loc[3 * sizeof(target)];
	host_only(host, sizeof(host), hp->hostname[0] ? hp->hostname : req->host);
	if (!host[0]) {
		stat_add(&hp->stats.bad_requests, 1);
		respond(c, 400, "Content-Type: text/plain; charset=utf-8\r\n", head,
			"Host header required\n");
		return;
	}
	char port[8] = "";
	if (hp->https_port != 443)
		snprintf(port, sizeof(port), ":%u", (unsigned)hp->https_port);
	bool v6 = strchr(host, ':') && host[0] != '[';
	snprintf(target, sizeof(target), "%s%s%s%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "", port,
		 req->path, req->query[0] ? "?" : "");
	url_escape(loc, sizeof(loc), target);
	if (req->query[0]) {
		size_t l = strlen(loc);
		url_escape(loc + l, sizeof(loc) - l, req->query);
	}
	char headers[sizeof(loc) + 64];
	snprintf(headers, sizeof(headers),
		 "Location: https://%s\r\nContent-Type: text/html; charset=utf-8\r\n", loc);
	stat_add(&hp->stats.redirects, 1);
	respond(c, 302, headers, head, "<a href=\"https://%.900s\">Found</a>.\n\n", loc);
}

static void on_readable(struct http_port *hp, struct client *c)
{
	ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_close(c);
		return;
	}
	if (n < 0)
		return;
	c->in_len += (uint32_t)n;
	struct http_request req;
	enum http_parse_status st = http_request_parse((const uint8_t *)c->in, c->in_len, &req);
	if (st == HTTP_PARSE_NEED_MORE)
		return;
	if (st != HTTP_PARSE_DONE) {
		int status = st == HTTP_PARSE_TOO_LARGE	    ? 431
			     : st == HTTP_PARSE_BAD_VERSION ? 505
							    : 400;
		stat_add(&hp->stats.bad_requests, 1);
		c->out = malloc(RESPONSE_MAX);
		c->responding = true;
		if (c->out)
			c->out_len =
			    (uint32_t)http_error_response(status, (uint8_t *)c->out, RESPONSE_MAX);
		return;
	}
	route(hp, c, &req);
}

static void on_writable(struct client *c)
{
	if (!c->out || c->out_sent >= c->out_len) {
		client_close(c);
		return;
	}
	ssize_t n = send(c->fd, c->out + c->out_sent, c->out_len - c->out_sent, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		client_close(c);
		return;
	}
	if (n > 0)
		c->out_sent += (uint32_t)n;
	if (c->out_sent >= c->out_len)
		client_close(c);
}

/* A free slot; when none, the oldest connection is closed for the newcomer. */
static struct client *take_slot(struct http_port *hp)
{
	struct client *oldest = NULL;
	for (uint32_t i = 0; i < hp->max_clients; i++) {
		struct client *c = &hp->clients[i];
		if (c->fd < 0)
			return c;
		if (!oldest || c->accepted_ms < oldest->accepted_ms)
			oldest = c;
	}
	stat_add(&hp->stats.evicted, 1);
	client_close(oldest);
	return oldest;
}

static void accept_all(struct http_port *hp, uint64_t now)
{
	for (int i = 0; i < 64; i++) {
		int fd = accept4(hp->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct client *c = take_slot(hp);
		c->fd = fd;
		c->accepted_ms = now;
		c->deadline_ms = now + hp->timeout_ms;
	}
}

static void *http_port_main(void *arg)
{
	struct http_port *hp = arg;
	log_set_thread_role("http");
	while (!atomic_load_explicit(&hp->stop, memory_order_acquire)) {
		nfds_t n = 0;
		hp->pfds[n++] = (struct pollfd){ .fd = hp->fd, .events = POLLIN };
		for (uint32_t i = 0; i < hp->max_clients; i++) {
			struct client *c = &hp->clients[i];
			if (c->fd >= 0)
				hp->pfds[n++] =
				    (struct pollfd){ .fd = c->fd,
						     .events = c->responding ? POLLOUT : POLLIN };
		}
		if (poll(hp->pfds, n, POLL_TICK_MS) < 0 && errno != EINTR)
			break;
		uint64_t now = now_ms();
		/* Clients by fd: the table order is the poll order, listener first. */
		nfds_t k = 1;
		for (uint32_t i = 0; i < hp->max_clients && k < n; i++) {
			struct client *c = &hp->clients[i];
			if (c->fd < 0 || c->fd != hp->pfds[k].fd)
				continue;
			short re = hp->pfds[k++].revents;
			if (re & (POLLERR | POLLHUP | POLLNVAL) && !(re & (POLLIN | POLLOUT)))
				client_close(c);
			else if (re & POLLOUT)
				on_writable(c);
			else if (re & POLLIN)
				on_readable(hp, c);
			if (c->fd >= 0 && now >= c->deadline_ms) {
				stat_add(&hp->stats.timeouts, 1);
				client_close(c);
			}
		}
		if (hp->pfds[0].revents & POLLIN)
			accept_all(hp, now);
	}
	return NULL;
}

int http_port_start(struct http_port *hp, const struct http_port_options *opt, char *err,
		    size_t errlen)
{
	snprintf(hp->challenge_dir, sizeof(hp->challenge_dir), "%s", opt->challenge_dir);
	snprintf(hp->hostname, sizeof(hp->hostname), "%s", opt->hostname);
	hp->https_port = opt->https_port;
	hp->timeout_ms = opt->timeout_ms;
	hp->max_clients = opt->max_clients;
	hp->clients = calloc(hp->max_clients, sizeof(*hp->clients));
	hp->pfds = calloc(hp->max_clients + 1, sizeof(*hp->pfds));
	if (!hp->clients || !hp->pfds) {
		snprintf(err, errlen, "http.port: out of memory for %u clients", hp->max_clients);
		return -1;
	}
	for (uint32_t i = 0; i < hp->max_clients; i++)
		hp->clients[i].fd = -1;
	int rc = pthread_create(&hp->thread, NULL, http_port_main, hp);
	if (rc) {
		snprintf(err, errlen, "http.port: cannot start its thread: %s", strerror(rc));
		return -1;
	}
	hp->started = true;
	return 0;
}

void http_port_stop(struct http_port *hp)
{
	if (!hp)
		return;
	atomic_store_explicit(&hp->stop, true, memory_order_release);
	if (hp->started)
		pthread_join(hp->thread, NULL);
	for (uint32_t i = 0; hp->clients && i < hp->max_clients; i++) {
		if (hp->clients[i].fd >= 0)
			client_close(&hp->clients[i]);
	}
	close(hp->fd);
	free(hp->clients);
	free(hp->pfds);
	free(hp);
}

void http_port_get_stats(const struct http_port *hp, struct http_port_stats *out)
{
	const uint64_t *src = (const uint64_t *)&hp->stats;
	uint64_t *dst = (uint64_t *)out;
	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = stat_read(&src[i]);
}
