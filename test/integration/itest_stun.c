// SPDX-License-Identifier: MIT
/*
 * The STUN server (stun.listen) in the real daemon: Tailscale binding
 * requests over UDP get the sender's own address back, everything else
 * gets nothing and is counted, and DERP keeps relaying meanwhile.
 *
 * The daemon binds port 0 and `show status` says which port it got, so no
 * two tests race for a port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stun.h"
#include "test_mgmt_daemon.h"

/* How long a datagram that must not be answered is waited for. */
#define QUIET_MS 300

static char body[1 << 20];

static struct mgmt_daemon *start_with_stun(const char *listen)
{
	char ini[256];
	snprintf(ini, sizeof(ini), "[stun]\nlisten = %s\n", listen);
	struct md_opts opts = { .ini = ini };
	return md_start(&opts);
}

/* The address the daemon's STUN socket is bound to, from `show status`. */
static void stun_address(struct mgmt_daemon *d, int family, struct sockaddr_storage *ss,
			 socklen_t *len)
{
	struct json_doc doc;
	char text[80];

	md_cli_json(d, &doc, "show", "status", NULL);
	snprintf(text, sizeof(text), "%s", json_get_str(doc.root, "stun", ""));
	json_doc_free(&doc);
	char *colon = strrchr(text, ':');
	IT_REQUIRE(colon, "show status: stun = \"%s\"", text);

	/* The operator's view says the same. */
	static struct md_out o; /* 1 MiB: not on the stack */
	char line[128];
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "status", NULL) == 0, "show status: %s", o.err);
	snprintf(line, sizeof(line), "STUN         %s\n", text);
	IT_REQUIRE(strstr(o.out, line), "status lacks \"%s\": %s", line, o.out);
	uint16_t port = (uint16_t)atoi(colon + 1);
	IT_REQUIRE(port != 0, "stun port in \"%s\"", text);
	memset(ss, 0, sizeof(*ss));
	/* Loopback of the family asked for: a dual-stack [::] socket takes both. */
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = in6addr_loopback;
		*len = sizeof(*sin6);
	}
}

/* A UDP socket bound to loopback port 0, owned by the harness; its address in *self. */
static int client_socket(int family, struct sockaddr_storage *self)
{
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		len = sizeof(*sin6);
	}
	IT_REQUIRE(bind(fd, (struct sockaddr *)&ss, len) == 0, "bind: %s", strerror(errno));
	len = sizeof(*self);
	IT_REQUIRE(getsockname(fd, (struct sockaddr *)self, &len) == 0, "getsockname");
	return fd;
}

/* A request as a Tailscale client builds it: SOFTWARE "tailnode", then FINGERPRINT. */
static size_t build_request(const uint8_t txid[STUN_TXID_LEN], uint8_t out[40])
{
	static const uint8_t head[] = { 0x00, 0x01, 0x00, 0x14, 0x21, 0x12, 0xa4, 0x42 };
	static const uint8_t software[] = { 0x80, 0x22, 0x00, 0x08, 't', 'a',
					    'i',  'l',	'n',  'o',  'd', 'e' };
	memcpy(out, head, 8);
	memcpy(out + 8, txid, STUN_TXID_LEN);
	memcpy(out + 20, software, sizeof(software));
	uint32_t fp = stun_crc32(out, 32) ^ STUN_FINGERPRINT_XOR;
	const uint8_t fp_attr[] = { 0x80,
				    0x28,
				    0x00,
				    0x04,
				    (uint8_t)(fp >> 24),
				    (uint8_t)(fp >> 16),
				    (uint8_t)(fp >> 8),
				    (uint8_t)fp };
	memcpy(out + 32, fp_attr, 8);
	return 40;
}

static void send_to(int fd, const void *buf, size_t len, const struct sockaddr_storage *to,
		    socklen_t to_len)
{
	ssize_t n = sendto(fd, buf, len, 0, (const struct sockaddr *)to, to_len);
	IT_REQUIRE(n == (ssize_t)len, "sendto: %s", strerror(errno));
}

/* One datagram within timeout_ms; returns its length, or -1 on timeout. */
static ssize_t recv_within(int fd, uint8_t *buf, size_t cap, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return -1;
	ssize_t n = recv(fd, buf, cap, 0);
	IT_REQUIRE(n >= 0, "recv: %s", strerror(errno));
	return n;
}

static bool same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

static const char *show(const struct sockaddr_storage *ss, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		inet_ntop(AF_INET, &s->sin_addr, host, sizeof(host));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, host, sizeof(host));
		port = ntohs(s->sin6_port);
	}
	snprintf(buf, cap, "%s port %u", host, port);
	return buf;
}

/*
 * Sends n requests from fd and requires n answers, each carrying the
 * transaction ID of a request and, XOR-mapped, fd's own address and port.
 */
