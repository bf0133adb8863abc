// SPDX-License-Identifier: MIT
/* The TCP engine's wire layer: checksums, parsing, options, the ranges set. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tcp_csum.h"
#include "tcp_ranges.h"
#include "tcp_test_peer.h"

/* The textbook 16-bit loop, as an oracle for the 8-byte-at-a-time sum. */
static uint16_t naive_sum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

static void csum_matches_naive(void **state)
{
	(void)state;
	uint8_t buf[2000];
	srand(7);
	for (size_t len = 0; len < sizeof(buf); len += 1 + (size_t)(rand() % 37)) {
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		/* Odd start addresses too: the loads must not assume alignment. */
		size_t off = len & 1;
		assert_int_equal(tcp_csum_fold(tcp_csum_add(0, buf + off, len - off)),
				 naive_sum(buf + off, len - off));
	}
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(tcp_csum_fold(tcp_csum_add(0, buf, sizeof(buf))), naive_sum(buf, 2000));
}

static void build_parse_roundtrip(int family)
{
	struct tcp_snapshot snap;
	test_snapshot(&snap, family, 1000, 2000);
	struct tcp_out_opts o = { .wscale = -1, .ts = true, .tsval = 77, .tsecr = 66, .nsack = 2 };
	o.sack_start[0] = 10;
	o.sack_end[0] = 20;
	o.sack_start[1] = 30;
	o.sack_end[1] = 40;
	uint8_t pkt[TCP_PKT_MAX];
	size_t hdr = tcp_header_len(family, &o);
	memcpy(pkt + hdr, "hello", 5);
	size_t n =
	    tcp_build(pkt, &snap.flow, 0xfffffff0u, 5, TCP_FLAG_ACK | TCP_FLAG_PSH, 1234, &o, 5, 9);
	struct tcp_segment seg;
	assert_int_equal(tcp_parse(pkt, n, false, &seg), TCP_PARSE_OK);
	assert_int_equal(seg.family, family);
	assert_int_equal(seg.seq, 0xfffffff0u);
	assert_int_equal(seg.ack, 5);
	assert_int_equal(seg.win, 1234);
	assert_int_equal(seg.flags, TCP_FLAG_ACK | TCP_FLAG_PSH);
	assert_int_equal(seg.len, 5);
	assert_memory_equal(seg.payload, "hello", 5);
	assert_true(seg.has_ts);
	assert_int_equal(seg.tsval, 77);
	assert_int_equal(seg.tsecr, 66);
	assert_int_equal(seg.nsack, 2);
	assert_int_equal(seg.sack_start[1], 30);
	assert_int_equal(seg.sack_end[1], 40);
	assert_int_equal(seg.src_port, snap.flow.local_port);

	/* One flipped payload bit: a bad checksum. */
	pkt[n - 1] ^= 1;
	assert_int_equal(tcp_parse(pkt, n, false, &seg), TCP_PARSE_BAD_CSUM);
	pkt[n - 1] ^= 1;

	/*
	 * CHECKSUM_PARTIAL: the field holds the folded pseudo-header sum only.
	 * Accepted only when the caller allows it.
	 */
	size_t ip_len = family == AF_INET ? 20 : 40;
	uint8_t *th = pkt + ip_len;
	uint32_t pseudo = tcp_csum_pseudo(family, snap.flow.local_ip, snap.flow.remote_ip,
					  (uint32_t)(n - ip_len));
	uint16_t partial = tcp_csum_fold(pseudo);
	th[16] = (uint8_t)(partial >> 8);
	th[17] = (uint8_t)partial;
	assert_int_equal(tcp_parse(pkt, n, false, &seg), TCP_PARSE_BAD_CSUM);
	assert_int_equal(tcp_parse(pkt, n, true, &seg), TCP_PARSE_OK);
	assert_int_equal(seg.len, 5);
	/* ...but not an arbitrary wrong value. */
	th[17] ^= 0x10;
	assert_int_equal(tcp_parse(pkt, n, true, &seg), TCP_PARSE_BAD_CSUM);
}

static void roundtrip_v4(void **state)
{
	(void)state;
	build_parse_roundtrip(AF_INET);
}

static void roundtrip_v6(void **state)
{
	(void)state;
	build_parse_roundtrip(AF_INET6);
}

