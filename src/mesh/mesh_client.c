// SPDX-License-Identifier: MIT
/*
 * The outbound mesh: one thread per mesh.with entry, each a DERP client of
 * that relay with our server key and the mesh key, as derper's mesh client
 * is (cmd/derper/mesh.go, derphttp's RunWatchConnectionLoop):
 *
 *   dial, upgrade, handshake (ClientInfo with "meshKey"), WatchConns;
 *   PeerPresent(K): K is homed there: every worker learns it
 *       (MSG_REMOTE_REG) and sends K's packets there as ForwardPacket;
 *       its address and flags are kept for show mesh keys (mesh_keys.h);
 *   PeerGone(K): no longer (MSG_REMOTE_UNREG);
 *   the connection breaks: every key learnt on it is removed, the thread
 *       waits mesh.retry_ms and dials again; the peer's WatchConns answer
 *       then says again who is there;
 *   the address turns out to be this relay (its ServerKey is ours): it is
 *       skipped for good.
 *
 * Why a thread and not the slow path: see mesh_link.h.
 */
#include "mesh_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "derp_client.h"
#include "derp_frame.h"
#include "log.h"
#include "mesh_keys.h"
#include "mesh_link.h"
#include "pktbuf.h"
#include "worker.h"

/* The dial, TLS and DERP handshake together; also bounds how long a stop may wait. */
#define DIAL_TIMEOUT_MS 5000
/* The poll's longest sleep while connected (the stop flag comes with an eventfd write). */
#define IDLE_POLL_MS	 1000
#define MESH_KEEPALIVE_S 15
/* Room for several of the largest ForwardPackets (65,605 bytes each). */
#define OUT_CAP (256 * 1024)

