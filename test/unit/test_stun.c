// SPDX-License-Identifier: MIT
/*
 * The STUN codec (src/slowpath/stun.h): what derper's net/stun accepts
 * and answers, with the bytes of RFC 5389's layout written out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "stun.h"

#define TXID 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c

/*
 * What a Tailscale client sends (net/stun Request): a 20-byte header, the
 * SOFTWARE attribute "tailnode" and FINGERPRINT. The fingerprint is
 * CRC-32 of the 32 bytes before it XOR 0x5354554e; 0xb32c370f was computed
 * apart from this code (Python's zlib.crc32).
 */
static const uint8_t tailscale_request[] = {
	0x00, 0x01,		      /* Binding Request */
	0x00, 0x14,		      /* 20 bytes of attributes */
	0x21, 0x12, 0xa4, 0x42,	      /* magic cookie */
	TXID, 0x80, 0x22, 0x00, 0x08, /* SOFTWARE, 8 bytes */
	't',  'a',  'i',  'l',	'n',  'o',
	'd',  'e',  0x80, 0x28, 0x00, 0x04, /* FINGERPRINT, 4 bytes */
	0xb3, 0x2c, 0x37, 0x0f,
};

static const uint8_t txid[STUN_TXID_LEN] = { TXID };

static enum stun_verdict parse(const uint8_t *buf, size_t len)
{
	uint8_t got[STUN_TXID_LEN];
	return stun_parse_binding_request(buf, len, got);
}

/* Rewrites the FINGERPRINT value in the last 4 bytes of buf to match what precedes it. */
static void refingerprint(uint8_t *buf, size_t len)
{
	uint32_t fp = stun_crc32(buf, len - 8) ^ STUN_FINGERPRINT_XOR;
	buf[len - 4] = (uint8_t)(fp >> 24);
	buf[len - 3] = (uint8_t)(fp >> 16);
	buf[len - 2] = (uint8_t)(fp >> 8);
	buf[len - 1] = (uint8_t)fp;
}

static void test_crc32_known_values(void **state)
{
	(void)state;
	/* The CRC-32 check value of every catalogue: "123456789". */
	assert_int_equal(stun_crc32((const uint8_t *)"123456789", 9), 0xcbf43926u);
	assert_int_equal(stun_crc32(NULL, 0), 0);
	assert_int_equal(stun_crc32(tailscale_request, 32) ^ STUN_FINGERPRINT_XOR, 0xb32c370fu);
}

static void test_valid_request(void **state)
{
	uint8_t got[STUN_TXID_LEN];
	(void)state;

	assert_int_equal(
	    stun_parse_binding_request(tailscale_request, sizeof(tailscale_request), got), STUN_OK);
	assert_memory_equal(got, txid, sizeof(txid));
}

static void test_not_stun(void **state)
{
	uint8_t b[sizeof(tailscale_request)];
	(void)state;

	assert_int_equal(parse(tailscale_request, 19), STUN_NOT_STUN);
	assert_int_equal(parse(tailscale_request, 0), STUN_NOT_STUN);
	memcpy(b, tailscale_request, sizeof(b));
	b[0] = 0x40; /* a top bit set: RTP, DTLS, QUIC ... never STUN */
	assert_int_equal(parse(b, sizeof(b)), STUN_NOT_STUN);
	memcpy(b, tailscale_request, sizeof(b));
	b[7] ^= 1; /* the magic cookie */
	assert_int_equal(parse(b, sizeof(b)), STUN_NOT_STUN);
	assert_int_equal(parse((const uint8_t *)"GET / HTTP/1.1\r\n\r\nxxxxxxxx", 26),
			 STUN_NOT_STUN);
}

static void test_not_binding_request(void **state)
{
	uint8_t b[sizeof(tailscale_request)];
	(void)state;

	static const uint16_t types[] = { 0x0101, 0x0111, 0x0011, 0x0003 };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		memcpy(b, tailscale_request, sizeof(b));
		b[0] = (uint8_t)(types[i] >> 8);
		b[1] = (uint8_t)types[i];
		refingerprint(b, sizeof(b));
		assert_int_equal(parse(b, sizeof(b)), STUN_NOT_BINDING);
	}
}

