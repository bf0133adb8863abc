// SPDX-License-Identifier: MIT
/*
 * The STUN codec (src/slowpath/stun.h).
 *
 * Input: one UDP datagram on the STUN port.
 *
 * Oracles:
 *  - the request parser never reads outside the datagram (an exact-size
 *    heap copy, under ASan) and returns a known verdict;
 *  - an accepted request ends in an 8-byte FINGERPRINT attribute and its
 *    transaction ID is bytes 8..19;
 *  - the answer to an accepted request, for an IPv4 and an IPv6 source,
 *    reads back as a Binding Success with the same transaction ID and the
 *    same address and port, and is never itself taken for a request;
 *  - the same datagram with its last four bytes made the right
 *    fingerprint is parsed too, so the fuzzer reaches the accepting path
 *    without having to find a CRC;
 *  - the response reader is safe on any input as well.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "stun.h"

static void check_answer(const uint8_t txid[STUN_TXID_LEN], const struct sockaddr_storage *src)
{
	uint8_t out[STUN_RESPONSE_MAX];
	size_t n =
	    stun_build_binding_response(txid, (const struct sockaddr *)src, out, sizeof(out));
	FUZZ_CHECK(n == (src->ss_family == AF_INET ? 32u : 44u));

	uint8_t *copy = fuzz_dup(out, n);
	uint8_t got_txid[STUN_TXID_LEN], req_txid[STUN_TXID_LEN];
	struct sockaddr_storage got;
	FUZZ_CHECK(stun_parse_binding_response(copy, n, got_txid, &got) == 0);
	FUZZ_CHECK(memcmp(got_txid, txid, STUN_TXID_LEN) == 0);
	FUZZ_CHECK(got.ss_family == src->ss_family);
	if (src->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)src, *b = (const void *)&got;
		FUZZ_CHECK(a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr);
	} else {
		const struct sockaddr_in6 *a = (const void *)src, *b = (const void *)&got;
		FUZZ_CHECK(a->sin6_port == b->sin6_port &&
			   memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0);
	}
	FUZZ_CHECK(stun_parse_binding_request(copy, n, req_txid) == STUN_NOT_BINDING);
	free(copy);
}

static void check_request(const uint8_t *data, size_t size)
{
	uint8_t *p = fuzz_dup(data, size);
	uint8_t txid[STUN_TXID_LEN];
	enum stun_verdict v = stun_parse_binding_request(p, size, txid);
	FUZZ_CHECK((unsigned)v < STUN_VERDICT_COUNT);
	FUZZ_CHECK(stun_verdict_name(v)[0] != '?');
	if (v == STUN_OK) {
		FUZZ_CHECK(size >= STUN_HEADER_LEN + 8);
		FUZZ_CHECK(p[size - 8] == 0x80 && p[size - 7] == 0x28);
		FUZZ_CHECK(memcmp(txid, p + 8, STUN_TXID_LEN) == 0);

		/* Sources made of the datagram's own bytes, so they vary too. */
		struct sockaddr_storage s4 = { 0 }, s6 = { 0 };
		struct sockaddr_in *sin = (struct sockaddr_in *)&s4;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s6;
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, p + size - 4, 4);
		memcpy(&sin->sin_port, p + 8, 2);
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, p + 4, 16);
		sin6->sin6_addr.s6_addr[0] |= 0x20; /* never v4-mapped: that answers as IPv4 */
		memcpy(&sin6->sin6_port, p + 18, 2);
		check_answer(txid, &s4);
		check_answer(txid, &s6);
	}
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);

	struct sockaddr_storage addr;
	uint8_t txid[STUN_TXID_LEN];
	uint8_t *p = fuzz_dup(data, size);
	(void)stun_parse_binding_response(p, size, txid, &addr);
	free(p);

	if (size >= STUN_HEADER_LEN + 8) {
		uint8_t *fixed = fuzz_dup(data, size);
		uint32_t fp = stun_crc32(fixed, size - 8) ^ STUN_FINGERPRINT_XOR;
		fixed[size - 4] = (uint8_t)(fp >> 24);
		fixed[size - 3] = (uint8_t)(fp >> 16);
		fixed[size - 2] = (uint8_t)(fp >> 8);
		fixed[size - 1] = (uint8_t)fp;
		check_request(fixed, size);
		free(fixed);
	}
	return 0;
}
