// SPDX-License-Identifier: MIT
#include "test_mgmt_daemon.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define CLI_TIMEOUT_MS	 15000
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS	 10000

/*
 * Daemons of the running test. A failed test leaves its daemons behind
 * (IT_REQUIRE jumps out); md_main kills them after the test and shows their logs.
 */
#define MAX_LIVE 4
static struct mgmt_daemon *live[MAX_LIVE];

static const char *env_path(const char *name)
{
	const char *v = getenv(name);
	IT_REQUIRE(v && *v, "%s must name the executable", name);
	return v;
}

static void print_log(const struct mgmt_daemon *d)
{
	FILE *f = fopen(d->it.log_path, "r");
	char line[1024];
	if (!f)
		return;
	printf("  ---- daemon log %s ----\n", d->it.log_path);
	while (fgets(line, sizeof(line), f))
		printf("  | %s", line);
	printf("  ---- end of daemon log ----\n");
	fclose(f);
}

/* Removes the daemon's directory and whatever a test put in it (flat). */
static void remove_files(struct mgmt_daemon *d)
{
	if (getenv("HD_ITEST_KEEP"))
		return;
	DIR *dir = opendir(d->it.dir);
	if (!dir)
		return;
	char path[600];
	for (struct dirent *e; (e = readdir(dir));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->it.dir, e->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(d->it.dir);
}

static void release(struct mgmt_daemon *d, bool show_log)
{
	if (d->it.pid > 0) {
		kill(d->it.pid, SIGKILL);
		waitpid(d->it.pid, NULL, 0);
		d->it.pid = 0;
	}
	if (show_log)
		print_log(d);
	if (d->notify_fd >= 0)
		close(d->notify_fd);
	remove_files(d);
	free(d);
}

static void forget(struct mgmt_daemon *d)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (live[i] == d)
			live[i] = NULL;
	}
}

static void remember(struct mgmt_daemon *d)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (!live[i]) {
			live[i] = d;
			return;
		}
	}
	IT_REQUIRE(false, "more than %d daemons at once", MAX_LIVE);
}

static void kill_leftovers(void)
{
	for (int i = 0; i < MAX_LIVE; i++) {
		if (!live[i])
			continue;
		printf("  (the failed test left a daemon running: its log follows)\n");
		release(live[i], true);
		live[i] = NULL;
	}
}

int md_main(int argc, char **argv, const struct it_test *tests, size_t ntests)
{
	int failed = 0;
	for (size_t i = 0; i < ntests; i++) {
		/* The same filter as the harness: an argument picks tests by name. */
		if (argc > 1 && !strstr(tests[i].name, argv[1]))
			continue;
		failed |= it_main(1, argv, &tests[i], 1);
		kill_leftovers();
	}
	return failed ? 1 : 0;
}

static int open_notify_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	IT_REQUIRE(strlen(path) < sizeof(addr.sun_path), "%s: path too long", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	IT_REQUIRE(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind %s: %s", path,
		   strerror(errno));
	return fd;
}

