// SPDX-License-Identifier: MIT
/*
 * Integration test harness (see harness.h).
 *
 * Everything a test creates is recorded in `it` so that the runner can tear
 * it down whatever way the test ended: IT_REQUIRE longjmps back into
 * it_main, which then kills the daemons, prints their logs and releases the
 * rest. The watchdog (SIGALRM) and SIGTERM/SIGINT (meson's timeout) take the
 * async-signal-safe way out: kill the daemons, print what we can, _exit.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tls_selfsigned.h"

#define IT_MAX_DAEMONS 12
#define IT_MAX_CLIENTS 1024
#define IT_MAX_FDS     64
/*
 * Per-test watchdog: far above any test's own waits, below meson's timeout.
 * A sanitizer build runs the same work two to three times slower (the
 * bulk-data tests, queue_bound's 160 MiB, most of all), so it gets three
 * times as long, and scripts/test.sh gives its meson timeouts the same
 * multiplier: a hang still ends the test, a slow build does not.
 */
#ifdef IT_UNDER_ASAN
#define IT_WATCHDOG_S 270
#else
#define IT_WATCHDOG_S 90
#endif
/* Log bytes printed after a failure: the tail is what explains it. */
#define IT_LOG_DUMP_MAX (96 * 1024)

static struct {
	const char *daemon_path;
	const struct it_test *current;
	jmp_buf jump;
	bool in_test;
	struct it_daemon *daemons[IT_MAX_DAEMONS];
	size_t ndaemons;
	struct derp_client *clients[IT_MAX_CLIENTS];
	size_t nclients;
	int fds[IT_MAX_FDS];
	size_t nfds;
	int passed;
	int failed;
} it;

/*
 * What the signal handlers may touch: plain pids and fixed paths, written
 * before the daemon starts and cleared after it is reaped.
 */
static volatile sig_atomic_t live_pids[IT_MAX_DAEMONS];
static char live_logs[IT_MAX_DAEMONS][300];

/* ---- output ---- */

void it_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stdout, "  # ");
	vfprintf(stdout, fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
	fflush(stdout);
}

void it_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;
	fprintf(stdout, "  FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	if (it.in_test)
		longjmp(it.jump, 1);
	/* Outside a test (harness setup): nothing to unwind to. */
	exit(1);
}

/* ---- time ---- */

int64_t it_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void it_fill_pattern(uint8_t *buf, size_t len, uint64_t seed)
{
	/* splitmix64: cheap, and every byte depends on the seed. */
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
	for (size_t i = 0; i < len; i += 8) {
		x += 0x9e3779b97f4a7c15ull;
		uint64_t z = x;
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (size_t k = 0; k < 8 && i + k < len; k++)
			buf[i + k] = (uint8_t)(z >> (8 * k));
	}
}

uint32_t it_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void it_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

const char *it_type_name(uint8_t type)
{
	return derp_frame_type_name(type);
}

/* ---- files ---- */

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	IT_REQUIRE(fd >= 0, "open %s: %s", path, strerror(errno));
	/* The daemon refuses key files readable by others, whatever the umask did. */
	IT_REQUIRE(fchmod(fd, mode) == 0, "chmod %s: %s", path, strerror(errno));
	size_t len = strlen(text);
	IT_REQUIRE(write(fd, text, len) == (ssize_t)len, "write %s: %s", path, strerror(errno));
	close(fd);
}

/* Prints the tail of a daemon log with stdio (normal context). */
static void dump_log(const struct it_daemon *d)
{
	FILE *f = fopen(d->log_path, "r");
	if (!f) {
		printf("  (no daemon log at %s)\n", d->log_path);
		return;
	}
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	long start = size > IT_LOG_DUMP_MAX ? size - IT_LOG_DUMP_MAX : 0;
	fseek(f, start, SEEK_SET);
	printf("  ---- daemon log %s (port %u)%s ----\n", d->log_path, d->port,
	       start ? ", tail" : "");
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	printf("  ---- end of daemon log ----\n");
	fclose(f);
	fflush(stdout);
}

