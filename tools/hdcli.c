// SPDX-License-Identifier: MIT
/*
 * hdcli: talk to a running hyper-derp over its management socket.
 *
 *	hdcli [--socket PATH] [--json] VERB [ARGS...]	one command, then exit
 *	hdcli [--socket PATH] [--json]			a shell (or a script on stdin)
 *
 * Exit codes: 0 ok, 1 the command failed, 2 usage or connection error.
 */
#include "hdcli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h" /* HD_VERSION */
#include "json_writer.h"

/* verb, args, printer, help: also the usage text, in this order. */
const struct hdcli_verb hdcli_verbs[] = {
	{ "show status", "", hdcli_print_status,
	  "uptime, version, workers, connections, traffic and drops" },
	{ "show peers", "", hdcli_print_peers,
	  "connected peers: key, worker, address, bytes, queue, preferred" },
	{ "show counters", "", hdcli_print_counters, "every counter, summed over the workers" },
	{ "show config", "", hdcli_print_config, "the running configuration, as INI" },
	{ "show mesh", "", hdcli_print_mesh,
	  "mesh peers dialled (mesh.with): state, keys homed there, packets each way, reconnects" },
	{ "show mesh keys", "[PEER]", hdcli_print_mesh_keys,
	  "node keys homed on mesh peers: peer, client address and flags from PeerPresent" },
	{ "set log-level", "LEVEL", hdcli_print_log_level,
	  "change the log level now: error, warn, info or debug" },
	{ "peer close", "KEY", hdcli_print_peer_close,
	  "close every connection of a peer (nodekey:HEX or HEX)" },
	{ "events follow", "", hdcli_print_events,
	  "print connects, disconnects and drops as they happen (Ctrl-C stops)" },
	{ "config set", "KEY VALUE", hdcli_print_config_set,
	  "change section.key in the candidate configuration" },
	{ "config diff", "", hdcli_print_config_diff,
	  "candidate changes against the running configuration" },
	{ "config commit", "", hdcli_print_config_commit,
	  "apply the candidate; lists keys that need a restart" },
	{ "config discard", "", hdcli_print_config_discard, "drop the candidate changes" },
	{ "config reload", "", hdcli_print_config_commit,
	  "re-read the config file, as SIGHUP does" },
	{ "wg show", "", hdcli_print_wg_show,
	  "WireGuard relay: mode, peers, links, packets and bytes per direction, drops" },
	{ "wg peer add", "NAME IP:PORT|[IPV6]:PORT [LABEL] [pubkey=BASE64]", hdcli_print_wg_show,
	  "add a WireGuard peer (pubkey routes initiations when a peer has several links)" },
	{ "wg peer del", "NAME", hdcli_print_wg_show, "remove a WireGuard peer and its links" },
	{ "wg link add", "A B", hdcli_print_wg_show, "let peers A and B reach each other" },
	{ "wg link del", "A B", hdcli_print_wg_show, "remove the link between A and B" },
	{ "wg show unknown", "", hdcli_print_wg_sources,
	  "sources that are no peer's endpoint: count, last seen, whose key their MAC1 is for" },
	{ "wg blocklist show", "", hdcli_print_wg_sources,
	  "addresses blocked for initiations made for no peer's key, and for how long" },
	{ "wg blocklist clear", "", hdcli_print_wg_sources, "lift every block now" },
	{ "hd show", "", hdcli_print_hd_show,
	  "HD: tokens required or not, peer ids given, clients admitted and refused by reason" },
	{ "hd token issue", "KEY [TTL]", hdcli_print_hd_token,
	  "an enrollment token for KEY, valid for TTL (30d, 12h, 3600 ...; default never expires)" },
	{ "hd token revoke", "ID|KEY", hdcli_print_hd_token,
	  "refuse a token (its 16-hex id) or every token of a key from now on" },
	{ "hd policy reload", "", hdcli_print_hd_policy,
	  "read hd.policy_file again and use it from now on; a bad file keeps the old policy" },
	{ "help", "[VERB...]", hdcli_print_help, "list the relay's commands" },
};

