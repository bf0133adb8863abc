// SPDX-License-Identifier: MIT
/*
 * WebSocket framing codec (see ws_frame.h). Every check that can be made on
 * the first two bytes of a header is made there, so a bad frame closes the
 * connection before any of its length or payload is waited for.
 */
#include <string.h>

#include "ws_frame.h"

void ws_decoder_init(struct ws_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void ws_decoder_init_client(struct ws_decoder *d)
{
	ws_decoder_init(d);
	d->from_server = true;
}

static enum ws_event fail(struct ws_decoder *d, const char *why, uint16_t code)
{
	d->failed = true;
	d->error = why;
	d->close_code = code;
	return WS_EV_ERROR;
}

static bool is_control(uint8_t op)
{
	return op & 0x8;
}

/* Header bytes needed in all, once the first two are known. */
static size_t header_need(const struct ws_decoder *d)
{
	uint8_t len7 = d->hdr[1] & 0x7f;
	size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	/* Whether a mask is there is checked first: a client's always has one, a server's none. */
	return 2 + ext + (d->from_server ? 0 : 4);
}

/* The checks the first two header bytes allow. */
static enum ws_event check_start(struct ws_decoder *d)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	uint8_t op = b0 & 0x0f;
	bool fin = b0 & 0x80;
	uint8_t len7 = b1 & 0x7f;

	if (b0 & 0x70)
		return fail(d, "RSV bits set (no extension was negotiated)",
			    WS_CLOSE_PROTOCOL_ERROR);
	if (d->from_server && (b1 & 0x80))
		return fail(d, "server frame masked", WS_CLOSE_PROTOCOL_ERROR);
	if (!d->from_server && !(b1 & 0x80))
		return fail(d, "client frame not masked", WS_CLOSE_PROTOCOL_ERROR);
	switch (op) {
	case WS_OP_CONTINUATION:
		if (!d->in_message)
			return fail(d, "continuation frame without a message",
				    WS_CLOSE_PROTOCOL_ERROR);
		break;
	case WS_OP_BINARY:
		if (d->in_message)
			return fail(d, "new message inside a fragmented one",
				    WS_CLOSE_PROTOCOL_ERROR);
		break;
	case WS_OP_TEXT:
		/* derper's stream adapter takes binary messages only, and closes on text. */
		return fail(d, "text message (DERP is carried in binary messages)",
			    WS_CLOSE_UNSUPPORTED);
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		break;
	default:
		return fail(d, "reserved opcode", WS_CLOSE_PROTOCOL_ERROR);
	}
	if (is_control(op)) {
		if (!fin)
			return fail(d, "fragmented control frame", WS_CLOSE_PROTOCOL_ERROR);
		if (len7 > WS_CONTROL_MAX)
			return fail(d, "control frame over 125 bytes", WS_CLOSE_PROTOCOL_ERROR);
		if (op == WS_OP_CLOSE && len7 == 1)
			return fail(d, "close frame with a 1-byte payload",
				    WS_CLOSE_PROTOCOL_ERROR);
	}
	return WS_EV_MORE;
}

/* The whole header is in: take length and mask, start the payload. */
static enum ws_event start_payload(struct ws_decoder *d)
{
	uint8_t len7 = d->hdr[1] & 0x7f;
	size_t at = 2;
	uint64_t len = len7;

	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		at = 4;
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		at = 10;
		if (len >> 63)
			return fail(d, "64-bit payload length with its top bit set",
				    WS_CLOSE_PROTOCOL_ERROR);
	}
	if (d->from_server)
		memset(d->mask, 0, 4);
	else
		memcpy(d->mask, d->hdr + at, 4);
	d->mask_pos = 0;
	d->opcode = d->hdr[0] & 0x0f;
	d->left = len;
	d->in_payload = true;
	d->control_len = 0;
	return WS_EV_MORE;
}

/* The current frame's payload is all in. Returns the event it makes, if any. */
static enum ws_event end_frame(struct ws_decoder *d)
{
	uint8_t op = d->opcode;
	bool fin = d->hdr[0] & 0x80;

	d->in_payload = false;
	d->hdr_len = 0;
	switch (op) {
	case WS_OP_PING:
		return WS_EV_PING;
	case WS_OP_PONG:
		return WS_EV_PONG;
	case WS_OP_CLOSE:
		return WS_EV_CLOSE;
	default:
		/* Control frames may come between fragments: only data frames end a message. */
		d->in_message = !fin;
		return WS_EV_MORE;
	}
}