static void remove_dir(const char *dir)
{
	static const char *const names[] = { "server.key", "mesh.key", "hyper-derp.ini",
					     "daemon.log" };
	char path[400];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* ---- signals: the last-resort exit ---- */

static void write_str(const char *s)
{
	ssize_t rc = write(STDOUT_FILENO, s, strlen(s));
	(void)rc;
}

static void write_uint(unsigned v)
{
	char buf[16];
	size_t i = sizeof(buf);
	buf[--i] = '\0';
	do {
		buf[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	write_str(buf + i);
}

static void on_fatal_signal(int sig)
{
	write_str(sig == SIGALRM ? "  FAIL watchdog: the test ran too long\n"
				 : "  FAIL interrupted by a signal\n");
	for (size_t i = 0; i < IT_MAX_DAEMONS; i++) {
		if (live_pids[i] > 0)
			kill((pid_t)live_pids[i], SIGKILL);
	}
	for (size_t i = 0; i < IT_MAX_DAEMONS; i++) {
		if (live_pids[i] <= 0)
			continue;
		int fd = open(live_logs[i], O_RDONLY);
		if (fd < 0)
			continue;
		off_t size = lseek(fd, 0, SEEK_END);
		lseek(fd, size > IT_LOG_DUMP_MAX ? size - IT_LOG_DUMP_MAX : 0, SEEK_SET);
		write_str("  ---- daemon log (tail) ----\n");
		char buf[4096];
		ssize_t n;
		while ((n = read(fd, buf, sizeof(buf))) > 0) {
			ssize_t rc = write(STDOUT_FILENO, buf, (size_t)n);
			(void)rc;
		}
		close(fd);
	}
	write_uint((unsigned)it.passed);
	write_str(" passed, ");
	write_uint((unsigned)it.failed + 1);
	write_str(" failed\n");
	_exit(1);
}

/* ---- daemon ---- */

static int listen_loopback(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	IT_REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "bind: %s",
		   strerror(errno));
	IT_REQUIRE(listen(fd, 4096) == 0, "listen: %s", strerror(errno));
	socklen_t len = sizeof(sin);
	IT_REQUIRE(getsockname(fd, (struct sockaddr *)&sin, &len) == 0, "getsockname: %s",
		   strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

void it_child_setup_io(const char *log_path)
{
	/* If the test process dies, so does the daemon. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	int nullfd = open("/dev/null", O_RDONLY);
	if (logfd < 0 || nullfd < 0)
		_exit(126);
	dup2(nullfd, STDIN_FILENO);
	dup2(logfd, STDOUT_FILENO);
	dup2(logfd, STDERR_FILENO);
}

/* In the child: becomes the daemon. Only returns on failure (then _exit). */
static void exec_daemon(const struct it_daemon *d, int listen_fd, char **argv)
{
	it_child_setup_io(d->log_path);
	if (listen_fd < 0) {
		/* The daemon binds its port itself. */
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		execv(argv[0], argv);
		_exit(127);
	}
	/* Socket activation: the listening socket is fd 3, without close-on-exec. */
	if (listen_fd == 3)
		fcntl(3, F_SETFD, 0);
	else if (dup2(listen_fd, 3) < 0)
		_exit(126);
	char pid[24];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	unsetenv("LISTEN_FDNAMES");
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "itest: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static bool reap(struct it_daemon *d, int options)
{
	if (d->pid <= 0)
		return true;
	int status;
	pid_t r = waitpid(d->pid, &status, options);
	if (r != d->pid)
		return false;
	d->wait_status = status;
	for (size_t i = 0; i < IT_MAX_DAEMONS; i++) {
		if (live_pids[i] == d->pid)
			live_pids[i] = 0;
	}
	d->pid = 0;
	return true;
}

static void describe_status(int status, char *out, size_t cap)
{
	if (WIFEXITED(status))
		snprintf(out, cap, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(out, cap, "wait status 0x%x", status);
}

bool it_run_daemon_to_exit(char *const args[], char *out, size_t cap, int *status)
{
	const char *bin = getenv("HYPER_DERP_BIN");
	char *argv[16];
	int pfd[2];
	size_t have = 0, n = 0;

	IT_REQUIRE(bin && *bin, "HYPER_DERP_BIN must name the daemon");
	argv[n++] = (char *)bin;
	for (size_t i = 0; args[i] && n + 1 < sizeof(argv) / sizeof(argv[0]); i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	IT_REQUIRE(pipe2(pfd, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		execv(bin, argv);
		_exit(127);
	}
	close(pfd[1]);
	/* Output until the daemon exits (EOF), or the deadline for one that wrongly runs on. */
	int64_t deadline = it_now_ms() + 10000;
	for (;;) {
		struct pollfd pfd_in = { .fd = pfd[0], .events = POLLIN };
		int64_t left = deadline - it_now_ms();
		if (left <= 0 || poll(&pfd_in, 1, (int)left) <= 0)
			break;
		ssize_t got = read(pfd[0], out + have, cap - 1 - have);
		if (got <= 0 || have + (size_t)got + 1 >= cap)
			break;
		have += (size_t)got;
	}
	out[have] = '\0';
	close(pfd[0]);
	/* EOF comes as the daemon exits, a moment before it can be reaped. */
	pid_t reaped;
	while ((reaped = waitpid(pid, status, WNOHANG)) == 0 && it_now_ms() < deadline)
		it_sleep_ms(5);
	if (reaped == pid)
		return true;
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return false;
}

void it_daemon_require_alive(struct it_daemon *d)
{
	char how[96] = "not started";
	if (d->pid > 0 && !reap(d, WNOHANG))
		return;
	describe_status(d->wait_status, how, sizeof(how));
	it_fail(__FILE__, __LINE__, "daemon running", "the daemon is gone: %s", how);
}

static void write_key_files(struct it_daemon *d, const struct it_daemon_opts *opts, char *key_path,
			    char *mesh_path, size_t cap)
{
	char hex[KEY_HEX_LEN + 1], text[200];

	/* A known server key lets tests check Derp-Public-Key and build fast-start ClientInfo. */
	key_generate(d->server_priv, d->server_pub);
	key_to_hex(d->server_priv, hex);
	snprintf(text, sizeof(text), "{\"PrivateKey\": \"privkey:%s\"}\n", hex);
	snprintf(key_path, cap, "%s/server.key", d->dir);
	write_file(key_path, text, 0600);

	mesh_path[0] = '\0';
	if (opts->mesh_key) {
		randombytes_buf(d->mesh_key, sizeof(d->mesh_key));
		key_to_hex(d->mesh_key, hex);
		snprintf(text, sizeof(text), "%s\n", hex);
		snprintf(mesh_path, cap, "%s/mesh.key", d->dir);
		write_file(mesh_path, text, 0600);
		d->has_mesh_key = true;
	}
}

/* Polls with real handshakes until one completes, or the daemon dies, or time runs out. */
static void wait_ready(struct it_daemon *d, bool tls)
{
	int64_t deadline = it_now_ms() + IT_START_TIMEOUT_MS;
	char err[256] = "";
	for (;;) {
		it_daemon_require_alive(d);
		struct derp_client probe;
		struct derp_client_opts o = { .timeout_ms = 1000, .tls = tls };
		if (derp_client_connect(&probe, "127.0.0.1", d->port, &o, err, sizeof(err)) == 0) {
			bool key_ok = memcmp(probe.server_pub, d->server_pub, KEY_LEN) == 0;
			derp_client_close(&probe);
			IT_REQUIRE(key_ok, "the daemon did not load the server key file we wrote");
			return;
		}
		IT_REQUIRE(it_now_ms() < deadline, "daemon not ready after %d ms: %s",
			   IT_START_TIMEOUT_MS, err);
		it_sleep_ms(20);
	}
}

struct it_daemon *it_daemon_start(const struct it_daemon_opts *opts)
{
	static const struct it_daemon_opts defaults;
	if (!opts)
		opts = &defaults;
	IT_REQUIRE(it.ndaemons < IT_MAX_DAEMONS, "too many daemons in one test");
	struct it_daemon *d = calloc(1, sizeof(*d));
	IT_REQUIRE(d != NULL, "out of memory");
	it.daemons[it.ndaemons++] = d;

	const char *tmp = getenv("TMPDIR");
	snprintf(d->dir, sizeof(d->dir), "%s/hd-itest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(d->dir) != NULL, "mkdtemp %s: %s", d->dir, strerror(errno));
	snprintf(d->log_path, sizeof(d->log_path), "%s/daemon.log", d->dir);

	char key_path[300], mesh_path[300], ini_path[300];
	write_key_files(d, opts, key_path, mesh_path, sizeof(key_path));
	ini_path[0] = '\0';
	if (opts->ini) {
		snprintf(ini_path, sizeof(ini_path), "%s/hyper-derp.ini", d->dir);
		write_file(ini_path, opts->ini, 0600);
	}

	char workers[16];
	snprintf(workers, sizeof(workers), "%u", opts->workers ? opts->workers : 2);
	char *argv[32];
	int argc = 0;
	argv[argc++] = (char *)it.daemon_path;
	if (ini_path[0]) {
		argv[argc++] = "--config";
		argv[argc++] = ini_path;
	}
	argv[argc++] = "--key-file";
	argv[argc++] = key_path;
	argv[argc++] = "--mgmt-socket";
	argv[argc++] = "";
	argv[argc++] = "--workers";
	argv[argc++] = workers;
	/* Parallel test programs on a few cores must not all pin to the same ones. */
	argv[argc++] = "--pin-cores";
	argv[argc++] = (char *)(opts->pin_cores ? opts->pin_cores : "none");
	argv[argc++] = "--log-level";
	argv[argc++] = "debug";
	if (mesh_path[0]) {
		argv[argc++] = "--mesh-key-file";
		argv[argc++] = mesh_path;
	}
	char port[8];
	int lfd = -1;
	if (opts->bind_port) {
		snprintf(port, sizeof(port), "%u", opts->bind_port);
		argv[argc++] = "--listen";
		argv[argc++] = "127.0.0.1";
		argv[argc++] = "--port";
		argv[argc++] = port;
		d->port = opts->bind_port;
	} else {
		lfd = listen_loopback(&d->port);
	}
	for (size_t i = 0; opts->extra_args && opts->extra_args[i]; i++) {
		IT_REQUIRE(argc + 1 < (int)(sizeof(argv) / sizeof(argv[0])), "too many arguments");
		argv[argc++] = (char *)opts->extra_args[i];
	}
	argv[argc] = NULL;

	fflush(NULL);
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_daemon(d, lfd, argv);
	if (lfd >= 0)
		close(lfd);
	d->pid = pid;
	for (size_t i = 0; i < IT_MAX_DAEMONS; i++) {
		if (live_pids[i] == 0) {
			snprintf(live_logs[i], sizeof(live_logs[i]), "%s", d->log_path);
			live_pids[i] = pid;
			break;
		}
	}
	wait_ready(d, opts->tls);
	return d;
}

void it_daemon_signal(struct it_daemon *d, int sig)
{
	it_daemon_require_alive(d);
	IT_REQUIRE(kill(d->pid, sig) == 0, "kill: %s", strerror(errno));
}

bool it_daemon_wait_exit(struct it_daemon *d, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	while (!reap(d, WNOHANG)) {
		if (it_now_ms() >= deadline)
			return false;
		it_sleep_ms(5);
	}
	return true;
}

/* Reads the whole log as a C string (malloc'd). */
static char *read_log(const struct it_daemon *d)
{
	FILE *f = fopen(d->log_path, "r");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *text = malloc((size_t)size + 1);
	size_t n = text ? fread(text, 1, (size_t)size, f) : 0;
	fclose(f);
	if (text)
		text[n] = '\0';
	return text;
}

bool it_daemon_log_contains(struct it_daemon *d, const char *text)
{
	char *log = read_log(d);
	bool found = log && strstr(log, text);
	free(log);
	return found;
}

int it_daemon_worker_of_nth(struct it_daemon *d, const uint8_t pub[KEY_LEN], int nth)
{
	/* derp_session.c logs "[wN] worker N: nodekey:<hex> connected (seq ...)". */
	char nodekey[80], needle[100];
	key_to_nodekey(pub, nodekey);
	snprintf(needle, sizeof(needle), ": %s connected", nodekey);
	char *log = read_log(d);
	if (!log)
		return -1;
	int worker = -1;
	char *hit = log;
	for (int i = 0; (hit = strstr(hit, needle)) != NULL; i++, hit++) {
		if (i < nth)
			continue;
		char *line = hit;
		while (line > log && line[-1] != '\n')
			line--;
		char *w = strstr(line, "] worker ");
		if (w && w < hit)
			worker = atoi(w + strlen("] worker "));
		break;
	}
	free(log);
	return worker;
}

int it_daemon_worker_of(struct it_daemon *d, const uint8_t pub[KEY_LEN])
{
	return it_daemon_worker_of_nth(d, pub, 0);
}

/* ---- clients ---- */

static struct derp_client *client_slot(void)
{
	IT_REQUIRE(it.nclients < IT_MAX_CLIENTS, "too many clients in one test");
	struct derp_client *c = calloc(1, sizeof(*c));
	IT_REQUIRE(c != NULL, "out of memory");
	c->fd = -1;
	it.clients[it.nclients++] = c;
	return c;
}

struct derp_client *it_connect(struct it_daemon *d, const struct derp_client_opts *opts)
{
	struct derp_client *c = client_slot();
	char err[256];
	int rc = derp_client_connect(c, "127.0.0.1", d->port, opts, err, sizeof(err));
	if (rc < 0)
		it_daemon_require_alive(d);
	IT_REQUIRE(rc == 0, "connect: %s", err);
	return c;
}

struct derp_client *it_connect_with_key(struct it_daemon *d, const uint8_t priv[KEY_LEN])
{
	struct derp_client_opts o = { .private_key = priv };
	return it_connect(d, &o);
}

void it_client_close(struct derp_client *c)
{
	derp_client_close(c);
}

int it_read_frame(struct derp_client *c, int timeout_ms, uint8_t *type, const uint8_t **payload,
		  uint32_t *len)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - it_now_ms();
		int rc = derp_client_read_frame(c, left > 0 ? (int)left : 0, type, payload, len);
		/* KeepAlives come on the server's own schedule: never part of what a test checks.
		 */
		if (rc != 1 || *type != DERP_FRAME_KEEP_ALIVE)
			return rc;
	}
}

static const char *read_result_text(int rc)
{
	if (rc == 0)
		return "timed out";
	if (errno == 0)
		return "connection closed by the server";
	return strerror(errno);
}

const uint8_t *it_expect_frame(struct derp_client *c, uint8_t type, int timeout_ms, uint32_t *len)
{
	uint8_t got;
	const uint8_t *payload;
	uint32_t n;
	int rc = it_read_frame(c, timeout_ms, &got, &payload, &n);
	IT_REQUIRE(rc == 1, "waiting for %s: %s", it_type_name(type), read_result_text(rc));
	IT_REQUIRE(got == type, "got %s (0x%02x, %u bytes), want %s", it_type_name(got), got, n,
		   it_type_name(type));
	if (len)
		*len = n;
	return payload;
}

void it_expect_packet(struct derp_client *c, const uint8_t src[KEY_LEN], const uint8_t *pkt,
		      size_t len, int timeout_ms)
{
	uint32_t n;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_RECV_PACKET, timeout_ms, &n);
	IT_REQUIRE(n == KEY_LEN + len, "RecvPacket of %u bytes, want %zu", n, KEY_LEN + len);
	IT_REQUIRE(memcmp(p, src, KEY_LEN) == 0, "RecvPacket from the wrong source key");
	IT_REQUIRE(memcmp(p + KEY_LEN, pkt, len) == 0, "RecvPacket content differs");
}

void it_expect_quiet(struct derp_client *c, int ms)
{
	uint8_t type;
	const uint8_t *payload;
	uint32_t len;
	int rc = it_read_frame(c, ms, &type, &payload, &len);
	IT_REQUIRE(rc == 0, "expected nothing for %d ms, got %s", ms,
		   rc == 1 ? it_type_name(type) : read_result_text(rc));
}

void it_expect_closed(struct derp_client *c, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	for (;;) {
		uint8_t type;
		const uint8_t *payload;
		uint32_t len;
		int64_t left = deadline - it_now_ms();
		int rc = derp_client_read_frame(c, left > 0 ? (int)left : 0, &type, &payload, &len);
		if (rc < 0)
			return; /* EOF or reset: closed */
		IT_REQUIRE(rc == 1, "the server did not close the connection within %d ms",
			   timeout_ms);
	}
}

void it_expect_ping_pong(struct derp_client *c)
{
	uint8_t data[8];
	randombytes_buf(data, sizeof(data));
	IT_REQUIRE(derp_client_send_ping(c, data) == 0, "send Ping: %s", strerror(errno));
	uint32_t len;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_PONG, IT_FRAME_TIMEOUT_MS, &len);
	IT_REQUIRE(len == 8, "Pong of %u bytes", len);
	IT_REQUIRE(memcmp(p, data, 8) == 0, "Pong does not echo the Ping's bytes");
}

void it_send_packet(struct derp_client *c, const uint8_t dst[KEY_LEN], const uint8_t *pkt,
		    size_t len)
{
	IT_REQUIRE(derp_client_send_packet(c, dst, pkt, len) == 0, "SendPacket: %s",
		   strerror(errno));
}

void it_send_raw(struct derp_client *c, const void *buf, size_t len)
{
	IT_REQUIRE(derp_client_write_all(c, buf, len) == 0, "write: %s", strerror(errno));
}

void it_dribble_max_frame(struct derp_client *from, struct derp_client *to, size_t piece,
			  int pause_every, int pause_ms, uint64_t seed)
{
	size_t total = DERP_FRAME_HDR_LEN + KEY_LEN + DERP_MAX_PACKET_SIZE;
	uint8_t *frame = malloc(total);
	IT_REQUIRE(frame, "out of memory");
	derp_frame_header_put(frame, DERP_FRAME_SEND_PACKET, KEY_LEN + DERP_MAX_PACKET_SIZE);
	memcpy(frame + DERP_FRAME_HDR_LEN, to->pub, KEY_LEN);
	it_fill_pattern(frame + DERP_FRAME_HDR_LEN + KEY_LEN, DERP_MAX_PACKET_SIZE, seed);
	int n = 0;
	for (size_t off = 0; off < total; off += piece) {
		it_send_raw(from, frame + off, total - off < piece ? total - off : piece);
		if (pause_ms && ++n % pause_every == 0)
			it_sleep_ms(pause_ms);
	}
	it_expect_packet(to, from->pub, frame + DERP_FRAME_HDR_LEN + KEY_LEN, DERP_MAX_PACKET_SIZE,
			 IT_FRAME_TIMEOUT_MS);
	free(frame);
}

void it_require_relaying(struct derp_client *a, struct derp_client *b)
{
	uint8_t pkt[100];
	randombytes_buf(pkt, sizeof(pkt));
	it_send_packet(a, b->pub, pkt, sizeof(pkt));
	it_expect_packet(b, a->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	randombytes_buf(pkt, sizeof(pkt));
	it_send_packet(b, a->pub, pkt, sizeof(pkt));
	it_expect_packet(a, b->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
}

/* ---- raw TCP ---- */

int it_tcp_connect(struct it_daemon *d)
{
	IT_REQUIRE(it.nfds < IT_MAX_FDS, "too many sockets in one test");
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	it.fds[it.nfds++] = fd;
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(d->port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	IT_REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
		   strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void forget_fd(int fd)
{
	for (size_t i = 0; i < it.nfds; i++) {
		if (it.fds[i] == fd) {
			it.fds[i] = it.fds[--it.nfds];
			return;
		}
	}
}

void it_fd_close(int fd)
{
	forget_fd(fd);
	close(fd);
}

void it_fd_send(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		IT_REQUIRE(n > 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void it_fd_send_ignoring_errors(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Waits for fd to be readable; false at the deadline. */
static bool wait_readable(int fd, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - it_now_ms();
		if (left <= 0)
			return false;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return true;
		IT_REQUIRE(rc == 0 || errno == EINTR, "poll: %s", strerror(errno));
	}
}

size_t it_fd_read_until_closed(int fd, void *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t kept = 0;
	uint8_t scratch[16384];
	for (;;) {
		IT_REQUIRE(wait_readable(fd, deadline),
			   "the server did not close the connection within %d ms (%zu bytes read)",
			   timeout_ms, kept);
		uint8_t *dst = kept < cap ? (uint8_t *)buf + kept : scratch;
		size_t room = kept < cap ? cap - kept : sizeof(scratch);
		ssize_t n = recv(fd, dst, room, 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return kept;
		if (n < 0 && errno == EINTR)
			continue;
		IT_REQUIRE(n > 0, "recv: %s", strerror(errno));
		if (kept < cap)
			kept += (size_t)n;
	}
}

void it_fd_read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t got = 0;
	while (got < len) {
		IT_REQUIRE(wait_readable(fd, deadline), "timed out after %zu of %zu bytes", got,
			   len);
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		IT_REQUIRE(n > 0, "connection %s after %zu of %zu bytes",
			   n == 0 ? "closed" : strerror(errno), got, len);
		got += (size_t)n;
	}
}

size_t it_fd_read_http_head(int fd, char *buf, size_t cap, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	size_t len = 0;
	/* One byte at a time: whatever follows the head (DERP frames) stays in the socket. */
	while (len < 4 || memcmp(buf + len - 4, "\r\n\r\n", 4) != 0) {
		IT_REQUIRE(len + 1 < cap, "HTTP response head longer than %zu bytes", cap);
		IT_REQUIRE(wait_readable(fd, deadline), "timed out reading the HTTP head");
		ssize_t n = recv(fd, buf + len, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		IT_REQUIRE(n == 1, "connection %s inside the HTTP head",
			   n == 0 ? "closed" : strerror(errno));
		len++;
	}
	buf[len] = '\0';
	return len;
}

const char it_upgrade_request[] = "GET /derp HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\n"
				  "Upgrade: DERP\r\n\r\n";

void it_fd_expect_server_key(struct it_daemon *d, int fd)
{
	uint8_t frame[DERP_FRAME_HDR_LEN + DERP_MAGIC_LEN + KEY_LEN];
	it_fd_read_exact(fd, frame, sizeof(frame), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(frame[0] == DERP_FRAME_SERVER_KEY, "first frame is 0x%02x, want ServerKey",
		   frame[0]);
	IT_REQUIRE(it_get_be32(frame + 1) == DERP_MAGIC_LEN + KEY_LEN, "ServerKey length %u",
		   it_get_be32(frame + 1));
	IT_REQUIRE(memcmp(frame + DERP_FRAME_HDR_LEN, derp_magic, DERP_MAGIC_LEN) == 0,
		   "ServerKey has a bad magic");
	IT_REQUIRE(memcmp(frame + DERP_FRAME_HDR_LEN + DERP_MAGIC_LEN, d->server_pub, KEY_LEN) == 0,
		   "ServerKey carries the wrong key");
}

int it_raw_upgrade(struct it_daemon *d)
{
	int fd = it_tcp_connect(d);
	it_fd_send(fd, it_upgrade_request, strlen(it_upgrade_request));
	char head[1024];
	it_fd_read_http_head(fd, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(strncmp(head, "HTTP/1.1 101 ", 13) == 0, "answered: %.40s", head);
	it_fd_expect_server_key(d, fd);
	return fd;
}

struct derp_client *it_wrap_fd(int fd)
{
	struct derp_client *c = client_slot();
	char err[128];
	/* The client owns the socket from here on (also on failure). */
	forget_fd(fd);
	IT_REQUIRE(derp_client_wrap_socket(c, fd, err, sizeof(err)) == 0, "wrap: %s", err);
	return c;
}

/* ---- runner ---- */

/* After a passing test: everything must shut down cleanly. May fail (longjmp). */
static void finish_clean(void)
{
	for (size_t i = 0; i < it.nclients; i++)
		derp_client_close(it.clients[i]);
	for (size_t i = 0; i < it.ndaemons; i++) {
		struct it_daemon *d = it.daemons[i];
		if (d->pid <= 0)
			continue;
		it_daemon_signal(d, SIGTERM);
		IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS),
			   "the daemon did not exit within %d ms of SIGTERM", IT_STOP_TIMEOUT_MS);
		char how[96];
		describe_status(d->wait_status, how, sizeof(how));
		IT_REQUIRE(WIFEXITED(d->wait_status) && WEXITSTATUS(d->wait_status) == 0,
			   "the daemon ended with %s after SIGTERM", how);
	}
	/* Sanitizer builds: a report that did not stop the daemon still fails the test. */
	for (size_t i = 0; i < it.ndaemons; i++) {
		IT_REQUIRE(!it_daemon_log_contains(it.daemons[i], "runtime error:") &&
			       !it_daemon_log_contains(it.daemons[i], "Sanitizer"),
			   "the daemon log has a sanitizer report");
	}
}

/* Whatever happened: no process, socket or file outlives the test. */
static void release_all(bool failed)
{
	for (size_t i = 0; i < it.ndaemons; i++) {
		struct it_daemon *d = it.daemons[i];
		if (d->pid > 0) {
			kill(d->pid, SIGKILL);
			reap(d, 0);
		}
		if (failed)
			dump_log(d);
		if (!getenv("HD_ITEST_KEEP"))
			remove_dir(d->dir);
		free(d);
	}
	it.ndaemons = 0;
	for (size_t i = 0; i < it.nclients; i++) {
		derp_client_close(it.clients[i]);
		free(it.clients[i]);
	}
	it.nclients = 0;
	for (size_t i = 0; i < it.nfds; i++)
		close(it.fds[i]);
	it.nfds = 0;
}

/* Runs one test and, if it passed, its clean shutdown. Returns whether both passed. */
static bool run_test(const struct it_test *t)
{
	/* Kept in `it`, not in locals: nothing here may depend on locals after a longjmp. */
	it.current = t;
	it.in_test = true;
	if (setjmp(it.jump) != 0) {
		it.in_test = false;
		return false;
	}
	it.current->fn();
	finish_clean();
	it.in_test = false;
	return true;
}

int it_main(int argc, char **argv, const struct it_test *tests, size_t ntests)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_fatal_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	it.daemon_path = getenv("HYPER_DERP_BIN");
	if (!it.daemon_path || !*it.daemon_path) {
		fprintf(stderr, "HYPER_DERP_BIN must name the hyper-derp executable\n");
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "libsodium failed to initialise\n");
		return 2;
	}
	/* An optional argument runs only the tests whose names contain it. */
	const char *filter = argc > 1 ? argv[1] : NULL;

	for (size_t i = 0; i < ntests; i++) {
		const struct it_test *t = &tests[i];
		if (filter && !strstr(t->name, filter))
			continue;
		printf("RUN  %s\n", t->name);
		int64_t start = it_now_ms();
		alarm(IT_WATCHDOG_S);
		bool failed = !run_test(t);
		alarm(0);
		release_all(failed);
		if (failed) {
			it.failed++;
			printf("FAIL %s (%ld ms)\n", t->name, (long)(it_now_ms() - start));
		} else {
			it.passed++;
			printf("ok   %s (%ld ms)\n", t->name, (long)(it_now_ms() - start));
		}
	}
	printf("%d passed, %d failed\n", it.passed, it.failed);
	return it.failed ? 1 : 0;
}

/* ---- TLS ---- */

void it_tls_files_make(struct it_tls_files *f, const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	char err[256];

	it_tls_files_remove(f);
	snprintf(f->dir, sizeof(f->dir), "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
	IT_REQUIRE(mkdtemp(f->dir), "mkdtemp: %s", strerror(errno));
	snprintf(f->cert, sizeof(f->cert), "%s/tls.crt", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/tls.key", f->dir);
	IT_REQUIRE(tls_selfsigned_write_pem(f->cert, f->key, err, sizeof(err)) == 0, "%s", err);
}

void it_tls_files_remove(struct it_tls_files *f)
{
	if (!f->dir[0])
		return;
	unlink(f->cert);
	unlink(f->key);
	rmdir(f->dir);
	f->dir[0] = '\0';
}

/*
 * A port that is free now, below the kernel's range of ephemeral ports: a
 * port from that range could be taken as the source port of some other
 * connection on this machine while the relay is down between two starts.
 */
uint16_t it_free_port(void)
{
	int low = 32768;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f) {
		if (fscanf(f, "%d", &low) != 1)
			low = 32768;
		fclose(f);
	}
	IT_REQUIRE(low > 11024, "ephemeral ports start at %d: no room below", low);
	for (int tries = 0; tries < 100; tries++) {
		uint16_t port = (uint16_t)(low - 10000 + (int)(randombytes_random() % 10000));
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		bool ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	IT_REQUIRE(false, "no free port below %d", low);
	return 0;
}
