// SPDX-License-Identifier: MIT
/*
 * Configuration: one table of keys drives the defaults, the INI loader,
 * config_set, the command-line flags, `show config` and the --help text, so
 * adding a key is one line here and nothing can drift out of step.
 */
#include "config.h"

#include "log.h"
#include "../slowpath/stun_listen.h" /* inline parser: the slow path is not linked here */
#include "../wireguard/wg_queues.h"  /* inline parser: the relay is not linked here */
#include "mesh_with.h"
#include "../slowpath/admission_url.h" /* inline parser: the slow path is not linked here */
#include "bootstrap_names.h"
#include "derper_flags.h"
#include "ip_prefix.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum cfg_type {
	CFG_ADDR,      /* IPv4 or IPv6 literal, kept as text */
	CFG_PATH,      /* file path; relative ones in a file resolve against its directory */
	CFG_U16,       /* decimal integer in min..max */
	CFG_U32,       /* decimal integer in min..max */
	CFG_LOG_LEVEL, /* error, warn, info or debug */
	CFG_TEXT,      /* free text of at most the field's size */
	CFG_BOOL,      /* true/false, yes/no, on/off, 1/0 */
	CFG_CHOICE,    /* one of the words in the key's choices, kept as text */
};

struct cfg_key {
	const char *section;
	const char *name;
	enum cfg_type type;
	size_t offset; /* of the field in struct hd_config */
	size_t size;   /* of the field, bounding text values */
	/* Numbers: the accepted range. Text: min is the shortest length (0 = may be empty). */
	uint32_t min;
	uint32_t max;
	const char *def;  /* default, as text: applied through the same validation */
	const char *flag; /* command-line flag without "--", or NULL */
	const char *help;
	const char *choices; /* CFG_CHOICE: the accepted words, separated by '|' */
	/* CFG_TEXT: a further check of the value; 0 or -1 with the reason. NULL = none. */
	int (*check)(const char *value, char *reason, size_t reason_len);
};

static int check_wg_queues(const char *value, char *reason, size_t reason_len)
{
	struct wg_queue_spec spec;

	return wg_queues_parse(value, &spec, reason, reason_len);
}

/* Empty turns STUN off; anything else must be an address the server can bind. */
static int check_stun_listen(const char *value, char *reason, size_t reason_len)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (value[0] == '\0')
		return 0;
	return stun_listen_parse(value, &ss, &len, reason, reason_len);
}

static bool is_ip_literal(const char *s)
{
	struct in6_addr addr;

	return inet_pton(AF_INET, s, &addr) == 1 || inet_pton(AF_INET6, s, &addr) == 1;
}

/*
 * A DNS name or an IP literal: it names certificate files, so no '/' and
 * nothing a path could climb out with. Empty = not set.
 */
static int check_hostname(const char *value, char *reason, size_t reason_len)
{
	if (value[0] == '\0' || is_ip_literal(value))
		return 0;
	for (const char *c = value; *c; c++) {
		if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') {
			snprintf(reason, reason_len,
				 "\"%s\" is not a DNS name or IP address (character '%c')", value,
				 *c);
			return -1;
		}
	}
	if (value[0] == '.' || value[0] == '-') {
		snprintf(reason, reason_len, "\"%s\" is not a DNS name", value);
		return -1;
	}
	return 0;
}

/* An ACME directory is fetched over HTTPS (RFC 8555 6.1); no spaces or quotes. */
static int check_https_url(const char *value, char *reason, size_t reason_len)
{
	if (strncmp(value, "https://", 8) != 0 || value[8] == '\0') {
		snprintf(reason, reason_len, "\"%s\" is not an https:// URL", value);
		return -1;
	}
	for (const char *c = value; *c; c++) {
		if ((unsigned char)*c <= ' ' || *c == '"' || *c == '\'' || *c == '\\' || *c == 0x7f) {
			snprintf(reason, reason_len, "\"%s\": a URL has no such character", value);
			return -1;
		}
	}
	return 0;
}

/* Empty: the plain-HTTP port shares server.listen's address. */
static int check_http_listen(const char *value, char *reason, size_t reason_len)
{
	if (value[0] == '\0' || is_ip_literal(value))
		return 0;
	snprintf(reason, reason_len, "\"%s\" is not an IPv4 or IPv6 address", value);
	return -1;
}

/* The relays the mesh client dials, checked by the rules it dials by. */
static int check_mesh_with(const char *value, char *reason, size_t reason_len)
{
	struct mesh_target targets[MESH_MAX_PEERS];

	return mesh_with_parse(value, targets, MESH_MAX_PEERS, reason, reason_len) < 0 ? -1 : 0;
}

/* Empty turns the admission controller off; anything else must be an http(s) URL. */
static int check_admission_url(const char *value, char *reason, size_t reason_len)
{
	struct admission_url url;

	if (value[0] == '\0')
		return 0;
	return admission_url_parse(value, &url, reason, reason_len);
}

static int check_bootstrap_names(const char *value, char *reason, size_t reason_len)
{
	struct bootstrap_names names;

	return bootstrap_names_parse(value, &names, reason, reason_len);
}

static int check_debug_allow(const char *value, char *reason, size_t reason_len)
{
	struct ip_prefix_list list;

	return ip_prefix_list_parse(value, &list, reason, reason_len);
}

/* The field's offset and size, the two columns after the type below. */
#define FIELD(f) offsetof(struct hd_config, f), sizeof(((struct hd_config *)0)->f)

