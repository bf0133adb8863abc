// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_frame.c: the header codec and its 24-bit bound, the
 * per-type payload rules (docs/hd-protocol.md section 2.1), the versioning
 * rule for unknown types, and every builder against its parser. The Send
 * vector is section 6's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hd_frame.h"

static void test_send_vector(void **state)
{
	(void)state;
	const uint8_t pkt[3] = { 0xaa, 0xbb, 0xcc };
	const uint8_t want[] = { 0x10, 0x00, 0x00, 0x05, 0x01, 0x02, 0xaa, 0xbb, 0xcc };
	uint8_t buf[64];

	assert_int_equal(hd_build_routed(buf, sizeof(buf), HD_FRAME_SEND, 0, 0x0102, pkt, 3),
			 sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
}

static void test_header_bounds(void **state)
{
	(void)state;
	uint8_t hdr[HD_FRAME_HDR_LEN];
	uint8_t type;
	uint32_t len;

	hd_frame_header_write(hdr, HD_FRAME_RECV, HD_MAX_PAYLOAD);
	assert_int_equal(hd_frame_header_parse(hdr, &type, &len), 0);
	assert_int_equal(type, HD_FRAME_RECV);
	assert_int_equal(len, HD_MAX_PAYLOAD);

	/* One past the bound, and the largest 24-bit length: refused from the header alone. */
	hd_frame_header_write(hdr, HD_FRAME_RECV, HD_MAX_PAYLOAD + 1);
	assert_int_equal(hd_frame_header_parse(hdr, &type, &len), -1);
	const uint8_t huge[4] = { 0x10, 0xff, 0xff, 0xff };
	assert_int_equal(hd_frame_header_parse(huge, &type, &len), -1);
	assert_int_equal(len, 0xffffff);
}

static void test_check_rules(void **state)
{
	(void)state;
	assert_int_equal(hd_frame_check(HD_FRAME_SEND, 2), HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_SEND, 1), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_SEND, 2 + HD_MAX_PACKET), HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_SEND, 3 + HD_MAX_PACKET), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_FLEET_SEND, 3), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_KEEP_ALIVE, 0), HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_KEEP_ALIVE, 1), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_PING, 7), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_WELCOME, 9), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_DENIED, 0), HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_DENIED, 1 + HD_REASON_TEXT_MAX), HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_DENIED, 2 + HD_REASON_TEXT_MAX),
			 HD_FRAME_MALFORMED);
	assert_int_equal(hd_frame_check(HD_FRAME_ROUTE_ANNOUNCE, 0), HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_ROUTE_ANNOUNCE, 33 * HD_ROUTE_ANNOUNCE_MAX),
			 HD_FRAME_OK);
	assert_int_equal(hd_frame_check(HD_FRAME_ROUTE_ANNOUNCE, 33 * HD_ROUTE_ANNOUNCE_MAX + 1),
			 HD_FRAME_MALFORMED);
	/* The versioning rule: unknown below 0x80 closes, from 0x80 is skipped. */
	assert_int_equal(hd_frame_check(0x7f, 0), HD_FRAME_UNKNOWN);
	assert_int_equal(hd_frame_check(0x00, 0), HD_FRAME_UNKNOWN);
	assert_int_equal(hd_frame_check(0x80, 100), HD_FRAME_SKIP);
	assert_int_equal(hd_frame_check(0xff, 0), HD_FRAME_SKIP);
	assert_string_equal(hd_frame_type_name(HD_FRAME_FLEET_DATA), "FleetData");
	assert_string_equal(hd_frame_type_name(0x7f), "Unknown");
	assert_string_equal(hd_reason_name(HD_REASON_REVOKED), "revoked");
	assert_string_equal(hd_reason_name(200), "unknown");
}

