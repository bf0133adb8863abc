// SPDX-License-Identifier: MIT
/*
 * DPDK ports: one ethdev per relay interface, queue 0, driven by DPDK's
 * net_af_xdp PMD, and one mbuf pool shared by all of them, so a frame
 * received on one port leaves by any other as it is (the PMD's UMEM is the
 * pool's memory). The forwarding loop (wg_port_fwd.c) is the same as for
 * AF_XDP; only the buffers and the rings below it change.
 *
 * Why net_af_xdp: this backend must run where there is no VFIO or UIO
 * (veth, most virtual NICs; shared/design/platform-notes.md, section 6), so
 * EAL runs with --no-huge and without PCI. A PCI PMD would be one more EAL
 * argument; the port operations would not change.
 *
 * The PMD owns each interface's XDP slot. It loads the program named by its
 * xdp_prog devarg: ours (bpf/wg_dpdk.bpf.c, embedded, with the relay's port
 * and addresses written into its constant, handed over as a memfd), which
 * sends only the relay's datagrams to DPDK and passes everything else (ARP,
 * fragments, the host's traffic) to the kernel. The relay's XDP fast path is
 * therefore not attached in this mode, and every relay datagram is routed
 * in userspace.
 *
 * DPDK's ethdev API polls (this PMD offers no RX interrupts), so fd() is -1
 * and the worker busy-polls: DPDK's model, one core spent for the lowest
 * latency.
 */
#include "wg_dpdk.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "log.h"
#include "wg_maps.h"
#include "wg_text.h"
#include "wg_worker.h"

#define FILTER_NAME   "hd_wg_dpdk" /* the XDP program's name, as the kernel reports it */
#define RING_SIZE     2048	   /* RX and TX descriptors per port */
#define POOL_PER_PORT 4096	   /* mbufs: a full fill ring plus a full TX ring per port */
#define POOL_CACHE    256
#define EAL_MEM_MB    256 /* --no-huge reserves this much address space, touched as used */

extern const unsigned char wg_dpdk_bpf_obj[];
extern const size_t wg_dpdk_bpf_obj_len;

struct wg_dpdk_port {
	struct port port; /* first: a struct port * is a struct wg_dpdk_port * */
	uint16_t port_id;
	bool started;
};

/* What the ports share. EAL can be initialised once per process. */
static struct {
	bool eal_used;
	bool eal_up;
	int nopen;
	struct rte_mempool *pool;
	FILE *log;
} dpdk;

/* ---- DPDK's log, into ours ---- */

static char log_line[256];
static size_t log_len;

/* DPDK writes through stdio; each finished line becomes one of our log lines. */
static ssize_t log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		bool eol = buf[i] == '\n';
		if (!eol)
			log_line[log_len++] = buf[i];
		if ((eol || log_len == sizeof(log_line) - 1) && log_len) {
			log_line[log_len] = '\0';
			if (rte_log_cur_msg_loglevel() <= (int)RTE_LOG_WARNING)
				log_warn("wg: dpdk: %s", log_line);
			else
				log_info("wg: dpdk: %s", log_line);
			log_len = 0;
		}
	}
	return (ssize_t)size;
}

/* ---- the XDP filter the PMD loads ---- */

/*
 * A filter left attached by a relay that did not exit cleanly (the PMD
 * attaches through netlink, which outlives the process) is removed; any
 * other program keeps the slot, and this interface is refused. Reading a
 * program's name needs CAP_SYS_ADMIN; without it, any program is refused.
 */
