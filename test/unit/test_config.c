// SPDX-License-Identifier: MIT
/*
 * Tests for the configuration: defaults, every key's good and bad values,
 * file errors with their exact text and line, relative path resolution, the
 * command line, and the shipped conf/hyper-derp.ini.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hd-test-config-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown_tmpdir(void **state)
{
	(void)state;
	return nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes content to tmpdir/name (creating one level of subdirectory) and returns the path. */
static const char *write_file(const char *name, const char *content)
{
	static char path[512];
	char *slash;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	slash = strrchr(path, '/');
	if (slash > path + strlen(tmpdir)) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
	return path;
}

/* Loads content as a file over the defaults; returns config_load_file's result. */
static int load_text(const char *content, struct hd_config *cfg, char *err, size_t errlen,
		     const char **path_out)
{
	const char *path = write_file("test.ini", content);

	if (path_out)
		*path_out = path;
	config_defaults(cfg);
	err[0] = '\0';
	return config_load_file(cfg, path, err, errlen);
}

/* Asserts that loading content fails with "PATH:" + expected. */
static void expect_file_error(const char *content, const char *expected)
{
	struct hd_config cfg;
	char err[512];
	char want[1024];
	const char *path;

	assert_int_equal(load_text(content, &cfg, err, sizeof(err), &path), -1);
	snprintf(want, sizeof(want), "%s:%s", path, expected);
	assert_string_equal(err, want);
}

/* ---- defaults and the shipped file ---- */

static void assert_default_values(const struct hd_config *cfg)
{
	assert_string_equal(cfg->listen, "127.0.0.1");
	assert_int_equal(cfg->port, 3340);
	assert_int_equal(cfg->workers, 0);
	assert_string_equal(cfg->key_file, "/var/lib/hyper-derp/server.key");
	assert_string_equal(cfg->mesh_key_file, "");
	assert_int_equal(cfg->max_connections, 100000);
	assert_int_equal(cfg->queue_depth, 32);
	assert_int_equal(cfg->handshake_timeout_ms, 10000);
	assert_int_equal(cfg->write_timeout_ms, 2000);
	assert_int_equal(cfg->keepalive_ms, 60000);
	assert_int_equal(cfg->drain_timeout_ms, 2000);
	assert_int_equal(cfg->control_pool_mb, 64);
	assert_int_equal(cfg->frame_assembly_mb, 64);
	assert_int_equal(cfg->frame_timeout_ms, 30000);
	assert_int_equal(cfg->peer_gone_recipients, 4096);
	assert_int_equal(cfg->mesh_max_keys, 1000000);
	assert_int_equal(cfg->log_level, LOG_LEVEL_INFO);
	assert_int_equal(cfg->mgmt_max_clients, 64);
	assert_int_equal(cfg->events_backlog_kb, 4096);
	assert_int_equal(cfg->metrics_max_clients, 16);
	assert_int_equal(cfg->metrics_timeout_ms, 10000);
}

static void test_defaults(void **state)
{
	(void)state;
	struct hd_config cfg;

	memset(&cfg, 0x5a, sizeof(cfg));
	config_defaults(&cfg);
	assert_default_values(&cfg);
}

