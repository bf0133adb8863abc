// SPDX-License-Identifier: MIT
/*
 * The dataplane loop. One pass:
 *   1. take new connections from the handoff ring;
 *   2. drain the rings from the other workers (packets, buffer returns,
 *      peer events) in bursts;
 *   3. reap io_uring completions in a batch (received bytes become frames
 *      and routed packets; finished sends release their buffers);
 *   4. start one vectored send for every connection with queued frames,
 *      push outgoing messages to the other workers and wake them if asleep;
 *   5. submit everything with one io_uring_submit.
 * With no work for a while the worker sleeps in io_uring_submit_and_wait
 * (its eventfd read is always armed, so a ring producer can wake it).
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cache_line.h"
#include "idle_poll.h"
#include "log.h"
#include "mem_release.h"
#include "worker.h"

#define RING_ENTRIES	 4096
#define CQE_BATCH	 256
#define MSG_BURST	 256
#define TICK_NS		 250000000ull	/* keepalive / write-timeout sweep */
#define TRIM_NS		 10000000000ull /* idle packet buffers older than this are freed */

uint64_t worker_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- connection slots ---- */

struct conn *worker_conn_new(struct worker *w, int fd)
{
	uint32_t id;
	if (w->nfree_ids) {
		id = w->free_ids[--w->nfree_ids];
	} else {
		if (w->conn_cap >= WORKER_MAX_CONNS)
			return NULL;
		uint32_t cap = w->conn_cap ? w->conn_cap * 2 : 1024;
		struct conn **conns = realloc(w->conns, cap * sizeof(*conns));
		uint32_t *ids = realloc(w->free_ids, cap * sizeof(*ids));
		if (conns)
			w->conns = conns;
		if (ids)
			w->free_ids = ids;
		if (!conns || !ids)
			return NULL;
		for (uint32_t i = w->conn_cap; i < cap; i++)
			w->conns[i] = NULL;
		/* Hand out low ids first: push the new ones in reverse. */
		for (uint32_t i = cap; i > w->conn_cap + 1; i--)
			w->free_ids[w->nfree_ids++] = i - 1;
		id = w->conn_cap;
		w->conn_cap = cap;
	}
	static _Thread_local uint32_t gen_counter;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		w->free_ids[w->nfree_ids++] = id;
		return NULL;
	}
	c->fd = fd;
	c->id = id;
	c->gen = ++gen_counter;
	c->mesh_in_link = -1;
	if (recv_conn_init(w, c) < 0) {
		free(c);
		w->free_ids[w->nfree_ids++] = id;
		return NULL;
	}
	w->conns[id] = c;
	w->nconns++;
	return c;
}

struct conn *worker_conn_get(struct worker *w, uint32_t id, uint32_t gen)
{
	if (id >= w->conn_cap)
		return NULL;
	struct conn *c = w->conns[id];
	return c && c->gen == gen ? c : NULL;
}

bool worker_conn_sub_keep(void *worker, uint32_t id, uint32_t gen, uint64_t pass)
{
	struct conn *c = worker_conn_get(worker, id, gen);
	if (!c || c->closing || c->sub_pass == pass)
		return false;
	c->sub_pass = pass;
	return true;
}

/*
 * Closing is two steps: now, the key is unregistered everywhere and the
 * socket shut down so that pending I/O completes; once no operation is in
 * flight, finalize frees the slot (a late completion must not find it reused).
 */
void worker_conn_close(struct worker *w, struct conn *c, enum close_reason why)
{
	if (c->closing)
		return;
	c->closing = true;
	c->close_reason = (uint8_t)why;
	stat_add(&w->stats.conns_closed[why], 1);
	/* Its frame may be being parsed right now: the buffer itself goes at finalize. */
	frame_assembly_forget(w, c);
	recv_limit_forget(w, c);
	session_unregister(w, c);
	sendq_discard(w, c);
	shutdown(c->fd, SHUT_RDWR);
	char short_key[8];
	key_to_short(c->key, short_key);
	log_debug("worker %u: %s closed: %s", w->id, short_key, close_reason_names[why]);
}

