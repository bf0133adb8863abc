// SPDX-License-Identifier: MIT
/*
 * A small blocking DERP client over plain TCP or TLS (see derp_client.h).
 *
 * All socket I/O is nonblocking (MSG_DONTWAIT, or a nonblocking socket under
 * TLS) and waits with poll(), so every step can honour a deadline and the
 * same code works whether or not the caller later switches the socket to
 * nonblocking mode for an event loop. io_recv/io_send are the one place that
 * knows whether bytes go through OpenSSL.
 */
#include "derp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "derp_handshake.h"
#include "derp_tls.h"
#include "derp_ws.h"

#define DEFAULT_TIMEOUT_MS 5000
/* One recv() at most; also the limit for the HTTP response head. */
#define RX_CAP		  (64 * 1024)
#define HTTP_RESPONSE_MAX 4096
#define READER_CAP	  (DERP_FRAME_HDR_LEN + DERP_CLIENT_MAX_FRAME)
/*
 * Room for the largest legal SendPacket plus some slack, so tests can build
 * slightly oversized packets and check that the server rejects them.
 */
#define WBUF_CAP (DERP_FRAME_HDR_LEN + 2 * KEY_LEN + DERP_MAX_PACKET_SIZE + 4096)
/* The Go client accepts ServerKey frames up to 1 KiB (the rest is reserved). */
#define SERVER_KEY_MAX_LEN 1024
#define SERVER_KEY_LEN	   (DERP_MAGIC_LEN + KEY_LEN)
/* A server that sends this many frames before ServerInfo is not a DERP server. */
#define SAVED_FRAMES_MAX 1024

struct derp_saved_frame {
	struct derp_saved_frame *next;
	uint8_t type;
	uint32_t len;
	uint8_t payload[];
};

/* Absolute CLOCK_MONOTONIC deadlines in ms; NO_DEADLINE waits forever. */
#define NO_DEADLINE INT64_MAX

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t deadline_after(int timeout_ms)
{
	if (timeout_ms < 0)
		return NO_DEADLINE;
	return monotonic_ms() + timeout_ms;
}

/* Milliseconds left for poll(): -1 for no deadline, 0 once it has passed. */
static int deadline_remaining(int64_t deadline)
{
	int64_t left;

	if (deadline == NO_DEADLINE)
		return -1;
	left = deadline - monotonic_ms();
	if (left <= 0)
		return 0;
	return left > INT32_MAX ? INT32_MAX : (int)left;
}

/* Returns 1 when fd is ready for events, 0 at the deadline (errno ETIMEDOUT), -1 on error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int ret;

	for (;;) {
		ret = poll(&pfd, 1, deadline_remaining(deadline));
		if (ret > 0)
			return 1;
		if (ret == 0) {
			errno = ETIMEDOUT;
			return 0;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* recv() or its TLS equivalent; on EAGAIN, c->io_wait says what to wait for. */
static ssize_t raw_recv(struct derp_client *c, void *buf, size_t cap)
{
	ssize_t n;

	if (c->ssl)
		return derp_tls_recv(c->ssl, buf, cap, &c->io_wait);
	n = recv(c->fd, buf, cap, MSG_DONTWAIT);
	if (n < 0)
		c->io_wait = POLLIN;
	return n;
}

static ssize_t raw_send(void *ctx, const void *buf, size_t len)
{
	struct derp_client *c = ctx;
	ssize_t n;

	if (c->ssl)
		return derp_tls_send(c->ssl, buf, len, &c->io_wait);
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		c->io_wait = POLLOUT;
	return n;
}

/* The DERP stream: through the WebSocket framing when there is one. */
static ssize_t io_recv(struct derp_client *c, void *buf, size_t cap)
{
	if (!c->ws)
		return raw_recv(c, buf, cap);
	for (;;) {
		if (c->ws->closed)
			return 0;
		ssize_t n = raw_recv(c, buf, cap);
		if (n <= 0)
			return n;
		/* Only headers or control frames came: read again (EAGAIN ends it). */
		ssize_t got = derp_ws_decode(c->ws, buf, (size_t)n);
		if (got != 0)
			return got;
	}
}

