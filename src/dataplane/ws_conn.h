/* SPDX-License-Identifier: MIT */
/*
 * DERP over WebSocket on a dataplane connection: a layer between the bytes
 * of the socket (or of TLS) and the DERP stream, in both directions.
 *
 * Receiving, conn_recv_ws unmasks the client's binary messages in place (in
 * the receive buffer, or TLS's plaintext) and passes the DERP bytes on to
 * conn_recv_bytes, which sees them as one run, so frames in a ring buffer
 * can still be relayed in place;
 * sending, send_queue.c wraps each batch of frames in one binary message.
 * A connection without WebSocket has c->ws NULL and never comes here.
 *
 * Control frames: a ping is answered with a pong carrying its payload (only
 * the latest ping's, as RFC 6455 5.5.3 allows, so a ping flood holds one
 * pong); a close is answered with a close and the connection ends once that
 * is written; a frame the protocol forbids closes the connection at once
 * (close reason websocket_bad_frame).
 */
#ifndef HD_WS_CONN_H
#define HD_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws_frame.h"

struct worker;
struct conn;

/*
 * The largest message the relay sends. Go's websocket library (Tailscale's
 * clients, coder/websocket) closes a connection on a message over its read
 * limit, 32 KiB by default, which the DERP clients do not raise.
 */
#define WS_MESSAGE_MAX 16384

struct ws_conn {
	struct ws_decoder dec;
	bool pong_due; /* answer the latest ping: its payload is pong[] */
	uint8_t pong_len;
	uint8_t pong[WS_CONTROL_MAX];
	bool close_due;	 /* the client sent a close: answer it, then end */
	bool close_sent; /* the answer is on its way: end once it is written */
	uint16_t close_code;
};

/* A connection's WebSocket layer, taking over the slow path's decoder; NULL without memory. */
struct ws_conn *ws_conn_new(const struct ws_decoder *dec);
void ws_conn_free(struct conn *c);

/*
 * Received bytes of a WebSocket connection (after TLS, if any), decoded in
 * place: p[0..n) is overwritten. Returns -1 if c closed.
 */
int conn_recv_ws(struct worker *w, struct conn *c, uint8_t *p, size_t n);

/* Whether control frames wait to be sent. */
bool ws_conn_control_due(const struct ws_conn *ws);
/*
 * Writes the control frames due (pong, then close) into out and marks them
 * sent. out_cap must be at least WS_CONTROL_OUT_MAX. Returns the bytes written.
 */
#define WS_CONTROL_OUT_MAX (2 + WS_CONTROL_MAX + 4)
size_t ws_conn_take_control(struct ws_conn *ws, uint8_t *out, size_t out_cap);

#endif
