// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "slowpath.h"

#define LISTEN_BACKLOG	    4096
#define SD_LISTEN_FDS_START 3
/*
 * How long start-up waits for the port while it is still in use. A relay
 * restarted at once (systemctl restart) may find its predecessor's socket
 * not quite gone; a port another program holds still fails, only later.
 */
#define BIND_RETRY_MS	   3000
#define BIND_RETRY_STEP_MS 50

/* The socket systemd passed, if any: it is systemd's to keep listening on. */
static int inherited_fd = -1;

/* systemd socket activation: exactly one socket, passed to this very process. */
static int inherited_socket(void)
{
	const char *fds = getenv("LISTEN_FDS");
	const char *pid = getenv("LISTEN_PID");
	if (!fds || !pid || atoi(fds) != 1 || (pid_t)atol(pid) != getpid())
		return -1;
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDNAMES");
	inherited_fd = SD_LISTEN_FDS_START;
	return SD_LISTEN_FDS_START;
}

bool slowpath_listen_inherited(int fd)
{
	return fd >= 0 && fd == inherited_fd;
}

/* bind(), retried while the address is in use, for at most BIND_RETRY_MS. */
static int bind_retrying(int fd, const struct sockaddr *sa, socklen_t len, const char *what)
{
	struct timespec step = { .tv_sec = 0, .tv_nsec = BIND_RETRY_STEP_MS * 1000000L };
	for (int waited = 0;; waited += BIND_RETRY_STEP_MS) {
		if (bind(fd, sa, len) == 0)
			return 0;
		if (errno != EADDRINUSE || waited >= BIND_RETRY_MS)
			return -1;
		if (waited == 0)
			log_info("%s is in use; trying again for up to %d ms", what, BIND_RETRY_MS);
		nanosleep(&step, NULL);
	}
}

static uint16_t bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int slowpath_listen(const struct slowpath_settings *set, uint16_t *port_out, char *err,
		    size_t errlen)
{
	int fd = inherited_socket();
	if (fd >= 0) {
		*port_out = bound_port(fd);
		return fd;
	}
	struct sockaddr_storage ss = { 0 };
	socklen_t sslen;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, set->listen, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(set->port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, set->listen, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(set->port);
		sslen = sizeof(*sin6);
	} else {
		snprintf(err, errlen, "listen address \"%s\" is not an IPv4 or IPv6 address",
			 set->listen);
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	char what[128];
	snprintf(what, sizeof(what), "%s port %u", set->listen, set->port);
	if (bind_retrying(fd, (struct sockaddr *)&ss, sslen, what) < 0) {
		snprintf(err, errlen, "cannot listen on %s port %u: %s", set->listen, set->port,
			 strerror(errno));
		close(fd);
		return -1;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0) {
		snprintf(err, errlen, "listen: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*port_out = bound_port(fd);
	return fd;
}
