// SPDX-License-Identifier: MIT
/*
 * Unit tests for ws_frame.c: client frames decoded whole, byte by byte and in
 * place, fragmented messages with control frames between the fragments, the
 * three length encodings, every protocol error, and the server encoders.
 * Frame bytes follow RFC 6455 section 5.2 (and the masked "Hello" of 5.7).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

static const uint8_t mask_key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* A masked client frame: b0 is FIN|RSV|opcode as sent. Returns its length. */
static size_t client_frame(uint8_t *out, uint8_t b0, const uint8_t *p, size_t len)
{
	size_t at = 2;
	out[0] = b0;
	if (len < 126) {
		out[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		at = 4;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
		at = 10;
	}
	memcpy(out + at, mask_key, 4);
	at += 4;
	for (size_t i = 0; i < len; i++)
		out[at + i] = p[i] ^ mask_key[i & 3];
	return at + len;
}

/* Decodes all of in, appending data to out; stops at the first non-data event. */
static enum ws_event decode_all(struct ws_decoder *d, const uint8_t *in, size_t n, size_t step,
				uint8_t *out, size_t *out_len, size_t *consumed)
{
	size_t pos = 0;
	*out_len = 0;
	while (pos < n) {
		size_t chunk = n - pos < step ? n - pos : step;
		size_t used, got;
		enum ws_event ev = ws_decode(d, in + pos, chunk, &used, out + *out_len, 7, &got);
		assert_true(used <= chunk);
		pos += used;
		*out_len += got;
		if (ev == WS_EV_DATA) {
			assert_true(got > 0 && got <= 7);
			continue;
		}
		if (ev != WS_EV_MORE) {
			*consumed = pos;
			return ev;
		}
		assert_int_equal(used, chunk);
	}
	*consumed = pos;
	return WS_EV_MORE;
}

static void test_rfc_masked_hello(void **state)
{
	/* RFC 6455 5.7: a single-frame masked text "Hello"; as binary here. */
	uint8_t in[] = { 0x82, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
	struct ws_decoder d;
	uint8_t out[16];
	size_t used, got;
	(void)state;
	ws_decoder_init(&d);
	assert_int_equal(ws_decode(&d, in, sizeof(in), &used, out, sizeof(out), &got), WS_EV_DATA);
	assert_int_equal(used, sizeof(in));
	assert_int_equal(got, 5);
	assert_memory_equal(out, "Hello", 5);
	assert_int_equal(ws_decode(&d, in, 0, &used, out, sizeof(out), &got), WS_EV_MORE);
}

static void test_lengths_and_chunking(void **state)
{
	static const size_t lens[] = { 0, 1, 125, 126, 127, 1000, 65535, 65536, 70001 };
	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		static const size_t steps[] = { 1, 3, 13, 4096, 1 << 20 };
		size_t len = lens[i];
		uint8_t *p = malloc(len + 1), *in = malloc(len + 14), *out = malloc(len + 8);
		assert_non_null(p);
		assert_non_null(in);
		assert_non_null(out);
		for (size_t k = 0; k < len; k++)
			p[k] = (uint8_t)(k * 7 + 3);
		size_t n = client_frame(in, 0x82, p, len);
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			struct ws_decoder d;
			size_t got, consumed;
			ws_decoder_init(&d);
			assert_int_equal(decode_all(&d, in, n, steps[s], out, &got, &consumed),
					 WS_EV_MORE);
			assert_int_equal(consumed, n);
			assert_int_equal(got, len);
			assert_memory_equal(out, p, len);
			assert_false(d.in_message);
			assert_false(d.in_payload);
		}
		free(p);
		free(in);
		free(out);
	}
}

