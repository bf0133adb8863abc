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
		memcpy(rp->name, p->name, sizeof(rp->name));
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

/* A handshake's MAC1 must be made for the peer it goes to, when the table knows its key. */
static bool mac1_ok(const struct wg_route_peer *dst, const uint8_t *payload, size_t len)
{
	return !dst->has_mac1_key || wg_mac1_matches(dst->mac1_key, payload, len);
}

static int index_drop(int rc)
{
	switch (rc) {
	case WG_INDEX_TAKEN:
		return WG_CNT_DROP_INDEX_TAKEN;
	case WG_INDEX_FULL:
		return WG_CNT_DROP_INDEX_FULL;
	default:
		return WG_CNT_DROP_UNMATCHED_RESPONSE;
	}
}

/* An initiation: to its only link, or by MAC1; leaves its sender index pending for dst. */
static int route_initiation_msg(const struct wg_routes *r, struct wg_index *ix,
				const struct wg_msg *msg, const uint8_t *payload, size_t len,
				uint64_t now, struct wg_decision *d)
{
	const struct wg_route_peer *sp = &r->peers[d->src];

	if (sp->nlinks == 1) {
		d->dst = r->adj[sp->first_link];
		if (!mac1_ok(&r->peers[d->dst], payload, len))
			return WG_CNT_DROP_BAD_MAC1;
	} else {
		d->dst = route_initiation(r, sp, payload, len);
		if (d->dst < 0)
			return WG_CNT_DROP_NO_ROUTE;
	}
	int rc = wg_index_initiation(ix, msg->sender, (uint16_t)d->src, (uint16_t)d->dst,
				     sp->nlinks, now);
	return rc < 0 ? index_drop(rc) : -1;
}

/*
 * A response goes only to the peer whose initiation was forwarded to its
 * sender, with a MAC1 made for that peer's key; only then are both indices
 * routes.
 */
static int route_response_msg(const struct wg_routes *r, struct wg_index *ix,
			      const struct wg_msg *msg, const uint8_t *payload, size_t len,
			      uint64_t now, struct wg_decision *d)
{
	bool roam = false;

	d->dst = wg_index_pending_initiator(ix, msg->receiver, (uint16_t)d->src, now);
	if (d->dst < 0) {
		d->dst = wg_index_roam_peek(ix, msg->receiver, (uint16_t)d->src, now);
		roam = true;
	}
	if (d->dst < 0)
		return WG_CNT_DROP_UNMATCHED_RESPONSE;
	if (!wg_routes_linked(r, d->src, d->dst))
		return WG_CNT_DROP_NO_ROUTE;
	if (!mac1_ok(&r->peers[d->dst], payload, len))
		return WG_CNT_DROP_BAD_MAC1;
	uint32_t nl_i = r->peers[d->dst].nlinks, nl_r = r->peers[d->src].nlinks;
	int rc = roam ? wg_index_roam_response(ix, msg->sender, msg->receiver, (uint16_t)d->src,
					       nl_i, nl_r, now, &d->roam_ep)
		      : wg_index_response(ix, msg->sender, msg->receiver, (uint16_t)d->src, nl_i,
					  nl_r, now);
	if (rc < 0)
		return index_drop(rc);
	d->roamed = roam;
	return -1;
}

/* The peer with a key whose MAC1 the initiation carries, or -1: every keyed peer is tried. */
static int mac1_owner(const struct wg_routes *r, const uint8_t *payload, size_t len)
{
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &r->peers[i];
		if (p->used && p->has_mac1_key && wg_mac1_matches(p->mac1_key, payload, len))
			return i;
	}
	return -1;
}

/*
 * An initiation from a source no peer has. If its MAC1 is made for a peer
 * with exactly one link, it may come from that link at a new address: it
 * goes to the peer it is made for, and the roam is offered. With several
 * links the initiator cannot be told (the initiation hides who sent it),
 * and it is dropped, with the peer it was made for in d->mac1_peer.
 */
static int route_unknown_initiation(const struct wg_routes *r, struct wg_index *ix,
				    const struct wg_endpoint *src, const struct wg_msg *msg,
				    const uint8_t *payload, size_t len, uint64_t now,
				    struct wg_decision *d)
{
	if (!wg_index_unknown_allowed(ix, now))
		return WG_CNT_DROP_UNKNOWN_SOURCE;
	d->mac1_peer = mac1_owner(r, payload, len);
	d->strike = d->mac1_peer < 0;
	if (d->mac1_peer < 0 || r->peers[d->mac1_peer].nlinks != 1)
		return WG_CNT_DROP_UNKNOWN_SOURCE;
	const struct wg_route_peer *responder = &r->peers[d->mac1_peer];
	d->type = WG_MSG_INITIATION;
	d->src = r->adj[responder->first_link];
	d->dst = d->mac1_peer;
	wg_index_roam_offer(ix, msg->sender, (uint16_t)d->src, (uint16_t)d->dst, src, now);
	return -1;
}

int wg_route(const struct wg_routes *r, struct wg_index *ix, const struct wg_endpoint *src,
	     const uint8_t *payload, size_t len, uint64_t now, struct wg_decision *d)
{
	struct wg_msg msg;
	const struct wg_route_peer *sp;

	memset(d, 0, sizeof(*d));
	d->mac1_peer = -1;
	d->src = wg_routes_find(r, src);
	d->unknown = d->src < 0;
	if (d->src < 0) {
		if (wg_msg_classify(payload, len, &msg) == WG_MSG_INITIATION)
			return route_unknown_initiation(r, ix, src, &msg, payload, len, now, d);
		return WG_CNT_DROP_UNKNOWN_SOURCE;
	}
	d->type = (uint8_t)wg_msg_classify(payload, len, &msg);
	if (d->type == 0)
		return WG_CNT_DROP_MALFORMED;
	sp = &r->peers[d->src];
	if (sp->nlinks == 0)
		return WG_CNT_DROP_NO_LINK;
	if (d->type == WG_MSG_INITIATION || d->type == WG_MSG_RESPONSE) {
		if (!wg_index_handshake_allowed(ix, (uint16_t)d->src, sp->nlinks, now))
			return WG_CNT_DROP_HANDSHAKE_RATE;
		return d->type == WG_MSG_INITIATION
			   ? route_initiation_msg(r, ix, &msg, payload, len, now, d)
			   : route_response_msg(r, ix, &msg, payload, len, now, d);
	}
	/* Transport and cookie replies: the only link, or the owner of the receiver index. */
	if (sp->nlinks == 1) {
		d->dst = r->adj[sp->first_link];
		return -1;
	}
	d->dst = wg_index_lookup(ix, msg.receiver);
	/* A cookie reply may answer an initiation still pending for its sender. */
	if (d->dst < 0 && d->type == WG_MSG_COOKIE_REPLY)
		d->dst = wg_index_pending_initiator(ix, msg.receiver, (uint16_t)d->src, now);
	if (d->dst < 0 || !wg_routes_linked(r, d->src, d->dst))
		return WG_CNT_DROP_NO_ROUTE;
	return -1;
}
