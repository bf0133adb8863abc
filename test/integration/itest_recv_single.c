// SPDX-License-Identifier: MIT
/*
 * The single-shot receive path (server.recv_mode = single, the fallback for
 * kernels without multishot recv or provided buffer rings), end to end on
 * two workers: the log names the mode once per worker; traffic between
 * workers arrives intact, plain and over TLS; 64 KiB packets, sent whole
 * or dribbled in small writes, are reassembled across many recvs; a reader
 * that never reads costs only itself. Then the key's validation, and the
 * automatic fallback when the kernel refuses buffer rings (a seccomp
 * filter plays the old kernel; that test runs last, as the filter stays on
 * this process and every daemon it starts afterwards).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SINGLE_INI "[server]\nrecv_mode = single\n"
#define NCLIENTS   4
#define ROUNDS	   40
#define BIG_WINDOW 8 /* 64 KiB packets in flight per direction; the queue holds 32 */
#define BIG_COUNT  120
#define DRIBBLE	   1000 /* bytes per write when a frame is sent piecemeal */

/* ---- helpers ---- */

/* Packet r from s to t: lengths run from 0 to the 64 KiB maximum. */
static size_t mesh_len(unsigned r, unsigned s, unsigned t)
{
	if (r % 10 == 3)
		return DERP_MAX_PACKET_SIZE;
	if (r % 10 == 7)
		return 0;
	return 1 + (r * 7919u + s * 131u + t * 17u) % 3000;
}

static uint64_t mesh_seed(unsigned r, unsigned s, unsigned t)
{
	return (uint64_t)(s * 16 + t) << 32 | r;
}

/* Requires the clients to be spread over both workers (handoff is round-robin). */
static void require_both_workers(struct it_daemon *d, struct derp_client **cl, unsigned n)
{
	bool seen[2] = { false, false };
	for (unsigned i = 0; i < n; i++) {
		int w = it_daemon_worker_of(d, cl[i]->pub);
		IT_REQUIRE(w == 0 || w == 1, "no worker logged for client %u", i);
		seen[w] = true;
	}
	IT_REQUIRE(seen[0] && seen[1], "the clients did not land on both workers");
}

/*
 * Every round each client sends one packet to every other, then each reads
 * its n-1: per source in order, every byte as sent.
 */
static void full_mesh(struct derp_client **cl, unsigned n, unsigned rounds)
{
	uint8_t *pkt = malloc(DERP_MAX_PACKET_SIZE);
	unsigned next[NCLIENTS][NCLIENTS] = { { 0 } }; /* [dst][src]: next round expected */
	IT_REQUIRE(pkt && n <= NCLIENTS, "out of memory");
	for (unsigned r = 0; r < rounds; r++) {
		for (unsigned s = 0; s < n; s++) {
			for (unsigned t = 0; t < n; t++) {
				if (s == t)
					continue;
				size_t len = mesh_len(r, s, t);
				it_fill_pattern(pkt, len, mesh_seed(r, s, t));
				it_send_packet(cl[s], cl[t]->pub, pkt, len);
			}
		}
		for (unsigned t = 0; t < n; t++) {
			for (unsigned k = 0; k + 1 < n; k++) {
				uint32_t len;
				const uint8_t *p = it_expect_frame(cl[t], DERP_FRAME_RECV_PACKET,
								   IT_FRAME_TIMEOUT_MS, &len);
				unsigned s = n;
				for (unsigned i = 0; i < n; i++) {
					if (len >= KEY_LEN && memcmp(p, cl[i]->pub, KEY_LEN) == 0)
						s = i;
				}
				IT_REQUIRE(s < n && s != t, "client %u: packet from a stranger", t);
				unsigned rr = next[t][s]++;
				size_t want = mesh_len(rr, s, t);
				IT_REQUIRE(len - KEY_LEN == want,
					   "client %u: round %u from %u has %u bytes, want %zu", t,
					   rr, s, len - KEY_LEN, want);
				it_fill_pattern(pkt, want, mesh_seed(rr, s, t));
				IT_REQUIRE(memcmp(p + KEY_LEN, pkt, want) == 0,
					   "client %u: round %u from %u differs", t, rr, s);
			}
		}
	}
	free(pkt);
}

