// SPDX-License-Identifier: MIT
/*
 * DERP server semantics on a worker: registering connections, handling
 * client frames, routing packets, PeerGone/PeerPresent, keepalives.
 * (derp-protocol.md section 4 is the reference for every rule here.)
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "derp_frame.h"
#include "hd_frame.h"
#include "log.h"
#include "worker.h"

#define NOT_HERE_BURST	    3
#define NOT_HERE_PERIOD_NS  1000000000ull
#define KEEPALIVE_JITTER_NS 5000000000ull
/* Restarting frame on drain: reconnect after 1 s, keep trying for 60 s. */
#define RESTART_RECONNECT_MS 1000
#define RESTART_TRY_FOR_MS   60000

static const char HEALTH_DUP[] = "another connection with this node key is now active on "
				 "this relay; this one no longer receives packets";

/* The control pool's limit costs server frames: say so, at most every 10 s per worker. */
static void warn_ctrl_pool_full(struct worker *w, uint8_t type)
{
	if (!log_due(&w->ctrl_warned_ns, w->now_ns, 10000000000ull))
		return;
	log_warn("worker %u: control frame pool at its limit (limits.control_pool_mb = %u): "
		 "dropped a %s frame; %llu dropped so far (ctrl_frames_dropped)",
		 w->id, settings_u32(&w->relay->settings.control_pool_mb),
		 derp_frame_type_name(type),
		 (unsigned long long)stat_read(&w->stats.ctrl_frames_dropped));
}

/* Returns false when the control pool is exhausted and the frame was not queued. */
static bool queue_ctrl(struct worker *w, struct conn *c, const uint8_t *frame, size_t len)
{
	struct pktbuf *pb = sendq_ctrl_frame(w, len);
	if (!pb) {
		stat_add(&w->stats.ctrl_frames_dropped, 1);
		warn_ctrl_pool_full(w, frame[0]);
		return false;
	}
	memcpy(pb->data, frame, len);
	pb->len = (uint32_t)len;
	sendq_push(w, c, pb);
	return true;
}

static void queue_peer_gone(struct worker *w, struct conn *c, const uint8_t key[KEY_LEN],
			    enum derp_peer_gone_reason reason)
{
	uint8_t f[DERP_FRAME_HDR_LEN + KEY_LEN + 1];
	size_t n;
	if (c->is_hd) {
		/* HD names peers by id; a key without one was never an HD peer's source. */
		uint16_t id = hd_registry_lookup(w->relay->hd, key);
		if (id == HD_ID_NONE)
			return;
		n = hd_build_peer_gone(f, sizeof(f), id, HD_ID_NONE,
				       reason == DERP_PEER_GONE_NOT_HERE ? HD_GONE_NOT_HERE
									 : HD_GONE_DISCONNECTED);
	} else {
		n = derp_build_peer_gone(f, sizeof(f), key, reason);
	}
	queue_ctrl(w, c, f, n);
	if (reason == DERP_PEER_GONE_NOT_HERE)
		stat_add(&w->stats.peer_gone_not_here_frames, 1);
	else
		stat_add(&w->stats.peer_gone_disconnected_frames, 1);
}

static void queue_peer_present(struct worker *w, struct conn *c, const uint8_t key[KEY_LEN],
			       const struct peer_loc *loc)
{
	uint8_t f[DERP_FRAME_HDR_LEN + DERP_PEER_PRESENT_LEN];
	size_t n =
	    derp_build_peer_present(f, sizeof(f), key, loc->ip, loc->port, loc->present_flags);
	queue_ctrl(w, c, f, n);
}

static void queue_health(struct worker *w, struct conn *c, const char *text)
{
	uint8_t f[DERP_FRAME_HDR_LEN + 256];
	size_t n = derp_build_health(f, sizeof(f), text);
	if (n)
		queue_ctrl(w, c, f, n);
}

static struct conn *local_conn_of(struct worker *w, const struct peer_loc *loc)
{
	if (!loc || loc->worker != w->id)
		return NULL;
	struct conn *c = w->conns[loc->conn_id];
	if (!c || c->seq != loc->seq || c->closing)
		return NULL;
	return c;
}

