/* SPDX-License-Identifier: MIT */
/*
 * The configuration handed down to the layers below: the dataplane's and
 * the slow path's own settings, filled from struct hd_config at start. The
 * live keys reach struct relay_settings later through config_live.c.
 */
#ifndef HD_CONFIG_RELAY_H
#define HD_CONFIG_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "relay_settings.h"
#include "slowpath_settings.h"

void config_relay_settings(const struct hd_config *cfg, struct relay_settings *out);
void config_slowpath_settings(const struct hd_config *cfg, struct slowpath_settings *out);

/*
 * Whether the relay reads the live key "section.key"; if so, where its
 * uint32_t sits in struct relay_settings.
 */
bool config_relay_live_field(const char *name, size_t *relay_offset);

#endif
