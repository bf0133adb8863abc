// SPDX-License-Identifier: MIT
/*
 * DERP over TLS against the real daemon: a self-signed certificate made at
 * test time, two TLS peers relaying verified packets, TLS 1.2, fast start
 * with the metacert, certificate verification, /generate_204 over TLS, and
 * plain HTTP on the TLS port failing cleanly without harming the relay.
 *
 * Standalone rather than on harness.c: the harness's readiness probe speaks
 * plain HTTP, which a TLS port rightly refuses. One daemon (socket
 * activated, as the harness does it) serves every test in turn, which also
 * shows that each test left it healthy; it must exit 0 on SIGTERM at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
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
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "derp_client.h"
#include "derp_frame.h"
#include "derp_tls.h"
#include "key.h"
#include "tls.h"
#include "tls_selfsigned.h"

#define READY_TIMEOUT_MS 10000
#define FRAME_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS	 10000
/* Well inside meson's 60 s for the whole program. */
#define WATCHDOG_S     50
#define RELAY_PACKETS  2000
#define RELAY_BURST    8 /* far below the relay's per-destination queue of 32 */
#define MAX_CLIENTS    16
#define LOG_TAIL_BYTES (32 * 1024)

static struct {
	pid_t pid;
	uint16_t port;
	char dir[256];
	char cert[300];
	char key[300];
	char log[300];
	uint8_t server_pub[KEY_LEN];
} relay;

static struct derp_client *clients[MAX_CLIENTS];
static size_t nclients;
static jmp_buf test_exit;
static int passed, failed;

/* ---- failing a test ---- */

__attribute__((format(printf, 4, 5), noreturn)) static void
fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
	va_list ap;

	printf("  FAIL %s:%d: %s: ", file, line, expr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	longjmp(test_exit, 1);
}

#define REQUIRE(cond, ...)                                            \
	do {                                                          \
		if (!(cond))                                          \
			fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the daemon ---- */

static void dump_log(void)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(relay.log, "r");

	if (!f)
		return;
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, size > LOG_TAIL_BYTES ? size - LOG_TAIL_BYTES : 0, SEEK_SET);
	printf("  ---- daemon log (tail) ----\n");
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	printf("  ---- end of daemon log ----\n");
	fclose(f);
}

static bool relay_alive(void)
{
	int status;

	return relay.pid > 0 && waitpid(relay.pid, &status, WNOHANG) == 0;
}

static void on_watchdog(int sig)
{
	static const char msg[] = "  FAIL watchdog: the tests ran too long\n";
	ssize_t rc;

	(void)sig;
	if (relay.pid > 0)
		kill(relay.pid, SIGKILL);
	rc = write(STDOUT_FILENO, msg, sizeof(msg) - 1);
	(void)rc;
	_exit(1);
}

static void write_server_key(const char *path)
{
	uint8_t priv[KEY_LEN];
	char hex[KEY_HEX_LEN + 1];
	int fd;

	key_generate(priv, relay.server_pub);
	key_to_hex(priv, hex);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	REQUIRE(fd >= 0, "open %s: %s", path, strerror(errno));
	REQUIRE(dprintf(fd, "{\"PrivateKey\": \"privkey:%s\"}\n", hex) > 0, "write %s", path);
	close(fd);
}

static int listen_loopback(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	REQUIRE(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && listen(fd, 128) == 0 &&
		    getsockname(fd, (struct sockaddr *)&sin, &len) == 0,
		"listen: %s", strerror(errno));
	relay.port = ntohs(sin.sin_port);
	return fd;
}

