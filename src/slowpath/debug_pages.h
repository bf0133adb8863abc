/* SPDX-License-Identifier: MIT */
/*
 * /debug/ on the DERP port, as derper's tsweb debugger serves it: an index
 * and /debug/vars (derper_vars.h), for the [debug] allow networks only
 * (loopback by default). Anyone else, and anything that came through a proxy
 * (X-Forwarded-For), gets derper's 403 "debug access denied".
 */
#ifndef HD_DEBUG_PAGES_H
#define HD_DEBUG_PAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_request.h"
#include "ip_prefix.h"
#include "relay.h"
#include "slowpath.h"

/* Whether a request from peer (16 bytes, IPv4 mapped) may read /debug/. */
bool debug_pages_allowed(const struct http_request *req, const uint8_t peer[16],
			 const struct ip_prefix_list *allow);

/*
 * The complete response to a /debug/ request (req->path starts with
 * "/debug/"), malloc'd (*len bytes; free it), with its status in *status.
 * NULL when out of memory.
 */
uint8_t *debug_pages_respond(const struct http_request *req, bool allowed, const struct relay *r,
			     const struct slowpath_stats *slow, size_t *len, int *status);

#endif