static void test_routed_round_trip(void **state)
{
	(void)state;
	static uint8_t buf[HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD];
	static uint8_t pkt[HD_MAX_PACKET];
	const uint8_t types[] = { HD_FRAME_SEND, HD_FRAME_RECV, HD_FRAME_FLEET_SEND,
				  HD_FRAME_FLEET_RECV };
	const uint32_t sizes[] = { 0, 1, 1400, HD_MAX_PACKET };

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7);
	for (size_t t = 0; t < sizeof(types); t++) {
		for (size_t s = 0; s < 4; s++) {
			struct hd_routed r;
			uint8_t type;
			uint32_t len;
			size_t n = hd_build_routed(buf, sizeof(buf), types[t], 0x0a0b, 0xfffe, pkt,
						   sizes[s]);
			assert_true(n > 0);
			assert_int_equal(hd_frame_header_parse(buf, &type, &len), 0);
			assert_int_equal(n, HD_FRAME_HDR_LEN + len);
			assert_int_equal(hd_parse_routed(type, buf + HD_FRAME_HDR_LEN, len, &r), 0);
			assert_int_equal(r.peer_id, 0xfffe);
			bool fleet =
			    types[t] == HD_FRAME_FLEET_SEND || types[t] == HD_FRAME_FLEET_RECV;
			assert_int_equal(r.relay_id, fleet ? 0x0a0b : 0);
			assert_int_equal(r.packet_len, sizes[s]);
			if (sizes[s])
				assert_memory_equal(r.packet, pkt, sizes[s]);
		}
	}
	/* A packet past the bound, a buffer one byte short, a type that is not routed. */
	assert_int_equal(
	    hd_build_routed(buf, sizeof(buf), HD_FRAME_SEND, 0, 1, pkt, HD_MAX_PACKET + 1), 0);
	assert_int_equal(
	    hd_build_routed(buf, HD_FRAME_HDR_LEN + 2 + 9, HD_FRAME_SEND, 0, 1, pkt, 10), 0);
	assert_int_equal(hd_build_routed(buf, sizeof(buf), HD_FRAME_PING, 0, 1, pkt, 8), 0);
	struct hd_routed r;
	assert_int_equal(hd_parse_routed(HD_FRAME_PING, buf, 8, &r), -1);
	assert_int_equal(hd_parse_routed(HD_FRAME_SEND, buf, 1, &r), -1);
}

static void test_routed_header_in_place(void **state)
{
	(void)state;
	uint8_t buf[64];
	const uint8_t pkt[5] = { 1, 2, 3, 4, 5 };

	/* The header goes in front of a packet already in the buffer. */
	memcpy(buf + HD_FRAME_HDR_LEN + 4, pkt, sizeof(pkt));
	assert_int_equal(hd_build_routed_header(buf, HD_FRAME_HDR_LEN + 4, HD_FRAME_FLEET_RECV, 7,
						9, sizeof(pkt)),
			 HD_FRAME_HDR_LEN + 4);
	const uint8_t want[] = { 0x13, 0, 0, 9, 0, 7, 0, 9, 1, 2, 3, 4, 5 };
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(hd_build_routed_header(buf, HD_FRAME_HDR_LEN + 3, HD_FRAME_FLEET_RECV, 7,
						9, sizeof(pkt)),
			 0);
}

