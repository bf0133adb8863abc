// SPDX-License-Identifier: MIT
/*
 * hd.policy_file through the real relay, with libhd clients: an allowed
 * pair relays, a denied Send is dropped, counted (drop reason hd_policy in
 * /metrics and show counters) and told to its sender with PeerGone
 * not-allowed, Lookup answers id 0 for a key the asker may not reach,
 * `hdcli hd policy reload` and SIGHUP change the outcome live, a bad file
 * is refused with FILE:LINE and the old policy stays, and a daemon whose
 * policy does not load does not start.
 */
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hd.h"
#include "test_mgmt_daemon.h"

#define GONE_NOT_ALLOWED 2 /* PeerGone reason (docs/hd-protocol.md, 2.2) */
#define POLICY_DROPS	 "reason=\"hd_policy\",kind=\"other\""

struct peer {
	uint8_t priv[32], pub[32];
	char nodekey[80];
	struct hd_client *c;
	uint16_t id;
};

static char policy_path[64];

static void write_policy(const char *text)
{
	/* Written whole to a new name and renamed, as an operator's editor would. */
	char tmp[80];
	snprintf(tmp, sizeof(tmp), "%s.new", policy_path);
	FILE *f = fopen(tmp, "w");
	IT_REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0, "writing %s", tmp);
	IT_REQUIRE(rename(tmp, policy_path) == 0, "rename to %s", policy_path);
}

static void peer_connect(struct mgmt_daemon *d, struct peer *p)
{
	struct hd_client_config cfg = { .host = "127.0.0.1",
					.port = d->it.port,
					.timeout_ms = 5000 };
	char err[256];

	crypto_box_keypair(p->pub, p->priv);
	md_nodekey(p->pub, p->nodekey);
	memcpy(cfg.private_key, p->priv, 32);
	IT_REQUIRE(hd_client_connect(&cfg, &p->c, err, sizeof(err)) == 0, "HD connect: %s", err);
	p->id = hd_client_peer_id(p->c);
	IT_REQUIRE(p->id != 0, "no peer id");
}

/* a -> b must arrive, content and source checked. */
static void must_relay(struct peer *a, struct peer *b, uint32_t seq)
{
	uint8_t pkt[300];
	struct hd_event ev;

	it_fill_pattern(pkt, sizeof(pkt), seq);
	IT_REQUIRE(hd_client_send(a->c, b->id, pkt, sizeof(pkt)) == 0, "send: %s",
		   hd_client_error(a->c));
	IT_REQUIRE(hd_client_next(b->c, &ev, IT_FRAME_TIMEOUT_MS) == 1 &&
		       ev.type == HD_EVENT_PACKET,
		   "packet %u did not arrive", seq);
	IT_REQUIRE(ev.peer_id == a->id && ev.len == sizeof(pkt) && memcmp(ev.data, pkt, 300) == 0,
		   "packet %u: from %u, %zu bytes, or other bytes", seq, ev.peer_id, ev.len);
}

/*
 * a -> b must be refused: a hears PeerGone not-allowed for b's id. That b
 * got nothing is checked by the next allowed packet to b arriving first.
 */
static void must_refuse(struct peer *a, struct peer *b)
{
	uint8_t pkt[100] = { 0x5a };
	struct hd_event ev;

	IT_REQUIRE(hd_client_send(a->c, b->id, pkt, sizeof(pkt)) == 0, "send: %s",
		   hd_client_error(a->c));
	IT_REQUIRE(hd_client_next(a->c, &ev, IT_FRAME_TIMEOUT_MS) == 1 &&
		       ev.type == HD_EVENT_PEER_GONE,
		   "no PeerGone for a refused send");
	IT_REQUIRE(ev.peer_id == b->id && ev.reason == GONE_NOT_ALLOWED,
		   "PeerGone for %u reason %u, want %u reason not-allowed", ev.peer_id, ev.reason,
		   b->id);
}