/* The newest local connection of a key on this worker. */
static struct conn *local_active_conn(struct worker *w, const struct peer_entry *e)
{
	return local_conn_of(w, peer_entry_local_newest(e));
}

/* ---- registration events (applied by every worker to its replica) ---- */

static void tell_inactive(struct worker *w, const struct peer_loc *loc)
{
	struct conn *c = local_conn_of(w, loc);
	if (c && !c->told_inactive) {
		c->told_inactive = true;
		queue_health(w, c, HEALTH_DUP);
	}
}

/* The key's connections past limits.max_conns_per_key are closed, oldest first: say so, rarely. */
static void warn_key_limit(struct worker *w, const uint8_t key[KEY_LEN], uint32_t max)
{
	if (!log_due(&w->key_limit_warned_ns, w->now_ns, 10000000000ull))
		return;
	char nodekey[80];
	key_to_nodekey(key, nodekey);
	log_warn("worker %u: %s has more than limits.max_conns_per_key = %u connections: "
		 "closing its oldest (counted as closed, reason key_conn_limit)",
		 w->id, nodekey, max);
}

/*
 * limits.max_conns_per_key: a key keeps its newest connections; the older
 * ones are closed. Every worker sees every registration, so each closes its
 * own connections among the older ones and the owner of each one past the
 * limit closes it. derper has no such limit (and so nothing to tell the
 * client): the connection is just closed, as a client that reconnects
 * expects of an old connection.
 */
static void limit_conns_per_key(struct worker *w, struct peer_entry *e)
{
	uint32_t max = settings_u32(&w->relay->settings.max_conns_per_key);
	while (e->nlocs > max) {
		/* Oldest first; the locs past the limit are the first nlocs - max. */
		struct conn *victim = NULL;
		for (uint32_t i = 0; i < e->nlocs - max && !victim; i++)
			victim = local_conn_of(w, &e->locs[i]);
		if (!victim)
			return; /* the rest live on other workers, which close them */
		warn_key_limit(w, e->key, max);
		/* Removes one connection and leaves at least max (>= 1): e stays. */
		worker_conn_close(w, victim, CLOSE_KEY_CONN_LIMIT);
	}
}

static void apply_register(struct worker *w, const struct peer_event *ev)
{
	struct peer_entry *e = peer_table_get_or_add(&w->peers, ev->key);
	if (!e || peer_entry_add_loc(&w->peers, e, &ev->loc) < 0) {
		log_error("out of memory registering a peer");
		if (e && e->nlocs == 0)
			peer_table_remove(&w->peers, e);
		return;
	}
	/*
	 * Every local connection of a key but the active one has been told it
	 * lost. A registration can break that for two: the connection that was
	 * active until now, and the newcomer itself when a newer one registered
	 * first (on another worker, its REG overtaking this one).
	 */
	const struct peer_loc *active = peer_entry_active(e);
	if (e->nlocs >= 2)
		tell_inactive(w, &e->locs[e->nlocs - 2]);
	if (active->seq != ev->loc.seq)
		tell_inactive(w, &ev->loc);
	for (struct conn *wc = w->watchers; wc; wc = wc->watch_next)
		queue_peer_present(w, wc, ev->key, &ev->loc);
	limit_conns_per_key(w, e);
}

/*
 * The key has left the region: PeerGone to whoever heard from it, once
 * each, and the entry goes.
 */
static void peer_gone_to_senders(struct worker *w, struct peer_entry *e)
{
	peer_entry_compact_subs(&w->peers, e, worker_conn_sub_keep, w);
	for (uint32_t i = 0; i < e->nsubs; i++) {
		struct conn *c = worker_conn_get(w, e->subs[i].conn_id, e->subs[i].gen);
		if (c && !c->closing) {
			queue_peer_gone(w, c, e->key, DERP_PEER_GONE_DISCONNECTED);
			if (c->last_src_valid && memcmp(c->last_src, e->key, KEY_LEN) == 0)
				c->last_src_valid = false;
		}
	}
	peer_table_remove(&w->peers, e);
}

