// SPDX-License-Identifier: MIT
/*
 * derper's command line mapped onto the configuration: each flag's key,
 * derper's defaults and when they apply, Go's flag forms, the refusals,
 * and the precedence against a --config file and our own options. Every
 * flag of the table must be in docs/derper-flags.md.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "derper_flags.h"

/* Runs config_from_args on a NULL-terminated argv; returns its result. */
static int run(struct hd_config *cfg, char **argv, char *err, size_t errlen)
{
	int argc = 0;
	while (argv[argc])
		argc++;
	err[0] = '\0';
	return config_from_args(cfg, argc, argv, err, errlen);
}

/*
 * A key's value as `show config` prints it, "section.key", or NULL when
 * this build has no such key: the certificate part's keys (tls.mode,
 * server.hostname, http.port) are checked where they exist.
 */
static const char *value_of(const struct hd_config *cfg, const char *name, char *out, size_t cap)
{
	static char text[65536];
	char section[64];
	const char *dot = strchr(name, '.');
	if (!config_has_key(name) || !dot)
		return NULL;
	config_format(cfg, text, sizeof(text));
	snprintf(section, sizeof(section), "[%.*s]\n", (int)(dot - name), name);
	const char *p = strstr(text, section);
	assert_non_null(p);
	char line[128];
	snprintf(line, sizeof(line), "\n%s =", dot + 1);
	p = strstr(p, line);
	assert_non_null(p);
	p += strlen(line);
	if (*p == ' ')
		p++;
	size_t n = strcspn(p, "\n");
	snprintf(out, cap, "%.*s", (int)n, p);
	return out;
}

/* Requires name to be value where this build has the key. */
static void expect_key(const struct hd_config *cfg, const char *name, const char *value)
{
	char buf[PATH_MAX];
	const char *v = value_of(cfg, name, buf, sizeof(buf));
	if (v && strcmp(v, value) != 0)
		fail_msg("%s = \"%s\", wanted \"%s\"", name, v, value);
}

static void test_listen_and_stun(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];

	char *a1[] = { "hd", "-a", ":8443", NULL };
	assert_int_equal(run(&cfg, a1, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "::");
	assert_int_equal(cfg.port, 8443);
	assert_string_equal(cfg.stun_listen, ":3478"); /* derper: STUN on by default */
	assert_string_equal(cfg.tls_cert, "");	       /* not 443, not manual: plain HTTP */

	char *a2[] = { "hd", "--a=[::1]:3340", "-stun-port=3479", NULL };
	assert_int_equal(run(&cfg, a2, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "::1");
	assert_int_equal(cfg.port, 3340);
	assert_string_equal(cfg.stun_listen, "[::1]:3479"); /* bound to -a's host */

	char *a3[] = { "hd", "-a", "127.0.0.1:http", "-stun=false", NULL };
	assert_int_equal(run(&cfg, a3, err, sizeof(err)), 0);
	assert_string_equal(cfg.listen, "127.0.0.1");
	assert_int_equal(cfg.port, 80);
	assert_string_equal(cfg.stun_listen, "");

	/* -dev: :3340 whatever -a says, no TLS. */
	char *a4[] = { "hd", "-dev", "-a", ":443", NULL };
	assert_int_equal(run(&cfg, a4, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 3340);
	assert_string_equal(cfg.tls_cert, "");
}

static void test_manual_certificates(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];

	char *a1[] = { "hd",	    "-certmode",	 "manual", "-certdir", "/etc/derp",
		       "-hostname", "derp.ex/ample.com", "-a",	   ":9443",    NULL };
	assert_int_equal(run(&cfg, a1, err, sizeof(err)), 0);
	if (config_has_key("tls.mode")) {
		/* The certificate part's manual mode reads the same two files. */
		expect_key(&cfg, "tls.mode", "manual");
		expect_key(&cfg, "tls.cert_dir", "/etc/derp");
		expect_key(&cfg, "server.hostname", "derp.example.com");
		return;
	}
	/* derper's file names: the host name without characters outside [a-zA-Z0-9.-]. */
	assert_string_equal(cfg.tls_cert, "/etc/derp/derp.example.com.crt");
	assert_string_equal(cfg.tls_key, "/etc/derp/derp.example.com.key");
	assert_int_equal(cfg.port, 9443);
}

/* derper's defaults with the certificate part: Let's Encrypt on 443, port 80 beside it. */
static void test_tls_defaults(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];

	if (!config_has_key("tls.mode"))
		return; /* test_refusals checks the refusal instead */
	char *a1[] = { "hd", "-bootstrap-dns-names", "x.example", NULL };
	assert_int_equal(run(&cfg, a1, err, sizeof(err)), 0);
	expect_key(&cfg, "tls.mode", "acme");
	expect_key(&cfg, "server.hostname", "derp.tailscale.com");
	expect_key(&cfg, "http.port", "80");
	assert_int_equal(cfg.port, 443);

	char *a2[] = { "hd", "-a", ":3340", NULL };
	assert_int_equal(run(&cfg, a2, err, sizeof(err)), 0);
	expect_key(&cfg, "tls.mode", "file");
	expect_key(&cfg, "http.port", "0");
	assert_string_equal(cfg.tls_cert, "");

	char *a3[] = { "hd", "-a",	  ":443",      "-certmode",  "manual", "-certdir",
		       "/d", "-hostname", "h.example", "-http-port", "8080",   NULL };
	assert_int_equal(run(&cfg, a3, err, sizeof(err)), 0);
	expect_key(&cfg, "tls.mode", "manual");
	expect_key(&cfg, "http.port", "8080");
	expect_key(&cfg, "http.listen", "");
}

