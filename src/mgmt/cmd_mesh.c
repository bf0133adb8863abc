// SPDX-License-Identifier: MIT
/*
 * show mesh: the outbound mesh peers (mesh.with) and what went each way;
 * show mesh keys: the node keys homed on them, with their PeerPresent data.
 */
#include "mgmt_command.h"

#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "mesh_client.h"
#include "mesh_link.h"
#include "peer_view.h"
#include "relay.h"

static uint64_t rd(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

int cmd_show_mesh(struct mgmt_call *call)
{
	const struct relay *r = call->ctx->relay;
	struct json_writer *w = call->out;

	jw_object_begin(w, NULL);
	jw_array_begin(w, "peers");
	for (uint16_t i = 0; i < r->nlinks; i++) {
		const struct mesh_link *l = &r->links[i];
		const struct mesh_link_stats *s = &l->stats;
		int state = atomic_load_explicit(&l->state, memory_order_relaxed);
		char nodekey[80] = "";
		if (atomic_load_explicit(&l->key_known, memory_order_acquire))
			key_to_nodekey(l->server_key, nodekey);
		jw_object_begin(w, NULL);
		jw_string(w, "address", l->target.text);
		jw_bool(w, "tls", l->target.tls);
		jw_string(w, "state", mesh_link_state_names[state]);
		jw_string(w, "server_key", nodekey);
		jw_u64(w, "keys", rd(&s->keys));
		jw_u64(w, "packets_out", rd(&s->fwd_out_packets));
		jw_u64(w, "bytes_out", rd(&s->fwd_out_bytes));
		jw_u64(w, "packets_in", rd(&s->fwd_in_packets));
		jw_u64(w, "bytes_in", rd(&s->fwd_in_bytes));
		jw_u64(w, "queue_drops", rd(&s->queue_drops));
		jw_u64(w, "unsent_drops", rd(&s->unsent_drops));
		jw_u64(w, "connects", rd(&s->connects));
		jw_u64(w, "reconnects", rd(&s->reconnects));
		jw_u64(w, "dial_failures", rd(&s->dial_failures));
		jw_u64(w, "write_timeouts", rd(&s->write_timeouts));
		jw_u64(w, "peer_present", rd(&s->peer_present));
		jw_u64(w, "peer_gone", rd(&s->peer_gone));
		jw_u64(w, "keys_refused", rd(&s->keys_refused));
		jw_end(w);
	}
	jw_end(w);
	jw_end(w);
	return 0;
}

/* The mesh.with entry PEER names: as written (show mesh's address) or its server key. */
static int find_link(const struct relay *r, const char *peer)
{
	for (uint16_t i = 0; i < r->nlinks; i++) {
		const struct mesh_link *l = &r->links[i];
		char nodekey[80] = "";
		if (atomic_load_explicit(&l->key_known, memory_order_acquire))
			key_to_nodekey(l->server_key, nodekey);
		if (strcmp(peer, l->target.text) == 0 || (nodekey[0] && strcmp(peer, nodekey) == 0))
			return i;
	}
	return -1;
}

/* Key order, and for one key the peer that announced it first: the one routed to. */
static int by_key_then_seq(const void *a, const void *b)
{
	const struct mesh_key_info *x = a, *y = b;
	int c = memcmp(x->key, y->key, KEY_LEN);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static void write_key(struct json_writer *w, const struct relay *r,
		      const struct mesh_key_info *k, bool first)
{
	char nodekey[80], addr[64] = "";
	key_to_nodekey(k->key, nodekey);
	/* Derpers before the address was added send none: shown empty, not as [::]:0. */
	if (k->port || !all_zero(k->ip, sizeof(k->ip)))
		peer_addr_format(k->ip, k->port, addr);
	jw_object_begin(w, NULL);
	jw_string(w, "key", nodekey);
	jw_string(w, "peer", r->links[k->link].target.text);
	jw_string(w, "addr", addr);
	jw_u64(w, "flags", k->flags);
	jw_bool(w, "is_regular", k->flags & DERP_PEER_PRESENT_IS_REGULAR);
	jw_bool(w, "is_mesh_peer", k->flags & DERP_PEER_PRESENT_IS_MESH_PEER);
	jw_bool(w, "is_prober", k->flags & DERP_PEER_PRESENT_IS_PROBER);
	jw_bool(w, "not_ideal", k->flags & DERP_PEER_PRESENT_NOT_IDEAL);
	/*
	 * Of the peers a key is on, the first to announce it gets its packets
	 * (derper's multiForwarder), unless the key has a connection on this
	 * relay, which show peers lists.
	 */
	jw_bool(w, "first", first);
	jw_end(w);
}

int cmd_show_mesh_keys(struct mgmt_call *call)
{
	const struct relay *r = call->ctx->relay;
	struct json_writer *w = call->out;
	int link = -1;
	if (call->argc == 1) {
		link = find_link(r, call->argv[0]);
		if (link < 0)
			return mgmt_error(call, MGMT_E_USAGE,
					  "%s: not a mesh peer (an address or server key of show mesh)",
					  call->argv[0]);
	}
	struct mesh_key_info *keys;
	size_t n;
	if (mesh_keys_snapshot(link, &keys, &n) < 0)
		return mgmt_error(call, MGMT_E_FAILED, "out of memory copying the mesh keys");
	if (n)
		qsort(keys, n, sizeof(*keys), by_key_then_seq);
	jw_object_begin(w, NULL);
	jw_array_begin(w, "keys");
	for (size_t i = 0; i < n; i++) {
		bool first = i == 0 || memcmp(keys[i].key, keys[i - 1].key, KEY_LEN) != 0;
		write_key(w, r, &keys[i], first);
	}
	jw_end(w);
	jw_end(w);
	free(keys);
	return 0;
}
