// SPDX-License-Identifier: MIT
/*
 * The daemon run with derper's command line, as a derper systemd unit
 * would run it: -certmode manual with a -certdir holding <hostname>.crt and
 * .key serves DERP over TLS, -stun-port opens STUN on -a's host,
 * -bootstrap-dns-names fills /bootstrap-dns; flags of parts this build does
 * not have are refused by name and the daemon does not start.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
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
	/* The renamed files first: it_tls_files_remove then removes the directory. */
	unlink(crt);
	unlink(key);
	it_tls_files_remove(&tls);
}

/* The whole file as a C string in buf (cut to cap); "" if it cannot be read. */
static void read_text(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
}

/*
 * Runs the daemon as nobody with a derper unit's command line (no
 * --mgmt-socket, no /run directory of its own), runtime_dir as systemd's
 * RUNTIME_DIRECTORY (NULL: unset). Returns whether it got to listening
 * within 10 s; it is stopped with SIGTERM and must exit 0. log is its output.
 */
static bool runs_as_nobody(const char *dir, const char *runtime_dir, char *log, size_t cap)
{
	char key[400], log_path[400];
	snprintf(key, sizeof(key), "%s/derper.key", dir);
	snprintf(log_path, sizeof(log_path), "%s/daemon%s.log", dir, runtime_dir ? "-run" : "");
	const char *bin = getenv("HYPER_DERP_BIN");
	IT_REQUIRE(bin, "HYPER_DERP_BIN is not set");

	fflush(NULL);
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		it_child_setup_io(log_path);
		if (runtime_dir)
			setenv("RUNTIME_DIRECTORY", runtime_dir, 1);
		else
			unsetenv("RUNTIME_DIRECTORY");
		unsetenv("LISTEN_FDS");
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(126);
		execl(bin, bin, "-a", "127.0.0.1:0", "-stun=false", "-c", key, "--workers", "1",
		      "--pin-cores", "none", (char *)NULL);
		_exit(127);
	}
	bool listening = false;
	int status = 0;
	bool exited = false;
	for (int64_t end = it_now_ms() + 10000; it_now_ms() < end; it_sleep_ms(20)) {
		read_text(log_path, log, cap);
		if (strstr(log, "listening on")) {
			listening = true;
			break;
		}
		if (waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			break;
		}
	}
	if (!exited) {
		kill(pid, SIGTERM);
		waitpid(pid, &status, 0);
	}
	read_text(log_path, log, cap);
	IT_REQUIRE(!listening || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
		   "SIGTERM: status %d: %s", status, log);
	return listening;
}

/*
 * derper units often run as a user of their own without a /run directory:
 * the relay must start there with derper's flags alone, its management
 * socket in RuntimeDirectory= when systemd gives one, else none.
 */
static void test_derper_unit_as_its_own_user(void)
{
	char dir[] = "/tmp/hd-derper-user-XXXXXX";
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	IT_REQUIRE(chown(dir, 65534, 65534) == 0, "chown: %s", strerror(errno));
	char runtime[300], sock[400], log[8192];
	snprintf(runtime, sizeof(runtime), "%s/run", dir);
	IT_REQUIRE(mkdir(runtime, 0750) == 0 && chown(runtime, 65534, 65534) == 0, "mkdir run");
	snprintf(sock, sizeof(sock), "%s/mgmt.sock", runtime);

	bool plain = runs_as_nobody(dir, NULL, log, sizeof(log));
	bool in_runtime = plain && runs_as_nobody(dir, runtime, log, sizeof(log));
	bool had_socket = in_runtime && strstr(log, sock) != NULL;
	char cleanup[600];
	snprintf(cleanup, sizeof(cleanup), "rm -rf '%s'", dir);
	IT_REQUIRE(system(cleanup) == 0, "cleanup");
	IT_REQUIRE(plain, "did not start as nobody without RUNTIME_DIRECTORY: %s", log);
	IT_REQUIRE(in_runtime, "did not start as nobody with RUNTIME_DIRECTORY: %s", log);
	IT_REQUIRE(had_socket, "management socket not in RUNTIME_DIRECTORY: %s", log);
}

