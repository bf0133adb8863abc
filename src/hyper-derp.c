// SPDX-License-Identifier: MIT
/*
 * hyper-derp: a DERP relay. main() loads the configuration and the server
 * key, starts the dataplane workers and the slow path, then waits for
 * signals: SIGTERM/SIGINT drain (Restarting frame, flush, close) and exit 0.
 */
#include <errno.h>
#include <stddef.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "config.h"
#include "key.h"
#include "log.h"
#include "relay.h"
#include "slowpath.h"
#include "stats.h"
#include "tls.h"

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
	if (tls_kernel_has_ktls())
		log_info("TLS: the kernel offers kTLS, but records are still encrypted in "
			 "userspace (OpenSSL over io_uring)");
	else
		log_info("TLS: no kTLS in this kernel (TCP_ULP \"tls\" unavailable); records are "
			 "encrypted in userspace (OpenSSL over io_uring)");
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

static int wait_for_stop(void)
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
			log_warn("SIGHUP: live reload is not implemented yet; restart to apply "
				 "configuration changes");
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
	log_set_level(cfg.log_level);

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
	if (!sp || relay_start_workers(&relay) < 0 || slowpath_start(sp) < 0) {
		log_error("startup failed");
		return 1;
	}
	log_info("listening on %s port %u (%s), %u worker%s", cfg.listen, port,
		 tls ? "HTTPS" : "plain HTTP", relay.nworkers, relay.nworkers == 1 ? "" : "s");

	wait_for_stop();
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