static void test_keys_and_names(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];

	char *a1[] = { "hd",
		       "-a",
		       ":3340",
		       "-c",
		       "/var/lib/derper/derper.key",
		       "-mesh-psk-file",
		       "/etc/derp/mesh.key",
		       "-bootstrap-dns-names",
		       "controlplane.tailscale.com,log.tailscale.io",
		       "-unpublished-bootstrap-dns-names=hidden.example",
		       NULL };
	assert_int_equal(run(&cfg, a1, err, sizeof(err)), 0);
	assert_string_equal(cfg.key_file, "/var/lib/derper/derper.key");
	assert_string_equal(cfg.mesh_key_file, "/etc/derp/mesh.key");
	assert_string_equal(cfg.bootstrap_dns_names, "controlplane.tailscale.com,log.tailscale.io");
	assert_string_equal(cfg.bootstrap_dns_unpublished, "hidden.example");
	/* A bad value is the key's own error, named by the flag. */
	char *a2[] = { "hd", "-a", ":3340", "-bootstrap-dns-names", "a..b", NULL };
	assert_int_equal(run(&cfg, a2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "-bootstrap-dns-names: bootstrap_dns.names:"));
}

static void refused(char **argv, const char *want)
{
	static struct hd_config cfg;
	char err[512];
	if (run(&cfg, argv, err, sizeof(err)) != -1)
		fail_msg("accepted: %s %s", argv[1], argv[2] ? argv[2] : "");
	if (!strstr(err, want))
		fail_msg("wanted \"%s\", got \"%s\"", want, err);
}

