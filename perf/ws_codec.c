// SPDX-License-Identifier: MIT
/*
 * What the WebSocket layer costs per byte on a worker (DERP over WebSocket):
 * a client's stream of binary messages arrives in 4 KiB reads (copied into a
 * receive buffer, as the kernel does) and ws_decode unmasks each read in
 * place, as conn_recv_ws does; against the reads alone. Messages of one
 * SendPacket each, at a WireGuard-sized 1,280-byte packet and at the 64 KiB
 * maximum.
 *
 *   build/tools/ws_codec_bench [MiB per case, default 512]
 *
 * Prints MB/s and ns per packet, the median of 5 runs; single-threaded and
 * CPU-bound, so on the 2-vCPU machine run it when nothing else does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws_frame.h"

#define READ_SIZE 4096
#define RUNS	  5

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* n masked binary messages of payload bytes each; returns the stream's length. */
static size_t make_stream(uint8_t *out, size_t payload, size_t n)
{
	static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
	size_t at = 0;
	for (size_t m = 0; m < n; m++) {
		out[at++] = 0x82;
		if (payload < 126) {
			out[at++] = (uint8_t)(0x80 | payload);
		} else if (payload <= 0xffff) {
			out[at++] = 0x80 | 126;
			out[at++] = (uint8_t)(payload >> 8);
			out[at++] = (uint8_t)payload;
		} else {
			out[at++] = 0x80 | 127;
			for (int i = 0; i < 8; i++)
				out[at++] = (uint8_t)((uint64_t)payload >> (56 - 8 * i));
		}
		memcpy(out + at, mask, 4);
		at += 4;
		for (size_t i = 0; i < payload; i++)
			out[at + i] = (uint8_t)(i * 13) ^ mask[i & 3];
		at += payload;
	}
	return at;
}

static volatile uint8_t sink;

static double run_decode(const uint8_t *stream, size_t len, uint8_t *rbuf)
{
	struct ws_decoder d;
	ws_decoder_init(&d);
	double t0 = now_s();
	for (size_t pos = 0; pos < len; pos += READ_SIZE) {
		size_t n = len - pos < READ_SIZE ? len - pos : READ_SIZE;
		memcpy(rbuf, stream + pos, n);
		size_t in = 0, out = 0;
		while (in < n) {
			size_t used, got;
			enum ws_event ev =
			    ws_decode(&d, rbuf + in, n - in, &used, rbuf + out, n - out, &got);
			if (ev == WS_EV_ERROR) {
				fprintf(stderr, "decode error: %s\n", d.error);
				exit(1);
			}
			in += used;
			out += got;
		}
		if (out)
			sink ^= rbuf[out - 1];
	}
	return now_s() - t0;
}

static double run_copy(const uint8_t *stream, size_t len, uint8_t *rbuf)
{
	double t0 = now_s();
	for (size_t pos = 0; pos < len; pos += READ_SIZE) {
		size_t n = len - pos < READ_SIZE ? len - pos : READ_SIZE;
		memcpy(rbuf, stream + pos, n);
		sink ^= rbuf[n - 1];
	}
	return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double (*fn)(const uint8_t *, size_t, uint8_t *), const uint8_t *s, size_t len,
		     uint8_t *rbuf)
{
	double t[RUNS];
	for (int i = 0; i < RUNS; i++)
		t[i] = fn(s, len, rbuf);
	qsort(t, RUNS, sizeof(t[0]), cmp_double);
	return t[RUNS / 2];
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
	/* A SendPacket frame: 5-byte header, 32-byte key, then the packet. */
	static const size_t packets[] = { 1280, 65536 };
	uint8_t *rbuf = malloc(READ_SIZE);
	if (!rbuf || mib == 0)
		return 1;
	printf("%-10s %-8s %12s %12s\n", "packet", "path", "MB/s", "ns/packet");
	for (size_t k = 0; k < sizeof(packets) / sizeof(packets[0]); k++) {
		size_t payload = 5 + 32 + packets[k];
		size_t n = (mib << 20) / payload;
		uint8_t *stream = malloc(n * (payload + 14));
		if (!stream)
			return 1;
		size_t len = make_stream(stream, payload, n);
		double td = median(run_decode, stream, len, rbuf);
		double tc = median(run_copy, stream, len, rbuf);
		printf("%-10zu %-8s %12.0f %12.1f\n", packets[k], "read+ws", (double)len / td / 1e6,
		       td * 1e9 / (double)n);
		printf("%-10zu %-8s %12.0f %12.1f\n", packets[k], "read", (double)len / tc / 1e6,
		       tc * 1e9 / (double)n);
		free(stream);
	}
	free(rbuf);
	return 0;
}
