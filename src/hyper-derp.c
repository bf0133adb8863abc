// SPDX-License-Identifier: MIT
/*
 * hyper-derp: a DERP relay, and a WireGuard relay beside it. main() is the
 * start-up sequence, one step per part (src/daemon.c does each), then the
 * wait for signals: SIGTERM/SIGINT drain (Restarting frame, flush, close)
 * and exit 0; SIGHUP reloads the configuration (what can change live does,
 * see src/mgmt/config_live.c). The management thread serves hdcli and
 * metrics.
 *
 * Any step that fails has logged why; main exits 1 without unwinding.
 */
#include <sodium.h>
#include <stdio.h>

#include "config.h"
#include "config_live.h"
#include "daemon.h"

int main(int argc, char **argv)
{
	static struct hd_config cfg;
	static struct hd_daemon d;
	char err[1024];

	if (sodium_init() < 0) {
		fprintf(stderr, "hyper-derp: libsodium failed to initialise\n");
		return 1;
	}
	/* Defaults, then the --config file, then the flags. --help and --version exit 0. */
	config_defaults(&cfg);
	int rc = config_from_args(&cfg, argc, argv, err, sizeof(err));
	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "hyper-derp: %s\n", err);
		return 2;
	}
	config_apply_logging(&cfg);

	/*
	 * Signals go to main's sigwait only. Threads inherit the signal mask,
	 * so it is set before any thread exists.
	 */
	daemon_block_signals();
	daemon_raise_fd_limit(&cfg);

	/*
	 * The server key first: the relay state and the TLS certificate (the
	 * metacert carries the key) need it. The workers are created here but
	 * not started: rings, buffer pools, and each one's recv mode.
	 */
	if (daemon_init_relay(&d, &cfg) < 0)
		return 1;

	/*
	 * What may need the privileges we started with: binding a port below
	 * 1024, reading a TLS key only root may read, the kTLS probe (which may
	 * load the tls module). The slow path's io_uring is set up here too,
	 * like the workers', before anything is dropped.
	 */
	if (daemon_listen(&d) < 0 || daemon_setup_tls(&d) < 0 || daemon_create_slowpath(&d) < 0)
		return 1;

	/* Every thread starts after this point, so it inherits the reduced privileges. */
	if (daemon_drop_privileges(&d) < 0)
		return 1;

	/* Workers before the slow path: it hands them connections as soon as it runs. */
	if (daemon_start_relay(&d) < 0)
		return 1;

	/* The WireGuard relay shares nothing with DERP but the management plane. */
	if (daemon_start_wireguard(&d) < 0)
		return 1;

	/*
	 * The management plane last: its commands read every part above. Only
	 * then is the relay ready as a whole.
	 */
	if (daemon_start_mgmt(&d, argc, argv) < 0)
		return 1;
	daemon_notify_ready();

	daemon_wait_for_stop(&d);
	daemon_stop(&d);
	return 0;
}
