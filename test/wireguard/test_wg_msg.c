// SPDX-License-Identifier: MIT
/*
 * BLAKE2s against RFC 7693 (appendix B, and appendix E's inputs keyed) and the
 * reference keyed vectors; MAC1 against vectors from an independent BLAKE2s
 * (Python's hashlib); the message classifier on every type, every exact
 * length and one byte either side, and reserved bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "blake2s.h"
#include "wg_msg.h"

static void unhex(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void assert_hex(const uint8_t *got, const char *want_hex, size_t len)
{
	uint8_t want[64];

	unhex(want_hex, want, len);
	assert_memory_equal(got, want, len);
}

static void test_blake2s_rfc_abc(void **state)
{
	uint8_t out[32];

	(void)state;
	blake2s(out, 32, NULL, 0, "abc", 3);
	assert_hex(out, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982", 32);
	blake2s(out, 32, NULL, 0, "", 0);
	assert_hex(out, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9", 32);
}

/* Keyed vectors of the BLAKE2 reference (key 00..1f, input 00..n-1). */
static void test_blake2s_keyed(void **state)
{
	uint8_t key[32], in[255], out[32];

	(void)state;
	for (int i = 0; i < 255; i++)
		in[i] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	blake2s(out, 32, key, 32, in, 0);
	assert_hex(out, "48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49", 32);
	blake2s(out, 32, key, 32, in, 64);
	assert_hex(out, "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4", 32);
	blake2s(out, 32, key, 32, in, 255);
	assert_hex(out, "3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd", 32);
}

/*
 * RFC 7693 appendix E's deterministic inputs, keyed, at every output length
 * MAC1 could use, hashed together. The appendix's own self-test also hashes
 * unkeyed outputs shorter than 32 bytes, which OpenSSL 3.0 cannot make (see
 * blake2s.h), so the expected value comes from an independent implementation
 * (Python's hashlib.blake2s), which reproduces the appendix's 6a411f08... when
 * given the unkeyed half too.
 */
static void selftest_seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t a = 0xDEAD4BAD * seed, b = 1;

	for (size_t i = 0; i < len; i++) {
		uint32_t t = a + b;
		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

static void test_blake2s_keyed_selftest(void **state)
{
	static const size_t outlens[] = { 1, 16, 20, 28, 32 };
	static const size_t inlens[] = { 0, 3, 64, 65, 255, 1024 };
	uint8_t in[1024], key[32], out[32];
	uint8_t all[6 * (1 + 16 + 20 + 28 + 32)];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < 5; i++) {
		size_t outlen = outlens[i];
		for (size_t j = 0; j < 6; j++) {
			size_t inlen = inlens[j];
			selftest_seq(in, inlen, (uint32_t)inlen);
			selftest_seq(key, outlen, (uint32_t)outlen);
			assert_int_equal(blake2s(all + n, outlen, key, outlen, in, inlen), 0);
			n += outlen;
		}
	}
	assert_int_equal(n, sizeof(all));
	assert_int_equal(blake2s(out, 32, NULL, 0, all, n), 0);
	assert_hex(out, "3c7e38d72514159706fe2749bf238b552f9d70b017d7a2a4efd2cc5581f92ae2", 32);
}

/* Lengths outside what MAC1 and OpenSSL support fail loudly, with no output. */
static void test_blake2s_bad_lengths(void **state)
{
	uint8_t out[33], key[33] = { 1 };

	(void)state;
	memset(out, 0xee, sizeof(out));
	assert_int_equal(blake2s(out, 16, NULL, 0, "abc", 3), -1);
	for (size_t i = 0; i < 16; i++)
		assert_int_equal(out[i], 0);
	assert_int_equal(blake2s(out, 0, key, 32, "abc", 3), -1);
	assert_int_equal(blake2s(out, 33, key, 32, "abc", 3), -1);
	assert_int_equal(blake2s(out, 32, key, 33, "abc", 3), -1);
	assert_int_equal(blake2s(out, 32, key, 32, "abc", 3), 0);
}

static void fill(uint8_t *p, size_t len, unsigned mul, unsigned add, uint8_t type)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * mul + add);
	p[0] = type;
	p[1] = p[2] = p[3] = 0;
}

