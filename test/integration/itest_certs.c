// SPDX-License-Identifier: MIT
/*
 * Certificates against the real daemon (issue 13): tls.mode manual reloaded
 * live when its files change and on SIGHUP (connections opened before keep
 * relaying, new ones see the new certificate), a bad new pair refused with
 * the old one kept, tls.mode ip (the served certificate's SHA-256 is the
 * sha256-raw: pin the log prints, and it survives a restart), and the
 * plain-HTTP port (/generate_204 with the challenge echo, ACME tokens,
 * the redirect to https).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cert_ip.h"
#include "harness.h"
#include "tls_selfsigned.h"

#define RELOAD_WAIT_MS 10000 /* the daemon looks once a second; generous under load */

static char dir[256];

static void dir_make(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/hd-certs-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static void dir_remove(void)
{
	const char *names[] = { "localhost.crt", "localhost.key", "127.0.0.1.crt", "127.0.0.1.key",
				"new.crt",	 "new.key",	  "tok-en_1" };
	char path[400];
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

/*
 * Puts a fresh pair in place as NAME.crt/.key the way a careful tool does:
 * written aside, then renamed (key first).
 */
static void install_pair(const char *name)
{
	char err[256], crt[400], key[400], new_crt[400], new_key[400];
	path_of(new_crt, sizeof(new_crt), "new.crt");
	path_of(new_key, sizeof(new_key), "new.key");
	IT_REQUIRE(tls_selfsigned_write_pem(new_crt, new_key, err, sizeof(err)) == 0, "%s", err);
	snprintf(crt, sizeof(crt), "%s/%s.crt", dir, name);
	snprintf(key, sizeof(key), "%s/%s.key", dir, name);
	IT_REQUIRE(rename(new_key, key) == 0 && rename(new_crt, crt) == 0, "rename: %s",
		   strerror(errno));
}

static X509 *read_cert(const char *name)
{
	char path[400];
	path_of(path, sizeof(path), name);
	FILE *f = fopen(path, "r");
	IT_REQUIRE(f, "%s: %s", path, strerror(errno));
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	IT_REQUIRE(x, "%s: no certificate", path);
	return x;
}

static struct derp_client *connect_tls(struct it_daemon *d)
{
	struct derp_client_opts o = { .tls = true, .timeout_ms = IT_FRAME_TIMEOUT_MS };
	return it_connect(d, &o);
}

/* Whether c was served exactly the certificate want. */
static bool served(struct derp_client *c, X509 *want)
{
	X509 *got = SSL_get0_peer_certificate(c->ssl);
	return got && X509_cmp(got, want) == 0;
}

/* Connects until a new connection is served want (the daemon looks once a second). */
static struct derp_client *connect_until_served(struct it_daemon *d, X509 *want)
{
	int64_t deadline = it_now_ms() + RELOAD_WAIT_MS;
	for (;;) {
		struct derp_client *c = connect_tls(d);
		if (served(c, want))
			return c;
		it_client_close(c);
		IT_REQUIRE(it_now_ms() < deadline, "no new connection got the new certificate");
		it_sleep_ms(100);
	}
}

static void wait_log(struct it_daemon *d, const char *text)
{
	int64_t deadline = it_now_ms() + RELOAD_WAIT_MS;
	while (!it_daemon_log_contains(d, text)) {
		IT_REQUIRE(it_now_ms() < deadline, "the log never said \"%s\"", text);
		it_sleep_ms(50);
	}
}

static struct it_daemon *start_manual(void)
{
	char ini[1024];
	snprintf(ini, sizeof(ini),
		 "[server]\nhostname = localhost\n[tls]\nmode = manual\ncert_dir = %s\n", dir);
	struct it_daemon_opts o = { .ini = ini, .tls = true };
	return it_daemon_start(&o);
}

/* A changed pair is taken for new connections; the ones open before keep relaying. */
static void test_manual_reload_on_change(void)
{
	dir_make();
	install_pair("localhost");
	X509 *first = read_cert("localhost.crt");
	struct it_daemon *d = start_manual();
	struct derp_client *a = connect_tls(d);
	struct derp_client *b = connect_tls(d);
	IT_REQUIRE(served(a, first), "the first certificate was not served");
	it_require_relaying(a, b);

	install_pair("localhost");
	X509 *second = read_cert("localhost.crt");
	IT_REQUIRE(X509_cmp(first, second) != 0, "the two certificates are the same");
	struct derp_client *c = connect_until_served(d, second);
	wait_log(d, "TLS: certificate reloaded from");
	/* Opened under the old certificate, still relaying, to each other and to c. */
	it_require_relaying(a, b);
	it_require_relaying(a, c);
	X509_free(first);
	X509_free(second);
	dir_remove();
}

/* SIGHUP re-reads the files even when nothing looks changed. */
static void test_manual_reload_on_sighup(void)
{
	dir_make();
	install_pair("localhost");
	struct it_daemon *d = start_manual();
	struct derp_client *a = connect_tls(d);
	it_daemon_signal(d, SIGHUP);
	wait_log(d, "TLS: certificate reloaded (SIGHUP)");
	struct derp_client *b = connect_tls(d);
	it_require_relaying(a, b);
	dir_remove();
}

/* Counts how often text occurs in the daemon's log. */
static int log_count(struct it_daemon *d, const char *text)
{
	char path[400];
	snprintf(path, sizeof(path), "%s", d->log_path);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	int count = 0;
	for (char *p = buf; (p = strstr(p, text)); p++)
		count++;
	return count;
}

/* A bad new pair is refused, logged, and the old certificate stays served. */
static void test_bad_pair_keeps_old(void)
{
	dir_make();
	install_pair("localhost");
	X509 *first = read_cert("localhost.crt");
	struct it_daemon *d = start_manual();
	struct derp_client *a = connect_tls(d);

	/* A certificate that does not parse. */
	char crt[400];
	path_of(crt, sizeof(crt), "localhost.crt");
	int fd = open(crt, O_WRONLY | O_TRUNC | O_CLOEXEC);
	IT_REQUIRE(fd >= 0 && write(fd, "not a certificate\n", 18) == 18, "write %s", crt);
	close(fd);
	wait_log(d, "TLS: new certificate refused, still serving the previous one");
	struct derp_client *b = connect_tls(d);
	IT_REQUIRE(served(b, first), "a connection after the bad file got another certificate");
	it_require_relaying(a, b);

	/* A good certificate, then a key that is not its own. */
	install_pair("localhost");
	X509 *second = read_cert("localhost.crt");
	struct derp_client *c = connect_until_served(d, second);
	char err[256], new_crt[400], new_key[400], key[400];
	path_of(new_crt, sizeof(new_crt), "new.crt");
	path_of(new_key, sizeof(new_key), "new.key");
	path_of(key, sizeof(key), "localhost.key");
	IT_REQUIRE(tls_selfsigned_write_pem(new_crt, new_key, err, sizeof(err)) == 0, "%s", err);
	IT_REQUIRE(rename(new_key, key) == 0, "rename: %s", strerror(errno));
	int64_t deadline = it_now_ms() + RELOAD_WAIT_MS;
	while (log_count(d, "TLS: new certificate refused") < 2) {
		IT_REQUIRE(it_now_ms() < deadline, "the mismatched key was not refused");
		it_sleep_ms(50);
	}
	IT_REQUIRE(it_daemon_log_contains(d, "key values mismatch"),
		   "the refusal does not say why");
	struct derp_client *e = connect_tls(d);
	IT_REQUIRE(served(e, second), "a connection after the bad key got another certificate");
	it_require_relaying(a, e);
	it_require_relaying(c, e);
	X509_free(second);
	X509_free(first);
	dir_remove();
}

/* The pin the log printed with the DERP map node, or "" if none. */
static void logged_pin(struct it_daemon *d, char out[CERT_PIN_LEN])
{
	FILE *f = fopen(d->log_path, "r");
	static char buf[1 << 20];
	size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
	if (f)
		fclose(f);
	buf[n] = '\0';
	out[0] = '\0';
	char *p = strstr(buf, "\"CertName\":\"sha256-raw:");
	if (p)
		snprintf(out, CERT_PIN_LEN, "%s", p + 12);
}

/* ip mode: a self-signed certificate made once, served, and pinned by what the log prints. */
static void test_ip_mode_pin(void)
{
	dir_make();
	char ini[1024];
	snprintf(ini, sizeof(ini),
		 "[server]\nhostname = 127.0.0.1\n[tls]\nmode = ip\ncert_dir = %s/made\n", dir);
	struct it_daemon_opts o = { .ini = ini, .tls = true };
	struct it_daemon *d = it_daemon_start(&o);
	IT_REQUIRE(it_daemon_log_contains(d, "Using self-signed certificate for IP address "
					     "\"127.0.0.1\". Configure it in DERPMap using:"),
		   "no DERPMap line in the log");
	IT_REQUIRE(it_daemon_log_contains(d, "{\"Name\":\"custom\",\"RegionID\":900,\"HostName\":"
					     "\"127.0.0.1\",\"DERPPort\":"),
		   "no node entry in the log");
	char node[160];
	/* The port the relay serves on (socket activated here), not the config's default. */
	snprintf(node, sizeof(node), "\"HostName\":\"127.0.0.1\",\"DERPPort\":%u,\"CertName\"",
		 d->port);
	IT_REQUIRE(it_daemon_log_contains(d, node), "no %s in the log", node);
	char pin[CERT_PIN_LEN], served_pin[CERT_PIN_LEN];
	logged_pin(d, pin);
	IT_REQUIRE(strlen(pin) == CERT_PIN_LEN - 1, "pin \"%s\" is not sha256-raw: and 64 digits",
		   pin);
	struct derp_client *a = connect_tls(d);
	/* Worked out here, not with the daemon's code: SHA-256 over the DER bytes. */
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int derlen = i2d_X509(SSL_get0_peer_certificate(a->ssl), &der);
	IT_REQUIRE(derlen > 0 && EVP_Digest(der, (size_t)derlen, md, &mdlen, EVP_sha256(), NULL),
		   "digest");
	OPENSSL_free(der);
	strcpy(served_pin, "sha256-raw:");
	for (unsigned i = 0; i < mdlen; i++)
		snprintf(served_pin + 11 + 2 * i, 3, "%02x", md[i]);
	IT_REQUIRE(strcmp(pin, served_pin) == 0, "logged %s, served %s", pin, served_pin);
	/* The SAN names the address, so a client verifying by IP would accept it too. */
	IT_REQUIRE(X509_check_ip_asc(SSL_get0_peer_certificate(a->ssl), "127.0.0.1", 0) == 1,
		   "the certificate does not name 127.0.0.1");
	it_client_close(a);

	/* Restarted on the same directory: the same certificate, the same pin. */
	it_daemon_signal(d, SIGTERM);
	IT_REQUIRE(it_daemon_wait_exit(d, IT_STOP_TIMEOUT_MS), "did not stop");
	struct it_daemon *d2 = it_daemon_start(&o);
	char pin2[CERT_PIN_LEN];
	logged_pin(d2, pin2);
	IT_REQUIRE(strcmp(pin, pin2) == 0, "the pin changed across a restart: %s, %s", pin, pin2);

	char path[400];
	snprintf(path, sizeof(path), "%s/made/127.0.0.1.crt", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/made/127.0.0.1.key", dir);
	struct stat st;
	IT_REQUIRE(stat(path, &st) == 0 && (st.st_mode & 077) == 0, "the key is not 0600");
	unlink(path);
	snprintf(path, sizeof(path), "%s/made", dir);
	rmdir(path);
	dir_remove();
}

/* A port nobody listens on now (the plain-HTTP port cannot be handed over like the DERP port). */
static uint16_t free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		       getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
		   "free port: %s", strerror(errno));
	close(fd);
	return ntohs(sin.sin_port);
}

/* One request on the plain-HTTP port; the whole response (the server closes). */
static void http80(uint16_t port, const char *request, char *resp, size_t cap)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
		   "connect to port %u: %s", port, strerror(errno));
	it_fd_send(fd, request, strlen(request));
	size_t n = it_fd_read_until_closed(fd, resp, cap - 1, IT_FRAME_TIMEOUT_MS);
	resp[n] = '\0';
	close(fd);
}

