/* SPDX-License-Identifier: MIT */
/*
 * Dropping root after start-up: switch to an unprivileged user and group,
 * keep only the capabilities the relay still needs, and set no_new_privs.
 *
 * Capabilities are per thread, so this must run before any thread starts.
 */
#ifndef HD_PRIVDROP_H
#define HD_PRIVDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Capabilities kept: CAP_NET_BIND_SERVICE always; the XDP/AF_XDP set when asked. */
struct privdrop_caps {
	bool xdp; /* CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW, CAP_IPC_LOCK */
};

/*
 * Looks up user (and group; empty = the user's primary group). Returns 0, or
 * -1 with a reason in err.
 */
int privdrop_lookup(const char *user, const char *group, uid_t *uid, gid_t *gid, char *err,
		    size_t errlen);

/* Drops to uid/gid keeping caps. Returns 0, or -1 with a reason in err. */
int privdrop_apply(uid_t uid, gid_t gid, const struct privdrop_caps *caps, char *err,
		   size_t errlen);

#endif
