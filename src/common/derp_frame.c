// SPDX-License-Identifier: MIT
#include "derp_frame.h"

#include <string.h>

#include "be_bytes.h"

const uint8_t derp_magic[DERP_MAGIC_LEN] = { 0x44, 0x45, 0x52, 0x50, 0xf0, 0x9f, 0x94, 0x91 };

/* "TS" + U+1F4AC, then a 32-byte disco key and a 24-byte nonce (disco/disco.go). */
static const uint8_t disco_magic[6] = { 0x54, 0x53, 0xf0, 0x9f, 0x92, 0xac };
#define DISCO_MIN_LEN (sizeof(disco_magic) + KEY_LEN + DERP_NONCE_LEN)

/* Limits derper applies to client frames (derp-protocol.md section 2.2). */
#define PING_MIN_LEN 8
#define PING_MAX_LEN 1000

const char *derp_frame_type_name(uint8_t type)
{
	switch (type) {
	case DERP_FRAME_SERVER_KEY:
		return "ServerKey";
	case DERP_FRAME_CLIENT_INFO:
		return "ClientInfo";
	case DERP_FRAME_SERVER_INFO:
		return "ServerInfo";
	case DERP_FRAME_SEND_PACKET:
		return "SendPacket";
	case DERP_FRAME_RECV_PACKET:
		return "RecvPacket";
	case DERP_FRAME_KEEP_ALIVE:
		return "KeepAlive";
	case DERP_FRAME_NOTE_PREFERRED:
		return "NotePreferred";
	case DERP_FRAME_PEER_GONE:
		return "PeerGone";
	case DERP_FRAME_PEER_PRESENT:
		return "PeerPresent";
	case DERP_FRAME_FORWARD_PACKET:
		return "ForwardPacket";
	case DERP_FRAME_WATCH_CONNS:
		return "WatchConns";
	case DERP_FRAME_CLOSE_PEER:
		return "ClosePeer";
	case DERP_FRAME_PING:
		return "Ping";
	case DERP_FRAME_PONG:
		return "Pong";
	case DERP_FRAME_HEALTH:
		return "Health";
	case DERP_FRAME_RESTARTING:
		return "Restarting";
	}
	return "Unknown";
}

void derp_frame_header_put(uint8_t *dst, uint8_t type, uint32_t payload_len)
{
	dst[0] = type;
	put_be32(dst + 1, payload_len);
}

void derp_frame_header_get(const uint8_t *src, uint8_t *type, uint32_t *payload_len)
{
	*type = src[0];
	*payload_len = get_be32(src + 1);
}

/* Length check for a frame carrying `keys` leading keys and then a packet. */
static bool packet_frame_len_ok(uint32_t len, uint32_t keys)
{
	uint32_t head = keys * KEY_LEN;

	return len >= head && len - head <= DERP_MAX_PACKET_SIZE;
}

enum derp_frame_verdict derp_frame_check_client(uint8_t type, uint32_t payload_len, bool can_mesh)
{
	/*
	 * The order of the checks within each case is derper's: it decides
	 * which error a misbehaving client sees, and both close the connection.
	 */
	switch (type) {
	case DERP_FRAME_SEND_PACKET:
		return packet_frame_len_ok(payload_len, 1) ? DERP_FRAME_OK : DERP_FRAME_BAD_LENGTH;
	case DERP_FRAME_NOTE_PREFERRED:
		return payload_len == 1 ? DERP_FRAME_OK : DERP_FRAME_BAD_LENGTH;
	case DERP_FRAME_FORWARD_PACKET:
		/* Permission first: a non-mesh client learns nothing about lengths. */
		if (!can_mesh)
			return DERP_FRAME_NOT_ALLOWED;
		return packet_frame_len_ok(payload_len, 2) ? DERP_FRAME_OK : DERP_FRAME_BAD_LENGTH;
	case DERP_FRAME_WATCH_CONNS:
		if (payload_len != 0)
			return DERP_FRAME_BAD_LENGTH;
		return can_mesh ? DERP_FRAME_OK : DERP_FRAME_NOT_ALLOWED;
	case DERP_FRAME_CLOSE_PEER:
		if (payload_len != KEY_LEN)
			return DERP_FRAME_BAD_LENGTH;
		return can_mesh ? DERP_FRAME_OK : DERP_FRAME_NOT_ALLOWED;
	case DERP_FRAME_PING:
		if (payload_len < PING_MIN_LEN || payload_len > PING_MAX_LEN)
			return DERP_FRAME_BAD_LENGTH;
		return DERP_FRAME_OK;
	case DERP_FRAME_CLIENT_INFO:
		return DERP_FRAME_UNEXPECTED;
	default:
		/*
		 * Everything else, including server-to-client types such as
		 * KeepAlive or Pong sent by a client, is skipped whatever its
		 * length, so that newer clients can add frame types.
		 */
		return DERP_FRAME_SKIP;
	}
}