static void test_refusals(void **state)
{
	(void)state;
	refused((char *[]){ "hd", "-nope", NULL }, "flag provided but not defined: -nope");
	refused((char *[]){ "hd", "-a", NULL }, "flag needs an argument: -a");
	refused((char *[]){ "hd", "-stun=maybe", NULL }, "invalid value \"maybe\" for flag -stun");
	refused((char *[]){ "hd", "-a", "x.example.com:443", NULL },
		"the host must be an IP address");
	refused((char *[]){ "hd", "-a", "443", NULL }, "missing port in address");
	/* Checked where derper checks it: when it serves TLS. */
	refused((char *[]){ "hd", "-a", ":443", "-certmode", "magic", NULL },
		"unsupport cert mode: \"magic\"");
	refused((char *[]){ "hd", "-a", ":3340", "-derp=false", NULL },
		"-derp=false: not supported by this build");
	refused((char *[]){ "hd", "-a", ":3340", "-tcp-keepalive-time", "5 minutes", NULL },
		"invalid value");
	refused((char *[]){ "hd", "-a", ":3340", "-tcp-keepalive-time=1e3s", NULL },
		"invalid value");
	refused((char *[]){ "hd", "-a", ":3340", "-tcp-keepalive-time=5", NULL }, "invalid value");
	refused((char *[]){ "hd", "-a", ":3340", "-tcp-keepalive-time=5x", NULL }, "invalid value");
	refused((char *[]){ "hd", "stray", NULL }, "unexpected argument \"stray\"");
	/* derper's default on 443 needs Let's Encrypt. */
	if (!config_has_key("tls.mode"))
		refused((char *[]){ "hd", "-c", "/k", NULL },
			"-certmode letsencrypt (derper's default when -a's port is 443)");
	/* Rows whose keys other parts add: refused by name until the key exists. */
	const char *pending[][3] = {
		{ "-mesh-with", "derp2.example.com", "mesh.with" },
		{ "-verify-clients", NULL, "admission.verify_clients" },
		{ "-verify-client-url", "http://127.0.0.1:1/", "admission.verify_client_url" },
		{ "-verify-client-url-fail-open=false", NULL, "admission.fail_open" },
		{ "-accept-connection-limit", "50", "limits.accept_rate" },
		{ "-accept-connection-burst", "100", "limits.accept_burst" },
		{ "-per-client-rate-limit", "1000000", "limits.client_rate_bytes" },
		{ "-per-client-rate-burst", "2000000", "limits.client_burst_bytes" },
		{ "-http-port", "8080", "http.port" },
	};
	for (size_t i = 0; i < sizeof(pending) / sizeof(pending[0]); i++) {
		static struct hd_config cfg;
		char err[512], want[128];
		char *argv[] = { "hd", "-a", ":3340", (char *)pending[i][0], (char *)pending[i][1],
				 NULL };
		int rc = run(&cfg, argv, err, sizeof(err));
		if (config_has_key(pending[i][2])) {
			assert_int_equal(rc, 0);
			continue;
		}
		snprintf(want, sizeof(want),
			 "%.*s: not supported by this build (see docs/derper-flags.md)",
			 (int)strcspn(pending[i][0], "="), pending[i][0]);
		assert_int_equal(rc, -1);
		if (strcmp(err, want) != 0)
			fail_msg("wanted \"%s\", got \"%s\"", want, err);
	}
}

/* derper's rate, burst and TCP flags land in the keys, in the keys' units. */
static void test_limits_values(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];
	char *argv[] = { "hd",
			 "-a",
			 ":3340",
			 "-per-client-rate-limit",
			 "1000000",
			 "-per-client-rate-burst",
			 "2000000",
			 "-accept-connection-limit",
			 "49.5",
			 "-accept-connection-burst",
			 "100",
			 "-tcp-keepalive-time",
			 "5m",
			 "-tcp-user-timeout=1m30s",
			 "-verify-client-url-fail-open=false",
			 NULL };
	assert_int_equal(run(&cfg, argv, err, sizeof(err)), 0);
	assert_int_equal(cfg.client_rate_bytes, 1000000);
	assert_int_equal(cfg.client_burst_bytes, 2000000);
	assert_int_equal(cfg.accept_rate, 50); /* a fraction rounds up */
	assert_int_equal(cfg.accept_burst, 100);
	assert_int_equal(cfg.tcp_keepalive_ms, 300000);
	assert_int_equal(cfg.tcp_user_timeout_ms, 90000);
	assert_false(cfg.admission_fail_open);
	/* A duration past the key's range is refused with the key's reason. */
	char *too_long[] = { "hd", "-a", ":3340", "-tcp-user-timeout=2h", NULL };
	assert_int_equal(run(&cfg, too_long, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "tcp_user_timeout_ms"));
}