static void require_answers(int fd, const struct sockaddr_storage *self,
			    const struct sockaddr_storage *server, socklen_t server_len, int n)
{
	uint8_t req[40], resp[512], txids[64][STUN_TXID_LEN];
	IT_REQUIRE(n <= 64, "at most 64 requests");

	for (int i = 0; i < n; i++) {
		it_fill_pattern(txids[i], STUN_TXID_LEN, (uint64_t)(it_now_ms() * 131 + i));
		txids[i][0] = (uint8_t)i; /* distinct whatever the pattern */
		send_to(fd, req, build_request(txids[i], req), server, server_len);
	}
	bool seen[64] = { false };
	for (int got = 0; got < n; got++) {
		ssize_t len = recv_within(fd, resp, sizeof(resp), IT_FRAME_TIMEOUT_MS);
		IT_REQUIRE(len > 0, "answer %d of %d did not come", got + 1, n);
		uint8_t txid[STUN_TXID_LEN];
		struct sockaddr_storage mapped;
		IT_REQUIRE(stun_parse_binding_response(resp, (size_t)len, txid, &mapped) == 0,
			   "answer %d is not a Binding Success (%zd bytes)", got + 1, len);
		IT_REQUIRE(len == (self->ss_family == AF_INET ? 32 : 44), "answer length %zd", len);
		int i = txid[0];
		IT_REQUIRE(i < n && !seen[i] && memcmp(txid, txids[i], STUN_TXID_LEN) == 0,
			   "answer with a transaction ID never sent (or twice)");
		seen[i] = true;
		char a[80], b[80];
		IT_REQUIRE(same_address(&mapped, self), "XOR-MAPPED-ADDRESS %s, want %s",
			   show(&mapped, a, sizeof(a)), show(self, b, sizeof(b)));
	}
}

static void test_binding_ipv4(void)
{
	struct mgmt_daemon *d = start_with_stun("127.0.0.1:0");
	struct sockaddr_storage server, self, self2;
	socklen_t server_len;

	IT_REQUIRE(it_daemon_log_contains(&d->it, "STUN listening on UDP 127.0.0.1:"),
		   "no start line naming the address");
	stun_address(d, AF_INET, &server, &server_len);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	it_require_relaying(a, b);

	int fd = client_socket(AF_INET, &self);
	int fd2 = client_socket(AF_INET, &self2);
	require_answers(fd, &self, &server, server_len, 1);
	/* A burst: the server reads and answers in batches. */
	require_answers(fd, &self, &server, server_len, 40);
	require_answers(fd2, &self2, &server, server_len, 5);
	it_require_relaying(a, b);

	IT_REQUIRE(md_scrape(d, "hyperderp_stun_responses_total", "family=\"ipv4\"") == 46,
		   "responses_total{ipv4}");
	IT_REQUIRE(md_scrape(d, "hyperderp_stun_responses_total", "family=\"ipv6\"") == 0,
		   "responses_total{ipv6}");
	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	IT_REQUIRE(json_get_u64(json_get(doc.root, "stun"), "answered_ipv4", 0) == 46,
		   "show counters: stun.answered_ipv4");
	json_doc_free(&doc);
	close(fd);
	close(fd2);
	md_stop(d);
}

static void test_junk_is_dropped_and_counted(void)
{
	struct mgmt_daemon *d = start_with_stun("127.0.0.1:0");
	struct sockaddr_storage server, self;
	socklen_t server_len;
	uint8_t req[40], buf[512];
	static const uint8_t txid[STUN_TXID_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2 };

	stun_address(d, AF_INET, &server, &server_len);
	struct derp_client *a = it_connect(&d->it, NULL);
	struct derp_client *b = it_connect(&d->it, NULL);
	int fd = client_socket(AF_INET, &self);

	/* Not STUN at all. */
	send_to(fd, "hello, relay", 12, &server, server_len);
	/* A Binding Success, not a request. */
	build_request(txid, req);
	req[1] = 0x01;
	req[0] = 0x01;
	send_to(fd, req, 40, &server, server_len);
	/* Another client's software: "tailnodX", fingerprint made right again. */
	build_request(txid, req);
	req[31] = 'X';
	uint32_t fp = stun_crc32(req, 32) ^ STUN_FINGERPRINT_XOR;
	req[36] = (uint8_t)(fp >> 24);
	req[37] = (uint8_t)(fp >> 16);
	req[38] = (uint8_t)(fp >> 8);
	req[39] = (uint8_t)fp;
	send_to(fd, req, 40, &server, server_len);
	/* A fingerprint that does not match. */
	build_request(txid, req);
	req[39] ^= 1;
	send_to(fd, req, 40, &server, server_len);
	/* No fingerprint. */
	send_to(fd, req, 32, &server, server_len);
	/* Cut inside an attribute. */
	send_to(fd, req, 38, &server, server_len);
	/* Bigger than any request. */
	static uint8_t big[4000];
	memcpy(big, req, 40);
	send_to(fd, big, sizeof(big), &server, server_len);

	IT_REQUIRE(recv_within(fd, buf, sizeof(buf), QUIET_MS) < 0, "junk got an answer");
	/* DERP relaying went on, and a good request after the junk is answered. */
	it_require_relaying(a, b);
	require_answers(fd, &self, &server, server_len, 1);

	static const struct {
		const char *reason;
		int64_t n;
	} want[] = {
		{ "not_stun", 1 },	  { "not_binding", 1 },	   { "wrong_software", 1 },
		{ "bad_fingerprint", 1 }, { "no_fingerprint", 1 }, { "malformed", 2 },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char labels[64];
		snprintf(labels, sizeof(labels), "reason=\"%s\"", want[i].reason);
		int64_t got = md_scrape(d, "hyperderp_stun_dropped_total", labels);
		IT_REQUIRE(got == want[i].n, "stun_dropped_total{%s} = %lld, want %lld", labels,
			   (long long)got, (long long)want[i].n);
	}
	IT_REQUIRE(md_scrape(d, "hyperderp_stun_responses_total", "family=\"ipv4\"") == 1,
		   "one answer");
	close(fd);
	md_stop(d);
}

