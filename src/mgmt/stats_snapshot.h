/* SPDX-License-Identifier: MIT */
/*
 * A point-in-time copy of every counter: the per-worker blocks summed, the
 * slow path's, and the gauges. `show status`, `show counters`, /metrics,
 * /debug/vars and `events follow` all read counters through this, so they
 * agree on names and never touch a worker's block directly.
 */
#ifndef HD_STATS_SNAPSHOT_H
#define HD_STATS_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "json_writer.h"
#include "mgmt_command.h"
#include "slowpath.h"
#include "stats.h"
#include "stun_server.h"
#include "http_port.h"

struct stats_snapshot {
	uint64_t uptime_ms;
	uint16_t nworkers;
	/* The workers' receive strategy (recv.h): "bufring", "single", or "mixed". */
	const char *recv_mode;
	uint64_t conns_current; /* all stages, handshakes included */
	struct worker_stats total;
	bool has_slowpath;
	struct slowpath_stats slow;
	bool has_stun; /* stun.listen is set */
	struct stun_stats stun;
	bool has_http_port; /* http.port is set */
	struct http_port_stats http_port;
	struct mgmt_stats mgmt; /* the management socket and the metrics port */
	/* The mesh peers of mesh.with (mesh_link.h); their counters are read when written. */
	uint16_t nlinks;
	const struct mesh_link *links;
	/* HD admission (hd_registry.h), when hd.enabled. */
	bool has_hd;
	uint64_t hd_admitted;
	uint64_t hd_denied[9]; /* by enum hd_reason, 1..8 used */
	uint64_t hd_peer_ids;
	uint64_t hd_policy_reloads, hd_policy_reload_failures;
};

void stats_snapshot_take(const struct mgmt_context *ctx, struct stats_snapshot *s);

/* Packets dropped, all reasons and kinds. */
uint64_t stats_total_drops(const struct stats_snapshot *s);
/* Connections closed, all reasons. */
uint64_t stats_total_closed(const struct stats_snapshot *s);

/* The DERP name of a frame type slot of frames_recv ("send_packet"), or NULL if unused. */
const char *stats_frame_type_name(unsigned type);

/* "disco" or "other". */
const char *stats_drop_kind_name(int kind);

/* Writes every counter as one object, for `show counters` and /debug/vars. */
void stats_write_json(const struct stats_snapshot *s, struct json_writer *w);

#endif
