// SPDX-License-Identifier: MIT
/* The keys homed on one mesh peer and their PeerPresent data: see mesh_keys.h. */
#include "mesh_keys.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"

/* Where the optional fields of a PeerPresent payload start and end. */
#define PRESENT_IP_AT	 KEY_LEN
#define PRESENT_PORT_AT	 (KEY_LEN + 16)
#define PRESENT_FLAGS_AT (KEY_LEN + 18)

/* The first PeerPresent of a key on any peer takes the next number. */
static _Atomic uint64_t next_seq = 1;

int mesh_keys_init(struct mesh_keys *k, const uint8_t hash_key[16], uint16_t link)
{
	memset(k, 0, sizeof(*k));
	k->link = link;
	if (pthread_mutex_init(&k->lock, NULL) != 0)
		return -1;
	if (peer_table_init(&k->table, hash_key, UINT16_MAX) < 0) {
		pthread_mutex_destroy(&k->lock);
		return -1;
	}
	return 0;
}

void mesh_keys_destroy(struct mesh_keys *k)
{
	peer_table_destroy(&k->table);
	pthread_mutex_destroy(&k->lock);
}

/*
 * The frame's data. Derpers before the address was added send the key
 * alone (32 bytes); then key, address and port (50); today also the flags
 * (51). What is missing stays zero.
 */
static void parse_present(struct peer_loc *loc, const uint8_t *p, uint32_t len)
{
	memset(loc->ip, 0, sizeof(loc->ip));
	loc->port = 0;
	loc->present_flags = 0;
	if (len >= PRESENT_FLAGS_AT) {
		memcpy(loc->ip, p + PRESENT_IP_AT, sizeof(loc->ip));
		loc->port = (uint16_t)(p[PRESENT_PORT_AT] << 8 | p[PRESENT_PORT_AT + 1]);
	}
	if (len >= DERP_PEER_PRESENT_LEN)
		loc->present_flags = p[PRESENT_FLAGS_AT];
}

int mesh_keys_present(struct mesh_keys *k, const uint8_t *p, uint32_t len, uint32_t max)
{
	if (len < KEY_LEN)
		return -EINVAL;
	int rc = -ENOMEM;
	pthread_mutex_lock(&k->lock);
	struct peer_entry *e = peer_table_lookup(&k->table, p);
	if (e) {
		/*
		 * A newer connection of the key there: its data replaces the
		 * old, the seq stays (the routing order is the first PeerPresent's).
		 */
		parse_present(&e->locs[0], p, len);
		rc = 0;
		goto out;
	}
	/* Only a new key counts against max: a repeat at the bound is still taken. */
	if (k->table.count >= max) {
		rc = -ENOSPC;
		goto out;
	}
	e = peer_table_get_or_add(&k->table, p);
	if (!e)
		goto out;
	struct peer_loc loc = { .worker = k->link, .conn_id = PEER_LOC_NONE };
	loc.seq = atomic_fetch_add_explicit(&next_seq, 1, memory_order_relaxed);
	parse_present(&loc, p, len);
	if (peer_entry_add_loc(&k->table, e, &loc) < 0) {
		peer_table_remove(&k->table, e);
		goto out;
	}
	rc = 1;
out:
	pthread_mutex_unlock(&k->lock);
	return rc;
}

bool mesh_keys_gone(struct mesh_keys *k, const uint8_t key[KEY_LEN])
{
	pthread_mutex_lock(&k->lock);
	struct peer_entry *e = peer_table_lookup(&k->table, key);
	if (e)
		peer_table_remove(&k->table, e);
	pthread_mutex_unlock(&k->lock);
	return e != NULL;
}

void mesh_keys_clear(struct mesh_keys *k)
{
	struct peer_table *t = &k->table;
	pthread_mutex_lock(&k->lock);
	/*
	 * Slot by slot: a removal shifts later entries of the run back, into
	 * this slot or one not reached yet, never into one already passed.
	 */
	for (uint32_t i = 0; t->count && i <= t->mask; i++) {
		while (t->slots[i])
			peer_table_remove(t, t->slots[i]);
	}
	pthread_mutex_unlock(&k->lock);
}

int mesh_keys_copy(struct mesh_keys *k, struct mesh_key_info **out, size_t *n, size_t *cap)
{
	int rc = 0;
	pthread_mutex_lock(&k->lock);
	size_t need = *n + k->table.count;
	if (need > *cap) {
		struct mesh_key_info *grown = realloc(*out, need * sizeof(**out));
		if (!grown) {
			rc = -1;
			goto out;
		}
		*out = grown;
		*cap = need;
	}
	uint32_t pos = 0;
	for (struct peer_entry *e; (e = peer_table_next(&k->table, &pos));) {
		if (e->nlocs != 1)
			continue;
		struct mesh_key_info *ki = &(*out)[(*n)++];
		memcpy(ki->key, e->key, KEY_LEN);
		ki->link = k->link;
		ki->seq = e->locs[0].seq;
		memcpy(ki->ip, e->locs[0].ip, sizeof(ki->ip));
		ki->port = e->locs[0].port;
		ki->flags = e->locs[0].present_flags;
	}
out:
	pthread_mutex_unlock(&k->lock);
	return rc;
}
