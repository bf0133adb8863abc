// SPDX-License-Identifier: MIT
/*
 * The WireGuard relay's control plane: picks the forwarding mode (XDP, then
 * AF_XDP, then the socket, falling back with the reason logged), owns the
 * table and its file, and turns every accepted change into new routes for
 * the dataplane thread.
 */
#include "wg_relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wg_ifqueues.h"
#include "wg_queues.h"
#include "wg_route.h"
#include "wg_text.h"
#include "wg_worker.h"
#include "wg_xdp.h"
#include "port_xsk.h"
#ifdef HD_WG_DPDK
#include "wg_dpdk.h"
#endif

#define UPDATE_WAIT_MS 2000

const char *const wg_counter_names[WG_CNT_COUNT] = {
	[WG_CNT_DROP_UNKNOWN_SOURCE] = "drop_unknown_source",
	[WG_CNT_DROP_MALFORMED] = "drop_malformed",
	[WG_CNT_DROP_NO_LINK] = "drop_no_link",
	[WG_CNT_DROP_NO_ROUTE] = "drop_no_route",
	[WG_CNT_DROP_HANDSHAKE_RATE] = "drop_handshake_rate",
	[WG_CNT_DROP_BAD_MAC1] = "drop_bad_mac1",
	[WG_CNT_DROP_INDEX_TAKEN] = "drop_index_taken",
	[WG_CNT_DROP_UNMATCHED_RESPONSE] = "drop_unmatched_response",
	[WG_CNT_DROP_INDEX_FULL] = "drop_index_full",
	[WG_CNT_DROP_BLOCKED] = "drop_blocked",
	[WG_CNT_DROP_TX_ERROR] = "drop_tx_error",
	[WG_CNT_XDP_TX] = "xdp_tx",
	[WG_CNT_XDP_REDIRECT] = "xdp_redirect",
	[WG_CNT_TO_XSK] = "to_xsk",
	[WG_CNT_TO_STACK] = "to_stack",
	[WG_CNT_USER_FORWARD] = "user_forward",
	[WG_CNT_INDEX_EVICTED] = "index_evicted",
	[WG_CNT_ROAMED] = "roamed",
	[WG_CNT_SOURCES_BLOCKED] = "sources_blocked",
	[WG_CNT_SOURCES_UNTRACKED] = "sources_untracked",
};

struct wg_relay {
	pthread_mutex_t lock; /* control calls, one at a time */
	char table_file[PATH_MAX];
	struct wg_table table;
	uint32_t slot_gen[WG_MAX_PEERS];
	uint32_t next_gen;
	char mode[256];
	struct wg_queue_spec queues; /* wireguard.queues */
	uint32_t want_workers;	     /* wireguard.workers; 0 = one per queue number, per CPU */
	char ifnames[WG_MAX_IFACES][16];
	/* Every port, whichever worker owns it; closed after the workers stop. */
	struct port *ports[WG_MAX_PORTS];
	int nports;
	/* workers[0] is the leader: the mode is chosen on it, the others copy it. */
	struct wg_worker *workers[WG_MAX_WORKERS];
	int nworkers;
	struct wg_index *index; /* learned receiver indices, shared by the workers */
	struct wg_sources *sources; /* unknown sources and the blocklist, likewise */
	/* Roams the workers saw, applied to the table by roam_thread . */
	pthread_t roam_thread;
	bool roam_started;
	pthread_mutex_t roam_lock;
	pthread_cond_t roam_cond;
	struct roam_request {
		int slot;
		struct wg_endpoint ep;
	} roam_queue[8];
	int roam_n;
	bool roam_stop;
	_Atomic uint64_t roamed;
};

static void log_queues(const struct wg_relay *r);

/* ---- mode selection ---- */

static int split_interfaces(const char *list, char names[WG_MAX_IFACES][16], char *err,
			    size_t errlen)
{
	char buf[128];
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", list ? list : "");
	for (char *tok = strtok(buf, ", "); tok; tok = strtok(NULL, ", ")) {
		if (n == WG_MAX_IFACES)
			return wg_err(err, errlen, "more than %d interfaces", WG_MAX_IFACES);
		if (strlen(tok) >= 16)
			return wg_err(err, errlen, "interface name \"%s\" is too long", tok);
		snprintf(names[n++], 16, "%s", tok);
	}
	return n;
}

static void close_ports(struct wg_relay *r)
{
	for (int i = 0; i < r->nports; i++)
		r->ports[i]->ops->close(r->ports[i]);
	r->nports = 0;
	for (int i = 0; i < r->nworkers; i++)
		r->workers[i]->nports = r->workers[i]->ntx = 0;
}

/*
 * Opens one XSK per (interface, queue) that wireguard.queues picks and
 * registers each at its queue's XSKMAP key; all or none. Each XSK has its
 * own UMEM: a shared UMEM per interface would put one fill and completion
 * ring pair in front of sockets that different workers own, which needs a
 * lock or a per-queue split of the frames anyway; with copy mode a frame
 * that crosses ports is copied once more, which copy mode does regardless.
 */
