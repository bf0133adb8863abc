// SPDX-License-Identifier: MIT
/*
 * A small traffic tool for the WireGuard relay tests, so they need nothing
 * beyond the project's packages:
 *
 *   wg_xfer recv ADDR PORT BYTES        accept one TCP connection, read BYTES,
 *                                       check them against the pattern
 *   wg_xfer send ADDR PORT BYTES        connect and send BYTES of the pattern
 *   wg_xfer spray SRC DST PORT COUNT KIND
 *                                       send COUNT UDP datagrams from SRC (any
 *                                       port, or SRC:PORT, [SRC6]:PORT) to
 *                                       DST:PORT (IPv4 or IPv6); KIND is
 *                                       "transport" (a well-formed WireGuard
 *                                       transport message) or "malformed";
 *                                       IPv6 only: "transport-hopopts" (with
 *                                       a hop-by-hop options header) or
 *                                       "transport-nocsum" (UDP checksum 0);
 *                                       forged handshakes (issue 22):
 *                                       "response:SENDER" (responses with the
 *                                       sender index SENDER, hex, and random
 *                                       receivers), "initiation:SENDER", or
 *                                       "random" (initiations and responses
 *                                       with random indices); with ":KEY"
 *                                       (base64) after any of them, a MAC1
 *                                       made for that public key
 *   wg_xfer sniff-index IFACE PORT      print the receiver index (hex) of the
 *                                       first transport message to PORT that
 *                                       arrives on IFACE
 *
 *   wg_xfer sniff IFACE MS               count for MS milliseconds the IPv4 UDP
 *                                       datagrams arriving on IFACE that carry
 *                                       spray's transport message (receiver
 *                                       index 0x77777777); prints the count
 *
 * Everything is bounded: a 30 s alarm ends a stuck transfer with exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "blake2s.h"
#include "wg_msg.h"

#define CHUNK	   65536
#define DEADLINE_S 30

/* The byte at offset i of the stream: cheap, and a shifted or dropped byte shows. */
static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 13 ^ i);
}

static int parse_addr(const char *host, const char *port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)atoi(port));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int do_recv(struct sockaddr_in *sa, uint64_t bytes)
{
	static uint8_t buf[CHUNK];
	int one = 1;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(lfd, 1) < 0) {
		perror("wg_xfer: bind/listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	int fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("wg_xfer: accept");
		return 1;
	}
	double t0 = now_s();
	uint64_t got = 0;
	while (got < bytes) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0) {
			fprintf(stderr, "wg_xfer: connection ended after %llu of %llu bytes\n",
				(unsigned long long)got, (unsigned long long)bytes);
			return 1;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] != pattern(got + (uint64_t)i)) {
				fprintf(stderr, "wg_xfer: byte %llu differs\n",
					(unsigned long long)(got + (uint64_t)i));
				return 1;
			}
		}
		got += (uint64_t)n;
	}
	double dt = now_s() - t0;
	printf("ok %llu bytes in %.3f s (%.1f Mbit/s)\n", (unsigned long long)got, dt,
	       (double)got * 8 / dt / 1e6);
	close(fd);
	close(lfd);
	return 0;
}

static int do_send(struct sockaddr_in *sa, uint64_t bytes)
{
	static uint8_t buf[CHUNK];
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (connect(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		perror("wg_xfer: connect");
		return 1;
	}
	for (uint64_t sent = 0; sent < bytes;) {
		size_t n = bytes - sent < CHUNK ? (size_t)(bytes - sent) : CHUNK;
		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(sent + i);
		for (size_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0) {
				perror("wg_xfer: write");
				return 1;
			}
			off += (size_t)w;
		}
		sent += n;
	}
	shutdown(fd, SHUT_WR);
	/* Wait for the receiver to close, so the bytes are known to have arrived. */
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}

/* An IPv4 or IPv6 address and a port (network order) as a socket address; its length or 0. */
static socklen_t parse_any(const char *host, uint16_t port, struct sockaddr_in6 *sa6)
{
	struct sockaddr_in *sa = (struct sockaddr_in *)sa6;

	memset(sa6, 0, sizeof(*sa6));
	if (inet_pton(AF_INET, host, &sa->sin_addr) == 1) {
		sa->sin_family = AF_INET;
		sa->sin_port = port;
		return sizeof(*sa);
	}
	if (inet_pton(AF_INET6, host, &sa6->sin6_addr) == 1) {
		sa6->sin6_family = AF_INET6;
		sa6->sin6_port = port;
		return sizeof(*sa6);
	}
	return 0;
}

/* What a forged handshake datagram holds: which indices, and whose MAC1. */
struct forge {
	int type; /* WG_MSG_INITIATION, WG_MSG_RESPONSE, or 0: alternate with random indices */
	uint32_t sender; /* fixed sender index, unless type is 0 */
	bool have_key;
	uint8_t mac1_key[WG_KEY_LEN];
};

