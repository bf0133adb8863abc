// SPDX-License-Identifier: MIT
/*
 * The header rewrite and its incremental checksums against a full
 * computation from scratch, on many random frames (odd payload lengths,
 * options-free IPv4, every kind of address), plus the UDP checksum edge
 * cases: zero ("none") stays zero, and a computed zero goes out as 0xffff.
 * The same for IPv6 (no header checksum; the UDP checksum, mandatory there,
 * over the new addresses through the pseudo-header).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "wg_rewrite.h"

/* As in a real receive buffer: the IP header 2 bytes off a 4-byte boundary. */
struct frame {
	uint8_t pad[2];
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	uint8_t payload[1500];
} __attribute__((packed));

#define REWRITE(f, d, port)                                                                    \
	wg_rewrite_frame((uint8_t *)(f) + 2, (uint8_t *)(f) + 2 + sizeof(struct ethhdr),       \
			 (uint8_t *)(f) + 2 + sizeof(struct ethhdr) + sizeof(struct iphdr), d, \
			 port)

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

static uint16_t fold_not(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Reference: the IPv4 header checksum computed over the whole header. */
static uint16_t ip_csum_full(const struct frame *f)
{
	struct iphdr ip;

	memcpy(&ip, (const uint8_t *)f + offsetof(struct frame, ip), sizeof(ip));
	ip.check = 0;
	return htons(fold_not(sum16(&ip, sizeof(ip), 0)));
}

/* Reference: the UDP checksum over pseudo-header, header and payload. */
static uint16_t udp_csum_full(const struct frame *f, size_t payload_len)
{
	static uint8_t udp[sizeof(struct udphdr) + 1500];
	const uint8_t *base = (const uint8_t *)f;
	uint16_t ulen = (uint16_t)(sizeof(struct udphdr) + payload_len);
	uint32_t sum = 0;

	sum = sum16(base + offsetof(struct frame, ip) + 12, 8, sum); /* saddr, daddr */
	sum += IPPROTO_UDP;
	sum += ulen;
	memcpy(udp, base + offsetof(struct frame, udp), ulen);
	udp[6] = udp[7] = 0;
	sum = sum16(udp, ulen, sum);
	uint16_t c = fold_not(sum);
	return htons(c == 0 ? 0xffff : c);
}

static void random_frame(struct frame *f, size_t payload_len)
{
	memset(f, 0, sizeof(*f));
	f->eth.h_proto = htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.tot_len = htons((uint16_t)(sizeof(f->ip) + sizeof(f->udp) + payload_len));
	f->ip.id = (uint16_t)rand();
	f->ip.ttl = (uint8_t)(rand() % 256);
	f->ip.protocol = IPPROTO_UDP;
	f->ip.saddr = (uint32_t)rand() ^ (uint32_t)rand() << 16;
	f->ip.daddr = (uint32_t)rand() ^ (uint32_t)rand() << 16;
	f->udp.source = (uint16_t)rand();
	f->udp.dest = (uint16_t)rand();
	f->udp.len = htons((uint16_t)(sizeof(f->udp) + payload_len));
	for (size_t i = 0; i < payload_len; i++)
		f->payload[i] = (uint8_t)rand();
	f->ip.check = ip_csum_full(f);
	f->udp.check = udp_csum_full(f, payload_len);
}

static void random_dst(struct wg_dst *d)
{
	memset(d, 0, sizeof(*d));
	d->addr = (uint32_t)rand() ^ (uint32_t)rand() << 16;
	d->src_addr = (uint32_t)rand() ^ (uint32_t)rand() << 16;
	d->port = (uint16_t)rand();
	for (int i = 0; i < 6; i++) {
		d->smac[i] = (uint8_t)rand();
		d->dmac[i] = (uint8_t)rand();
	}
}

static void test_rewrite_matches_full_computation(void **state)
{
	struct frame f;
	struct wg_dst d;

	(void)state;
	srand(1);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % 1450);
		uint16_t relay_port = (uint16_t)rand();

		random_frame(&f, len);
		random_dst(&d);
		REWRITE(&f, &d, relay_port);

		assert_memory_equal(f.eth.h_source, d.smac, 6);
		assert_memory_equal(f.eth.h_dest, d.dmac, 6);
		assert_int_equal(f.ip.saddr, d.src_addr);
		assert_int_equal(f.ip.daddr, d.addr);
		assert_int_equal(f.ip.ttl, WG_RELAY_TTL);
		assert_int_equal(f.udp.source, relay_port);
		assert_int_equal(f.udp.dest, d.port);
		assert_int_equal(f.ip.check, ip_csum_full(&f));
		assert_int_equal(f.udp.check, udp_csum_full(&f, len));
	}
}