/* section, name, type, FIELD, min, max, default, flag, help */
static const struct cfg_key cfg_keys[] = {
	{ "server", "listen", CFG_ADDR, FIELD(listen), 1, 0, "127.0.0.1", "listen",
	  "address to bind, an IPv4 or IPv6 literal (0.0.0.0 or :: for all)" },
	{ "server", "port", CFG_U16, FIELD(port), 0, 65535, "3340", "port",
	  "TCP port for HTTP and DERP; 0 picks a free port (logged)" },
	{ "server", "workers", CFG_U32, FIELD(workers), 0, 256, "0", "workers",
	  "dataplane threads; 0 = one per two online cores, at least one" },
	{ "server", "key_file", CFG_PATH, FIELD(key_file), 1, 0, "/var/lib/hyper-derp/server.key",
	  "key-file", "file holding the server's private key" },
	{ "server", "mesh_key_file", CFG_PATH, FIELD(mesh_key_file), 0, 0, "", "mesh-key-file",
	  "file holding the mesh key; empty = no mesh peers accepted" },
	{ "server", "max_connections", CFG_U32, FIELD(max_connections), 1, 10000000, "100000", NULL,
	  "most client connections served at once" },
	{ "server", "pin_cores", CFG_TEXT, FIELD(pin_cores), 1, 0, "auto", "pin-cores",
	  "worker CPU pinning: auto, none, or a CPU list such as 2,3" },
	{ "server", "idle_spin_us", CFG_U32, FIELD(idle_spin_us), 0, 1000000, "0", NULL,
	  "most microseconds a worker polls without work before it sleeps (backs off while "
	  "fruitless)" },
	{ "server", "recv_mode", CFG_CHOICE, FIELD(recv_mode), 0, 0, "auto", "recv-mode",
	  "how workers receive: auto, bufring (multishot recv) or single (one recv at a time)",
	  "auto|bufring|single" },
	{ "server", "user", CFG_TEXT, FIELD(user), 0, 0, "", "user",
	  "user to run as after start-up (keeps only needed capabilities); empty = stay" },
	{ "server", "group", CFG_TEXT, FIELD(group), 0, 0, "", "group",
	  "group to run as after start-up; empty = the user's group" },
	{ "server", "hostname", CFG_TEXT, FIELD(hostname), 0, 0, "", "hostname",
	  "the DNS name or IP address clients reach the relay by (tls.mode manual, acme, ip)", NULL,
	  check_hostname },
	{ "limits", "queue_depth", CFG_U32, FIELD(queue_depth), 1, 4096, "32", NULL,
	  "frames queued per destination and kind (disco/data) before dropping; under codel, "
	  "disco only" },
	{ "limits", "queue_policy", CFG_CHOICE, FIELD(queue_policy), 0, 0, "codel", NULL,
	  "send queue per destination: codel (byte budget, per-source fair queueing, sojourn-time "
	  "drops) or headdrop (derper's: queue_depth frames, oldest dropped)",
	  "codel|headdrop" },
	{ "limits", "queue_bytes", CFG_U32, FIELD(queue_bytes), 131072, 67108864, "1048576", NULL,
	  "codel: data bytes queued per destination (at most a quarter of buffer_pool_mb is "
	  "used); past it the fattest source's oldest packet is dropped (queue_bytes)" },
	{ "limits", "codel_target_us", CFG_U32, FIELD(codel_target_us), 100, 1000000, "5000", NULL,
	  "codel: microseconds a packet may wait queued before the queue counts as standing" },
	{ "limits", "codel_interval_ms", CFG_U32, FIELD(codel_interval_ms), 1, 10000, "100", NULL,
	  "codel: milliseconds above target before the first drop (queue_sojourn); later drops "
	  "come interval/sqrt(n) apart" },
	{ "limits", "handshake_timeout_ms", CFG_U32, FIELD(handshake_timeout_ms), 100, 600000,
	  "10000", NULL, "milliseconds allowed for the HTTP head and DERP handshake" },
	{ "limits", "write_timeout_ms", CFG_U32, FIELD(write_timeout_ms), 0, 600000, "2000", NULL,
	  "milliseconds a stalled send may last before the connection closes; 0 = never" },
	{ "limits", "keepalive_ms", CFG_U32, FIELD(keepalive_ms), 1000, 3600000, "60000", NULL,
	  "milliseconds between KeepAlive frames (up to 5 s of jitter added)" },
	{ "limits", "drain_timeout_ms", CFG_U32, FIELD(drain_timeout_ms), 0, 60000, "2000", NULL,
	  "milliseconds to flush Restarting frames on SIGTERM" },
	{ "limits", "buffer_pool_mb", CFG_U32, FIELD(buffer_pool_mb), 16, 65536, "512", NULL,
	  "packet buffer memory per worker, MiB; past it packets are dropped (no_buffer)" },
	{ "limits", "pinned_recv_buffers", CFG_U32, FIELD(pinned_recv_buffers), 0, 512, "256", NULL,
	  "16 KiB receive buffers per worker that packets relayed without a copy may hold "
	  "(of 1024); past it packets are copied; 0 = always copy" },
	{ "limits", "max_accept_per_ip", CFG_U32, FIELD(max_accept_per_ip), 0, 1000000, "0", NULL,
	  "new connections per second accepted from one IP address (IPv6: one /64); 0 = no limit" },
	/*
	 * A real node has one connection, two while it reconnects; keys cost
	 * nothing, so without a bound one client could pile any number under
	 * one key. derper has none: 10000000 behaves like it.
	 */
	{ "limits", "max_conns_per_key", CFG_U32, FIELD(max_conns_per_key), 1, 10000000, "4", NULL,
	  "connections one node key may have at once; a newer one closes the oldest "
	  "(counted as closed, reason key_conn_limit)" },
	{ "limits", "control_pool_mb", CFG_U32, FIELD(control_pool_mb), 1, 65536, "64", NULL,
	  "memory per worker for frames the server sends (ServerInfo, KeepAlive, Pong, PeerGone "
	  "...), MiB, apart from the packet pool; past it such frames are dropped (counted)" },
	{ "limits", "frame_assembly_mb", CFG_U32, FIELD(frame_assembly_mb), 1, 65536, "64", NULL,
	  "memory per worker for frames that arrive split across reads, MiB; when full, the frame "
	  "waiting longest is dropped to make room (counted)" },
	{ "limits", "frame_timeout_ms", CFG_U32, FIELD(frame_timeout_ms), 0, 3600000, "30000", NULL,
	  "a frame that arrives split across reads must be complete within this many "
	  "milliseconds plus 1 ms per byte of the frame, or the connection closes; 0 = never" },
	{ "limits", "peer_gone_recipients", CFG_U32, FIELD(peer_gone_recipients), 1, 1000000,
	  "4096", NULL,
	  "connections per worker remembered as sent packets by one key, to be told PeerGone "
	  "when it leaves; past it more are not remembered (counted)" },
	{ "limits", "max_pending_per_ip", CFG_U32, FIELD(max_pending_per_ip), 0, 1000000, "128",
	  NULL,
	  "connections from one IP address (IPv6: one /64) that may be in their handshake at "
	  "once; 0 = no limit" },
	{ "limits", "handshake_memory_mb", CFG_U32, FIELD(handshake_memory_mb), 1, 65536, "128",
	  NULL,
	  "memory for the buffers of all connections in their handshake, MiB; past it new "
	  "connections are refused" },
	/*
	 * derper's -per-client-rate-limit: none by default. The burst covers a
	 * few full frames, so a client's bursts of handshakes and disco go
	 * through at once.
	 */
	{ "limits", "client_rate_bytes", CFG_U32, FIELD(client_rate_bytes), 0, 1000000000, "0", NULL,
	  "bytes per second the relay reads from one client, all it sends counted (derper's "
	  "-per-client-rate-limit); past it the relay reads more slowly (TCP holds the client "
	  "back), nothing is dropped; mesh peers are exempt; 0 = no limit" },
	{ "limits", "client_burst_bytes", CFG_U32, FIELD(client_burst_bytes), 1, 1000000000,
	  "262144", NULL,
	  "bytes a client may send at once above client_rate_bytes (derper's "
	  "-per-client-rate-burst)" },
	/*
	 * derper accepts as fast as connections come (-accept-connection-limit
	 * defaults to infinity): 0 keeps that. The burst only matters with a rate.
	 */
	{ "limits", "accept_rate", CFG_U32, FIELD(accept_rate), 0, 10000000, "0", NULL,
	  "new connections per second from all sources together (derper's "
	  "-accept-connection-limit); past it a new connection is closed at once; 0 = no limit" },
	{ "limits", "accept_burst", CFG_U32, FIELD(accept_burst), 1, 10000000, "1000", NULL,
	  "connections accept_rate lets in at once after a quiet spell (derper's "
	  "-accept-connection-burst)" },
	/*
	 * derper's values: a long keepalive (the DERP KeepAlive frame is the
	 * frequent one, and probes cost mobile batteries) and a short user
	 * timeout, so that a client that vanished is closed within seconds of
	 * the relay sending it anything.
	 */
	{ "limits", "tcp_keepalive_ms", CFG_U32, FIELD(tcp_keepalive_ms), 0, 86400000, "600000",
	  NULL,
	  "idle milliseconds before TCP keepalive probes on client connections, and between "
	  "them (derper's -tcp-keepalive-time); 0 = no TCP keepalive" },
	{ "limits", "tcp_user_timeout_ms", CFG_U32, FIELD(tcp_user_timeout_ms), 0, 3600000,
	  "15000", NULL,
	  "milliseconds sent data (or a keepalive probe) may stay unacknowledged before the "
	  "kernel closes a client connection (TCP_USER_TIMEOUT, derper's -tcp-user-timeout); "
	  "0 = the kernel's default (minutes)" },
	{ "admission", "verify_clients", CFG_BOOL, FIELD(verify_clients), 0, 0, "false", NULL,
	  "admit only node keys the local tailscaled knows (LocalAPI whois, derper's "
	  "-verify-clients); mesh peers are not asked about" },
	{ "admission", "tailscaled_socket", CFG_PATH, FIELD(tailscaled_socket), 1, 0,
	  "/var/run/tailscale/tailscaled.sock", NULL,
	  "tailscaled's LocalAPI Unix socket, for verify_clients" },
	{ "admission", "verify_client_url", CFG_TEXT, FIELD(verify_client_url), 0, 0, "", NULL,
	  "admission controller URL (http:// or https://, system CAs) that each new node key is "
	  "POSTed to (derper's -verify-client-url); empty = none",
	  NULL, check_admission_url },
	{ "admission", "fail_open", CFG_BOOL, FIELD(admission_fail_open), 0, 0, "true", NULL,
	  "admit a client when verify_client_url cannot be reached or does not answer in time "
	  "(derper's -verify-client-url-fail-open); a refusal or a bad answer still refuses" },
	{ "admission", "cache_ms", CFG_U32, FIELD(admission_cache_ms), 0, 3600000, "10000", NULL,
	  "milliseconds an admit or refuse answer for a node key and address is reused; 0 = "
	  "ask every time" },
	{ "admission", "timeout_ms", CFG_U32, FIELD(admission_timeout_ms), 100, 60000, "5000",
	  NULL,
	  "milliseconds one check (connect, request, answer) may take (derper: 5 s); past it "
	  "the check has failed" },
	{ "tls", "cert", CFG_PATH, FIELD(tls_cert), 0, 0, "", "tls-cert",
	  "PEM certificate chain; with tls.key set, DERP is served over TLS" },
	{ "tls", "key", CFG_PATH, FIELD(tls_key), 0, 0, "", "tls-key",
	  "PEM private key of the certificate" },
	{ "tls", "ktls", CFG_CHOICE, FIELD(tls_ktls), 0, 0, "auto", NULL,
	  "kernel TLS after the handshake: auto (when the kernel has it) or off", "auto|off" },
	{ "tls", "mode", CFG_CHOICE, FIELD(tls_mode), 0, 0, "file", "tls-mode",
	  "where the certificate comes from: file (tls.cert and tls.key), manual "
	  "(tls.cert_dir/<server.hostname>.crt and .key), acme (the same files, kept by an ACME "
	  "client) or ip (a self-signed certificate for the IP server.hostname, made once)",
	  "file|manual|acme|ip" },
	{ "tls", "cert_dir", CFG_PATH, FIELD(tls_cert_dir), 1, 0, "/var/lib/hyper-derp/certs",
	  "tls-cert-dir", "directory of <server.hostname>.crt and .key (modes manual, acme, ip)" },
	{ "tls", "acme_challenge_dir", CFG_PATH, FIELD(tls_acme_challenge_dir), 0, 0, "",
	  "tls-acme-challenge-dir",
	  "directory whose files the port-80 listener serves under /.well-known/acme-challenge/ "
	  "(an ACME client's webroot/.well-known/acme-challenge); empty = none" },
	{ "tls", "acme_url", CFG_TEXT, FIELD(tls_acme_url), 9, 0,
	  "https://acme-v02.api.letsencrypt.org/directory", NULL,
	  "the ACME directory URL hyper-derp-acme asks for the certificate (tls.mode = acme)", NULL,
	  check_https_url },
	{ "tls", "acme_email", CFG_TEXT, FIELD(tls_acme_email), 0, 0, "", NULL,
	  "contact address of the ACME account; empty = none" },
	{ "tls", "acme_state_dir", CFG_PATH, FIELD(tls_acme_state_dir), 1, 0,
	  "/var/lib/hyper-derp/acme", NULL,
	  "where hyper-derp-acme keeps the ACME account key and the certificates it got" },
	{ "tls", "acme_renew_days", CFG_U32, FIELD(tls_acme_renew_days), 1, 365, "30", NULL,
	  "hyper-derp-acme renews a certificate that expires within this many days" },
	{ "http", "port", CFG_U16, FIELD(http_port), 0, 65535, "0", "http-port",
	  "plain-HTTP port (80) answering /generate_204 and ACME HTTP-01 and redirecting the rest "
	  "to https; 0 = off" },
	{ "http", "listen", CFG_TEXT, FIELD(http_listen), 0, 0, "", "http-listen",
	  "address of the plain-HTTP port; empty = server.listen", NULL, check_http_listen },
	{ "http", "max_clients", CFG_U32, FIELD(http_max_clients), 1, 4096, "256", NULL,
	  "plain-HTTP connections at once (about 8 KiB each); past it the oldest makes room" },
	{ "http", "timeout_ms", CFG_U32, FIELD(http_timeout_ms), 100, 600000, "5000", NULL,
	  "milliseconds a plain-HTTP client has to send its request and take the response" },
	{ "mgmt", "socket", CFG_PATH, FIELD(mgmt_socket), 0, 0, "/run/hyper-derp/mgmt.sock",
	  "mgmt-socket", "Unix socket for hdcli (mode 0660); empty = none" },
	{ "mgmt", "max_clients", CFG_U32, FIELD(mgmt_max_clients), 1, 1024, "64", NULL,
	  "hdcli connections at once (event followers included); past it a newcomer is told "
	  "busy. The metrics port has its own budget" },
	{ "mgmt", "events_backlog_kb", CFG_U32, FIELD(events_backlog_kb), 64, 65536, "4096", NULL,
	  "KiB of `events follow` output a follower may leave unread before it is dropped" },
	{ "metrics", "listen", CFG_TEXT, FIELD(metrics_listen), 0, 0, "", "metrics-listen",
	  "host:port serving Prometheus /metrics over HTTP; empty = off" },
	{ "metrics", "max_clients", CFG_U32, FIELD(metrics_max_clients), 1, 1024, "16", NULL,
	  "metrics connections at once; when full, the oldest one that has not sent its "
	  "request makes room, else the newcomer is closed" },
	{ "metrics", "timeout_ms", CFG_U32, FIELD(metrics_timeout_ms), 100, 600000, "10000", NULL,
	  "milliseconds a metrics client has to send its request and take the response" },
	{ "stun", "listen", CFG_TEXT, FIELD(stun_listen), 0, 0, "", "stun-listen",
	  "UDP address answering Tailscale's STUN binding requests (:3478, 0.0.0.0:3478, "
	  "[::]:3478); empty = off",
	  NULL, check_stun_listen },
	{ "mesh", "with", CFG_TEXT, FIELD(mesh_with), 0, 0, "", "mesh-with",
	  "the region's other relays, dialled as a mesh client (derper's -mesh-with): HOST, "
	  "HOST:PORT or https://HOST:PORT (TLS), http://HOST:PORT (plain); needs "
	  "server.mesh_key_file",
	  NULL, check_mesh_with },
	/* derper's privilegedWriteTimeout: the mesh carries a whole region's traffic. */
	{ "mesh", "write_timeout_ms", CFG_U32, FIELD(mesh_write_timeout_ms), 0, 600000, "30000",
	  NULL,
	  "milliseconds a stalled send to a mesh peer (either direction) may last before the "
	  "connection closes; 0 = never" },
	{ "mesh", "retry_ms", CFG_U32, FIELD(mesh_retry_ms), 10, 600000, "5000", NULL,
	  "milliseconds between a failed or broken mesh connection and the next dial "
	  "(derper: 5 s)" },
	/*
	 * A mesh peer's PeerPresent frames each cost an entry here and one in
	 * every worker's table: a peer that announces without end (a bug, a
	 * stolen mesh key) must not take the relay's memory. derper has no
	 * bound; a million is far past the clients one relay serves.
	 */
	{ "mesh", "max_keys", CFG_U32, FIELD(mesh_max_keys), 1, 16777216, "1000000", NULL,
	  "node keys kept per mesh peer; a PeerPresent for a new key past it is ignored "
	  "(packets for that key are not sent there) and counted" },
	{ "mesh", "ca_file", CFG_PATH, FIELD(mesh_ca_file), 0, 0, "", NULL,
	  "PEM certificates that TLS mesh peers are verified against; empty = the system's" },
	{ "bootstrap_dns", "names", CFG_TEXT, FIELD(bootstrap_dns_names), 0, 0, "", NULL,
	  "hostnames (comma or blank separated, at most 32) resolved off the dataplane and served "
	  "at /bootstrap-dns, as derper's -bootstrap-dns-names; empty = an empty answer",
	  NULL, check_bootstrap_names },
	{ "bootstrap_dns", "unpublished", CFG_TEXT, FIELD(bootstrap_dns_unpublished), 0, 0, "",
	  NULL,
	  "host names (at most 32) resolved like names but answered only to /bootstrap-dns?q=NAME, "
	  "one at a time, as derper's -unpublished-bootstrap-dns-names (without TXT rollouts)",
	  NULL, check_bootstrap_names },
	/* derper resolves every 10 minutes; a name's addresses rarely change faster. */
	{ "bootstrap_dns", "refresh_s", CFG_U32, FIELD(bootstrap_dns_refresh_s), 10, 86400, "600",
	  NULL, "seconds between resolutions of bootstrap_dns.names" },
	/*
	 * Loopback, as derper. derper also lets Tailscale addresses in
	 * (100.64.0.0/10, fd7a:115c:a1e0::/48), which is only safe where the
	 * relay's host is in the tailnet: add them here to do the same.
	 */
	{ "debug", "allow", CFG_TEXT, FIELD(debug_allow), 0, 0, "127.0.0.0/8, ::1", NULL,
	  "networks (ADDR/LEN or ADDR, comma or blank separated, at most 32) that may read "
	  "/debug/ on the DERP port; others get 403 (debug_denied); empty = nobody",
	  NULL, check_debug_allow },
	{ "log", "level", CFG_LOG_LEVEL, FIELD(log_level), 0, 0, "info", "log-level",
	  "error, warn, info or debug" },
	{ "log", "format", CFG_CHOICE, FIELD(log_format), 0, 0, "text", "log-format",
	  "text or json", "text|json" },
	{ "hd", "enabled", CFG_BOOL, FIELD(hd_enabled), 0, 0, "true", NULL,
	  "serve HD, the native relay protocol (docs/hd-protocol.md), on /hd" },
	{ "hd", "require_token", CFG_BOOL, FIELD(hd_require_token), 0, 0, "true", NULL,
	  "admit only keys that show an enrollment token (hdcli hd token issue); false admits "
	  "any key that proves it holds its private key" },
	{ "hd", "token_secret_file", CFG_PATH, FIELD(hd_token_secret_file), 0, 0, "", NULL,
	  "file of the secret that signs enrollment tokens, made when missing (share it across a "
	  "fleet); empty = hd-token.secret beside server.key_file" },
	{ "hd", "revoked_file", CFG_PATH, FIELD(hd_revoked_file), 0, 0, "", NULL,
	  "revoked token ids and keys; a missing file is none; empty = hd-revoked.conf beside "
	  "server.key_file" },
	{ "hd", "policy_file", CFG_PATH, FIELD(hd_policy_file), 0, 0, "", NULL,
	  "rules for which HD peers may send to which (docs/hd-protocol.md, 4.1), reloaded by "
	  "hdcli hd policy reload or SIGHUP; empty = every peer may reach every peer" },
	{ "hd", "max_peers", CFG_U32, FIELD(hd_max_peers), 1, 65534, "65534", NULL,
	  "HD peer ids given out while the relay runs; past it new keys are refused (full)" },
	{ "wireguard", "enabled", CFG_BOOL, FIELD(wg_enabled), 0, 0, "false", NULL,
	  "relay WireGuard UDP between the peers of the link table" },
	{ "wireguard", "listen_port", CFG_U16, FIELD(wg_listen_port), 1, 65535, "51820", NULL,
	  "UDP port the WireGuard peers use as their Endpoint" },
	{ "wireguard", "interface", CFG_TEXT, FIELD(wg_interface), 0, 0, "", NULL,
	  "interface for the XDP and AF_XDP paths; empty = UDP socket path only" },
	{ "wireguard", "mode", CFG_CHOICE, FIELD(wg_mode), 0, 0, "auto", NULL,
	  "auto, xdp, afxdp, socket or dpdk (dpdk: built with meson -Ddpdk=enabled)",
	  "auto|xdp|afxdp|socket|dpdk" },
	{ "wireguard", "table_file", CFG_PATH, FIELD(wg_table_file), 1, 0,
	  "/var/lib/hyper-derp/wg-table.conf", NULL,
	  "where the peer and link table is kept across restarts" },
	/*
	 * auto by default: an interface with one queue (most virtual NICs, a
	 * veth) gets exactly what it got before, and on a multi-queue NIC the
	 * queues RSS spreads WireGuard over all reach AF_XDP instead of falling
	 * through to the socket path.
	 */
	{ "wireguard", "queues", CFG_TEXT, FIELD(wg_queues), 1, 0, "auto", NULL,
	  "RX queues of each interface given an AF_XDP socket: auto (all), a count, or a list "
	  "such as 0,1 or 0-3",
	  NULL, check_wg_queues },
	{ "wireguard", "workers", CFG_U32, FIELD(wg_workers), 0, 16, "0", NULL,
	  "AF_XDP dataplane threads, each owning whole queue numbers; 0 = one per queue number, "
	  "at most one per CPU" },
	{ "wireguard", "block_strikes", CFG_U32, FIELD(wg_block_strikes), 1, 1000, "10", NULL,
	  "initiations made for no peer's key, within 60 s, that block the source address" },
	{ "wireguard", "block_seconds", CFG_U32, FIELD(wg_block_seconds), 1, 86400, "300", NULL,
	  "how long a blocked address stays blocked (hdcli wg blocklist clear lifts it sooner)" },
};

