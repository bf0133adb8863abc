// SPDX-License-Identifier: MIT
/*
 * limits.tcp_user_timeout_ms: a client that vanishes (its packets stop
 * coming, no FIN, no RST) is closed within that bound of the relay next
 * writing to it, and the clients that sent it packets are told PeerGone.
 *
 * The vanishing client needs a network that can lose packets, which
 * loopback never does: this test moves itself (and so the daemon it
 * starts) into a network namespace of its own, puts the client in a
 * second one, joins the two with a veth pair, and takes the client's end
 * down. Both namespaces die with the test; nothing outside them is
 * touched.
 */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "derp_frame.h"
#include "test_mgmt_daemon.h"

#define USER_TIMEOUT_MS 1500
/* The close comes USER_TIMEOUT_MS after the first unacknowledged write; generous for load. */
#define CLOSE_MAX_MS (USER_TIMEOUT_MS + 3500)
#define RELAY_ADDR   "10.213.0.1"
#define CLIENT_ADDR  "10.213.0.2"

static pid_t client_ns_pid;

/* Runs a shell command; requires success. */
static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	IT_REQUIRE(rc == 0, "`%s` failed (status %d)", cmd, rc);
}

/* A process that holds the client's namespace until the test ends. */
static pid_t hold_namespace(void)
{
	int ready[2];
	IT_REQUIRE(pipe(ready) == 0, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char ok = unshare(CLONE_NEWNET) == 0 ? 'y' : 'n';
		if (write(ready[1], &ok, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	char ok = 0;
	IT_REQUIRE(read(ready[0], &ok, 1) == 1 && ok == 'y', "the namespace holder failed");
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static int ns_fd(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	IT_REQUIRE(fd >= 0, "%s: %s", path, strerror(errno));
	return fd;
}

static void netns_setup(void)
{
	/* Ours: the daemon started from here lives in it too. */
	IT_REQUIRE(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s (needs root)",
		   strerror(errno));
	run("ip link set lo up");
	client_ns_pid = hold_namespace();
	run("ip link add hdrelay type veth peer name hdclient netns %d", (int)client_ns_pid);
	run("ip addr add %s/24 dev hdrelay && ip link set hdrelay up", RELAY_ADDR);
	run("nsenter -t %d -n sh -c 'ip link set lo up && ip addr add %s/24 dev hdclient && "
	    "ip link set hdclient up'",
	    (int)client_ns_pid, CLIENT_ADDR);
}

static void netns_teardown(void)
{
	kill(client_ns_pid, SIGKILL);
	waitpid(client_ns_pid, NULL, 0);
}

/* A DERP client whose socket lives in the client's namespace. */
static void connect_from_client_ns(struct mgmt_daemon *d, struct derp_client *c)
{
	int here = ns_fd(getpid());
	int there = ns_fd(client_ns_pid);
	IT_REQUIRE(setns(there, CLONE_NEWNET) == 0, "setns: %s", strerror(errno));
	char err[256];
	int rc = derp_client_connect(c, RELAY_ADDR, d->it.port, NULL, err, sizeof(err));
	/* The socket stays in that namespace; this thread goes home. */
	IT_REQUIRE(setns(here, CLONE_NEWNET) == 0, "setns back: %s", strerror(errno));
	close(here);
	close(there);
	IT_REQUIRE(rc == 0, "connect from the client namespace: %s", err);
}

/*
 * How long after a packet is sent to the vanished client the sender is
 * told PeerGone; -1 if not within wait_ms.
 */
static int64_t gone_after(struct derp_client *a, const uint8_t vanished[KEY_LEN], int wait_ms)
{
	uint8_t pkt[100];
	it_fill_pattern(pkt, sizeof(pkt), 1);
	int64_t t0 = it_now_ms();
	it_send_packet(a, vanished, pkt, sizeof(pkt));
	while (it_now_ms() - t0 < wait_ms) {
		uint8_t type;
		const uint8_t *payload;
		uint32_t len;
		int rc = it_read_frame(a, 200, &type, &payload, &len);
		IT_REQUIRE(rc >= 0, "the sender lost its own connection");
		if (rc == 1 && type == DERP_FRAME_PEER_GONE && len >= KEY_LEN &&
		    memcmp(payload, vanished, KEY_LEN) == 0)
			return it_now_ms() - t0;
	}
	return -1;
}

static int64_t vanish_case(unsigned user_timeout_ms, int wait_ms)
{
	netns_setup();
	char ini[256];
	snprintf(ini, sizeof(ini), "[limits]\ntcp_user_timeout_ms = %u\n", user_timeout_ms);
	struct md_opts o = { .ini = ini, .listen = "0.0.0.0" };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client b;
	connect_from_client_ns(d, &b);
	/* Each knows the other; a got a packet from b, so a is told when b leaves (PeerGone). */
	it_require_relaying(a, &b);

	/* b's host drops off the network: no FIN, no RST, nothing. */
	run("nsenter -t %d -n ip link set hdclient down", (int)client_ns_pid);
	int64_t took = gone_after(a, b.pub, wait_ms);
	derp_client_close(&b);
	md_stop(d);
	netns_teardown();
	return took;
}

static void test_vanished_client_is_closed(void)
{
	int64_t took = vanish_case(USER_TIMEOUT_MS, CLOSE_MAX_MS);
	it_note("PeerGone %lld ms after the packet (tcp_user_timeout_ms = %d)", (long long)took,
		USER_TIMEOUT_MS);
	IT_REQUIRE(took >= 0, "the vanished client was not closed within %d ms", CLOSE_MAX_MS);
	IT_REQUIRE(took >= USER_TIMEOUT_MS - 100, "closed after %lld ms, before the timeout",
		   (long long)took);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_vanished_client_is_closed),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
