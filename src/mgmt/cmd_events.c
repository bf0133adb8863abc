// SPDX-License-Identifier: MIT
/* events follow, and the comparison that produces the events. */
#include "events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peer_view.h"
#include "stats_snapshot.h"

int cmd_events_follow(struct mgmt_call *call)
{
	mgmt_subscribe_events(call);
	jw_object_begin(call->out, NULL);
	jw_bool(call->out, "following", true);
	jw_u64(call->out, "interval_ms", EVENTS_INTERVAL_MS);
	jw_end(call->out);
	return 0;
}

void events_reset(struct events_state *st)
{
	free(st->peers);
	memset(st, 0, sizeof(*st));
}

/* Starts an event object: {"event":TYPE,"time":"..." */
static void event_begin(struct json_writer *w, const char *type)
{
	struct timespec ts;
	struct tm tm;
	char stamp[40];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);
	jw_reset(w);
	jw_object_begin(w, NULL);
	jw_string(w, "event", type);
	jw_string(w, "time", stamp);
}

static void event_end(struct json_writer *w, events_emit_fn emit, void *arg)
{
	jw_end(w);
	if (!w->failed)
		emit(arg, w->buf, w->len);
}

static int compare_conn(const struct peer_info *a, const struct peer_info *b)
{
	int c = memcmp(a->key, b->key, KEY_LEN);
	if (c)
		return c;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Both lists are sorted: walk them together to find who came and who went. */
static void diff_peers(const struct events_state *st, const struct peer_info *cur, int ncur,
		       struct json_writer *w, events_emit_fn emit, void *arg)
{
	int i = 0, j = 0;
	while (i < st->npeers || j < ncur) {
		int c = i == st->npeers ? 1 : j == ncur ? -1 : compare_conn(&st->peers[i], &cur[j]);
		if (c == 0) {
			i++;
			j++;
			continue;
		}
		const struct peer_info *p = c < 0 ? &st->peers[i++] : &cur[j++];
		event_begin(w, c < 0 ? "disconnect" : "connect");
		peer_write_json(w, "peer", p);
		event_end(w, emit, arg);
	}
}

/* Counters that grew: one event per reason (and kind) with the increase. */
static void diff_counters(const struct events_state *st, const struct stats_snapshot *s,
			  struct json_writer *w, events_emit_fn emit, void *arg)
{
	for (int r = 0; r < DROP_REASON_COUNT; r++) {
		for (int k = 0; k < DROP_KIND_COUNT; k++) {
			uint64_t packets = s->total.packets_dropped[r][k] - st->dropped[r][k];
			uint64_t bytes = s->total.bytes_dropped[r][k] - st->dropped_bytes[r][k];
			if (packets == 0)
				continue;
			event_begin(w, "drop");
			jw_string(w, "reason", drop_reason_names[r]);
			jw_string(w, "kind", stats_drop_kind_name(k));
			jw_u64(w, "packets", packets);
			jw_u64(w, "bytes", bytes);
			event_end(w, emit, arg);
		}
	}
	for (int r = 0; r < CLOSE_REASON_COUNT; r++) {
		uint64_t n = s->total.conns_closed[r] - st->closed[r];
		if (n == 0)
			continue;
		event_begin(w, "closed");
		jw_string(w, "reason", close_reason_names[r]);
		jw_u64(w, "connections", n);
		event_end(w, emit, arg);
	}
}

static void remember_counters(struct events_state *st, const struct stats_snapshot *s)
{
	memcpy(st->dropped, s->total.packets_dropped, sizeof(st->dropped));
	memcpy(st->dropped_bytes, s->total.bytes_dropped, sizeof(st->dropped_bytes));
	memcpy(st->closed, s->total.conns_closed, sizeof(st->closed));
}

void events_poll(struct events_state *st, struct mgmt_context *ctx, events_emit_fn emit, void *arg)
{
	struct stats_snapshot s;
	struct peer_info *cur;
	struct json_writer w;

	/* Counters first: a drop seen now belongs to a connection listed after. */
	stats_snapshot_take(ctx, &s);
	int ncur = peer_list_sorted(ctx->relay, &cur);
	if (ncur < 0)
		return; /* the workers are busy: compare at the next look */

	jw_init(&w);
	if (st->primed) {
		diff_peers(st, cur, ncur, &w, emit, arg);
		diff_counters(st, &s, &w, emit, arg);
	}
	jw_free(&w);
	free(st->peers);
	st->peers = cur;
	st->npeers = ncur;
	remember_counters(st, &s);
	st->primed = true;
}
