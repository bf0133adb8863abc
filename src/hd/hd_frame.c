// SPDX-License-Identifier: MIT
#include "hd_frame.h"

#include <string.h>

#include "be_bytes.h"

#define AUTH_MIN_LEN  (HD_KEY_LEN + 24 + 16 + HD_CHALLENGE_LEN + 32 + 2)
#define AUTH_MAX_LEN  1024
#define ROUTE_HDR_LEN 3 /* relay id, path length */
#define ROUTE_MAX_LEN (ROUTE_HDR_LEN + 2 * HD_ROUTE_MAX_PATH)
#define FLEET_HDR_LEN 9

/*
 * Payload bounds per type. Unlisted types are unknown. Kept as one table so
 * that a frame's rule is one line to read and to change.
 */
struct frame_rule {
	uint8_t type;
	const char *name;
	uint32_t min;
	uint32_t max;
};

static const struct frame_rule frame_rules[] = {
	{ HD_FRAME_SERVER_HELLO, "ServerHello", 1 + 2 * 32, 1 + 2 * 32 },
	{ HD_FRAME_AUTH, "Auth", AUTH_MIN_LEN, AUTH_MAX_LEN },
	{ HD_FRAME_WELCOME, "Welcome", 8, 8 },
	{ HD_FRAME_DENIED, "Denied", 1, 1 + HD_REASON_TEXT_MAX },
	{ HD_FRAME_SEND, "Send", 2, 2 + HD_MAX_PACKET },
	{ HD_FRAME_RECV, "Recv", 2, 2 + HD_MAX_PACKET },
	{ HD_FRAME_FLEET_SEND, "FleetSend", 4, 4 + HD_MAX_PACKET },
	{ HD_FRAME_FLEET_RECV, "FleetRecv", 4, 4 + HD_MAX_PACKET },
	{ HD_FRAME_LOOKUP, "Lookup", HD_KEY_LEN, HD_KEY_LEN },
	{ HD_FRAME_PEER_INFO, "PeerInfo", 4 + HD_KEY_LEN, 4 + HD_KEY_LEN },
	{ HD_FRAME_PEER_GONE, "PeerGone", 5, 5 },
	{ HD_FRAME_PING, "Ping", 8, 8 },
	{ HD_FRAME_PONG, "Pong", 8, 8 },
	{ HD_FRAME_KEEP_ALIVE, "KeepAlive", 0, 0 },
	{ HD_FRAME_CLOSE, "Close", 1, 1 + HD_REASON_TEXT_MAX },
	{ HD_FRAME_ROUTE_ANNOUNCE, "RouteAnnounce", 0, ROUTE_MAX_LEN *HD_ROUTE_ANNOUNCE_MAX },
	{ HD_FRAME_FLEET_DATA, "FleetData", FLEET_HDR_LEN, FLEET_HDR_LEN + HD_MAX_PACKET },
	{ HD_FRAME_PEER_HOME, "PeerHome", HD_KEY_LEN + 5, HD_KEY_LEN + 5 },
};

static const struct frame_rule *frame_rule_find(uint8_t type)
{
	for (size_t i = 0; i < sizeof(frame_rules) / sizeof(frame_rules[0]); i++) {
		if (frame_rules[i].type == type)
			return &frame_rules[i];
	}
	return NULL;
}

const char *hd_frame_type_name(uint8_t type)
{
	const struct frame_rule *r = frame_rule_find(type);
	return r ? r->name : "Unknown";
}

const char *hd_reason_name(uint8_t reason)
{
	static const char *const names[] = {
		[HD_REASON_OK] = "ok",
		[HD_REASON_BAD_PROOF] = "bad-proof",
		[HD_REASON_NO_TOKEN] = "no-token",
		[HD_REASON_WRONG_KEY] = "wrong-key",
		[HD_REASON_EXPIRED] = "expired",
		[HD_REASON_REVOKED] = "revoked",
		[HD_REASON_POLICY] = "policy",
		[HD_REASON_FULL] = "full",
		[HD_REASON_DRAINING] = "draining",
	};
	if (reason < sizeof(names) / sizeof(names[0]))
		return names[reason];
	return "unknown";
}

int hd_frame_header_parse(const uint8_t hdr[HD_FRAME_HDR_LEN], uint8_t *type, uint32_t *len)
{
	uint32_t n = (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];

	*type = hdr[0];
	*len = n;
	return n > HD_MAX_PAYLOAD ? -1 : 0;
}

