/* SPDX-License-Identifier: MIT */
/*
 * What the slow path hands a dataplane worker once a connection has finished
 * its HTTP upgrade and DERP handshake. Allocated by the slow path, owned and
 * freed by the worker after it is received from the handoff ring.
 */
#ifndef HD_HANDOFF_H
#define HD_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "key.h"
#include "ws_frame.h"

struct handoff {
	int fd;
	uint64_t seq; /* connection sequence: unique, increasing; newest wins for a key */
	uint8_t client_key[KEY_LEN];
	bool can_mesh;
	bool is_prober;
	bool not_ideal;
	uint8_t remote_ip[16]; /* IPv6 or IPv4-mapped */
	uint16_t remote_port;
	SSL *ssl; /* the TLS session, or NULL for plain HTTP and kTLS */
	/*
	 * TLS carried by the kernel (kTLS): reads and writes are plaintext, and a
	 * record other than application data (close_notify, KeyUpdate) fails the
	 * recv with EIO, which the worker takes as the client's end (recv_mode.c).
	 */
	bool kernel_tls;
	/*
	 * HD (docs/hd-protocol.md) instead of DERP: the connection speaks HD
	 * frames, server_info holds its Welcome frame, hd_peer_id its id.
	 */
	bool is_hd;
	uint16_t hd_peer_id;
	uint32_t server_info_len; /* the sealed ServerInfo frame (HD: Welcome), sent first */
	uint8_t server_info[128];
	/*
	 * DERP over WebSocket: the decoder's state goes with the connection
	 * (leftover is already decoded).
	 */
	bool websocket;
	struct ws_decoder ws;
	uint32_t leftover_len; /* client bytes read past ClientInfo: already DERP frames */
	uint8_t leftover[];
};

#endif