#define N_KEYS (sizeof(cfg_keys) / sizeof(cfg_keys[0]))

static const char *const cfg_sections[] = { "server", "limits", "admission", "tls", "http",
					    "mgmt", "stun", "mesh", "metrics", "log", "wireguard",
					    "hd", "bootstrap_dns", "debug" };

#define N_SECTIONS (sizeof(cfg_sections) / sizeof(cfg_sections[0]))

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt,
							  ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void *field_ptr(struct hd_config *cfg, const struct cfg_key *key)
{
	return (char *)cfg + key->offset;
}

static const void *field_cptr(const struct hd_config *cfg, const struct cfg_key *key)
{
	return (const char *)cfg + key->offset;
}

static const struct cfg_key *find_key(const char *section, const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(cfg_keys[i].section, section) == 0 &&
		    strcmp(cfg_keys[i].name, name) == 0)
			return &cfg_keys[i];
	}
	return NULL;
}

bool config_has_key(const char *name)
{
	const char *dot = strchr(name, '.');
	char section[32];

	if (!dot || (size_t)(dot - name) >= sizeof(section))
		return false;
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';
	return find_key(section, dot + 1) != NULL;
}

static bool is_known_section(const char *section)
{
	for (size_t i = 0; i < N_SECTIONS; i++) {
		if (strcmp(cfg_sections[i], section) == 0)
			return true;
	}
	return false;
}