/* "response:SENDER[:KEY]", "initiation:SENDER[:KEY]", "random[:KEY]"; 0 or -1. */
static int parse_forge(const char *kind, struct forge *f)
{
	char copy[128], *key = NULL;

	memset(f, 0, sizeof(*f));
	snprintf(copy, sizeof(copy), "%s", kind);
	char *rest = strchr(copy, ':');
	if (rest)
		*rest++ = '\0';
	if (strcmp(copy, "response") == 0 || strcmp(copy, "initiation") == 0) {
		f->type = copy[0] == 'r' ? WG_MSG_RESPONSE : WG_MSG_INITIATION;
		if (!rest)
			return -1;
		f->sender = (uint32_t)strtoul(rest, &key, 16);
		key = *key == ':' ? key + 1 : NULL;
	} else if (strcmp(copy, "random") == 0) {
		key = rest;
	} else {
		return -1;
	}
	if (key && *key) {
		uint8_t pub[WG_KEY_LEN];
		size_t n;
		if (sodium_base642bin(pub, sizeof(pub), key, strlen(key), NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0 ||
		    n != WG_KEY_LEN)
			return -1;
		wg_mac1_key(f->mac1_key, pub);
		f->have_key = true;
	}
	return 0;
}

/* The i-th forged datagram into msg (room for an initiation); its length. */
static size_t forge_one(const struct forge *f, long i, uint32_t *rng, uint8_t *msg)
{
	int type = f->type ? f->type : (i % 2 ? WG_MSG_INITIATION : WG_MSG_RESPONSE);
	size_t len = type == WG_MSG_INITIATION ? WG_INITIATION_LEN : WG_RESPONSE_LEN;
	size_t mac1 = type == WG_MSG_INITIATION ? WG_INITIATION_MAC1 : WG_RESPONSE_MAC1;

	for (size_t k = 0; k < len; k++) {
		*rng = *rng * 1664525u + 1013904223u;
		msg[k] = (uint8_t)(*rng >> 24);
	}
	msg[0] = (uint8_t)type;
	msg[1] = msg[2] = msg[3] = 0;
	if (f->type)
		memcpy(msg + 4, &f->sender, 4);
	if (f->have_key)
		blake2s(msg + mac1, WG_MAC_LEN, f->mac1_key, WG_KEY_LEN, msg, mac1);
	return len;
}

static int do_spray(const char *src, const char *dst_host, const char *dst_port, long count,
		    const char *kind)
{
	struct sockaddr_in6 sa, dst;
	char host[64];
	uint8_t msg[WG_INITIATION_LEN];
	size_t len;
	uint16_t port = 0;
	struct forge forge;
	bool forged = parse_forge(kind, &forge) == 0;
	uint32_t rng = (uint32_t)time(NULL) ^ (uint32_t)getpid();

	/* SRC, SRC:PORT or [SRC6]:PORT */
	if (src[0] == '[') {
		const char *close = strchr(src, ']');
		if (!close)
			return 1;
		snprintf(host, sizeof(host), "%.*s", (int)(close - src - 1), src + 1);
		if (close[1] == ':')
			port = htons((uint16_t)atoi(close + 2));
	} else {
		const char *colon = strchr(src, ':');
		snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - src) : (int)strlen(src),
			 src);
		if (colon)
			port = htons((uint16_t)atoi(colon + 1));
	}
	socklen_t salen = parse_any(host, port, &sa);
	socklen_t dstlen = parse_any(dst_host, htons((uint16_t)atoi(dst_port)), &dst);
	if (!salen || !dstlen || sa.sin6_family != dst.sin6_family)
		return 1;
	int fd = socket(sa.sin6_family, SOCK_DGRAM, 0);
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0) {
		perror("wg_xfer: bind");
		return 1;
	}
	if (strcmp(kind, "transport-hopopts") == 0) {
		/* An extension header the fast paths must leave to the kernel: PadN, 4 bytes. */
		static const uint8_t hbh[8] = { 0, 0, 1, 4, 0, 0, 0, 0 };
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_HOPOPTS, hbh, sizeof(hbh)) < 0) {
			perror("wg_xfer: IPV6_HOPOPTS");
			return 1;
		}
		kind = "transport";
	} else if (strcmp(kind, "transport-nocsum") == 0) {
		/* Zero, "no checksum", which IPv6 forbids (RFC 8200, 8.1). */
		int one = 1;
		if (setsockopt(fd, IPPROTO_UDP, UDP_NO_CHECK6_TX, &one, sizeof(one)) < 0) {
			perror("wg_xfer: UDP_NO_CHECK6_TX");
			return 1;
		}
		kind = "transport";
	}
	memset(msg, 0x77, sizeof(msg));
	if (strcmp(kind, "transport") == 0) {
		msg[0] = 4; /* type 4, reserved zero, 64 bytes: well-formed */
		msg[1] = msg[2] = msg[3] = 0;
		len = 64;
	} else {
		msg[0] = 1; /* an initiation one byte short */
		msg[1] = msg[2] = msg[3] = 0;
		len = 147;
	}
	if (len > sizeof(msg))
		len = sizeof(msg);
	for (long i = 0; i < count; i++) {
		if (forged)
			len = forge_one(&forge, i, &rng, msg);
		if (sendto(fd, msg, len, 0, (struct sockaddr *)&dst, dstlen) < 0) {
			perror("wg_xfer: sendto");
			return 1;
		}
		if (i % 32 == 31)
			usleep(1000); /* bounded rate: the point is counting, not load */
	}
	close(fd);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * What a peer really receives, whatever the relay's counters say: a packet
 * socket on the peer's interface sees every datagram handed to it, before
 * wireguard-go silently discards one it cannot decrypt.
 */