const char *derp_frame_verdict_name(enum derp_frame_verdict v)
{
	switch (v) {
	case DERP_FRAME_OK:
		return "ok";
	case DERP_FRAME_SKIP:
		return "skip";
	case DERP_FRAME_BAD_LENGTH:
		return "bad length";
	case DERP_FRAME_NOT_ALLOWED:
		return "not allowed";
	case DERP_FRAME_UNEXPECTED:
		return "unexpected";
	}
	return "unknown";
}

bool derp_packet_is_disco(const uint8_t *pkt, size_t len)
{
	return len >= DISCO_MIN_LEN && memcmp(pkt, disco_magic, sizeof(disco_magic)) == 0;
}

/*
 * Writes the header of a frame with payload_len payload bytes and returns a
 * pointer to where the payload goes, or NULL if the frame does not fit.
 */
static uint8_t *frame_start(uint8_t *dst, size_t cap, uint8_t type, size_t payload_len)
{
	if (payload_len > UINT32_MAX || cap < DERP_FRAME_HDR_LEN ||
	    cap - DERP_FRAME_HDR_LEN < payload_len)
		return NULL;
	derp_frame_header_put(dst, type, (uint32_t)payload_len);
	return dst + DERP_FRAME_HDR_LEN;
}

size_t derp_build_server_key(uint8_t *dst, size_t cap, const uint8_t server_pub[KEY_LEN])
{
	const size_t plen = DERP_MAGIC_LEN + KEY_LEN;
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_SERVER_KEY, plen);

	if (!p)
		return 0;
	memcpy(p, derp_magic, DERP_MAGIC_LEN);
	memcpy(p + DERP_MAGIC_LEN, server_pub, KEY_LEN);
	return DERP_FRAME_HDR_LEN + plen;
}

/* A frame of one key followed by a packet: RecvPacket, SendPacket. */
static size_t build_key_packet(uint8_t *dst, size_t cap, uint8_t type, const uint8_t key[KEY_LEN],
			       const uint8_t *pkt, size_t pkt_len)
{
	if (pkt_len > UINT32_MAX - KEY_LEN)
		return 0;
	const size_t plen = KEY_LEN + pkt_len;
	uint8_t *p = frame_start(dst, cap, type, plen);

	if (!p)
		return 0;
	memcpy(p, key, KEY_LEN);
	if (pkt_len)
		memcpy(p + KEY_LEN, pkt, pkt_len);
	return DERP_FRAME_HDR_LEN + plen;
}

size_t derp_build_recv_packet(uint8_t *dst, size_t cap, const uint8_t src[KEY_LEN],
			      const uint8_t *pkt, size_t pkt_len)
{
	return build_key_packet(dst, cap, DERP_FRAME_RECV_PACKET, src, pkt, pkt_len);
}

size_t derp_recv_packet_in_place(uint8_t *frame, const uint8_t src[KEY_LEN], size_t pkt_len)
{
	/* The key first: a ForwardPacket's source ends where the header goes. */
	memmove(frame + DERP_FRAME_HDR_LEN, src, KEY_LEN);
	derp_frame_header_put(frame, DERP_FRAME_RECV_PACKET, (uint32_t)(KEY_LEN + pkt_len));
	return DERP_FRAME_HDR_LEN + KEY_LEN + pkt_len;
}