static int claim_xdp_slot(int ifindex, const char *ifname, char *err, size_t errlen)
{
	struct bpf_prog_info info;
	__u32 id = 0, len = sizeof(info);

	if (bpf_xdp_query_id(ifindex, 0, &id) < 0)
		return wg_err(err, errlen, "%s: cannot query XDP: %s", ifname, strerror(errno));
	if (!id)
		return 0;
	memset(&info, 0, sizeof(info));
	int fd = bpf_prog_get_fd_by_id(id);
	bool named = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
	if (fd >= 0)
		close(fd);
	if (!named)
		return wg_err(err, errlen,
			      "%s: an XDP program (id %u) is attached; if it is a stale %s, "
			      "remove it: ip link set dev %s xdp off",
			      ifname, id, FILTER_NAME, ifname);
	if (strcmp(info.name, FILTER_NAME) != 0)
		return wg_err(err, errlen, "%s: another XDP program is attached (%s)", ifname,
			      info.name);
	if (bpf_xdp_detach(ifindex, 0, NULL) < 0)
		return wg_err(err, errlen, "%s: cannot remove a stale DPDK filter: %s", ifname,
			      strerror(errno));
	log_warn("wg: %s: removed the DPDK filter an earlier run left attached", ifname);
	return 0;
}

/*
 * The relay's addresses on its interfaces, both families: only datagrams to
 * these go to DPDK. IPv6 link-local addresses are left out: no peer has one
 * (the table refuses them), and the filter has room for 16 of each family.
 */
static void local_addresses(char ifnames[][16], int n, struct wg_dpdk_cfg *cfg)
{
	struct ifaddrs *ifa;

	if (getifaddrs(&ifa) < 0)
		return;
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
		if (!p->ifa_addr)
			continue;
		for (int i = 0; i < n; i++) {
			if (strcmp(p->ifa_name, ifnames[i]) != 0)
				continue;
			if (p->ifa_addr->sa_family == AF_INET && cfg->naddrs < WG_DPDK_MAX_LOCAL) {
				cfg->addrs[cfg->naddrs++] =
				    ((struct sockaddr_in *)p->ifa_addr)->sin_addr.s_addr;
			} else if (p->ifa_addr->sa_family == AF_INET6 &&
				   cfg->naddrs6 < WG_DPDK_MAX_LOCAL) {
				const struct in6_addr *a =
				    &((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr;
				if (!IN6_IS_ADDR_LINKLOCAL(a))
					memcpy(cfg->addrs6[cfg->naddrs6++], a, 16);
			}
		}
	}
	freeifaddrs(ifa);
}

/*
 * Writes cfg over the filter's constant wg_dpdk_cfg in a copy of its ELF
 * object: found through the symbol table, in the section the symbol names.
 * libbpf loads that section as the program's read-only data.
 */
static int filter_patch(unsigned char *obj, size_t len, const struct wg_dpdk_cfg *cfg)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)obj;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    eh->e_shoff > len || eh->e_shnum > (len - eh->e_shoff) / sizeof(Elf64_Shdr))
		return -1;
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(obj + eh->e_shoff);
	for (unsigned int i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum ||
		    sh[i].sh_offset > len || sh[i].sh_size > len - sh[i].sh_offset)
			continue;
		const Elf64_Shdr *strtab = &sh[sh[i].sh_link];
		const Elf64_Sym *syms = (const Elf64_Sym *)(obj + sh[i].sh_offset);
		for (size_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++) {
			const Elf64_Sym *sym = &syms[k];
			if (strtab->sh_offset + sym->st_name + sizeof("wg_dpdk_cfg") > len ||
			    strcmp((const char *)obj + strtab->sh_offset + sym->st_name,
				   "wg_dpdk_cfg") != 0)
				continue;
			if (sym->st_size != sizeof(*cfg) || sym->st_shndx >= eh->e_shnum)
				return -1;
			const Elf64_Shdr *sec = &sh[sym->st_shndx];
			if (sec->sh_type != SHT_PROGBITS || sym->st_value > sec->sh_size ||
			    sec->sh_size - sym->st_value < sizeof(*cfg) || sec->sh_offset > len ||
			    sec->sh_size > len - sec->sh_offset)
				return -1;
			memcpy(obj + sec->sh_offset + sym->st_value, cfg, sizeof(*cfg));
			return 0;
		}
	}
	return -1;
}

