// SPDX-License-Identifier: MIT
/*
 * The relay table (validation, every error leaving the table unchanged,
 * the file round trip and its errors) and the userspace forwarding decision
 * built on it (one link, several links by index and by MAC1, drops).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blake2s.h"
#include "wg_msg.h"
#include "wg_route.h"
#include "wg_table.h"
#include "wg_test_mac1.h"

#define KEY_B "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" /* bytes 1..32 */
#define KEY_C "AgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fICE=" /* bytes 2..33 */
#define KEY_D "AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISI=" /* bytes 3..34 */

static struct wg_table t;
static char err[256];

static int setup(void **state)
{
	(void)state;
	wg_table_init(&t);
	return 0;
}

static void assert_unchanged_after(int rc, const struct wg_table *before)
{
	assert_int_equal(rc, -1);
	assert_true(err[0] != '\0');
	assert_memory_equal(&t, before, sizeof(t));
}

static void test_peer_add_and_errors(void **state)
{
	static struct wg_table before;

	(void)state;
	assert_int_equal(
	    wg_table_peer_add(&t, "a", "10.0.0.1:51820", "laptop", NULL, err, sizeof(err)), 0);
	assert_int_equal(
	    wg_table_peer_add(&t, "b", "10.0.0.2:51820", NULL, KEY_B, err, sizeof(err)), 1);
	assert_int_equal(t.npeers, 2);
	before = t;

	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "a", "10.0.0.3:1", NULL, NULL, err, sizeof(err)), &before);
	assert_non_null(strstr(err, "already exists"));
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "10.0.0.1:51820", NULL, NULL, err, sizeof(err)), &before);
	assert_non_null(strstr(err, "already peer a's"));

	static const char *const bad_eps[] = {
		"10.0.0.9",	     "10.0.0.9:",   "10.0.0.9:0", "10.0.0.9:65536",
		"10.0.0.9:x",	     "300.0.0.1:1", "0.0.0.0:1",  "224.0.0.1:1",
		"255.255.255.255:1", "::1:5",	    "host:51820",
	};
	for (size_t i = 0; i < sizeof(bad_eps) / sizeof(bad_eps[0]); i++) {
		err[0] = 0;
		assert_unchanged_after(
		    wg_table_peer_add(&t, "c", bad_eps[i], NULL, NULL, err, sizeof(err)), &before);
	}
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c d", "10.0.0.9:1", NULL, NULL, err, sizeof(err)), &before);
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "", "10.0.0.9:1", NULL, NULL, err, sizeof(err)), &before);
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "10.0.0.9:1", NULL, "notbase64!", err, sizeof(err)),
	    &before);
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "10.0.0.9:1", NULL, "AQID", err, sizeof(err)), &before);
	/* Labels the table file could not read back ('#' comment, '=' key=value). */
	static const char *const bad_labels[] = { "lap#top", "#x", "x=y", "lap top" };
	for (size_t i = 0; i < sizeof(bad_labels) / sizeof(bad_labels[0]); i++) {
		err[0] = 0;
		assert_unchanged_after(
		    wg_table_peer_add(&t, "c", "10.0.0.9:1", bad_labels[i], NULL, err, sizeof(err)),
		    &before);
	}
	/* Hostnames say so, with or without a port. */
	static const char *const names[] = { "vpn.example.com:51820", "relay", "my-host:1" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		err[0] = 0;
		assert_unchanged_after(
		    wg_table_peer_add(&t, "c", names[i], NULL, NULL, err, sizeof(err)), &before);
		assert_non_null(strstr(err, "hostnames are not accepted"));
	}
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "fd00::1:51820", NULL, NULL, err, sizeof(err)), &before);
	assert_null(strstr(err, "hostname"));
	/* A second peer with b's key. */
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "10.0.0.9:1", NULL, KEY_B, err, sizeof(err)), &before);
	assert_non_null(strstr(err, "is already peer b's"));
	err[0] = 0;
	assert_unchanged_after(wg_table_peer_del(&t, "zz", NULL, err, sizeof(err)), &before);
}