struct mesh_client {
	struct relay *r;
	struct mesh_link *l;
	struct derp_client dc;
	char nodekey[80]; /* the peer's, for logs */
	/* The keys the peer said are homed there, with their PeerPresent data. */
	struct mesh_keys present;
	/* A Pong to send (one slot, like a server's). */
	uint8_t ctrl[DERP_FRAME_HDR_LEN + 8];
	uint32_t ctrl_len;
	/*
	 * Writing: frames are copied into out, as many as fit, and out goes in
	 * one write: one system call for many small ForwardPackets (a write
	 * per frame cost this thread more CPU than the worker spent routing
	 * them, perf/mesh.sh). Their buffers go home at once.
	 */
	uint8_t *out;
	uint32_t out_len, out_off;
	uint32_t out_frames; /* ForwardPackets in out, counted when out is written */
	uint64_t out_bytes;  /* their packet bytes */
	struct pktbuf *held; /* taken from a ring, did not fit in out */
	uint16_t next_ring;  /* round robin over the workers' rings */
	uint64_t stall_since_ns;
	bool dial_failed_logged;
	bool keys_full_logged; /* this connection hit mesh.max_keys */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool stopping(const struct mesh_client *mc)
{
	return atomic_load_explicit(&mc->l->stopping, memory_order_relaxed);
}

static void set_state(struct mesh_client *mc, enum mesh_link_state s)
{
	atomic_store_explicit(&mc->l->state, (int)s, memory_order_relaxed);
}

/*
 * A message for worker w. The link's ring to it is the only way: when full
 * (the worker is far behind), wait for room rather than lose a key's
 * registration or a buffer.
 */
static void post_to_worker(struct mesh_client *mc, uint16_t w, uint32_t type, void *ptr)
{
	struct spsc_msg m = { .type = type, .ptr = ptr };
	while (spsc_ring_enqueue(&mc->l->to_workers[w], &m) < 0) {
		worker_wake(mc->r->workers[w]);
		usleep(100);
	}
	worker_wake(mc->r->workers[w]);
}

/* Every worker learns that key is (or is no longer) homed on this link. */
static void post_key_event(struct mesh_client *mc, uint32_t type, const uint8_t key[KEY_LEN])
{
	for (uint16_t w = 0; w < mc->r->nworkers; w++) {
		struct peer_event *ev = calloc(1, sizeof(*ev));
		if (!ev) {
			log_error("mesh %s: out of memory: worker %u misses a key",
				  mc->l->target.text, w);
			continue;
		}
		memcpy(ev->key, key, KEY_LEN);
		ev->loc.worker = mc->l->index;
		post_to_worker(mc, w, type, ev);
	}
}

/* A buffer a worker handed us goes home to its pool. */
static void release(struct mesh_client *mc, struct pktbuf *pb)
{
	post_to_worker(mc, pb->owner, MSG_FREE, pb);
}

static struct pktbuf *next_frame(struct mesh_client *mc)
{
	uint16_t n = mc->r->nworkers;
	for (uint16_t i = 0; i < n; i++) {
		uint16_t w = (uint16_t)((mc->next_ring + i) % n);
		struct spsc_msg m;
		if (spsc_ring_dequeue_burst(&mc->l->from_workers[w], &m, 1) == 1) {
			mc->next_ring = (uint16_t)((w + 1) % n);
			return m.ptr;
		}
	}
	return NULL;
}

static bool frames_waiting(struct mesh_client *mc)
{
	for (uint16_t w = 0; w < mc->r->nworkers; w++) {
		if (spsc_ring_count(&mc->l->from_workers[w]))
			return true;
	}
	return false;
}

/* Frames that cannot be written (no connection): dropped, counted, buffers sent home. */
static void drop_waiting(struct mesh_client *mc)
{
	struct mesh_link_stats *st = &mc->l->stats;
	uint64_t n = mc->out_frames;
	if (mc->held) {
		n++;
		release(mc, mc->held);
		mc->held = NULL;
	}
	for (struct pktbuf *pb; (pb = next_frame(mc));) {
		n++;
		release(mc, pb);
	}
	if (n)
		mesh_stat_add_atomic(&st->unsent_drops, n);
	mc->out_len = mc->out_off = mc->out_frames = 0;
	mc->out_bytes = 0;
	mc->ctrl_len = 0;
}

/* derper's clear(): the connection is gone, so is everything it said. */
static void forget_keys(struct mesh_client *mc)
{
	uint32_t pos = 0, n = 0;
	/* This thread is the table's only writer: it reads it without the lock. */
	for (struct peer_entry *e; (e = peer_table_next(&mc->present.table, &pos));) {
		post_key_event(mc, MSG_REMOTE_UNREG, e->key);
		n++;
	}
	if (n)
		log_info("mesh %s: connection lost; %u keys no longer routed there",
			 mc->l->target.text, n);
	mesh_keys_clear(&mc->present);
	__atomic_store_n(&mc->l->stats.keys, 0, __ATOMIC_RELAXED);
}

/* ---- frames from the peer ---- */

static void on_peer_present(struct mesh_client *mc, const uint8_t *p, uint32_t len)
{
	if (len < KEY_LEN)
		return;
	mesh_stat_add_atomic(&mc->l->stats.peer_present, 1);
	uint32_t max = settings_u32(&mc->r->settings.mesh_max_keys);
	int rc = mesh_keys_present(&mc->present, p, len, max);
	if (rc == -ENOSPC) {
		mesh_stat_add_atomic(&mc->l->stats.keys_refused, 1);
		/* Once per connection: a peer past the bound sends many. */
		if (!mc->keys_full_logged)
			log_warn("mesh %s: %u keys homed there (mesh.max_keys); new ones are "
				 "not routed there",
				 mc->l->target.text, max);
		mc->keys_full_logged = true;
		return;
	}
	if (rc < 0) {
		if (rc == -ENOMEM)
			log_error("mesh %s: out of memory: a key is not routed there",
				  mc->l->target.text);
		return;
	}
	/* A repeat (one per connection of the key) updated its data; derper routes as before. */
	if (rc == 0)
		return;
	__atomic_store_n(&mc->l->stats.keys, mesh_keys_count(&mc->present), __ATOMIC_RELAXED);
	post_key_event(mc, MSG_REMOTE_REG, p);
}

static void on_peer_gone(struct mesh_client *mc, const uint8_t *p, uint32_t len)
{
	if (len < KEY_LEN)
		return;
	mesh_stat_add_atomic(&mc->l->stats.peer_gone, 1);
	if (!mesh_keys_gone(&mc->present, p))
		return; /* never announced here: nothing routed there to undo */
	__atomic_store_n(&mc->l->stats.keys, mesh_keys_count(&mc->present), __ATOMIC_RELAXED);
	post_key_event(mc, MSG_REMOTE_UNREG, p);
}

/* Returns -1 when the connection is done (EOF or error). */
static int read_frames(struct mesh_client *mc)
{
	for (;;) {
		uint8_t type;
		const uint8_t *p;
		uint32_t len;
		int rc = derp_client_read_frame(&mc->dc, 0, &type, &p, &len);
		if (rc <= 0) {
			if (rc < 0)
				log_info("mesh %s: %s", mc->l->target.text,
					 errno ? strerror(errno) : "closed by the peer");
			return rc;
		}
		switch (type) {
		case DERP_FRAME_PEER_PRESENT:
			on_peer_present(mc, p, len);
			break;
		case DERP_FRAME_PEER_GONE:
			on_peer_gone(mc, p, len);
			break;
		case DERP_FRAME_PING:
			/* One Pong slot, like a server's: a newer Ping replaces an unsent one. */
			if (len == 8)
				mc->ctrl_len =
				    (uint32_t)derp_build_pong(mc->ctrl, sizeof(mc->ctrl), p);
			break;
		default:
			break; /* KeepAlive, Health, Restarting, ...: the connection's end says
				  enough */
		}
	}
}

/* ---- writing ---- */

/* Writes what the socket takes. Returns 1 if it would block, 0 when all is written, -1 on error. */
static int write_some(struct mesh_client *mc, const uint8_t *buf, uint32_t len, uint32_t *off)
{
	while (*off < len) {
		ssize_t n = derp_client_send_some(&mc->dc, buf + *off, len - *off);
		if (n > 0) {
			*off += (uint32_t)n;
			mc->stall_since_ns = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 1;
		log_info("mesh %s: write: %s", mc->l->target.text,
			 n < 0 ? strerror(errno) : "closed");
		return -1;
	}
	return 0;
}

/* Copies the Pong and as many frames as fit into out (which is empty). */
static void fill_out(struct mesh_client *mc)
{
	if (mc->ctrl_len) {
		memcpy(mc->out, mc->ctrl, mc->ctrl_len);
		mc->out_len = mc->ctrl_len;
		mc->ctrl_len = 0;
	}
	for (;;) {
		struct pktbuf *pb = mc->held ? mc->held : next_frame(mc);
		mc->held = NULL;
		if (!pb)
			return;
		if (pb->len > OUT_CAP - mc->out_len) {
			mc->held = pb; /* first of the next write */
			return;
		}
		memcpy(mc->out + mc->out_len, pb->frame, pb->len);
		mc->out_len += pb->len;
		mc->out_frames++;
		mc->out_bytes += pb->len - DERP_FRAME_HDR_LEN - 2 * KEY_LEN;
		release(mc, pb);
	}
}

/* Returns 1 if a write waits for the socket, 0 when nothing is left, -1 on error. */
static int write_frames(struct mesh_client *mc)
{
	struct mesh_link_stats *st = &mc->l->stats;
	for (;;) {
		if (mc->out_off == mc->out_len) {
			if (mc->out_frames) {
				mesh_stat_add_atomic(&st->fwd_out_packets, mc->out_frames);
				mesh_stat_add_atomic(&st->fwd_out_bytes, mc->out_bytes);
			}
			mc->out_len = mc->out_off = mc->out_frames = 0;
			mc->out_bytes = 0;
			fill_out(mc);
			if (!mc->out_len)
				return 0;
		}
		int rc = write_some(mc, mc->out, mc->out_len, &mc->out_off);
		if (rc)
			return rc;
	}
}

static void drain_eventfd(struct mesh_client *mc)
{
	uint64_t v;
	ssize_t rc = read(mc->l->event_fd, &v, sizeof(v));
	(void)rc;
}

/*
 * Sleeps in poll until the socket (want), the eventfd or timeout_ms. The
 * workers write the eventfd only while we say we sleep (mesh_link_wake).
 */
static int sleep_poll(struct mesh_client *mc, int fd, short want, int timeout_ms)
{
	struct mesh_link *l = mc->l;
	struct pollfd pfd[2] = { { .fd = l->event_fd, .events = POLLIN },
				 { .fd = fd, .events = want } };
	atomic_store_explicit(&l->wake_sent, false, memory_order_relaxed);
	atomic_store_explicit(&l->sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if ((frames_waiting(mc) || mc->held) && mc->out_off == mc->out_len)
		timeout_ms = 0;
	int rc = poll(pfd, fd >= 0 ? 2 : 1, timeout_ms);
	atomic_store_explicit(&l->sleeping, false, memory_order_relaxed);
	if (rc > 0 && (pfd[0].revents & POLLIN))
		drain_eventfd(mc);
	return rc;
}

/* ---- one connection ---- */

/* Until the connection breaks or the thread stops. */
static void run_connected(struct mesh_client *mc)
{
	const struct relay_settings *set = &mc->r->settings;
	for (;;) {
		if (stopping(mc))
			return;
		if (read_frames(mc) < 0)
			return;
		int wrc = write_frames(mc);
		if (wrc < 0)
			return;
		int timeout = IDLE_POLL_MS;
		short want = POLLIN;
		if (wrc == 1) {
			/* A stalled write: mesh.write_timeout_ms, as derper's 30 s for mesh peers.
			 */
			uint64_t now = now_ns();
			uint32_t wt = settings_u32(&set->mesh_write_timeout_ms);
			if (!mc->stall_since_ns)
				mc->stall_since_ns = now;
			uint64_t stalled_ms = (now - mc->stall_since_ns) / 1000000ull;
			if (wt && stalled_ms >= wt) {
				mesh_stat_add_atomic(&mc->l->stats.write_timeouts, 1);
				log_warn(
				    "mesh %s: a write stalled for %u ms (mesh.write_timeout_ms); "
				    "closing",
				    mc->l->target.text, wt);
				return;
			}
			if (wt && wt - stalled_ms < (uint64_t)timeout)
				timeout = (int)(wt - stalled_ms);
			want |= mc->dc.io_wait;
		}
		/* TLS may want the socket writable even to read (and the reverse). */
		if (mc->dc.ssl)
			want |= mc->dc.io_wait;
		sleep_poll(mc, mc->dc.fd, want, timeout);
	}
}

/*
 * TCP keepalive as Go's net.Dialer sets it on derper's mesh connections
 * (15 s idle, 15 s between probes): a peer that vanished while nothing was
 * being forwarded is noticed, and its keys dropped, without a write to stall.
 */
static void keep_alive(int fd)
{
	int on = 1, secs = MESH_KEEPALIVE_S;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof(secs));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &secs, sizeof(secs));
}

static int dial(struct mesh_client *mc)
{
	const struct relay_settings *set = &mc->r->settings;
	const struct mesh_target *t = &mc->l->target;
	struct derp_client_opts o = {
		.mesh_key = mc->r->mesh_key,
		.private_key = mc->r->server_priv,
		.timeout_ms = DIAL_TIMEOUT_MS,
		.tls = t->tls,
		.tls_ca_file = set->mesh_ca_file[0] ? set->mesh_ca_file : NULL,
		/* The mesh key goes to whoever holds the server key: know who that is. */
		.tls_verify = true,
	};
	char err[512];
	set_state(mc, MESH_LINK_DIALING);
	if (derp_client_connect(&mc->dc, t->host, t->port, &o, err, sizeof(err)) < 0) {
		mesh_stat_add_atomic(&mc->l->stats.dial_failures, 1);
		/* Once per outage at warn; a peer that stays down does not flood the log. */
		if (!mc->dial_failed_logged)
			log_warn("mesh %s: %s (retrying every %u ms)", t->text, err,
				 settings_u32(&set->mesh_retry_ms));
		else
			log_debug("mesh %s: %s", t->text, err);
		mc->dial_failed_logged = true;
		return -1;
	}
	mc->dial_failed_logged = false;
	keep_alive(mc->dc.fd);
	return 0;
}

/* Waits mesh.retry_ms; frames the workers still send (a race with the unregistering) are dropped.
 */
static void wait_retry(struct mesh_client *mc)
{
	uint64_t until =
	    now_ns() + (uint64_t)settings_u32(&mc->r->settings.mesh_retry_ms) * 1000000ull;
	for (;;) {
		drop_waiting(mc);
		uint64_t now = now_ns();
		if (stopping(mc) || now >= until)
			return;
		uint64_t left_ms = (until - now + 999999) / 1000000ull;
		sleep_poll(mc, -1, 0, left_ms > IDLE_POLL_MS ? IDLE_POLL_MS : (int)left_ms);
	}
}

/* The address is this relay: nothing to do but hold the thread until the stop. */
static void idle_until_stop(struct mesh_client *mc)
{
	while (!stopping(mc)) {
		drop_waiting(mc);
		sleep_poll(mc, -1, 0, IDLE_POLL_MS);
	}
}

/* The peer's key: first seen here; a relay with a new key is logged, its first kept for counting.
 */
static void note_server_key(struct mesh_client *mc)
{
	struct mesh_link *l = mc->l;
	key_to_nodekey(mc->dc.server_pub, mc->nodekey);
	if (!atomic_load_explicit(&l->key_known, memory_order_relaxed)) {
		memcpy(l->server_key, mc->dc.server_pub, KEY_LEN);
		atomic_store_explicit(&l->key_known, true, memory_order_release);
	} else if (memcmp(l->server_key, mc->dc.server_pub, KEY_LEN) != 0) {
		log_warn("mesh %s: the relay there has a new key %s", l->target.text, mc->nodekey);
	}
}

static void *mesh_client_main(void *arg)
{
	struct mesh_client *mc = arg;
	struct mesh_link *l = mc->l;
	char role[16];
	snprintf(role, sizeof(role), "mesh%u", l->index);
	log_set_thread_role(role);
	while (!stopping(mc)) {
		if (dial(mc) < 0) {
			set_state(mc, MESH_LINK_WAITING);
			wait_retry(mc);
			continue;
		}
		if (memcmp(mc->dc.server_pub, mc->r->server_pub, KEY_LEN) == 0) {
			/* derper: "detected self-connect; ignoring host". */
			log_info("mesh %s: that is this relay; skipped", l->target.text);
			derp_client_close(&mc->dc);
			set_state(mc, MESH_LINK_SELF);
			idle_until_stop(mc);
			break;
		}
		note_server_key(mc);
		uint8_t f[DERP_FRAME_HDR_LEN];
		size_t n = derp_build_watch_conns(f, sizeof(f));
		if (derp_client_write_all(&mc->dc, f, n) < 0) {
			log_info("mesh %s: sending WatchConns: %s", l->target.text,
				 strerror(errno));
			derp_client_close(&mc->dc);
			mesh_stat_add_atomic(&l->stats.dial_failures, 1);
			set_state(mc, MESH_LINK_WAITING);
			wait_retry(mc);
			continue;
		}
		mesh_stat_add_atomic(&l->stats.connects, 1);
		set_state(mc, MESH_LINK_CONNECTED);
		log_info("mesh %s: connected to %s, watching its clients", l->target.text,
			 mc->nodekey);
		mc->stall_since_ns = 0;
		mc->keys_full_logged = false;
		run_connected(mc);
		forget_keys(mc);
		drop_waiting(mc);
		derp_client_close(&mc->dc);
		if (stopping(mc))
			break;
		mesh_stat_add_atomic(&l->stats.reconnects, 1);
		set_state(mc, MESH_LINK_WAITING);
		wait_retry(mc);
	}
	return NULL;
}

static struct mesh_client **clients;
/* Clients started, published after their entry: the management thread reads them. */
static _Atomic uint16_t nclients;

int mesh_start(struct relay *r)
{
	if (!r->nlinks)
		return 0;
	if (!r->has_mesh_key) {
		/* derper: "--mesh-with requires --mesh-psk-file". */
		log_error(
		    "mesh.with needs server.mesh_key_file: mesh peers prove themselves with it");
		return -1;
	}
	clients = calloc(r->nlinks, sizeof(*clients));
	if (!clients)
		return -1;
	for (uint16_t i = 0; i < r->nlinks; i++) {
		struct mesh_client *mc = calloc(1, sizeof(*mc));
		if (mc)
			mc->out = malloc(OUT_CAP);
		if (!mc || !mc->out || mesh_keys_init(&mc->present, r->hash_key, i) < 0) {
			if (mc)
				free(mc->out);
			free(mc);
			log_error("mesh: out of memory");
			return -1;
		}
		mc->r = r;
		mc->l = &r->links[i];
		clients[i] = mc;
		int rc = pthread_create(&mc->l->thread, NULL, mesh_client_main, mc);
		if (rc) {
			log_error("mesh: pthread_create: %s", strerror(rc));
			return -1;
		}
		mc->l->started = true;
		atomic_store_explicit(&nclients, (uint16_t)(i + 1), memory_order_release);
		log_info("mesh: dialling %s (%s)", mc->l->target.text,
			 mc->l->target.tls ? "TLS" : "plain HTTP");
	}
	return 0;
}

void mesh_stop(struct relay *r)
{
	if (!clients)
		return;
	for (uint16_t i = 0; i < r->nlinks; i++) {
		struct mesh_link *l = &r->links[i];
		atomic_store_explicit(&l->stopping, true, memory_order_relaxed);
		uint64_t one = 1;
		ssize_t rc = write(l->event_fd, &one, sizeof(one));
		(void)rc;
	}
	for (uint16_t i = 0; i < r->nlinks; i++) {
		struct mesh_client *mc = clients[i];
		if (!mc)
			continue;
		if (r->links[i].started)
			pthread_join(r->links[i].thread, NULL);
		mesh_keys_destroy(&mc->present);
		free(mc->out);
		free(mc);
	}
	free(clients);
	clients = NULL;
	atomic_store_explicit(&nclients, 0, memory_order_relaxed);
}

int mesh_keys_snapshot(int link, struct mesh_key_info **out, size_t *n)
{
	size_t cap = 0;
	*out = NULL;
	*n = 0;
	uint16_t started = atomic_load_explicit(&nclients, memory_order_acquire);
	for (uint16_t i = 0; i < started; i++) {
		if (link >= 0 && i != link)
			continue;
		if (clients[i] && mesh_keys_copy(&clients[i]->present, out, n, &cap) < 0) {
			free(*out);
			*out = NULL;
			*n = 0;
			return -1;
		}
	}
	return 0;
}