/* [::] is one socket for both families; IPv4 clients are told their IPv4 address. */
static void test_dual_stack(void)
{
	struct sockaddr_storage probe;
	int p6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 lo6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	bool has_v6 = p6 >= 0 && bind(p6, (struct sockaddr *)&lo6, sizeof(lo6)) == 0;
	if (p6 >= 0)
		close(p6);
	(void)probe;
	if (!has_v6) {
		it_note("no IPv6 loopback here: dual-stack test skipped");
		return;
	}

	struct mgmt_daemon *d = start_with_stun("[::]:0");
	struct sockaddr_storage server4, server6, self4, self6;
	socklen_t len4, len6;
	stun_address(d, AF_INET, &server4, &len4);
	stun_address(d, AF_INET6, &server6, &len6);
	int fd4 = client_socket(AF_INET, &self4);
	int fd6 = client_socket(AF_INET6, &self6);
	require_answers(fd4, &self4, &server4, len4, 3);
	require_answers(fd6, &self6, &server6, len6, 3);
	IT_REQUIRE(md_scrape(d, "hyperderp_stun_responses_total", "family=\"ipv4\"") == 3, "ipv4");
	IT_REQUIRE(md_scrape(d, "hyperderp_stun_responses_total", "family=\"ipv6\"") == 3, "ipv6");
	close(fd4);
	close(fd6);
	md_stop(d);
}

/* Off unless set: no socket, no STUN series in /metrics. */
static void test_off_by_default(void)
{
	struct mgmt_daemon *d = md_start(NULL);
	struct json_doc doc;

	md_cli_json(d, &doc, "show", "status", NULL);
	IT_REQUIRE(strcmp(json_get_str(doc.root, "stun", "?"), "") == 0, "stun is on");
	json_doc_free(&doc);
	IT_REQUIRE(md_http_get(d, "/metrics", body, sizeof(body)) == 200, "GET /metrics");
	IT_REQUIRE(!strstr(body, "hyperderp_stun_"), "STUN series without STUN");
	md_stop(d);
}

/* A port already taken stops the start, naming the address; a bad value is a config error. */
static void test_bind_failure(void)
{
	struct sockaddr_storage taken;
	int fd = client_socket(AF_INET, &taken);
	char listen[64], ini[128], log_text[16384];

	snprintf(listen, sizeof(listen), "127.0.0.1:%u",
		 ntohs(((struct sockaddr_in *)&taken)->sin_port));
	snprintf(ini, sizeof(ini), "[stun]\nlisten = %s\n", listen);
	struct md_opts opts = { .ini = ini };
	IT_REQUIRE(md_start_failing(&opts, log_text, sizeof(log_text)) == 1, "ran without STUN");
	IT_REQUIRE(strstr(log_text, "cannot bind UDP") && strstr(log_text, listen), "log: %s",
		   log_text);
	close(fd);

	struct md_opts bad = { .ini = "[stun]\nlisten = 127.0.0.1\n" };
	IT_REQUIRE(md_start_failing(&bad, log_text, sizeof(log_text)) == 2, "took a bad address");
	IT_REQUIRE(strstr(log_text, "stun.listen"), "log: %s", log_text);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_binding_ipv4), IT_TEST(test_junk_is_dropped_and_counted),
		IT_TEST(test_dual_stack),   IT_TEST(test_off_by_default),
		IT_TEST(test_bind_failure),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
