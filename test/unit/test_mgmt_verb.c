// SPDX-License-Identifier: MIT
/*
 * Unit tests for mgmt_verb.c: which typed words begin which verb, and what
 * is left of it. The relay's `help VERB...` and hdcli's completion both
 * rest on this.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mgmt_verb.h"

/* The rest of verb after the words, or NULL: words as a NULL-terminated list. */
static const char *rest_of(const char *verb, const char *const *words)
{
	int argc = 0;
	while (words[argc])
		argc++;
	return mgmt_verb_rest(verb, argc, (char *const *)words);
}

static void test_no_words_begin_every_verb(void **state)
{
	(void)state;
	assert_string_equal(mgmt_verb_rest("config set", 0, NULL), "config set");
	assert_string_equal(mgmt_verb_rest("help", 0, NULL), "help");
}

static void test_whole_words_leave_the_rest(void **state)
{
	static const char *const config[] = { "config", NULL };
	static const char *const config_set[] = { "config", "set", NULL };
	static const char *const wg[] = { "wg", NULL };
	static const char *const wg_peer[] = { "wg", "peer", NULL };
	(void)state;

	assert_string_equal(rest_of("config set", config), "set");
	assert_string_equal(rest_of("config set", config_set), "");
	assert_string_equal(rest_of("wg peer add", wg), "peer add");
	assert_string_equal(rest_of("wg peer add", wg_peer), "add");
	assert_string_equal(rest_of("help", (const char *const[]){ "help", NULL }), "");
}

static void test_the_rest_points_into_the_verb(void **state)
{
	static const char verb[] = "show peers";
	static const char *const show[] = { "show", NULL };
	(void)state;
	assert_ptr_equal(rest_of(verb, show), verb + 5);
}

static void test_part_of_a_word_is_no_match(void **state)
{
	(void)state;
	assert_null(rest_of("config set", (const char *const[]){ "conf", NULL }));
	assert_null(rest_of("config set", (const char *const[]){ "config", "se", NULL }));
	assert_null(rest_of("show status", (const char *const[]){ "", NULL }));
	/* Longer than the verb's word, or a different word. */
	assert_null(rest_of("show peers", (const char *const[]){ "shows", NULL }));
	assert_null(rest_of("show peers", (const char *const[]){ "show", "peer", NULL }));
	assert_null(rest_of("show peers", (const char *const[]){ "peers", NULL }));
}

static void test_words_past_the_verb_are_no_match(void **state)
{
	(void)state;
	assert_null(rest_of("show peers", (const char *const[]){ "show", "peers", "x", NULL }));
	assert_null(rest_of("help", (const char *const[]){ "help", "show", NULL }));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_words_begin_every_verb),
		cmocka_unit_test(test_whole_words_leave_the_rest),
		cmocka_unit_test(test_the_rest_points_into_the_verb),
		cmocka_unit_test(test_part_of_a_word_is_no_match),
		cmocka_unit_test(test_words_past_the_verb_are_no_match),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
