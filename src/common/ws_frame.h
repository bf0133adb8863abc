/* SPDX-License-Identifier: MIT */
/*
 * WebSocket framing (RFC 6455 section 5) for DERP over WebSocket: a pure
 * codec, no I/O and no allocation.
 *
 * derper carries the DERP byte stream in binary messages and reads them as
 * one stream (its net.Conn adapter): a DERP frame may span messages and a
 * message may hold several frames, so the decoder hands out payload bytes
 * as they arrive and never buffers a message. What it holds per connection
 * is bounded by the struct below: a frame header being collected, and a
 * control frame's payload (at most 125 bytes).
 *
 * The relay is the server: client frames must be masked; server frames are
 * not (section 5.1). No extension is negotiated, so RSV bits are errors.
 * The client side (tools/derp_client.c, for tests and hdbench) decodes the
 * server's unmasked frames with a decoder made by ws_decoder_init_client
 * and masks its own with ws_client_header and ws_mask.
 */
#ifndef HD_WS_FRAME_H
#define HD_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HDR_MAX	   14 /* 2 + 8 extended length + 4 mask */
#define WS_SERVER_HDR_MAX  10 /* unmasked */
#define WS_CONTROL_MAX	   125
#define WS_CLOSE_FRAME_MAX (2 + 2 + WS_CONTROL_MAX)

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close status codes the relay sends (section 7.4.1). */
#define WS_CLOSE_NORMAL		1000
#define WS_CLOSE_PROTOCOL_ERROR 1002
#define WS_CLOSE_UNSUPPORTED	1003

/* What ws_decode stopped for. */
enum ws_event {
	WS_EV_MORE = 0, /* all input consumed, nothing else to report */
	WS_EV_DATA,	/* *out_len > 0 payload bytes of a binary message in out */
	WS_EV_PING,	/* a whole ping: payload in d->control[0..control_len) */
	WS_EV_PONG,	/* a whole pong (ignored by the relay) */
	WS_EV_CLOSE,	/* a whole close frame: payload in d->control */
	WS_EV_ERROR,	/* a protocol error (d->error says which); the stream is dead */
};

struct ws_decoder {
	uint8_t hdr[WS_HDR_MAX]; /* the header being collected */
	uint8_t hdr_len;
	uint8_t opcode; /* of the frame whose payload is being read */
	bool in_payload;
	bool in_message; /* a fragmented binary message is open (continuations allowed) */
	bool failed;
	bool from_server; /* decoding a server's frames: they must not be masked */
	uint8_t mask[4];
	uint8_t mask_pos;
	uint64_t left; /* payload bytes of the current frame still to come */
	uint8_t control[WS_CONTROL_MAX];
	uint8_t control_len;
	uint16_t close_code; /* the code to answer a protocol error with */
	const char *error;   /* static text, set with WS_EV_ERROR */
};

void ws_decoder_init(struct ws_decoder *d);
/* A decoder for the client side: frames from the server, unmasked. */
void ws_decoder_init_client(struct ws_decoder *d);

/*
 * Consumes input at in[0..n) and reports the first event. *used is the
 * input consumed (all of it with WS_EV_MORE). With WS_EV_DATA, *out_len
 * bytes (1..out_cap) of unmasked binary payload are in out; call again with
 * the rest of the input. out may overlap in only when out <= in (the
 * unmasking runs forwards), so a buffer can be decoded in place. After
 * WS_EV_ERROR every call reports WS_EV_ERROR again.
 *
 * Errors: an unmasked frame, RSV bits, an unknown opcode, a text message
 * (derper's adapter closes with 1003 on one), a continuation without a
 * message, a new message inside a fragmented one, a control frame that is
 * fragmented or longer than 125 bytes, a 64-bit length with its top bit set,
 * a close frame with a 1-byte payload.
 */
enum ws_event ws_decode(struct ws_decoder *d, const uint8_t *in, size_t n, size_t *used,
			uint8_t *out, size_t out_cap, size_t *out_len);

/* A server frame header (FIN set, unmasked) for len payload bytes; returns its length. */
size_t ws_server_header(uint8_t out[WS_SERVER_HDR_MAX], enum ws_opcode op, uint64_t len);

/*
 * A whole unmasked control frame (ping, pong or close) with payload
 * p[0..len), len <= 125. Returns its length, or 0 if out_cap is too small.
 */
size_t ws_server_control(uint8_t *out, size_t out_cap, enum ws_opcode op, const uint8_t *p,
			 size_t len);

/*
 * A client frame header (FIN set, masked with mask) for len payload bytes;
 * returns its length. The payload goes through ws_mask with phase 0.
 */
size_t ws_client_header(uint8_t out[WS_HDR_MAX], enum ws_opcode op, uint64_t len,
			const uint8_t mask[4]);
/*
 * out[i] = in[i] ^ mask[(phase + i) % 4]: masking and unmasking are the
 * same. out may be in, or before it.
 */
void ws_mask(uint8_t *out, const uint8_t *in, size_t n, const uint8_t mask[4], size_t phase);

/* The close code carried by a close payload (1005, "no status", when it carries none). */
uint16_t ws_close_code(const uint8_t *payload, size_t len);

#endif
