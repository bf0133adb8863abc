/* SPDX-License-Identifier: MIT */
/*
 * What a listener does when accept() fails. Out of file descriptors
 * (EMFILE, ENFILE) or kernel memory, the connection stays in the backlog
 * and the listener stays readable, so retrying at once fails again and
 * spins a core: the listener pauses for ACCEPT_PAUSE_NS instead, and the
 * warning is logged at most once a second. The slow path and the
 * management thread both use this.
 */
#ifndef HD_ACCEPT_BACKOFF_H
#define HD_ACCEPT_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

#define ACCEPT_PAUSE_NS	     200000000ull  /* after accept fails for want of fds or memory */
#define ACCEPT_WARN_EVERY_NS 1000000000ull /* one warning a second at most */

struct accept_backoff {
	uint64_t paused_until_ns;
	uint64_t last_warn_ns;
	uint64_t unlogged; /* failures since the last warning */
};

/* Whether accept's errno says a resource is short: retrying now would fail again. */
bool accept_error_is_shortage(int err);

/*
 * Records a failed accept (err: a positive errno). On a shortage, pauses the
 * listener until now_ns + ACCEPT_PAUSE_NS. Returns true when the failure
 * should be logged now; *unlogged (unless NULL) then holds how many
 * failures since the last warning were not logged.
 */
bool accept_backoff_failed(struct accept_backoff *b, int err, uint64_t now_ns, uint64_t *unlogged);

/*
 * Pauses the listener whatever the error, for a caller that would rather
 * wait than retry an error it does not know to be passing.
 */
static inline void accept_backoff_pause(struct accept_backoff *b, uint64_t now_ns)
{
	b->paused_until_ns = now_ns + ACCEPT_PAUSE_NS;
}

/* Whether the listener is paused at now_ns. */
static inline bool accept_backoff_paused(const struct accept_backoff *b, uint64_t now_ns)
{
	return now_ns < b->paused_until_ns;
}

#endif