static void test_rewrite_keeps_zero_udp_checksum(void **state)
{
	struct frame f;
	struct wg_dst d;

	(void)state;
	srand(2);
	for (int iter = 0; iter < 1000; iter++) {
		random_frame(&f, 64);
		f.udp.check = 0;
		random_dst(&d);
		REWRITE(&f, &d, htons(51820));
		assert_int_equal(f.udp.check, 0);
		assert_int_equal(f.ip.check, ip_csum_full(&f));
	}
}

/* Choose the destination port so that the full checksum comes to zero. */
static void test_rewrite_computed_zero_is_ffff(void **state)
{
	struct frame f;
	struct wg_dst d;
	int seen = 0;

	(void)state;
	srand(3);
	for (int iter = 0; iter < 200 && !seen; iter++) {
		random_frame(&f, 33);
		random_dst(&d);
		for (uint32_t port = 0; port < 65536; port++) {
			struct frame g = f;
			d.port = htons((uint16_t)port);
			REWRITE(&g, &d, htons(51820));
			assert_int_equal(g.udp.check, udp_csum_full(&g, 33));
			if (g.udp.check == 0xffff)
				seen++;
			assert_int_not_equal(g.udp.check, 0);
			if (seen)
				break;
		}
	}
	assert_true(seen > 0);
}

/* ---- IPv6 ---- */

struct frame6 {
	uint8_t pad[2];
	struct ethhdr eth;
	struct ipv6hdr ip6;
	struct udphdr udp;
	uint8_t payload[1500];
} __attribute__((packed));

#define REWRITE6(f, d, port)                                                                      \
	wg_rewrite_frame6((uint8_t *)(f) + 2, (uint8_t *)(f) + 2 + sizeof(struct ethhdr),         \
			  (uint8_t *)(f) + 2 + sizeof(struct ethhdr) + sizeof(struct ipv6hdr), d, \
			  port)

/* Reference: the UDP checksum over the IPv6 pseudo-header (RFC 8200, 8.1), header, payload. */
static uint16_t udp6_csum_full(const struct frame6 *f, size_t payload_len)
{
	static uint8_t udp[sizeof(struct udphdr) + 1500];
	const uint8_t *base = (const uint8_t *)f;
	uint32_t ulen = (uint32_t)(sizeof(struct udphdr) + payload_len);
	uint32_t sum = 0;

	sum = sum16(base + offsetof(struct frame6, ip6) + 8, 32, sum); /* saddr, daddr */
	sum += ulen >> 16;
	sum += ulen & 0xffff;
	sum += IPPROTO_UDP;
	memcpy(udp, base + offsetof(struct frame6, udp), ulen);
	udp[6] = udp[7] = 0;
	sum = sum16(udp, ulen, sum);
	uint16_t c = fold_not(sum);
	return htons(c == 0 ? 0xffff : c);
}

static void random_bytes(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rand();
}

