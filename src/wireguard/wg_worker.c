// SPDX-License-Identifier: MIT
/*
 * A dataplane thread. Each pass: take a pending update, poll the ports it
 * owns (AF_XDP or DPDK) and, on the leader, the socket; when nothing came
 * in for a while, sleep in poll() on every fd (the XSKs use need_wakeup,
 * so a sleeping worker costs nothing). DPDK ports have no fd: with them the
 * worker never sleeps, and sees a stop on its next pass. Each worker keeps
 * its own next hops, re-resolved once a second while some are unresolved,
 * every 30 s otherwise; only the leader copies them into the XDP maps.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "wg_nexthop.h"
#include "wg_worker.h"
#include "wg_xdp.h"
#include "port.h"

#define IDLE_SPINS	   256 /* empty passes before sleeping */
#define SLEEP_MS	   200 /* poll() timeout: bounds how late a stop is seen */
#define SOCK_EVERY	   64  /* passes between socket polls while the XSKs are busy */
#define NEXTHOP_RETRY_NS   1000000000ull
#define NEXTHOP_REFRESH_NS 30000000000ull

int wg_worker_route(struct wg_worker *w, const struct wg_endpoint *src, const uint8_t *payload,
		    size_t len, uint64_t now_ns)
{
	struct wg_decision d;

	/* Blocks apply to sources that are not peers only: a lookup, then the lock. */
	if (atomic_load_explicit(&w->sources->nblocked, memory_order_relaxed) &&
	    wg_routes_find(w->routes, src) < 0 && wg_sources_blocked(w->sources, src, now_ns)) {
		stat_add(&w->counters[WG_CNT_DROP_BLOCKED], 1);
		return -1;
	}
	int drop = wg_route(w->routes, w->index, src, payload, len, now_ns, &d);

	if (d.unknown)
		wg_sources_note(w->sources, src, d.mac1_peer,
				d.mac1_peer >= 0 ? w->routes->peers[d.mac1_peer].name : NULL,
				d.strike, now_ns);
	if (drop >= 0) {
		stat_add(&w->counters[drop], 1);
		return -1;
	}
	struct wg_peer_stats *s = &w->stats[d.src];
	wg_count(&s->rx_packets, 1);
	wg_count(&s->rx_bytes, len);
	__atomic_store_n(&s->last_rx_ns, now_ns, __ATOMIC_RELAXED);
	if (d.roamed) {
		/*
		 * The routes still hold the old endpoint until the control plane
		 * has saved the new one: this response goes to the new one now.
		 */
		wg_sock_send_to(w, d.dst, &d.roam_ep, payload, len);
		if (w->on_roam)
			w->on_roam(w->roam_ctx, d.dst, &d.roam_ep);
		return -1;
	}
	return d.dst;
}

void wg_worker_count_tx(struct wg_worker *w, int slot, size_t len)
{
	wg_count(&w->stats[slot].tx_packets, 1);
	wg_count(&w->stats[slot].tx_bytes, len);
	stat_add(&w->counters[WG_CNT_USER_FORWARD], 1);
}

static void refresh_nexthops(struct wg_worker *w, uint64_t now)
{
	if (w->mode == WG_MODE_SOCKET || !w->routes)
		return;
	int unresolved = wg_nexthop_resolve(w->routes, w->dsts);
	if (w->xdp && w->leader)
		wg_xdp_sync_dsts(w->xdp, w->routes, w->dsts);
	w->nexthop_refresh_ns = now + (unresolved ? NEXTHOP_RETRY_NS : NEXTHOP_REFRESH_NS);
}