static void conn_maybe_finalize(struct worker *w, struct conn *c)
{
	/* A connection still on the dirty list is finalized once flush_dirty passes it. */
	if (!c->closing || c->recv_armed || c->inflight || c->in_dirty)
		return;
	sendq_discard(w, c);
	close(c->fd);
	recv_conn_free(w, c);
	frame_assembly_release(w, c);
	free(c->tls_out);
	SSL_free(c->ssl);
	ws_conn_free(c);
	w->conns[c->id] = NULL;
	w->free_ids[w->nfree_ids++] = c->id;
	w->nconns--;
	atomic_fetch_sub_explicit(&w->relay->conns_current, 1, memory_order_relaxed);
	free(c);
}

/* ---- rings between workers ---- */

static struct spsc_ring *ring_to(struct worker *w, uint16_t target)
{
	return &w->relay->rings[(size_t)w->id * w->relay->nworkers + target];
}

static struct spsc_ring *ring_from(struct worker *w, uint16_t source)
{
	return &w->relay->rings[(size_t)source * w->relay->nworkers + w->id];
}

void worker_post(struct worker *w, uint16_t target, uint32_t type, void *ptr)
{
	struct outbox *ob = &w->outboxes[target];
	struct spsc_msg m = { .type = type, .ptr = ptr };
	ob->wrote = true;
	/* Keep order: once something waits in the backlog, everything queues behind it. */
	if (!ob->head && spsc_ring_enqueue(ring_to(w, target), &m) == 0)
		return;
	struct outbox_node *n = malloc(sizeof(*n));
	if (!n) {
		/* Cannot happen short of OOM; losing a FREE only leaks one buffer. */
		log_error("worker %u: out of memory queueing for worker %u", w->id, target);
		return;
	}
	n->next = NULL;
	n->msg = m;
	if (ob->tail)
		ob->tail->next = n;
	else
		ob->head = n;
	ob->tail = n;
	ob->count++;
}

static void outbox_flush(struct worker *w, uint16_t target)
{
	struct outbox *ob = &w->outboxes[target];
	while (ob->head) {
		if (spsc_ring_enqueue(ring_to(w, target), &ob->head->msg) < 0)
			break;
		struct outbox_node *n = ob->head;
		ob->head = n->next;
		if (!ob->head)
			ob->tail = NULL;
		ob->count--;
		free(n);
	}
}

/* Which of the worker's pools a buffer it owns goes back to. */
static struct pktbuf_pool *pool_of(struct worker *w, const struct pktbuf *pb)
{
	switch (pb->pool) {
	case PKTBUF_POOL_CTRL:
		return &w->ctrl_pool;
	case PKTBUF_POOL_ASSEMBLY:
		return &w->asm_pool;
	default:
		return &w->pool;
	}
}

/* A buffer of our pool is free: a reference also lets go of its receive buffer. */
static void free_own_buf(struct worker *w, struct pktbuf *pb)
{
	if (pktbuf_is_ref(pb))
		recv_ring_unpin(w, pb->recv_buf);
	pktbuf_free(pool_of(w, pb), pb);
}

void worker_release_buf(struct worker *w, struct pktbuf *pb)
{
	if (pb->owner == w->id)
		free_own_buf(w, pb);
	else
		worker_post(w, pb->owner, MSG_FREE, pb);
}

void worker_wake(struct worker *w)
{
	/*
	 * Pairs with the sleeper's store of `sleeping` then re-check of its
	 * rings: either it sees our message or we see it asleep. One eventfd
	 * write per sleep is enough: every producer and pass after the first
	 * finds wake_sent set (the sleeper clears it before it next sleeps).
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&w->sleeping, memory_order_relaxed) &&
	    !atomic_exchange_explicit(&w->wake_sent, true, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t rc = write(w->event_fd, &one, sizeof(one));
		(void)rc;
	}
}

/* Applies messages from another worker: packets, buffers coming home, peer events. */
static uint32_t apply_peer_msgs(struct worker *w, struct spsc_msg *msgs, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct spsc_msg *m = &msgs[i];
		switch (m->type) {
		case MSG_PKT:
			session_deliver_remote(w, m->ptr);
			break;
		case MSG_FREE:
			free_own_buf(w, m->ptr);
			break;
		default:
			session_apply_event(w, m->type, m->ptr);
			free(m->ptr);
			break;
		}
	}
	return n;
}

