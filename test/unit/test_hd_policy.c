// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_policy.c: first match wins, rules are one-way, groups
 * and * cover what they say, an unmatched pair is denied, and a bad line is
 * refused with NAME:LINE and nothing loaded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hd_policy.h"

/* Key n: 32 bytes of n; its text: nodekey: and 64 hex digits. */
static void key(uint8_t n, uint8_t out[HD_POLICY_KEY_LEN])
{
	memset(out, n, HD_POLICY_KEY_LEN);
}

static const char *nk(uint8_t n)
{
	static char buf[8][8 + 64 + 1];
	static int next;
	char *s = buf[next++ % 8];
	snprintf(s, 9, "nodekey:");
	for (int i = 0; i < 32; i++)
		snprintf(s + 8 + 2 * i, 3, "%02x", n);
	return s;
}

static struct hd_policy *parse_ok(const char *text)
{
	struct hd_policy *p;
	char err[256] = "";
	int rc = hd_policy_parse(text, strlen(text), "pol", &p, err, sizeof(err));
	if (rc != 0)
		fail_msg("refused: %s", err);
	return p;
}

static bool may(const struct hd_policy *p, uint8_t a, uint8_t b)
{
	uint8_t ka[HD_POLICY_KEY_LEN], kb[HD_POLICY_KEY_LEN];
	key(a, ka);
	key(b, kb);
	return hd_policy_allows(p, ka, kb);
}

static void test_no_policy_allows_all(void **state)
{
	(void)state;
	assert_true(may(NULL, 1, 2));
}

static void test_one_way_and_default_deny(void **state)
{
	(void)state;
	char text[512];
	snprintf(text, sizeof(text), "allow %s %s\n", nk(1), nk(2));
	struct hd_policy *p = parse_ok(text);
	assert_true(may(p, 1, 2));
	assert_false(may(p, 2, 1)); /* one-way */
	assert_false(may(p, 1, 3)); /* no rule: denied */
	assert_false(may(p, 7, 8)); /* keys the file never names */
	assert_int_equal(p->n_rules, 1);
	assert_int_equal(p->n_keys, 2);
	hd_policy_free(p);
}

static void test_first_match_wins(void **state)
{
	(void)state;
	char text[1024];
	snprintf(text, sizeof(text),
		 "deny %s %s   # the printer talks to nobody's laptop\n"
		 "allow * *\n"
		 "deny %s *    # never reached for 1 -> 2\n",
		 nk(1), nk(2), nk(1));
	struct hd_policy *p = parse_ok(text);
	assert_false(may(p, 1, 2));
	assert_true(may(p, 1, 3)); /* allow * * comes before the deny */
	assert_true(may(p, 2, 1));
	assert_true(may(p, 9, 10)); /* unnamed keys are covered by * */
	hd_policy_free(p);
}

static void test_groups(void **state)
{
	(void)state;
	char text[2048];
	snprintf(text, sizeof(text),
		 "group laptops %s %s\n"
		 "group servers %s\n"
		 "group servers %s   # more members, before first use\n"
		 "group all group:laptops group:servers\n"
		 "allow group:laptops group:servers\n"
		 "allow group:servers group:laptops\n"
		 "deny group:all *\n"
		 "allow * group:servers\n",
		 nk(1), nk(2), nk(3), nk(4));
	struct hd_policy *p = parse_ok(text);
	assert_true(may(p, 1, 3));
	assert_true(may(p, 2, 4));
	assert_true(may(p, 4, 1));
	assert_false(may(p, 1, 2)); /* laptop to laptop: deny group:all * */
	assert_false(may(p, 3, 4)); /* server to server too */
	assert_false(may(p, 1, 9));
	assert_true(may(p, 9, 3)); /* an outsider may reach the servers */
	assert_false(may(p, 9, 1));
	assert_int_equal(p->n_groups, 3);
	hd_policy_free(p);
}

static void test_allow_all_then_unnamed(void **state)
{
	(void)state;
	struct hd_policy *p = parse_ok("# nothing but\n\nallow * *\r\n");
	assert_true(may(p, 1, 2));
	hd_policy_free(p);
	p = parse_ok("");
	assert_false(may(p, 1, 2)); /* an empty file is deny all */
	hd_policy_free(p);
}