static void test_malformed_attributes(void **state)
{
	uint8_t b[sizeof(tailscale_request) + 4];
	(void)state;

	/* The FINGERPRINT value cut short, or its header alone. */
	assert_int_equal(parse(tailscale_request, sizeof(tailscale_request) - 1), STUN_MALFORMED);
	assert_int_equal(parse(tailscale_request, 36), STUN_MALFORMED);
	/* 1..3 bytes after the last attribute: not even an attribute header. */
	memcpy(b, tailscale_request, sizeof(tailscale_request));
	for (size_t extra = 1; extra <= 3; extra++)
		assert_int_equal(parse(b, sizeof(tailscale_request) + extra), STUN_MALFORMED);
	/* SOFTWARE claiming 9 bytes: with padding, 12, which runs past the end. */
	memcpy(b, tailscale_request, sizeof(tailscale_request));
	b[23] = 0x1d;
	assert_int_equal(parse(b, sizeof(tailscale_request)), STUN_MALFORMED);
}

static void test_wrong_software(void **state)
{
	uint8_t b[sizeof(tailscale_request)];
	(void)state;

	memcpy(b, tailscale_request, sizeof(b));
	b[31] = 'X'; /* "tailnodX" */
	refingerprint(b, sizeof(b));
	assert_int_equal(parse(b, sizeof(b)), STUN_WRONG_SOFTWARE);

	/* No SOFTWARE at all: a header and a FINGERPRINT, as other STUN clients send. */
	uint8_t bare[] = { 0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42, TXID,
			   0x80, 0x28, 0x00, 0x04, 0,	 0,    0,    0 };
	refingerprint(bare, sizeof(bare));
	assert_int_equal(parse(bare, sizeof(bare)), STUN_WRONG_SOFTWARE);

	/* No attributes at all (RFC 5389's minimal request). */
	assert_int_equal(parse(tailscale_request, STUN_HEADER_LEN), STUN_WRONG_SOFTWARE);
}

static void test_no_fingerprint(void **state)
{
	(void)state;

	/* SOFTWARE only. */
	assert_int_equal(parse(tailscale_request, 32), STUN_NO_FINGERPRINT);

	/* FINGERPRINT first, SOFTWARE after it: the fingerprint must be last. */
	uint8_t b[] = { 0x00, 0x01, 0x00, 0x14, 0x21, 0x12, 0xa4, 0x42, TXID, 0x80,
			0x28, 0x00, 0x04, 0xb3, 0x2c, 0x37, 0x0f, 0x80, 0x22, 0x00,
			0x08, 't',  'a',  'i',	'l',  'n',  'o',  'd',	'e' };
	assert_int_equal(parse(b, sizeof(b)), STUN_NO_FINGERPRINT);
}

static void test_bad_fingerprint(void **state)
{
	uint8_t b[sizeof(tailscale_request)];
	(void)state;

	memcpy(b, tailscale_request, sizeof(b));
	b[sizeof(b) - 1] ^= 0x01;
	assert_int_equal(parse(b, sizeof(b)), STUN_BAD_FINGERPRINT);
	/* A changed transaction ID no longer matches the fingerprint. */
	memcpy(b, tailscale_request, sizeof(b));
	b[8] ^= 0x80;
	assert_int_equal(parse(b, sizeof(b)), STUN_BAD_FINGERPRINT);
	/* A FINGERPRINT of the wrong length is not read: the value compared is 0. */
	uint8_t longer[sizeof(tailscale_request) + 4];
	memcpy(longer, tailscale_request, sizeof(tailscale_request));
	longer[35] = 0x08;
	memset(longer + 36, 0, 8);
	assert_int_equal(parse(longer, sizeof(longer)), STUN_BAD_FINGERPRINT);
}

/* What derper lets through, and so must we. */
static void test_derper_leniencies(void **state)
{
	uint8_t b[sizeof(tailscale_request) + 8];
	(void)state;

	/* The header's length field is not checked. */
	memcpy(b, tailscale_request, sizeof(tailscale_request));
	b[3] = 0x40;
	refingerprint(b, sizeof(tailscale_request));
	assert_int_equal(parse(b, sizeof(tailscale_request)), STUN_OK);

	/* An unknown attribute (4 bytes, type 0x8001) between SOFTWARE and FINGERPRINT. */
	memcpy(b, tailscale_request, 32);
	memcpy(b + 32, (const uint8_t[]){ 0x80, 0x01, 0x00, 0x04, 1, 2, 3, 4 }, 8);
	memcpy(b + 40, tailscale_request + 32, 8);
	refingerprint(b, sizeof(b));
	assert_int_equal(parse(b, sizeof(b)), STUN_OK);
}