/* The id a's Lookup of b's key answers (0: hidden or unknown). */
static uint16_t lookup(struct peer *a, const struct peer *b)
{
	struct hd_event ev;

	IT_REQUIRE(hd_client_lookup(a->c, b->pub) == 0, "lookup: %s", hd_client_error(a->c));
	do /* PeerGone from refused sends before it may still be on the way */
		IT_REQUIRE(hd_client_next(a->c, &ev, IT_FRAME_TIMEOUT_MS) == 1, "no PeerInfo");
	while (ev.type == HD_EVENT_PEER_GONE);
	IT_REQUIRE(ev.type == HD_EVENT_PEER_INFO && memcmp(ev.key, b->pub, 32) == 0,
		   "no PeerInfo for the lookup");
	return ev.peer_id;
}

/* Workers count a drop when they handle it: wait (bounded) for the scrape to show want. */
static void wait_drops(struct mgmt_daemon *d, int64_t want)
{
	int64_t got = -1;
	for (int i = 0; i < 500; i++) {
		got = md_scrape(d, "hyperderp_dropped_packets_total", POLICY_DROPS);
		if (got >= want)
			break;
		usleep(10000);
	}
	IT_REQUIRE(got == want, "hd_policy drops %lld, want %lld", (long long)got, (long long)want);
}

