// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_peer_ids.c: ids are stable per key, never reused, never
 * 0 or 0xffff, bounded (the full table refuses and counts), and every id
 * leads back to its key, at the largest size too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hd_peer_ids.h"

static void key_of(uint32_t n, uint8_t key[HD_KEY_LEN])
{
	memset(key, 0, HD_KEY_LEN);
	memcpy(key, &n, sizeof(n));
	key[31] = 0x5a;
}

static void test_stable_and_bounded(void **state)
{
	(void)state;
	struct hd_peer_ids ids;
	uint8_t k[HD_KEY_LEN];

	assert_int_equal(hd_peer_ids_init(&ids, 0), -1);
	assert_int_equal(hd_peer_ids_init(&ids, HD_PEER_IDS_MAX + 1), -1);
	assert_int_equal(hd_peer_ids_init(&ids, 3), 0);
	key_of(1, k);
	assert_int_equal(hd_peer_id_of(&ids, k, false), HD_ID_NONE);
	assert_int_equal(hd_peer_id_of(&ids, k, true), 1);
	assert_int_equal(hd_peer_id_of(&ids, k, true), 1);
	assert_int_equal(hd_peer_id_of(&ids, k, false), 1);
	key_of(2, k);
	assert_int_equal(hd_peer_id_of(&ids, k, true), 2);
	key_of(3, k);
	assert_int_equal(hd_peer_id_of(&ids, k, true), 3);
	key_of(4, k);
	assert_int_equal(hd_peer_id_of(&ids, k, true), HD_ID_NONE);
	assert_int_equal(ids.refused_full, 1);
	/* Known keys keep their ids when the table is full. */
	key_of(2, k);
	assert_int_equal(hd_peer_id_of(&ids, k, true), 2);
	assert_memory_equal(hd_peer_id_key(&ids, 2), k, HD_KEY_LEN);
	assert_null(hd_peer_id_key(&ids, 0));
	assert_null(hd_peer_id_key(&ids, 4));
	assert_null(hd_peer_id_key(&ids, HD_ID_RESERVED));
	hd_peer_ids_free(&ids);
}

static void test_largest(void **state)
{
	(void)state;
	struct hd_peer_ids ids;
	uint8_t k[HD_KEY_LEN];

	assert_int_equal(hd_peer_ids_init(&ids, HD_PEER_IDS_MAX), 0);
	for (uint32_t n = 0; n < HD_PEER_IDS_MAX; n++) {
		key_of(n, k);
		assert_int_equal(hd_peer_id_of(&ids, k, true), n + 1);
	}
	key_of(HD_PEER_IDS_MAX, k);
	assert_int_equal(hd_peer_id_of(&ids, k, true), HD_ID_NONE);
	for (uint32_t n = 0; n < HD_PEER_IDS_MAX; n += 97) {
		key_of(n, k);
		assert_int_equal(hd_peer_id_of(&ids, k, false), n + 1);
		assert_memory_equal(hd_peer_id_key(&ids, (uint16_t)(n + 1)), k, HD_KEY_LEN);
	}
	hd_peer_ids_free(&ids);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stable_and_bounded),
		cmocka_unit_test(test_largest),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