/* The filter with its settings, as a file the PMD can open: a memfd. */
static int filter_file(const struct wg_dpdk_cfg *cfg, char *err, size_t errlen)
{
	unsigned char *obj = malloc(wg_dpdk_bpf_obj_len);
	int fd = -1;

	if (!obj)
		return wg_err(err, errlen, "out of memory");
	memcpy(obj, wg_dpdk_bpf_obj, wg_dpdk_bpf_obj_len);
	if (filter_patch(obj, wg_dpdk_bpf_obj_len, cfg) < 0) {
		wg_err(err, errlen, "the embedded XDP filter has no wg_dpdk_cfg to set");
		goto out;
	}
	fd = memfd_create("hd_wg_dpdk.bpf.o", MFD_CLOEXEC);
	if (fd < 0) {
		wg_err(err, errlen, "memfd_create: %s", strerror(errno));
		goto out;
	}
	for (size_t off = 0; off < wg_dpdk_bpf_obj_len;) {
		ssize_t w = write(fd, obj + off, wg_dpdk_bpf_obj_len - off);
		if (w <= 0) {
			wg_err(err, errlen, "writing the XDP filter: %s", strerror(errno));
			close(fd);
			fd = -1;
			goto out;
		}
		off += (size_t)w;
	}
out:
	free(obj);
	return fd;
}

/* ---- EAL ---- */

/* EAL may keep pointers into its arguments: they live as long as the process. */
static struct {
	char text[12 + WG_MAX_IFACES][160];
	char *argv[12 + WG_MAX_IFACES];
	int argc;
} eal_args;

__attribute__((format(printf, 1, 2))) static void eal_arg(const char *fmt, ...)
{
	char *arg = eal_args.text[eal_args.argc];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(arg, sizeof(eal_args.text[0]), fmt, ap);
	va_end(ap);
	eal_args.argv[eal_args.argc++] = arg;
}

static int eal_start(char ifnames[][16], int n, int filter_fd, char *err, size_t errlen)
{
	int cpu = 0;
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
		while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &cpus))
			cpu++;
	}
	eal_arg("hyper-derp");
	eal_arg("--no-huge");
	eal_arg("--no-pci");
	/*
	 * --in-memory would leave no files, but --no-huge implies legacy memory,
	 * which it refuses: no shared config instead, under a prefix of our own
	 * (the runtime directory is removed at teardown).
	 */
	eal_arg("--no-shconf");
	eal_arg("--file-prefix=hd-wg-%d", (int)getpid());
	eal_arg("--no-telemetry");
	eal_arg("-m%d", EAL_MEM_MB);
	eal_arg("-l%d", cpu); /* the main lcore; the worker registers itself later */
	eal_arg("--log-level=%s", log_enabled(LOG_LEVEL_DEBUG) ? "info" : "error");
	for (int i = 0; i < n; i++)
		eal_arg("--vdev=net_af_xdp%d,iface=%s,start_queue=0,queue_count=1,"
			"xdp_prog=/proc/self/fd/%d",
			i, ifnames[i], filter_fd);

	dpdk.log = fopencookie(NULL, "w", (cookie_io_functions_t){ .write = log_write });
	if (dpdk.log)
		rte_openlog_stream(dpdk.log);
	dpdk.eal_used = true;
	int rc = rte_eal_init(eal_args.argc, eal_args.argv);
	/* EAL pinned this thread to the lcore: threads started later inherit it. */
	if (CPU_COUNT(&cpus))
		sched_setaffinity(0, sizeof(cpus), &cpus);
	if (rc < 0)
		return wg_err(err, errlen, "DPDK EAL: %s", rte_strerror(rte_errno));
	dpdk.eal_up = true;
	return 0;
}

