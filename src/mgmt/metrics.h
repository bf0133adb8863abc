/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: the text exposition format (version 0.0.4) for
 * /metrics, and the same counters as JSON for /debug/vars. Names carry the
 * hyperderp_ prefix; counters end in _total, byte counts in _bytes.
 */
#ifndef HD_METRICS_H
#define HD_METRICS_H

#include <stddef.h>

#include "mgmt_command.h"

/*
 * Writes the exposition text into a malloc'd buffer (*out, *len; free it).
 * Management thread only (it lists the peers for the queue gauges).
 * Returns 0, or -1 when out of memory.
 */
int metrics_format(struct mgmt_context *ctx, char **out, size_t *len);

#endif
