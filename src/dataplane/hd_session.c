// SPDX-License-Identifier: MIT
/*
 * HD connections on a worker (docs/hd-protocol.md, section 4): the frames a
 * client may send, and what the relay does with each. Packets go through
 * the same routing as DERP's (derp_session.c), so an HD peer reaches DERP
 * peers by their ids too, and queues, drops and counters are shared.
 */
#include <string.h>

#include "hd_frame.h"
#include "log.h"
#include "worker.h"

static void queue_frame(struct worker *w, struct conn *c, const uint8_t *f, size_t n)
{
	if (n)
		session_queue_ctrl(w, c, f, n);
}

/* A Send to an id nobody has: the sender hears of it, at most a few times a second. */
static void tell_not_here(struct worker *w, struct conn *c, uint16_t peer_id)
{
	uint8_t f[HD_FRAME_HDR_LEN + 5];

	if (session_not_here_allowed(w, c))
		queue_frame(w, c, f,
			    hd_build_peer_gone(f, sizeof(f), peer_id, 0, HD_GONE_NOT_HERE));
}

/*
 * A Send the policy refuses: dropped and counted like any drop, and the
 * sender told with the same rate limit as not-here, so a peer that keeps
 * sending to a forbidden id costs the relay no more than one that sends to
 * a gone one.
 */
static void refuse_send(struct worker *w, struct conn *c, uint16_t peer_id, uint32_t len)
{
	uint8_t f[HD_FRAME_HDR_LEN + 5];

	stat_add(&w->stats.packets_recv, 1);
	stat_add(&w->stats.packets_dropped[DROP_HD_POLICY][DROP_KIND_OTHER], 1);
	stat_add(&w->stats.bytes_dropped[DROP_HD_POLICY][DROP_KIND_OTHER], len);
	if (session_not_here_allowed(w, c))
		queue_frame(w, c, f,
			    hd_build_peer_gone(f, sizeof(f), peer_id, 0, HD_GONE_NOT_ALLOWED));
}

static void handle_send(struct worker *w, struct conn *c, const uint8_t *payload, uint32_t len)
{
	struct hd_routed r;
	const uint8_t *dst;

	if (hd_parse_routed(HD_FRAME_SEND, payload, len, &r) < 0)
		return;
	dst = hd_registry_key(w->relay->hd, r.peer_id);
	if (!dst) {
		stat_add(&w->stats.packets_recv, 1);
		stat_add(&w->stats.packets_dropped[DROP_UNKNOWN_DEST][DROP_KIND_OTHER], 1);
		stat_add(&w->stats.bytes_dropped[DROP_UNKNOWN_DEST][DROP_KIND_OTHER], r.packet_len);
		tell_not_here(w, c, r.peer_id);
		return;
	}
	if (!hd_registry_may_send(w->relay->hd, c->key, dst)) {
		refuse_send(w, c, r.peer_id, r.packet_len);
		return;
	}
	session_route(w, c, dst, r.packet, r.packet_len);
}

/*
 * Lookup: the key's id (PeerInfo), or PeerInfo with id 0 when it has none
 * here or the policy does not let the asker send to it: a peer learns no
 * more about the keys it may not reach than about absent ones.
 */
static void handle_lookup(struct worker *w, struct conn *c, const uint8_t *key)
{
	uint8_t f[HD_FRAME_HDR_LEN + 4 + HD_KEY_LEN];
	uint16_t id = HD_ID_NONE;

	if (hd_registry_may_send(w->relay->hd, c->key, key))
		id = hd_registry_lookup(w->relay->hd, key);

	queue_frame(w, c, f, hd_build_peer_info(f, sizeof(f), id, HD_ID_NONE, key));
}

int hd_session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			    uint32_t len)
{
	uint8_t f[HD_FRAME_HDR_LEN + 8];

	switch (type) {
	case HD_FRAME_SEND:
		handle_send(w, c, payload, len);
		break;
	case HD_FRAME_FLEET_SEND:
		/* Fleets are not built yet: no relay id is reachable. */
		stat_add(&w->stats.packets_dropped[DROP_UNKNOWN_DEST][DROP_KIND_OTHER], 1);
		break;
	case HD_FRAME_LOOKUP:
		handle_lookup(w, c, payload);
		break;
	case HD_FRAME_PING:
		queue_frame(w, c, f, hd_build_ping(f, sizeof(f), HD_FRAME_PONG, payload));
		break;
	default:
		break; /* Pong */
	}
	return c->closing ? -1 : 0;
}

void hd_session_tick_keepalive(struct worker *w, struct conn *c)
{
	uint8_t f[HD_FRAME_HDR_LEN];

	queue_frame(w, c, f, hd_build_keep_alive(f, sizeof(f)));
}

void hd_session_drain(struct worker *w, struct conn *c)
{
	uint8_t f[HD_FRAME_HDR_LEN + 1 + 32];

	queue_frame(
	    w, c, f,
	    hd_build_reason(f, sizeof(f), HD_FRAME_CLOSE, HD_REASON_DRAINING, "relay restarting"));
}
