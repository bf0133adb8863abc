// SPDX-License-Identifier: MIT
/* mesh.with: derper's -mesh-with list, as the mesh client dials it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mesh_with.h"

static struct mesh_target t[MESH_MAX_PEERS];
static char reason[256];

static void expect_one(const char *text, const char *host, uint16_t port, bool tls)
{
	int n = mesh_with_parse(text, t, MESH_MAX_PEERS, reason, sizeof(reason));
	if (n != 1)
		fail_msg("\"%s\": %d targets (%s)", text, n, reason);
	assert_string_equal(t[0].host, host);
	assert_int_equal(t[0].port, port);
	assert_int_equal(t[0].tls, tls);
	assert_string_equal(t[0].text, text);
}

static void expect_refused(const char *text, const char *why)
{
	reason[0] = '\0';
	assert_int_equal(mesh_with_parse(text, t, MESH_MAX_PEERS, reason, sizeof(reason)), -1);
	if (!strstr(reason, why))
		fail_msg("\"%s\": reason \"%s\", want it to say \"%s\"", text, reason, why);
}

/* derper dials https://HOST/derp: a bare host or host:port is TLS, 443 by default. */
static void test_forms(void **state)
{
	(void)state;
	expect_one("derp1.example.com", "derp1.example.com", 443, true);
	expect_one("derp1.example.com:8443", "derp1.example.com", 8443, true);
	expect_one("https://10.0.0.2", "10.0.0.2", 443, true);
	expect_one("https://10.0.0.2:444/", "10.0.0.2", 444, true);
	expect_one("http://127.0.0.1:3340", "127.0.0.1", 3340, false);
	expect_one("http://relay", "relay", 80, false);
	expect_one("[2001:db8::1]:3340", "2001:db8::1", 3340, true);
	expect_one("http://[::1]:3340", "::1", 3340, false);
	expect_one("[::1]", "::1", 443, true);
}

static void test_lists(void **state)
{
	(void)state;
	assert_int_equal(mesh_with_parse("", t, MESH_MAX_PEERS, reason, sizeof(reason)), 0);
	assert_int_equal(mesh_with_parse(" ,, ", t, MESH_MAX_PEERS, reason, sizeof(reason)), 0);
	assert_int_equal(
	    mesh_with_parse("a:1,b:2 c:3 , http://d:4", t, MESH_MAX_PEERS, reason, sizeof(reason)),
	    4);
	assert_string_equal(t[2].host, "c");
	assert_int_equal(t[3].port, 4);
	assert_false(t[3].tls);

	char many[MESH_MAX_PEERS * 8 + 16] = "";
	for (int i = 0; i <= MESH_MAX_PEERS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "h%d,", i);
	expect_refused(many, "more than 32");
}

static void test_refused(void **state)
{
	(void)state;
	expect_refused("ftp://host", "only http:// and https://");
	expect_refused("host:0", "1..65535");
	expect_refused("host:65536", "1..65535");
	expect_refused("host:12ab", "1..65535");
	expect_refused("host:", "1..65535");
	expect_refused("https://host/derp", "no path");
	expect_refused("[::1", "no ']'");
	expect_refused("[::1]x", "junk after ']'");
	expect_refused("[zz::1]:5", "IPv6");
	expect_refused("ho$t", "want HOST");
	expect_refused(":443", "want HOST");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
