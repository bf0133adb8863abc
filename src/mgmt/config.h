/* SPDX-License-Identifier: MIT */
/*
 * The daemon's configuration: defaults, the INI file (inih) and command-line
 * overrides, in that order of precedence. Every key lives in one table
 * (config.c) that also drives validation, `show config` and the docs.
 */
#ifndef HD_CONFIG_H
#define HD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "version.h"

struct hd_config {
	/* [server] */
	char listen[64];  /* address to bind, e.g. 127.0.0.1, 0.0.0.0, :: */
	uint16_t port;	  /* 0 = pick a free port (logged) */
	uint32_t workers; /* dataplane threads; 0 = one per two online cores, at least one */
	char key_file[PATH_MAX];
	char mesh_key_file[PATH_MAX]; /* empty = no mesh peers accepted */
	uint32_t max_connections;
	/* [limits] */
	uint32_t queue_depth;	       /* per destination and per kind (disco/data) */
	uint32_t handshake_timeout_ms; /* HTTP head + DERP handshake */
	uint32_t write_timeout_ms;     /* a send stalled this long closes the connection */
	uint32_t keepalive_ms;	       /* KeepAlive period (jitter up to 5 s added) */
	uint32_t drain_timeout_ms;     /* on SIGTERM: time to flush Restarting frames */
	uint32_t buffer_pool_mb;       /* packet buffer memory per worker */
	uint32_t pinned_recv_buffers;  /* receive buffers in-place packets may hold, per worker */
	uint32_t max_accept_per_ip;    /* new connections per second from one IP; 0 = no limit */
	uint32_t max_conns_per_key;    /* connections of one node key; past it the oldest closes */
	uint32_t control_pool_mb;      /* server frame (ServerInfo, Pong ...) memory per worker */
	uint32_t frame_assembly_mb;    /* memory per worker for frames split across reads */
	uint32_t frame_timeout_ms;     /* a split frame's grace; it also gets 1 ms per byte */
	uint32_t peer_gone_recipients; /* connections per key and worker told PeerGone */
	char queue_policy[16];	       /* "codel" or "headdrop" (derper's): restart only */
	uint32_t queue_bytes;	       /* codel: data bytes queued per destination */
	uint32_t codel_target_us;      /* codel: sojourn time above which drops may start */
	uint32_t codel_interval_ms;    /* codel: how long above target before the first drop */
	uint32_t max_pending_per_ip;   /* handshakes under way per IP (IPv6: /64); 0 = none */
	uint32_t handshake_memory_mb;  /* buffers of all handshakes under way, MiB */
	uint32_t client_rate_bytes;    /* bytes a second read from one client; 0 = no limit */
	uint32_t client_burst_bytes;   /* what it may send at once above the rate */
	uint32_t accept_rate;	       /* new connections per second, all sources; 0 = no limit */
	uint32_t accept_burst;	       /* connections accept_rate lets in at once */
	uint32_t tcp_keepalive_ms;     /* idle time before TCP keepalive probes; 0 = off */
	uint32_t tcp_user_timeout_ms;  /* unacknowledged data closes the socket; 0 = kernel's */
	/* [server], continued */
	char pin_cores[128];   /* "auto", "none", or a list of CPUs "2,3,4" for the workers */
	uint32_t idle_spin_us; /* a worker spins this long without work before sleeping */
	char recv_mode[16];    /* auto, bufring or single: how workers receive (restart only) */
	char user[64];	       /* drop privileges to this user after start; empty = stay */
	char group[64];
	/* [admission] */
	bool verify_clients;		 /* ask the local tailscaled (LocalAPI whois) */
	char tailscaled_socket[PATH_MAX];
	char verify_client_url[1024]; /* derper's admission controller URL; empty = none */
	bool admission_fail_open;     /* admit when the URL cannot be reached */
	uint32_t admission_cache_ms;  /* how long an answer is reused */
	uint32_t admission_timeout_ms;
	/* [tls] */
	char tls_cert[PATH_MAX]; /* both set: serve HTTPS (DERP over TLS) */
	char tls_key[PATH_MAX];
	char tls_ktls[8]; /* "auto": hand sessions to kernel TLS when it has it; "off" */
	char tls_mode[8]; /* file, manual, acme or ip: where the certificate comes from */
	char tls_cert_dir[PATH_MAX]; /* manual/acme/ip: <hostname>.crt and <hostname>.key */
	char tls_acme_challenge_dir[PATH_MAX]; /* HTTP-01 tokens served on the port-80 listener */
	/* Read by the ACME client (scripts/hyper-derp-acme through `hdcli show config`). */
	char tls_acme_url[512];		  /* the CA's ACME directory */
	char tls_acme_email[256];	  /* the account's contact; empty = none */
	char tls_acme_state_dir[PATH_MAX]; /* the client's account key and certificates */
	uint32_t tls_acme_renew_days;	  /* renew when the certificate expires sooner */
	/* [server], continued */
	char hostname[256]; /* the name (or IP) clients reach the relay by */
	/* [http] */
	uint16_t http_port;	   /* the port-80 listener; 0 = off */
	char http_listen[64];	   /* its address; empty = server.listen */
	uint32_t http_max_clients; /* port-80 connections at once */
	uint32_t http_timeout_ms;  /* one port-80 exchange, accept to the last byte */
	/* [mgmt] */
	char mgmt_socket[PATH_MAX]; /* Unix socket for hdcli; empty = none */
	uint32_t mgmt_max_clients;  /* hdcli connections at once, followers included */
	uint32_t events_backlog_kb; /* unread `events follow` KiB before a follower is dropped */
	/* [stun] */
	char stun_listen[80]; /* UDP :PORT, HOST:PORT or [V6]:PORT; empty = no STUN server */
	/* [metrics] */
	char metrics_listen[128]; /* host:port of the Prometheus endpoint; empty = off */
	uint32_t metrics_max_clients; /* metrics connections at once, apart from hdcli's */
	uint32_t metrics_timeout_ms;  /* one HTTP exchange, accept to the last byte written */
	/* [mesh] */
	char mesh_with[2048];		/* relays to dial as a mesh client (mesh_with.h) */
	uint32_t mesh_write_timeout_ms; /* stalled send to or from a mesh peer; 0 = never */
	uint32_t mesh_retry_ms;		/* wait before redialling a mesh peer */
	uint32_t mesh_max_keys;		/* node keys kept per mesh peer; more are not routed there */
	char mesh_ca_file[PATH_MAX];	/* verify TLS mesh peers against these; empty = system */
	/* [bootstrap_dns] */
	char bootstrap_dns_names[1024];	  /* hostnames served at /bootstrap-dns; empty = none */
	char bootstrap_dns_unpublished[1024]; /* answered only to ?q= for one of them */
	uint32_t bootstrap_dns_refresh_s; /* seconds between resolutions of them */
	/* [debug] */
	char debug_allow[512]; /* networks that may reach /debug/ on the DERP port */
	/* [log] */
	int log_level;	    /* enum log_level */
	char log_format[8]; /* "text" or "json" */
	/* [wireguard] */
	bool wg_enabled;
	uint16_t wg_listen_port;
	char wg_interface[32];	      /* interface for XDP/AF_XDP; empty = socket mode only */
	char wg_mode[16];	      /* auto, xdp, afxdp, socket or dpdk */
	char wg_table_file[PATH_MAX]; /* persisted peer/link table */
	char wg_queues[128];	      /* auto, a count or a list (src/wireguard/wg_queues.h) */
	uint32_t wg_workers;	      /* AF_XDP workers; 0 = one per queue number, per CPU */
	uint32_t wg_block_strikes;    /* initiations made for no key that block an address */
	uint32_t wg_block_seconds;    /* how long a blocked address stays blocked */
	/* [hd] */
	bool hd_enabled;		    /* serve HD (docs/hd-protocol.md) on /hd */
	bool hd_require_token;		    /* admit only keys with an enrollment token */
	char hd_token_secret_file[PATH_MAX]; /* 64 hex digits; made when missing */
	char hd_revoked_file[PATH_MAX];	    /* revoked token ids and keys; missing = none */
	char hd_policy_file[PATH_MAX];	    /* who may send to whom; empty = everyone */
	uint32_t hd_max_peers;		    /* peer ids given out while the relay runs */
};

