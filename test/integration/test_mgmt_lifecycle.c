// SPDX-License-Identifier: MIT
/*
 * Lifecycle: sd_notify, SIGHUP reload, the socket's start-up rules, start-up
 * errors of the management plane, and JSON logs.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test_mgmt_daemon.h"

static struct md_out o;
static char log_text[1 << 16];

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f != NULL, "%s: %s", path, strerror(errno));
	fputs(text, f);
	IT_REQUIRE(fclose(f) == 0, "%s: %s", path, strerror(errno));
}

static bool wait_md_config_value(struct mgmt_daemon *d, const char *key, const char *want)
{
	char v[128];
	for (int64_t end = it_now_ms() + 5000; it_now_ms() < end; it_sleep_ms(50)) {
		md_config_value(d, key, v, sizeof(v));
		if (strcmp(v, want) == 0)
			return true;
	}
	return false;
}

static bool wait_log(struct mgmt_daemon *d, const char *text)
{
	for (int64_t end = it_now_ms() + 5000; it_now_ms() < end; it_sleep_ms(50)) {
		if (it_daemon_log_contains(&d->it, text))
			return true;
	}
	return false;
}

static void test_sd_notify(void)
{
	struct md_opts opts = { .notify_socket = true };
	struct mgmt_daemon *d = md_start(&opts);

	IT_REQUIRE(md_notify_wait(d, "READY=1", 5000), "no READY=1");
	kill(d->it.pid, SIGHUP);
	IT_REQUIRE(md_notify_wait(d, "RELOADING=1", 5000), "no RELOADING=1 on SIGHUP");
	IT_REQUIRE(md_notify_wait(d, "READY=1", 5000), "no READY=1 after the reload");
	kill(d->it.pid, SIGTERM);
	IT_REQUIRE(md_notify_wait(d, "STOPPING=1", 5000), "no STOPPING=1 on SIGTERM");
	md_stop(d);
}

static void test_sighup_reload(void)
{
	struct md_opts opts = { .ini = "[limits]\nwrite_timeout_ms = 2000\n" };
	struct mgmt_daemon *d = md_start(&opts);
	char v[64];

	write_file(d->ini_path, "[limits]\nwrite_timeout_ms = 777\nbuffer_pool_mb = 64\n");
	kill(d->it.pid, SIGHUP);
	IT_REQUIRE(wait_md_config_value(d, "limits.write_timeout_ms", "777"),
		   "SIGHUP did not apply write_timeout_ms");
	md_config_value(d, "limits.buffer_pool_mb", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "512") == 0, "buffer_pool_mb changed live: %s", v);
	IT_REQUIRE(wait_log(d, "limits.buffer_pool_mb = 64 needs a restart"),
		   "no restart warning in the log");
	/* The command-line flags still override the file: --workers 2 stays. */
	md_config_value(d, "server.workers", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "2") == 0, "workers after reload: %s", v);

	/* A broken file changes nothing, and the relay keeps running. */
	write_file(d->ini_path, "[limits\nwrite_timeout_ms = 1\n");
	kill(d->it.pid, SIGHUP);
	IT_REQUIRE(wait_log(d, "SIGHUP: reload failed, nothing changed"), "no reload error");
	md_config_value(d, "limits.write_timeout_ms", v, sizeof(v));
	IT_REQUIRE(strcmp(v, "777") == 0, "broken file changed the config: %s", v);

	/* config reload does the same, and says why it failed. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "reload", NULL) == 1, "reload of a bad file");
	IT_REQUIRE(strstr(o.err, "hyper-derp.ini:1"), "reload error names file:line: %s", o.err);
	write_file(d->ini_path, "[limits]\nwrite_timeout_ms = 888\n");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "reload", NULL) == 0, "reload: %s", o.err);
	IT_REQUIRE(strstr(o.out, "applied: limits.write_timeout_ms = 888 (was 777)"), "reload: %s",
		   o.out);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	it_require_relaying(a, b);
	md_stop(d);
}

/* A socket file with nobody listening: what a crash leaves behind. */
static void make_stale_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	IT_REQUIRE(strlen(path) < sizeof(addr.sun_path), "path too long");
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	IT_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0, "bind: %s",
		   strerror(errno));
	close(fd);
}