static void random_frame6(struct frame6 *f, size_t payload_len)
{
	memset(f, 0, sizeof(*f));
	f->eth.h_proto = htons(ETH_P_IPV6);
	f->ip6.version = 6;
	f->ip6.payload_len = htons((uint16_t)(sizeof(f->udp) + payload_len));
	f->ip6.nexthdr = IPPROTO_UDP;
	f->ip6.hop_limit = (uint8_t)(rand() % 256);
	random_bytes((uint8_t *)&f->ip6.saddr, 16);
	random_bytes((uint8_t *)&f->ip6.daddr, 16);
	f->udp.source = (uint16_t)rand();
	f->udp.dest = (uint16_t)rand();
	f->udp.len = htons((uint16_t)(sizeof(f->udp) + payload_len));
	random_bytes(f->payload, payload_len);
	f->udp.check = udp6_csum_full(f, payload_len);
}

static void random_dst6(struct wg_dst *d)
{
	random_dst(d);
	d->flags = WG_DST_IPV6 | WG_DST_RESOLVED;
	random_bytes(d->addr6, 16);
	random_bytes(d->src_addr6, 16);
}

static void test_rewrite6_matches_full_computation(void **state)
{
	struct frame6 f, orig;
	struct wg_dst d;

	(void)state;
	srand(4);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = (size_t)(rand() % 1450);
		uint16_t relay_port = (uint16_t)rand();

		random_frame6(&f, len);
		/* Some addresses that share words with the new ones, or are all zeros/ones. */
		if (iter % 7 == 0)
			memset(&f.ip6.saddr, iter % 2 ? 0xff : 0, 16);
		if (iter % 7 == 0)
			f.udp.check = udp6_csum_full(&f, len);
		random_dst6(&d);
		if (iter % 5 == 0)
			memcpy(d.src_addr6, &f.ip6.daddr, 16);
		orig = f;
		REWRITE6(&f, &d, relay_port);

		assert_memory_equal(f.eth.h_source, d.smac, 6);
		assert_memory_equal(f.eth.h_dest, d.dmac, 6);
		assert_memory_equal(&f.ip6.saddr, d.src_addr6, 16);
		assert_memory_equal(&f.ip6.daddr, d.addr6, 16);
		assert_int_equal(f.ip6.hop_limit, WG_RELAY_TTL);
		assert_int_equal(f.udp.source, relay_port);
		assert_int_equal(f.udp.dest, d.port);
		assert_int_not_equal(f.udp.check, 0);
		assert_int_equal(f.udp.check, udp6_csum_full(&f, len));
		/* Nothing else moved: version, class, flow, length, next header, payload. */
		assert_memory_equal(&f.ip6, &orig.ip6, 7);
		assert_int_equal(f.udp.len, orig.udp.len);
		assert_memory_equal(f.payload, orig.payload, len);
	}
}

/* A checksum that comes to zero goes out as 0xffff, never as 0 ("none", invalid in IPv6). */
static void test_rewrite6_computed_zero_is_ffff(void **state)
{
	struct frame6 f;
	struct wg_dst d;
	int seen = 0;

	(void)state;
	srand(5);
	for (int iter = 0; iter < 200 && !seen; iter++) {
		random_frame6(&f, 41);
		random_dst6(&d);
		for (uint32_t port = 0; port < 65536; port++) {
			struct frame6 g = f;
			d.port = htons((uint16_t)port);
			REWRITE6(&g, &d, htons(51820));
			assert_int_equal(g.udp.check, udp6_csum_full(&g, 41));
			assert_int_not_equal(g.udp.check, 0);
			if (g.udp.check == 0xffff) {
				seen++;
				break;
			}
		}
	}
	assert_true(seen > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rewrite_matches_full_computation),
		cmocka_unit_test(test_rewrite_keeps_zero_udp_checksum),
		cmocka_unit_test(test_rewrite_computed_zero_is_ffff),
		cmocka_unit_test(test_rewrite6_matches_full_computation),
		cmocka_unit_test(test_rewrite6_computed_zero_is_ffff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
