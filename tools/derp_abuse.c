// SPDX-License-Identifier: MIT
/*
 * derp_abuse: holds a relay under the hostile loads of docs/bounds.md, all
 * at once, for perf/abuse_soak.sh. Loopback only: it refuses any other
 * address, since its job is to hurt the relay it points at.
 *
 * Every attack is a set of slots that each hold one connection in a
 * harmful state. When the relay closes a slot (which is what a bound
 * does), the slot is counted and opened again, at most --rate opens per
 * second over all attacks, so the pressure stays on for the whole run.
 *
 *   same-key    authenticated connections that all use one private key
 *   partial     authenticated connections holding most of a 64 KiB frame
 *   client-info unauthenticated connections that announce a 256 KiB
 *               ClientInfo and send 64 KiB of it
 *   http-hold   an HTTP request head dribbled one line a second
 *   idle-tcp    idle TCP connections to the metrics port
 *   slow-reader a receiver that never reads, flooded by its own sender
 *
 * Prints the same-key attack's public key first (as "same-key nodekey:..."),
 * and one line per attack at the end: slots, opens, closes by the relay,
 * failed opens. Exit 0, or 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp_client.h"
#include "derp_frame.h"
#include "key.h"

enum attack {
	ATTACK_SAME_KEY,
	ATTACK_PARTIAL,
	ATTACK_CLIENT_INFO,
	ATTACK_HTTP_HOLD,
	ATTACK_IDLE_TCP,
	ATTACK_SLOW_READER,
	ATTACK_COUNT,
};

static const char *const attack_names[ATTACK_COUNT] = {
	"same-key", "partial", "client-info", "http-hold", "idle-tcp", "slow-reader",
};

struct slot {
	enum attack kind;
	bool open;
	int fd;		       /* the socket polled for close */
	struct derp_client dc; /* for the kinds that complete a handshake */
	struct derp_client tx; /* slow-reader: the sender flooding dc */
	int64_t next_step_ms;  /* http-hold: when the next line goes out */
};

struct attack_stats {
	unsigned slots;
	unsigned long opens;
	unsigned long closed_by_relay;
	unsigned long failed_opens;
};

/* How often a slow reader reads 64 KiB. */
#define SLOW_READ_PERIOD_MS 3000

static volatile sig_atomic_t stop;
static const char *server = "127.0.0.1";
static uint16_t port = 3340;
static uint16_t metrics_port;
/*
 * Attackers connect from 127.0.1.1 .. 127.0.1.N, one source per slot in
 * turn (0 = the kernel's choice, 127.0.0.1): apart from honest clients on
 * 127.0.0.1, so that the per-source bounds meet the attackers, and spread
 * over N sources, so that the global ones (handshake memory) are reached too.
 */
static unsigned nsources;
static uint8_t same_key_priv[KEY_LEN];
static struct attack_stats stats[ATTACK_COUNT];
static uint8_t scratch[64 * 1024];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* The source address of the next slot opened, as text; NULL for the kernel's choice. */
static const char *next_source(void)
{
	static char text[INET_ADDRSTRLEN + 4];
	static unsigned turn;

	if (nsources == 0)
		return NULL;
	snprintf(text, sizeof(text), "127.0.1.%u", (unsigned)(uint8_t)(1 + turn++ % nsources));
	return text;
}

