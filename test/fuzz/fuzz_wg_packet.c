// SPDX-License-Identifier: MIT
/*
 * The per-datagram WireGuard code: the message classifier and MAC1 check
 * (src/wireguard/wg_msg.h) and the frame rewrite with incremental checksum
 * updates (wg_rewrite.h, shared with the XDP program).
 *
 * Input: a UDP payload. The harness wraps it in an Ethernet + IPv4 + UDP
 * frame whose addresses, ports, TTL and checksum choice come from a PRNG
 * seeded by the input, with correct IPv4 and UDP checksums, then rewrites it
 * towards a PRNG-chosen destination.
 *
 * Oracles: the classifier accepts exactly the four message types with zero
 * reserved bytes and their lengths, and reports the indices at their wire
 * offsets; a MAC1 made for a key matches that key only, and a changed byte
 * before it breaks it; after the rewrite both checksums still verify by a
 * full computation (or the UDP one stays zero), and only the fields meant to
 * change did. The same for an Ethernet + IPv6 + UDP frame (wg_rewrite_frame6),
 * whose UDP checksum is never zero.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blake2s.h"
#include "fuzz_common.h"
#include "wg_msg.h"
#include "wg_rewrite.h"

#define ETH_LEN 14
#define IP_LEN	20
#define UDP_LEN 8

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The UDP checksum sum over pseudo-header, header and payload (checksum field included). */
static uint32_t udp_sum(const uint8_t *ip, const uint8_t *udp, size_t udp_len)
{
	uint32_t sum = sum16(ip + 12, 8, 0); /* source and destination */

	sum += 17 + (uint32_t)udp_len;
	return sum16(udp, udp_len, sum);
}

static void check_classify(const uint8_t *p, size_t len)
{
	static const size_t want_len[5] = { 0, WG_INITIATION_LEN, WG_RESPONSE_LEN,
					    WG_COOKIE_REPLY_LEN, 0 };
	struct wg_msg m;
	int t = wg_msg_classify(p, len, &m);
	bool ok = len >= 4 && !p[1] && !p[2] && !p[3] && p[0] >= 1 && p[0] <= 4 &&
		  (p[0] == WG_MSG_TRANSPORT ? len >= WG_TRANSPORT_MIN_LEN : len == want_len[p[0]]);
	uint32_t v;

	FUZZ_CHECK((t != 0) == ok);
	FUZZ_CHECK(t == m.type);
	if (!t) {
		FUZZ_CHECK(m.sender == 0 && m.receiver == 0);
		return;
	}
	FUZZ_CHECK(t == p[0]);
	if (t == WG_MSG_INITIATION || t == WG_MSG_RESPONSE) {
		memcpy(&v, p + 4, 4);
		FUZZ_CHECK(m.sender == v);
	}
	if (t != WG_MSG_INITIATION) {
		memcpy(&v, p + (t == WG_MSG_RESPONSE ? 8 : 4), 4);
		FUZZ_CHECK(m.receiver == v);
	}
}

static void check_mac1(const uint8_t *p, size_t len, struct fuzz_rng *rng)
{
	uint8_t pub[WG_KEY_LEN], other[WG_KEY_LEN], key[WG_KEY_LEN], key2[WG_KEY_LEN];
	size_t off;
	uint8_t *m;

	for (int i = 0; i < WG_KEY_LEN; i++) {
		pub[i] = (uint8_t)fuzz_rng_next(rng);
		other[i] = pub[i];
	}
	other[0] ^= 1;
	wg_mac1_key(key, pub);
	wg_mac1_key(key2, other);
	FUZZ_CHECK(memcmp(key, key2, WG_KEY_LEN) != 0);

	/* Whatever the bytes, the input's own MAC1 field is checked without crashing. */
	(void)wg_mac1_matches(key, p, len);
	if (len == WG_INITIATION_LEN && p[0] == WG_MSG_INITIATION)
		off = WG_INITIATION_MAC1;
	else if (len == WG_RESPONSE_LEN && p[0] == WG_MSG_RESPONSE)
		off = WG_RESPONSE_MAC1;
	else
		return;
	m = fuzz_dup(p, len);
	blake2s(m + off, WG_MAC_LEN, key, WG_KEY_LEN, m, off);
	FUZZ_CHECK(wg_mac1_matches(key, m, len));
	FUZZ_CHECK(!wg_mac1_matches(key2, m, len));
	m[fuzz_rng_next(rng) % off] ^= 0x80;
	FUZZ_CHECK(!wg_mac1_matches(key, m, len));
	free(m);
}

