// SPDX-License-Identifier: MIT
/*
 * The HD frame codec (src/hd/hd_frame.c) and the Auth opener (hd_auth.c).
 *
 * Input: a stream of HD frames, read as a relay reads them: a header, the
 * verdict of hd_frame_check, then the type's parser. Oracle: every frame a
 * parser accepts is built again with the matching builder, and the bytes
 * must be the very same (a parser and its builder agree on every field);
 * an Auth with garbage must be refused, never accepted, and never read out
 * of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "hd_auth.h"
#include "hd_frame.h"

static uint8_t out[HD_FRAME_HDR_LEN + HD_MAX_PAYLOAD];

static void same_bytes(const uint8_t *frame, size_t want, size_t got)
{
	if (got != want || memcmp(out, frame, want) != 0)
		abort();
}

static void check_one(uint8_t type, const uint8_t *frame, uint32_t len)
{
	const uint8_t *p = frame + HD_FRAME_HDR_LEN;
	const size_t n = HD_FRAME_HDR_LEN + (size_t)len;
	struct hd_server_hello sh;
	struct hd_welcome w;
	struct hd_reason_msg rm;
	struct hd_routed r;
	struct hd_peer_info pi;
	struct hd_fleet_data fd;
	static struct hd_route routes[HD_ROUTE_ANNOUNCE_MAX];
	int nr;

	switch (type) {
	case HD_FRAME_SERVER_HELLO:
		if (hd_parse_server_hello(p, len, &sh) != 0 || sh.version != HD_PROTO_VERSION)
			return;
		same_bytes(frame, n,
			   hd_build_server_hello(out, sizeof(out), sh.relay_key, sh.challenge));
		return;
	case HD_FRAME_WELCOME:
		if (hd_parse_welcome(p, len, &w) != 0)
			abort();
		same_bytes(
		    frame, n,
		    hd_build_welcome(out, sizeof(out), w.peer_id, w.relay_id, w.keepalive_ms));
		return;
	case HD_FRAME_DENIED:
	case HD_FRAME_CLOSE:
		if (hd_parse_reason(type, p, len, &rm) != 0)
			abort();
		/* A text with a NUL in it is cut there by the builder: compare up to it. */
		if (memchr(rm.text, '\0', rm.text_len))
			return;
		char text[HD_REASON_TEXT_MAX + 1];
		memcpy(text, rm.text, rm.text_len);
		text[rm.text_len] = '\0';
		same_bytes(frame, n, hd_build_reason(out, sizeof(out), type, rm.reason, text));
		return;
	case HD_FRAME_SEND:
	case HD_FRAME_RECV:
	case HD_FRAME_FLEET_SEND:
	case HD_FRAME_FLEET_RECV:
		if (hd_parse_routed(type, p, len, &r) != 0)
			abort();
		same_bytes(frame, n,
			   hd_build_routed(out, sizeof(out), type, r.relay_id, r.peer_id, r.packet,
					   r.packet_len));
		return;
	case HD_FRAME_PEER_INFO:
		if (hd_parse_peer(type, p, len, &pi) != 0)
			abort();
		same_bytes(frame, n,
			   hd_build_peer_info(out, sizeof(out), pi.peer_id, pi.relay_id, pi.key));
		return;
	case HD_FRAME_PEER_GONE:
		if (hd_parse_peer(type, p, len, &pi) != 0)
			abort();
		same_bytes(
		    frame, n,
		    hd_build_peer_gone(out, sizeof(out), pi.peer_id, pi.relay_id, pi.reason));
		return;
	case HD_FRAME_PEER_HOME:
		if (hd_parse_peer(type, p, len, &pi) != 0)
			abort();
		if (p[HD_KEY_LEN + 4] > 1)
			return; /* any non-zero is "present"; the builder writes 1 */
		same_bytes(frame, n,
			   hd_build_peer_home(out, sizeof(out), pi.key, pi.peer_id, pi.relay_id,
					      pi.present));
		return;
	case HD_FRAME_ROUTE_ANNOUNCE:
		/* Its structure is the parser's to check, not the length rule's. */
		nr = hd_parse_route_announce(p, len, routes, HD_ROUTE_ANNOUNCE_MAX);
		if (nr < 0)
			return;
		same_bytes(frame, n, hd_build_route_announce(out, sizeof(out), routes, (size_t)nr));
		return;
	case HD_FRAME_FLEET_DATA:
		if (hd_parse_fleet_data(p, len, &fd) != 0)
			abort();
		same_bytes(frame, n, hd_build_fleet_data(out, sizeof(out), &fd));
		return;
	case HD_FRAME_AUTH: {
		static uint8_t relay_priv[HD_KEY_LEN] = { 1 }, challenge[HD_CHALLENGE_LEN],
			       binding[HD_BINDING_LEN], pub[HD_KEY_LEN];
		char token[HD_TOKEN_MAX + 1];
		size_t tlen;
		/* Nobody without the relay's key or a client's key can make a box that opens. */
		if (hd_auth_open(p, len, relay_priv, challenge, binding, pub, token, &tlen) ==
		    HD_REASON_OK)
			abort();
		return;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = 1;
	}
	while (size >= HD_FRAME_HDR_LEN) {
		uint8_t type;
		uint32_t len;
		if (hd_frame_header_parse(data, &type, &len) != 0)
			return 0; /* the relay closes before reading a payload */
		if (size - HD_FRAME_HDR_LEN < len)
			return 0; /* a frame still arriving */
		switch (hd_frame_check(type, len)) {
		case HD_FRAME_OK:
			check_one(type, data, len);
			break;
		case HD_FRAME_SKIP:
			break;
		case HD_FRAME_MALFORMED:
		case HD_FRAME_UNKNOWN:
			return 0;
		}
		data += HD_FRAME_HDR_LEN + len;
		size -= HD_FRAME_HDR_LEN + len;
	}
	return 0;
}
