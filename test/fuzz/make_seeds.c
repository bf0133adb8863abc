// SPDX-License-Identifier: MIT
/*
 * Writes the binary seed inputs of the fuzz targets (DERP frame streams and
 * sealed ClientInfo payloads) with the project's own frame builders, so the
 * seeds are real frames. Fixed keys and nonces, except the ServerInfo
 * frame, whose builder always draws a fresh nonce.
 *
 * Usage: fuzz_make_seeds CORPUS_DIR   (test/fuzz/corpus in the source tree)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "derp_frame.h"
#include "derp_handshake.h"
#include "key.h"

static const char *corpus;

static void write_seed(const char *target, const char *name, const void *data, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* A stream: one control byte, then frames. */
struct stream {
	uint8_t buf[16384];
	size_t len;
};

static void s_init(struct stream *s, uint8_t control)
{
	s->buf[0] = control;
	s->len = 1;
}

static uint8_t *s_room(struct stream *s)
{
	return s->buf + s->len;
}

static size_t s_cap(const struct stream *s)
{
	return sizeof(s->buf) - s->len;
}

static void s_add(struct stream *s, size_t n)
{
	if (n == 0) {
		fprintf(stderr, "frame does not fit\n");
		exit(1);
	}
	s->len += n;
}

static void s_raw(struct stream *s, uint8_t type, uint32_t len, const void *payload, size_t n)
{
	derp_frame_header_put(s_room(s), type, len);
	s->len += DERP_FRAME_HDR_LEN;
	if (n)
		memcpy(s_room(s), payload, n);
	s->len += n;
}

static void fixed_key(uint8_t k[KEY_LEN], uint8_t v)
{
	for (int i = 0; i < KEY_LEN; i++)
		k[i] = (uint8_t)(v + i);
	k[0] &= 248;
	k[31] = (k[31] & 127) | 64;
}

/* Both frame targets: the same streams, under a few control bytes. */
static void both(const char *name, const struct stream *s)
{
	write_seed("derp_frame", name, s->buf, s->len);
	write_seed("conn_recv", name, s->buf, s->len);
}

