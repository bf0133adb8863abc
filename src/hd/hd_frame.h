/* SPDX-License-Identifier: MIT */
/*
 * HD frame codec (docs/hd-protocol.md, section 2): a pure library, no I/O
 * and no allocation, like derp_frame.
 *
 * Every frame is a 1-byte type, a 3-byte big-endian payload length and the
 * payload. Builders write a whole frame (header included) into a caller
 * buffer and return its length, or 0 when the buffer is too small or a field
 * is out of range. Parsers take a payload whose length hd_frame_check passed.
 */
#ifndef HD_HD_FRAME_H
#define HD_HD_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HD_PROTO_VERSION 1
#define HD_FRAME_HDR_LEN 4
#define HD_KEY_LEN	 32
#define HD_CHALLENGE_LEN 32
#define HD_MAX_PACKET	 65536
/* The largest routing header (FleetData's 9 bytes) fits in the slack. */
#define HD_MAX_PAYLOAD	      (HD_MAX_PACKET + 64)
#define HD_REASON_TEXT_MAX    200
#define HD_ROUTE_ANNOUNCE_MAX 1024
/* The longest path a fleet route may take (relays after the announcer). */
#define HD_ROUTE_MAX_PATH 15
/* Peer and relay ids: 0 is "none", 0xffff reserved. */
#define HD_ID_NONE     0
#define HD_ID_RESERVED 0xffff

enum hd_frame_type {
	HD_FRAME_SERVER_HELLO = 0x01,
	HD_FRAME_AUTH = 0x02,
	HD_FRAME_WELCOME = 0x03,
	HD_FRAME_DENIED = 0x04,
	HD_FRAME_SEND = 0x10,
	HD_FRAME_RECV = 0x11,
	HD_FRAME_FLEET_SEND = 0x12,
	HD_FRAME_FLEET_RECV = 0x13,
	HD_FRAME_LOOKUP = 0x20,
	HD_FRAME_PEER_INFO = 0x21,
	HD_FRAME_PEER_GONE = 0x22,
	HD_FRAME_PING = 0x30,
	HD_FRAME_PONG = 0x31,
	HD_FRAME_KEEP_ALIVE = 0x32,
	HD_FRAME_CLOSE = 0x33,
	HD_FRAME_ROUTE_ANNOUNCE = 0x40,
	HD_FRAME_FLEET_DATA = 0x41,
	HD_FRAME_PEER_HOME = 0x42,
};

/* Types from here up may be skipped by a receiver that does not know them. */
#define HD_FRAME_OPTIONAL_MIN 0x80

/* Denied and Close reasons (section 2.2). */
enum hd_reason {
	HD_REASON_OK = 0,
	HD_REASON_BAD_PROOF = 1,
	HD_REASON_NO_TOKEN = 2,
	HD_REASON_WRONG_KEY = 3,
	HD_REASON_EXPIRED = 4,
	HD_REASON_REVOKED = 5,
	HD_REASON_POLICY = 6,
	HD_REASON_FULL = 7,
	HD_REASON_DRAINING = 8,
};

enum hd_peer_gone_reason {
	HD_GONE_DISCONNECTED = 0,
	HD_GONE_NOT_HERE = 1,
	HD_GONE_NOT_ALLOWED = 2,
};

/* What a receiver does with a frame, from its type and payload length. */
enum hd_frame_verdict {
	HD_FRAME_OK,	    /* a known type with a valid length */
	HD_FRAME_MALFORMED, /* a known type with a bad length: close */
	HD_FRAME_UNKNOWN,   /* an unknown type below 0x80: close */
	HD_FRAME_SKIP,	    /* an unknown type from 0x80: skip its payload */
};

const char *hd_frame_type_name(uint8_t type);
const char *hd_reason_name(uint8_t reason);

/* Reads a header. Returns 0, or -1 when the length exceeds HD_MAX_PAYLOAD. */
int hd_frame_header_parse(const uint8_t hdr[HD_FRAME_HDR_LEN], uint8_t *type, uint32_t *len);
/* Writes a header; len must be <= HD_MAX_PAYLOAD (checked by the builders). */
void hd_frame_header_write(uint8_t hdr[HD_FRAME_HDR_LEN], uint8_t type, uint32_t len);
enum hd_frame_verdict hd_frame_check(uint8_t type, uint32_t len);
/*
 * The relay's rule for a frame from a client after Welcome: the types a
 * client may send (Send, FleetSend, Lookup, Ping, Pong) with valid lengths
 * are HD_FRAME_OK, optional unknown types HD_FRAME_SKIP; anything else
 * (the relay's own frames, a second Auth) is HD_FRAME_MALFORMED or
 * HD_FRAME_UNKNOWN: close.
 */
enum hd_frame_verdict hd_frame_check_client(uint8_t type, uint32_t len);

