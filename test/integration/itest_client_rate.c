// SPDX-License-Identifier: MIT
/*
 * limits.client_rate_bytes / client_burst_bytes (derper's per-client
 * receive rate limit): a client sending as fast as it can is read at the
 * configured rate, within 10 %, and nothing it sent is lost (the relay
 * reads more slowly rather than dropping). Run in both receive modes: the
 * multishot recv (bufring) is cancelled and re-armed, the single-shot one
 * is simply not re-armed.
 *
 * The rate is measured at the receiving client over a window that starts
 * once the burst and the socket buffers' worth have passed and lasts some
 * 3 s: long enough that one pause more or less (a few ms) is far below
 * the 10 % bound.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "derp_frame.h"
#include "key.h"
#include "test_mgmt_daemon.h"

#define RATE	   1000000 /* bytes a second */
#define BURST	   65536
#define PAYLOAD	   1000
#define FRAME	   (DERP_FRAME_HDR_LEN + KEY_LEN + PAYLOAD) /* what the relay reads per packet */
#define PACKETS	   4400					    /* ~4.6 MB: ~4.5 s at the rate */
#define SKIP	   800 /* packets before the window: burst and socket buffers */
#define WINDOW_END 4000

struct sender {
	struct derp_client *c;
	const uint8_t *dst;
	int sent;
	bool failed;
	int64_t took_ms;
};

static void *send_main(void *arg)
{
	struct sender *s = arg;
	uint8_t pkt[PAYLOAD];
	int64_t t0 = it_now_ms();
	for (int i = 0; i < PACKETS; i++) {
		it_fill_pattern(pkt, sizeof(pkt), (uint64_t)i);
		if (derp_client_send_packet(s->c, s->dst, pkt, sizeof(pkt)) < 0) {
			s->failed = true;
			break;
		}
		s->sent++;
	}
	s->took_ms = it_now_ms() - t0;
	return NULL;
}

/* A mesh key file in dir; its key in mesh. */
static void write_mesh_key(const char *dir, char *path, size_t cap, uint8_t mesh[KEY_LEN])
{
	char hex[KEY_HEX_LEN + 1];
	for (int i = 0; i < KEY_LEN; i++)
		mesh[i] = (uint8_t)(0x40 + i);
	key_to_hex(mesh, hex);
	snprintf(path, cap, "%s/mesh.key", dir);
	FILE *f = fopen(path, "w");
	IT_REQUIRE(f && fprintf(f, "%s\n", hex) > 0 && fclose(f) == 0, "%s", path);
	chmod(path, 0600);
}

/* The rate a flood from one client is read at; a mesh peer's with mesh set. */
static double measure(const char *recv_mode, bool mesh)
{
	char dir[] = "/tmp/hd-client-rate-XXXXXX";
	char key_path[64] = "", ini[512];
	uint8_t mesh_key[KEY_LEN];
	IT_REQUIRE(mkdtemp(dir), "mkdtemp");
	if (mesh)
		write_mesh_key(dir, key_path, sizeof(key_path), mesh_key);
	snprintf(ini, sizeof(ini),
		 "[server]\nrecv_mode = %s\n%s%s%s[limits]\nclient_rate_bytes = %d\n"
		 "client_burst_bytes = %d\n",
		 recv_mode, mesh ? "mesh_key_file = " : "", key_path, mesh ? "\n" : "", RATE,
		 BURST);
	struct md_opts o = { .ini = ini };
	struct mgmt_daemon *d = md_start(&o);
	struct derp_client_opts ao = { .mesh_key = mesh ? mesh_key : NULL };
	struct derp_client *a = it_connect(&d->it, &ao);
	struct derp_client *b = it_connect(&d->it, NULL);
	/* Each knows where the other is (they may be on different workers). */
	it_require_relaying(a, b);

	struct sender s = { .c = a, .dst = b->pub };
	pthread_t t;
	pthread_create(&t, NULL, send_main, &s);
	int64_t t_start = 0, t_end = 0;
	uint8_t want[PAYLOAD];
	/*
	 * A mesh peer is not limited: its flood goes as fast as the relay
	 * reads, past what b can take (the relay drops the excess), so the
	 * rate is the sender's.
	 */
	for (int i = 0; i < PACKETS && !mesh; i++) {
		uint8_t type;
		const uint8_t *payload;
		uint32_t len;
		int rc = it_read_frame(b, 10000, &type, &payload, &len);
		IT_REQUIRE(rc == 1, "packet %d did not arrive (rc %d)", i, rc);
		IT_REQUIRE(type == DERP_FRAME_RECV_PACKET && len == KEY_LEN + PAYLOAD,
			   "packet %d: frame type %u, %u bytes", i, type, len);
		it_fill_pattern(want, sizeof(want), (uint64_t)i);
		IT_REQUIRE(memcmp(payload + KEY_LEN, want, PAYLOAD) == 0,
			   "packet %d: wrong content (lost or reordered)", i);
		if (i == SKIP)
			t_start = it_now_ms();
		if (i == WINDOW_END)
			t_end = it_now_ms();
	}
	pthread_join(t, NULL);
	IT_REQUIRE(!s.failed, "the sender failed after %d packets", s.sent);
	double rate =
	    mesh ? (double)PACKETS * FRAME * 1000.0 / (double)(s.took_ms + 1)
		 : (double)(WINDOW_END - SKIP) * FRAME * 1000.0 / (double)(t_end - t_start);

	struct json_doc doc;
	md_cli_json(d, &doc, "show", "counters", NULL);
	uint64_t paused =
	    json_get_u64(json_get(doc.root, "relay"), "recv_rate_limited", UINT64_MAX);
	json_doc_free(&doc);
	it_note("recv_mode %s%s: %.0f bytes/s over %lld ms (limit %d), %llu pauses", recv_mode,
		mesh ? ", mesh peer" : "", rate, (long long)(mesh ? s.took_ms : t_end - t_start),
		RATE, (unsigned long long)paused);
	IT_REQUIRE(paused != UINT64_MAX && (mesh ? paused == 0 : paused > 0),
		   "%llu pauses counted (recv_rate_limited)", (unsigned long long)paused);
	IT_REQUIRE(md_scrape(d, "hyperderp_client_rate_limited_total", NULL) == (int64_t)paused,
		   "/metrics disagrees with show counters");
	/* The sender is throttled, the others are not: b still gets a Pong at once. */
	if (!mesh)
		it_expect_ping_pong(b);
	md_stop(d);
	if (mesh)
		unlink(key_path);
	rmdir(dir);
	return rate;
}

static void require_within(double rate)
{
	IT_REQUIRE(rate > RATE * 0.9 && rate < RATE * 1.1,
		   "read at %.0f bytes/s, outside 10 %% of %d", rate, RATE);
}

static void test_rate_bufring(void)
{
	require_within(measure("bufring", false));
}

static void test_rate_single(void)
{
	require_within(measure("single", false));
}

/* Mesh peers are exempt, as in derper: the same flood goes at full speed. */
static void test_mesh_peer_exempt(void)
{
	double rate = measure("bufring", true);
	IT_REQUIRE(rate > RATE * 3, "a mesh peer was read at %.0f bytes/s, as if limited", rate);
}

int main(int argc, char **argv)
{
	static const struct it_test tests[] = {
		IT_TEST(test_rate_bufring),
		IT_TEST(test_rate_single),
		IT_TEST(test_mesh_peer_exempt),
	};
	return md_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
