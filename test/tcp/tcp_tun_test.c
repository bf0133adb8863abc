// SPDX-License-Identifier: MIT
/*
 * The TCP engine against the kernel's real TCP, through a TUN device.
 *
 * Run inside a network namespace that tcp_tun.sh made, where hdtun0 holds
 * 10.77.0.1/24 and fd77::1/64: a kernel socket connects to 10.77.0.2 (or
 * fd77::2), routed into the TUN. This program answers the SYN itself (a
 * test-only responder that fills a tcp_snapshot from the SYN's options, as
 * TCP_REPAIR would from a kernel socket), and from then on the engine
 * carries the connection. Between the TUN and the engine sits a seeded
 * impairment layer (tcp_pair_link.h): loss, reordering, duplication, delay.
 *
 * Scenarios (argv[1]): transfer, impaired, inject, vanish, vanish-idle,
 * zero-window, partial;
 * argv[2]: 4 or 6.
 * Exit 0 on success; every failure says what and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tcp_pair_link.h"
#include "tcp_seq.h"

#define TUN_NAME    "hdtun0"
#define ENGINE_PORT 443
#define SEC	    1000000ull
#define MIB	    (1024ull * 1024)

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec / 1000;
}

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "tcp_tun_test: FAIL: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/*
 * The partial scenario: the TUN carries a virtio_net_hdr and offers TX
 * checksum offload (TUN_F_CSUM), so the kernel hands over CHECKSUM_PARTIAL
 * packets whose TCP checksum field holds only the pseudo-header sum, as a
 * local sender's packets reach XDP on veth. Set once in main().
 */
static bool vnet_mode;

static int tun_open(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		die("open /dev/net/tun: %s", strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet_mode ? IFF_VNET_HDR : 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TUN_NAME);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF %s: %s", TUN_NAME, strerror(errno));
	if (ioctl(fd, TUNSETOFFLOAD, vnet_mode ? TUN_F_CSUM : 0) < 0)
		die("TUNSETOFFLOAD: %s", strerror(errno));
	/*
	 * Attaching turns the carrier on, but linkwatch applies that up to a
	 * second later; a SYN sent before is dropped and the kernel waits 1 s
	 * to resend it. Wait (bounded) for the link to be up.
	 */
	for (int i = 0; i < 200; i++) {
		char state[16] = "";
		FILE *f = fopen("/sys/class/net/" TUN_NAME "/operstate", "r");
		if (f) {
			if (!fgets(state, sizeof(state), f))
				state[0] = 0;
			fclose(f);
		}
		if (strncmp(state, "down", 4) != 0 && state[0])
			break;
		usleep(10000);
	}
	return fd;
}

struct world {
	int family;
	int tun;
	int sock; /* the kernel's client socket */
	uint64_t now;
	struct tcp_conn conn;
	bool engine_up;
	struct link_dir to_engine, to_kernel;
	struct stream k2e, e2k; /* kernel -> engine, engine -> kernel */
	bool sock_shut, sock_eof, engine_closed;
	uint64_t tun_writes, tun_reads;
	uint64_t started;
	uint64_t partial_pkts;	 /* read with VIRTIO_NET_HDR_F_NEEDS_CSUM */
	uint64_t pause_at_bytes; /* the kernel stops reading at this many bytes... */
	uint64_t pause_us;	 /* ...for this long (0: never) */
	uint64_t paused_until;
};

static void tun_write(struct world *w, const uint8_t *pkt, size_t len)
{
	if (vnet_mode) {
		/* A zeroed virtio_net_hdr: our checksums are complete. */
		static uint8_t buf[sizeof(struct virtio_net_hdr) + TCP_PKT_MAX];
		memset(buf, 0, sizeof(struct virtio_net_hdr));
		memcpy(buf + sizeof(struct virtio_net_hdr), pkt, len);
		pkt = buf;
		len += sizeof(struct virtio_net_hdr);
	}
	if (write(w->tun, pkt, len) != (ssize_t)len && errno != EAGAIN)
		die("write tun: %s", strerror(errno));
	w->tun_writes++;
}

/*
 * The test's SYN/SYN-ACK responder: answers the kernel's SYN with the
 * options it offered, and fills the snapshot an established connection
 * would have, as the port layer's TCP_REPAIR capture does for a real one.
 */
