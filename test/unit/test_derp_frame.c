// SPDX-License-Identifier: MIT
/*
 * Unit tests for derp_frame.c: header codec, derper's per-type client frame
 * rules, disco detection, builders, and the incremental reader. Vectors from
 * derp-protocol.md sections 2, 3.4 and 8.1.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"

#define MAXP DERP_MAX_PACKET_SIZE

static void key_fill(uint8_t k[KEY_LEN], uint8_t v)
{
	memset(k, v, KEY_LEN);
}

/* ---- header ---- */

static void test_header_vectors(void **state)
{
	static const struct {
		uint8_t bytes[5];
		uint8_t type;
		uint32_t len;
	} vec[] = {
		{ { 0x04, 0x00, 0x00, 0x04, 0x00 }, 0x04, 1024 },
		{ { 0x06, 0x00, 0x00, 0x00, 0x00 }, 0x06, 0 },
		{ { 0x05, 0xff, 0xff, 0xff, 0xff }, 0x05, 0xffffffffu },
		{ { 0x12, 0x01, 0x02, 0x03, 0x04 }, 0x12, 0x01020304 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint8_t buf[5], type;
		uint32_t len;

		derp_frame_header_get(vec[i].bytes, &type, &len);
		assert_int_equal(type, vec[i].type);
		assert_int_equal(len, vec[i].len);
		derp_frame_header_put(buf, vec[i].type, vec[i].len);
		assert_memory_equal(buf, vec[i].bytes, 5);
	}
}

static void test_type_names(void **state)
{
	static const struct {
		uint8_t type;
		const char *name;
	} names[] = {
		{ 0x01, "ServerKey" },	   { 0x02, "ClientInfo" }, { 0x03, "ServerInfo" },
		{ 0x04, "SendPacket" },	   { 0x05, "RecvPacket" }, { 0x06, "KeepAlive" },
		{ 0x07, "NotePreferred" }, { 0x08, "PeerGone" },   { 0x09, "PeerPresent" },
		{ 0x0a, "ForwardPacket" }, { 0x10, "WatchConns" }, { 0x11, "ClosePeer" },
		{ 0x12, "Ping" },	   { 0x13, "Pong" },	   { 0x14, "Health" },
		{ 0x15, "Restarting" },	   { 0x00, "Unknown" },	   { 0x0b, "Unknown" },
		{ 0x0f, "Unknown" },	   { 0x16, "Unknown" },	   { 0xff, "Unknown" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(derp_frame_type_name(names[i].type), names[i].name);
	assert_memory_equal(derp_magic, "DERP\xf0\x9f\x94\x91", DERP_MAGIC_LEN);
}

/* ---- per-type client rules ---- */

struct rule_case {
	uint8_t type;
	uint32_t len;
	enum derp_frame_verdict plain; /* from a regular client */
	enum derp_frame_verdict mesh;  /* from a mesh peer */
};

#define OK   DERP_FRAME_OK
#define SKIP DERP_FRAME_SKIP
#define BAD  DERP_FRAME_BAD_LENGTH
#define NA   DERP_FRAME_NOT_ALLOWED
#define UNEX DERP_FRAME_UNEXPECTED

static const struct rule_case rule_cases[] = {
	/* SendPacket: 32 <= len, len - 32 <= 65536. */
	{ 0x04, 0, BAD, BAD },
	{ 0x04, 31, BAD, BAD },
	{ 0x04, 32, OK, OK },
	{ 0x04, 33, OK, OK },
	{ 0x04, 32 + MAXP - 1, OK, OK },
	{ 0x04, 32 + MAXP, OK, OK },
	{ 0x04, 32 + MAXP + 1, BAD, BAD },
	{ 0x04, 0xffffffffu, BAD, BAD },
	/* NotePreferred: exactly 1. */
	{ 0x07, 0, BAD, BAD },
	{ 0x07, 1, OK, OK },
	{ 0x07, 2, BAD, BAD },
	{ 0x07, 0xffffffffu, BAD, BAD },
	/* ForwardPacket: permission before length, then 64 <= len <= 64 + 65536. */
	{ 0x0a, 0, NA, BAD },
	{ 0x0a, 63, NA, BAD },
	{ 0x0a, 64, NA, OK },
	{ 0x0a, 65, NA, OK },
	{ 0x0a, 64 + MAXP, NA, OK },
	{ 0x0a, 64 + MAXP + 1, NA, BAD },
	{ 0x0a, 0xffffffffu, NA, BAD },
	/* WatchConns: length 0 first, then permission. */
	{ 0x10, 0, NA, OK },
	{ 0x10, 1, BAD, BAD },
	{ 0x10, 0xffffffffu, BAD, BAD },
	/* ClosePeer: length 32 first, then permission. */
	{ 0x11, 0, BAD, BAD },
	{ 0x11, 31, BAD, BAD },
	{ 0x11, 32, NA, OK },
	{ 0x11, 33, BAD, BAD },
	/* Ping: 8 <= len <= 1000. */
	{ 0x12, 0, BAD, BAD },
	{ 0x12, 7, BAD, BAD },
	{ 0x12, 8, OK, OK },
	{ 0x12, 9, OK, OK },
	{ 0x12, 999, OK, OK },
	{ 0x12, 1000, OK, OK },
	{ 0x12, 1001, BAD, BAD },
	{ 0x12, 0xffffffffu, BAD, BAD },
	/* ClientInfo after the handshake. */
	{ 0x02, 0, UNEX, UNEX },
	{ 0x02, 104, UNEX, UNEX },
	{ 0x02, 0xffffffffu, UNEX, UNEX },
};

static void test_check_client_edges(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
		const struct rule_case *c = &rule_cases[i];
		enum derp_frame_verdict plain = derp_frame_check_client(c->type, c->len, false);
		enum derp_frame_verdict mesh = derp_frame_check_client(c->type, c->len, true);

		if (plain != c->plain || mesh != c->mesh)
			fail_msg("type 0x%02x len %u: got %s/%s, want %s/%s", c->type, c->len,
				 derp_frame_verdict_name(plain), derp_frame_verdict_name(mesh),
				 derp_frame_verdict_name(c->plain),
				 derp_frame_verdict_name(c->mesh));
	}
}

static void test_check_client_skips_everything_else(void **state)
{
	static const uint32_t lens[] = { 0, 1, 8, 32, 33, 51, 1000, 1001, 65600, 0xffffffffu };

	(void)state;
	for (unsigned t = 0; t < 256; t++) {
		switch (t) {
		case 0x02:
		case 0x04:
		case 0x07:
		case 0x0a:
		case 0x10:
		case 0x11:
		case 0x12:
			continue; /* the types derper reads, tested above */
		}
		/* Includes KeepAlive (0x06) and Pong (0x13) sent by a client. */
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			assert_int_equal(derp_frame_check_client((uint8_t)t, lens[i], false), SKIP);
			assert_int_equal(derp_frame_check_client((uint8_t)t, lens[i], true), SKIP);
		}
	}
}

static void test_verdict_names(void **state)
{
	(void)state;
	assert_string_equal(derp_frame_verdict_name(OK), "ok");
	assert_string_equal(derp_frame_verdict_name(SKIP), "skip");
	assert_string_equal(derp_frame_verdict_name(BAD), "bad length");
	assert_string_equal(derp_frame_verdict_name(NA), "not allowed");
	assert_string_equal(derp_frame_verdict_name(UNEX), "unexpected");
	assert_string_equal(derp_frame_verdict_name((enum derp_frame_verdict)99), "unknown");
}

/* ---- disco ---- */

static void test_disco(void **state)
{
	uint8_t pkt[100] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };

	(void)state;
	assert_true(derp_packet_is_disco(pkt, 62));
	assert_true(derp_packet_is_disco(pkt, 100));
	assert_false(derp_packet_is_disco(pkt, 61));
	assert_false(derp_packet_is_disco(pkt, 6));
	assert_false(derp_packet_is_disco(pkt, 0));
	for (int i = 0; i < 6; i++) {
		pkt[i] ^= 1;
		assert_false(derp_packet_is_disco(pkt, 62));
		pkt[i] ^= 1;
	}
}