static void dpdk_teardown(void)
{
	char dir[PATH_MAX] = "";

	if (dpdk.pool)
		rte_mempool_free(dpdk.pool);
	dpdk.pool = NULL;
	if (dpdk.eal_up) {
		snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
		rte_eal_cleanup();
	}
	dpdk.eal_up = false;
	/* EAL makes its runtime directory even without shared config, and leaves it. */
	if (dir[0] && rmdir(dir) < 0 && errno != ENOENT)
		log_warn("wg: dpdk: cannot remove %s: %s", dir, strerror(errno));
}

/* ---- the port operations ---- */

static struct wg_dpdk_port *dpdk_of(struct port *port)
{
	return (struct wg_dpdk_port *)port;
}

/*
 * The worker is not an EAL thread: registering it gives it an lcore id, and
 * with it a mempool cache, which spares a shared-ring operation per burst.
 */
static void register_thread(void)
{
	static _Thread_local bool tried;

	if (tried)
		return;
	tried = true;
	if (rte_thread_register() < 0)
		log_warn("wg: dpdk: cannot register the dataplane thread (%s): no mbuf cache",
			 rte_strerror(rte_errno));
}

static unsigned int dpdk_rx_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	struct wg_dpdk_port *p = dpdk_of(port);
	struct rte_mbuf *m[WG_PORT_BATCH];

	if (rte_lcore_id() == LCORE_ID_ANY)
		register_thread();
	if (n > WG_PORT_BATCH)
		n = WG_PORT_BATCH;
	uint16_t got = rte_eth_rx_burst(p->port_id, 0, m, (uint16_t)n);
	for (uint16_t i = 0; i < got; i++) {
		frames[i] = (struct port_frame){ .data = rte_pktmbuf_mtod(m[i], uint8_t *),
						 .len = rte_pktmbuf_data_len(m[i]),
						 .handle = (uint64_t)(uintptr_t)m[i],
						 .port = port };
	}
	return got;
}

static struct rte_mbuf *mbuf_of(const struct port_frame *f)
{
	return (struct rte_mbuf *)(uintptr_t)f->handle;
}

/* Frames of any port go as they are: every port's mbufs come from the one pool. */
static unsigned int dpdk_tx_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	struct rte_mbuf *m[WG_PORT_BATCH];

	if (n > WG_PORT_BATCH)
		n = WG_PORT_BATCH;
	for (unsigned int i = 0; i < n; i++) {
		m[i] = mbuf_of(&frames[i]);
		/* The rewrite may have trimmed Ethernet padding. */
		rte_pktmbuf_data_len(m[i]) = (uint16_t)frames[i].len;
		rte_pktmbuf_pkt_len(m[i]) = frames[i].len;
	}
	return rte_eth_tx_burst(dpdk_of(port)->port_id, 0, m, (uint16_t)n);
}

static void dpdk_free_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	struct rte_mbuf *m[WG_PORT_BATCH];

	(void)port;
	while (n) {
		unsigned int k = n > WG_PORT_BATCH ? WG_PORT_BATCH : n;
		for (unsigned int i = 0; i < k; i++)
			m[i] = mbuf_of(&frames[i]);
		rte_pktmbuf_free_bulk(m, k);
		frames += k;
		n -= k;
	}
}

/* Nothing to do: the PMD kicks the kernel and reaps completions inside tx_burst. */
static void dpdk_flush(struct port *port)
{
	(void)port;
}

static int dpdk_fd(const struct port *port)
{
	(void)port;
	return -1;
}

static void dpdk_close(struct port *port)
{
	struct wg_dpdk_port *p = dpdk_of(port);

	if (!p)
		return;
	if (p->started) {
		rte_eth_dev_stop(p->port_id);
		/* Closing detaches the XDP filter and frees the AF_XDP socket. */
		rte_eth_dev_close(p->port_id);
	}
	free(p);
	if (--dpdk.nopen == 0)
		dpdk_teardown();
}

