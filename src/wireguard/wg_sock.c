// SPDX-License-Identifier: MIT
/*
 * The socket path: one UDP socket on the relay port, recvmmsg in, routing
 * decision, sendmmsg out, in batches. It is the fallback when XDP cannot
 * attach, the baseline the benchmark compares against, and, in the XDP
 * modes, where the kernel stack delivers what XDP passes on (fragments,
 * datagrams to a next hop whose MAC is not resolved yet).
 *
 * One dual-stack socket (AF_INET6, IPV6_V6ONLY off) takes both families:
 * IPv4 peers appear as IPv4-mapped addresses, the very form the table keys
 * them by, and one sendmmsg batch may hold datagrams of both families, so a
 * link between an IPv4 and an IPv6 peer needs nothing special here. Two
 * sockets would mean two receive loops and batches split by family. On a
 * kernel without IPv6 the socket is plain AF_INET, and IPv6 peers are
 * unreachable (their sends fail and are counted).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "wg_worker.h"

#define SOCK_BATCH     WG_SOCK_BATCH
#define SOCK_BUDGET    16 /* batches per poll, so XSKs and updates get a turn */
#define SOCK_MAX_DGRAM WG_SOCK_DGRAM
#define SOCK_BUF_BYTES (8 << 20) /* socket buffers: absorb bursts while the thread is busy */

static void set_buffers(int fd)
{
	int size = SOCK_BUF_BYTES;

	/* The FORCE variants pass the sysctl caps (CAP_NET_ADMIN); the plain ones are the fallback.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static int bind_or_close(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (bind(fd, addr, len) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int wg_sock_open(uint16_t port)
{
	struct sockaddr_in6 addr6 = {
		.sin6_family = AF_INET6,
		.sin6_port = htons(port),
		.sin6_addr = IN6ADDR_ANY_INIT,
	};
	struct sockaddr_in addr = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1, zero = 0;
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Explicit: the default follows net.ipv6.bindv6only. */
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) == 0) {
			set_buffers(fd);
			return bind_or_close(fd, (struct sockaddr *)&addr6, sizeof(addr6));
		}
		close(fd);
	} else if (errno != EAFNOSUPPORT) {
		return -1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	set_buffers(fd);
	return bind_or_close(fd, (struct sockaddr *)&addr, sizeof(addr));
}

/*
 * The socket address of an endpoint: IPv6, IPv4-mapped for IPv4 peers, as
 * the dual-stack socket takes it; plain IPv4 on an IPv4-only socket.
 */
static socklen_t sockaddr_of(const struct wg_endpoint *ep, bool v4_socket, struct sockaddr_in6 *sa)
{
	if (v4_socket && wg_endpoint_is_v4(ep)) {
		struct sockaddr_in *sin = (struct sockaddr_in *)sa;
		*sin = (struct sockaddr_in){ .sin_family = AF_INET,
					     .sin_port = ep->port,
					     .sin_addr.s_addr = wg_endpoint_v4(ep) };
		return sizeof(*sin);
	}
	*sa = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = ep->port };
	memcpy(&sa->sin6_addr, ep->addr, sizeof(sa->sin6_addr));
	return sizeof(*sa);
}

/* The endpoint a datagram came from, whichever family the socket gave it in. */
static struct wg_endpoint endpoint_of(const struct sockaddr_in6 *sa)
{
	struct wg_endpoint ep = { .port = sa->sin6_port };

	if (sa->sin6_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
		return wg_endpoint_from_v4(sin->sin_addr.s_addr, sin->sin_port);
	}
	memcpy(ep.addr, &sa->sin6_addr, sizeof(ep.addr));
	return ep;
}

bool wg_sock_is_v4(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET;
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
	struct sockaddr_in6 from[SOCK_BATCH], to[SOCK_BATCH];
	int dst[SOCK_BATCH];
	unsigned int total = 0;
	bool v4_socket = w->sock_v4;

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
			struct wg_endpoint src = endpoint_of(&from[i]);
			size_t len = in[i].msg_len;
			if (in[i].msg_hdr.msg_flags & MSG_TRUNC) {
				stat_add(&w->counters[WG_CNT_DROP_MALFORMED], 1);
				continue;
			}
			int slot = wg_worker_route(w, &src, bufs[i], len, now);
			if (slot < 0)
				continue;
			socklen_t tolen =
			    sockaddr_of(&w->routes->peers[slot].ep, v4_socket, &to[nout]);
			out_iov[nout] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
			out[nout].msg_hdr = (struct msghdr){
				.msg_name = &to[nout],
				.msg_namelen = tolen,
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
	wg_sock_send_to(w, slot, &w->routes->peers[slot].ep, payload, len);
}

void wg_sock_send_to(struct wg_worker *w, int slot, const struct wg_endpoint *ep,
		     const uint8_t *payload, size_t len)
{
	struct sockaddr_in6 to;
	socklen_t tolen = sockaddr_of(ep, w->sock_v4, &to);

	if (sendto(w->sock_fd, payload, len, MSG_DONTWAIT, (struct sockaddr *)&to, tolen) < 0)
		stat_add(&w->counters[WG_CNT_DROP_TX_ERROR], 1);
	else
		wg_worker_count_tx(w, slot, len);
}