/* ---- builders ---- */

/* Checks a built frame: its length and every byte. */
static void expect_frame(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len)
{
	assert_int_equal(got_len, want_len);
	assert_memory_equal(got, want, want_len);
}

static void test_build_fixed_vectors(void **state)
{
	static const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t ping[] = { 0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t pong[] = { 0x13, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t health_bad[] = { 0x14, 0, 0, 0, 3, 'B', 'A', 'D' };
	static const uint8_t health_ok[] = { 0x14, 0, 0, 0, 0 };
	static const uint8_t restarting[] = { 0x15, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 2 };
	static const uint8_t keep_alive[] = { 0x06, 0, 0, 0, 0 };
	static const uint8_t watch[] = { 0x10, 0, 0, 0, 0 };
	static const uint8_t pref1[] = { 0x07, 0, 0, 0, 1, 1 };
	static const uint8_t pref0[] = { 0x07, 0, 0, 0, 1, 0 };
	uint8_t b[64];

	(void)state;
	/* Each builder needs exactly the frame's size: one byte less gives 0. */
	expect_frame(b, derp_build_ping(b, sizeof(ping), data), ping, sizeof(ping));
	assert_int_equal(derp_build_ping(b, sizeof(ping) - 1, data), 0);
	expect_frame(b, derp_build_pong(b, sizeof(pong), data), pong, sizeof(pong));
	assert_int_equal(derp_build_pong(b, sizeof(pong) - 1, data), 0);
	expect_frame(b, derp_build_health(b, sizeof(health_bad), "BAD"), health_bad,
		     sizeof(health_bad));
	assert_int_equal(derp_build_health(b, sizeof(health_bad) - 1, "BAD"), 0);
	expect_frame(b, derp_build_health(b, sizeof(health_ok), ""), health_ok, sizeof(health_ok));
	assert_int_equal(derp_build_health(b, sizeof(health_ok) - 1, ""), 0);
	expect_frame(b, derp_build_restarting(b, sizeof(restarting), 1, 2), restarting,
		     sizeof(restarting));
	assert_int_equal(derp_build_restarting(b, sizeof(restarting) - 1, 1, 2), 0);
	expect_frame(b, derp_build_keep_alive(b, sizeof(keep_alive)), keep_alive,
		     sizeof(keep_alive));
	assert_int_equal(derp_build_keep_alive(b, sizeof(keep_alive) - 1), 0);
	expect_frame(b, derp_build_watch_conns(b, sizeof(watch)), watch, sizeof(watch));
	assert_int_equal(derp_build_watch_conns(b, sizeof(watch) - 1), 0);
	expect_frame(b, derp_build_note_preferred(b, sizeof(pref1), true), pref1, sizeof(pref1));
	expect_frame(b, derp_build_note_preferred(b, sizeof(pref0), false), pref0, sizeof(pref0));
	assert_int_equal(derp_build_note_preferred(b, sizeof(pref0) - 1, false), 0);
	assert_int_equal(derp_build_note_preferred(b, 0, false), 0);
}

static void test_build_server_key_vector(void **state)
{
	/* derp-protocol.md 3.4: server public key a4e09292...09f8a209. */
	static const uint8_t server_pub[KEY_LEN] = {
		0xa4, 0xe0, 0x92, 0x92, 0xb6, 0x51, 0xc2, 0x78, 0xb9, 0x77, 0x2c,
		0x56, 0x9f, 0x5f, 0xa9, 0xbb, 0x13, 0xd9, 0x06, 0xb4, 0x6a, 0xb6,
		0x8c, 0x9d, 0xf9, 0xdc, 0x2b, 0x44, 0x09, 0xf8, 0xa2, 0x09,
	};
	uint8_t want[45] = { 0x01, 0x00, 0x00, 0x00, 0x28, 0x44, 0x45,
			     0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91 };
	uint8_t b[64];

	(void)state;
	memcpy(want + 13, server_pub, KEY_LEN);
	expect_frame(b, derp_build_server_key(b, sizeof(want), server_pub), want, sizeof(want));
	assert_int_equal(derp_build_server_key(b, sizeof(want) - 1, server_pub), 0);
}

static void test_build_keyed_frames(void **state)
{
	uint8_t k1[KEY_LEN], k2[KEY_LEN], want[200], b[200];
	static const uint8_t ip16[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	static const uint8_t pkt[3] = { 0xaa, 0xbb, 0xcc };
	const uint8_t flags = DERP_PEER_PRESENT_IS_MESH_PEER | DERP_PEER_PRESENT_NOT_IDEAL;

	(void)state;
	key_fill(k1, 0x11);
	key_fill(k2, 0x22);

	/* PeerGone: key + reason = 33 bytes. */
	memcpy(want, "\x08\x00\x00\x00\x21", 5);
	memcpy(want + 5, k1, KEY_LEN);
	want[37] = 0x01;
	expect_frame(b, derp_build_peer_gone(b, 38, k1, DERP_PEER_GONE_NOT_HERE), want, 38);
	want[37] = 0x00;
	expect_frame(b, derp_build_peer_gone(b, 38, k1, DERP_PEER_GONE_DISCONNECTED), want, 38);
	assert_int_equal(derp_build_peer_gone(b, 37, k1, DERP_PEER_GONE_DISCONNECTED), 0);

	/* PeerPresent: key, IPv4-mapped 192.0.2.1, port 54321 BE, flags = 51 bytes. */
	memcpy(want, "\x09\x00\x00\x00\x33", 5);
	memcpy(want + 5, k1, KEY_LEN);
	memcpy(want + 37, ip16, 16);
	want[53] = 0xd4;
	want[54] = 0x31;
	want[55] = flags;
	expect_frame(b, derp_build_peer_present(b, 56, k1, ip16, 54321, flags), want, 56);
	assert_int_equal(derp_build_peer_present(b, 55, k1, ip16, 54321, flags), 0);

	/* ClosePeer. */
	memcpy(want, "\x11\x00\x00\x00\x20", 5);
	memcpy(want + 5, k2, KEY_LEN);
	expect_frame(b, derp_build_close_peer(b, 37, k2), want, 37);
	assert_int_equal(derp_build_close_peer(b, 36, k2), 0);

	/* RecvPacket and SendPacket: key then packet; an empty packet is fine. */
	memcpy(want, "\x05\x00\x00\x00\x23", 5);
	memcpy(want + 5, k1, KEY_LEN);
	memcpy(want + 37, pkt, 3);
	expect_frame(b, derp_build_recv_packet(b, 40, k1, pkt, 3), want, 40);
	assert_int_equal(derp_build_recv_packet(b, 39, k1, pkt, 3), 0);
	want[0] = 0x04;
	expect_frame(b, derp_build_send_packet(b, 40, k1, pkt, 3), want, 40);
	assert_int_equal(derp_build_send_packet(b, 39, k1, pkt, 3), 0);
	want[4] = 0x20;
	expect_frame(b, derp_build_send_packet(b, 37, k1, NULL, 0), want, 37);

	/* ForwardPacket: src, dst, packet. */
	memcpy(want, "\x0a\x00\x00\x00\x43", 5);
	memcpy(want + 5, k1, KEY_LEN);
	memcpy(want + 37, k2, KEY_LEN);
	memcpy(want + 69, pkt, 3);
	expect_frame(b, derp_build_forward_packet(b, 72, k1, k2, pkt, 3), want, 72);
	assert_int_equal(derp_build_forward_packet(b, 71, k1, k2, pkt, 3), 0);
}

static void test_build_max_packet(void **state)
{
	size_t cap = DERP_FRAME_HDR_LEN + 2 * KEY_LEN + MAXP;
	uint8_t *buf = malloc(cap), *pkt = malloc(MAXP), k[KEY_LEN], type;
	uint32_t len;

	(void)state;
	assert_non_null(buf);
	assert_non_null(pkt);
	key_fill(k, 7);
	for (size_t i = 0; i < MAXP; i++)
		pkt[i] = (uint8_t)(i * 31);
	assert_int_equal(derp_build_recv_packet(buf, cap, k, pkt, MAXP),
			 DERP_FRAME_HDR_LEN + KEY_LEN + MAXP);
	derp_frame_header_get(buf, &type, &len);
	assert_int_equal(len, KEY_LEN + MAXP);
	assert_int_equal(derp_frame_check_client(DERP_FRAME_SEND_PACKET, len, false), OK);
	assert_memory_equal(buf + DERP_FRAME_HDR_LEN + KEY_LEN, pkt, MAXP);
	assert_int_equal(derp_build_forward_packet(buf, cap, k, k, pkt, MAXP), cap);
	derp_frame_header_get(buf, &type, &len);
	assert_int_equal(derp_frame_check_client(type, len, true), OK);
	free(buf);
	free(pkt);
}

/*
 * In place: a received SendPacket and ForwardPacket become, byte for byte,
 * the RecvPacket the builder makes, without touching the packet.
 */
static void test_recv_packet_in_place(void **state)
{
	uint8_t k1[KEY_LEN], k2[KEY_LEN], k3[KEY_LEN], pkt[1400];
	uint8_t want[DERP_FRAME_HDR_LEN + KEY_LEN + sizeof(pkt)];
	uint8_t b[DERP_FRAME_HDR_LEN + 2 * KEY_LEN + sizeof(pkt)];

	(void)state;
	key_fill(k1, 1);
	key_fill(k2, 2);
	key_fill(k3, 3);
	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 1);
	size_t n = derp_build_recv_packet(want, sizeof(want), k1, pkt, sizeof(pkt));
	assert_int_equal(n, sizeof(want));

	/* SendPacket from k1 to k2: the source is the sender's connection key. */
	assert_int_equal(derp_build_send_packet(b, sizeof(b), k2, pkt, sizeof(pkt)),
			 DERP_FRAME_HDR_LEN + KEY_LEN + sizeof(pkt));
	assert_int_equal(derp_recv_packet_in_place(b, k1, sizeof(pkt)), n);
	assert_memory_equal(b, want, n);

	/* ForwardPacket k1 -> k3: the frame starts 32 bytes in, the source key overlaps it. */
	assert_int_equal(derp_build_forward_packet(b, sizeof(b), k1, k3, pkt, sizeof(pkt)),
			 sizeof(b));
	assert_int_equal(
	    derp_recv_packet_in_place(b + KEY_LEN, b + DERP_FRAME_HDR_LEN, sizeof(pkt)), n);
	assert_memory_equal(b + KEY_LEN, want, n);

	/* An empty packet. */
	derp_build_recv_packet(want, sizeof(want), k1, NULL, 0);
	derp_build_send_packet(b, sizeof(b), k2, NULL, 0);
	assert_int_equal(derp_recv_packet_in_place(b, k1, 0), DERP_FRAME_HDR_LEN + KEY_LEN);
	assert_memory_equal(b, want, DERP_FRAME_HDR_LEN + KEY_LEN);
}

/* ---- reader ---- */

/* A frame kept by the tests: its type and payload. */
struct tframe {
	uint8_t type;
	uint32_t len;
	uint8_t *payload;
};

/* Deterministic xorshift, so that failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

/* Builds n frames of random types and lengths up to max_len into one stream. */
static uint8_t *make_stream(struct tframe *frames, size_t n, uint32_t max_len, size_t *out_len)
{
	size_t total = 0, off = 0;
	uint8_t *s;

	for (size_t i = 0; i < n; i++) {
		frames[i].type = (uint8_t)rng();
		/* Plenty of empty and tiny frames, some big ones. */
		switch (rng() % 4) {
		case 0:
			frames[i].len = 0;
			break;
		case 1:
			frames[i].len = rng() % 9;
			break;
		default:
			frames[i].len = rng() % (max_len + 1);
		}
		total += DERP_FRAME_HDR_LEN + frames[i].len;
	}
	s = malloc(total ? total : 1);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		derp_frame_header_put(s + off, frames[i].type, frames[i].len);
		off += DERP_FRAME_HDR_LEN;
		frames[i].payload = s + off;
		for (uint32_t j = 0; j < frames[i].len; j++)
			s[off + j] = (uint8_t)rng();
		off += frames[i].len;
	}
	*out_len = total;
	return s;
}

/*
 * Feeds stream into a reader in chunks of chunk() bytes, checking that the
 * frames come out whole and in order, and that NEED_MORE is only reported
 * when the buffered bytes really are an incomplete frame.
 */
static void feed_and_check(const uint8_t *stream, size_t len, const struct tframe *frames,
			   size_t nframes, size_t cap, size_t (*chunk)(size_t pos))
{
	uint8_t *buf = malloc(cap);
	struct derp_frame_reader r;
	size_t pos = 0, got = 0;

	assert_non_null(buf);
	derp_frame_reader_init(&r, buf, cap);
	while (pos < len || got < nframes) {
		size_t want = chunk(pos);

		if (want > len - pos)
			want = len - pos;
		pos += derp_frame_reader_append(&r, stream + pos, want);
		for (;;) {
			uint8_t type;
			const uint8_t *payload;
			uint32_t plen;
			enum derp_read_status st =
			    derp_frame_reader_next(&r, UINT32_MAX, &type, &payload, &plen);

			if (st == DERP_READ_NEED_MORE)
				break;
			assert_int_equal(st, DERP_READ_FRAME);
			assert_true(got < nframes);
			assert_int_equal(type, frames[got].type);
			assert_int_equal(plen, frames[got].len);
			if (plen)
				assert_memory_equal(payload, frames[got].payload, plen);
			got++;
		}
		if (pos == len && got < nframes)
			fail_msg("stream fed but only %zu of %zu frames came out", got, nframes);
	}
	assert_int_equal(got, nframes);
	assert_int_equal(r.len - r.start, 0);
	free(buf);
}

static size_t chunk_one(size_t pos)
{
	(void)pos;
	return 1;
}

static size_t chunk_random(size_t pos)
{
	(void)pos;
	switch (rng() % 3) {
	case 0:
		return 1 + rng() % 7;
	case 1:
		return 1 + rng() % 700;
	default:
		return 1 + rng() % 9000;
	}
}

static size_t chunk_huge(size_t pos)
{
	(void)pos;
	return SIZE_MAX;
}

static void test_reader_single_frame(void **state)
{
	static const uint8_t ping[] = { 0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t buf[64], type;
	struct derp_frame_reader r;
	const uint8_t *payload;
	uint32_t len;

	(void)state;
	derp_frame_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(derp_frame_reader_next(&r, 100, &type, &payload, &len),
			 DERP_READ_NEED_MORE);
	assert_int_equal(derp_frame_reader_append(&r, ping, sizeof(ping)), sizeof(ping));
	assert_int_equal(derp_frame_reader_next(&r, 100, &type, &payload, &len), DERP_READ_FRAME);
	assert_int_equal(type, DERP_FRAME_PING);
	assert_int_equal(len, 8);
	assert_memory_equal(payload, ping + 5, 8);
	assert_int_equal(derp_frame_reader_next(&r, 100, &type, &payload, &len),
			 DERP_READ_NEED_MORE);
	assert_null(payload);
}

static void test_reader_byte_by_byte(void **state)
{
	struct tframe frames[300];
	size_t len;
	uint8_t *s = make_stream(frames, 300, 300, &len);

	(void)state;
	feed_and_check(s, len, frames, 300, 400, chunk_one);
	free(s);
}

static void test_reader_truncated_header_and_payload(void **state)
{
	uint8_t frame[5 + 33], buf[64], type;
	struct derp_frame_reader r;
	const uint8_t *payload;
	uint32_t len;

	(void)state;
	derp_frame_header_put(frame, DERP_FRAME_SEND_PACKET, 33);
	memset(frame + 5, 9, 32);
	frame[37] = 0x42;
	/* Every proper prefix is NEED_MORE; the last byte completes it. */
	derp_frame_reader_init(&r, buf, sizeof(buf));
	for (size_t i = 0; i + 1 < sizeof(frame); i++) {
		assert_int_equal(derp_frame_reader_append(&r, frame + i, 1), 1);
		assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &payload, &len),
				 DERP_READ_NEED_MORE);
	}
	assert_int_equal(derp_frame_reader_append(&r, frame + sizeof(frame) - 1, 1), 1);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &payload, &len), DERP_READ_FRAME);
	assert_int_equal(type, DERP_FRAME_SEND_PACKET);
	assert_int_equal(len, 33);
	assert_int_equal(payload[32], 0x42);
}

