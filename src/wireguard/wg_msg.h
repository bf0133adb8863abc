/* SPDX-License-Identifier: MIT */
/*
 * Classifies a UDP payload as a WireGuard message and reads the indices a
 * relay routes by; checks MAC1 against a responder's public key. Pure
 * functions over bytes: no I/O, no state.
 */
#ifndef HD_WG_MSG_H
#define HD_WG_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_proto.h"

struct wg_msg {
	uint8_t type;	   /* WG_MSG_*; 0 when the payload is not a WireGuard message */
	uint32_t sender;   /* initiation and response: the sender's index, as on the wire */
	uint32_t receiver; /* response, cookie reply, transport: the index it is sent to */
};

/*
 * Returns the message type (WG_MSG_*) and fills msg, or 0 when the payload
 * has an unknown type, non-zero reserved bytes or a length its type does not
 * allow (handshakes have one exact length, transport at least 32 bytes).
 */
int wg_msg_classify(const uint8_t *payload, size_t len, struct wg_msg *msg);

/* The MAC1 key of a responder: BLAKE2s-256("mac1----" || its public key). */
void wg_mac1_key(uint8_t key[WG_KEY_LEN], const uint8_t pubkey[WG_KEY_LEN]);

/*
 * Whether an initiation or response (already classified) carries a MAC1
 * made for the responder whose MAC1 key is given: keyed BLAKE2s-128 over the
 * message up to the MAC1 field.
 */
bool wg_mac1_matches(const uint8_t mac1_key[WG_KEY_LEN], const uint8_t *msg, size_t len);

#endif
