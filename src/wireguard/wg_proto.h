/* SPDX-License-Identifier: MIT */
/*
 * WireGuard's wire format, as much of it as a relay that never decrypts
 * needs: message types, their exact lengths and where the indices and MAC1
 * sit (WireGuard paper, section 5.4). Plain constants, so the XDP program
 * includes this file as well as userspace.
 */
#ifndef HD_WG_PROTO_H
#define HD_WG_PROTO_H

/* The first byte; the three after it are reserved and must be zero. */
#define WG_MSG_INITIATION   1
#define WG_MSG_RESPONSE	    2
#define WG_MSG_COOKIE_REPLY 3
#define WG_MSG_TRANSPORT    4

/* Handshake messages have one exact length; transport is a header plus at least a tag. */
#define WG_INITIATION_LEN    148
#define WG_RESPONSE_LEN	     92
#define WG_COOKIE_REPLY_LEN  64
#define WG_TRANSPORT_MIN_LEN 32

/* Byte offsets of the 32-bit indices (little-endian, opaque to us). */
#define WG_INITIATION_SENDER  4
#define WG_RESPONSE_SENDER    4
#define WG_RESPONSE_RECEIVER  8
#define WG_COOKIE_RECEIVER    4
#define WG_TRANSPORT_RECEIVER 4

/* MAC1 covers the message up to itself; MAC2 (the cookie MAC) follows it. */
#define WG_INITIATION_MAC1 116
#define WG_RESPONSE_MAC1   60
#define WG_MAC_LEN	   16

#define WG_KEY_LEN 32

#endif
