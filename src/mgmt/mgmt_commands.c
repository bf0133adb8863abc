// SPDX-License-Identifier: MIT
/*
 * The command table: every verb the management socket serves, its
 * arguments and its one-line help. `help` answers from this table, and
 * hdcli builds `?` and tab completion from that answer.
 */
#include "mgmt_command.h"

#include "mgmt_verb.h"

/* verb, args, min_args, max_args, handler, help */
const struct mgmt_command mgmt_commands[] = {
	{ "help", "[VERB...]", 0, -1, cmd_help, "list commands, or those starting with VERB" },
	{ "show status", "", 0, 0, cmd_show_status,
	  "uptime, version, workers, connections, traffic and drops" },
	{ "show peers", "", 0, 0, cmd_show_peers,
	  "connected peers: key, worker, address, bytes, queue, preferred" },
	{ "show counters", "", 0, 0, cmd_show_counters, "every counter, summed over the workers" },
	{ "show config", "", 0, 0, cmd_show_config, "the running configuration" },
	{ "show mesh", "", 0, 0, cmd_show_mesh,
	  "mesh peers dialled (mesh.with): state, keys homed there, packets each way, reconnects" },
	{ "show mesh keys", "[PEER]", 0, 1, cmd_show_mesh_keys,
	  "node keys homed on mesh peers: peer, client address and flags from PeerPresent" },
	{ "set log-level", "LEVEL", 1, 1, cmd_set_log_level,
	  "change the log level now: error, warn, info or debug" },
	{ "peer close", "KEY", 1, 1, cmd_peer_close,
	  "close every connection of a peer (nodekey:HEX or HEX)" },
	{ "events follow", "", 0, 0, cmd_events_follow,
	  "stream connects, disconnects and drops as they happen" },
	{ "config set", "KEY VALUE", 2, 2, cmd_config_set,
	  "change KEY (section.key) in the candidate configuration" },
	{ "config diff", "", 0, 0, cmd_config_diff,
	  "candidate changes against the running config" },
	{ "config commit", "", 0, 0, cmd_config_commit,
	  "apply the candidate; lists keys that need a restart" },
	{ "config discard", "", 0, 0, cmd_config_discard, "drop the candidate changes" },
	{ "config reload", "", 0, 0, cmd_config_reload,
	  "re-read the config file and command line, as SIGHUP does" },
	{ "wg show", "", 0, 0, cmd_wg_show,
	  "WireGuard relay: mode, peers, links, packets and bytes per direction, drops" },
	{ "wg peer add", "NAME IP:PORT|[IPV6]:PORT [LABEL] [pubkey=BASE64]", 2, 4, cmd_wg_peer_add,
	  "add a WireGuard peer (pubkey routes initiations when a peer has several links)" },
	{ "wg peer del", "NAME", 1, 1, cmd_wg_peer_del, "remove a WireGuard peer and its links" },
	{ "wg link add", "A B", 2, 2, cmd_wg_link_add, "let peers A and B reach each other" },
	{ "wg link del", "A B", 2, 2, cmd_wg_link_del, "remove the link between A and B" },
	{ "wg show unknown", "", 0, 0, cmd_wg_show_unknown,
	  "sources that are no peer's endpoint: count, last seen, whose key their MAC1 is for" },
	{ "wg blocklist show", "", 0, 0, cmd_wg_blocklist_show,
	  "addresses blocked for initiations made for no peer's key, and for how long" },
	{ "wg blocklist clear", "", 0, 0, cmd_wg_blocklist_clear, "lift every block now" },
	{ "hd show", "", 0, 0, cmd_hd_show,
	  "HD: tokens required or not, peer ids given, clients admitted and refused by reason" },
	{ "hd token issue", "KEY [TTL]", 1, 2, cmd_hd_token_issue,
	  "an enrollment token for KEY, valid for TTL (30d, 12h, 3600 ...; default never expires)" },
	{ "hd token revoke", "ID|KEY", 1, 1, cmd_hd_token_revoke,
	  "refuse a token (its 16-hex id) or every token of a key from now on" },
	{ "hd policy reload", "", 0, 0, cmd_hd_policy_reload,
	  "read hd.policy_file again and use it from now on; a bad file keeps the old policy" },
};

const int mgmt_command_count = (int)(sizeof(mgmt_commands) / sizeof(mgmt_commands[0]));

int cmd_help(struct mgmt_call *call)
{
	int matched = 0;

	jw_object_begin(call->out, NULL);
	jw_array_begin(call->out, "commands");
	for (int i = 0; i < mgmt_command_count; i++) {
		const struct mgmt_command *c = &mgmt_commands[i];
		if (!mgmt_verb_rest(c->verb, call->argc, call->argv))
			continue;
		matched++;
		jw_object_begin(call->out, NULL);
		jw_string(call->out, "verb", c->verb);
		jw_string(call->out, "args", c->args);
		jw_string(call->out, "help", c->help);
		jw_end(call->out);
	}
	jw_end(call->out);
	jw_end(call->out);
	if (matched == 0)
		return mgmt_error(call, MGMT_E_USAGE,
				  "no command starts with \"%s%s\"; try \"help\"", call->argv[0],
				  call->argc > 1 ? " ..." : "");
	return 0;
}
