// SPDX-License-Identifier: MIT
/*
 * Loading and feeding the XDP fast path (bpf/wg_relay.bpf.c). The object
 * is embedded in the binary; libbpf loads it, bpf_link_create attaches it
 * per interface (native first, generic if the driver has no XDP), and the
 * maps are rewritten from the compiled routes whenever the table changes.
 * libxdp is not used: its dispatcher needs freplace programs, which kernels
 * in lockdown refuse, and one program per interface is all this needs.
 */
#include "wg_xdp.h"

#include <errno.h>
#include <ifaddrs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>

#include "log.h"
#include "wg_queues.h"
#include "wg_text.h"
#include "wg_worker.h"

#define XSK_PER_IF 64 /* as WG_XSK_PER_IF in the program */
_Static_assert(XSK_PER_IF == WG_MAX_QUEUES, "wireguard.queues must fit the XSKMAP's keys");

extern const unsigned char wg_relay_bpf_obj[];
extern const size_t wg_relay_bpf_obj_len;

struct wg_xdp {
	struct bpf_object *obj;
	int nifs;
	int ifindex[WG_MAX_IFACES];
	int link_fd[WG_MAX_IFACES];
	bool generic; /* some interface only took generic (skb) mode */
	int ncpus;
	struct wg_xdp_config config;
	int config_fd, peers_fd, dsts_fd, links_fd, index_fd, local_fd, ifslots_fd, xsks_fd;
	int peer_stats_fd, counters_fd, blocklist_fd;
};

/* The last lines libbpf printed while loading, for the reason of a failure. */
static _Thread_local char libbpf_last[512];

/* libbpf's print callback: fmt comes from libbpf, checked as printf-like. */
__attribute__((format(printf, 2, 0))) static int libbpf_log(enum libbpf_print_level level,
							   const char *fmt, va_list ap)
{
	char line[256];

	vsnprintf(line, sizeof(line), fmt, ap);
	if (level == LIBBPF_DEBUG)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	if (line[0])
		snprintf(libbpf_last, sizeof(libbpf_last), "%s", line);
	log_debug("libbpf: %s", line);
	return 0;
}

static const char *why_load_failed(int error)
{
	switch (error) {
	case EPERM:
	case EACCES:
		return "no permission to load BPF programs (needs CAP_BPF and CAP_NET_ADMIN)";
	case ENOSYS:
	case EOPNOTSUPP:
	case EINVAL:
		return "the kernel does not support this BPF program or its maps";
	default:
		return strerror(error);
	}
}

static int map_fd(struct wg_xdp *x, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(x->obj, name);

	return m ? bpf_map__fd(m) : -1;
}

static int attach(struct wg_xdp *x, int prog_fd, int i, const char *ifname, char *err,
		  size_t errlen)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = XDP_FLAGS_DRV_MODE);
	int fd = bpf_link_create(prog_fd, x->ifindex[i], BPF_XDP, &opts);

	if (fd < 0) {
		opts.flags = XDP_FLAGS_SKB_MODE;
		fd = bpf_link_create(prog_fd, x->ifindex[i], BPF_XDP, &opts);
		if (fd >= 0)
			x->generic = true;
	}
	if (fd < 0) {
		int e = errno;
		wg_err(err, errlen, "%s: cannot attach XDP: %s", ifname,
		       e == EBUSY   ? "another XDP program is attached"
		       : e == EPERM ? "no permission (needs CAP_NET_ADMIN)"
				    : strerror(e));
		return -1;
	}
	x->link_fd[i] = fd;
	return 0;
}