/* In the child: systemd-style socket activation, fd 3 is the listener. */
static void exec_relay(const char *bin, int lfd, char *const argv[])
{
	int logfd = open(relay.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	char pid[24];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (logfd < 0 || dup2(logfd, STDOUT_FILENO) < 0 || dup2(logfd, STDERR_FILENO) < 0)
		_exit(126);
	if (lfd == 3)
		fcntl(3, F_SETFD, 0);
	else if (dup2(lfd, 3) < 0)
		_exit(126);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", pid, 1);
	execv(bin, argv);
	_exit(127);
}

static struct derp_client_opts tls_opts(void)
{
	return (struct derp_client_opts){ .tls = true, .timeout_ms = FRAME_TIMEOUT_MS };
}

static void relay_start(void)
{
	const char *bin = getenv("HYPER_DERP_BIN");
	const char *tmp = getenv("TMPDIR");
	char key_file[300], err[256];
	int64_t deadline;
	int lfd;

	REQUIRE(bin && *bin, "HYPER_DERP_BIN must name the hyper-derp executable");
	snprintf(relay.dir, sizeof(relay.dir), "%s/hd-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	REQUIRE(mkdtemp(relay.dir), "mkdtemp: %s", strerror(errno));
	snprintf(relay.cert, sizeof(relay.cert), "%s/tls.crt", relay.dir);
	snprintf(relay.key, sizeof(relay.key), "%s/tls.key", relay.dir);
	snprintf(relay.log, sizeof(relay.log), "%s/daemon.log", relay.dir);
	snprintf(key_file, sizeof(key_file), "%s/server.key", relay.dir);
	REQUIRE(tls_selfsigned_write_pem(relay.cert, relay.key, err, sizeof(err)) == 0, "%s", err);
	write_server_key(key_file);

	char *argv[] = { (char *)bin, "--key-file",  key_file,	"--tls-cert",
			 relay.cert,  "--tls-key",   relay.key, "--mgmt-socket",
			 "",	      "--workers",   "2",	"--pin-cores",
			 "none",      "--log-level", "debug",	NULL };
	lfd = listen_loopback();
	fflush(NULL);
	relay.pid = fork();
	REQUIRE(relay.pid >= 0, "fork: %s", strerror(errno));
	if (relay.pid == 0)
		exec_relay(bin, lfd, argv);
	close(lfd);

	/* Ready once a TLS handshake and a DERP handshake complete. */
	deadline = now_ms() + READY_TIMEOUT_MS;
	for (;;) {
		struct derp_client probe;
		struct derp_client_opts o = tls_opts();

		REQUIRE(relay_alive(), "the daemon exited during start-up");
		if (derp_client_connect(&probe, "127.0.0.1", relay.port, &o, err, sizeof(err)) ==
		    0) {
			derp_client_close(&probe);
			return;
		}
		REQUIRE(now_ms() < deadline, "daemon not ready: %s", err);
		sleep_ms(20);
	}
}

static bool relay_stop(void)
{
	int64_t deadline = now_ms() + STOP_TIMEOUT_MS;
	int status;

	kill(relay.pid, SIGTERM);
	while (waitpid(relay.pid, &status, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(relay.pid, SIGKILL);
			waitpid(relay.pid, &status, 0);
			printf("  daemon did not exit within %d ms of SIGTERM\n", STOP_TIMEOUT_MS);
			return false;
		}
		sleep_ms(10);
	}
	relay.pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("  daemon ended with wait status 0x%x after SIGTERM\n", status);
		return false;
	}
	return true;
}

static void relay_cleanup_files(void)
{
	const char *names[] = { "tls.crt",    "tls.key",   "server.key",
				"daemon.log", "other.crt", "other.key" };
	char path[400];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", relay.dir, names[i]);
		unlink(path);
	}
	rmdir(relay.dir);
}

/* ---- clients ---- */

static struct derp_client *connect_with(const struct derp_client_opts *o)
{
	struct derp_client *c;
	char err[256];

	REQUIRE(nclients < MAX_CLIENTS, "too many clients");
	c = calloc(1, sizeof(*c));
	REQUIRE(c, "out of memory");
	c->fd = -1;
	clients[nclients++] = c;
	REQUIRE(derp_client_connect(c, "127.0.0.1", relay.port, o, err, sizeof(err)) == 0,
		"connect: %s", err);
	return c;
}

static struct derp_client *connect_tls(void)
{
	struct derp_client_opts o = tls_opts();

	return connect_with(&o);
}

static void close_clients(void)
{
	for (size_t i = 0; i < nclients; i++) {
		derp_client_close(clients[i]);
		free(clients[i]);
	}
	nclients = 0;
}

/* Next frame other than KeepAlive. */
static const uint8_t *expect_frame(struct derp_client *c, uint8_t want, uint32_t *len)
{
	const uint8_t *payload;
	uint8_t type;
	int rc;

	do {
		rc = derp_client_read_frame(c, FRAME_TIMEOUT_MS, &type, &payload, len);
		REQUIRE(rc == 1, "waiting for %s: %s", derp_frame_type_name(want),
			rc == 0 ? "timed out"
			: errno ? strerror(errno)
				: "closed by the relay");
	} while (type == DERP_FRAME_KEEP_ALIVE);
	REQUIRE(type == want, "got %s, want %s", derp_frame_type_name(type),
		derp_frame_type_name(want));
	return payload;
}

