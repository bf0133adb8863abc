// SPDX-License-Identifier: MIT
/*
 * Loads the TCP steering program embedded in the binary (tcp_steer_bpf_obj[],
 * bpf/meson.build) and attaches it with bpf_link_create, so the program
 * leaves with the process (a crash leaves no stale steering behind; see
 * shared/design/platform-notes.md, section 1). The interface can hold only
 * this one XDP program: docs/bypass.md says how it and the WireGuard
 * relay's combine.
 */
#include "steer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errbuf.h"

#ifndef HD_PORT_NO_BPF
extern const unsigned char tcp_steer_bpf_obj[];
extern const size_t tcp_steer_bpf_obj_len;
#endif

struct steer {
	struct bpf_object *obj;
	int ifindex;
	int link_fd;
	int flows_fd, seen_fd, ports_fd, xsks_fd, counters_fd;
	int ncpus;
};

static int map_fd(struct steer *s, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(s->obj, name);

	return m ? bpf_map__fd(m) : -1;
}

static int attach(struct steer *s, const char *ifname, char *err, size_t errlen)
{
	struct bpf_program *prog = bpf_object__find_program_by_name(s->obj, "tcp_steer");
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);

	if (!prog)
		return hd_err(err, errlen, "the BPF object has no tcp_steer program");
	s->link_fd = bpf_link_create(bpf_program__fd(prog), s->ifindex, BPF_XDP, &opts);
	if (s->link_fd < 0) {
		opts.flags = XDP_FLAGS_SKB_MODE;
		s->link_fd = bpf_link_create(bpf_program__fd(prog), s->ifindex, BPF_XDP, &opts);
	}
	if (s->link_fd < 0) {
		int e = errno;
		return hd_err(err, errlen, "%s: cannot attach XDP: %s", ifname,
			      e == EBUSY   ? "another XDP program is attached"
			      : e == EPERM ? "no permission (needs CAP_NET_ADMIN and CAP_BPF)"
					   : strerror(e));
	}
	return 0;
}

struct steer *steer_open(const char *ifname, char *err, size_t errlen)
{
#ifdef HD_PORT_NO_BPF
	(void)ifname;
	hd_err(err, errlen, "built without BPF (clang missing at build time)");
	return NULL;
#else
	struct steer *s = calloc(1, sizeof(*s));

	if (!s) {
		hd_err(err, errlen, "out of memory");
		return NULL;
	}
	s->link_fd = -1;
	s->ifindex = (int)if_nametoindex(ifname);
	if (!s->ifindex) {
		hd_err(err, errlen, "interface %s: %s", ifname, strerror(errno));
		goto fail;
	}
	s->obj = bpf_object__open_mem(tcp_steer_bpf_obj, tcp_steer_bpf_obj_len, NULL);
	if (!s->obj) {
		hd_err(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	if (bpf_object__load(s->obj) < 0) {
		hd_err(err, errlen, "cannot load the steering program: %s%s", strerror(errno),
		       errno == EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto fail;
	}
	s->flows_fd = map_fd(s, "tcp_flows");
	s->seen_fd = map_fd(s, "tcp_seen");
	s->ports_fd = map_fd(s, "tcp_ports");
	s->xsks_fd = map_fd(s, "tcp_xsks");
	s->counters_fd = map_fd(s, "tcp_counters");
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		hd_err(err, errlen, "cannot count the CPUs: %s", strerror(-s->ncpus));
		goto fail;
	}
	if (attach(s, ifname, err, errlen) < 0)
		goto fail;
	return s;
fail:
	steer_close(s);
	return NULL;
#endif
}

void steer_close(struct steer *s)
{
	if (!s)
		return;
	if (s->link_fd >= 0)
		close(s->link_fd);
	bpf_object__close(s->obj);
	free(s);
}

int steer_ifindex(const struct steer *s)
{
	return s->ifindex;
}

int steer_watch_port(struct steer *s, uint16_t port, char *err, size_t errlen)
{
	__u8 one = 1;

	if (bpf_map_update_elem(s->ports_fd, &port, &one, BPF_ANY) < 0)
		return hd_err(err, errlen, "cannot watch port %u: %s (at most %d ports)",
			      ntohs(port), strerror(errno), STEER_MAX_PORTS);
	return 0;
}

int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd, char *err, size_t errlen)
{
	if (queue >= STEER_MAX_QUEUES)
		return hd_err(err, errlen, "queue %u: at most %d queues", queue, STEER_MAX_QUEUES);
	if (bpf_map_update_elem(s->xsks_fd, &queue, &xsk_fd, BPF_ANY) < 0)
		return hd_err(err, errlen, "queue %u: cannot add the XSK: %s", queue,
			      strerror(errno));
	return 0;
}

void steer_clear_xsk(struct steer *s, uint32_t queue)
{
	bpf_map_delete_elem(s->xsks_fd, &queue);
}

/* The key as the flow's packets arrive: from the remote end to us. */
static struct steer_flow_key key_of(const struct tcp_flow *flow)
{
	struct steer_flow_key k = { .family = flow->family,
				    .remote_port = flow->remote_port,
				    .local_port = flow->local_port };
	size_t alen = flow->family == AF_INET ? 4 : 16;

	memcpy(k.remote_ip, flow->remote_ip, alen);
	memcpy(k.local_ip, flow->local_ip, alen);
	return k;
}

int steer_learned_queue(const struct steer *s, const struct tcp_flow *flow, uint32_t *queue,
			char *err, size_t errlen)
{
	struct steer_flow_key k = key_of(flow);
	struct steer_seen_val seen;

	if (bpf_map_lookup_elem(s->seen_fd, &k, &seen) < 0)
		return hd_err(err, errlen,
			      "its SYN was not seen on the interface (RX queue unknown)");
	*queue = seen.queue;
	return 0;
}

int steer_add(struct steer *s, const struct tcp_flow *flow, uint32_t queue, char *err,
	      size_t errlen)
{
	struct steer_flow_key k = key_of(flow);
	struct steer_flow_val v = { .queue = queue };

	if (bpf_map_update_elem(s->flows_fd, &k, &v, BPF_NOEXIST) < 0)
		return hd_err(err, errlen, "cannot steer the flow: %s%s", strerror(errno),
			      errno == E2BIG ? " (the flow table is full)" : "");
	/* The connection is set up: its SYN's queue is no longer needed. */
	bpf_map_delete_elem(s->seen_fd, &k);
	return 0;
}

void steer_del(struct steer *s, const struct tcp_flow *flow)
{
	struct steer_flow_key k = key_of(flow);

	bpf_map_delete_elem(s->flows_fd, &k);
}

uint64_t steer_flow_packets(const struct steer *s, const struct tcp_flow *flow)
{
	struct steer_flow_key k = key_of(flow);
	struct steer_flow_val v;

	if (bpf_map_lookup_elem(s->flows_fd, &k, &v) < 0)
		return 0;
	return v.packets;
}

void steer_counters(const struct steer *s, uint64_t out[STEER_CNT_COUNT])
{
	__u64 *percpu = calloc((size_t)s->ncpus, sizeof(*percpu));

	for (__u32 i = 0; i < STEER_CNT_COUNT; i++) {
		out[i] = 0;
		if (!percpu || bpf_map_lookup_elem(s->counters_fd, &i, percpu) < 0)
			continue;
		for (int c = 0; c < s->ncpus; c++)
			out[i] += percpu[c];
	}
	free(percpu);
}
