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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "wg_route.h"
#include "wg_text.h"
#include "wg_worker.h"
#include "wg_xdp.h"
#include "wg_xsk.h"
#ifdef HD_WG_DPDK
#include "wg_dpdk.h"
#endif

#define UPDATE_WAIT_MS 2000

const char *const wg_counter_names[WG_CNT_COUNT] = {
	[WG_CNT_DROP_UNKNOWN_SOURCE] = "drop_unknown_source",
	[WG_CNT_DROP_MALFORMED] = "drop_malformed",
	[WG_CNT_DROP_NO_LINK] = "drop_no_link",
	[WG_CNT_DROP_NO_ROUTE] = "drop_no_route",
	[WG_CNT_DROP_TX_ERROR] = "drop_tx_error",
	[WG_CNT_XDP_TX] = "xdp_tx",
	[WG_CNT_XDP_REDIRECT] = "xdp_redirect",
	[WG_CNT_TO_XSK] = "to_xsk",
	[WG_CNT_TO_STACK] = "to_stack",
	[WG_CNT_USER_FORWARD] = "user_forward",
};

struct wg_relay {
	pthread_mutex_t lock; /* control calls, one at a time */
	char table_file[PATH_MAX];
	struct wg_table table;
	uint32_t slot_gen[WG_MAX_PEERS];
	uint32_t next_gen;
	char mode[256];
	struct wg_worker worker;
};

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

static void close_ports(struct wg_worker *w)
{
	for (int i = 0; i < w->nports; i++)
		w->ports[i]->ops->close(w->ports[i]);
	w->nports = 0;
}

/* Opens one XSK per interface and registers them with XDP; all or none. */
static int open_xsks(struct wg_relay *r, char names[][16], int n, char *err, size_t errlen)
{
	struct wg_worker *w = &r->worker;

	for (int i = 0; i < n; i++) {
		int ifindex = wg_xdp_ifindex(w->xdp, i);
		struct wg_port *port = wg_xsk_open(ifindex, names[i], err, errlen);
		if (!port) {
			close_ports(w);
			return -1;
		}
		w->ports[w->nports++] = port;
		if (wg_xdp_add_xsk(w->xdp, ifindex, port->ops->fd(port)) < 0) {
			wg_err(err, errlen, "%s: cannot register the AF_XDP socket", names[i]);
			close_ports(w);
			return -1;
		}
	}
	return 0;
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
	struct wg_worker *w = &r->worker;
	char ifs[96] = "";

	if (n > 0 && wg_dpdk_open(names, n, ntohs(w->port), w->ports, why, whylen) == 0) {
		w->nports = n;
		w->mode = WG_MODE_DPDK;
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
	struct wg_worker *w = &r->worker;
	char names[WG_MAX_IFACES][16];
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
	if (wg_worker_update(&r->worker, routes, UPDATE_WAIT_MS) < 0) {
		log_warn("wg: the dataplane took more than %d ms to apply the table",
			 UPDATE_WAIT_MS);
		return -1;
	}
	return 0;
}

static void make_parent_dir(const char *path)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", path);
	if (mkdir(dirname(dir), 0700) < 0 && errno != EEXIST)
		log_warn("wg: cannot create the directory of %s: %s", path, strerror(errno));
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
	pthread_mutex_init(&r->lock, NULL);
	snprintf(r->table_file, sizeof(r->table_file), "%s", opt->table_file);
	if (wg_table_load(&r->table, r->table_file, err, errlen) < 0)
		goto fail_free;
	make_parent_dir(r->table_file);
	for (int i = 0; i < WG_MAX_PEERS; i++)
		r->slot_gen[i] = ++r->next_gen;

	struct wg_worker *w = &r->worker;
	w->port = htons(opt->port);
	w->sock_fd = wg_sock_open(opt->port);
	if (w->sock_fd < 0) {
		wg_err(err, errlen, "wireguard: cannot bind UDP port %u: %s", opt->port,
		       strerror(errno));
		goto fail_free;
	}
	choose_mode(r, opt);
	if (wg_worker_start(w) < 0) {
		wg_err(err, errlen, "wireguard: cannot start the dataplane thread");
		goto fail_close;
	}
	if (publish(r) < 0) {
		wg_err(err, errlen, "wireguard: the dataplane did not take the table");
		wg_worker_stop(w);
		goto fail_close;
	}
	log_info("wg: relay on UDP port %u, mode %s; table %s: %u peers, %u links", opt->port,
		 r->mode, r->table_file, r->table.npeers, r->table.nlinks);
	return r;
fail_close:
	close_ports(w);
	if (w->xdp)
		wg_xdp_close(w->xdp);
	close(w->sock_fd);
fail_free:
	pthread_mutex_destroy(&r->lock);
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
	struct wg_worker *w = &r->worker;
	wg_worker_stop(w);
	close_ports(w);
	if (w->xdp)
		wg_xdp_close(w->xdp);
	close(w->sock_fd);
	pthread_mutex_destroy(&r->lock);
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
	int rc = -1, slot = -1;
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
	const struct wg_worker *w = &r->worker;
	uint16_t links[WG_MAX_PEERS];

	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&r->lock);
	const struct wg_table *t = &r->table;
	s->peers = calloc(t->npeers ? t->npeers : 1, sizeof(*s->peers));
	s->links = calloc(t->nlinks ? t->nlinks : 1, sizeof(*s->links));
	if (!s->peers || !s->links) {
		pthread_mutex_unlock(&r->lock);
		wg_show_free(s);
		return -1;
	}
	snprintf(s->mode, sizeof(s->mode), "%s", r->mode);
	s->port = ntohs(w->port);
	for (int i = 0; i < WG_CNT_COUNT; i++)
		s->counters[i] = stat_read(&w->counters[i]);
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		stats[i].rx_packets = wg_read(&w->stats[i].rx_packets);
		stats[i].rx_bytes = wg_read(&w->stats[i].rx_bytes);
		stats[i].tx_packets = wg_read(&w->stats[i].tx_packets);
		stats[i].tx_bytes = wg_read(&w->stats[i].tx_bytes);
		stats[i].last_rx_ns = wg_read(&w->stats[i].last_rx_ns);
	}
	if (w->xdp)
		wg_xdp_read_stats(w->xdp, stats, s->counters);
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

void wg_show_free(struct wg_show *s)
{
	free(s->peers);
	free(s->links);
	s->peers = NULL;
	s->links = NULL;
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
