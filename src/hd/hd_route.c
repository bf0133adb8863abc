// SPDX-License-Identifier: MIT
#include "hd_route.h"

#include <stdlib.h>
#include <string.h>

#define RELAY_IDS 65536

static bool relay_id_valid(uint16_t id)
{
	return id != HD_ID_NONE && id != HD_ID_RESERVED;
}

static bool link_valid(const struct hd_route_table *t, int link)
{
	return link >= 0 && link < HD_ROUTE_MAX_LINKS && t->link_relay[link] != 0;
}

int hd_route_init(struct hd_route_table *t, uint16_t self, size_t max_relays)
{
	memset(t, 0, sizeof(*t));
	if (!relay_id_valid(self) || max_relays == 0 || max_relays > HD_ROUTE_MAX_RELAYS)
		return -1;
	t->self = self;
	t->max_relays = max_relays;
	t->slot_of = calloc(RELAY_IDS, sizeof(*t->slot_of));
	t->entries = calloc(max_relays, sizeof(*t->entries));
	if (!t->slot_of || !t->entries) {
		hd_route_free(t);
		return -1;
	}
	return 0;
}

void hd_route_free(struct hd_route_table *t)
{
	free(t->slot_of);
	free(t->entries);
	t->slot_of = NULL;
	t->entries = NULL;
	t->n = 0;
}

static struct hd_route_entry *entry_find(const struct hd_route_table *t, uint16_t relay)
{
	uint16_t slot = t->slot_of[relay];
	return slot ? &t->entries[slot - 1] : NULL;
}

/*
 * The entry for relay, made when missing. Entries are never removed (a relay
 * that went away stays unreachable), so the table's room is spent on relay
 * ids once: a fleet's ids are few and stable.
 */
static struct hd_route_entry *entry_get(struct hd_route_table *t, uint16_t relay)
{
	struct hd_route_entry *e = entry_find(t, relay);

	if (e)
		return e;
	if (t->n == t->max_relays) {
		t->table_full++;
		return NULL;
	}
	e = &t->entries[t->n++];
	e->relay = relay;
	e->link = -1;
	for (int l = 0; l < HD_ROUTE_MAX_LINKS; l++)
		e->heard[l].len = HD_ROUTE_NONE;
	t->slot_of[relay] = (uint16_t)t->n;
	return e;
}

static int link_of(const struct hd_route_table *t, uint16_t relay)
{
	for (int l = 0; l < HD_ROUTE_MAX_LINKS; l++) {
		if (t->link_relay[l] == relay)
			return l;
	}
	return -1;
}

/*
 * The length of what link offers for e, or HD_ROUTE_NONE. An offer whose
 * path runs through another of our neighbours that itself offers no way to
 * e is stale: that neighbour has lost the route (or reaches it through us),
 * so the path cannot be walked. Taking such a path is how two relays end up
 * pointing at each other for a round after a cut further on.
 */
static uint8_t offer_len(const struct hd_route_table *t, const struct hd_route_entry *e, int link)
{
	const struct hd_route_path *p = &e->heard[link];

	if (!link_valid(t, link) || p->len == HD_ROUTE_NONE)
		return HD_ROUTE_NONE;
	for (uint8_t k = 1; k < p->len; k++) {
		int via = link_of(t, p->relays[k]);
		if (via >= 0 && e->heard[via].len == HD_ROUTE_NONE)
			return HD_ROUTE_NONE;
	}
	return p->len;
}

/*
 * Picks the link with the shortest path. On a tie the current link stays,
 * so that equal paths do not make traffic flap between them.
 */
static bool entry_recompute(struct hd_route_table *t, struct hd_route_entry *e)
{
	int best_link = e->link >= 0 && offer_len(t, e, e->link) != HD_ROUTE_NONE ? e->link : -1;
	uint8_t best = best_link >= 0 ? e->heard[best_link].len : HD_ROUTE_NONE;

	for (int l = 0; l < HD_ROUTE_MAX_LINKS; l++) {
		uint8_t len = offer_len(t, e, l);
		if (len < best) {
			best = len;
			best_link = l;
		}
	}
	if (best_link == e->link)
		return false;
	e->link = (int8_t)best_link;
	t->changes++;
	return true;
}

