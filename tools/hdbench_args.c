// SPDX-License-Identifier: MIT
/* hdbench's command line: usage, option parsing and the checks between options. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdbench.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: hdbench [options]\n"
		"Sends verified traffic through a DERP relay and reports throughput,\n"
		"latency and any loss, corruption or reordering.\n"
		"\n"
		"  --server HOST     relay address (default 127.0.0.1)\n"
		"  --port N          relay port (default %d)\n"
		"  --recv-port N     receivers connect to this port instead: another relay\n"
		"                    of a meshed region, so every packet crosses the mesh\n"
		"  --pairs N         sender/receiver connection pairs (default 1)\n"
		"  --size BYTES      packet payload size, %d..%d (default %d)\n"
		"  --count N         packets per pair (default %d)\n"
		"  --duration SEC    send for SEC seconds instead of a fixed count\n"
		"  --window N        packets in flight per pair: sent, not yet received "
		"(default %d)\n"
		"  --rate PPS        fixed offered load per pair, for latency at a known load\n"
		"                    (the window still caps packets in flight)\n"
		"  --ack             the receiver acknowledges each packet back through the\n"
		"                    relay; the window counts unacknowledged packets and the\n"
		"                    latency is the round trip\n"
		"  --relay-pid PID   report the relay's CPU seconds (from /proc/PID/stat)\n"
		"  --direct          no relay: the same frames over direct loopback TCP,\n"
		"                    the no-relay limit of this machine\n"
		"  --fast-start      send Derp-Fast-Start: 1 (no HTTP response expected;\n"
		"                    over TLS 1.3 the relay's metacert must name its key)\n"
		"  --threads N       event loop threads (default 1; %d for the modes below)\n"
		"  --stall-timeout SEC  give up when packets are in flight and none arrived\n"
		"                    for SEC (default %.0f); rates then end at the last arrival\n"
		"  --tls             TLS to the relay (TLS 1.3 offered, 1.2 accepted; the\n"
		"                    certificate is not verified unless --tls-ca is given);\n"
		"                    with --direct, TLS between the peers\n"
		"  --tls12           TLS 1.2 only (implies --tls)\n"
		"  --tls-ca FILE     verify the relay's certificate against FILE (PEM)\n"
		"  --tls-name NAME   SNI and the name verified (default: --server unless an IP)\n"
		"  --websocket       DERP over WebSocket (subprotocol derp), as browsers speak\n"
		"                    it: each write one binary message\n"
		"  --proto P         derp (default) or hd: the same load over HD on /hd\n"
		"                    (Send to the partner's peer id; the relay must admit\n"
		"                    keys without a token: [hd] require_token = false)\n"
		"  --json            print one JSON object instead of the text summary\n"
		"  --help            this text\n"
		"\n"
		"Connection benchmarks (instead of packets):\n"
		"  --connect-rate N  open, complete the DERP handshake and close, N per second\n"
		"                    (0 or max: as fast as --threads connections go) for\n"
		"                    --duration (default 3 s) or --count handshakes in all;\n"
		"                    reports handshakes/s, handshake time, relay CPU each\n"
		"  --idle N          open N DERP connections and leave them idle for --hold;\n"
		"  --hold SEC        reports the relay's RSS growth per connection and its\n"
		"                    CPU while idle (needs --relay-pid; default hold 10 s)\n"
		"\n"
		"Latency is one-way: receive time minus the send time in the packet, both\n"
		"CLOCK_MONOTONIC on this host. Exit status: 0 every packet arrived intact and\n"
		"in order; 1 loss, corruption, reordering or a dropped connection (or a\n"
		"failed handshake, or an idle connection the relay closed); 2 usage or\n"
		"connection setup error.\n",
		DEFAULT_PORT, PAYLOAD_MIN, PAYLOAD_MAX, DEFAULT_SIZE, DEFAULT_COUNT, DEFAULT_WINDOW,
		SETUP_DEFAULT_THREADS, DEFAULT_STALL_TIMEOUT_S);
}

static int parse_u64(const char *name, const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
		fprintf(stderr,
			"hdbench: --%s wants an integer in %" PRIu64 "..%" PRIu64 ", not \"%s\"\n",
			name, min, max, text);
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_positive_double(const char *name, const char *text, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !(v > 0) || v > 1e12) {
		fprintf(stderr, "hdbench: --%s wants a positive number, not \"%s\"\n", name, text);
		return -1;
	}
	*out = v;
	return 0;
}

enum {
	OPT_SERVER = 256,
	OPT_PORT,
	OPT_RECV_PORT,
	OPT_PAIRS,
	OPT_SIZE,
	OPT_COUNT,
	OPT_DURATION,
	OPT_WINDOW,
	OPT_RELAY_PID,
	OPT_DIRECT,
	OPT_RATE,
	OPT_ACK,
	OPT_FAST_START,
	OPT_THREADS,
	OPT_JSON,
	OPT_TLS,
	OPT_TLS12,
	OPT_TLS_CA,
	OPT_TLS_NAME,
	OPT_WEBSOCKET,
	OPT_PROTO,
	OPT_CONNECT_RATE,
	OPT_IDLE,
	OPT_HOLD,
	OPT_STALL_TIMEOUT,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "recv-port", required_argument, NULL, OPT_RECV_PORT },
	{ "pairs", required_argument, NULL, OPT_PAIRS },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "window", required_argument, NULL, OPT_WINDOW },
	{ "relay-pid", required_argument, NULL, OPT_RELAY_PID },
	{ "direct", no_argument, NULL, OPT_DIRECT },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "ack", no_argument, NULL, OPT_ACK },
	{ "fast-start", no_argument, NULL, OPT_FAST_START },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "tls12", no_argument, NULL, OPT_TLS12 },
	{ "tls-ca", required_argument, NULL, OPT_TLS_CA },
	{ "tls-name", required_argument, NULL, OPT_TLS_NAME },
	{ "websocket", no_argument, NULL, OPT_WEBSOCKET },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "connect-rate", required_argument, NULL, OPT_CONNECT_RATE },
	{ "idle", required_argument, NULL, OPT_IDLE },
	{ "hold", required_argument, NULL, OPT_HOLD },
	{ "stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0, 1 for --help, or -1 on a usage error (already printed). */