static void test_shipped_config_loads(void **state)
{
	(void)state;
#ifdef HD_DEFAULT_CONF
	struct hd_config cfg;
	char err[512] = "";

	config_defaults(&cfg);
	/* Start from something else, so the file must set every key itself. */
	cfg.port = 1;
	cfg.workers = 7;
	cfg.queue_depth = 1;
	cfg.log_level = LOG_LEVEL_DEBUG;
	strcpy(cfg.listen, "::");
	strcpy(cfg.mesh_key_file, "/x");
	cfg.max_connections = 1;
	cfg.handshake_timeout_ms = 100;
	cfg.write_timeout_ms = 0;
	cfg.keepalive_ms = 1000;
	cfg.drain_timeout_ms = 0;
	cfg.control_pool_mb = 1;
	cfg.frame_assembly_mb = 1;
	cfg.frame_timeout_ms = 0;
	cfg.peer_gone_recipients = 1;
	strcpy(cfg.key_file, "/y");
	cfg.mgmt_max_clients = 1;
	cfg.events_backlog_kb = 64;
	cfg.metrics_max_clients = 1;
	cfg.metrics_timeout_ms = 100;
	if (config_load_file(&cfg, HD_DEFAULT_CONF, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_default_values(&cfg);
#else
	skip();
#endif
}

/* ---- every key, good and bad ---- */

struct key_case {
	const char *name;
	const char *value;
	const char *error; /* NULL: accepted; else the reason after "name: " */
};

static const struct key_case key_cases[] = {
	{ "server.listen", "0.0.0.0", NULL },
	{ "server.listen", "::", NULL },
	{ "server.listen", "::1", NULL },
	{ "server.listen", "192.0.2.7", NULL },
	{ "server.listen", "2001:db8::1", NULL },
	{ "server.listen", "localhost", "\"localhost\" is not an IPv4 or IPv6 address" },
	{ "server.listen", "[::1]", "\"[::1]\" is not an IPv4 or IPv6 address" },
	{ "server.listen", "1.2.3", "\"1.2.3\" is not an IPv4 or IPv6 address" },
	{ "server.listen", "1.2.3.4:80", "\"1.2.3.4:80\" is not an IPv4 or IPv6 address" },
	{ "server.listen", "", "\"\" is not an IPv4 or IPv6 address" },

	{ "server.port", "0", NULL },
	{ "server.port", "65535", NULL },
	{ "server.port", "08080", NULL }, /* decimal, not octal */
	{ "server.port", "70000", "\"70000\" is not an integer in 0..65535" },
	{ "server.port", "65536", "\"65536\" is not an integer in 0..65535" },
	{ "server.port", "-1", "\"-1\" is not an integer in 0..65535" },
	{ "server.port", "+1", "\"+1\" is not an integer in 0..65535" },
	{ "server.port", "0x10", "\"0x10\" is not an integer in 0..65535" },
	{ "server.port", "1e3", "\"1e3\" is not an integer in 0..65535" },
	{ "server.port", "", "\"\" is not an integer in 0..65535" },
	{ "server.port", "99999999999999999999",
	  "\"99999999999999999999\" is not an integer in 0..65535" },

	{ "server.workers", "0", NULL },
	{ "server.workers", "256", NULL },
	{ "server.workers", "257", "\"257\" is not an integer in 0..256" },
	{ "server.workers", "four", "\"four\" is not an integer in 0..256" },

	{ "server.key_file", "/etc/hyper-derp/key", NULL },
	{ "server.key_file", "relative/key", NULL },
	{ "server.key_file", "", "must not be empty" },

	{ "server.mesh_key_file", "/etc/hyper-derp/mesh.key", NULL },
	{ "server.mesh_key_file", "", NULL },

	{ "server.max_connections", "1", NULL },
	{ "server.max_connections", "10000000", NULL },
	{ "server.max_connections", "0", "\"0\" is not an integer in 1..10000000" },
	{ "server.max_connections", "10000001", "\"10000001\" is not an integer in 1..10000000" },

	{ "limits.queue_depth", "1", NULL },
	{ "limits.queue_depth", "4096", NULL },
	{ "limits.queue_depth", "0", "\"0\" is not an integer in 1..4096" },
	{ "limits.queue_depth", "4097", "\"4097\" is not an integer in 1..4096" },

	{ "limits.handshake_timeout_ms", "100", NULL },
	{ "limits.handshake_timeout_ms", "600000", NULL },
	{ "limits.handshake_timeout_ms", "99", "\"99\" is not an integer in 100..600000" },
	{ "limits.handshake_timeout_ms", "600001", "\"600001\" is not an integer in 100..600000" },

	{ "limits.write_timeout_ms", "0", NULL },
	{ "limits.write_timeout_ms", "600000", NULL },
	{ "limits.write_timeout_ms", "600001", "\"600001\" is not an integer in 0..600000" },

	{ "limits.keepalive_ms", "1000", NULL },
	{ "limits.keepalive_ms", "3600000", NULL },
	{ "limits.keepalive_ms", "999", "\"999\" is not an integer in 1000..3600000" },
	{ "limits.keepalive_ms", "3600001", "\"3600001\" is not an integer in 1000..3600000" },

	{ "limits.drain_timeout_ms", "0", NULL },
	{ "limits.drain_timeout_ms", "60000", NULL },
	{ "limits.drain_timeout_ms", "60001", "\"60001\" is not an integer in 0..60000" },

	{ "mgmt.max_clients", "1", NULL },
	{ "mgmt.max_clients", "1024", NULL },
	{ "mgmt.max_clients", "0", "\"0\" is not an integer in 1..1024" },
	{ "mgmt.max_clients", "1025", "\"1025\" is not an integer in 1..1024" },
	{ "mgmt.events_backlog_kb", "64", NULL },
	{ "mgmt.events_backlog_kb", "65536", NULL },
	{ "mgmt.events_backlog_kb", "63", "\"63\" is not an integer in 64..65536" },
	{ "mgmt.events_backlog_kb", "65537", "\"65537\" is not an integer in 64..65536" },
	{ "metrics.max_clients", "1", NULL },
	{ "metrics.max_clients", "1024", NULL },
	{ "metrics.max_clients", "0", "\"0\" is not an integer in 1..1024" },
	{ "metrics.max_clients", "1025", "\"1025\" is not an integer in 1..1024" },
	{ "metrics.timeout_ms", "100", NULL },
	{ "metrics.timeout_ms", "600000", NULL },
	{ "metrics.timeout_ms", "99", "\"99\" is not an integer in 100..600000" },
	{ "metrics.timeout_ms", "600001", "\"600001\" is not an integer in 100..600000" },
	{ "limits.max_conns_per_key", "1", NULL },
	{ "limits.max_conns_per_key", "10000000", NULL },
	{ "limits.max_conns_per_key", "0", "\"0\" is not an integer in 1..10000000" },
	{ "limits.max_conns_per_key", "10000001", "\"10000001\" is not an integer in 1..10000000" },
	{ "limits.control_pool_mb", "1", NULL },
	{ "limits.control_pool_mb", "65536", NULL },
	{ "limits.control_pool_mb", "0", "\"0\" is not an integer in 1..65536" },
	{ "limits.control_pool_mb", "65537", "\"65537\" is not an integer in 1..65536" },

	{ "limits.frame_assembly_mb", "1", NULL },
	{ "limits.frame_assembly_mb", "65536", NULL },
	{ "limits.frame_assembly_mb", "0", "\"0\" is not an integer in 1..65536" },
	{ "limits.frame_assembly_mb", "65537", "\"65537\" is not an integer in 1..65536" },

	{ "limits.frame_timeout_ms", "0", NULL },
	{ "limits.frame_timeout_ms", "3600000", NULL },
	{ "limits.frame_timeout_ms", "3600001", "\"3600001\" is not an integer in 0..3600000" },

	{ "limits.peer_gone_recipients", "1", NULL },
	{ "limits.peer_gone_recipients", "1000000", NULL },
	{ "limits.peer_gone_recipients", "0", "\"0\" is not an integer in 1..1000000" },
	{ "limits.peer_gone_recipients", "1000001", "\"1000001\" is not an integer in 1..1000000" },
	{ "mesh.max_keys", "1", NULL },
	{ "mesh.max_keys", "16777216", NULL },
	{ "mesh.max_keys", "0", "\"0\" is not an integer in 1..16777216" },
	{ "mesh.max_keys", "16777217", "\"16777217\" is not an integer in 1..16777216" },
	{ "limits.queue_policy", "codel", NULL },
	{ "limits.queue_policy", "headdrop", NULL },
	{ "limits.queue_policy", "fifo", "\"fifo\" is not one of codel|headdrop" },

	{ "limits.queue_bytes", "131072", NULL },
	{ "limits.queue_bytes", "67108864", NULL },
	{ "limits.queue_bytes", "131071", "\"131071\" is not an integer in 131072..67108864" },
	{ "limits.queue_bytes", "67108865", "\"67108865\" is not an integer in 131072..67108864" },

	{ "limits.codel_target_us", "100", NULL },
	{ "limits.codel_target_us", "1000000", NULL },
	{ "limits.codel_target_us", "99", "\"99\" is not an integer in 100..1000000" },
	{ "limits.codel_target_us", "1000001", "\"1000001\" is not an integer in 100..1000000" },

	{ "limits.codel_interval_ms", "1", NULL },
	{ "limits.codel_interval_ms", "10000", NULL },
	{ "limits.codel_interval_ms", "0", "\"0\" is not an integer in 1..10000" },
	{ "limits.codel_interval_ms", "10001", "\"10001\" is not an integer in 1..10000" },
	{ "limits.max_pending_per_ip", "0", NULL },
	{ "limits.max_pending_per_ip", "1000000", NULL },
	{ "limits.max_pending_per_ip", "1000001", "\"1000001\" is not an integer in 0..1000000" },

	{ "limits.handshake_memory_mb", "1", NULL },
	{ "limits.handshake_memory_mb", "65536", NULL },
	{ "limits.handshake_memory_mb", "0", "\"0\" is not an integer in 1..65536" },
	{ "limits.handshake_memory_mb", "65537", "\"65537\" is not an integer in 1..65536" },

	{ "limits.client_rate_bytes", "0", NULL },
	{ "limits.client_rate_bytes", "1000000000", NULL },
	{ "limits.client_rate_bytes", "1000000001", "\"1000000001\" is not an integer in 0..1000000000" },
	{ "limits.client_burst_bytes", "1", NULL },
	{ "limits.client_burst_bytes", "0", "\"0\" is not an integer in 1..1000000000" },
	{ "limits.accept_rate", "0", NULL },
	{ "limits.accept_rate", "10000000", NULL },
	{ "limits.accept_rate", "10000001", "\"10000001\" is not an integer in 0..10000000" },
	{ "limits.accept_burst", "1", NULL },
	{ "limits.accept_burst", "0", "\"0\" is not an integer in 1..10000000" },
	{ "limits.accept_burst", "10000001", "\"10000001\" is not an integer in 1..10000000" },
	{ "limits.tcp_keepalive_ms", "0", NULL },
	{ "limits.tcp_keepalive_ms", "86400000", NULL },
	{ "limits.tcp_keepalive_ms", "86400001", "\"86400001\" is not an integer in 0..86400000" },
	{ "limits.tcp_user_timeout_ms", "0", NULL },
	{ "limits.tcp_user_timeout_ms", "3600000", NULL },
	{ "limits.tcp_user_timeout_ms", "3600001", "\"3600001\" is not an integer in 0..3600000" },

	{ "admission.verify_clients", "true", NULL },
	{ "admission.fail_open", "false", NULL },
	{ "admission.verify_client_url", "", NULL },
	{ "admission.verify_client_url", "http://127.0.0.1:8080/verify", NULL },
	{ "admission.verify_client_url", "https://[::1]/verify?x=1", NULL },
	{ "admission.verify_client_url", "ftp://x/", "\"ftp://x/\" is not an http:// or https:// URL" },
	{ "admission.verify_client_url", "http://:80/", "URL host is empty or longer than 255 bytes" },
	{ "admission.verify_client_url", "http://h:99999/", "URL port is not a number in 1..65535" },
	{ "admission.verify_client_url", "http://u@h/", "URL must not carry user info" },
	{ "admission.cache_ms", "0", NULL },
	{ "admission.cache_ms", "3600001", "\"3600001\" is not an integer in 0..3600000" },
	{ "admission.timeout_ms", "100", NULL },
	{ "admission.timeout_ms", "60000", NULL },
	{ "admission.timeout_ms", "99", "\"99\" is not an integer in 100..60000" },
	{ "admission.timeout_ms", "60001", "\"60001\" is not an integer in 100..60000" },

	{ "log.level", "error", NULL },
	{ "log.level", "warn", NULL },
	{ "log.level", "info", NULL },
	{ "log.level", "debug", NULL },
	{ "log.level", "verbose", "\"verbose\" is not one of error, warn, info, debug" },
	{ "log.level", "INFO", "\"INFO\" is not one of error, warn, info, debug" },

	{ "tls.ktls", "auto", NULL },
	{ "tls.ktls", "off", NULL },
	{ "tls.ktls", "on", "\"on\" is not one of auto|off" },
	{ "tls.mode", "manual", NULL },
	{ "tls.mode", "ip", NULL },
	{ "tls.mode", "auto", "\"auto\" is not one of file|manual|acme|ip" },
	{ "server.hostname", "derp.example.com", NULL },
	{ "server.hostname", "192.0.2.1", NULL },
	{ "server.hostname", "2001:db8::1", NULL },
	{ "server.hostname", "../etc/passwd",
	  "\"../etc/passwd\" is not a DNS name or IP address (character '/')" },
	{ "server.hostname", "-x.example", "\"-x.example\" is not a DNS name" },
	{ "tls.acme_url", "https://localhost:14000/dir", NULL },
	{ "tls.acme_url", "http://ca.example/dir", "\"http://ca.example/dir\" is not an https:// URL" },
	{ "tls.acme_url", "https://a b", "\"https://a b\": a URL has no such character" },
	{ "http.listen", "", NULL },
	{ "http.listen", "::", NULL },
	{ "http.listen", "localhost", "\"localhost\" is not an IPv4 or IPv6 address" },

	{ "wireguard.block_strikes", "1", NULL },
	{ "wireguard.block_strikes", "1000", NULL },
	{ "wireguard.block_strikes", "0", "\"0\" is not an integer in 1..1000" },
	{ "wireguard.block_strikes", "1001", "\"1001\" is not an integer in 1..1000" },
	{ "wireguard.block_seconds", "1", NULL },
	{ "wireguard.block_seconds", "86400", NULL },
	{ "wireguard.block_seconds", "0", "\"0\" is not an integer in 1..86400" },
	{ "wireguard.block_seconds", "86401", "\"86401\" is not an integer in 1..86400" },
	{ "hd.max_peers", "1", NULL },
	{ "hd.max_peers", "65534", NULL },
	{ "hd.max_peers", "0", "\"0\" is not an integer in 1..65534" },
	{ "hd.max_peers", "65535", "\"65535\" is not an integer in 1..65534" },
};

/* The value config_format shows for name, so good cases can be checked generically. */
static void shown_value(const struct hd_config *cfg, const char *name, char *out, size_t cap)
{
	char text[8192];
	const char *dot = strchr(name, '.');
	char line_start[64];
	char section[64];

	config_format(cfg, text, sizeof(text));
	/* Within its own section: two sections may have keys of the same name. */
	snprintf(section, sizeof(section), "[%.*s]\n", (int)(dot - name), name);
	const char *in_section = strstr(text, section);
	assert_non_null(in_section);
	snprintf(line_start, sizeof(line_start), "\n%s =", dot + 1);
	const char *p = strstr(in_section, line_start);
	assert_non_null(p);
	p += strlen(line_start);
	if (*p == ' ')
		p++; /* absent when the value is empty */
	snprintf(out, cap, "%.*s", (int)strcspn(p, "\n"), p);
}

static void test_config_set_each_key(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		struct hd_config cfg, before;
		char err[512] = "";
		char want[512];
		char shown[512];

		config_defaults(&cfg);
		before = cfg;
		int ret = config_set(&cfg, c->name, c->value, err, sizeof(err));
		if (!c->error) {
			if (ret != 0)
				fail_msg("%s = \"%s\": %s", c->name, c->value, err);
			shown_value(&cfg, c->name, shown, sizeof(shown));
			/* Numbers show in canonical form ("08080" as 8080). */
			if (strcmp(c->value, "08080") == 0)
				assert_string_equal(shown, "8080");
			else
				assert_string_equal(shown, c->value);
		} else {
			assert_int_equal(ret, -1);
			snprintf(want, sizeof(want), "%s: %s", c->name, c->error);
			assert_string_equal(err, want);
			assert_memory_equal(&cfg, &before, sizeof(cfg)); /* untouched */
		}
	}
}

/* The same cases through a file, where errors carry the file and line. */
static void test_file_each_key(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		char section[32];
		const char *dot = strchr(c->name, '.');
		char content[512];
		struct hd_config cfg;
		char err[512];
		char want[1024];
		const char *path;

		/* Relative paths resolve against the file; tested separately. */
		if (strcmp(c->value, "relative/key") == 0)
			continue;
		snprintf(section, sizeof(section), "%.*s", (int)(dot - c->name), c->name);
		/* Line 4 holds the key: a comment and a blank line come first. */
		snprintf(content, sizeof(content), "# test\n\n[%s]\n%s = %s\n", section, dot + 1,
			 c->value);
		int ret = load_text(content, &cfg, err, sizeof(err), &path);
		if (!c->error) {
			if (ret != 0)
				fail_msg("%s = \"%s\": %s", c->name, c->value, err);
		} else {
			assert_int_equal(ret, -1);
			snprintf(want, sizeof(want), "%s:4: %s: %s", path, c->name, c->error);
			assert_string_equal(err, want);
		}
	}
}