/* ---- values ---- */

/*
 * Plain decimal only: no sign, no spaces, no hex or octal, so "010" is ten
 * and "-1" is an error rather than 4294967295 as strtoul would have it.
 */
static bool parse_decimal(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
	}
	if (v < min)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int set_text(char *dst, const struct cfg_key *key, const char *value, char *reason,
		    size_t reason_len)
{
	size_t len = strlen(value);

	if (len < key->min) {
		set_err(reason, reason_len, "must not be empty");
		return -1;
	}
	if (len >= key->size) {
		set_err(reason, reason_len, "value is longer than %zu bytes", key->size - 1);
		return -1;
	}
	/*
	 * What `show config` prints must load back the same: Debian's inih
	 * treats ';' after a blank as a comment and trims blanks at both ends.
	 */
	if (value[0] == ';' || strstr(value, " ;") || strstr(value, "\t;") ||
	    (len && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[len - 1])))) {
		set_err(reason, reason_len,
			"\"%s\" would not read back: no leading ';', no ';' after a blank, "
			"no blanks at either end",
			value);
		return -1;
	}
	memcpy(dst, value, len + 1);
	return 0;
}

static int set_bool(bool *dst, const char *value, char *reason, size_t reason_len)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcmp(value, yes[i]) == 0) {
			*dst = true;
			return 0;
		}
		if (strcmp(value, no[i]) == 0) {
			*dst = false;
			return 0;
		}
	}
	set_err(reason, reason_len, "\"%s\" is not true or false", value);
	return -1;
}