static void test_http_port(void)
{
	dir_make();
	char ini[1024], resp[4096], path[400];
	uint16_t port = free_port();
	snprintf(ini, sizeof(ini),
		 "[http]\nport = %u\nlisten = 127.0.0.1\n[tls]\nacme_challenge_dir = %s\n", port,
		 dir);
	struct it_daemon_opts o = { .ini = ini };
	struct it_daemon *d = it_daemon_start(&o);

	http80(port,
	       "GET /generate_204 HTTP/1.1\r\nHost: x\r\nX-Tailscale-Challenge: ab.c-9\r\n\r\n",
	       resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 204 ", 13) == 0, "generate_204: %s", resp);
	IT_REQUIRE(strstr(resp, "\r\nX-Tailscale-Response: response ab.c-9\r\n"), "no echo: %s",
		   resp);

	path_of(path, sizeof(path), "tok-en_1");
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f && fputs("tok-en_1.thumbprint", f) >= 0 && fclose(f) == 0, "write %s", path);
	http80(port, "GET /.well-known/acme-challenge/tok-en_1 HTTP/1.1\r\nHost: x\r\n\r\n", resp,
	       sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 200 ", 13) == 0 &&
		       strstr(resp, "\r\n\r\ntok-en_1.thumbprint"),
		   "ACME token: %s", resp);
	http80(port, "GET /.well-known/acme-challenge/..%2Ftok-en_1 HTTP/1.1\r\nHost: x\r\n\r\n",
	       resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 404 ", 13) == 0, "a path as token: %s", resp);

	http80(port, "GET /some/where?a=1 HTTP/1.1\r\nHost: derp.example:80\r\n\r\n", resp,
	       sizeof(resp));
	char want[128];
	snprintf(want, sizeof(want), "\r\nLocation: https://derp.example:%u/some/where?a=1\r\n",
		 d->port);
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 302 Found", 18) == 0 && strstr(resp, want),
		   "redirect: %s", resp);
	http80(port, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 400 ", 13) == 0 && strstr(resp, "Use HTTPS"), "POST: %s",
		   resp);
	unlink(path);
	dir_remove();
}