static void expect_error(const char *text, const char *want)
{
	struct hd_policy *p = (struct hd_policy *)1;
	char err[256] = "";
	assert_int_equal(hd_policy_parse(text, strlen(text), "pol", &p, err, sizeof(err)), -1);
	assert_null(p);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_bad_lines(void **state)
{
	(void)state;
	char text[1024];

	expect_error("allow * *\npermit * *\n", "pol:2: unknown line");
	expect_error("allow *\n", "pol:1: want \"allow FROM TO\"");
	expect_error("deny * * *\n", "pol:1: want \"deny FROM TO\"");
	expect_error("allow nodekey:12 *\n", "pol:1: a key is nodekey:");
	expect_error("allow group:nope *\n", "pol:1: unknown group");
	expect_error("allow bob *\n", "pol:1: a peer is");
	expect_error("group x\n", "pol:1: want \"group NAME MEMBER...\"");
	expect_error("group x *\n", "pol:1: a group member is");
	expect_error("group bad/name *\n", "pol:1: a group name");
	snprintf(text, sizeof(text), "group a %s\n\nallow group:a *\ngroup a %s\n", nk(1), nk(2));
	expect_error(text, "pol:4: the group is used above");
	snprintf(text, sizeof(text), "group a %s\ngroup a group:a\n", nk(1));
	expect_error(text, "pol:2: a group cannot contain itself");
}

static void test_nul_in_middle(void **state)
{
	(void)state;
	struct hd_policy *p;
	char err[256];
	static const char text[] = "allow * *\n\0deny * *\n";
	assert_int_equal(hd_policy_parse(text, sizeof(text) - 1, "pol", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
}

static void test_limits(void **state)
{
	(void)state;
	size_t cap = (HD_POLICY_MAX_RULES + 2) * 12, n = 0;
	char *text = malloc(cap), err[256];
	struct hd_policy *p;

	for (int i = 0; i < HD_POLICY_MAX_RULES; i++)
		n += (size_t)snprintf(text + n, cap - n, "allow * *\n");
	assert_int_equal(hd_policy_parse(text, n, "pol", &p, err, sizeof(err)), 0);
	hd_policy_free(p);
	n += (size_t)snprintf(text + n, cap - n, "deny * *\n");
	assert_int_equal(hd_policy_parse(text, n, "pol", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pol:4097: too many rules"));
	free(text);
}

static void test_many_keys(void **state)
{
	(void)state;
	/* HD_POLICY_MAX_KEYS + 1 different keys: refused; the first MAX are fine. */
	size_t cap = (HD_POLICY_MAX_KEYS + 1) * 80 + 64, n = 0;
	char *text = malloc(cap), err[256];
	struct hd_policy *p;
	uint8_t k[HD_POLICY_KEY_LEN], last[HD_POLICY_KEY_LEN];

	n += (size_t)snprintf(text + n, cap - n, "group many");
	for (int i = 0; i < HD_POLICY_MAX_KEYS; i++) {
		n += (size_t)snprintf(text + n, cap - n, " nodekey:");
		for (int b = 0; b < 30; b++)
			n += (size_t)snprintf(text + n, cap - n, "00");
		n += (size_t)snprintf(text + n, cap - n, "%04x", i);
	}
	n += (size_t)snprintf(text + n, cap - n, "\nallow group:many group:many\n");
	assert_int_equal(hd_policy_parse(text, n, "pol", &p, err, sizeof(err)), 0);
	memset(k, 0, sizeof(k));
	memset(last, 0, sizeof(last));
	last[30] = (HD_POLICY_MAX_KEYS - 1) >> 8;
	last[31] = (HD_POLICY_MAX_KEYS - 1) & 0xff;
	assert_true(hd_policy_allows(p, k, last));
	assert_true(hd_policy_allows(p, last, k));
	hd_policy_free(p);
	n += (size_t)snprintf(text + n, cap - n, "allow %s *\n", nk(0xee));
	assert_int_equal(hd_policy_parse(text, n, "pol", &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "pol: names 4097 different keys"));
	free(text);
}

static void test_load(void **state)
{
	(void)state;
	char path[] = "/tmp/hd-policy-XXXXXX", err[256];
	struct hd_policy *p;
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "allow * *\nbogus\n", 16), 16);
	close(fd);
	assert_int_equal(hd_policy_load(path, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2: unknown line"));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	unlink(path);
	assert_int_equal(hd_policy_load(path, &p, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_policy_allows_all),
		cmocka_unit_test(test_one_way_and_default_deny),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_allow_all_then_unnamed),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_nul_in_middle),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_load),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
