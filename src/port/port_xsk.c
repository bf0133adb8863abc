// SPDX-License-Identifier: MIT
/*
 * AF_XDP ports with raw syscalls: a UMEM of FRAMES frames per port, fill
 * and completion rings, RX and TX rings, bound in copy mode with
 * need_wakeup (veth and most virtual NICs have no zero-copy). Frames are
 * owned by one port: a frame leaves on its own port in place, or is copied
 * into a frame of the egress port's UMEM (separate UMEMs keep each port's
 * rings simple; copy mode copies once more anyway).
 *
 * libxdp's xsk helpers would do the same; raw rings are a page of code and
 * one dependency less (see docs/bypass.md, "Why raw AF_XDP rings").
 */
#include "port_xsk.h"

#include <errno.h>
#include <linux/if_xdp.h>
#include <linux/types.h>
#include <net/if.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errbuf.h"

#ifndef SOL_XDP
#define SOL_XDP 283
#endif
#ifndef AF_XDP
#define AF_XDP 44
#endif

#define FRAMES	   4096
#define FRAME_SIZE 2048 /* holds a 1500-byte MTU frame; the UMEM is 8 MiB per port */
#define RING_SIZE  2048
#define KICKS_MAX  8 /* sendto() calls per flush; copy mode sends 32 frames per call */

struct xsk_ring {
	_Atomic __u32 *producer;
	_Atomic __u32 *consumer;
	__u32 *flags;
	void *descs; /* __u64 addresses (fill, completion) or struct xdp_desc (rx, tx) */
	__u32 mask;
	void *map;
	size_t map_len;
};

struct xsk_port {
	struct port port; /* first: a struct port * is a struct xsk_port * */
	int fd;
	__u8 *umem;
	struct xsk_ring fill, comp, rx, tx;
	__u64 free_frames[FRAMES];
	__u32 nfree;
	bool tx_kick; /* TX descriptors produced since the last sendto() */
};

/* ---- rings ---- */

static int map_ring(int fd, struct xsk_ring *r, const struct xdp_ring_offset *off, size_t desc_size,
		    off_t pgoff)
{
	r->map_len = off->desc + RING_SIZE * desc_size;
	r->map =
	    mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, pgoff);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -1;
	}
	r->producer = (void *)((char *)r->map + off->producer);
	r->consumer = (void *)((char *)r->map + off->consumer);
	r->flags = (void *)((char *)r->map + off->flags);
	r->descs = (char *)r->map + off->desc;
	r->mask = RING_SIZE - 1;
	return 0;
}

/* Entries a consumer may take. */
static __u32 ring_ready(struct xsk_ring *r)
{
	return atomic_load_explicit(r->producer, memory_order_acquire) -
	       atomic_load_explicit(r->consumer, memory_order_relaxed);
}

/* Room a producer has. */
static __u32 ring_room(struct xsk_ring *r)
{
	return RING_SIZE - (atomic_load_explicit(r->producer, memory_order_relaxed) -
			    atomic_load_explicit(r->consumer, memory_order_acquire));
}

static void ring_produce(struct xsk_ring *r, __u32 n)
{
	atomic_store_explicit(r->producer,
			      atomic_load_explicit(r->producer, memory_order_relaxed) + n,
			      memory_order_release);
}

static void ring_consume(struct xsk_ring *r, __u32 n)
{
	atomic_store_explicit(r->consumer,
			      atomic_load_explicit(r->consumer, memory_order_relaxed) + n,
			      memory_order_release);
}

static __u64 *addr_at(struct xsk_ring *r, __u32 idx)
{
	return &((__u64 *)r->descs)[idx & r->mask];
}

static struct xdp_desc *desc_at(struct xsk_ring *r, __u32 idx)
{
	return &((struct xdp_desc *)r->descs)[idx & r->mask];
}

/* ---- frames ---- */

static void frame_free(struct xsk_port *x, __u64 addr)
{
	x->free_frames[x->nfree++] = addr & ~(__u64)(FRAME_SIZE - 1);
}

static bool frame_alloc(struct xsk_port *x, __u64 *addr)
{
	if (x->nfree == 0)
		return false;
	*addr = x->free_frames[--x->nfree];
	return true;
}

