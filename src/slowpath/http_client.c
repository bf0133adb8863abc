// SPDX-License-Identifier: MIT
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

uint64_t http_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Waits for events on c->fd: 1 ready, 0 deadline passed, -1 stopping. */
static int wait_fd(struct http_conn *c, short events)
{
	for (;;) {
		uint64_t now = http_now_ns();
		if (now >= c->deadline_ns)
			return 0;
		uint64_t left_ms = (c->deadline_ns - now + 999999) / 1000000;
		struct pollfd pfd[2] = { { .fd = c->fd, .events = events },
					 { .fd = c->stop_fd, .events = POLLIN } };
		int n = poll(pfd, c->stop_fd >= 0 ? 2 : 1, (int)left_ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (c->stop_fd >= 0 && pfd[1].revents))
			return -1;
		if (n > 0)
			return 1;
	}
}

static int wait_failed(int w, char *why, size_t why_len, const char *what)
{
	snprintf(why, why_len, "%s: %s", what, w == 0 ? "timed out" : "stopping");
	return -1;
}

/* A non-blocking connect to addr, finished within the deadline. */
static int connect_addr(struct http_conn *c, const struct sockaddr *addr, socklen_t len, char *why,
			size_t why_len)
{
	c->fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(why, why_len, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(c->fd, addr, len) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		snprintf(why, why_len, "connect: %s", strerror(errno));
		goto fail;
	}
	int w = wait_fd(c, POLLOUT);
	if (w <= 0) {
		wait_failed(w, why, why_len, "connect");
		goto fail;
	}
	int err = 0;
	socklen_t elen = sizeof(err);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err) {
		snprintf(why, why_len, "connect: %s", strerror(err));
		goto fail;
	}
	return 0;
fail:
	close(c->fd);
	c->fd = -1;
	return -1;
}

int http_conn_unix(struct http_conn *c, const char *path, char *why, size_t why_len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	c->ssl = NULL;
	c->fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		snprintf(why, why_len, "socket path longer than %zu bytes",
			 sizeof(sun.sun_path) - 1);
		return -1;
	}
	strcpy(sun.sun_path, path);
	return connect_addr(c, (struct sockaddr *)&sun, sizeof(sun), why, why_len);
}

static void tls_error(char *why, size_t why_len, const char *what, SSL *ssl)
{
	char buf[160] = "";
	unsigned long e = ERR_get_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
	if (v != X509_V_OK)
		snprintf(buf, sizeof(buf), "certificate: %s", X509_verify_cert_error_string(v));
	snprintf(why, why_len, "%s: %s", what, buf[0] ? buf : "connection closed");
	ERR_clear_error();
}

static int tls_start(struct http_conn *c, const char *host, SSL_CTX *tls, char *why, size_t why_len)
{
	c->ssl = SSL_new(tls);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd)) {
		tls_error(why, why_len, "TLS", NULL);
		return -1;
	}
	unsigned char ip[16];
	bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	/* A name is sent as SNI and must be in the certificate; an address must be too. */
	if (literal) {
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, host);
		SSL_set1_host(c->ssl, host);
	}
	for (;;) {
		ERR_clear_error();
		int rc = SSL_connect(c->ssl);
		if (rc == 1)
			return 0;
		int e = SSL_get_error(c->ssl, rc);
		short ev = e == SSL_ERROR_WANT_READ    ? POLLIN
			   : e == SSL_ERROR_WANT_WRITE ? POLLOUT
						       : 0;
		if (!ev) {
			tls_error(why, why_len, "TLS handshake", c->ssl);
			return -1;
		}
		int w = wait_fd(c, ev);
		if (w <= 0)
			return wait_failed(w, why, why_len, "TLS handshake");
	}
}

int http_conn_tcp(struct http_conn *c, const char *host, const char *port, SSL_CTX *tls, char *why,
		  size_t why_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	c->ssl = NULL;
	c->fd = -1;
	/* getaddrinfo is not bounded by the deadline: the resolver's own timeouts apply. */
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		snprintf(why, why_len, "resolving %s: %s", host, gai_strerror(rc));
		return -1;
	}
	int ret = -1;
	for (struct addrinfo *ai = res; ai && ret < 0; ai = ai->ai_next)
		ret = connect_addr(c, ai->ai_addr, ai->ai_addrlen, why, why_len);
	freeaddrinfo(res);
	if (ret < 0)
		return -1;
	if (tls && tls_start(c, host, tls, why, why_len) < 0) {
		http_conn_close(c);
		return -1;
	}
	return 0;
}

/* Plaintext I/O on c: bytes moved, 0 at the peer's close, -1 error, -2 would block. */
static ssize_t conn_io(struct http_conn *c, void *buf, size_t len, bool writing, short *want)
{
	if (!c->ssl) {
		ssize_t n =
		    writing ? send(c->fd, buf, len, MSG_NOSIGNAL) : recv(c->fd, buf, len, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
			*want = writing ? POLLOUT : POLLIN;
			return -2;
		}
		return n;
	}
	ERR_clear_error();
	int n = writing ? SSL_write(c->ssl, buf, (int)len) : SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	int e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
		return -2;
	}
	/* A close without close_notify still ends a Connection: close response. */
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && !ERR_peek_error()))
		return 0;
	return -1;
}

