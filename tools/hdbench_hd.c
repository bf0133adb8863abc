// SPDX-License-Identifier: MIT
/*
 * hdbench's HD connections (--proto hd, docs/hd-protocol.md): the /hd
 * upgrade and the Auth exchange on a derp_client's transport, and an HD
 * frame reader for the pair engine's event loop. The engine's write queues
 * and epoll loop stay the same as for DERP, so both protocols see the same
 * load from the same code; only the framing differs.
 *
 * libhd is not used here on purpose: its sends block and write one frame
 * per call, and its reader buffers bytes hdbench could not see, while the
 * engine batches frames in nonblocking write queues. Benchmarking HD
 * through a different I/O pattern than DERP would measure the client, not
 * the relay.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdbench.h"

#include "hd_auth.h"

#define HD_HEAD_MAX 8192

static int remaining_ms(uint64_t deadline_ns)
{
	uint64_t now = now_ns();

	return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999) / 1000000);
}

/*
 * Reads what the connection has into hd_rx, first waiting up to timeout_ms
 * for it when nothing is there. Returns bytes read, 0 when nothing came, -1
 * at the end of the stream (errno 0) or on an error.
 */
static ssize_t hd_conn_fill(struct bench_conn *c, int timeout_ms)
{
	ssize_t n;

	if (c->hd_rx_off > 0) {
		memmove(c->hd_rx, c->hd_rx + c->hd_rx_off, c->hd_rx_len);
		c->hd_rx_off = 0;
	}
	for (;;) {
		n = derp_client_recv_some(&c->client, c->hd_rx + c->hd_rx_len,
					  HD_CONN_RX_CAP - c->hd_rx_len);
		if (n > 0) {
			c->hd_rx_len += (size_t)n;
			return n;
		}
		if (n == 0) {
			errno = 0;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (timeout_ms == 0)
			return 0;
		struct pollfd pfd = { .fd = c->client.fd, .events = c->client.io_wait };
		int ret = poll(&pfd, 1, timeout_ms);
		if (ret < 0 && errno != EINTR)
			return -1;
		if (ret == 0)
			return 0;
		/* Once woken, only what is there now: the caller tracks its deadline. */
		timeout_ms = 0;
	}
}

int hd_conn_read_frame(struct bench_conn *c, int timeout_ms, uint8_t *type, const uint8_t **payload,
		       uint32_t *len)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	const uint8_t *head;
	ssize_t n;

	for (;;) {
		head = c->hd_rx + c->hd_rx_off;
		if (c->hd_rx_len >= HD_FRAME_HDR_LEN) {
			if (hd_frame_header_parse(head, type, len) < 0) {
				errno = EPROTO;
				return -1;
			}
			if (c->hd_rx_len >= HD_FRAME_HDR_LEN + (size_t)*len) {
				*payload = head + HD_FRAME_HDR_LEN;
				c->hd_rx_off += HD_FRAME_HDR_LEN + *len;
				c->hd_rx_len -= HD_FRAME_HDR_LEN + *len;
				return 1;
			}
		}
		/*
		 * No whole frame buffered: read until the socket (and with TLS
		 * the session) has nothing more, or epoll would not wake us for
		 * bytes left behind.
		 */
		n = hd_conn_fill(c, timeout_ms == 0 ? 0 : remaining_ms(deadline));
		if (n < 0)
			return -1;
		if (n == 0 && (timeout_ms == 0 || remaining_ms(deadline) == 0))
			return 0;
	}
}

/* Reads the relay's answer to the upgrade up to its blank line; frames may follow it. */
static int hd_read_upgrade(struct bench_conn *c, uint64_t deadline, char *err, size_t errlen)
{
	const uint8_t *end;

	for (;;) {
		end = memmem(c->hd_rx, c->hd_rx_len, "\r\n\r\n", 4);
		if (end)
			break;
		if (c->hd_rx_len >= HD_HEAD_MAX) {
			snprintf(err, errlen, "the relay's answer to /hd has no end of head");
			return -1;
		}
		if (remaining_ms(deadline) == 0 || hd_conn_fill(c, remaining_ms(deadline)) < 0) {
			snprintf(err, errlen, "no answer to the /hd upgrade: %s",
				 remaining_ms(deadline) == 0 ? "timed out"
				 : errno		     ? strerror(errno)
							     : "connection closed");
			return -1;
		}
	}
	if (c->hd_rx_len < 12 || memcmp(c->hd_rx, "HTTP/1.1 101", 12) != 0) {
		const uint8_t *eol = memchr(c->hd_rx, '\r', c->hd_rx_len);

		snprintf(err, errlen, "relay answered /hd with: %.*s",
			 (int)(eol ? eol - c->hd_rx : 0), (const char *)c->hd_rx);
		return -1;
	}
	c->hd_rx_off = (size_t)(end - c->hd_rx) + 4;
	c->hd_rx_len -= c->hd_rx_off;
	return 0;
}

