// SPDX-License-Identifier: MIT
/*
 * Who may bind a receiver index to a peer (wg_index.h), through the
 * forwarding decision a relay makes for each datagram (wg_route). The
 * attacks are the ones of issue 22: a table peer c, linked to a, forges
 * handshake messages to take over b's index (so that a's traffic for b
 * would go to c), or floods random indices to push b's out. And the XDP
 * map, fed by the mirror, must hold exactly the routes userspace decides by.
 * Roaming: only a handshake the responder answered moves a peer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "blake2s.h"
#include "wg_index.h"
#include "wg_msg.h"
#include "wg_route.h"
#include "wg_table.h"
#include "wg_test_mac1.h"

#define KEY_A "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" /* bytes 0..31 */
#define KEY_B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" /* bytes 1..32 */
#define KEY_C "AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICE=" /* bytes 2..33 */
#define SEC   1000000000ull

static struct wg_table t;
static struct wg_routes *r;
static struct wg_index *ix;
static struct wg_endpoint a, b, c;
static uint64_t now;
static char err[256];

/* The mirror as the XDP map would be: index to owner, in a plain array. */
#define SHADOW_MAX 4096
static struct {
	uint32_t index;
	int owner;
} shadow[SHADOW_MAX];
static int nshadow;

static void mirror(void *ctx, uint32_t index, int owner)
{
	(void)ctx;
	for (int i = 0; i < nshadow; i++) {
		if (shadow[i].index == index) {
			if (owner < 0)
				shadow[i] = shadow[--nshadow];
			else
				shadow[i].owner = owner;
			return;
		}
	}
	assert_true(owner >= 0); /* removing what was never added: out of step */
	assert_true(nshadow < SHADOW_MAX);
	shadow[nshadow].index = index;
	shadow[nshadow++].owner = owner;
}

static int shadow_lookup(uint32_t index)
{
	for (int i = 0; i < nshadow; i++) {
		if (shadow[i].index == index)
			return shadow[i].owner;
	}
	return -1;
}

static struct wg_endpoint ep_of(const char *text)
{
	struct wg_endpoint ep;
	assert_int_equal(wg_endpoint_parse(text, &ep, err, sizeof(err)), 0);
	return ep;
}

static struct wg_decision d;

static int initiation(const struct wg_endpoint *src, uint32_t sender, const char *for_key)
{
	uint8_t buf[WG_INITIATION_LEN];

	memset(buf, 0x11, sizeof(buf));
	buf[0] = WG_MSG_INITIATION;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, &sender, 4);
	sign_for(buf, sizeof(buf), for_key);
	int rc = wg_route(r, ix, src, buf, sizeof(buf), now, &d);
	return rc < 0 ? d.dst : 100 + rc;
}

static int response(const struct wg_endpoint *src, uint32_t sender, uint32_t receiver,
		    const char *for_key)
{
	uint8_t buf[WG_RESPONSE_LEN];

	memset(buf, 0x22, sizeof(buf));
	buf[0] = WG_MSG_RESPONSE;
	buf[1] = buf[2] = buf[3] = 0;
	memcpy(buf + 4, &sender, 4);
	memcpy(buf + 8, &receiver, 4);
	sign_for(buf, sizeof(buf), for_key);
	int rc = wg_route(r, ix, src, buf, sizeof(buf), now, &d);
	return rc < 0 ? d.dst : 100 + rc;
}

/* Where a's transport message to receiver goes: a slot, or 100 + the drop counter. */
static int transport_from_a(uint32_t receiver)
{
	uint8_t buf[64] = { WG_MSG_TRANSPORT };

	memcpy(buf + 4, &receiver, 4);
	int rc = wg_route(r, ix, &a, buf, sizeof(buf), now, &d);
	return rc < 0 ? d.dst : 100 + rc;
}

/*
 * a (slot 0) linked to b (1) and c (2), every key known; a and b complete a
 * handshake: a's index 0xa1 routes to a, b's 0xb1 to b.
 */
