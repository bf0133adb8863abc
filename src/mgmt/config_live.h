/* SPDX-License-Identifier: MIT */
/*
 * Which configuration keys can change while the relay runs, and how. The
 * rest are read once at start-up (sockets, threads, memory pools, files)
 * and need a restart. mgmt_config_apply() (mgmt_command.h) uses this.
 */
#ifndef HD_CONFIG_LIVE_H
#define HD_CONFIG_LIVE_H

#include <stdbool.h>

#include "config.h"

/* Whether "section.key" takes effect without a restart. */
bool config_key_is_live(const char *name);

/* Makes the logger follow cfg's log.level and log.format. */
void config_apply_logging(const struct hd_config *cfg);

#endif
