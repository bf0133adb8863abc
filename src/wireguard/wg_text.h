/* SPDX-License-Identifier: MIT */
/* Error messages and text output for the WireGuard relay's control plane. */
#ifndef HD_WG_TEXT_H
#define HD_WG_TEXT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "errbuf.h"

/* Writes the message into err (when there is room) and returns -1: `return wg_err(...)`. */
__attribute__((format(printf, 3, 4))) static inline int wg_err(char *err, size_t errlen,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hd_verr(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Appends to out[0..cap) at *len, like snprintf: *len grows by the full
 * length even past cap, so a first pass with cap 0 measures.
 */
__attribute__((format(printf, 4, 5))) static inline void
wg_appendf(char *out, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(*len < cap ? out + *len : NULL, *len < cap ? cap - *len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*len += (size_t)n;
}

#endif
