// SPDX-License-Identifier: MIT
/*
 * Userspace forwarding decision. A peer with one link needs no look at the
 * message beyond its validity; a peer with several links is routed by the
 * receiver index of responses, cookie replies and transport messages, and by
 * MAC1 for initiations (the only message that names its responder, and only
 * through MAC1, keyed by the responder's public key).
 */
#include "wg_route.h"

#include <stdlib.h>
#include <string.h>

#include "wg_msg.h"

static uint32_t ep_hash(const struct wg_endpoint *ep)
{
	uint64_t hi, lo;

	/* The mapped prefix of IPv4 is constant; the low half and the port spread it. */
	memcpy(&hi, ep->addr, sizeof(hi));
	memcpy(&lo, ep->addr + 8, sizeof(lo));
	uint64_t k = (hi * 0xC2B2AE3D27D4EB4Full) ^ lo ^ ((uint64_t)ep->port << 48);
	return (uint32_t)((k * 0x9E3779B97F4A7C15ull) >> 40);
}

struct wg_routes *wg_routes_build(const struct wg_table *t)
{
	struct wg_routes *r = calloc(1, sizeof(*r));
	uint32_t next = 0;

	if (!r)
		return NULL;
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_peer *p = &t->peers[i];
		struct wg_route_peer *rp = &r->peers[i];
		if (!p->used)
			continue;
		rp->used = true;
		rp->ep = p->ep;
		rp->has_mac1_key = p->has_pubkey;
		if (p->has_pubkey)
			wg_mac1_key(rp->mac1_key, p->pubkey);
		rp->first_link = next;
		rp->nlinks =
		    (uint16_t)wg_table_links_of(t, i, &r->adj[next], 2 * WG_MAX_LINKS - next);
		next += rp->nlinks;
		for (uint32_t h = ep_hash(&p->ep);; h++) {
			uint16_t *cell = &r->ep_hash[h & (WG_EP_HASH_SIZE - 1)];
			if (*cell == 0) {
				*cell = (uint16_t)(i + 1);
				break;
			}
		}
	}
	return r;
}

int wg_routes_find(const struct wg_routes *r, const struct wg_endpoint *ep)
{
	for (uint32_t h = ep_hash(ep);; h++) {
		uint16_t cell = r->ep_hash[h & (WG_EP_HASH_SIZE - 1)];
		if (cell == 0)
			return -1;
		const struct wg_route_peer *p = &r->peers[cell - 1];
		if (wg_endpoint_equal(&p->ep, ep))
			return cell - 1;
	}
}

bool wg_routes_linked(const struct wg_routes *r, int a, int b)
{
	const struct wg_route_peer *p = &r->peers[a];

	for (uint32_t i = 0; i < p->nlinks; i++) {
		if (r->adj[p->first_link + i] == b)
			return true;
	}
	return false;
}

/* ---- learned indices ---- */

static uint32_t index_hash(uint32_t index)
{
	/* Indices are random already; the multiply only spreads crafted ones. */
	return (index * 0x9E3779B1u) >> 18;
}

void wg_index_learn(struct wg_index_table *t, uint32_t index, uint16_t owner)
{
	struct wg_index_entry *victim = NULL;
	uint32_t h = index_hash(index);

	for (uint32_t i = 0; i < WG_INDEX_PROBE; i++) {
		struct wg_index_entry *e = &t->e[(h + i) & (WG_INDEX_SLOTS - 1)];
		if (e->used && e->index == index) {
			victim = e;
			break;
		}
		if (!victim || (victim->used && (!e->used || e->stamp < victim->stamp)))
			victim = e;
	}
	*victim = (struct wg_index_entry){
		.index = index, .owner = owner, .used = 1, .stamp = ++t->clock
	};
}

int wg_index_lookup(const struct wg_index_table *t, uint32_t index)
{
	uint32_t h = index_hash(index);

	for (uint32_t i = 0; i < WG_INDEX_PROBE; i++) {
		const struct wg_index_entry *e = &t->e[(h + i) & (WG_INDEX_SLOTS - 1)];
		if (e->used && e->index == index)
			return e->owner;
	}
	return -1;
}

/* ---- the decision ---- */

static int route_initiation(const struct wg_routes *r, const struct wg_route_peer *src,
			    const uint8_t *payload, size_t len)
{
	for (uint32_t i = 0; i < src->nlinks; i++) {
		int cand = r->adj[src->first_link + i];
		const struct wg_route_peer *p = &r->peers[cand];
		if (p->has_mac1_key && wg_mac1_matches(p->mac1_key, payload, len))
			return cand;
	}
	return -1;
}

int wg_route(const struct wg_routes *r, struct wg_index_table *idx,
	     int (*lookup)(void *ctx, uint32_t index), void *ctx, const struct wg_endpoint *src,
	     const uint8_t *payload, size_t len, struct wg_decision *d)
{
	struct wg_msg msg;
	const struct wg_route_peer *sp;

	memset(d, 0, sizeof(*d));
	d->src = wg_routes_find(r, src);
	if (d->src < 0)
		return WG_CNT_DROP_UNKNOWN_SOURCE;
	d->type = (uint8_t)wg_msg_classify(payload, len, &msg);
	if (d->type == 0)
		return WG_CNT_DROP_MALFORMED;
	sp = &r->peers[d->src];
	if (d->type == WG_MSG_INITIATION || d->type == WG_MSG_RESPONSE) {
		wg_index_learn(idx, msg.sender, (uint16_t)d->src);
		d->learned = true;
		d->sender = msg.sender;
	}
	if (sp->nlinks == 0)
		return WG_CNT_DROP_NO_LINK;
	if (sp->nlinks == 1) {
		d->dst = r->adj[sp->first_link];
		return -1;
	}
	if (d->type == WG_MSG_INITIATION) {
		d->dst = route_initiation(r, sp, payload, len);
	} else {
		d->dst = wg_index_lookup(idx, msg.receiver);
		if (d->dst < 0 && lookup) {
			/* Learned elsewhere (XDP, another worker): keep it near for the next. */
			d->dst = lookup(ctx, msg.receiver);
			if (d->dst >= 0 && d->dst < WG_MAX_PEERS)
				wg_index_learn(idx, msg.receiver, (uint16_t)d->dst);
		}
	}
	if (d->dst < 0 || !wg_routes_linked(r, d->src, d->dst))
		return WG_CNT_DROP_NO_ROUTE;
	return -1;
}
