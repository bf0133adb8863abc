/* SPDX-License-Identifier: MIT */
/*
 * A configuration as a list of "section.key" = "value" text pairs, read
 * back from config_format(), so the management plane can compare, diff and
 * print configurations without knowing the key table's insides.
 */
#ifndef HD_CONFIG_ENTRIES_H
#define HD_CONFIG_ENTRIES_H

#include <stddef.h>

#include "config.h"

struct config_entry {
	char name[80];	   /* "limits.queue_depth" */
	const char *value; /* points into the entries' text */
};

struct config_entries {
	char *text; /* config_format() output, cut up in place */
	struct config_entry *items;
	size_t count;
};

/* Returns 0, or -1 when out of memory (entries then empty). */
int config_entries_load(struct config_entries *e, const struct hd_config *cfg);
void config_entries_free(struct config_entries *e);
/* The value of name, or NULL when there is no such key. */
const char *config_entries_get(const struct config_entries *e, const char *name);

#endif