static void test_config_set_names(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[256];

	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "server.bogus", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "server.bogus: unknown key");
	assert_int_equal(config_set(&cfg, "foo.port", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "foo.port: unknown key");
	assert_int_equal(config_set(&cfg, "port", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "port: unknown key (expected section.key)");
	assert_int_equal(config_set(&cfg, "server.port", "4242", err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 4242);

	/* A NULL or empty err buffer is allowed. */
	assert_int_equal(config_set(&cfg, "server.port", "x", NULL, 0), -1);
}

static void test_text_too_long(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[256];
	char *value = malloc(PATH_MAX + 1);

	assert_non_null(value);
	memset(value, 'a', PATH_MAX);
	value[0] = '/';
	value[PATH_MAX] = '\0';
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "server.key_file", value, err, sizeof(err)), -1);
	assert_string_equal(err, "server.key_file: value is longer than 4095 bytes");
	value[PATH_MAX - 1] = '\0';
	assert_int_equal(config_set(&cfg, "server.key_file", value, err, sizeof(err)), 0);
	free(value);
}

/* Values that inih would read back differently are refused, config unchanged. */
static void test_text_that_would_not_read_back(void **state)
{
	(void)state;
	struct hd_config cfg, before;
	char err[256];
	static const char *const bad[] = { ";", ";x", "a ;b", "a\t;b", " a", "a " };

	config_defaults(&cfg);
	before = cfg;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(config_set(&cfg, "server.user", bad[i], err, sizeof(err)), -1);
		assert_non_null(strstr(err, "would not read back"));
		assert_memory_equal(&cfg, &before, sizeof(cfg));
	}
	assert_int_equal(config_set(&cfg, "server.user", "a;b", err, sizeof(err)), 0);
}

