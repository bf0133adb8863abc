/* SPDX-License-Identifier: MIT */
/*
 * The management socket's directory when the relay drops root
 * (server.user): the socket is created after the drop, so the directory
 * must let the user create it. Only a directory the relay creates itself is
 * handed to the user; an existing one is never chowned (chown would follow
 * a symlink, and /run or /tmp would become the user's). An existing
 * directory that is shared (world-writable or sticky) and not the user's is
 * refused: anyone could take the socket's name there.
 */
#ifndef HD_MGMT_SOCKET_DIR_H
#define HD_MGMT_SOCKET_DIR_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Makes the directory of socket_path ready for user (uid, gid): creates it
 * (0750) and hands it over when it is missing, else checks that the user
 * may create the socket in it. Returns 0, or -1 with the reason (naming the
 * directory) in err. Runs as root, before privileges are dropped.
 */
int mgmt_socket_dir_prepare(const char *socket_path, const char *user, uid_t uid, gid_t gid,
			    char *err, size_t errlen);

#endif
