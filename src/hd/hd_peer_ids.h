/* SPDX-License-Identifier: MIT */
/*
 * HD peer ids (docs/hd-protocol.md, section 4): the relay gives each key a
 * 16-bit id at its first Welcome and keeps it for that key while the relay
 * runs, so data frames carry 2 bytes instead of 32 and a reconnecting peer
 * keeps its id. Ids are never reused: a sender holding an old id cannot
 * reach a different peer through it. When all ids are given out, new keys
 * are refused (Denied "full") and counted.
 *
 * One writer (hd_peer_id_of with assign, and any lookup by key, belong to
 * one thread or one lock); hd_peer_id_key may be called from any thread at
 * any time: a key is written before its id is published and never changes.
 * Sized at init; no allocation after.
 */
#ifndef HD_HD_PEER_IDS_H
#define HD_HD_PEER_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "hd_frame.h"

#define HD_PEER_IDS_MAX 65534 /* 1..0xfffe */

struct hd_peer_ids {
	size_t cap;		     /* ids that can be given out */
	size_t count;		     /* ids given out */
	uint8_t (*keys)[HD_KEY_LEN]; /* by id - 1 */
	uint16_t *slots;	     /* open addressing: id, 0 = empty */
	size_t mask;		     /* slots - 1 (a power of two, at least twice cap) */
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
	uint64_t refused_full;
};

/* Room for cap ids (1..HD_PEER_IDS_MAX). Returns 0 or -1. */
int hd_peer_ids_init(struct hd_peer_ids *ids, size_t cap);
void hd_peer_ids_free(struct hd_peer_ids *ids);

/*
 * The id of key; with assign, a new one when it has none. Returns
 * HD_ID_NONE when it has none (and, with assign, when no id is left).
 */
uint16_t hd_peer_id_of(struct hd_peer_ids *ids, const uint8_t key[HD_KEY_LEN], bool assign);
/* The key with id, or NULL when the id was never given out. */
const uint8_t *hd_peer_id_key(const struct hd_peer_ids *ids, uint16_t id);

#endif
