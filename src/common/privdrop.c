// SPDX-License-Identifier: MIT
#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int privdrop_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
		    size_t errlen)
{
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		snprintf(err, errlen, "server.user: no user named \"%s\"", user);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (group && group[0]) {
		struct group *gr = getgrnam(group);
		if (!gr) {
			snprintf(err, errlen, "server.group: no group named \"%s\"", group);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

static uint64_t wanted_caps(const struct privdrop_caps *caps)
{
	uint64_t set = 1ull << CAP_NET_BIND_SERVICE;
	if (caps->xdp) {
		set |= 1ull << CAP_NET_ADMIN;
		set |= 1ull << CAP_NET_RAW;
		set |= 1ull << CAP_IPC_LOCK; /* AF_XDP umem: RLIMIT_MEMLOCK cannot be raised */
		set |= 1ull << CAP_BPF;
	}
	return set;
}

/* glibc has no capset wrapper and libcap would be one more dependency for two calls. */
static int set_caps(uint64_t set)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { 0 };
	data[0].effective = data[0].permitted = (uint32_t)set;
	data[1].effective = data[1].permitted = (uint32_t)(set >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

int privdrop_apply(uid_t uid, gid_t gid, const struct privdrop_caps *caps, char *err, size_t errlen)
{
	uint64_t keep = wanted_caps(caps);

	/* Shrink the bounding set while we still hold CAP_SETPCAP. */
	for (int c = 0; c <= CAP_LAST_CAP; c++) {
		if (!(keep & (1ull << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 &&
		    errno != EINVAL) {
			snprintf(err, errlen, "dropping capability %d from the bounding set: %s", c,
				 strerror(errno));
			return -1;
		}
	}
	/* Keep permitted capabilities across the uid change, then trim them. */
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &gid) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
		snprintf(err, errlen, "switching to uid %u gid %u: %s", (unsigned)uid,
			 (unsigned)gid, strerror(errno));
		return -1;
	}
	if (set_caps(keep) < 0) {
		snprintf(err, errlen, "setting capabilities: %s", strerror(errno));
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return -1;
	}
	/* Refuse to go on if root could be regained. */
	if (uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "still able to become root after dropping privileges");
		return -1;
	}
	return 0;
}
