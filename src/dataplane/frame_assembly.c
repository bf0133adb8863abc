// SPDX-License-Identifier: MIT
/*
 * Frames split across reads: where their bytes wait, and for how long.
 *
 * A client may start a frame of up to 64 KiB and send the rest slowly, or
 * never; keys are free, so thousands of clients may do it at once. Two
 * rules bound what that costs the relay (docs/buffers.md):
 *
 * Budget. Assembly buffers come from the worker's assembly pool
 * (limits.frame_assembly_mb), apart from the packet pool. When it is full,
 * the frame that has waited longest is dropped to make room: the rest of
 * its bytes are read and discarded, its connection stays. An honest frame
 * completes within a round trip or so, so the oldest frames are the ones
 * sent slowest or not at all, and stalled frames cannot keep new ones out.
 * Counted as frames_assembly_dropped.
 *
 * Deadline. A frame must be complete within limits.frame_timeout_ms of its
 * first byte plus 1 ms per byte of the frame: past the grace period it must
 * average 1000 bytes/s, so a 64 KiB frame over a slow link gets 96 s at the
 * default, and a frame that stopped does not keep its buffer forever. Past
 * it the connection is closed (frame_timeout). derper has no deadline; it
 * holds a goroutine's 64 KiB read buffer per connection whatever the client
 * does.
 */
#include <string.h>

#include "derp_frame.h"
#include "log.h"
#include "worker.h"

#define EVICT_WARN_NS 10000000000ull

static void list_append(struct worker *w, struct conn *c)
{
	c->asm_prev = w->asm_newest;
	c->asm_next = NULL;
	if (w->asm_newest)
		w->asm_newest->asm_next = c;
	else
		w->asm_oldest = c;
	w->asm_newest = c;
	c->asm_listed = true;
}

void frame_assembly_forget(struct worker *w, struct conn *c)
{
	if (!c->asm_listed)
		return;
	if (c->asm_prev)
		c->asm_prev->asm_next = c->asm_next;
	else
		w->asm_oldest = c->asm_next;
	if (c->asm_next)
		c->asm_next->asm_prev = c->asm_prev;
	else
		w->asm_newest = c->asm_prev;
	c->asm_prev = c->asm_next = NULL;
	c->asm_listed = false;
}

/* Unlinks c and gives its buffer back. Only while c's bytes are not being parsed. */
static void release(struct worker *w, struct conn *c)
{
	frame_assembly_forget(w, c);
	if (c->partial_buf)
		pktbuf_free(&w->asm_pool, c->partial_buf);
	c->partial_buf = NULL;
	c->partial = NULL;
	c->partial_len = 0;
	c->partial_need = 0;
}

void frame_assembly_done(struct worker *w, struct conn *c)
{
	release(w, c);
}

static void warn_evicting(struct worker *w)
{
	if (!log_due(&w->asm_warned_ns, w->now_ns, EVICT_WARN_NS))
		return;
	log_warn("worker %u: frame assembly pool at its limit (limits.frame_assembly_mb = %u): "
		 "dropping the frames that waited longest; %llu dropped so far "
		 "(frames_assembly_dropped)",
		 w->id, w->relay->settings.frame_assembly_mb,
		 (unsigned long long)stat_read(&w->stats.frames_assembly_dropped));
}

/*
 * Drops the frame that has waited longest, other than keep's, to free its
 * buffer. Returns false when there is none.
 */
static bool drop_oldest(struct worker *w, const struct conn *keep)
{
	struct conn *v = w->asm_oldest;
	if (v == keep)
		v = v->asm_next;
	if (!v)
		return false;
	stat_add(&w->stats.frames_assembly_dropped, 1);
	warn_evicting(w);
	/* v's bytes are not being parsed now (only keep's are), so its buffer can go at once. */
	if (v->partial_need) {
		/* The rest of the frame is read and discarded; the connection carries on. */
		v->skip_left = v->partial_need - v->partial_len;
		release(w, v);
	} else {
		/* Not even a whole header: the frame's length, so its end, is unknown. */
		release(w, v);
		worker_conn_close(w, v, CLOSE_NO_MEMORY);
	}
	return true;
}

/* A buffer of cap bytes from the assembly pool, making room if it is full. */
static struct pktbuf *take(struct worker *w, const struct conn *c, uint32_t cap)
{
	struct pktbuf *pb;
	while (!(pb = pktbuf_alloc(&w->asm_pool, cap))) {
		if (!drop_oldest(w, c))
			return NULL;
	}
	return pb;
}

int frame_assembly_start(struct worker *w, struct conn *c, uint32_t cap, const uint8_t *p,
			 uint32_t len)
{
	struct pktbuf *pb = take(w, c, cap);
	if (!pb)
		return -1;
	memcpy(pb->data, p, len);
	c->partial_buf = pb;
	c->partial = pb->data;
	c->partial_len = len;
	c->partial_since_ns = w->now_ns;
	list_append(w, c);
	return 0;
}

int frame_assembly_grow(struct worker *w, struct conn *c, uint32_t cap)
{
	if (c->partial_buf->cap >= cap)
		return 0;
	struct pktbuf *pb = take(w, c, cap);
	if (!pb)
		return -1;
	memcpy(pb->data, c->partial, c->partial_len);
	pktbuf_free(&w->asm_pool, c->partial_buf);
	c->partial_buf = pb;
	c->partial = pb->data;
	return 0;
}

void frame_assembly_release(struct worker *w, struct conn *c)
{
	release(w, c);
}

void frame_assembly_expire(struct worker *w)
{
	uint32_t grace_ms = settings_u32(&w->relay->settings.frame_timeout_ms);
	if (!grace_ms)
		return;
	struct conn *c = w->asm_oldest;
	while (c) {
		struct conn *next = c->asm_next;
		uint32_t whole = c->partial_need ? c->partial_need : DERP_FRAME_HDR_LEN;
		/* 1 ms per byte of the frame: it must average 1000 bytes/s after the grace. */
		uint64_t allowed_ns = ((uint64_t)grace_ms + whole) * 1000000ull;
		if (w->now_ns - c->partial_since_ns > allowed_ns) {
			char short_key[8];
			key_to_short(c->key, short_key);
			log_debug(
			    "conn %s: closing: frame of %u bytes still at %u after %llu ms",
			    short_key, whole, c->partial_len,
			    (unsigned long long)((w->now_ns - c->partial_since_ns) / 1000000));
			worker_conn_close(w, c, CLOSE_FRAME_TIMEOUT);
			/* From the tick, not while parsing: the buffer can go now. */
			release(w, c);
		}
		c = next;
	}
}
