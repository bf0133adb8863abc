// SPDX-License-Identifier: MIT
/*
 * The HTTP side, over raw sockets: the endpoints derper serves, the exact
 * 101 response, fast start, and DERP frames pipelined behind the request.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "derp_handshake.h"
#include "harness.h"

#define BIG_PIPELINED 60000

/* Sends one request and returns the whole response (the server closes after it). */
static size_t http_exchange(struct it_daemon *d, const char *request, char *resp, size_t cap)
{
	int fd = it_tcp_connect(d);
	it_fd_send(fd, request, strlen(request));
	size_t n = it_fd_read_until_closed(fd, resp, cap - 1, IT_FRAME_TIMEOUT_MS);
	resp[n] = '\0';
	it_fd_close(fd);
	return n;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether the head (up to the blank line) has this exact header line. */
static bool has_header_line(const char *resp, const char *line)
{
	char want[300];
	snprintf(want, sizeof(want), "\r\n%s\r\n", line);
	const char *end = strstr(resp, "\r\n\r\n");
	const char *hit = strstr(resp, want);
	return hit && end && hit <= end;
}

static void test_probe_endpoints_answer_200(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d, "GET /derp/probe HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 200 OK\r\n"), "probe answered: %.40s", resp);
	http_exchange(d, "GET /derp/latency-check HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 200 OK\r\n"), "latency-check answered: %.40s", resp);
	http_exchange(d, "HEAD /derp/probe HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 200 OK\r\n"), "HEAD probe answered: %.40s", resp);
}

static void test_generate_204_answers_the_challenge(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d,
		      "GET /generate_204 HTTP/1.1\r\nHost: x\r\n"
		      "X-Tailscale-Challenge: ts_abc-123.xyz:9\r\n\r\n",
		      resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 204 No Content\r\n"), "answered: %.40s", resp);
	IT_REQUIRE(has_header_line(resp, "X-Tailscale-Response: response ts_abc-123.xyz:9"),
		   "no challenge response in:\n%s", resp);

	/* No challenge, no response header. */
	http_exchange(d, "GET /generate_204 HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 204 No Content\r\n"), "answered: %.40s", resp);
	IT_REQUIRE(!strstr(resp, "X-Tailscale-Response"), "unexpected challenge response");

	/* A challenge with characters outside [A-Za-z0-9._:-] is never echoed. */
	http_exchange(d,
		      "GET /generate_204 HTTP/1.1\r\nHost: x\r\n"
		      "X-Tailscale-Challenge: <script>\r\n\r\n",
		      resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 204 No Content\r\n"), "answered: %.40s", resp);
	IT_REQUIRE(!strstr(resp, "X-Tailscale-Response"), "invalid challenge was echoed");
}

static void test_derp_without_upgrade_is_426(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d, "GET /derp HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 426 Upgrade Required\r\n"), "answered: %.60s", resp);
	http_exchange(
	    d, "GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n", resp,
	    sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 426 Upgrade Required\r\n"), "answered: %.60s", resp);
}

static void test_unknown_path_is_404(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d, "GET /no/such/thing HTTP/1.1\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 404 Not Found\r\n"), "answered: %.60s", resp);
}

