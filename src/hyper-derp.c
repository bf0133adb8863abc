// SPDX-License-Identifier: MIT
/*
 * hyper-derp: a DERP relay. main() loads the configuration and the server
 * key, starts the dataplane workers and the slow path, then waits for
 * signals: SIGTERM/SIGINT drain (Restarting frame, flush, close) and exit 0;
 * SIGHUP reloads the configuration (what can change live does, see
 * src/mgmt/config_live.c). The management thread serves hdcli and metrics.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_live.h"
#include "key.h"
#include "log.h"
#include "mgmt_server.h"
#include "sd_notify.h"
#include "relay.h"
#include "slowpath.h"
#include "stats.h"
#include "wg_relay.h"
#include "tls.h"
#include "privdrop.h"

static int load_mesh_key(struct relay *r, const struct hd_config *cfg)
{
	if (!cfg->mesh_key_file[0])
		return 0;
	char err[512];
	if (mesh_key_file_load(cfg->mesh_key_file, r->mesh_key, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	r->has_mesh_key = true;
	log_info("mesh key loaded from %s: mesh peers may watch, forward and close peers",
		 cfg->mesh_key_file);
	return 0;
}

/* TLS is on when both tls.cert and tls.key are set; one without the other is an error. */
static int setup_tls(const struct hd_config *cfg, const uint8_t pub[KEY_LEN], SSL_CTX **out)
{
	*out = NULL;
	if (!cfg->tls_cert[0] && !cfg->tls_key[0])
		return 0;
	if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
		log_error("TLS needs both tls.cert and tls.key (only %s is set)",
			  cfg->tls_cert[0] ? "tls.cert" : "tls.key");
		return -1;
	}
	char err[512];
	*out = tls_server_ctx_create(cfg->tls_cert, cfg->tls_key, pub, err, sizeof(err));
	if (!*out) {
		log_error("%s", err);
		return -1;
	}
	tls_ktls_setup(*out, strcmp(cfg->tls_ktls, "off") != 0);
	return 0;
}

/* The WireGuard relay, when [wireguard] enabled; NULL otherwise or on failure (logged). */
static struct wg_relay *start_wireguard(const struct hd_config *cfg, bool *failed)
{
	struct wg_relay_options opt = {
		.port = cfg->wg_listen_port,
		.interfaces = cfg->wg_interface,
		.mode = cfg->wg_mode,
		.table_file = cfg->wg_table_file,
		.queues = cfg->wg_queues,
		.workers = cfg->wg_workers,
	};
	char err[512];

	*failed = false;
	if (!cfg->wg_enabled)
		return NULL;
	struct wg_relay *wg = wg_relay_start(&opt, err, sizeof(err));
	if (!wg) {
		log_error("%s", err);
		*failed = true;
	}
	return wg;
}

/*
 * server.user set: switch to it once the privileged work is done (port bound,
 * key read, TLS loaded), keeping CAP_NET_BIND_SERVICE, and the XDP set when
 * the WireGuard relay may use XDP or AF_XDP.
 */
static int drop_privileges(const struct hd_config *cfg)
{
	if (!cfg->user[0])
		return 0;
	char err[512];
	uid_t uid;
	gid_t gid;
	if (privdrop_lookup(cfg->user, cfg->group, &uid, &gid, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	/* The management socket's directory must be ours to create the socket in. */
	if (cfg->mgmt_socket[0]) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", cfg->mgmt_socket);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (mkdir(dir, 0750) < 0 && errno != EEXIST)
				log_warn("cannot create %s: %s", dir, strerror(errno));
			else if (chown(dir, uid, gid) < 0)
				log_warn("cannot hand %s to %s: %s", dir, cfg->user, strerror(errno));
		}
	}
	struct privdrop_caps caps = {
		.xdp = cfg->wg_enabled && strcmp(cfg->wg_mode, "socket") != 0 &&
		       cfg->wg_interface[0],
	};
	if (privdrop_apply(uid, gid, &caps, err, sizeof(err)) < 0) {
		log_error("dropping privileges: %s", err);
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u), keeping CAP_NET_BIND_SERVICE%s",
		 cfg->user, (unsigned)uid, (unsigned)gid,
		 caps.xdp ? ", CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW, CAP_IPC_LOCK" : "");
	return 0;
}