/* Whether value is one of the '|'-separated words of choices. */
static bool is_choice(const char *choices, const char *value)
{
	size_t len = strlen(value);
	for (const char *p = choices; *p;) {
		const char *end = strchr(p, '|');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, value, n) == 0)
			return true;
		p += n + (end ? 1 : 0);
	}
	return false;
}

/*
 * Validates value for key and stores it in cfg. On failure only the reason
 * is written ("\"x\" is not ..."); callers add the "where" in front.
 */
static int set_value(struct hd_config *cfg, const struct cfg_key *key, const char *value,
		     char *reason, size_t reason_len)
{
	uint32_t n;
	int level;

	switch (key->type) {
	case CFG_ADDR:
		if (!is_ip_literal(value)) {
			set_err(reason, reason_len, "\"%s\" is not an IPv4 or IPv6 address", value);
			return -1;
		}
		return set_text(field_ptr(cfg, key), key, value, reason, reason_len);
	case CFG_PATH:
		return set_text(field_ptr(cfg, key), key, value, reason, reason_len);
	case CFG_U16:
	case CFG_U32:
		if (!parse_decimal(value, key->min, key->max, &n)) {
			set_err(reason, reason_len, "\"%s\" is not an integer in %u..%u", value,
				key->min, key->max);
			return -1;
		}
		if (key->type == CFG_U16)
			*(uint16_t *)field_ptr(cfg, key) = (uint16_t)n;
		else
			*(uint32_t *)field_ptr(cfg, key) = n;
		return 0;
	case CFG_TEXT:
		if (key->check && key->check(value, reason, reason_len) < 0)
			return -1;
		return set_text(field_ptr(cfg, key), key, value, reason, reason_len);
	case CFG_BOOL:
		return set_bool(field_ptr(cfg, key), value, reason, reason_len);
	case CFG_CHOICE:
		if (!is_choice(key->choices, value)) {
			set_err(reason, reason_len, "\"%s\" is not one of %s", value, key->choices);
			return -1;
		}
		return set_text(field_ptr(cfg, key), key, value, reason, reason_len);
	case CFG_LOG_LEVEL:
		level = log_level_parse(value);
		if (level < 0) {
			set_err(reason, reason_len, "\"%s\" is not one of error, warn, info, debug",
				value);
			return -1;
		}
		*(int *)field_ptr(cfg, key) = level;
		return 0;
	}
	set_err(reason, reason_len, "internal error: unknown key type");
	return -1;
}