static int do_sniff(const char *ifname, long ms)
{
	unsigned ifindex = if_nametoindex(ifname);
	if (!ifindex) {
		fprintf(stderr, "wg_xfer: no interface %s\n", ifname);
		return 1;
	}
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_IP),
				   .sll_ifindex = (int)ifindex };
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("wg_xfer: packet socket");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	long count = 0;
	int64_t end = now_ms() + ms;
	for (int64_t left; (left = end - now_ms()) > 0;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;
		uint8_t pkt[2048];
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&from, &fromlen);
		if (n < 20 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
		if ((pkt[0] >> 4) != 4 || pkt[9] != IPPROTO_UDP || (size_t)n < ihl + 8 + 8)
			continue;
		const uint8_t *msg = pkt + ihl + 8;
		static const uint8_t sprayed[8] = { 4, 0, 0, 0, 0x77, 0x77, 0x77, 0x77 };
		count += memcmp(msg, sprayed, sizeof(sprayed)) == 0;
	}
	close(fd);
	printf("%ld\n", count);
	return 0;
}

/* The receiver index of the first WireGuard transport message to port on ifname. */
static int do_sniff_index(const char *ifname, const char *port)
{
	uint8_t pkt[2048];
	int fd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
	struct sockaddr_ll ll = { .sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_IP),
				  .sll_ifindex = (int)if_nametoindex(ifname) };

	if (fd < 0 || !ll.sll_ifindex || bind(fd, (struct sockaddr *)&ll, sizeof(ll)) < 0) {
		perror("wg_xfer: sniff");
		return 1;
	}
	for (;;) {
		ssize_t n = recv(fd, pkt, sizeof(pkt), 0);
		if (n < (ssize_t)sizeof(struct iphdr))
			continue;
		const struct iphdr *ip = (const void *)pkt;
		size_t hl = (size_t)ip->ihl * 4;
		if (ip->protocol != IPPROTO_UDP || (size_t)n < hl + 8 + WG_TRANSPORT_MIN_LEN)
			continue;
		const struct udphdr *udp = (const void *)(pkt + hl);
		const uint8_t *wg = pkt + hl + 8;
		if (udp->dest != htons((uint16_t)atoi(port)) || wg[0] != WG_MSG_TRANSPORT)
			continue;
		uint32_t receiver;
		memcpy(&receiver, wg + WG_TRANSPORT_RECEIVER, 4);
		printf("%08x\n", receiver);
		return 0;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	alarm(DEADLINE_S);
	if (argc == 5 && strcmp(argv[1], "recv") == 0 && parse_addr(argv[2], argv[3], &sa) == 0)
		return do_recv(&sa, strtoull(argv[4], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "send") == 0 && parse_addr(argv[2], argv[3], &sa) == 0)
		return do_send(&sa, strtoull(argv[4], NULL, 10));
	if (argc == 4 && strcmp(argv[1], "sniff-index") == 0)
		return do_sniff_index(argv[2], argv[3]);
	if (argc == 7 && strcmp(argv[1], "spray") == 0)
		return do_spray(argv[2], argv[3], argv[4], strtol(argv[5], NULL, 10), argv[6]);
	if (argc == 4 && strcmp(argv[1], "sniff") == 0)
		return do_sniff(argv[2], strtol(argv[3], NULL, 10));
	fprintf(stderr,
		"usage: wg_xfer recv ADDR PORT BYTES | send ADDR PORT BYTES |\n"
		"       spray SRC[:PORT] DST PORT COUNT transport|malformed|\n"
		"             response:SENDER[:KEY]|initiation:SENDER[:KEY]|random[:KEY] |\n"
		"       sniff IFACE MS | sniff-index IFACE PORT\n");
	return 2;
}
