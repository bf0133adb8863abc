// SPDX-License-Identifier: MIT
/* debug.allow's network lists: parsing, refusals, and matching mapped IPv4 and IPv6. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ip_prefix.h"

/* addr as the slow path stores peers: IPv6, or IPv4 as ::ffff:a.b.c.d. */
static void peer(const char *text, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out + 12) == 1) {
		out[10] = out[11] = 0xff;
		return;
	}
	assert_int_equal(inet_pton(AF_INET6, text, out), 1);
}

static bool allows(const struct ip_prefix_list *l, const char *addr)
{
	uint8_t a[16];
	peer(addr, a);
	return ip_prefix_list_contains(l, a);
}

static void test_matches(void **state)
{
	(void)state;
	struct ip_prefix_list l;
	char reason[128];
	assert_int_equal(ip_prefix_list_parse("127.0.0.0/8, ::1 10.1.0.0/16,fd7a:115c:a1e0::/48",
					      &l, reason, sizeof(reason)),
			 0);
	assert_int_equal(l.count, 4);
	assert_true(allows(&l, "127.0.0.1"));
	assert_true(allows(&l, "127.255.0.2"));
	assert_false(allows(&l, "128.0.0.1"));
	assert_true(allows(&l, "::1"));
	assert_false(allows(&l, "::2"));
	assert_true(allows(&l, "10.1.200.3"));
	assert_false(allows(&l, "10.2.0.1"));
	assert_true(allows(&l, "fd7a:115c:a1e0:ab12::1"));
	assert_false(allows(&l, "fd7a:115c:a1e1::1"));
	/* An IPv4 network never matches a native IPv6 address with the same bits. */
	assert_false(allows(&l, "::7f00:1"));
}

static void test_host_and_edges(void **state)
{
	(void)state;
	struct ip_prefix_list l;
	char reason[128];
	assert_int_equal(ip_prefix_list_parse("127.0.0.1/32", &l, reason, sizeof(reason)), 0);
	assert_true(allows(&l, "127.0.0.1"));
	assert_false(allows(&l, "127.0.0.2"));
	assert_int_equal(ip_prefix_list_parse("0.0.0.0/0", &l, reason, sizeof(reason)), 0);
	assert_true(allows(&l, "192.0.2.1"));
	assert_false(allows(&l, "2001:db8::1"));
	assert_int_equal(ip_prefix_list_parse("::/0", &l, reason, sizeof(reason)), 0);
	assert_true(allows(&l, "2001:db8::1"));
	assert_int_equal(ip_prefix_list_parse("10.128.0.0/9", &l, reason, sizeof(reason)), 0);
	assert_true(allows(&l, "10.200.0.1"));
	assert_false(allows(&l, "10.100.0.1"));
	assert_int_equal(ip_prefix_list_parse("", &l, reason, sizeof(reason)), 0);
	assert_int_equal(l.count, 0);
	assert_false(allows(&l, "127.0.0.1"));
}

static void refused(const char *text, const char *why)
{
	struct ip_prefix_list l = { .count = 7 };
	char reason[128] = "";
	assert_int_equal(ip_prefix_list_parse(text, &l, reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, why));
	assert_int_equal(l.count, 7); /* untouched */
}

static void test_refusals(void **state)
{
	(void)state;
	refused("10.0.0.0/33", "prefix length must be 0..32");
	refused("::/129", "prefix length must be 0..128");
	refused("10.0.0.1/8", "bits set past the prefix length");
	refused("10.0.0.0/", "bad prefix length");
	refused("10.0.0.0/-1", "bad prefix length");
	refused("10.0.0.0/8x", "prefix length must be");
	refused("example.com", "not an IPv4 or IPv6 address");
	refused("127.0.0.0/8; rm", "prefix length must be 0..32");
	char many[1024] = "";
	for (int i = 0; i <= IP_PREFIX_LIST_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "10.0.%d.0/24 ", i);
	refused(many, "more than 32 networks");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_host_and_edges),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