/* Formats the current value of key as the text the loader would accept. */
static void format_value(const struct hd_config *cfg, const struct cfg_key *key, char *out,
			 size_t cap)
{
	const void *p = field_cptr(cfg, key);

	switch (key->type) {
	case CFG_ADDR:
	case CFG_PATH:
	case CFG_TEXT:
	case CFG_CHOICE:
		snprintf(out, cap, "%s", (const char *)p);
		return;
	case CFG_BOOL:
		snprintf(out, cap, "%s", *(const bool *)p ? "true" : "false");
		return;
	case CFG_U16:
		snprintf(out, cap, "%u", (unsigned)*(const uint16_t *)p);
		return;
	case CFG_U32:
		snprintf(out, cap, "%u", (unsigned)*(const uint32_t *)p);
		return;
	case CFG_LOG_LEVEL:
		snprintf(out, cap, "%s", log_level_name(*(const int *)p));
		return;
	}
	snprintf(out, cap, "?");
}

void config_defaults(struct hd_config *cfg)
{
	char reason[128];

	memset(cfg, 0, sizeof(*cfg));
	/* The defaults are table text; the unit tests prove each one validates. */
	for (size_t i = 0; i < N_KEYS; i++)
		set_value(cfg, &cfg_keys[i], cfg_keys[i].def, reason, sizeof(reason));
}

int config_set(struct hd_config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	char section[32];
	const char *dot = strchr(name, '.');
	char reason[PATH_MAX + 64];

	if (!dot || (size_t)(dot - name) >= sizeof(section)) {
		set_err(err, errlen, "%s: unknown key (expected section.key)", name);
		return -1;
	}
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';

	const struct cfg_key *key = find_key(section, dot + 1);
	if (!key) {
		set_err(err, errlen, "%s: unknown key", name);
		return -1;
	}
	if (set_value(cfg, key, value, reason, sizeof(reason)) < 0) {
		set_err(err, errlen, "%s: %s", name, reason);
		return -1;
	}
	return 0;
}

/* ---- the INI file ---- */

/*
 * inih only tells the handler about a line once it is parsed, and Debian's
 * build gives the handler no line number. So lines are fed to inih by our
 * own reader, which counts them (inih counts one line per reader call too),
 * notices section headers as they pass, and refuses lines longer than inih's
 * buffer, which inih would otherwise split into two bogus lines.
 */
struct load_ctx {
	FILE *file;
	char dir[PATH_MAX];   /* the file's directory, "" if it has none */
	struct hd_config cfg; /* staged: copied out only if the whole file is good */
	int line;	      /* line last handed to inih */
	bool line_indented;   /* it started with whitespace */
	int section_line;     /* line of the last [section] header */
	int set_on_line[N_KEYS];
	int err_line; /* first error found by us, 0 if none */
	char err[PATH_MAX + 128];
};