/* A plain connection to the plain-HTTP port. */
static int http80_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
		   "connect to port %u: %s", port, strerror(errno));
	return fd;
}

/* Requires the server to close fd (EOF) within timeout_ms, having sent nothing. */
static void expect_closed_silently(int fd, int timeout_ms)
{
	char buf[64];
	size_t n = it_fd_read_until_closed(fd, buf, sizeof(buf), timeout_ms);
	IT_REQUIRE(n == 0, "got %zu bytes before the close", n);
}

/*
 * http.max_clients: a newcomer past it closes the oldest connection;
 * http.timeout_ms: a client that sends nothing is closed when it passes.
 */
static void test_http_port_bounds(void)
{
	char ini[512], resp[4096];
	uint16_t port = free_port();
	snprintf(ini, sizeof(ini),
		 "[http]\nport = %u\nlisten = 127.0.0.1\nmax_clients = 2\n"
		 "timeout_ms = 1500\n",
		 port);
	struct it_daemon_opts o = { .ini = ini };
	it_daemon_start(&o);

	int first = http80_connect(port);
	it_sleep_ms(50); /* accepted in this order: first is the oldest */
	int second = http80_connect(port);
	it_sleep_ms(50);
	int64_t t0 = it_now_ms();
	/* The third takes the first one's place and is answered. */
	http80(port, "GET /generate_204 HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 204 ", 13) == 0, "the newcomer: %s", resp);
	expect_closed_silently(first, 1000);
	IT_REQUIRE(it_now_ms() - t0 < 1000, "the oldest was closed by its timeout, not evicted");
	/* The second, silent, is closed at its timeout (1.5 s after its accept). */
	expect_closed_silently(second, 5000);
	IT_REQUIRE(it_now_ms() - t0 >= 1000, "closed before its timeout");
	close(first);
	close(second);
}

