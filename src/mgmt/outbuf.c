// SPDX-License-Identifier: MIT
#include "outbuf.h"

#include <stdlib.h>
#include <string.h>

#define OUTBUF_INITIAL 4096

int outbuf_append(struct outbuf *b, const void *p, size_t n, size_t *grown)
{
	if (grown)
		*grown = 0;
	if (b->len + n > b->cap && b->off > 0) {
		memmove(b->data, b->data + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : OUTBUF_INITIAL;
		while (cap < b->len + n)
			cap *= 2;
		char *data = realloc(b->data, cap);
		if (!data)
			return -1;
		if (grown)
			*grown = cap - b->cap;
		b->data = data;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

void outbuf_free(struct outbuf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