static void test_response_ipv4(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(32853) };
	uint8_t out[STUN_RESPONSE_MAX];
	(void)state;

	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	/*
	 * Port 32853 = 0x8055, XOR 0x2112 = 0xa147. Address c0.00.02.01 XOR the
	 * cookie 21.12.a4.42 = e1.12.a6.43.
	 */
	static const uint8_t want[] = {
		0x01, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4,
		0x42, TXID, 0x00, 0x20, 0x00, 0x08, /* XOR-MAPPED-ADDRESS, 8 bytes */
		0x00, 0x01, 0xa1, 0x47,		    /* reserved, IPv4, port */
		0xe1, 0x12, 0xa6, 0x43,
	};
	size_t n = stun_build_binding_response(txid, (struct sockaddr *)&sin, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));

	/* The same client over a dual-stack socket: ::ffff:192.0.2.1 is answered as IPv4. */
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6, .sin6_port = htons(32853) };
	inet_pton(AF_INET6, "::ffff:192.0.2.1", &mapped.sin6_addr);
	n = stun_build_binding_response(txid, (struct sockaddr *)&mapped, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));

	/* Too little room, and a family that has no address to report. */
	assert_int_equal(stun_build_binding_response(txid, (struct sockaddr *)&sin, out, 31), 0);
	struct sockaddr unix_addr = { .sa_family = AF_UNIX };
	assert_int_equal(stun_build_binding_response(txid, &unix_addr, out, sizeof(out)), 0);
}

static void test_response_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	uint8_t out[STUN_RESPONSE_MAX];
	(void)state;

	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	/*
	 * Port 443 = 0x01bb, XOR 0x2112 = 0x20a9. Address 2001:0db8:0:...:1
	 * XOR cookie || transaction ID (21 12 a4 42 01 02 ... 0c).
	 */
	static const uint8_t
	    want[] = {
		    0x01, 0x01, 0x00, 0x18, 0x21, 0x12, 0xa4, 0x42,
		    TXID, 0x00, 0x20, 0x00, 0x14, /* XOR-MAPPED-ADDRESS, 20 bytes */
		    0x00, 0x02, 0x20, 0xa9,	  /* reserved, IPv6, port */
		    0x01, 0x13, 0xa9, 0xfa, 0x01, 0x02, 0x03, 0x04,
		    0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0d,
	    };
	size_t n = stun_build_binding_response(txid, (struct sockaddr *)&sin6, out, sizeof(out));
	assert_int_equal(n, sizeof(want));
	assert_int_equal(n, STUN_RESPONSE_MAX);
	assert_memory_equal(out, want, sizeof(want));
}

/* The response reader the tests use gives back what the builder put in. */
static void test_response_round_trip(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(41641) };
	struct sockaddr_storage got;
	uint8_t out[STUN_RESPONSE_MAX], got_txid[STUN_TXID_LEN];
	(void)state;

	inet_pton(AF_INET6, "fd7a:115c:a1e0::1", &sin6.sin6_addr);
	size_t n = stun_build_binding_response(txid, (struct sockaddr *)&sin6, out, sizeof(out));
	assert_int_equal(stun_parse_binding_response(out, n, got_txid, &got), 0);
	assert_memory_equal(got_txid, txid, sizeof(txid));
	assert_int_equal(got.ss_family, AF_INET6);
	const struct sockaddr_in6 *g6 = (const struct sockaddr_in6 *)&got;
	assert_memory_equal(&g6->sin6_addr, &sin6.sin6_addr, 16);
	assert_int_equal(g6->sin6_port, sin6.sin6_port);

	/* A request is not a response; a cut response is not one either. */
	assert_int_equal(stun_parse_binding_response(tailscale_request, sizeof(tailscale_request),
						     got_txid, &got),
			 -1);
	assert_int_equal(stun_parse_binding_response(out, n - 1, got_txid, &got), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32_known_values),
		cmocka_unit_test(test_valid_request),
		cmocka_unit_test(test_not_stun),
		cmocka_unit_test(test_not_binding_request),
		cmocka_unit_test(test_malformed_attributes),
		cmocka_unit_test(test_wrong_software),
		cmocka_unit_test(test_no_fingerprint),
		cmocka_unit_test(test_bad_fingerprint),
		cmocka_unit_test(test_derper_leniencies),
		cmocka_unit_test(test_response_ipv4),
		cmocka_unit_test(test_response_ipv6),
		cmocka_unit_test(test_response_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
