// SPDX-License-Identifier: MIT
/*
 * Malformed input closes the offending connection and nothing else: each
 * test keeps two well-behaved peers relaying before and after the bad one.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "derp_handshake.h"
#include "harness.h"

struct setup {
	struct it_daemon *d;
	struct derp_client *a, *b;
};

static struct setup start_with_pair(void)
{
	struct setup s;
	s.d = it_daemon_start(NULL);
	s.a = it_connect(s.d, NULL);
	s.b = it_connect(s.d, NULL);
	it_require_relaying(s.a, s.b);
	return s;
}

/* After the bad connection closed: the daemon lives and the pair still relays. */
static void require_unaffected(struct setup *s)
{
	it_daemon_require_alive(s->d);
	it_require_relaying(s->a, s->b);
	it_expect_ping_pong(s->a);
	it_expect_ping_pong(s->b);
	/* New connections are still welcome. */
	struct derp_client *c = it_connect(s->d, NULL);
	it_require_relaying(c, s->a);
}

static void expect_fd_closed(int fd)
{
	uint8_t junk[256];
	it_fd_read_until_closed(fd, junk, sizeof(junk), IT_FRAME_TIMEOUT_MS);
	it_fd_close(fd);
}

static void test_garbage_instead_of_client_info(void)
{
	struct setup s = start_with_pair();
	int fd = it_raw_upgrade(s.d);
	uint8_t garbage[200];
	memset(garbage, 0xff, sizeof(garbage));
	it_fd_send_ignoring_errors(fd, garbage, sizeof(garbage));
	expect_fd_closed(fd);
	require_unaffected(&s);
}

static void test_garbage_after_handshake(void)
{
	struct setup s = start_with_pair();
	struct derp_client *x = it_connect(s.d, NULL);
	/* A SendPacket header claiming 4 GiB, then noise. */
	uint8_t garbage[300];
	randombytes_buf(garbage, sizeof(garbage));
	memcpy(garbage, "\x04\xff\xff\xff\xff", 5);
	it_fd_send_ignoring_errors(x->fd, garbage, sizeof(garbage));
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	require_unaffected(&s);
}

static void test_oversize_send_packet(void)
{
	struct setup s = start_with_pair();
	/* The largest legal packet goes through... */
	uint8_t *frame = malloc(DERP_FRAME_HDR_LEN + KEY_LEN + DERP_MAX_PACKET_SIZE + 1);
	IT_REQUIRE(frame != NULL, "out of memory");
	uint8_t *pkt = frame + DERP_FRAME_HDR_LEN + KEY_LEN;
	randombytes_buf(pkt, DERP_MAX_PACKET_SIZE + 1);
	it_send_packet(s.a, s.b->pub, pkt, DERP_MAX_PACKET_SIZE);
	it_expect_packet(s.b, s.a->pub, pkt, DERP_MAX_PACKET_SIZE, IT_FRAME_TIMEOUT_MS);

	/* ...one byte more closes the sender. */
	struct derp_client *x = it_connect(s.d, NULL);
	size_t payload = KEY_LEN + DERP_MAX_PACKET_SIZE + 1;
	derp_frame_header_put(frame, DERP_FRAME_SEND_PACKET, (uint32_t)payload);
	memcpy(frame + DERP_FRAME_HDR_LEN, s.b->pub, KEY_LEN);
	it_fd_send_ignoring_errors(x->fd, frame, DERP_FRAME_HDR_LEN + payload);
	free(frame);
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	/* And b never got any of it: its next frame is a fresh packet from a. */
	require_unaffected(&s);
}

static void test_note_preferred_of_wrong_length(void)
{
	struct setup s = start_with_pair();
	struct derp_client *x = it_connect(s.d, NULL);
	static const uint8_t two[] = { DERP_FRAME_NOTE_PREFERRED, 0, 0, 0, 2, 1, 1 };
	it_fd_send_ignoring_errors(x->fd, two, sizeof(two));
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);

	x = it_connect(s.d, NULL);
	static const uint8_t empty[] = { DERP_FRAME_NOTE_PREFERRED, 0, 0, 0, 0 };
	it_fd_send_ignoring_errors(x->fd, empty, sizeof(empty));
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	require_unaffected(&s);
}

static void test_ping_of_wrong_length(void)
{
	struct setup s = start_with_pair();
	struct derp_client *x = it_connect(s.d, NULL);
	static const uint8_t seven[] = { DERP_FRAME_PING, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7 };
	it_fd_send_ignoring_errors(x->fd, seven, sizeof(seven));
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	require_unaffected(&s);
}

static void test_first_frame_not_client_info(void)
{
	struct setup s = start_with_pair();
	int fd = it_raw_upgrade(s.d);
	uint8_t frame[DERP_FRAME_HDR_LEN + KEY_LEN + 16];
	uint8_t pkt[16] = { 0 };
	size_t n = derp_build_send_packet(frame, sizeof(frame), s.b->pub, pkt, sizeof(pkt));
	it_fd_send_ignoring_errors(fd, frame, n);
	expect_fd_closed(fd);
	/* Not relayed either. */
	it_expect_quiet(s.b, 100);
	require_unaffected(&s);
}

