// SPDX-License-Identifier: MIT
/*
 * Per-source limits at accept: what a source is (an IPv4 address, an IPv6
 * /64), and the cap on handshakes under way per source.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "accept_limit.h"

/* An address as the slow path sees it: IPv6, IPv4 as ::ffff:a.b.c.d. */
static void addr(const char *text, uint8_t ip[16])
{
	struct in_addr v4;
	if (inet_pton(AF_INET, text, &v4) == 1) {
		memset(ip, 0, 16);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &v4, 4);
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, text, ip), 1);
}

static bool same_source(const char *a, const char *b)
{
	uint8_t ia[16], ib[16], sa[16], sb[16];
	addr(a, ia);
	addr(b, ib);
	accept_source_of(ia, sa);
	accept_source_of(ib, sb);
	return memcmp(sa, sb, 16) == 0;
}

static void test_source_is_ipv4_address_or_ipv6_64(void **state)
{
	(void)state;
	assert_true(same_source("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"));
	assert_false(same_source("2001:db8:1:2::1", "2001:db8:1:3::1"));
	assert_false(same_source("192.0.2.1", "192.0.2.2"));
	assert_true(same_source("192.0.2.1", "192.0.2.1"));
	assert_false(same_source("192.0.2.1", "::ffff:0:0"));
}

static void test_pending_cap_counts_a_64_as_one(void **state)
{
	(void)state;
	struct pending_limiter l;
	uint8_t a[16], b[16], other[16];
	assert_int_equal(pending_limiter_init(&l), 0);
	addr("2001:db8::1", a);
	addr("2001:db8::2", b);
	addr("2001:db8:0:1::1", other);

	int32_t s1 = pending_limiter_take(&l, a, 2);
	int32_t s2 = pending_limiter_take(&l, b, 2);
	assert_true(s1 >= 0 && s2 == s1);
	/* A third address of the same /64 is over the cap; another /64 is not. */
	assert_int_equal(pending_limiter_take(&l, b, 2), -1);
	int32_t s3 = pending_limiter_take(&l, other, 2);
	assert_true(s3 >= 0);
	/* A handshake that ends makes room again. */
	pending_limiter_put(&l, s1);
	assert_int_equal(pending_limiter_take(&l, a, 2), s1);
	/* 0: no cap. */
	for (int i = 0; i < 1000; i++)
		assert_true(pending_limiter_take(&l, a, 0) >= 0);
	pending_limiter_put(&l, -1); /* never taken: harmless */
	pending_limiter_destroy(&l);
}

static void test_rate_limit_counts_a_64_as_one(void **state)
{
	(void)state;
	struct accept_limiter l;
	uint8_t a[16], b[16], other[16];
	assert_int_equal(accept_limiter_init(&l, 2), 0);
	addr("2001:db8::1", a);
	addr("2001:db8::ffff", b);
	addr("2001:db8:0:1::1", other);
	assert_true(accept_limiter_allow(&l, a, 0));
	assert_true(accept_limiter_allow(&l, b, 0));
	assert_false(accept_limiter_allow(&l, a, 0)); /* the /64 used its 2 per second */
	assert_true(accept_limiter_allow(&l, other, 0));
	assert_true(accept_limiter_allow(&l, b, 1000000000ull)); /* a second later */
	accept_limiter_destroy(&l);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_source_is_ipv4_address_or_ipv6_64),
		cmocka_unit_test(test_pending_cap_counts_a_64_as_one),
		cmocka_unit_test(test_rate_limit_counts_a_64_as_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
