// SPDX-License-Identifier: MIT
/* peer close KEY. */
#include "mgmt_command.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "peer_view.h"

#define CLOSE_WAIT_MS 2000

/* How many connections of key the workers list; -1 if they did not answer. */
static int count_connections(struct relay *r, const uint8_t key[KEY_LEN])
{
	struct peer_info *peers;
	int n = relay_list_peers(r, &peers, PEER_LIST_TIMEOUT_MS);
	if (n < 0)
		return -1;
	int found = 0;
	for (int i = 0; i < n; i++)
		found += memcmp(peers[i].key, key, KEY_LEN) == 0;
	free(peers);
	return found;
}

int cmd_peer_close(struct mgmt_call *call)
{
	struct relay *r = call->ctx->relay;
	uint8_t key[KEY_LEN];
	char err[256];
	char nodekey[8 + KEY_HEX_LEN + 1];

	if (peer_key_parse(call->argv[0], key, err, sizeof(err)) < 0)
		return mgmt_error(call, MGMT_E_USAGE, "%s", err);
	key_to_nodekey(key, nodekey);

	int before = count_connections(r, key);
	if (before < 0)
		return mgmt_error(call, MGMT_E_BUSY, "the workers did not answer; try again");
	if (before == 0)
		return mgmt_error(call, MGMT_E_FAILED, "%s is not connected", nodekey);

	log_info("closing %s (%d connection%s), asked through the management socket", nodekey,
		 before, before == 1 ? "" : "s");
	relay_close_peer(r, key);
	/* Wait, briefly, to report what happened rather than what was asked. */
	int left = before;
	for (int waited = 0; waited < CLOSE_WAIT_MS && left > 0; waited += 20) {
		usleep(20 * 1000);
		left = count_connections(r, key);
	}
	jw_object_begin(call->out, NULL);
	jw_string(call->out, "key", nodekey);
	jw_u64(call->out, "connections", (uint64_t)before);
	jw_bool(call->out, "closed", left == 0);
	jw_end(call->out);
	return 0;
}
