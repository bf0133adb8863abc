/* SPDX-License-Identifier: MIT */
/*
 * The text of `stun.listen` to a socket address. Inline so that the config
 * loader (src/mgmt/config.c, which does not link the slow path) rejects a
 * bad value with the same rules the STUN server binds with.
 *
 *   :3478            every address, IPv4 and IPv6 (one dual-stack socket)
 *   0.0.0.0:3478     every IPv4 address; any IPv4 literal likewise
 *   [::]:3478        every address (dual-stack); any IPv6 literal likewise
 *
 * Port 0 lets the kernel pick one (logged at start).
 */
#ifndef HD_STUN_LISTEN_H
#define HD_STUN_LISTEN_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static inline int stun_listen_parse(const char *text, struct sockaddr_storage *ss, socklen_t *len,
				    char *reason, size_t reason_len)
{
	const char *colon = strrchr(text, ':');
	char host[INET6_ADDRSTRLEN + 2];
	size_t host_len;
	unsigned long port = 0;

	if (!colon || colon[1] == '\0') {
		snprintf(reason, reason_len, "\"%s\" is not HOST:PORT, [V6]:PORT or :PORT", text);
		return -1;
	}
	for (const char *p = colon + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535) {
			snprintf(reason, reason_len, "\"%s\": the port is not a number in 0..65535",
				 text);
			return -1;
		}
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535) {
		snprintf(reason, reason_len, "\"%s\": the port is not a number in 0..65535", text);
		return -1;
	}
	host_len = (size_t)(colon - text);
	if (host_len >= 2 && text[0] == '[' && text[host_len - 1] == ']') {
		text++;
		host_len -= 2;
	} else if (memchr(text, ':', host_len)) {
		snprintf(reason, reason_len, "\"%s\": an IPv6 address goes in brackets, [::]:3478",
			 text);
		return -1;
	}
	if (host_len >= sizeof(host)) {
		snprintf(reason, reason_len, "\"%.*s\" is not an IP address", (int)host_len, text);
		return -1;
	}
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (host_len == 0) {
		/* No host: every address of both families, as derper's ":3478". */
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len = sizeof(*sin);
	} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*sin6);
	} else {
		snprintf(reason, reason_len, "\"%s\" is not an IPv4 or IPv6 address", host);
		return -1;
	}
	return 0;
}

#endif