__attribute__((format(printf, 3, 4))) static void load_error(struct load_ctx *ctx, int line,
							     const char *fmt, ...)
{
	va_list ap;

	if (ctx->err_line)
		return; /* keep the first */
	ctx->err_line = line;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/*
 * A "[name]" line: checked here rather than in the handler, because inih
 * calls the handler only for keys, and an unknown section should be reported
 * on its own line even if it is empty. The name is taken as inih takes it:
 * everything between '[' and the first ']', untrimmed.
 */
static void check_section_line(struct load_ctx *ctx, const char *start)
{
	const char *close = strchr(start + 1, ']');
	char name[64];
	size_t n;

	if (!close)
		return; /* inih reports the missing ']' as a syntax error */
	n = (size_t)(close - (start + 1));
	ctx->section_line = ctx->line;
	if (n >= sizeof(name)) {
		load_error(ctx, ctx->line, "[%.*s...]: unknown section", 16, start + 1);
		return;
	}
	memcpy(name, start + 1, n);
	name[n] = '\0';
	if (!is_known_section(name))
		load_error(ctx, ctx->line, "[%s]: unknown section", name);
}

/* Did fgets stop because the buffer was full, with more of the line still to come? */
static bool line_is_cut(const char *str, int num, FILE *f)
{
	size_t len = strlen(str);

	if (len < (size_t)num - 1 || str[len - 1] == '\n')
		return false;
	int c = getc(f);
	if (c == EOF)
		return false; /* the last line, exactly filling the buffer */
	ungetc(c, f);
	return true;
}

static char *counting_reader(char *str, int num, void *stream)
{
	struct load_ctx *ctx = stream;

	/* Stop feeding inih at our first error: the rest of the file is moot. */
	if (ctx->err_line)
		return NULL;
	if (!fgets(str, num, ctx->file))
		return NULL;
	ctx->line++;

	if (line_is_cut(str, num, ctx->file)) {
		load_error(ctx, ctx->line, "line longer than %d bytes", num - 2);
		return NULL;
	}

	const char *start = str;
	if (ctx->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3; /* UTF-8 BOM, which inih skips too */
	ctx->line_indented = *start == ' ' || *start == '\t';
	while (is_blank(*start))
		start++;
	if (*start == '[')
		check_section_line(ctx, start);
	return ctx->err_line ? NULL : str;
}

/* Relative paths in a file mean "next to this file", not "wherever we were started". */
static int resolve_path(struct load_ctx *ctx, const struct cfg_key *key, const char *value,
			char *out, size_t cap)
{
	if (value[0] == '\0' || value[0] == '/' || ctx->dir[0] == '\0') {
		snprintf(out, cap, "%s", value);
		return 0;
	}
	int n = snprintf(out, cap, "%s/%s", ctx->dir, value);
	if (n < 0 || (size_t)n >= cap) {
		load_error(ctx, ctx->line,
			   "%s.%s: path is longer than %zu bytes once made relative to %s",
			   key->section, key->name, key->size - 1, ctx->dir);
		return -1;
	}
	return 0;
}

static int ini_handler_fn(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	char reason[PATH_MAX + 64];
	char resolved[PATH_MAX + 2];

	if (ctx->err_line)
		return 0;
	if (section[0] == '\0') {
		load_error(ctx, ctx->line, "%s: key outside any [section]", name);
		return 0;
	}
	if (!is_known_section(section)) {
		/* Normally caught on the header line; this covers odd header forms. */
		load_error(ctx, ctx->section_line ? ctx->section_line : ctx->line,
			   "[%s]: unknown section", section);
		return 0;
	}

	const struct cfg_key *key = find_key(section, name);
	if (!key) {
		load_error(ctx, ctx->line, "%s.%s: unknown key", section, name);
		return 0;
	}

	size_t idx = (size_t)(key - cfg_keys);
	if (ctx->set_on_line[idx]) {
		/*
		 * inih joins an indented line to the key before it (Python
		 * configparser style) and hands it over as a second value: say so,
		 * since "duplicate" alone would puzzle the reader.
		 */
		if (ctx->line_indented)
			load_error(ctx, ctx->line,
				   "%s.%s: indented line continues the value of line %d; "
				   "multi-line values are not supported",
				   section, name, ctx->set_on_line[idx]);
		else
			load_error(ctx, ctx->line, "%s.%s: duplicate key (first set on line %d)",
				   section, name, ctx->set_on_line[idx]);
		return 0;
	}
	ctx->set_on_line[idx] = ctx->line;

	if (key->type == CFG_PATH) {
		if (resolve_path(ctx, key, value, resolved, sizeof(resolved)) < 0)
			return 0;
		value = resolved;
	}
	if (set_value(&ctx->cfg, key, value, reason, sizeof(reason)) < 0) {
		load_error(ctx, ctx->line, "%s.%s: %s", section, name, reason);
		return 0;
	}
	return 1;
}

static void set_file_dir(struct load_ctx *ctx, const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		ctx->dir[0] = '\0'; /* the current directory: relative paths stay as they are */
		return;
	}
	if (slash == path) {
		snprintf(ctx->dir, sizeof(ctx->dir), "/");
		return;
	}
	snprintf(ctx->dir, sizeof(ctx->dir), "%.*s", (int)(slash - path), path);
}

/*
 * inih's default line buffer is 200 bytes, shorter than a PATH_MAX path on a
 * "key = value" line: a path config_format prints would not load again. Size
 * it for the longest line we print (key name, " = ", PATH_MAX - 1 bytes, CR,
 * LF, NUL) and keep it on the heap, since reloads run on the management
 * thread. Debian's inih makes these run-time globals; set them once.
 */
#define CONFIG_MAX_LINE (PATH_MAX + 128)

static void ini_limits_init(void)
{
	ini_use_stack = false;
	ini_allow_realloc = false;
	ini_initial_alloc = CONFIG_MAX_LINE;
	ini_max_line = CONFIG_MAX_LINE;
}

int config_load_file(struct hd_config *cfg, const char *path, char *err, size_t errlen)
{
	static pthread_once_t ini_limits_once = PTHREAD_ONCE_INIT;

	pthread_once(&ini_limits_once, ini_limits_init);

	struct load_ctx *ctx = calloc(1, sizeof(*ctx));
	int ret = -1;

	if (!ctx) {
		set_err(err, errlen, "%s: out of memory", path);
		return -1;
	}
	ctx->cfg = *cfg;
	set_file_dir(ctx, path);

	ctx->file = fopen(path, "r");
	if (!ctx->file) {
		set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}

	int first_bad = ini_parse_stream(counting_reader, ctx, ini_handler_fn, ctx);
	if (ferror(ctx->file)) {
		/* e.g. a directory: fopen succeeds, the first read fails. */
		set_err(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		goto out;
	}
	/*
	 * inih returns the first bad line, ours or its own. A line of its own
	 * before ours is a syntax error (no '=', no closing ']'); it went on
	 * parsing after it, but nothing is kept, so nothing is half-applied.
	 */
	if (first_bad > 0 && (ctx->err_line == 0 || first_bad < ctx->err_line)) {
		set_err(err, errlen, "%s:%d: syntax error: expected [section] or key = value", path,
			first_bad);
		goto out;
	}
	if (ctx->err_line) {
		set_err(err, errlen, "%s:%d: %s", path, ctx->err_line, ctx->err);
		goto out;
	}
	*cfg = ctx->cfg;
	ret = 0;
out:
	if (ctx->file)
		fclose(ctx->file);
	free(ctx);
	return ret;
}

/* ---- output ---- */

int config_get(const struct hd_config *cfg, const char *name, char *out, size_t cap)
{
	const char *dot = strchr(name, '.');
	char section[32];

	if (!dot || (size_t)(dot - name) >= sizeof(section))
		return -1;
	memcpy(section, name, (size_t)(dot - name));
	section[dot - name] = '\0';
	const struct cfg_key *key = find_key(section, dot + 1);
	if (!key)
		return -1;
	format_value(cfg, key, out, cap);
	return 0;
}

size_t config_format(const struct hd_config *cfg, char *out, size_t cap)
{
	const char *section = NULL;
	size_t len = 0;
	char value[PATH_MAX];

	if (cap > 0)
		out[0] = '\0';
	/* Like snprintf: returns the full length, writes what fits. */
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *key = &cfg_keys[i];
		int n;

		format_value(cfg, key, value, sizeof(value));
		if (!section || strcmp(section, key->section) != 0) {
			n = snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0,
				     "%s[%s]\n", section ? "\n" : "", key->section);
			len += (size_t)n;
			section = key->section;
		}
		n = snprintf(len < cap ? out + len : NULL, len < cap ? cap - len : 0, "%s =%s%s\n",
			     key->name, value[0] ? " " : "", value);
		len += (size_t)n;
	}
	return len;
}

static const char *metavar(enum cfg_type type)
{
	switch (type) {
	case CFG_ADDR:
		return "ADDR";
	case CFG_PATH:
		return "PATH";
	case CFG_U16:
	case CFG_U32:
		return "N";
	case CFG_LOG_LEVEL:
		return "LEVEL";
	case CFG_TEXT:
	case CFG_BOOL:
	case CFG_CHOICE:
		return "VALUE";
	}
	return "VALUE";
}

/* "   (0..65535)" for numbers, nothing for text. */
static void format_range(const struct cfg_key *key, char *out, size_t cap)
{
	if (key->type == CFG_U16 || key->type == CFG_U32)
		snprintf(out, cap, "   (%u..%u)", key->min, key->max);
	else
		out[0] = '\0';
}

static void print_usage(FILE *f, const char *prog)
{
	char range[48];
	char opt[64];

	fprintf(f, "Usage: %s [OPTIONS]\n\n", prog);
	fprintf(f, "A DERP relay for Tailscale clients, compatible with derper.\n\n");
	fprintf(f, "Options (they override the config file):\n");
	fprintf(f, "  %-26s %s\n", "--config FILE",
		"load settings from an INI file (see the keys below)");
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *key = &cfg_keys[i];
		if (!key->flag)
			continue;
		snprintf(opt, sizeof(opt), "--%s %s", key->flag, metavar(key->type));
		fprintf(f, "  %-26s %s.%s: %s\n", opt, key->section, key->name, key->help);
	}
	fprintf(f, "  %-26s %s\n", "--help", "print this help and exit");
	fprintf(f, "  %-26s %s\n", "--version", "print the version and exit");
	fprintf(f, "\nderper's flags (-a :443, -hostname, -certmode, -c, -stun-port ...) are taken "
		   "too, mapped\nonto the keys below; docs/derper-flags.md lists each one.\n");

	fprintf(f, "\nConfig file keys, with their defaults:\n");
	const char *section = NULL;
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct cfg_key *key = &cfg_keys[i];
		if (!section || strcmp(section, key->section) != 0) {
			fprintf(f, "  [%s]\n", key->section);
			section = key->section;
		}
		format_range(key, range, sizeof(range));
		fprintf(f, "    %s = %s%s\n        %s\n", key->name,
			key->def[0] ? key->def : "(empty)", range, key->help);
	}
}