uint32_t worker_drain_peer_rings(struct worker *w)
{
	struct spsc_msg msgs[MSG_BURST];
	uint32_t total = 0;
	/*
	 * Each ring is read until empty, not one burst per pass: a pass can
	 * route thousands of packets (a 16 KiB read holds 160 small ones), and
	 * their buffers come home as MSG_FREE here. Reading back only a burst
	 * per pass let the frees fall behind the allocations until the pool hit
	 * its limit with every buffer idle in a ring or outbox. At most one
	 * ring's worth per call, so a producer refilling it cannot hold us here.
	 */
	for (uint16_t j = 0; j < w->relay->nworkers; j++) {
		if (j == w->id)
			continue;
		struct spsc_ring *ring = ring_from(w, j);
		uint32_t n, from_j = 0;
		while (from_j <= ring->mask &&
		       (n = spsc_ring_dequeue_burst(ring, msgs, MSG_BURST)) > 0)
			from_j += apply_peer_msgs(w, msgs, n);
		total += from_j;
	}
	return total + mesh_drain_links(w);
}

static uint32_t drain_handoffs(struct worker *w)
{
	struct spsc_msg msgs[64];
	uint32_t n = spsc_ring_dequeue_burst(&w->handoff, msgs, 64);
	if (!n)
		return 0;
	/*
	 * A peer registers (REG to every worker) before its ServerInfo is
	 * written, so a client that saw ServerInfo and then sent a newcomer our
	 * way has its REG in our rings by now. Apply all of them before the
	 * newcomer's pipelined frames are routed, or the first packet to that
	 * peer would find no route.
	 */
	while (worker_drain_peer_rings(w))
		;
	for (uint32_t i = 0; i < n; i++) {
		struct handoff *h = msgs[i].ptr;
		if (w->draining) {
			SSL_free(h->ssl);
			close(h->fd);
			atomic_fetch_sub_explicit(&w->relay->conns_current, 1,
						  memory_order_relaxed);
			free(h);
			continue;
		}
		session_accept(w, h);
	}
	return n;
}

static uint32_t drain_control(struct worker *w)
{
	struct spsc_msg msgs[16];
	uint32_t n = spsc_ring_dequeue_burst(&w->control, msgs, 16);
	for (uint32_t i = 0; i < n; i++) {
		if (msgs[i].type == CTL_LIST_PEERS) {
			peer_list_start(w, msgs[i].ptr);
		} else if (msgs[i].type == CTL_CLOSE_PEER) {
			session_apply_event(w, MSG_CLOSE_PEER, msgs[i].ptr);
			free(msgs[i].ptr);
		}
	}
	return n;
}

static bool rings_have_work(struct worker *w)
{
	if (spsc_ring_count(&w->handoff) || spsc_ring_count(&w->control))
		return true;
	for (uint16_t j = 0; j < w->relay->nworkers; j++) {
		if (j != w->id && spsc_ring_count(ring_from(w, j)))
			return true;
	}
	return mesh_links_have_work(w);
}

/* ---- io_uring ---- */

struct io_uring_sqe *worker_get_sqe(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) {
		io_uring_submit(&w->ring);
		sqe = io_uring_get_sqe(&w->ring);
	}
	return sqe;
}

static void arm_eventfd(struct worker *w)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	if (!sqe)
		return; /* retried next pass */
	io_uring_prep_read(sqe, w->event_fd, &w->event_buf, sizeof(w->event_buf), 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)OP_EVENT << 56);
	w->eventfd_armed = true;
}

static uint32_t reap_completions(struct worker *w)
{
	struct io_uring_cqe *cqes[CQE_BATCH];
	uint32_t n = io_uring_peek_batch_cqe(&w->ring, cqes, CQE_BATCH);
	for (uint32_t i = 0; i < n; i++) {
		struct io_uring_cqe *cqe = cqes[i];
		uint64_t ud = cqe->user_data;
		enum worker_op op = (enum worker_op)(ud >> 56);
		if (op == OP_EVENT) {
			w->eventfd_armed = false;
			continue;
		}
		if (op != OP_RECV && op != OP_SEND)
			continue;
		struct conn *c = worker_conn_get(w, (uint32_t)(ud >> 32) & 0xffffff, (uint32_t)ud);
		if (!c) {
			/* Only a recv of a finalized conn can land here. */
			recv_orphan(w, cqe);
			continue;
		}
		if (op == OP_RECV)
			recv_complete(w, c, cqe);
		else
			sendq_complete(w, c, cqe->res);
		conn_maybe_finalize(w, c);
	}
	io_uring_cq_advance(&w->ring, n);
	recv_batch_done(w);
	return n;
}

