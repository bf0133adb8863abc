// SPDX-License-Identifier: MIT
/*
 * tls.mode = acme end to end against Debian's pebble ACME test server
 * (issue 13). Runs inside the network namespace test/integration/
 * acme_pebble.sh makes, where pebble serves its ACME directory on
 * 127.0.0.1:14000, pebble-challtestsrv answers every name with 127.0.0.1
 * (so pebble's HTTP-01 check of derp.hd.test reaches the relay's port 5002),
 * and the system CA bundle is pebble's API certificate (for uacme).
 *
 * The relay starts with no certificate (placeholder); hyper-derp-acme gets
 * one from pebble through uacme, HTTP-01 answered by the relay's plain-HTTP
 * port; the relay serves it (verified against pebble's root); a forced
 * renewal is taken live, and the clients connected before it keep relaying.
 */
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "test_mgmt_daemon.h"

#define HOST	       "derp.hd.test"
#define HTTP_PORT      "5002" /* pebble's httpPort (acme_pebble.sh) */
#define RELOAD_WAIT_MS 15000
#define ACME_TIMEOUT_S 60

static struct derp_client_opts verified(void)
{
	return (struct derp_client_opts){ .tls = true,
					  .tls_server_name = HOST,
					  .tls_ca_file = getenv("PEBBLE_ROOT"),
					  .timeout_ms = IT_FRAME_TIMEOUT_MS };
}

/* One verified connection attempt; the served certificate's copy in *served on success. */
static bool try_verified(struct mgmt_daemon *d, X509 **served)
{
	struct derp_client c = { .fd = -1 };
	struct derp_client_opts o = verified();
	char err[256];
	if (derp_client_connect(&c, "127.0.0.1", d->it.port, &o, err, sizeof(err)) < 0)
		return false;
	if (served)
		*served = X509_dup(SSL_get0_peer_certificate(c.ssl));
	derp_client_close(&c);
	return true;
}

/* Waits until a verified connection is served a certificate other than old. */
static X509 *wait_served_other_than(struct mgmt_daemon *d, X509 *old)
{
	int64_t deadline = it_now_ms() + RELOAD_WAIT_MS;
	for (;;) {
		X509 *x = NULL;
		if (try_verified(d, &x) && x && (!old || X509_cmp(x, old) != 0))
			return x;
		X509_free(x);
		IT_REQUIRE(it_now_ms() < deadline, "no verified connection got a new certificate");
		it_sleep_ms(100);
	}
}

/* Runs hyper-derp-acme (with args) against d; returns its exit status. */
static int run_acme(struct mgmt_daemon *d, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
		 "HD_MGMT_SOCKET='%s' HD_HDCLI='%s' timeout %d '%s' %s >>'%s/acme.log' 2>&1",
		 d->sock, getenv("HDCLI_BIN"), ACME_TIMEOUT_S, getenv("HD_ACME_SCRIPT"), args,
		 d->it.dir);
	int rc = system(cmd);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static void show_acme_log(struct mgmt_daemon *d)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cat '%s/acme.log'", d->it.dir);
	it_note("hyper-derp-acme output follows");
	IT_REQUIRE(system(cmd) >= 0, "cat");
}