static void answer_syn(struct world *w, const struct tcp_segment *syn, struct tcp_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->flow.family = (uint8_t)syn->family;
	size_t alen = syn->family == AF_INET ? 4 : 16;
	memcpy(snap->flow.local_ip, syn->dst_ip, alen);
	memcpy(snap->flow.remote_ip, syn->src_ip, alen);
	snap->flow.local_port = syn->dst_port;
	snap->flow.remote_port = syn->src_port;

	uint32_t iss = 0xfffff000u; /* wraps within the first 4 KiB sent */
	snap->snd_una = snap->snd_nxt = iss + 1;
	snap->rcv_nxt = snap->rcv_wup = syn->seq + 1;
	snap->snd_wl1 = syn->seq;
	snap->snd_wl2 = iss + 1;
	snap->snd_wnd = syn->win; /* a SYN's window is never scaled */
	snap->mss = syn->mss ? syn->mss : 536;
	if (syn->wscale >= 0) {
		snap->wscale_ok = true;
		snap->snd_wscale = 7;			 /* ours */
		snap->rcv_wscale = (uint8_t)syn->wscale; /* the peer's */
	}
	snap->sack_ok = syn->sack_permitted;
	snap->ts_ok = syn->has_ts;
	snap->ts_recent = syn->tsval;
	snap->ts_offset = 0x10000; /* any origin: the kernel only compares ours with ours */
	snap->rcv_wnd = 65535;

	struct tcp_out_opts o = { .mss = (uint16_t)(w->family == AF_INET ? 1460 : 1440),
				  .wscale = snap->wscale_ok ? 7 : -1,
				  .sack_permitted = snap->sack_ok,
				  .ts = snap->ts_ok,
				  .tsval = (uint32_t)(w->now / 1000) + (uint32_t)snap->ts_offset,
				  .tsecr = syn->tsval };
	uint8_t pkt[TCP_PKT_MAX];
	size_t n = tcp_build(pkt, &snap->flow, iss, snap->rcv_nxt, TCP_FLAG_SYN | TCP_FLAG_ACK,
			     65535, &o, 0, 0);
	tun_write(w, pkt, n);
}

static void engine_emit(void *ctx, const uint8_t *pkt, size_t len)
{
	struct world *w = ctx;
	link_emit(&w->to_kernel, pkt, len);
}

static void read_tun(struct world *w, const struct tcp_config *cfg)
{
	uint8_t pkt[65536];
	for (;;) {
		ssize_t n = read(w->tun, pkt, sizeof(pkt));
		if (n < 0) {
			if (errno == EAGAIN)
				return;
			die("read tun: %s", strerror(errno));
		}
		w->tun_reads++;
		uint8_t *ip = pkt;
		if (vnet_mode) {
			struct virtio_net_hdr vh;
			if ((size_t)n < sizeof(vh))
				continue;
			memcpy(&vh, pkt, sizeof(vh));
			if (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
				w->partial_pkts++;
			ip += sizeof(vh);
			n -= (ssize_t)sizeof(vh);
		}
		if (w->engine_up) {
			link_emit(&w->to_engine, ip, (size_t)n);
			continue;
		}
		struct tcp_segment seg;
		if (tcp_parse(ip, (size_t)n, vnet_mode, &seg) != TCP_PARSE_OK)
			continue; /* router solicitations and the like */
		if (seg.flags != TCP_FLAG_SYN || seg.dst_port != htons(ENGINE_PORT))
			continue;
		struct tcp_snapshot snap;
		answer_syn(w, &seg, &snap);
		int err = tcp_conn_init(&w->conn, &snap, cfg, engine_emit, w, w->now);
		if (err)
			die("tcp_conn_init: %d", err);
		w->engine_up = true;
		/*
		 * Stalls count from here: a SYN the kernel sent while the TUN's
		 * carrier was still coming up is the kernel's 1 s SYN timeout,
		 * not the engine's.
		 */
		w->k2e.last_progress = w->e2k.last_progress = w->now;
		printf("handoff after %.0f ms: mss %u wscale %d sack %d ts %d\n",
		       (double)(w->now - w->started) / 1000, snap.mss, seg.wscale, snap.sack_ok,
		       snap.ts_ok);
	}
}

static void kernel_io(struct world *w)
{
	uint8_t buf[65536];
	/* Write what the kernel socket takes. */
	while (w->k2e.written < w->k2e.total) {
		uint64_t want = w->k2e.total - w->k2e.written;
		size_t n = want < sizeof(buf) ? (size_t)want : sizeof(buf);
		for (size_t i = 0; i < n; i++)
			buf[i] = stream_byte(w->k2e.written + i, w->k2e.salt);
		ssize_t took = send(w->sock, buf, n, MSG_NOSIGNAL);
		if (took < 0) {
			if (errno == EAGAIN)
				break;
			if (errno == ENOTCONN)
				return;
			die("kernel send: %s", strerror(errno));
		}
		w->k2e.written += (uint64_t)took;
	}
	if (w->k2e.written == w->k2e.total && !w->sock_shut && w->k2e.total) {
		shutdown(w->sock, SHUT_WR);
		w->sock_shut = true;
	}
	if (w->pause_us && w->e2k.read >= w->pause_at_bytes && !w->paused_until) {
		w->paused_until = w->now + w->pause_us;
		w->e2k.last_progress = w->paused_until; /* a pause we asked for is no stall */
	}
	if (w->now < w->paused_until)
		return;
	for (;;) {
		ssize_t n = recv(w->sock, buf, sizeof(buf), 0);
		if (n == 0) {
			w->sock_eof = true;
			return;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == ENOTCONN)
				return;
			die("kernel recv: %s", strerror(errno));
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != stream_byte(w->e2k.read + (uint64_t)i, w->e2k.salt))
				w->e2k.corrupt = true;
		w->e2k.read += (uint64_t)n;
		if (w->now - w->e2k.last_progress > w->e2k.longest_stall)
			w->e2k.longest_stall = w->now - w->e2k.last_progress;
		w->e2k.last_progress = w->now;
	}
}

