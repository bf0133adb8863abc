// SPDX-License-Identifier: MIT
/* The management thread's output buffer (src/mgmt/outbuf.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "outbuf.h"

/* Bytes come out in the order they went in, across compactions and growth. */
static void test_order_kept(void **state)
{
	(void)state;
	struct outbuf b = { 0 };
	char in[300], out[300];
	uint8_t next_in = 0, next_out = 0;

	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(round * 37 % 300) + 1;
		for (size_t i = 0; i < n; i++)
			in[i] = (char)next_in++;
		assert_int_equal(outbuf_append(&b, in, n, NULL), 0);
		/* Take a little less than was added, in odd slices. */
		size_t take = outbuf_pending(&b) > 7 ? outbuf_pending(&b) - 7 : 0;
		memcpy(out, outbuf_head(&b), take < sizeof(out) ? take : sizeof(out));
		for (size_t i = 0; i < take && i < sizeof(out); i++)
			assert_int_equal((uint8_t)out[i], (uint8_t)(next_out + i));
		size_t used = take < sizeof(out) ? take : sizeof(out);
		outbuf_consumed(&b, used);
		next_out = (uint8_t)(next_out + used);
	}
	outbuf_free(&b);
}

/*
 * A reader that keeps up, almost: 100 bytes in, 99 out, 10,000 times. The
 * unsent part never passes 10,000 bytes, so neither may the buffer (twice
 * that, for doubling). Before compaction it grew to hold everything ever
 * appended, 1 MB, since it was reset only when wholly sent.
 */
static void test_size_follows_unsent_bytes(void **state)
{
	(void)state;
	struct outbuf b = { 0 };
	char chunk[100];
	size_t most_pending = 0, grown_total = 0;
	memset(chunk, 'e', sizeof(chunk));

	for (int i = 0; i < 10000; i++) {
		size_t grown;
		assert_int_equal(outbuf_append(&b, chunk, sizeof(chunk), &grown), 0);
		grown_total += grown;
		if (outbuf_pending(&b) > most_pending)
			most_pending = outbuf_pending(&b);
		outbuf_consumed(&b, 99);
	}
	assert_true(most_pending <= 10000 + 100);
	assert_true(b.cap <= 2 * most_pending + 4096);
	assert_int_equal(grown_total, b.cap); /* every growth was reported */
	outbuf_discard(&b);
	assert_int_equal(outbuf_pending(&b), 0);
	outbuf_free(&b);
	assert_null(b.data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_size_follows_unsent_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