static int open_xsks(struct wg_relay *r, char names[][16], int n, char *err, size_t errlen)
{
	struct wg_xdp *xdp = r->workers[0]->xdp;

	for (int i = 0; i < n; i++) {
		int ifindex = wg_xdp_ifindex(xdp, i);
		uint64_t mask;
		if (wg_ifqueues_pick(&r->queues, names[i], &mask, err, errlen) < 0)
			goto fail;
		for (uint16_t q = 0; q < WG_MAX_QUEUES; q++) {
			if (!(mask & (1ull << q)))
				continue;
			struct port *port = port_xsk_open(ifindex, names[i], q, err, errlen);
			if (!port)
				goto fail;
			r->ports[r->nports++] = port;
			if (wg_xdp_add_xsk(xdp, ifindex, q, port->ops->fd(port)) < 0) {
				wg_err(err, errlen,
				       "%s queue %u: cannot register the AF_XDP socket", names[i],
				       q);
				goto fail;
			}
		}
	}
	return 0;
fail:
	close_ports(r);
	return -1;
}

/* ---- workers ---- */

/* The CPUs this thread may run on, in order; how many. */
static int allowed_cpus(int *cpus, int cap)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < cap; c++) {
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	}
	return n;
}

/*
 * Deals the ports to the workers. Queue number q goes to the worker of its
 * rank among the queue numbers in use, modulo the workers, on every
 * interface alike: the worker that owns queue q of eth0 owns queue q of
 * eth1 as well, so it has a TX ring of its own on each interface to send
 * what it receives. Without the XDP index map (socket, DPDK) there is no
 * table the workers could share: one worker then.
 */
static int make_workers(struct wg_relay *r, char *err, size_t errlen)
{
	struct wg_worker *lead = r->workers[0];
	uint64_t used = 0;
	int cpus[WG_MAX_WORKERS], ncpus = allowed_cpus(cpus, WG_MAX_WORKERS);

	for (int i = 0; i < r->nports; i++)
		used |= 1ull << r->ports[i]->queue;
	int nq = __builtin_popcountll(used), n = 1;
	if (lead->xdp && nq > 1) {
		/* By default a worker per queue number, no more than the CPUs we may use. */
		n = r->want_workers ? (int)r->want_workers : (ncpus > 0 ? ncpus : 1);
		n = n < nq ? n : nq;
		n = n < WG_MAX_WORKERS ? n : WG_MAX_WORKERS;
	}
	for (int k = 1; k < n; k++) {
		struct wg_worker *w = calloc(1, sizeof(*w));
		if (!w)
			return wg_err(err, errlen, "wireguard: out of memory");
		w->id = k;
		w->mode = lead->mode;
		w->port = lead->port;
		w->sock_fd = lead->sock_fd;
		w->sock_v4 = lead->sock_v4;
		w->xdp = lead->xdp;
		w->index = lead->index;
		w->sources = lead->sources;
		w->on_roam = lead->on_roam;
		w->roam_ctx = lead->roam_ctx;
		r->workers[r->nworkers++] = w;
	}
	for (int i = 0; i < r->nports; i++) {
		struct port *p = r->ports[i];
		int rank = __builtin_popcountll(used & ((1ull << p->queue) - 1));
		struct wg_worker *w = r->workers[rank % n];
		w->ports[w->nports++] = p;
		bool has_tx = false;
		for (int t = 0; t < w->ntx; t++)
			has_tx |= w->tx_ports[t]->ifindex == p->ifindex;
		if (!has_tx)
			w->tx_ports[w->ntx++] = p;
	}
	/* Pinned one per CPU, like the DERP workers; a lone worker floats, as it always did. */
	for (int k = 0; k < n; k++)
		r->workers[k]->cpu = n > 1 && ncpus > 0 ? cpus[k % ncpus] : -1;
	return 0;
}

static void stop_workers(struct wg_relay *r, int started)
{
	for (int k = 0; k < started; k++)
		wg_worker_stop(r->workers[k]);
}

static void free_workers(struct wg_relay *r)
{
	for (int k = 0; k < r->nworkers; k++)
		free(r->workers[k]);
	r->nworkers = 0;
}

/*
 * dpdk: DPDK owns queue 0 of every interface (its net_af_xdp PMD holds the
 * XDP slot, with a filter that passes it only the relay's datagrams), and
 * every relay datagram is routed in userspace by the port loop. The XDP fast
 * path is not attached: the two cannot share an interface. If DPDK cannot
 * start, the socket takes over, as for afxdp.
 */
