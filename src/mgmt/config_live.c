// SPDX-License-Identifier: MIT
/*
 * Applying configuration changes to a running relay. The workers and the
 * slow path read the live numbers (queue_depth, timeouts ...) from
 * relay->settings on every use (config_relay.c says which), so storing a new
 * value there and in the running configuration is enough; the stores are
 * atomic so a reader sees the old value or the new one, never a mix.
 */
#include "config_live.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "config_entries.h"
#include "config_relay.h"
#include "log.h"
#include "mgmt_command.h"
#include "relay.h"

/* A uint32_t key read on each use (by the relay too when config_relay_live_field says so). */
struct live_u32 {
	const char *name;
	size_t offset;
};

static const struct live_u32 live_u32_keys[] = {
	{ "server.max_connections", offsetof(struct hd_config, max_connections) },
	{ "limits.queue_depth", offsetof(struct hd_config, queue_depth) },
	{ "limits.handshake_timeout_ms", offsetof(struct hd_config, handshake_timeout_ms) },
	{ "limits.write_timeout_ms", offsetof(struct hd_config, write_timeout_ms) },
	{ "limits.keepalive_ms", offsetof(struct hd_config, keepalive_ms) },
	{ "limits.drain_timeout_ms", offsetof(struct hd_config, drain_timeout_ms) },
	{ "limits.pinned_recv_buffers", offsetof(struct hd_config, pinned_recv_buffers) },
	{ "mgmt.max_clients", offsetof(struct hd_config, mgmt_max_clients) },
	{ "mgmt.events_backlog_kb", offsetof(struct hd_config, events_backlog_kb) },
	{ "metrics.max_clients", offsetof(struct hd_config, metrics_max_clients) },
	{ "metrics.timeout_ms", offsetof(struct hd_config, metrics_timeout_ms) },
	{ "limits.max_conns_per_key", offsetof(struct hd_config, max_conns_per_key) },
	{ "limits.frame_timeout_ms", offsetof(struct hd_config, frame_timeout_ms) },
	{ "limits.peer_gone_recipients", offsetof(struct hd_config, peer_gone_recipients) },
	{ "limits.queue_bytes", offsetof(struct hd_config, queue_bytes) },
	{ "limits.codel_target_us", offsetof(struct hd_config, codel_target_us) },
	{ "limits.codel_interval_ms", offsetof(struct hd_config, codel_interval_ms) },
	{ "limits.max_pending_per_ip", offsetof(struct hd_config, max_pending_per_ip) },
	{ "limits.handshake_memory_mb", offsetof(struct hd_config, handshake_memory_mb) },
	{ "mesh.write_timeout_ms", offsetof(struct hd_config, mesh_write_timeout_ms) },
	{ "mesh.retry_ms", offsetof(struct hd_config, mesh_retry_ms) },
	{ "mesh.max_keys", offsetof(struct hd_config, mesh_max_keys) },
};

#define N_LIVE_U32 (sizeof(live_u32_keys) / sizeof(live_u32_keys[0]))

static const struct live_u32 *find_live_u32(const char *name)
{
	for (size_t i = 0; i < N_LIVE_U32; i++) {
		if (strcmp(live_u32_keys[i].name, name) == 0)
			return &live_u32_keys[i];
	}
	return NULL;
}

bool config_key_is_live(const char *name)
{
	return find_live_u32(name) || strcmp(name, "log.level") == 0 ||
	       strcmp(name, "log.format") == 0;
}

void config_apply_logging(const struct hd_config *cfg)
{
	log_set_level(cfg->log_level);
	log_set_json(strcmp(cfg->log_format, "json") == 0);
}

