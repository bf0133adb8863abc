// SPDX-License-Identifier: MIT
/* Printing the relay's `help` reply. */
#include "hdcli.h"

#include <stdio.h>

int hdcli_print_help(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *cmds = json_get(d, "commands");
	(void)h;

	for (const struct json_value *c = cmds ? cmds->child : NULL; c; c = c->next) {
		char synopsis[64];
		const char *args = json_get_str(c, "args", "");
		snprintf(synopsis, sizeof(synopsis), "%s%s%s", json_get_str(c, "verb", "?"),
			 args[0] ? " " : "", args);
		printf("  %-28s %s\n", synopsis, json_get_str(c, "help", ""));
	}
	return HDCLI_OK;
}