static void choose_dpdk(struct wg_relay *r, char names[][16], int n, char *why, size_t whylen)
{
#ifdef HD_WG_DPDK
	struct wg_worker *w = r->workers[0];
	char ifs[96] = "";

	if (n > 0 && wg_dpdk_open(names, n, ntohs(w->port), r->ports, why, whylen) == 0) {
		r->nports = n;
		w->mode = WG_MODE_DPDK;
		/* The PMD is set up with queue_count=1 here: more queues are future work. */
		for (int i = 0; i < n; i++) {
			if (r->queues.all ? wg_ifqueues_count(names[i]) > 1 : r->queues.mask != 1)
				log_warn("wg: dpdk mode binds queue 0 of %s only; wireguard.queues "
					 "is not applied, traffic on other queues goes to the "
					 "kernel and the socket",
					 names[i]);
		}
		for (int i = 0; i < n; i++)
			snprintf(ifs + strlen(ifs), sizeof(ifs) - strlen(ifs), "%s%s", i ? "," : "",
				 names[i]);
		snprintf(r->mode, sizeof(r->mode), "dpdk (net_af_xdp, busy polling) on %s", ifs);
		return;
	}
#else
	(void)names, (void)n;
	snprintf(why, whylen, "built without DPDK (meson -Ddpdk=enabled)");
#endif
	snprintf(r->mode, sizeof(r->mode), "socket (dpdk unavailable: %.100s)", why);
}

/*
 * auto and xdp: XDP forwards, XSKs take the rest (or the stack, if XSKs
 * fail). afxdp: XDP hands everything to the XSKs. Whatever fails falls back
 * one step, with the reason kept in the mode line.
 */
static void choose_mode(struct wg_relay *r, const struct wg_relay_options *opt)
{
	struct wg_worker *w = r->workers[0];
	char(*names)[16] = r->ifnames;
	char why[256] = "";
	int n = split_interfaces(opt->interfaces, names, why, sizeof(why));
	bool want_afxdp = strcmp(opt->mode, "afxdp") == 0;

	w->mode = WG_MODE_SOCKET;
	if (strcmp(opt->mode, "socket") == 0) {
		snprintf(r->mode, sizeof(r->mode), "socket");
		return;
	}
	if (n == 0)
		snprintf(why, sizeof(why), "no wireguard.interface set");
	if (strcmp(opt->mode, "dpdk") == 0) {
		choose_dpdk(r, names, n, why, sizeof(why));
		return;
	}
	if (n > 0)
		w->xdp =
		    wg_xdp_open(names, n, w->port, want_afxdp ? WG_XDP_ALL_TO_XSK : WG_XDP_FORWARD,
				why, sizeof(why));
	if (!w->xdp) {
		snprintf(r->mode, sizeof(r->mode), "socket (%s unavailable: %.100s)",
			 want_afxdp ? "afxdp" : "xdp", why);
		return;
	}
	char ifs[96] = "";
	for (int i = 0; i < n; i++)
		snprintf(ifs + strlen(ifs), sizeof(ifs) - strlen(ifs), "%s%s", i ? "," : "",
			 names[i]);
	if (open_xsks(r, names, n, why, sizeof(why)) == 0) {
		wg_xdp_set_xsk_ready(w->xdp, true);
		w->mode = want_afxdp ? WG_MODE_AFXDP : WG_MODE_XDP;
		snprintf(r->mode, sizeof(r->mode), "%s (%s) on %s, af_xdp copy mode",
			 want_afxdp ? "afxdp" : "xdp", wg_xdp_attach_mode(w->xdp), ifs);
		return;
	}
	if (want_afxdp) {
		/* Without XSKs, AF_XDP mode has nothing to hand frames to. */
		wg_xdp_close(w->xdp);
		w->xdp = NULL;
		snprintf(r->mode, sizeof(r->mode), "socket (afxdp unavailable: %.100s)", why);
		return;
	}
	w->mode = WG_MODE_XDP;
	snprintf(r->mode, sizeof(r->mode),
		 "xdp (%s) on %s, no af_xdp (%.60s): the rest goes to the socket",
		 wg_xdp_attach_mode(w->xdp), ifs, why);
}

/* ---- publishing ---- */

static int publish(struct wg_relay *r)
{
	struct wg_routes *routes = wg_routes_build(&r->table);

	if (!routes)
		return -1;
	for (int i = 0; i < WG_MAX_PEERS; i++)
		routes->peers[i].gen = r->slot_gen[i];
	/* Each worker owns a copy; the last one gets the original. */
	int rc = 0;
	for (int k = r->nworkers - 1; k >= 0; k--) {
		struct wg_routes *copy = routes;
		if (k > 0) {
			copy = malloc(sizeof(*copy));
			if (!copy) {
				rc = -1;
				continue;
			}
			memcpy(copy, routes, sizeof(*copy));
		}
		if (wg_worker_update(r->workers[k], copy, UPDATE_WAIT_MS) < 0)
			rc = -1;
	}
	if (rc < 0)
		log_warn("wg: the dataplane took more than %d ms to apply the table",
			 UPDATE_WAIT_MS);
	return rc;
}