size_t derp_build_keep_alive(uint8_t *dst, size_t cap)
{
	return frame_start(dst, cap, DERP_FRAME_KEEP_ALIVE, 0) ? DERP_FRAME_HDR_LEN : 0;
}

size_t derp_build_peer_gone(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN],
			    enum derp_peer_gone_reason reason)
{
	const size_t plen = KEY_LEN + 1;
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_PEER_GONE, plen);

	if (!p)
		return 0;
	memcpy(p, key, KEY_LEN);
	p[KEY_LEN] = (uint8_t)reason;
	return DERP_FRAME_HDR_LEN + plen;
}

size_t derp_build_peer_present(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN],
			       const uint8_t ip16[16], uint16_t port, uint8_t flags)
{
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_PEER_PRESENT, DERP_PEER_PRESENT_LEN);

	if (!p)
		return 0;
	memcpy(p, key, KEY_LEN);
	memcpy(p + KEY_LEN, ip16, 16);
	put_be16(p + KEY_LEN + 16, port);
	p[KEY_LEN + 18] = flags;
	return DERP_FRAME_HDR_LEN + DERP_PEER_PRESENT_LEN;
}

static size_t build_8_bytes(uint8_t *dst, size_t cap, uint8_t type, const uint8_t data[8])
{
	uint8_t *p = frame_start(dst, cap, type, 8);

	if (!p)
		return 0;
	memcpy(p, data, 8);
	return DERP_FRAME_HDR_LEN + 8;
}

size_t derp_build_pong(uint8_t *dst, size_t cap, const uint8_t data[8])
{
	return build_8_bytes(dst, cap, DERP_FRAME_PONG, data);
}

size_t derp_build_health(uint8_t *dst, size_t cap, const char *text)
{
	size_t plen = text ? strlen(text) : 0;
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_HEALTH, plen);

	if (!p)
		return 0;
	if (plen)
		memcpy(p, text, plen);
	return DERP_FRAME_HDR_LEN + plen;
}

size_t derp_build_restarting(uint8_t *dst, size_t cap, uint32_t reconnect_in_ms,
			     uint32_t try_for_ms)
{
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_RESTARTING, 8);

	if (!p)
		return 0;
	put_be32(p, reconnect_in_ms);
	put_be32(p + 4, try_for_ms);
	return DERP_FRAME_HDR_LEN + 8;
}

size_t derp_build_send_packet(uint8_t *dst, size_t cap, const uint8_t dst_key[KEY_LEN],
			      const uint8_t *pkt, size_t pkt_len)
{
	return build_key_packet(dst, cap, DERP_FRAME_SEND_PACKET, dst_key, pkt, pkt_len);
}

size_t derp_build_forward_packet(uint8_t *dst, size_t cap, const uint8_t src_key[KEY_LEN],
				 const uint8_t dst_key[KEY_LEN], const uint8_t *pkt, size_t pkt_len)
{
	if (pkt_len > UINT32_MAX - 2 * KEY_LEN)
		return 0;
	const size_t plen = 2 * KEY_LEN + pkt_len;
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_FORWARD_PACKET, plen);

	if (!p)
		return 0;
	memcpy(p, src_key, KEY_LEN);
	memcpy(p + KEY_LEN, dst_key, KEY_LEN);
	if (pkt_len)
		memcpy(p + 2 * KEY_LEN, pkt, pkt_len);
	return DERP_FRAME_HDR_LEN + plen;
}

size_t derp_build_note_preferred(uint8_t *dst, size_t cap, bool preferred)
{
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_NOTE_PREFERRED, 1);

	if (!p)
		return 0;
	p[0] = preferred ? 0x01 : 0x00;
	return DERP_FRAME_HDR_LEN + 1;
}