static void check_rewrite(const uint8_t *payload, size_t len, struct fuzz_rng *rng)
{
	size_t udp_len = UDP_LEN + len, total = ETH_LEN + IP_LEN + udp_len;
	uint8_t *f, *orig, *eth, *ip, *udp;
	struct wg_dst dst;
	uint16_t relay_port = (uint16_t)fuzz_rng_next(rng);
	bool no_udp_sum = (fuzz_rng_next(rng) & 3) == 0;

	if (IP_LEN + udp_len > 0xffff)
		return;
	f = calloc(1, total);
	orig = malloc(total);
	if (!f || !orig)
		abort();
	eth = f;
	ip = f + ETH_LEN;
	udp = ip + IP_LEN;
	for (int i = 0; i < 12; i++)
		eth[i] = (uint8_t)fuzz_rng_next(rng);
	eth[12] = 0x08;
	ip[0] = 0x45;
	ip[2] = (uint8_t)((IP_LEN + udp_len) >> 8);
	ip[3] = (uint8_t)(IP_LEN + udp_len);
	ip[6] = 0x40;			     /* DF */
	ip[8] = (uint8_t)fuzz_rng_next(rng); /* TTL */
	ip[9] = 17;
	for (int i = 12; i < 20; i++)
		ip[i] = (uint8_t)fuzz_rng_next(rng);
	uint16_t c = (uint16_t)~fold(sum16(ip, IP_LEN, 0));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	for (int i = 0; i < 4; i++)
		udp[i] = (uint8_t)fuzz_rng_next(rng);
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	memcpy(udp + UDP_LEN, payload, len);
	if (!no_udp_sum) {
		c = (uint16_t)~fold(udp_sum(ip, udp, udp_len));
		if (c == 0)
			c = 0xffff;
		udp[6] = (uint8_t)(c >> 8);
		udp[7] = (uint8_t)c;
	}
	FUZZ_CHECK(fold(sum16(ip, IP_LEN, 0)) == 0xffff);
	memcpy(orig, f, total);

	memset(&dst, 0, sizeof(dst));
	dst.addr = (uint32_t)fuzz_rng_next(rng);
	dst.src_addr = (uint32_t)fuzz_rng_next(rng);
	dst.port = (uint16_t)fuzz_rng_next(rng);
	for (int i = 0; i < 6; i++) {
		dst.smac[i] = (uint8_t)fuzz_rng_next(rng);
		dst.dmac[i] = (uint8_t)fuzz_rng_next(rng);
	}
	wg_rewrite_frame(eth, ip, udp, &dst, relay_port);

	FUZZ_CHECK(memcmp(eth, dst.dmac, 6) == 0 && memcmp(eth + 6, dst.smac, 6) == 0);
	FUZZ_CHECK(memcmp(ip + 12, &dst.src_addr, 4) == 0 && memcmp(ip + 16, &dst.addr, 4) == 0);
	FUZZ_CHECK(ip[8] == WG_RELAY_TTL);
	FUZZ_CHECK(memcmp(udp, &relay_port, 2) == 0 && memcmp(udp + 2, &dst.port, 2) == 0);
	/* Nothing else moved: the rest of the IP header, UDP length, the payload. */
	FUZZ_CHECK(memcmp(ip, orig + ETH_LEN, 8) == 0 && ip[9] == 17);
	FUZZ_CHECK(memcmp(udp + 4, orig + ETH_LEN + IP_LEN + 4, 2) == 0);
	FUZZ_CHECK(memcmp(udp + UDP_LEN, payload, len) == 0);
	/* Both checksums verify from scratch. */
	FUZZ_CHECK(fold(sum16(ip, IP_LEN, 0)) == 0xffff);
	if (no_udp_sum) {
		FUZZ_CHECK(udp[6] == 0 && udp[7] == 0);
	} else {
		FUZZ_CHECK(udp[6] || udp[7]);
		FUZZ_CHECK(fold(udp_sum(ip, udp, udp_len)) == 0xffff);
	}
	free(orig);
	free(f);
}

#define IP6_LEN 40