/* Returns sent frames, then tops the fill ring up from the free frames. */
static void recycle(struct xsk_port *x)
{
	__u32 n = ring_ready(&x->comp);
	__u32 cons = atomic_load_explicit(x->comp.consumer, memory_order_relaxed);

	for (__u32 i = 0; i < n; i++)
		frame_free(x, *addr_at(&x->comp, cons + i));
	ring_consume(&x->comp, n);

	/* Keep half the frames for TX copies from other ports. */
	__u32 room = ring_room(&x->fill);
	__u32 prod = atomic_load_explicit(x->fill.producer, memory_order_relaxed);
	__u32 give = 0;
	while (give < room && x->nfree > FRAMES / 4) {
		__u64 addr;
		frame_alloc(x, &addr);
		*addr_at(&x->fill, prod + give++) = addr;
	}
	ring_produce(&x->fill, give);
}

/* TX descriptors the kernel has not taken yet. */
static __u32 tx_queued(struct xsk_ring *r)
{
	return atomic_load_explicit(r->producer, memory_order_relaxed) -
	       atomic_load_explicit(r->consumer, memory_order_acquire);
}

static void kick_tx(struct xsk_port *x)
{
	/* Copy mode always wants the kick; need_wakeup tells when others do. */
	if (!x->tx_kick || !(*x->tx.flags & XDP_RING_NEED_WAKEUP))
		return;
	x->tx_kick = false;
	/* In copy mode one sendto() sends at most 32 frames: kick until the ring drains. */
	for (int i = 0; i < KICKS_MAX && tx_queued(&x->tx); i++) {
		if (sendto(x->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != EAGAIN &&
		    errno != EBUSY)
			break;
	}
}

static bool tx_push(struct xsk_port *x, __u64 addr, __u32 len)
{
	if (ring_room(&x->tx) == 0)
		return false;
	__u32 prod = atomic_load_explicit(x->tx.producer, memory_order_relaxed);
	*desc_at(&x->tx, prod) = (struct xdp_desc){ .addr = addr, .len = len };
	ring_produce(&x->tx, 1);
	x->tx_kick = true;
	return true;
}

/* ---- the port operations ---- */

static struct xsk_port *xsk_of(struct port *port)
{
	return (struct xsk_port *)port;
}

static unsigned int xsk_rx_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	struct xsk_port *x = xsk_of(port);
	__u32 ready = ring_ready(&x->rx);
	__u32 cons = atomic_load_explicit(x->rx.consumer, memory_order_relaxed);

	if (ready < n)
		n = ready;
	for (__u32 i = 0; i < n; i++) {
		const struct xdp_desc *d = desc_at(&x->rx, cons + i);
		frames[i] = (struct port_frame){
			.data = x->umem + d->addr, .len = d->len, .handle = d->addr, .port = port
		};
	}
	ring_consume(&x->rx, n);
	return n;
}

static void xsk_free_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		frame_free(xsk_of(port), frames[i].handle);
}

static unsigned int xsk_tx_burst(struct port *port, struct port_frame *frames, unsigned int n)
{
	struct xsk_port *x = xsk_of(port);
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct port_frame *f = &frames[i];
		__u64 addr = f->handle;
		if (f->port != port) {
			/* Another port's UMEM: copy into ours, hand the original back. */
			if (f->len > FRAME_SIZE || !frame_alloc(x, &addr))
				break;
			memcpy(x->umem + addr, f->data, f->len);
		}
		if (!tx_push(x, addr, f->len)) {
			if (f->port != port)
				frame_free(x, addr);
			break;
		}
		if (f->port != port)
			f->port->ops->free_burst(f->port, f, 1);
	}
	return i;
}