/* ---- file errors ---- */

static void test_unknown_key_and_section(void **state)
{
	(void)state;

	expect_file_error("[server]\nport = 1\n\n; comment\nbogus = 1\n",
			  "5: server.bogus: unknown key");
	expect_file_error("[server]\nport = 1\n[foo]\nx = 1\n", "3: [foo]: unknown section");
	/* Reported on its own line even when empty. */
	expect_file_error("[log]\nlevel = info\n\n[Server]\n", "4: [Server]: unknown section");
	expect_file_error("[ server ]\n", "1: [ server ]: unknown section");
	expect_file_error("# top\nport = 1\n", "2: port: key outside any [section]");
	/* Keys belong to their own section only. */
	expect_file_error("[limits]\nport = 1\n", "2: limits.port: unknown key");
	/* Names are case-sensitive. */
	expect_file_error("[server]\nPort = 1\n", "2: server.Port: unknown key");
}

/* The lists of [bootstrap_dns] and [debug]: each bad entry named, with FILE:LINE and the key. */
static void test_list_keys(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];

	expect_file_error("[debug]\nallow = 127.0.0.1, 10.0.0.1/8\n",
			  "2: debug.allow: \"10.0.0.1/8\" has bits set past the prefix length");
	expect_file_error("\n[debug]\nallow = 10.0.0.0/33\n",
			  "3: debug.allow: \"10.0.0.0/33\": prefix length must be 0..32");
	expect_file_error("[debug]\nallow = example.com\n",
			  "2: debug.allow: \"example.com\" is not an IPv4 or IPv6 address");
	expect_file_error("[bootstrap_dns]\nnames = a.example, b..example\n",
			  "2: bootstrap_dns.names: \"b..example\" is not a host name");
	expect_file_error("[bootstrap_dns]\nunpublished = a.example/txt.example\n",
			  "2: bootstrap_dns.unpublished: \"a.example/txt.example\": rollout TXT "
			  "records (NAME/TXTNAME) are not supported");
	expect_file_error("[bootstrap_dns]\nrefresh_s = 5\n",
			  "2: bootstrap_dns.refresh_s: \"5\" is not an integer in 10..86400");
	assert_int_equal(load_text("[debug]\nallow = 10.0.0.0/8 fd7a:115c:a1e0::/48\n"
				   "[bootstrap_dns]\nnames = controlplane.tailscale.com, 192.0.2.1\n",
				   &cfg, err, sizeof(err), NULL),
			 0);
	assert_string_equal(cfg.debug_allow, "10.0.0.0/8 fd7a:115c:a1e0::/48");
	assert_string_equal(cfg.bootstrap_dns_names, "controlplane.tailscale.com, 192.0.2.1");
	/* Empty: nobody reads /debug/, no names. */
	assert_int_equal(load_text("[debug]\nallow =\n[bootstrap_dns]\nnames =\n", &cfg, err,
				   sizeof(err), NULL),
			 0);
	assert_string_equal(cfg.debug_allow, "");
}

