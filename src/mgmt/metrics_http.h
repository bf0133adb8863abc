/* SPDX-License-Identifier: MIT */
/*
 * The metrics port's HTTP side: GET /metrics (Prometheus text), GET
 * /debug/vars (every counter as JSON) and a small index at /. One request
 * per connection; the response closes it.
 */
#ifndef HD_METRICS_HTTP_H
#define HD_METRICS_HTTP_H

#include <stddef.h>

#include "mgmt_command.h"

#define METRICS_HTTP_MAX_HEAD 8192

/*
 * Looks at the bytes received so far. Returns 0 while the request head is
 * incomplete; otherwise 1 with a whole malloc'd response in *resp (NULL when
 * out of memory) and its length in *len.
 */
int metrics_http_respond(struct mgmt_context *ctx, const char *in, size_t in_len, char **resp,
			 size_t *len);

#endif