static ssize_t io_send(struct derp_client *c, const void *buf, size_t len)
{
	if (c->ws)
		return derp_ws_send(c->ws, buf, len, raw_send, c);
	return raw_send(c, buf, len);
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static int write_all_until(struct derp_client *c, const void *buf, size_t len, int64_t deadline)
{
	const uint8_t *p = buf;
	ssize_t n;
	int ret;

	while (len > 0) {
		n = io_send(c, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || !would_block())
			return -1;
		ret = wait_fd(c->fd, c->io_wait, deadline);
		if (ret <= 0)
			return -1;
	}
	return 0;
}

/*
 * Moves buffered socket bytes into the frame reader. Returns true if any
 * were taken.
 */
static bool rx_feed_reader(struct derp_client *c)
{
	size_t taken;

	if (c->rx_len == 0)
		return false;
	taken = derp_frame_reader_append(&c->reader, c->rx + c->rx_off, c->rx_len);
	c->rx_off += taken;
	c->rx_len -= taken;
	if (c->rx_len == 0)
		c->rx_off = 0;
	return taken > 0;
}

static void saved_frames_free(struct derp_client *c)
{
	struct derp_saved_frame *f;

	free(c->saved_done);
	c->saved_done = NULL;
	while (c->saved) {
		f = c->saved;
		c->saved = f->next;
		free(f);
	}
}

static int save_frame(struct derp_client *c, uint8_t type, const uint8_t *payload, uint32_t len)
{
	struct derp_saved_frame *f, **tail;
	size_t count = 0;

	for (tail = &c->saved; *tail; tail = &(*tail)->next)
		count++;
	if (count >= SAVED_FRAMES_MAX) {
		errno = EPROTO;
		return -1;
	}
	f = malloc(sizeof(*f) + len);
	if (!f)
		return -1;
	f->next = NULL;
	f->type = type;
	f->len = len;
	memcpy(f->payload, payload, len);
	*tail = f;
	return 0;
}

/* Hands out the oldest saved frame; it stays allocated until the next read. */
static bool take_saved_frame(struct derp_client *c, uint8_t *type, const uint8_t **payload,
			     uint32_t *len)
{
	struct derp_saved_frame *f = c->saved;

	if (!f)
		return false;
	c->saved = f->next;
	c->saved_done = f;
	*type = f->type;
	*payload = f->payload;
	*len = f->len;
	return true;
}

/*
 * Next frame from the socket stream (saved frames aside), with an absolute
 * deadline. Same returns as derp_client_read_frame.
 */
static int read_stream_frame(struct derp_client *c, int64_t deadline, uint8_t *type,
			     const uint8_t **payload, uint32_t *len)
{
	enum derp_read_status st;
	ssize_t n;
	int ret;

	for (;;) {
		st = derp_frame_reader_next(&c->reader, DERP_CLIENT_MAX_FRAME, type, payload, len);
		if (st == DERP_READ_FRAME)
			return 1;
		if (st == DERP_READ_TOO_LARGE) {
			errno = EMSGSIZE;
			return -1;
		}
		if (rx_feed_reader(c))
			continue;
		if (c->rx_len > 0) {
			/* The reader wants more but is full: it cannot hold a legal frame. */
			errno = EPROTO;
			return -1;
		}
		n = io_recv(c, c->rx, RX_CAP);
		if (n > 0) {
			c->rx_off = 0;
			c->rx_len = (size_t)n;
			continue;
		}
		if (n == 0) {
			errno = 0;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (!would_block())
			return -1;
		if (deadline_remaining(deadline) == 0)
			return 0;
		ret = wait_fd(c->fd, c->io_wait, deadline);
		if (ret < 0)
			return -1;
		/* On timeout, loop once more: recv then reports EAGAIN and we return 0. */
	}
}

/* Same contract as derp_client_read_frame, with an absolute deadline. */
static int read_frame_until(struct derp_client *c, int64_t deadline, uint8_t *type,
			    const uint8_t **payload, uint32_t *len)
{
	free(c->saved_done);
	c->saved_done = NULL;
	if (take_saved_frame(c, type, payload, len))
		return 1;
	return read_stream_frame(c, deadline, type, payload, len);
}

static int client_alloc(struct derp_client *c)
{
	c->rbuf = malloc(READER_CAP);
	c->wbuf = malloc(WBUF_CAP);
	c->rx = malloc(RX_CAP);
	if (!c->rbuf || !c->wbuf || !c->rx)
		return -1;
	c->wcap = WBUF_CAP;
	derp_frame_reader_init(&c->reader, c->rbuf, READER_CAP);
	return 0;
}

static void set_nodelay(int fd)
{
	int one = 1;

	/* Frames are written whole; Nagle would only add latency to measurements. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int set_blocking(int fd, bool blocking)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	flags = blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK;
	return fcntl(fd, F_SETFL, flags);
}

/*
 * Binds the source address only (the port is chosen at connect time, from
 * the whole 4-tuple), so that many connections to one relay port can come
 * from 127.0.0.2, .3 ... when one address runs out of ephemeral ports.
 */
static int bind_source(int fd, int family, const char *addr)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int one = 1;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		len = sizeof(*sin);
		if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
			goto bad;
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		len = sizeof(*sin6);
		if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1)
			goto bad;
	}
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	return bind(fd, (struct sockaddr *)&ss, len);
bad:
	errno = EAFNOSUPPORT;
	return -1;
}

