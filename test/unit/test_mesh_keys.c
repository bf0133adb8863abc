// SPDX-License-Identifier: MIT
/*
 * The keys homed on one mesh peer (src/mesh/mesh_keys.c): the bound, and
 * clearing a table of many keys, whose probe runs wrap around its end.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "derp_frame.h"
#include "mesh_keys.h"

static const uint8_t hash_key[16] = { 9, 8, 7 };

/* A 51-byte PeerPresent payload for key number i. */
static void present_of(uint32_t i, uint8_t p[DERP_PEER_PRESENT_LEN])
{
	memset(p, 0, DERP_PEER_PRESENT_LEN);
	memcpy(p, &i, sizeof(i));
	p[KEY_LEN + 16] = (uint8_t)(i >> 8);
	p[KEY_LEN + 17] = (uint8_t)i;
	p[KEY_LEN + 18] = DERP_PEER_PRESENT_IS_REGULAR;
}

/*
 * mesh_keys_clear walks the slots once, removing as it goes; a removal
 * shifts later members of a probe run back. Enough keys that runs wrap
 * the table's end, cleared, must leave nothing, and the table usable.
 */
static void test_clear_many(void **state)
{
	(void)state;
	enum { N = 50000 };
	struct mesh_keys k;
	assert_int_equal(mesh_keys_init(&k, hash_key, 3), 0);
	uint8_t p[DERP_PEER_PRESENT_LEN];
	for (uint32_t round = 0; round < 2; round++) {
		for (uint32_t i = 0; i < N; i++) {
			present_of(i + round * N, p);
			assert_int_equal(mesh_keys_present(&k, p, sizeof(p), N), 1);
		}
		assert_int_equal(mesh_keys_count(&k), N);
		mesh_keys_clear(&k);
		assert_int_equal(mesh_keys_count(&k), 0);
		uint32_t pos = 0;
		assert_null(peer_table_next(&k.table, &pos));
	}
	mesh_keys_destroy(&k);
}

/* At max keys a new key is refused, a repeat is taken; a copy holds what was sent. */
static void test_bound_and_copy(void **state)
{
	(void)state;
	struct mesh_keys k;
	assert_int_equal(mesh_keys_init(&k, hash_key, 5), 0);
	uint8_t p[DERP_PEER_PRESENT_LEN];
	present_of(1, p);
	assert_int_equal(mesh_keys_present(&k, p, sizeof(p), 2), 1);
	present_of(2, p);
	assert_int_equal(mesh_keys_present(&k, p, sizeof(p), 2), 1);
	present_of(3, p);
	assert_int_equal(mesh_keys_present(&k, p, sizeof(p), 2), -ENOSPC);
	present_of(2, p);
	p[KEY_LEN + 18] = DERP_PEER_PRESENT_NOT_IDEAL;
	assert_int_equal(mesh_keys_present(&k, p, sizeof(p), 2), 0);
	assert_int_equal(mesh_keys_present(&k, p, KEY_LEN - 1, 2), -EINVAL);

	struct mesh_key_info *out = NULL;
	size_t n = 0, cap = 0;
	assert_int_equal(mesh_keys_copy(&k, &out, &n, &cap), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		uint32_t id;
		memcpy(&id, out[i].key, sizeof(id));
		assert_int_equal(out[i].link, 5);
		assert_int_equal(out[i].port, id);
		assert_int_equal(out[i].flags, id == 2 ? DERP_PEER_PRESENT_NOT_IDEAL
						       : DERP_PEER_PRESENT_IS_REGULAR);
	}
	free(out);
	uint8_t key[KEY_LEN] = { 1 };
	assert_true(mesh_keys_gone(&k, key));
	assert_false(mesh_keys_gone(&k, key));
	present_of(3, p);
	assert_int_equal(mesh_keys_present(&k, p, sizeof(p), 2), 1);
	mesh_keys_destroy(&k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clear_many),
		cmocka_unit_test(test_bound_and_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
