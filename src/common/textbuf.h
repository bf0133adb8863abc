/* SPDX-License-Identifier: MIT */
/*
 * A growing text buffer for answers built in one go (/debug/vars,
 * /bootstrap-dns). Out of memory is remembered and checked once at the end.
 */
#ifndef HD_TEXTBUF_H
#define HD_TEXTBUF_H

#include <stdbool.h>
#include <stddef.h>

struct textbuf {
	char *p; /* NUL-terminated once anything was added; free() it */
	size_t len;
	size_t cap;
	bool failed; /* an append ran out of memory: the text is incomplete */
};

__attribute__((format(printf, 2, 3))) void textbuf_printf(struct textbuf *t, const char *fmt, ...);

#endif
