// SPDX-License-Identifier: MIT
/* The worker's routing table: many connections under one key, the active one, removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "peer_table.h"

static const uint8_t hash_key[16] = { 1, 2, 3 };

static struct peer_loc loc_of(uint64_t seq, uint16_t worker)
{
	return (struct peer_loc){ .seq = seq, .worker = worker, .conn_id = (uint32_t)seq };
}

/*
 * Keys cost nothing, so one client can register any number of connections
 * under one key: the counts must not wrap (they did at 32,768 with 16-bit
 * counts, and realloc to 0 freed the array under the entry).
 */
static void test_65536_connections_under_one_key(void **state)
{
	(void)state;
	enum { N = 65536 };
	struct peer_table t;
	uint8_t key[KEY_LEN] = { 7 };
	assert_int_equal(peer_table_init(&t, hash_key, 0), 0);
	struct peer_entry *e = peer_table_get_or_add(&t, key);
	assert_non_null(e);
	for (uint64_t seq = 1; seq <= N; seq++) {
		struct peer_loc loc = loc_of(seq, (uint16_t)(seq % 2));
		assert_int_equal(peer_entry_add_loc(&t, e, &loc), 0);
	}
	assert_true(e->nlocs == N);
	assert_true(peer_entry_active(e)->seq == N);
	/* Worker 0 owns the even seqs. */
	assert_true(peer_entry_local_newest(e)->seq == N);
	assert_ptr_equal(peer_table_lookup(&t, key), e);
	/* Newest first: each removal hands the key to the next newest. */
	for (uint64_t seq = N; seq >= 2; seq--) {
		assert_true(peer_entry_remove_loc(&t, e, seq));
		assert_true(peer_entry_active(e)->seq == seq - 1);
		assert_true(peer_entry_local_newest(e)->seq == ((seq - 1) & ~1ull));
		if (seq == 3)
			break;
	}
	assert_true(peer_entry_remove_loc(&t, e, 2));
	assert_null(peer_entry_local_newest(e));
	assert_false(peer_entry_remove_loc(&t, e, 2));
	assert_true(peer_entry_remove_loc(&t, e, 1));
	assert_null(peer_entry_active(e));
	peer_table_remove(&t, e);
	assert_null(peer_table_lookup(&t, key));
	peer_table_destroy(&t);
}

/*
 * Registrations from different workers arrive in any order: the newest is
 * active whatever the order, and so is the newest of the table's own worker.
 */
static void test_active_is_the_newest_in_any_order(void **state)
{
	(void)state;
	struct peer_table t;
	uint8_t key[KEY_LEN] = { 9 };
	assert_int_equal(peer_table_init(&t, hash_key, 1), 0);
	struct peer_entry *e = peer_table_get_or_add(&t, key);
	assert_non_null(e);
	static const struct {
		uint64_t seq;
		uint16_t worker;
		uint64_t want_active, want_local;
	} steps[] = {
		{ 50, 0, 50, 0 },  { 20, 1, 50, 20 }, { 70, 1, 70, 70 },
		{ 60, 1, 70, 70 }, { 10, 0, 70, 70 }, { 80, 0, 80, 70 },
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct peer_loc loc = loc_of(steps[i].seq, steps[i].worker);
		assert_int_equal(peer_entry_add_loc(&t, e, &loc), 0);
		assert_true(peer_entry_active(e)->seq == steps[i].want_active);
		const struct peer_loc *local = peer_entry_local_newest(e);
		assert_true(local ? local->seq == steps[i].want_local : steps[i].want_local == 0);
	}
	for (uint32_t i = 1; i < e->nlocs; i++)
		assert_true(e->locs[i - 1].seq < e->locs[i].seq);
	/* Removing the local newest hands over to the next older local one. */
	assert_true(peer_entry_remove_loc(&t, e, 70));
	assert_true(peer_entry_local_newest(e)->seq == 60);
	assert_true(peer_entry_active(e)->seq == 80);
	assert_true(peer_entry_remove_loc(&t, e, 80));
	assert_true(peer_entry_active(e)->seq == 60);
	assert_false(peer_entry_remove_loc(&t, e, 80));
	assert_true(peer_entry_remove_loc(&t, e, 20));
	assert_true(peer_entry_local_newest(e)->seq == 60);
	assert_true(peer_entry_remove_loc(&t, e, 60));
	assert_null(peer_entry_local_newest(e));
	assert_true(peer_entry_active(e)->seq == 50);
	peer_table_destroy(&t);
}