void ws_mask(uint8_t *out, const uint8_t *in, size_t n, const uint8_t mask[4], size_t phase)
{
	size_t i = 0;

	if (n >= 16) {
		/* Eight bytes at a time: the mask repeats every four, so its phase is kept. */
		uint8_t m8[8];
		uint64_t m, v;
		for (int k = 0; k < 8; k++)
			m8[k] = mask[(phase + (size_t)k) & 3];
		memcpy(&m, m8, 8);
		for (; i + 8 <= n; i += 8) {
			memcpy(&v, in + i, 8);
			v ^= m;
			memcpy(out + i, &v, 8);
		}
	}
	for (; i < n; i++)
		out[i] = in[i] ^ mask[(phase + i) & 3];
}

/* Unmasks payload, the mask's phase carried across calls. */
static void unmask(struct ws_decoder *d, uint8_t *out, const uint8_t *in, size_t n)
{
	ws_mask(out, in, n, d->mask, d->mask_pos);
	d->mask_pos = (uint8_t)((d->mask_pos + n) & 3);
}

enum ws_event ws_decode(struct ws_decoder *d, const uint8_t *in, size_t n, size_t *used,
			uint8_t *out, size_t out_cap, size_t *out_len)
{
	size_t pos = 0;

	*out_len = 0;
	*used = 0;
	if (d->failed)
		return WS_EV_ERROR;
	while (pos < n) {
		if (!d->in_payload) {
			size_t need = d->hdr_len < 2 ? 2 : header_need(d);
			size_t k = need - d->hdr_len;
			if (k > n - pos)
				k = n - pos;
			memcpy(d->hdr + d->hdr_len, in + pos, k);
			d->hdr_len += (uint8_t)k;
			pos += k;
			if (d->hdr_len == 2 && check_start(d) == WS_EV_ERROR)
				break;
			if (d->hdr_len < 2 || d->hdr_len < header_need(d))
				continue;
			if (start_payload(d) == WS_EV_ERROR)
				break;
			if (d->left == 0) {
				enum ws_event ev = end_frame(d);
				if (ev != WS_EV_MORE) {
					*used = pos;
					return ev;
				}
			}
			continue;
		}
		size_t k = n - pos;
		if (k > d->left)
			k = (size_t)d->left;
		if (is_control(d->opcode)) {
			unmask(d, d->control + d->control_len, in + pos, k);
			d->control_len += (uint8_t)k;
		} else {
			if (k > out_cap)
				k = out_cap;
			unmask(d, out, in + pos, k);
			*out_len = k;
		}
		pos += k;
		d->left -= k;
		enum ws_event ev = d->left == 0 ? end_frame(d) : WS_EV_MORE;
		if (*out_len) {
			/* A data frame's end is never an event itself: nothing is lost here. */
			*used = pos;
			return WS_EV_DATA;
		}
		if (ev != WS_EV_MORE) {
			*used = pos;
			return ev;
		}
	}
	*used = pos;
	return d->failed ? WS_EV_ERROR : WS_EV_MORE;
}

size_t ws_server_header(uint8_t out[WS_SERVER_HDR_MAX], enum ws_opcode op, uint64_t len)
{
	out[0] = (uint8_t)(0x80 | op);
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

size_t ws_client_header(uint8_t out[WS_HDR_MAX], enum ws_opcode op, uint64_t len,
			const uint8_t mask[4])
{
	size_t n = ws_server_header(out, op, len);
	out[1] |= 0x80;
	memcpy(out + n, mask, 4);
	return n + 4;
}

size_t ws_server_control(uint8_t *out, size_t out_cap, enum ws_opcode op, const uint8_t *p,
			 size_t len)
{
	if (len > WS_CONTROL_MAX || out_cap < 2 + len)
		return 0;
	out[0] = (uint8_t)(0x80 | op);
	out[1] = (uint8_t)len;
	if (len)
		memcpy(out + 2, p, len);
	return 2 + len;
}

uint16_t ws_close_code(const uint8_t *payload, size_t len)
{
	if (len < 2)
		return 1005;
	return (uint16_t)(payload[0] << 8 | payload[1]);
}