static void engine_io(struct world *w)
{
	if (!w->engine_up)
		return;
	stream_write(&w->e2k, &w->conn, w->now);
	stream_read(&w->k2e, &w->conn, w->now);
	if (!w->engine_closed && w->e2k.written == w->e2k.total && w->e2k.total) {
		tcp_close(&w->conn, w->now);
		w->engine_closed = true;
	}
}

/* One turn of the loop: I/O everywhere, then sleep until something is due. */
static void turn(struct world *w, const struct tcp_config *cfg)
{
	w->now = now_us();
	read_tun(w, cfg);
	if (w->engine_up) {
		link_deliver(&w->to_engine, &w->conn, w->now);
		if (tcp_next_deadline(&w->conn) <= w->now)
			tcp_timer(&w->conn, w->now);
	}
	engine_io(w);
	kernel_io(w);
	struct link_pkt p;
	while (link_pop(&w->to_kernel, w->now, &p))
		tun_write(w, p.data, p.len);

	uint64_t next = w->now + 10000;
	uint64_t cands[3] = { link_next(&w->to_engine), link_next(&w->to_kernel),
			      w->engine_up ? tcp_next_deadline(&w->conn) : UINT64_MAX };
	for (int i = 0; i < 3; i++)
		if (cands[i] < next)
			next = cands[i];
	int timeout = next > w->now ? (int)((next - w->now + 999) / 1000) : 0;
	struct pollfd pfd[2] = { { .fd = w->tun, .events = POLLIN },
				 { .fd = w->sock, .events = POLLIN } };
	if (w->k2e.written < w->k2e.total)
		pfd[1].events |= POLLOUT;
	poll(pfd, 2, timeout);
}

