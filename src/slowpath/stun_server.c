// SPDX-License-Identifier: MIT
/* The STUN server's socket and thread (stun_server.h). */
#include "stun_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "stun_listen.h"

/* Datagrams read per recvmmsg. */
#define STUN_BATCH 16
/*
 * A Tailscale request is 40 bytes. Datagrams longer than this are cut
 * and dropped as malformed: nothing that long is a request worth answering.
 */
#define STUN_RECV_MAX 2048

/* Room for either family's packet info, the one control message sent and received. */
#define STUN_CMSG_SPACE                                                   \
	CMSG_SPACE(sizeof(struct in6_pktinfo) > sizeof(struct in_pktinfo) \
		       ? sizeof(struct in6_pktinfo)                       \
		       : sizeof(struct in_pktinfo))

struct stun_slot {
	uint8_t in[STUN_RECV_MAX];
	uint8_t out[STUN_RESPONSE_MAX];
	struct sockaddr_storage peer;
	/* Aligned as cmsghdr wants; not a union with it (its flexible array member). */
	_Alignas(struct cmsghdr) char control[STUN_CMSG_SPACE];
	struct iovec iov;
};

struct stun_server {
	int fd;
	char address[INET6_ADDRSTRLEN + 8];
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	/* Written by the thread only; read by the management thread. */
	_Atomic uint64_t answered_ipv4;
	_Atomic uint64_t answered_ipv6;
	_Atomic uint64_t dropped[STUN_VERDICT_COUNT];
	_Atomic uint64_t send_errors;
	_Atomic uint64_t recv_errors;
	struct stun_slot slots[STUN_BATCH];
	struct mmsghdr msgs[STUN_BATCH];
};

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static void format_address(const struct sockaddr_storage *ss, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, cap, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, cap, "[%s]:%u", host, ntohs(sin6->sin6_port));
	}
}

/* A socket of ss's family bound to it, or -1 with errno. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, zero = 0;
	int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/*
	 * Answers leave from the address the request came to (packet info
	 * echoed back), so a wildcard socket on a host with several addresses
	 * does not answer from one the client's NAT has never seen.
	 */
	int rc;
	if (ss->ss_family == AF_INET) {
		rc = setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
		rc = setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
		/* [::] is one socket for both families, whatever net.ipv6.bindv6only says. */
		if (rc == 0 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			rc = setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	}
	if (rc < 0 || bind(fd, (const struct sockaddr *)ss, len) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

struct stun_server *stun_server_bind(const char *listen, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char reason[160];

	if (stun_listen_parse(listen, &ss, &len, reason, sizeof(reason)) < 0) {
		snprintf(err, errlen, "stun.listen: %s", reason);
		return NULL;
	}
	int fd = bind_socket(&ss, len);
	if (fd < 0 && errno == EAFNOSUPPORT && listen[0] == ':') {
		/* ":PORT" on a kernel without IPv6: every IPv4 address then. */
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;
		memset(&ss, 0, sizeof(ss));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = port;
		len = sizeof(*sin);
		fd = bind_socket(&ss, len);
	}
	if (fd < 0) {
		snprintf(err, errlen, "STUN: cannot bind UDP %s: %s", listen, strerror(errno));
		return NULL;
	}

	struct stun_server *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		snprintf(err, errlen, "STUN: out of memory");
		return NULL;
	}
	s->fd = fd;
	/* The address actually bound: port 0 became a real one. */
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
		format_address(&ss, s->address, sizeof(s->address));
	else
		snprintf(s->address, sizeof(s->address), "%s", listen);
	return s;
}

/* Points every slot's header back at its buffers; recvmmsg shrinks the lengths. */
static void arm_for_recv(struct stun_server *s)
{
	for (int i = 0; i < STUN_BATCH; i++) {
		struct stun_slot *sl = &s->slots[i];
		struct msghdr *h = &s->msgs[i].msg_hdr;
		sl->iov = (struct iovec){ .iov_base = sl->in, .iov_len = sizeof(sl->in) };
		*h = (struct msghdr){
			.msg_name = &sl->peer,
			.msg_namelen = sizeof(sl->peer),
			.msg_iov = &sl->iov,
			.msg_iovlen = 1,
			.msg_control = sl->control,
			.msg_controllen = sizeof(sl->control),
		};
	}
}

/*
 * Turns the packet info of a request (where it was sent to) into the
 * control message that makes the answer leave from there. Leaves no
 * control message when the kernel gave none.
 */
static void set_reply_source(struct msghdr *h)
{
	struct cmsghdr *c;
	for (c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
			break;
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO)
			break;
	}
	if (!c) {
		h->msg_control = NULL;
		h->msg_controllen = 0;
		return;
	}
	/* Any interface the routing table picks; only the source address is pinned. */
	if (c->cmsg_level == IPPROTO_IP) {
		struct in_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		struct in6_pktinfo pi;
		memcpy(&pi, CMSG_DATA(c), sizeof(pi));
		pi.ipi6_ifindex = 0;
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	}
	/* Move it to the front of the buffer, alone. */
	if ((char *)c != (char *)h->msg_control)
		memmove(h->msg_control, c, c->cmsg_len);
	h->msg_controllen = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
}

