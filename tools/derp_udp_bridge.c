// SPDX-License-Identifier: MIT
/*
 * derp_udp_bridge: carries one WireGuard peer's UDP datagrams over DERP, the
 * shape of Tailscale's DERP path (magicsock hands WireGuard's datagrams to a
 * DERP client when there is no direct path), with the project's own DERP
 * client, so that a kernel TCP transfer through wireguard-go can measure
 * what a relay does to the TCP flows it carries (perf/goodput.sh).
 *
 *   derp_udp_bridge genkey
 *       prints a fresh private key and its public key, in hex
 *   derp_udp_bridge --relay HOST:PORT --key PRIV --peer PUB --listen PORT --wg PORT
 *                   [--rate-mbit N] [--stall-ms S --period-ms P] [--rcvbuf BYTES]
 *                   [--seconds N]
 *       datagrams to 127.0.0.1:PORT (--listen) become SendPackets to the
 *       peer's key; RecvPackets from it become datagrams to 127.0.0.1:PORT
 *       (--wg, WireGuard's listen port). --rate-mbit reads the DERP
 *       connection no faster than N Mbit/s: a receiver that reads slowly,
 *       like a phone or a busy laptop, so the relay's queue for it fills.
 *       --stall-ms S --period-ms P: the reader stops reading for S ms of
 *       every P ms, like a receiver that gets the CPU only part of the time
 *       (a phone, a busy laptop): the relay must hold what arrives meanwhile.
 *       --rcvbuf sets the DERP socket's SO_RCVBUF (0: the kernel's default).
 *
 * It runs until SIGTERM/SIGINT or --seconds, then prints its counters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp_client.h"
#include "derp_frame.h"
#include "key.h"

#define UDP_BATCH  64
#define UDP_MAX	   65536
#define RATE_BURST 65536 /* bytes the slow reader may take at once */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

struct bridge {
	struct derp_client dc;
	int udp;
	struct sockaddr_in wg;
	uint8_t peer[KEY_LEN];
	uint64_t rate_bps; /* bytes per second read from DERP; 0 = unlimited */
	double tokens;
	uint64_t last_ns;
	uint64_t stall_ns, period_ns, start_ns; /* the reader is off S of every P */
	uint8_t *out;				/* SendPacket frames of one UDP batch */
	uint64_t udp_in, derp_out, derp_in, udp_out, udp_out_err;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: derp_udp_bridge genkey\n"
		"       derp_udp_bridge --relay HOST:PORT --key PRIV --peer PUB --listen PORT "
		"--wg PORT\n"
		"                       [--rate-mbit N] [--rcvbuf BYTES] [--seconds N]\n");
	return 2;
}

static int genkey(void)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	char a[KEY_HEX_LEN + 1], b[KEY_HEX_LEN + 1];
	key_generate(priv, pub);
	key_to_hex(priv, a);
	key_to_hex(pub, b);
	printf("%s %s\n", a, b);
	return 0;
}