static void test_reader_every_split_point(void **state)
{
	struct tframe frames[3];
	size_t len;
	uint8_t *s;

	(void)state;
	frames[0].type = 0x04;
	frames[1].type = 0x06;
	frames[2].type = 0x12;
	uint8_t payload0[40], payload2[8];
	memset(payload0, 0x5a, sizeof(payload0));
	memset(payload2, 0xa5, sizeof(payload2));
	frames[0].len = sizeof(payload0);
	frames[0].payload = payload0;
	frames[1].len = 0;
	frames[1].payload = NULL;
	frames[2].len = sizeof(payload2);
	frames[2].payload = payload2;
	len = 3 * DERP_FRAME_HDR_LEN + 48;
	s = malloc(len);
	assert_non_null(s);
	derp_frame_header_put(s, 0x04, 40);
	memcpy(s + 5, payload0, 40);
	derp_frame_header_put(s + 45, 0x06, 0);
	derp_frame_header_put(s + 50, 0x12, 8);
	memcpy(s + 55, payload2, 8);

	/* Two appends, split at every position. */
	for (size_t split = 0; split <= len; split++) {
		uint8_t buf[128], type;
		struct derp_frame_reader r;
		const uint8_t *p;
		uint32_t plen;
		size_t got = 0;

		derp_frame_reader_init(&r, buf, sizeof(buf));
		assert_int_equal(derp_frame_reader_append(&r, s, split), split);
		while (derp_frame_reader_next(&r, MAXP, &type, &p, &plen) == DERP_READ_FRAME) {
			assert_int_equal(type, frames[got].type);
			assert_int_equal(plen, frames[got].len);
			got++;
		}
		assert_int_equal(derp_frame_reader_append(&r, s + split, len - split), len - split);
		while (derp_frame_reader_next(&r, MAXP, &type, &p, &plen) == DERP_READ_FRAME) {
			assert_int_equal(type, frames[got].type);
			assert_int_equal(plen, frames[got].len);
			if (plen)
				assert_memory_equal(p, frames[got].payload, plen);
			got++;
		}
		assert_int_equal(got, 3);
	}
	free(s);
}