static void test_fragments_with_control_between(void **state)
{
	uint8_t in[256], out[64];
	size_t n = 0, got, consumed;
	struct ws_decoder d;
	(void)state;
	n += client_frame(in + n, 0x02, (const uint8_t *)"abc", 3);  /* binary, not FIN */
	n += client_frame(in + n, 0x89, (const uint8_t *)"pi", 2);   /* ping */
	n += client_frame(in + n, 0x00, (const uint8_t *)"defg", 4); /* continuation */
	n += client_frame(in + n, 0x8a, NULL, 0);		     /* pong */
	n += client_frame(in + n, 0x80, (const uint8_t *)"h", 1);    /* final continuation */
	n += client_frame(in + n, 0x82, (const uint8_t *)"ij", 2);   /* next message */
	ws_decoder_init(&d);

	assert_int_equal(decode_all(&d, in, n, 5, out, &got, &consumed), WS_EV_PING);
	assert_int_equal(got, 3);
	assert_memory_equal(out, "abc", 3);
	assert_int_equal(d.control_len, 2);
	assert_memory_equal(d.control, "pi", 2);
	size_t pos = consumed;
	assert_int_equal(decode_all(&d, in + pos, n - pos, 5, out, &got, &consumed), WS_EV_PONG);
	assert_int_equal(got, 4);
	assert_memory_equal(out, "defg", 4);
	pos += consumed;
	assert_int_equal(decode_all(&d, in + pos, n - pos, 5, out, &got, &consumed), WS_EV_MORE);
	assert_int_equal(got, 3);
	assert_memory_equal(out, "hij", 3);
	assert_false(d.in_message);
}

static void test_close_event(void **state)
{
	uint8_t in[32], out[8];
	const uint8_t payload[] = { 0x03, 0xe8, 'b', 'y', 'e' };
	size_t used, got;
	struct ws_decoder d;
	(void)state;
	ws_decoder_init(&d);
	size_t n = client_frame(in, 0x88, payload, sizeof(payload));
	assert_int_equal(ws_decode(&d, in, n, &used, out, sizeof(out), &got), WS_EV_CLOSE);
	assert_int_equal(used, n);
	assert_int_equal(ws_close_code(d.control, d.control_len), 1000);
	assert_int_equal(ws_close_code(NULL, 0), 1005);
}

static void test_in_place(void **state)
{
	uint8_t buf[300], p[200];
	size_t used, got;
	struct ws_decoder d;
	(void)state;
	for (size_t i = 0; i < sizeof(p); i++)
		p[i] = (uint8_t)(i ^ 0x5a);
	size_t n = client_frame(buf, 0x82, p, sizeof(p));
	ws_decoder_init(&d);
	assert_int_equal(ws_decode(&d, buf, n, &used, buf, sizeof(buf), &got), WS_EV_DATA);
	assert_int_equal(got, sizeof(p));
	assert_memory_equal(buf, p, sizeof(p));
}

static void expect_error(const uint8_t *in, size_t n, bool fragmented_first, uint16_t code)
{
	struct ws_decoder d;
	uint8_t out[8], frag[16];
	size_t used, got;
	ws_decoder_init(&d);
	if (fragmented_first) {
		size_t k = client_frame(frag, 0x02, (const uint8_t *)"x", 1);
		assert_int_equal(ws_decode(&d, frag, k, &used, out, sizeof(out), &got), WS_EV_DATA);
		assert_true(d.in_message);
	}
	assert_int_equal(ws_decode(&d, in, n, &used, out, sizeof(out), &got), WS_EV_ERROR);
	assert_non_null(d.error);
	assert_int_equal(d.close_code, code);
	/* Sticky: nothing more is read. */
	assert_int_equal(ws_decode(&d, in, n, &used, out, sizeof(out), &got), WS_EV_ERROR);
	assert_int_equal(used, 0);
}

