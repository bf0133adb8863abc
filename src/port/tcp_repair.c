// SPDX-License-Identifier: MIT
/*
 * TCP_REPAIR export of an established socket (what CRIU does for a dump):
 * in repair mode the kernel lets us read both queues' sequence numbers and
 * contents, the window bookkeeping and the peer's MSS, and a close() then
 * drops the socket silently. The kernel sends nothing the peer could take
 * as the end of the connection; the userspace TCP carries on from the
 * snapshot.
 */
#include "tcp_repair.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errbuf.h"

/*
 * Times the receive side is read again when a packet that passed XDP just
 * before the steering went in reached the socket while we read it.
 */
#define SETTLE_TRIES 8

/* How far our TSvals continue ahead of the kernel's clock (see take_options). */
#define TS_LEAD_MS 1000u

uint32_t tcp_repair_clock_ms(void)
{
	struct timespec ts;

	/* The kernel's tcp_clock_ms(): ktime_get_ns() is CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* An address as the packets carry it; a v4-mapped IPv6 address is IPv4 on the wire. */
static void flow_addr(const struct sockaddr_storage *ss, uint8_t *family, uint8_t ip[16],
		      uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
		*family = AF_INET;
		memcpy(ip, &sin->sin_addr, 4);
		*port = sin->sin_port;
		return;
	}
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
	*port = sin6->sin6_port;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		*family = AF_INET;
		memcpy(ip, &sin6->sin6_addr.s6_addr[12], 4);
	} else {
		*family = AF_INET6;
		memcpy(ip, &sin6->sin6_addr, 16);
	}
}

int tcp_flow_of(int fd, struct tcp_flow *flow, char *err, size_t errlen)
{
	struct sockaddr_storage local, remote;
	socklen_t llen = sizeof(local), rlen = sizeof(remote);
	uint8_t rfamily;

	if (getsockname(fd, (struct sockaddr *)&local, &llen) < 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &rlen) < 0)
		return hd_err(err, errlen, "socket addresses: %s", strerror(errno));
	if (local.ss_family != AF_INET && local.ss_family != AF_INET6)
		return hd_err(err, errlen, "not an IP socket");
	memset(flow, 0, sizeof(*flow));
	flow_addr(&local, &flow->family, flow->local_ip, &flow->local_port);
	flow_addr(&remote, &rfamily, flow->remote_ip, &flow->remote_port);
	return 0;
}

static int set_queue(int fd, int queue)
{
	return setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &queue, sizeof(queue));
}

static int queue_seq(int fd, int queue, uint32_t *seq)
{
	socklen_t len = sizeof(*seq);

	if (set_queue(fd, queue) < 0)
		return -1;
	return getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, seq, &len);
}

/* Copies len bytes of one queue; in repair mode MSG_PEEK reads it without consuming. */
static int peek_queue(int fd, int queue, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (len == 0)
		return 0;
	uint8_t *buf = malloc(len);
	if (!buf)
		return -1;
	ssize_t n = set_queue(fd, queue) < 0 ? -1 : recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		int e = n < 0 ? errno : EAGAIN; /* short: the queue changed under us */
		free(buf);
		errno = e;
		return -1;
	}
	*out = buf;
	return 0;
}

static int ioctl_u32(int fd, unsigned long req, uint32_t *val)
{
	int v;

	if (ioctl(fd, req, &v) < 0)
		return -1;
	*val = (uint32_t)v;
	return 0;
}

/*
 * Whether bytes lie in the receive queue past the first inq: peeking from
 * offset inq (SO_PEEK_OFF, TCP since Linux 6.10) skips an urgent byte at
 * the mark and reads what follows it. Kernels without it: whether an
 * urgent byte is pending at all, by MSG_OOB.
 */
static bool urgent_ahead(int fd, uint32_t inq)
{
	int off = (int)inq, none = -1;
	uint8_t byte;

	if (setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &off, sizeof(off)) == 0) {
		ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		setsockopt(fd, SOL_SOCKET, SO_PEEK_OFF, &none, sizeof(none));
		return n > 0;
	}
	/* 1: an urgent byte waits; EAGAIN: its pointer came, the byte not yet. */
	return recv(fd, &byte, 1, MSG_OOB | MSG_PEEK | MSG_DONTWAIT) >= 0 || errno == EAGAIN;
}

/* The receive side: rcv_nxt and the bytes not yet read, consistent with each other. */
static int take_recv(int fd, struct tcp_snapshot *s, char *err, size_t errlen)
{
	for (int i = 0; i < SETTLE_TRIES; i++) {
		uint32_t seq, again, inq;
		if (queue_seq(fd, TCP_RECV_QUEUE, &seq) < 0 || ioctl_u32(fd, SIOCINQ, &inq) < 0)
			return hd_err(err, errlen, "receive queue: %s", strerror(errno));
		int peeked = peek_queue(fd, TCP_RECV_QUEUE, inq, &s->recv_queue);
		if (peeked < 0 && errno != EAGAIN)
			return hd_err(err, errlen, "receive queue: %s", strerror(errno));
		if (queue_seq(fd, TCP_RECV_QUEUE, &again) < 0)
			return hd_err(err, errlen, "receive queue: %s", strerror(errno));
		if (again != seq) {
			/* A segment that passed XDP before the steering landed: read again. */
			free(s->recv_queue);
			s->recv_queue = NULL;
			continue;
		}
		/*
		 * Nothing arrived, and still not every queued byte could be read, or
		 * bytes lie past what SIOCINQ counted: both mean an urgent byte
		 * (MSG_OOB) in the queue, where SIOCINQ and reads stop. A snapshot
		 * would lose the bytes after it: the connection stays on the kernel
		 * path.
		 */
		if (peeked < 0 || urgent_ahead(fd, inq))
			return hd_err(err, errlen, "receive queue: urgent data (MSG_OOB) in it");
		s->rcv_nxt = seq;
		s->recv_queue_len = inq;
		return 0;
	}
	return hd_err(err, errlen, "receive queue kept moving: is the flow steered?");
}