static void test_reader_random_chunks(void **state)
{
	enum { N = 3000 };
	struct tframe *frames = calloc(N, sizeof(*frames));
	size_t len;
	uint8_t *s;

	(void)state;
	assert_non_null(frames);
	s = make_stream(frames, N, 5000, &len);
	/* Buffer just big enough for the largest frame: append must fill it up. */
	feed_and_check(s, len, frames, N, DERP_FRAME_HDR_LEN + 5000, chunk_random);
	feed_and_check(s, len, frames, N, 1 << 20, chunk_random);
	/* Whole stream offered at once: append takes what fits each round. */
	feed_and_check(s, len, frames, N, DERP_FRAME_HDR_LEN + 5000, chunk_huge);
	free(s);
	free(frames);
}

static void test_reader_append_partial_when_full(void **state)
{
	uint8_t stream[3 * 20], buf[20], type;
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;

	(void)state;
	for (int i = 0; i < 3; i++) {
		derp_frame_header_put(stream + 20 * i, (uint8_t)(0x30 + i), 15);
		memset(stream + 20 * i + 5, i, 15);
	}
	derp_frame_reader_init(&r, buf, sizeof(buf));
	/* Only one frame fits; the rest is refused until the frame is taken. */
	assert_int_equal(derp_frame_reader_append(&r, stream, sizeof(stream)), 20);
	assert_int_equal(derp_frame_reader_append(&r, stream + 20, 40), 0);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_FRAME);
	assert_int_equal(type, 0x30);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_NEED_MORE);
	assert_int_equal(derp_frame_reader_append(&r, stream + 20, 40), 20);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_FRAME);
	assert_int_equal(type, 0x31);
	assert_int_equal(p[14], 1);
}