static void test_enforce_reload(void)
{
	struct peer a, b, c;
	char ini[256], text[1024];
	static struct md_out o;

	snprintf(policy_path, sizeof(policy_path), "/tmp/hd-policy-test-%d.conf", getpid());
	snprintf(ini, sizeof(ini), "[hd]\nrequire_token = false\npolicy_file = %s\n", policy_path);
	/* Keys are made when the peers connect; until then, nobody may send. */
	write_policy("deny * *\n");
	struct mgmt_daemon *d = md_start(&(struct md_opts){ .ini = ini });
	peer_connect(d, &a);
	peer_connect(d, &b);
	peer_connect(d, &c);

	snprintf(text, sizeof(text),
		 "# A and B talk both ways; C may only reach A\n"
		 "group pair %s %s\n"
		 "allow group:pair group:pair\n"
		 "allow %s %s\n"
		 "deny * *\n",
		 a.nodekey, b.nodekey, c.nodekey, a.nodekey);
	write_policy(text);
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "policy", "reload", NULL) == 0, "reload: exit %d: %s",
		   o.status, o.err);
	IT_REQUIRE(strstr(o.out, "3 rules, 1 groups, 3 keys"), "reload printed: %s", o.out);

	must_relay(&a, &b, 1);
	must_relay(&b, &a, 2);
	must_relay(&c, &a, 3);
	must_refuse(&c, &b);
	must_relay(&a, &b, 4); /* the first thing b gets after c's refused send */
	wait_drops(d, 1);

	/* Lookup: c may not reach b, so b's key has no id for c. */
	IT_REQUIRE(lookup(&a, &b) == b.id, "a's lookup of b");
	IT_REQUIRE(lookup(&c, &a) == a.id, "c's lookup of a");
	IT_REQUIRE(lookup(&c, &b) == 0, "c learned b's id through Lookup");

	/* A burst of refused sends: every one dropped and counted, b still gets nothing. */
	for (int i = 0; i < 50; i++) {
		uint8_t pkt[64] = { 0 };
		IT_REQUIRE(hd_client_send(c.c, b.id, pkt, sizeof(pkt)) == 0, "send");
	}
	wait_drops(d, 51);
	must_relay(&a, &b, 5);
	/* c was told, but not once per packet: PeerGone is rate-limited (3, then 1 a second). */
	int told = 0;
	struct hd_event ev;
	while (hd_client_next(c.c, &ev, 200) == 1)
		told += ev.type == HD_EVENT_PEER_GONE && ev.reason == GONE_NOT_ALLOWED;
	IT_REQUIRE(told >= 1 && told <= 10, "c was told %d times for 50 refused sends", told);

	/* Reload turns it around: c may reach b now, a may not. */
	snprintf(text, sizeof(text), "allow %s %s\ndeny %s %s\nallow * *\n", c.nodekey, b.nodekey,
		 a.nodekey, b.nodekey);
	write_policy(text);
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "policy", "reload", NULL) == 0, "reload: exit %d: %s",
		   o.status, o.err);
	must_relay(&c, &b, 6);
	IT_REQUIRE(lookup(&c, &b) == b.id, "c's lookup of b after the reload");
	must_refuse(&a, &b);
	must_relay(&b, &a, 7);

	/* A bad file: refused with FILE:LINE, counted, and the policy in use stays. */
	write_policy("allow * *\nallow group:nobody *\n");
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "policy", "reload", NULL) != 0, "bad file taken");
	char want[128];
	snprintf(want, sizeof(want), "%s:2: unknown group", policy_path);
	IT_REQUIRE(strstr(o.err, want) && strstr(o.err, "unchanged"), "reload said: %s", o.err);
	must_relay(&c, &b, 8);
	must_refuse(&a, &b);
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_policy_reload_failures_total", NULL) == 1,
		   "reload failures in /metrics");
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_policy_reloads_total", NULL) == 2,
		   "reloads in /metrics");

	/* SIGHUP reloads it too: a file that lets everyone through. */
	write_policy("allow * *\n");
	IT_REQUIRE(kill(d->it.pid, SIGHUP) == 0, "SIGHUP");
	for (int i = 0; i < 500 && md_scrape(d, "hyperderp_hd_policy_reloads_total", NULL) < 3; i++)
		usleep(10000);
	IT_REQUIRE(md_scrape(d, "hyperderp_hd_policy_reloads_total", NULL) == 3,
		   "SIGHUP did not reload the policy");
	must_relay(&a, &b, 9);

	/* show counters and hd show say the same. */
	wait_drops(d, 53);
	IT_REQUIRE(md_cli(d, &o, NULL, "show", "counters", NULL) == 0, "show counters");
	IT_REQUIRE(strstr(o.out, "hd.policy_reload_failures 1"),
		   "show counters: no hd.policy_reload_failures 1");
	IT_REQUIRE(strstr(o.out, "drops.hd_policy.other.packets 53"),
		   "show counters: no drops.hd_policy.other.packets 53");
	IT_REQUIRE(md_cli(d, &o, NULL, "hd", "show", NULL) == 0, "hd show");
	IT_REQUIRE(strstr(o.out, "policy:    ") && strstr(o.out, "1 rules") &&
		       strstr(o.out, "reloaded 3, refused 1"),
		   "hd show printed: %s", o.out);

	hd_client_close(a.c);
	hd_client_close(b.c);
	hd_client_close(c.c);
	md_stop(d);
	unlink(policy_path);
}

/* A policy that does not load at start: the daemon refuses to run rather than allow all. */
static void test_bad_file_at_start(void)
{
	char ini[256], log[16384];

	snprintf(policy_path, sizeof(policy_path), "/tmp/hd-policy-test-%d.conf", getpid());
	snprintf(ini, sizeof(ini), "[hd]\nrequire_token = false\npolicy_file = %s\n", policy_path);
	write_policy("allow * *\npermit * *\n");
	IT_REQUIRE(md_start_failing(&(struct md_opts){ .ini = ini }, log, sizeof(log)) != 0,
		   "started with a bad policy");
	char want[128];
	snprintf(want, sizeof(want), "%s:2: unknown line", policy_path);
	IT_REQUIRE(strstr(log, want), "log does not name %s: %s", want, log);
	unlink(policy_path);
	IT_REQUIRE(md_start_failing(&(struct md_opts){ .ini = ini }, log, sizeof(log)) != 0,
		   "started without its policy file");
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = { IT_TEST(test_enforce_reload),
						IT_TEST(test_bad_file_at_start) };
	if (sodium_init() < 0)
		return 1;
	return md_main(argc, argv, tests, 2);
}