/* 64 KiB packets both ways, BIG_WINDOW at a time, every byte checked. */
static void big_exchange(struct derp_client *a, struct derp_client *b, unsigned count)
{
	uint8_t *pkt = malloc(DERP_MAX_PACKET_SIZE);
	IT_REQUIRE(pkt, "out of memory");
	for (unsigned base = 0; base < count; base += BIG_WINDOW) {
		for (unsigned i = base; i < base + BIG_WINDOW; i++) {
			it_fill_pattern(pkt, DERP_MAX_PACKET_SIZE, 1000 + i);
			it_send_packet(a, b->pub, pkt, DERP_MAX_PACKET_SIZE);
			it_fill_pattern(pkt, DERP_MAX_PACKET_SIZE, 5000 + i);
			it_send_packet(b, a->pub, pkt, DERP_MAX_PACKET_SIZE);
		}
		for (unsigned i = base; i < base + BIG_WINDOW; i++) {
			it_fill_pattern(pkt, DERP_MAX_PACKET_SIZE, 1000 + i);
			it_expect_packet(b, a->pub, pkt, DERP_MAX_PACKET_SIZE, IT_FRAME_TIMEOUT_MS);
			it_fill_pattern(pkt, DERP_MAX_PACKET_SIZE, 5000 + i);
			it_expect_packet(a, b->pub, pkt, DERP_MAX_PACKET_SIZE, IT_FRAME_TIMEOUT_MS);
		}
	}
	free(pkt);
}

/* How often text occurs in the daemon's log. */
static int log_count(struct it_daemon *d, const char *text)
{
	FILE *f = fopen(d->log_path, "r");
	char line[1024];
	int n = 0;
	IT_REQUIRE(f, "open %s: %s", d->log_path, strerror(errno));
	while (fgets(line, sizeof(line), f))
		n += strstr(line, text) != NULL;
	fclose(f);
	return n;
}

static void require_mode_logged(struct it_daemon *d, const char *mode)
{
	for (int w = 0; w < 2; w++) {
		char text[64];
		snprintf(text, sizeof(text), "worker %d: recv_mode %s", w, mode);
		int n = log_count(d, text);
		IT_REQUIRE(n == 1, "\"%s\" logged %d times, want once", text, n);
	}
}

/* TLS certificate, made per test in its own directory. */
static struct it_tls_files tls_files;

/* Starts a TLS relay in single mode, with a fresh self-signed certificate. */
static struct it_daemon *start_single_tls(void)
{
	static char ini[1024];

	it_tls_files_make(&tls_files, "hd-recv-tls");
	snprintf(ini, sizeof(ini), SINGLE_INI "[tls]\ncert = %s\nkey = %s\n", tls_files.cert,
		 tls_files.key);
	struct it_daemon_opts o = { .workers = 2, .ini = ini, .tls = true };
	return it_daemon_start(&o);
}

/* ---- tests ---- */

static void test_single_mode_is_logged_once_per_worker(void)
{
	struct it_daemon_opts o = { .workers = 2, .ini = SINGLE_INI };
	struct it_daemon *d = it_daemon_start(&o);
	require_mode_logged(d, "single");
	IT_REQUIRE(!it_daemon_log_contains(d, "recv_mode bufring"), "a worker runs bufring");
	it_require_relaying(it_connect(d, NULL), it_connect(d, NULL));
}

static void test_plain_cross_worker_mesh(void)
{
	struct it_daemon_opts o = { .workers = 2, .ini = SINGLE_INI };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *cl[NCLIENTS];
	for (unsigned i = 0; i < NCLIENTS; i++)
		cl[i] = it_connect(d, NULL);
	require_both_workers(d, cl, NCLIENTS);
	full_mesh(cl, NCLIENTS, ROUNDS);
	for (unsigned i = 0; i < NCLIENTS; i++)
		it_expect_ping_pong(cl[i]);
}

static void test_plain_big_frames_across_workers(void)
{
	struct it_daemon_opts o = { .workers = 2, .ini = SINGLE_INI };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *cl[2] = { it_connect(d, NULL), it_connect(d, NULL) };
	require_both_workers(d, cl, 2);
	big_exchange(cl[0], cl[1], BIG_COUNT);
	for (uint64_t i = 0; i < 4; i++) {
		it_dribble_max_frame(cl[0], cl[1], DRIBBLE, 8, 1, 77 + i);
		it_dribble_max_frame(cl[1], cl[0], DRIBBLE, 8, 1, 99 + i);
	}
	/* Small traffic after the big frames: the read size went back down cleanly. */
	it_require_relaying(cl[0], cl[1]);
	it_expect_ping_pong(cl[0]);
	it_expect_ping_pong(cl[1]);
}