/* The driver of an interface (ETHTOOL_GDRVINFO), or "" when it cannot be read. */
static void driver_of(const char *ifname, char *out, size_t len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = { .ifr_data = (char *)&info };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	out[0] = '\0';
	if (fd < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		snprintf(out, len, "%s", info.driver);
	close(fd);
}

/*
 * XDP on a veth forwards into the kernel's hands with two conditions the
 * relay cannot see from its side: the far end must have GRO on (NAPI) or
 * redirected frames are dropped (rx_queue_0_drops), and TX checksum offload
 * off or they arrive with a partial UDP checksum. The relay's counters say
 * forwarded either way: say it at start.
 */
static void warn_if_veth(const char *ifname)
{
	char driver[32];

	driver_of(ifname, driver, sizeof(driver));
	if (strcmp(driver, "veth") == 0)
		log_warn(
		    "wg: %s is a veth: XDP forwarding through it needs `ethtool -K <far end> "
		    "tx off gro on` on the other end of every relay veth, or the kernel drops "
		    "the frames (rx_queue_0_drops) or they arrive with bad UDP checksums while "
		    "xdp_redirect counts them; use mode = socket where you cannot set that",
		    ifname);
}

/* An interface address as wg_local keys it: IPv4 in its IPv4-mapped form. */
static bool local_key(const struct sockaddr *sa, struct wg_local_key *k)
{
	if (sa->sa_family == AF_INET) {
		struct wg_endpoint ep =
		    wg_endpoint_from_v4(((const struct sockaddr_in *)sa)->sin_addr.s_addr, 0);
		memcpy(k->addr, ep.addr, sizeof(k->addr));
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(k->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, sizeof(k->addr));
		return true;
	}
	return false;
}

/* Datagrams to these addresses (both families) are the relay's; XDP leaves others alone. */
static void add_local_addresses(struct wg_xdp *x, char ifnames[][16])
{
	struct ifaddrs *ifa, *p;
	__u8 one = 1;

	if (getifaddrs(&ifa) < 0)
		return;
	for (p = ifa; p; p = p->ifa_next) {
		struct wg_local_key k;
		if (!p->ifa_addr || !local_key(p->ifa_addr, &k))
			continue;
		for (int i = 0; i < x->nifs; i++) {
			if (strcmp(p->ifa_name, ifnames[i]) == 0)
				bpf_map_update_elem(x->local_fd, &k, &one, BPF_ANY);
		}
	}
	freeifaddrs(ifa);
}

struct wg_xdp *wg_xdp_open(char ifnames[][16], int nifs, uint16_t port, int mode, char *err,
			   size_t errlen)
{
#ifdef HD_WG_NO_BPF
	(void)ifnames, (void)nifs, (void)port, (void)mode;
	wg_err(err, errlen, "built without BPF (clang was missing at build time)");
	return NULL;
#else
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "wg_relay");
	struct wg_xdp *x = calloc(1, sizeof(*x));
	__u32 zero = 0;

	if (!x) {
		wg_err(err, errlen, "out of memory");
		return NULL;
	}
	for (int i = 0; i < WG_MAX_IFACES; i++)
		x->link_fd[i] = -1;
	x->nifs = nifs;
	for (int i = 0; i < nifs; i++) {
		x->ifindex[i] = (int)if_nametoindex(ifnames[i]);
		if (!x->ifindex[i]) {
			wg_err(err, errlen, "interface %s: %s", ifnames[i], strerror(errno));
			goto fail;
		}
	}
	libbpf_set_print(libbpf_log);
	libbpf_last[0] = '\0';
	x->obj = bpf_object__open_mem(wg_relay_bpf_obj, wg_relay_bpf_obj_len, &open_opts);
	if (!x->obj) {
		wg_err(err, errlen, "cannot open the BPF object: %s", strerror(errno));
		goto fail;
	}
	if (bpf_object__load(x->obj) < 0) {
		int e = errno;
		wg_err(err, errlen, "cannot load the XDP program: %s%s%s", why_load_failed(e),
		       libbpf_last[0] ? "; libbpf: " : "", libbpf_last);
		goto fail;
	}
	x->config_fd = map_fd(x, "wg_config");
	x->peers_fd = map_fd(x, "wg_peers");
	x->dsts_fd = map_fd(x, "wg_dsts");
	x->links_fd = map_fd(x, "wg_links");
	x->index_fd = map_fd(x, "wg_index");
	x->local_fd = map_fd(x, "wg_local");
	x->ifslots_fd = map_fd(x, "wg_ifslots");
	x->xsks_fd = map_fd(x, "wg_xsks");
	x->peer_stats_fd = map_fd(x, "wg_peer_stats");
	x->counters_fd = map_fd(x, "wg_counters");
	x->blocklist_fd = map_fd(x, "wg_blocklist");
	x->ncpus = libbpf_num_possible_cpus();
	x->config = (struct wg_xdp_config){ .port = port, .mode = (__u8)mode };
	if (x->ncpus <= 0 || bpf_map_update_elem(x->config_fd, &zero, &x->config, BPF_ANY) < 0) {
		wg_err(err, errlen, "cannot set up the XDP maps: %s", strerror(errno));
		goto fail;
	}
	add_local_addresses(x, ifnames);
	for (int i = 0; i < nifs; i++) {
		__u32 ifindex = (__u32)x->ifindex[i], slot = (__u32)i;
		bpf_map_update_elem(x->ifslots_fd, &ifindex, &slot, BPF_ANY);
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(x->obj, "wg_relay");
	for (int i = 0; i < nifs; i++) {
		if (attach(x, bpf_program__fd(prog), i, ifnames[i], err, errlen) < 0)
			goto fail;
	}
	for (int i = 0; mode == WG_XDP_FORWARD && i < nifs; i++)
		warn_if_veth(ifnames[i]);
	return x;
fail:
	wg_xdp_close(x);
	return NULL;
#endif
}

void wg_xdp_close(struct wg_xdp *x)
{
	if (!x)
		return;
	/* Closing the links detaches the program. */
	for (int i = 0; i < WG_MAX_IFACES; i++) {
		if (x->link_fd[i] >= 0)
			close(x->link_fd[i]);
	}
	bpf_object__close(x->obj);
	free(x);
}

const char *wg_xdp_attach_mode(const struct wg_xdp *x)
{
	return x->generic ? "generic" : "native";
}

int wg_xdp_ifindex(const struct wg_xdp *x, int i)
{
	return x->ifindex[i];
}

int wg_xdp_add_xsk(struct wg_xdp *x, int ifindex, uint16_t queue, int xsk_fd)
{
	if (queue >= XSK_PER_IF) {
		errno = ERANGE;
		return -1;
	}
	for (int i = 0; i < x->nifs; i++) {
		if (x->ifindex[i] == ifindex) {
			/* The program's key: interface slot, then ctx->rx_queue_index. */
			__u32 key = (__u32)i * XSK_PER_IF + queue;
			return bpf_map_update_elem(x->xsks_fd, &key, &xsk_fd, BPF_ANY);
		}
	}
	errno = ENODEV;
	return -1;
}

void wg_xdp_set_xsk_ready(struct wg_xdp *x, bool ready)
{
	__u32 zero = 0;

	x->config.xsk_ready = ready;
	bpf_map_update_elem(x->config_fd, &zero, &x->config, BPF_ANY);
}

/* ---- map sync ---- */

static struct wg_peer_key peer_key(const struct wg_route_peer *p)
{
	struct wg_peer_key k = { .port = p->ep.port };

	memcpy(k.addr, p->ep.addr, sizeof(k.addr));
	return k;
}

static void zero_peer_stats(struct wg_xdp *x, __u32 slot)
{
	size_t size = (size_t)x->ncpus * sizeof(struct wg_peer_stats);
	void *zeros = calloc(1, size);

	if (zeros) {
		bpf_map_update_elem(x->peer_stats_fd, &slot, zeros, BPF_ANY);
		free(zeros);
	}
}

static void sync_links_of(struct wg_xdp *x, const struct wg_routes *r, int slot, bool add)
{
	const struct wg_route_peer *p = &r->peers[slot];
	__u8 one = 1;

	for (uint32_t i = 0; i < p->nlinks; i++) {
		struct wg_link_key k = { .a = (__u32)slot, .b = r->adj[p->first_link + i] };
		if (add)
			bpf_map_update_elem(x->links_fd, &k, &one, BPF_ANY);
		else
			bpf_map_delete_elem(x->links_fd, &k);
	}
}

void wg_xdp_sync(struct wg_xdp *x, const struct wg_routes *old, const struct wg_routes *routes,
		 const struct wg_dst *dsts)
{
	/* Take out what the old routes had; entries still wanted are written back below. */
	for (int i = 0; old && i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &old->peers[i];
		if (!p->used)
			continue;
		struct wg_peer_key k = peer_key(p);
		const struct wg_route_peer *n = &routes->peers[i];
		if (!n->used || !wg_endpoint_equal(&n->ep, &p->ep))
			bpf_map_delete_elem(x->peers_fd, &k);
		sync_links_of(x, old, i, false);
	}
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_route_peer *p = &routes->peers[i];
		if (!p->used)
			continue;
		if (!old || !old->peers[i].used || old->peers[i].gen != p->gen)
			zero_peer_stats(x, (__u32)i);
		struct wg_peer_key k = peer_key(p);
		struct wg_peer_val v = {
			.slot = (__u32)i,
			.nlinks = p->nlinks,
			.dst_slot = p->nlinks == 1 ? routes->adj[p->first_link] : 0,
		};
		sync_links_of(x, routes, i, true);
		bpf_map_update_elem(x->peers_fd, &k, &v, BPF_ANY);
	}
	wg_xdp_sync_dsts(x, routes, dsts);
}

