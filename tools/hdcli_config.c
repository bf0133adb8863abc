// SPDX-License-Identifier: MIT
/* Printing set log-level and config set / diff / commit / discard / reload replies. */
#include "hdcli.h"

#include <inttypes.h>
#include <stdio.h>

int hdcli_print_log_level(struct hdcli *h, const struct json_value *d)
{
	(void)h;
	printf("log level %s (was %s)\n", json_get_str(d, "log_level", "?"),
	       json_get_str(d, "was", "?"));
	return HDCLI_OK;
}

int hdcli_print_config_set(struct hdcli *h, const struct json_value *d)
{
	(void)h;
	printf("candidate: %s = %s (%s; \"config commit\" applies it)\n",
	       json_get_str(d, "key", "?"), json_get_str(d, "value", ""),
	       json_get_bool(d, "live", false) ? "applies live" : "needs a restart");
	return HDCLI_OK;
}

int hdcli_print_config_diff(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *changes = json_get(d, "changes");
	(void)h;

	if (!changes || changes->count == 0) {
		printf("no candidate changes\n");
		return HDCLI_OK;
	}
	for (const struct json_value *c = changes->child; c; c = c->next)
		printf("%s: %s -> %s  (%s)\n", json_get_str(c, "key", "?"),
		       json_get_str(c, "running", ""), json_get_str(c, "candidate", ""),
		       json_get_bool(c, "live", false) ? "live" : "needs a restart");
	return HDCLI_OK;
}

int hdcli_print_config_commit(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *applied = json_get(d, "applied");
	const struct json_value *restart = json_get(d, "restart_required");
	(void)h;

	for (const struct json_value *c = applied ? applied->child : NULL; c; c = c->next)
		printf("applied: %s = %s (was %s)\n", json_get_str(c, "key", "?"),
		       json_get_str(c, "new", ""), json_get_str(c, "old", ""));
	for (const struct json_value *c = restart ? restart->child : NULL; c; c = c->next)
		printf("needs a restart, not applied: %s = %s (running with %s)\n",
		       json_get_str(c, "key", "?"), json_get_str(c, "wanted", ""),
		       json_get_str(c, "running", ""));
	if ((!applied || applied->count == 0) && (!restart || restart->count == 0))
		printf("nothing changed\n");
	else if (restart && restart->count > 0)
		printf("put restart-only keys in the config file; they take effect at the next "
		       "start\n");
	return HDCLI_OK;
}

int hdcli_print_config_discard(struct hdcli *h, const struct json_value *d)
{
	(void)h;
	printf("%s\n", json_get_bool(d, "discarded", false) ? "candidate changes discarded"
							    : "no candidate changes to discard");
	return HDCLI_OK;
}