static void xsk_flush(struct port *port)
{
	struct xsk_port *x = xsk_of(port);

	kick_tx(x);
	recycle(x);
	/* An empty fill ring stalls RX until the kernel is told it has frames again. */
	if (*x->fill.flags & XDP_RING_NEED_WAKEUP)
		recvfrom(x->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static int xsk_fd(const struct port *port)
{
	return ((const struct xsk_port *)port)->fd;
}

static void unmap_ring(struct xsk_ring *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
}

static void xsk_close(struct port *port)
{
	struct xsk_port *x = xsk_of(port);

	if (!x)
		return;
	unmap_ring(&x->fill);
	unmap_ring(&x->comp);
	unmap_ring(&x->rx);
	unmap_ring(&x->tx);
	if (x->fd >= 0)
		close(x->fd);
	if (x->umem)
		munmap(x->umem, (size_t)FRAMES * FRAME_SIZE);
	free(x);
}

static const struct port_ops xsk_ops = {
	.name = "af_xdp",
	.rx_burst = xsk_rx_burst,
	.tx_burst = xsk_tx_burst,
	.free_burst = xsk_free_burst,
	.flush = xsk_flush,
	.fd = xsk_fd,
	.close = xsk_close,
};

/* ---- open ---- */

struct port *port_xsk_open(int ifindex, const char *ifname, uint16_t queue, char *err,
			   size_t errlen)
{
	struct xsk_port *x = calloc(1, sizeof(*x));
	struct xdp_mmap_offsets off;
	socklen_t optlen = sizeof(off);
	int ring = RING_SIZE;

	if (!x) {
		hd_err(err, errlen, "out of memory");
		return NULL;
	}
	x->port = (struct port){ .ops = &xsk_ops, .ifindex = ifindex, .queue = queue };
	x->fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (x->fd < 0) {
		hd_err(err, errlen, "AF_XDP socket: %s", strerror(errno));
		goto fail;
	}
	x->umem = mmap(NULL, (size_t)FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (x->umem == MAP_FAILED) {
		x->umem = NULL;
		hd_err(err, errlen, "UMEM: %s", strerror(errno));
		goto fail;
	}
	struct xdp_umem_reg reg = {
		.addr = (__u64)(uintptr_t)x->umem,
		.len = (__u64)FRAMES * FRAME_SIZE,
		.chunk_size = FRAME_SIZE,
	};
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0) {
		/* Without CAP_IPC_LOCK the UMEM counts against RLIMIT_MEMLOCK. */
		hd_err(err, errlen, "UMEM registration: %s%s", strerror(errno),
		       errno == ENOBUFS || errno == ENOMEM ? " (memlock limit; needs CAP_IPC_LOCK)"
							   : "");
		goto fail;
	}
	if (setsockopt(x->fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) < 0 ||
	    setsockopt(x->fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) < 0 ||
	    setsockopt(x->fd, SOL_XDP, XDP_RX_RING, &ring, sizeof(ring)) < 0 ||
	    setsockopt(x->fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)) < 0 ||
	    getsockopt(x->fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &optlen) < 0) {
		hd_err(err, errlen, "AF_XDP rings: %s", strerror(errno));
		goto fail;
	}
	if (map_ring(x->fd, &x->fill, &off.fr, sizeof(__u64), XDP_UMEM_PGOFF_FILL_RING) < 0 ||
	    map_ring(x->fd, &x->comp, &off.cr, sizeof(__u64), XDP_UMEM_PGOFF_COMPLETION_RING) < 0 ||
	    map_ring(x->fd, &x->rx, &off.rx, sizeof(struct xdp_desc), XDP_PGOFF_RX_RING) < 0 ||
	    map_ring(x->fd, &x->tx, &off.tx, sizeof(struct xdp_desc), XDP_PGOFF_TX_RING) < 0) {
		hd_err(err, errlen, "AF_XDP ring mmap: %s", strerror(errno));
		goto fail;
	}
	for (__u32 i = 0; i < FRAMES; i++)
		frame_free(x, (__u64)i * FRAME_SIZE);
	recycle(x);
	struct sockaddr_xdp sxdp = {
		.sxdp_family = AF_XDP,
		.sxdp_ifindex = (__u32)ifindex,
		.sxdp_queue_id = queue,
		.sxdp_flags = XDP_COPY | XDP_USE_NEED_WAKEUP,
	};
	if (bind(x->fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0) {
		hd_err(err, errlen, "%s queue %u: AF_XDP bind: %s", ifname, queue, strerror(errno));
		goto fail;
	}
	return &x->port;
fail:
	xsk_close(&x->port);
	return NULL;
}
