/* SPDX-License-Identifier: MIT */
/*
 * Management-plane integration tests: a daemon started with a private
 * management socket and metrics port, and hdcli run as a real process
 * against it. The test runner, assertions and DERP clients come from
 * harness.h; the harness itself starts daemons without a management
 * socket, so these tests start their own (same rules: a private temp dir,
 * PR_SET_PDEATHSIG, killed if a test fails, SIGTERM and exit 0 if it
 * passes). Test programs call md_main() instead of using IT_MAIN.
 */
#ifndef HD_TEST_MGMT_DAEMON_H
#define HD_TEST_MGMT_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "harness.h"
#include "json_parse.h"

struct md_opts {
	const char *ini;     /* INI text passed with --config, or NULL */
	bool notify_socket;  /* listen for sd_notify messages (md_notify_wait) */
	bool no_metrics;     /* leave metrics.listen empty */
	const char *sock;    /* management socket path; NULL: one in the daemon's dir */
	const char *metrics; /* --metrics-listen value; NULL: 127.0.0.1:0 */
	unsigned nofile;     /* RLIMIT_NOFILE, soft and hard, for the daemon; 0: inherited */
	uint16_t port;	     /* --port; 0: one the kernel picks */
	const char *listen;  /* --listen value; NULL: 127.0.0.1 */
};

struct mgmt_daemon {
	struct it_daemon it; /* pid, port, dir, log_path, server_pub: for it_connect */
	char sock[300];	     /* the management socket */
	char ini_path[300];
	char metrics[80]; /* host:port of /metrics, "" if off */
	int notify_fd;	  /* -1 unless opts.notify_socket */
};

/*
 * Runs the tests one by one through the harness (it_main), killing after
 * each what it left running and showing those daemons' logs. An argument
 * runs only the tests whose names contain it.
 */
int md_main(int argc, char **argv, const struct it_test *tests, size_t ntests);

/* Starts a daemon and waits until `show status` answers on its socket. */
struct mgmt_daemon *md_start(const struct md_opts *opts);
/*
 * Runs a daemon that must fail to start: requires it to exit within 10 s
 * and returns its exit status, with its log in log.
 */
int md_start_failing(const struct md_opts *opts, char *log, size_t cap);
/* SIGTERM; requires exit status 0 within 10 s; removes its files. */
void md_stop(struct mgmt_daemon *d);

/* The output of one hdcli run. */
struct md_out {
	int status; /* exit code, or 128 + signal */
	char out[1 << 20];
	char err[16384];
};

/*
 * Runs hdcli --socket SOCK followed by the NULL-terminated words (and with
 * stdin from in_text when not NULL), waiting at most 15 s. Returns the exit code.
 */
int md_cli(struct mgmt_daemon *d, struct md_out *o, const char *in_text, ...)
    __attribute__((sentinel));

/* Runs hdcli --json ... and requires exit 0; parses stdout into doc. */
void md_cli_json(struct mgmt_daemon *d, struct json_doc *doc, ...) __attribute__((sentinel));

/* Fetches http://METRICS/path; returns the HTTP status, body in buf (NUL-terminated). */
int md_http_get(struct mgmt_daemon *d, const char *path, char *buf, size_t cap);

/*
 * A sample value from exposition text: the line starting with
 * "name{labels} " or "name " (labels NULL). Returns -1 if absent.
 */
int64_t md_metric(const char *text, const char *name, const char *labels);

/*
 * GET /metrics and the value of one sample, as md_metric; requires that the
 * request succeeds and the sample is there.
 */
int64_t md_scrape(struct mgmt_daemon *d, const char *name, const char *labels);

/* Waits up to timeout_ms for an sd_notify datagram containing text. */
bool md_notify_wait(struct mgmt_daemon *d, const char *text, int timeout_ms);

/* The value of key ("section.key") in `show config --json`; "" if absent. */
void md_config_value(struct mgmt_daemon *d, const char *key, char *out, size_t cap);

/*
 * The receive mode the daemon's workers logged at start ("bufring" or
 * "single"); requires that they all logged the same one.
 */
const char *md_logged_recv_mode(struct mgmt_daemon *d);

/*
 * Whether this kernel offers kTLS, asked independently of the daemon: an
 * unconnected socket refuses TCP_ULP "tls" with ENOENT only when the
 * kernel has no TLS.
 */
bool md_kernel_has_ktls(void);

/* File descriptors the process pid has open (from /proc). */
int md_open_fds(pid_t pid);
/* The resident memory (VmRSS) of a process, in KiB; requires that it can be read. */
long md_rss_kib(pid_t pid);

/* "nodekey:<hex>" of a public key. */
void md_nodekey(const uint8_t pub[KEY_LEN], char out[80]);

#endif