/* IPv6 endpoints: the bracketed form, its canonical text, and every refusal. */
static void test_ipv6_endpoints(void **state)
{
	static struct wg_table before;
	struct wg_endpoint ep;
	char text[WG_ENDPOINT_STRLEN];

	(void)state;
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "[2001:db8::1]:51820", "[2001:db8::1]:51820" },
		{ "[2001:DB8:0:0::7]:1", "[2001:db8::7]:1" },
		{ "[2001:db8:1:2:3:4:5:6]:65535", "[2001:db8:1:2:3:4:5:6]:65535" },
		{ "[fd00::2]:40000", "[fd00::2]:40000" },
		/* The longest text: 39 characters of address. */
		{ "[2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
		  "[2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535" },
		{ "10.1.2.3:51820", "10.1.2.3:51820" },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(wg_endpoint_parse(good[i].in, &ep, err, sizeof(err)), 0);
		assert_string_equal(wg_endpoint_format(&ep, text, sizeof(text)), good[i].out);
		assert_int_equal(ep.port, htons((uint16_t)atoi(strrchr(good[i].out, ':') + 1)));
	}
	/* IPv4 is held IPv4-mapped; IPv6 is not. */
	assert_int_equal(wg_endpoint_parse("10.1.2.3:5", &ep, err, sizeof(err)), 0);
	assert_true(wg_endpoint_is_v4(&ep));
	assert_int_equal(wg_endpoint_v4(&ep), inet_addr("10.1.2.3"));
	assert_int_equal(wg_endpoint_parse("[2001:db8::a]:5", &ep, err, sizeof(err)), 0);
	assert_false(wg_endpoint_is_v4(&ep));
	assert_int_equal(ep.addr[0], 0x20);
	assert_int_equal(ep.addr[15], 0x0a);

	static const struct {
		const char *in, *want;
	} bad[] = {
		{ "[fe80::1]:51820", "link-local" },
		{ "[fe80::1%eth0]:51820", "scoped" },
		{ "[febf::1]:51820", "link-local" },
		{ "[ff02::1]:51820", "multicast" },
		{ "[ff0e::1]:51820", "multicast" },
		{ "[::]:51820", "not a unicast" },
		{ "[::ffff:10.0.0.1]:51820", "IPv4-mapped" },
		{ "[::ffff:a00:1]:51820", "IPv4-mapped" },
		{ "[2001:db8::1]", "is not [IPV6]:PORT" },
		{ "[2001:db8::1]:", "missing port" },
		{ "[2001:db8::1]:0", "port must be" },
		{ "[2001:db8::1]:65536", "port must be" },
		{ "[2001:db8::1]51820", "is not [IPV6]:PORT" },
		{ "[2001:db8::1:51820", "is not [IPV6]:PORT" },
		{ "[]:1", "not an IPv6 address" },
		{ "[2001:db8::g]:1", "not an IPv6 address" },
		{ "[10.0.0.1]:1", "not an IPv6 address" },
		{ "2001:db8::1:51820", "[ADDRESS]:PORT" },
		{ "[2001:db8:1:2:3:4:5:6:7]:1", "not an IPv6 address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(wg_endpoint_parse(bad[i].in, &ep, err, sizeof(err)), -1);
		if (!strstr(err, bad[i].want))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].in, err, bad[i].want);
	}

	/* Duplicates, within a family and across: the IPv4 one has a single spelling. */
	assert_int_equal(
	    wg_table_peer_add(&t, "a", "[2001:db8::1]:51820", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(wg_table_peer_add(&t, "b", "10.0.0.1:51820", NULL, NULL, err, sizeof(err)),
			 1);
	before = t;
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "[2001:0db8:0::1]:51820", NULL, NULL, err, sizeof(err)),
	    &before);
	assert_non_null(strstr(err, "already peer a's"));
	err[0] = 0;
	assert_unchanged_after(
	    wg_table_peer_add(&t, "c", "[::ffff:10.0.0.1]:51820", NULL, NULL, err, sizeof(err)),
	    &before);
	/* Same address, other port; and an IPv4 address whose bytes end an IPv6 one. */
	assert_int_equal(
	    wg_table_peer_add(&t, "c", "[2001:db8::1]:51821", NULL, NULL, err, sizeof(err)), 2);
	assert_int_equal(
	    wg_table_peer_add(&t, "d", "[::a00:1]:51820", NULL, NULL, err, sizeof(err)), 3);
	/* A mixed link: one IPv6 peer, one IPv4 peer. */
	assert_int_equal(wg_table_link_add(&t, "a", "b", err, sizeof(err)), 0);
}