static void exec_daemon(struct mgmt_daemon *d, const struct md_opts *o, const char *key_path)
{
	char *argv[32];
	int argc = 0;

	it_child_setup_io(d->it.log_path);
	if (o->nofile) {
		/* Hard too: the daemon raises its soft limit to the hard one. */
		struct rlimit rl = { .rlim_cur = o->nofile, .rlim_max = o->nofile };
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
			dprintf(STDERR_FILENO, "test: setrlimit: %s\n", strerror(errno));
			_exit(126);
		}
	}
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	if (!o->notify_socket)
		unsetenv("NOTIFY_SOCKET");

	argv[argc++] = (char *)getenv("HYPER_DERP_BIN");
	if (o->ini) {
		argv[argc++] = "--config";
		argv[argc++] = d->ini_path;
	}
	argv[argc++] = "--listen";
	argv[argc++] = (char *)(o->listen ? o->listen : "127.0.0.1");
	char port[8];
	snprintf(port, sizeof(port), "%u", o->port);
	argv[argc++] = "--port";
	argv[argc++] = port;
	argv[argc++] = "--key-file";
	argv[argc++] = (char *)key_path;
	argv[argc++] = "--mgmt-socket";
	argv[argc++] = d->sock;
	argv[argc++] = "--workers";
	argv[argc++] = "2";
	argv[argc++] = "--pin-cores";
	argv[argc++] = "none";
	if (!o->no_metrics) {
		argv[argc++] = "--metrics-listen";
		argv[argc++] = (char *)(o->metrics ? o->metrics : "127.0.0.1:0");
	}
	argv[argc] = NULL;
	execv(argv[0], argv);
	dprintf(STDERR_FILENO, "test: exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Learns the port, key and metrics address from `show status` once it answers. */
static void wait_ready(struct mgmt_daemon *d)
{
	static struct md_out o;
	int64_t deadline = it_now_ms() + START_TIMEOUT_MS;

	for (;;) {
		int status;
		IT_REQUIRE(waitpid(d->it.pid, &status, WNOHANG) == 0,
			   "the daemon exited during start-up (status 0x%x)", status);
		if (md_cli(d, &o, NULL, "--json", "show", "status", NULL) == 0)
			break;
		IT_REQUIRE(it_now_ms() < deadline,
			   "the management socket did not answer within %d ms: %s",
			   START_TIMEOUT_MS, o.err);
		it_sleep_ms(50);
	}
	struct json_doc doc;
	char err[128];
	IT_REQUIRE(json_parse(o.out, strlen(o.out), &doc, err, sizeof(err)) == 0,
		   "show status --json: %s", err);
	d->it.port = (uint16_t)json_get_u64(doc.root, "port", 0);
	snprintf(d->metrics, sizeof(d->metrics), "%s", json_get_str(doc.root, "metrics", ""));
	const char *key = json_get_str(doc.root, "server_key", "");
	IT_REQUIRE(key_from_hex(key, strlen(key), "nodekey:", d->it.server_pub) == 0,
		   "show status: bad server_key \"%s\"", key);
	json_doc_free(&doc);
	IT_REQUIRE(d->it.port != 0, "show status gave no port");
}

/* Makes the daemon's directory and files, then forks it. */
static struct mgmt_daemon *spawn(const struct md_opts *o)
{
	char key_path[400];

	env_path("HYPER_DERP_BIN");
	env_path("HDCLI_BIN");
	struct mgmt_daemon *d = calloc(1, sizeof(*d));
	IT_REQUIRE(d != NULL, "out of memory");
	d->notify_fd = -1;
	snprintf(d->it.dir, sizeof(d->it.dir), "/tmp/hd-mgmt-test-XXXXXX");
	IT_REQUIRE(mkdtemp(d->it.dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(d->it.log_path, sizeof(d->it.log_path), "%s/daemon.log", d->it.dir);
	if (o->sock)
		snprintf(d->sock, sizeof(d->sock), "%s", o->sock);
	else
		snprintf(d->sock, sizeof(d->sock), "%s/mgmt.sock", d->it.dir);
	snprintf(d->ini_path, sizeof(d->ini_path), "%s/hyper-derp.ini", d->it.dir);
	snprintf(key_path, sizeof(key_path), "%s/server.key", d->it.dir);
	remember(d);

	if (o->ini) {
		FILE *f = fopen(d->ini_path, "w");
		IT_REQUIRE(f != NULL, "%s: %s", d->ini_path, strerror(errno));
		fputs(o->ini, f);
		fclose(f);
	}
	if (o->notify_socket) {
		char path[400];
		snprintf(path, sizeof(path), "%s/notify.sock", d->it.dir);
		d->notify_fd = open_notify_socket(path);
		setenv("NOTIFY_SOCKET", path, 1);
	}
	fflush(NULL);
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0)
		exec_daemon(d, o, key_path);
	d->it.pid = pid;
	if (o->notify_socket)
		unsetenv("NOTIFY_SOCKET");
	return d;
}

struct mgmt_daemon *md_start(const struct md_opts *opts)
{
	static const struct md_opts defaults;
	struct mgmt_daemon *d = spawn(opts ? opts : &defaults);
	wait_ready(d);
	return d;
}

/* Waits up to STOP_TIMEOUT_MS for the daemon to exit; returns its wait status. */
static int wait_exit(struct mgmt_daemon *d)
{
	int status = 0;
	int64_t deadline = it_now_ms() + STOP_TIMEOUT_MS;
	for (;;) {
		pid_t r = waitpid(d->it.pid, &status, WNOHANG);
		if (r == d->it.pid)
			break;
		IT_REQUIRE(it_now_ms() < deadline, "the daemon did not exit within %d ms",
			   STOP_TIMEOUT_MS);
		it_sleep_ms(20);
	}
	d->it.pid = 0;
	return status;
}

int md_start_failing(const struct md_opts *opts, char *log, size_t cap)
{
	static const struct md_opts defaults;
	struct mgmt_daemon *d = spawn(opts ? opts : &defaults);
	int status = wait_exit(d);
	FILE *f = fopen(d->it.log_path, "r");
	size_t n = f ? fread(log, 1, cap - 1, f) : 0;
	log[n] = '\0';
	if (f)
		fclose(f);
	forget(d);
	release(d, false);
	IT_REQUIRE(WIFEXITED(status), "the daemon died of a signal (status 0x%x)", status);
	return WEXITSTATUS(status);
}

void md_stop(struct mgmt_daemon *d)
{
	IT_REQUIRE(kill(d->it.pid, SIGTERM) == 0, "kill: %s", strerror(errno));
	int status = wait_exit(d);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		   "the daemon ended with status 0x%x after SIGTERM", status);
	forget(d);
	release(d, false);
}

/* Reads both pipes until the child closes them or the deadline passes. */
static void drain_pipes(int out_fd, int err_fd, struct md_out *o, int64_t deadline)
{
	size_t out_len = 0, err_len = 0;
	struct pollfd pfd[2] = { { .fd = out_fd, .events = POLLIN },
				 { .fd = err_fd, .events = POLLIN } };
	while ((pfd[0].fd >= 0 || pfd[1].fd >= 0) && it_now_ms() < deadline) {
		if (poll(pfd, 2, 100) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			char *buf = i == 0 ? o->out : o->err;
			size_t *len = i == 0 ? &out_len : &err_len;
			size_t cap = i == 0 ? sizeof(o->out) : sizeof(o->err);
			char scratch[4096];
			bool room = *len + 1 < cap;
			ssize_t n = read(pfd[i].fd, room ? buf + *len : scratch,
					 room ? cap - 1 - *len : sizeof(scratch));
			if (n <= 0) {
				pfd[i].fd = -1;
				continue;
			}
			if (room)
				*len += (size_t)n;
		}
	}
	o->out[out_len] = '\0';
	o->err[err_len] = '\0';
}

#define MAX_WORDS 32

/* Runs hdcli --socket SOCK words... */
static int run_cli(struct mgmt_daemon *d, struct md_out *o, const char *in_text,
		   const char *const *words, int nwords)
{
	char *argv[MAX_WORDS + 4];
	int argc = 0;
	int out_pipe[2], err_pipe[2], in_pipe[2];

	argv[argc++] = (char *)getenv("HDCLI_BIN");
	argv[argc++] = "--socket";
	argv[argc++] = d->sock;
	for (int i = 0; i < nwords; i++)
		argv[argc++] = (char *)words[i];
	argv[argc] = NULL;

	IT_REQUIRE(pipe2(out_pipe, O_CLOEXEC) == 0 && pipe2(err_pipe, O_CLOEXEC) == 0 &&
		       pipe2(in_pipe, O_CLOEXEC) == 0,
		   "pipe: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	IT_REQUIRE(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in_pipe[0], STDIN_FILENO);
		dup2(out_pipe[1], STDOUT_FILENO);
		dup2(err_pipe[1], STDERR_FILENO);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out_pipe[1]);
	close(err_pipe[1]);
	close(in_pipe[0]);
	if (in_text && write(in_pipe[1], in_text, strlen(in_text)) < 0)
		it_note("writing hdcli's stdin: %s", strerror(errno));
	close(in_pipe[1]);

	drain_pipes(out_pipe[0], err_pipe[0], o, it_now_ms() + CLI_TIMEOUT_MS);
	close(out_pipe[0]);
	close(err_pipe[0]);
	int status;
	int64_t deadline = it_now_ms() + 2000;
	while (waitpid(pid, &status, WNOHANG) != pid) {
		if (it_now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			IT_REQUIRE(false, "hdcli did not finish within %d ms", CLI_TIMEOUT_MS);
		}
		it_sleep_ms(5);
	}
	o->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	return o->status;
}

/* Collects the NULL-terminated words after first into words[]. */
static int collect_words(const char **words, int n, const char *first, va_list ap)
{
	for (const char *w = first; w; w = va_arg(ap, const char *)) {
		IT_REQUIRE(n < MAX_WORDS, "more than %d words for hdcli", MAX_WORDS);
		words[n++] = w;
	}
	return n;
}

int md_cli(struct mgmt_daemon *d, struct md_out *o, const char *in_text, ...)
{
	const char *words[MAX_WORDS];
	va_list ap;
	va_start(ap, in_text);
	int n = collect_words(words, 0, va_arg(ap, const char *), ap);
	va_end(ap);
	return run_cli(d, o, in_text, words, n);
}

void md_cli_json(struct mgmt_daemon *d, struct json_doc *doc, ...)
{
	static struct md_out o;
	const char *words[MAX_WORDS];
	char err[128];
	va_list ap;

	words[0] = "--json";
	va_start(ap, doc);
	int n = collect_words(words, 1, va_arg(ap, const char *), ap);
	va_end(ap);
	int rc = run_cli(d, &o, NULL, words, n);
	IT_REQUIRE(rc == 0, "hdcli --json %s %s: exit %d: %s", n > 1 ? words[1] : "",
		   n > 2 ? words[2] : "", rc, o.err);
	IT_REQUIRE(json_parse(o.out, strlen(o.out), doc, err, sizeof(err)) == 0,
		   "hdcli --json output is not JSON: %s: %s", err, o.out);
}

int md_http_get(struct mgmt_daemon *d, const char *path, char *buf, size_t cap)
{
	char host[64];
	uint16_t port = 0;
	const char *colon = strrchr(d->metrics, ':');
	IT_REQUIRE(colon && d->metrics[0], "metrics are off");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - d->metrics), d->metrics);
	port = (uint16_t)atoi(colon + 1);

	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	inet_pton(AF_INET, host, &sin.sin_addr);
	IT_REQUIRE(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect %s: %s",
		   d->metrics, strerror(errno));
	char req[512];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, d->metrics);
	IT_REQUIRE(write(fd, req, (size_t)n) == n, "write: %s", strerror(errno));

	size_t len = 0;
	int64_t deadline = it_now_ms() + 5000;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		IT_REQUIRE(it_now_ms() < deadline, "GET %s: no complete response in 5 s", path);
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		IT_REQUIRE(len + 1 < cap, "GET %s: response larger than %zu bytes", path, cap);
		ssize_t r = read(fd, buf + len, cap - 1 - len);
		IT_REQUIRE(r >= 0, "read: %s", strerror(errno));
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	int status = 0;
	IT_REQUIRE(sscanf(buf, "HTTP/1.1 %d", &status) == 1, "not an HTTP response: %.80s", buf);
	char *body = strstr(buf, "\r\n\r\n");
	IT_REQUIRE(body, "no end of headers");
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return status;
}

