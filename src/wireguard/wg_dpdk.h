/* SPDX-License-Identifier: MIT */
/*
 * The DPDK port backend (port.h), built with meson -Ddpdk=enabled: one
 * ethdev per relay interface, driven by DPDK's net_af_xdp PMD on queue 0,
 * with one mbuf pool shared by every port. fd() is -1: the worker busy-polls.
 */
#ifndef HD_WG_DPDK_H
#define HD_WG_DPDK_H

#include <stddef.h>
#include <stdint.h>

#include "port.h"

/*
 * Starts DPDK's EAL (once per process) and opens a port on queue 0 of each
 * of the n interfaces; port is the relay's UDP port (host order), the one
 * the XDP filter sends to DPDK. All or none: returns 0 with ports[0..n)
 * set, or -1 with the reason in err. Each port is closed through its ops;
 * closing the last one stops DPDK, which cannot be started again in the
 * same process.
 */
int wg_dpdk_open(char ifnames[][16], int n, uint16_t port, struct port **ports, char *err,
		 size_t errlen);

#endif
