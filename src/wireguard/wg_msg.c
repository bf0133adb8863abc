// SPDX-License-Identifier: MIT
/*
 * The WireGuard message classifier and MAC1 check. Everything a relay
 * forwards passes through wg_msg_classify first, so what it rejects is never
 * sent on: a malformed datagram is dropped and counted by the caller.
 */
#include "wg_msg.h"

#include <string.h>

#include "blake2s.h"

static uint32_t read_index(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v)); /* kept in wire order: an index is only compared */
	return v;
}

int wg_msg_classify(const uint8_t *payload, size_t len, struct wg_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	if (len < 4 || payload[1] || payload[2] || payload[3])
		return 0;
	switch (payload[0]) {
	case WG_MSG_INITIATION:
		if (len != WG_INITIATION_LEN)
			return 0;
		msg->sender = read_index(payload + WG_INITIATION_SENDER);
		break;
	case WG_MSG_RESPONSE:
		if (len != WG_RESPONSE_LEN)
			return 0;
		msg->sender = read_index(payload + WG_RESPONSE_SENDER);
		msg->receiver = read_index(payload + WG_RESPONSE_RECEIVER);
		break;
	case WG_MSG_COOKIE_REPLY:
		if (len != WG_COOKIE_REPLY_LEN)
			return 0;
		msg->receiver = read_index(payload + WG_COOKIE_RECEIVER);
		break;
	case WG_MSG_TRANSPORT:
		if (len < WG_TRANSPORT_MIN_LEN)
			return 0;
		msg->receiver = read_index(payload + WG_TRANSPORT_RECEIVER);
		break;
	default:
		return 0;
	}
	msg->type = payload[0];
	return msg->type;
}

void wg_mac1_key(uint8_t key[WG_KEY_LEN], const uint8_t pubkey[WG_KEY_LEN])
{
	uint8_t in[8 + WG_KEY_LEN] = { 'm', 'a', 'c', '1', '-', '-', '-', '-' };

	memcpy(in + 8, pubkey, WG_KEY_LEN);
	blake2s(key, WG_KEY_LEN, NULL, 0, in, sizeof(in));
}

bool wg_mac1_matches(const uint8_t mac1_key[WG_KEY_LEN], const uint8_t *msg, size_t len)
{
	uint8_t mac[WG_MAC_LEN];
	size_t off;

	if (len == WG_INITIATION_LEN && msg[0] == WG_MSG_INITIATION)
		off = WG_INITIATION_MAC1;
	else if (len == WG_RESPONSE_LEN && msg[0] == WG_MSG_RESPONSE)
		off = WG_RESPONSE_MAC1;
	else
		return false;
	if (blake2s(mac, sizeof(mac), mac1_key, WG_KEY_LEN, msg, off) < 0)
		return false;
	return memcmp(mac, msg + off, WG_MAC_LEN) == 0;
}