static const struct port_ops dpdk_ops = {
	.name = "dpdk",
	.rx_burst = dpdk_rx_burst,
	.tx_burst = dpdk_tx_burst,
	.free_burst = dpdk_free_burst,
	.flush = dpdk_flush,
	.fd = dpdk_fd,
	.close = dpdk_close,
};

/* ---- open ---- */

static int port_start(struct wg_dpdk_port *p, int i, const char *ifname, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	char name[32];
	int rc;

	snprintf(name, sizeof(name), "net_af_xdp%d", i);
	if (rte_eth_dev_get_port_by_name(name, &p->port_id) != 0)
		return wg_err(err, errlen, "%s: DPDK did not create port %s", ifname, name);
	int socket = rte_eth_dev_socket_id(p->port_id);
	unsigned int sock = socket < 0 ? (unsigned int)SOCKET_ID_ANY : (unsigned int)socket;
	memset(&conf, 0, sizeof(conf));
	if ((rc = rte_eth_dev_configure(p->port_id, 1, 1, &conf)) < 0 ||
	    (rc = rte_eth_rx_queue_setup(p->port_id, 0, RING_SIZE, sock, NULL, dpdk.pool)) < 0 ||
	    (rc = rte_eth_tx_queue_setup(p->port_id, 0, RING_SIZE, sock, NULL)) < 0 ||
	    (rc = rte_eth_dev_start(p->port_id)) < 0)
		return wg_err(err, errlen, "%s: DPDK port setup: %s", ifname, strerror(-rc));
	p->started = true;
	return 0;
}

int wg_dpdk_open(char ifnames[][16], int n, uint16_t port, struct port **ports, char *err,
		 size_t errlen)
{
	struct wg_dpdk_cfg cfg = { .port = htons(port) };
	int ifindex[WG_MAX_IFACES], filter_fd = -1, opened = 0;

	if (dpdk.eal_used)
		return wg_err(err, errlen, "DPDK cannot be started twice in one process");
	if (n <= 0 || n > WG_MAX_IFACES)
		return wg_err(err, errlen, "between 1 and %d interfaces", WG_MAX_IFACES);
	/* Everything that can be checked is checked before EAL, which runs only once. */
	for (int i = 0; i < n; i++) {
		ifindex[i] = (int)if_nametoindex(ifnames[i]);
		if (!ifindex[i])
			return wg_err(err, errlen, "interface %s: %s", ifnames[i], strerror(errno));
		if (claim_xdp_slot(ifindex[i], ifnames[i], err, errlen) < 0)
			return -1;
	}
	local_addresses(ifnames, n, &cfg);
	filter_fd = filter_file(&cfg, err, errlen);
	if (filter_fd < 0)
		return -1;
	if (eal_start(ifnames, n, filter_fd, err, errlen) < 0)
		goto fail;
	dpdk.pool =
	    rte_pktmbuf_pool_create("hd_wg_mbufs", (unsigned int)(n + 1) * POOL_PER_PORT - 1,
				    POOL_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (!dpdk.pool) {
		wg_err(err, errlen, "DPDK mbuf pool: %s", rte_strerror(rte_errno));
		goto fail;
	}
	for (; opened < n; opened++) {
		struct wg_dpdk_port *p = calloc(1, sizeof(*p));
		if (!p) {
			wg_err(err, errlen, "out of memory");
			goto fail;
		}
		p->port = (struct port){ .ops = &dpdk_ops, .ifindex = ifindex[opened], .queue = 0 };
		ports[opened] = &p->port;
		dpdk.nopen++;
		if (port_start(p, opened, ifnames[opened], err, errlen) < 0) {
			opened++;
			goto fail;
		}
	}
	/* The PMD has loaded the filter by now. */
	close(filter_fd);
	return 0;
fail:
	if (filter_fd >= 0)
		close(filter_fd);
	for (int i = 0; i < opened; i++)
		dpdk_close(ports[i]);
	if (opened == 0)
		dpdk_teardown();
	return -1;
}