static void test_handshake_frames(void **state)
{
	(void)state;
	uint8_t buf[512], key[HD_KEY_LEN], ch[HD_CHALLENGE_LEN];
	struct hd_server_hello sh;
	struct hd_welcome w;
	struct hd_reason_msg rm;

	memset(key, 0x11, sizeof(key));
	memset(ch, 0x22, sizeof(ch));
	assert_int_equal(hd_build_server_hello(buf, sizeof(buf), key, ch), 4 + 65);
	assert_int_equal(buf[0], HD_FRAME_SERVER_HELLO);
	assert_int_equal(hd_parse_server_hello(buf + 4, 65, &sh), 0);
	assert_int_equal(sh.version, HD_PROTO_VERSION);
	assert_memory_equal(sh.relay_key, key, HD_KEY_LEN);
	assert_memory_equal(sh.challenge, ch, HD_CHALLENGE_LEN);
	assert_int_equal(hd_parse_server_hello(buf + 4, 64, &sh), -1);

	assert_int_equal(hd_build_welcome(buf, sizeof(buf), 513, 7, 60000), 12);
	const uint8_t want_w[] = { 0x03, 0, 0, 8, 0x02, 0x01, 0, 7, 0, 0, 0xea, 0x60 };
	assert_memory_equal(buf, want_w, sizeof(want_w));
	assert_int_equal(hd_parse_welcome(buf + 4, 8, &w), 0);
	assert_int_equal(w.peer_id, 513);
	assert_int_equal(w.relay_id, 7);
	assert_int_equal(w.keepalive_ms, 60000);

	assert_int_equal(
	    hd_build_reason(buf, sizeof(buf), HD_FRAME_DENIED, HD_REASON_EXPIRED, "token expired"),
	    4 + 1 + 13);
	assert_int_equal(hd_parse_reason(HD_FRAME_DENIED, buf + 4, 14, &rm), 0);
	assert_int_equal(rm.reason, HD_REASON_EXPIRED);
	assert_int_equal(rm.text_len, 13);
	assert_memory_equal(rm.text, "token expired", 13);
	/* Texts are cut at the bound, never refused; only Denied and Close carry reasons. */
	char longtext[400];
	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	assert_int_equal(
	    hd_build_reason(buf, sizeof(buf), HD_FRAME_CLOSE, HD_REASON_DRAINING, longtext),
	    4 + 1 + HD_REASON_TEXT_MAX);
	assert_int_equal(hd_build_reason(buf, sizeof(buf), HD_FRAME_PING, 1, "x"), 0);
	assert_int_equal(hd_parse_reason(HD_FRAME_PING, buf + 4, 2, &rm), -1);
}

static void test_peer_frames(void **state)
{
	(void)state;
	uint8_t buf[128], key[HD_KEY_LEN];
	struct hd_peer_info pi;

	memset(key, 0x5a, sizeof(key));
	assert_int_equal(hd_build_lookup(buf, sizeof(buf), key), 4 + 32);
	assert_int_equal(hd_frame_check(buf[0], 32), HD_FRAME_OK);

	assert_int_equal(hd_build_peer_info(buf, sizeof(buf), 3, 4, key), 4 + 36);
	assert_int_equal(hd_parse_peer(HD_FRAME_PEER_INFO, buf + 4, 36, &pi), 0);
	assert_int_equal(pi.peer_id, 3);
	assert_int_equal(pi.relay_id, 4);
	assert_memory_equal(pi.key, key, HD_KEY_LEN);

	assert_int_equal(hd_build_peer_gone(buf, sizeof(buf), 3, 0, HD_GONE_NOT_HERE), 4 + 5);
	assert_int_equal(hd_parse_peer(HD_FRAME_PEER_GONE, buf + 4, 5, &pi), 0);
	assert_int_equal(pi.reason, HD_GONE_NOT_HERE);
	assert_null(pi.key);

	assert_int_equal(hd_build_peer_home(buf, sizeof(buf), key, 9, 2, true), 4 + 37);
	assert_int_equal(hd_parse_peer(HD_FRAME_PEER_HOME, buf + 4, 37, &pi), 0);
	assert_true(pi.present);
	assert_int_equal(pi.peer_id, 9);
	assert_int_equal(pi.relay_id, 2);
	assert_int_equal(hd_parse_peer(HD_FRAME_LOOKUP, buf + 4, 32, &pi), -1);
	assert_int_equal(hd_parse_peer(HD_FRAME_PEER_HOME, buf + 4, 36, &pi), -1);

	const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	assert_int_equal(hd_build_ping(buf, sizeof(buf), HD_FRAME_PONG, data), 12);
	assert_int_equal(buf[0], HD_FRAME_PONG);
	assert_int_equal(hd_build_ping(buf, sizeof(buf), HD_FRAME_SEND, data), 0);
	assert_int_equal(hd_build_keep_alive(buf, 3), 0);
	assert_int_equal(hd_build_keep_alive(buf, 4), 4);
}

