// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_revoked.c: a revoked token id or key refuses a token
 * that is otherwise good; bad lines are refused with FILE:LINE and leave
 * nothing half-loaded; a missing file is an empty list.
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

#include "hd_revoked.h"

static char path[64];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "/tmp/hd-revoked-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void write_text(const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static struct hd_token token(uint8_t id_byte, uint8_t key_byte)
{
	struct hd_token t;
	memset(t.id, id_byte, sizeof(t.id));
	memset(t.key, key_byte, sizeof(t.key));
	t.expiry = 0;
	return t;
}

static void test_lists(void **state)
{
	(void)state;
	struct hd_revoked r;
	char err[256];

	write_text(
	    "# revoked after the laptop was lost\n"
	    "token 0101010101010101\n"
	    "\n"
	    "key nodekey:0202020202020202020202020202020202020202020202020202020202020202 # all "
	    "its tokens\n"
	    "token FFFFFFFFFFFFFFFF\n");
	assert_int_equal(hd_revoked_load(path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n_ids, 2);
	assert_int_equal(r.n_keys, 1);
	struct hd_token a = token(0x01, 0x09), b = token(0x03, 0x02), c = token(0x03, 0x09),
			d = token(0xff, 0x00);
	assert_true(hd_revoked_token(&r, &a));
	assert_true(hd_revoked_token(&r, &b));
	assert_false(hd_revoked_token(&r, &c));
	assert_true(hd_revoked_token(&r, &d));
	hd_revoked_free(&r);

	unlink(path);
	assert_int_equal(hd_revoked_load(path, &r, err, sizeof(err)), 0);
	assert_false(hd_revoked_token(&r, &a));
	hd_revoked_free(&r);
}

static void test_bad_lines(void **state)
{
	(void)state;
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "token 0101\n", ":1: a token id is 16 hex digits" },
		{ "token 010101010101010g\n", ":1: a token id is 16 hex digits" },
		{ "# ok\nkey 0202\n", ":2: a key is nodekey: and 64 hex digits" },
		{ "token\n", ":1: want \"token ID\" or \"key nodekey:HEX\"" },
		{ "token 0101010101010101 extra\n", ":1: want" },
		{ "user alice\n", ":1: unknown entry" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hd_revoked r;
		write_text(cases[i].text);
		assert_int_equal(hd_revoked_load(path, &r, err, sizeof(err)), -1);
		assert_non_null(strstr(err, path));
		assert_non_null(strstr(err, cases[i].want));
		assert_int_equal(r.n_ids + r.n_keys, 0);
		assert_null(r.ids);
	}
	/* A line longer than any entry. */
	char longline[600];
	memset(longline, 'x', sizeof(longline) - 2);
	longline[sizeof(longline) - 2] = '\n';
	longline[sizeof(longline) - 1] = '\0';
	write_text(longline);
	struct hd_revoked r;
	assert_int_equal(hd_revoked_load(path, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":1: line too long"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