static int hd_read_handshake_frame(struct bench_conn *c, uint64_t deadline, uint8_t *type,
				   const uint8_t **payload, uint32_t *len)
{
	int ret = hd_conn_read_frame(c, remaining_ms(deadline), type, payload, len);

	if (ret == 0)
		errno = ETIMEDOUT;
	return ret == 1 ? 0 : -1;
}

/* ServerHello, Auth with the connection's key (no token), Welcome. */
static int hd_authenticate(struct bench_conn *c, uint64_t deadline, char *err, size_t errlen)
{
	uint8_t auth[HD_FRAME_HDR_LEN + 1100], binding[HD_BINDING_LEN], type;
	struct hd_server_hello sh;
	struct hd_reason_msg rm;
	struct hd_welcome w;
	const uint8_t *p;
	uint32_t len;
	size_t n;

	if (hd_read_handshake_frame(c, deadline, &type, &p, &len) < 0 ||
	    type != HD_FRAME_SERVER_HELLO || hd_parse_server_hello(p, len, &sh) < 0 ||
	    sh.version != HD_PROTO_VERSION) {
		snprintf(err, errlen, "no HD ServerHello from the relay");
		return -1;
	}
	if (hd_channel_binding(c->client.ssl, binding) < 0) {
		snprintf(err, errlen, "no TLS channel binding");
		return -1;
	}
	n = hd_auth_build(auth, sizeof(auth), c->client.priv, c->client.pub, sh.relay_key,
			  sh.challenge, binding, NULL, 0);
	if (n == 0 || derp_client_write_all(&c->client, auth, n) < 0) {
		snprintf(err, errlen, "cannot send Auth: %s", n == 0 ? "build" : strerror(errno));
		return -1;
	}
	if (hd_read_handshake_frame(c, deadline, &type, &p, &len) < 0) {
		snprintf(err, errlen, "no answer to Auth: %s",
			 errno ? strerror(errno) : "connection closed");
		return -1;
	}
	if (type == HD_FRAME_DENIED && hd_parse_reason(type, p, len, &rm) == 0) {
		snprintf(err, errlen,
			 "relay refused HD: %s: %.*s (an open relay needs [hd] "
			 "require_token = false)",
			 hd_reason_name(rm.reason), (int)rm.text_len, rm.text);
		return -1;
	}
	if (type != HD_FRAME_WELCOME || hd_parse_welcome(p, len, &w) < 0) {
		snprintf(err, errlen, "expected Welcome, got %s", hd_frame_type_name(type));
		return -1;
	}
	c->hd_peer_id = w.peer_id;
	return 0;
}

int hd_conn_connect(struct bench_conn *c, const struct bench_opts *o, uint16_t port, char *err,
		    size_t errlen)
{
	struct derp_client_opts copts = {
		.timeout_ms = CONNECT_TIMEOUT_MS,
		.tls = o->tls,
		.tls12 = o->tls12,
		.tls_ca_file = o->tls_ca_file,
		.tls_server_name = o->tls_server_name,
	};
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_MS * 1000000ULL;
	char req[512];
	int n;

	if (derp_client_connect_transport(&c->client, o->server, port, &copts, err, errlen) < 0)
		return -1;
	c->hd_rx = malloc(HD_CONN_RX_CAP);
	if (!c->hd_rx) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	n = snprintf(req, sizeof(req),
		     "GET /hd HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: hd\r\n"
		     "HD-Version: %d\r\n\r\n",
		     o->tls_server_name ? o->tls_server_name : o->server, HD_PROTO_VERSION);
	if (derp_client_write_all(&c->client, req, (size_t)n) < 0) {
		snprintf(err, errlen, "cannot send the /hd upgrade: %s", strerror(errno));
		return -1;
	}
	if (hd_read_upgrade(c, deadline, err, errlen) < 0)
		return -1;
	return hd_authenticate(c, deadline, err, errlen);
}
