/* SPDX-License-Identifier: MIT */
/*
 * The DERP handshake messages: ClientInfo (client to server) and ServerInfo
 * (server to client), NaCl boxes (libsodium crypto_box_easy) around JSON.
 * Pure functions, shared by the relay's slow path and by the test client.
 */
#ifndef HD_DERP_HANDSHAKE_H
#define HD_DERP_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"

/* What a ClientInfo JSON carries that the server uses. */
struct derp_client_info {
	int version;
	bool has_mesh_key;
	uint8_t mesh_key[KEY_LEN];
	bool can_ack_pings;
	bool is_prober;
};

/*
 * Parses ClientInfo JSON the way Go's encoding/json does for derp.ClientInfo:
 * keys matched case-insensitively, unknown keys (of any JSON type) skipped,
 * last duplicate wins; wrong value types, invalid JSON or trailing garbage are
 * errors; "meshKey", when present, must be a string of exactly 64 hex digits.
 * Returns 0, or -1 with a short reason in err.
 */
int derp_client_info_parse_json(const char *json, size_t len, struct derp_client_info *out,
				char *err, size_t errlen);

/*
 * Server side: opens a ClientInfo frame payload (client key, nonce, box) with
 * the server private key, then parses the JSON. Writes the client's public key
 * into client_pub. Returns 0, or -1 with a reason in err ("bad length",
 * "box open failed", or the JSON error).
 * (client_pub is written as soon as the length is valid, before the box is
 * opened, so that a rejection can be logged with the claimed key.)
 */
int derp_client_info_open(const uint8_t *payload, size_t len, const uint8_t server_priv[KEY_LEN],
			  uint8_t client_pub[KEY_LEN], struct derp_client_info *out, char *err,
			  size_t errlen);

/*
 * Server side: builds a whole ServerInfo frame (header, fresh random nonce,
 * box of {"version":2}) for the client. Returns frame length or 0 if cap is too small.
 */
size_t derp_build_server_info(uint8_t *dst, size_t cap, const uint8_t server_priv[KEY_LEN],
			      const uint8_t client_pub[KEY_LEN]);

/*
 * Client side: builds a whole ClientInfo frame sealing json (for example
 * {"version":2,"CanAckPings":true} plus "meshKey" when meshing). nonce may be
 * NULL for a random one. Returns frame length or 0 if cap is too small.
 */
size_t derp_build_client_info(uint8_t *dst, size_t cap, const uint8_t client_priv[KEY_LEN],
			      const uint8_t client_pub[KEY_LEN], const uint8_t server_pub[KEY_LEN],
			      const char *json, const uint8_t *nonce);

/*
 * Client side: opens a ServerInfo payload (nonce, box) and copies the JSON
 * (NUL-terminated) into json. Returns 0 or -1.
 */
int derp_server_info_open(const uint8_t *payload, size_t len, const uint8_t client_priv[KEY_LEN],
			  const uint8_t server_pub[KEY_LEN], char *json, size_t json_cap);

#endif
