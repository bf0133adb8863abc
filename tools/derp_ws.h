/* SPDX-License-Identifier: MIT */
/*
 * The client side of DERP over WebSocket for derp_client.c: the upgrade
 * request, and the framing of the byte stream once upgraded (each write goes
 * as one masked binary message, server messages are read as one stream),
 * as Tailscale's Go client does through net/wsconn. For hdbench and tests.
 */
#ifndef HD_DERP_WS_H
#define HD_DERP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ws_frame.h"

#define DERP_WS_SCRATCH (16384 + WS_HDR_MAX) /* header and payload sent at a time */

struct derp_ws {
	struct ws_decoder dec;
	bool closed; /* the server sent a close: end of stream */
	/* The message being written: header, then payload masked as it goes. */
	uint8_t hdr[WS_HDR_MAX];
	uint8_t hdr_len, hdr_sent;
	uint8_t mask[4];
	uint64_t msg_left;
	uint64_t phase;
	uint8_t scratch[DERP_WS_SCRATCH];
};

/* Writes the upgrade request for host_header into out. Returns its length, or 0 if too small. */
size_t derp_ws_upgrade_request(char *out, size_t cap, const char *host_header);

/* Whether a 101 response head agrees to the derp subprotocol. */
bool derp_ws_response_ok(const char *head, size_t len);

struct derp_ws *derp_ws_new(void);

/*
 * Received bytes buf[0..n): decodes them in place. Returns the DERP bytes
 * now at buf[0..ret); -1 with errno EPROTO on a frame the protocol forbids.
 * A close from the server sets ws->closed.
 */
ssize_t derp_ws_decode(struct derp_ws *ws, uint8_t *buf, size_t n);

/*
 * Sends buf[0..len) through raw (a send that may take part and fail with
 * EAGAIN), framing it: returns the payload bytes taken, or -1 with raw's
 * errno. A message started is finished first, so a retry after a partial
 * send or EAGAIN must pass the rest of the same bytes.
 */
ssize_t derp_ws_send(struct derp_ws *ws, const void *buf, size_t len,
		     ssize_t (*raw)(void *ctx, const void *buf, size_t len), void *ctx);

#endif