static void test_acme_obtain_serve_renew(void)
{
	IT_REQUIRE(getenv("PEBBLE_ROOT") && getenv("HD_ACME_SCRIPT") && getenv("HDCLI_BIN"),
		   "run through acme_pebble.sh");
	const char *tmp = getenv("TMPDIR");
	char base[256], ini[2048];
	snprintf(base, sizeof(base), "%s/hd-acme-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(base), "mkdtemp: %s", strerror(errno));
	snprintf(ini, sizeof(ini),
		 "[server]\nhostname = " HOST "\n"
		 "[tls]\nmode = acme\ncert_dir = %s/certs\nacme_challenge_dir = %s/challenge\n"
		 "acme_state_dir = %s/uacme\nacme_url = https://127.0.0.1:14000/dir\n"
		 "acme_email = ops@hd.test\n"
		 "[http]\nport = " HTTP_PORT "\nlisten = 127.0.0.1\n",
		 base, base, base);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	IT_REQUIRE(it_daemon_log_contains(&d->it, "serving a self-signed placeholder"),
		   "no placeholder at start");
	/* The placeholder does not verify against pebble's root. */
	IT_REQUIRE(!try_verified(d, NULL), "the placeholder verified");

	/* Obtained: HTTP-01 through the relay's port, installed, taken live. */
	int rc = run_acme(d, "");
	if (rc != 0)
		show_acme_log(d);
	IT_REQUIRE(rc == 0, "hyper-derp-acme failed (status %d)", rc);
	X509 *first = wait_served_other_than(d, NULL);
	char name[256];
	X509_NAME_oneline(X509_get_subject_name(first), name, sizeof(name));
	it_note("obtained: %s", name);
	IT_REQUIRE(X509_check_host(first, HOST, 0, 0, NULL) == 1, "not for " HOST ": %s", name);

	struct derp_client_opts vo = verified();
	struct derp_client *a = it_connect(&d->it, &vo);
	struct derp_client *b = it_connect(&d->it, &vo);
	it_require_relaying(a, b);

	/* Not due (pebble's certificates last years): nothing changes. */
	rc = run_acme(d, "");
	IT_REQUIRE(rc == 0, "hyper-derp-acme (not due) failed (status %d)", rc);

	/* Renewed (forced), swapped in live; a and b, connected before, still relay. */
	rc = run_acme(d, "--force");
	if (rc != 0)
		show_acme_log(d);
	IT_REQUIRE(rc == 0, "hyper-derp-acme --force failed (status %d)", rc);
	X509 *second = wait_served_other_than(d, first);
	struct derp_client *c = it_connect(&d->it, &vo);
	it_require_relaying(a, b);
	it_require_relaying(a, c);
	IT_REQUIRE(md_scrape(d, "hyperderp_tls_cert_reloads_total", "result=\"ok\"") >= 2,
		   "fewer than two reloads counted");
	IT_REQUIRE(md_scrape(d, "hyperderp_http_port_requests_total", "route=\"acme_challenge\"") >=
		       2,
		   "pebble's checks were not counted");
	/* The expiry gauge follows the certificate now served. */
	struct tm tm;
	IT_REQUIRE(ASN1_TIME_to_tm(X509_get0_notAfter(second), &tm) == 1, "notAfter");
	int64_t want = (int64_t)timegm(&tm);
	int64_t got = md_scrape(d, "hyperderp_tls_cert_expiry_timestamp_seconds", NULL);
	IT_REQUIRE(got == want, "expiry gauge %lld, the certificate says %lld", (long long)got,
		   (long long)want);

	/* The files removed: refused, and the real certificate stays (no placeholder). */
	char path[400];
	snprintf(path, sizeof(path), "%s/certs/" HOST ".crt", base);
	IT_REQUIRE(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/certs/" HOST ".key", base);
	IT_REQUIRE(unlink(path) == 0, "unlink %s: %s", path, strerror(errno));
	int64_t deadline = it_now_ms() + RELOAD_WAIT_MS;
	while (!it_daemon_log_contains(&d->it, "TLS: new certificate refused")) {
		IT_REQUIRE(it_now_ms() < deadline, "the removal was not noticed");
		it_sleep_ms(50);
	}
	X509 *after = NULL;
	IT_REQUIRE(try_verified(d, &after) && after && X509_cmp(after, second) == 0,
		   "the certificate served after the removal is not the renewed one");
	X509_free(after);
	X509_free(first);
	X509_free(second);

	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	IT_REQUIRE(system(cmd) == 0, "rm");
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = { IT_TEST(test_acme_obtain_serve_renew) };
	return md_main(argc, argv, tests, 1);
}