/* The send side: [snd_una, write_seq) is queued, [snd_una, snd_nxt) of it sent. */
static int take_send(int fd, struct tcp_snapshot *s, char *err, size_t errlen)
{
	uint32_t write_seq, outq, notsent;

	if (queue_seq(fd, TCP_SEND_QUEUE, &write_seq) < 0 || ioctl_u32(fd, SIOCOUTQ, &outq) < 0 ||
	    ioctl_u32(fd, SIOCOUTQNSD, &notsent) < 0)
		return hd_err(err, errlen, "send queue: %s", strerror(errno));
	s->snd_una = write_seq - outq;
	s->snd_nxt = write_seq - notsent;
	s->send_queue_len = outq;
	if (peek_queue(fd, TCP_SEND_QUEUE, outq, &s->send_queue) < 0)
		return hd_err(err, errlen, "send queue: %s", strerror(errno));
	return 0;
}

static int take_window(int fd, struct tcp_snapshot *s, char *err, size_t errlen)
{
	struct tcp_repair_window w;
	socklen_t len = sizeof(w);

	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &len) < 0)
		return hd_err(err, errlen, "TCP_REPAIR_WINDOW: %s", strerror(errno));
	s->snd_wl1 = w.snd_wl1;
	s->snd_wnd = w.snd_wnd;
	/* Linux keeps no SND.WL2: the last window update came with an ACK of at most snd_una. */
	s->snd_wl2 = s->snd_una;
	s->rcv_wnd = w.rcv_wnd;
	s->rcv_wup = w.rcv_wup;
	return 0;
}

/* Options, MSS and RTT: TCP_INFO, and TCP_MAXSEG (which in repair mode is the peer's MSS). */
static int take_options(int fd, const struct tcp_info *ti, struct tcp_snapshot *s, char *err,
			size_t errlen)
{
	int mss;
	uint32_t tsval;
	socklen_t len = sizeof(mss);

	if (getsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &len) < 0)
		return hd_err(err, errlen, "TCP_MAXSEG: %s", strerror(errno));
	s->mss = (uint16_t)mss;
	s->wscale_ok = ti->tcpi_options & TCPI_OPT_WSCALE;
	s->sack_ok = ti->tcpi_options & TCPI_OPT_SACK;
	s->ts_ok = ti->tcpi_options & TCPI_OPT_TIMESTAMPS;
	if (s->wscale_ok) {
		/* Linux names them from its side: snd_wscale is the peer's shift. */
		s->snd_wscale = ti->tcpi_rcv_wscale;
		s->rcv_wscale = ti->tcpi_snd_wscale;
	}
	s->srtt_us = ti->tcpi_rtt;
	s->rttvar_us = ti->tcpi_rttvar;
	if (s->ts_ok) {
		uint32_t before, after;
		do {
			before = tcp_repair_clock_ms();
			len = sizeof(tsval);
			if (getsockopt(fd, IPPROTO_TCP, TCP_TIMESTAMP, &tsval, &len) < 0)
				return hd_err(err, errlen, "TCP_TIMESTAMP: %s", strerror(errno));
			after = tcp_repair_clock_ms();
		} while (before != after); /* the offset is exact only within one tick */
		/*
		 * TCP_TIMESTAMP is the clock now, but the kernel stamps segments with
		 * their departure time, which pacing puts ahead of now (by up to
		 * about an RTT): the peer may have seen a larger TSval than tsval.
		 * Our TSvals must not go back (PAWS, RFC 7323), and a jump forward
		 * costs nothing, so they continue TS_LEAD_MS ahead.
		 */
		s->ts_offset = (int32_t)(tsval - after + TS_LEAD_MS);
		/* The kernel does not export ts_recent: the first segment steered to us sets it. */
		s->ts_recent = 0;
	}
	return 0;
}

int tcp_repair_take(int fd, struct tcp_snapshot *snap, char *err, size_t errlen)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int on = 1;

	memset(snap, 0, sizeof(*snap));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return hd_err(err, errlen, "TCP_INFO: %s", strerror(errno));
	if (ti.tcpi_state != TCP_ESTABLISHED)
		return hd_err(err, errlen, "connection not established (state %u)", ti.tcpi_state);
	if (tcp_flow_of(fd, &snap->flow, err, errlen) < 0)
		return -1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on)) < 0)
		return hd_err(err, errlen, "TCP_REPAIR: %s%s", strerror(errno),
			      errno == EPERM ? " (needs CAP_NET_ADMIN)" : "");
	if (take_send(fd, snap, err, errlen) < 0 || take_recv(fd, snap, err, errlen) < 0 ||
	    take_window(fd, snap, err, errlen) < 0 ||
	    take_options(fd, &ti, snap, err, errlen) < 0) {
		tcp_repair_abort(fd);
		tcp_snapshot_free(snap);
		return -1;
	}
	return 0;
}

void tcp_repair_close(int fd)
{
	/* In repair mode tcp_close() neither sends a FIN nor resets for unread data. */
	close(fd);
}

void tcp_repair_abort(int fd)
{
	int off = 0;

	set_queue(fd, TCP_NO_QUEUE);
	setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
}

void tcp_snapshot_free(struct tcp_snapshot *snap)
{
	free(snap->recv_queue);
	free(snap->send_queue);
	snap->recv_queue = NULL;
	snap->send_queue = NULL;
	snap->recv_queue_len = 0;
	snap->send_queue_len = 0;
}
