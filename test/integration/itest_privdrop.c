// SPDX-License-Identifier: MIT
/*
 * Least privilege: started as root with server.user set, the daemon runs
 * every thread as that user with only CAP_NET_BIND_SERVICE and
 * no_new_privs, and still relays. Needs root (CI runs as root); elsewhere
 * the test says it cannot run and fails, rather than passing without
 * proving anything.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

/* CAP_NET_BIND_SERVICE is capability 10. */
#define CAP_EFF_BIND_ONLY 0x0000000000000400ull

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

static void require_thread_dropped(const char *status_path)
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
	IT_REQUIRE(strtoull(cap_eff, NULL, 16) == CAP_EFF_BIND_ONLY,
		   "%s: CapEff is %s, want only CAP_NET_BIND_SERVICE", status_path, cap_eff);
	IT_REQUIRE(strtoull(cap_bnd, NULL, 16) == CAP_EFF_BIND_ONLY,
		   "%s: CapBnd is %s, want only CAP_NET_BIND_SERVICE", status_path, cap_bnd);
	IT_REQUIRE(strcmp(nnp, "1") == 0, "%s: NoNewPrivs is %s", status_path, nnp);
}

static void test_runs_as_user_with_only_bind_capability(void)
{
	IT_REQUIRE(geteuid() == 0, "this test must run as root (it checks dropping root)");
	struct it_daemon_opts o = { .ini = "[server]\nuser = nobody\ngroup = nogroup\n" };
	struct it_daemon *d = it_daemon_start(&o);
	IT_REQUIRE(it_daemon_log_contains(d, "running as user nobody"),
		   "the log does not say the daemon dropped to nobody");

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
		require_thread_dropped(status);
		threads++;
	}
	closedir(dir);
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

IT_MAIN(IT_TEST(test_runs_as_user_with_only_bind_capability))