static void apply_update(struct wg_worker *w)
{
	struct wg_update *u = atomic_exchange(&w->pending, NULL);

	if (!u)
		return;
	struct wg_routes *old = w->routes;
	/* A slot given to a new peer starts its counters from zero. */
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &u->routes->peers[i];
		if (p->used && (!old || !old->peers[i].used || old->peers[i].gen != p->gen)) {
			struct wg_peer_stats *s = &w->stats[i];
			__atomic_store_n(&s->rx_packets, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->rx_bytes, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->tx_packets, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->tx_bytes, 0, __ATOMIC_RELAXED);
			__atomic_store_n(&s->last_rx_ns, 0, __ATOMIC_RELAXED);
		}
	}
	w->routes = u->routes;
	if (w->mode != WG_MODE_SOCKET)
		wg_nexthop_resolve(w->routes, w->dsts);
	if (w->xdp && w->leader)
		wg_xdp_sync(w->xdp, old, w->routes, w->dsts);
	w->nexthop_refresh_ns = wg_now_ns() + NEXTHOP_RETRY_NS;
	free(old);
	atomic_store(&w->applied_gen, u->gen);
	free(u);
}

static void sleep_until_work(struct wg_worker *w)
{
	struct pollfd fds[2 + WG_MAX_PORTS];
	int n = 0;

	fds[n++] = (struct pollfd){ .fd = w->wake_fd, .events = POLLIN };
	if (w->leader)
		fds[n++] = (struct pollfd){ .fd = w->sock_fd, .events = POLLIN };
	for (int i = 0; i < w->nports; i++) {
		int fd = w->ports[i]->ops->fd(w->ports[i]);
		if (fd < 0)
			return; /* a busy-polling backend: never sleep */
		fds[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	if (poll(fds, (nfds_t)n, SLEEP_MS) > 0 && (fds[0].revents & POLLIN)) {
		uint64_t v;
		if (read(w->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_warn("wg: eventfd read: %s", strerror(errno));
	}
}

static void *worker_main(void *arg)
{
	struct wg_worker *w = arg;
	unsigned int idle = 0;

	log_set_thread_role("wg");
	if (w->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (rc)
			log_warn("wg: worker %d: cannot pin to CPU %d: %s", w->id, w->cpu,
				 strerror(rc));
	}
	for (unsigned int pass = 0; !atomic_load_explicit(&w->stop, memory_order_relaxed); pass++) {
		unsigned int work = 0;

		apply_update(w);
		if (w->routes) {
			if (w->nports)
				work += wg_ports_poll(w);
			/*
			 * With XSKs the socket only gets the leftovers (fragments,
			 * unresolved next hops): a recvmmsg() per pass would cost
			 * more than the frames it finds.
			 */
			if (w->leader && (!w->nports || !work || pass % SOCK_EVERY == 0))
				work += wg_sock_poll(w);
		}
		if (work) {
			idle = 0;
			continue;
		}
		uint64_t now = wg_now_ns();
		if (now >= w->nexthop_refresh_ns)
			refresh_nexthops(w, now);
		if (++idle >= IDLE_SPINS) {
			sleep_until_work(w);
			idle = 0;
		}
	}
	return NULL;
}

int wg_worker_start(struct wg_worker *w)
{
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->wake_fd < 0)
		return -1;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		close(w->wake_fd);
		w->wake_fd = -1;
		return -1;
	}
	return 0;
}

static void wake(struct wg_worker *w)
{
	uint64_t one = 1;

	if (write(w->wake_fd, &one, sizeof(one)) < 0)
		log_warn("wg: eventfd write: %s", strerror(errno));
}

int wg_worker_update(struct wg_worker *w, struct wg_routes *routes, int timeout_ms)
{
	struct wg_update *u = malloc(sizeof(*u));

	if (!u) {
		free(routes);
		return -1;
	}
	uint64_t gen = ++w->gen;
	u->routes = routes;
	u->gen = gen;
	/* An update the worker has not taken yet is replaced: only the newest matters. */
	struct wg_update *stale = atomic_exchange(&w->pending, u);
	if (stale) {
		free(stale->routes);
		free(stale);
	}
	wake(w);
	for (int waited = 0; waited < timeout_ms; waited++) {
		if (atomic_load(&w->applied_gen) >= gen)
			return 0;
		usleep(1000);
	}
	return -1;
}

void wg_worker_stop(struct wg_worker *w)
{
	atomic_store(&w->stop, true);
	wake(w);
	pthread_join(w->thread, NULL);
	close(w->wake_fd);
	struct wg_update *u = atomic_exchange(&w->pending, NULL);
	if (u) {
		free(u->routes);
		free(u);
	}
	free(w->routes);
	w->routes = NULL;
}
