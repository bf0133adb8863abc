// SPDX-License-Identifier: MIT
#include "config_relay.h"

#include <stdio.h>
#include <string.h>

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

	out->max_connections = cfg->max_connections;
	out->queue_depth = cfg->queue_depth;
	out->handshake_timeout_ms = cfg->handshake_timeout_ms;
	out->write_timeout_ms = cfg->write_timeout_ms;
	out->keepalive_ms = cfg->keepalive_ms;
	out->drain_timeout_ms = cfg->drain_timeout_ms;
	out->pinned_recv_buffers = cfg->pinned_recv_buffers;
	out->max_conns_per_key = cfg->max_conns_per_key;
	out->frame_timeout_ms = cfg->frame_timeout_ms;
	out->peer_gone_recipients = cfg->peer_gone_recipients;
	out->queue_bytes = cfg->queue_bytes;
	out->codel_target_us = cfg->codel_target_us;
	out->codel_interval_ms = cfg->codel_interval_ms;
	out->max_pending_per_ip = cfg->max_pending_per_ip;
	out->handshake_memory_mb = cfg->handshake_memory_mb;
	out->mesh_write_timeout_ms = cfg->mesh_write_timeout_ms;
	out->mesh_retry_ms = cfg->mesh_retry_ms;
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