static void make_parent_dir(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST)
		log_warn("wg: cannot create the directory of %s: %s", path, strerror(errno));
}

/* ---- roaming ---- */

/*
 * Called by a worker whose roam just completed: queued, never waited on (the
 * table change waits for the workers). A full queue drops the request; the
 * peer's next handshake offers it again.
 */
static void on_roam(void *ctx, int slot, const struct wg_endpoint *ep)
{
	struct wg_relay *r = ctx;

	pthread_mutex_lock(&r->roam_lock);
	int i = 0;
	while (i < r->roam_n && r->roam_queue[i].slot != slot)
		i++;
	if (i < (int)(sizeof(r->roam_queue) / sizeof(r->roam_queue[0]))) {
		r->roam_queue[i] = (struct roam_request){ .slot = slot, .ep = *ep };
		if (i == r->roam_n)
			r->roam_n++;
		pthread_cond_signal(&r->roam_cond);
	}
	pthread_mutex_unlock(&r->roam_lock);
}

/* Moves a peer to the endpoint its completed handshake came from; saved like any change. */
static void apply_roam(struct wg_relay *r, const struct roam_request *q)
{
	char err[256], from[WG_ENDPOINT_STRLEN], to[WG_ENDPOINT_STRLEN];
	struct wg_table *next = malloc(sizeof(*next));

	if (!next)
		return;
	pthread_mutex_lock(&r->lock);
	*next = r->table;
	struct wg_peer *p = &next->peers[q->slot];
	int holder = wg_table_find_endpoint(next, &q->ep);
	wg_endpoint_format(&q->ep, to, sizeof(to));
	if (!p->used || wg_endpoint_equal(&p->ep, &q->ep)) {
		/* Removed meanwhile, or already there (a second response). */
	} else if (holder >= 0) {
		log_warn("wg: peer %s roamed to %s, which is peer %s's: not moved", p->name, to,
			 next->peers[holder].name);
	} else {
		wg_endpoint_format(&p->ep, from, sizeof(from));
		p->ep = q->ep;
		if (wg_table_save(next, r->table_file, err, sizeof(err)) < 0) {
			log_warn("wg: peer %s roamed to %s, but the table cannot be saved: %s",
				 p->name, to, err);
		} else {
			r->table = *next;
			if (publish(r) < 0)
				log_warn("wg: table saved; the dataplane applies it late");
			atomic_fetch_add(&r->roamed, 1);
			log_info("wg: peer %s roamed from %s to %s (a handshake from there was "
				 "answered); table saved",
				 p->name, from, to);
		}
	}
	pthread_mutex_unlock(&r->lock);
	free(next);
}

static void *roam_main(void *arg)
{
	struct wg_relay *r = arg;

	log_set_thread_role("wg");
	pthread_mutex_lock(&r->roam_lock);
	for (;;) {
		while (!r->roam_n && !r->roam_stop)
			pthread_cond_wait(&r->roam_cond, &r->roam_lock);
		if (r->roam_stop)
			break;
		struct roam_request q = r->roam_queue[0];
		memmove(r->roam_queue, r->roam_queue + 1,
			(size_t)(r->roam_n - 1) * sizeof(r->roam_queue[0]));
		r->roam_n--;
		pthread_mutex_unlock(&r->roam_lock);
		apply_roam(r, &q);
		pthread_mutex_lock(&r->roam_lock);
	}
	pthread_mutex_unlock(&r->roam_lock);
	return NULL;
}

static void stop_roaming(struct wg_relay *r)
{
	if (!r->roam_started)
		return;
	pthread_mutex_lock(&r->roam_lock);
	r->roam_stop = true;
	pthread_cond_signal(&r->roam_cond);
	pthread_mutex_unlock(&r->roam_lock);
	pthread_join(r->roam_thread, NULL);
	r->roam_started = false;
}

struct wg_relay *wg_relay_start(const struct wg_relay_options *opt, char *err, size_t errlen)
{
	struct wg_relay *r = calloc(1, sizeof(*r));

