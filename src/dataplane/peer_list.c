// SPDX-License-Identifier: MIT
/*
 * Listing a worker's connections for the management plane (show peers,
 * /metrics, events follow, peer close), a slice per loop pass.
 *
 * Listing tens of thousands of connections takes milliseconds, and a
 * worker does nothing else meanwhile: done in one go inside the loop, each
 * scrape stalled the dataplane that long. So a request becomes a job with a
 * cursor over the connection slots, and each loop pass advances the oldest
 * job by at most PEER_LIST_SLOTS_PER_PASS slots (perf/key_conns.sh measures
 * the stall). The answer is published when the cursor reaches the end. A
 * connection that opens or closes while the cursor moves may or may not be
 * listed, as it would be in a list taken a moment earlier or later.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "worker.h"

/*
 * About 40 us on the 2-vCPU development machine (40 ns a slot, timed with
 * 15,000 connections under perf/key_conns.sh): far below the millisecond a
 * scrape may cost the dataplane, and a 15,000-connection list still takes
 * only 8 passes per worker.
 */
#define PEER_LIST_SLOTS_PER_PASS 1024

struct peer_list_job {
	struct peer_list_job *next;
	struct peer_list_request *req;
	uint32_t cursor; /* next connection slot to look at */
	struct peer_info *list;
	uint32_t n;
	uint32_t cap;
};

/* Hands a list to the caller, who may have given up: then the last one out frees. */
static void answer(struct worker *w, struct peer_list_request *req, struct peer_info *list,
		   uint32_t n)
{
	req->lists[w->id] = list;
	req->counts[w->id] = n;
	/* Release publishes the list to the caller. */
	if (atomic_fetch_sub_explicit(&req->refs, 1, memory_order_acq_rel) == 1)
		peer_list_request_free(req, w->relay->nworkers);
}

/* Takes the oldest job off the queue and answers it with its list. */
static void job_finish(struct worker *w)
{
	struct peer_list_job *job = w->list_head;
	w->list_head = job->next;
	if (!w->list_head)
		w->list_tail = NULL;
	answer(w, job->req, job->list, job->n);
	free(job);
}

void peer_list_start(struct worker *w, struct peer_list_request *req)
{
	struct peer_list_job *job = calloc(1, sizeof(*job));
	if (!job) {
		/* An empty answer rather than none, which the caller would wait out. */
		log_error("worker %u: out of memory listing peers", w->id);
		answer(w, req, NULL, 0);
		return;
	}
	job->req = req;
	if (w->list_tail)
		w->list_tail->next = job;
	else
		w->list_head = job;
	w->list_tail = job;
}

static void fill_info(struct worker *w, const struct conn *c, struct peer_info *pi)
{
	memcpy(pi->key, c->key, KEY_LEN);
	pi->seq = c->seq;
	pi->worker = w->id;
	memcpy(pi->ip, c->ip, sizeof(pi->ip));
	pi->port = c->port;
	pi->preferred = c->preferred;
	pi->can_mesh = c->can_mesh;
	pi->is_watcher = c->is_watcher;
	struct peer_entry *e = peer_table_lookup(&w->peers, c->key);
	const struct peer_loc *loc = e ? peer_entry_active(e) : NULL;
	pi->active = loc && loc->seq == c->seq;
	pi->queued = c->q_count[0] + c->q_count[1] + c->q_count[2];
	if (c->fq)
		pi->queued += c->fq->data_count + c->fq->ctrl.count + c->fq->disco.count;
	pi->rx_packets = c->rx_packets;
	pi->rx_bytes = c->rx_bytes;
	pi->tx_packets = c->tx_packets;
	pi->tx_bytes = c->tx_bytes;
}

/* Room for one more; false when memory ran out (the list is answered as it is). */
static bool job_reserve(struct peer_list_job *job, uint32_t hint)
{
	if (job->n < job->cap)
		return true;
	uint32_t cap = job->cap ? job->cap * 2 : (hint > 16 ? hint : 16);
	if (cap <= job->cap)
		return false;
	struct peer_info *list = realloc(job->list, (size_t)cap * sizeof(*list));
	if (!list)
		return false;
	job->list = list;
	job->cap = cap;
	return true;
}

uint32_t peer_list_step(struct worker *w)
{
	struct peer_list_job *job = w->list_head;
	if (!job)
		return 0;
	if (atomic_load_explicit(&job->req->abandoned, memory_order_relaxed)) {
		/* Nobody waits for it: stop, so that a slow listing cannot pile up behind itself. */
		free(job->list);
		job->list = NULL;
		job->n = 0;
		job_finish(w);
		return 1;
	}
	uint32_t end = job->cursor + PEER_LIST_SLOTS_PER_PASS;
	if (end > w->conn_cap || end < job->cursor)
		end = w->conn_cap;
	uint32_t visited = end > job->cursor ? end - job->cursor : 0;
	bool full = false;
	for (; job->cursor < end; job->cursor++) {
		struct conn *c = w->conns[job->cursor];
		if (!c || c->closing)
			continue;
		if (!job_reserve(job, w->nconns)) {
			log_error("worker %u: out of memory listing peers: the list stops at %u",
				  w->id, job->n);
			full = true;
			break;
		}
		fill_info(w, c, &job->list[job->n++]);
	}
	if (full || job->cursor >= w->conn_cap)
		job_finish(w);
	/* Counts as work, so that the loop does not sleep with a listing half done. */
	return visited ? visited : 1;
}

void peer_list_cancel_all(struct worker *w)
{
	while (w->list_head)
		job_finish(w);
}
