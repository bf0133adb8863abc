/* SPDX-License-Identifier: MIT */
/*
 * Server-side commands of the management socket.
 *
 * Every command is one row of the table in mgmt_commands.c:
 *
 *	{ "peer close", "KEY", 1, 1, cmd_peer_close, "close every connection of a peer" },
 *
 * The verb is one or more words; a request's words are matched against the
 * longest verb, and what follows becomes argv. The dispatcher checks the
 * argument count against min_args..max_args (max_args -1 = no limit) and
 * answers "usage: peer close KEY" itself, so a handler only sees requests of
 * the right shape. The same table answers `help`, which hdcli uses for `?`
 * and tab completion, so a new verb is documented and completable at once.
 *
 * A handler writes its result as exactly one JSON value into call->out
 * (usually an object) and returns 0; the server wraps it as
 * {"ok":true,"data":VALUE}. On failure it returns mgmt_error(...), which
 * becomes {"ok":false,"error":{"code":"failed","message":"..."}}; whatever
 * was written to call->out is discarded. Handlers run on the management
 * thread, one at a time: they may take a few milliseconds (e.g.
 * relay_list_peers) but must never block on the network or the dataplane.
 *
 * Adding a verb group (say `wg ...`):
 *   1. write src/mgmt/cmd_wg.c with handlers of type mgmt_handler_fn, using
 *      mgmt_error() for every bad input (name the argument and the reason);
 *   2. declare the handlers below, under a comment naming the file;
 *   3. add rows to the table in mgmt_commands.c (help text: lower case, no
 *      final period) and cmd_wg.c to src/mgmt/meson.build;
 *   4. if the group needs state (e.g. the WireGuard table), add a pointer to
 *      struct mgmt_context, set by main() before mgmt_server_start().
 * hdcli forwards verbs it has no table row for and prints their data
 * generically, so server-side rows are enough to be usable; add a client
 * formatter in tools/hdcli_<group>.c for a nicer layout.
 * docs/mgmt-protocol.md describes the wire format.
 */
#ifndef HD_MGMT_COMMAND_H
#define HD_MGMT_COMMAND_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "json_writer.h"
#include "mgmt_stats.h"

struct relay;
struct slowpath;
struct wg_relay;
struct stun_server;
struct http_port;
struct mgmt_client;

/* What the commands act on. Set up by main(); the management thread owns it. */
struct mgmt_context {
	struct relay *relay;
	struct slowpath *slowpath; /* NULL: slow path counters are reported as absent */
	/*
	 * The configuration the daemon runs with (main's; the workers and the
	 * slow path read their copy, relay->settings). Changed only through mgmt_config_apply(),
	 * under config_lock, which SIGHUP on the main thread takes too.
	 */
	struct hd_config *running;
	pthread_mutex_t config_lock;
	/* main's command line: a reload parses it again (config file, then flags). */
	int argc;
	char **argv;
	/* Edited by `config set`, applied by `config commit`. Management thread only. */
	struct hd_config candidate;
	bool candidate_open;	 /* a `config set` since the last commit or discard */
	struct timespec started; /* CLOCK_MONOTONIC at start, for uptime */
	time_t started_wall;
	/* Facts for `show status`. */
	char server_key[80];   /* nodekey:... */
	uint16_t port;	       /* the DERP port actually bound */
	char metrics_addr[80]; /* host:port actually bound, "" = metrics off */
	bool tls;
	/* The kernel offers TLS (TCP_ULP "tls"), probed at start while still privileged. */
	bool ktls_available;
	struct wg_relay *wg;	  /* the WireGuard relay; NULL when [wireguard] is off */
	struct stun_server *stun; /* NULL when stun.listen is empty */
	struct http_port *http_port;  /* NULL when http.port is 0 */
	struct mgmt_stats mgmt_stats; /* the management thread's listeners */
	/* /metrics' peer-list gauges, asked of the workers at most 4 times a second (metrics.c). */
	struct {
		uint64_t taken_ms; /* CLOCK_MONOTONIC; 0 = never */
		bool listed;	   /* false: the workers did not answer in time */
		uint64_t peers, queued, deepest;
		uint64_t last_warn_ns;
	} queue_gauges;
};

