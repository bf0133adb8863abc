// SPDX-License-Identifier: MIT
/* Printing the peer close reply. */
#include "hdcli.h"

#include <inttypes.h>
#include <stdio.h>

int hdcli_print_peer_close(struct hdcli *h, const struct json_value *d)
{
	uint64_t n = json_get_u64(d, "connections", 0);
	(void)h;

	if (!json_get_bool(d, "closed", false)) {
		fprintf(stderr,
			"hdcli: %s: asked to close %" PRIu64 " connection%s, "
			"but it is still connected\n",
			json_get_str(d, "key", "?"), n, n == 1 ? "" : "s");
		return HDCLI_FAILED;
	}
	printf("closed %s (%" PRIu64 " connection%s)\n", json_get_str(d, "key", "?"), n,
	       n == 1 ? "" : "s");
	return HDCLI_OK;
}