static void test_first_error_wins(void **state)
{
	(void)state;

	expect_file_error("[server]\nport = x\nworkers = y\nbogus = 1\n",
			  "2: server.port: \"x\" is not an integer in 0..65535");
	expect_file_error("[server]\nport = 1\n[foo]\n[bar]\n", "3: [foo]: unknown section");
	/* A syntax error before our error is the one reported, and vice versa. */
	expect_file_error("[server]\nport\nworkers = y\n",
			  "2: syntax error: expected [section] or key = value");
	expect_file_error("[server]\nworkers = y\nport\n",
			  "2: server.workers: \"y\" is not an integer in 0..256");
}

static void test_syntax_errors(void **state)
{
	(void)state;

	expect_file_error("[server]\nport = 1\nlisten\n",
			  "3: syntax error: expected [section] or key = value");
	expect_file_error("[server\nport = 1\n",
			  "1: syntax error: expected [section] or key = value");
}

static void test_duplicates_and_continuations(void **state)
{
	(void)state;

	expect_file_error("[server]\nport = 1\n\nport = 2\n",
			  "4: server.port: duplicate key (first set on line 2)");
	/* inih would join an indented line to the previous value: refused. */
	expect_file_error("[server]\nlisten = 127.0.0.1\n    port = 3340\n",
			  "3: server.listen: indented line continues the value of line 2; "
			  "multi-line values are not supported");
}