void hd_frame_header_write(uint8_t hdr[HD_FRAME_HDR_LEN], uint8_t type, uint32_t len)
{
	hdr[0] = type;
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
}

enum hd_frame_verdict hd_frame_check(uint8_t type, uint32_t len)
{
	const struct frame_rule *r = frame_rule_find(type);

	if (!r)
		return type >= HD_FRAME_OPTIONAL_MIN ? HD_FRAME_SKIP : HD_FRAME_UNKNOWN;
	if (len < r->min || len > r->max)
		return HD_FRAME_MALFORMED;
	return HD_FRAME_OK;
}

enum hd_frame_verdict hd_frame_check_client(uint8_t type, uint32_t len)
{
	enum hd_frame_verdict v = hd_frame_check(type, len);

	if (v != HD_FRAME_OK)
		return v;
	switch (type) {
	case HD_FRAME_SEND:
	case HD_FRAME_FLEET_SEND:
	case HD_FRAME_LOOKUP:
	case HD_FRAME_PING:
	case HD_FRAME_PONG:
		return HD_FRAME_OK;
	}
	return HD_FRAME_MALFORMED;
}

/*
 * Starts a frame of payload_len bytes: checks the room and the type's bounds,
 * writes the header and returns where the payload goes, or NULL.
 */
static uint8_t *frame_begin(uint8_t *dst, size_t cap, uint8_t type, size_t payload_len)
{
	if (payload_len > HD_MAX_PAYLOAD || cap < HD_FRAME_HDR_LEN + payload_len)
		return NULL;
	if (hd_frame_check(type, (uint32_t)payload_len) != HD_FRAME_OK)
		return NULL;
	hd_frame_header_write(dst, type, (uint32_t)payload_len);
	return dst + HD_FRAME_HDR_LEN;
}

size_t hd_build_server_hello(uint8_t *dst, size_t cap, const uint8_t relay_key[HD_KEY_LEN],
			     const uint8_t challenge[HD_CHALLENGE_LEN])
{
	const size_t len = 1 + HD_KEY_LEN + HD_CHALLENGE_LEN;
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_SERVER_HELLO, len);

	if (!p)
		return 0;
	p[0] = HD_PROTO_VERSION;
	memcpy(p + 1, relay_key, HD_KEY_LEN);
	memcpy(p + 1 + HD_KEY_LEN, challenge, HD_CHALLENGE_LEN);
	return HD_FRAME_HDR_LEN + len;
}

size_t hd_build_welcome(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			uint32_t keepalive_ms)
{
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_WELCOME, 8);

	if (!p)
		return 0;
	put_be16(p, peer_id);
	put_be16(p + 2, relay_id);
	put_be32(p + 4, keepalive_ms);
	return HD_FRAME_HDR_LEN + 8;
}

size_t hd_build_reason(uint8_t *dst, size_t cap, uint8_t type, uint8_t reason, const char *text)
{
	size_t text_len = text ? strnlen(text, HD_REASON_TEXT_MAX) : 0;
	uint8_t *p;

	if (type != HD_FRAME_DENIED && type != HD_FRAME_CLOSE)
		return 0;
	p = frame_begin(dst, cap, type, 1 + text_len);
	if (!p)
		return 0;
	p[0] = reason;
	memcpy(p + 1, text, text_len);
	return HD_FRAME_HDR_LEN + 1 + text_len;
}

/* The routing header's length for Send/Recv (2) or FleetSend/FleetRecv (4); 0 otherwise. */
static size_t routed_header_len(uint8_t type)
{
	switch (type) {
	case HD_FRAME_SEND:
	case HD_FRAME_RECV:
		return 2;
	case HD_FRAME_FLEET_SEND:
	case HD_FRAME_FLEET_RECV:
		return 4;
	}
	return 0;
}

size_t hd_build_routed_header(uint8_t *dst, size_t cap, uint8_t type, uint16_t relay_id,
			      uint16_t peer_id, uint32_t packet_len)
{
	size_t hlen = routed_header_len(type);
	uint8_t *p;

	if (hlen == 0 || packet_len > HD_MAX_PACKET || cap < HD_FRAME_HDR_LEN + hlen)
		return 0;
	/* Room for the header only: the packet is already where it goes. */
	p = frame_begin(dst, HD_FRAME_HDR_LEN + hlen + packet_len, type, hlen + packet_len);
	if (!p)
		return 0;
	if (hlen == 4) {
		put_be16(p, relay_id);
		p += 2;
	}
	put_be16(p, peer_id);
	return HD_FRAME_HDR_LEN + hlen;
}