static void test_errors(void **state)
{
	uint8_t in[200], big[130];
	(void)state;
	memset(big, 1, sizeof(big));
	/* Unmasked client frame. */
	const uint8_t unmasked[] = { 0x82, 0x01, 'x' };
	expect_error(unmasked, sizeof(unmasked), false, WS_CLOSE_PROTOCOL_ERROR);
	/* RSV1 (compression was not negotiated). */
	expect_error(in, client_frame(in, 0xc2, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	/* Text message. */
	expect_error(in, client_frame(in, 0x81, big, 1), false, WS_CLOSE_UNSUPPORTED);
	/* Reserved opcodes. */
	expect_error(in, client_frame(in, 0x83, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	expect_error(in, client_frame(in, 0x8b, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	/* Continuation without a message. */
	expect_error(in, client_frame(in, 0x80, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	/* A new binary message inside a fragmented one. */
	expect_error(in, client_frame(in, 0x82, big, 1), true, WS_CLOSE_PROTOCOL_ERROR);
	/* Fragmented ping; ping over 125 bytes; close with one byte. */
	expect_error(in, client_frame(in, 0x09, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	expect_error(in, client_frame(in, 0x89, big, 126), false, WS_CLOSE_PROTOCOL_ERROR);
	expect_error(in, client_frame(in, 0x88, big, 1), false, WS_CLOSE_PROTOCOL_ERROR);
	/* 64-bit length with the top bit set. */
	const uint8_t huge[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4 };
	expect_error(huge, sizeof(huge), false, WS_CLOSE_PROTOCOL_ERROR);
}

/* An error is found on the header's first two bytes, without waiting for the rest. */
static void test_error_on_two_bytes(void **state)
{
	const uint8_t text[] = { 0x81, 0xfe };
	struct ws_decoder d;
	uint8_t out[4];
	size_t used, got;
	(void)state;
	ws_decoder_init(&d);
	assert_int_equal(ws_decode(&d, text, 1, &used, out, sizeof(out), &got), WS_EV_MORE);
	assert_int_equal(ws_decode(&d, text + 1, 1, &used, out, sizeof(out), &got), WS_EV_ERROR);
}

static void test_server_header(void **state)
{
	static const struct {
		uint64_t len;
		size_t hlen;
		uint8_t bytes[10];
	} vec[] = {
		{ 0, 2, { 0x82, 0 } },
		{ 125, 2, { 0x82, 125 } },
		{ 126, 4, { 0x82, 126, 0, 126 } },
		{ 65535, 4, { 0x82, 126, 0xff, 0xff } },
		{ 65536, 10, { 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0 } },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		uint8_t h[WS_SERVER_HDR_MAX];
		assert_int_equal(ws_server_header(h, WS_OP_BINARY, vec[i].len), vec[i].hlen);
		assert_memory_equal(h, vec[i].bytes, vec[i].hlen);
	}
	uint8_t f[WS_CLOSE_FRAME_MAX];
	assert_int_equal(ws_server_control(f, sizeof(f), WS_OP_PONG, (const uint8_t *)"ab", 2), 4);
	assert_memory_equal(f,
			    "\x8a\x02"
			    "ab",
			    4);
	assert_int_equal(ws_server_control(f, 3, WS_OP_PONG, (const uint8_t *)"ab", 2), 0);
	uint8_t big[126] = { 0 };
	assert_int_equal(ws_server_control(f, sizeof(f), WS_OP_PING, big, 126), 0);
}

/* The client side: the server's frames are unmasked, a masked one is an error. */
static void test_client_side(void **state)
{
	const uint8_t hello[] = { 0x82, 0x05, 'H', 'e', 'l', 'l', 'o' };
	struct ws_decoder d;
	uint8_t out[16], in[64];
	size_t used, got;
	(void)state;
	ws_decoder_init_client(&d);
	assert_int_equal(ws_decode(&d, hello, sizeof(hello), &used, out, sizeof(out), &got),
			 WS_EV_DATA);
	assert_int_equal(got, 5);
	assert_memory_equal(out, "Hello", 5);

	ws_decoder_init_client(&d);
	size_t n = client_frame(in, 0x82, (const uint8_t *)"x", 1);
	assert_int_equal(ws_decode(&d, in, n, &used, out, sizeof(out), &got), WS_EV_ERROR);

	/* What the client encoders make, the relay's decoder reads back. */
	const uint8_t payload[300] = { 1, 2, 3 };
	uint8_t frame[WS_HDR_MAX + sizeof(payload)], back[sizeof(payload)];
	size_t hlen = ws_client_header(frame, WS_OP_BINARY, sizeof(payload), mask_key);
	assert_int_equal(hlen, 8);
	ws_mask(frame + hlen, payload, sizeof(payload), mask_key, 0);
	ws_decoder_init(&d);
	assert_int_equal(
	    ws_decode(&d, frame, hlen + sizeof(payload), &used, back, sizeof(back), &got),
	    WS_EV_DATA);
	assert_int_equal(got, sizeof(payload));
	assert_memory_equal(back, payload, sizeof(payload));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_masked_hello),
		cmocka_unit_test(test_lengths_and_chunking),
		cmocka_unit_test(test_fragments_with_control_between),
		cmocka_unit_test(test_close_event),
		cmocka_unit_test(test_in_place),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_on_two_bytes),
		cmocka_unit_test(test_server_header),
		cmocka_unit_test(test_client_side),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