/*
 * Removes dir and the files in it: the daemon may leave more than the key
 * beside it (other parts keep their secrets next to the key file).
 */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	char path[600];
	for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d)) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

/*
 * Runs the daemon with args; it must exit at once with status, saying want
 * (status 2: the command line is refused; 1: a part refuses at start).
 */
static void require_exit(const char *const *args, int want_status, const char *want)
{
	/*
	 * Run as root, derper's -c default is /var/lib/derper/derper.key: a
	 * daemon that gets past its command line would make that file. Each
	 * run gets a key path of its own instead.
	 */
	char dir[] = "/tmp/hd-derper-refused-XXXXXX";
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	char key[64];
	snprintf(key, sizeof(key), "%s/derper.key", dir);
	char *argv[20];
	size_t n = 0;
	for (; args[n] && n + 3 < sizeof(argv) / sizeof(argv[0]); n++)
		argv[n] = (char *)args[n];
	argv[n++] = "-c";
	argv[n++] = key;
	argv[n] = NULL;
	char out[4096];
	int status;
	bool exited = it_run_daemon_to_exit(argv, out, sizeof(out), &status);
	remove_dir(dir);
	IT_REQUIRE(exited, "still running with %s", args[0]);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == want_status, "exit status %d: %s",
		   status, out);
	IT_REQUIRE(strstr(out, want), "wanted \"%s\", got: %s", want, out);
}

static void require_refused(const char *const *args, const char *want)
{
	require_exit(args, 2, want);
}

/* Whether this build has the key section.key (--help lists every key under its section). */
static bool has_key(const char *section, const char *key)
{
	char *const args[] = { "--help", NULL };
	static char out[65536];
	char head[64], line[96];
	int status;
	IT_REQUIRE(it_run_daemon_to_exit(args, out, sizeof(out), &status), "--help ran on");
	snprintf(head, sizeof(head), "\n  [%s]\n", section);
	snprintf(line, sizeof(line), "\n    %s = ", key);
	const char *p = strstr(out, head);
	if (!p)
		return false;
	const char *next = strstr(p + strlen(head), "\n  [");
	const char *hit = strstr(p, line);
	return hit && (!next || hit < next);
}

static void test_missing_parts_are_refused_by_name(void)
{
	/* Until the mesh part's key is there (then the flag works: derper_flags.c looks it up). */
	if (!has_key("mesh", "with"))
		require_refused(
		    (const char *const[]){ "-a", ":0", "-mesh-with", "derp2.example.com", NULL },
		    "-mesh-with: not supported by this build (see docs/derper-flags.md)");
	require_refused((const char *const[]){ "-a", ":0", "-unpublished-bootstrap-dns-names",
					       "x.example/rollout.example", NULL },
			"rollout TXT records (NAME/TXTNAME) are not supported");
	/* A value the key refuses is named with the key's own reason. */
	require_refused((const char *const[]){ "-a", ":0", "-tcp-user-timeout", "2h", NULL },
			"tcp_user_timeout_ms");
	/*
	 * derper's own default on :443 is Let's Encrypt: said so rather than
	 * served as plain HTTP. With the certificate part it is tls.mode =
	 * acme, which refuses to start without its ACME client's settings.
	 */
	if (has_key("tls", "mode"))
		require_exit((const char *const[]){ "-hostname", "derp.example.com", NULL }, 1,
			     "tls.mode = acme needs");
	else
		require_refused((const char *const[]){ "-hostname", "derp.example.com", NULL },
				"-certmode letsencrypt (derper's default when -a's port is 443)");
	require_refused((const char *const[]){ "-stun-port", "x", NULL },
			"invalid value \"x\" for flag -stun-port");
	require_refused((const char *const[]){ "-no-such-flag", NULL },
			"flag provided but not defined: -no-such-flag");
}

IT_MAIN(IT_TEST(test_derper_unit_command_line), IT_TEST(test_derper_unit_as_its_own_user),
	IT_TEST(test_missing_parts_are_refused_by_name))