	if (!r) {
		wg_err(err, errlen, "wireguard: out of memory");
		return NULL;
	}
#ifndef HD_WG_DPDK
	/* Asked for by name, so not a silent fallback to the socket. */
	if (strcmp(opt->mode, "dpdk") == 0) {
		wg_err(err, errlen,
		       "wireguard.mode = dpdk: this hyper-derp was built without DPDK "
		       "(meson -Ddpdk=enabled)");
		free(r);
		return NULL;
	}
#endif
	const char *queues = opt->queues && opt->queues[0] ? opt->queues : "auto";
	char why[160];
	if (wg_queues_parse(queues, &r->queues, why, sizeof(why)) < 0) {
		wg_err(err, errlen, "wireguard.queues: %s", why);
		free(r);
		return NULL;
	}
	r->want_workers = opt->workers;
	struct wg_worker *w = calloc(1, sizeof(*w));
	if (!w) {
		wg_err(err, errlen, "wireguard: out of memory");
		free(r);
		return NULL;
	}
	w->leader = true;
	r->workers[r->nworkers++] = w;
	r->index = w->index = wg_index_new();
	r->sources = w->sources =
	    wg_sources_new(opt->block_strikes, (uint64_t)opt->block_seconds * 1000000000ull);
	if (!r->index || !r->sources) {
		wg_err(err, errlen, "wireguard: out of memory");
		wg_index_free(r->index);
		wg_sources_free(r->sources);
		free(w);
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->roam_lock, NULL);
	pthread_cond_init(&r->roam_cond, NULL);
	w->on_roam = on_roam;
	w->roam_ctx = r;
	snprintf(r->table_file, sizeof(r->table_file), "%s", opt->table_file);
	if (wg_table_load(&r->table, r->table_file, err, errlen) < 0)
		goto fail_free;
	make_parent_dir(r->table_file);
	for (int i = 0; i < WG_MAX_PEERS; i++)
		r->slot_gen[i] = ++r->next_gen;

	w->port = htons(opt->port);
	w->sock_fd = wg_sock_open(opt->port);
	if (w->sock_fd < 0) {
		wg_err(err, errlen, "wireguard: cannot bind UDP port %u: %s", opt->port,
		       strerror(errno));
		goto fail_free;
	}
	w->sock_v4 = wg_sock_is_v4(w->sock_fd);
	if (w->sock_v4)
		log_warn("wg: no IPv6 in this kernel: the UDP socket is IPv4 only, IPv6 peers "
			 "cannot be reached");
	choose_mode(r, opt);
	if (w->xdp) {
		wg_index_set_mirror(r->index, wg_xdp_index_mirror, w->xdp);
		wg_sources_set_mirror(r->sources, wg_xdp_block_mirror, w->xdp);
	}
	if (make_workers(r, err, errlen) < 0)
		goto fail_close;
	if (r->nports) {
		size_t len = strlen(r->mode);
		wg_appendf(r->mode, sizeof(r->mode), &len, "; %d queue%s, %d worker%s", r->nports,
			   r->nports == 1 ? "" : "s", r->nworkers, r->nworkers == 1 ? "" : "s");
	}
	int started = 0;
	for (; started < r->nworkers; started++) {
		if (wg_worker_start(r->workers[started]) < 0) {
			wg_err(err, errlen, "wireguard: cannot start the dataplane threads");
			stop_workers(r, started);
			goto fail_close;
		}
	}
	if (publish(r) < 0) {
		wg_err(err, errlen, "wireguard: the dataplane did not take the table");
		stop_workers(r, started);
		goto fail_close;
	}
	log_info("wg: relay on UDP port %u, mode %s; table %s: %u peers, %u links", opt->port,
		 r->mode, r->table_file, r->table.npeers, r->table.nlinks);
	/* Asked for by name and not given: the operator must see it without debug logs. */
	if (strcmp(opt->mode, "auto") != 0 && strcmp(opt->mode, "socket") != 0 &&
	    w->mode == WG_MODE_SOCKET)
		log_warn("wg: wireguard.mode = %s is not running, the relay fell back to %s",
			 opt->mode, r->mode);
	log_queues(r);
	r->roam_started = pthread_create(&r->roam_thread, NULL, roam_main, r) == 0;
	if (!r->roam_started)
		log_warn("wg: cannot start the roaming thread: peers that move are not followed");
	return r;
fail_close:
	close_ports(r);
	if (w->xdp)
		wg_xdp_close(w->xdp);
	close(w->sock_fd);
fail_free:
	free_workers(r);
	wg_index_free(r->index);
	wg_sources_free(r->sources);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->roam_lock);
	pthread_cond_destroy(&r->roam_cond);
	free(r);
	return NULL;
}

void wg_relay_stop(struct wg_relay *r)
{
	struct wg_show s;

	if (!r)
		return;
	if (wg_relay_show(r, &s) == 0) {
		size_t len = wg_show_format(&s, NULL, 0);
		char *text = malloc(len + 1);
		if (text) {
			wg_show_format(&s, text, len + 1);
			log_info("wg: stopping; final state:");
			/* One log line per line of text: log lines have a bounded length. */
			for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
				log_info("wg: %s", line);
			free(text);
		}
		wg_show_free(&s);
	}
	struct wg_worker *w = r->workers[0];
	stop_roaming(r);
	stop_workers(r, r->nworkers);
	close_ports(r);
	if (w->xdp)
		wg_xdp_close(w->xdp);
	close(w->sock_fd);
	free_workers(r);
	wg_index_free(r->index);
	wg_sources_free(r->sources);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->roam_lock);
	pthread_cond_destroy(&r->roam_cond);
	free(r);
}

const char *wg_relay_mode(const struct wg_relay *r)
{
	return r->mode;
}

