// SPDX-License-Identifier: MIT
#include "derper_vars.h"

#include <dirent.h>
#include <sys/stat.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "stats.h"
#include "textbuf.h"
#include "version.h"

#define SUM(field) relay_stat_sum(r, offsetof(struct worker_stats, field))

/*
 * One member of an expvar map. Go's expvar.Map writes `"k": v` joined by
 * ", " in key order: the callers below list the keys sorted.
 */
static void member(struct textbuf *t, bool *first, const char *name, unsigned long long v)
{
	textbuf_printf(t, "%s\"%s\": %llu", *first ? "" : ", ", name, v);
	*first = false;
}

/*
 * Open descriptors, as derper's metrics.CurrentFDs. Linux 6.2 and later
 * report the count as the size of /proc/self/fd, which costs one stat
 * however many connections there are; listing the directory (older
 * kernels) costs a read per descriptor on the slow path's thread.
 */
static unsigned long long current_fds(void)
{
	struct stat st;
	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (unsigned long long)st.st_size;
	DIR *d = opendir("/proc/self/fd");
	unsigned long long n = 0;
	if (!d)
		return 0;
	for (struct dirent *e = readdir(d); e; e = readdir(d)) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	/* The directory's own descriptor is not one of ours. */
	return n > 0 ? n - 1 : 0;
}

static void write_drop_reasons(struct textbuf *t, const struct relay *r)
{
	/* Our reason names are derper's labels; no_buffer and the codel ones are ours. */
	const char *order[DROP_REASON_COUNT];
	int idx[DROP_REASON_COUNT];
	for (int i = 0; i < DROP_REASON_COUNT; i++) {
		int k = i;
		while (k > 0 && strcmp(order[k - 1], drop_reason_names[i]) > 0) {
			order[k] = order[k - 1];
			idx[k] = idx[k - 1];
			k--;
		}
		order[k] = drop_reason_names[i];
		idx[k] = i;
	}
	bool first = true;
	textbuf_printf(t, "{");
	for (int k = 0; k < DROP_REASON_COUNT; k++) {
		unsigned long long v = 0;
		for (int kind = 0; kind < DROP_KIND_COUNT; kind++)
			v += SUM(packets_dropped[idx[k]][kind]);
		member(t, &first, order[k], v);
	}
	textbuf_printf(t, "}");
}

static void write_drop_types(struct textbuf *t, const struct relay *r)
{
	unsigned long long disco = 0, other = 0;
	for (int reason = 0; reason < DROP_REASON_COUNT; reason++) {
		disco += SUM(packets_dropped[reason][DROP_KIND_DISCO]);
		other += SUM(packets_dropped[reason][DROP_KIND_OTHER]);
	}
	textbuf_printf(t, "{\"disco\": %llu, \"other\": %llu}", disco, other);
}

static void write_derp(struct textbuf *t, const struct relay *r, const struct slowpath_stats *slow)
{
	unsigned long long closed = 0, dropped = 0;
	for (int i = 0; i < CLOSE_REASON_COUNT; i++)
		closed += SUM(conns_closed[i]);
	for (int reason = 0; reason < DROP_REASON_COUNT; reason++)
		for (int kind = 0; kind < DROP_KIND_COUNT; kind++)
			dropped += SUM(packets_dropped[reason][kind]);
	unsigned long long accepted = SUM(conns_accepted);
	/* derper's curClients: connections past the handshake, not those still in it. */
	unsigned long long current = accepted > closed ? accepted - closed : 0;
	bool first = true;

	/* Sorted by name, as Go's expvar.Map prints them. */
	textbuf_printf(t, "{");
	member(t, &first, "accepts", slow->upgrades);
	member(t, &first, "bytes_received", SUM(bytes_recv));
	member(t, &first, "bytes_sent", SUM(bytes_sent));
	textbuf_printf(t, ", \"counter_packets_dropped_reason\": ");
	write_drop_reasons(t, r);
	textbuf_printf(t, ", \"counter_packets_dropped_type\": ");
	write_drop_types(t, r);
	member(t, &first, "gauge_current_connections", current);
	member(t, &first, "gauge_current_file_descriptors", current_fds());
	member(t, &first, "gauge_current_home_connections", SUM(home_connections));
	member(t, &first, "got_ping", SUM(frames_recv[DERP_FRAME_PING]));
	member(t, &first, "packets_dropped", dropped);
	member(t, &first, "packets_forwarded_in", SUM(packets_forwarded_in));
	member(t, &first, "packets_received", SUM(packets_recv));
	member(t, &first, "packets_sent", SUM(packets_sent));
	member(t, &first, "peer_gone_disconnected_frames", SUM(peer_gone_disconnected_frames));
	member(t, &first, "peer_gone_not_here_frames", SUM(peer_gone_not_here_frames));
	member(t, &first, "sclient_write_timeouts", SUM(conns_closed[CLOSE_WRITE_TIMEOUT]));
	member(t, &first, "sent_pong", SUM(frames_sent[DERP_FRAME_PONG]));
	/* The last slot of frames_recv counts the types DERP does not define. */
	member(t, &first, "unknown_frames",
	       SUM(frames_recv[sizeof(((struct worker_stats *)0)->frames_recv) / sizeof(uint64_t) -
			       1]));
	textbuf_printf(t, ", \"version\": \"hyper-derp %s\"}", HD_VERSION);
}

int derper_vars_format(const struct relay *r, const struct slowpath_stats *slow, char **out,
		       size_t *len)
{
	struct textbuf t = { 0 };

	/* Go's expvar handler: "{\n", members joined by ",\n", "\n}\n", sorted by name. */
	textbuf_printf(&t, "{\n");
	textbuf_printf(&t, "\"counter_bootstrap_dns_published_hits\": %llu,\n",
		       (unsigned long long)slow->bootstrap_dns_published_hits);
	textbuf_printf(&t, "\"counter_bootstrap_dns_published_misses\": 0,\n");
	textbuf_printf(&t, "\"counter_bootstrap_dns_requests\": %llu,\n",
		       (unsigned long long)slow->bootstrap_dns_requests);
	textbuf_printf(&t, "\"counter_bootstrap_dns_unpublished_hits\": %llu,\n",
		       (unsigned long long)slow->bootstrap_dns_unpublished_hits);
	textbuf_printf(&t, "\"counter_bootstrap_dns_unpublished_misses\": %llu,\n",
		       (unsigned long long)slow->bootstrap_dns_unpublished_misses);
	textbuf_printf(&t, "\"counter_bootstrap_dns_unpublished_percent_misses\": 0,\n");
	textbuf_printf(&t, "\"derp\": ");
	write_derp(&t, r, slow);
	textbuf_printf(&t, "\n}\n");
	if (t.failed) {
		free(t.p);
		return -1;
	}
	*out = t.p;
	*len = t.len;
	return 0;
}
