/* SPDX-License-Identifier: MIT */
/*
 * Error text for the caller's buffer: the parts that report "why" to a
 * caller (port layer, WireGuard control plane, handoff) write it with these.
 */
#ifndef HD_ERRBUF_H
#define HD_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Writes the message into err (when there is room) and returns -1. */
__attribute__((format(printf, 3, 0))) static inline int hd_verr(char *err, size_t errlen,
								const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
	return -1;
}

/* As hd_verr, for `return hd_err(err, errlen, "...", ...)`. */
__attribute__((format(printf, 3, 4))) static inline int hd_err(char *err, size_t errlen,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	hd_verr(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

#endif