static void test_mac1_vectors(void **state)
{
	uint8_t pub[32], key[32], init[148], resp[92];

	(void)state;
	for (int i = 0; i < 32; i++)
		pub[i] = (uint8_t)(i * 7 + 3);
	wg_mac1_key(key, pub);
	assert_hex(key, "b034f57007ff6f86cb1685c6347e71ab8b52e9504b2c950006306e9338bd39f9", 32);

	fill(init, sizeof(init), 13, 5, WG_MSG_INITIATION);
	assert_false(wg_mac1_matches(key, init, sizeof(init)));
	unhex("ebbb421a5f5ecb7c92f31f36c4380118", init + WG_INITIATION_MAC1, 16);
	assert_true(wg_mac1_matches(key, init, sizeof(init)));
	/* MAC2 is not covered; any byte before MAC1 is. */
	init[147] ^= 1;
	assert_true(wg_mac1_matches(key, init, sizeof(init)));
	init[40] ^= 1;
	assert_false(wg_mac1_matches(key, init, sizeof(init)));

	fill(resp, sizeof(resp), 29, 1, WG_MSG_RESPONSE);
	unhex("c255c8f93b82ee31275762601913243c", resp + WG_RESPONSE_MAC1, 16);
	assert_true(wg_mac1_matches(key, resp, sizeof(resp)));
	/* Another responder's key does not match. */
	pub[0] ^= 1;
	wg_mac1_key(key, pub);
	assert_false(wg_mac1_matches(key, resp, sizeof(resp)));
	/* Only initiations and responses carry MAC1. */
	assert_false(wg_mac1_matches(key, resp, 64));
}

static void test_classify_lengths(void **state)
{
	static const struct {
		uint8_t type;
		size_t len;
		bool exact;
	} kinds[] = {
		{ WG_MSG_INITIATION, 148, true },
		{ WG_MSG_RESPONSE, 92, true },
		{ WG_MSG_COOKIE_REPLY, 64, true },
		{ WG_MSG_TRANSPORT, 32, false },
	};
	uint8_t buf[2048];
	struct wg_msg m;

	(void)state;
	for (size_t k = 0; k < 4; k++) {
		size_t len = kinds[k].len;
		fill(buf, sizeof(buf), 1, 0, kinds[k].type);
		assert_int_equal(wg_msg_classify(buf, len, &m), kinds[k].type);
		assert_int_equal(m.type, kinds[k].type);
		assert_int_equal(wg_msg_classify(buf, len - 1, &m), 0);
		assert_int_equal(m.type, 0);
		assert_int_equal(wg_msg_classify(buf, len + 1, &m),
				 kinds[k].exact ? 0 : kinds[k].type);
		/* Reserved bytes must be zero. */
		for (int r = 1; r < 4; r++) {
			buf[r] = 1;
			assert_int_equal(wg_msg_classify(buf, len, &m), 0);
			buf[r] = 0;
		}
	}
	fill(buf, sizeof(buf), 1, 0, WG_MSG_TRANSPORT);
	assert_int_equal(wg_msg_classify(buf, 1400, &m), WG_MSG_TRANSPORT);
	for (int t = 0; t < 256; t++) {
		if (t >= 1 && t <= 4)
			continue;
		buf[0] = (uint8_t)t;
		assert_int_equal(wg_msg_classify(buf, 148, &m), 0);
	}
	assert_int_equal(wg_msg_classify(buf, 0, &m), 0);
	assert_int_equal(wg_msg_classify(buf, 3, &m), 0);
}

static void test_classify_indices(void **state)
{
	uint8_t buf[148];
	struct wg_msg m;
	uint32_t s, r;

	(void)state;
	fill(buf, 148, 3, 1, WG_MSG_INITIATION);
	assert_int_equal(wg_msg_classify(buf, 148, &m), WG_MSG_INITIATION);
	memcpy(&s, buf + 4, 4);
	assert_int_equal(m.sender, s);

	fill(buf, 92, 3, 1, WG_MSG_RESPONSE);
	assert_int_equal(wg_msg_classify(buf, 92, &m), WG_MSG_RESPONSE);
	memcpy(&s, buf + 4, 4);
	memcpy(&r, buf + 8, 4);
	assert_int_equal(m.sender, s);
	assert_int_equal(m.receiver, r);

	fill(buf, 64, 5, 2, WG_MSG_COOKIE_REPLY);
	assert_int_equal(wg_msg_classify(buf, 64, &m), WG_MSG_COOKIE_REPLY);
	memcpy(&r, buf + 4, 4);
	assert_int_equal(m.receiver, r);

	fill(buf, 100, 7, 9, WG_MSG_TRANSPORT);
	assert_int_equal(wg_msg_classify(buf, 100, &m), WG_MSG_TRANSPORT);
	memcpy(&r, buf + 4, 4);
	assert_int_equal(m.receiver, r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blake2s_rfc_abc),
		cmocka_unit_test(test_blake2s_keyed),
		cmocka_unit_test(test_blake2s_keyed_selftest),
		cmocka_unit_test(test_blake2s_bad_lengths),
		cmocka_unit_test(test_mac1_vectors),
		cmocka_unit_test(test_classify_lengths),
		cmocka_unit_test(test_classify_indices),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