size_t derp_build_watch_conns(uint8_t *dst, size_t cap)
{
	return frame_start(dst, cap, DERP_FRAME_WATCH_CONNS, 0) ? DERP_FRAME_HDR_LEN : 0;
}

size_t derp_build_close_peer(uint8_t *dst, size_t cap, const uint8_t key[KEY_LEN])
{
	uint8_t *p = frame_start(dst, cap, DERP_FRAME_CLOSE_PEER, KEY_LEN);

	if (!p)
		return 0;
	memcpy(p, key, KEY_LEN);
	return DERP_FRAME_HDR_LEN + KEY_LEN;
}

size_t derp_build_ping(uint8_t *dst, size_t cap, const uint8_t data[8])
{
	return build_8_bytes(dst, cap, DERP_FRAME_PING, data);
}

void derp_frame_reader_init(struct derp_frame_reader *r, uint8_t *buf, size_t cap)
{
	r->buf = buf;
	r->cap = cap;
	r->len = 0;
	r->skip = 0;
	r->start = 0;
}

/* Moves the unread bytes to the front of buf, making room at the end. */
static void reader_compact(struct derp_frame_reader *r)
{
	if (r->start == 0)
		return;
	r->len -= r->start;
	if (r->len)
		memmove(r->buf, r->buf + r->start, r->len);
	r->start = 0;
}

size_t derp_frame_reader_append(struct derp_frame_reader *r, const uint8_t *src, size_t n)
{
	size_t taken = 0;

	/* Payload of a skipped frame: consumed without ever being stored. */
	if (r->skip) {
		size_t drop = n < r->skip ? n : r->skip;

		r->skip -= drop;
		src += drop;
		n -= drop;
		taken += drop;
	}
	if (n == 0)
		return taken;

	reader_compact(r);
	size_t room = r->cap - r->len;
	size_t copy = n < room ? n : room;

	if (copy) {
		memcpy(r->buf + r->len, src, copy);
		r->len += copy;
	}
	return taken + copy;
}

enum derp_read_status derp_frame_reader_next(struct derp_frame_reader *r, uint32_t max_payload,
					     uint8_t *type, const uint8_t **payload,
					     uint32_t *payload_len)
{
	size_t avail = r->len - r->start;
	const uint8_t *hdr = r->buf + r->start;
	size_t fits = r->cap > DERP_FRAME_HDR_LEN ? r->cap - DERP_FRAME_HDR_LEN : 0;
	uint32_t plen;

	*payload = NULL;
	if (avail < DERP_FRAME_HDR_LEN) {
		/*
		 * Every returned frame is now consumed: move the partial one
		 * to the front so the whole buffer is free for what follows.
		 */
		reader_compact(r);
		return DERP_READ_NEED_MORE;
	}
	derp_frame_header_get(hdr, type, &plen);
	*payload_len = plen;

	/*
	 * A frame that can never fit would wedge the stream (append could
	 * not make room), so it is "too large" whatever max_payload says.
	 */
	if (plen > max_payload || plen > fits)
		return DERP_READ_TOO_LARGE;
	if (avail - DERP_FRAME_HDR_LEN < plen) {
		reader_compact(r);
		return DERP_READ_NEED_MORE;
	}
	*payload = hdr + DERP_FRAME_HDR_LEN;
	r->start += DERP_FRAME_HDR_LEN + plen;
	return DERP_READ_FRAME;
}

bool derp_frame_reader_skip_frame(struct derp_frame_reader *r)
{
	size_t avail = r->len - r->start;
	uint8_t type;
	uint32_t plen;

	if (avail < DERP_FRAME_HDR_LEN)
		return false;
	derp_frame_header_get(r->buf + r->start, &type, &plen);
	avail -= DERP_FRAME_HDR_LEN;
	if (avail >= plen) {
		r->start += DERP_FRAME_HDR_LEN + plen;
	} else {
		/* plen - avail fits in size_t: plen is a uint32_t. */
		r->skip = plen - avail;
		r->start = r->len;
	}
	return true;
}
