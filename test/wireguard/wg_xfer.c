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
 *                                       port, or SRC:PORT) to DST:PORT; KIND is
 *                                       "transport" (a well-formed WireGuard
 *                                       transport message) or "malformed"
 *
 * Everything is bounded: a 30 s alarm ends a stuck transfer with exit 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static int do_spray(const char *src, struct sockaddr_in *dst, long count, const char *kind)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char host[64];
	uint8_t msg[128];
	size_t len;
	const char *colon = strchr(src, ':');

	snprintf(host, sizeof(host), "%.*s", colon ? (int)(colon - src) : (int)strlen(src), src);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 1;
	sa.sin_port = colon ? htons((uint16_t)atoi(colon + 1)) : 0;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("wg_xfer: bind");
		return 1;
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
		if (sendto(fd, msg, len, 0, (struct sockaddr *)dst, sizeof(*dst)) < 0) {
			perror("wg_xfer: sendto");
			return 1;
		}
		if (i % 32 == 31)
			usleep(1000); /* bounded rate: the point is counting, not load */
	}
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	alarm(DEADLINE_S);
	if (argc == 5 && strcmp(argv[1], "recv") == 0 && parse_addr(argv[2], argv[3], &sa) == 0)
		return do_recv(&sa, strtoull(argv[4], NULL, 10));
	if (argc == 5 && strcmp(argv[1], "send") == 0 && parse_addr(argv[2], argv[3], &sa) == 0)
		return do_send(&sa, strtoull(argv[4], NULL, 10));
	if (argc == 7 && strcmp(argv[1], "spray") == 0 && parse_addr(argv[3], argv[4], &sa) == 0)
		return do_spray(argv[2], &sa, strtol(argv[5], NULL, 10), argv[6]);
	fprintf(stderr, "usage: wg_xfer recv ADDR PORT BYTES | send ADDR PORT BYTES |\n"
			"       spray SRC[:PORT] DST PORT COUNT transport|malformed\n");
	return 2;
}