static int udp_open(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "derp_udp_bridge: UDP 127.0.0.1:%u: %s\n", port, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Every datagram waiting on the UDP socket, as SendPackets in one write. */
static int udp_to_derp(struct bridge *b)
{
	static uint8_t bufs[UDP_BATCH][UDP_MAX];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < UDP_BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = UDP_MAX;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	int n = recvmmsg(b->udp, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	size_t off = 0;
	for (int i = 0; i < n; i++) {
		uint32_t len = msgs[i].msg_len;
		uint8_t *f = b->out + off;
		f[0] = DERP_FRAME_SEND_PACKET;
		uint32_t flen = htonl(KEY_LEN + len);
		memcpy(f + 1, &flen, 4);
		memcpy(f + DERP_FRAME_HDR_LEN, b->peer, KEY_LEN);
		memcpy(f + DERP_FRAME_HDR_LEN + KEY_LEN, bufs[i], len);
		off += DERP_FRAME_HDR_LEN + KEY_LEN + len;
	}
	b->udp_in += (uint64_t)n;
	if (derp_client_write_all(&b->dc, b->out, off) < 0)
		return -1;
	b->derp_out += (uint64_t)n;
	return 0;
}

static void refill(struct bridge *b)
{
	uint64_t t = now_ns();
	b->tokens += (double)(t - b->last_ns) * (double)b->rate_bps / 1e9;
	if (b->tokens > RATE_BURST)
		b->tokens = RATE_BURST;
	b->last_ns = t;
}

/* Nanoseconds the reader still stalls from now; 0 while it runs. */
static uint64_t stall_left(const struct bridge *b)
{
	if (!b->period_ns)
		return 0;
	uint64_t phase = (now_ns() - b->start_ns) % b->period_ns;
	return phase < b->stall_ns ? b->stall_ns - phase : 0;
}

/* Frames the DERP connection holds, while the reader's budget lasts. */
static int derp_to_udp(struct bridge *b)
{
	for (;;) {
		if (stall_left(b))
			return 0;
		if (b->rate_bps) {
			refill(b);
			if (b->tokens <= 0)
				return 0;
		}
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int r = derp_client_read_frame(&b->dc, 0, &type, &p, &len);
		if (r <= 0)
			return r;
		b->tokens -= DERP_FRAME_HDR_LEN + len;
		if (type != DERP_FRAME_RECV_PACKET || len < KEY_LEN)
			continue;
		b->derp_in++;
		if (sendto(b->udp, p + KEY_LEN, len - KEY_LEN, MSG_DONTWAIT,
			   (struct sockaddr *)&b->wg, sizeof(b->wg)) < 0)
			b->udp_out_err++; /* WireGuard's socket full: a loss, as on a real host */
		else
			b->udp_out++;
	}
}

/* Milliseconds until the reader may take bytes again (at least 1). */
static int wait_ms(const struct bridge *b)
{
	double ms = -b->tokens * 1000.0 / (double)b->rate_bps;
	return ms < 1 ? 1 : (int)ms + 1;
}

static int run(struct bridge *b, unsigned seconds)
{
	uint64_t end = seconds ? now_ns() + (uint64_t)seconds * 1000000000ull : UINT64_MAX;
	b->last_ns = now_ns();
	b->tokens = RATE_BURST;
	b->start_ns = b->last_ns;
	while (!stop && now_ns() < end) {
		uint64_t stall = stall_left(b);
		bool may_read = !stall && (!b->rate_bps || b->tokens > 0);
		struct pollfd pfd[2] = {
			{ .fd = b->udp, .events = POLLIN },
			{ .fd = b->dc.fd, .events = may_read ? POLLIN : 0 },
		};
		int timeout = 200;
		if (stall)
			timeout = (int)(stall / 1000000) + 1;
		else if (!may_read)
			timeout = wait_ms(b);
		int r = poll(pfd, 2, timeout);
		if (r < 0 && errno != EINTR)
			return -1;
		if (pfd[0].revents & POLLIN && udp_to_derp(b) < 0) {
			fprintf(stderr, "derp_udp_bridge: sending to the relay: %s\n",
				strerror(errno));
			return -1;
		}
		if (derp_to_udp(b) < 0) {
			fprintf(stderr, "derp_udp_bridge: relay connection ended\n");
			return -1;
		}
		if (b->rate_bps)
			refill(b);
	}
	return 0;
}

static int parse_hostport(const char *s, char *host, size_t hcap, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= hcap)
		return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = 0;
	char *end;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (*end || !p || p > 65535)
		return -1;
	*port = (uint16_t)p;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "genkey") == 0)
		return genkey();
	static const struct option opts[] = {
		{ "relay", required_argument, NULL, 'r' },
		{ "key", required_argument, NULL, 'k' },
		{ "peer", required_argument, NULL, 'p' },
		{ "listen", required_argument, NULL, 'l' },
		{ "wg", required_argument, NULL, 'w' },
		{ "rate-mbit", required_argument, NULL, 'R' },
		{ "rcvbuf", required_argument, NULL, 'b' },
		{ "stall-ms", required_argument, NULL, 'S' },
		{ "period-ms", required_argument, NULL, 'P' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	char host[256] = "";
	uint16_t relay_port = 0;
	uint8_t priv[KEY_LEN];
	bool have_key = false, have_peer = false;
	unsigned long listen_port = 0, wg_port = 0, rate_mbit = 0, rcvbuf = 0, seconds = 0;
	unsigned long stall_ms = 0, period_ms = 0;
	struct bridge b;
	memset(&b, 0, sizeof(b));
	b.udp = -1;
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		const char *v = optarg;
		switch (o) {
		case 'r':
			if (parse_hostport(v, host, sizeof(host), &relay_port) < 0)
				return usage();
			break;
		case 'k':
			have_key = key_from_hex(v, strlen(v), NULL, priv) == 0;
			break;
		case 'p':
			have_peer = key_from_hex(v, strlen(v), NULL, b.peer) == 0;
			break;
		case 'l':
			listen_port = strtoul(v, NULL, 10);
			break;
		case 'w':
			wg_port = strtoul(v, NULL, 10);
			break;
		case 'R':
			rate_mbit = strtoul(v, NULL, 10);
			break;
		case 'b':
			rcvbuf = strtoul(v, NULL, 10);
			break;
		case 's':
			seconds = strtoul(v, NULL, 10);
			break;
		case 'S':
			stall_ms = strtoul(v, NULL, 10);
			break;
		case 'P':
			period_ms = strtoul(v, NULL, 10);
			break;
		default:
			return usage();
		}
	}
	if (optind != argc || !relay_port || !have_key || !have_peer || !listen_port ||
	    listen_port > 65535 || !wg_port || wg_port > 65535 || stall_ms > period_ms ||
	    (stall_ms && stall_ms == period_ms))
		return usage();

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	b.rate_bps = (uint64_t)rate_mbit * 1000000 / 8;
	b.stall_ns = (uint64_t)stall_ms * 1000000;
	b.period_ns = stall_ms ? (uint64_t)period_ms * 1000000 : 0;
	b.wg.sin_family = AF_INET;
	b.wg.sin_port = htons((uint16_t)wg_port);
	b.wg.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b.out = malloc((size_t)UDP_BATCH * (DERP_FRAME_HDR_LEN + KEY_LEN + UDP_MAX));
	b.udp = udp_open((uint16_t)listen_port);
	if (!b.out || b.udp < 0)
		return 1;

	struct derp_client_opts co = { .private_key = priv };
	char err[256];
	if (derp_client_connect(&b.dc, host, relay_port, &co, err, sizeof(err)) < 0) {
		fprintf(stderr, "derp_udp_bridge: %s:%u: %s\n", host, relay_port, err);
		return 1;
	}
	if (rcvbuf) {
		int sz = (int)rcvbuf;
		setsockopt(b.dc.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	}
	printf("connected\n");
	fflush(stdout);
	int rc = run(&b, (unsigned)seconds);
	printf("udp_in %llu derp_out %llu derp_in %llu udp_out %llu udp_out_err %llu\n",
	       (unsigned long long)b.udp_in, (unsigned long long)b.derp_out,
	       (unsigned long long)b.derp_in, (unsigned long long)b.udp_out,
	       (unsigned long long)b.udp_out_err);
	derp_client_close(&b.dc);
	close(b.udp);
	free(b.out);
	return rc < 0 ? 1 : 0;
}
