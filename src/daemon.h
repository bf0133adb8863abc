/* SPDX-License-Identifier: MIT */
/*
 * The daemon's parts and how each is started and stopped: the relay (key,
 * workers), the listening socket, TLS, the slow path, STUN, the WireGuard relay
 * and the management server. main() (hyper-derp.c) calls these in order
 * and says why the order is what it is; each function does one step.
 *
 * Every daemon_* function that can fail logs the reason itself and returns
 * -1; the caller then exits with status 1. Nothing is unwound on that
 * path: the process is about to exit.
 */
#ifndef HD_DAEMON_H
#define HD_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "cert_source.h"
#include "config.h"
#include "mgmt_command.h"
#include "relay.h"
#include "slowpath_settings.h"

struct hd_daemon {
	struct hd_config *cfg;
	char nodekey[80]; /* the server's public key, "nodekey:<hex>" */
	struct relay relay;
	struct slowpath_settings slowpath_set; /* from cfg, for the listener and the slow path */
	int listen_fd;
	uint16_t port; /* the DERP port actually bound */
	SSL_CTX *tls;  /* NULL: plain HTTP; the slow path keeps its own, reloaded */
	struct cert_source certs; /* where the certificate comes from (tls.mode) */
	bool certs_on;
	struct cert_info cert_loaded; /* what was loaded at start */
	bool ktls_available;
	struct slowpath *slowpath;
	struct stun_server *stun; /* NULL when stun.listen is empty */
	struct http_port *http_port; /* NULL when http.port is 0 */
	struct wg_relay *wg;	  /* NULL when [wireguard] is off */
	struct mgmt_context mgmt_ctx;
	struct mgmt_server *mgmt;
};

/* Blocks SIGTERM, SIGINT and SIGHUP in the calling thread and ignores SIGPIPE. */
void daemon_block_signals(void);
/*
 * Raises the soft RLIMIT_NOFILE to the hard limit, and warns when
 * server.max_connections does not fit under it.
 */
void daemon_raise_fd_limit(const struct hd_config *cfg);

/* Loads (or creates) the server key and the mesh key, and creates the workers. */
int daemon_init_relay(struct hd_daemon *d, struct hd_config *cfg);
/* Binds the DERP port (or takes the socket systemd passed), and the STUN port when set. */
int daemon_listen(struct hd_daemon *d);
/* Loads the certificate when [tls] is set, and probes the kernel for kTLS. */
int daemon_setup_tls(struct hd_daemon *d);
/* Creates the slow path (its io_uring), not yet its thread. */
int daemon_create_slowpath(struct hd_daemon *d);
/* Switches to server.user when it is set. */
int daemon_drop_privileges(struct hd_daemon *d);
/* Starts the worker threads, then the slow path thread, then the STUN thread. */
int daemon_start_relay(struct hd_daemon *d);
/* Starts the WireGuard relay when [wireguard] is enabled. */
int daemon_start_wireguard(struct hd_daemon *d);
/* Starts the management socket and metrics; argv is kept for reloads. */
int daemon_start_mgmt(struct hd_daemon *d, int argc, char **argv);
/* Tells systemd (if it is watching) that the relay is ready. */
void daemon_notify_ready(void);

/*
 * Waits for SIGTERM or SIGINT, reloading the configuration on each SIGHUP
 * meanwhile. Returns the signal that asked to stop.
 */
int daemon_wait_for_stop(struct hd_daemon *d);
/* Stops every part, drains the clients (Restarting frame, flush, close) and frees all. */
void daemon_stop(struct hd_daemon *d);

#endif