const int hdcli_verb_count = (int)(sizeof(hdcli_verbs) / sizeof(hdcli_verbs[0]));

/* The row whose verb takes the most leading words of argv, or NULL. */
static const struct hdcli_verb *find_verb(int argc, char **argv)
{
	const struct hdcli_verb *best = NULL;
	int best_n = 0;

	for (int i = 0; i < hdcli_verb_count; i++) {
		const char *p = hdcli_verbs[i].verb;
		int n = 0;
		while (*p && n < argc) {
			size_t len = strlen(argv[n]);
			if (strncmp(p, argv[n], len) != 0 || (p[len] != ' ' && p[len] != '\0'))
				break;
			p += len + (p[len] == ' ');
			n++;
		}
		if (*p == '\0' && n > best_n) {
			best = &hdcli_verbs[i];
			best_n = n;
		}
	}
	return best;
}

int hdcli_run(struct hdcli *h, int argc, char **argv)
{
	struct hdcli_reply reply;

	if (hdcli_request(h, argc, argv, &reply) < 0)
		return HDCLI_USAGE;
	int rc = hdcli_reply_exit(&reply);
	if (!reply.ok) {
		if (h->json)
			hdcli_print_json(json_get(reply.doc.root, "error"));
		fprintf(stderr, "hdcli: %s\n", reply.error_message);
		hdcli_reply_free(&reply);
		return rc;
	}
	const struct hdcli_verb *v = find_verb(argc, argv);
	if (v && v->print == hdcli_print_events) {
		rc = hdcli_print_events(h, reply.data);
	} else if (h->json) {
		hdcli_print_json(reply.data);
	} else if (v) {
		rc = v->print(h, reply.data);
	} else {
		hdcli_print_generic(reply.data, "");
	}
	hdcli_reply_free(&reply);
	fflush(stdout);
	return rc;
}

void hdcli_usage(FILE *f)
{
	fprintf(f, "Usage: hdcli [--socket PATH] [--json] [VERB [ARGS...]]\n\n"
		   "Talks to a running hyper-derp. With a verb, runs it and exits; without,\n"
		   "starts a shell (Tab completes, ? explains, Ctrl-D leaves).\n\n"
		   "Verbs:\n");
	for (int i = 0; i < hdcli_verb_count; i++) {
		char synopsis[64];
		snprintf(synopsis, sizeof(synopsis), "%s%s%s", hdcli_verbs[i].verb,
			 hdcli_verbs[i].args[0] ? " " : "", hdcli_verbs[i].args);
		fprintf(f, "  %-28s %s\n", synopsis, hdcli_verbs[i].help);
	}
	fprintf(f,
		"\nOptions:\n"
		"  --socket PATH   management socket (default %s)\n"
		"  --json          print replies as JSON, for scripts\n"
		"  --help          this text\n"
		"  --version       hdcli's version\n\n"
		"Exit status: 0 ok, 1 the command failed, 2 usage or connection error.\n",
		HDCLI_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct hdcli h = { .socket_path = HDCLI_DEFAULT_SOCKET, .fd = -1 };
	int c;

	/* "+": options end at the first verb, so "config set x -1" keeps its -1. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			h.socket_path = optarg;
			break;
		case 'j':
			h.json = true;
			break;
		case 'h':
			hdcli_usage(stdout);
			return HDCLI_OK;
		case 'V':
			printf("hdcli %s\n", HD_VERSION);
			return HDCLI_OK;
		default:
			fprintf(stderr, "hdcli: %s option \"%s\" (see --help)\n",
				c == ':' ? "missing value for" : "unknown", argv[optind - 1]);
			return HDCLI_USAGE;
		}
	}
	int rc;
	if (optind < argc)
		rc = hdcli_run(&h, argc - optind, argv + optind);
	else
		rc = hdcli_repl(&h);
	hdcli_disconnect(&h);
	free(h.in);
	return rc;
}
