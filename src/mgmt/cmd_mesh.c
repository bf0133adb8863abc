// SPDX-License-Identifier: MIT
/* show mesh: the outbound mesh peers (mesh.with) and what went each way. */
#include "mgmt_command.h"

#include "mesh_link.h"
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
		jw_end(w);
	}
	jw_end(w);
	jw_end(w);
	return 0;
}
