// SPDX-License-Identifier: MIT
/*
 * bootstrap_dns.names checked and split; ?q= read as Go's URL.Query().Get
 * reads it; the answer before the first round (empty, as derper's).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bootstrap_dns.h"
#include "bootstrap_names.h"

static void test_names_split(void **state)
{
	(void)state;
	static struct bootstrap_names n;
	char reason[128];
	assert_int_equal(bootstrap_names_parse(" a.example.com,b-1.example  c_2.x., a.example.com",
					       &n, reason, sizeof(reason)),
			 0);
	assert_int_equal(n.count, 3); /* the repeat counts once */
	assert_string_equal(n.names[0], "a.example.com");
	assert_string_equal(n.names[1], "b-1.example");
	assert_string_equal(n.names[2], "c_2.x.");
	assert_int_equal(bootstrap_names_parse("", &n, reason, sizeof(reason)), 0);
	assert_int_equal(n.count, 0);
}

static void names_refused(const char *text, const char *why)
{
	static struct bootstrap_names n;
	char reason[128] = "";
	assert_int_equal(bootstrap_names_parse(text, &n, reason, sizeof(reason)), -1);
	assert_non_null(strstr(reason, why));
}

static void test_names_refused(void **state)
{
	(void)state;
	names_refused("a..b", "\"a..b\" is not a host name");
	names_refused(".a", "not a host name");
	names_refused("a.example/rollout.example", "rollout TXT records (NAME/TXTNAME) are not");
	names_refused("http://x", "not a host name");
	names_refused("x;y", "not a host name");
	char label[80];
	memset(label, 'a', 64);
	label[64] = '\0';
	names_refused(label, "not a host name"); /* a label of 64 */
	char many[2048] = "";
	for (int i = 0; i <= BOOTSTRAP_NAMES_MAX; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "n%d.example ", i);
	names_refused(many, "more than 32 names");
}

static void test_query_param(void **state)
{
	(void)state;
	char q[64];
	bootstrap_dns_query_param("q=derp.example.com", "q", q, sizeof(q));
	assert_string_equal(q, "derp.example.com");
	bootstrap_dns_query_param("x=1&q=a%2Eb&q=second", "q", q, sizeof(q));
	assert_string_equal(q, "a.b"); /* first one wins, percent-decoded */
	bootstrap_dns_query_param("qq=1&xq=2", "q", q, sizeof(q));
	assert_string_equal(q, "");
	bootstrap_dns_query_param("q=a+b%zz%4", "q", q, sizeof(q));
	assert_string_equal(q, "a b%zz%4"); /* bad escapes stay as they are */
	bootstrap_dns_query_param("", "q", q, sizeof(q));
	assert_string_equal(q, "");
	bootstrap_dns_query_param("q=0123456789012345678901234567890123456789", "q", q, 8);
	assert_string_equal(q, "0123456"); /* cut to the buffer */
}

static void test_answer_without_names(void **state)
{
	(void)state;
	struct bootstrap_dns *b = bootstrap_dns_start("", "", 600);
	assert_non_null(b);
	char *body = (char *)1;
	size_t len = 9;
	enum bootstrap_dns_query found;
	assert_int_equal(bootstrap_dns_answer(b, "q=x", &body, &len, &found), 0);
	assert_null(body);
	assert_int_equal(len, 0);
	assert_int_equal(found, BOOTSTRAP_DNS_UNPUBLISHED_MISS);
	assert_int_equal(bootstrap_dns_answer(b, "", &body, &len, &found), 0);
	assert_int_equal(found, BOOTSTRAP_DNS_NO_QUERY);
	bootstrap_dns_stop(b);
}

/* Waits for the first round: an answer with a body (bounded, 5 s). */
static char *first_answer(struct bootstrap_dns *b, const char *query,
			  enum bootstrap_dns_query *found)
{
	char *body = NULL;
	size_t len = 0;
	for (int i = 0; i < 500 && !body; i++) {
		assert_int_equal(bootstrap_dns_answer(b, query, &body, &len, found), 0);
		if (!body)
			usleep(10000);
	}
	assert_non_null(body);
	assert_int_equal(len, strlen(body));
	return body;
}

/* derper's unpublished names: only ?q= for one of them sees it, and only it. */
static void test_unpublished(void **state)
{
	(void)state;
	struct bootstrap_dns *b = bootstrap_dns_start("127.0.0.3", "127.0.0.4, 127.0.0.5", 600);
	assert_non_null(b);
	enum bootstrap_dns_query found;
	char *body = first_answer(b, "q=127.0.0.5", &found);
	assert_string_equal(body, "{\n\t\"127.0.0.5\": [\n\t\t\"127.0.0.5\"\n\t]\n}");
	assert_int_equal(found, BOOTSTRAP_DNS_UNPUBLISHED_HIT);
	free(body);
	/* Anything else gets the published list, never the unpublished names. */
	const char *queries[] = { "", "q=127.0.0.3", "q=nope.example" };
	const enum bootstrap_dns_query want[] = { BOOTSTRAP_DNS_NO_QUERY,
						  BOOTSTRAP_DNS_PUBLISHED_HIT,
						  BOOTSTRAP_DNS_UNPUBLISHED_MISS };
	for (size_t i = 0; i < 3; i++) {
		body = first_answer(b, queries[i], &found);
		assert_string_equal(body, "{\n\t\"127.0.0.3\": [\n\t\t\"127.0.0.3\"\n\t]\n}");
		assert_int_equal(found, want[i]);
		free(body);
	}
	bootstrap_dns_stop(b);

	/* Unpublished names alone: derper's published answer stays empty. */
	b = bootstrap_dns_start("", "127.0.0.4", 600);
	body = first_answer(b, "q=127.0.0.4", &found);
	free(body);
	size_t len = 1;
	assert_int_equal(bootstrap_dns_answer(b, "", &body, &len, &found), 0);
	assert_null(body);
	assert_int_equal(len, 0);
	bootstrap_dns_stop(b);
}

static void test_answer_after_a_round(void **state)
{
	(void)state;
	/* Literal addresses resolve without any network, as they do in Go. */
	struct bootstrap_dns *b = bootstrap_dns_start("127.0.0.3,::1", "", 600);
	assert_non_null(b);
	char *body = NULL;
	size_t len = 0;
	enum bootstrap_dns_query found;
	for (int i = 0; i < 500 && !body; i++) {
		assert_int_equal(bootstrap_dns_answer(b, "q=::1", &body, &len, &found), 0);
		if (!body)
			usleep(10000);
	}
	assert_non_null(body);
	assert_string_equal(body, "{\n\t\"127.0.0.3\": [\n\t\t\"127.0.0.3\"\n\t],\n"
				  "\t\"::1\": [\n\t\t\"::1\"\n\t]\n}");
	assert_int_equal(len, strlen(body));
	assert_int_equal(found, BOOTSTRAP_DNS_PUBLISHED_HIT);
	free(body);
	assert_int_equal(bootstrap_dns_lookup_failures(b), 0);
	bootstrap_dns_stop(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_split),
		cmocka_unit_test(test_names_refused),
		cmocka_unit_test(test_query_param),
		cmocka_unit_test(test_answer_without_names),
		cmocka_unit_test(test_answer_after_a_round),
		cmocka_unit_test(test_unpublished),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