static void apply_unregister(struct worker *w, const struct peer_event *ev)
{
	struct peer_entry *e = peer_table_lookup(&w->peers, ev->key);
	if (!e || !peer_entry_remove_loc(&w->peers, e, ev->loc.seq))
		return;
	if (e->nlocs > 0) {
		/* A duplicate left: the newest remaining one is active again. */
		struct conn *now_active = local_conn_of(w, peer_entry_active(e));
		if (now_active && now_active->told_inactive) {
			now_active->told_inactive = false;
			queue_health(w, now_active, "");
		}
		return;
	}
	/* The key's last connection here is gone: mesh watchers hear of it. */
	for (struct conn *wc = w->watchers; wc; wc = wc->watch_next) {
		if (!wc->closing)
			queue_peer_gone(w, wc, ev->key, DERP_PEER_GONE_DISCONNECTED);
	}
	/*
	 * Still homed on a mesh peer (it moved, or is on two relays): it is
	 * still reachable in the region, so its senders are not told (derper's
	 * unregisterClient); packets now go to the peer.
	 */
	if (e->nremotes)
		return;
	peer_gone_to_senders(w, e);
}

/* derper's AddPacketForwarder: the first peer a key is seen on keeps its packets. */
static void apply_remote_register(struct worker *w, const struct peer_event *ev)
{
	struct peer_entry *e = peer_table_get_or_add(&w->peers, ev->key);
	if (!e || peer_entry_add_remote(e, ev->loc.worker) < 0) {
		log_error("out of memory registering a key homed on a mesh peer");
		if (e && e->nlocs == 0 && e->nremotes == 0)
			peer_table_remove(&w->peers, e);
	}
}

/*
 * derper's RemovePacketForwarder: gone from that peer. A key neither here
 * nor on another peer has left the region: its senders get PeerGone.
 */
static void apply_remote_unregister(struct worker *w, const struct peer_event *ev)
{
	struct peer_entry *e = peer_table_lookup(&w->peers, ev->key);
	if (!e || !peer_entry_remove_remote(e, ev->loc.worker))
		return;
	if (e->nlocs == 0 && e->nremotes == 0)
		peer_gone_to_senders(w, e);
}

/* Closes every connection of the key on this worker, however many. */
static void apply_close_peer(struct worker *w, const struct peer_event *ev)
{
	/*
	 * Newest first, looking the key up again after each close: a close
	 * removes the connection from the entry, and the last one frees it.
	 */
	for (;;) {
		struct peer_entry *e = peer_table_lookup(&w->peers, ev->key);
		struct conn *c = e ? local_active_conn(w, e) : NULL;
		if (!c)
			return;
		worker_conn_close(w, c, CLOSE_CLOSE_PEER);
	}
}

void session_apply_event(struct worker *w, uint32_t type, const struct peer_event *ev)
{
	switch (type) {
	case MSG_REG:
		apply_register(w, ev);
		break;
	case MSG_UNREG:
		apply_unregister(w, ev);
		break;
	case MSG_CLOSE_PEER:
		apply_close_peer(w, ev);
		break;
	case MSG_REMOTE_REG:
		apply_remote_register(w, ev);
		break;
	case MSG_REMOTE_UNREG:
		apply_remote_unregister(w, ev);
		break;
	}
}

/*
 * Sends a copy of an event to every other worker, then applies it here.
 * Copies first: applying can raise events of its own (a registration past
 * limits.max_conns_per_key closes connections here, even the newcomer
 * itself when newer ones registered first elsewhere), and the other
 * workers must see this REG before that UNREG, or they would keep a
 * connection that is gone.
 */
static void broadcast_event(struct worker *w, uint32_t type, const uint8_t key[KEY_LEN],
			    const struct peer_loc *loc)
{
	struct peer_event ev = { .loc = loc ? *loc : (struct peer_loc){ 0 } };
	memcpy(ev.key, key, KEY_LEN);
	for (uint16_t j = 0; j < w->relay->nworkers; j++) {
		if (j == w->id)
			continue;
		struct peer_event *copy = malloc(sizeof(*copy));
		if (!copy) {
			log_error("out of memory: worker %u misses a peer event", j);
			continue;
		}
		*copy = ev;
		worker_post(w, j, type, copy);
	}
	session_apply_event(w, type, &ev);
}