/* The IPv6 UDP checksum sum (RFC 8200, 8.1) over pseudo-header, header and payload. */
static uint32_t udp6_sum(const uint8_t *ip6, const uint8_t *udp, size_t udp_len)
{
	uint32_t sum = sum16(ip6 + 8, 32, 0); /* source and destination */

	sum += (uint32_t)(udp_len >> 16) + (uint32_t)(udp_len & 0xffff) + 17;
	return sum16(udp, udp_len, sum);
}

static void check_rewrite6(const uint8_t *payload, size_t len, struct fuzz_rng *rng)
{
	size_t udp_len = UDP_LEN + len, total = ETH_LEN + IP6_LEN + udp_len;
	uint8_t *f, *orig, *eth, *ip6, *udp;
	struct wg_dst dst;
	uint16_t relay_port = (uint16_t)fuzz_rng_next(rng);

	if (udp_len > 0xffff)
		return;
	f = calloc(1, total);
	orig = malloc(total);
	if (!f || !orig)
		abort();
	eth = f;
	ip6 = f + ETH_LEN;
	udp = ip6 + IP6_LEN;
	for (int i = 0; i < 12; i++)
		eth[i] = (uint8_t)fuzz_rng_next(rng);
	eth[12] = 0x86;
	eth[13] = 0xdd;
	ip6[0] = 0x60;
	ip6[4] = (uint8_t)(udp_len >> 8);
	ip6[5] = (uint8_t)udp_len;
	ip6[6] = 17;
	ip6[7] = (uint8_t)fuzz_rng_next(rng); /* hop limit */
	for (int i = 8; i < 40; i++)
		ip6[i] = (uint8_t)fuzz_rng_next(rng);
	for (int i = 0; i < 4; i++)
		udp[i] = (uint8_t)fuzz_rng_next(rng);
	udp[4] = (uint8_t)(udp_len >> 8);
	udp[5] = (uint8_t)udp_len;
	memcpy(udp + UDP_LEN, payload, len);
	uint16_t c = (uint16_t)~fold(udp6_sum(ip6, udp, udp_len));
	if (c == 0)
		c = 0xffff;
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
	memcpy(orig, f, total);

	memset(&dst, 0, sizeof(dst));
	dst.flags = WG_DST_IPV6 | WG_DST_RESOLVED;
	for (int i = 0; i < 16; i++) {
		dst.addr6[i] = (uint8_t)fuzz_rng_next(rng);
		dst.src_addr6[i] = (uint8_t)fuzz_rng_next(rng);
	}
	dst.port = (uint16_t)fuzz_rng_next(rng);
	for (int i = 0; i < 6; i++) {
		dst.smac[i] = (uint8_t)fuzz_rng_next(rng);
		dst.dmac[i] = (uint8_t)fuzz_rng_next(rng);
	}
	wg_rewrite_frame6(eth, ip6, udp, &dst, relay_port);

	FUZZ_CHECK(memcmp(eth, dst.dmac, 6) == 0 && memcmp(eth + 6, dst.smac, 6) == 0);
	FUZZ_CHECK(memcmp(ip6 + 8, dst.src_addr6, 16) == 0 && memcmp(ip6 + 24, dst.addr6, 16) == 0);
	FUZZ_CHECK(ip6[7] == WG_RELAY_TTL);
	FUZZ_CHECK(memcmp(udp, &relay_port, 2) == 0 && memcmp(udp + 2, &dst.port, 2) == 0);
	/* Nothing else moved: version, class, flow, length, next header, UDP length, payload. */
	FUZZ_CHECK(memcmp(ip6, orig + ETH_LEN, 7) == 0);
	FUZZ_CHECK(memcmp(udp + 4, orig + ETH_LEN + IP6_LEN + 4, 2) == 0);
	FUZZ_CHECK(memcmp(udp + UDP_LEN, payload, len) == 0);
	/* The checksum verifies from scratch and is never "none". */
	FUZZ_CHECK(udp[6] || udp[7]);
	FUZZ_CHECK(fold(udp6_sum(ip6, udp, udp_len)) == 0xffff);
	free(orig);
	free(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_rng rng;
	uint8_t *p = fuzz_dup(data, size);

	fuzz_rng_seed(&rng, data, size);
	check_classify(p, size);
	check_mac1(p, size, &rng);
	check_rewrite(p, size, &rng);
	check_rewrite6(p, size, &rng);
	free(p);
	return 0;
}