int64_t md_metric(const char *text, const char *name, const char *labels)
{
	char want[256];
	snprintf(want, sizeof(want), "%s%s%s%s ", name, labels ? "{" : "", labels ? labels : "",
		 labels ? "}" : "");
	size_t wlen = strlen(want);
	for (const char *line = text; line && *line;) {
		if (strncmp(line, want, wlen) == 0)
			return strtoll(line + wlen, NULL, 10);
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	return -1;
}

int64_t md_scrape(struct mgmt_daemon *d, const char *name, const char *labels)
{
	static char body[1 << 20];

	IT_REQUIRE(md_http_get(d, "/metrics", body, sizeof(body)) == 200, "GET /metrics");
	int64_t v = md_metric(body, name, labels);
	IT_REQUIRE(v >= 0, "no sample %s{%s} in:\n%s", name, labels ? labels : "", body);
	return v;
}

bool md_notify_wait(struct mgmt_daemon *d, const char *text, int timeout_ms)
{
	int64_t deadline = it_now_ms() + timeout_ms;
	IT_REQUIRE(d->notify_fd >= 0, "no notify socket");
	while (it_now_ms() < deadline) {
		struct pollfd pfd = { .fd = d->notify_fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		char msg[512];
		ssize_t n = recv(d->notify_fd, msg, sizeof(msg) - 1, 0);
		if (n <= 0)
			continue;
		msg[n] = '\0';
		it_note("sd_notify: %s", msg);
		if (strstr(msg, text))
			return true;
	}
	return false;
}

int md_open_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *dir = opendir(path);
	IT_REQUIRE(dir != NULL, "%s: %s", path, strerror(errno));
	int n = 0;
	for (struct dirent *e; (e = readdir(dir));)
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

long md_rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	IT_REQUIRE(f != NULL, "%s: %s", path, strerror(errno));
	while (kib < 0 && fgets(line, sizeof(line), f))
		sscanf(line, "VmRSS: %ld kB", &kib);
	fclose(f);
	IT_REQUIRE(kib >= 0, "no VmRSS in %s", path);
	return kib;
}

void md_nodekey(const uint8_t pub[KEY_LEN], char out[80])
{
	key_to_nodekey(pub, out);
}

/* Value of key in `show config --json`. */
void md_config_value(struct mgmt_daemon *d, const char *key, char *out, size_t cap)
{
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "config", NULL);
	out[0] = '\0';
	const struct json_value *keys = json_get(doc.root, "keys");
	for (const struct json_value *k = keys ? keys->child : NULL; k; k = k->next) {
		if (strcmp(json_get_str(k, "key", ""), key) == 0)
			snprintf(out, cap, "%s", json_get_str(k, "value", ""));
	}
	json_doc_free(&doc);
}

const char *md_logged_recv_mode(struct mgmt_daemon *d)
{
	bool bufring = it_daemon_log_contains(&d->it, "recv_mode bufring");
	bool single = it_daemon_log_contains(&d->it, "recv_mode single");
	IT_REQUIRE(bufring != single, "workers logged %s recv mode",
		   bufring ? "more than one" : "no");
	return bufring ? "bufring" : "single";
}

bool md_kernel_has_ktls(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	int rc = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3);
	int e = errno;
	close(fd);
	return rc == 0 || e != ENOENT;
}