static struct peer_loc conn_loc(const struct worker *w, const struct conn *c)
{
	struct peer_loc loc = {
		.seq = c->seq,
		.worker = w->id,
		.present_flags = c->present_flags,
		.conn_id = c->id,
		.port = c->port,
		.hd_peer_id = c->hd_peer_id,
	};
	memcpy(loc.ip, c->ip, sizeof(loc.ip));
	return loc;
}

/* ---- connection lifecycle ---- */

/*
 * queue_policy codel: the kernel keeps at most CODEL_NOTSENT_LOWAT bytes not
 * yet sent on the socket; a send beyond that waits. Without it a socket to a
 * slow reader takes up to tcp_wmem's 4 MiB, a FIFO the relay cannot see or
 * manage, and the packets stand there instead of in the codel queue, where
 * their sojourn time would be seen. Best effort: an old kernel without it
 * just keeps the bigger buffer.
 */
#define CODEL_NOTSENT_LOWAT (128 * 1024)

static void limit_unsent(int fd)
{
	int lowat = CODEL_NOTSENT_LOWAT;
	setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
}

void session_accept(struct worker *w, struct handoff *h)
{
	struct ws_conn *ws = h->websocket ? ws_conn_new(&h->ws) : NULL;
	struct conn *c = ws || !h->websocket ? worker_conn_new(w, h->fd) : NULL;
	if (!c) {
		log_warn("worker %u: no room for a new connection; closing it", w->id);
		free(ws);
		SSL_free(h->ssl);
		close(h->fd);
		atomic_fetch_sub_explicit(&w->relay->conns_current, 1, memory_order_relaxed);
		free(h);
		return;
	}
	c->seq = h->seq;
	c->ssl = h->ssl;
	c->kernel_tls = h->kernel_tls;
	c->ws = ws;
	if (w->queue_codel)
		limit_unsent(c->fd);
	memcpy(c->key, h->client_key, KEY_LEN);
	memcpy(c->ip, h->remote_ip, sizeof(c->ip));
	c->port = h->remote_port;
	c->can_mesh = h->can_mesh;
	c->is_hd = h->is_hd;
	c->hd_peer_id = h->hd_peer_id;
	/* Before the first recv: how a rate-limited client is read differs (recv_ring.c). */
	recv_limit_start(w, c);
	recv_arm(w, c);
	c->present_flags = 0;
	if (h->can_mesh)
		c->present_flags |= DERP_PEER_PRESENT_IS_MESH_PEER;
	if (h->is_prober)
		c->present_flags |= DERP_PEER_PRESENT_IS_PROBER;
	if (h->not_ideal)
		c->present_flags |= DERP_PEER_PRESENT_NOT_IDEAL;
	if (!c->present_flags)
		c->present_flags = DERP_PEER_PRESENT_IS_REGULAR;
	c->keepalive_jitter_ns = (uint64_t)randombytes_uniform(5000) * 1000000ull;
	c->next_keepalive_ns =
	    w->now_ns + (uint64_t)settings_u32(&w->relay->settings.keepalive_ms) * 1000000ull +
	    c->keepalive_jitter_ns;
	c->not_here_tokens_ns = w->now_ns - NOT_HERE_BURST * NOT_HERE_PERIOD_NS;

	/* ServerInfo is the first frame the client gets after ServerKey. */
	queue_ctrl(w, c, h->server_info, h->server_info_len);
	struct peer_loc loc = conn_loc(w, c);
	broadcast_event(w, MSG_REG, c->key, &loc);
	stat_add(&w->stats.conns_accepted, 1);

	char nodekey[80];
	key_to_nodekey(c->key, nodekey);
	const char *kind = c->is_hd ? ", HD" : (c->can_mesh ? ", mesh peer" : "");
	log_debug("worker %u: %s connected (seq %lu%s)", w->id, nodekey, (unsigned long)c->seq,
		  kind);
	if (h->leftover_len)
		conn_recv_bytes(w, c, h->leftover, h->leftover_len);
	free(h);
}

