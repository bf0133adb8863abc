/* SPDX-License-Identifier: MIT */
/*
 * DERP frame codec: a pure library (no I/O, no allocation).
 *
 * Every frame is a 1-byte type, a 4-byte big-endian payload length and the
 * payload. Builders write a whole frame into a caller buffer and return its
 * length (header included), or 0 when the buffer is too small.
 */
#ifndef HD_DERP_FRAME_H
#define HD_DERP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

#define DERP_FRAME_HDR_LEN    5
#define DERP_MAGIC_LEN	      8
#define DERP_NONCE_LEN	      24
#define DERP_MAX_PACKET_SIZE  65536
#define DERP_PROTOCOL_VERSION 2
/* Server limits for ClientInfo (derper): 56 .. 256 KiB. */
#define DERP_CLIENT_INFO_MIN 56
#define DERP_CLIENT_INFO_MAX (256 * 1024)
/* Largest frame a Go client accepts (it drops the connection past this). */
#define DERP_CLIENT_MAX_FRAME (1024 * 1024)
#define DERP_PEER_PRESENT_LEN 51

extern const uint8_t derp_magic[DERP_MAGIC_LEN]; /* "DERP" + U+1F511 in UTF-8 */

enum derp_frame_type {
	DERP_FRAME_SERVER_KEY = 0x01,
	DERP_FRAME_CLIENT_INFO = 0x02,
	DERP_FRAME_SERVER_INFO = 0x03,
	DERP_FRAME_SEND_PACKET = 0x04,
	DERP_FRAME_RECV_PACKET = 0x05,
	DERP_FRAME_KEEP_ALIVE = 0x06,
	DERP_FRAME_NOTE_PREFERRED = 0x07,
	DERP_FRAME_PEER_GONE = 0x08,
	DERP_FRAME_PEER_PRESENT = 0x09,
	DERP_FRAME_FORWARD_PACKET = 0x0a,
	DERP_FRAME_WATCH_CONNS = 0x10,
	DERP_FRAME_CLOSE_PEER = 0x11,
	DERP_FRAME_PING = 0x12,
	DERP_FRAME_PONG = 0x13,
	DERP_FRAME_HEALTH = 0x14,
	DERP_FRAME_RESTARTING = 0x15,
};

enum derp_peer_gone_reason {
	DERP_PEER_GONE_DISCONNECTED = 0x00,
	DERP_PEER_GONE_NOT_HERE = 0x01,
};

/* PeerPresent flag bits. */
#define DERP_PEER_PRESENT_IS_REGULAR   0x01
#define DERP_PEER_PRESENT_IS_MESH_PEER 0x02
#define DERP_PEER_PRESENT_IS_PROBER    0x04
#define DERP_PEER_PRESENT_NOT_IDEAL    0x08

/* Returns a static name such as "SendPacket", or "Unknown". */
const char *derp_frame_type_name(uint8_t type);

/* Writes a 5-byte header. */
void derp_frame_header_put(uint8_t *dst, uint8_t type, uint32_t payload_len);
/* Reads a 5-byte header from at least 5 bytes. */
void derp_frame_header_get(const uint8_t *src, uint8_t *type, uint32_t *payload_len);

/*
 * What a server does with a client frame header before reading the payload,
 * following derper's per-type rules (derp-protocol.md section 2.2).
 */
enum derp_frame_verdict {
	DERP_FRAME_OK = 0,	/* read the payload and handle it */
	DERP_FRAME_SKIP,	/* unknown or ignored type: read and discard the payload */
	DERP_FRAME_BAD_LENGTH,	/* length outside the type's limits: close the connection */
	DERP_FRAME_NOT_ALLOWED, /* mesh-only frame from a non-mesh client: close */
	DERP_FRAME_UNEXPECTED,	/* ClientInfo after the handshake: close */
};

/*
 * Checks a client-to-server frame header received after the handshake.
 * can_mesh tells whether the connection presented the mesh key. Length
 * checks come first, as in derper (a WatchConns with a payload is a length
 * error even from a mesh peer).
 */
enum derp_frame_verdict derp_frame_check_client(uint8_t type, uint32_t payload_len, bool can_mesh);
const char *derp_frame_verdict_name(enum derp_frame_verdict v);

/* Disco packets start with "TS" U+1F4AC and are at least 62 bytes long. */
bool derp_packet_is_disco(const uint8_t *pkt, size_t len);

/* Server-to-client builders. Each returns the frame length, or 0 if cap is too small. */
size_t derp_build_server_key(uint8_t *dst, size_t cap, const uint8_t server_pub[KEY_LEN]);
size_t derp_build_recv_packet(uint8_t *dst, size_t cap, const uint8_t src[KEY_LEN],
			      const uint8_t *pkt, size_t pkt_len);