static int setup(void **state)
{
	(void)state;
	wg_table_init(&t);
	assert_int_equal(wg_table_peer_add(&t, "a", "10.0.0.1:51820", NULL, KEY_A, err, 256), 0);
	assert_int_equal(wg_table_peer_add(&t, "b", "10.0.0.2:51820", NULL, KEY_B, err, 256), 1);
	assert_int_equal(wg_table_peer_add(&t, "c", "10.0.0.3:51820", NULL, KEY_C, err, 256), 2);
	wg_table_link_add(&t, "a", "b", err, sizeof(err));
	wg_table_link_add(&t, "a", "c", err, sizeof(err));
	a = ep_of("10.0.0.1:51820");
	b = ep_of("10.0.0.2:51820");
	c = ep_of("10.0.0.3:51820");
	r = wg_routes_build(&t);
	ix = wg_index_new();
	assert_non_null(r);
	assert_non_null(ix);
	nshadow = 0;
	wg_index_set_mirror(ix, mirror, NULL);
	now = 1000 * SEC;
	assert_int_equal(initiation(&a, 0xa1, KEY_B), 1);
	assert_int_equal(response(&b, 0xb1, 0xa1, KEY_A), 0);
	assert_int_equal(transport_from_a(0xb1), 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(r);
	wg_index_free(ix);
	return 0;
}

/* The finding: one forged 92-byte response from c, with b's sender index. */
static void test_forged_response_redirects_nothing(void **state)
{
	(void)state;
	/* To an initiation that was never forwarded to c. */
	assert_int_equal(response(&c, 0xb1, 0xa1, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	assert_int_equal(response(&c, 0xb1, 0x5eed, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	/* To a real initiation a sent c: the response is c's, b's index is not. */
	assert_int_equal(initiation(&a, 0xa2, KEY_C), 2);
	assert_int_equal(response(&c, 0xb1, 0xa2, KEY_A), 100 + WG_CNT_DROP_INDEX_TAKEN);
	/* An initiation from c claiming b's index. */
	assert_int_equal(initiation(&c, 0xb1, KEY_A), 100 + WG_CNT_DROP_INDEX_TAKEN);
	/* b answering an initiation that went to c. */
	assert_int_equal(response(&b, 0xb2, 0xa2, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	assert_int_equal(transport_from_a(0xb1), 1);
	assert_int_equal(wg_index_lookup(ix, 0xb1), 1);
	assert_int_equal(shadow_lookup(0xb1), 1);
	/* c's honest answer still works, after all that. */
	assert_int_equal(response(&c, 0xc1, 0xa2, KEY_A), 0);
	assert_int_equal(transport_from_a(0xc1), 2);
}

static void test_mac1_checked_where_key_known(void **state)
{
	(void)state;
	/* An initiation from c made for b's key, though c's only link is a. */
	assert_int_equal(initiation(&c, 0xc9, KEY_B), 100 + WG_CNT_DROP_BAD_MAC1);
	/* A response to a whose MAC1 is not made for a's key. */
	assert_int_equal(initiation(&a, 0xa3, KEY_C), 2);
	assert_int_equal(response(&c, 0xc3, 0xa3, KEY_B), 100 + WG_CNT_DROP_BAD_MAC1);
	assert_int_equal(wg_index_lookup(ix, 0xc3), -1);
	/* The pending initiation is still there for the right one. */
	assert_int_equal(response(&c, 0xc3, 0xa3, KEY_A), 0);
}

/* 185,000 random indices from c, as initiations and responses: nothing of a's or b's goes. */
static void test_flood_evicts_nothing(void **state)
{
	uint32_t x = 12345;
	int forwarded = 0, limited = 0;

	(void)state;
	for (int i = 0; i < 185000; i++) {
		x = x * 1664525u + 1013904223u;
		if (i % 8 == 0)
			now += SEC / 8; /* slower than the bucket refills: most get through */
		int rc = i % 2 ? initiation(&c, x, KEY_A) : response(&c, x, x ^ 0xffff, KEY_A);
		forwarded += rc == 0;
		limited += rc == 100 + WG_CNT_DROP_HANDSHAKE_RATE;
	}
	assert_true(forwarded > 1000); /* the flood did reach the table */
	assert_true(limited > 0);
	assert_int_equal(wg_index_lookup(ix, 0xb1), 1);
	assert_int_equal(wg_index_lookup(ix, 0xa1), 0);
	assert_int_equal(transport_from_a(0xb1), 1);
	/* c's pending entries stayed within its quota: it only pushed out its own. */
	uint32_t routes, pending;
	wg_index_counts(ix, 2, &routes, &pending);
	assert_int_equal(routes, 0);
	assert_true(pending <= WG_INDEX_PENDING_BASE + WG_INDEX_PENDING_PER_LINK * 1);
	assert_true(atomic_load(&ix->evicted) > 1000);
	/* Still fresh enough for a to answer c's last initiation, had it been real. */
	(void)routes;
}

/* A peer completing many handshakes only pushes out its own oldest routes. */
static void test_route_quota_is_per_peer(void **state)
{
	uint32_t quota_c = WG_INDEX_ROUTES_BASE + WG_INDEX_ROUTES_PER_LINK * 1;

	(void)state;
	for (uint32_t i = 0; i < 3 * quota_c; i++) {
		now += SEC;
		assert_int_equal(initiation(&c, 0xc000 + i, KEY_A), 0);
		assert_int_equal(response(&a, 0xa000 + i, 0xc000 + i, KEY_C), 2);
	}
	uint32_t routes, pending;
	wg_index_counts(ix, 2, &routes, &pending);
	assert_int_equal(routes, quota_c);
	assert_int_equal(wg_index_lookup(ix, 0xc000), -1);		    /* c's oldest went */
	assert_int_equal(wg_index_lookup(ix, 0xc000 + 3 * quota_c - 1), 2); /* its newest stays */
	assert_int_equal(wg_index_lookup(ix, 0xb1), 1);
	/* The mirror holds exactly what userspace routes by. */
	for (uint32_t i = 0; i < 3 * quota_c; i++) {
		assert_int_equal(shadow_lookup(0xc000 + i), wg_index_lookup(ix, 0xc000 + i));
		assert_int_equal(shadow_lookup(0xa000 + i), wg_index_lookup(ix, 0xa000 + i));
	}
	int total = 0;
	for (int p = 0; p < 3; p++) {
		wg_index_counts(ix, (uint16_t)p, &routes, &pending);
		total += (int)routes;
	}
	assert_int_equal(nshadow, total);
}

static void test_handshake_rate_per_source(void **state)
{
	int ok = 0;

	(void)state;
	for (int i = 0; i < 100; i++)
		ok += initiation(&c, 0x7000 + (uint32_t)i, KEY_A) == 0;
	assert_int_equal(ok, WG_HS_BURST_BASE + WG_HS_BURST_PER_LINK * 1);
	assert_int_equal(initiation(&c, 0x7100, KEY_A), 100 + WG_CNT_DROP_HANDSHAKE_RATE);
	/* Another source is not held back by c's flood. */
	assert_int_equal(initiation(&b, 0xb5, KEY_A), 0);
	/* A second later c has its refill. */
	now += SEC;
	assert_int_equal(initiation(&c, 0x7101, KEY_A), 0);
}

static void test_expiry(void **state)
{
	(void)state;
	/* A response later than the pending window answers nothing. */
	assert_int_equal(initiation(&a, 0xa4, KEY_C), 2);
	now += WG_INDEX_PENDING_NS + 1;
	assert_int_equal(response(&c, 0xc4, 0xa4, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	/* b's index still routes once stale, but is no longer b's alone. */
	now += WG_INDEX_FRESH_NS;
	assert_int_equal(transport_from_a(0xb1), 1);
	assert_int_equal(initiation(&c, 0xb1, KEY_A), 0);
	assert_int_equal(transport_from_a(0xb1), 100 + WG_CNT_DROP_NO_ROUTE); /* pending for c */
	assert_int_equal(shadow_lookup(0xb1), -1);
}

/* a (two links) at a new address: b (one link, to a) answering decides. */
static void test_roam_needs_an_answer(void **state)
{
	struct wg_endpoint x = ep_of("192.0.2.7:40000");

	(void)state;
	/* MAC1 for a's key: a has two links, so who sent it cannot be told. */
	assert_int_equal(initiation(&x, 0xe1, KEY_A), 100 + WG_CNT_DROP_UNKNOWN_SOURCE);
	assert_int_equal(d.mac1_peer, 0);
	/* No MAC1 of any peer's key. */
	assert_int_equal(initiation(&x, 0xe2, "AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISI="),
			 100 + WG_CNT_DROP_UNKNOWN_SOURCE);
	assert_int_equal(d.mac1_peer, -1);
	/* MAC1 for b's key: b's only link is a; forwarded to b as a's, not yet a roam. */
	assert_int_equal(initiation(&x, 0xe3, KEY_B), 1);
	assert_int_equal(d.src, 0);
	assert_false(d.roamed);
	/* c cannot answer it, nor can b with a MAC1 not made for a. */
	assert_int_equal(response(&c, 0xc7, 0xe3, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	assert_int_equal(response(&b, 0xb7, 0xe3, KEY_C), 100 + WG_CNT_DROP_BAD_MAC1);
	/* b's answer: a has moved to x, and the new session routes. */
	assert_int_equal(response(&b, 0xb7, 0xe3, KEY_A), 0);
	assert_true(d.roamed);
	assert_true(wg_endpoint_equal(&d.roam_ep, &x));
	assert_int_equal(wg_index_lookup(ix, 0xb7), 1);
	assert_int_equal(wg_index_lookup(ix, 0xe3), 0);
	/* Once only. */
	assert_int_equal(response(&b, 0xb8, 0xe3, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	/* An offer nobody answers in time is gone. */
	assert_int_equal(initiation(&x, 0xe4, KEY_B), 1);
	now += WG_INDEX_PENDING_NS + 1;
	assert_int_equal(response(&b, 0xb9, 0xe4, KEY_A), 100 + WG_CNT_DROP_UNMATCHED_RESPONSE);
	/* Strangers' initiations are looked at within a shared budget. */
	int dropped = 0;
	for (int i = 0; i < 2 * WG_UNKNOWN_HS_BURST; i++)
		dropped += initiation(&x, 0xf000 + (uint32_t)i, KEY_B) != 1;
	assert_int_equal(dropped, WG_UNKNOWN_HS_BURST);
	assert_int_equal(d.mac1_peer, -1); /* not even looked at */
}

static void test_forget(void **state)
{
	(void)state;
	wg_index_forget(ix, 1);
	assert_int_equal(wg_index_lookup(ix, 0xb1), -1);
	assert_int_equal(shadow_lookup(0xb1), -1);
	assert_int_equal(wg_index_lookup(ix, 0xa1), 0);
	assert_int_equal(transport_from_a(0xb1), 100 + WG_CNT_DROP_NO_ROUTE);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_forged_response_redirects_nothing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mac1_checked_where_key_known, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flood_evicts_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_quota_is_per_peer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handshake_rate_per_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roam_needs_an_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