void session_unregister(struct worker *w, struct conn *c)
{
	if (c->is_watcher) {
		struct conn **pp = &w->watchers;
		while (*pp && *pp != c)
			pp = &(*pp)->watch_next;
		if (*pp)
			*pp = c->watch_next;
		c->is_watcher = false;
	}
	if (c->preferred)
		stat_add(&w->stats.home_connections, (uint64_t)-1);
	struct peer_loc loc = conn_loc(w, c);
	broadcast_event(w, MSG_UNREG, c->key, &loc);
}

/* ---- packet routing ---- */

static bool not_here_allowed(struct worker *w, struct conn *c)
{
	/* Token bucket kept as a time: each token is one period of credit. */
	uint64_t floor = w->now_ns - NOT_HERE_BURST * NOT_HERE_PERIOD_NS;
	if (c->not_here_tokens_ns < floor)
		c->not_here_tokens_ns = floor;
	if (c->not_here_tokens_ns + NOT_HERE_PERIOD_NS > w->now_ns)
		return false;
	c->not_here_tokens_ns += NOT_HERE_PERIOD_NS;
	return true;
}

static void note_sub(struct worker *w, struct conn *dst, const uint8_t src[KEY_LEN])
{
	if (dst->last_src_valid && memcmp(dst->last_src, src, KEY_LEN) == 0)
		return;
	struct peer_entry *se = peer_table_lookup(&w->peers, src);
	if (!se)
		return; /* a forwarded packet's remote source: not tracked here */
	uint32_t max = settings_u32(&w->relay->settings.peer_gone_recipients);
	int rc = peer_entry_add_sub(&w->peers, se, dst->id, dst->gen, max, worker_conn_sub_keep, w);
	if (rc == -ENOSPC) {
		/*
		 * dst will not hear of src's departure. Remembered as the last
		 * source all the same, so that the packets that follow do not
		 * ask the full list again.
		 */
		stat_add(&w->stats.peer_gone_recipients_refused, 1);
	}
	if (rc == 0 || rc == -ENOSPC) {
		memcpy(dst->last_src, src, KEY_LEN);
		dst->last_src_valid = true;
	}
}

/*
 * The key of a data frame's sender: in DERP's RecvPacket, or behind the
 * peer id of HD's Recv. NULL when the id has no key (it always has one: ids
 * are given with their key and never taken back).
 */
static const uint8_t *frame_source_key(const struct worker *w, const struct conn *dst,
				       const struct pktbuf *pb)
{
	if (!dst->is_hd)
		return pb->frame + DERP_FRAME_HDR_LEN;
	uint16_t id =
	    (uint16_t)(pb->frame[HD_FRAME_HDR_LEN] << 8 | pb->frame[HD_FRAME_HDR_LEN + 1]);
	return hd_registry_key(w->relay->hd, id);
}

static void deliver_local(struct worker *w, struct conn *dst, struct pktbuf *pb)
{
	/* Whoever got packets from a key hears when it leaves (PeerGone), HD peers too. */
	const uint8_t *src = frame_source_key(w, dst, pb);
	if (src)
		note_sub(w, dst, src);
	sendq_push(w, dst, pb);
}

static void count_drop(struct worker *w, enum drop_reason why, bool disco, size_t bytes)
{
	enum drop_kind kind = disco ? DROP_KIND_DISCO : DROP_KIND_OTHER;
	stat_add(&w->stats.packets_dropped[why][kind], 1);
	stat_add(&w->stats.bytes_dropped[why][kind], bytes);
}

/* The pool's limit costs packets: say so, at most every 10 s per worker. */
static void warn_pool_full(struct worker *w)
{
	if (!log_due(&w->pool_warned_ns, w->now_ns, 10000000000ull))
		return;
	log_warn("worker %u: packet buffer pool at its limit (%llu MiB in use, "
		 "limits.buffer_pool_mb = %u): dropping packets, counted as no_buffer",
		 w->id, (unsigned long long)(w->pool.bytes_allocated >> 20),
		 settings_u32(&w->relay->settings.buffer_pool_mb));
}

