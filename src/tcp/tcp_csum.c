// SPDX-License-Identifier: MIT
#include "tcp_csum.h"

#include <netinet/in.h>
#include <string.h>

/*
 * The ones'-complement sum does not depend on byte order (RFC 1071 2(B)):
 * words are summed as the machine loads them, 8 bytes at a time, and the
 * folded result is swapped back to network order once. This keeps a
 * 1400-byte segment well under the 0.7 us the naive 16-bit loop costs here
 * (docs/platform-notes).
 */
uint32_t tcp_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t acc = 0;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		uint64_t lo = w & 0xffffffffu, hi = w >> 32;
		acc += lo + hi;
		p += 8;
		len -= 8;
	}
	while (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		acc += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };
		uint16_t w;
		memcpy(&w, last, 2);
		acc += w;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	uint16_t native = (uint16_t)acc;
	uint8_t be[2];
	memcpy(be, &native, 2);
	uint64_t total = (uint64_t)sum + ((uint32_t)be[0] << 8 | be[1]);
	while (total >> 32)
		total = (total & 0xffffffffu) + (total >> 32);
	return (uint32_t)total;
}

uint16_t tcp_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t tcp_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst, uint32_t tcp_len)
{
	size_t alen = family == AF_INET ? 4 : 16;
	uint32_t sum = tcp_csum_add(0, src, alen);
	sum = tcp_csum_add(sum, dst, alen);
	uint64_t acc = (uint64_t)sum + IPPROTO_TCP + (tcp_len >> 16) + (tcp_len & 0xffff);
	while (acc >> 32)
		acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}
