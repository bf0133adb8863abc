// SPDX-License-Identifier: MIT
#include "config_relay.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/*
 * The live uint32_t keys the relay reads (config_live.c applies them): one
 * table both for the copy at start and for the stores of live changes, so
 * a key cannot reach the relay one way and not the other.
 */
struct live_field {
	const char *name;
	size_t config_offset;
	size_t relay_offset;
};

static const struct live_field live_fields[] = {
	{ "server.max_connections", offsetof(struct hd_config, max_connections),
	  offsetof(struct relay_settings, max_connections) },
	{ "limits.queue_depth", offsetof(struct hd_config, queue_depth),
	  offsetof(struct relay_settings, queue_depth) },
	{ "limits.handshake_timeout_ms", offsetof(struct hd_config, handshake_timeout_ms),
	  offsetof(struct relay_settings, handshake_timeout_ms) },
	{ "limits.write_timeout_ms", offsetof(struct hd_config, write_timeout_ms),
	  offsetof(struct relay_settings, write_timeout_ms) },
	{ "limits.keepalive_ms", offsetof(struct hd_config, keepalive_ms),
	  offsetof(struct relay_settings, keepalive_ms) },
	{ "limits.drain_timeout_ms", offsetof(struct hd_config, drain_timeout_ms),
	  offsetof(struct relay_settings, drain_timeout_ms) },
	{ "limits.pinned_recv_buffers", offsetof(struct hd_config, pinned_recv_buffers),
	  offsetof(struct relay_settings, pinned_recv_buffers) },
	{ "limits.max_conns_per_key", offsetof(struct hd_config, max_conns_per_key),
	  offsetof(struct relay_settings, max_conns_per_key) },
	{ "limits.frame_timeout_ms", offsetof(struct hd_config, frame_timeout_ms),
	  offsetof(struct relay_settings, frame_timeout_ms) },
	{ "limits.peer_gone_recipients", offsetof(struct hd_config, peer_gone_recipients),
	  offsetof(struct relay_settings, peer_gone_recipients) },
	{ "limits.queue_bytes", offsetof(struct hd_config, queue_bytes),
	  offsetof(struct relay_settings, queue_bytes) },
	{ "limits.codel_target_us", offsetof(struct hd_config, codel_target_us),
	  offsetof(struct relay_settings, codel_target_us) },
	{ "limits.codel_interval_ms", offsetof(struct hd_config, codel_interval_ms),
	  offsetof(struct relay_settings, codel_interval_ms) },
	{ "limits.max_pending_per_ip", offsetof(struct hd_config, max_pending_per_ip),
	  offsetof(struct relay_settings, max_pending_per_ip) },
	{ "limits.handshake_memory_mb", offsetof(struct hd_config, handshake_memory_mb),
	  offsetof(struct relay_settings, handshake_memory_mb) },
	{ "mesh.write_timeout_ms", offsetof(struct hd_config, mesh_write_timeout_ms),
	  offsetof(struct relay_settings, mesh_write_timeout_ms) },
	{ "mesh.retry_ms", offsetof(struct hd_config, mesh_retry_ms),
	  offsetof(struct relay_settings, mesh_retry_ms) },
	{ "mesh.max_keys", offsetof(struct hd_config, mesh_max_keys),
	  offsetof(struct relay_settings, mesh_max_keys) },
};

#define N_LIVE_FIELDS (sizeof(live_fields) / sizeof(live_fields[0]))

void config_relay_settings(const struct hd_config *cfg, struct relay_settings *out)
{
	memset(out, 0, sizeof(*out));
	out->workers = cfg->workers;
	snprintf(out->pin_cores, sizeof(out->pin_cores), "%s", cfg->pin_cores);
	snprintf(out->recv_mode, sizeof(out->recv_mode), "%s", cfg->recv_mode);
	snprintf(out->queue_policy, sizeof(out->queue_policy), "%s", cfg->queue_policy);
	out->buffer_pool_mb = cfg->buffer_pool_mb;
	out->control_pool_mb = cfg->control_pool_mb;
	out->frame_assembly_mb = cfg->frame_assembly_mb;
	out->client_rate_bytes = cfg->client_rate_bytes;
	out->client_burst_bytes = cfg->client_burst_bytes;
	out->idle_spin_us = cfg->idle_spin_us;
	snprintf(out->mesh_with, sizeof(out->mesh_with), "%s", cfg->mesh_with);
	snprintf(out->mesh_ca_file, sizeof(out->mesh_ca_file), "%s", cfg->mesh_ca_file);

	for (size_t i = 0; i < N_LIVE_FIELDS; i++) {
		const struct live_field *f = &live_fields[i];
		memcpy((char *)out + f->relay_offset, (const char *)cfg + f->config_offset,
		       sizeof(uint32_t));
	}
}

void config_slowpath_settings(const struct hd_config *cfg, struct slowpath_settings *out)
{
	memset(out, 0, sizeof(*out));
	snprintf(out->listen, sizeof(out->listen), "%s", cfg->listen);
	out->port = cfg->port;
	out->ktls_off = strcmp(cfg->tls_ktls, "off") == 0;
	out->max_accept_per_ip = cfg->max_accept_per_ip;
	out->accept_rate = cfg->accept_rate;
	out->accept_burst = cfg->accept_burst;
	out->tcp_keepalive_ms = cfg->tcp_keepalive_ms;
	out->tcp_user_timeout_ms = cfg->tcp_user_timeout_ms;

	struct admission_settings *a = &out->admission;
	a->verify_clients = cfg->verify_clients;
	snprintf(a->tailscaled_socket, sizeof(a->tailscaled_socket), "%s", cfg->tailscaled_socket);
	snprintf(a->verify_client_url, sizeof(a->verify_client_url), "%s", cfg->verify_client_url);
	a->fail_open = cfg->admission_fail_open;
	a->cache_ms = cfg->admission_cache_ms;
	a->timeout_ms = cfg->admission_timeout_ms;

	snprintf(out->debug_allow, sizeof(out->debug_allow), "%s", cfg->debug_allow);
	snprintf(out->bootstrap_dns_names, sizeof(out->bootstrap_dns_names), "%s",
		 cfg->bootstrap_dns_names);
	snprintf(out->bootstrap_dns_unpublished, sizeof(out->bootstrap_dns_unpublished), "%s",
		 cfg->bootstrap_dns_unpublished);
	out->bootstrap_dns_refresh_s = cfg->bootstrap_dns_refresh_s;
}

bool config_relay_live_field(const char *name, size_t *relay_offset)
{
	for (size_t i = 0; i < N_LIVE_FIELDS; i++) {
		if (strcmp(live_fields[i].name, name) == 0) {
			*relay_offset = live_fields[i].relay_offset;
			return true;
		}
	}
	return false;
}