/* A packet buffer from the pool, or NULL (warned) when it is exhausted. */
static struct pktbuf *packet_buf_alloc(struct worker *w, uint32_t frame_len)
{
	struct pktbuf *pb = pktbuf_alloc(&w->pool, frame_len);
	if (!pb && worker_drain_peer_rings(w)) {
		/* At the limit: buffers other workers have sent home may be waiting. */
		pb = pktbuf_alloc(&w->pool, frame_len);
	}
	if (!pb)
		warn_pool_full(w);
	return pb;
}

/*
 * The RecvPacket for a received packet, with the destination key in
 * pb->dst. In place where possible: the 37 bytes in front of the packet
 * (header and destination key of a SendPacket) become the RecvPacket's
 * header and source key, and the frame goes out from the receive buffer by
 * reference (recv_ring_ref says when that is allowed). Otherwise one copy
 * into a packet buffer. NULL when the pool is exhausted.
 */
static struct pktbuf *recv_packet_frame(struct worker *w, const uint8_t src[KEY_LEN],
					const uint8_t dst[KEY_LEN], const uint8_t *pkt,
					uint32_t len, bool in_place)
{
	uint32_t frame_len = DERP_FRAME_HDR_LEN + KEY_LEN + len;
	struct pktbuf *pb =
	    in_place ? recv_ring_ref(w, pkt - DERP_FRAME_HDR_LEN - KEY_LEN, frame_len) : NULL;
	if (pb) {
		/* dst lies in the bytes about to be overwritten: keep it first. */
		memcpy(pb->dst, dst, KEY_LEN);
		derp_recv_packet_in_place(pb->frame, src, len);
		stat_add(&w->stats.packets_inplace, 1);
		return pb;
	}
	pb = packet_buf_alloc(w, frame_len);
	if (!pb)
		return NULL;
	memcpy(pb->dst, dst, KEY_LEN);
	pb->len = (uint32_t)derp_build_recv_packet(pb->data, pb->cap, src, pkt, len);
	stat_add(&w->stats.packets_copied, 1);
	return pb;
}

/*
 * HD's Recv for a packet from HD peer src_id. In place when it came in an
 * HD Send: the 6 bytes in front of the packet (header and destination id)
 * become the Recv's header and source id, the same size. Otherwise a copy.
 */
static struct pktbuf *hd_recv_frame(struct worker *w, uint16_t src_id, const uint8_t dst[KEY_LEN],
				    const uint8_t *pkt, uint32_t len, bool in_place)
{
	uint32_t frame_len = HD_FRAME_HDR_LEN + 2 + len;
	struct pktbuf *pb =
	    in_place ? recv_ring_ref(w, pkt - HD_FRAME_HDR_LEN - 2, frame_len) : NULL;
	if (pb) {
		memcpy(pb->dst, dst, KEY_LEN);
		hd_build_routed_header(pb->frame, HD_FRAME_HDR_LEN + 2, HD_FRAME_RECV, 0, src_id,
				       len);
		stat_add(&w->stats.packets_inplace, 1);
		return pb;
	}
	pb = packet_buf_alloc(w, frame_len);
	if (!pb)
		return NULL;
	memcpy(pb->dst, dst, KEY_LEN);
	pb->len = (uint32_t)hd_build_routed(pb->data, pb->cap, HD_FRAME_RECV, 0, src_id, pkt, len);
	stat_add(&w->stats.packets_copied, 1);
	return pb;
}