static void test_fleet_frames(void **state)
{
	(void)state;
	static uint8_t buf[HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD];
	static struct hd_route routes[HD_ROUTE_ANNOUNCE_MAX + 1], got[HD_ROUTE_ANNOUNCE_MAX];
	struct hd_fleet_data fd = { 1, 2, 3, 4, 16, (const uint8_t *)"hello", 5 }, fo;

	/* The vector: relay 7 itself, then relay 9 through 8. */
	routes[0] = (struct hd_route){ .relay_id = 7, .path_len = 0 };
	routes[1] = (struct hd_route){ .relay_id = 9, .path_len = 2, .path = { 8, 9 } };
	const uint8_t want[] = { 0x40, 0, 0, 10, 0, 7, 0, 0, 9, 2, 0, 8, 0, 9 };
	assert_int_equal(hd_build_route_announce(buf, sizeof(buf), routes, 2), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(hd_parse_route_announce(buf + 4, 10, got, 2), 2);
	assert_int_equal(got[1].path_len, 2);
	assert_int_equal(got[1].path[0], 8);
	/* Cut inside a route, a path that does not end at its relay, one route too many. */
	assert_int_equal(hd_parse_route_announce(buf + 4, 9, got, 2), -1);
	uint8_t bad[10];
	memcpy(bad, buf + 4, 10);
	bad[9] = 8;
	assert_int_equal(hd_parse_route_announce(bad, 10, got, 2), -1);
	assert_int_equal(hd_parse_route_announce(buf + 4, 10, got, 1), -1);

	/* The largest frame: 1024 routes of the longest path. */
	for (int i = 0; i <= HD_ROUTE_ANNOUNCE_MAX; i++) {
		routes[i].relay_id = (uint16_t)(i + 1);
		routes[i].path_len = HD_ROUTE_MAX_PATH;
		for (int k = 0; k < HD_ROUTE_MAX_PATH; k++)
			routes[i].path[k] =
			    (uint16_t)(k == HD_ROUTE_MAX_PATH - 1 ? i + 1 : 5000 + k);
	}
	size_t n = hd_build_route_announce(buf, sizeof(buf), routes, HD_ROUTE_ANNOUNCE_MAX);
	assert_int_equal(n, 4 + (3 + 2 * HD_ROUTE_MAX_PATH) * HD_ROUTE_ANNOUNCE_MAX);
	assert_int_equal(
	    hd_parse_route_announce(buf + 4, (uint32_t)n - 4, got, HD_ROUTE_ANNOUNCE_MAX),
	    HD_ROUTE_ANNOUNCE_MAX);
	assert_int_equal(got[1023].relay_id, 1024);
	assert_int_equal(got[1023].path[HD_ROUTE_MAX_PATH - 1], 1024);
	assert_int_equal(
	    hd_build_route_announce(buf, sizeof(buf), routes, HD_ROUTE_ANNOUNCE_MAX + 1), 0);
	routes[0].path_len = HD_ROUTE_MAX_PATH + 1;
	assert_int_equal(hd_build_route_announce(buf, sizeof(buf), routes, 1), 0);

	n = hd_build_fleet_data(buf, sizeof(buf), &fd);
	assert_int_equal(n, 4 + 9 + 5);
	assert_int_equal(hd_parse_fleet_data(buf + 4, (uint32_t)n - 4, &fo), 0);
	assert_int_equal(fo.dst_relay, 1);
	assert_int_equal(fo.dst_peer, 2);
	assert_int_equal(fo.src_relay, 3);
	assert_int_equal(fo.src_peer, 4);
	assert_int_equal(fo.hops_left, 16);
	assert_int_equal(fo.packet_len, 5);
	assert_memory_equal(fo.packet, "hello", 5);
	assert_int_equal(hd_parse_fleet_data(buf + 4, 8, &fo), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_vector),
		cmocka_unit_test(test_header_bounds),
		cmocka_unit_test(test_check_rules),
		cmocka_unit_test(test_routed_round_trip),
		cmocka_unit_test(test_routed_header_in_place),
		cmocka_unit_test(test_handshake_frames),
		cmocka_unit_test(test_peer_frames),
		cmocka_unit_test(test_fleet_frames),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