static void raise_fd_limit(void)
{
	/* Each connection is one fd; take the hard limit, which needs no privilege. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* SIGHUP: the same rules as `config commit`; a bad file changes nothing. */
static void reload_config(struct mgmt_context *mctx)
{
	char err[1024];

	sd_notify_reloading();
	log_info("SIGHUP: reloading the configuration");
	if (mgmt_config_reload(mctx, NULL, err, sizeof(err)) < 0)
		log_error("SIGHUP: reload failed, nothing changed: %s", err);
	sd_notify_send("READY=1");
}

static int wait_for_stop(struct mgmt_context *mctx)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload_config(mctx);
			continue;
		}
		log_info("%s: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return sig;
	}
}

int main(int argc, char **argv)
{
	static struct hd_config cfg;
	char err[1024];

	if (sodium_init() < 0) {
		fprintf(stderr, "hyper-derp: libsodium failed to initialise\n");
		return 1;
	}
	config_defaults(&cfg);
	int rc = config_from_args(&cfg, argc, argv, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "hyper-derp: %s\n", err);
		return 2;
	}
	config_apply_logging(&cfg);

	/* Signals go to main only: block them before any thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool created = false;
	if (key_file_load_or_create(cfg.key_file, priv, pub, &created, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	char nodekey[80];
	key_to_nodekey(pub, nodekey);
	log_info("hyper-derp %s: server key %s (%s %s)", HD_VERSION, nodekey,
		 created ? "new key written to" : "loaded from", cfg.key_file);

	static struct relay relay;
	if (relay_init(&relay, &cfg, priv, pub) < 0 || load_mesh_key(&relay, &cfg) < 0) {
		log_error("startup failed");
		return 1;
	}
	sodium_memzero(priv, sizeof(priv));

	uint16_t port;
	int lfd = slowpath_listen(&cfg, &port, err, sizeof(err));
	if (lfd < 0) {
		log_error("%s", err);
		return 1;
	}
	SSL_CTX *tls = NULL;
	if (setup_tls(&cfg, pub, &tls) < 0)
		return 1;
	struct slowpath *sp = slowpath_create(&relay, lfd, tls);
	if (!sp) {
		log_error("startup failed");
		return 1;
	}
	/* Every thread starts after this point, so it inherits the reduced privileges. */
	if (drop_privileges(&cfg) < 0)
		return 1;
	if (relay_start_workers(&relay) < 0 || slowpath_start(sp) < 0) {
		log_error("startup failed");
		return 1;
	}
	log_info("listening on %s port %u (%s), %u worker%s", cfg.listen, port,
		 tls ? "HTTPS" : "plain HTTP", relay.nworkers, relay.nworkers == 1 ? "" : "s");

	bool wg_failed;
	struct wg_relay *wg = start_wireguard(&cfg, &wg_failed);
	if (wg_failed)
		return 1;

	static struct mgmt_context mctx;
	mgmt_context_init(&mctx);
	mctx.relay = &relay;
	mctx.slowpath = sp;
	mctx.running = &cfg;
	mctx.argc = argc;
	mctx.argv = argv;
	mctx.port = port;
	mctx.tls = tls != NULL;
	snprintf(mctx.server_key, sizeof(mctx.server_key), "%s", nodekey);
	mctx.wg = wg;
	struct mgmt_server *mgmt = mgmt_server_start(&mctx, err, sizeof(err));
	if (!mgmt) {
		log_error("%s", err);
		return 1;
	}
	if (cfg.mgmt_socket[0])
		log_info("management socket %s", cfg.mgmt_socket);
	if (mctx.metrics_addr[0])
		log_info("metrics on http://%s/metrics", mctx.metrics_addr);
	if (sd_notify_send("READY=1") < 0)
		log_warn("sd_notify: %s: %s", getenv("NOTIFY_SOCKET"), strerror(errno));

	wait_for_stop(&mctx);
	sd_notify_send("STOPPING=1");
	mgmt_server_stop(mgmt);
	mgmt_context_destroy(&mctx);
	wg_relay_stop(wg);
	slowpath_stop(sp);
	relay_stop_workers(&relay);
	log_info(
	    "stopped: %lu connections served",
	    (unsigned long)relay_stat_sum(&relay, offsetof(struct worker_stats, conns_accepted)));
	slowpath_destroy(sp);
	relay_destroy(&relay);
	SSL_CTX_free(tls);
	return 0;
}
