// SPDX-License-Identifier: MIT
#include "config_entries.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_entries_free(struct config_entries *e)
{
	free(e->text);
	free(e->items);
	memset(e, 0, sizeof(*e));
}

int config_entries_load(struct config_entries *e, const struct hd_config *cfg)
{
	memset(e, 0, sizeof(*e));
	size_t len = config_format(cfg, NULL, 0);
	e->text = malloc(len + 1);
	if (!e->text)
		return -1;
	config_format(cfg, e->text, len + 1);

	size_t lines = 1;
	for (const char *p = e->text; *p; p++)
		lines += *p == '\n';
	e->items = calloc(lines, sizeof(*e->items));
	if (!e->items) {
		config_entries_free(e);
		return -1;
	}

	/* "[section]" lines set the section; "key = value" and "key =" lines are keys. */
	const char *section = "";
	char *line = e->text;
	while (line && *line) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		size_t n = strlen(line);
		char *eq = strstr(line, " =");
		if (line[0] == '[' && n > 2 && line[n - 1] == ']') {
			line[n - 1] = '\0';
			section = line + 1;
		} else if (eq) {
			struct config_entry *it = &e->items[e->count++];
			*eq = '\0';
			snprintf(it->name, sizeof(it->name), "%s.%s", section, line);
			it->value = eq[2] == ' ' ? eq + 3 : eq + 2;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

const char *config_entries_get(const struct config_entries *e, const char *name)
{
	for (size_t i = 0; i < e->count; i++) {
		if (strcmp(e->items[i].name, name) == 0)
			return e->items[i].value;
	}
	return NULL;
}
