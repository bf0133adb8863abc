// SPDX-License-Identifier: MIT
#include "tcp_liveness.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

int tcp_liveness_apply(int fd, uint32_t keepalive_ms, uint32_t user_timeout_ms)
{
	if (keepalive_ms) {
		/*
		 * As Go's net.ListenConfig.KeepAlive does for derper: the idle
		 * time and the probe interval are both the period (whole
		 * seconds, rounded up); the probe count stays the kernel's.
		 */
		int one = 1;
		int secs = (int)((keepalive_ms + 999) / 1000);
		if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof(secs)) < 0 ||
		    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof(secs)) < 0)
			return -1;
	}
	if (user_timeout_ms) {
		unsigned int ms = user_timeout_ms;
		if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
			return -1;
	}
	return 0;
}