int main(int argc, char **argv)
{
	uint8_t server_priv[KEY_LEN], server_pub[KEY_LEN], client_priv[KEY_LEN],
	    client_pub[KEY_LEN], peer[KEY_LEN];
	static const uint8_t nonce[DERP_NONCE_LEN] = "hyper-derp seed nonce..";
	static const uint8_t ip16[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1 };
	static const uint8_t ping[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t disco[80], data[300], zeros[1100] = { 0 };
	struct stream s;
	static uint8_t frame[70000], frame2[70000];
	size_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	corpus = argv[1];
	if (sodium_init() < 0)
		return 1;
	fixed_key(server_priv, 0x40);
	fixed_key(client_priv, 0x80);
	fixed_key(peer, 0x10);
	key_public_from_private(server_priv, server_pub);
	key_public_from_private(client_priv, client_pub);
	memcpy(disco, "TS\xf0\x9f\x92\xac", 6);
	for (size_t i = 6; i < sizeof(disco); i++)
		disco[i] = (uint8_t)i;
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);

	/* A regular client's session: every frame a client sends, valid. */
	s_init(&s, 0x05); /* server-size buffer, normal max, no mesh */
	s_add(&s, derp_build_send_packet(s_room(&s), s_cap(&s), peer, data, sizeof(data)));
	s_add(&s, derp_build_send_packet(s_room(&s), s_cap(&s), peer, disco, sizeof(disco)));
	s_add(&s, derp_build_note_preferred(s_room(&s), s_cap(&s), true));
	s_add(&s, derp_build_ping(s_room(&s), s_cap(&s), ping));
	s_add(&s, derp_build_keep_alive(s_room(&s), s_cap(&s)));
	s_add(&s, derp_build_send_packet(s_room(&s), s_cap(&s), peer, NULL, 0));
	both("client-session", &s);

	/* A mesh peer's session: the mesh-only frames. */
	s_init(&s, 0x25);
	s_add(&s, derp_build_watch_conns(s_room(&s), s_cap(&s)));
	s_add(&s, derp_build_forward_packet(s_room(&s), s_cap(&s), client_pub, peer, data, 100));
	s_add(&s, derp_build_close_peer(s_room(&s), s_cap(&s), peer));
	s_add(&s, derp_build_ping(s_room(&s), s_cap(&s), ping));
	both("mesh-session", &s);

	/* Mesh frames from a client that did not present the mesh key. */
	s_init(&s, 0x05);
	s_add(&s, derp_build_watch_conns(s_room(&s), s_cap(&s)));
	both("watch-not-mesh", &s);
	s_init(&s, 0x04);
	s_add(&s, derp_build_forward_packet(s_room(&s), s_cap(&s), client_pub, peer, data, 10));
	both("forward-not-mesh", &s);

	/* Server-to-client frames sent by a client: all skipped. */
	s_init(&s, 0x05);
	s_add(&s, derp_build_server_key(s_room(&s), s_cap(&s), server_pub));
	s_add(&s, derp_build_server_info(s_room(&s), s_cap(&s), server_priv, client_pub));
	s_add(&s, derp_build_recv_packet(s_room(&s), s_cap(&s), peer, data, 50));
	s_add(&s, derp_build_peer_gone(s_room(&s), s_cap(&s), peer, DERP_PEER_GONE_NOT_HERE));
	s_add(&s, derp_build_peer_present(s_room(&s), s_cap(&s), peer, ip16, 41641,
					  DERP_PEER_PRESENT_IS_REGULAR));
	s_add(&s, derp_build_pong(s_room(&s), s_cap(&s), ping));
	s_add(&s, derp_build_health(s_room(&s), s_cap(&s), "something is wrong"));
	s_add(&s, derp_build_restarting(s_room(&s), s_cap(&s), 500, 10000));
	s_raw(&s, 0x7f, 3, "new", 3); /* a future frame type */
	s_add(&s, derp_build_keep_alive(s_room(&s), s_cap(&s)));
	both("server-frames", &s);

	/* ClientInfo again after the handshake: closes. */
	s_init(&s, 0x05);
	n = derp_build_client_info(frame, sizeof(frame), client_priv, client_pub, server_pub,
				   "{\"version\":2,\"CanAckPings\":true}", nonce);
	memcpy(s_room(&s), frame, n);
	s.len += n;
	both("client-info-again", &s);

	/* Length errors, and big frames announced but cut short. */
	s_init(&s, 0x05);
	s_raw(&s, DERP_FRAME_NOTE_PREFERRED, 2, "\x01\x01", 2);
	both("note-preferred-bad-len", &s);
	s_init(&s, 0x05);
	s_raw(&s, DERP_FRAME_PING, 1001, zeros, 1001);
	both("ping-too-long", &s);
	s_init(&s, 0x05);
	s_raw(&s, DERP_FRAME_SEND_PACKET, KEY_LEN + DERP_MAX_PACKET_SIZE + 1, peer, KEY_LEN);
	both("send-too-long", &s);
	s_init(&s, 0x05);
	s_raw(&s, DERP_FRAME_SEND_PACKET, KEY_LEN + DERP_MAX_PACKET_SIZE, peer, KEY_LEN);
	s_raw(&s, 0, 0, NULL, 0);
	both("send-max-truncated", &s);
	s_init(&s, 0x05);
	s_raw(&s, 0x42, 0xffffffffu, data, 40); /* skipped, 4 GiB long */
	both("skip-4g", &s);
	s_init(&s, 0x02); /* small reader buffer: big skipped frames, then a ping */
	s_add(&s, derp_build_health(s_room(&s), s_cap(&s),
				    "a health message longer than the small buffer of 64 bytes"));
	s_add(&s, derp_build_ping(s_room(&s), s_cap(&s), ping));
	both("small-buffer", &s);
	s_init(&s, 0x03); /* handler fails on a marked ping (conn_recv) */
	s_add(&s, derp_build_ping(s_room(&s), s_cap(&s), ping));
	s_raw(&s, DERP_FRAME_PING, 8, "\xcc\x01\x02\x03\x04\x05\x06\x07", 8);
	s_add(&s, derp_build_ping(s_room(&s), s_cap(&s), ping));
	both("ping-mark", &s);

	/*
	 * ClientInfo payloads (client_info_open): mode 0 is a raw payload (this
	 * one sealed for the target's fixed server key, so it opens), modes 1
	 * and 2 are JSON that the target seals itself.
	 */
	n = derp_build_client_info(frame2, sizeof(frame2), client_priv, client_pub, server_pub,
				   "{\"version\":2,\"CanAckPings\":true}", nonce);
	frame[0] = 0;
	memcpy(frame + 1, frame2 + DERP_FRAME_HDR_LEN, n - DERP_FRAME_HDR_LEN);
	write_seed("client_info_open", "mode0-sealed", frame, 1 + n - DERP_FRAME_HDR_LEN);
	static const char *const json[] = {
		"{\"version\":2,\"CanAckPings\":true}",
		"{\"version\":2,\"meshKey\":"
		"\"8ff3f6b34b3a1b4ac0f7d4bc2fc8b8a4dbe6a47bbd2b4e5f8b3b2e2b7a6c5d4e\","
		"\"CanAckPings\":true,\"IsProber\":true}",
	};
	for (size_t i = 0; i < sizeof(json) / sizeof(json[0]); i++) {
		for (int mode = 1; mode <= 2; mode++) {
			char name[32];

			frame[0] = (uint8_t)mode;
			memcpy(frame + 1, json[i], strlen(json[i]));
			snprintf(name, sizeof(name), "mode%d-json%zu", mode, i);
			write_seed("client_info_open", name, frame, 1 + strlen(json[i]));
		}
	}
	return 0;
}
