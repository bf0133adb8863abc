// SPDX-License-Identifier: MIT
/*
 * hdbench: load generator and end-to-end verifier for a DERP relay.
 *
 * Each pair is one sender connection and one receiver connection with
 * distinct keys. The sender keeps at most --window packets in flight (sent
 * but not yet seen by the receiver), optionally paced to --rate packets/s.
 * Every payload carries its sequence number, its send time and bytes derived
 * from (pair, sequence), so the receiver can check the source key, the
 * length, the order, loss and every byte. Both connections of a pair live in
 * the same thread, so pair state needs no locks; each thread runs one epoll
 * loop over nonblocking sockets with a write queue per connection.
 *
 * --ack makes the receiver acknowledge every packet back through the relay
 * (a small packet to the sender carrying the sequence number and send time),
 * and the window counts packets not yet acknowledged: request/response
 * traffic in both directions, like a real tunnel's data and its ACKs. The
 * latency is then the round trip, packet there and acknowledgement back.
 *
 * --direct replaces the relay by plain loopback TCP connections carrying the
 * same frames (the sender writes the RecvPacket frames the relay would have
 * written), which gives the no-relay limit of the same machine. With --tls
 * those connections are TLS too (a throwaway certificate), so the limit
 * includes one encryption and one decryption per packet, as a real path
 * between two peers would.
 *
 * --connect-rate and --idle measure connections rather than packets; they
 * live in hdbench_setup.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdbench.h"

#include "bench_proc.h"
#include "hdbench_setup.h"

static int bench_setup(struct bench *b)
{
	if (b->opts.hd)
		b->frame_len = HD_SEND_HDR_LEN + b->opts.size;
	else
		b->frame_len = DERP_FRAME_HDR_LEN + KEY_LEN + b->opts.size;
	b->pairs = calloc(b->opts.pairs, sizeof(*b->pairs));
	b->threads = calloc(b->opts.threads, sizeof(*b->threads));
	if (!b->pairs || !b->threads) {
		fprintf(stderr, "hdbench: out of memory\n");
		return -1;
	}
	for (uint32_t i = 0; i < b->opts.pairs; i++) {
		b->pairs[i].id = i;
		b->pairs[i].tx.client.fd = -1;
		b->pairs[i].rx.client.fd = -1;
	}
	/* Each pair needs two sockets here (and two more in the relay). */
	raise_fd_limit((uint64_t)b->opts.pairs * 2 + 64);
	if (bench_connect_all(b) < 0)
		return -1;
	if (bench_assign_threads(b) < 0) {
		fprintf(stderr, "hdbench: setting up event loops: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Starts the threads together, measures around them, and collects the result. */
static int bench_run(struct bench *b, struct bench_result *r)
{
	double relay_before = 0, relay_after = 0, self_before;
	uint32_t started = 0;
	int ret;

	r->relay_cpu_s = -1;
	if (pthread_barrier_init(&b->start_barrier, NULL, b->opts.threads + 1) != 0)
		return -1;
	for (; started < b->opts.threads; started++) {
		ret = pthread_create(&b->threads[started].tid, NULL, thread_main,
				     &b->threads[started]);
		if (ret != 0) {
			/* Threads already waiting at the barrier cannot be released safely. */
			fprintf(stderr, "hdbench: pthread_create: %s\n", strerror(ret));
			exit(EXIT_SETUP);
		}
	}
	if (b->opts.relay_pid > 0 && proc_cpu_seconds(b->opts.relay_pid, &relay_before) < 0)
		fprintf(stderr, "hdbench: warning: cannot read /proc/%d/stat\n", b->opts.relay_pid);
	self_before = self_cpu_seconds();
	b->start_ns = now_ns();
	b->send_end_ns = b->start_ns + (uint64_t)(b->opts.duration_s * (double)NSEC_PER_SEC);
	pthread_barrier_wait(&b->start_barrier);

	for (uint32_t i = 0; i < started; i++)
		pthread_join(b->threads[i].tid, NULL);

	r->self_cpu_s = self_cpu_seconds() - self_before;
	if (b->opts.relay_pid > 0 && proc_cpu_seconds(b->opts.relay_pid, &relay_after) == 0)
		r->relay_cpu_s = relay_after - relay_before;
	pthread_barrier_destroy(&b->start_barrier);
	bench_collect(b, r);
	return 0;
}

/* --connect-rate and --idle: hdbench_setup.c. */
static int run_setup_bench(const struct bench_opts *o)
{
	struct setup_bench_opts so = {
		.server = o->server,
		.port = o->port,
		.relay_pid = o->relay_pid,
		.client = {
			.fast_start = o->fast_start,
			.tls = o->tls,
			.tls12 = o->tls12,
			.tls_ca_file = o->tls_ca_file,
			.tls_server_name = o->tls_server_name,
			.websocket = o->websocket,
		},
		.threads = o->threads,
		.json = o->json,
		.rate = o->connect_rate,
		.duration_s = o->duration_s,
		.count = o->count,
		.idle_conns = o->idle_conns,
		.hold_s = o->hold_s > 0 ? o->hold_s : DEFAULT_HOLD_S,
	};

	return o->idle_conns ? bench_idle(&so) : bench_connect_rate(&so);
}

int main(int argc, char **argv)
{
	struct bench b = { 0 };
	struct bench_result *r;
	int ret;

	ret = parse_args(argc, argv, &b.opts);
	if (ret != 0)
		return ret > 0 ? EXIT_PASS : EXIT_SETUP;
	/* A relay that closes on us must not kill us with SIGPIPE (TLS writes use write()). */
	signal(SIGPIPE, SIG_IGN);
	if (b.opts.connect_rate_mode || b.opts.idle_conns)
		return run_setup_bench(&b.opts);

	/* The result embeds a 60 KiB histogram: keep it off the stack. */
	r = calloc(1, sizeof(*r));
	if (!r || bench_setup(&b) < 0 || bench_run(&b, r) < 0) {
		bench_free(&b);
		free(r);
		return EXIT_SETUP;
	}
	if (b.opts.json)
		bench_report_json(&b, r);
	else
		bench_report_print(&b, r);
	if (r->lost > 0)
		fprintf(stderr, "hdbench: FAIL: %" PRIu64 " of %" PRIu64 " packets lost\n", r->lost,
			r->expected);
	ret = bench_result_ok(r) ? EXIT_PASS : EXIT_FAILED;
	bench_free(&b);
	free(r);
	return ret;
}
