// SPDX-License-Identifier: MIT
/*
 * The kernel side of the bypass handoff, end to end (docs/bypass.md): two
 * network namespaces joined by a veth with two queues on each end, the
 * client on the kernel's TCP. For every connection the server steers the
 * flow to the XSK of the queue its SYN came in on, takes the socket with
 * TCP_REPAIR and closes it in repair mode. Checked:
 *  - the snapshot's numbers against the client's own (its SYN's MSS and
 *    window scale, the bytes it sent and received);
 *  - bytes the client sends before, during and after the move: the server
 *    read some, the snapshot's receive queue holds the rest the kernel
 *    had, the XSK gets everything after, on the owning queue, none lost;
 *  - the server's unsent bytes are in the snapshot's send queue;
 *  - a segment built from the snapshot (seq, ack, window, timestamps) is
 *    accepted by the client's kernel: its data shows in the client's recv,
 *    its ACK empties the client's send queue;
 *  - the kernel never answers the handed-off flow: no RST, no FIN (sniffed
 *    on the client's side).
 * IPv4 connections, or IPv6 with the argument "v6". Needs root (netns, XDP,
 * TCP_REPAIR); exits 77 (skipped) without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"
#include "nexthop.h"
#include "port_xsk.h"
#include "steer.h"
#include "tcp_repair.h"

#define SERVER_IP   "10.81.0.1"
#define CLIENT_IP   "10.81.0.2"
#define SERVER_IP6  "fd00:81::1"
#define CLIENT_IP6  "fd00:81::2"
#define PORT	    7100
#define QUEUES	    2
#define MIN_FLOWS   4
#define MAX_FLOWS   32
#define SERVER_SEND (256 * 1024) /* more than the client's small window takes */
#define PART	    1000	 /* client bytes per step */
#define REPLY_LEN   100		 /* data in the segment built from the snapshot */
#define WAIT_MS	    5000	 /* bound on every wait */
#define STREAM_LEN  (2u << 20)	 /* bytes the streaming client sends across its move */
#define STREAM_WAIT 30000	 /* ms: the bound on the streaming flow */

static char ns_server[32], ns_client[32];
static int family = AF_INET; /* of the connections moved: argv[1] "v6" for AF_INET6 */
static struct sockaddr_storage server_sa;
static socklen_t server_salen;
static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			failures++;                                          \
		}                                                            \
	} while (0)

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "test_handoff: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* The byte at offset i of a direction's stream: distinct per direction, never periodic in a
 * segment. */
static uint8_t pattern(uint32_t i, uint8_t dir)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ dir;
}

/* ---- namespaces ---- */

__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void cleanup(void)
{
	sh("ip netns del %s 2>/dev/null", ns_server);
	sh("ip netns del %s 2>/dev/null", ns_client);
}

/* The bound on the whole test: the namespaces go with it. */
static void on_alarm(int sig)
{
	(void)sig;
	fprintf(stderr, "test_handoff: timed out\n");
	cleanup();
	_exit(1);
}

static void enter(const char *ns)
{
	char path[64];

	snprintf(path, sizeof(path), "/run/netns/%s", ns);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		die("setns %s: %s", ns, strerror(errno));
	close(fd);
}

/*
 * Two queues each way; the client's TX checksums filled in (veth would hand
 * the XSK partial ones, see platform-notes.md), and no TX rehash on
 * retransmission, so a flow keeps its queue as it would under a NIC's RSS.
 */
static void setup_netns(void)
{
	snprintf(ns_server, sizeof(ns_server), "hdpS%d", getpid());
	snprintf(ns_client, sizeof(ns_client), "hdpC%d", getpid());
	atexit(cleanup);
	if (sh("ip netns add %s && ip netns add %s", ns_server, ns_client) ||
	    sh("ip -n %s link add vS numtxqueues %d numrxqueues %d type veth peer name vC "
	       "numtxqueues %d numrxqueues %d netns %s",
	       ns_server, QUEUES, QUEUES, QUEUES, QUEUES, ns_client) ||
	    sh("ip netns exec %s ethtool -L vS rx %d tx %d >/dev/null", ns_server, QUEUES,
	       QUEUES) ||
	    sh("ip netns exec %s ethtool -L vC rx %d tx %d >/dev/null", ns_client, QUEUES,
	       QUEUES) ||
	    sh("ip netns exec %s ethtool -K vC tx off >/dev/null", ns_client) ||
	    sh("ip netns exec %s sysctl -qw net.core.txrehash=0", ns_client) ||
	    sh("ip -n %s addr add " SERVER_IP6 "/64 dev vS nodad && ip -n %s addr add " CLIENT_IP6
	       "/64 dev vC nodad",
	       ns_server, ns_client) ||
	    sh("ip -n %s addr add " SERVER_IP "/24 dev vS && ip -n %s link set vS up && "
	       "ip -n %s link set lo up",
	       ns_server, ns_server, ns_server) ||
	    sh("ip -n %s addr add " CLIENT_IP "/24 dev vC && ip -n %s link set vC up && "
	       "ip -n %s link set lo up",
	       ns_client, ns_client, ns_client))
		die("cannot set up the namespaces");
}

/* ---- packets ---- */

struct seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint16_t mss; /* 0: no option */
	int wscale;   /* -1: no option */
	bool has_ts;
	uint32_t tsval, tsecr;
	const uint8_t *payload;
	uint32_t len;
};

/* Header fields at any alignment, network order. */
static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static void put32(uint8_t *p, uint32_t host)
{
	uint32_t v = htonl(host);

	memcpy(p, &v, 4);
}

