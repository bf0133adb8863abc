// SPDX-License-Identifier: MIT
/*
 * The daemon run with derper's command line, as a derper systemd unit
 * would run it: -certmode manual with a -certdir holding <hostname>.crt and
 * .key serves DERP over TLS, -stun-port opens STUN on -a's host,
 * -bootstrap-dns-names fills /bootstrap-dns; flags of parts this build does
 * not have are refused by name and the daemon does not start.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

/* A UDP port nobody uses now (bound and released). */
static unsigned free_udp_port(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (rc == 0)
		rc = getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	IT_REQUIRE(rc == 0, "bind: %s", strerror(errno));
	return ntohs(sin.sin_port);
}

/* Whether 127.0.0.1:port (UDP) is taken, by trying to bind it. */
static bool udp_port_taken(unsigned port)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	int err = errno;
	close(fd);
	return rc < 0 && err == EADDRINUSE;
}

static void test_derper_unit_command_line(void)
{
	/* derper's manual mode reads <certdir>/<hostname>.crt and .key. */
	struct it_tls_files tls;
	it_tls_files_make(&tls, "hd-derper-flags");
	char crt[400], key[400];
	snprintf(crt, sizeof(crt), "%s/localhost.crt", tls.dir);
	snprintf(key, sizeof(key), "%s/localhost.key", tls.dir);
	IT_REQUIRE(rename(tls.cert, crt) == 0 && rename(tls.key, key) == 0, "rename: %s",
		   strerror(errno));

	char stun_port[8];
	unsigned stun = free_udp_port();
	snprintf(stun_port, sizeof(stun_port), "%u", stun);
	/* The port in -a is moot here: the harness hands the daemon its socket. */
	const char *const args[] = { "-a",
				     "127.0.0.1:443",
				     "-hostname",
				     "localhost",
				     "-certmode=manual",
				     "--certdir",
				     tls.dir,
				     "-stun",
				     "-stun-port",
				     stun_port,
				     "-http-port=-1",
				     "-bootstrap-dns-names",
				     "localhost",
				     "-verify-clients=false",
				     "-accept-connection-limit",
				     "+Inf",
				     NULL };
	struct it_daemon_opts o = { .tls = true, .extra_args = args };
	struct it_daemon *d = it_daemon_start(&o); /* ready = a DERP handshake over TLS */

	struct derp_client_opts copts = { .tls = true };
	struct derp_client *a = it_connect(d, &copts);
	struct derp_client *b = it_connect(d, &copts);
	it_require_relaying(a, b);
	IT_REQUIRE(udp_port_taken(stun), "STUN on -a's host, port %u", stun);
	IT_REQUIRE(it_daemon_log_contains(d, "bootstrap DNS: resolving 1 name"), "bootstrap DNS");
	IT_REQUIRE(it_daemon_log_contains(d, "(HTTPS)"), "served over TLS");
	it_tls_files_remove(&tls);
	unlink(crt);
	unlink(key);
	rmdir(tls.dir);
}

/* Runs the daemon with args; it must exit 2 at once, saying want. */
static void require_refused(const char *const *args, const char *want)
{
	char *argv[16];
	size_t n = 0;
	for (; args[n] && n + 1 < sizeof(argv) / sizeof(argv[0]); n++)
		argv[n] = (char *)args[n];
	argv[n] = NULL;
	char out[4096];
	int status;
	bool exited = it_run_daemon_to_exit(argv, out, sizeof(out), &status);
	IT_REQUIRE(exited, "still running with %s", args[0]);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 2, "exit status %d: %s", status,
		   out);
	IT_REQUIRE(strstr(out, want), "wanted \"%s\", got: %s", want, out);
}

static void test_missing_parts_are_refused_by_name(void)
{
	require_refused(
	    (const char *const[]){ "-a", ":0", "-mesh-with", "derp2.example.com", NULL },
	    "-mesh-with: not supported by this build (see docs/derper-flags.md)");
	require_refused((const char *const[]){ "-a", ":0", "-unpublished-bootstrap-dns-names",
					       "x.example", NULL },
			"-unpublished-bootstrap-dns-names=x.example: not supported by this build");
	require_refused((const char *const[]){ "-a", ":0", "-tcp-user-timeout", "5s", NULL },
			"-tcp-user-timeout=5s: not supported by this build");
	/* derper's own default on :443 is Let's Encrypt: said so rather than served as plain HTTP.
	 */
	require_refused((const char *const[]){ "-hostname", "derp.example.com", NULL },
			"-certmode letsencrypt (derper's default when -a's port is 443)");
	require_refused((const char *const[]){ "-stun-port", "x", NULL },
			"invalid value \"x\" for flag -stun-port");
	require_refused((const char *const[]){ "-no-such-flag", NULL },
			"flag provided but not defined: -no-such-flag");
}

IT_MAIN(IT_TEST(test_derper_unit_command_line), IT_TEST(test_missing_parts_are_refused_by_name))