/* A blocking TCP connect to server:p from source, switched to nonblocking; -1 on failure. */
static int tcp_connect(uint16_t p, const char *source)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p) };
	struct sockaddr_in from = { .sin_family = AF_INET };
	int fd;

	if (inet_pton(AF_INET, server, &sa.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (source && (inet_pton(AF_INET, source, &from.sin_addr) != 1 ||
		       bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0)) {
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, 2000) <= 0)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int handshake(struct derp_client *c, const uint8_t *priv)
{
	struct derp_client_opts opts = { .private_key = priv,
					 .timeout_ms = 3000,
					 .bind_addr = next_source() };
	char err[256];

	return derp_client_connect(c, server, port, &opts, err, sizeof(err));
}

/*
 * The frame header of a SendPacket of 64 KiB to a random key and all but
 * the last KiB of it: the relay must hold it (or bound it) until the rest
 * comes, which it never does.
 */
static int open_partial(struct slot *s)
{
	uint8_t hdr[DERP_FRAME_HDR_LEN];
	uint32_t len = KEY_LEN + 65000;

	if (handshake(&s->dc, NULL) < 0)
		return -1;
	derp_frame_header_put(hdr, DERP_FRAME_SEND_PACKET, len);
	memset(scratch, 0x5a, sizeof(scratch));
	if (derp_client_write_all(&s->dc, hdr, sizeof(hdr)) < 0 ||
	    derp_client_write_all(&s->dc, scratch, len - 1024) < 0)
		return -1;
	derp_client_trim(&s->dc);
	s->fd = s->dc.fd;
	return 0;
}

/* The upgrade, then a ClientInfo frame announced at the protocol's maximum. */
static int open_client_info(struct slot *s)
{
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: relay\r\nUpgrade: DERP\r\n"
				  "Connection: Upgrade\r\n\r\n";
	uint8_t hdr[DERP_FRAME_HDR_LEN];

	s->fd = tcp_connect(port, next_source());
	if (s->fd < 0)
		return -1;
	derp_frame_header_put(hdr, DERP_FRAME_CLIENT_INFO, DERP_CLIENT_INFO_MAX);
	memset(scratch, 0xa5, sizeof(scratch));
	if (send_all(s->fd, req, sizeof(req) - 1) < 0 || send_all(s->fd, hdr, sizeof(hdr)) < 0 ||
	    send_all(s->fd, scratch, sizeof(scratch)) < 0)
		return -1;
	return 0;
}

static int open_slow_reader(struct slot *s)
{
	if (handshake(&s->dc, NULL) < 0 || handshake(&s->tx, NULL) < 0)
		return -1;
	s->fd = s->dc.fd;
	s->next_step_ms = now_ms() + SLOW_READ_PERIOD_MS;
	return 0;
}

static int slot_open(struct slot *s)
{
	memset(&s->dc, 0, sizeof(s->dc));
	memset(&s->tx, 0, sizeof(s->tx));
	s->dc.fd = s->tx.fd = s->fd = -1;
	switch (s->kind) {
	case ATTACK_SAME_KEY:
		if (handshake(&s->dc, same_key_priv) < 0)
			return -1;
		derp_client_trim(&s->dc);
		s->fd = s->dc.fd;
		return 0;
	case ATTACK_PARTIAL:
		return open_partial(s);
	case ATTACK_CLIENT_INFO:
		return open_client_info(s);
	case ATTACK_HTTP_HOLD:
		s->fd = tcp_connect(port, next_source());
		s->next_step_ms = 0;
		return s->fd < 0 ? -1 : 0;
	case ATTACK_IDLE_TCP:
		s->fd = tcp_connect(metrics_port, next_source());
		return s->fd < 0 ? -1 : 0;
	case ATTACK_SLOW_READER:
		return open_slow_reader(s);
	case ATTACK_COUNT:
		break;
	}
	return -1;
}

static void slot_close(struct slot *s)
{
	if (s->dc.fd >= 0 || s->dc.rbuf || s->dc.ssl)
		derp_client_close(&s->dc);
	else if (s->fd >= 0)
		close(s->fd);
	if (s->tx.fd >= 0 || s->tx.rbuf)
		derp_client_close(&s->tx);
	s->fd = s->dc.fd = s->tx.fd = -1;
	s->open = false;
}

/* http-hold: one more header line every second, never the blank line. */
static int http_hold_step(struct slot *s, int64_t now)
{
	static const char first[] = "GET /derp HTTP/1.1\r\n";
	static const char more[] = "X-Hold: 1\r\n";
	bool is_first = s->next_step_ms == 0;

	if (now < s->next_step_ms)
		return 0;
	s->next_step_ms = now + 1000;
	if (is_first)
		return send_all(s->fd, first, sizeof(first) - 1);
	return send_all(s->fd, more, sizeof(more) - 1);
}

/*
 * slow-reader: the sender fills the receiver's queue without blocking; the
 * receiver reads one socket buffer's worth every few seconds, like a phone on
 * a bad link (and so that the relay's FIN, queued behind the data, arrives).
 */
static int slow_reader_step(struct slot *s, int64_t now)
{
	uint8_t frame[DERP_FRAME_HDR_LEN + KEY_LEN + 1200];
	size_t n = derp_build_send_packet(frame, sizeof(frame), s->dc.pub, scratch, 1200);

	if (now >= s->next_step_ms) {
		ssize_t r = recv(s->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			return -1;
		s->next_step_ms = now + SLOW_READ_PERIOD_MS;
	}
	for (int i = 0; i < 16; i++) {
		ssize_t w = derp_client_send_some(&s->tx, frame, n);

		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		if ((size_t)w < n && derp_client_write_all(&s->tx, frame + w, n - (size_t)w) < 0)
			return -1;
	}
	return 0;
}

/*
 * True once the relay closed the slot. Bytes the relay sends are read and
 * dropped, except on a slow reader, whose point is not to read: there only
 * an RDHUP or error counts.
 */
static bool slot_closed_by_relay(struct slot *s, short revents)
{
	if (revents & (POLLERR | POLLHUP | POLLRDHUP))
		return true;
	if (!(revents & POLLIN) || s->kind == ATTACK_SLOW_READER)
		return false;
	for (;;) {
		ssize_t n = recv(s->fd, scratch, sizeof(scratch), MSG_DONTWAIT);

		if (n == 0)
			return true;
		if (n < 0)
			return errno != EAGAIN && errno != EINTR;
	}
}

static int run(struct slot *slots, size_t nslots, unsigned rate, unsigned seconds)
{
	struct pollfd *pfds = calloc(nslots, sizeof(*pfds));
	int64_t end = now_ms() + (int64_t)seconds * 1000;
	size_t next_open = 0;

	if (!pfds)
		return -1;
	while (!stop && now_ms() < end) {
		int64_t tick = now_ms();
		unsigned budget = rate / 10 ? rate / 10 : 1;

		/* Open (or reopen) slots, round robin, within the per-tick budget. */
		for (size_t i = 0; i < nslots && budget > 0 && now_ms() - tick < 100; i++) {
			struct slot *s = &slots[next_open];

			next_open = (next_open + 1) % nslots;
			if (s->open)
				continue;
			budget--;
			if (slot_open(s) < 0) {
				stats[s->kind].failed_opens++;
				slot_close(s);
				continue;
			}
			s->open = true;
			stats[s->kind].opens++;
		}
		for (size_t i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			short ev = s->kind == ATTACK_SLOW_READER ? POLLRDHUP : POLLIN | POLLRDHUP;

			pfds[i].fd = s->open ? s->fd : -1;
			pfds[i].events = ev;
			pfds[i].revents = 0;
		}
		if (poll(pfds, nslots, 100) < 0 && errno != EINTR)
			break;
		for (size_t i = 0; i < nslots; i++) {
			struct slot *s = &slots[i];
			int rc = 0;

			if (!s->open)
				continue;
			if (slot_closed_by_relay(s, pfds[i].revents))
				rc = -1;
			else if (s->kind == ATTACK_HTTP_HOLD)
				rc = http_hold_step(s, now_ms());
			else if (s->kind == ATTACK_SLOW_READER)
				rc = slow_reader_step(s, now_ms());
			if (rc < 0) {
				stats[s->kind].closed_by_relay++;
				slot_close(s);
			}
		}
	}
	free(pfds);
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: derp_abuse [--server 127.x.y.z] [--port N] [--metrics-port N]\n"
		"                  [--duration SEC] [--rate OPENS_PER_SEC] [--sources N]\n"
		"                  [--same-key N] [--partial N] [--client-info N]\n"
		"                  [--http-hold N] [--idle-tcp N] [--slow-reader N]\n"
		"Holds N connections of each attack against a relay on loopback,\n"
		"reopening those the relay closes, and reports what the relay did.\n"
		"--sources N: connect from 127.0.1.1 .. 127.0.1.N in turn (default: 127.0.0.1).\n");
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *s == '\0' || *end != '\0' || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	unsigned duration = 60, rate = 500, v;
	struct in_addr addr;
	struct slot *slots;
	size_t nslots = 0, k = 0;

	for (int i = 1; i < argc; i++) {
		const char *opt = argv[i];
		int kind = -1;

		if (!strcmp(opt, "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		const char *arg = argv[++i];

		if (!strcmp(opt, "--server")) {
			server = arg;
			continue;
		}
		for (int a = 0; a < ATTACK_COUNT; a++)
			if (!strncmp(opt, "--", 2) && !strcmp(opt + 2, attack_names[a]))
				kind = a;
		if (parse_uint(arg, 100000, &v) < 0) {
			fprintf(stderr, "derp_abuse: %s needs a number up to 100000, not '%s'\n",
				opt, arg);
			return 2;
		}
		if (kind >= 0)
			stats[kind].slots = v;
		else if (!strcmp(opt, "--port") && v > 0 && v < 65536)
			port = (uint16_t)v;
		else if (!strcmp(opt, "--metrics-port") && v > 0 && v < 65536)
			metrics_port = (uint16_t)v;
		else if (!strcmp(opt, "--duration") && v > 0)
			duration = v;
		else if (!strcmp(opt, "--rate") && v > 0)
			rate = v;
		else if (!strcmp(opt, "--sources") && v <= 254)
			nsources = v;
		else {
			fprintf(stderr, "derp_abuse: unknown option or bad value: %s %s\n", opt,
				arg);
			usage(stderr);
			return 2;
		}
	}
	/* Loopback only: this tool exists to hurt the relay it points at. */
	if (inet_pton(AF_INET, server, &addr) != 1 || (ntohl(addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "derp_abuse: --server must be an IPv4 loopback address, not '%s'\n",
			server);
		return 2;
	}
	if (stats[ATTACK_IDLE_TCP].slots > 0 && metrics_port == 0) {
		fprintf(stderr, "derp_abuse: --idle-tcp needs --metrics-port\n");
		return 2;
	}
	for (int a = 0; a < ATTACK_COUNT; a++)
		nslots += stats[a].slots;
	if (nslots == 0) {
		fprintf(stderr, "derp_abuse: no attack chosen\n");
		usage(stderr);
		return 2;
	}
	slots = calloc(nslots, sizeof(*slots));
	if (!slots) {
		fprintf(stderr, "derp_abuse: out of memory\n");
		return 1;
	}
	for (int a = 0; a < ATTACK_COUNT; a++)
		for (unsigned i = 0; i < stats[a].slots; i++) {
			slots[k].kind = (enum attack)a;
			slots[k].fd = slots[k].dc.fd = slots[k].tx.fd = -1;
			k++;
		}
	key_generate(same_key_priv, scratch);
	if (stats[ATTACK_SAME_KEY].slots > 0) {
		char nodekey[8 + KEY_HEX_LEN + 1];

		/* For the soak's `hdcli peer close` of the crowded key. */
		key_to_nodekey(scratch, nodekey);
		printf("same-key %s\n", nodekey);
		fflush(stdout);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	run(slots, nslots, rate, duration);

	for (size_t i = 0; i < nslots; i++)
		if (slots[i].open)
			slot_close(&slots[i]);
	free(slots);
	printf("%-12s %7s %9s %16s %13s\n", "attack", "slots", "opens", "closed_by_relay",
	       "failed_opens");
	for (int a = 0; a < ATTACK_COUNT; a++)
		if (stats[a].slots > 0)
			printf("%-12s %7u %9lu %16lu %13lu\n", attack_names[a], stats[a].slots,
			       stats[a].opens, stats[a].closed_by_relay, stats[a].failed_opens);
	return 0;
}