size_t derp_build_keep_alive(uint8_t *dst, size_t cap);
/*
 * Turns a received SendPacket or ForwardPacket into a RecvPacket where it
 * lies: frame points DERP_FRAME_HDR_LEN + KEY_LEN bytes before the packet
 * (the SendPacket's header and destination key, or the last 37 bytes of the
 * ForwardPacket's header and keys), which become the RecvPacket's header and
 * source key. src may overlap frame (a ForwardPacket's source key).
 * Returns the frame length.
 */
size_t derp_recv_packet_in_place(uint8_t *frame, const uint8_t src[KEY_LEN], size_t pkt_len);
size_t derp_build_peer_gone(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN],
			    enum derp_peer_gone_reason reason);
/* ip16 is an IPv6 or IPv4-mapped address in network order; port in host order. */
size_t derp_build_peer_present(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN],
			       const uint8_t ip16[16], uint16_t port, uint8_t flags);
size_t derp_build_pong(uint8_t *dst, size_t cap, const uint8_t data[8]);
size_t derp_build_health(uint8_t *dst, size_t cap, const char *text);
size_t derp_build_restarting(uint8_t *dst, size_t cap, uint32_t reconnect_in_ms,
			     uint32_t try_for_ms);

/* Client-to-server builders (used by the test client and load generator). */
size_t derp_build_send_packet(uint8_t *dst, size_t cap, const uint8_t dst_key[KEY_LEN],
			      const uint8_t *pkt, size_t pkt_len);
size_t derp_build_forward_packet(uint8_t *dst, size_t cap, const uint8_t src_key[KEY_LEN],
				 const uint8_t dst_key[KEY_LEN], const uint8_t *pkt,
				 size_t pkt_len);
size_t derp_build_note_preferred(uint8_t *dst, size_t cap, bool preferred);
size_t derp_build_watch_conns(uint8_t *dst, size_t cap);
size_t derp_build_close_peer(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN]);
size_t derp_build_ping(uint8_t *dst, size_t cap, const uint8_t data[8]);

/*
 * Incremental frame reader over a byte stream (client or server side): feed
 * it the bytes as they arrive, take complete frames out. It owns no memory:
 * the caller supplies a buffer big enough for the largest frame it accepts.
 *
 * Typical loop:
 *
 *	n = recv(...);
 *	while (n > 0) {
 *		taken = derp_frame_reader_append(r, p, n); p += taken; n -= taken;
 *		while ((st = derp_frame_reader_next(r, max, &t, &pl, &len)) == DERP_READ_FRAME)
 *			handle(t, pl, len);
 *		if (st == DERP_READ_TOO_LARGE) {
 *			if (derp_frame_check_client(t, len, mesh) != DERP_FRAME_SKIP)
 *				close the connection;
 *			derp_frame_reader_skip_frame(r);  (then call next again)
 *		}
 *	}
 *
 * Skipping never buffers the skipped payload: the bytes already held are
 * dropped at once and the rest is discarded by later appends as it arrives.
 */
struct derp_frame_reader {
	uint8_t *buf;
	size_t cap;   /* size of buf */
	size_t len;   /* bytes held (buf[0..len)) */
	size_t skip;  /* payload bytes of a skipped frame still to discard */
	size_t start; /* bytes at the front of buf already returned as frames */
};

void derp_frame_reader_init(struct derp_frame_reader *r, uint8_t *buf, size_t cap);

enum derp_read_status {
	DERP_READ_FRAME = 0, /* *type, *payload, *payload_len describe one frame */
	DERP_READ_NEED_MORE, /* feed more bytes */
	DERP_READ_TOO_LARGE, /* frame longer than max_payload (or buf): close, or skip it */
};

/*
 * Appends up to n bytes from src; returns how many were taken (less than n
 * when the buffer is full: call derp_frame_reader_next until NEED_MORE, then
 * append the rest).
 */
size_t derp_frame_reader_append(struct derp_frame_reader *r, const uint8_t *src, size_t n);
/*
 * Returns the next complete frame. The payload pointer stays valid until the
 * next call to append or next. Frames longer than max_payload, or too long to
 * ever fit in the buffer (payload_len > cap - 5), give DERP_READ_TOO_LARGE
 * with *type and *payload_len set from the header (*payload is NULL); the
 * frame stays at the front, and next keeps returning TOO_LARGE, until the
 * caller closes the stream or calls derp_frame_reader_skip_frame. After
 * NEED_MORE the unread bytes sit at the front of buf.
 */
enum derp_read_status derp_frame_reader_next(struct derp_frame_reader *r, uint32_t max_payload,
					     uint8_t *type, const uint8_t **payload,
					     uint32_t *payload_len);

/*
 * Discards the frame whose header is at the front of the reader (the one
 * derp_frame_reader_next just reported as TOO_LARGE): the header and payload
 * bytes already held are dropped now, and the payload bytes not yet received
 * are dropped by the coming appends (counted in r->skip), so a frame of any
 * length can be skipped without buffering it. Returns false (and does
 * nothing) if not even a whole header is buffered.
 */
bool derp_frame_reader_skip_frame(struct derp_frame_reader *r);

#endif