static void test_defaults_ask_for_nothing(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];
	/* derper's own defaults, spelled out: accepted whatever this build lacks. */
	char *argv[] = { "hd",
			 "-a",
			 ":3340",
			 "-derp",
			 "-verify-clients=false",
			 "-verify-client-url-fail-open",
			 "-accept-connection-limit",
			 "+Inf",
			 "-mesh-with",
			 "",
			 "-http-port",
			 "-1",
			 "-tcp-user-timeout=15s",
			 "-tcp-keepalive-time",
			 "600s", /* derper's 10m0s, written otherwise: accepted */
			 NULL };
	assert_int_equal(run(&cfg, argv, err, sizeof(err)), 0);
}

static void test_precedence(void **state)
{
	(void)state;
	static struct hd_config cfg;
	char err[512];
	char ini[] = "/tmp/hd-derper-flags-XXXXXX";
	int fd = mkstemp(ini);
	assert_true(fd >= 0);
	const char text[] = "[server]\nport = 5000\n[stun]\nlisten = :5001\n";
	assert_int_equal(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);

	/* derper's defaults (port 443, STUN :3478) go under the file... */
	char *a1[] = { "hd", "--config", ini, "-bootstrap-dns-names", "x.example", NULL };
	assert_int_equal(run(&cfg, a1, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 5000);
	assert_string_equal(cfg.stun_listen, ":5001");
	/* ...derper's flags given go over it, and our options over both. */
	char *a2[] = { "hd", "-stun-port", "3479",   "--config", ini,
		       "-a", ":6000",	   "--port", "7000",	 NULL };
	assert_int_equal(run(&cfg, a2, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 7000);
	assert_string_equal(cfg.stun_listen, ":3479");
	unlink(ini);

	/* A file's certificate is what derper's port 443 needs: no Let's Encrypt then. */
	char tls_ini[] = "/tmp/hd-derper-flags-XXXXXX";
	fd = mkstemp(tls_ini);
	assert_true(fd >= 0);
	const char tls_text[] = "[tls]\ncert = /etc/x/fullchain.pem\nkey = /etc/x/privkey.pem\n";
	assert_int_equal(write(fd, tls_text, sizeof(tls_text) - 1), (ssize_t)sizeof(tls_text) - 1);
	close(fd);
	char *a5[] = { "hd", "-c", "/k", "--config", tls_ini, NULL };
	assert_int_equal(run(&cfg, a5, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 443);
	assert_string_equal(cfg.tls_cert, "/etc/x/fullchain.pem");
	expect_key(&cfg, "tls.mode", "file"); /* not derper's acme over the file's certificate */
	unlink(tls_ini);

	/* -version and -h, as derper's. */
	char *a3[] = { "hd", "-version", NULL };
	assert_int_equal(run(&cfg, a3, err, sizeof(err)), 1);
	char *a3b[] = { "hd", "-version=T", NULL };
	assert_int_equal(run(&cfg, a3b, err, sizeof(err)), 1);
	char *a3c[] = { "hd", "-version=0", "-a", ":3340", NULL };
	assert_int_equal(run(&cfg, a3c, err, sizeof(err)), 0);
	/* Without derper flags nothing of derper's applies. */
	char *a4[] = { "hd", NULL };
	assert_int_equal(run(&cfg, a4, err, sizeof(err)), 0);
	assert_int_equal(cfg.port, 3340);
	assert_string_equal(cfg.stun_listen, "");
}

static void test_every_flag_documented(void **state)
{
	(void)state;
	FILE *f = fopen(HD_DERPER_FLAGS_DOC, "r");
	assert_non_null(f);
	static char doc[65536];
	size_t n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	for (size_t i = 0; derper_flag_name(i); i++) {
		char want[80];
		snprintf(want, sizeof(want), "| `-%s`", derper_flag_name(i));
		if (!strstr(doc, want))
			fail_msg("docs/derper-flags.md has no row for -%s", derper_flag_name(i));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listen_and_stun),
		cmocka_unit_test(test_manual_certificates),
		cmocka_unit_test(test_tls_defaults),
		cmocka_unit_test(test_keys_and_names),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limits_values),
		cmocka_unit_test(test_defaults_ask_for_nothing),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_every_flag_documented),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