static void test_reader_too_large(void **state)
{
	static const uint8_t huge[] = { 0x05, 0xff, 0xff, 0xff, 0xff };
	uint8_t buf[256], hdr[5], type;
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;

	(void)state;
	/* Section 8.1: the header decodes; the length limit is enforced after. */
	derp_frame_reader_init(&r, buf, sizeof(buf));
	derp_frame_reader_append(&r, huge, sizeof(huge));
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_TOO_LARGE);
	assert_int_equal(type, 0x05);
	assert_int_equal(len, 0xffffffffu);
	assert_null(p);
	/* Sticky until the caller skips or closes. */
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_TOO_LARGE);

	/* At max_payload: fine; one above: too large, known before the payload. */
	derp_frame_reader_init(&r, buf, sizeof(buf));
	derp_frame_header_put(hdr, 0x12, 100);
	derp_frame_reader_append(&r, hdr, 5);
	assert_int_equal(derp_frame_reader_next(&r, 100, &type, &p, &len), DERP_READ_NEED_MORE);
	assert_int_equal(derp_frame_reader_next(&r, 99, &type, &p, &len), DERP_READ_TOO_LARGE);
	assert_int_equal(len, 100);

	/* A frame that can never fit the buffer is too large whatever the limit. */
	derp_frame_reader_init(&r, buf, sizeof(buf));
	derp_frame_header_put(hdr, 0x04, sizeof(buf) - 5);
	derp_frame_reader_append(&r, hdr, 5);
	assert_int_equal(derp_frame_reader_next(&r, UINT32_MAX, &type, &p, &len),
			 DERP_READ_NEED_MORE);
	derp_frame_reader_init(&r, buf, sizeof(buf));
	derp_frame_header_put(hdr, 0x04, sizeof(buf) - 4);
	derp_frame_reader_append(&r, hdr, 5);
	assert_int_equal(derp_frame_reader_next(&r, UINT32_MAX, &type, &p, &len),
			 DERP_READ_TOO_LARGE);
	assert_int_equal(len, sizeof(buf) - 4);
}

