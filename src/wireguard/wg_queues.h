/* SPDX-License-Identifier: MIT */
/*
 * wireguard.queues: which RX queues of each relay interface get an AF_XDP
 * socket. "auto" (every queue the interface has now), a count ("2": queues
 * 0 and 1) or a list of queue numbers and ranges ("0,2", "1-3"; a lone
 * queue other than 0 is written as a range, "3-3", since a bare number is a
 * count). A set of queues is a 64-bit mask: the XDP program's XSKMAP
 * reserves 64 queues per interface.
 *
 * The parser is inline so that the config loader (src/mgmt) can check the
 * value without linking the relay.
 */
#ifndef HD_WG_QUEUES_H
#define HD_WG_QUEUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define WG_MAX_QUEUES 64

struct wg_queue_spec {
	bool all;      /* auto: whatever the interface has */
	uint64_t mask; /* otherwise: bit q set = bind queue q */
};

/* A decimal in 0..max at *p, advancing p; -1 if there is none or it is too large. */
static inline int wg_queues_number(const char **p, int max)
{
	int v = 0, digits = 0;

	for (; **p >= '0' && **p <= '9'; (*p)++) {
		v = v * 10 + (**p - '0');
		if (++digits > 3 || v > max)
			return -1;
	}
	return digits ? v : -1;
}

/* Returns 0 with spec filled, or -1 with the reason in err (no "where" in front). */
static inline int wg_queues_parse(const char *text, struct wg_queue_spec *spec, char *err,
				  size_t errlen)
{
	const char *p = text;

	*spec = (struct wg_queue_spec){ 0 };
	if (strcmp(text, "auto") == 0) {
		spec->all = true;
		return 0;
	}
	if (!strpbrk(text, ",-")) {
		int n = wg_queues_number(&p, WG_MAX_QUEUES);
		if (n < 1 || *p) {
			snprintf(
			    err, errlen,
			    "\"%s\" is not auto, a count in 1..%d or a list such as 0,1 or 0-3",
			    text, WG_MAX_QUEUES);
			return -1;
		}
		spec->mask = n == 64 ? ~0ull : (1ull << n) - 1;
		return 0;
	}
	for (;;) {
		int lo = wg_queues_number(&p, WG_MAX_QUEUES - 1), hi = lo;
		if (lo >= 0 && *p == '-') {
			p++;
			hi = wg_queues_number(&p, WG_MAX_QUEUES - 1);
		}
		if (lo < 0 || hi < lo || (*p && *p != ',')) {
			snprintf(
			    err, errlen,
			    "\"%s\": queue numbers are 0..%d, ranges low-high, separated by ','",
			    text, WG_MAX_QUEUES - 1);
			return -1;
		}
		for (int q = lo; q <= hi; q++) {
			if (spec->mask & (1ull << q)) {
				snprintf(err, errlen, "\"%s\": queue %d is listed twice", text, q);
				return -1;
			}
			spec->mask |= 1ull << q;
		}
		if (!*p)
			return 0;
		p++;
	}
}

/* Formats a mask as a list ("0-3,6"); like snprintf. */
static inline void wg_queues_format(uint64_t mask, char *out, size_t cap)
{
	size_t len = 0;

	if (cap)
		out[0] = '\0';
	for (int q = 0; q < WG_MAX_QUEUES && len < cap; q++) {
		if (!(mask & (1ull << q)))
			continue;
		int hi = q;
		while (hi + 1 < WG_MAX_QUEUES && (mask & (1ull << (hi + 1))))
			hi++;
		int w = hi > q ? snprintf(out + len, cap - len, "%s%d-%d", len ? "," : "", q, hi)
			       : snprintf(out + len, cap - len, "%s%d", len ? "," : "", q);
		len += w > 0 ? (size_t)w : 0;
		q = hi;
	}
}

#endif