static void test_comments_and_forms(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];

	/* ';' and '#' comments, blank lines, CRLF, "key: value", inline " ; comment". */
	assert_int_equal(load_text("\xEF\xBB\xBF; leading comment\r\n"
				   "# another\r\n"
				   "\r\n"
				   "[server]\r\n"
				   "port: 4000\r\n"
				   "  \r\n"
				   "workers = 4 ; four threads\r\n"
				   "[log]\n"
				   "level=debug\n",
				   &cfg, err, sizeof(err), NULL),
			 0);
	assert_int_equal(cfg.port, 4000);
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);

	/* An empty file and a file of comments change nothing. */
	assert_int_equal(load_text("", &cfg, err, sizeof(err), NULL), 0);
	assert_default_values(&cfg);
	assert_int_equal(load_text("# nothing\n", &cfg, err, sizeof(err), NULL), 0);
	assert_default_values(&cfg);
}

/*
 * The longest path a key holds loads from a file, and config_format prints it
 * into a line that loads again (inih's 200-byte default line once broke
 * this); a line longer than any valid one is refused with its line number.
 */
static void test_long_line(void **state)
{
	(void)state;
	size_t cap = 3 * PATH_MAX;
	char *content = malloc(cap);
	char *printed = malloc(cap);
	struct hd_config cfg, again;
	char err[512];
	const char *path;

	assert_non_null(content);
	assert_non_null(printed);
	snprintf(content, cap, "[server]\nkey_file = /%0*d\nport = 1\n", PATH_MAX - 2, 0);
	assert_int_equal(load_text(content, &cfg, err, sizeof(err), &path), 0);
	assert_int_equal(strlen(cfg.key_file), PATH_MAX - 1);
	assert_int_equal(cfg.port, 1);
	assert_true(config_format(&cfg, printed, cap) > 0);
	assert_int_equal(load_text(printed, &again, err, sizeof(err), &path), 0);
	assert_string_equal(again.key_file, cfg.key_file);

	snprintf(content, cap, "[server]\nkey_file = /%0*d\nport = 1\n", PATH_MAX + 200, 0);
	assert_int_equal(load_text(content, &cfg, err, sizeof(err), &path), -1);
	assert_non_null(strstr(err, ":2: line longer than "));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_int_equal(cfg.port, 3340);
	free(content);
	free(printed);
}

static void test_error_leaves_config_untouched(void **state)
{
	(void)state;
	struct hd_config cfg, before;
	char err[512];
	const char *path = write_file("partial.ini", "[server]\nport = 4000\nworkers = 999\n");

	config_defaults(&cfg);
	before = cfg;
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -1);
	assert_memory_equal(&cfg, &before, sizeof(cfg));
}

static void test_unreadable_files(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char path[256];
	char want[512];

	config_defaults(&cfg);
	snprintf(path, sizeof(path), "%s/does-not-exist.ini", tmpdir);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot open: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);

	/* A directory opens but cannot be read. */
	assert_int_equal(config_load_file(&cfg, tmpdir, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read: %s", tmpdir, strerror(EISDIR));
	assert_string_equal(err, want);
}

/* ---- relative paths ---- */

static void test_relative_paths(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char want[512];
	const char *path = write_file("etc/hd.ini", "[server]\n"
						    "key_file = keys/server.key\n"
						    "mesh_key_file = ../mesh.key\n");

	config_defaults(&cfg);
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
	snprintf(want, sizeof(want), "%s/etc/keys/server.key", tmpdir);
	assert_string_equal(cfg.key_file, want);
	snprintf(want, sizeof(want), "%s/etc/../mesh.key", tmpdir);
	assert_string_equal(cfg.mesh_key_file, want);

	/* Absolute and empty paths stay as written. */
	path = write_file("etc/abs.ini", "[server]\nkey_file = /k\nmesh_key_file =\n");
	assert_int_equal(config_load_file(&cfg, path, err, sizeof(err)), 0);
	assert_string_equal(cfg.key_file, "/k");
	assert_string_equal(cfg.mesh_key_file, "");

	/* A file named without a directory is in the current one: paths are kept. */
	char cwd[512];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(tmpdir), 0);
	write_file("here.ini", "[server]\nkey_file = k.key\n");
	int ret = config_load_file(&cfg, "here.ini", err, sizeof(err));
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(ret, 0);
	assert_string_equal(cfg.key_file, "k.key");

	/* config_set (and so the flags) leave relative paths to the current directory. */
	assert_int_equal(config_set(&cfg, "server.key_file", "rel.key", err, sizeof(err)), 0);
	assert_string_equal(cfg.key_file, "rel.key");
}