/* An IPv4 TCP frame's fields, or false. */
static bool parse(const uint8_t *f, uint32_t flen, struct seg *s)
{
	const uint8_t *ip = f + 14, *t;
	uint32_t seglen; /* the TCP header and payload */

	if (flen >= 14 + 20 + 20 && f[12] == 0x08 && f[13] == 0x00) {
		uint32_t ihl = (ip[0] & 15u) * 4, tot = (uint32_t)(ip[2] << 8 | ip[3]);
		if (ip[9] != IPPROTO_TCP || tot > flen - 14 || ihl + 20 > tot)
			return false;
		t = ip + ihl;
		seglen = tot - ihl;
	} else if (flen >= 14 + 40 + 20 && f[12] == 0x86 && f[13] == 0xdd) {
		uint32_t plen = (uint32_t)(ip[4] << 8 | ip[5]);
		if (ip[6] != IPPROTO_TCP || plen > flen - 14 - 40 || plen < 20)
			return false;
		t = ip + 40;
		seglen = plen;
	} else {
		return false;
	}
	uint32_t doff = (uint32_t)(t[12] >> 4) * 4;
	if (doff < 20 || doff > seglen)
		return false;
	memset(s, 0, sizeof(*s));
	s->sport = (uint16_t)(t[0] << 8 | t[1]);
	s->dport = (uint16_t)(t[2] << 8 | t[3]);
	s->seq = get32(t + 4);
	s->ack = get32(t + 8);
	s->flags = t[13];
	s->win = (uint16_t)(t[14] << 8 | t[15]);
	s->wscale = -1;
	for (uint32_t o = 20; o < doff;) {
		uint8_t kind = t[o];
		if (kind == 0)
			break;
		if (kind == 1) {
			o++;
			continue;
		}
		if (o + 1 >= doff || t[o + 1] < 2 || o + t[o + 1] > doff)
			break;
		if (kind == 2 && t[o + 1] == 4)
			s->mss = (uint16_t)(t[o + 2] << 8 | t[o + 3]);
		if (kind == 3 && t[o + 1] == 3)
			s->wscale = t[o + 2];
		if (kind == 8 && t[o + 1] == 10) {
			s->has_ts = true;
			s->tsval = get32(t + o + 2);
			s->tsecr = get32(t + o + 6);
		}
		o += t[o + 1];
	}
	s->payload = t + doff;
	s->len = seglen - doff;
	return true;
}

static uint32_t sum16(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * Builds our segment (ACK|PSH, timestamps, payload) in a received frame's
 * buffer, addressed as the port layer's next hop says.
 */
/* The window our segments advertise at least (the streaming receiver raises it). */
static uint32_t min_window;

static uint32_t build_reply(uint8_t *f, const struct tcp_snapshot *snap, const struct nexthop *nh,
			    uint32_t seq, uint32_t ack, uint32_t tsecr, const uint8_t *data,
			    uint32_t len)
{
	memcpy(f, nh->dmac, 6);
	memcpy(f + 6, nh->smac, 6);

	bool v6 = snap->flow.family == AF_INET6;
	uint32_t iplen = v6 ? 40 : 20, alen = v6 ? 16 : 4, seglen = 32 + len;
	uint8_t *ip = f + 14, *t = ip + iplen;
	uint16_t c;
	memset(ip, 0, iplen + 32);
	if (v6) {
		f[12] = 0x86;
		f[13] = 0xdd;
		ip[0] = 0x60;
		ip[4] = (uint8_t)(seglen >> 8);
		ip[5] = (uint8_t)seglen;
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, snap->flow.local_ip, 16);
		memcpy(ip + 24, snap->flow.remote_ip, 16);
	} else {
		f[12] = 0x08;
		f[13] = 0x00;
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + seglen) >> 8);
		ip[3] = (uint8_t)(20 + seglen);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		memcpy(ip + 12, snap->flow.local_ip, 4);
		memcpy(ip + 16, snap->flow.remote_ip, 4);
		c = fold(sum16(ip, 20, 0));
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}

	memcpy(t, &snap->flow.local_port, 2);
	memcpy(t + 2, &snap->flow.remote_port, 2);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 8 << 4; /* 32 bytes: NOP NOP TS */
	t[13] = 0x18;	/* ACK PSH */
	uint32_t win =
	    (snap->rcv_wnd > min_window ? snap->rcv_wnd : min_window) >> snap->snd_wscale;
	win = win > 0xffff ? 0xffff : win;
	t[14] = (uint8_t)(win >> 8);
	t[15] = (uint8_t)win;
	t[20] = 1;
	t[21] = 1;
	t[22] = 8;
	t[23] = 10;
	put32(t + 24, tcp_repair_clock_ms() + (uint32_t)snap->ts_offset);
	put32(t + 28, tsecr);
	if (len)
		memcpy(t + 32, data, len);
	/* The pseudo-header: both addresses, the protocol, the segment's length. */
	uint32_t sum = sum16(snap->flow.local_ip, alen, 0);
	sum = sum16(snap->flow.remote_ip, alen, sum) + IPPROTO_TCP + seglen;
	c = fold(sum16(t, seglen, sum));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
	return 14 + iplen + seglen;
}

/* ---- the sniffer on the client's side ---- */

static int sniffer;

/* Every TCP segment of port PORT that crossed vC; the server's RST/FIN are counted. */
struct sniffed {
	bool syn_seen, synack_seen;
	uint16_t syn_mss;
	int syn_wscale;
	uint32_t client_isn, server_isn;
	uint32_t server_rst, server_fin, client_rst;
	uint32_t last_server_tsval;
};

static struct sniffed sniffs[MAX_FLOWS];
static uint16_t client_ports[MAX_FLOWS];
static int nflows;

