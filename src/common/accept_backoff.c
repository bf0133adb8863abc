// SPDX-License-Identifier: MIT
#include "accept_backoff.h"

#include <errno.h>

#include "log.h"

bool accept_error_is_shortage(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM || err == ENOBUFS;
}

bool accept_backoff_failed(struct accept_backoff *b, int err, uint64_t now_ns, uint64_t *unlogged)
{
	if (accept_error_is_shortage(err))
		b->paused_until_ns = now_ns + ACCEPT_PAUSE_NS;
	if (!log_due(&b->last_warn_ns, now_ns, ACCEPT_WARN_EVERY_NS)) {
		b->unlogged++;
		return false;
	}
	if (unlogged)
		*unlogged = b->unlogged;
	b->unlogged = 0;
	return true;
}
