/* SPDX-License-Identifier: MIT */
/*
 * The XDP fast path's userspace half: loads bpf/wg_relay.bpf.c (embedded
 * in the binary at build time), attaches it to each relay interface through
 * a bpf_link (detached by the kernel when the process exits, so a crash
 * leaves nothing behind), and keeps its maps in step with the routes.
 */
#ifndef HD_WG_XDP_H
#define HD_WG_XDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wg_maps.h"
#include "wg_route.h"

struct wg_xdp;

/*
 * Loads the program and attaches it to every interface in ifnames (native
 * mode first, then generic). mode is WG_XDP_FORWARD or WG_XDP_ALL_TO_XSK.
 * Returns NULL with the reason in err: no permission, no XDP support, the
 * interface missing, the verifier's complaint.
 */
struct wg_xdp *wg_xdp_open(char ifnames[][16], int nifs, uint16_t port, int mode, char *err,
			   size_t errlen);
void wg_xdp_close(struct wg_xdp *x);

/* "native" or "generic" (the weakest mode any interface got). */
const char *wg_xdp_attach_mode(const struct wg_xdp *x);
int wg_xdp_ifindex(const struct wg_xdp *x, int i);

/*
 * Registers the AF_XDP socket of one queue of an interface, at the XSKMAP
 * key the program redirects that queue's frames to; then tells XDP the XSKs
 * are ready.
 */
int wg_xdp_add_xsk(struct wg_xdp *x, int ifindex, uint16_t queue, int xsk_fd);
void wg_xdp_set_xsk_ready(struct wg_xdp *x, bool ready);

/*
 * Brings the peer, link and next-hop maps in line with routes and dsts;
 * old (may be NULL) is what the maps hold now, so stale entries go.
 * Slots whose gen changed have their per-CPU counters zeroed.
 */
void wg_xdp_sync(struct wg_xdp *x, const struct wg_routes *old, const struct wg_routes *routes,
		 const struct wg_dst *dsts);
/* Rewrites the next-hop map only (after a neighbour change). */
void wg_xdp_sync_dsts(struct wg_xdp *x, const struct wg_routes *routes, const struct wg_dst *dsts);

/*
 * wg_index's mirror: a route learned (owner >= 0) or dropped (-1) in
 * userspace, written to the map XDP routes transport data by.
 */
void wg_xdp_index_mirror(void *x, uint32_t index, int owner);

/* wg_sources' mirror: addr blocked until until_ns (CLOCK_MONOTONIC), or unblocked (0). */
void wg_xdp_block_mirror(void *x, const uint8_t addr[16], uint64_t until_ns);

/* Adds the per-CPU counters into stats[WG_MAX_PEERS] and counters[WG_CNT_COUNT]. */
void wg_xdp_read_stats(struct wg_xdp *x, struct wg_peer_stats *stats, uint64_t *counters);

#endif