int hd_route_link_up(struct hd_route_table *t, uint16_t neighbour)
{
	struct hd_route_entry *e;
	int link = -1;

	if (!relay_id_valid(neighbour) || neighbour == t->self)
		return -1;
	for (int l = 0; l < HD_ROUTE_MAX_LINKS; l++) {
		if (t->link_relay[l] == 0) {
			link = l;
			break;
		}
	}
	if (link < 0)
		return -1;
	e = entry_get(t, neighbour);
	if (!e)
		return -1;
	t->link_relay[link] = neighbour;
	e->heard[link].len = 1;
	e->heard[link].relays[0] = neighbour;
	entry_recompute(t, e);
	return link;
}

void hd_route_link_down(struct hd_route_table *t, int link)
{
	if (!link_valid(t, link))
		return;
	t->link_relay[link] = 0;
	for (size_t i = 0; i < t->n; i++) {
		t->entries[i].heard[link].len = HD_ROUTE_NONE;
		entry_recompute(t, &t->entries[i]);
	}
}

static bool path_contains(const struct hd_route *r, uint16_t relay)
{
	for (uint8_t k = 0; k < r->path_len; k++) {
		if (r->path[k] == relay)
			return true;
	}
	return false;
}

/* Stores what link offers for e; a new path on the chosen link is a change to announce. */
static void offer_set(struct hd_route_table *t, struct hd_route_entry *e, int link,
		      const struct hd_route_path *p)
{
	struct hd_route_path *h = &e->heard[link];
	bool same =
	    h->len == p->len && (p->len == HD_ROUTE_NONE ||
				 memcmp(h->relays, p->relays, p->len * sizeof(p->relays[0])) == 0);

	if (same)
		return;
	if (e->link == link)
		t->changes++;
	*h = *p;
}

size_t hd_route_announce_in(struct hd_route_table *t, int link, const struct hd_route *routes,
			    size_t n)
{
	const uint16_t neighbour = link_valid(t, link) ? t->link_relay[link] : 0;
	const struct hd_route_path none = { .len = HD_ROUTE_NONE };
	uint64_t before = t->changes;

	if (!neighbour)
		return 0;
	t->generation++;
	for (size_t i = 0; i < n; i++) {
		const struct hd_route *r = &routes[i];
		struct hd_route_path p;
		struct hd_route_entry *e;

		/* Ourselves, and the neighbour's own entry (the link is its route), are not
		 * learned. */
		if (!relay_id_valid(r->relay_id) || r->relay_id == t->self || r->path_len == 0 ||
		    r->relay_id == neighbour)
			continue;
		if (r->path_len >= HD_ROUTE_MAX_PATH)
			continue; /* one more hop would be too long */
		if (path_contains(r, t->self) || path_contains(r, neighbour)) {
			t->loops_refused++;
			continue;
		}
		e = entry_get(t, r->relay_id);
		if (!e)
			continue;
		p.len = (uint8_t)(r->path_len + 1);
		p.relays[0] = neighbour;
		memcpy(&p.relays[1], r->path, r->path_len * sizeof(r->path[0]));
		offer_set(t, e, link, &p);
		e->seen = t->generation;
	}
	/* A whole table: what it did not list, it cannot reach. */
	for (size_t i = 0; i < t->n; i++) {
		struct hd_route_entry *e = &t->entries[i];
		if (e->seen != t->generation && e->relay != neighbour)
			offer_set(t, e, link, &none);
		entry_recompute(t, e);
	}
	return (size_t)(t->changes - before);
}

size_t hd_route_announce_out(const struct hd_route_table *t, int link, struct hd_route *out,
			     size_t max)
{
	size_t k = 0;

	if (max == 0)
		return 0;
	out[k++] = (struct hd_route){ .relay_id = t->self, .path_len = 0 };
	for (size_t i = 0; i < t->n && k < max; i++) {
		const struct hd_route_entry *e = &t->entries[i];
		const struct hd_route_path *p;

		/* Split horizon: a path through the neighbour is of no use to it. */
		if (e->link < 0 || e->link == link)
			continue;
		p = &e->heard[e->link];
		out[k].relay_id = e->relay;
		out[k].path_len = p->len;
		memcpy(out[k].path, p->relays, p->len * sizeof(p->relays[0]));
		k++;
	}
	return k;
}

int hd_route_next(const struct hd_route_table *t, uint16_t dst)
{
	const struct hd_route_entry *e;

	if (dst == t->self)
		return -1;
	e = entry_find(t, dst);
	if (!e || e->link < 0)
		return -2;
	return e->link;
}

int hd_route_hops(const struct hd_route_table *t, uint16_t dst)
{
	int link = hd_route_next(t, dst);

	if (link == -1)
		return 0;
	if (link < 0)
		return -1;
	return entry_find(t, dst)->heard[link].len;
}
