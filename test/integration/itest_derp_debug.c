// SPDX-License-Identifier: MIT
/*
 * What derper serves on its DERP port besides DERP, through the real
 * daemon: /bootstrap-dns (bootstrap_dns.names, resolved by the daemon's
 * own thread) and /debug/ with /debug/vars in derper's expvar names,
 * counting real traffic, and refused outside debug.allow.
 *
 * The names resolved are "localhost", from /etc/hosts, and the literal
 * "127.0.0.9", which getaddrinfo (like Go's resolver) answers itself, so no
 * network is needed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json_parse.h"
#include "test_mgmt_daemon.h"

/* One request on a fresh connection from 127.0.0.1; the whole response (the server closes). */
static size_t exchange(struct it_daemon *d, const char *request, char *resp, size_t cap)
{
	int fd = it_tcp_connect(d);
	it_fd_send(fd, request, strlen(request));
	size_t n = it_fd_read_until_closed(fd, resp, cap - 1, IT_FRAME_TIMEOUT_MS);
	resp[n] = '\0';
	it_fd_close(fd);
	return n;
}

/* The same from src (an address of 127/8): connected by hand, as the harness binds none. */
static size_t exchange_from(struct it_daemon *d, const char *src, const char *request, char *resp,
			    size_t cap)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_REQUIRE(fd >= 0, "socket: %s", strerror(errno));
	struct sockaddr_in local = { .sin_family = AF_INET };
	inet_pton(AF_INET, src, &local.sin_addr);
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(d->port) };
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	int rc = bind(fd, (struct sockaddr *)&local, sizeof(local));
	if (rc == 0)
		rc = connect(fd, (struct sockaddr *)&to, sizeof(to));
	int err = errno;
	if (rc != 0)
		close(fd);
	IT_REQUIRE(rc == 0, "connect from %s: %s", src, strerror(err));
	size_t len = strlen(request);
	IT_REQUIRE(write(fd, request, len) == (ssize_t)len, "write");
	size_t n = 0;
	ssize_t got;
	/* The daemon answers and closes; SO_RCVTIMEO bounds a daemon that does not. */
	struct timeval tv = { .tv_sec = IT_FRAME_TIMEOUT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (n + 1 < cap && (got = read(fd, resp + n, cap - 1 - n)) > 0)
		n += (size_t)got;
	resp[n] = '\0';
	close(fd);
	return n;
}

static const char *body_of(const char *resp)
{
	const char *b = strstr(resp, "\r\n\r\n");
	IT_REQUIRE(b, "no end of head in: %.80s", resp);
	return b + 4;
}