static void world_init(struct world *w, int family, const struct impair *imp, int rcvbuf)
{
	memset(w, 0, sizeof(*w));
	w->family = family;
	w->started = now_us();
	w->tun = tun_open();
	w->to_engine.imp = w->to_kernel.imp = *imp;
	w->to_engine.rng = imp->seed;
	w->to_kernel.rng = imp->seed * 31 + 7;
	w->to_engine.clock = w->to_kernel.clock = &w->now;

	w->sock = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (w->sock < 0)
		die("socket: %s", strerror(errno));
	if (rcvbuf && setsockopt(w->sock, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		die("SO_RCVBUF: %s", strerror(errno));
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(ENGINE_PORT);
		inet_pton(AF_INET, "10.77.0.2", &a->sin_addr);
		sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(ENGINE_PORT);
		inet_pton(AF_INET6, "fd77::2", &a->sin6_addr);
		sl = sizeof(*a);
	}
	if (connect(w->sock, (struct sockaddr *)&ss, sl) < 0 && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
}

static void world_free(struct world *w)
{
	if (w->engine_up)
		tcp_conn_free(&w->conn);
	close(w->sock);
	close(w->tun);
	link_free(&w->to_engine);
	link_free(&w->to_kernel);
}

static void print_stats(const char *name, struct world *w, uint64_t start)
{
	struct tcp_info_view info;
	tcp_info(&w->conn, &info);
	struct tcp_stats *s = &w->conn.stats;
	double secs = (double)(w->now - start) / 1e6;
	printf(
	    "%s: %.2f s, kernel->engine %llu B (%.1f MB/s), engine->kernel %llu B (%.1f MB/s); "
	    "longest stall %.0f/%.0f ms; engine: state %s srtt %u us cwnd %u, %llu retrans, "
	    "%llu rto, %llu fast, %llu ooo segs, %llu challenge acks, %llu oow acks, %llu bad "
	    "csum; "
	    "link: %llu/%llu dropped, %llu/%llu dup, %llu/%llu reordered\n",
	    name, secs, (unsigned long long)w->k2e.read, (double)w->k2e.read / secs / 1e6,
	    (unsigned long long)w->e2k.read, (double)w->e2k.read / secs / 1e6,
	    (double)w->k2e.longest_stall / 1000, (double)w->e2k.longest_stall / 1000,
	    tcp_state_name(info.state), info.srtt_us, info.cwnd,
	    (unsigned long long)s->retrans_segs, (unsigned long long)s->rto_timeouts,
	    (unsigned long long)s->fast_retrans, (unsigned long long)s->ooo_segs,
	    (unsigned long long)s->challenge_acks, (unsigned long long)s->oow_acks,
	    (unsigned long long)s->bad_csum, (unsigned long long)w->to_engine.dropped,
	    (unsigned long long)w->to_kernel.dropped, (unsigned long long)w->to_engine.duplicated,
	    (unsigned long long)w->to_kernel.duplicated, (unsigned long long)w->to_engine.reordered,
	    (unsigned long long)w->to_kernel.reordered);
}

/* The stall bound under impairment: three RTOs back to back at the 200 ms floor, and slack. */
#define STALL_BOUND_US (5 * SEC)

/* Transfers total bytes each way and closes both ends; inject adds forged segments midway. */
static int run_transfer(const char *name, int family, const struct impair *imp, uint64_t total,
			bool inject)
{
	struct tcp_config cfg;
	tcp_config_default(&cfg);
	cfg.allow_partial_csum = vnet_mode;
	struct world w;
	world_init(&w, family, imp, 0);
	w.k2e = (struct stream){ .total = total, .salt = 1 };
	w.e2k = (struct stream){ .total = total, .salt = 2 };
	uint64_t start = now_us(), limit = start + 120 * SEC;
	w.k2e.last_progress = w.e2k.last_progress = start;
	bool injected = false;
	uint64_t challenge_before = 0;
	while (!(w.k2e.read == total && w.e2k.read == total && w.sock_eof &&
		 (w.conn.state == TCPS_CLOSED || w.conn.state == TCPS_TIME_WAIT))) {
		if (!w.engine_up && w.now > start + 10 * SEC)
			die("%s: no SYN answered in 10 s", name);
		if (w.now > limit)
			die("%s: not done in 120 s (k2e %llu e2k %llu, state %s)", name,
			    (unsigned long long)w.k2e.read, (unsigned long long)w.e2k.read,
			    w.engine_up ? tcp_state_name(w.conn.state) : "no handoff");
		if (w.engine_up && w.conn.state == TCPS_CLOSED &&
		    w.conn.close_reason != TCP_CLOSE_NORMAL)
			die("%s: engine closed, reason %d", name, w.conn.close_reason);
		if (inject && !injected && w.k2e.read > total / 2) {
			/*
			 * Forged segments on the connection's 4-tuple, as a blind
			 * attacker would send them: an RST inside the window but
			 * not at rcv_nxt, a SYN, data far outside the window, and
			 * data at rcv_nxt with an ACK of bytes never sent. Any of
			 * them taken breaks the byte check or the connection.
			 */
			challenge_before = w.conn.stats.challenge_acks;
			uint32_t rn = w.conn.rcv_nxt;
			struct peer_seg rst = { .seq = rn + 1000, .flags = TCP_FLAG_RST };
			struct peer_seg syn = { .seq = rn + 5, .flags = TCP_FLAG_SYN, .win = 100 };
			struct peer_seg junk = { .seq = rn + 0x40000000u,
						 .ack = w.conn.snd_una,
						 .flags = TCP_FLAG_ACK,
						 .win = 100,
						 .data = "FORGED-BYTES",
						 .len = 12 };
			/* At rcv_nxt exactly, acking bytes never sent (RFC 5961 5.2). */
			struct peer_seg bad_ack = { .seq = rn,
						    .ack = w.conn.snd_max + 100000,
						    .flags = TCP_FLAG_ACK,
						    .win = 100,
						    .data = "FORGED",
						    .len = 6 };
			if (peer_send(&w.conn, &rst, w.now) != TCP_IN_DROPPED ||
			    peer_send(&w.conn, &syn, w.now) != TCP_IN_DROPPED ||
			    peer_send(&w.conn, &junk, w.now) != TCP_IN_DROPPED ||
			    peer_send(&w.conn, &bad_ack, w.now) != TCP_IN_DROPPED)
				die("%s: a forged segment was taken", name);
			if (w.conn.state == TCPS_CLOSED)
				die("%s: the forged RST closed the connection", name);
			injected = true;
		}
		turn(&w, &cfg);
	}
	w.now = now_us();
	print_stats(name, &w, start);
	if (w.k2e.corrupt || w.e2k.corrupt)
		die("%s: corrupt bytes", name);
	if (w.k2e.longest_stall > STALL_BOUND_US || w.e2k.longest_stall > STALL_BOUND_US)
		die("%s: a stall beyond the RTO bounds", name);
	if (w.conn.stats.bad_csum)
		die("%s: %llu packets with a bad checksum", name,
		    (unsigned long long)w.conn.stats.bad_csum);
	if (vnet_mode) {
		printf("%s: %llu CHECKSUM_PARTIAL packets taken\n", name,
		       (unsigned long long)w.partial_pkts);
		if (w.partial_pkts == 0)
			die("%s: the kernel sent no CHECKSUM_PARTIAL packet", name);
	}
	if (imp->drop_pm && w.to_engine.dropped + w.to_kernel.dropped == 0)
		die("%s: the impairment dropped nothing", name);
	if (inject) {
		if (!injected)
			die("%s: nothing injected", name);
		if (w.conn.stats.challenge_acks < challenge_before + 3)
			die("%s: no challenge ACKs for the forged RST, SYN and ACK", name);
	}
	world_free(&w);
	return 0;
}

/*
 * The kernel side vanishes mid-transfer. With the engine sending, its RTO
 * gives up after the retransmissions; with the engine only receiving
 * (idle), keepalive finds the dead peer.
 */
static int run_vanish(int family, bool engine_sends)
{
	struct tcp_config cfg;
	tcp_config_default(&cfg);
	cfg.rto_retries = 4;
	cfg.keepalive_idle_us = 1 * SEC;
	cfg.keepalive_intvl_us = SEC / 2;
	cfg.keepalive_probes = 3;
	struct impair imp = { .seed = 9 };
	struct world w;
	world_init(&w, family, &imp, 0);
	if (engine_sends)
		w.e2k = (struct stream){ .total = 1024 * MIB, .salt = 2 };
	else
		w.k2e = (struct stream){ .total = 2 * MIB, .salt = 1 };
	enum tcp_close_reason want = engine_sends ? TCP_CLOSE_RTO_TIMEOUT : TCP_CLOSE_KEEPALIVE;
	uint64_t start = now_us(), cut = 0;
	w.e2k.last_progress = w.k2e.last_progress = start;
	while (!w.engine_up || w.conn.state != TCPS_CLOSED) {
		if (w.now > start + 120 * SEC)
			die("vanish: engine still %s after 120 s",
			    w.engine_up ? tcp_state_name(w.conn.state) : "not up");
		if (!cut && (w.e2k.read > 1 * MIB || w.k2e.read == 2 * MIB)) {
			/* Both directions: the peer is gone without a FIN or RST. */
			w.to_engine.cut = w.to_kernel.cut = true;
			cut = now_us();
		}
		turn(&w, &cfg);
	}
	double after = (double)(now_us() - cut) / 1e6;
	printf("vanish (%s): engine closed %.1f s after the cut, reason %d, %llu RTOs, "
	       "%llu keepalive probes\n",
	       engine_sends ? "sending" : "idle", after, w.conn.close_reason,
	       (unsigned long long)w.conn.stats.rto_timeouts,
	       (unsigned long long)w.conn.stats.keepalive_probes);
	if (w.conn.close_reason != want)
		die("vanish: closed for reason %d, not %d", w.conn.close_reason, want);
	if (w.e2k.corrupt || w.k2e.corrupt)
		die("vanish: corrupt bytes");
	world_free(&w);
	return 0;
}

/*
 * The kernel as a slow reader: a small receive buffer, and no reading for
 * two seconds. Its window shuts; the engine's zero-window probes must be
 * answered by the real kernel and the stream must resume where it stopped.
 */
static int run_zero_window(int family)
{
	struct tcp_config cfg;
	tcp_config_default(&cfg);
	struct impair none = { .seed = 11 };
	struct world w;
	world_init(&w, family, &none, 4096);
	w.e2k = (struct stream){ .total = 1 * MIB, .salt = 2 };
	w.pause_at_bytes = 64 * 1024;
	w.pause_us = 2 * SEC;
	uint64_t start = now_us();
	w.e2k.last_progress = start;
	while (!(w.e2k.read == w.e2k.total && w.sock_eof)) {
		if (w.now > start + 120 * SEC)
			die("zero-window: not done in 120 s (%llu bytes, state %s)",
			    (unsigned long long)w.e2k.read,
			    w.engine_up ? tcp_state_name(w.conn.state) : "no handoff");
		if (w.engine_up && w.conn.state == TCPS_CLOSED &&
		    w.conn.close_reason != TCP_CLOSE_NORMAL)
			die("zero-window: engine closed, reason %d", w.conn.close_reason);
		turn(&w, &cfg);
	}
	w.now = now_us();
	print_stats("zero-window", &w, start);
	printf("zero-window: %llu probes\n", (unsigned long long)w.conn.stats.zero_window_probes);
	if (w.e2k.corrupt)
		die("zero-window: corrupt bytes");
	if (w.conn.stats.zero_window_probes == 0)
		die("zero-window: the window never shut long enough to probe");
	if (w.e2k.longest_stall > STALL_BOUND_US)
		die("zero-window: a stall of %llu us after the pause",
		    (unsigned long long)w.e2k.longest_stall);
	world_free(&w);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr,
			"usage: tcp_tun_test "
			"transfer|impaired|inject|vanish|vanish-idle|zero-window|partial 4|6\n");
		return 2;
	}
	int family = atoi(argv[2]) == 6 ? AF_INET6 : AF_INET;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "transfer") == 0) {
		struct impair none = { .seed = 1 };
		return run_transfer("transfer", family, &none, 8 * MIB, false);
	}
	if (strcmp(argv[1], "impaired") == 0) {
		int rc = 0;
		for (unsigned drop = 10; drop <= 50 && !rc; drop += 20) {
			struct impair imp = { .drop_pm = drop,
					      .dup_pm = 10,
					      .reorder_pm = 30,
					      .delay_us = 2000,
					      .reorder_us = 3000,
					      .seed = drop };
			char name[64];
			snprintf(name, sizeof(name), "impaired drop=%u/1000", drop);
			rc = run_transfer(name, family, &imp, 4 * MIB, false);
		}
		return rc;
	}
	if (strcmp(argv[1], "inject") == 0) {
		struct impair imp = { .drop_pm = 10, .delay_us = 1000, .seed = 3 };
		return run_transfer("inject", family, &imp, 4 * MIB, true);
	}
	if (strcmp(argv[1], "partial") == 0) {
		struct impair none = { .seed = 1 };
		vnet_mode = true;
		return run_transfer("partial", family, &none, 4 * MIB, false);
	}
	if (strcmp(argv[1], "vanish") == 0)
		return run_vanish(family, true);
	if (strcmp(argv[1], "vanish-idle") == 0)
		return run_vanish(family, false);
	if (strcmp(argv[1], "zero-window") == 0)
		return run_zero_window(family);
	fprintf(stderr, "unknown scenario %s\n", argv[1]);
	return 2;
}
