// SPDX-License-Identifier: MIT
/*
 * hdbench's connections for the packet benchmark: two DERP connections per
 * pair to the relay, or with --direct a loopback TCP (or TLS) connection
 * per pair; then the pairs' spread over the event loop threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "hdbench.h"

#include "derp_tls.h"
#include "tls_selfsigned.h"

static int conn_init_queue(struct bench_conn *c, struct bench_pair *p, bool is_sender, size_t cap)
{
	c->pair = p;
	c->is_sender = is_sender;
	c->out_cap = cap;
	c->out = malloc(cap);
	return c->out ? 0 : -1;
}

#define MESH_ROUTE_TIMEOUT_MS 10000

/*
 * With the receiver on another relay, the sender's relay learns where it
 * is from the mesh (PeerPresent) a moment after it connected: until then
 * packets are dropped. Probes (empty packets, which the benchmark never
 * sends) go until one arrives; the ones still on their way are read off.
 */
static int await_mesh_route(struct bench_pair *p)
{
	uint64_t deadline = now_ns() + MESH_ROUTE_TIMEOUT_MS * 1000000ULL;
	uint8_t type;
	const uint8_t *payload;
	uint32_t len;
	bool arrived = false;

	while (!arrived) {
		if (now_ns() > deadline ||
		    derp_client_send_packet(&p->tx.client, p->rx.client.pub, "", 0) < 0)
			return -1;
		int rc = derp_client_read_frame(&p->rx.client, 100, &type, &payload, &len);
		if (rc < 0)
			return -1;
		arrived = rc == 1 && type == DERP_FRAME_RECV_PACKET;
	}
	while (derp_client_read_frame(&p->rx.client, 200, &type, &payload, &len) == 1)
		;
	return 0;
}

/*
 * --proto hd: the receiver first, as for DERP. Each side learns the other's
 * peer id from the other's Welcome, which this process holds: what a Lookup
 * would answer, without a round trip in the setup of every pair.
 */
