// SPDX-License-Identifier: MIT
/*
 * libhd's client: TCP (and TLS) to the relay, the /hd upgrade, the Auth
 * exchange, then frames in and out (docs/hd-protocol.md).
 */
#include "hd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "hd_auth.h"
#include "hd_frame.h"

#define HEAD_MAX  8192
#define RBUF_SIZE (HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD + 4096)

struct hd_client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	uint16_t peer_id;
	uint8_t *rbuf; /* received, not yet consumed */
	size_t rlen;
	size_t rpos;
	uint8_t *wbuf; /* one frame being sent */
	char error[256];
};

__attribute__((format(printf, 3, 4))) static void set_error(char *buf, size_t len,
							     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tcp_connect(const char *host, uint16_t port, int timeout_ms, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	char portstr[8];
	int fd = -1, rc;

	snprintf(portstr, sizeof(portstr), "%u", port);
	rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		set_error(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = { .tv_sec = timeout_ms / 1000,
				      .tv_usec = (timeout_ms % 1000) * 1000 };
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		set_error(err, errlen, "connect to %s:%u: %s", host, port, strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static int write_all(struct hd_client *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t k;
		if (c->ssl) {
			int r = SSL_write(c->ssl, p, (int)(n > INT32_MAX ? INT32_MAX : n));
			if (r <= 0) {
				set_error(c->error, sizeof(c->error), "TLS write failed");
				return -1;
			}
			k = r;
		} else {
			k = send(c->fd, p, n, MSG_NOSIGNAL);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0) {
				set_error(c->error, sizeof(c->error), "send: %s", strerror(errno));
				return -1;
			}
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * Reads what is there into rbuf, waiting up to timeout_ms for the first
 * byte. Returns bytes read, 0 on timeout, -1 on error or end of stream.
 */
static ssize_t fill(struct hd_client *c, int timeout_ms)
{
	if (c->rpos > 0) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == RBUF_SIZE) {
		set_error(c->error, sizeof(c->error), "receive buffer full");
		return -1;
	}
	if (!c->ssl || SSL_pending(c->ssl) == 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				return 0;
			set_error(c->error, sizeof(c->error), "poll: %s", strerror(errno));
			return -1;
		}
	}
	ssize_t k;
	if (c->ssl) {
		int r = SSL_read(c->ssl, c->rbuf + c->rlen, (int)(RBUF_SIZE - c->rlen));
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ)
				return 0;
			set_error(c->error, sizeof(c->error), "connection closed");
			return -1;
		}
		k = r;
	} else {
		k = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
		if (k < 0 && errno == EINTR)
			return 0;
		if (k <= 0) {
			set_error(c->error, sizeof(c->error), "%s",
				  k == 0 ? "connection closed" : strerror(errno));
			return -1;
		}
	}
	c->rlen += (size_t)k;
	return k;
}

/*
 * The next whole frame from rbuf, reading until deadline (ms, monotonic).
 * Returns 1 with type/payload/len set, 0 on timeout, -1 on error.
 */
static int next_frame(struct hd_client *c, int64_t deadline, uint8_t *type, const uint8_t **payload,
		      uint32_t *len)
{
	bool read_once = false;

	for (;;) {
		size_t have = c->rlen - c->rpos;
		if (have >= HD_FRAME_HDR_LEN) {
			if (hd_frame_header_parse(c->rbuf + c->rpos, type, len) < 0) {
				set_error(c->error, sizeof(c->error),
					  "relay sent a frame over the size limit");
				return -1;
			}
			if (have >= HD_FRAME_HDR_LEN + (size_t)*len) {
				*payload = c->rbuf + c->rpos + HD_FRAME_HDR_LEN;
				c->rpos += HD_FRAME_HDR_LEN + *len;
				return 1;
			}
		}
		/*
		 * Past the deadline, still read once without waiting: a timeout of
		 * 0 ("only what has arrived") must see what is already in the
		 * socket, or a caller driven by poll on hd_client_fd never gets it.
		 */
		int wait = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && wait <= 0) {
			if (read_once)
				return 0;
			wait = 0;
		}
		read_once = true;
		ssize_t k = fill(c, wait);
		if (k < 0)
			return -1;
		if (k == 0 && deadline >= 0 && now_ms() >= deadline)
			return 0;
	}
}

