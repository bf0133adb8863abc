// SPDX-License-Identifier: MIT
/*
 * Unit tests for hd_route.c, the fleet's path vector: several relays' tables
 * exchange announcements in rounds, as fleet links would, and every path is
 * then followed hop by hop: it must reach its destination with the fewest
 * hops, never loop (checked after every round, not only once converged),
 * and move when a link is cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hd_route.h"

#define MAXR 8

struct fleet {
	int n;
	struct hd_route_table t[MAXR];
	/* link index on relay i towards relay j, -1 = no link */
	int link[MAXR][MAXR];
};

static uint16_t id_of(int i)
{
	return (uint16_t)(100 + i);
}

static void fleet_init(struct fleet *f, int n)
{
	f->n = n;
	for (int i = 0; i < n; i++) {
		assert_int_equal(hd_route_init(&f->t[i], id_of(i), 64), 0);
		for (int j = 0; j < n; j++)
			f->link[i][j] = -1;
	}
}

static void fleet_free(struct fleet *f)
{
	for (int i = 0; i < f->n; i++)
		hd_route_free(&f->t[i]);
}

static void connect(struct fleet *f, int a, int b)
{
	f->link[a][b] = hd_route_link_up(&f->t[a], id_of(b));
	f->link[b][a] = hd_route_link_up(&f->t[b], id_of(a));
	assert_true(f->link[a][b] >= 0 && f->link[b][a] >= 0);
}

static void cut(struct fleet *f, int a, int b)
{
	hd_route_link_down(&f->t[a], f->link[a][b]);
	hd_route_link_down(&f->t[b], f->link[b][a]);
	f->link[a][b] = f->link[b][a] = -1;
}

/* One round: every relay announces to every neighbour. Returns the routes changed. */
static size_t fleet_round(struct fleet *f)
{
	struct hd_route out[HD_ROUTE_ANNOUNCE_MAX];
	size_t changed = 0;

	for (int i = 0; i < f->n; i++) {
		for (int j = 0; j < f->n; j++) {
			if (f->link[i][j] < 0)
				continue;
			size_t k = hd_route_announce_out(&f->t[i], f->link[i][j], out,
							 HD_ROUTE_ANNOUNCE_MAX);
			changed += hd_route_announce_in(&f->t[j], f->link[j][i], out, k);
		}
	}
	return changed;
}

/*
 * Follows next hops from a to b; returns the hops taken, -1 if unreachable,
 * or LOOP when the walk runs longer than any path in the fleet could.
 */
#define LOOP (-100)
static int follow(const struct fleet *f, int a, int b)
{
	int at = a, hops = 0;

	while (at != b) {
		int link = hd_route_next(&f->t[at], id_of(b));
		if (link == -2)
			return -1;
		assert_true(link >= 0);
		int next = -1;
		for (int j = 0; j < f->n; j++)
			if (f->link[at][j] == link)
				next = j;
		assert_true(next >= 0);
		at = next;
		if (++hops > f->n)
			return LOOP;
	}
	return hops;
}

/*
 * Rounds until nothing changes; returns how many it took. Paths that loop
 * while announcements are still moving are counted in *transient (FleetData's
 * hops-left bounds what they cost); once converged, none may.
 */
static int fleet_converge_counting(struct fleet *f, int *transient)
{
	for (int r = 1; r <= 2 * HD_ROUTE_MAX_PATH; r++) {
		size_t changed = fleet_round(f);
		for (int a = 0; a < f->n; a++) {
			for (int b = 0; b < f->n; b++) {
				if (follow(f, a, b) != LOOP)
					continue;
				assert_true(changed > 0);
				(*transient)++;
			}
		}
		if (changed == 0)
			return r;
	}
	fail_msg("no convergence");
	return -1;
}

/* Converges where no path may loop even midway (the small fleets of the cases below). */
static int fleet_converge(struct fleet *f)
{
	int transient = 0;
	int rounds = fleet_converge_counting(f, &transient);
	assert_int_equal(transient, 0);
	return rounds;
}