/* Runs the daemon with args, which must make it exit non-zero saying want. */
static void require_refused(char *const args[], const char *want)
{
	char out[4096];
	int status;
	bool exited = it_run_daemon_to_exit(args, out, sizeof(out), &status);
	IT_REQUIRE(exited, "the daemon did not exit; its output:\n%s", out);
	IT_REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 0, "exited with status 0x%x",
		   status);
	IT_REQUIRE(strstr(out, want), "output lacks \"%s\":\n%s", want, out);
}

/* Certificate settings that cannot work stop the daemon at start, saying which keys. */
static void test_bad_modes_refused_at_start(void)
{
	dir_make();
	char key_file[400];
	path_of(key_file, sizeof(key_file), "server.key");
#define ARGS(...)                                                                             \
	((char *[]){ "--key-file", key_file, "--mgmt-socket", "", "--port", "0", __VA_ARGS__, \
		     NULL })
	require_refused(ARGS("--tls-mode", "manual", "--tls-cert-dir", dir),
			"tls.mode = manual needs server.hostname");
	require_refused(
	    ARGS("--tls-mode", "ip", "--hostname", "derp.example.com", "--tls-cert-dir", dir),
	    "tls.mode = ip needs server.hostname to be an IP address");
	require_refused(
	    ARGS("--tls-mode", "manual", "--hostname", "localhost", "--tls-cert-dir", dir),
	    "localhost.crt");
	require_refused(
	    ARGS("--tls-mode", "acme", "--hostname", "derp.example.com", "--tls-cert-dir", dir),
	    "tls.mode = acme needs http.port (80) and tls.acme_challenge_dir");
	require_refused(ARGS("--tls-cert", "/nonexistent.crt"),
			"TLS needs both tls.cert and tls.key (only tls.cert is set)");
	/* ip mode with half a pair left behind: not overwritten, named. */
	char half[400];
	path_of(half, sizeof(half), "127.0.0.1.key");
	FILE *f = fopen(half, "w");
	IT_REQUIRE(f && fclose(f) == 0, "write %s", half);
	require_refused(ARGS("--tls-mode", "ip", "--hostname", "127.0.0.1", "--tls-cert-dir", dir),
			"127.0.0.1.key exists but");
#undef ARGS
	unlink(half);
	unlink(key_file);
	dir_remove();
}

IT_MAIN(IT_TEST(test_manual_reload_on_change), IT_TEST(test_manual_reload_on_sighup),
	IT_TEST(test_bad_pair_keeps_old), IT_TEST(test_ip_mode_pin), IT_TEST(test_http_port),
	IT_TEST(test_http_port_bounds), IT_TEST(test_bad_modes_refused_at_start))