/* Packet i of a stream: its length and bytes follow from (seed, i) alone. */
static size_t packet_make(uint8_t *buf, uint32_t seed, uint32_t i)
{
	size_t len = 1 + (size_t)(((uint64_t)i * 2654435761u + seed) % DERP_MAX_PACKET_SIZE);
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = { 0 };
	uint8_t k[crypto_stream_chacha20_KEYBYTES] = { 0 };

	memcpy(nonce, &i, sizeof(i));
	memcpy(k, &seed, sizeof(seed));
	crypto_stream_chacha20(buf, len, nonce, k);
	return len;
}

static void send_stream(struct derp_client *from, struct derp_client *to, uint32_t seed,
			uint32_t first, uint32_t n)
{
	static uint8_t pkt[DERP_MAX_PACKET_SIZE];

	for (uint32_t i = first; i < first + n; i++) {
		size_t len = packet_make(pkt, seed, i);

		REQUIRE(derp_client_send_packet(from, to->pub, pkt, len) == 0, "SendPacket: %s",
			strerror(errno));
	}
}

static void expect_stream(struct derp_client *at, struct derp_client *from, uint32_t seed,
			  uint32_t first, uint32_t n)
{
	static uint8_t want[DERP_MAX_PACKET_SIZE];

	for (uint32_t i = first; i < first + n; i++) {
		size_t len = packet_make(want, seed, i);
		uint32_t got;
		const uint8_t *p = expect_frame(at, DERP_FRAME_RECV_PACKET, &got);

		REQUIRE(got == KEY_LEN + len, "packet %u: %u bytes, want %zu", i, got - KEY_LEN,
			len);
		REQUIRE(memcmp(p, from->pub, KEY_LEN) == 0, "packet %u from the wrong key", i);
		REQUIRE(memcmp(p + KEY_LEN, want, len) == 0, "packet %u: content differs", i);
	}
}

/* Both ways at once, in bursts, every packet checked. */
static void exchange(struct derp_client *a, struct derp_client *b, uint32_t total)
{
	for (uint32_t i = 0; i < total / 2; i += RELAY_BURST) {
		uint32_t n = total / 2 - i < RELAY_BURST ? total / 2 - i : RELAY_BURST;

		send_stream(a, b, 1, i, n);
		send_stream(b, a, 2, i, n);
		expect_stream(b, a, 1, i, n);
		expect_stream(a, b, 2, i, n);
	}
}

static const char *tls_version(struct derp_client *c)
{
	return c->ssl ? SSL_get_version(c->ssl) : "none";
}

/* ---- raw TLS for HTTP requests ---- */