static int pair_connect_hd(struct bench *b, struct bench_pair *p)
{
	char err[256];

	if (hd_conn_connect(&p->rx, &b->opts, b->opts.port, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u receiver: %s\n", p->id, err);
		return -1;
	}
	if (hd_conn_connect(&p->tx, &b->opts, b->opts.port, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u sender: %s\n", p->id, err);
		return -1;
	}
	return 0;
}

static int pair_connect_relay(struct bench *b, struct bench_pair *p)
{
	struct derp_client_opts copts = {
		.fast_start = b->opts.fast_start,
		.timeout_ms = CONNECT_TIMEOUT_MS,
		.tls = b->opts.tls,
		.tls12 = b->opts.tls12,
		.tls_ca_file = b->opts.tls_ca_file,
		.tls_server_name = b->opts.tls_server_name,
		.websocket = b->opts.websocket,
	};
	char err[256];

	if (b->opts.hd)
		return pair_connect_hd(b, p);
	uint16_t rx_port = b->opts.recv_port ? b->opts.recv_port : b->opts.port;
	/* The receiver first, so the relay knows it before the first packet. */
	if (derp_client_connect(&p->rx.client, b->opts.server, rx_port, &copts, err,
				sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u receiver: %s\n", p->id, err);
		return -1;
	}
	if (derp_client_connect(&p->tx.client, b->opts.server, b->opts.port, &copts, err,
				sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u sender: %s\n", p->id, err);
		return -1;
	}
	if (b->opts.recv_port && await_mesh_route(p) < 0) {
		fprintf(stderr, "hdbench: pair %u: no route through the mesh after %d ms\n",
			p->id, MESH_ROUTE_TIMEOUT_MS);
		return -1;
	}
	return 0;
}

static int direct_listen(struct sockaddr_in *addr)
{
	socklen_t len = sizeof(*addr);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, sizeof(*addr)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)addr, &len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/*
 * Runs both ends of a TLS handshake in this thread: each step goes as far
 * as the other end's bytes allow, then we wait for either socket.
 */
static int direct_tls_handshake(SSL *client, int cfd, SSL *server, int sfd, char *err,
				size_t errlen)
{
	uint64_t deadline = now_ns() + CONNECT_TIMEOUT_MS * 1000000ULL;
	bool cdone = false, sdone = false;
	short cwant = POLLIN, swant = POLLIN;
	int ret;

	while (!cdone || !sdone) {
		struct pollfd pfd[2] = { { .fd = cfd, .events = cwant },
					 { .fd = sfd, .events = swant } };

		if (!cdone) {
			ret = derp_tls_handshake_step(client, &cwant, err, errlen);
			if (ret < 0)
				return -1;
			cdone = ret == 1;
		}
		if (!sdone) {
			ret = derp_tls_handshake_step(server, &swant, err, errlen);
			if (ret < 0)
				return -1;
			sdone = ret == 1;
		}
		if (cdone && sdone)
			break;
		if (now_ns() > deadline) {
			snprintf(err, errlen, "direct TLS handshake timed out");
			return -1;
		}
		pfd[0].events = cdone ? 0 : cwant;
		pfd[1].events = sdone ? 0 : swant;
		poll(pfd, 2, 100);
	}
	return 0;
}

/* Wraps a connected sender/receiver socket pair in TLS, sender as the client. */
static int pair_wrap_direct_tls(struct bench *b, struct bench_pair *p, int sfd, int rfd)
{
	SSL *client = NULL, *server = NULL;
	SSL_CTX *cctx;
	char err[256];

	if (set_nonblocking(sfd) < 0 || set_nonblocking(rfd) < 0) {
		snprintf(err, sizeof(err), "%s", strerror(errno));
		goto fail;
	}
	cctx = derp_tls_client_ctx(b->opts.tls12, NULL, err, sizeof(err));
	if (!cctx)
		goto fail;
	client = derp_tls_client_session(cctx, sfd, NULL, NULL, err, sizeof(err));
	server = SSL_new(b->direct_server_tls);
	if (!client || !server || SSL_set_fd(server, rfd) != 1) {
		if (client && !server)
			snprintf(err, sizeof(err), "TLS server session failed");
		goto fail;
	}
	SSL_set_accept_state(server);
	if (direct_tls_handshake(client, sfd, server, rfd, err, sizeof(err)) < 0)
		goto fail;
	if (derp_client_wrap_tls(&p->tx.client, sfd, client, err, sizeof(err)) < 0) {
		close(rfd);
		derp_tls_close(server);
		goto fail_wrapped;
	}
	if (derp_client_wrap_tls(&p->rx.client, rfd, server, err, sizeof(err)) < 0)
		goto fail_wrapped;
	return 0;
fail:
	derp_tls_close(client);
	derp_tls_close(server);
	close(sfd);
	close(rfd);
fail_wrapped:
	fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
	return -1;
}

/*
 * One loopback TCP connection per pair. Connecting and accepting one at a
 * time pairs each accepted socket with the connection just made.
 */
static int pair_connect_direct(struct bench *b, struct bench_pair *p, int listen_fd,
			       const struct sockaddr_in *addr)
{
	char err[256];
	int sfd, rfd;

	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 || connect(sfd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		fprintf(stderr, "hdbench: pair %u: direct connect: %s\n", p->id, strerror(errno));
		if (sfd >= 0)
			close(sfd);
		return -1;
	}
	if (b->opts.tls) {
		rfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (rfd < 0) {
			fprintf(stderr, "hdbench: pair %u: accept: %s\n", p->id, strerror(errno));
			close(sfd);
			return -1;
		}
		return pair_wrap_direct_tls(b, p, sfd, rfd);
	}
	if (derp_client_wrap_socket(&p->tx.client, sfd, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
		return -1;
	}
	rfd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (rfd < 0) {
		fprintf(stderr, "hdbench: pair %u: accept: %s\n", p->id, strerror(errno));
		return -1;
	}
	if (derp_client_wrap_socket(&p->rx.client, rfd, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdbench: pair %u: %s\n", p->id, err);
		return -1;
	}
	return 0;
}

int bench_connect_all(struct bench *b)
{
	struct sockaddr_in addr;
	int listen_fd = -1, ret = 0;

	if (b->opts.direct && b->opts.tls) {
		char err[256];

		b->direct_server_tls = tls_selfsigned_server_ctx(err, sizeof(err));
		if (!b->direct_server_tls) {
			fprintf(stderr, "hdbench: %s\n", err);
			return -1;
		}
		/* The receiver gets what the sender offers, as from the relay. */
		SSL_CTX_set_max_proto_version(b->direct_server_tls,
					      b->opts.tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
	}
	if (b->opts.direct) {
		listen_fd = direct_listen(&addr);
		if (listen_fd < 0) {
			fprintf(stderr, "hdbench: loopback listener: %s\n", strerror(errno));
			return -1;
		}
	}
	for (uint32_t i = 0; i < b->opts.pairs && ret == 0; i++) {
		struct bench_pair *p = &b->pairs[i];

		p->rx.client.fd = -1;
		p->tx.client.fd = -1;
		if (b->opts.direct)
			ret = pair_connect_direct(b, p, listen_fd, &addr);
		else
			ret = pair_connect_relay(b, p);
	}
	if (listen_fd >= 0)
		close(listen_fd);
	if (ret == 0 && b->opts.tls && b->pairs[0].tx.client.ssl)
		derp_tls_describe(b->pairs[0].tx.client.ssl, b->tls_desc, sizeof(b->tls_desc));
	return ret;
}

static int thread_add_conn(struct bench_thread *t, struct bench_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = c };
	int flags = fcntl(c->client.fd, F_GETFL);

	if (flags < 0 || fcntl(c->client.fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -1;
	return epoll_ctl(t->epfd, EPOLL_CTL_ADD, c->client.fd, &ev);
}

/* Pairs go to threads round robin; both connections of a pair share a thread. */
int bench_assign_threads(struct bench *b)
{
	uint32_t nthreads = b->opts.threads;
	size_t tx_cap = (size_t)b->opts.window * b->frame_len + PONG_ROOM;
	size_t rx_cap = (b->opts.ack ? (size_t)b->opts.window * ACK_FRAME_LEN : 0) + PONG_ROOM;

	for (uint32_t i = 0; i < nthreads; i++) {
		struct bench_thread *t = &b->threads[i];

		t->bench = b;
		t->epfd = epoll_create1(EPOLL_CLOEXEC);
		t->pairs = calloc(b->opts.pairs / nthreads + 1, sizeof(*t->pairs));
		if (t->epfd < 0 || !t->pairs)
			return -1;
	}
	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		struct bench_pair *p = &b->pairs[i];
		struct bench_thread *t = &b->threads[i % nthreads];

		p->thread = t;
		t->pairs[t->npairs++] = p;
		t->active++;
		if (conn_init_queue(&p->tx, p, true, tx_cap) < 0 ||
		    conn_init_queue(&p->rx, p, false, rx_cap) < 0)
			return -1;
		if (thread_add_conn(t, &p->tx) < 0 || thread_add_conn(t, &p->rx) < 0)
			return -1;
	}
	return 0;
}

void bench_free(struct bench *b)
{
	if (b->pairs) {
		for (uint32_t i = 0; i < b->opts.pairs; i++) {
			derp_client_close(&b->pairs[i].tx.client);
			derp_client_close(&b->pairs[i].rx.client);
			free(b->pairs[i].tx.out);
			free(b->pairs[i].rx.out);
			free(b->pairs[i].tx.hd_rx);
			free(b->pairs[i].rx.hd_rx);
		}
	}
	if (b->threads) {
		for (uint32_t i = 0; i < b->opts.threads; i++) {
			if (b->threads[i].epfd > 0)
				close(b->threads[i].epfd);
			free(b->threads[i].pairs);
		}
	}
	free(b->pairs);
	free(b->threads);
	SSL_CTX_free(b->direct_server_tls);
}