static int tls_start(struct hd_client *c, const struct hd_client_config *cfg, char *err,
		     size_t errlen)
{
	const char *name = cfg->server_name ? cfg->server_name : cfg->host;

	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	if (!cfg->insecure) {
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
		if ((cfg->ca_file ? SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL)
				  : SSL_CTX_set_default_verify_paths(c->ctx)) != 1)
			goto fail;
	}
	c->ssl = SSL_new(c->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	SSL_set_tlsext_host_name(c->ssl, name);
	if (!cfg->insecure) {
		/* An address is matched against the certificate's IP entries, a name against DNS
		 * ones. */
		X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
		unsigned char addr[16];
		bool is_ip =
		    inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
		if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name)
			   : X509_VERIFY_PARAM_set1_host(vp, name, 0)) != 1)
			goto fail;
	}
	if (SSL_connect(c->ssl) != 1)
		goto fail;
	return 0;
fail:;
	unsigned long e = ERR_get_error();
	char why[160];
	ERR_error_string_n(e, why, sizeof(why));
	set_error(err, errlen, "TLS to %s: %s", name, e ? why : "failed");
	return -1;
}

/* The 101 and what follows it: Returns 0 once the head is consumed. */
static int read_upgrade(struct hd_client *c, int64_t deadline, char *err, size_t errlen)
{
	for (;;) {
		uint8_t *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
		if (end) {
			size_t head = (size_t)(end - c->rbuf) + 4;
			if (c->rlen < 12 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0) {
				int line =
				    (int)(memchr(c->rbuf, '\r', c->rlen)
					      ? (uint8_t *)memchr(c->rbuf, '\r', c->rlen) - c->rbuf
					      : 0);
				set_error(err, errlen, "relay answered: %.*s", line, c->rbuf);
				return -1;
			}
			c->rpos = head;
			return 0;
		}
		if (c->rlen >= HEAD_MAX) {
			set_error(err, errlen, "relay's response head is too long");
			return -1;
		}
		int wait = (int)(deadline - now_ms());
		if (wait <= 0 || fill(c, wait) <= 0) {
			set_error(err, errlen, "no upgrade from the relay: %s",
				  wait <= 0 ? "timed out" : c->error);
			return -1;
		}
	}
}

static int handshake(struct hd_client *c, const struct hd_client_config *cfg, int64_t deadline,
		     char *err, size_t errlen)
{
	char req[512];
	uint8_t type, pub[HD_KEY_LEN], binding[HD_BINDING_LEN], auth[1100];
	const uint8_t *p;
	uint32_t len;
	struct hd_server_hello sh;
	int n = snprintf(req, sizeof(req),
			 "GET /hd HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: hd\r\n"
			 "HD-Version: 1\r\n\r\n",
			 cfg->server_name ? cfg->server_name : cfg->host);

	if (write_all(c, (const uint8_t *)req, (size_t)n) < 0 ||
	    read_upgrade(c, deadline, err, errlen) < 0)
		return -1;
	if (next_frame(c, deadline, &type, &p, &len) != 1 || type != HD_FRAME_SERVER_HELLO ||
	    hd_parse_server_hello(p, len, &sh) < 0 || sh.version != HD_PROTO_VERSION) {
		set_error(err, errlen, "no ServerHello from the relay");
		return -1;
	}
	if (crypto_scalarmult_base(pub, cfg->private_key) != 0 ||
	    hd_channel_binding(c->ssl, binding) < 0) {
		set_error(err, errlen, "unusable key or TLS session");
		return -1;
	}
	size_t an =
	    hd_auth_build(auth, sizeof(auth), cfg->private_key, pub, sh.relay_key, sh.challenge,
			  binding, cfg->token, cfg->token ? strlen(cfg->token) : 0);
	if (!an) {
		set_error(err, errlen, "cannot build Auth (token too long?)");
		return -1;
	}
	if (write_all(c, auth, an) < 0 || next_frame(c, deadline, &type, &p, &len) != 1) {
		set_error(err, errlen, "no answer to Auth: %s", c->error);
		return -1;
	}
	if (type == HD_FRAME_DENIED) {
		struct hd_reason_msg rm;
		if (hd_parse_reason(type, p, len, &rm) == 0)
			set_error(err, errlen, "relay refused: %s: %.*s", hd_reason_name(rm.reason),
				  (int)rm.text_len, rm.text);
		else
			set_error(err, errlen, "relay refused");
		return -1;
	}
	struct hd_welcome w;
	if (type != HD_FRAME_WELCOME || hd_parse_welcome(p, len, &w) < 0) {
		set_error(err, errlen, "expected Welcome, got %s", hd_frame_type_name(type));
		return -1;
	}
	c->peer_id = w.peer_id;
	return 0;
}