/* Handshake frames. The Auth frame is built by hd_auth_build (hd_auth.h). */
size_t hd_build_server_hello(uint8_t *dst, size_t cap, const uint8_t relay_key[HD_KEY_LEN],
			     const uint8_t challenge[HD_CHALLENGE_LEN]);
size_t hd_build_welcome(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			uint32_t keepalive_ms);
/* Denied or Close (type), with a reason and a text cut to HD_REASON_TEXT_MAX. */
size_t hd_build_reason(uint8_t *dst, size_t cap, uint8_t type, uint8_t reason, const char *text);

/*
 * Send, Recv (one id: the peer) and FleetSend, FleetRecv (two: relay, peer).
 * The routing header only: the caller puts the packet's len bytes right after
 * it, so a received packet can be re-framed in place.
 */
size_t hd_build_routed_header(uint8_t *dst, size_t cap, uint8_t type, uint16_t relay_id,
			      uint16_t peer_id, uint32_t packet_len);
/* The header plus a copy of the packet. */
size_t hd_build_routed(uint8_t *dst, size_t cap, uint8_t type, uint16_t relay_id, uint16_t peer_id,
		       const uint8_t *packet, uint32_t packet_len);

size_t hd_build_lookup(uint8_t *dst, size_t cap, const uint8_t key[HD_KEY_LEN]);
size_t hd_build_peer_info(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			  const uint8_t key[HD_KEY_LEN]);
size_t hd_build_peer_gone(uint8_t *dst, size_t cap, uint16_t peer_id, uint16_t relay_id,
			  uint8_t reason);
/* Ping or Pong (type) with its 8 bytes; KeepAlive has no payload. */
size_t hd_build_ping(uint8_t *dst, size_t cap, uint8_t type, const uint8_t data[8]);
size_t hd_build_keep_alive(uint8_t *dst, size_t cap);

/*
 * One route of a RouteAnnounce: a destination relay and the path to it, the
 * relays after the announcer up to and including the destination (path_len
 * hops). The announcer's own entry has an empty path.
 */
struct hd_route {
	uint16_t relay_id;
	uint8_t path_len;
	uint16_t path[HD_ROUTE_MAX_PATH];
};
size_t hd_build_route_announce(uint8_t *dst, size_t cap, const struct hd_route *routes, size_t n);

struct hd_fleet_data {
	uint16_t dst_relay;
	uint16_t dst_peer;
	uint16_t src_relay;
	uint16_t src_peer;
	uint8_t hops_left;
	const uint8_t *packet;
	uint32_t packet_len;
};
size_t hd_build_fleet_data(uint8_t *dst, size_t cap, const struct hd_fleet_data *fd);
size_t hd_build_peer_home(uint8_t *dst, size_t cap, const uint8_t key[HD_KEY_LEN], uint16_t peer_id,
			  uint16_t relay_id, bool present);

/* Parsed payloads; pointers point into the payload. */
struct hd_server_hello {
	uint8_t version;
	const uint8_t *relay_key;
	const uint8_t *challenge;
};
struct hd_welcome {
	uint16_t peer_id;
	uint16_t relay_id;
	uint32_t keepalive_ms;
};
struct hd_reason_msg {
	uint8_t reason;
	const char *text; /* not NUL-terminated */
	uint32_t text_len;
};
struct hd_routed {
	uint16_t relay_id; /* 0 for Send and Recv */
	uint16_t peer_id;
	const uint8_t *packet;
	uint32_t packet_len;
};
struct hd_peer_info {
	uint16_t peer_id;
	uint16_t relay_id;
	const uint8_t *key; /* PeerInfo and PeerHome */
	uint8_t reason;	    /* PeerGone */
	bool present;	    /* PeerHome */
};

/*
 * Each parser takes a frame's type and payload and returns 0, or -1 when the
 * type is not one it parses or the length is wrong.
 */
int hd_parse_server_hello(const uint8_t *p, uint32_t len, struct hd_server_hello *out);
int hd_parse_welcome(const uint8_t *p, uint32_t len, struct hd_welcome *out);
int hd_parse_reason(uint8_t type, const uint8_t *p, uint32_t len, struct hd_reason_msg *out);
int hd_parse_routed(uint8_t type, const uint8_t *p, uint32_t len, struct hd_routed *out);
/* PeerInfo, PeerGone and PeerHome. */
int hd_parse_peer(uint8_t type, const uint8_t *p, uint32_t len, struct hd_peer_info *out);
/*
 * Returns the number of routes (at most max), or -1 when the payload is not a
 * whole list of routes, a path is longer than HD_ROUTE_MAX_PATH, or a path
 * does not end at its route's relay.
 */
int hd_parse_route_announce(const uint8_t *p, uint32_t len, struct hd_route *routes, size_t max);
int hd_parse_fleet_data(const uint8_t *p, uint32_t len, struct hd_fleet_data *out);

#endif
