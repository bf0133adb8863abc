// SPDX-License-Identifier: MIT
/*
 * hdcat's local endpoint: stdin/stdout, or one TCP connection, one UDP flow,
 * or one Unix stream connection.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hdcat.h"

/* [HOST:]PORT; a listener without HOST binds loopback, so nothing is exposed by default. */
static int resolve(const char *text, bool passive, int socktype, struct addrinfo **res, char *err,
		   size_t errlen)
{
	char host[256] = "127.0.0.1";
	const char *port = text, *colon = strrchr(text, ':');
	struct addrinfo hints = { .ai_socktype = socktype };

	if (colon) {
		size_t n = (size_t)(colon - text);
		if (n >= sizeof(host)) {
			snprintf(err, errlen, "%s: host too long", text);
			return -1;
		}
		memcpy(host, text, n);
		host[n] = '\0';
		if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
			memmove(host, host + 1, n - 2);
			host[n - 2] = '\0';
		}
		port = colon + 1;
	} else if (!passive) {
		snprintf(err, errlen, "%s: want HOST:PORT", text);
		return -1;
	}
	int rc = getaddrinfo(host, port, &hints, res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", text, gai_strerror(rc));
		return -1;
	}
	return 0;
}

static int inet_socket(const char *text, bool listen_side, int socktype, char *err, size_t errlen)
{
	struct addrinfo *res, *ai;
	int fd = -1;

	if (resolve(text, listen_side, socktype, &res, err, errlen) < 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		int one = 1;
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		int r = listen_side ? bind(fd, ai->ai_addr, ai->ai_addrlen)
				    : connect(fd, ai->ai_addr, ai->ai_addrlen);
		if (r == 0 && listen_side && socktype == SOCK_STREAM)
			r = listen(fd, 1);
		if (r == 0)
			break;
		snprintf(err, errlen, "%s %s: %s", listen_side ? "listen on" : "connect to", text,
			 strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int unix_socket(const char *path, bool listen_side, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "%s: path too long for a Unix socket", path);
		return -1;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	int r = listen_side ? bind(fd, (struct sockaddr *)&sa, sizeof(sa))
			    : connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (r == 0 && listen_side)
		r = listen(fd, 1);
	if (r < 0) {
		snprintf(err, errlen, "%s %s: %s", listen_side ? "listen on" : "connect to", path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* One connection from a listening socket, which is closed: hdcat serves one stream. */
static int accept_one(int lfd, const char *what, char *err, size_t errlen)
{
	int fd;
	do
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		snprintf(err, errlen, "accept on %s: %s", what, strerror(errno));
	close(lfd);
	return fd;
}

int hdcat_local_open(const struct hdcat_opts *o, struct hdcat_local *l, char *err, size_t errlen)
{
	int fd = -1;

	memset(l, 0, sizeof(*l));
	l->kind = o->local;
	switch (o->local) {
	case HDCAT_LOCAL_STDIO:
		l->in_fd = STDIN_FILENO;
		l->out_fd = STDOUT_FILENO;
		return 0;
	case HDCAT_LOCAL_TCP_LISTEN:
		fd = inet_socket(o->local_addr, true, SOCK_STREAM, err, errlen);
		if (fd >= 0)
			fd = accept_one(fd, o->local_addr, err, errlen);
		break;
	case HDCAT_LOCAL_TCP_CONNECT:
		fd = inet_socket(o->local_addr, false, SOCK_STREAM, err, errlen);
		break;
	case HDCAT_LOCAL_UDP_LISTEN:
		fd = inet_socket(o->local_addr, true, SOCK_DGRAM, err, errlen);
		l->datagrams = true;
		break;
	case HDCAT_LOCAL_UDP_CONNECT:
		fd = inet_socket(o->local_addr, false, SOCK_DGRAM, err, errlen);
		l->datagrams = true;
		l->udp_peer_known = true;
		break;
	case HDCAT_LOCAL_UNIX_CONNECT:
		fd = unix_socket(o->local_addr, false, err, errlen);
		break;
	case HDCAT_LOCAL_UNIX_LISTEN:
		fd = unix_socket(o->local_addr, true, err, errlen);
		if (fd >= 0)
			fd = accept_one(fd, o->local_addr, err, errlen);
		break;
	}
	if (fd < 0)
		return -1;
	l->in_fd = fd;
	l->out_fd = fd;
	return 0;
}

ssize_t hdcat_local_read(struct hdcat_local *l, uint8_t *buf, size_t cap)
{
	ssize_t n;

	if (l->datagrams && !l->udp_peer_known) {
		/* UDP listen: the first sender is the local peer; replies go back to it. */
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		n = recvfrom(l->in_fd, buf, cap, 0, (struct sockaddr *)&from, &fl);
		if (n >= 0) {
			if (connect(l->in_fd, (struct sockaddr *)&from, fl) < 0)
				return -1;
			l->udp_peer_known = true;
		}
	} else {
		n = read(l->in_fd, buf, cap);
	}
	if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED))
		return -2; /* ECONNREFUSED: an ICMP for an earlier datagram, not the end */
	return n;
}

int hdcat_local_write(struct hdcat_local *l, const uint8_t *buf, size_t len)
{
	if (l->out_fd < 0)
		return -1;
	if (l->datagrams) {
		/* Nobody to give it to yet (UDP listen before the first datagram): dropped. */
		if (!l->udp_peer_known)
			return 0;
		ssize_t n = send(l->out_fd, buf, len, 0);
		return n < 0 && errno != ECONNREFUSED ? -1 : 0;
	}
	while (len > 0) {
		ssize_t n = write(l->out_fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

void hdcat_local_close_output(struct hdcat_local *l)
{
	if (l->out_fd < 0 || l->datagrams)
		return;
	if (l->kind == HDCAT_LOCAL_STDIO)
		close(l->out_fd);
	else
		shutdown(l->out_fd, SHUT_WR);
	l->out_fd = -1;
}

void hdcat_local_close(struct hdcat_local *l)
{
	if (l->kind != HDCAT_LOCAL_STDIO && l->in_fd >= 0)
		close(l->in_fd);
	l->in_fd = -1;
	l->out_fd = -1;
}
