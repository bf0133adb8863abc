/* SPDX-License-Identifier: MIT */
/*
 * A connection's output buffer on the management thread: bytes are
 * appended at the end and sent from the front. The unsent bytes move to the
 * front before the buffer grows, so its size follows what is unsent, not
 * what was ever sent: an `events follow` reader that keeps reading but
 * never quite catches up would otherwise grow it without bound.
 */
#ifndef HD_OUTBUF_H
#define HD_OUTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct outbuf {
	char *data;
	size_t off; /* sent so far */
	size_t len; /* appended so far */
	size_t cap;
};

/*
 * Appends n bytes. Returns 0, or -1 when out of memory (the buffer is then
 * as it was). *grown (unless NULL) gets how many bytes the allocation grew by.
 */
int outbuf_append(struct outbuf *b, const void *p, size_t n, size_t *grown);

static inline size_t outbuf_pending(const struct outbuf *b)
{
	return b->len - b->off;
}

/* The unsent bytes start here. */
static inline const char *outbuf_head(const struct outbuf *b)
{
	return b->data + b->off;
}

/* n bytes of the head were sent. */
static inline void outbuf_consumed(struct outbuf *b, size_t n)
{
	b->off += n;
}

/* Forgets what is unsent (the connection is being dropped); keeps the memory. */
static inline void outbuf_discard(struct outbuf *b)
{
	b->off = b->len = 0;
}

void outbuf_free(struct outbuf *b);

#endif
