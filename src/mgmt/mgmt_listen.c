// SPDX-License-Identifier: MIT
#include "mgmt_listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* mkdir -p of path's directory. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char saved = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			snprintf(err, errlen, "%s: cannot create directory %s: %s", path, dir,
				 strerror(errno));
			return -1;
		}
		*p = saved;
		if (saved == '\0')
			return 0;
	}
}

/* Whether a relay already answers on the socket at addr. */
static int socket_is_live(const struct sockaddr_un *addr, bool *live, char *err, size_t errlen)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	int saved = errno;
	close(fd);
	if (rc == 0) {
		*live = true;
		return 0;
	}
	if (saved == ECONNREFUSED) {
		*live = false;
		return 0;
	}
	snprintf(err, errlen, "%s: cannot tell whether it is in use: %s", addr->sun_path,
		 strerror(saved));
	return -1;
}

int mgmt_listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen, "%s: socket path longer than %zu bytes", path,
			 sizeof(addr.sun_path) - 1);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	if (make_parent_dirs(path, err, errlen) < 0)
		return -1;

	if (lstat(path, &st) == 0) {
		bool live;
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s: exists and is not a socket; not replacing it",
				 path);
			return -1;
		}
		if (socket_is_live(&addr, &live, err, errlen) < 0)
			return -1;
		if (live) {
			snprintf(err, errlen,
				 "%s: another process is serving this socket (a relay already "
				 "running?)",
				 path);
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "%s: cannot remove stale socket: %s", path,
				 strerror(errno));
			return -1;
		}
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* On Linux the mode of the socket inode becomes the file's: no window at 0777. */
	fchmod(fd, 0660);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		snprintf(err, errlen, "%s: bind: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	if (chmod(path, 0660) < 0 || listen(fd, 16) < 0) {
		/* addr's copy of the path: GCC's UBSan build cannot prove path non-null here. */
		snprintf(err, errlen, "%s: %s", addr.sun_path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	return fd;
}

int mgmt_split_host_port(const char *addr, char *host, size_t host_len, uint16_t *port)
{
	const char *colon;
	size_t hlen;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - addr - 1);
		memcpy(host, addr + 1, hlen < host_len ? hlen : 0);
		colon = close + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || strchr(addr, ':') != colon)
			return -1; /* none, or an IPv6 literal without brackets */
		hlen = (size_t)(colon - addr);
		memcpy(host, addr, hlen < host_len ? hlen : 0);
	}
	if (hlen == 0 || hlen >= host_len)
		return -1;
	host[hlen] = '\0';

	const char *p = colon + 1;
	unsigned long v = 0;
	if (*p == '\0')
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return -1;
	}
	*port = (uint16_t)v;
	return 0;
}

int mgmt_listen_tcp(const char *addr, char *bound, size_t bound_len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	uint16_t port;
	struct sockaddr_storage ss;
	socklen_t sslen;
	memset(&ss, 0, sizeof(ss));

	if (mgmt_split_host_port(addr, host, sizeof(host), &port) < 0) {
		snprintf(err, errlen,
			 "\"%s\" is not HOST:PORT with an IP address (e.g. 127.0.0.1:9100, "
			 "[::1]:9100)",
			 addr);
		return -1;
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sslen = sizeof(*sin6);
	} else {
		snprintf(err, errlen, "\"%s\": %s is not an IPv4 or IPv6 address", addr, host);
		return -1;
	}

	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "%s: socket: %s", addr, strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	sslen = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sslen);
	uint16_t bound_port = ntohs(ss.ss_family == AF_INET ? sin->sin_port : sin6->sin6_port);
	if (ss.ss_family == AF_INET)
		snprintf(bound, bound_len, "%s:%u", host, bound_port);
	else
		snprintf(bound, bound_len, "[%s]:%u", host, bound_port);
	return fd;
}
