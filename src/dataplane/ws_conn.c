// SPDX-License-Identifier: MIT
/*
 * The WebSocket layer of a dataplane connection (see ws_conn.h).
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"
#include "ws_conn.h"

struct ws_conn *ws_conn_new(const struct ws_decoder *dec)
{
	struct ws_conn *ws = calloc(1, sizeof(*ws));
	if (ws)
		ws->dec = *dec;
	return ws;
}

void ws_conn_free(struct conn *c)
{
	free(c->ws);
	c->ws = NULL;
}

static void bad_frame(struct worker *w, struct conn *c)
{
	char short_key[8];
	key_to_short(c->key, short_key);
	log_debug("conn %s: closing: WebSocket: %s", short_key, c->ws->dec.error);
	worker_conn_close(w, c, CLOSE_WS_BAD_FRAME);
}

int conn_recv_ws(struct worker *w, struct conn *c, uint8_t *p, size_t n)
{
	struct ws_conn *ws = c->ws;
	size_t in = 0, out = 0;
	enum ws_event stop = WS_EV_MORE;

	/* After the client's close, nothing it sends counts (RFC 6455 5.5.1). */
	if (ws->close_due || ws->close_sent)
		return 0;
	/*
	 * The payload is unmasked towards the start of the buffer: p[0..out)
	 * is the DERP stream of everything decoded so far, in one run even
	 * when it came in several frames.
	 */
	while (in < n && stop == WS_EV_MORE) {
		size_t used, got;
		enum ws_event ev =
		    ws_decode(&ws->dec, p + in, n - in, &used, p + out, n - out, &got);
		in += used;
		out += got;
		if (ev == WS_EV_PING) {
			ws->pong_due = true;
			ws->pong_len = ws->dec.control_len;
			memcpy(ws->pong, ws->dec.control, ws->dec.control_len);
			sendq_kick(w, c);
		} else if (ev == WS_EV_CLOSE || ev == WS_EV_ERROR) {
			stop = ev;
		}
	}
	if (out && conn_recv_bytes(w, c, p, out) < 0)
		return -1;
	if (stop == WS_EV_ERROR) {
		bad_frame(w, c);
		return -1;
	}
	if (stop == WS_EV_CLOSE) {
		/*
		 * Echo the client's code, as a close handshake does (RFC 6455
		 * 5.5.1); none, or one that may not be sent (7.4.1: 1005, 1006,
		 * 1015, unassigned), is answered 1000.
		 */
		uint16_t code = ws_close_code(ws->dec.control, ws->dec.control_len);
		bool sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
				(code >= 3000 && code <= 4999);
		ws->close_due = true;
		ws->close_code = sendable ? code : WS_CLOSE_NORMAL;
		sendq_kick(w, c);
	}
	return c->closing ? -1 : 0;
}

bool ws_conn_control_due(const struct ws_conn *ws)
{
	return ws->pong_due || ws->close_due;
}

size_t ws_conn_take_control(struct ws_conn *ws, uint8_t *out, size_t out_cap)
{
	size_t n = 0;
	if (ws->pong_due && !ws->close_sent) {
		n += ws_server_control(out, out_cap, WS_OP_PONG, ws->pong, ws->pong_len);
		ws->pong_due = false;
	}
	if (ws->close_due) {
		uint8_t code[2] = { (uint8_t)(ws->close_code >> 8), (uint8_t)ws->close_code };
		n += ws_server_control(out + n, out_cap - n, WS_OP_CLOSE, code, sizeof(code));
		ws->close_due = false;
		ws->close_sent = true;
	}
	return n;
}