static void test_tls_cross_worker_mesh_and_big_frames(void)
{
	struct it_daemon *d = start_single_tls();
	struct derp_client_opts tls = { .tls = true };
	struct derp_client_opts tls12 = { .tls = true, .tls12 = true };
	struct derp_client *cl[NCLIENTS];
	for (unsigned i = 0; i < NCLIENTS; i++)
		cl[i] = it_connect(d, i == 3 ? &tls12 : &tls);
	IT_REQUIRE(cl[0]->ssl && cl[3]->ssl, "the clients did not speak TLS");
	require_both_workers(d, cl, NCLIENTS);
	require_mode_logged(d, "single");
	full_mesh(cl, NCLIENTS, ROUNDS / 2);
	big_exchange(cl[0], cl[1], BIG_COUNT / 2);
	/* Each piece of a dribbled frame is a TLS record of its own. */
	it_dribble_max_frame(cl[2], cl[1], DRIBBLE, 8, 1, 5);
	it_dribble_max_frame(cl[1], cl[2], DRIBBLE, 8, 1, 6);
	for (unsigned i = 0; i < NCLIENTS; i++)
		it_expect_ping_pong(cl[i]);
	it_tls_files_remove(&tls_files);
}

/* As itest_slow_reader's first test, in single mode and shorter. */
#define SLOW_ROUNDS	 50
#define SLOW_WINDOW	 16
#define SLOW_FLOOD	 4 /* 64 KiB packets to the stuck receiver per round: 12.5 MiB */
#define SLOW_STALL_WAIT	 8000
#define SLOW_READER_SIZE 200

static void test_slow_reader_costs_only_itself(void)
{
	struct it_daemon_opts o = { .workers = 2, .ini = SINGLE_INI };
	struct it_daemon *d = it_daemon_start(&o);
	struct derp_client *sender = it_connect(d, NULL);
	struct derp_client *stuck = it_connect(d, NULL);
	struct derp_client *reader = it_connect(d, NULL);
	struct derp_client *probe = it_connect(d, NULL);
	uint8_t *flood = malloc(DERP_MAX_PACKET_SIZE);
	uint8_t pkt[SLOW_READER_SIZE];
	IT_REQUIRE(flood, "out of memory");
	memset(flood, 0x5a, DERP_MAX_PACKET_SIZE);

	for (uint32_t r = 0; r < SLOW_ROUNDS; r++) {
		for (int k = 0; k < SLOW_FLOOD; k++)
			it_send_packet(sender, stuck->pub, flood, DERP_MAX_PACKET_SIZE);
		for (uint32_t i = 0; i < SLOW_WINDOW; i++) {
			it_fill_pattern(pkt, sizeof(pkt), r * SLOW_WINDOW + i);
			it_send_packet(sender, reader->pub, pkt, sizeof(pkt));
		}
		for (uint32_t i = 0; i < SLOW_WINDOW; i++) {
			it_fill_pattern(pkt, sizeof(pkt), r * SLOW_WINDOW + i);
			it_expect_packet(reader, sender->pub, pkt, sizeof(pkt),
					 IT_FRAME_TIMEOUT_MS);
		}
		if (r % 10 == 0)
			it_expect_ping_pong(probe);
	}
	free(flood);

	/* The write timeout gives up on the stuck one; the log says when to look. */
	int64_t deadline = it_now_ms() + SLOW_STALL_WAIT;
	while (!it_daemon_log_contains(d, "write stalled")) {
		IT_REQUIRE(it_now_ms() < deadline, "the daemon never timed out the stalled write");
		it_sleep_ms(50);
	}
	it_expect_closed(stuck, 20000);
	it_require_relaying(sender, reader);
	it_expect_ping_pong(probe);
	it_expect_quiet(reader, 100);
}

static void test_bogus_recv_mode_is_refused(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], path[300], out[2048], want[512];

	snprintf(dir, sizeof(dir), "%s/hd-recv-ini-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/bad.ini", dir);
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f, "open %s: %s", path, strerror(errno));
	fputs("[server]\nworkers = 2\nrecv_mode = bogus\n", f);
	fclose(f);
	char *args[] = { "--config", path, "--mgmt-socket", "", NULL };
	int status;
	bool exited = it_run_daemon_to_exit(args, out, sizeof(out), &status);
	unlink(path);
	rmdir(dir);
	IT_REQUIRE(exited, "the daemon did not exit; its output:\n%s", out);
	snprintf(want, sizeof(want),
		 "%s:3: server.recv_mode: \"bogus\" is not one of auto|bufring|single", path);
	IT_REQUIRE(strstr(out, want), "output lacks \"%s\":\n%s", want, out);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exited with status 0x%x",
		   status);
	it_note("refused: %.*s", (int)strcspn(out, "\n"), out);
}