static void test_line_and_shortcut(void **state)
{
	(void)state;
	struct fleet f;

	/* 0 - 1 - 2 - 3 - 4 */
	fleet_init(&f, 5);
	for (int i = 0; i < 4; i++)
		connect(&f, i, i + 1);
	fleet_converge(&f);
	for (int a = 0; a < 5; a++)
		for (int b = 0; b < 5; b++)
			assert_int_equal(follow(&f, a, b), a > b ? a - b : b - a);
	assert_int_equal(hd_route_next(&f.t[2], id_of(2)), -1);
	assert_int_equal(hd_route_next(&f.t[2], 999), -2);

	/* A shortcut 0 - 4 makes the ring shorter both ways. */
	connect(&f, 0, 4);
	fleet_converge(&f);
	assert_int_equal(follow(&f, 0, 4), 1);
	assert_int_equal(follow(&f, 1, 4), 2);
	assert_int_equal(follow(&f, 0, 3), 2);
	fleet_free(&f);
}

static void test_reroute_after_cut(void **state)
{
	(void)state;
	struct fleet f;

	/* A ring of 6: cutting one link sends traffic the long way round. */
	fleet_init(&f, 6);
	for (int i = 0; i < 6; i++)
		connect(&f, i, (i + 1) % 6);
	fleet_converge(&f);
	assert_int_equal(follow(&f, 0, 1), 1);
	assert_int_equal(follow(&f, 0, 3), 3);

	cut(&f, 0, 1);
	/* At once, before any announcement: 0 has no route through the dead link. */
	assert_true(hd_route_next(&f.t[0], id_of(1)) != f.link[0][1]);
	fleet_converge(&f);
	for (int a = 0; a < 6; a++)
		for (int b = 0; b < 6; b++)
			assert_true(follow(&f, a, b) >= 0);
	assert_int_equal(follow(&f, 0, 1), 5);
	assert_int_equal(follow(&f, 1, 0), 5);
	fleet_free(&f);
}

static void test_partition_without_counting_to_infinity(void **state)
{
	(void)state;
	struct fleet f;

	/*
	 * A triangle 0-1-2 with 3 hanging off 2. Cutting 2-3 leaves a loop
	 * (0, 1, 2) where a distance vector would count to infinity for relay
	 * 3: paths end with 3 unreachable everywhere within a few rounds, and
	 * no path loops on the way.
	 */
	fleet_init(&f, 4);
	connect(&f, 0, 1);
	connect(&f, 1, 2);
	connect(&f, 2, 0);
	connect(&f, 2, 3);
	fleet_converge(&f);
	assert_int_equal(follow(&f, 0, 3), 2);

	cut(&f, 2, 3);
	assert_true(fleet_converge(&f) <= 3);
	for (int a = 0; a < 3; a++)
		assert_int_equal(follow(&f, a, 3), -1);
	assert_int_equal(follow(&f, 3, 0), -1);
	/* Healing the cut brings it back. */
	connect(&f, 3, 1);
	fleet_converge(&f);
	assert_int_equal(follow(&f, 0, 3), 2);
	assert_int_equal(follow(&f, 1, 3), 1);
	fleet_free(&f);
}

/* Hops from a to every relay over the fleet's links (breadth first), -1 = unreachable. */
static void bfs(const struct fleet *f, int a, int dist[MAXR])
{
	int queue[MAXR], head = 0, tail = 0;

	for (int i = 0; i < f->n; i++)
		dist[i] = -1;
	dist[a] = 0;
	queue[tail++] = a;
	while (head < tail) {
		int at = queue[head++];
		for (int j = 0; j < f->n; j++) {
			if (f->link[at][j] >= 0 && dist[j] < 0) {
				dist[j] = dist[at] + 1;
				queue[tail++] = j;
			}
		}
	}
}

