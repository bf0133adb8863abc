// SPDX-License-Identifier: MIT
/*
 * The management socket's directory with server.user (issue 17, item 8).
 * The relay hands over only a directory it creates; it never chowns one
 * that was there (chown follows symlinks, and /run or /tmp would have
 * become the user's), and it refuses a shared or sticky directory that is
 * not the user's. Runs the real daemon as root dropping to nobody/nogroup;
 * elsewhere the tests fail rather than pass without proving anything.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

#define NOBODY	  65534
#define NOGROUP	  65534
#define AS_NOBODY "[server]\nuser = nobody\ngroup = nogroup\n"

/* A directory of the test's own under /tmp, open to nobody (0755), and what goes in it. */
static char base[64];

static void make_base(void)
{
	IT_REQUIRE(geteuid() == 0, "this test must run as root (it checks dropping root)");
	snprintf(base, sizeof(base), "/tmp/hd-sockdir-XXXXXX");
	IT_REQUIRE(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	IT_REQUIRE(chmod(base, 0755) == 0, "chmod %s: %s", base, strerror(errno));
}

/* Removes base and what the test put in it (two levels at most). */
static void remove_base(void)
{
	DIR *dir = opendir(base);
	if (!dir)
		return;
	char path[600], inner[900];
	for (struct dirent *e; (e = readdir(dir));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *sub = opendir(path);
			for (struct dirent *f; sub && (f = readdir(sub));) {
				if (f->d_name[0] == '.')
					continue;
				snprintf(inner, sizeof(inner), "%s/%s", path, f->d_name);
				unlink(inner);
			}
			if (sub)
				closedir(sub);
			rmdir(path);
		} else {
			unlink(path);
		}
	}
	closedir(dir);
	rmdir(base);
}

static void make_dir(const char *path, mode_t mode, gid_t gid)
{
	IT_REQUIRE(mkdir(path, mode) == 0, "mkdir %s: %s", path, strerror(errno));
	IT_REQUIRE(chmod(path, mode) == 0, "chmod %s: %s", path, strerror(errno)); /* no umask */
	IT_REQUIRE(chown(path, 0, gid) == 0, "chown %s: %s", path, strerror(errno));
}

static struct stat stat_of(const char *path)
{
	struct stat st;
	IT_REQUIRE(stat(path, &st) == 0, "stat %s: %s", path, strerror(errno));
	return st;
}

/* Starts a daemon that must refuse to run; returns its log. */
static const char *refused(const char *sock)
{
	static char log[65536];
	struct md_opts o = { .ini = AS_NOBODY, .sock = sock };
	int status = md_start_failing(&o, log, sizeof(log));
	IT_REQUIRE(status == 1, "exit status %d, want 1; log:\n%s", status, log);
	return log;
}

/* A directory the relay creates is handed to the user, and hdcli works. */
static void test_creates_its_own_directory(void)
{
	make_base();
	char dir[128], sock[160];
	snprintf(dir, sizeof(dir), "%s/run", base);
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", dir);
	struct md_opts o = { .ini = AS_NOBODY, .sock = sock };
	struct mgmt_daemon *d = md_start(&o);
	struct stat st = stat_of(dir);
	IT_REQUIRE(st.st_uid == NOBODY && st.st_gid == NOGROUP && (st.st_mode & 07777) == 0750,
		   "%s: uid %u gid %u mode %04o", dir, (unsigned)st.st_uid, (unsigned)st.st_gid,
		   (unsigned)(st.st_mode & 07777));
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "status", NULL);
	json_doc_free(&doc);
	md_stop(d);
	remove_base();
}

/* An existing directory is not chowned: the user cannot write it, so start-up stops. */
static void test_existing_directory_is_not_chowned(void)
{
	make_base();
	char dir[128], sock[160];
	snprintf(dir, sizeof(dir), "%s/existing", base);
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", dir);
	make_dir(dir, 0755, 0);
	const char *log = refused(sock);
	struct stat st = stat_of(dir);
	IT_REQUIRE(st.st_uid == 0 && st.st_gid == 0, "%s was handed to uid %u gid %u", dir,
		   (unsigned)st.st_uid, (unsigned)st.st_gid);
	IT_REQUIRE(strstr(log, dir) && strstr(log, "nobody cannot create the socket here"),
		   "the log does not say why:\n%s", log);
	remove_base();
}

/* The socket's "directory" is a symlink to a file: chown must not follow it. */
static void test_symlink_is_not_followed(void)
{
	make_base();
	char victim[128], link[128], sock[160];
	snprintf(victim, sizeof(victim), "%s/victim", base);
	snprintf(link, sizeof(link), "%s/link", base);
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", link);
	FILE *f = fopen(victim, "w");
	IT_REQUIRE(f, "%s: %s", victim, strerror(errno));
	fclose(f);
	IT_REQUIRE(symlink(victim, link) == 0, "symlink: %s", strerror(errno));
	const char *log = refused(sock);
	struct stat st = stat_of(victim);
	IT_REQUIRE(st.st_uid == 0, "%s (behind the symlink) was handed to uid %u", victim,
		   (unsigned)st.st_uid);
	IT_REQUIRE(strstr(log, "not a directory"), "the log does not say why:\n%s", log);
	remove_base();
}

/* A sticky, world-writable directory (like /tmp) is refused and left alone. */
static void test_sticky_directory_is_refused(void)
{
	make_base();
	char dir[128], sock[160];
	snprintf(dir, sizeof(dir), "%s/sticky", base);
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", dir);
	make_dir(dir, 01777, 0);
	const char *log = refused(sock);
	struct stat st = stat_of(dir);
	IT_REQUIRE(st.st_uid == 0 && (st.st_mode & 07777) == 01777, "%s: uid %u mode %04o", dir,
		   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	IT_REQUIRE(strstr(log, "a shared directory"), "the log does not say why:\n%s", log);
	remove_base();
}

/* A directory the user's group may write is used as it is, not chowned. */
static void test_group_directory_is_used_as_is(void)
{
	make_base();
	char dir[128], sock[160];
	snprintf(dir, sizeof(dir), "%s/group", base);
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", dir);
	make_dir(dir, 0770, NOGROUP);
	struct md_opts o = { .ini = AS_NOBODY, .sock = sock };
	struct mgmt_daemon *d = md_start(&o);
	struct stat st = stat_of(dir);
	IT_REQUIRE(st.st_uid == 0 && st.st_gid == NOGROUP, "%s: uid %u gid %u", dir,
		   (unsigned)st.st_uid, (unsigned)st.st_gid);
	md_stop(d);
	remove_base();
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_creates_its_own_directory),
		IT_TEST(test_existing_directory_is_not_chowned),
		IT_TEST(test_symlink_is_not_followed),
		IT_TEST(test_sticky_directory_is_refused),
		IT_TEST(test_group_directory_is_used_as_is),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
