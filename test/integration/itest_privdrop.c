// SPDX-License-Identifier: MIT
/*
 * Least privilege: started as root with server.user set, the daemon runs
 * every thread as that user with only CAP_NET_BIND_SERVICE and
 * no_new_privs, and still relays; with the WireGuard relay, the XDP
 * capabilities only in the modes that use XDP. Needs root (CI runs as root); elsewhere
 * the test says it cannot run and fails, rather than passing without
 * proving anything.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* CAP_NET_BIND_SERVICE is capability 10. */
#define CAP_EFF_BIND_ONLY 0x0000000000000400ull
/* And CAP_NET_ADMIN (12), CAP_NET_RAW (13), CAP_IPC_LOCK (14), CAP_BPF (39). */
#define CAP_EFF_XDP (CAP_EFF_BIND_ONLY | 1ull << 12 | 1ull << 13 | 1ull << 14 | 1ull << 39)

/* Reads "Name:\tvalue" from a /proc status file into out. */
static bool status_field(const char *path, const char *name, char *out, size_t cap)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	char line[256];
	size_t n = strlen(name);
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			const char *v = line + n + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			snprintf(out, cap, "%s", v);
			out[strcspn(out, "\n")] = '\0';
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static void require_thread_dropped(const char *status_path, uint64_t want_caps)
{
	char uid[128], gid[128], cap_eff[64], cap_bnd[64], nnp[16];
	IT_REQUIRE(status_field(status_path, "Uid", uid, sizeof(uid)) &&
		       status_field(status_path, "Gid", gid, sizeof(gid)) &&
		       status_field(status_path, "CapEff", cap_eff, sizeof(cap_eff)) &&
		       status_field(status_path, "CapBnd", cap_bnd, sizeof(cap_bnd)) &&
		       status_field(status_path, "NoNewPrivs", nnp, sizeof(nnp)),
		   "%s: cannot read credentials", status_path);
	/* nobody/nogroup on Debian: 65534 for real, effective, saved and fs ids. */
	IT_REQUIRE(strcmp(uid, "65534\t65534\t65534\t65534") == 0, "%s: Uid is %s", status_path,
		   uid);
	IT_REQUIRE(strcmp(gid, "65534\t65534\t65534\t65534") == 0, "%s: Gid is %s", status_path,
		   gid);
	IT_REQUIRE(strtoull(cap_eff, NULL, 16) == want_caps, "%s: CapEff is %s, want %016llx",
		   status_path, cap_eff, (unsigned long long)want_caps);
	IT_REQUIRE(strtoull(cap_bnd, NULL, 16) == want_caps, "%s: CapBnd is %s, want %016llx",
		   status_path, cap_bnd, (unsigned long long)want_caps);
	IT_REQUIRE(strcmp(nnp, "1") == 0, "%s: NoNewPrivs is %s", status_path, nnp);
}

/* Every thread of the daemon runs as nobody with exactly want_caps; returns how many. */
static int require_all_threads_dropped(struct it_daemon *d, uint64_t want_caps)
{
	char path[128];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)d->pid);
	DIR *dir = opendir(path);
	IT_REQUIRE(dir != NULL, "cannot list %s", path);
	int threads = 0;
	for (struct dirent *e; (e = readdir(dir));) {
		if (e->d_name[0] == '.')
			continue;
		char status[512];
		snprintf(status, sizeof(status), "%s/%s/status", path, e->d_name);
		require_thread_dropped(status, want_caps);
		threads++;
	}
	closedir(dir);
	return threads;
}

static void test_runs_as_user_with_only_bind_capability(void)
{
	IT_REQUIRE(geteuid() == 0, "this test must run as root (it checks dropping root)");
	struct it_daemon_opts o = { .ini = "[server]\nuser = nobody\ngroup = nogroup\n" };
	struct it_daemon *d = it_daemon_start(&o);
	IT_REQUIRE(it_daemon_log_contains(d, "running as user nobody"),
		   "the log does not say the daemon dropped to nobody");

	int threads = require_all_threads_dropped(d, CAP_EFF_BIND_ONLY);
	/* main, the slow path and two workers at least. */
	IT_REQUIRE(threads >= 4, "only %d threads checked", threads);

	/* Unprivileged, it still does its job. */
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	it_require_relaying(a, b);
	it_require_relaying(b, a);
	it_client_close(a);
	it_client_close(b);
}

/* A UDP port free on loopback now, for wireguard.listen_port. */
static uint16_t free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	IT_REQUIRE(fd >= 0, "socket");
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	IT_REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		       getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
		   "bind a UDP port");
	close(fd);
	return ntohs(sin.sin_port);
}

/*
 * With the WireGuard relay on, the capabilities kept depend on its mode: the
 * UDP socket path needs none beyond binding, XDP and AF_XDP need theirs to
 * attach programs and sockets after the drop. The interface in the XDP
 * cases does not exist (the relay falls back to its socket, logged): what
 * is checked is what the daemon keeps for the mode it was asked for.
 */
static void run_wireguard_mode(const char *mode, const char *interface, uint64_t want_caps)
{
	IT_REQUIRE(geteuid() == 0, "this test must run as root (it checks dropping root)");
	char ini[512], table[128];
	snprintf(table, sizeof(table), "/tmp/hd-privdrop-%d-wg-table.conf", (int)getpid());
	snprintf(ini, sizeof(ini),
		 "[server]\nuser = nobody\ngroup = nogroup\n"
		 "[wireguard]\nenabled = true\nmode = %s\ninterface = %s\nlisten_port = %u\n"
		 "table_file = %s\n",
		 mode, interface, free_udp_port(), table);
	struct it_daemon_opts o = { .ini = ini };
	struct it_daemon *d = it_daemon_start(&o);
	IT_REQUIRE(it_daemon_log_contains(d, "running as user nobody"),
		   "the log does not say the daemon dropped to nobody");
	int threads = require_all_threads_dropped(d, want_caps);
	it_note("mode %s, interface \"%s\": %d threads with capabilities %016llx", mode, interface,
		threads, (unsigned long long)want_caps);
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	it_require_relaying(a, b);
	unlink(table);
}

static void test_wireguard_socket_mode_keeps_only_bind(void)
{
	/* Named but unused: socket mode never touches an interface. */
	run_wireguard_mode("socket", "hdnone0", CAP_EFF_BIND_ONLY);
}

static void test_wireguard_without_interface_keeps_only_bind(void)
{
	run_wireguard_mode("auto", "", CAP_EFF_BIND_ONLY);
	run_wireguard_mode("xdp", "", CAP_EFF_BIND_ONLY);
}

static void test_wireguard_xdp_modes_keep_the_xdp_set(void)
{
	run_wireguard_mode("auto", "hdnone0", CAP_EFF_XDP);
	run_wireguard_mode("xdp", "hdnone0", CAP_EFF_XDP);
	run_wireguard_mode("afxdp", "hdnone0", CAP_EFF_XDP);
}

IT_MAIN(IT_TEST(test_runs_as_user_with_only_bind_capability),
	IT_TEST(test_wireguard_socket_mode_keeps_only_bind),
	IT_TEST(test_wireguard_without_interface_keeps_only_bind),
	IT_TEST(test_wireguard_xdp_modes_keep_the_xdp_set))
