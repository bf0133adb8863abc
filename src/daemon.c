// SPDX-License-Identifier: MIT
/*
 * Starting and stopping the daemon's parts (daemon.h). The order they are
 * called in, and why, is in main() (hyper-derp.c).
 */
#include "daemon.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_live.h"
#include "key.h"
#include "log.h"
#include "mgmt_server.h"
#include "mgmt_socket_dir.h"
#include "privdrop.h"
#include "sd_notify.h"
#include "slowpath.h"
#include "stats.h"
#include "stun_server.h"
#include "tls.h"
#include "wg_relay.h"

static void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
}

void daemon_block_signals(void)
{
	sigset_t set;
	stop_signals(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Descriptors the relay needs besides its client connections: listeners,
 * each worker's ring and eventfds, the management plane's clients, files.
 */
static uint64_t fd_reserve(const struct hd_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t workers = cfg->workers ? cfg->workers : (uint64_t)(cpus > 0 ? cpus : 1);
	return 64 + 4 * workers + cfg->mgmt_max_clients + cfg->metrics_max_clients;
}

void daemon_raise_fd_limit(const struct hd_config *cfg)
{
	/* Each connection is one fd; take the hard limit, which needs no privilege. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	/*
	 * Past the limit accepts fail (and pause, accept_backoff.h): say so
	 * now rather than when the connections come.
	 */
	uint64_t reserve = fd_reserve(cfg);
	if (rl.rlim_cur == RLIM_INFINITY || (uint64_t)rl.rlim_cur >= cfg->max_connections + reserve)
		return;
	uint64_t fit = rl.rlim_cur > reserve ? (uint64_t)rl.rlim_cur - reserve : 0;
	log_warn("server.max_connections = %u, but the open-file limit is %llu: about %llu "
		 "connections fit (%llu descriptors are kept for listeners, workers and the "
		 "management plane); raise the limit (systemd: LimitNOFILE=) or lower "
		 "server.max_connections",
		 cfg->max_connections, (unsigned long long)rl.rlim_cur, (unsigned long long)fit,
		 (unsigned long long)reserve);
}

/* HD's token secret, revocation list and peer ids (docs/hd-protocol.md). */
static int init_hd(struct relay *r, const struct hd_config *cfg)
{
	if (!cfg->hd_enabled)
		return 0;
	struct hd_registry_config hc = {
		.require_token = cfg->hd_require_token,
		.token_secret_file = cfg->hd_token_secret_file,
		.revoked_file = cfg->hd_revoked_file,
		.max_peers = cfg->hd_max_peers,
	};
	/* Empty paths: beside the server key, the relay's state directory. */
	char secret[PATH_MAX + 32], revoked[PATH_MAX + 32];
	const char *slash = strrchr(cfg->key_file, '/');
	int dir_len = slash ? (int)(slash - cfg->key_file) : 1;
	const char *dir = slash ? cfg->key_file : ".";
	if (cfg->hd_token_secret_file[0])
		snprintf(secret, sizeof(secret), "%s", cfg->hd_token_secret_file);
	else
		snprintf(secret, sizeof(secret), "%.*s/hd-token.secret", dir_len, dir);
	if (cfg->hd_revoked_file[0])
		snprintf(revoked, sizeof(revoked), "%s", cfg->hd_revoked_file);
	else
		snprintf(revoked, sizeof(revoked), "%.*s/hd-revoked.conf", dir_len, dir);
	hc.token_secret_file = secret;
	hc.revoked_file = revoked;
	char err[512];
	r->hd = malloc(sizeof(*r->hd));
	if (!r->hd || hd_registry_init(r->hd, &hc, err, sizeof(err)) < 0) {
		log_error("hd: %s", r->hd ? err : "out of memory");
		free(r->hd);
		r->hd = NULL;
		return -1;
	}
	log_info("hd: serving /hd (%s; %zu revoked tokens, %zu revoked keys)",
		 cfg->hd_require_token ? "enrollment tokens required" : "any key that proves itself",
		 r->hd->revoked.n_ids, r->hd->revoked.n_keys);
	return 0;
}

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

int daemon_init_relay(struct hd_daemon *d, struct hd_config *cfg)
{
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	bool created = false;
	char err[1024];

	d->cfg = cfg;
	d->listen_fd = -1;
	if (key_file_load_or_create(cfg->key_file, priv, pub, &created, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	key_to_nodekey(pub, d->nodekey);
	log_info("hyper-derp %s: server key %s (%s %s)", HD_VERSION, d->nodekey,
		 created ? "new key written to" : "loaded from", cfg->key_file);

	/* The relay keeps its own copy of the private key; this one is wiped either way. */
	int rc = relay_init(&d->relay, cfg, priv, pub);
	sodium_memzero(priv, sizeof(priv));
	if (rc < 0 || load_mesh_key(&d->relay, cfg) < 0 || init_hd(&d->relay, cfg) < 0) {
		log_error("startup failed");
		return -1;
	}
	return 0;
}

int daemon_listen(struct hd_daemon *d)
{
	char err[1024];
	d->listen_fd = slowpath_listen(d->cfg, &d->port, err, sizeof(err));
	if (d->listen_fd < 0) {
		log_error("%s", err);
		return -1;
	}
	/* Bound here with the DERP port, while a port below 1024 may still be bound. */
	d->stun = NULL;
	if (d->cfg->stun_listen[0]) {
		d->stun = stun_server_bind(d->cfg->stun_listen, err, sizeof(err));
		if (!d->stun) {
			log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

int daemon_setup_tls(struct hd_daemon *d)
{
	const struct hd_config *cfg = d->cfg;

	/*
	 * Asked of the kernel whether or not TLS is on, for `show status`. While
	 * still privileged the probe may load the `tls` module, as it would for
	 * a TLS relay anyway.
	 */
	d->ktls_available = tls_kernel_has_ktls();

	/* TLS is on when both tls.cert and tls.key are set; one without the other is an error. */
	d->tls = NULL;
	if (!cfg->tls_cert[0] && !cfg->tls_key[0])
		return 0;
	if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
		log_error("TLS needs both tls.cert and tls.key (only %s is set)",
			  cfg->tls_cert[0] ? "tls.cert" : "tls.key");
		return -1;
	}
	char err[512];
	d->tls = tls_server_ctx_create(cfg->tls_cert, cfg->tls_key, d->relay.server_pub, err,
				       sizeof(err));
	if (!d->tls) {
		log_error("%s", err);
		return -1;
	}
	tls_ktls_setup(d->tls, strcmp(cfg->tls_ktls, "off") != 0);
	return 0;
}

int daemon_create_slowpath(struct hd_daemon *d)
{
	d->slowpath = slowpath_create(&d->relay, d->listen_fd, d->tls);
	if (!d->slowpath) {
		log_error("startup failed");
		return -1;
	}
	return 0;
}

/*
 * Keeps CAP_NET_BIND_SERVICE, and the XDP set when the WireGuard relay may
 * use XDP or AF_XDP (it attaches its programs after this point).
 */
int daemon_drop_privileges(struct hd_daemon *d)
{
	const struct hd_config *cfg = d->cfg;
	if (!cfg->user[0])
		return 0;
	char err[PATH_MAX + 512];
	uid_t uid;
	gid_t gid;
	if (privdrop_lookup(cfg->user, cfg->group, &uid, &gid, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	/* The socket is created after the drop, in a directory the user may write. */
	if (cfg->mgmt_socket[0] &&
	    mgmt_socket_dir_prepare(cfg->mgmt_socket, cfg->user, uid, gid, err, sizeof(err)) < 0) {
		log_error("mgmt.socket: %s", err);
		return -1;
	}
	struct privdrop_caps caps = {
		.xdp =
		    cfg->wg_enabled && strcmp(cfg->wg_mode, "socket") != 0 && cfg->wg_interface[0],
	};
	if (privdrop_apply(uid, gid, &caps, err, sizeof(err)) < 0) {
		log_error("dropping privileges: %s", err);
		return -1;
	}
	log_info("running as user %s (uid %u, gid %u), keeping CAP_NET_BIND_SERVICE%s", cfg->user,
		 (unsigned)uid, (unsigned)gid,
		 caps.xdp ? ", CAP_NET_ADMIN, CAP_BPF, CAP_NET_RAW, CAP_IPC_LOCK" : "");
	return 0;
}

int daemon_start_relay(struct hd_daemon *d)
{
	struct relay *r = &d->relay;
	if (relay_start_workers(r) < 0 || slowpath_start(d->slowpath) < 0) {
		log_error("startup failed");
		return -1;
	}
	log_info("listening on %s port %u (%s), %u worker%s", d->cfg->listen, d->port,
		 d->tls ? "HTTPS" : "plain HTTP", r->nworkers, r->nworkers == 1 ? "" : "s");
	/* STUN shares nothing with DERP; its thread only answers its own socket. */
	char err[512];
	if (d->stun && stun_server_start(d->stun, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
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
		.block_strikes = cfg->wg_block_strikes,
		.block_seconds = cfg->wg_block_seconds,
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

int daemon_start_wireguard(struct hd_daemon *d)
{
	bool failed;
	d->wg = start_wireguard(d->cfg, &failed);
	return failed ? -1 : 0;
}

int daemon_start_mgmt(struct hd_daemon *d, int argc, char **argv)
{
	struct mgmt_context *mctx = &d->mgmt_ctx;
	char err[1024];

	mgmt_context_init(mctx);
	mctx->relay = &d->relay;
	mctx->slowpath = d->slowpath;
	mctx->running = d->cfg;
	mctx->argc = argc;
	mctx->argv = argv;
	mctx->port = d->port;
	mctx->tls = d->tls != NULL;
	mctx->ktls_available = d->ktls_available;
	snprintf(mctx->server_key, sizeof(mctx->server_key), "%s", d->nodekey);
	mctx->wg = d->wg;
	mctx->stun = d->stun;
	d->mgmt = mgmt_server_start(mctx, err, sizeof(err));
	if (!d->mgmt) {
		log_error("%s", err);
		return -1;
	}
	if (d->cfg->mgmt_socket[0])
		log_info("management socket %s", d->cfg->mgmt_socket);
	if (mctx->metrics_addr[0])
		log_info("metrics on http://%s/metrics", mctx->metrics_addr);
	return 0;
}

void daemon_notify_ready(void)
{
	if (sd_notify_send("READY=1") < 0)
		log_warn("sd_notify: %s: %s", getenv("NOTIFY_SOCKET"), strerror(errno));
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

int daemon_wait_for_stop(struct hd_daemon *d)
{
	sigset_t set;
	stop_signals(&set);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload_config(&d->mgmt_ctx);
			continue;
		}
		log_info("%s: draining connections", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		return sig;
	}
}

void daemon_stop(struct hd_daemon *d)
{
	struct relay *r = &d->relay;

	sd_notify_send("STOPPING=1");
	/* First what reads the other parts, then what feeds the workers, then the workers. */
	mgmt_server_stop(d->mgmt);
	mgmt_context_destroy(&d->mgmt_ctx);
	wg_relay_stop(d->wg);
	stun_server_stop(d->stun);
	slowpath_stop(d->slowpath);
	/* Sends every client a Restarting frame and flushes before the workers exit. */
	relay_stop_workers(r);
	log_info("stopped: %lu connections served",
		 (unsigned long)relay_stat_sum(r, offsetof(struct worker_stats, conns_accepted)));
	slowpath_destroy(d->slowpath);
	relay_destroy(r);
	SSL_CTX_free(d->tls);
}