size_t hd_build_routed(uint8_t *dst, size_t cap, uint8_t type, uint16_t relay_id, uint16_t peer_id,
		       const uint8_t *packet, uint32_t packet_len)
{
	size_t hlen;

	if (cap < HD_FRAME_HDR_LEN + routed_header_len(type) + (size_t)packet_len)
		return 0;
	hlen = hd_build_routed_header(dst, cap, type, relay_id, peer_id, packet_len);
	if (hlen == 0)
		return 0;
	memcpy(dst + hlen, packet, packet_len);
	return hlen + packet_len;
}

size_t hd_build_lookup(uint8_t *dst, size_t cap, const uint8_t key[HD_KEY_LEN])
{
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_LOOKUP, HD_KEY_LEN);

	if (!p)
		return 0;
	memcpy(p, key, HD_KEY_LEN);
	return HD_FRAME_HDR_LEN + HD_KEY_LEN;
}

size_t hd_build_peer_info(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			  const uint8_t key[HD_KEY_LEN])
{
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_PEER_INFO, 4 + HD_KEY_LEN);

	if (!p)
		return 0;
	put_be16(p, peer_id);
	put_be16(p + 2, relay_id);
	memcpy(p + 4, key, HD_KEY_LEN);
	return HD_FRAME_HDR_LEN + 4 + HD_KEY_LEN;
}

size_t hd_build_peer_gone(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			  uint8_t reason)
{
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_PEER_GONE, 5);

	if (!p)
		return 0;
	put_be16(p, peer_id);
	put_be16(p + 2, relay_id);
	p[4] = reason;
	return HD_FRAME_HDR_LEN + 5;
}

size_t hd_build_ping(uint8_t *dst, size_t cap, uint8_t type, const uint8_t data[8])
{
	uint8_t *p;

	if (type != HD_FRAME_PING && type != HD_FRAME_PONG)
		return 0;
	p = frame_begin(dst, cap, type, 8);
	if (!p)
		return 0;
	memcpy(p, data, 8);
	return HD_FRAME_HDR_LEN + 8;
}

size_t hd_build_keep_alive(uint8_t *dst, size_t cap)
{
	return frame_begin(dst, cap, HD_FRAME_KEEP_ALIVE, 0) ? HD_FRAME_HDR_LEN : 0;
}

size_t hd_build_route_announce(uint8_t *dst, size_t cap, const struct hd_route *routes, size_t n)
{
	size_t len = 0;
	uint8_t *p;

	if (n > HD_ROUTE_ANNOUNCE_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (routes[i].path_len > HD_ROUTE_MAX_PATH)
			return 0;
		len += ROUTE_HDR_LEN + 2 * (size_t)routes[i].path_len;
	}
	p = frame_begin(dst, cap, HD_FRAME_ROUTE_ANNOUNCE, len);
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++) {
		put_be16(p, routes[i].relay_id);
		p[2] = routes[i].path_len;
		p += ROUTE_HDR_LEN;
		for (uint8_t k = 0; k < routes[i].path_len; k++, p += 2)
			put_be16(p, routes[i].path[k]);
	}
	return HD_FRAME_HDR_LEN + len;
}

size_t hd_build_fleet_data(uint8_t *dst, size_t cap, const struct hd_fleet_data *fd)
{
	uint8_t *p;

	if (fd->packet_len > HD_MAX_PACKET)
		return 0;
	p = frame_begin(dst, cap, HD_FRAME_FLEET_DATA, FLEET_HDR_LEN + (size_t)fd->packet_len);
	if (!p)
		return 0;
	put_be16(p, fd->dst_relay);
	put_be16(p + 2, fd->dst_peer);
	put_be16(p + 4, fd->src_relay);
	put_be16(p + 6, fd->src_peer);
	p[8] = fd->hops_left;
	memcpy(p + FLEET_HDR_LEN, fd->packet, fd->packet_len);
	return HD_FRAME_HDR_LEN + FLEET_HDR_LEN + fd->packet_len;
}

size_t hd_build_peer_home(uint8_t *dst, size_t cap, const uint8_t key[HD_KEY_LEN], uint16_t peer_id,
			  uint16_t relay_id, bool present)
{
	uint8_t *p = frame_begin(dst, cap, HD_FRAME_PEER_HOME, HD_KEY_LEN + 5);

	if (!p)
		return 0;
	memcpy(p, key, HD_KEY_LEN);
	put_be16(p + HD_KEY_LEN, peer_id);
	put_be16(p + HD_KEY_LEN + 2, relay_id);
	p[HD_KEY_LEN + 4] = present ? 1 : 0;
	return HD_FRAME_HDR_LEN + HD_KEY_LEN + 5;
}