static void test_random_cuts(void **state)
{
	(void)state;
	struct fleet f;
	uint32_t rng = 12345;

	/*
	 * Eight relays; links come and go at random. Once converged, every path
	 * is a shortest one and none loops. While announcements move, a path
	 * can loop for a round in a mesh this dense (two relays each take a
	 * stale path through the other); the count is printed, and FleetData's
	 * hops-left drops what is caught in one.
	 */
	int transient = 0, rounds = 0, changes = 0;
	fleet_init(&f, MAXR);
	for (int step = 0; step < 300; step++) {
		rng = rng * 1103515245u + 12345u;
		int a = (int)((rng >> 8) % MAXR), b = (int)((rng >> 16) % MAXR);
		if (a == b)
			continue;
		if (f.link[a][b] >= 0)
			cut(&f, a, b);
		else
			connect(&f, a, b);
		rounds += fleet_converge_counting(&f, &transient);
		changes++;
		for (int x = 0; x < MAXR; x++) {
			int dist[MAXR];
			bfs(&f, x, dist);
			for (int y = 0; y < MAXR; y++)
				assert_int_equal(follow(&f, x, y), dist[y]);
		}
	}
	print_message("%d link changes, %d rounds, %d looping paths while converging\n", changes,
		      rounds, transient);
	fleet_free(&f);
}

static void test_bounds(void **state)
{
	(void)state;
	struct hd_route_table t;
	static struct hd_route in[HD_ROUTE_ANNOUNCE_MAX], out[HD_ROUTE_ANNOUNCE_MAX];

	assert_int_equal(hd_route_init(&t, 0, 8), -1);
	assert_int_equal(hd_route_init(&t, HD_ID_RESERVED, 8), -1);
	assert_int_equal(hd_route_init(&t, 1, HD_ROUTE_MAX_RELAYS + 1), -1);
	assert_int_equal(hd_route_init(&t, 1, 4), 0);
	assert_int_equal(hd_route_link_up(&t, 1), -1); /* ourselves */
	int l = hd_route_link_up(&t, 2);
	assert_true(l >= 0);
	assert_int_equal(hd_route_hops(&t, 2), 1);
	assert_int_equal(hd_route_hops(&t, 1), 0);
	/* Room for 4 destinations: the neighbour and 3 more; the rest are counted. */
	for (int i = 0; i < 10; i++)
		in[i] = (struct hd_route){ .relay_id = (uint16_t)(10 + i),
					   .path_len = 1,
					   .path = { (uint16_t)(10 + i) } };
	hd_route_announce_in(&t, l, in, 10);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.table_full, 7);
	assert_int_equal(hd_route_next(&t, 10), l);
	assert_int_equal(hd_route_hops(&t, 10), 2);
	assert_int_equal(hd_route_next(&t, 19), -2);
	/* An announcement over a link that is not up changes nothing. */
	assert_int_equal(hd_route_announce_in(&t, l + 1, in, 10), 0);
	/* Split horizon: only ourselves go back to the neighbour everything came from. */
	assert_int_equal(hd_route_announce_out(&t, l, out, HD_ROUTE_ANNOUNCE_MAX), 1);
	assert_int_equal(out[0].relay_id, 1);
	assert_int_equal(out[0].path_len, 0);
	/* A path through us is a loop: refused and counted. */
	in[0] = (struct hd_route){ .relay_id = 11, .path_len = 2, .path = { 1, 11 } };
	hd_route_announce_in(&t, l, in, 1);
	assert_int_equal(t.loops_refused, 1);
	assert_int_equal(hd_route_next(&t, 11), -2);
	/* A path one hop short of the longest is the last one taken. */
	in[0].relay_id = 12;
	in[0].path_len = HD_ROUTE_MAX_PATH;
	for (int k = 0; k < HD_ROUTE_MAX_PATH; k++)
		in[0].path[k] = (uint16_t)(k == HD_ROUTE_MAX_PATH - 1 ? 12 : 3000 + k);
	hd_route_announce_in(&t, l, in, 1);
	assert_int_equal(hd_route_next(&t, 12), -2);
	in[0].path_len = HD_ROUTE_MAX_PATH - 1;
	in[0].path[HD_ROUTE_MAX_PATH - 2] = 12;
	hd_route_announce_in(&t, l, in, 1);
	assert_int_equal(hd_route_hops(&t, 12), HD_ROUTE_MAX_PATH);
	/* Links are bounded too. */
	int up = 1;
	while (hd_route_link_up(&t, (uint16_t)(1000 + up)) >= 0)
		up++;
	assert_true(up <= HD_ROUTE_MAX_LINKS);
	hd_route_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_and_shortcut),
		cmocka_unit_test(test_reroute_after_cut),
		cmocka_unit_test(test_partition_without_counting_to_infinity),
		cmocka_unit_test(test_random_cuts),
		cmocka_unit_test(test_bounds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