/*
 * Connects one address with a deadline. Returns the fd or -1 (errno set).
 * A TLS connection stays nonblocking: OpenSSL reads the socket itself.
 */
static int tcp_connect_addr(const struct addrinfo *ai, const struct derp_client_opts *opts,
			    int64_t deadline)
{
	socklen_t optlen;
	int fd, soerr;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (opts->bind_addr && bind_source(fd, ai->ai_family, opts->bind_addr) < 0)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto connected;
	if (errno != EINPROGRESS)
		goto fail;
	if (wait_fd(fd, POLLOUT, deadline) <= 0)
		goto fail;
	optlen = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &optlen) < 0)
		goto fail;
	if (soerr != 0) {
		errno = soerr;
		goto fail;
	}
connected:
	/* Callers of the public API expect an ordinary blocking socket. */
	if (!opts->tls && set_blocking(fd, true) < 0)
		goto fail;
	set_nodelay(fd);
	return fd;
fail:
	soerr = errno;
	close(fd);
	errno = soerr;
	return -1;
}

static int tcp_connect(struct derp_client *c, const char *host, uint16_t port,
		       const struct derp_client_opts *opts, int64_t deadline, char *err,
		       size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	char portstr[8];
	int ret, saved_errno = 0;

	snprintf(portstr, sizeof(portstr), "%u", port);
	ret = getaddrinfo(host, portstr, &hints, &res);
	if (ret != 0) {
		snprintf(err, errlen, "resolve %s: %s", host, gai_strerror(ret));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		c->fd = tcp_connect_addr(ai, opts, deadline);
		if (c->fd >= 0)
			break;
		saved_errno = errno;
	}
	freeaddrinfo(res);
	if (c->fd < 0) {
		snprintf(err, errlen, "connect %s port %u: %s", host, port,
			 saved_errno == ETIMEDOUT ? "timed out" : strerror(saved_errno));
		return -1;
	}
	return 0;
}

