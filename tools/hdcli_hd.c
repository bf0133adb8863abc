// SPDX-License-Identifier: MIT
/* Printing hd show and the hd token and hd policy replies. */
#include "hdcli.h"

#include <inttypes.h>
#include <stdio.h>
#include <time.h>

static void print_policy(const struct json_value *p)
{
	if (!p)
		return;
	if (!json_get_bool(p, "active", false))
		printf("policy:    none (every peer may reach every peer)");
	else
		printf("policy:    %s: %" PRIu64 " rules, %" PRIu64 " groups, %" PRIu64 " keys",
		       json_get_str(p, "file", ""), json_get_u64(p, "rules", 0),
		       json_get_u64(p, "groups", 0), json_get_u64(p, "keys", 0));
	printf(" (reloaded %" PRIu64 ", refused %" PRIu64 ")\n", json_get_u64(p, "reloads", 0),
	       json_get_u64(p, "reload_failures", 0));
}

int hdcli_print_hd_show(struct hdcli *h, const struct json_value *d)
{
	const struct json_value *denied = json_get(d, "denied");
	(void)h;

	printf("tokens:    %s\n",
	       json_get_bool(d, "require_token", true) ? "required" : "optional");
	printf("peer ids:  %" PRIu64 " of %" PRIu64 " given\n", json_get_u64(d, "peer_ids", 0),
	       json_get_u64(d, "peer_ids_max", 0));
	printf("admitted:  %" PRIu64 "\n", json_get_u64(d, "admitted", 0));
	printf("refused:  ");
	static const char *const reasons[] = { "bad-proof", "no-token", "wrong-key", "expired",
					       "revoked",   "policy",	"full",	     "draining" };
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		printf(" %s %" PRIu64, reasons[i], json_get_u64(denied, reasons[i], 0));
	printf("\nrevoked:   %s\n", json_get_str(d, "revoked_file", ""));
	print_policy(json_get(d, "policy"));
	return HDCLI_OK;
}

int hdcli_print_hd_policy(struct hdcli *h, const struct json_value *d)
{
	(void)h;
	print_policy(json_get(d, "policy"));
	return HDCLI_OK;
}

/* issue: the token alone on its first line, so that scripts can take it with head -1. */
int hdcli_print_hd_token(struct hdcli *h, const struct json_value *d)
{
	(void)h;

	if (json_get(d, "id")) {
		uint64_t exp = json_get_u64(d, "expires", 0);
		char when[64] = "never";
		if (exp) {
			time_t t = (time_t)exp;
			struct tm tm;
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
		}
		printf("%s\nid %s for %s, expires %s\n", json_get_str(d, "token", "?"),
		       json_get_str(d, "id", "?"), json_get_str(d, "key", "?"), when);
		return HDCLI_OK;
	}
	bool token = json_get(d, "token") != NULL;
	printf("revoked %s %s (%" PRIu64 " tokens and %" PRIu64 " keys revoked in all)\n",
	       token ? "token" : "key", json_get_str(d, token ? "token" : "key", "?"),
	       json_get_u64(d, "revoked_tokens", 0), json_get_u64(d, "revoked_keys", 0));
	return HDCLI_OK;
}