/* Whether auto picks bufring on this kernel (informational: both are correct). */
static void test_auto_picks_a_mode_and_says_which(void)
{
	struct it_daemon_opts o = { .workers = 2, .ini = "[server]\nrecv_mode = auto\n" };
	struct it_daemon *d = it_daemon_start(&o);
	bool bufring = log_count(d, "recv_mode bufring") == 2;
	bool single = log_count(d, "recv_mode single") == 2;
	IT_REQUIRE(bufring != single, "each worker must log exactly one mode");
	it_note("auto chose %s on this kernel", bufring ? "bufring" : "single");
	it_require_relaying(it_connect(d, NULL), it_connect(d, NULL));
}

/*
 * From here on, io_uring_register(IORING_REGISTER_PBUF_RING) fails with
 * EINVAL in this process and its children, as on a kernel before 5.19.
 * (The filter checks no architecture: it only has to fool our own daemon.)
 */
static void refuse_buffer_rings(void)
{
	static bool installed;
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[1])),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IORING_REGISTER_PBUF_RING, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EINVAL & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (installed)
		return;
	IT_REQUIRE(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, "no_new_privs: %s",
		   strerror(errno));
	IT_REQUIRE(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0, "seccomp: %s",
		   strerror(errno));
	installed = true;
}

static void test_bufring_refused_without_buffer_rings(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[256], key[300], out[4096];

	refuse_buffer_rings();
	snprintf(dir, sizeof(dir), "%s/hd-recv-key-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(key, sizeof(key), "%s/server.key", dir);
	char *args[] = { "--recv-mode", "bufring", "--port",	    "0", "--workers", "2",
			 "--key-file",	key,	   "--mgmt-socket", "",	 NULL };
	int status;
	bool exited = it_run_daemon_to_exit(args, out, sizeof(out), &status);
	unlink(key);
	rmdir(dir);
	IT_REQUIRE(exited, "the daemon did not exit; its output:\n%s", out);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		   "the daemon ran bufring without buffer rings (status 0x%x):\n%s", status, out);
	IT_REQUIRE(strstr(out, "worker 0: recv_mode bufring unavailable: "
			       "provided buffer rings refused: Invalid argument"),
		   "no clear reason in:\n%s", out);
	IT_REQUIRE(strstr(out, "or set server.recv_mode = single or auto"),
		   "the error does not name the way out:\n%s", out);
}

static void test_auto_falls_back_to_single_without_buffer_rings(void)
{
	refuse_buffer_rings();
	struct it_daemon_opts o = { .workers = 2 }; /* recv_mode defaults to auto */
	struct it_daemon *d = it_daemon_start(&o);
	require_mode_logged(d, "single");
	IT_REQUIRE(log_count(d, "falling back: provided buffer rings refused: Invalid argument") ==
		       2,
		   "each worker must log the reason for its fallback");
	struct derp_client *cl[NCLIENTS];
	for (unsigned i = 0; i < NCLIENTS; i++)
		cl[i] = it_connect(d, NULL);
	require_both_workers(d, cl, NCLIENTS);
	full_mesh(cl, NCLIENTS, ROUNDS / 4);
}

static void remove_tls_files_at_exit(void)
{
	it_tls_files_remove(&tls_files);
}

int main(int argc, char **argv)
{
	/* The seccomp tests come last: their filter cannot be taken off again. */
	static const struct it_test tests[] = {
		IT_TEST(test_single_mode_is_logged_once_per_worker),
		IT_TEST(test_plain_cross_worker_mesh),
		IT_TEST(test_plain_big_frames_across_workers),
		IT_TEST(test_tls_cross_worker_mesh_and_big_frames),
		IT_TEST(test_slow_reader_costs_only_itself),
		IT_TEST(test_bogus_recv_mode_is_refused),
		IT_TEST(test_auto_picks_a_mode_and_says_which),
		IT_TEST(test_bufring_refused_without_buffer_rings),
		IT_TEST(test_auto_falls_back_to_single_without_buffer_rings),
	};
	atexit(remove_tls_files_at_exit);
	return it_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