/* Stands in for the worker's connections: which are live, and the pass each was last seen in. */
enum { SUB_CONNS = 10000 };
static bool sub_live[SUB_CONNS];
static uint64_t sub_seen[SUB_CONNS];
static uint64_t keep_calls;

static bool fake_keep(void *ctx, uint32_t conn_id, uint32_t gen, uint64_t pass)
{
	(void)ctx;
	(void)gen;
	keep_calls++;
	if (!sub_live[conn_id] || sub_seen[conn_id] == pass)
		return false;
	sub_seen[conn_id] = pass;
	return true;
}

/*
 * One key that sent to 10,000 connections, then alternates between two of
 * them: recording a subscriber costs O(1) amortized (the old list was
 * scanned on every call, 10,000 entries for each packet), the list stays
 * within a small multiple of its live members, and after compaction each
 * live one is there exactly once, the gone ones not at all.
 */
static void test_subscribers_cost_o1_and_stay_bounded(void **state)
{
	(void)state;
	enum { ADDS = 200000 };
	struct peer_table t;
	uint8_t key[KEY_LEN] = { 5 };
	assert_int_equal(peer_table_init(&t, hash_key, 0), 0);
	struct peer_entry *e = peer_table_get_or_add(&t, key);
	assert_non_null(e);
	memset(sub_seen, 0, sizeof(sub_seen));
	for (uint32_t i = 0; i < SUB_CONNS; i++) {
		sub_live[i] = true;
		assert_int_equal(peer_entry_add_sub(&t, e, i, 1, UINT32_MAX, fake_keep, NULL), 0);
	}
	keep_calls = 0;
	for (uint32_t i = 0; i < ADDS; i++)
		assert_int_equal(peer_entry_add_sub(&t, e, i % 2 ? 17 : 4242, 1, UINT32_MAX, fake_keep, NULL),
				 0);
	/* Each append pays for under two looks in later passes. */
	assert_true(keep_calls <= 2ull * ADDS);
	assert_true(e->cap_subs <= 4 * SUB_CONNS);

	/* Half go away, and are dropped; each remaining one is listed once. */
	for (uint32_t i = 0; i < SUB_CONNS; i += 2)
		sub_live[i] = false;
	peer_entry_compact_subs(&t, e, fake_keep, NULL);
	assert_int_equal(e->nsubs, SUB_CONNS / 2);
	static uint8_t listed[SUB_CONNS];
	memset(listed, 0, sizeof(listed));
	for (uint32_t i = 0; i < e->nsubs; i++) {
		assert_true(sub_live[e->subs[i].conn_id]);
		assert_int_equal(listed[e->subs[i].conn_id]++, 0);
	}
	peer_table_destroy(&t);
}

/*
 * Mesh links a key is homed on: in the order they said so (the first keeps
 * the packets, as derper's multiForwarder), repeats ignored, and apart from
 * the local connections (never the active one, whatever their order).
 */
static void test_remotes_keep_their_order(void **state)
{
	(void)state;
	struct peer_table t;
	uint8_t key[KEY_LEN] = { 9 };
	assert_int_equal(peer_table_init(&t, hash_key, 0), 0);
	struct peer_entry *e = peer_table_get_or_add(&t, key);
	assert_non_null(e);
	assert_int_equal(peer_entry_add_remote(e, 2), 0);
	assert_int_equal(peer_entry_add_remote(e, 0), 0);
	assert_int_equal(peer_entry_add_remote(e, 2), 0);
	assert_int_equal(e->nremotes, 2);
	assert_int_equal(e->remotes[0], 2);
	assert_null(peer_entry_active(e));
	struct peer_loc loc = loc_of(5, 1);
	assert_int_equal(peer_entry_add_loc(&t, e, &loc), 0);
	assert_true(peer_entry_active(e)->seq == 5);
	assert_false(peer_entry_remove_remote(e, 1));
	assert_true(peer_entry_remove_remote(e, 2));
	assert_int_equal(e->nremotes, 1);
	assert_int_equal(e->remotes[0], 0);
	assert_true(peer_entry_remove_remote(e, 0));
	assert_int_equal(e->nremotes, 0);
	assert_int_equal(peer_entry_add_remote(e, 3), 0);
	/* Removing the entry frees its remotes too (the ASan build checks). */
	peer_table_remove(&t, e);
	peer_table_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_65536_connections_under_one_key),
		cmocka_unit_test(test_active_is_the_newest_in_any_order),
		cmocka_unit_test(test_subscribers_cost_o1_and_stay_bounded),
		cmocka_unit_test(test_remotes_keep_their_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
