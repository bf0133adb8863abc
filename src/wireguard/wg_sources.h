/* SPDX-License-Identifier: MIT */
/*
 * Sources that are not in the table: which ones the relay has heard from
 * (so that an operator sees the peer entered with the wrong port, and the
 * peer whose key its initiation was made for), and which ones it blocks.
 *
 * A source earns a strike for each initiation whose MAC1 is made for no
 * peer of the table: nothing a WireGuard peer of this relay sends. At
 * wireguard.block_strikes strikes within WG_STRIKE_WINDOW_NS its address
 * is blocked for wireguard.block_seconds: its datagrams are dropped before any work (in XDP,
 * through the wg_blocklist map this table mirrors to, in XDP modes). Only sources that are not
 * table peers are ever blocked: the block applies where the peer lookup has already missed, so
 * nobody can get a table peer blocked by spoofing its address.
 *
 * Shared by the workers, behind one mutex; entered only for datagrams from
 * unknown sources, which XDP mostly drops before userspace.
 */
#ifndef HD_WG_SOURCES_H
#define HD_WG_SOURCES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "wg_table.h"

#define WG_SOURCES	    1024 /* tracked addresses; also the XDP blocklist's size */
#define WG_SOURCES_PROBE    16
#define WG_STRIKES	    10 /* defaults of wireguard.block_strikes and block_seconds */
#define WG_STRIKE_WINDOW_NS (60ull * 1000000000ull)
#define WG_BLOCK_NS	    (300ull * 1000000000ull)

struct wg_source {
	bool used;
	struct wg_endpoint last; /* the address (the key) and the last port */
	uint64_t count;		 /* datagrams from it */
	uint64_t last_ns;
	int mac1_peer; /* the peer its last initiation was made for, or -1 */
	uint32_t strikes;
	uint64_t strikes_since_ns;
	uint64_t blocked_until_ns; /* 0: not blocked */
};

struct wg_sources {
	pthread_mutex_t lock;
	struct wg_source s[WG_SOURCES];
	uint64_t seed;
	uint32_t strikes_to_block;
	uint64_t block_ns;
	uint64_t last_log_ns;
	_Atomic uint32_t nblocked;    /* a fast "nothing is blocked" for the dataplane */
	_Atomic uint64_t blocks;      /* how many times an address was blocked */
	_Atomic uint64_t not_tracked; /* sources the full table could not take */
	/* Told of every block (until_ns > 0) and unblock (0), address in struct wg_endpoint form.
	 */
	void (*mirror)(void *ctx, const uint8_t addr[16], uint64_t until_ns);
	void *mirror_ctx;
};

/* strikes and block_ns: 0 for the defaults (WG_STRIKES, WG_BLOCK_NS). */
struct wg_sources *wg_sources_new(uint32_t strikes, uint64_t block_ns);
void wg_sources_free(struct wg_sources *t);
void wg_sources_set_mirror(struct wg_sources *t,
			   void (*fn)(void *ctx, const uint8_t addr[16], uint64_t until_ns),
			   void *ctx);

/* Whether src's address is blocked now. Cheap when nothing is. */
bool wg_sources_blocked(struct wg_sources *t, const struct wg_endpoint *src, uint64_t now_ns);

/*
 * A datagram from a source not in the table. mac1_peer: the peer an
 * initiation was made for, or -1; strike: it earned one. Logs a new source
 * (at most once a second). Returns true when this strike blocked it.
 */
bool wg_sources_note(struct wg_sources *t, const struct wg_endpoint *src, int mac1_peer,
		     const char *mac1_name, bool strike, uint64_t now_ns);

/* Copies up to max sources into out, newest first; blocked_only: the blocklist. */
int wg_sources_list(struct wg_sources *t, struct wg_source *out, int max, bool blocked_only,
		    uint64_t now_ns);
/* Lifts every block and forgets every strike. Returns how many were blocked. */
int wg_sources_clear_blocks(struct wg_sources *t);

#endif