static void sniff_drain(void)
{
	uint8_t buf[2048];
	struct seg s;
	ssize_t n;

	while ((n = recv(sniffer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (!parse(buf, (uint32_t)n, &s))
			continue;
		bool from_server = s.sport == PORT;
		uint16_t cport = from_server ? s.dport : s.sport;
		for (int i = 0; i < nflows; i++) {
			struct sniffed *x = &sniffs[i];
			if (client_ports[i] != cport)
				continue;
			if (!from_server && (s.flags & 0x02)) {
				x->syn_seen = true;
				x->syn_mss = s.mss;
				x->syn_wscale = s.wscale;
				x->client_isn = s.seq;
			}
			if (from_server && (s.flags & 0x12) == 0x12) {
				x->synack_seen = true;
				x->server_isn = s.seq;
			}
			if (from_server && (s.flags & 0x04))
				x->server_rst++;
			if (from_server && (s.flags & 0x01))
				x->server_fin++;
			if (!from_server && (s.flags & 0x04))
				x->client_rst++;
			if (from_server && s.has_ts)
				x->last_server_tsval = s.tsval;
		}
	}
}

/* ---- the XSKs ---- */

static struct port *xsks[QUEUES];
static int nl_server = -1; /* rtnetlink in the server's namespace, for the next hop */

/* What the XSKs received for one flow: payload laid out by stream offset from base. */
struct xsk_stream {
	uint32_t base; /* the snapshot's rcv_nxt */
	uint8_t data[4 * PART];
	bool have[4 * PART];
	uint32_t max_ack, last_tsval, frames, wrong_queue;
	bool ack_seen;
	struct port_frame keep; /* one frame held back to build the reply in */
	bool kept;
};

static void xsk_poll(uint16_t cport, uint32_t queue, struct xsk_stream *st)
{
	struct port_frame fr[64];

	for (uint32_t q = 0; q < QUEUES; q++) {
		unsigned int n = xsks[q]->ops->rx_burst(xsks[q], fr, 64);
		for (unsigned int i = 0; i < n; i++) {
			struct seg s;
			bool mine = parse(fr[i].data, fr[i].len, &s) && s.sport == cport;
			if (mine) {
				st->frames++;
				if (q != queue)
					st->wrong_queue++;
				if (s.has_ts)
					st->last_tsval = s.tsval;
				if (!st->ack_seen || (int32_t)(s.ack - st->max_ack) > 0)
					st->max_ack = s.ack;
				st->ack_seen = true;
				for (uint32_t b = 0; b < s.len; b++) {
					uint32_t off = s.seq + b - st->base;
					if (off < sizeof(st->data)) {
						st->data[off] = s.payload[b];
						st->have[off] = true;
					}
				}
				if (!st->kept && q == queue) {
					st->keep = fr[i];
					st->kept = true;
					continue;
				}
			}
			/* Other flows' frames (earlier flows' retransmissions) are dropped here. */
			xsks[q]->ops->free_burst(xsks[q], &fr[i], 1);
		}
		xsks[q]->ops->flush(xsks[q]);
	}
}

static bool contiguous(const struct xsk_stream *st, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++)
		if (!st->have[i])
			return false;
	return true;
}

/* ---- sockets ---- */

static void write_all(int fd, uint32_t from, uint32_t len, uint8_t dir)
{
	uint8_t buf[PART];

	for (uint32_t i = 0; i < len; i++)
		buf[i] = pattern(from + i, dir);
	if (write(fd, buf, len) != (ssize_t)len)
		die("client write: %s", strerror(errno));
}

static int inq(int fd)
{
	int n = 0;

	ioctl(fd, SIOCINQ, &n);
	return n;
}

static int outq(int fd)
{
	int n = 0;

	ioctl(fd, SIOCOUTQ, &n);
	return n;
}

/* Waits until get(fd) is want, bounded. */
static bool wait_for(int fd, int (*get)(int), int want)
{
	uint64_t end = now_ms() + WAIT_MS;

	while (now_ms() < end) {
		if (get(fd) == want)
			return true;
		usleep(1000);
	}
	return false;
}

/* Fills the server's send queue against the client's small window; returns the bytes queued. */
static uint32_t server_fill(int s)
{
	uint8_t buf[4096];
	uint32_t sent = 0;

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	while (sent < SERVER_SEND) {
		uint32_t n = SERVER_SEND - sent < sizeof(buf) ? SERVER_SEND - sent : sizeof(buf);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = pattern(sent + i, 0x5a);
		ssize_t w = write(s, buf, n);
		if (w <= 0)
			break;
		sent += (uint32_t)w;
	}
	return sent;
}

/*
 * Without CAP_NET_ADMIN (dropped in a child) a movable connection is
 * refused with that reason, TCP_REPAIR says so, and the socket is left as
 * it was (the parent moves it afterwards). Without a steering program on
 * its interface, it is refused too.
 */
static void check_refusals(int s, const struct steer *steer)
{
	uint32_t queue;

	CHECK(handoff_check(s, NULL, &queue) == HANDOFF_NO_XDP, "no steering: %s",
	      handoff_veto_name(handoff_check(s, NULL, &queue)));
	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
		struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
		struct tcp_snapshot snap;
		char err[256] = "";
		int bad = 0;

		syscall(SYS_capget, &hdr, data);
		data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &= ~CAP_TO_MASK(CAP_NET_ADMIN);
		if (syscall(SYS_capset, &hdr, data) < 0)
			_exit(2);
		if (handoff_check(s, steer, &queue) != HANDOFF_NO_CAP_NET_ADMIN)
			bad |= 4;
		if (tcp_repair_take(s, &snap, err, sizeof(err)) == 0 ||
		    !strstr(err, "CAP_NET_ADMIN"))
			bad |= 8;
		fprintf(stderr, "without CAP_NET_ADMIN: %s\n", err);
		_exit(bad);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "without CAP_NET_ADMIN: status %d",
	      status);
}

/* ---- one connection ---- */

