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

#include "cert_source.h"
#include "config_live.h"
#include "config_relay.h"
#include "key.h"
#include "log.h"
#include "mesh_client.h"
#include "mgmt_server.h"
#include "mgmt_socket_dir.h"
#include "privdrop.h"
#include "sd_notify.h"
#include "slowpath.h"
#include "stats.h"
#include "stun_server.h"
#include "http_port.h"
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
		.policy_file = cfg->hd_policy_file,
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
	if (r->hd->policy)
		log_info("hd: policy %s: %zu rules, %zu groups, %zu keys", r->hd->policy_file,
			 r->hd->policy->n_rules, r->hd->policy->n_groups, r->hd->policy->n_keys);
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

	/* The layers below get their own settings, not the configuration (docs/layers.md). */
	struct relay_settings relay_set;
	config_relay_settings(cfg, &relay_set);
	config_slowpath_settings(cfg, &d->slowpath_set);
	/* The relay keeps its own copy of the private key; this one is wiped either way. */
	int rc = relay_init(&d->relay, &relay_set, priv, pub);
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
	d->listen_fd = slowpath_listen(&d->slowpath_set, &d->port, err, sizeof(err));
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
	/* Port 80 needs the privilege to bind, like the DERP port. */
	d->http_port = NULL;
	if (d->cfg->http_port) {
		const char *addr = d->cfg->http_listen[0] ? d->cfg->http_listen : d->cfg->listen;
		d->http_port = http_port_bind(addr, d->cfg->http_port, err, sizeof(err));
		if (!d->http_port) {
			log_error("%s", err);
			return -1;
		}
	}
	return 0;
}

/*
 * A self-signed certificate is trusted only through the DERP map: say what
 * to paste there, in derper's words (its -certmode manual with an IP
 * hostname prints the same line), with DERPPort when it is not 443.
 */
static void print_derp_map_node(const struct hd_config *cfg, uint16_t derp_port,
				const struct cert_info *info)
{
	char port[32] = "";
	if (derp_port != 443)
		snprintf(port, sizeof(port), ",\"DERPPort\":%u", (unsigned)derp_port);
	log_info("Using self-signed certificate for IP address \"%s\". Configure it in DERPMap "
		 "using: (https://tailscale.com/s/custom-derp)\n  "
		 "{\"Name\":\"custom\",\"RegionID\":900,\"HostName\":\"%s\"%s,\"CertName\":\"%s\"}",
		 cfg->hostname, cfg->hostname, port, info->pin);
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

	d->tls = NULL;
	d->certs_on = false;
	char err[1024];
	int on = cert_source_init(&d->certs, cfg->tls_mode, cfg->tls_cert, cfg->tls_key,
				  cfg->tls_cert_dir, cfg->hostname, d->relay.server_pub, err,
				  sizeof(err));
	if (on < 0) {
		log_error("%s", err);
		return -1;
	}
	if (on == 0)
		return 0;
	/* HTTP-01 is answered on the plain-HTTP port from the challenge directory. */
	if (strcmp(cfg->tls_mode, "acme") == 0 && (!cfg->http_port || !cfg->tls_acme_challenge_dir[0])) {
		log_error("tls.mode = acme needs http.port (80) and tls.acme_challenge_dir: the ACME "
			  "CA checks http://%s/.well-known/acme-challenge/ (docs/tls.md)",
			  cfg->hostname);
		return -1;
	}
	struct cert_info info;
	d->tls = cert_source_load(&d->certs, &info, err, sizeof(err));
	d->cert_loaded = info;
	if (!d->tls) {
		log_error("%s", err);
		return -1;
	}
	d->certs_on = true;
	if (info.placeholder)
		log_warn("TLS (tls.mode = acme): no certificate at %s yet: serving a self-signed "
			 "placeholder until the ACME client (hyper-derp-acme) puts one there; it is "
			 "taken within a second",
			 d->certs.cert_path);
	else
		log_info("TLS (tls.mode = %s): certificate %s: %s, valid until %s, %s", cfg->tls_mode,
		 d->certs.cert_path, info.subject, info.not_after, info.pin);
	if (info.expired)
		log_warn("TLS: the certificate in %s has expired (%s)", d->certs.cert_path,
			 info.not_after);
	if (strcmp(cfg->tls_mode, "ip") == 0 ||
	    (strcmp(cfg->tls_mode, "manual") == 0 && cert_ip_hostname(cfg->hostname)))
		print_derp_map_node(cfg, d->port, &info);
	tls_ktls_setup(d->tls, strcmp(cfg->tls_ktls, "off") != 0);
	return 0;
}

int daemon_create_slowpath(struct hd_daemon *d)
{
	d->slowpath = slowpath_create(&d->relay, &d->slowpath_set, d->listen_fd, d->tls);
	if (!d->slowpath) {
		log_error("startup failed");
		return -1;
	}
	if (d->certs_on)
		slowpath_watch_certificates(d->slowpath, &d->certs, &d->cert_loaded);
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
	/* After the workers: the mesh clients post to their rings. */
	if (mesh_start(r) < 0) {
		log_error("startup failed");
		return -1;
	}
	/* STUN shares nothing with DERP; its thread only answers its own socket. */
	char err[512];
	if (d->stun && stun_server_start(d->stun, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return -1;
	}
	if (d->http_port) {
		struct http_port_options opt = {
			.challenge_dir = d->cfg->tls_acme_challenge_dir,
			.hostname = d->cfg->hostname,
			.https_port = d->port,
			.max_clients = d->cfg->http_max_clients,
			.timeout_ms = d->cfg->http_timeout_ms,
		};
		if (http_port_start(d->http_port, &opt, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return -1;
		}
		log_info(
		    "plain HTTP on port %u: /generate_204, ACME HTTP-01%s, the rest redirected "
		    "to https",
		    (unsigned)http_port_bound(d->http_port),
		    d->cfg->tls_acme_challenge_dir[0] ? ""
						      : " (none: tls.acme_challenge_dir unset)");
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
	mctx->http_port = d->http_port;
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
	if (mctx->relay->hd && mctx->relay->hd->policy_file[0]) {
		if (hd_registry_policy_reload(mctx->relay->hd, err, sizeof(err)) < 0)
			log_error("SIGHUP: hd policy refused, the old policy stays: %s", err);
		else
			log_info("SIGHUP: hd policy %s reloaded", mctx->relay->hd->policy_file);
	}
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
			if (d->certs_on) {
				log_info("SIGHUP: re-reading the certificate %s",
					 d->certs.cert_path);
				slowpath_reload_certificates(d->slowpath);
			}
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
	http_port_stop(d->http_port);
	slowpath_stop(d->slowpath);
	/* Before the workers: the mesh clients send buffers home through their rings. */
	mesh_stop(r);
	/* Sends every client a Restarting frame and flushes before the workers exit. */
	relay_stop_workers(r);
	log_info("stopped: %lu connections served",
		 (unsigned long)relay_stat_sum(r, offsetof(struct worker_stats, conns_accepted)));
	slowpath_destroy(d->slowpath);
	relay_destroy(r);
	SSL_CTX_free(d->tls);
}
