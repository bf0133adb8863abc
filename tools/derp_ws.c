// SPDX-License-Identifier: MIT
/*
 * DERP over WebSocket, client side (see derp_ws.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "derp_ws.h"

size_t derp_ws_upgrade_request(char *out, size_t cap, const char *host_header)
{
	uint8_t nonce[16];
	char key[25];
	randombytes_buf(nonce, sizeof(nonce));
	EVP_EncodeBlock((unsigned char *)key, nonce, sizeof(nonce));
	int n = snprintf(out, cap,
			 "GET /derp HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "User-Agent: hd-derp-client\r\n"
			 "Connection: Upgrade\r\n"
			 "Upgrade: websocket\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Protocol: derp\r\n"
			 "\r\n",
			 host_header, key);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

bool derp_ws_response_ok(const char *head, size_t len)
{
	static const char want[] = "\r\nSec-WebSocket-Protocol: derp\r\n";
	/* Header names are case-insensitive; the relay and derper send this spelling. */
	for (size_t i = 0; i + sizeof(want) - 1 <= len; i++)
		if (strncasecmp(head + i, want, sizeof(want) - 1) == 0)
			return true;
	return false;
}

struct derp_ws *derp_ws_new(void)
{
	struct derp_ws *ws = calloc(1, sizeof(*ws));
	if (ws)
		ws_decoder_init_client(&ws->dec);
	return ws;
}

ssize_t derp_ws_decode(struct derp_ws *ws, uint8_t *buf, size_t n)
{
	size_t in = 0, out = 0;
	while (in < n && !ws->closed) {
		size_t used, got;
		enum ws_event ev =
		    ws_decode(&ws->dec, buf + in, n - in, &used, buf + out, n - out, &got);
		in += used;
		out += got;
		if (ev == WS_EV_CLOSE)
			ws->closed = true;
		if (ev == WS_EV_ERROR) {
			errno = EPROTO;
			return -1;
		}
		/* Pings: the relay sends none; pongs answer nothing we sent. */
	}
	return (ssize_t)out;
}

ssize_t derp_ws_send(struct derp_ws *ws, const void *buf, size_t len,
		     ssize_t (*raw)(void *ctx, const void *buf, size_t len), void *ctx)
{
	if (ws->msg_left == 0 && ws->hdr_sent == ws->hdr_len) {
		if (len == 0)
			return 0;
		randombytes_buf(ws->mask, sizeof(ws->mask));
		ws->msg_left = len;
		ws->phase = 0;
		ws->hdr_len = (uint8_t)ws_client_header(ws->hdr, WS_OP_BINARY, len, ws->mask);
		ws->hdr_sent = 0;
	}
	/*
	 * What is left of the header and the masked payload go in one send, so
	 * that a message is one segment, as a client's single write makes it.
	 */
	for (;;) {
		size_t h = (size_t)(ws->hdr_len - ws->hdr_sent);
		size_t k = len;
		if (k > ws->msg_left)
			k = (size_t)ws->msg_left;
		if (k > sizeof(ws->scratch) - h)
			k = sizeof(ws->scratch) - h;
		memcpy(ws->scratch, ws->hdr + ws->hdr_sent, h);
		ws_mask(ws->scratch + h, buf, k, ws->mask, (size_t)ws->phase);
		ssize_t n = raw(ctx, ws->scratch, h + k);
		if (n < 0)
			return -1;
		size_t took_hdr = (size_t)n < h ? (size_t)n : h;
		size_t took = (size_t)n - took_hdr;
		ws->hdr_sent += (uint8_t)took_hdr;
		ws->phase += took;
		ws->msg_left -= took;
		/* Only header bytes went: go on, or report EAGAIN, never "0 taken". */
		if (took)
			return (ssize_t)took;
	}
}