/* A blocking TLS connection with 5 s socket timeouts. Returns the SSL; *fd is its socket. */
static SSL *raw_tls_connect(int *fd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(relay.port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = FRAME_TIMEOUT_MS / 1000 };
	char err[256];
	SSL_CTX *ctx;
	SSL *ssl;

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(*fd >= 0 && connect(*fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
		strerror(errno));
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ctx = derp_tls_client_ctx(false, NULL, err, sizeof(err));
	REQUIRE(ctx, "%s", err);
	ssl = derp_tls_client_session(ctx, *fd, "localhost", NULL, err, sizeof(err));
	REQUIRE(ssl, "%s", err);
	REQUIRE(SSL_connect(ssl) == 1, "TLS handshake with the relay failed");
	return ssl;
}

/* Sends a request and reads the response until the relay closes (or 64 KiB). */
static size_t https_exchange(const char *request, char *resp, size_t cap)
{
	size_t have = 0, got;
	int fd;
	SSL *ssl = raw_tls_connect(&fd);

	REQUIRE(SSL_write(ssl, request, (int)strlen(request)) == (int)strlen(request),
		"TLS write failed");
	while (have + 1 < cap && SSL_read_ex(ssl, resp + have, cap - 1 - have, &got) == 1)
		have += got;
	resp[have] = '\0';
	SSL_free(ssl);
	close(fd);
	return have;
}

/* ---- tests ---- */

static void test_two_peers_relay_2000_packets(void)
{
	struct derp_client *a = connect_tls(), *b = connect_tls();

	REQUIRE(strcmp(tls_version(a), "TLSv1.3") == 0, "negotiated %s, want TLSv1.3",
		tls_version(a));
	REQUIRE(a->has_metacert_key, "no DERP metacert at the end of the chain");
	REQUIRE(memcmp(a->metacert_key, relay.server_pub, KEY_LEN) == 0,
		"the metacert names another key than the server's");
	exchange(a, b, RELAY_PACKETS);
}

static void test_tls12_client_relays_to_tls13_client(void)
{
	struct derp_client_opts o = tls_opts();
	struct derp_client *old, *cur;

	o.tls12 = true;
	old = connect_with(&o);
	cur = connect_tls();
	REQUIRE(strcmp(tls_version(old), "TLSv1.2") == 0, "negotiated %s, want TLSv1.2",
		tls_version(old));
	/* As in Go's client, the metacert only counts on TLS 1.3. */
	REQUIRE(!old->has_metacert_key, "metacert key taken from a TLS 1.2 chain");
	exchange(old, cur, 200);
}

static void test_fast_start_over_tls(void)
{
	struct derp_client_opts o = tls_opts();
	struct derp_client *fast, *slow;

	o.fast_start = true;
	fast = connect_with(&o);
	slow = connect_tls();
	REQUIRE(fast->has_metacert_key, "fast start connected without a metacert key");
	REQUIRE(memcmp(fast->server_pub, relay.server_pub, KEY_LEN) == 0,
		"ServerKey is not the relay's key");
	exchange(fast, slow, 200);
}

static void test_certificate_verification(void)
{
	struct derp_client_opts o = tls_opts();
	char other_cert[400], other_key[400], err[256];
	struct derp_client c;

	/* The certificate is its own CA; the name checked is the SNI name. */
	o.tls_ca_file = relay.cert;
	o.tls_server_name = "localhost";
	exchange(connect_with(&o), connect_tls(), 20);

	/* Without a name the address is checked: the certificate has IP:127.0.0.1. */
	o.tls_server_name = NULL;
	connect_with(&o);

	/* Another self-signed certificate is not the relay's CA. */
	snprintf(other_cert, sizeof(other_cert), "%s/other.crt", relay.dir);
	snprintf(other_key, sizeof(other_key), "%s/other.key", relay.dir);
	REQUIRE(tls_selfsigned_write_pem(other_cert, other_key, err, sizeof(err)) == 0, "%s", err);
	o.tls_ca_file = other_cert;
	o.tls_server_name = "localhost";
	REQUIRE(derp_client_connect(&c, "127.0.0.1", relay.port, &o, err, sizeof(err)) < 0,
		"connected although the certificate does not verify");
	REQUIRE(strstr(err, "certificate"), "unexpected error: %s", err);
	printf("  # wrong CA: %s\n", err);
}

static void test_plain_http_client_fails_cleanly(void)
{
	struct derp_client_opts plain = { .timeout_ms = FRAME_TIMEOUT_MS };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_port = htons(relay.port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = FRAME_TIMEOUT_MS / 1000 };
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: localhost\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
	struct derp_client c;
	char err[256], buf[4096];
	int64_t t0 = now_ms();
	ssize_t n;
	size_t total = 0;
	int fd;

	/* The DERP client without TLS: an error, well before its own deadline. */
	REQUIRE(derp_client_connect(&c, "127.0.0.1", relay.port, &plain, err, sizeof(err)) < 0,
		"a plain-HTTP DERP handshake succeeded on the TLS port");
	printf("  # plain DERP client: %s (after %lld ms)\n", err, (long long)(now_ms() - t0));
	REQUIRE(now_ms() - t0 < FRAME_TIMEOUT_MS, "the plain client hung for %lld ms",
		(long long)(now_ms() - t0));

	/* Raw plain HTTP: the relay must close, never answer in cleartext 101. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0, "connect: %s",
		strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	REQUIRE(send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)(sizeof(req) - 1),
		"send: %s", strerror(errno));
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		total += (size_t)n;
	close(fd);
	REQUIRE(n == 0 || errno == ECONNRESET, "the relay did not close: %s",
		n < 0 ? strerror(errno) : "?");
	REQUIRE(total == 0 || (uint8_t)buf[0] == 0x15,
		"the relay answered plain HTTP with %zu bytes that are not a TLS alert", total);

	/* And nothing else suffered. */
	REQUIRE(relay_alive(), "the relay died");
	exchange(connect_tls(), connect_tls(), 100);
}

static void test_generate_204_over_tls(void)
{
	char resp[4096];

	https_exchange("GET /generate_204 HTTP/1.1\r\nHost: localhost\r\n"
		       "X-Tailscale-Challenge: ts_abc-123.xyz:9\r\nConnection: close\r\n\r\n",
		       resp, sizeof(resp));
	REQUIRE(strncmp(resp, "HTTP/1.1 204 No Content\r\n", 25) == 0, "answered: %.60s", resp);
	REQUIRE(strstr(resp, "\r\nX-Tailscale-Response: response ts_abc-123.xyz:9\r\n"),
		"no challenge response in:\n%s", resp);
}

/*
 * tls.ktls is auto by default: the log says at start whether this kernel has
 * kTLS, and for each connection which TLS it got. Without kTLS (CONFIG_TLS
 * off) every connection must have stayed in userspace; with it, the
 * AES-GCM and ChaCha20-Poly1305 sessions of the tests above went to the kernel.
 */
static void test_log_names_the_tls_in_use(void)
{
	static char text[1 << 20];
	FILE *f = fopen(relay.log, "r");
	REQUIRE(f, "cannot read %s", relay.log);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (tls_kernel_has_ktls()) {
		REQUIRE(strstr(text, "TLS: kTLS available"), "no kTLS start-up line");
		REQUIRE(strstr(text, ": kTLS (TLS 1.3 "),
			"no connection went to kTLS with TLS 1.3");
		REQUIRE(strstr(text, ": kTLS (TLS 1.2 "),
			"no connection went to kTLS with TLS 1.2");
	} else {
		REQUIRE(strstr(text, "TLS: no kTLS in this kernel"), "no start-up line saying so");
		REQUIRE(strstr(text, ": userspace (no kTLS in this kernel)"),
			"no connection logged as userspace TLS");
		REQUIRE(!strstr(text, ": kTLS ("),
			"a connection claims kTLS without kernel support");
	}
}

/* ---- runner ---- */

struct tls_test {
	const char *name;
	void (*fn)(void);
};

#define TEST(fn)        \
	{               \
#fn, fn \
	}

static const struct tls_test tests[] = {
	TEST(test_two_peers_relay_2000_packets),
	TEST(test_tls12_client_relays_to_tls13_client),
	TEST(test_fast_start_over_tls),
	TEST(test_certificate_verification),
	TEST(test_plain_http_client_fails_cleanly),
	TEST(test_generate_204_over_tls),
	TEST(test_log_names_the_tls_in_use),
};

static void run_test(size_t number, const struct tls_test *t)
{
	int64_t t0 = now_ms();

	if (setjmp(test_exit) == 0) {
		t->fn();
		REQUIRE(relay_alive(), "the relay died during the test");
		passed++;
		printf("ok %zu %s (%lld ms)\n", number, t->name, (long long)(now_ms() - t0));
	} else {
		failed++;
		printf("not ok %zu %s\n", number, t->name);
	}
	close_clients();
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_watchdog };
	size_t ntests = sizeof(tests) / sizeof(tests[0]);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGALRM, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	alarm(WATCHDOG_S);
	if (sodium_init() < 0) {
		printf("libsodium failed to initialise\n0 passed, 1 failed\n");
		return 1;
	}
	if (setjmp(test_exit) != 0) {
		printf("not ok: the TLS relay did not start\n");
		dump_log();
		if (relay.pid > 0)
			kill(relay.pid, SIGKILL);
		printf("0 passed, %zu failed\n", ntests);
		return 1;
	}
	relay_start();
	printf("# relay pid %d on 127.0.0.1 port %u (TLS, self-signed)\n", (int)relay.pid,
	       relay.port);

	for (size_t i = 0; i < ntests; i++)
		run_test(i + 1, &tests[i]);
	if (relay_alive()) {
		if (relay_stop()) {
			passed++;
			printf("ok %zu relay exits 0 on SIGTERM\n", ntests + 1);
		} else {
			failed++;
			printf("not ok %zu relay exits 0 on SIGTERM\n", ntests + 1);
		}
	} else {
		failed++;
		printf("not ok %zu the relay is gone\n", ntests + 1);
	}
	if (failed)
		dump_log();
	else
		relay_cleanup_files();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