static void route_packet(struct worker *w, struct conn *from, const uint8_t src[KEY_LEN],
			 const uint8_t dst[KEY_LEN], const uint8_t *pkt, uint32_t len,
			 bool forwarded)
{
	bool disco = derp_packet_is_disco(pkt, len);
	stat_add(&w->stats.packets_recv, 1);
	stat_add(&w->stats.bytes_recv, len);
	from->rx_packets++;
	from->rx_bytes += len;

	struct peer_entry *e = peer_table_lookup(&w->peers, dst);
	const struct peer_loc *loc = e ? peer_entry_active(e) : NULL;
	if (!loc && worker_drain_peer_rings(w)) {
		/*
		 * The rings were read at the start of this pass. A peer that
		 * registered on another worker since then has its REG waiting
		 * there, and the sender may already know of it (it saw the
		 * newcomer's first packet, or was told out of band): look once
		 * more before calling the destination unknown. Costs a few
		 * ring-index loads on a real miss.
		 */
		e = peer_table_lookup(&w->peers, dst);
		loc = e ? peer_entry_active(e) : NULL;
	}
	if (!loc && e && e->nremotes && !forwarded) {
		/*
		 * Not here but homed on a mesh peer. Only packets from our own
		 * clients go there: one that arrived forwarded is never
		 * forwarded again, so a region that disagrees about where a key
		 * is cannot loop a packet (derper delivers forwarded packets
		 * locally only, too).
		 */
		mesh_forward(w, e->remotes[0], src, dst, pkt, len, disco);
		return;
	}
	if (!loc) {
		count_drop(w, forwarded ? DROP_UNKNOWN_DEST_ON_FWD : DROP_UNKNOWN_DEST, disco, len);
		if (disco && not_here_allowed(w, from))
			queue_peer_gone(w, from, dst, DERP_PEER_GONE_NOT_HERE);
		return;
	}
	struct pktbuf *pb;
	if (loc->hd_peer_id) {
		/* An HD destination learns its sender by id: only HD peers have one. */
		if (!from->is_hd || forwarded) {
			count_drop(w, DROP_UNKNOWN_DEST, disco, len);
			return;
		}
		pb = hd_recv_frame(w, from->hd_peer_id, dst, pkt, len, true);
	} else {
		/* In place only over a SendPacket's own header and key. */
		pb = recv_packet_frame(w, src, dst, pkt, len, !from->is_hd);
	}
	if (!pb) {
		count_drop(w, DROP_NO_BUFFER, disco, len);
		return;
	}
	pb->kind = disco ? PKT_KIND_DISCO : PKT_KIND_DATA;
	if (loc->worker == w->id) {
		struct conn *dc = local_conn_of(w, loc);
		if (!dc) {
			count_drop(w, DROP_GONE_DISCONNECTED, disco, len);
			worker_release_buf(w, pb);
			return;
		}
		deliver_local(w, dc, pb);
		return;
	}
	pb->dst_seq = loc->seq;
	worker_post(w, loc->worker, MSG_PKT, pb);
}

/* A packet another worker routed to a connection of ours. */
void session_deliver_remote(struct worker *w, struct pktbuf *pb)
{
	struct peer_entry *e = peer_table_lookup(&w->peers, pb->dst);
	struct conn *dc = e ? local_active_conn(w, e) : NULL;
	if (!dc) {
		uint32_t hdr = pb->frame[0] == HD_FRAME_RECV ? HD_FRAME_HDR_LEN + 2
							     : DERP_FRAME_HDR_LEN + KEY_LEN;
		count_drop(w, DROP_GONE_DISCONNECTED, pb->kind == PKT_KIND_DISCO, pb->len - hdr);
		worker_release_buf(w, pb);
		return;
	}
	deliver_local(w, dc, pb);
}

/* ---- client frames ---- */

static void handle_watch_conns(struct worker *w, struct conn *c)
{
	if (memcmp(c->key, w->relay->server_pub, KEY_LEN) == 0)
		return; /* our own mesh client looped back: nothing to watch */
	if (c->is_watcher)
		return;
	uint32_t pos = 0;
	for (struct peer_entry *e; (e = peer_table_next(&w->peers, &pos));) {
		const struct peer_loc *loc = peer_entry_active(e);
		if (loc)
			queue_peer_present(w, c, e->key, loc);
	}
	c->is_watcher = true;
	c->watch_next = w->watchers;
	w->watchers = c;
}