/* ---- command line ---- */

enum {
	OPT_CONFIG = 1000,
	OPT_HELP,
	OPT_VERSION,
	OPT_KEY_BASE, /* OPT_KEY_BASE + i sets cfg_keys[i] */
};

/* The long options, built from the table so flags and keys cannot disagree. */
static void build_options(struct option *opts)
{
	size_t n = 0;

	opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
	for (size_t i = 0; i < N_KEYS; i++) {
		if (cfg_keys[i].flag)
			opts[n++] = (struct option){ cfg_keys[i].flag, required_argument, NULL,
						     OPT_KEY_BASE + (int)i };
	}
	opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	opts[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	opts[n] = (struct option){ 0 };
}

/* What getopt choked on, for the error message. */
static void option_error(int argc, char **argv, int c, char *err, size_t errlen)
{
	const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";

	/* A short option has no argv word of its own when bundled ("-xv"). */
	if (optopt != 0 && optopt < OPT_CONFIG) {
		set_err(err, errlen, "%s option \"-%c\" (see --help)",
			c == ':' ? "missing value for" : "unknown", optopt);
		return;
	}
	if (c == ':')
		set_err(err, errlen, "%s: missing value (see --help)", arg);
	else
		set_err(err, errlen, "unknown option \"%s\" (see --help)", arg);
}

/*
 * First pass: find --config (the file is the base the other flags override,
 * wherever it sits on the line), --help and --version, and reject unknown
 * options before anything is loaded.
 */
static int scan_args(int argc, char **argv, const struct option *opts, const char **config_path,
		     bool *want_help, bool *want_version, char *err, size_t errlen)
{
	int c;

	optind = 0; /* GNU: full reset, as this runs twice */
	opterr = 0; /* a library does not print; errors go to err */
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			*config_path = optarg;
			break;
		case OPT_HELP:
			*want_help = true;
			break;
		case OPT_VERSION:
			*want_version = true;
			break;
		case ':':
		case '?':
			option_error(argc, argv, c, err, errlen);
			return -1;
		default:
			break;
		}
	}
	if (optind < argc) {
		set_err(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
	}
	return 0;
}

/* Second pass: apply the value flags in order, so a repeated flag's last value wins. */
static int apply_args(struct hd_config *cfg, int argc, char **argv, const struct option *opts,
		      char *err, size_t errlen)
{
	char reason[PATH_MAX + 64];
	int c;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (c < OPT_KEY_BASE)
			continue;
		const struct cfg_key *key = &cfg_keys[c - OPT_KEY_BASE];
		if (set_value(cfg, key, optarg, reason, sizeof(reason)) < 0) {
			set_err(err, errlen, "--%s: %s (see --help)", key->flag, reason);
			return -1;
		}
	}
	return 0;
}

/* Whether "--name" or "--name=v" is exactly one of our long options. */
static bool is_our_option(const struct option *opts, const char *word, bool *wants_value)
{
	if (strncmp(word, "--", 2) != 0)
		return false;
	const char *name = word + 2;
	size_t len = strcspn(name, "=");
	for (const struct option *o = opts; o->name; o++) {
		if (strlen(o->name) == len && strncmp(o->name, name, len) == 0) {
			*wants_value = o->has_arg == required_argument && name[len] != '=';
			return true;
		}
	}
	return false;
}

/*
 * Splits argv into our options (for getopt, argv[0] first) and derper's
 * flags. A word is ours when it names one of our long options exactly;
 * otherwise any word starting with '-' is derper's (derper_args_parse
 * refuses the unknown ones by name); anything else is left to getopt,
 * which reports it.
 */
static void split_args(int argc, char **argv, const struct option *opts, char **ours, int *n_ours,
		       char **derper, int *n_derper)
{
	*n_ours = *n_derper = 0;
	if (argc > 0)
		ours[(*n_ours)++] = argv[0];
	for (int i = 1; i < argc; i++) {
		bool wants_value = false;
		if (is_our_option(opts, argv[i], &wants_value)) {
			ours[(*n_ours)++] = argv[i];
			if (wants_value && i + 1 < argc)
				ours[(*n_ours)++] = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0' &&
			   (argv[i][1] != '-' || derper_flag_word(argv[i], &wants_value))) {
			derper_flag_word(argv[i], &wants_value);
			derper[(*n_derper)++] = argv[i];
			if (wants_value && i + 1 < argc)
				derper[(*n_derper)++] = argv[++i];
		} else {
			ours[(*n_ours)++] = argv[i];
		}
	}
	ours[*n_ours] = NULL;
}

int config_from_args(struct hd_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option opts[N_KEYS + 4];
	const char *config_path = NULL;
	bool want_help = false, want_version = false;
	const char *prog = argc > 0 && argv[0] ? argv[0] : "hyper-derp";
	struct derper_args derper;
	int rc = -1;

	config_defaults(cfg);
	build_options(opts);
	char **ours = calloc((size_t)argc + 1, sizeof(*ours));
	char **derper_words = calloc((size_t)argc + 1, sizeof(*derper_words));
	int n_ours, n_derper;
	if (!ours || !derper_words) {
		set_err(err, errlen, "out of memory");
		goto out;
	}
	split_args(argc, argv, opts, ours, &n_ours, derper_words, &n_derper);
	if (scan_args(n_ours, ours, opts, &config_path, &want_help, &want_version, err, errlen) <
		0 ||
	    derper_args_parse(derper_words, n_derper, &derper, err, errlen) < 0)
		goto out;
	if (want_help || derper.help) {
		print_usage(stdout, prog);
		rc = 1;
		goto out;
	}
	if (want_version || derper.version) {
		printf("hyper-derp %s\n", HD_VERSION);
		rc = 1;
		goto out;
	}
	if (derper_args_apply(&derper, DERPER_DEFAULTS, cfg, err, errlen) < 0)
		goto out;
	if (config_path && config_load_file(cfg, config_path, err, errlen) < 0)
		goto out;
	if (derper_args_apply(&derper, DERPER_GIVEN, cfg, err, errlen) < 0 ||
	    apply_args(cfg, n_ours, ours, opts, err, errlen) < 0 ||
	    derper_args_finish(&derper, cfg, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	free(ours);
	free(derper_words);
	return rc;
}
