/* SPDX-License-Identifier: MIT */
/*
 * What the workers and the slow path read of the configuration, and nothing
 * else: the dataplane does not know the configuration file, its sections or
 * the management plane. The daemon fills these from the configuration before
 * threads start (config_relay.c in mgmt/), and the management plane stores
 * new values of the live ones while the relay runs (config_live.c), so the
 * include arrows point down only (docs/layers.md).
 */
#ifndef HD_RELAY_SETTINGS_H
#define HD_RELAY_SETTINGS_H

#include <limits.h>
#include <stdint.h>

struct relay_settings {
	/* Read once, at start: threads, memory pools, modes, the mesh peers. */
	uint32_t workers;	     /* 0 = one per two online cores, at least one */
	char pin_cores[128];	     /* "auto", "none", or a list of CPUs */
	char recv_mode[16];	     /* auto, bufring or single (recv.h) */
	char queue_policy[16];	     /* "codel" or "headdrop" */
	uint32_t buffer_pool_mb;     /* packet buffer memory per worker */
	uint32_t control_pool_mb;    /* server frame memory per worker */
	uint32_t frame_assembly_mb;  /* split-frame memory per worker */
	uint32_t client_rate_bytes;  /* bytes a second read from one client; 0 = no limit */
	uint32_t client_burst_bytes; /* what a client may send at once above the rate */
	uint32_t idle_spin_us;	     /* a worker spins this long before sleeping */
	char mesh_with[2048];	     /* relays to dial as a mesh client (mesh_with.h) */
	char mesh_ca_file[PATH_MAX]; /* verify TLS mesh peers against these; empty = system */

	/*
	 * Live: the management thread may store a new value at any time, so
	 * every reader loads them with settings_u32(), on each use.
	 */
	uint32_t max_connections;
	uint32_t queue_depth;
	uint32_t handshake_timeout_ms;
	uint32_t write_timeout_ms;
	uint32_t keepalive_ms;
	uint32_t drain_timeout_ms;
	uint32_t pinned_recv_buffers;
	uint32_t max_conns_per_key;
	uint32_t frame_timeout_ms;
	uint32_t peer_gone_recipients;
	uint32_t queue_bytes;
	uint32_t codel_target_us;
	uint32_t codel_interval_ms;
	uint32_t max_pending_per_ip;
	uint32_t handshake_memory_mb;
	uint32_t mesh_write_timeout_ms;
	uint32_t mesh_retry_ms;
	uint32_t mesh_max_keys; /* remote keys kept per mesh peer (mesh_keys.h) */
};

/*
 * Reads a live setting. The management thread stores with a relaxed atomic
 * too, so a reader sees the old value or the new one, never a torn mix; no
 * ordering with other memory is needed, each value stands alone.
 */
static inline uint32_t settings_u32(const uint32_t *field)
{
	return __atomic_load_n(field, __ATOMIC_RELAXED);
}

/* Stores a live setting (management thread). */
static inline void settings_store_u32(uint32_t *field, uint32_t value)
{
	__atomic_store_n(field, value, __ATOMIC_RELAXED);
}

#endif
