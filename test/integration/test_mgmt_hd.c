// SPDX-License-Identifier: MIT
/*
 * hdcli hd token issue / revoke / hd show against a running relay: a token
 * issued by hdcli admits its key over HD (libhd), a revocation holds for
 * the next connection without a restart, bad arguments are refused with
 * the reason, and hd show, /metrics and show counters count what admission did.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd.h"
#include "test_mgmt_daemon.h"

static int hd_connect(struct mgmt_daemon *d, const uint8_t priv[32], const char *token,
		      struct hd_client **c, char *err, size_t errlen)
{
	struct hd_client_config cfg = {
		.host = "127.0.0.1", .port = d->it.port, .token = token, .timeout_ms = 5000
	};
	memcpy(cfg.private_key, priv, 32);
	return hd_client_connect(&cfg, c, err, errlen);
}

static void test_issue_admit_revoke(void)
{
	struct mgmt_daemon *d = md_start(&(struct md_opts){ 0 });
	static struct md_out o;
	uint8_t pub[32], priv[32];
	char nodekey[80], token[256], err[256], id[17];
	struct hd_client *c = NULL;

	crypto_box_keypair(pub, priv);
	md_nodekey(pub, nodekey);

	/* Tokens are required by default: none, no entry. */
	IT_REQUIRE(hd_connect(d, priv, NULL, &c, err, sizeof(err)) < 0 && strstr(err, "no-token"),
		   "admitted without a token: %s", err);

	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "issue", nodekey, "1h", NULL) == 0,
		   "issue: exit %d: %s", o.status, o.err);
	IT_REQUIRE(sscanf(o.out, "%255s\nid %16s", token, id) == 2, "issue printed: %s", o.out);
	IT_REQUIRE(strncmp(token, "hdt1_", 5) == 0, "not a token: %s", token);
	IT_REQUIRE(strstr(o.out, nodekey) && strstr(o.out, "expires 20"), "issue printed: %s",
		   o.out);

	IT_REQUIRE(hd_connect(d, priv, token, &c, err, sizeof(err)) == 0,
		   "issued token refused: %s", err);
	hd_client_close(c);

	/* Revoked by id: the next connection with it is refused, without a restart. */
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "revoke", id, NULL) == 0,
		   "revoke: exit %d: %s", o.status, o.err);
	IT_REQUIRE(strstr(o.out, "revoked token"), "revoke printed: %s", o.out);
	IT_REQUIRE(hd_connect(d, priv, token, &c, err, sizeof(err)) < 0 && strstr(err, "revoked"),
		   "a revoked token admitted: %s", err);

	/* A new token for the key works; revoking the key refuses every token of it. */
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "issue", nodekey, NULL) == 0, "issue");
	IT_REQUIRE(sscanf(o.out, "%255s", token) == 1 && strstr(o.out, "expires never"),
		   "issue printed: %s", o.out);
	IT_REQUIRE(hd_connect(d, priv, token, &c, err, sizeof(err)) == 0, "new token refused: %s",
		   err);
	hd_client_close(c);
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "revoke", nodekey, NULL) == 0, "revoke key");
	IT_REQUIRE(hd_connect(d, priv, token, &c, err, sizeof(err)) < 0 && strstr(err, "revoked"),
		   "a revoked key admitted: %s", err);

	/* Bad arguments: named, and nothing changes. */
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "issue", "nodekey:zz", NULL) == 2,
		   "bad key: exit %d", o.status);
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "issue", nodekey, "5y", NULL) == 2 &&
		       strstr(o.err, "TTL \"5y\""),
		   "bad TTL: exit %d: %s", o.status, o.err);
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "token", "revoke", "abc", NULL) == 2 &&
		       strstr(o.err, "neither a token id"),
		   "bad revoke: exit %d: %s", o.status, o.err);

	/* hd show: 2 admitted, refused once without a token and twice revoked. */
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "show", NULL) == 0, "hd show");
	IT_REQUIRE(strstr(o.out, "tokens:    required") && strstr(o.out, "admitted:  2") &&
		       strstr(o.out, "no-token 1") && strstr(o.out, "revoked 2"),
		   "hd show printed: %s", o.out);
	/* The same in /metrics and show counters. */
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_admitted_total", NULL) == 2, "admitted in /metrics");
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_refused_total", "reason=\"revoked\"") == 2,
		   "revoked in /metrics");
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_refused_total", "reason=\"no-token\"") == 1,
		   "no-token in /metrics");
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "counters", NULL) == 0, "show counters");
	IT_REQUIRE(strstr(o.out, "hd.refused_revoked 2"), "show counters: no hd.refused_revoked 2");
	md_stop(d);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = { IT_TEST(test_issue_admit_revoke) };
	if (sodium_init() < 0)
		return 1;
	return md_main(argc, argv, tests, 1);
}