static void test_client_info_that_does_not_open(void)
{
	struct setup s = start_with_pair();
	uint8_t cpriv[KEY_LEN], cpub[KEY_LEN], wrong_priv[KEY_LEN], wrong_pub[KEY_LEN];
	uint8_t ci[512];
	key_generate(cpriv, cpub);
	key_generate(wrong_priv, wrong_pub);

	/* Sealed to a key that is not the server's: the box does not open. */
	int fd = it_raw_upgrade(s.d);
	size_t n =
	    derp_build_client_info(ci, sizeof(ci), cpriv, cpub, wrong_pub, "{\"version\":2}", NULL);
	IT_REQUIRE(n > 0, "building ClientInfo failed");
	it_fd_send_ignoring_errors(fd, ci, n);
	expect_fd_closed(fd);

	/* Right key, but one flipped ciphertext byte. */
	fd = it_raw_upgrade(s.d);
	n = derp_build_client_info(ci, sizeof(ci), cpriv, cpub, s.d->server_pub, "{\"version\":2}",
				   NULL);
	ci[n - 1] ^= 0x01;
	it_fd_send_ignoring_errors(fd, ci, n);
	expect_fd_closed(fd);

	/* Opens, but the JSON carries a malformed mesh key. */
	fd = it_raw_upgrade(s.d);
	n = derp_build_client_info(ci, sizeof(ci), cpriv, cpub, s.d->server_pub,
				   "{\"version\":2,\"meshKey\":\"abc\"}", NULL);
	it_fd_send_ignoring_errors(fd, ci, n);
	expect_fd_closed(fd);

	/* Too short to hold a key, a nonce and a box. */
	fd = it_raw_upgrade(s.d);
	static const uint8_t tiny[] = { DERP_FRAME_CLIENT_INFO, 0, 0, 0, 4, 1, 2, 3, 4 };
	it_fd_send_ignoring_errors(fd, tiny, sizeof(tiny));
	expect_fd_closed(fd);

	/* Longer than the 256 KiB limit. */
	fd = it_raw_upgrade(s.d);
	uint8_t huge_hdr[DERP_FRAME_HDR_LEN];
	derp_frame_header_put(huge_hdr, DERP_FRAME_CLIENT_INFO, 256 * 1024 + 1);
	it_fd_send_ignoring_errors(fd, huge_hdr, sizeof(huge_hdr));
	expect_fd_closed(fd);

	/* None of these made it in: packets to that key are not delivered anywhere. */
	require_unaffected(&s);
}

static void test_second_client_info_after_handshake(void)
{
	struct setup s = start_with_pair();
	struct derp_client *x = it_connect(s.d, NULL);
	uint8_t ci[512];
	size_t n = derp_build_client_info(ci, sizeof(ci), x->priv, x->pub, s.d->server_pub,
					  "{\"version\":2}", NULL);
	it_fd_send_ignoring_errors(x->fd, ci, n);
	it_expect_closed(x, IT_FRAME_TIMEOUT_MS);
	require_unaffected(&s);
}

/* Ways a connection can end before or after its handshake. */
enum ending {
	END_AT_CONNECT,	       /* connect, hang up */
	END_IN_HEAD,	       /* half a request head, hang up */
	END_AFTER_404,	       /* a request the server answers and closes */
	END_AFTER_101,	       /* upgraded, hang up before ClientInfo */
	END_IN_CLIENT_INFO,    /* upgraded, half a ClientInfo, hang up */
	END_SESSION,	       /* a whole session, closed by the client */
	END_SESSION_BAD_FRAME, /* a whole session, closed by the server for a bad frame */
	END_BAD_FIRST_FRAME,   /* upgraded, a first frame that is not ClientInfo, hang up */
	END_COUNT,
};

static const char *const ending_names[END_COUNT] = {
	"hang-up at connect",
	"hang-up inside the request head",
	"404 response",
	"hang-up after the 101",
	"hang-up inside ClientInfo",
	"session closed by the client",
	"session closed for a bad frame",
	"failed handshake (first frame not ClientInfo)",
};