int parse_args(int argc, char **argv, struct bench_opts *o)
{
	double stall_s = DEFAULT_STALL_TIMEOUT_S;
	bool count_given = false;
	uint64_t v;
	int opt;

	*o = (struct bench_opts){
		.server = "127.0.0.1",
		.port = DEFAULT_PORT,
		.pairs = 1,
		.size = DEFAULT_SIZE,
		.count = DEFAULT_COUNT,
		.window = DEFAULT_WINDOW,
		.threads = 1,
	};
	while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_SERVER:
			o->server = optarg;
			break;
		case OPT_PORT:
			if (parse_u64("port", optarg, 1, 65535, &v) < 0)
				return -1;
			o->port = (uint16_t)v;
			break;
		case OPT_RECV_PORT:
			if (parse_u64("recv-port", optarg, 1, 65535, &v) < 0)
				return -1;
			o->recv_port = (uint16_t)v;
			break;
		case OPT_PAIRS:
			if (parse_u64("pairs", optarg, 1, PAIRS_MAX, &v) < 0)
				return -1;
			o->pairs = (uint32_t)v;
			break;
		case OPT_SIZE:
			if (parse_u64("size", optarg, PAYLOAD_MIN, PAYLOAD_MAX, &v) < 0)
				return -1;
			o->size = (uint32_t)v;
			break;
		case OPT_COUNT:
			if (parse_u64("count", optarg, 1, UINT64_MAX / 2, &o->count) < 0)
				return -1;
			count_given = true;
			break;
		case OPT_DURATION:
			if (parse_positive_double("duration", optarg, &o->duration_s) < 0)
				return -1;
			break;
		case OPT_WINDOW:
			if (parse_u64("window", optarg, 1, 1 << 20, &v) < 0)
				return -1;
			o->window = (uint32_t)v;
			break;
		case OPT_RELAY_PID:
			if (parse_u64("relay-pid", optarg, 1, INT32_MAX, &v) < 0)
				return -1;
			o->relay_pid = (int)v;
			break;
		case OPT_DIRECT:
			o->direct = true;
			break;
		case OPT_RATE:
			if (parse_positive_double("rate", optarg, &o->rate) < 0)
				return -1;
			break;
		case OPT_ACK:
			o->ack = true;
			break;
		case OPT_FAST_START:
			o->fast_start = true;
			break;
		case OPT_THREADS:
			if (parse_u64("threads", optarg, 1, 1024, &v) < 0)
				return -1;
			o->threads = (uint32_t)v;
			o->threads_given = true;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case OPT_TLS12:
			o->tls12 = true;
			/* fall through */
		case OPT_TLS:
			o->tls = true;
			break;
		case OPT_TLS_CA:
			o->tls_ca_file = optarg;
			break;
		case OPT_TLS_NAME:
			o->tls_server_name = optarg;
			break;
		case OPT_WEBSOCKET:
			o->websocket = true;
			break;
		case OPT_PROTO:
			if (strcmp(optarg, "hd") == 0) {
				o->hd = true;
			} else if (strcmp(optarg, "derp") == 0) {
				o->hd = false;
			} else {
				fprintf(stderr, "hdbench: --proto is derp or hd, not \"%s\"\n",
					optarg);
				return -1;
			}
			break;
		case OPT_CONNECT_RATE:
			o->connect_rate_mode = true;
			if (strcmp(optarg, "max") == 0 || strcmp(optarg, "0") == 0)
				o->connect_rate = 0;
			else if (parse_positive_double("connect-rate", optarg, &o->connect_rate) <
				 0)
				return -1;
			break;
		case OPT_IDLE:
			if (parse_u64("idle", optarg, 1, IDLE_MAX, &o->idle_conns) < 0)
				return -1;
			break;
		case OPT_HOLD:
			if (parse_positive_double("hold", optarg, &o->hold_s) < 0)
				return -1;
			break;
		case OPT_STALL_TIMEOUT:
			if (parse_positive_double("stall-timeout", optarg, &stall_s) < 0)
				return -1;
			break;
		case 'h':
		case OPT_HELP:
			usage(stdout);
			return 1;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hdbench: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	o->stall_timeout_ns = (uint64_t)(stall_s * (double)NSEC_PER_SEC);
	if (count_given && o->duration_s > 0) {
		fprintf(stderr, "hdbench: --count and --duration exclude each other\n");
		return -1;
	}
	if ((o->connect_rate_mode || o->idle_conns) && o->direct) {
		fprintf(stderr, "hdbench: --connect-rate and --idle need a relay, not --direct\n");
		return -1;
	}
	if (o->connect_rate_mode && o->idle_conns) {
		fprintf(stderr, "hdbench: --connect-rate and --idle exclude each other\n");
		return -1;
	}
	if (o->websocket && (o->direct || o->fast_start)) {
		fprintf(stderr, "hdbench: --websocket needs a relay and excludes --fast-start\n");
		return -1;
	}
	if (o->ack && o->direct) {
		fprintf(stderr, "hdbench: --ack needs a relay, not --direct\n");
		return -1;
	}
	if (o->hd && (o->direct || o->websocket || o->fast_start || o->recv_port ||
		      o->connect_rate_mode || o->idle_conns)) {
		fprintf(stderr,
			"hdbench: --proto hd is for the packet benchmark through one relay: "
			"not with --direct, --websocket, --fast-start, --recv-port, "
			"--connect-rate or --idle\n");
		return -1;
	}
	if (o->hold_s > 0 && !o->idle_conns) {
		fprintf(stderr, "hdbench: --hold goes with --idle\n");
		return -1;
	}
	if (!count_given)
		o->count = o->connect_rate_mode ? 0 : o->count;
	if (o->connect_rate_mode || o->idle_conns) {
		if (!o->threads_given)
			o->threads = SETUP_DEFAULT_THREADS;
		return 0;
	}
	if (o->threads > o->pairs)
		o->threads = o->pairs;
	return 0;
}
