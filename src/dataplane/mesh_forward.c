// SPDX-License-Identifier: MIT
/*
 * The workers' side of the outbound mesh (mesh_link.h): packets for keys
 * homed on a mesh peer go to that peer's link as ForwardPacket frames, and
 * what the links send back (which keys are homed where, buffers they wrote)
 * is applied here.
 */
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "log.h"
#include "mesh_link.h"
#include "worker.h"

#define LINK_MSG_BURST 256

bool mesh_forward(struct worker *w, uint16_t link, const uint8_t src[KEY_LEN],
		  const uint8_t dst[KEY_LEN], const uint8_t *pkt, uint32_t len, bool disco)
{
	struct mesh_link *l = &w->relay->links[link];
	enum drop_kind kind = disco ? DROP_KIND_DISCO : DROP_KIND_OTHER;
	size_t frame_len = DERP_FRAME_HDR_LEN + 2 * KEY_LEN + (size_t)len;
	struct pktbuf *pb = pktbuf_alloc(&w->pool, frame_len);
	if (!pb && worker_drain_peer_rings(w))
		pb = pktbuf_alloc(&w->pool, frame_len);
	if (!pb) {
		stat_add(&w->stats.packets_dropped[DROP_NO_BUFFER][kind], 1);
		stat_add(&w->stats.bytes_dropped[DROP_NO_BUFFER][kind], len);
		return false;
	}
	/* A copy: the frame outlives the receive buffer, on another thread. */
	pb->len = (uint32_t)derp_build_forward_packet(pb->data, pb->cap, src, dst, pkt, len);
	pb->kind = disco ? PKT_KIND_DISCO : PKT_KIND_DATA;
	memcpy(pb->dst, dst, KEY_LEN);
	struct spsc_msg m = { .type = MSG_PKT, .ptr = pb };
	if (spsc_ring_enqueue(&l->from_workers[w->id], &m) < 0) {
		/*
		 * The link writes slower than we forward (a slow or stalled
		 * peer): its ring is the bound, as a client's queue is.
		 */
		mesh_stat_add_atomic(&l->stats.queue_drops, 1);
		stat_add(&w->stats.packets_dropped[DROP_MESH_QUEUE][kind], 1);
		stat_add(&w->stats.bytes_dropped[DROP_MESH_QUEUE][kind], len);
		worker_release_buf(w, pb);
		return false;
	}
	w->mesh_wrote |= 1ull << link;
	stat_add(&w->stats.packets_forwarded_out, 1);
	return true;
}

uint32_t mesh_drain_links(struct worker *w)
{
	struct spsc_msg msgs[LINK_MSG_BURST];
	uint32_t total = 0;
	for (uint16_t i = 0; i < w->relay->nlinks; i++) {
		struct spsc_ring *ring = &w->relay->links[i].to_workers[w->id];
		uint32_t n, got = 0;
		/* At most one ring's worth per call, as for the workers' rings. */
		while (got <= ring->mask &&
		       (n = spsc_ring_dequeue_burst(ring, msgs, LINK_MSG_BURST))) {
			for (uint32_t k = 0; k < n; k++) {
				if (msgs[k].type == MSG_FREE) {
					worker_release_buf(w, msgs[k].ptr);
				} else {
					session_apply_event(w, msgs[k].type, msgs[k].ptr);
					free(msgs[k].ptr);
				}
			}
			got += n;
		}
		total += got;
	}
	return total;
}

bool mesh_links_have_work(struct worker *w)
{
	for (uint16_t i = 0; i < w->relay->nlinks; i++) {
		if (spsc_ring_count(&w->relay->links[i].to_workers[w->id]))
			return true;
	}
	return false;
}

void mesh_wake_links(struct worker *w)
{
	uint64_t bits = w->mesh_wrote;
	w->mesh_wrote = 0;
	while (bits) {
		int i = __builtin_ctzll(bits);
		bits &= bits - 1;
		mesh_link_wake(&w->relay->links[i]);
	}
}

void mesh_count_in(struct worker *w, struct conn *c, uint32_t len)
{
	struct relay *r = w->relay;
	if (c->mesh_in_link < 0) {
		/*
		 * A peer's mesh client connects with the peer's server key, which
		 * its link learns from the ServerKey frame, perhaps after this
		 * connection came: look until found (a handful of links).
		 */
		for (uint16_t i = 0; i < r->nlinks; i++) {
			struct mesh_link *l = &r->links[i];
			if (atomic_load_explicit(&l->key_known, memory_order_acquire) &&
			    memcmp(l->server_key, c->key, KEY_LEN) == 0) {
				c->mesh_in_link = (int16_t)i;
				break;
			}
		}
		if (c->mesh_in_link < 0)
			return;
	}
	struct mesh_link *l = &r->links[c->mesh_in_link];
	mesh_stat_add_atomic(&l->stats.fwd_in_packets, 1);
	mesh_stat_add_atomic(&l->stats.fwd_in_bytes, len);
}