static void move_one(int idx, int c, int s, struct steer *steer, bool split_steps)
{
	struct tcp_snapshot snap;
	char err[256];
	uint32_t queue;
	uint8_t buf[PART];
	struct xsk_stream *st = calloc(1, sizeof(*st));

	if (!st)
		die("out of memory");
	/* Server bytes the client's window cannot take: they stay in the send queue. */
	uint32_t queued = server_fill(s);
	usleep(20 * 1000);
	/* A: the server reads PART of 3 * PART; 2 * PART stay in its receive queue. */
	write_all(c, 0, PART, 0);
	write_all(c, PART, PART, 0);
	write_all(c, 2 * PART, PART, 0);
	CHECK(wait_for(s, inq, 3 * PART), "flow %d: the server got %d of %d bytes", idx, inq(s),
	      3 * PART);
	CHECK(read(s, buf, PART) == PART, "flow %d: server read", idx);
	for (uint32_t i = 0; i < PART; i++)
		CHECK(buf[i] == pattern(i, 0), "flow %d: byte %u read by the server", idx, i);

	enum handoff_veto veto = handoff_check(s, steer, &queue);
	CHECK(veto == HANDOFF_OK, "flow %d cannot move: %s", idx, handoff_veto_name(veto));
	if (veto != HANDOFF_OK)
		return;

	if (split_steps) {
		/* B arrives after the steering went in, before TCP_REPAIR: it must reach the XSK.
		 */
		CHECK(tcp_flow_of(s, &snap.flow, err, sizeof(err)) == 0, "%s", err);
		CHECK(steer_add(steer, &snap.flow, queue, err, sizeof(err)) == 0, "%s", err);
		write_all(c, 3 * PART, PART, 0);
		uint64_t end = now_ms() + WAIT_MS;
		while (steer_flow_packets(steer, &snap.flow) == 0 && now_ms() < end)
			usleep(1000);
		CHECK(tcp_repair_take(s, &snap, err, sizeof(err)) == 0, "flow %d: %s", idx, err);
		tcp_repair_close(s);
	} else {
		uint64_t t0 = now_us();
		CHECK(handoff_take(s, steer, queue, &snap, err, sizeof(err)) == 0, "flow %d: %s",
		      idx, err);
		printf("flow %d: handoff_take %llu us (send queue %u B, receive queue %u B)\n", idx,
		       (unsigned long long)(now_us() - t0), snap.send_queue_len,
		       snap.recv_queue_len);
		write_all(c, 3 * PART, PART, 0);
	}
	/* C: after the close. */
	write_all(c, 4 * PART, PART, 0);

	/* The snapshot against what the client said in its SYN and has seen. */
	CHECK(snap.flow.family == family, "flow %d: family %u", idx, snap.flow.family);
	sniff_drain();
	struct sniffed *x = &sniffs[idx];
	CHECK(x->syn_seen && x->synack_seen, "flow %d: handshake not sniffed", idx);
	CHECK(snap.mss == x->syn_mss, "flow %d: mss %u, the client's SYN said %u", idx, snap.mss,
	      x->syn_mss);
	CHECK(snap.wscale_ok && (int)snap.rcv_wscale == x->syn_wscale,
	      "flow %d: rcv_wscale %u, the client's SYN said %d", idx, snap.rcv_wscale,
	      x->syn_wscale);
	CHECK(snap.ts_ok && snap.sack_ok, "flow %d: timestamps/SACK not seen as negotiated", idx);
	CHECK(snap.rcv_nxt == x->client_isn + 1 + 3 * PART,
	      "flow %d: rcv_nxt %u, the client's stream is at %u", idx, snap.rcv_nxt,
	      x->client_isn + 1 + 3 * PART);
	CHECK(snap.recv_queue_len == 2 * PART, "flow %d: receive queue %u bytes", idx,
	      snap.recv_queue_len);
	for (uint32_t i = 0; i < snap.recv_queue_len && i < 2 * PART; i++)
		CHECK(snap.recv_queue[i] == pattern(PART + i, 0), "flow %d: receive queue byte %u",
		      idx, i);
	uint32_t una_off = snap.snd_una - (x->server_isn + 1);
	CHECK(una_off + snap.send_queue_len == queued,
	      "flow %d: send queue from %u, %u bytes; the server wrote %u", idx, una_off,
	      snap.send_queue_len, queued);
	CHECK((int32_t)(snap.snd_nxt - snap.snd_una) >= 0 &&
		  snap.snd_nxt - snap.snd_una <= snap.send_queue_len,
	      "flow %d: snd_nxt %u outside [snd_una %u, +%u]", idx, snap.snd_nxt, snap.snd_una,
	      snap.send_queue_len);
	for (uint32_t i = 0; i < snap.send_queue_len; i++)
		if (snap.send_queue[i] != pattern(una_off + i, 0x5a)) {
			CHECK(false, "flow %d: send queue byte %u", idx, i);
			break;
		}
	/* Our clock continues the kernel's: not behind the TSval the client last saw. */
	uint32_t tsval = tcp_repair_clock_ms() + (uint32_t)snap.ts_offset;
	CHECK((int32_t)(tsval - x->last_server_tsval) >= 0 &&
		  (int32_t)(tsval - x->last_server_tsval) < 10000,
	      "flow %d: TSval %u, the kernel's last %u", idx, tsval, x->last_server_tsval);

	/* B and C reach the XSK of the owning queue, from rcv_nxt on, none lost. */
	st->base = snap.rcv_nxt;
	uint64_t end = now_ms() + WAIT_MS;
	while (!contiguous(st, 2 * PART) && now_ms() < end) {
		xsk_poll(client_ports[idx], queue, st);
		usleep(1000);
	}
	CHECK(contiguous(st, 2 * PART), "flow %d: the XSK did not get all of B and C", idx);
	for (uint32_t i = 0; i < 2 * PART; i++)
		if (st->data[i] != pattern(3 * PART + i, 0)) {
			CHECK(false, "flow %d: XSK byte %u", idx, i);
			break;
		}
	CHECK(st->wrong_queue == 0, "flow %d: %u frames on a queue other than %u", idx,
	      st->wrong_queue, queue);

	/* The client reads what it has, opening its window: the update goes to the XSK. */
	uint32_t got = 0;
	ssize_t n;
	uint8_t *rbuf = malloc(SERVER_SEND);
	while (rbuf && (n = recv(c, rbuf + got, SERVER_SEND - got, MSG_DONTWAIT)) > 0)
		got += (uint32_t)n;
	for (uint32_t i = 0; rbuf && i < got; i++)
		if (rbuf[i] != pattern(i, 0x5a)) {
			CHECK(false, "flow %d: client byte %u", idx, i);
			break;
		}
	/* Every byte the client has was acked to the kernel or, after the move, to the XSK. */
	usleep(20 * 1000);
	xsk_poll(client_ports[idx], queue, st);
	uint32_t una = snap.snd_una;
	if (st->ack_seen && (int32_t)(st->max_ack - una) > 0)
		una = st->max_ack;
	CHECK(una == x->server_isn + 1 + got, "flow %d: acked up to %u, the client has %u bytes",
	      idx, una - x->server_isn - 1, got);

	/* A segment from the snapshot: the next unacked bytes, acking B and C. */
	CHECK(st->kept, "flow %d: no frame to build the reply in", idx);
	if (st->kept && rbuf && una - snap.snd_una + REPLY_LEN <= snap.send_queue_len) {
		struct port_frame *f = &st->keep;
		/* The next hop the kernel knows is where the client's segments came from. */
		struct nexthop nh;
		CHECK(nexthop_resolve(nl_server, family, snap.flow.remote_ip, &nh) == 0,
		      "flow %d: the client's next hop is not resolved", idx);
		CHECK(nh.ifindex == steer_ifindex(steer) && memcmp(nh.dmac, f->data + 6, 6) == 0 &&
			  memcmp(nh.smac, f->data, 6) == 0 &&
			  memcmp(nh.src, snap.flow.local_ip, family == AF_INET6 ? 16 : 4) == 0,
		      "flow %d: the next hop (ifindex %d) differs from the client's frames", idx,
		      nh.ifindex);
		f->len =
		    build_reply(f->data, &snap, &nh, una, snap.rcv_nxt + 2 * PART, st->last_tsval,
				snap.send_queue + (una - snap.snd_una), REPLY_LEN);
		CHECK(xsks[queue]->ops->tx_burst(xsks[queue], f, 1) == 1, "flow %d: TX", idx);
		st->kept = false;
		xsks[queue]->ops->flush(xsks[queue]);
		/* The client's kernel takes it: the data shows in its recv, its send queue empties.
		 */
		CHECK(wait_for(c, inq, REPLY_LEN), "flow %d: the client did not take the segment",
		      idx);
		CHECK(recv(c, buf, REPLY_LEN, MSG_DONTWAIT) == REPLY_LEN, "flow %d: client recv",
		      idx);
		for (uint32_t i = 0; i < REPLY_LEN; i++)
			CHECK(buf[i] == pattern(got + i, 0x5a), "flow %d: reply byte %u", idx, i);
		CHECK(wait_for(c, outq, 0), "flow %d: the client still has %d unacked bytes", idx,
		      outq(c));
	}
	if (st->kept)
		xsks[queue]->ops->free_burst(xsks[queue], &st->keep, 1);
	free(rbuf);
	tcp_snapshot_free(&snap);
	free(st);
}