static bool is_ip_literal(const char *host)
{
	uint8_t addr[16];

	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/*
 * The TLS handshake on the connected socket. As a Tailscale client does, SNI
 * carries the host name, never an address.
 */
static int tls_connect(struct derp_client *c, const char *host, const struct derp_client_opts *opts,
		       int64_t deadline, char *err, size_t errlen)
{
	const char *name = opts->tls_server_name;
	bool ip = is_ip_literal(host);
	SSL_CTX *ctx;
	int ret;

	if (!name && !ip)
		name = host;
	ctx = derp_tls_client_ctx_verify(opts->tls12, opts->tls_ca_file, opts->tls_verify, err,
					 errlen);
	if (!ctx)
		return -1;
	c->ssl = derp_tls_client_session(ctx, c->fd, name, ip ? host : NULL, err, errlen);
	if (!c->ssl)
		return -1;
	for (;;) {
		ret = derp_tls_handshake_step(c->ssl, &c->io_wait, err, errlen);
		if (ret == 1)
			break;
		if (ret < 0)
			return -1;
		ret = wait_fd(c->fd, c->io_wait, deadline);
		if (ret <= 0) {
			snprintf(err, errlen, "TLS handshake: %s",
				 ret == 0 ? "timed out" : strerror(errno));
			return -1;
		}
	}
	c->has_metacert_key = derp_tls_metacert_key(c->ssl, c->metacert_key) == 1;
	/* The Go client takes fast start only from the metacert's key; so must we. */
	if (opts->fast_start && SSL_version(c->ssl) >= TLS1_3_VERSION && !c->has_metacert_key) {
		snprintf(err, errlen,
			 "fast start over TLS 1.3, but the server's certificate "
			 "chain does not end with a DERP metacert");
		return -1;
	}
	return 0;
}

static void format_host_header(char *out, size_t cap, const char *host, uint16_t port)
{
	/* A literal IPv6 address needs brackets in Host, as in a URL. */
	if (strchr(host, ':'))
		snprintf(out, cap, "[%s]:%u", host, port);
	else
		snprintf(out, cap, "%s:%u", host, port);
}

static int send_upgrade_request(struct derp_client *c, const char *host, uint16_t port,
				const struct derp_client_opts *opts, int64_t deadline, char *err,
				size_t errlen)
{
	bool fast_start = opts->fast_start;
	char hosthdr[300], req[512];
	int n;

	format_host_header(hosthdr, sizeof(hosthdr), host, port);
	if (opts->websocket) {
		size_t len = derp_ws_upgrade_request(req, sizeof(req), hosthdr);
		if (!len) {
			snprintf(err, errlen, "host name too long");
			return -1;
		}
		if (write_all_until(c, req, len, deadline) < 0) {
			snprintf(err, errlen, "sending upgrade request: %s", strerror(errno));
			return -1;
		}
		return 0;
	}
	n = snprintf(req, sizeof(req),
		     "GET /derp HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "User-Agent: hd-derp-client\r\n"
		     "Connection: Upgrade\r\n"
		     "Upgrade: DERP\r\n"
		     "%s"
		     "\r\n",
		     hosthdr, fast_start ? "Derp-Fast-Start: 1\r\n" : "");
	if (n < 0 || (size_t)n >= sizeof(req)) {
		snprintf(err, errlen, "host name too long");
		return -1;
	}
	if (write_all_until(c, req, (size_t)n, deadline) < 0) {
		snprintf(err, errlen, "sending upgrade request: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Looks for a "Derp-Public-Key:" line in the response head. Returns 1 and the
 * key if present and well formed, 0 if absent, -1 if malformed.
 */
static int http_find_public_key(const char *head, size_t len, uint8_t key[KEY_LEN])
{
	static const char name[] = "Derp-Public-Key:";
	const char *line = head, *end = head + len, *eol, *v;

	while (line < end) {
		eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > sizeof(name) - 1 &&
		    strncasecmp(line, name, sizeof(name) - 1) == 0) {
			v = line + sizeof(name) - 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			while (eol > v && (eol[-1] == ' ' || eol[-1] == '\t'))
				eol--;
			return key_from_hex(v, (size_t)(eol - v), NULL, key) == 0 ? 1 : -1;
		}
		line = eol + 2;
	}
	return 0;
}

/*
 * Reads the HTTP response head (into rx) and checks for 101. Bytes after the
 * head are already DERP frames and stay in rx. *has_key tells whether a
 * Derp-Public-Key header was seen.
 */
static int read_upgrade_response(struct derp_client *c, int64_t deadline, bool *has_key,
				 uint8_t header_key[KEY_LEN], char *err, size_t errlen)
{
	const char *head = (const char *)c->rx, *hdr_end;
	size_t have = 0, head_len, status_len;
	int code, ret;
	ssize_t n;

	for (;;) {
		hdr_end = have >= 4 ? memmem(head, have, "\r\n\r\n", 4) : NULL;
		if (hdr_end)
			break;
		if (have >= HTTP_RESPONSE_MAX) {
			snprintf(err, errlen, "HTTP response head longer than %d bytes",
				 HTTP_RESPONSE_MAX);
			return -1;
		}
		n = io_recv(c, c->rx + have, RX_CAP - have);
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen,
				 "server closed the connection before the HTTP response");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (!would_block()) {
			snprintf(err, errlen, "reading HTTP response: %s", strerror(errno));
			return -1;
		}
		ret = wait_fd(c->fd, c->io_wait, deadline);
		if (ret <= 0) {
			snprintf(err, errlen, "%s waiting for the HTTP 101 response",
				 ret == 0 ? "timed out" : strerror(errno));
			return -1;
		}
	}
	head_len = (size_t)(hdr_end - head) + 4;
	status_len = strcspn(head, "\r");

	/* Like the Go client, only the status code matters ("HTTP/1.x 101"). */
	if (sscanf(head, "HTTP/1.%*1[01] %3d", &code) != 1 || code != 101) {
		snprintf(err, errlen, "server answered \"%.*s\" instead of 101 Switching Protocols",
			 (int)(status_len > 120 ? 120 : status_len), head);
		return -1;
	}
	ret = http_find_public_key(head, head_len - 2, header_key);
	if (ret < 0) {
		snprintf(err, errlen, "malformed Derp-Public-Key header in the 101 response");
		return -1;
	}
	*has_key = ret == 1;
	c->rx_off = head_len;
	c->rx_len = have - head_len;
	return 0;
}

/*
 * After the 101: the stream is WebSocket from here on. The bytes read past
 * the head are frames already: decoded in place.
 */
static int start_websocket(struct derp_client *c, char *err, size_t errlen)
{
	if (!derp_ws_response_ok((const char *)c->rx, c->rx_off)) {
		snprintf(err, errlen, "the 101 response does not agree to the derp subprotocol");
		return -1;
	}
	c->ws = derp_ws_new();
	if (!c->ws) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ssize_t got = derp_ws_decode(c->ws, c->rx + c->rx_off, c->rx_len);
	if (got < 0) {
		snprintf(err, errlen, "malformed WebSocket frame from the server");
		return -1;
	}
	c->rx_len = (size_t)got;
	return 0;
}

static const char *read_error_text(int ret)
{
	if (ret == 0)
		return "timed out";
	if (errno == 0)
		return "server closed the connection";
	return strerror(errno);
}

static int read_server_key(struct derp_client *c, int64_t deadline, char *err, size_t errlen)
{
	const uint8_t *payload;
	uint32_t len;
	uint8_t type;
	int ret;

	ret = read_stream_frame(c, deadline, &type, &payload, &len);
	if (ret != 1) {
		snprintf(err, errlen, "waiting for ServerKey: %s", read_error_text(ret));
		return -1;
	}
	if (type != DERP_FRAME_SERVER_KEY) {
		snprintf(err, errlen, "first frame is %s (0x%02x), want ServerKey",
			 derp_frame_type_name(type), type);
		return -1;
	}
	if (len < SERVER_KEY_LEN || len > SERVER_KEY_MAX_LEN) {
		snprintf(err, errlen, "ServerKey frame length %u, want %d..%d", len, SERVER_KEY_LEN,
			 SERVER_KEY_MAX_LEN);
		return -1;
	}
	if (memcmp(payload, derp_magic, DERP_MAGIC_LEN) != 0) {
		snprintf(err, errlen, "ServerKey frame has a bad magic");
		return -1;
	}
	memcpy(c->server_pub, payload + DERP_MAGIC_LEN, KEY_LEN);
	return 0;
}

/* Field order follows Go's derp.ClientInfo so the bytes match a real client. */
static void format_client_info_json(char *out, size_t cap, const struct derp_client_opts *opts)
{
	char mesh_hex[KEY_HEX_LEN + 1];
	char mesh_field[KEY_HEX_LEN + 16] = "";

	if (opts->mesh_key) {
		key_to_hex(opts->mesh_key, mesh_hex);
		snprintf(mesh_field, sizeof(mesh_field), "\"meshKey\":\"%s\",", mesh_hex);
	}
	snprintf(out, cap, "{%s\"version\":%d,\"CanAckPings\":true%s}", mesh_field,
		 DERP_PROTOCOL_VERSION, opts->is_prober ? ",\"IsProber\":true" : "");
}

static int send_client_info(struct derp_client *c, const struct derp_client_opts *opts,
			    int64_t deadline, char *err, size_t errlen)
{
	char json[256];
	size_t n;

	format_client_info_json(json, sizeof(json), opts);
	n = derp_build_client_info(c->wbuf, c->wcap, c->priv, c->pub, c->server_pub, json, NULL);
	if (n == 0) {
		snprintf(err, errlen, "building ClientInfo failed");
		return -1;
	}
	if (write_all_until(c, c->wbuf, n, deadline) < 0) {
		snprintf(err, errlen, "sending ClientInfo: %s",
			 errno == ETIMEDOUT ? "timed out" : strerror(errno));
		return -1;
	}
	return 0;
}

static int open_server_info(struct derp_client *c, const uint8_t *payload, uint32_t len, char *err,
			    size_t errlen)
{
	char *json;
	int ret;

	if (len < DERP_NONCE_LEN) {
		snprintf(err, errlen, "ServerInfo frame too short (%u bytes)", len);
		return -1;
	}
	/* The box is never longer than the frame, so len bytes hold the JSON. */
	json = malloc((size_t)len + 1);
	if (!json) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ret = derp_server_info_open(payload, len, c->priv, c->server_pub, json, (size_t)len + 1);
	free(json);
	if (ret < 0) {
		snprintf(err, errlen,
			 "ServerInfo box does not open with our key and the server key");
		return -1;
	}
	return 0;
}

/* Waits for ServerInfo; frames before it are kept for the caller. */
static int wait_server_info(struct derp_client *c, int64_t deadline, char *err, size_t errlen)
{
	const uint8_t *payload;
	uint32_t len;
	uint8_t type;
	int ret;

	for (;;) {
		ret = read_stream_frame(c, deadline, &type, &payload, &len);
		if (ret != 1) {
			snprintf(err, errlen, "waiting for ServerInfo: %s", read_error_text(ret));
			return -1;
		}
		if (type == DERP_FRAME_SERVER_INFO)
			return open_server_info(c, payload, len, err, errlen);
		if (save_frame(c, type, payload, len) < 0) {
			snprintf(err, errlen, "waiting for ServerInfo: %s",
				 errno == EPROTO ? "too many frames before it" : strerror(errno));
			return -1;
		}
	}
}

static int client_keys_init(struct derp_client *c, const uint8_t *private_key)
{
	if (!private_key) {
		key_generate(c->priv, c->pub);
		return 0;
	}
	memcpy(c->priv, private_key, KEY_LEN);
	return key_public_from_private(c->priv, c->pub);
}

/* The buffers, the keys, TCP and TLS: everything before the HTTP request. */
static int connect_transport(struct derp_client *c, const char *host, uint16_t port,
			     const struct derp_client_opts *opts, int64_t deadline, char *err,
			     size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (client_alloc(c) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (client_keys_init(c, opts->private_key) < 0) {
		snprintf(err, errlen, "invalid private key");
		return -1;
	}
	if (tcp_connect(c, host, port, opts, deadline, err, errlen) < 0)
		return -1;
	if (opts->tls && tls_connect(c, host, opts, deadline, err, errlen) < 0)
		return -1;
	return 0;
}

int derp_client_connect_transport(struct derp_client *c, const char *host, uint16_t port,
				  const struct derp_client_opts *opts, char *err, size_t errlen)
{
	static const struct derp_client_opts default_opts;
	int64_t deadline;

	if (!opts)
		opts = &default_opts;
	deadline = deadline_after(opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS);
	if (connect_transport(c, host, port, opts, deadline, err, errlen) < 0) {
		derp_client_close(c);
		return -1;
	}
	return 0;
}

int derp_client_connect(struct derp_client *c, const char *host, uint16_t port,
			const struct derp_client_opts *opts, char *err, size_t errlen)
{
	static const struct derp_client_opts default_opts;
	uint8_t header_key[KEY_LEN];
	bool has_header_key = false;
	int64_t deadline;

	if (!opts)
		opts = &default_opts;
	deadline = deadline_after(opts->timeout_ms > 0 ? opts->timeout_ms : DEFAULT_TIMEOUT_MS);

	if (connect_transport(c, host, port, opts, deadline, err, errlen) < 0)
		goto fail;
	if (opts->websocket && opts->fast_start) {
		snprintf(err, errlen, "fast start does not apply to WebSocket");
		goto fail;
	}
	if (send_upgrade_request(c, host, port, opts, deadline, err, errlen) < 0)
		goto fail;
	/* With fast start the server writes no HTTP response, only frames. */
	if (!opts->fast_start &&
	    read_upgrade_response(c, deadline, &has_header_key, header_key, err, errlen) < 0)
		goto fail;
	if (opts->websocket && start_websocket(c, err, errlen) < 0)
		goto fail;
	if (read_server_key(c, deadline, err, errlen) < 0)
		goto fail;
	if (has_header_key && memcmp(header_key, c->server_pub, KEY_LEN) != 0) {
		snprintf(err, errlen, "Derp-Public-Key header differs from the ServerKey frame");
		goto fail;
	}
	if (c->has_metacert_key && memcmp(c->metacert_key, c->server_pub, KEY_LEN) != 0) {
		snprintf(err, errlen,
			 "the TLS metacert names a key that differs from the "
			 "ServerKey frame");
		goto fail;
	}
	if (send_client_info(c, opts, deadline, err, errlen) < 0)
		goto fail;
	if (!opts->skip_server_info_wait && wait_server_info(c, deadline, err, errlen) < 0)
		goto fail;
	return 0;
fail:
	derp_client_close(c);
	return -1;
}

int derp_client_wrap_socket(struct derp_client *c, int fd, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	if (client_alloc(c) < 0) {
		snprintf(err, errlen, "out of memory");
		derp_client_close(c);
		return -1;
	}
	key_generate(c->priv, c->pub);
	set_nodelay(fd);
	return 0;
}

int derp_client_wrap_tls(struct derp_client *c, int fd, struct ssl_st *ssl, char *err,
			 size_t errlen)
{
	if (derp_client_wrap_socket(c, fd, err, errlen) < 0) {
		derp_tls_close(ssl);
		return -1;
	}
	c->ssl = ssl;
	return 0;
}

static void free_buffers(struct derp_client *c)
{
	saved_frames_free(c);
	free(c->rbuf);
	free(c->wbuf);
	free(c->rx);
	c->rbuf = NULL;
	c->wbuf = NULL;
	c->rx = NULL;
	c->wcap = 0;
	c->rx_off = 0;
	c->rx_len = 0;
}

void derp_client_trim(struct derp_client *c)
{
	free_buffers(c);
	if (c->ssl)
		derp_tls_trim(c->ssl);
}

void derp_client_close(struct derp_client *c)
{
	derp_tls_close(c->ssl);
	c->ssl = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free_buffers(c);
	free(c->ws);
	c->ws = NULL;
	explicit_bzero(c->priv, sizeof(c->priv));
}

int derp_client_write_all(struct derp_client *c, const void *buf, size_t len)
{
	return write_all_until(c, buf, len, NO_DEADLINE);
}

ssize_t derp_client_send_some(struct derp_client *c, const void *buf, size_t len)
{
	return io_send(c, buf, len);
}

ssize_t derp_client_recv_some(struct derp_client *c, void *buf, size_t cap)
{
	return io_recv(c, buf, cap);
}

int derp_client_send_packet(struct derp_client *c, const uint8_t dst[KEY_LEN], const void *pkt,
			    size_t len)
{
	size_t n = derp_build_send_packet(c->wbuf, c->wcap, dst, pkt, len);

	if (n == 0) {
		errno = EMSGSIZE;
		return -1;
	}
	return derp_client_write_all(c, c->wbuf, n);
}

int derp_client_send_ping(struct derp_client *c, const uint8_t data[8])
{
	size_t n = derp_build_ping(c->wbuf, c->wcap, data);

	if (n == 0) {
		errno = EMSGSIZE;
		return -1;
	}
	return derp_client_write_all(c, c->wbuf, n);
}

int derp_client_read_frame(struct derp_client *c, int timeout_ms, uint8_t *type,
			   const uint8_t **payload, uint32_t *len)
{
	return read_frame_until(c, deadline_after(timeout_ms), type, payload, len);
}

int derp_client_wait_frame(struct derp_client *c, int timeout_ms, uint8_t want_type,
			   const uint8_t **payload, uint32_t *len)
{
	int64_t deadline = deadline_after(timeout_ms);
	uint8_t type;
	int ret;

	for (;;) {
		ret = read_frame_until(c, deadline, &type, payload, len);
		if (ret != 1 || type == want_type)
			return ret;
	}
}
