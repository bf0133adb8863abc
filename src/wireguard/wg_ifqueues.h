/* SPDX-License-Identifier: MIT */
/* The RX queues of an interface that wireguard.queues picks (wg_queues.h). */
#ifndef HD_WG_IFQUEUES_H
#define HD_WG_IFQUEUES_H

#include <stddef.h>
#include <stdint.h>

#include "wg_queues.h"

/* RX queues the interface uses now; 1 when it cannot be told. */
int wg_ifqueues_count(const char *ifname);

/* The queues of ifname that spec names; -1 with err if it names one the interface lacks. */
int wg_ifqueues_pick(const struct wg_queue_spec *spec, const char *ifname, uint64_t *mask,
		     char *err, size_t errlen);

#endif