/* A client connection to the server, its port recorded for the sniffer. */
static int client_connect(int rcvbuf)
{
	struct sockaddr_storage me;
	socklen_t mlen = sizeof(me);
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (c >= 0 && rcvbuf)
		setsockopt(c, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (c < 0 || connect(c, (struct sockaddr *)&server_sa, server_salen) < 0)
		die("connect: %s", strerror(errno));
	getsockname(c, (struct sockaddr *)&me, &mlen);
	client_ports[nflows] = ntohs(((struct sockaddr_in *)&me)->sin_port); /* same offset in v6 */
	return c;
}

/* ---- flows off the happy path ---- */

static int edge_fd[5], nedge;
static int kept_fd = -1; /* a server socket that stayed on the kernel path, closed at the end */

/* A new connection, its server socket and RX queue; the client's socket kept for the end. */
static int edge_connect(int lfd, const struct steer *steer, int *s, uint32_t *queue)
{
	int c = client_connect(0);

	nflows++;
	*s = accept(lfd, NULL, NULL);
	if (*s < 0 || handoff_check(*s, steer, queue) != HANDOFF_OK)
		die("edge flow: not movable");
	edge_fd[nedge++] = c;
	return c;
}

/* Polls the XSKs until PART bytes from base are in, bounded. */
static bool xsk_wait(uint16_t cport, uint32_t owner, struct xsk_stream *st, uint32_t base)
{
	uint64_t end = now_ms() + WAIT_MS;

	st->base = base;
	while (!contiguous(st, PART) && now_ms() < end) {
		xsk_poll(cport, owner, st);
		usleep(1000);
	}
	if (st->kept) {
		st->keep.port->ops->free_burst(st->keep.port, &st->keep, 1);
		st->kept = false;
	}
	return contiguous(st, PART);
}

/*
 * A flow whose owner is another queue's worker (what a changed RSS table
 * does): its segments still reach the XSK of the queue they arrive on,
 * counted as wrong_queue, for that worker to pass on.
 */
static void edge_wrong_queue(int lfd, struct steer *steer)
{
	struct tcp_snapshot snap;
	struct xsk_stream st = { 0 };
	uint64_t before[STEER_CNT_COUNT], after[STEER_CNT_COUNT];
	char err[256];
	uint32_t queue;
	int s, c = edge_connect(lfd, steer, &s, &queue);
	uint16_t cport = client_ports[nflows - 1];

	steer_counters(steer, before);
	CHECK(handoff_take(s, steer, queue ^ 1, &snap, err, sizeof(err)) == 0, "%s", err);
	write_all(c, 0, PART, 0);
	CHECK(xsk_wait(cport, queue ^ 1, &st, snap.rcv_nxt),
	      "wrong queue: the bytes did not reach the XSK of their queue");
	CHECK(st.wrong_queue == st.frames && st.frames > 0,
	      "wrong queue: %u of %u frames on queue %u", st.wrong_queue, st.frames, queue);
	steer_counters(steer, after);
	CHECK(after[STEER_CNT_WRONG_QUEUE] - before[STEER_CNT_WRONG_QUEUE] >= st.frames,
	      "wrong queue: counted %llu, %u frames",
	      (unsigned long long)(after[STEER_CNT_WRONG_QUEUE] - before[STEER_CNT_WRONG_QUEUE]),
	      st.frames);
	tcp_snapshot_free(&snap);
}

/*
 * A flow whose queue has no XSK (its worker is gone): its segments are
 * dropped and counted, never passed to the kernel (which would reset the
 * connection); with the XSK back, the client's retransmission arrives.
 */
static void edge_no_xsk(int lfd, struct steer *steer)
{
	struct tcp_snapshot snap;
	struct xsk_stream st = { 0 };
	uint64_t before[STEER_CNT_COUNT], now[STEER_CNT_COUNT];
	char err[256];
	uint32_t queue;
	int s, c = edge_connect(lfd, steer, &s, &queue);
	uint16_t cport = client_ports[nflows - 1];

	steer_counters(steer, before);
	steer_clear_xsk(steer, queue);
	CHECK(handoff_take(s, steer, queue, &snap, err, sizeof(err)) == 0, "%s", err);
	write_all(c, 0, PART, 0);
	uint64_t end = now_ms() + WAIT_MS;
	do {
		usleep(1000);
		steer_counters(steer, now);
	} while (now[STEER_CNT_NO_XSK] == before[STEER_CNT_NO_XSK] && now_ms() < end);
	CHECK(now[STEER_CNT_NO_XSK] > before[STEER_CNT_NO_XSK], "no XSK: no drop counted");
	sniff_drain();
	CHECK(sniffs[nflows - 1].server_rst == 0, "no XSK: the kernel answered with an RST");
	CHECK(steer_set_xsk(steer, queue, xsks[queue]->ops->fd(xsks[queue]), err, sizeof(err)) == 0,
	      "%s", err);
	CHECK(xsk_wait(cport, queue, &st, snap.rcv_nxt),
	      "no XSK: the client's retransmission did not arrive once the XSK was back");
	tcp_snapshot_free(&snap);
}

/*
 * A connection with urgent data queued cannot be taken (reads stop at the
 * urgent byte): the handoff is refused with the reason, the steering comes
 * out again, and the kernel socket carries on: the server reads the bytes
 * around the urgent one and the client's next ones.
 */
static void edge_urgent(int lfd, struct steer *steer)
{
	struct tcp_snapshot snap;
	struct tcp_flow flow;
	char err[256] = "";
	uint8_t buf[200], oob = 0xee;
	uint32_t queue, got = 0;
	int s, c = edge_connect(lfd, steer, &s, &queue);

	/* 100 bytes, the urgent one, 50 more: SIOCINQ and reads stop at the mark. */
	write_all(c, 0, 100, 0);
	CHECK(send(c, &oob, 1, MSG_OOB) == 1, "urgent: send: %s", strerror(errno));
	write_all(c, 100, 50, 0);
	/* All 151 acked: the server's kernel has them queued. */
	CHECK(wait_for(c, outq, 0), "urgent: %d bytes not acked", outq(c));
	CHECK(handoff_take(s, steer, queue, &snap, err, sizeof(err)) < 0,
	      "urgent: the handoff was not refused");
	CHECK(strstr(err, "urgent") != NULL, "urgent: reason '%s'", err);
	printf("urgent data: refused: %s\n", err);
	CHECK(tcp_flow_of(s, &flow, err, sizeof(err)) == 0 && steer_flow_packets(steer, &flow) == 0,
	      "urgent: the flow is still steered");
	write_all(c, 150, 50, 0);
	uint64_t end = now_ms() + WAIT_MS;
	while (got < sizeof(buf) && now_ms() < end) {
		ssize_t n = recv(s, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
		if (n > 0)
			got += (uint32_t)n;
		else
			usleep(1000);
	}
	/* The urgent byte is out of band: the stream is the 200 others. */
	CHECK(got == sizeof(buf), "urgent: the kernel socket delivered %u of %zu bytes", got,
	      sizeof(buf));
	for (uint32_t i = 0; i < got; i++)
		if (buf[i] != pattern(i, 0)) {
			CHECK(false, "urgent: byte %u", i);
			break;
		}
	kept_fd = s;
}

/*
 * A client that never stops sending: its bytes flow while the connection
 * moves. The server reads some on the kernel socket, then the handoff
 * runs (with its grace period) under the stream; afterwards the test is
 * the receiver: it takes the segments off the XSKs, acks the contiguous
 * prefix with segments built from the snapshot, and checks every byte of
 * the stream arrived once in order (the server's reads + the snapshot's
 * receive queue + the XSK), whatever was in flight during the move.
 */
static void edge_stream(int lfd, struct steer *steer)
{
	struct tcp_snapshot snap;
	char err[256];
	uint32_t queue, read_total = 0;
	int s, c = edge_connect(lfd, steer, &s, &queue);
	uint16_t cport = client_ports[nflows - 1];
	uint8_t *got = calloc(STREAM_LEN, 1), *have = calloc(STREAM_LEN, 1);
	uint8_t rbuf[16384];

	if (!got || !have)
		die("out of memory");
	pid_t pid = fork();
	if (pid == 0) {
		uint8_t wbuf[16384];
		prctl(PR_SET_PDEATHSIG,
		      SIGKILL); /* a write blocked on a closed window ends with us */
		for (uint32_t sent = 0; sent < STREAM_LEN;) {
			uint32_t n =
			    STREAM_LEN - sent < sizeof(wbuf) ? STREAM_LEN - sent : sizeof(wbuf);
			for (uint32_t i = 0; i < n; i++)
				wbuf[i] = pattern(sent + i, 0x33);
			ssize_t w = write(c, wbuf, n);
			if (w <= 0)
				_exit(1);
			sent += (uint32_t)w;
		}
		_exit(0);
	}
	/*
	 * The kernel path first: the server reads 256 KiB or more as fast as
	 * they come, so its window is open and the client mid-stream when the
	 * handoff starts.
	 */
	uint64_t end = now_ms() + WAIT_MS;
	while (read_total < 256 * 1024 && now_ms() < end) {
		ssize_t n = recv(s, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n <= 0) {
			usleep(100);
			continue;
		}
		for (ssize_t i = 0; i < n; i++)
			have[read_total + (uint32_t)i] =
			    rbuf[i] == pattern(read_total + (uint32_t)i, 0x33);
		read_total += (uint32_t)n;
	}
	CHECK(handoff_take(s, steer, queue, &snap, err, sizeof(err)) == 0, "stream: %s", err);
	uint32_t base = read_total + snap.recv_queue_len; /* the stream offset of rcv_nxt */
	for (uint32_t i = 0; i < snap.recv_queue_len && read_total + i < STREAM_LEN; i++)
		have[read_total + i] = snap.recv_queue[i] == pattern(read_total + i, 0x33);

	/* The receiver: segments off the XSKs, the contiguous prefix acked. */
	uint32_t prefix = base, last_tsval = 0, frames = 0, acks = 0;
	struct port_frame keep[64];
	unsigned int nkeep = 0;
	struct nexthop nh;
	CHECK(nexthop_resolve(nl_server, family, snap.flow.remote_ip, &nh) == 0,
	      "stream: next hop not resolved");
	min_window = 256 * 1024;
	end = now_ms() + STREAM_WAIT;
	while (prefix < STREAM_LEN && now_ms() < end) {
		struct port_frame fr[64];
		uint32_t before = prefix;
		for (uint32_t q = 0; q < QUEUES; q++) {
			unsigned int n = xsks[q]->ops->rx_burst(xsks[q], fr, 64);
			for (unsigned int i = 0; i < n; i++) {
				struct seg sg;
				if (parse(fr[i].data, fr[i].len, &sg) && sg.sport == cport) {
					frames++;
					if (sg.has_ts)
						last_tsval = sg.tsval;
					for (uint32_t b = 0; b < sg.len; b++) {
						uint32_t off = base + (sg.seq + b - snap.rcv_nxt);
						if (off >= base && off < STREAM_LEN && !have[off]) {
							got[off] = sg.payload[b];
							have[off] = 1;
						}
					}
					if (q == queue && nkeep < 64) {
						keep[nkeep++] = fr[i];
						continue;
					}
				}
				xsks[q]->ops->free_burst(xsks[q], &fr[i], 1);
			}
			xsks[q]->ops->flush(xsks[q]);
		}
		while (prefix < STREAM_LEN && have[prefix])
			prefix++;
		/* An ACK when the prefix grew, and now and then anyway (a lost ACK). */
		if (nkeep && (prefix != before || acks % 64 == 0)) {
			struct port_frame *f = &keep[--nkeep];
			f->len = build_reply(f->data, &snap, &nh, snap.snd_nxt,
					     snap.rcv_nxt + (prefix - base), last_tsval, NULL, 0);
			if (xsks[queue]->ops->tx_burst(xsks[queue], f, 1) != 1)
				xsks[queue]->ops->free_burst(xsks[queue], f, 1);
			xsks[queue]->ops->flush(xsks[queue]);
		}
		acks++;
		if (prefix == before)
			usleep(200);
	}
	xsks[queue]->ops->free_burst(xsks[queue], keep, nkeep);
	min_window = 0;
	int status = -1;
	if (prefix < STREAM_LEN)
		kill(pid, SIGKILL); /* its write may wait for a window that never opens */
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "stream: the client's writes failed");
	CHECK(prefix == STREAM_LEN, "stream: %u of %u bytes arrived in order", prefix, STREAM_LEN);
	uint32_t bad = 0;
	for (uint32_t i = 0; i < base && i < STREAM_LEN; i++)
		bad += !have[i];
	for (uint32_t i = base; i < prefix; i++)
		bad += got[i] != pattern(i, 0x33);
	CHECK(bad == 0, "stream: %u bytes wrong", bad);
	printf("stream: %u B on the kernel socket, %u B in the snapshot, %u B over %u XSK frames\n",
	       read_total, snap.recv_queue_len, prefix - base, frames);
	tcp_snapshot_free(&snap);
	free(got);
	free(have);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "v6") == 0)
		family = AF_INET6;
	char err[256];

	if (geteuid() != 0) {
		fprintf(stderr, "test_handoff: needs root (netns, XDP, TCP_REPAIR): skipped\n");
		return 77;
	}
	signal(SIGALRM, on_alarm);
	alarm(120);
	setup_netns();

	enter(ns_server);
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&server_sa;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(PORT);
		inet_pton(AF_INET6, SERVER_IP6, &sin6->sin6_addr);
		server_salen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&server_sa;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(PORT);
		inet_pton(AF_INET, SERVER_IP, &sin->sin_addr);
		server_salen = sizeof(*sin);
	}
	int lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&server_sa, server_salen) < 0 ||
	    listen(lfd, 64) < 0)
		die("listen: %s", strerror(errno));
	nl_server = nexthop_socket();
	struct steer *steer = steer_open("vS", err, sizeof(err));
	if (!steer)
		die("steer_open: %s", err);
	if (steer_watch_port(steer, htons(PORT), err, sizeof(err)) < 0)
		die("%s", err);
	for (uint32_t q = 0; q < QUEUES; q++) {
		xsks[q] = port_xsk_open(steer_ifindex(steer), "vS", (uint16_t)q, err, sizeof(err));
		if (!xsks[q] ||
		    steer_set_xsk(steer, q, xsks[q]->ops->fd(xsks[q]), err, sizeof(err)) < 0)
			die("queue %u: %s", q, err);
	}

	/* A loopback connection never moves, and says why. */
	int lo_l = socket(AF_INET, SOCK_STREAM, 0), lo_c = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t lolen = sizeof(lo);
	uint32_t q0;
	bind(lo_l, (struct sockaddr *)&lo, sizeof(lo));
	listen(lo_l, 1);
	getsockname(lo_l, (struct sockaddr *)&lo, &lolen);
	connect(lo_c, (struct sockaddr *)&lo, sizeof(lo));
	int lo_s = accept(lo_l, NULL, NULL);
	CHECK(handoff_check(lo_s, steer, &q0) == HANDOFF_LOOPBACK, "loopback: %s",
	      handoff_veto_name(handoff_check(lo_s, steer, &q0)));
	CHECK(handoff_check(lo_l, steer, &q0) == HANDOFF_NOT_ESTABLISHED, "listener");

	enter(ns_client);
	sniffer = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = (int)if_nametoindex("vC") };
	int big = 4 << 20;
	setsockopt(sniffer, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (sniffer < 0 || bind(sniffer, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("sniffer: %s", strerror(errno));

	/* Connections until both queues own some: the queue is the client's TX hash's pick. */
	int cfd[MAX_FLOWS], sfd[MAX_FLOWS], per_queue[QUEUES] = { 0 };
	uint32_t qs[MAX_FLOWS];
	while (nflows < MAX_FLOWS - 4 &&
	       (nflows < MIN_FLOWS || per_queue[0] == 0 || per_queue[1] == 0)) {
		/* A small window: the server's send queue keeps unsent bytes. */
		int c = client_connect(8192);
		sfd[nflows] = accept(lfd, NULL, NULL);
		cfd[nflows] = c;
		if (sfd[nflows] < 0 || handoff_check(sfd[nflows], steer, &qs[nflows]) != HANDOFF_OK)
			die("flow %d: not movable", nflows);
		per_queue[qs[nflows] % QUEUES]++;
		nflows++;
	}
	CHECK(per_queue[0] && per_queue[1], "flows on queue 0: %d, queue 1: %d", per_queue[0],
	      per_queue[1]);
	printf("%d flows: %d on queue 0, %d on queue 1\n", nflows, per_queue[0], per_queue[1]);

	check_refusals(sfd[0], steer);
	for (int i = 0; i < nflows; i++)
		move_one(i, cfd[i], sfd[i], steer, i % 2 == 0);

	uint64_t cnt[STEER_CNT_COUNT];
	steer_counters(steer, cnt);
	printf("steered %llu, wrong queue %llu, no xsk %llu, SYNs seen %llu\n",
	       (unsigned long long)cnt[STEER_CNT_TO_XSK],
	       (unsigned long long)cnt[STEER_CNT_WRONG_QUEUE],
	       (unsigned long long)cnt[STEER_CNT_NO_XSK],
	       (unsigned long long)cnt[STEER_CNT_SYN_SEEN]);
	CHECK(cnt[STEER_CNT_WRONG_QUEUE] == 0 && cnt[STEER_CNT_NO_XSK] == 0,
	      "segments on the wrong queue or without an XSK");
	CHECK(cnt[STEER_CNT_SYN_SEEN] >= (uint64_t)nflows, "SYNs seen %llu",
	      (unsigned long long)cnt[STEER_CNT_SYN_SEEN]);

	edge_wrong_queue(lfd, steer);
	edge_no_xsk(lfd, steer);
	edge_urgent(lfd, steer);
	edge_stream(lfd, steer);

	/* Long enough for the kernel to have said something (a delayed ACK, a probe, an RST). */
	usleep(300 * 1000);
	sniff_drain();
	for (int i = 0; i < nflows; i++) {
		CHECK(sniffs[i].server_rst == 0, "flow %d: %u RSTs from the server side", i,
		      sniffs[i].server_rst);
		CHECK(sniffs[i].server_fin == 0, "flow %d: %u FINs from the server side", i,
		      sniffs[i].server_fin);
		CHECK(sniffs[i].client_rst == 0, "flow %d: the client sent %u RSTs", i,
		      sniffs[i].client_rst);
	}
	for (int i = 0; i < nedge; i++)
		close(edge_fd[i]);
	if (kept_fd >= 0)
		close(kept_fd);

	for (int i = 0; i < nflows; i++)
		close(cfd[i]);
	for (uint32_t q = 0; q < QUEUES; q++)
		xsks[q]->ops->close(xsks[q]);
	steer_close(steer);
	if (failures) {
		fprintf(stderr, "test_handoff: %d checks failed\n", failures);
		return 1;
	}
	printf("test_handoff: OK\n");
	return 0;
}
