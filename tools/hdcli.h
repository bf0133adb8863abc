/* SPDX-License-Identifier: MIT */
/*
 * hdcli: the command-line client of the hyper-derp management socket.
 *
 * The verbs live in one table (hdcli.c) that also makes the usage text.
 * Each row names the function that prints the reply's data for people; the
 * request itself is always the same: the words, sent as they are (see
 * docs/mgmt-protocol.md). Verbs the server knows and this table does not
 * still work, printed generically.
 */
#ifndef HD_HDCLI_H
#define HD_HDCLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "json_parse.h"

/* Exit codes, for scripts. */
enum hdcli_exit {
	HDCLI_OK = 0,
	HDCLI_FAILED = 1, /* the command ran and failed (peer not connected ...) */
	HDCLI_USAGE = 2,  /* bad verb or arguments, or no connection to the relay */
};

#define HDCLI_DEFAULT_SOCKET "/run/hyper-derp/mgmt.sock"

struct hdcli {
	const char *socket_path;
	bool json; /* print the reply's data as JSON, for scripts */
	int fd;	   /* -1 until connected */
	char *in;  /* bytes received and not yet taken as a line */
	size_t in_len;
	size_t in_cap;
};

/* A reply from the relay. */
struct hdcli_reply {
	struct json_doc doc;
	bool ok;
	const struct json_value *data; /* when ok */
	const char *error_code;	       /* when not ok: "usage", "failed" ... */
	const char *error_message;
};

/* ---- hdcli_conn.c: talking to the relay ---- */

/* Connects if not connected. Returns 0, or -1 after printing why to stderr. */
int hdcli_connect(struct hdcli *h);
void hdcli_disconnect(struct hdcli *h);
/*
 * Sends argv as one request and reads the reply. Returns 0 with reply
 * filled in (free with hdcli_reply_free), or -1 after printing why the
 * exchange failed (connection lost, reply not JSON).
 */
int hdcli_request(struct hdcli *h, int argc, char *const *argv, struct hdcli_reply *reply);
void hdcli_reply_free(struct hdcli_reply *reply);
/*
 * Reads one more line (events after `events follow`), waiting at most
 * timeout_ms (-1 = no limit). Returns 1 with a malloc'd, NUL-terminated
 * line in *line (no newline), 0 on timeout, -1 when the connection closed.
 */
int hdcli_read_line(struct hdcli *h, int timeout_ms, char **line);
/* The exit code a reply stands for. */
enum hdcli_exit hdcli_reply_exit(const struct hdcli_reply *reply);

/* ---- the verbs ---- */

/* Prints a successful reply's data for people. Returns an exit code. */
typedef int (*hdcli_print_fn)(struct hdcli *h, const struct json_value *data);

struct hdcli_verb {
	const char *verb; /* "show peers" */
	const char *args; /* synopsis: "KEY VALUE" or "" */
	hdcli_print_fn print;
	const char *help;
};

extern const struct hdcli_verb hdcli_verbs[];
extern const int hdcli_verb_count;

/* Runs one command: sends it, prints the reply. Returns an exit code. */
int hdcli_run(struct hdcli *h, int argc, char **argv);

/* hdcli_show.c */
int hdcli_print_status(struct hdcli *h, const struct json_value *data);
int hdcli_print_peers(struct hdcli *h, const struct json_value *data);
int hdcli_print_counters(struct hdcli *h, const struct json_value *data);
int hdcli_print_config(struct hdcli *h, const struct json_value *data);
int hdcli_print_mesh(struct hdcli *h, const struct json_value *data);
int hdcli_print_mesh_keys(struct hdcli *h, const struct json_value *data);
/* A value as one line of JSON (null for NULL). */
void hdcli_print_json(const struct json_value *v);
/* Any value as "path value" lines: the fallback for verbs without a printer. */
void hdcli_print_generic(const struct json_value *v, const char *path);
/* hdcli_config.c */
int hdcli_print_log_level(struct hdcli *h, const struct json_value *data);
int hdcli_print_config_set(struct hdcli *h, const struct json_value *data);
int hdcli_print_config_diff(struct hdcli *h, const struct json_value *data);
int hdcli_print_config_commit(struct hdcli *h, const struct json_value *data);
int hdcli_print_config_discard(struct hdcli *h, const struct json_value *data);
/* hdcli_peer.c */
int hdcli_print_peer_close(struct hdcli *h, const struct json_value *data);
/* hdcli_events.c: prints events until the relay hangs up or SIGINT. */
int hdcli_print_events(struct hdcli *h, const struct json_value *data);
/* hdcli_wg.c: every wg verb answers with the table, as `wg show`. */
int hdcli_print_wg_show(struct hdcli *h, const struct json_value *data);
int hdcli_print_wg_sources(struct hdcli *h, const struct json_value *data);
int hdcli_print_hd_show(struct hdcli *h, const struct json_value *data);
int hdcli_print_hd_token(struct hdcli *h, const struct json_value *data);
int hdcli_print_hd_policy(struct hdcli *h, const struct json_value *data);
/* hdcli_help.c */
int hdcli_print_help(struct hdcli *h, const struct json_value *data);
void hdcli_usage(FILE *f);

/* ---- hdcli_repl.c ---- */

/* The interactive shell (stdin a terminal) or a script read from stdin. */
int hdcli_repl(struct hdcli *h);
/*
 * Splits a command line into words: blanks separate, "double quotes" keep
 * blanks, backslash escapes the next character. Returns the word count
 * (words malloc'd into argv, at most max), or -1 with err set.
 */
int hdcli_split_words(const char *line, char **argv, int max, char *err, size_t errlen);

/* ---- formatting helpers (hdcli_show.c) ---- */

/* "1.2 MiB", "512 B". */
void hdcli_format_bytes(uint64_t n, char *out, size_t cap);
/* "3d 4h 5m 6s". */
void hdcli_format_duration_ms(uint64_t ms, char *out, size_t cap);

#endif
