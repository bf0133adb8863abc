// SPDX-License-Identifier: MIT
/*
 * [admission]: which clients the relay lets in, asked of a local
 * tailscaled (LocalAPI whois over a Unix socket) or of an admission
 * controller URL, as derper asks them. Both servers run in this test,
 * on threads, speaking the contracts derper's clients expect:
 *
 * - tailscaled: GET /localapi/v0/whois?addr=nodekey%3A<hex> with
 *   Host: local-tailscaled.sock and Sec-Tailscale: localapi; 200 with the
 *   node's JSON when known, 404 when not;
 * - the controller: POST of {"NodePublic":"nodekey:<hex>","Source":"<ip>"};
 *   200 {"Allow":true} or {"Allow":false}.
 *
 * Each case checks the client's fate (it gets its ServerInfo, or the
 * connection closes without one, as derper does it) and the counters in
 * `show counters` and /metrics.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "key.h"
#include "test_mgmt_daemon.h"

#define MAX_KEYS     8
#define MAX_HANDLERS 64
#define SLOW_MS	     3000 /* the slow key's answer */
/*
 * A client whose check is quick must be in well before the slow one's
 * answer: generous for a loaded host, and still far from SLOW_MS.
 */
#define FAST_MAX_MS 1500

enum server_mode {
	ANSWER = 0, /* decide by key */
	HANG,	    /* accept, read, never answer */
	STATUS_500, /* answer 500 */
};

struct adm_server {
	bool whois;	/* tailscaled's LocalAPI (Unix socket), else the controller (TCP) */
	SSL_CTX *tls;	/* the controller over HTTPS; NULL = plain HTTP */
	bool keepalive; /* answer more requests on a connection, as Go's servers do */
	int accepts;	/* connections accepted */
	int listen_fd;
	uint16_t port;
	char sock_path[108];
	pthread_t accept_thread;
	pthread_t handlers[MAX_HANDLERS];
	int nhandlers;
	volatile bool stop;
	pthread_mutex_t mu;
	enum server_mode mode;
	char allow[MAX_KEYS][KEY_HEX_LEN + 1];
	int nallow;
	char slow[KEY_HEX_LEN + 1]; /* answered after SLOW_MS */
	int requests;
	char last_request[4096];
};

struct handler_arg {
	struct adm_server *s;
	int fd;
	SSL *ssl; /* over fd, for an HTTPS server */
};

