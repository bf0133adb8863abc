// SPDX-License-Identifier: MIT
/*
 * The handoff of one connection from the kernel to the bypass dataplane.
 * The order is what makes it lossless: once the steering entry is in, the
 * kernel sees no further segment of the flow (they queue on the worker's
 * XSK), so the numbers TCP_REPAIR reads stop moving, and the close in
 * repair mode sends nothing. Undone in reverse when a step fails.
 */
#include "handoff.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/membarrier.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "errbuf.h"
#include "tcp_repair.h"

static const char *const veto_names[HANDOFF_VETO_COUNT] = {
	[HANDOFF_OK] = "ok",
	[HANDOFF_NO_XDP] = "no_xdp",
	[HANDOFF_LOOPBACK] = "loopback",
	[HANDOFF_NO_CAP_NET_ADMIN] = "no_cap_net_admin",
	[HANDOFF_NOT_TCP] = "not_tcp",
	[HANDOFF_NOT_ESTABLISHED] = "not_established",
	[HANDOFF_QUEUE_UNKNOWN] = "queue_unknown",
};

const char *handoff_veto_name(enum handoff_veto veto)
{
	return veto < HANDOFF_VETO_COUNT ? veto_names[veto] : "unknown";
}

static bool has_cap_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { 0 };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return false;
	return data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN);
}

/* A connection to one of our own addresses goes over lo, whatever the address. */
static bool is_loopback(const struct tcp_flow *f)
{
	static const uint8_t v6_loopback[16] = { [15] = 1 };
	size_t alen = f->family == AF_INET ? 4 : 16;

	if (memcmp(f->local_ip, f->remote_ip, alen) == 0)
		return true;
	if (f->family == AF_INET)
		return f->local_ip[0] == 127;
	return memcmp(f->local_ip, v6_loopback, 16) == 0;
}

static bool is_tcp_established(int fd, bool *is_tcp)
{
	int proto = 0;
	socklen_t len = sizeof(proto);
	struct tcp_info ti;

	*is_tcp =
	    getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_TCP;
	if (!*is_tcp)
		return false;
	len = sizeof(ti);
	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	       ti.tcpi_state == TCP_ESTABLISHED;
}

enum handoff_veto handoff_check(int fd, const struct steer *steer, uint32_t *queue)
{
	struct tcp_flow flow;
	bool is_tcp;

	if (!is_tcp_established(fd, &is_tcp))
		return is_tcp ? HANDOFF_NOT_ESTABLISHED : HANDOFF_NOT_TCP;
	if (tcp_flow_of(fd, &flow, NULL, 0) < 0)
		return HANDOFF_NOT_TCP;
	if (is_loopback(&flow))
		return HANDOFF_LOOPBACK;
	if (!steer)
		return HANDOFF_NO_XDP;
	if (!has_cap_net_admin())
		return HANDOFF_NO_CAP_NET_ADMIN;
	/* Also catches a connection that came in over another interface. */
	if (steer_learned_queue(steer, &flow, queue, NULL, 0) < 0)
		return HANDOFF_QUEUE_UNKNOWN;
	return HANDOFF_OK;
}

/*
 * Waits until no segment that passed XDP before the steering went in is
 * still on its way up the stack. XDP and the stack above it run in the
 * same softirq, which RCU counts as a read-side section, so one grace
 * period (membarrier's GLOBAL command is synchronize_rcu(), about 10 ms
 * here) is enough: after it such a segment is in the socket, or in its
 * backlog, which the first getsockopt of tcp_repair_take() processes.
 * Without membarrier, tcp_repair_take()'s re-reading of rcv_nxt is the
 * only guard, and a segment landing after it would be acked by the
 * kernel and lost.
 */
static void wait_for_inflight(void)
{
	syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
}

int handoff_take(int fd, struct steer *steer, uint32_t queue, struct tcp_snapshot *snap, char *err,
		 size_t errlen)
{
	struct tcp_flow flow;

	if (tcp_flow_of(fd, &flow, err, errlen) < 0)
		return -1;
	if (steer_add(steer, &flow, queue, err, errlen) < 0)
		return -1;
	wait_for_inflight();
	if (tcp_repair_take(fd, snap, err, errlen) < 0) {
		/* The kernel keeps the connection; its segments must reach it again. */
		steer_del(steer, &flow);
		return -1;
	}
	tcp_repair_close(fd);
	return 0;
}
