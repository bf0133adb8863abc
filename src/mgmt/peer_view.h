/* SPDX-License-Identifier: MIT */
/* Peers as the management plane shows them: keys, addresses, JSON. */
#ifndef HD_PEER_VIEW_H
#define HD_PEER_VIEW_H

#include <stdint.h>

#include "json_writer.h"
#include "key.h"
#include "relay.h"

/* How long a command waits for the workers to list their peers. */
#define PEER_LIST_TIMEOUT_MS 2000

/*
 * "nodekey:<64 hex>" or bare 64 hex digits, either case. Returns 0, or -1
 * with the reason in err.
 */
int peer_key_parse(const char *text, uint8_t key[KEY_LEN], char *err, size_t errlen);

/* "192.0.2.1:41641" or "[2001:db8::1]:41641" (IPv4-mapped shown as IPv4). */
void peer_addr_format(const uint8_t ip[16], uint16_t port, char out[64]);

/* Lists the relay's connections sorted by key, then connection age. -1: timeout. */
int peer_list_sorted(struct relay *r, struct peer_info **out);

/* One peer as a JSON object (name: NULL inside an array). */
void peer_write_json(struct json_writer *w, const char *name, const struct peer_info *p);

#endif