static bool is_ipv6_client(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 &&
	       !IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* Answers what deserves it among n datagrams received; returns how many answers to send. */
static int prepare_answers(struct stun_server *s, int n, struct mmsghdr *out)
{
	int nout = 0;

	for (int i = 0; i < n; i++) {
		struct stun_slot *sl = &s->slots[i];
		struct msghdr *h = &s->msgs[i].msg_hdr;
		uint8_t txid[STUN_TXID_LEN];
		enum stun_verdict v = STUN_MALFORMED;

		if (!(h->msg_flags & MSG_TRUNC))
			v = stun_parse_binding_request(sl->in, s->msgs[i].msg_len, txid);
		if (v != STUN_OK) {
			count(&s->dropped[v]);
			continue;
		}
		size_t len = stun_build_binding_response(txid, (struct sockaddr *)&sl->peer,
							 sl->out, sizeof(sl->out));
		if (len == 0) {
			count(&s->send_errors);
			continue;
		}
		sl->iov = (struct iovec){ .iov_base = sl->out, .iov_len = len };
		set_reply_source(h);
		out[nout].msg_hdr = *h;
		out[nout].msg_len = 0;
		nout++;
	}
	return nout;
}

static void send_answers(struct stun_server *s, struct mmsghdr *out, int n)
{
	for (int sent = 0; sent < n;) {
		int r = sendmmsg(s->fd, out + sent, (unsigned)(n - sent), 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* This one failed (unreachable, no route ...): skip it, send the rest. */
			count(&s->send_errors);
			log_debug("STUN: send: %s", strerror(errno));
			sent++;
			continue;
		}
		for (int i = sent; i < sent + r; i++)
			count(is_ipv6_client(out[i].msg_hdr.msg_name) ? &s->answered_ipv6
								      : &s->answered_ipv4);
		sent += r;
	}
}

static void *stun_main(void *arg)
{
	struct stun_server *s = arg;
	struct mmsghdr out[STUN_BATCH];

	while (!atomic_load(&s->stopping)) {
		arm_for_recv(s);
		/* Blocks for the first datagram, then takes what else is queued. */
		int n = recvmmsg(s->fd, s->msgs, STUN_BATCH, MSG_WAITFORONE, NULL);
		if (atomic_load(&s->stopping))
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			count(&s->recv_errors);
			log_warn("STUN: receive: %s", strerror(errno));
			/* As derper: a second's pause, so a persistent error cannot spin. */
			sleep(1);
			continue;
		}
		int nout = prepare_answers(s, n, out);
		send_answers(s, out, nout);
	}
	return NULL;
}

int stun_server_start(struct stun_server *s, char *err, size_t errlen)
{
	int rc = pthread_create(&s->thread, NULL, stun_main, s);
	if (rc != 0) {
		snprintf(err, errlen, "STUN: cannot start its thread: %s", strerror(rc));
		return -1;
	}
	pthread_setname_np(s->thread, "hd-stun");
	s->started = true;
	log_info("STUN listening on UDP %s (answers Tailscale binding requests)", s->address);
	return 0;
}

void stun_server_stop(struct stun_server *s)
{
	if (!s)
		return;
	if (s->started) {
		atomic_store(&s->stopping, true);
		/*
		 * Shutting a UDP socket down wakes a thread blocked in recvmmsg
		 * (it returns 0), and any later call returns at once, so the
		 * flag cannot be missed.
		 */
		shutdown(s->fd, SHUT_RDWR);
		pthread_join(s->thread, NULL);
	}
	close(s->fd);
	free(s);
}

const char *stun_server_address(const struct stun_server *s)
{
	return s->address;
}

void stun_server_get_stats(const struct stun_server *s, struct stun_stats *out)
{
	struct stun_server *m = (struct stun_server *)s; /* atomic loads need non-const */

	memset(out, 0, sizeof(*out));
	out->answered_ipv4 = atomic_load_explicit(&m->answered_ipv4, memory_order_relaxed);
	out->answered_ipv6 = atomic_load_explicit(&m->answered_ipv6, memory_order_relaxed);
	for (int v = 0; v < STUN_VERDICT_COUNT; v++)
		out->dropped[v] = atomic_load_explicit(&m->dropped[v], memory_order_relaxed);
	out->send_errors = atomic_load_explicit(&m->send_errors, memory_order_relaxed);
	out->recv_errors = atomic_load_explicit(&m->recv_errors, memory_order_relaxed);
}