/* How a request failed; hdcli maps usage to exit code 2 and failed to 1. */
enum mgmt_status {
	MGMT_OK = 0,
	MGMT_E_USAGE,	 /* unknown verb, wrong argument count, malformed argument */
	MGMT_E_FAILED,	 /* well-formed, but it could not be done (peer not connected ...) */
	MGMT_E_BUSY,	 /* the dataplane did not answer in time; retrying may work */
	MGMT_E_PROTOCOL, /* not a request at all: bad JSON, missing "argv" */
};

/* "ok", "usage", "failed", "busy", "protocol": the wire names. */
const char *mgmt_status_name(enum mgmt_status status);

/* One request being served. */
struct mgmt_call {
	struct mgmt_context *ctx;
	const struct mgmt_command *cmd;
	int argc; /* the words after the verb */
	char **argv;
	struct json_writer *out; /* where the handler writes its one result value */
	/* Set by mgmt_error(). */
	enum mgmt_status status;
	char error[512];
	/* Set by mgmt_subscribe_events() to turn the connection into an event stream. */
	bool subscribe_events;
};

typedef int (*mgmt_handler_fn)(struct mgmt_call *call);

struct mgmt_command {
	const char *verb; /* "show peers", words separated by one space */
	const char *args; /* argument synopsis for usage: "KEY VALUE", "" for none */
	int min_args;
	int max_args; /* -1: any number */
	mgmt_handler_fn handler;
	const char *help;
};

extern const struct mgmt_command mgmt_commands[];
extern const int mgmt_command_count;

/*
 * Records why the request failed and returns -1, for `return mgmt_error(...)`.
 * The message should stand on its own: "nodekey:zz: not 64 hex digits".
 */
int mgmt_error(struct mgmt_call *call, enum mgmt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * After the reply, the connection receives one JSON line per event until
 * the client hangs up (`events follow`).
 */
void mgmt_subscribe_events(struct mgmt_call *call);

/*
 * Re-reads the configuration as at start-up (defaults, the --config file,
 * then the command-line flags) and applies it with mgmt_config_apply(). A
 * file that fails to load changes nothing; the reason goes to err.
 * Returns 0 or -1. Any thread.
 */
int mgmt_config_reload(struct mgmt_context *ctx, struct json_writer *out, char *err, size_t errlen);

/*
 * Applies next over the running configuration: keys that can change live
 * are copied in (and take effect), the others are listed as needing a
 * restart and left as they are. Writes a report object to out (may be
 * NULL): {"applied":[...],"restart_required":[...],"unchanged":N}.
 * Any thread (config_lock is taken inside).
 */
void mgmt_config_apply(struct mgmt_context *ctx, const struct hd_config *next,
		       struct json_writer *out);

/* ---- handlers, by file ---- */

/* cmd_help.c */
int cmd_help(struct mgmt_call *call);
/* cmd_show.c */
int cmd_show_status(struct mgmt_call *call);
int cmd_show_peers(struct mgmt_call *call);
int cmd_show_counters(struct mgmt_call *call);
int cmd_show_mesh(struct mgmt_call *call);
int cmd_show_mesh_keys(struct mgmt_call *call);
int cmd_hd_show(struct mgmt_call *call);
int cmd_hd_token_issue(struct mgmt_call *call);
int cmd_hd_token_revoke(struct mgmt_call *call);
int cmd_hd_policy_reload(struct mgmt_call *call);
int cmd_show_config(struct mgmt_call *call);
/* cmd_config.c */
int cmd_set_log_level(struct mgmt_call *call);
int cmd_config_set(struct mgmt_call *call);
int cmd_config_diff(struct mgmt_call *call);
int cmd_config_commit(struct mgmt_call *call);
int cmd_config_discard(struct mgmt_call *call);
int cmd_config_reload(struct mgmt_call *call);
/* cmd_peer.c */
int cmd_peer_close(struct mgmt_call *call);
/* cmd_events.c */
int cmd_events_follow(struct mgmt_call *call);
/* cmd_wg.c */
int cmd_wg_show(struct mgmt_call *call);
int cmd_wg_peer_add(struct mgmt_call *call);
int cmd_wg_peer_del(struct mgmt_call *call);
int cmd_wg_link_add(struct mgmt_call *call);
int cmd_wg_link_del(struct mgmt_call *call);
int cmd_wg_show_unknown(struct mgmt_call *call);
int cmd_wg_blocklist_show(struct mgmt_call *call);
int cmd_wg_blocklist_clear(struct mgmt_call *call);

#endif