/* ---- table changes ---- */

enum change_kind { PEER_ADD, PEER_DEL, LINK_ADD, LINK_DEL };

/*
 * Applies a change to a copy, saves the copy, then makes it the table: a
 * failure at any step leaves the running table and the file untouched.
 */
static int change(struct wg_relay *r, enum change_kind kind, const char *a, const char *b,
		  const char *label, const char *pubkey, char *err, size_t errlen)
{
	struct wg_table *next = malloc(sizeof(*next));
	int rc = -1, slot = -1, gone = -1;
	uint32_t removed = 0;

	if (!next)
		return wg_err(err, errlen, "out of memory");
	pthread_mutex_lock(&r->lock);
	*next = r->table;
	switch (kind) {
	case PEER_ADD:
		slot = wg_table_peer_add(next, a, b, label, pubkey, err, errlen);
		rc = slot < 0 ? -1 : 0;
		break;
	case PEER_DEL:
		gone = wg_table_find(next, a);
		rc = wg_table_peer_del(next, a, &removed, err, errlen);
		break;
	case LINK_ADD:
		rc = wg_table_link_add(next, a, b, err, errlen);
		break;
	case LINK_DEL:
		rc = wg_table_link_del(next, a, b, err, errlen);
		break;
	}
	if (rc == 0)
		rc = wg_table_save(next, r->table_file, err, errlen);
	if (rc == 0) {
		r->table = *next;
		if (slot >= 0)
			r->slot_gen[slot] = ++r->next_gen;
		if (publish(r) < 0)
			log_warn("wg: table saved; the dataplane applies it late");
		/* After publish: no worker routes to the slot any more, none can learn for it. */
		if (gone >= 0 || slot >= 0)
			wg_index_forget(r->index, (uint16_t)(gone >= 0 ? gone : slot));
		static const char *const what[] = { "peer added", "peer removed", "link added",
						    "link removed" };
		log_info("wg: %s: %s%s%s%s", what[kind], a, b && kind != PEER_ADD ? " " : "",
			 b && kind != PEER_ADD ? b : "",
			 kind == PEER_DEL && removed ? " (and its links)" : "");
	}
	pthread_mutex_unlock(&r->lock);
	free(next);
	return rc;
}

int wg_relay_peer_add(struct wg_relay *r, const char *name, const char *endpoint, const char *label,
		      const char *pubkey_b64, char *err, size_t errlen)
{
	return change(r, PEER_ADD, name, endpoint, label, pubkey_b64, err, errlen);
}

int wg_relay_peer_del(struct wg_relay *r, const char *name, char *err, size_t errlen)
{
	return change(r, PEER_DEL, name, NULL, NULL, NULL, err, errlen);
}

int wg_relay_link_add(struct wg_relay *r, const char *a, const char *b, char *err, size_t errlen)
{
	return change(r, LINK_ADD, a, b, NULL, NULL, err, errlen);
}

int wg_relay_link_del(struct wg_relay *r, const char *a, const char *b, char *err, size_t errlen)
{
	return change(r, LINK_DEL, a, b, NULL, NULL, err, errlen);
}

/* ---- show ---- */

static void add_worker_stats(const struct wg_worker *w, struct wg_peer_stats *stats,
			     uint64_t *counters)
{
	for (int i = 0; i < WG_CNT_COUNT; i++)
		counters[i] += stat_read(&w->counters[i]);
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		stats[i].rx_packets += wg_read(&w->stats[i].rx_packets);
		stats[i].rx_bytes += wg_read(&w->stats[i].rx_bytes);
		stats[i].tx_packets += wg_read(&w->stats[i].tx_packets);
		stats[i].tx_bytes += wg_read(&w->stats[i].tx_bytes);
		__u64 seen = wg_read(&w->stats[i].last_rx_ns);
		if (seen > stats[i].last_rx_ns)
			stats[i].last_rx_ns = seen;
	}
}

static const char *ifname_of(const struct port *p)
{
	static _Thread_local char name[IF_NAMESIZE];

	return if_indextoname((unsigned)p->ifindex, name) ? name : "?";
}

/* Each port in the order it was opened (interface, then queue), with its owner. */
static void fill_queues(const struct wg_relay *r, struct wg_show *s)
{
	s->nworkers = r->nworkers;
	for (int k = 0; k < r->nworkers; k++) {
		const struct wg_worker *w = r->workers[k];
		for (int i = 0; i < w->nports; i++) {
			const struct port *p = w->ports[i];
			int at = 0;
			while (at < r->nports && r->ports[at] != p)
				at++;
			if (at == r->nports)
				continue;
			struct wg_queue_view *v = &s->queues[at];
			snprintf(v->ifname, sizeof(v->ifname), "%s", ifname_of(p));
			v->queue = p->queue;
			v->worker = k;
			v->cpu = w->cpu;
			v->rx_packets = __atomic_load_n(&p->rx_packets, __ATOMIC_RELAXED);
			v->tx_packets = __atomic_load_n(&p->tx_packets, __ATOMIC_RELAXED);
		}
	}
	s->nqueues = (uint32_t)r->nports;
}