static void get_vars(struct it_daemon *d, struct json_doc *doc)
{
	static char resp[65536];
	char err[128];
	exchange(d, "GET /debug/vars HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "/debug/vars: %.60s", resp);
	const char *body = body_of(resp);
	IT_REQUIRE(json_parse(body, strlen(body), doc, err, sizeof(err)) == 0, "vars: %s: %s", err,
		   body);
}

static void test_bootstrap_dns_answers_like_derper(void)
{
	struct md_opts o = {
		.ini = "[bootstrap_dns]\nnames = localhost, 127.0.0.9\nunpublished = 127.0.0.6\n"
		       "refresh_s = 10\n",
	};
	struct mgmt_daemon *md = md_start(&o);
	struct it_daemon *d = &md->it;
	char resp[8192];

	/* The first round runs on the resolver's thread: wait for it, bounded. */
	const char *body = "";
	for (int64_t end = it_now_ms() + 10000; it_now_ms() < end; it_sleep_ms(20)) {
		exchange(d, "GET /bootstrap-dns HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
		IT_REQUIRE(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "answered: %.60s", resp);
		body = body_of(resp);
		if (body[0])
			break;
	}
	it_note("/bootstrap-dns: %s", body);
	IT_REQUIRE(strstr(resp, "\r\nContent-Type: application/json\r\n"), "type: %s", resp);
	/* Go's MarshalIndent of the map: tab indents, names sorted, each an array of strings. */
	IT_REQUIRE(strncmp(body, "{\n\t\"127.0.0.9\": [\n\t\t\"127.0.0.9\"\n\t],\n", 33) == 0,
		   "first name: %s", body);
	IT_REQUIRE(strstr(body, "\t],\n\t\"localhost\": [\n\t\t\""), "second name: %s", body);
	IT_REQUIRE(strstr(body, "\"127.0.0.1\""), "localhost's address: %s", body);
	IT_REQUIRE(strcmp(body + strlen(body) - 4, "\t]\n}") == 0, "end: %s", body);

	/* ?q= changes no answer (no unpublished names), only derper's hit and miss counters. */
	char body_all[8192];
	snprintf(body_all, sizeof(body_all), "%s", body);
	exchange(d, "GET /bootstrap-dns?q=localhost HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		 sizeof(resp));
	IT_REQUIRE(strcmp(body_of(resp), body_all) == 0, "?q= answer: %s", resp);
	exchange(d, "GET /bootstrap-dns?x=1&q=example%2ecom HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		 sizeof(resp));
	IT_REQUIRE(strcmp(body_of(resp), body_all) == 0, "?q= answer: %s", resp);

	/* An unpublished name: to ?q= for it alone, and never in the list. */
	IT_REQUIRE(!strstr(body_all, "127.0.0.6"), "unpublished name listed: %s", body_all);
	exchange(d, "GET /bootstrap-dns?q=127.0.0.6 HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		 sizeof(resp));
	IT_REQUIRE(strcmp(body_of(resp), "{\n\t\"127.0.0.6\": [\n\t\t\"127.0.0.6\"\n\t]\n}") == 0,
		   "unpublished answer: %s", resp);

	struct json_doc doc;
	get_vars(d, &doc);
	IT_REQUIRE(json_get_u64(doc.root, "counter_bootstrap_dns_unpublished_hits", 9) == 1,
		   "unpublished hits");
	IT_REQUIRE(json_get_u64(doc.root, "counter_bootstrap_dns_requests", 0) >= 4, "requests");
	IT_REQUIRE(json_get_u64(doc.root, "counter_bootstrap_dns_published_hits", 9) == 1, "hits");
	IT_REQUIRE(json_get_u64(doc.root, "counter_bootstrap_dns_unpublished_misses", 9) == 1,
		   "misses");
	json_doc_free(&doc);
	IT_REQUIRE(md_scrape(md, "hyperderp_bootstrap_dns_queries_total", "result=\"hit\"") == 1,
		   "hit in /metrics");
	md_stop(md);
}

static void test_bootstrap_dns_empty_without_names(void)
{
	struct md_opts o = { 0 };
	struct mgmt_daemon *md = md_start(&o);
	char resp[4096];
	exchange(&md->it, "GET /bootstrap-dns HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	/* derper writes nothing when it has no names: 200, empty body. */
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "answered: %.60s", resp);
	IT_REQUIRE(strstr(resp, "\r\nContent-Length: 0\r\n") && body_of(resp)[0] == '\0',
		   "empty body: %s", resp);
	md_stop(md);
}

static uint64_t derp_var(const struct json_doc *doc, const char *name)
{
	const struct json_value *derp = json_get(doc->root, "derp");
	IT_REQUIRE(derp, "no derp map");
	IT_REQUIRE(json_get(derp, name), "derp.%s missing", name);
	return json_get_u64(derp, name, 0);
}

static void test_debug_vars_count_real_traffic(void)
{
	struct md_opts o = { 0 };
	struct mgmt_daemon *md = md_start(&o);
	struct it_daemon *d = &md->it;
	struct json_doc doc;

	get_vars(d, &doc);
	uint64_t accepts0 = derp_var(&doc, "accepts");
	json_doc_free(&doc);

	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	enum { N = 20, SIZE = 200 };
	uint8_t pkt[SIZE];
	for (int i = 0; i < N; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		it_send_packet(a, b->pub, pkt, sizeof(pkt));
		it_expect_packet(b, a->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
	}
	uint8_t nobody[KEY_LEN] = { 9 };
	for (int i = 0; i < 3; i++)
		it_send_packet(a, nobody, pkt, 40);
	it_expect_ping_pong(a); /* counted once a later frame is answered */

	get_vars(d, &doc);
	IT_REQUIRE(derp_var(&doc, "accepts") == accepts0 + 2, "accepts");
	IT_REQUIRE(derp_var(&doc, "gauge_current_connections") == 2, "connections");
	IT_REQUIRE(derp_var(&doc, "packets_received") == N + 3, "packets_received");
	IT_REQUIRE(derp_var(&doc, "packets_sent") == N, "packets_sent");
	IT_REQUIRE(derp_var(&doc, "bytes_received") == N * SIZE + 3 * 40, "bytes_received");
	IT_REQUIRE(derp_var(&doc, "bytes_sent") == N * SIZE, "bytes_sent");
	IT_REQUIRE(derp_var(&doc, "packets_dropped") == 3, "packets_dropped");
	IT_REQUIRE(derp_var(&doc, "got_ping") == 1, "got_ping");
	IT_REQUIRE(derp_var(&doc, "sent_pong") == 1, "sent_pong");
	/* The daemon's descriptors as /proc lists them; the scrape's own connection comes and goes.
	 */
	int64_t fds = md_open_fds(md->it.pid);
	int64_t gauge = (int64_t)derp_var(&doc, "gauge_current_file_descriptors");
	IT_REQUIRE(gauge >= fds - 2 && gauge <= fds + 2, "fds: %lld, /proc says %lld",
		   (long long)gauge, (long long)fds);
	const struct json_value *derp = json_get(doc.root, "derp");
	const struct json_value *reasons = json_get(derp, "counter_packets_dropped_reason");
	IT_REQUIRE(json_get_u64(reasons, "unknown_dest", 0) == 3, "unknown_dest drops");
	IT_REQUIRE(json_get(reasons, "queue_head") && json_get(reasons, "write_error") &&
		       json_get(reasons, "gone_disconnected") && json_get(reasons, "dup_client"),
		   "derper's drop reasons");
	const struct json_value *types = json_get(derp, "counter_packets_dropped_type");
	IT_REQUIRE(json_get_u64(types, "other", 0) == 3, "drops by type");
	json_doc_free(&doc);

	it_client_close(b);
	for (int64_t end = it_now_ms() + 5000; it_now_ms() < end; it_sleep_ms(10)) {
		get_vars(d, &doc);
		uint64_t n = derp_var(&doc, "gauge_current_connections");
		json_doc_free(&doc);
		if (n == 1)
			break;
	}
	get_vars(d, &doc);
	IT_REQUIRE(derp_var(&doc, "gauge_current_connections") == 1, "a closed client left");
	json_doc_free(&doc);
	md_stop(md);
}

static void test_debug_refused_outside_allow(void)
{
	struct md_opts o = { .ini = "[debug]\nallow = 127.0.0.1/32\n" };
	struct mgmt_daemon *md = md_start(&o);
	struct it_daemon *d = &md->it;
	char resp[8192];

	exchange_from(d, "127.0.0.2", "GET /debug/vars HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		      sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24) == 0, "127.0.0.2: %.60s", resp);
	IT_REQUIRE(strcmp(body_of(resp), "debug access denied\n") == 0, "body: %s", resp);
	exchange_from(d, "127.0.0.2", "GET /debug/ HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		      sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 403 ", 13) == 0, "index from 127.0.0.2: %.60s", resp);

	exchange_from(d, "127.0.0.1", "GET /debug/ HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		      sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0, "127.0.0.1: %.60s", resp);
	IT_REQUIRE(strstr(resp, "href=\"/debug/vars\""), "index lists vars: %s", resp);
	/* Through a proxy, anyone would look local: refused, as derper does. */
	exchange_from(d, "127.0.0.1",
		      "GET /debug/vars HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n",
		      resp, sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 403 ", 13) == 0, "proxied: %.60s", resp);
	exchange_from(d, "127.0.0.1", "GET /debug/nope HTTP/1.1\r\nHost: x\r\n\r\n", resp,
		      sizeof(resp));
	IT_REQUIRE(strncmp(resp, "HTTP/1.1 404 ", 13) == 0, "unknown page: %.60s", resp);

	IT_REQUIRE(md_scrape(md, "hyperderp_debug_requests_total", "result=\"denied\"") == 3,
		   "denied counted");
	IT_REQUIRE(md_scrape(md, "hyperderp_debug_requests_total", "result=\"allowed\"") == 2,
		   "allowed counted");
	md_stop(md);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_bootstrap_dns_answers_like_derper),
		IT_TEST(test_bootstrap_dns_empty_without_names),
		IT_TEST(test_debug_vars_count_real_traffic),
		IT_TEST(test_debug_refused_outside_allow),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