/* ---- output ---- */

static void test_format_round_trip(void **state)
{
	(void)state;
	struct hd_config cfg, loaded;
	char text[4096];
	char err[512];

	config_defaults(&cfg);
	size_t n = config_format(&cfg, text, sizeof(text));
	assert_int_equal(n, strlen(text));
	assert_non_null(strstr(text, "[server]\nlisten = 127.0.0.1\nport = 3340\n"));
	assert_non_null(strstr(text, "\n[limits]\nqueue_depth = 32\n"));
	assert_non_null(strstr(text, "\n[log]\nlevel = info\n"));

	cfg.port = 9;
	cfg.log_level = LOG_LEVEL_WARN;
	strcpy(cfg.listen, "::");
	strcpy(cfg.mesh_key_file, "/m");
	cfg.write_timeout_ms = 0;
	config_format(&cfg, text, sizeof(text));
	assert_int_equal(load_text(text, &loaded, err, sizeof(err), NULL), 0);
	assert_memory_equal(&loaded, &cfg, sizeof(cfg));

	/* Like snprintf: the full length comes back, what fits is written. */
	char small[16];
	size_t full = config_format(&cfg, small, sizeof(small));
	assert_int_equal(full, strlen(text));
	assert_int_equal(strlen(small), sizeof(small) - 1);
	assert_int_equal(config_format(&cfg, NULL, 0), full);
}

/* ---- command line ---- */

/* Runs config_from_args with stdout captured into out. */
static int run_args(struct hd_config *cfg, char **argv, char *err, size_t errlen, char *out,
		    size_t outlen)
{
	int argc = 0;
	char capture[256];

	while (argv[argc])
		argc++;
	snprintf(capture, sizeof(capture), "%s/stdout.txt", tmpdir);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDOUT_FILENO);
	close(fd);

	err[0] = '\0';
	int ret = config_from_args(cfg, argc, argv, err, errlen);

	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	if (out) {
		FILE *f = fopen(capture, "r");
		assert_non_null(f);
		size_t n = fread(out, 1, outlen - 1, f);
		out[n] = '\0';
		fclose(f);
	}
	return ret;
}

static void test_args_defaults(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char *argv[] = { "hyper-derp", NULL };

	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(run_args(&cfg, argv, err, sizeof(err), NULL, 0), 0);
	assert_default_values(&cfg);
}

static void test_args_every_flag(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char *argv[] = {
		"hyper-derp",  "--listen", "::1",	 "--port",	   "4000",
		"--workers",   "3",	   "--key-file", "rel/server.key", "--mesh-key-file=/m.key",
		"--log-level", "debug",	   NULL
	};

	assert_int_equal(run_args(&cfg, argv, err, sizeof(err), NULL, 0), 0);
	assert_string_equal(cfg.listen, "::1");
	assert_int_equal(cfg.port, 4000);
	assert_int_equal(cfg.workers, 3);
	assert_string_equal(cfg.key_file, "rel/server.key");
	assert_string_equal(cfg.mesh_key_file, "/m.key");
	assert_int_equal(cfg.log_level, LOG_LEVEL_DEBUG);
}

static void test_args_override_file(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char path[512];

	snprintf(
	    path, sizeof(path), "%s",
	    write_file("args.ini", "[server]\nport = 5000\nworkers = 2\n[log]\nlevel = warn\n"));

	/* --config first. */
	char *argv1[] = { "hyper-derp", "--config", path, "--port", "6000", NULL };
	assert_int_equal(run_args(&cfg, argv1, err, sizeof(err), NULL, 0), 0);
	assert_int_equal(cfg.port, 6000);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.log_level, LOG_LEVEL_WARN);

	/* --config after the flags: the file is still the base they override. */
	char *argv2[] = { "hyper-derp", "--port",   "6000", "--log-level",
			  "error",	"--config", path,   NULL };
	assert_int_equal(run_args(&cfg, argv2, err, sizeof(err), NULL, 0), 0);
	assert_int_equal(cfg.port, 6000);
	assert_int_equal(cfg.workers, 2);
	assert_int_equal(cfg.log_level, LOG_LEVEL_ERROR);

	/* A repeated flag: the last one wins. */
	char *argv3[] = { "hyper-derp", "--port=1", "--port=2", NULL };
	assert_int_equal(run_args(&cfg, argv3, err, sizeof(err), NULL, 0), 0);
	assert_int_equal(cfg.port, 2);
}

