// SPDX-License-Identifier: MIT
/* The mesh links' shared state: set up with the relay, torn down with it. */
#include "mesh_link.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "relay.h"

const char *const mesh_link_state_names[MESH_LINK_STATE_COUNT] = {
	[MESH_LINK_DIALING] = "dialing",
	[MESH_LINK_CONNECTED] = "connected",
	[MESH_LINK_WAITING] = "waiting",
	[MESH_LINK_SELF] = "self",
};

void mesh_link_wake(struct mesh_link *l)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&l->sleeping, memory_order_relaxed) &&
	    !atomic_exchange_explicit(&l->wake_sent, true, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t rc = write(l->event_fd, &one, sizeof(one));
		(void)rc;
	}
}

int mesh_links_init(struct relay *r)
{
	const struct relay_settings *set = &r->settings;
	struct mesh_target targets[MESH_MAX_PEERS];
	char reason[512];
	int n = mesh_with_parse(set->mesh_with, targets, MESH_MAX_PEERS, reason, sizeof(reason));
	if (n < 0) {
		log_error("mesh.with: %s", reason);
		return -1;
	}
	if (n == 0)
		return 0;
	r->links = calloc((size_t)n, sizeof(*r->links));
	if (!r->links)
		return -1;
	r->nlinks = (uint16_t)n;
	for (int i = 0; i < n; i++)
		r->links[i].event_fd = -1; /* a failure below leaves the rest unopened */
	for (int i = 0; i < n; i++) {
		struct mesh_link *l = &r->links[i];
		l->index = (uint16_t)i;
		l->target = targets[i];
		l->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		l->from_workers = calloc(r->nworkers, sizeof(*l->from_workers));
		l->to_workers = calloc(r->nworkers, sizeof(*l->to_workers));
		if (l->event_fd < 0 || !l->from_workers || !l->to_workers)
			return -1;
		for (uint16_t w = 0; w < r->nworkers; w++) {
			if (spsc_ring_init(&l->from_workers[w], MESH_LINK_RING_ENTRIES) < 0 ||
			    spsc_ring_init(&l->to_workers[w], MESH_LINK_RING_ENTRIES) < 0)
				return -1;
		}
	}
	return 0;
}

/* Frees what is still in a ring: packet buffers and peer events are single allocations. */
static void ring_free_all(struct spsc_ring *ring)
{
	if (!ring->slots)
		return;
	struct spsc_msg m;
	while (spsc_ring_dequeue_burst(ring, &m, 1) == 1)
		free(m.ptr);
	spsc_ring_free(ring);
}

void mesh_links_destroy(struct relay *r)
{
	for (uint16_t i = 0; i < r->nlinks; i++) {
		struct mesh_link *l = &r->links[i];
		for (uint16_t w = 0; w < r->nworkers; w++) {
			if (l->from_workers)
				ring_free_all(&l->from_workers[w]);
			if (l->to_workers)
				ring_free_all(&l->to_workers[w]);
		}
		free(l->from_workers);
		free(l->to_workers);
		if (l->event_fd >= 0)
			close(l->event_fd);
	}
	free(r->links);
	r->links = NULL;
	r->nlinks = 0;
}