int session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			 uint32_t len)
{
	stat_add(&w->stats.frames_recv[type <= 0x16 ? type : 0x16], 1);
	switch (type) {
	case DERP_FRAME_SEND_PACKET:
		route_packet(w, c, c->key, payload, payload + KEY_LEN, len - KEY_LEN, false);
		break;
	case DERP_FRAME_FORWARD_PACKET:
		stat_add(&w->stats.packets_forwarded_in, 1);
		mesh_count_in(w, c, len - 2 * KEY_LEN);
		route_packet(w, c, payload, payload + KEY_LEN, payload + 2 * KEY_LEN,
			     len - 2 * KEY_LEN, true);
		break;
	case DERP_FRAME_NOTE_PREFERRED: {
		bool pref = payload[0] != 0;
		if (pref != c->preferred)
			stat_add(&w->stats.home_connections, pref ? 1 : (uint64_t)-1);
		c->preferred = pref;
		break;
	}
	case DERP_FRAME_PING: {
		if (c->pong_pending) {
			/* derper keeps one Pong slot: a client pinging faster loses pings. */
			stat_add(&w->stats.pings_dropped, 1);
			break;
		}
		uint8_t f[DERP_FRAME_HDR_LEN + 8];
		size_t n = derp_build_pong(f, sizeof(f), payload);
		/* Taken before the push: a Pong the queue drops frees the slot again. */
		c->pong_pending = true; /* cleared when the Pong is written */
		if (!queue_ctrl(w, c, f, n))
			c->pong_pending = false;
		break;
	}
	case DERP_FRAME_WATCH_CONNS:
		handle_watch_conns(w, c);
		break;
	case DERP_FRAME_CLOSE_PEER:
		broadcast_event(w, MSG_CLOSE_PEER, payload, NULL);
		break;
	default:
		break;
	}
	return c->closing ? -1 : 0;
}

/* ---- timers and drain ---- */

void session_tick(struct worker *w, struct conn *c)
{
	if (c->closing)
		return;
	/* A mesh peer carries a whole relay's traffic: derper gives it longer. */
	uint32_t wt = c->can_mesh ? settings_u32(&w->relay->settings.mesh_write_timeout_ms)
				  : settings_u32(&w->relay->settings.write_timeout_ms);
	if (wt && c->inflight && w->now_ns - c->send_started_ns > (uint64_t)wt * 1000000ull) {
		char short_key[8];
		key_to_short(c->key, short_key);
		log_debug("conn %s: write stalled for over %u ms; closing", short_key, wt);
		worker_conn_close(w, c, CLOSE_WRITE_TIMEOUT);
		return;
	}
	sendq_trim(c, w->now_ns);
	if (w->now_ns >= c->next_keepalive_ns) {
		uint8_t f[DERP_FRAME_HDR_LEN];
		if (c->is_hd)
			hd_session_tick_keepalive(w, c);
		else
			queue_ctrl(w, c, f, derp_build_keep_alive(f, sizeof(f)));
		c->next_keepalive_ns =
		    w->now_ns +
		    (uint64_t)settings_u32(&w->relay->settings.keepalive_ms) * 1000000ull +
		    c->keepalive_jitter_ns;
	}
}

void session_drain(struct worker *w, struct conn *c)
{
	if (c->is_hd) {
		hd_session_drain(w, c);
		return;
	}
	uint8_t f[DERP_FRAME_HDR_LEN + 8];
	size_t n = derp_build_restarting(f, sizeof(f), RESTART_RECONNECT_MS, RESTART_TRY_FOR_MS);
	queue_ctrl(w, c, f, n);
}

/* ---- shared with hd_session.c ---- */

bool session_queue_ctrl(struct worker *w, struct conn *c, const uint8_t *frame, size_t len)
{
	return queue_ctrl(w, c, frame, len);
}

void session_route(struct worker *w, struct conn *from, const uint8_t dst[KEY_LEN],
		   const uint8_t *pkt, uint32_t len)
{
	route_packet(w, from, from->key, dst, pkt, len, false);
}

bool session_not_here_allowed(struct worker *w, struct conn *c)
{
	return not_here_allowed(w, c);
}