static void parse_rejects(void **state)
{
	(void)state;
	struct tcp_snapshot snap;
	test_snapshot(&snap, AF_INET, 1, 2);
	struct tcp_out_opts o = { .wscale = -1 };
	uint8_t pkt[TCP_PKT_MAX];
	size_t n = tcp_build(pkt, &snap.flow, 1, 2, TCP_FLAG_ACK, 100, &o, 0, 1);
	struct tcp_segment seg;
	/* Truncated below the IP total length. */
	assert_int_equal(tcp_parse(pkt, n - 1, false, &seg), TCP_PARSE_MALFORMED);
	assert_int_equal(tcp_parse(pkt, 0, false, &seg), TCP_PARSE_MALFORMED);
	/* A fragment (MF set): not for the engine. Fix the IP checksum so only MF differs. */
	uint8_t frag[TCP_PKT_MAX];
	memcpy(frag, pkt, n);
	frag[6] |= 0x20;
	frag[10] = frag[11] = 0;
	uint16_t c = (uint16_t)~tcp_csum_fold(tcp_csum_add(0, frag, 20));
	frag[10] = (uint8_t)(c >> 8);
	frag[11] = (uint8_t)c;
	assert_int_equal(tcp_parse(frag, n, false, &seg), TCP_PARSE_NOT_TCP);
	/* A data offset past the segment. */
	memcpy(frag, pkt, n);
	frag[20 + 12] = 0xf0;
	assert_int_equal(tcp_parse(frag, n, false, &seg), TCP_PARSE_MALFORMED);
	/* A bad IPv4 header checksum. */
	memcpy(frag, pkt, n);
	frag[8] = 1;
	assert_int_equal(tcp_parse(frag, n, false, &seg), TCP_PARSE_BAD_CSUM);
}

static void syn_options(void **state)
{
	(void)state;
	struct tcp_snapshot snap;
	test_snapshot(&snap, AF_INET, 1, 2);
	struct tcp_out_opts o = {
		.mss = 1460, .wscale = 7, .sack_permitted = true, .ts = true, .tsval = 5
	};
	uint8_t pkt[TCP_PKT_MAX];
	size_t n = tcp_build(pkt, &snap.flow, 1, 0, TCP_FLAG_SYN, 65535, &o, 0, 1);
	struct tcp_segment seg;
	assert_int_equal(tcp_parse(pkt, n, false, &seg), TCP_PARSE_OK);
	assert_int_equal(seg.mss, 1460);
	assert_int_equal(seg.wscale, 7);
	assert_true(seg.sack_permitted);
	assert_true(seg.has_ts);
	assert_int_equal(seg.tsval, 5);
}

static void ranges_merge_and_bound(void **state)
{
	(void)state;
	struct tcp_ranges r = { 0 };
	/* Across the sequence wrap. */
	uint32_t base = 0xfffffc00u;
	assert_true(tcp_ranges_add(&r, base + 200, base + 300));
	assert_true(tcp_ranges_add(&r, base + 1000, base + 1100)); /* past 2^32 */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last, 1);
	assert_true(tcp_ranges_add(&r, base + 300, base + 400)); /* touches the first */
	assert_int_equal(r.n, 2);
	assert_int_equal(r.last, 0);
	assert_int_equal(tcp_ranges_bytes(&r), 300);
	assert_true(tcp_ranges_add(&r, base + 350, base + 1050)); /* bridges both */
	assert_int_equal(r.n, 1);
	assert_int_equal(r.start[0], base + 200);
	assert_int_equal(r.end[0], base + 1100);
	assert_int_equal(tcp_ranges_skip(&r, base + 500), base + 1100);
	assert_int_equal(tcp_ranges_skip(&r, base + 100), base + 100);
	assert_int_equal(tcp_ranges_bytes_in(&r, base, base + 300), 100);
	tcp_ranges_trim(&r, base + 1000);
	assert_int_equal(r.start[0], base + 1000);
	tcp_ranges_trim(&r, base + 1100);
	assert_int_equal(r.n, 0);

	/* Full: a new disjoint range is refused, one that merges is not. */
	for (uint32_t i = 0; i < TCP_RANGES_MAX; i++)
		assert_true(tcp_ranges_add(&r, i * 100, i * 100 + 10));
	assert_false(tcp_ranges_add(&r, 5000, 5010));
	assert_true(tcp_ranges_add(&r, 10, 20));
	assert_int_equal(r.n, TCP_RANGES_MAX);
	assert_int_equal(tcp_ranges_next_start(&r, 15, 10000), 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(csum_matches_naive), cmocka_unit_test(roundtrip_v4),
		cmocka_unit_test(roundtrip_v6),	      cmocka_unit_test(parse_rejects),
		cmocka_unit_test(syn_options),	      cmocka_unit_test(ranges_merge_and_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