static void end_connection(struct it_daemon *d, enum ending how)
{
	uint8_t buf[512];
	int fd;
	switch (how) {
	case END_AT_CONNECT:
		it_fd_close(it_tcp_connect(d));
		return;
	case END_IN_HEAD:
		fd = it_tcp_connect(d);
		it_fd_send(fd, it_upgrade_request, 20);
		it_fd_close(fd);
		return;
	case END_AFTER_404:
		fd = it_tcp_connect(d);
		it_fd_send(fd, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 32);
		it_fd_read_until_closed(fd, buf, sizeof(buf), IT_FRAME_TIMEOUT_MS);
		it_fd_close(fd);
		return;
	case END_AFTER_101:
		it_fd_close(it_raw_upgrade(d));
		return;
	case END_IN_CLIENT_INFO: {
		fd = it_raw_upgrade(d);
		uint8_t priv[KEY_LEN], pub[KEY_LEN];
		key_generate(priv, pub);
		size_t n = derp_build_client_info(buf, sizeof(buf), priv, pub, d->server_pub,
						  "{\"version\":2}", NULL);
		it_fd_send(fd, buf, n / 2);
		it_fd_close(fd);
		return;
	}
	case END_SESSION:
		it_client_close(it_connect(d, NULL));
		return;
	case END_SESSION_BAD_FRAME: {
		struct derp_client *c = it_connect(d, NULL);
		static const uint8_t bad[] = { DERP_FRAME_NOTE_PREFERRED, 0, 0, 0, 2, 1, 1 };
		it_fd_send_ignoring_errors(c->fd, bad, sizeof(bad));
		it_expect_closed(c, IT_FRAME_TIMEOUT_MS);
		it_client_close(c);
		return;
	}
	case END_BAD_FIRST_FRAME: {
		fd = it_raw_upgrade(d);
		static const uint8_t ping[] = {
			DERP_FRAME_PING, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8
		};
		it_fd_send_ignoring_errors(fd, ping, sizeof(ping));
		it_fd_close(fd);
		return;
	}
	case END_COUNT:
		break;
	}
}

/*
 * Whether a newcomer completes a handshake within 3 s: a connection that
 * just ended may hold its slot for a moment, but not for good.
 */
static bool newcomer_admitted(struct it_daemon *d, char *err, size_t errlen)
{
	int64_t deadline = it_now_ms() + 3000;
	for (;;) {
		struct derp_client c;
		struct derp_client_opts co = { .timeout_ms = 500 };
		if (derp_client_connect(&c, "127.0.0.1", d->port, &co, err, errlen) == 0) {
			derp_client_close(&c);
			return true;
		}
		if (it_now_ms() >= deadline)
			return false;
		it_sleep_ms(50);
	}
}

/*
 * Every way a connection ends must give its slot back. With
 * max_connections = 8 and two sessions held, seven connections ended one
 * way would lock every newcomer out if each of them leaked its slot; a
 * correct relay never holds more than 5 at once here (the slots of the
 * last ended connection and the last newcomer are released asynchronously).
 */
static void test_ended_connections_do_not_leak_slots(void)
{
	struct it_daemon_opts o = { .ini = "[server]\nmax_connections = 8\n" };
	struct setup s;
	s.d = it_daemon_start(&o);
	s.a = it_connect(s.d, NULL);
	s.b = it_connect(s.d, NULL);
	for (int how = 0; how < END_COUNT; how++) {
		/* If a leak makes the server turn away one of these, this says which kind. */
		it_note("7 x %s", ending_names[how]);
		for (int i = 0; i < 7; i++) {
			end_connection(s.d, (enum ending)how);
			char err[256] = "";
			IT_REQUIRE(
			    newcomer_admitted(s.d, err, sizeof(err)),
			    "after %d x %s, newcomers are turned away (%s): those connections "
			    "still hold their slots",
			    i + 1, ending_names[how], err);
		}
	}
	require_unaffected(&s);
}

/* Positive control: unknown frame types are skipped, however long, and the session goes on. */
static void test_unknown_frame_types_are_skipped(void)
{
	struct setup s = start_with_pair();
	struct derp_client *x = it_connect(s.d, NULL);
	size_t big = 3u << 20; /* spans many receive buffers */
	uint8_t *frame = malloc(DERP_FRAME_HDR_LEN + big);
	IT_REQUIRE(frame != NULL, "out of memory");
	/* Skipped payloads must not be parsed: fill them with SendPacket-looking bytes. */
	memset(frame, DERP_FRAME_SEND_PACKET, DERP_FRAME_HDR_LEN + big);
	derp_frame_header_put(frame, 0x7f, (uint32_t)big);
	it_send_raw(x, frame, DERP_FRAME_HDR_LEN + big);
	/* A server-to-client type sent by a client is skipped too. */
	derp_frame_header_put(frame, DERP_FRAME_KEEP_ALIVE, 10);
	it_send_raw(x, frame, DERP_FRAME_HDR_LEN + 10);
	free(frame);
	it_expect_ping_pong(x);
	it_require_relaying(x, s.a);
	require_unaffected(&s);
}

IT_MAIN(IT_TEST(test_garbage_instead_of_client_info), IT_TEST(test_garbage_after_handshake),
	IT_TEST(test_oversize_send_packet), IT_TEST(test_note_preferred_of_wrong_length),
	IT_TEST(test_ping_of_wrong_length), IT_TEST(test_first_frame_not_client_info),
	IT_TEST(test_client_info_that_does_not_open),
	IT_TEST(test_second_client_info_after_handshake),
	IT_TEST(test_ended_connections_do_not_leak_slots),
	IT_TEST(test_unknown_frame_types_are_skipped))
