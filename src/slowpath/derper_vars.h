/* SPDX-License-Identifier: MIT */
/*
 * /debug/vars on the DERP port, in derper's expvar shape: a JSON object
 * whose "derp" member carries derper's counter names (derp_server.go's
 * ExpVar), filled from our counters, so dashboards and tools written for
 * derper read the relay unchanged. docs/derp-compat.md lists which of
 * derper's names have no counterpart here and are left out.
 */
#ifndef HD_DERPER_VARS_H
#define HD_DERPER_VARS_H

#include <stddef.h>

#include "relay.h"
#include "slowpath.h"

/*
 * Writes the object into a malloc'd buffer (*out, *len; free it). Any
 * thread: it reads the workers' counters with relaxed loads. Returns 0, or
 * -1 when out of memory.
 */
int derper_vars_format(const struct relay *r, const struct slowpath_stats *slow, char **out,
		       size_t *len);

#endif