/* Reads a request: head, and a body of its Content-Length. */
static size_t read_request(struct handler_arg *h, char *buf, size_t cap)
{
	size_t got = 0;
	while (got + 1 < cap) {
		struct pollfd pfd = { .fd = h->fd, .events = POLLIN };
		int ready = h->ssl && SSL_pending(h->ssl);
		/* Waits up to 5 s for bytes, looking at the stop flag meanwhile. */
		for (int waited = 0; !ready && waited < 5000 && !h->s->stop; waited += 50)
			ready = poll(&pfd, 1, 50) > 0;
		if (!ready)
			break;
		ssize_t n = h->ssl ? SSL_read(h->ssl, buf + got, (int)(cap - 1 - got))
				   : recv(h->fd, buf + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			continue;
		const char *cl = strcasestr(buf, "\r\nContent-Length:");
		size_t want = cl ? strtoul(cl + 17, NULL, 10) : 0;
		if (got >= (size_t)(end + 4 - buf) + want)
			break;
	}
	buf[got] = '\0';
	return got;
}

static bool key_in(struct adm_server *s, const char *hex)
{
	for (int i = 0; i < s->nallow; i++)
		if (strcmp(s->allow[i], hex) == 0)
			return true;
	return false;
}

/* The key the request asks about: after "nodekey%3A" (whois) or "nodekey:" (controller). */
static void requested_key(struct adm_server *s, const char *req, char hex[KEY_HEX_LEN + 1])
{
	const char *mark = s->whois ? "nodekey%3A" : "\"NodePublic\":\"nodekey:";
	const char *p = strstr(req, mark);
	hex[0] = '\0';
	if (p && strlen(p + strlen(mark)) >= KEY_HEX_LEN) {
		memcpy(hex, p + strlen(mark), KEY_HEX_LEN);
		hex[KEY_HEX_LEN] = '\0';
	}
}

static void *handle(void *arg)
{
	struct handler_arg *h = arg;
	struct adm_server *s = h->s;
	char req[4096];
	char hex[KEY_HEX_LEN + 1];
	char resp[512];
	if (s->tls) {
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(h->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		h->ssl = SSL_new(s->tls);
		SSL_set_fd(h->ssl, h->fd);
		if (SSL_accept(h->ssl) != 1) {
			/* The relay refused our certificate (as it must when it does not trust it).
			 */
			goto out;
		}
	}
next_request:
	if (read_request(h, req, sizeof(req)) == 0)
		goto out;
	pthread_mutex_lock(&s->mu);
	s->requests++;
	snprintf(s->last_request, sizeof(s->last_request), "%s", req);
	enum server_mode mode = s->mode;
	requested_key(s, req, hex);
	bool allowed = key_in(s, hex);
	bool slow = s->slow[0] && strcmp(s->slow, hex) == 0;
	pthread_mutex_unlock(&s->mu);

	if (mode == HANG) {
		while (!s->stop)
			usleep(20000);
		goto out;
	}
	if (slow) {
		for (int waited = 0; waited < SLOW_MS && !s->stop; waited += 20)
			usleep(20000);
	}
	const char *body;
	int status;
	if (mode == STATUS_500) {
		status = 500;
		body = "{\"Allow\":true}";
	} else if (s->whois) {
		status = allowed ? 200 : 404;
		body = allowed ? "{\"Node\":{\"ID\":1},\"UserProfile\":{\"ID\":1}}"
			       : "no match for IP:port";
	} else {
		status = 200;
		body = allowed ? "{\"Allow\":true}" : "{\"Allow\":false}";
	}
	int n = snprintf(resp, sizeof(resp),
			 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 status, strlen(body), body);
	if (h->ssl ? SSL_write(h->ssl, resp, n) != n
		   : send(h->fd, resp, (size_t)n, MSG_NOSIGNAL) < 0)
		it_note("admission server: send failed");
	else if (s->keepalive)
		goto next_request;
out:
	if (h->ssl) {
		SSL_shutdown(h->ssl);
		SSL_free(h->ssl);
	}
	close(h->fd);
	free(h);
	return NULL;
}

static void *accept_loop(void *arg)
{
	struct adm_server *s = arg;
	while (!s->stop) {
		struct pollfd pfd = { .fd = s->listen_fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		int fd = accept(s->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		struct handler_arg *h = malloc(sizeof(*h));
		pthread_mutex_lock(&s->mu);
		bool room = h && s->nhandlers < MAX_HANDLERS;
		if (room) {
			s->accepts++;
			h->s = s;
			h->fd = fd;
			h->ssl = NULL;
			pthread_create(&s->handlers[s->nhandlers++], NULL, handle, h);
		}
		pthread_mutex_unlock(&s->mu);
		if (!room) {
			free(h);
			close(fd);
		}
	}
	return NULL;
}

static void server_start(struct adm_server *s, bool whois, const char *dir)
{
	memset(s, 0, sizeof(*s));
	s->whois = whois;
	pthread_mutex_init(&s->mu, NULL);
	if (whois) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(s->sock_path, sizeof(s->sock_path), "%s/tailscaled.sock", dir);
		strcpy(sun.sun_path, s->sock_path);
		s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		IT_REQUIRE(s->listen_fd >= 0 &&
			       bind(s->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) == 0,
			   "unix socket %s: %s", s->sock_path, strerror(errno));
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof(sin);
		s->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		IT_REQUIRE(s->listen_fd >= 0 &&
			       bind(s->listen_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
			       getsockname(s->listen_fd, (struct sockaddr *)&sin, &len) == 0,
			   "tcp socket: %s", strerror(errno));
		s->port = ntohs(sin.sin_port);
	}
	IT_REQUIRE(listen(s->listen_fd, 64) == 0, "listen: %s", strerror(errno));
	pthread_create(&s->accept_thread, NULL, accept_loop, s);
}

static void server_stop(struct adm_server *s)
{
	s->stop = true;
	pthread_join(s->accept_thread, NULL);
	for (int i = 0; i < s->nhandlers; i++)
		pthread_join(s->handlers[i], NULL);
	close(s->listen_fd);
	if (s->sock_path[0])
		unlink(s->sock_path);
}

static void server_allow(struct adm_server *s, const uint8_t pub[KEY_LEN])
{
	pthread_mutex_lock(&s->mu);
	key_to_hex(pub, s->allow[s->nallow++]);
	pthread_mutex_unlock(&s->mu);
}

static int server_requests(struct adm_server *s)
{
	pthread_mutex_lock(&s->mu);
	int n = s->requests;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- clients ---- */

static void fresh_key(uint8_t priv[KEY_LEN], uint8_t pub[KEY_LEN])
{
	key_generate(priv, pub);
}

/*
 * A client with key priv tries the handshake: true when it got its
 * ServerInfo (admitted; c stays open), false when the relay closed it.
 */
static bool try_connect(struct mgmt_daemon *d, const uint8_t priv[KEY_LEN], struct derp_client *c,
			int timeout_ms)
{
	struct derp_client_opts o = { .private_key = priv, .timeout_ms = timeout_ms };
	char err[256];
	int rc = derp_client_connect(c, "127.0.0.1", d->it.port, &o, err, sizeof(err));
	if (rc < 0)
		it_note("not admitted: %s", err);
	return rc == 0;
}

static uint64_t admission_counter(struct mgmt_daemon *d, const char *name)
{
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	const struct json_value *adm = json_get(json_get(doc.root, "slowpath"), "admission");
	uint64_t v = json_get_u64(adm, name, UINT64_MAX);
	json_doc_free(&doc);
	IT_REQUIRE(v != UINT64_MAX, "show counters has no slowpath.admission.%s", name);
	return v;
}

static void require_counter(struct mgmt_daemon *d, const char *result, uint64_t want)
{
	uint64_t got = admission_counter(d, result);
	IT_REQUIRE(got == want, "admission %s = %llu, want %llu", result, (unsigned long long)got,
		   (unsigned long long)want);
	char labels[64];
	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	IT_REQUIRE(md_scrape(d, "hyperderp_admission_checks_total", labels) == (int64_t)want,
		   "/metrics disagrees with show counters on %s", result);
}

static struct mgmt_daemon *start_with_url(struct adm_server *s, const char *extra)
{
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[admission]\nverify_client_url = http://127.0.0.1:%u/verify\n%s", s->port, extra);
	struct md_opts o = { .ini = ini };
	return md_start(&o);
}

/* ---- tests ---- */

static void test_url_allows_and_refuses(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	struct mgmt_daemon *d = start_with_url(&s, "cache_ms = 0\n");
	uint8_t priv_a[KEY_LEN], pub_a[KEY_LEN], priv_b[KEY_LEN], pub_b[KEY_LEN];
	uint8_t priv_c[KEY_LEN], pub_c[KEY_LEN];
	fresh_key(priv_a, pub_a);
	fresh_key(priv_b, pub_b);
	fresh_key(priv_c, pub_c);
	server_allow(&s, pub_a);
	server_allow(&s, pub_c);

	struct derp_client a, b, c;
	IT_REQUIRE(try_connect(d, priv_a, &a, 5000), "an allowed key was refused");
	/* The request is derper's, to the byte where it matters. */
	char hex[KEY_HEX_LEN + 1], want[200];
	key_to_hex(pub_a, hex);
	snprintf(want, sizeof(want), "{\"NodePublic\":\"nodekey:%s\",\"Source\":\"127.0.0.1\"}",
		 hex);
	pthread_mutex_lock(&s.mu);
	bool post = strncmp(s.last_request, "POST /verify HTTP/1.1\r\n", 23) == 0;
	bool json = strstr(s.last_request, "\r\n\r\n") &&
		    strcmp(strstr(s.last_request, "\r\n\r\n") + 4, want) == 0;
	pthread_mutex_unlock(&s.mu);
	IT_REQUIRE(post, "not a POST of the URL's path: %.60s", s.last_request);
	IT_REQUIRE(json, "body is not %s: %s", want, s.last_request);

	IT_REQUIRE(!try_connect(d, priv_b, &b, 5000), "a refused key got in");
	IT_REQUIRE(try_connect(d, priv_c, &c, 5000), "an allowed key was refused");
	/* The admitted ones relay. */
	uint8_t pkt[64];
	it_fill_pattern(pkt, sizeof(pkt), 7);
	IT_REQUIRE(derp_client_send_packet(&a, pub_c, pkt, sizeof(pkt)) == 0, "send");
	it_expect_packet(&c, pub_a, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	require_counter(d, "allowed", 2);
	require_counter(d, "refused", 1);
	require_counter(d, "failed", 0);
	derp_client_close(&a);
	derp_client_close(&c);
	md_stop(d);
	server_stop(&s);
}

/*
 * A controller that never answers: timeout_ms later the check has failed,
 * and fail_open decides. fail_open = true (derper's default) admits.
 */
static void hang_case(bool fail_open)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	s.mode = HANG;
	struct mgmt_daemon *d =
	    start_with_url(&s, fail_open ? "cache_ms = 0\ntimeout_ms = 500\nfail_open = true\n"
					 : "cache_ms = 0\ntimeout_ms = 500\nfail_open = false\n");
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	fresh_key(priv, pub);
	struct derp_client c;
	int64_t t0 = it_now_ms();
	bool in = try_connect(d, priv, &c, 5000);
	int64_t took = it_now_ms() - t0;
	it_note("decided after %lld ms", (long long)took);
	IT_REQUIRE(in == fail_open, "fail_open = %d, yet the client was %s", fail_open,
		   in ? "admitted" : "refused");
	IT_REQUIRE(took >= 450, "decided after %lld ms, before timeout_ms", (long long)took);
	require_counter(d, fail_open ? "fail_open" : "failed", 1);
	require_counter(d, "allowed", 0);
	if (in)
		derp_client_close(&c);
	md_stop(d);
	server_stop(&s);
}

static void test_url_timeout_fail_open(void)
{
	hang_case(true);
}

static void test_url_timeout_fail_closed(void)
{
	hang_case(false);
}

/* Nothing listens at the URL: unreachable, as a timeout. */
static void unreachable_case(bool fail_open)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	server_stop(&s); /* its port is free now: connections to it are refused */
	struct mgmt_daemon *d = start_with_url(&s, fail_open ? "cache_ms = 0\nfail_open = true\n"
							     : "cache_ms = 0\nfail_open = false\n");
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	fresh_key(priv, pub);
	struct derp_client c;
	bool in = try_connect(d, priv, &c, 5000);
	IT_REQUIRE(in == fail_open, "fail_open = %d, yet the client was %s", fail_open,
		   in ? "admitted" : "refused");
	require_counter(d, fail_open ? "fail_open" : "failed", 1);
	if (in)
		derp_client_close(&c);
	md_stop(d);
}

static void test_url_unreachable_fail_open(void)
{
	unreachable_case(true);
}

static void test_url_unreachable_fail_closed(void)
{
	unreachable_case(false);
}

/* An answer other than 200 refuses, whatever fail_open says (derper's rule). */
static void test_url_error_status_refuses(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	s.mode = STATUS_500;
	struct mgmt_daemon *d = start_with_url(&s, "cache_ms = 0\nfail_open = true\n");
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	fresh_key(priv, pub);
	server_allow(&s, pub);
	struct derp_client c;
	IT_REQUIRE(!try_connect(d, priv, &c, 5000), "admitted on a 500 answer");
	require_counter(d, "failed", 1);
	md_stop(d);
	server_stop(&s);
}

static void test_tailscaled_whois(void)
{
	struct adm_server s;
	char dir[] = "/tmp/hd-admission-XXXXXX";
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	server_start(&s, true, dir);
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[admission]\nverify_clients = true\ntailscaled_socket = %s\ncache_ms = 0\n",
		 s.sock_path);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	uint8_t priv_a[KEY_LEN], pub_a[KEY_LEN], priv_b[KEY_LEN], pub_b[KEY_LEN];
	fresh_key(priv_a, pub_a);
	fresh_key(priv_b, pub_b);
	server_allow(&s, pub_a);
	struct derp_client a, b;
	IT_REQUIRE(try_connect(d, priv_a, &a, 5000), "a key tailscaled knows was refused");
	/* LocalClient.WhoIsNodeKey's request, and the headers tailscaled requires. */
	char hex[KEY_HEX_LEN + 1], want[160];
	key_to_hex(pub_a, hex);
	snprintf(want, sizeof(want), "GET /localapi/v0/whois?addr=nodekey%%3A%s HTTP/1.1\r\n", hex);
	pthread_mutex_lock(&s.mu);
	bool line = strncmp(s.last_request, want, strlen(want)) == 0;
	bool host = strstr(s.last_request, "\r\nHost: local-tailscaled.sock\r\n") != NULL;
	bool sec = strstr(s.last_request, "\r\nSec-Tailscale: localapi\r\n") != NULL;
	pthread_mutex_unlock(&s.mu);
	IT_REQUIRE(line, "request line is not %s: %.100s", want, s.last_request);
	IT_REQUIRE(host && sec, "Host or Sec-Tailscale missing: %s", s.last_request);
	IT_REQUIRE(!try_connect(d, priv_b, &b, 5000), "a key tailscaled does not know got in");
	require_counter(d, "allowed", 1);
	require_counter(d, "refused", 1);
	derp_client_close(&a);
	md_stop(d);
	/* tailscaled gone: refused (derper has no fail-open for tailscaled). */
	server_stop(&s);
	d = md_start(&o);
	IT_REQUIRE(!try_connect(d, priv_a, &a, 5000), "admitted without tailscaled");
	require_counter(d, "failed", 1);
	md_stop(d);
	rmdir(dir);
}

/* A tailscaled that does not answer: refused after timeout_ms (fail_open is the URL's only). */
static void test_tailscaled_timeout_refuses(void)
{
	struct adm_server s;
	char dir[] = "/tmp/hd-admission-XXXXXX";
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	server_start(&s, true, dir);
	s.mode = HANG;
	char ini[512];
	snprintf(ini, sizeof(ini),
		 "[admission]\nverify_clients = true\ntailscaled_socket = %s\ntimeout_ms = 500\n"
		 "fail_open = true\n",
		 s.sock_path);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	fresh_key(priv, pub);
	server_allow(&s, pub);
	struct derp_client c;
	int64_t t0 = it_now_ms();
	IT_REQUIRE(!try_connect(d, priv, &c, 5000), "admitted while tailscaled did not answer");
	int64_t took = it_now_ms() - t0;
	IT_REQUIRE(took >= 450, "refused after %lld ms, before timeout_ms", (long long)took);
	require_counter(d, "failed", 1);
	md_stop(d);
	server_stop(&s);
	rmdir(dir);
}

/*
 * Connections to the controller are kept between checks, as Go's client
 * keeps them: five checks in a row, one connection. A server that closes
 * after each answer (the other tests') is met with a new connection.
 */
static void test_url_keeps_connections(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	s.keepalive = true;
	struct mgmt_daemon *d = start_with_url(&s, "cache_ms = 0\n");
	for (int i = 0; i < 5; i++) {
		uint8_t priv[KEY_LEN], pub[KEY_LEN];
		fresh_key(priv, pub);
		server_allow(&s, pub);
		struct derp_client c;
		IT_REQUIRE(try_connect(d, priv, &c, 5000), "check %d: an allowed key was refused",
			   i);
		derp_client_close(&c);
	}
	pthread_mutex_lock(&s.mu);
	int accepts = s.accepts, requests = s.requests;
	pthread_mutex_unlock(&s.mu);
	it_note("%d checks over %d connections", requests, accepts);
	IT_REQUIRE(requests == 5 && accepts == 1, "%d checks over %d connections, want 5 over 1",
		   requests, accepts);
	require_counter(d, "allowed", 5);
	md_stop(d);
	server_stop(&s);
}

/*
 * An https:// controller: checked against the system CAs, which
 * SSL_CERT_FILE replaces here with the test's self-signed certificate.
 * trusted false: the relay does not trust it, so the check cannot be made
 * (refused: fail_open is off).
 */
static void https_case(bool trusted)
{
	struct it_tls_files files = { 0 };
	it_tls_files_make(&files, "hd-admission-tls");
	struct adm_server s;
	server_start(&s, false, NULL);
	s.tls = SSL_CTX_new(TLS_server_method());
	IT_REQUIRE(s.tls && SSL_CTX_use_certificate_chain_file(s.tls, files.cert) == 1 &&
		       SSL_CTX_use_PrivateKey_file(s.tls, files.key, SSL_FILETYPE_PEM) == 1,
		   "server TLS context");
	char ini[256];
	snprintf(ini, sizeof(ini),
		 "[admission]\nverify_client_url = https://localhost:%u/verify\nfail_open = "
		 "false\ncache_ms = 0\n",
		 s.port);
	if (trusted)
		setenv("SSL_CERT_FILE", files.cert, 1);
	else
		setenv("SSL_CERT_FILE", "/nonexistent-ca-file.pem", 1);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	unsetenv("SSL_CERT_FILE");
	uint8_t priv_a[KEY_LEN], pub_a[KEY_LEN], priv_b[KEY_LEN], pub_b[KEY_LEN];
	fresh_key(priv_a, pub_a);
	fresh_key(priv_b, pub_b);
	server_allow(&s, pub_a);
	struct derp_client a, b;
	if (trusted) {
		IT_REQUIRE(try_connect(d, priv_a, &a, 5000),
			   "an allowed key was refused over HTTPS");
		IT_REQUIRE(!try_connect(d, priv_b, &b, 5000), "a refused key got in over HTTPS");
		require_counter(d, "allowed", 1);
		require_counter(d, "refused", 1);
		derp_client_close(&a);
	} else {
		IT_REQUIRE(!try_connect(d, priv_a, &a, 5000),
			   "admitted through a controller whose certificate is not trusted");
		require_counter(d, "failed", 1);
		IT_REQUIRE(it_daemon_log_contains(&d->it, "certificate"),
			   "the log does not say the certificate was the problem");
	}
	md_stop(d);
	server_stop(&s);
	SSL_CTX_free(s.tls);
	it_tls_files_remove(&files);
}

static void test_url_https(void)
{
	https_case(true);
}

static void test_url_https_untrusted_refused(void)
{
	https_case(false);
}

/* Mesh peers are not in the tailnet: derper lets them in without asking. */
static void test_mesh_peer_not_asked(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	s.mode = STATUS_500; /* refuses whoever is asked about */
	char dir[] = "/tmp/hd-admission-mesh-XXXXXX";
	IT_REQUIRE(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	char path[64], ini[512];
	snprintf(path, sizeof(path), "%s/mesh.key", dir);
	uint8_t mesh[KEY_LEN];
	char hex[KEY_HEX_LEN + 1];
	for (int i = 0; i < KEY_LEN; i++)
		mesh[i] = (uint8_t)(0xa0 + i);
	key_to_hex(mesh, hex);
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f && fprintf(f, "%s\n", hex) > 0 && fclose(f) == 0, "%s", path);
	chmod(path, 0600);
	snprintf(ini, sizeof(ini),
		 "[server]\nmesh_key_file = %s\n[admission]\nverify_client_url = "
		 "http://127.0.0.1:%u/verify\ncache_ms = 0\n",
		 path, s.port);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	fresh_key(priv, pub);
	struct derp_client m, c;
	struct derp_client_opts mo = { .mesh_key = mesh };
	char err[256];
	IT_REQUIRE(derp_client_connect(&m, "127.0.0.1", d->it.port, &mo, err, sizeof(err)) == 0,
		   "a mesh peer was refused: %s", err);
	IT_REQUIRE(!try_connect(d, priv, &c, 5000), "an ordinary client got in");
	IT_REQUIRE(server_requests(&s) == 1, "the controller was asked %d times, want 1",
		   server_requests(&s));
	require_counter(d, "failed", 1);
	require_counter(d, "allowed", 0);
	derp_client_close(&m);
	md_stop(d);
	server_stop(&s);
	unlink(path);
	rmdir(dir);
}

struct bg_connect {
	struct mgmt_daemon *d;
	const uint8_t *priv;
	struct derp_client c;
	bool in;
	int64_t took_ms;
};

static void *bg_connect_main(void *arg)
{
	struct bg_connect *b = arg;
	int64_t t0 = it_now_ms();
	b->in = try_connect(b->d, b->priv, &b->c, 15000);
	b->took_ms = it_now_ms() - t0;
	return NULL;
}

/*
 * A check that takes long (a slow controller) holds up only its own
 * client: others are checked and admitted meanwhile, and the slow one gets
 * in when its answer comes.
 */
static void test_slow_check_does_not_block_others(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	struct mgmt_daemon *d = start_with_url(&s, "cache_ms = 0\n");
	uint8_t priv_s[KEY_LEN], pub_s[KEY_LEN];
	fresh_key(priv_s, pub_s);
	server_allow(&s, pub_s);
	key_to_hex(pub_s, s.slow);

	struct bg_connect slow = { .d = d, .priv = priv_s };
	pthread_t t;
	pthread_create(&t, NULL, bg_connect_main, &slow);
	/* The slow client's check is under way before the others start. */
	int64_t t0 = it_now_ms();
	while (server_requests(&s) < 1) {
		IT_REQUIRE(it_now_ms() - t0 < 5000, "the slow check never reached the server");
		it_sleep_ms(5);
	}
	struct derp_client fast[3];
	for (int i = 0; i < 3; i++) {
		uint8_t priv[KEY_LEN], pub[KEY_LEN];
		fresh_key(priv, pub);
		server_allow(&s, pub);
		int64_t f0 = it_now_ms();
		IT_REQUIRE(try_connect(d, priv, &fast[i], 5000), "a fast client was refused");
		int64_t took = it_now_ms() - f0;
		it_note("fast client %d admitted in %lld ms", i, (long long)took);
		IT_REQUIRE(took < FAST_MAX_MS, "a fast client waited %lld ms behind the slow check",
			   (long long)took);
	}
	/* And a plain HTTP request is answered meanwhile too. */
	int fd = it_tcp_connect(&d->it);
	static const char get[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	it_fd_send(fd, get, strlen(get));
	char head[1024];
	it_fd_read_http_head(fd, head, sizeof(head), FAST_MAX_MS);
	it_fd_close(fd);
	pthread_join(t, NULL);
	it_note("slow client decided after %lld ms", (long long)slow.took_ms);
	IT_REQUIRE(slow.in, "the slow client was refused");
	IT_REQUIRE(slow.took_ms >= SLOW_MS - 100, "the slow client got in before its answer");
	require_counter(d, "allowed", 4);
	for (int i = 0; i < 3; i++)
		derp_client_close(&fast[i]);
	derp_client_close(&slow.c);
	md_stop(d);
	server_stop(&s);
}

/* Within cache_ms an answer is reused: the controller is asked once. */
static void test_answers_are_cached(void)
{
	struct adm_server s;
	server_start(&s, false, NULL);
	struct mgmt_daemon *d = start_with_url(&s, "cache_ms = 60000\n");
	uint8_t priv_a[KEY_LEN], pub_a[KEY_LEN], priv_b[KEY_LEN], pub_b[KEY_LEN];
	fresh_key(priv_a, pub_a);
	fresh_key(priv_b, pub_b);
	server_allow(&s, pub_a);
	struct derp_client c;
	for (int i = 0; i < 3; i++) {
		IT_REQUIRE(try_connect(d, priv_a, &c, 5000), "allowed key refused (round %d)", i);
		derp_client_close(&c);
		IT_REQUIRE(!try_connect(d, priv_b, &c, 5000), "refused key got in (round %d)", i);
	}
	IT_REQUIRE(server_requests(&s) == 2, "the controller was asked %d times, want 2",
		   server_requests(&s));
	IT_REQUIRE(admission_counter(d, "cache_hits") == 4, "cache hits %llu, want 4",
		   (unsigned long long)admission_counter(d, "cache_hits"));
	require_counter(d, "allowed", 3);
	require_counter(d, "refused", 3);
	md_stop(d);
	server_stop(&s);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_url_allows_and_refuses),
		IT_TEST(test_url_timeout_fail_open),
		IT_TEST(test_url_timeout_fail_closed),
		IT_TEST(test_url_unreachable_fail_open),
		IT_TEST(test_url_unreachable_fail_closed),
		IT_TEST(test_url_error_status_refuses),
		IT_TEST(test_tailscaled_whois),
		IT_TEST(test_tailscaled_timeout_refuses),
		IT_TEST(test_url_keeps_connections),
		IT_TEST(test_url_https),
		IT_TEST(test_mesh_peer_not_asked),
		IT_TEST(test_url_https_untrusted_refused),
		IT_TEST(test_slow_check_does_not_block_others),
		IT_TEST(test_answers_are_cached),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