/* Skipping an unknown frame much larger than the buffer, fed in pieces. */
static void test_reader_skip_streamed(void **state)
{
	enum { SKIP_LEN = 100000 };
	static const uint8_t ping[] = { 0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t len = 5 + SKIP_LEN + sizeof(ping), pos = 0;
	uint8_t *s = malloc(len), buf[1024], type;
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t plen;
	bool skipped = false, got_ping = false;

	(void)state;
	assert_non_null(s);
	derp_frame_header_put(s, 0x42, SKIP_LEN);
	memset(s + 5, 0xee, SKIP_LEN);
	memcpy(s + 5 + SKIP_LEN, ping, sizeof(ping));

	derp_frame_reader_init(&r, buf, sizeof(buf));
	while (pos < len) {
		size_t n = 1 + rng() % 3000;

		if (n > len - pos)
			n = len - pos;
		pos += derp_frame_reader_append(&r, s + pos, n);
		/* Nothing of the skipped payload is ever held. */
		assert_true(r.len <= sizeof(buf));
		for (;;) {
			enum derp_read_status st =
			    derp_frame_reader_next(&r, MAXP, &type, &p, &plen);

			if (st == DERP_READ_NEED_MORE)
				break;
			if (st == DERP_READ_TOO_LARGE) {
				assert_false(skipped);
				assert_int_equal(type, 0x42);
				assert_int_equal(plen, SKIP_LEN);
				assert_int_equal(derp_frame_check_client(type, plen, false), SKIP);
				assert_true(derp_frame_reader_skip_frame(&r));
				skipped = true;
				continue;
			}
			assert_true(skipped);
			assert_int_equal(type, DERP_FRAME_PING);
			assert_memory_equal(p, ping + 5, 8);
			got_ping = true;
		}
	}
	assert_true(got_ping);
	assert_int_equal(r.skip, 0);
	free(s);
}

/* Skipping a frame whose payload is already buffered (small max_payload). */
static void test_reader_skip_buffered(void **state)
{
	uint8_t s[5 + 50 + 5], buf[256], type;
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;

	(void)state;
	derp_frame_header_put(s, 0x77, 50);
	memset(s + 5, 1, 50);
	derp_frame_header_put(s + 55, DERP_FRAME_KEEP_ALIVE, 0);
	derp_frame_reader_init(&r, buf, sizeof(buf));
	assert_false(derp_frame_reader_skip_frame(&r)); /* nothing to skip yet */
	derp_frame_reader_append(&r, s, 3);
	assert_false(derp_frame_reader_skip_frame(&r)); /* half a header */
	derp_frame_reader_append(&r, s + 3, sizeof(s) - 3);
	assert_int_equal(derp_frame_reader_next(&r, 49, &type, &p, &len), DERP_READ_TOO_LARGE);
	assert_true(derp_frame_reader_skip_frame(&r));
	assert_int_equal(r.skip, 0);
	assert_int_equal(derp_frame_reader_next(&r, 49, &type, &p, &len), DERP_READ_FRAME);
	assert_int_equal(type, DERP_FRAME_KEEP_ALIVE);
	assert_int_equal(len, 0);
}

/* A 4 GiB unknown frame is skipped without ever storing its payload. */
static void test_reader_skip_max_length(void **state)
{
	enum { CHUNK = 1 << 20 };
	static const uint8_t hdr[] = { 0x99, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t pong[] = { 0x13, 0, 0, 0, 8, 8, 7, 6, 5, 4, 3, 2, 1 };
	uint8_t *junk = calloc(1, CHUNK), buf[64], type;
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;
	uint64_t left = 0xffffffffull;

	(void)state;
	assert_non_null(junk);
	derp_frame_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(derp_frame_reader_append(&r, hdr, 5), 5);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_TOO_LARGE);
	assert_true(derp_frame_reader_skip_frame(&r));
	assert_int_equal(r.skip, 0xffffffffull);
	while (left > 0) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;

		assert_int_equal(derp_frame_reader_append(&r, junk, n), n);
		assert_int_equal(r.len - r.start, 0);
		left -= n;
	}
	assert_int_equal(r.skip, 0);
	assert_int_equal(derp_frame_reader_append(&r, pong, sizeof(pong)), sizeof(pong));
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_FRAME);
	assert_int_equal(type, DERP_FRAME_PONG);
	assert_memory_equal(p, pong + 5, 8);
	free(junk);
}