/*
 * Reads a key that `config commit` / SIGHUP may change while the relay runs
 * (the management thread stores it atomically).
 */
static inline uint32_t cfg_live_u32(const uint32_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

void config_defaults(struct hd_config *cfg);

/*
 * Loads an INI file over cfg. Unknown sections or keys and bad values are
 * errors written as "FILE:LINE: section.key: reason" (or "FILE: reason" when
 * the file cannot be read). Returns 0 or -1. Relative paths in the file
 * (key_file, mesh_key_file) are taken relative to the file's directory.
 */
int config_load_file(struct hd_config *cfg, const char *path, char *err, size_t errlen);

/*
 * Sets one key by its "section.key" name from text, with the same validation
 * as the file loader. Returns 0, or -1 with "section.key: reason" in err.
 */
int config_set(struct hd_config *cfg, const char *name, const char *value, char *err,
	       size_t errlen);

/*
 * Parses the daemon's command line: --config FILE, --listen ADDR, --port N,
 * --workers N, --key-file PATH, --mesh-key-file PATH, --log-level LEVEL,
 * --help, --version, and derper's flags (derper_flags.h). The order of
 * precedence: defaults, derper's defaults (when any derper flag is given),
 * the config file, derper's flags, our flags. Returns 0 to run, 1 when --help/--version printed and
 * the caller should exit 0, -1 on error (message in err, usage hint included).
 */
int config_from_args(struct hd_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Whether this build has the key "section.key". */
bool config_has_key(const char *name);

/* The value of "section.key" as `show config` prints it; 0, or -1 if there is no such key. */
int config_get(const struct hd_config *cfg, const char *name, char *out, size_t cap);

/* Writes the effective configuration as INI text (for logs and `show config`). */
size_t config_format(const struct hd_config *cfg, char *out, size_t cap);

#endif