int hd_client_connect(const struct hd_client_config *cfg, struct hd_client **out, char *err,
		      size_t errlen)
{
	int timeout = cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000;
	int64_t deadline = now_ms() + timeout;
	struct hd_client *c;

	if (sodium_init() < 0) {
		set_error(err, errlen, "libsodium did not start");
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c || !(c->rbuf = malloc(RBUF_SIZE)) ||
	    !(c->wbuf = malloc(HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD))) {
		set_error(err, errlen, "out of memory");
		goto fail;
	}
	c->fd = tcp_connect(cfg->host, cfg->port, timeout, err, errlen);
	if (c->fd < 0)
		goto fail;
	if (cfg->tls && tls_start(c, cfg, err, errlen) < 0)
		goto fail;
	if (handshake(c, cfg, deadline, err, errlen) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	hd_client_close(c);
	return -1;
}

uint16_t hd_client_peer_id(const struct hd_client *c)
{
	return c->peer_id;
}

int hd_client_fd(const struct hd_client *c)
{
	return c->fd;
}

const char *hd_client_error(const struct hd_client *c)
{
	return c->error;
}

int hd_client_send(struct hd_client *c, uint16_t peer_id, const void *data, size_t len)
{
	if (len > HD_MAX_PACKET) {
		set_error(c->error, sizeof(c->error), "packet of %zu bytes over 64 KiB", len);
		return -1;
	}
	size_t n = hd_build_routed(c->wbuf, HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD, HD_FRAME_SEND, 0,
				   peer_id, data, (uint32_t)len);
	return write_all(c, c->wbuf, n);
}

int hd_client_lookup(struct hd_client *c, const uint8_t key[HD_CLIENT_KEY_LEN])
{
	uint8_t f[HD_FRAME_HDR_LEN + HD_KEY_LEN];
	return write_all(c, f, hd_build_lookup(f, sizeof(f), key));
}

int hd_client_next(struct hd_client *c, struct hd_event *ev, int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	for (;;) {
		uint8_t type, f[HD_FRAME_HDR_LEN + 8];
		const uint8_t *p;
		uint32_t len;
		int r = next_frame(c, deadline, &type, &p, &len);
		if (r <= 0) {
			if (r < 0) {
				memset(ev, 0, sizeof(*ev));
				ev->type = HD_EVENT_CLOSED;
				snprintf(ev->text, sizeof(ev->text), "%s", c->error);
				return 1;
			}
			return 0;
		}
		memset(ev, 0, sizeof(*ev));
		switch (type) {
		case HD_FRAME_RECV: {
			struct hd_routed rt;
			if (hd_parse_routed(type, p, len, &rt) < 0)
				break;
			ev->type = HD_EVENT_PACKET;
			ev->peer_id = rt.peer_id;
			ev->data = rt.packet;
			ev->len = rt.packet_len;
			return 1;
		}
		case HD_FRAME_PEER_INFO:
		case HD_FRAME_PEER_GONE: {
			struct hd_peer_info pi;
			if (hd_parse_peer(type, p, len, &pi) < 0)
				break;
			ev->type =
			    type == HD_FRAME_PEER_INFO ? HD_EVENT_PEER_INFO : HD_EVENT_PEER_GONE;
			ev->peer_id = pi.peer_id;
			ev->relay_id = pi.relay_id;
			ev->reason = pi.reason;
			if (pi.key)
				memcpy(ev->key, pi.key, HD_KEY_LEN);
			return 1;
		}
		case HD_FRAME_CLOSE: {
			struct hd_reason_msg rm;
			ev->type = HD_EVENT_CLOSED;
			if (hd_parse_reason(type, p, len, &rm) == 0) {
				ev->reason = rm.reason;
				snprintf(ev->text, sizeof(ev->text), "%.*s", (int)rm.text_len,
					 rm.text);
			}
			return 1;
		}
		case HD_FRAME_PING:
			if (len == 8 &&
			    write_all(c, f, hd_build_ping(f, sizeof(f), HD_FRAME_PONG, p)) < 0)
				return -1;
			break;
		default:
			break; /* KeepAlive, Pong, and what a newer relay may add */
		}
	}
}

void hd_client_close(struct hd_client *c)
{
	if (!c)
		return;
	if (c->ssl) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	if (c->fd > 0)
		close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c);
}

int hd_client_public_key(const uint8_t priv[HD_CLIENT_KEY_LEN], uint8_t pub[HD_CLIENT_KEY_LEN])
{
	return crypto_scalarmult_base(pub, priv) == 0 ? 0 : -1;
}