static uint32_t flush_dirty(struct worker *w)
{
	uint32_t n = 0;
	struct conn *c = w->dirty;
	w->dirty = NULL;
	while (c) {
		struct conn *next = c->dirty_next;
		c->in_dirty = false;
		c->dirty_next = NULL;
		sendq_flush(w, c);
		if (c->closing)
			conn_maybe_finalize(w, c);
		n++;
		c = next;
	}
	return n;
}

static void flush_outboxes(struct worker *w)
{
	for (uint16_t j = 0; j < w->relay->nworkers; j++) {
		struct outbox *ob = &w->outboxes[j];
		if (ob->head)
			outbox_flush(w, j);
		if (ob->wrote) {
			ob->wrote = ob->head != NULL; /* retry the wake while a backlog remains */
			worker_wake(w->relay->workers[j]);
		}
	}
	mesh_wake_links(w);
}

/*
 * Packet buffers idle for a whole trim period go back to the system, so a
 * burst does not keep its memory for the life of the process; malloc_trim
 * then hands whole free pages back to the kernel (RSS), which free() alone
 * rarely does for these sizes.
 */
static void trim_pool(struct worker *w)
{
	w->next_trim_ns = w->now_ns + TRIM_NS;
	uint64_t freed = pktbuf_pool_trim(&w->pool) + pktbuf_pool_trim(&w->ctrl_pool) +
			 pktbuf_pool_trim(&w->asm_pool);
	if (mem_release_freed(freed)) {
		log_debug("worker %u: returned %llu KiB of idle packet buffers (%llu KiB kept)",
			  w->id, (unsigned long long)(freed >> 10),
			  (unsigned long long)(w->pool.bytes_allocated >> 10));
	}
}

static void tick(struct worker *w)
{
	w->next_tick_ns = w->now_ns + TICK_NS;
	if (w->now_ns >= w->next_trim_ns)
		trim_pool(w);
	stat_set(&w->stats.pool_bytes, w->pool.bytes_allocated);
	stat_set(&w->stats.ctrl_pool_bytes, w->ctrl_pool.bytes_allocated);
	stat_set(&w->stats.asm_pool_bytes, w->asm_pool.bytes_allocated);
	frame_assembly_expire(w);
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		struct conn *c = w->conns[i];
		if (!c)
			continue;
		/* A recv that found no free SQE when it was due is armed now. */
		if (!c->recv_armed && !c->closing && !c->recv_paused)
			recv_arm(w, c);
		session_tick(w, c);
	}
}

static void start_drain(struct worker *w)
{
	w->draining = true;
	w->drain_deadline_ns =
	    w->now_ns + (uint64_t)settings_u32(&w->relay->settings.drain_timeout_ms) * 1000000ull;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		struct conn *c = w->conns[i];
		if (c && !c->closing)
			session_drain(w, c);
	}
	log_debug("worker %u: draining %u connections", w->id, w->nconns);
}

/* While draining: close connections whose Restarting frame went out, or all at the deadline. */
static void drain_step(struct worker *w)
{
	bool deadline = w->now_ns >= w->drain_deadline_ns;
	for (uint32_t i = 0; i < w->conn_cap; i++) {
		struct conn *c = w->conns[i];
		if (c && !c->closing && (deadline || sendq_empty(c)))
			worker_conn_close(w, c, CLOSE_SHUTDOWN);
		c = w->conns[i];
		if (c)
			conn_maybe_finalize(w, c);
	}
	if (w->nconns == 0)
		w->done = true;
}

static void submit(struct worker *w)
{
	int rc = io_uring_submit(&w->ring);
	if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR &&
	    log_due(&w->last_submit_warn_ns, w->now_ns, 1000000000ull))
		log_error("worker %u: io_uring_submit: %s", w->id, strerror(-rc));
}

/*
 * Could a full pass find work? Cheap enough to poll while spinning: no
 * clock read, no system call, only loads of the rings' indexes.
 */
static bool worker_has_work(struct worker *w)
{
	if (io_uring_cq_ready(&w->ring))
		return true;
	/* COOP_TASKRUN: finished I/O waits as task work until we enter the kernel. */
	if (IO_URING_READ_ONCE(*w->ring.sq.kflags) & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW))
		return true;
	if (w->dirty || w->draining || rings_have_work(w) ||
	    atomic_load_explicit(&w->relay->draining, memory_order_relaxed))
		return true;
	for (uint16_t j = 0; j < w->relay->nworkers; j++) {
		if (w->outboxes[j].head)
			return true;
	}
	return false;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * Sleeps in io_uring until a completion (a socket, or the eventfd that
 * another thread writes through worker_wake) or the next tick.
 */