int http_conn_exchange(struct http_conn *c, const char *req, size_t req_len, char *resp, size_t cap,
		       size_t *got, bool *closed, char *why, size_t why_len)
{
	size_t sent = 0;
	short want = 0;
	*got = 0;
	*closed = false;
	while (sent < req_len) {
		ssize_t n = conn_io(c, (void *)(req + sent), req_len - sent, true, &want);
		if (n == -2) {
			int w = wait_fd(c, want);
			if (w <= 0)
				return wait_failed(w, why, why_len, "sending the request");
			continue;
		}
		if (n <= 0) {
			snprintf(why, why_len, "sending the request: %s",
				 n == 0 ? "closed" : strerror(errno));
			return -1;
		}
		sent += (size_t)n;
	}
	for (;;) {
		if (*got == cap) {
			snprintf(why, why_len, "response longer than %zu bytes", cap);
			return -1;
		}
		ssize_t n = conn_io(c, resp + *got, cap - *got, false, &want);
		if (n == -2) {
			int status;
			const char *body;
			size_t body_len;
			/* Complete already (the server keeps the connection open): done. */
			if (http_response_parse(resp, *got, &status, &body, &body_len, 0) == 0)
				return 0;
			int w = wait_fd(c, want);
			if (w <= 0)
				return wait_failed(w, why, why_len, "reading the response");
			continue;
		}
		if (n < 0) {
			snprintf(why, why_len, "reading the response: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			*closed = true;
			return 0;
		}
		*got += (size_t)n;
	}
}

bool http_conn_idle_usable(struct http_conn *c)
{
	if (c->ssl && SSL_pending(c->ssl))
		return false;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	/* Readable while idle: the server closed it (EOF, RST) or talks out of turn. */
	return poll(&pfd, 1, 0) == 0;
}

void http_conn_close(struct http_conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}

/* The value of header name in head (NUL-free, ends at "\r\n\r\n"), or NULL. */
static const char *header_value(const char *head, size_t head_len, const char *name,
				size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *line = memchr(head, '\n', head_len);
	const char *end = head + head_len;
	while (line && ++line < end) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
		    line[name_len] == ':') {
			const char *v = line + name_len + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*value_len = (size_t)(ve - v);
			return v;
		}
		line = eol;
	}
	return NULL;
}

/*
 * Walks a chunked body: 0 complete, 1 incomplete, -1 malformed. With
 * apply, also decodes it in place; a first pass without it makes sure the
 * body is whole, so that an incomplete one is left as it came.
 */
static int walk_chunks(char *body, size_t len, size_t *out_len, bool apply)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *eol = memchr(body + in, '\n', len - in);
		if (!eol)
			return 1;
		/* The size in hex, up to the line's end or a chunk extension; bounded by eol. */
		size_t size = 0, digits = 0;
		for (const char *d = body + in; d < eol; d++, digits++) {
			int v = *d >= '0' && *d <= '9'	 ? *d - '0'
				: *d >= 'a' && *d <= 'f' ? *d - 'a' + 10
				: *d >= 'A' && *d <= 'F' ? *d - 'A' + 10
							 : -1;
			if (v < 0)
				break;
			if (size > len)
				return -1; /* more than the response holds: no need to go on */
			size = size * 16 + (size_t)v;
		}
		if (!digits)
			return -1;
		in = (size_t)(eol - body) + 1;
		if (size == 0) {
			*out_len = out;
			return 0;
		}
		if (size > len || len - in < size + 2)
			return 1;
		if (apply)
			memmove(body + out, body + in, size);
		out += size;
		in += size + 2;
	}
}

static int dechunk(char *body, size_t len, size_t *out_len)
{
	int rc = walk_chunks(body, len, out_len, false);
	return rc ? rc : walk_chunks(body, len, out_len, true);
}

bool http_response_keeps_alive(const char *buf, size_t len)
{
	const char *head_end = NULL;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			head_end = buf + i + 4;
			break;
		}
	}
	if (!head_end || len < 8 || strncmp(buf, "HTTP/1.1", 8) != 0)
		return false;
	size_t vlen;
	const char *v = header_value(buf, (size_t)(head_end - buf), "Connection", &vlen);
	return !(v && vlen == 5 && strncasecmp(v, "close", 5) == 0);
}

int http_response_parse(char *buf, size_t len, int *status, const char **body, size_t *body_len,
			int at_eof)
{
	if (len < 12)
		return at_eof ? -1 : 1;
	if (strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ')
		return -1;
	char *head_end = NULL;
	for (size_t i = 0; i + 3 < len; i++) {
		if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			head_end = buf + i + 4;
			break;
		}
	}
	if (!head_end)
		return at_eof ? -1 : 1;
	int code = 0;
	for (int i = 9; i < 12; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return -1;
		code = code * 10 + (buf[i] - '0');
	}
	*status = code;
	size_t head_len = (size_t)(head_end - buf);
	size_t rest = len - head_len;
	size_t vlen;
	const char *te = header_value(buf, head_len, "Transfer-Encoding", &vlen);
	if (te && vlen == 7 && strncasecmp(te, "chunked", 7) == 0) {
		size_t n = 0;
		int rc = dechunk(head_end, rest, &n);
		if (rc != 0)
			return rc < 0 || at_eof ? -1 : 1;
		*body = head_end;
		*body_len = n;
		return 0;
	}
	const char *cl = header_value(buf, head_len, "Content-Length", &vlen);
	if (cl) {
		size_t want = 0;
		for (size_t i = 0; i < vlen; i++) {
			if (cl[i] < '0' || cl[i] > '9' || want > (1u << 30))
				return -1;
			want = want * 10 + (size_t)(cl[i] - '0');
		}
		if (rest < want)
			return at_eof ? -1 : 1;
		*body = head_end;
		*body_len = want;
		return 0;
	}
	/* No length: the body runs to the close. */
	if (!at_eof)
		return 1;
	*body = head_end;
	*body_len = rest;
	return 0;
}
