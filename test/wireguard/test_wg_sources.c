// SPDX-License-Identifier: MIT
/*
 * Unknown sources and the blocklist (wg_sources.h): strikes up to the
 * threshold block an address, the block expires, `clear` lifts it, the XDP
 * mirror sees every block and unblock, and a flood of new sources cannot
 * push a blocked one out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "wg_sources.h"

#define SEC 1000000000ull

static int mirrored; /* addresses blocked in the mirror */

static void mirror(void *ctx, const uint8_t addr[16], uint64_t until_ns)
{
	(void)ctx, (void)addr;
	mirrored += until_ns ? 1 : -1;
}

static struct wg_endpoint v4(uint32_t host_order, uint16_t port)
{
	uint32_t a = __builtin_bswap32(host_order);
	return wg_endpoint_from_v4(a, __builtin_bswap16(port));
}

static void test_strikes_block_and_expire(void **state)
{
	struct wg_sources *t = wg_sources_new(0, 0);
	struct wg_endpoint x = v4(0xC0000207, 40000), x2 = v4(0xC0000207, 40001);
	uint64_t now = 100 * SEC;

	(void)state;
	assert_non_null(t);
	mirrored = 0;
	wg_sources_set_mirror(t, mirror, NULL);
	/* Datagrams without a strike (transport, an initiation for a known key) block nothing. */
	for (int i = 0; i < 100; i++)
		assert_false(wg_sources_note(t, &x, i % 2 ? 0 : -1, "a", false, now));
	assert_false(wg_sources_blocked(t, &x, now));
	for (int i = 1; i < WG_STRIKES; i++)
		assert_false(wg_sources_note(t, &x, -1, NULL, true, now));
	assert_false(wg_sources_blocked(t, &x, now));
	assert_true(wg_sources_note(t, &x2, -1, NULL, true, now)); /* same address, other port */
	assert_true(wg_sources_blocked(t, &x, now));
	assert_int_equal(mirrored, 1);
	assert_int_equal(atomic_load(&t->blocks), 1);
	struct wg_source list[4];
	assert_int_equal(wg_sources_list(t, list, 4, true, now), 1);
	assert_int_equal(list[0].count, 100 + WG_STRIKES);
	assert_int_equal(list[0].mac1_peer, 0);
	/* Still blocked just before the end, not after. */
	assert_true(wg_sources_blocked(t, &x, now + WG_BLOCK_NS - 1));
	assert_false(wg_sources_blocked(t, &x, now + WG_BLOCK_NS));
	assert_int_equal(mirrored, 0);
	assert_int_equal(wg_sources_list(t, list, 4, true, now + WG_BLOCK_NS), 0);
	/* A block served starts the count again: one strike does not block anew. */
	assert_false(wg_sources_note(t, &x, -1, NULL, true, now + WG_BLOCK_NS + 1));
	assert_false(wg_sources_blocked(t, &x, now + WG_BLOCK_NS + 1));
	/* Strikes spread wider than the window never add up. */
	now += 2 * WG_BLOCK_NS;
	for (int i = 0; i < 3 * WG_STRIKES; i++)
		assert_false(
		    wg_sources_note(t, &x, -1, NULL, true, now += WG_STRIKE_WINDOW_NS / 5));
	wg_sources_free(t);
}

static void test_clear_and_flood(void **state)
{
	struct wg_sources *t = wg_sources_new(0, 0);
	struct wg_endpoint x = v4(0xC0000207, 40000);
	uint64_t now = 100 * SEC;

	(void)state;
	mirrored = 0;
	wg_sources_set_mirror(t, mirror, NULL);
	for (int i = 0; i < WG_STRIKES; i++)
		wg_sources_note(t, &x, -1, NULL, true, now);
	assert_true(wg_sources_blocked(t, &x, now));
	/* 100,000 other sources: the table keeps its size, and x stays blocked. */
	for (uint32_t i = 0; i < 100000; i++) {
		struct wg_endpoint y = v4(0x0A000000 + i, 1);
		wg_sources_note(t, &y, -1, NULL, false, ++now);
	}
	assert_true(wg_sources_blocked(t, &x, now));
	struct wg_source list[8];
	assert_int_equal(wg_sources_list(t, list, 8, false, now), 8);
	assert_true(list[0].last_ns == now); /* newest first */
	assert_int_equal(wg_sources_clear_blocks(t), 1);
	assert_false(wg_sources_blocked(t, &x, now));
	assert_int_equal(mirrored, 0);
	wg_sources_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strikes_block_and_expire),
		cmocka_unit_test(test_clear_and_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