static void worker_sleep(struct worker *w)
{
	/* Announce it, then look once more (see worker_wake). */
	atomic_store_explicit(&w->wake_sent, false, memory_order_relaxed);
	atomic_store_explicit(&w->sleeping, true, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst);
	if (!rings_have_work(w) && !w->draining) {
		uint64_t wake_ns = w->next_tick_ns;
		/* Rate-limited connections resume on time, not at the next tick. */
		if (w->paused && w->next_resume_ns < wake_ns)
			wake_ns = w->next_resume_ns;
		uint64_t wait_ns = wake_ns > w->now_ns ? wake_ns - w->now_ns : 0;
		struct __kernel_timespec ts = { .tv_sec = (long long)(wait_ns / 1000000000ull),
						.tv_nsec = (long long)(wait_ns % 1000000000ull) };
		struct io_uring_cqe *cqe;
		stat_add(&w->stats.loop_sleeps, 1);
		io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, &ts, NULL);
		/* Another thread wrote the eventfd for this sleep (or is about to). */
		if (atomic_load_explicit(&w->wake_sent, memory_order_relaxed))
			stat_add(&w->stats.wakeups, 1);
	} else {
		submit(w);
	}
	atomic_store_explicit(&w->sleeping, false, memory_order_relaxed);
}

/*
 * Out of work: spin a little if spinning has been paying (idle_poll.c),
 * then sleep. The spin only polls worker_has_work and counts passes; the
 * clock is read once, when the spin ends. Not inlined, so that a profile
 * shows what the spin costs apart from the loop (perf/efficiency.sh).
 */
static __attribute__((noinline)) void worker_idle(struct worker *w)
{
	uint32_t budget = idle_poll_budget(&w->idle);
	if (budget) {
		uint32_t n = 0;
		bool hit = false;
		for (; n < budget; n++) {
			if (worker_has_work(w)) {
				hit = true;
				break;
			}
			cpu_relax();
		}
		uint64_t now = worker_now_ns();
		idle_poll_spun(&w->idle, n, now - w->now_ns, hit);
		stat_add(hit ? &w->stats.spin_hits : &w->stats.spin_misses, 1);
		w->now_ns = now;
		if (hit)
			return;
	}
	worker_sleep(w);
}

