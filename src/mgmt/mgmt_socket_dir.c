// SPDX-License-Identifier: MIT
#include "mgmt_socket_dir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The directory part of path: "." for a bare name, "/" for one in the root. */
static void dir_of(const char *path, char *dir, size_t cap)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* A directory we have just made: hand it to the user, unless it was swapped meanwhile. */
static int hand_over(const char *dir, const char *user, uid_t uid, gid_t gid, char *err,
		     size_t errlen)
{
	struct stat st;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open the directory just created: %s", dir,
			 strerror(errno));
		return -1;
	}
	int rc = fstat(fd, &st);
	if (rc == 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s: replaced by someone else's directory while it was set up", dir);
		close(fd);
		return -1;
	}
	if (rc < 0 || fchown(fd, uid, gid) < 0) {
		snprintf(err, errlen, "%s: cannot hand it to %s: %s", dir, user, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int mgmt_socket_dir_prepare(const char *socket_path, const char *user, uid_t uid, gid_t gid,
			    char *err, size_t errlen)
{
	char dir[PATH_MAX];
	struct stat st;

	dir_of(socket_path, dir, sizeof(dir));
	if (mkdir(dir, 0750) == 0)
		return hand_over(dir, user, uid, gid, err, errlen);
	if (errno != EEXIST) {
		snprintf(err, errlen, "%s: cannot create the socket's directory: %s", dir,
			 strerror(errno));
		return -1;
	}
	if (stat(dir, &st) < 0) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s: not a directory", dir);
		return -1;
	}
	if (st.st_uid == uid)
		return 0; /* the user's already (made by an earlier run, or by systemd) */
	unsigned mode = (unsigned)(st.st_mode & 07777);
	if (st.st_mode & (S_IWOTH | S_ISVTX)) {
		snprintf(
		    err, errlen,
		    "%s: a shared directory (mode %04o, owner uid %u), not %s's: anyone could "
		    "take the socket's name there; use a directory of the relay's own, such as "
		    "/run/hyper-derp (created for %s when missing)",
		    dir, mode, (unsigned)st.st_uid, user, user);
		return -1;
	}
	bool group_may = st.st_gid == gid && (st.st_mode & S_IWGRP) && (st.st_mode & S_IXGRP);
	if (!group_may) {
		snprintf(
		    err, errlen,
		    "%s: %s cannot create the socket here (mode %04o, owner uid %u, group %u), "
		    "and the relay hands over only directories it creates: give the directory "
		    "to %s, or name one that does not exist yet",
		    dir, user, mode, (unsigned)st.st_uid, (unsigned)st.st_gid, user);
		return -1;
	}
	return 0;
}
