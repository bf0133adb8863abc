/* SPDX-License-Identifier: MIT */
/*
 * The parts of the WebSocket opening handshake (RFC 6455 section 4.2) that
 * the HTTP router needs for DERP over WebSocket: the accept key and the
 * header token checks. Pure functions, no I/O.
 */
#ifndef HD_WS_UPGRADE_H
#define HD_WS_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#define WS_ACCEPT_LEN 28 /* base64 of a SHA-1 digest */

/*
 * Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key +
 * the RFC's GUID)), NUL-terminated in out. Returns 0, or -1 if hashing failed.
 */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/*
 * Whether a comma-separated header value holds token (case-insensitive,
 * whitespace around each element ignored), as Go's websocket library
 * reads Connection, Upgrade and Sec-WebSocket-Protocol.
 */
bool ws_header_has_token(const char *value, const char *token);

#endif