/* Junk or oversized requests get an error status and the connection ends. */
static void test_bad_requests_get_4xx_and_close(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d, "\x16\x03\x01\x02\x00junk that is no HTTP\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 400 "), "junk answered: %.40s", resp);

	/* A head past the 8 KiB limit. */
	static char big[12000];
	size_t n = (size_t)snprintf(big, sizeof(big), "GET /derp HTTP/1.1\r\nHost: x\r\n");
	while (n + 40 < sizeof(big) - 10)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "X-Filler: %030zu\r\n", n);
	snprintf(big + n, sizeof(big) - n, "\r\n");
	http_exchange(d, big, resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 431 "), "huge head answered: %.40s", resp);

	http_exchange(d, "GET /derp HTTP/2.0\r\nHost: x\r\n\r\n", resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 505 "), "HTTP/2.0 answered: %.40s", resp);

	/* The daemon is unharmed. */
	struct derp_client *a = it_connect(d, NULL);
	struct derp_client *b = it_connect(d, NULL);
	it_require_relaying(a, b);
}

/* Reads the response head, requires 101 Switching Protocols, then ServerKey. */
static void expect_upgrade(struct it_daemon *d, int fd)
{
	char head[1024];
	it_fd_read_http_head(fd, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(starts_with(head, "HTTP/1.1 101 Switching Protocols\r\n"), "answered: %.60s",
		   head);
	it_fd_expect_server_key(d, fd);
}

/* Builds a ClientInfo for c (fresh keys from it_wrap_fd) sealed to the daemon's key. */
static size_t build_client_info(struct it_daemon *d, struct derp_client *c, uint8_t *out,
				size_t cap)
{
	size_t n = derp_build_client_info(out, cap, c->priv, c->pub, d->server_pub,
					  "{\"version\":2,\"CanAckPings\":true}", NULL);
	IT_REQUIRE(n > 0, "building ClientInfo failed");
	return n;
}

/* Reads ServerInfo on a raw-handshake client and checks that its box opens. */
static void expect_server_info(struct it_daemon *d, struct derp_client *c)
{
	uint32_t len;
	const uint8_t *p = it_expect_frame(c, DERP_FRAME_SERVER_INFO, IT_FRAME_TIMEOUT_MS, &len);
	char json[512];
	IT_REQUIRE(derp_server_info_open(p, len, c->priv, d->server_pub, json, sizeof(json)) == 0,
		   "ServerInfo box does not open");
}

static void test_upgrade_response_is_exact(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *peer = it_connect(d, NULL);
	int fd = it_tcp_connect(d);
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
	it_fd_send(fd, req, strlen(req));

	char head[1024], want[1024], hex[KEY_HEX_LEN + 1];
	it_fd_read_http_head(fd, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	key_to_hex(d->server_pub, hex);
	snprintf(want, sizeof(want),
		 "HTTP/1.1 101 Switching Protocols\r\n"
		 "Upgrade: DERP\r\n"
		 "Connection: Upgrade\r\n"
		 "Derp-Version: 2\r\n"
		 "Derp-Public-Key: %s\r\n\r\n",
		 hex);
	IT_REQUIRE(strcmp(head, want) == 0, "101 response differs:\n%s\nwant:\n%s", head, want);
	it_fd_expect_server_key(d, fd);

	/* Finish the handshake by hand and prove the session relays. */
	struct derp_client *c = it_wrap_fd(fd);
	uint8_t ci[512];
	it_send_raw(c, ci, build_client_info(d, c, ci, sizeof(ci)));
	expect_server_info(d, c);
	it_require_relaying(c, peer);
}

/*
 * The request, ClientInfo and a SendPacket of random bytes (written to pkt)
 * for `to`, back to back in buf, as a client that pipelines writes them.
 * Returns the length.
 */
static size_t pipelined_request(struct it_daemon *d, struct derp_client *c, const char *req,
				uint8_t *buf, size_t cap, const uint8_t to[KEY_LEN], uint8_t *pkt,
				size_t pkt_len)
{
	size_t n = strlen(req);
	memcpy(buf, req, n);
	n += build_client_info(d, c, buf + n, cap - n);
	randombytes_buf(pkt, pkt_len);
	n += derp_build_send_packet(buf + n, cap - n, to, pkt, pkt_len);
	return n;
}

/*
 * Request, ClientInfo and a SendPacket in one write, as a fast-starting
 * client does: no HTTP response at all, ServerKey first, and the packet
 * that rode along with the request is delivered.
 */
static void test_fast_start_skips_http_and_keeps_pipelined_frames(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *peer = it_connect(d, NULL);
	int fd = it_tcp_connect(d);
	struct derp_client *c = it_wrap_fd(fd);

	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n"
				  "Derp-Fast-Start: 1\r\n\r\n";
	/* A small packet, then one far bigger than the server's first read. */
	static uint8_t buf[2048 + DERP_FRAME_HDR_LEN + KEY_LEN + BIG_PIPELINED];
	static uint8_t small[300], big[BIG_PIPELINED];
	size_t n = pipelined_request(d, c, req, buf, sizeof(buf), peer->pub, small, sizeof(small));
	randombytes_buf(big, sizeof(big));
	n += derp_build_send_packet(buf + n, sizeof(buf) - n, peer->pub, big, sizeof(big));
	it_send_raw(c, buf, n);

	/* The very first byte must be a frame, not "HTTP/1.1 ...". */
	it_fd_expect_server_key(d, c->fd);
	expect_server_info(d, c);
	it_expect_packet(peer, c->pub, small, sizeof(small), IT_FRAME_TIMEOUT_MS);
	it_expect_packet(peer, c->pub, big, sizeof(big), IT_FRAME_TIMEOUT_MS);
	it_require_relaying(c, peer);
}

/* The ordinary (101) path with ClientInfo and a packet in the request's write, as Go clients do. */
static void test_pipelined_client_info_after_101(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *peer = it_connect(d, NULL);
	int fd = it_tcp_connect(d);
	struct derp_client *c = it_wrap_fd(fd);

	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
	uint8_t buf[2048], pkt[100];
	size_t n = pipelined_request(d, c, req, buf, sizeof(buf), peer->pub, pkt, sizeof(pkt));
	it_send_raw(c, buf, n);

	expect_upgrade(d, c->fd);
	expect_server_info(d, c);
	it_expect_packet(peer, c->pub, pkt, sizeof(pkt), IT_FRAME_TIMEOUT_MS);
}

/*
 * Old clients say "Upgrade: websocket" but speak plain DERP; real WebSocket
 * (subprotocol derp) gets the WebSocket handshake: refused when incomplete,
 * 101 with the RFC 6455 accept value when whole (DERP inside it:
 * itest_websocket).
 */
static void test_websocket_upgrade_forms(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	char resp[4096];
	http_exchange(d,
		      "GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
		      "Connection: Upgrade\r\nSec-WebSocket-Protocol: derp\r\n\r\n",
		      resp, sizeof(resp));
	IT_REQUIRE(starts_with(resp, "HTTP/1.1 400 "), "WebSocket without a version: %.40s", resp);
	IT_REQUIRE(strstr(resp, "Sec-WebSocket-Version: 13\r\n"), "no version offered: %s", resp);

	int ws = it_tcp_connect(d);
	static const char ws_req[] = "GET /derp HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
				     "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
				     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				     "Sec-WebSocket-Protocol: derp\r\n\r\n";
	it_fd_send(ws, ws_req, strlen(ws_req));
	char head[1024];
	it_fd_read_http_head(ws, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	IT_REQUIRE(starts_with(head, "HTTP/1.1 101 "), "WebSocket answered: %.40s", head);
	IT_REQUIRE(strstr(head, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") &&
		       strstr(head, "Sec-WebSocket-Protocol: derp\r\n"),
		   "WebSocket 101 without the accept key or subprotocol: %s", head);
	close(ws);

	int fd = it_tcp_connect(d);
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: x\r\n"
				  "Connection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n";
	it_fd_send(fd, req, strlen(req));
	expect_upgrade(d, fd);
}

/* ClientInfo may be large (up to 256 KiB): padding in an unknown JSON field is fine. */
static void test_large_client_info_accepted(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *peer = it_connect(d, NULL);
	int fd = it_tcp_connect(d);
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
	it_fd_send(fd, req, strlen(req));
	char head[1024];
	it_fd_read_http_head(fd, head, sizeof(head), IT_FRAME_TIMEOUT_MS);
	it_fd_expect_server_key(d, fd);
	struct derp_client *c = it_wrap_fd(fd);

	static char json[200 * 1024];
	size_t n = (size_t)snprintf(json, sizeof(json), "{\"version\":2,\"padding\":\"");
	memset(json + n, 'p', sizeof(json) - n - 8);
	snprintf(json + sizeof(json) - 8, 8, "\"}");
	static uint8_t ci[sizeof(json) + 256];
	size_t len =
	    derp_build_client_info(ci, sizeof(ci), c->priv, c->pub, d->server_pub, json, NULL);
	IT_REQUIRE(len > 100 * 1024, "building a large ClientInfo failed");
	it_send_raw(c, ci, len);
	expect_server_info(d, c);
	it_require_relaying(c, peer);
}

/* A request trickled in one byte at a time is assembled, not misparsed. */
static void test_request_trickled_byte_by_byte(void)
{
	struct it_daemon *d = it_daemon_start(NULL);
	struct derp_client *peer = it_connect(d, NULL);
	int fd = it_tcp_connect(d);
	static const char req[] = "GET /derp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				  "Connection: Upgrade\r\nUpgrade: DERP\r\n\r\n";
	for (size_t i = 0; req[i]; i++) {
		it_fd_send(fd, req + i, 1);
		it_sleep_ms(1);
	}
	expect_upgrade(d, fd);
	struct derp_client *c = it_wrap_fd(fd);
	uint8_t ci[512];
	size_t n = build_client_info(d, c, ci, sizeof(ci));
	/* And the ClientInfo frame split across writes, too. */
	it_send_raw(c, ci, 3);
	it_sleep_ms(20);
	it_send_raw(c, ci + 3, 40);
	it_sleep_ms(20);
	it_send_raw(c, ci + 43, n - 43);
	expect_server_info(d, c);
	it_require_relaying(c, peer);
}

IT_MAIN(IT_TEST(test_probe_endpoints_answer_200), IT_TEST(test_generate_204_answers_the_challenge),
	IT_TEST(test_derp_without_upgrade_is_426), IT_TEST(test_unknown_path_is_404),
	IT_TEST(test_bad_requests_get_4xx_and_close), IT_TEST(test_upgrade_response_is_exact),
	IT_TEST(test_fast_start_skips_http_and_keeps_pipelined_frames),
	IT_TEST(test_pipelined_client_info_after_101), IT_TEST(test_websocket_upgrade_forms),
	IT_TEST(test_large_client_info_accepted), IT_TEST(test_request_trickled_byte_by_byte))