/* The skip ends inside an append, and the rest of that append is kept. */
static void test_reader_skip_then_frame_in_same_append(void **state)
{
	uint8_t s[5 + 10 + 13], buf[16], type;
	static const uint8_t ping[] = { 0x12, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;

	(void)state;
	derp_frame_header_put(s, 0x20, 10);
	memset(s + 5, 0, 10);
	memcpy(s + 15, ping, sizeof(ping));
	derp_frame_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(derp_frame_reader_append(&r, s, 7), 7);
	assert_int_equal(derp_frame_reader_next(&r, 4, &type, &p, &len), DERP_READ_TOO_LARGE);
	assert_true(derp_frame_reader_skip_frame(&r));
	assert_int_equal(r.skip, 8);
	assert_int_equal(derp_frame_reader_append(&r, s + 7, sizeof(s) - 7), sizeof(s) - 7);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_FRAME);
	assert_int_equal(type, DERP_FRAME_PING);
	assert_memory_equal(p, ping + 5, 8);
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_NEED_MORE);
}

/* Built frames read back through the reader, as a server would see them. */
static void test_reader_reads_built_frames(void **state)
{
	uint8_t stream[512], buf[512], k[KEY_LEN], type;
	static const uint8_t data[8] = { 1, 2, 3, 4, 5, 6, 7, 0x2a };
	struct derp_frame_reader r;
	const uint8_t *p;
	uint32_t len;
	size_t n = 0;

	(void)state;
	key_fill(k, 3);
	n += derp_build_send_packet(stream + n, sizeof(stream) - n, k, data, 8);
	n += derp_build_note_preferred(stream + n, sizeof(stream) - n, true);
	n += derp_build_ping(stream + n, sizeof(stream) - n, data);
	n += derp_build_watch_conns(stream + n, sizeof(stream) - n);
	n += derp_build_close_peer(stream + n, sizeof(stream) - n, k);
	n += derp_build_forward_packet(stream + n, sizeof(stream) - n, k, k, data, 8);
	derp_frame_reader_init(&r, buf, sizeof(buf));
	assert_int_equal(derp_frame_reader_append(&r, stream, n), n);

	static const uint8_t want_types[] = { 0x04, 0x07, 0x12, 0x10, 0x11, 0x0a };
	for (size_t i = 0; i < sizeof(want_types); i++) {
		assert_int_equal(derp_frame_reader_next(&r, MAXP + 64, &type, &p, &len),
				 DERP_READ_FRAME);
		assert_int_equal(type, want_types[i]);
		assert_int_equal(derp_frame_check_client(type, len, true), OK);
	}
	assert_int_equal(derp_frame_reader_next(&r, MAXP, &type, &p, &len), DERP_READ_NEED_MORE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_vectors),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_check_client_edges),
		cmocka_unit_test(test_check_client_skips_everything_else),
		cmocka_unit_test(test_verdict_names),
		cmocka_unit_test(test_disco),
		cmocka_unit_test(test_build_fixed_vectors),
		cmocka_unit_test(test_build_server_key_vector),
		cmocka_unit_test(test_build_keyed_frames),
		cmocka_unit_test(test_build_max_packet),
		cmocka_unit_test(test_reader_single_frame),
		cmocka_unit_test(test_reader_byte_by_byte),
		cmocka_unit_test(test_reader_truncated_header_and_payload),
		cmocka_unit_test(test_reader_every_split_point),
		cmocka_unit_test(test_reader_random_chunks),
		cmocka_unit_test(test_reader_append_partial_when_full),
		cmocka_unit_test(test_reader_too_large),
		cmocka_unit_test(test_reader_skip_streamed),
		cmocka_unit_test(test_reader_skip_buffered),
		cmocka_unit_test(test_reader_skip_max_length),
		cmocka_unit_test(test_reader_skip_then_frame_in_same_append),
		cmocka_unit_test(test_reader_reads_built_frames),
		cmocka_unit_test(test_recv_packet_in_place),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
