// SPDX-License-Identifier: MIT
#include "relay.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache_line.h"
#include "log.h"
#include "mesh_link.h"
#include "worker.h"

#define PEER_RING_ENTRIES 16384

/*
 * server.workers = 0: one worker per two online cores, at least one. The
 * other half is for what a worker's packets cost outside the worker: the
 * kernel's TCP work for the peers' sockets, the slow path, and on small
 * boxes the clients themselves. A worker more than that only adds
 * cross-worker traffic (a ring and often a wake-up per burst): on the
 * 2-core machine one worker relayed a windowed load at half the CPU per GB
 * of two (docs/polling.md).
 */
static uint32_t relay_auto_workers(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	return cores > 1 ? (uint32_t)(cores / 2) : 1;
}

int relay_init(struct relay *r, const struct relay_settings *set, const uint8_t priv[KEY_LEN],
	       const uint8_t pub[KEY_LEN])
{
	memset(r, 0, sizeof(*r));
	r->settings = *set;
	memcpy(r->server_priv, priv, KEY_LEN);
	memcpy(r->server_pub, pub, KEY_LEN);
	randombytes_buf(r->hash_key, sizeof(r->hash_key));

	uint32_t n = set->workers ? set->workers : relay_auto_workers();
	r->nworkers = (uint16_t)n;
	char err[256];
	if (cpu_plan_make(set->pin_cores, n, &r->cpus, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	/* A ring is aligned to its cache line; calloc promises 16 bytes. */
	r->rings = cache_line_calloc((size_t)n * n, sizeof(*r->rings));
	r->workers = calloc(n, sizeof(*r->workers));
	if (!r->rings || !r->workers)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < n; j++) {
			if (i != j && spsc_ring_init(&r->rings[i * n + j], PEER_RING_ENTRIES) < 0)
				return -ENOMEM;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		r->workers[i] = worker_create(r, (uint16_t)i);
		if (!r->workers[i])
			return -1;
	}
	if (mesh_links_init(r) < 0) {
		log_error("mesh: setup failed");
		return -1;
	}
	return 0;
}

int relay_start_workers(struct relay *r)
{
	for (uint16_t i = 0; i < r->nworkers; i++) {
		int rc = worker_start(r->workers[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int relay_handoff(struct relay *r, struct handoff *h)
{
	/* Round-robin; a full ring (a stuck worker) is skipped. */
	for (uint16_t tries = 0; tries < r->nworkers; tries++) {
		struct worker *w = r->workers[r->next_worker];
		r->next_worker = (r->next_worker + 1) % r->nworkers;
		struct spsc_msg m = { .ptr = h };
		if (spsc_ring_enqueue(&w->handoff, &m) == 0) {
			worker_wake(w);
			return 0;
		}
	}
	return -1;
}

void relay_stop_workers(struct relay *r)
{
	atomic_store_explicit(&r->draining, true, memory_order_release);
	for (uint16_t i = 0; i < r->nworkers; i++) {
		uint64_t one = 1;
		ssize_t rc = write(r->workers[i]->event_fd, &one, sizeof(one));
		(void)rc;
	}
	for (uint16_t i = 0; i < r->nworkers; i++)
		pthread_join(r->workers[i]->thread, NULL);
}

/* Frees what was still travelling between workers when they stopped. */
static void free_msg(const struct spsc_msg *m)
{
	/* Packet buffers are single allocations, so free() suits both pools. */
	free(m->ptr);
}

void relay_destroy(struct relay *r)
{
	uint32_t n = r->nworkers;
	mesh_links_destroy(r);
	for (uint32_t i = 0; r->rings && i < n * n; i++) {
		if (!r->rings[i].slots)
			continue;
		struct spsc_msg m;
		while (spsc_ring_dequeue_burst(&r->rings[i], &m, 1) == 1)
			free_msg(&m);
		spsc_ring_free(&r->rings[i]);
	}
	for (uint32_t i = 0; r->workers && i < n; i++) {
		struct worker *w = r->workers[i];
		if (!w)
			continue;
		for (uint32_t j = 0; j < n; j++) {
			struct outbox_node *node = w->outboxes[j].head;
			while (node) {
				struct outbox_node *next = node->next;
				free_msg(&node->msg);
				free(node);
				node = next;
			}
		}
		worker_destroy(w);
	}
	free(r->rings);
	free(r->workers);
	if (r->hd) {
		hd_registry_free(r->hd);
		free(r->hd);
		r->hd = NULL;
	}
	sodium_memzero(r->server_priv, sizeof(r->server_priv));
}

void peer_list_request_free(struct peer_list_request *req, uint16_t nworkers)
{
	for (uint16_t i = 0; i < nworkers; i++)
		free(req->lists[i]);
	free(req->lists);
	free(req->counts);
	free(req);
}

/* Posts to a worker's control ring; the management thread is its only producer. */
static int control_post(struct worker *w, uint32_t type, void *ptr)
{
	struct spsc_msg m = { .type = type, .ptr = ptr };
	if (spsc_ring_enqueue(&w->control, &m) < 0)
		return -1;
	worker_wake(w);
	return 0;
}

int relay_list_peers(struct relay *r, struct peer_info **out, int timeout_ms)
{
	struct peer_list_request *req = calloc(1, sizeof(*req));
	if (!req)
		return -1;
	req->lists = calloc(r->nworkers, sizeof(*req->lists));
	req->counts = calloc(r->nworkers, sizeof(*req->counts));
	if (!req->lists || !req->counts) {
		peer_list_request_free(req, r->nworkers);
		return -1;
	}
	atomic_init(&req->refs, r->nworkers + 1);
	atomic_init(&req->abandoned, false);
	for (uint16_t i = 0; i < r->nworkers; i++) {
		if (control_post(r->workers[i], CTL_LIST_PEERS, req) < 0)
			atomic_fetch_sub(&req->refs, 1); /* ring full: that worker is skipped */
	}
	/* Poll: answers come within a loop pass, and this thread is not the dataplane. */
	for (int waited = 0; atomic_load_explicit(&req->refs, memory_order_acquire) > 1; waited++) {
		if (waited >= timeout_ms) {
			/* Give up our reference; the last worker to answer frees the request. */
			atomic_store_explicit(&req->abandoned, true, memory_order_relaxed);
			if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) == 1)
				peer_list_request_free(req, r->nworkers);
			return -1;
		}
		usleep(1000);
	}
	size_t total = 0;
	for (uint16_t i = 0; i < r->nworkers; i++)
		total += req->counts[i];
	struct peer_info *all = malloc((total ? total : 1) * sizeof(*all));
	if (!all) {
		peer_list_request_free(req, r->nworkers);
		return -1;
	}
	size_t n = 0;
	for (uint16_t i = 0; i < r->nworkers; i++) {
		if (req->counts[i])
			memcpy(all + n, req->lists[i], req->counts[i] * sizeof(*all));
		n += req->counts[i];
	}
	peer_list_request_free(req, r->nworkers);
	*out = all;
	return (int)n;
}

void relay_close_peer(struct relay *r, const uint8_t key[KEY_LEN])
{
	for (uint16_t i = 0; i < r->nworkers; i++) {
		struct peer_event *ev = calloc(1, sizeof(*ev));
		if (!ev)
			continue;
		memcpy(ev->key, key, KEY_LEN);
		if (control_post(r->workers[i], CTL_CLOSE_PEER, ev) < 0)
			free(ev);
	}
}

uint64_t relay_stat_sum(const struct relay *r, size_t offset)
{
	uint64_t sum = 0;
	for (uint16_t i = 0; i < r->nworkers; i++) {
		const uint8_t *base = (const uint8_t *)&r->workers[i]->stats;
		sum += stat_read((const uint64_t *)(base + offset));
	}
	return sum;
}

uint64_t relay_worker_stat(const struct relay *r, uint16_t worker, size_t offset)
{
	const uint8_t *base = (const uint8_t *)&r->workers[worker]->stats;
	return stat_read((const uint64_t *)(base + offset));
}

const char *relay_worker_recv_mode(const struct relay *r, uint16_t worker)
{
	/* Set by recv_setup() in worker_create(), before any thread reads it. */
	return recv_mode_name(r->workers[worker]->recv_mode);
}