/* Copies one live key from next into running, and into the relay's settings if it reads it. */
static void apply_key(struct mgmt_context *ctx, const struct hd_config *next, const char *name)
{
	struct hd_config *running = ctx->running;
	const struct live_u32 *k = find_live_u32(name);
	if (k) {
		uint32_t v = *(const uint32_t *)((const char *)next + k->offset);
		__atomic_store_n((uint32_t *)((char *)running + k->offset), v, __ATOMIC_RELAXED);
		size_t relay_offset;
		if (ctx->relay && config_relay_live_field(name, &relay_offset))
			settings_store_u32(
			    (uint32_t *)((char *)&ctx->relay->settings + relay_offset), v);
		return;
	}
	if (strcmp(name, "log.level") == 0) {
		__atomic_store_n(&running->log_level, next->log_level, __ATOMIC_RELAXED);
		log_set_level(next->log_level);
	} else if (strcmp(name, "log.format") == 0) {
		/* Only the management plane reads this text; the logger has its own flag. */
		memcpy(running->log_format, next->log_format, sizeof(running->log_format));
		config_apply_logging(running);
	}
}

void mgmt_config_apply(struct mgmt_context *ctx, const struct hd_config *next,
		       struct json_writer *out)
{
	struct config_entries before, after;

	pthread_mutex_lock(&ctx->config_lock);
	if (config_entries_load(&before, ctx->running) < 0 ||
	    config_entries_load(&after, next) < 0) {
		config_entries_free(&before);
		pthread_mutex_unlock(&ctx->config_lock);
		log_error("config: out of memory; nothing applied");
		if (out) {
			jw_object_begin(out, NULL);
			jw_string(out, "error", "out of memory; nothing applied");
			jw_end(out);
		}
		return;
	}

	size_t unchanged = 0;
	if (out) {
		jw_object_begin(out, NULL);
		jw_array_begin(out, "applied");
	}
	for (size_t i = 0; i < after.count; i++) {
		const struct config_entry *e = &after.items[i];
		const char *old = config_entries_get(&before, e->name);
		if (old && strcmp(old, e->value) == 0) {
			unchanged++;
			continue;
		}
		if (!config_key_is_live(e->name))
			continue;
		apply_key(ctx, next, e->name);
		log_info("config: %s = %s (was %s)", e->name, e->value, old ? old : "unset");
		if (out) {
			jw_object_begin(out, NULL);
			jw_string(out, "key", e->name);
			jw_string(out, "old", old ? old : "");
			jw_string(out, "new", e->value);
			jw_end(out);
		}
	}
	if (out) {
		jw_end(out);
		jw_array_begin(out, "restart_required");
	}
	for (size_t i = 0; i < after.count; i++) {
		const struct config_entry *e = &after.items[i];
		const char *old = config_entries_get(&before, e->name);
		if ((old && strcmp(old, e->value) == 0) || config_key_is_live(e->name))
			continue;
		log_warn("config: %s = %s needs a restart; still running with %s", e->name,
			 e->value, old ? old : "unset");
		if (out) {
			jw_object_begin(out, NULL);
			jw_string(out, "key", e->name);
			jw_string(out, "running", old ? old : "");
			jw_string(out, "wanted", e->value);
			jw_end(out);
		}
	}
	if (out) {
		jw_end(out);
		jw_u64(out, "unchanged", unchanged);
		jw_end(out);
	}
	pthread_mutex_unlock(&ctx->config_lock);
	config_entries_free(&before);
	config_entries_free(&after);
}

int mgmt_config_reload(struct mgmt_context *ctx, struct json_writer *out, char *err, size_t errlen)
{
	static struct hd_config next; /* PATH_MAX fields: too big for a thread's stack */
	static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;

	/* config_from_args uses getopt's globals: one reload at a time. */
	pthread_mutex_lock(&reload_lock);
	int rc = config_from_args(&next, ctx->argc, ctx->argv, err, errlen);
	if (rc != 0) {
		if (rc > 0)
			snprintf(err, errlen, "the command line asks for --help or --version");
		pthread_mutex_unlock(&reload_lock);
		return -1;
	}
	mgmt_config_apply(ctx, &next, out);
	pthread_mutex_unlock(&reload_lock);
	return 0;
}