static void test_links(void **state)
{
	static struct wg_table before;
	uint16_t out[8];
	uint32_t removed;

	(void)state;
	wg_table_peer_add(&t, "a", "10.0.0.1:1", NULL, NULL, err, sizeof(err));
	wg_table_peer_add(&t, "b", "10.0.0.2:1", NULL, NULL, err, sizeof(err));
	wg_table_peer_add(&t, "c", "10.0.0.3:1", NULL, NULL, err, sizeof(err));
	assert_int_equal(wg_table_link_add(&t, "a", "b", err, sizeof(err)), 0);
	assert_int_equal(wg_table_link_add(&t, "c", "a", err, sizeof(err)), 0);
	before = t;
	err[0] = 0;
	assert_unchanged_after(wg_table_link_add(&t, "b", "a", err, sizeof(err)), &before);
	assert_non_null(strstr(err, "already linked"));
	err[0] = 0;
	assert_unchanged_after(wg_table_link_add(&t, "a", "x", err, sizeof(err)), &before);
	assert_non_null(strstr(err, "no peer x"));
	err[0] = 0;
	assert_unchanged_after(wg_table_link_add(&t, "a", "a", err, sizeof(err)), &before);
	err[0] = 0;
	assert_unchanged_after(wg_table_link_del(&t, "b", "c", err, sizeof(err)), &before);

	assert_int_equal(wg_table_links_of(&t, 0, out, 8), 2);
	assert_int_equal(wg_table_links_of(&t, 1, out, 8), 1);
	assert_int_equal(out[0], 0);
	assert_int_equal(wg_table_link_del(&t, "b", "a", err, sizeof(err)), 0);
	assert_int_equal(wg_table_links_of(&t, 0, out, 8), 1);
	assert_int_equal(out[0], 2);
	assert_int_equal(wg_table_peer_del(&t, "a", &removed, err, sizeof(err)), 0);
	assert_int_equal(removed, 1);
	assert_int_equal(t.nlinks, 0);
	/* The freed slot is reused; the others keep theirs. */
	assert_int_equal(wg_table_peer_add(&t, "d", "10.0.0.4:1", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(wg_table_find(&t, "c"), 2);
}

static char tmpdir[64];

static const char *tmp_path(const char *name)
{
	static char path[128];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_file_round_trip_and_errors(void **state)
{
	static struct wg_table loaded, before;
	char path[128];
	struct stat st;

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hd-test-wgtable-XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s", tmp_path("table.conf"));

	/* A missing file is an empty table (first start). */
	assert_int_equal(wg_table_load(&loaded, path, err, sizeof(err)), 0);
	assert_int_equal(loaded.npeers, 0);

	wg_table_peer_add(&t, "a", "10.0.0.1:51820", "home", KEY_B, err, sizeof(err));
	wg_table_peer_add(&t, "b", "192.168.7.2:4000", NULL, NULL, err, sizeof(err));
	wg_table_peer_add(&t, "c", "10.0.0.3:51820", NULL, KEY_C, err, sizeof(err));
	wg_table_peer_add(&t, "d", "[2001:db8::d]:51820", "v6", KEY_D, err, sizeof(err));
	wg_table_link_add(&t, "a", "b", err, sizeof(err));
	wg_table_link_add(&t, "c", "a", err, sizeof(err));
	wg_table_link_add(&t, "d", "a", err, sizeof(err));
	assert_int_equal(t.npeers, 4);
	assert_int_equal(wg_table_save(&t, path, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(wg_table_load(&loaded, path, err, sizeof(err)), 0);
	assert_memory_equal(&loaded, &t, sizeof(t));
	char text[1024];
	wg_table_format(&t, text, sizeof(text));
	assert_non_null(strstr(text, "peer d [2001:db8::d]:51820 v6 pubkey="));

	/* Errors name the line; the table keeps what it had. */
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{ "peer a 10.0.0.1:1\nlink a b\n", ":2: no peer b" },
		{ "peer a 10.0.0.1:1\npeer b 10.0.0.1:1\n", ":2: peer b: endpoint" },
		{ "peer a 10.0.0.300:1\n", ":1: " },
		{ "# fine\n\nbogus line\n", ":3: expected \"peer\" or \"link\"" },
		{ "peer a 10.0.0.1:1 lab lab2\n", ":1: unexpected \"lab2\"" },
		{ "peer a [fe80::1]:1\n", ":1: peer a: fe80::1 is link-local" },
		{ "peer a [2001:db8::1]:1\npeer b [2001:db8:0::1]:1\n", ":2: peer b: endpoint" },
	};
	before = loaded;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_text(tmp_path("bad.conf"), bad[i].text);
		err[0] = 0;
		assert_int_equal(wg_table_load(&loaded, tmp_path("bad.conf"), err, sizeof(err)),
				 -1);
		assert_non_null(strstr(err, bad[i].want));
		assert_memory_equal(&loaded, &before, sizeof(loaded));
	}
	/* A save into a directory that does not exist fails and leaves nothing behind. */
	assert_int_equal(wg_table_save(&t, tmp_path("nodir/table.conf"), err, sizeof(err)), -1);

	unlink(tmp_path("bad.conf"));
	unlink(path);
	assert_int_equal(rmdir(tmpdir), 0); /* no temporary file left over */
}

/* ---- routing ---- */

static struct wg_index *ix;
static uint64_t now = 1000000000ull;

static struct wg_endpoint ep_of(const char *text)
{
	struct wg_endpoint ep;
	assert_int_equal(wg_endpoint_parse(text, &ep, err, sizeof(err)), 0);
	return ep;
}

static void make_msg(uint8_t *buf, size_t len, uint8_t type, uint32_t sender, uint32_t receiver)
{
	memset(buf, 0x5a, len);
	buf[0] = type;
	buf[1] = buf[2] = buf[3] = 0;
	if (type == WG_MSG_INITIATION || type == WG_MSG_RESPONSE)
		memcpy(buf + 4, &sender, 4);
	if (type == WG_MSG_RESPONSE)
		memcpy(buf + 8, &receiver, 4);
	if (type == WG_MSG_COOKIE_REPLY || type == WG_MSG_TRANSPORT)
		memcpy(buf + 4, &receiver, 4);
}

static void make_initiation_for(uint8_t *buf, uint32_t sender, const char *b64)
{
	make_msg(buf, WG_INITIATION_LEN, WG_MSG_INITIATION, sender, 0);
	sign_for(buf, WG_INITIATION_LEN, b64);
}

static int route(const struct wg_routes *r, const struct wg_endpoint *src, const uint8_t *buf,
		 size_t len, struct wg_decision *d)
{
	return wg_route(r, ix, src, buf, len, now, d);
}

static void test_route_single_and_multi_link(void **state)
{
	uint8_t buf[256];
	struct wg_decision d;
	struct wg_endpoint a = ep_of("10.0.0.1:51820"), b = ep_of("10.0.0.2:51820"),
			   c = ep_of("10.0.0.3:51820"), x = ep_of("10.0.0.9:51820");

	(void)state;
	ix = wg_index_new();
	assert_non_null(ix);
	wg_table_peer_add(&t, "a", "10.0.0.1:51820", NULL, NULL, err, sizeof(err));
	wg_table_peer_add(&t, "b", "10.0.0.2:51820", NULL, KEY_B, err, sizeof(err));
	wg_table_peer_add(&t, "c", "10.0.0.3:51820", NULL, KEY_C, err, sizeof(err));
	wg_table_peer_add(&t, "lonely", "10.0.0.4:51820", NULL, NULL, err, sizeof(err));
	wg_table_link_add(&t, "a", "b", err, sizeof(err));
	wg_table_link_add(&t, "a", "c", err, sizeof(err));
	struct wg_routes *r = wg_routes_build(&t);
	assert_non_null(r);

	/* Unknown source, malformed, no link. */
	make_msg(buf, 100, WG_MSG_TRANSPORT, 0, 7);
	assert_int_equal(route(r, &x, buf, 100, &d), WG_CNT_DROP_UNKNOWN_SOURCE);
	assert_int_equal(route(r, &b, buf, 31, &d), WG_CNT_DROP_MALFORMED);
	struct wg_endpoint lonely = ep_of("10.0.0.4:51820");
	assert_int_equal(route(r, &lonely, buf, 100, &d), WG_CNT_DROP_NO_LINK);

	/* b has one link: its initiation goes to a (no key: no MAC1 to check), pending. */
	make_msg(buf, WG_INITIATION_LEN, WG_MSG_INITIATION, 0xb0b, 0);
	assert_int_equal(route(r, &b, buf, WG_INITIATION_LEN, &d), -1);
	assert_int_equal(d.dst, 0);
	assert_int_equal(wg_index_lookup(ix, 0xb0b), -1);
	/* a answers, with a MAC1 for b's key: both indices become routes. */
	make_msg(buf, WG_RESPONSE_LEN, WG_MSG_RESPONSE, 0xa0b, 0xb0b);
	sign_for(buf, WG_RESPONSE_LEN, KEY_B);
	assert_int_equal(route(r, &a, buf, WG_RESPONSE_LEN, &d), -1);
	assert_int_equal(d.dst, 1);
	assert_int_equal(wg_index_lookup(ix, 0xb0b), 1);
	assert_int_equal(wg_index_lookup(ix, 0xa0b), 0);

	/* a has two links: transport by receiver index. */
	make_msg(buf, 100, WG_MSG_TRANSPORT, 0, 0xb0b);
	assert_int_equal(route(r, &a, buf, 100, &d), -1);
	assert_int_equal(d.dst, 1);
	make_msg(buf, 100, WG_MSG_TRANSPORT, 0, 0xdead);
	assert_int_equal(route(r, &a, buf, 100, &d), WG_CNT_DROP_NO_ROUTE);

	/* Initiations from a by MAC1. */
	make_initiation_for(buf, 0xa1, KEY_C);
	assert_int_equal(route(r, &a, buf, WG_INITIATION_LEN, &d), -1);
	assert_int_equal(d.dst, 2);
	assert_int_equal(wg_index_lookup(ix, 0xa1), -1); /* pending, not a route yet */
	make_initiation_for(buf, 0xa2, KEY_B);
	assert_int_equal(route(r, &a, buf, WG_INITIATION_LEN, &d), -1);
	assert_int_equal(d.dst, 1);
	make_initiation_for(buf, 0xa3, "AwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISI=");
	assert_int_equal(route(r, &a, buf, WG_INITIATION_LEN, &d), WG_CNT_DROP_NO_ROUTE);

	/* c answers a's initiation: learned; a's transport goes to c by index. */
	make_msg(buf, WG_RESPONSE_LEN, WG_MSG_RESPONSE, 0xc1, 0xa1);
	assert_int_equal(route(r, &c, buf, WG_RESPONSE_LEN, &d), -1);
	assert_int_equal(d.dst, 0);
	make_msg(buf, 64, WG_MSG_TRANSPORT, 0, 0xc1);
	assert_int_equal(route(r, &a, buf, 64, &d), -1);
	assert_int_equal(d.dst, 2);
	make_msg(buf, 64, WG_MSG_COOKIE_REPLY, 0, 0xb0b);
	assert_int_equal(route(r, &a, buf, 64, &d), -1);
	assert_int_equal(d.dst, 1);
	/* A cookie reply from b to a's initiation still pending for b. */
	make_msg(buf, 64, WG_MSG_COOKIE_REPLY, 0, 0xa2);
	assert_int_equal(route(r, &b, buf, 64, &d), -1);
	assert_int_equal(d.dst, 0);

	/* An IPv6 peer, linked to the IPv4 peer "lonely": found by its IPv6 source. */
	free(r);
	wg_table_peer_add(&t, "six", "[2001:db8::6]:51820", NULL, NULL, err, sizeof(err));
	wg_table_link_add(&t, "six", "lonely", err, sizeof(err));
	r = wg_routes_build(&t);
	assert_non_null(r);
	struct wg_endpoint six = ep_of("[2001:db8::6]:51820");
	make_msg(buf, 64, WG_MSG_TRANSPORT, 0, 1);
	assert_int_equal(route(r, &six, buf, 64, &d), -1);
	assert_int_equal(d.dst, 3);
	assert_int_equal(route(r, &lonely, buf, 64, &d), -1);
	assert_int_equal(d.dst, 4);
	struct wg_endpoint six_other = ep_of("[2001:db8::6]:51821");
	assert_int_equal(route(r, &six_other, buf, 64, &d), WG_CNT_DROP_UNKNOWN_SOURCE);

	/* An index owned by a peer not linked to a is not a route. */
	make_msg(buf, WG_INITIATION_LEN, WG_MSG_INITIATION, 0x6, 0);
	assert_int_equal(route(r, &six, buf, WG_INITIATION_LEN, &d), -1);
	make_msg(buf, WG_RESPONSE_LEN, WG_MSG_RESPONSE, 0x1010, 0x6);
	assert_int_equal(route(r, &lonely, buf, WG_RESPONSE_LEN, &d), -1);
	assert_int_equal(wg_index_lookup(ix, 0x1010), 3);
	make_msg(buf, 64, WG_MSG_TRANSPORT, 0, 0x1010);
	assert_int_equal(route(r, &a, buf, 64, &d), WG_CNT_DROP_NO_ROUTE);
	free(r);
	wg_index_free(ix);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_peer_add_and_errors, setup),
		cmocka_unit_test_setup(test_ipv6_endpoints, setup),
		cmocka_unit_test_setup(test_links, setup),
		cmocka_unit_test_setup(test_file_round_trip_and_errors, setup),
		cmocka_unit_test_setup(test_route_single_and_multi_link, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