static void worker_loop(struct worker *w)
{
	/* The previous pass did work: its length counts as busy time. */
	bool busy = false;
	idle_poll_init(&w->idle, settings_u32(&w->relay->settings.idle_spin_us));
	w->now_ns = worker_now_ns();
	w->next_tick_ns = w->now_ns + TICK_NS;
	w->next_trim_ns = w->now_ns + TRIM_NS;
	while (!w->done) {
		uint32_t work = 0;
		/* One clock read per pass: it also ends the previous pass's busy time. */
		uint64_t now = worker_now_ns();
		if (busy)
			stat_add(&w->stats.busy_ns, now - w->now_ns);
		w->now_ns = now;
		if (!w->draining && atomic_load_explicit(&w->relay->draining, memory_order_acquire))
			start_drain(w);
		work += drain_handoffs(w);
		work += drain_control(w);
		work += peer_list_step(w);
		work += worker_drain_peer_rings(w);
		work += reap_completions(w);
		work += recv_limit_resume_due(w);
		work += flush_dirty(w);
		flush_outboxes(w);
		/* Receive buffers whose in-place packets went out go back to the kernel. */
		recv_batch_done(w);
		if (w->now_ns >= w->next_tick_ns)
			tick(w);
		if (w->draining)
			drain_step(w);
		if (!w->eventfd_armed)
			arm_eventfd(w);
		stat_add(&w->stats.loop_passes, 1);
		submit(w);
		busy = work != 0;
		if (!busy)
			worker_idle(w);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char role[16];
	snprintf(role, sizeof(role), "w%u", w->id);
	log_set_thread_role(role);
	int cpu = w->relay->cpus.worker_cpu[w->id];
	int prc = cpu_pin_self(cpu);
	if (prc)
		log_warn("worker %u: cannot pin to CPU %d: %s", w->id, cpu, strerror(prc));
	else if (cpu != CPU_PIN_NONE)
		log_debug("worker %u: pinned to CPU %d", w->id, cpu);
	if (w->ring_disabled) {
		/* liburing 2.3 declares io_uring_enable_rings but does not export it. */
		long rc = syscall(__NR_io_uring_register, w->ring.ring_fd,
				  IORING_REGISTER_ENABLE_RINGS, NULL, 0);
		if (rc < 0) {
			log_error("worker %u: enabling io_uring: %s", w->id, strerror(errno));
			abort();
		}
	}
	worker_loop(w);
	log_debug("worker %u: stopped", w->id);
	return NULL;
}

/* ---- setup ---- */

static int setup_ring(struct worker *w)
{
	struct io_uring_params p = { 0 };
	/*
	 * Platform notes: plain rings were 30% slower at depth 1 than with
	 * COOP_TASKRUN. SINGLE_ISSUER binds the ring to the first task that
	 * submits; the ring is made here, on the main thread, so it starts
	 * disabled and the worker thread enables it (worker_main).
	 * TASKRUN_FLAG: with COOP_TASKRUN, completions are only posted when the
	 * thread enters the kernel; the flag lets io_uring_peek_batch_cqe see
	 * that work is pending and enter, so a busy worker that has nothing to
	 * submit still reaps its sends (else buffers pile up unreleased).
	 */
	p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
		  IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_R_DISABLED;
	int rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	w->ring_disabled = rc == 0;
	if (rc == -EINVAL) {
		/* Kernels before 6.0 lack SINGLE_ISSUER. */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	}
	if (rc < 0) {
		log_error("worker %u: io_uring_queue_init: %s", w->id, strerror(-rc));
		return rc;
	}
	w->ring_ready = true;
	return 0;
}

struct worker *worker_create(struct relay *r, uint16_t id)
{
	/* It holds two rings, aligned to their cache lines; calloc promises 16 bytes. */
	struct worker *w = cache_line_calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = id;
	w->relay = r;
	w->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->outboxes = calloc(r->nworkers, sizeof(*w->outboxes));
	w->tls_plain = malloc(TLS_PLAIN_CHUNK);
	pktbuf_pool_init(&w->pool, id, PKTBUF_POOL_DATA,
			 (uint64_t)r->settings.buffer_pool_mb << 20);
	pktbuf_pool_init(&w->ctrl_pool, id, PKTBUF_POOL_CTRL,
			 (uint64_t)r->settings.control_pool_mb << 20);
	pktbuf_pool_init(&w->asm_pool, id, PKTBUF_POOL_ASSEMBLY,
			 (uint64_t)r->settings.frame_assembly_mb << 20);
	w->queue_codel = strcmp(r->settings.queue_policy, "codel") == 0;
	memcpy(&w->fq_seed, r->hash_key, sizeof(w->fq_seed));
	w->fq_seed ^= id;
	if (w->event_fd < 0 || !w->outboxes || !w->tls_plain ||
	    spsc_ring_init(&w->handoff, 4096) < 0 || spsc_ring_init(&w->control, 64) < 0 ||
	    peer_table_init(&w->peers, r->hash_key, id) < 0 || setup_ring(w) < 0 ||
	    recv_setup(w) < 0) {
		log_error("worker %u: setup failed", id);
		/*
		 * The process is about to exit, but unwinding keeps the
		 * sanitizer builds' leak check meaningful for this path too.
		 */
		worker_destroy(w);
		return NULL;
	}
	return w;
}

int worker_start(struct worker *w)
{
	int rc = pthread_create(&w->thread, NULL, worker_main, w);
	if (rc)
		log_error("worker %u: pthread_create: %s", w->id, strerror(rc));
	return -rc;
}

void worker_destroy(struct worker *w)
{
	if (!w)
		return;
	/* Also called on a worker whose creation stopped halfway (worker_create). */
	if (w->ring_ready)
		io_uring_queue_exit(&w->ring);
	recv_teardown(w);
	if (w->event_fd >= 0)
		close(w->event_fd);
	peer_list_cancel_all(w);
	if (w->peers.slots)
		peer_table_destroy(&w->peers);
	while (w->free_ctx) {
		struct send_ctx *next = w->free_ctx->next;
		free(w->free_ctx);
		w->free_ctx = next;
	}
	pktbuf_pool_destroy(&w->pool);
	pktbuf_pool_destroy(&w->ctrl_pool);
	pktbuf_pool_destroy(&w->asm_pool);
	spsc_ring_free(&w->handoff);
	spsc_ring_free(&w->control);
	free(w->conns);
	free(w->free_ids);
	free(w->outboxes);
	free(w->tls_plain);
	free(w);
}
