// SPDX-License-Identifier: MIT
/*
 * The socket path: one UDP socket on the relay port, recvmmsg in, routing
 * decision, sendmmsg out, in batches. It is the fallback when XDP cannot
 * attach, the baseline the benchmark compares against, and, in the XDP
 * modes, where the kernel stack delivers what XDP passes on (fragments,
 * datagrams to a next hop whose MAC is not resolved yet).
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "wg_worker.h"

#define SOCK_BATCH     WG_SOCK_BATCH
#define SOCK_BUDGET    16 /* batches per poll, so XSKs and updates get a turn */
#define SOCK_MAX_DGRAM WG_SOCK_DGRAM
#define SOCK_BUF_BYTES (8 << 20) /* socket buffers: absorb bursts while the thread is busy */

int wg_sock_open(uint16_t port)
{
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1, size = SOCK_BUF_BYTES;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* The FORCE variants pass the sysctl caps (CAP_NET_ADMIN); the plain ones are the fallback.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static struct sockaddr_in sockaddr_of(const struct wg_route_peer *p)
{
	return (struct sockaddr_in){
		.sin_family = AF_INET,
		.sin_port = p->ep.port,
		.sin_addr.s_addr = p->ep.addr,
	};
}

/* Sends out[0..n) and counts what the kernel refused. */
static void send_batch(struct wg_worker *w, struct mmsghdr *out, const int *dst, unsigned int n)
{
	unsigned int sent = 0;

	while (sent < n) {
		int r = sendmmsg(w->sock_fd, out + sent, n - sent, MSG_DONTWAIT);
		if (r <= 0) {
			/* Full socket buffer or an unreachable peer: drop this one, go on. */
			stat_add(&w->counters[WG_CNT_DROP_TX_ERROR], 1);
			sent++;
			continue;
		}
		for (int i = 0; i < r; i++)
			wg_worker_count_tx(w, dst[sent + (unsigned)i],
					   out[sent + (unsigned)i].msg_hdr.msg_iov->iov_len);
		sent += (unsigned)r;
	}
}

unsigned int wg_sock_poll(struct wg_worker *w)
{
	uint8_t(*bufs)[SOCK_MAX_DGRAM] = w->sock_bufs;
	struct mmsghdr in[SOCK_BATCH], out[SOCK_BATCH];
	struct iovec in_iov[SOCK_BATCH], out_iov[SOCK_BATCH];
	struct sockaddr_in from[SOCK_BATCH], to[SOCK_BATCH];
	int dst[SOCK_BATCH];
	unsigned int total = 0;

	for (int round = 0; round < SOCK_BUDGET; round++) {
		for (int i = 0; i < SOCK_BATCH; i++) {
			in_iov[i] =
			    (struct iovec){ .iov_base = bufs[i], .iov_len = SOCK_MAX_DGRAM };
			in[i].msg_hdr = (struct msghdr){
				.msg_name = &from[i],
				.msg_namelen = sizeof(from[i]),
				.msg_iov = &in_iov[i],
				.msg_iovlen = 1,
			};
		}
		int n = recvmmsg(w->sock_fd, in, SOCK_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		uint64_t now = wg_now_ns();
		unsigned int nout = 0;
		for (int i = 0; i < n; i++) {
			struct wg_endpoint src = { .addr = from[i].sin_addr.s_addr,
						   .port = from[i].sin_port };
			size_t len = in[i].msg_len;
			if (in[i].msg_hdr.msg_flags & MSG_TRUNC) {
				stat_add(&w->counters[WG_CNT_DROP_MALFORMED], 1);
				continue;
			}
			int slot = wg_worker_route(w, &src, bufs[i], len, now);
			if (slot < 0)
				continue;
			to[nout] = sockaddr_of(&w->routes->peers[slot]);
			out_iov[nout] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
			out[nout].msg_hdr = (struct msghdr){
				.msg_name = &to[nout],
				.msg_namelen = sizeof(to[nout]),
				.msg_iov = &out_iov[nout],
				.msg_iovlen = 1,
			};
			dst[nout++] = slot;
		}
		send_batch(w, out, dst, nout);
		total += (unsigned)n;
		if (n < SOCK_BATCH)
			break;
	}
	return total;
}

void wg_sock_send_one(struct wg_worker *w, int slot, const uint8_t *payload, size_t len)
{
	struct sockaddr_in to = sockaddr_of(&w->routes->peers[slot]);

	if (sendto(w->sock_fd, payload, len, MSG_DONTWAIT, (struct sockaddr *)&to, sizeof(to)) < 0)
		stat_add(&w->counters[WG_CNT_DROP_TX_ERROR], 1);
	else
		wg_worker_count_tx(w, slot, len);
}