/* The start-up line per worker: which queues it owns, on which CPU. */
static void log_queues(const struct wg_relay *r)
{
	for (int k = 0; k < r->nworkers && r->nports; k++) {
		const struct wg_worker *w = r->workers[k];
		char list[256] = "";
		size_t len = 0;
		for (int i = 0; i < w->nports; i++)
			wg_appendf(list, sizeof(list), &len, "%s%s/%u", i ? " " : "",
				   ifname_of(w->ports[i]), w->ports[i]->queue);
		char cpu[24] = "not pinned";
		if (w->cpu >= 0)
			snprintf(cpu, sizeof(cpu), "CPU %d", w->cpu);
		log_info("wg: worker %d (%s%s): %d queue%s: %s", k, cpu, k == 0 ? ", leader" : "",
			 w->nports, w->nports == 1 ? "" : "s", list);
	}
}

static void add_warning(struct wg_show *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add_warning(struct wg_show *s, const char *fmt, ...)
{
	va_list ap;

	if (s->nwarnings == (int)(sizeof(s->warnings) / sizeof(s->warnings[0])))
		return;
	va_start(ap, fmt);
	vsnprintf(s->warnings[s->nwarnings++], sizeof(s->warnings[0]), fmt, ap);
	va_end(ap);
}

int wg_relay_show(struct wg_relay *r, struct wg_show *s)
{
	static struct wg_peer_stats stats[WG_MAX_PEERS];
	const struct wg_worker *w = r->workers[0];
	uint16_t links[WG_MAX_PEERS];

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	const struct wg_table *t = &r->table;
	s->peers = calloc(t->npeers ? t->npeers : 1, sizeof(*s->peers));
	s->links = calloc(t->nlinks ? t->nlinks : 1, sizeof(*s->links));
	s->queues = calloc(r->nports ? (size_t)r->nports : 1, sizeof(*s->queues));
	if (!s->peers || !s->links || !s->queues) {
		pthread_mutex_unlock(&r->lock);
		wg_show_free(s);
		return -1;
	}
	snprintf(s->mode, sizeof(s->mode), "%s", r->mode);
	s->port = ntohs(w->port);
	memset(stats, 0, sizeof(stats));
	for (int k = 0; k < r->nworkers; k++)
		add_worker_stats(r->workers[k], stats, s->counters);
	fill_queues(r, s);
	if (w->xdp)
		wg_xdp_read_stats(w->xdp, stats, s->counters);
	s->counters[WG_CNT_INDEX_EVICTED] =
	    atomic_load_explicit(&r->index->evicted, memory_order_relaxed);
	s->counters[WG_CNT_ROAMED] = atomic_load_explicit(&r->roamed, memory_order_relaxed);
	s->counters[WG_CNT_SOURCES_BLOCKED] =
	    atomic_load_explicit(&r->sources->blocks, memory_order_relaxed);
	s->counters[WG_CNT_SOURCES_UNTRACKED] =
	    atomic_load_explicit(&r->sources->not_tracked, memory_order_relaxed);
	uint64_t now = wg_now_ns();
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_peer *p = &t->peers[i];
		if (!p->used)
			continue;
		struct wg_peer_view *v = &s->peers[s->npeers++];
		snprintf(v->name, sizeof(v->name), "%s", p->name);
		snprintf(v->label, sizeof(v->label), "%s", p->label);
		wg_endpoint_format(&p->ep, v->endpoint, sizeof(v->endpoint));
		v->has_pubkey = p->has_pubkey;
		v->nlinks = wg_table_links_of(t, i, links, WG_MAX_PEERS);
		v->stats = stats[i];
		v->last_seen_ms =
		    stats[i].last_rx_ns ? (int64_t)((now - stats[i].last_rx_ns) / 1000000) : -1;
		/* A peer with several links routes initiations by its peers' keys. */
		uint32_t nl = v->nlinks < WG_MAX_PEERS ? v->nlinks : WG_MAX_PEERS;
		for (uint32_t k = 0; v->nlinks > 1 && k < nl; k++) {
			if (!t->peers[links[k]].has_pubkey)
				add_warning(s,
					    "%s has %u links: initiations to %s cannot be routed "
					    "until it has a pubkey",
					    p->name, v->nlinks, t->peers[links[k]].name);
		}
	}
	for (uint32_t i = 0; i < t->nlinks; i++) {
		snprintf(s->links[i].a, WG_NAME_LEN, "%s", t->peers[t->links[i].a].name);
		snprintf(s->links[i].b, WG_NAME_LEN, "%s", t->peers[t->links[i].b].name);
	}
	s->nlinks = t->nlinks;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int wg_relay_sources(struct wg_relay *r, bool blocked_only, struct wg_source_view *out, int max)
{
	struct wg_source *list = calloc(WG_SOURCES, sizeof(*list));
	uint64_t now = wg_now_ns();

	if (!list)
		return -1;
	int n = wg_sources_list(r->sources, list, max < WG_SOURCES ? max : WG_SOURCES, blocked_only,
				now);
	pthread_mutex_lock(&r->lock);
	for (int i = 0; i < n; i++) {
		const struct wg_source *s = &list[i];
		struct wg_source_view *v = &out[i];
		memset(v, 0, sizeof(*v));
		wg_endpoint_format(&s->last, v->endpoint, sizeof(v->endpoint));
		v->count = s->count;
		v->last_seen_ms = (int64_t)((now - s->last_ns) / 1000000);
		if (s->mac1_peer >= 0 && r->table.peers[s->mac1_peer].used)
			snprintf(v->mac1_peer, sizeof(v->mac1_peer), "%s",
				 r->table.peers[s->mac1_peer].name);
		v->strikes = s->strikes;
		v->blocked_ms = s->blocked_until_ns > now
				    ? (int64_t)((s->blocked_until_ns - now) / 1000000)
				    : 0;
	}
	pthread_mutex_unlock(&r->lock);
	free(list);
	return n;
}

int wg_relay_blocklist_clear(struct wg_relay *r)
{
	int n = wg_sources_clear_blocks(r->sources);

	log_info("wg: blocklist cleared (%d address%s)", n, n == 1 ? "" : "es");
	return n;
}

void wg_show_free(struct wg_show *s)
{
	free(s->peers);
	free(s->links);
	free(s->queues);
	s->peers = NULL;
	s->links = NULL;
	s->queues = NULL;
}

size_t wg_show_format(const struct wg_show *s, char *out, size_t cap)
{
	size_t len = 0;

	if (cap)
		out[0] = '\0';
	wg_appendf(out, cap, &len, "mode: %s\nport: %u\n", s->mode, s->port);
	wg_appendf(out, cap, &len, "peers: %u\n", s->npeers);
	wg_appendf(out, cap, &len, "  %-16s %-21s %-12s %5s %10s %12s %10s %12s %s\n", "NAME",
		   "ENDPOINT", "LABEL", "LINKS", "RX_PKTS", "RX_BYTES", "TX_PKTS", "TX_BYTES",
		   "LAST_SEEN");
	for (uint32_t i = 0; i < s->npeers; i++) {
		const struct wg_peer_view *v = &s->peers[i];
		char seen[32];
		if (v->last_seen_ms < 0)
			snprintf(seen, sizeof(seen), "never");
		else
			snprintf(seen, sizeof(seen), "%.1fs ago", (double)v->last_seen_ms / 1000);
		wg_appendf(
		    out, cap, &len, "  %-16s %-21s %-12s %5u %10llu %12llu %10llu %12llu %s\n",
		    v->name, v->endpoint, v->label[0] ? v->label : "-", v->nlinks,
		    (unsigned long long)v->stats.rx_packets, (unsigned long long)v->stats.rx_bytes,
		    (unsigned long long)v->stats.tx_packets, (unsigned long long)v->stats.tx_bytes,
		    seen);
	}
	if (s->nqueues) {
		wg_appendf(out, cap, &len, "queues: %u on %d worker%s\n", s->nqueues, s->nworkers,
			   s->nworkers == 1 ? "" : "s");
		wg_appendf(out, cap, &len, "  %-16s %5s %6s %4s %12s %12s\n", "INTERFACE", "QUEUE",
			   "WORKER", "CPU", "RX_PKTS", "TX_PKTS");
		for (uint32_t i = 0; i < s->nqueues; i++) {
			const struct wg_queue_view *q = &s->queues[i];
			char cpu[12] = "-";
			if (q->cpu >= 0)
				snprintf(cpu, sizeof(cpu), "%d", q->cpu);
			wg_appendf(out, cap, &len, "  %-16s %5u %6d %4s %12llu %12llu\n", q->ifname,
				   q->queue, q->worker, cpu, (unsigned long long)q->rx_packets,
				   (unsigned long long)q->tx_packets);
		}
	}
	wg_appendf(out, cap, &len, "links: %u\n", s->nlinks);
	for (uint32_t i = 0; i < s->nlinks; i++)
		wg_appendf(out, cap, &len, "  %s <-> %s\n", s->links[i].a, s->links[i].b);
	wg_appendf(out, cap, &len, "counters:");
	for (int i = 0; i < WG_CNT_COUNT; i++)
		wg_appendf(out, cap, &len, " %s=%llu", wg_counter_names[i],
			   (unsigned long long)s->counters[i]);
	wg_appendf(out, cap, &len, "\n");
	for (int i = 0; i < s->nwarnings; i++)
		wg_appendf(out, cap, &len, "warning: %s\n", s->warnings[i]);
	return len;
}