void wg_xdp_sync_dsts(struct wg_xdp *x, const struct wg_routes *routes, const struct wg_dst *dsts)
{
	for (__u32 i = 0; i < WG_MAX_PEERS; i++) {
		if (routes->peers[i].used)
			bpf_map_update_elem(x->dsts_fd, &i, &dsts[i], BPF_ANY);
	}
}

void wg_xdp_index_mirror(void *ctx, uint32_t index, int owner)
{
	struct wg_xdp *x = ctx;
	__u32 slot = (__u32)owner;

	if (owner < 0)
		bpf_map_delete_elem(x->index_fd, &index);
	else if (bpf_map_update_elem(x->index_fd, &index, &slot, BPF_ANY) < 0)
		log_warn("wg: cannot write index %08x to the XDP map: %s", index, strerror(errno));
}

void wg_xdp_block_mirror(void *ctx, const uint8_t addr[16], uint64_t until_ns)
{
	struct wg_xdp *x = ctx;
	struct wg_local_key k;
	__u64 until = until_ns;

	memcpy(k.addr, addr, sizeof(k.addr));
	if (!until_ns)
		bpf_map_delete_elem(x->blocklist_fd, &k);
	else if (bpf_map_update_elem(x->blocklist_fd, &k, &until, BPF_ANY) < 0)
		log_warn("wg: cannot write the XDP blocklist: %s", strerror(errno));
}