int hd_parse_server_hello(const uint8_t *p, uint32_t len, struct hd_server_hello *out)
{
	if (hd_frame_check(HD_FRAME_SERVER_HELLO, len) != HD_FRAME_OK)
		return -1;
	out->version = p[0];
	out->relay_key = p + 1;
	out->challenge = p + 1 + HD_KEY_LEN;
	return 0;
}

int hd_parse_welcome(const uint8_t *p, uint32_t len, struct hd_welcome *out)
{
	if (hd_frame_check(HD_FRAME_WELCOME, len) != HD_FRAME_OK)
		return -1;
	out->peer_id = get_be16(p);
	out->relay_id = get_be16(p + 2);
	out->keepalive_ms = get_be32(p + 4);
	return 0;
}

int hd_parse_reason(uint8_t type, const uint8_t *p, uint32_t len, struct hd_reason_msg *out)
{
	if (type != HD_FRAME_DENIED && type != HD_FRAME_CLOSE)
		return -1;
	if (hd_frame_check(type, len) != HD_FRAME_OK)
		return -1;
	out->reason = p[0];
	out->text = (const char *)p + 1;
	out->text_len = len - 1;
	return 0;
}

int hd_parse_routed(uint8_t type, const uint8_t *p, uint32_t len, struct hd_routed *out)
{
	size_t hlen = routed_header_len(type);

	if (hlen == 0 || hd_frame_check(type, len) != HD_FRAME_OK)
		return -1;
	out->relay_id = hlen == 4 ? get_be16(p) : HD_ID_NONE;
	out->peer_id = get_be16(p + hlen - 2);
	out->packet = p + hlen;
	out->packet_len = len - (uint32_t)hlen;
	return 0;
}

int hd_parse_peer(uint8_t type, const uint8_t *p, uint32_t len, struct hd_peer_info *out)
{
	if (hd_frame_check(type, len) != HD_FRAME_OK)
		return -1;
	memset(out, 0, sizeof(*out));
	switch (type) {
	case HD_FRAME_PEER_INFO:
		out->peer_id = get_be16(p);
		out->relay_id = get_be16(p + 2);
		out->key = p + 4;
		return 0;
	case HD_FRAME_PEER_GONE:
		out->peer_id = get_be16(p);
		out->relay_id = get_be16(p + 2);
		out->reason = p[4];
		return 0;
	case HD_FRAME_PEER_HOME:
		out->key = p;
		out->peer_id = get_be16(p + HD_KEY_LEN);
		out->relay_id = get_be16(p + HD_KEY_LEN + 2);
		out->present = p[HD_KEY_LEN + 4] != 0;
		return 0;
	}
	return -1;
}

int hd_parse_route_announce(const uint8_t *p, uint32_t len, struct hd_route *routes, size_t max)
{
	const uint8_t *end = p + len;
	size_t n = 0;

	if (hd_frame_check(HD_FRAME_ROUTE_ANNOUNCE, len) != HD_FRAME_OK)
		return -1;
	while (p < end) {
		struct hd_route *r = &routes[n];
		if (n == max || end - p < ROUTE_HDR_LEN)
			return -1;
		r->relay_id = get_be16(p);
		r->path_len = p[2];
		p += ROUTE_HDR_LEN;
		if (r->path_len > HD_ROUTE_MAX_PATH || end - p < 2 * r->path_len)
			return -1;
		for (uint8_t k = 0; k < r->path_len; k++, p += 2)
			r->path[k] = get_be16(p);
		if (r->path_len > 0 && r->path[r->path_len - 1] != r->relay_id)
			return -1;
		n++;
	}
	return (int)n;
}

int hd_parse_fleet_data(const uint8_t *p, uint32_t len, struct hd_fleet_data *out)
{
	if (hd_frame_check(HD_FRAME_FLEET_DATA, len) != HD_FRAME_OK)
		return -1;
	out->dst_relay = get_be16(p);
	out->dst_peer = get_be16(p + 2);
	out->src_relay = get_be16(p + 4);
	out->src_peer = get_be16(p + 6);
	out->hops_left = p[8];
	out->packet = p + FLEET_HDR_LEN;
	out->packet_len = len - FLEET_HDR_LEN;
	return 0;
}
