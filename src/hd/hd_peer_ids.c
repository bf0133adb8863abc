// SPDX-License-Identifier: MIT
#include "hd_peer_ids.h"

#include <stdlib.h>
#include <string.h>

int hd_peer_ids_init(struct hd_peer_ids *ids, size_t cap)
{
	size_t slots = 1;

	memset(ids, 0, sizeof(*ids));
	if (cap == 0 || cap > HD_PEER_IDS_MAX)
		return -1;
	while (slots < 2 * cap)
		slots <<= 1;
	ids->cap = cap;
	ids->mask = slots - 1;
	ids->keys = calloc(cap, sizeof(*ids->keys));
	ids->slots = calloc(slots, sizeof(*ids->slots));
	if (!ids->keys || !ids->slots) {
		hd_peer_ids_free(ids);
		return -1;
	}
	/* A keyed hash: probe chains do not depend on keys someone could choose. */
	crypto_shorthash_keygen(ids->hash_key);
	return 0;
}

void hd_peer_ids_free(struct hd_peer_ids *ids)
{
	free(ids->keys);
	free(ids->slots);
	ids->keys = NULL;
	ids->slots = NULL;
	ids->count = 0;
}

static size_t slot_start(const struct hd_peer_ids *ids, const uint8_t key[HD_KEY_LEN])
{
	uint64_t h;
	crypto_shorthash((unsigned char *)&h, key, HD_KEY_LEN, ids->hash_key);
	return (size_t)h & ids->mask;
}

uint16_t hd_peer_id_of(struct hd_peer_ids *ids, const uint8_t key[HD_KEY_LEN], bool assign)
{
	/* At most half full, so an empty slot ends every probe. */
	for (size_t i = slot_start(ids, key);; i = (i + 1) & ids->mask) {
		uint16_t id = ids->slots[i];
		if (id == HD_ID_NONE) {
			if (!assign)
				return HD_ID_NONE;
			if (ids->count == ids->cap) {
				ids->refused_full++;
				return HD_ID_NONE;
			}
			id = (uint16_t)(ids->count + 1);
			memcpy(ids->keys[id - 1], key, HD_KEY_LEN);
			ids->slots[i] = id;
			/* Published after the key: a reader that sees the id sees its key. */
			__atomic_store_n(&ids->count, ids->count + 1, __ATOMIC_RELEASE);
			return id;
		}
		if (memcmp(ids->keys[id - 1], key, HD_KEY_LEN) == 0)
			return id;
	}
}

const uint8_t *hd_peer_id_key(const struct hd_peer_ids *ids, uint16_t id)
{
	if (id == HD_ID_NONE || id > __atomic_load_n(&ids->count, __ATOMIC_ACQUIRE))
		return NULL;
	return ids->keys[id - 1];
}