void wg_xdp_read_stats(struct wg_xdp *x, struct wg_peer_stats *stats, uint64_t *counters)
{
	struct wg_peer_stats *per_cpu = calloc((size_t)x->ncpus, sizeof(*per_cpu));
	__u64 *values = calloc((size_t)x->ncpus, sizeof(*values));

	if (!per_cpu || !values)
		goto out;
	for (__u32 i = 0; i < WG_MAX_PEERS; i++) {
		if (bpf_map_lookup_elem(x->peer_stats_fd, &i, per_cpu) < 0)
			continue;
		for (int c = 0; c < x->ncpus; c++) {
			stats[i].rx_packets += per_cpu[c].rx_packets;
			stats[i].rx_bytes += per_cpu[c].rx_bytes;
			stats[i].tx_packets += per_cpu[c].tx_packets;
			stats[i].tx_bytes += per_cpu[c].tx_bytes;
			if (per_cpu[c].last_rx_ns > stats[i].last_rx_ns)
				stats[i].last_rx_ns = per_cpu[c].last_rx_ns;
		}
	}
	for (__u32 i = 0; i < WG_CNT_COUNT; i++) {
		if (bpf_map_lookup_elem(x->counters_fd, &i, values) < 0)
			continue;
		for (int c = 0; c < x->ncpus; c++)
			counters[i] += values[c];
	}
out:
	free(per_cpu);
	free(values);
}