static void test_args_errors(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char want[1024];

	char *bad_value[] = { "hyper-derp", "--port", "x", NULL };
	assert_int_equal(run_args(&cfg, bad_value, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "--port: \"x\" is not an integer in 0..65535 (see --help)");

	char *bad_level[] = { "hyper-derp", "--log-level=loud", NULL };
	assert_int_equal(run_args(&cfg, bad_level, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(
	    err, "--log-level: \"loud\" is not one of error, warn, info, debug (see --help)");

	char *bad_listen[] = { "hyper-derp", "--listen", "example.com", NULL };
	assert_int_equal(run_args(&cfg, bad_listen, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(
	    err, "--listen: \"example.com\" is not an IPv4 or IPv6 address (see --help)");

	char *unknown[] = { "hyper-derp", "--bogus", NULL };
	assert_int_equal(run_args(&cfg, unknown, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "unknown option \"--bogus\" (see --help)");

	/* Single-dash words are derper's flags (derper_flags.h): refused as Go's flag package does.
	 */
	char *unknown_short[] = { "hyper-derp", "-x", NULL };
	assert_int_equal(run_args(&cfg, unknown_short, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "flag provided but not defined: -x");

	char *missing[] = { "hyper-derp", "--port", NULL };
	assert_int_equal(run_args(&cfg, missing, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "--port: missing value (see --help)");

	char *positional[] = { "hyper-derp", "serve", NULL };
	assert_int_equal(run_args(&cfg, positional, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "unexpected argument \"serve\" (see --help)");

	/* Unknown flags are caught before the config file is even read. */
	char *unknown_then_config[] = { "hyper-derp", "--nope", "--config", "/nonexistent", NULL };
	assert_int_equal(run_args(&cfg, unknown_then_config, err, sizeof(err), NULL, 0), -1);
	assert_string_equal(err, "unknown option \"--nope\" (see --help)");

	/* A bad config file reports its own error. */
	const char *path = write_file("bad.ini", "[server]\nport = 99999\n");
	char path_copy[512];
	snprintf(path_copy, sizeof(path_copy), "%s", path);
	char *bad_file[] = { "hyper-derp", "--config", path_copy, NULL };
	assert_int_equal(run_args(&cfg, bad_file, err, sizeof(err), NULL, 0), -1);
	snprintf(want, sizeof(want), "%s:2: server.port: \"99999\" is not an integer in 0..65535",
		 path_copy);
	assert_string_equal(err, want);

	char *missing_file[] = { "hyper-derp", "--config", "/nonexistent/hd.ini", NULL };
	assert_int_equal(run_args(&cfg, missing_file, err, sizeof(err), NULL, 0), -1);
	snprintf(want, sizeof(want), "/nonexistent/hd.ini: cannot open: %s", strerror(ENOENT));
	assert_string_equal(err, want);
}

static void test_args_help_and_version(void **state)
{
	(void)state;
	struct hd_config cfg;
	char err[512];
	char out[32768]; /* the --help text grows with every key */

	/* --help wins even over a config file that does not exist. */
	char *help[] = { "hyper-derp", "--config", "/nonexistent.ini", "--help", NULL };
	assert_int_equal(run_args(&cfg, help, err, sizeof(err), out, sizeof(out)), 1);
	assert_non_null(strstr(out, "Usage: hyper-derp"));
	assert_non_null(strstr(out, "--config FILE"));
	assert_non_null(strstr(out, "--listen ADDR"));
	assert_non_null(strstr(out, "--port N"));
	assert_non_null(strstr(out, "--workers N"));
	assert_non_null(strstr(out, "--key-file PATH"));
	assert_non_null(strstr(out, "--mesh-key-file PATH"));
	assert_non_null(strstr(out, "--log-level LEVEL"));
	assert_non_null(strstr(out, "--version"));
	/* Every key of the file is documented, with its default and range. */
	assert_non_null(strstr(out, "[limits]"));
	assert_non_null(strstr(out, "keepalive_ms = 60000   (1000..3600000)\n"));
	assert_non_null(strstr(out, "max_connections = 100000"));
	assert_non_null(strstr(out, "mesh_key_file = (empty)"));
	assert_non_null(strstr(out, "level = info"));

	char *version[] = { "hyper-derp", "--version", NULL };
	assert_int_equal(run_args(&cfg, version, err, sizeof(err), out, sizeof(out)), 1);
	assert_string_equal(out, "hyper-derp 0.1.0\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_shipped_config_loads),
		cmocka_unit_test(test_config_set_each_key),
		cmocka_unit_test(test_file_each_key),
		cmocka_unit_test(test_config_set_names),
		cmocka_unit_test(test_text_too_long),
		cmocka_unit_test(test_text_that_would_not_read_back),
		cmocka_unit_test(test_unknown_key_and_section),
		cmocka_unit_test(test_list_keys),
		cmocka_unit_test(test_first_error_wins),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_duplicates_and_continuations),
		cmocka_unit_test(test_comments_and_forms),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_error_leaves_config_untouched),
		cmocka_unit_test(test_unreadable_files),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_format_round_trip),
		cmocka_unit_test(test_args_defaults),
		cmocka_unit_test(test_args_every_flag),
		cmocka_unit_test(test_args_override_file),
		cmocka_unit_test(test_args_errors),
		cmocka_unit_test(test_args_help_and_version),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