static void test_socket_rules(void)
{
	char dir[] = "/tmp/hd-mgmt-sock-XXXXXX";
	char path[300];
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));

	/* A live socket belongs to another relay: refused, and left alone. */
	struct mgmt_daemon *first = md_start(NULL);
	struct md_opts same = { .sock = first->sock };
	IT_REQUIRE(md_start_failing(&same, log_text, sizeof(log_text)) == 1, "second relay ran");
	IT_REQUIRE(strstr(log_text, "another process is serving this socket"), "log: %s", log_text);
	IT_REQUIRE(md_cli(first, &o, NULL, "show", "status", NULL) == 0,
		   "the first relay lost its socket: %s", o.err);
	md_stop(first);

	/* A stale socket is replaced. */
	snprintf(path, sizeof(path), "%s/stale.sock", dir);
	make_stale_socket(path);
	struct md_opts stale = { .sock = path };
	struct mgmt_daemon *d = md_start(&stale);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "peers", NULL) == 0, "over a stale socket");
	md_stop(d);
	IT_REQUIRE(access(path, F_OK) < 0, "socket left behind");

	/* A file that is not a socket is not replaced. */
	write_file(path, "precious\n");
	IT_REQUIRE(md_start_failing(&stale, log_text, sizeof(log_text)) == 1, "ran over a file");
	IT_REQUIRE(strstr(log_text, "exists and is not a socket"), "log: %s", log_text);
	struct stat st;
	IT_REQUIRE(stat(path, &st) == 0 && S_ISREG(st.st_mode), "the file was touched");
	unlink(path);

	/* Missing directories are made. */
	snprintf(path, sizeof(path), "%s/a/b/mgmt.sock", dir);
	struct md_opts deep = { .sock = path };
	d = md_start(&deep);
	md_stop(d);
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	rmdir(sub);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	rmdir(sub);

	/* A path too long for a Unix socket is a clear error. */
	char longpath[200];
	memset(longpath, 'x', sizeof(longpath));
	snprintf(longpath, sizeof(longpath), "%s/%0150d.sock", dir, 0);
	struct md_opts too_long = { .sock = longpath };
	IT_REQUIRE(md_start_failing(&too_long, log_text, sizeof(log_text)) == 1, "long path ran");
	IT_REQUIRE(strstr(log_text, "socket path longer than"), "log: %s", log_text);
	IT_REQUIRE(rmdir(dir) == 0, "rmdir %s: %s", dir, strerror(errno));
}

static void test_bad_metrics_address(void)
{
	static const char *const bad[] = { "nonsense", "127.0.0.1", "localhost:9100",
					   "127.0.0.1:99999", "::1:9100" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct md_opts opts = { .metrics = bad[i] };
		IT_REQUIRE(md_start_failing(&opts, log_text, sizeof(log_text)) == 1,
			   "ran with metrics.listen = %s", bad[i]);
		IT_REQUIRE(strstr(log_text, "metrics.listen: "), "%s: log: %s", bad[i], log_text);
	}
	struct md_opts v6 = { .metrics = "[::1]:0" };
	struct mgmt_daemon *d = md_start(&v6);
	IT_REQUIRE(strncmp(d->metrics, "[::1]:", 6) == 0, "metrics at %s", d->metrics);
	md_stop(d);
}

/* Every line of the log from offset on is a JSON object with the four fields. */
static void require_json_lines(const char *text)
{
	char *copy = strdup(text);
	IT_REQUIRE(copy != NULL, "out of memory");
	int lines = 0;
	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		struct json_doc doc;
		char err[128];
		IT_REQUIRE(json_parse(line, strlen(line), &doc, err, sizeof(err)) == 0,
			   "log line is not JSON (%s): %s", err, line);
		IT_REQUIRE(json_get(doc.root, "ts") && json_get(doc.root, "level") &&
			       json_get(doc.root, "thread") && json_get(doc.root, "msg"),
			   "log line lacks a field: %s", line);
		json_doc_free(&doc);
		lines++;
	}
	free(copy);
	IT_REQUIRE(lines >= 3, "only %d log lines", lines);
}

static void read_log(struct mgmt_daemon *d)
{
	FILE *f = fopen(d->it.log_path, "r");
	IT_REQUIRE(f != NULL, "%s: %s", d->it.log_path, strerror(errno));
	size_t n = fread(log_text, 1, sizeof(log_text) - 1, f);
	log_text[n] = '\0';
	fclose(f);
}

static void test_json_logs(void)
{
	struct md_opts opts = { .ini = "[log]\nformat = json\nlevel = debug\n" };
	struct mgmt_daemon *d = md_start(&opts);
	struct derp_client *a = it_connect(&d->it, NULL);
	it_client_close(a);
	/* A message with quotes and a backslash must stay valid JSON. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "tls.cert", "a\"b\\c", NULL) == 0, "set");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "commit", NULL) == 0, "commit");
	read_log(d);
	require_json_lines(log_text);
	IT_REQUIRE(strstr(log_text, "\"thread\":\"mgmt\""), "no line from the mgmt thread");

	/* Switched live back to text. */
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "set", "log.format", "text", NULL) == 0, "set");
	IT_REQUIRE(md_cli(d, &o, NULL, "config", "commit", NULL) == 0, "commit");
	IT_REQUIRE(md_cli(d, &o, NULL, "set", "log-level", "info", NULL) == 0, "log-level");
	read_log(d);
	IT_REQUIRE(strstr(log_text, "info  [mgmt] log level info (was debug)"),
		   "no text line after switching: %s", log_text);
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_sd_notify), IT_TEST(test_sighup_reload), IT_TEST(test_socket_rules),
		IT_TEST(test_bad_metrics_address), IT_TEST(test_json_logs)
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
