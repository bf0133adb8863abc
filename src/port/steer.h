/* SPDX-License-Identifier: MIT */
/*
 * The TCP steering XDP program on one interface (bpf/tcp_steer.bpf.c):
 * loading and attaching it, the XSK of each queue, the watched listening
 * ports, and the flows handed off. One writer (the slow path) changes the
 * maps; the program reads them on every packet.
 */
#ifndef HD_STEER_H
#define HD_STEER_H

#include <stddef.h>
#include <stdint.h>

#include "steer_maps.h"
#include "tcp_snapshot.h"

struct steer;

/* Loads and attaches the program (native XDP, else generic). NULL with the reason in err. */
struct steer *steer_open(const char *ifname, char *err, size_t errlen);
void steer_close(struct steer *s);

int steer_ifindex(const struct steer *s);

/* SYNs to this local port (network byte order) leave their RX queue in tcp_seen. */
int steer_watch_port(struct steer *s, uint16_t port, char *err, size_t errlen);

/* Segments of steered flows arriving on queue go to the XSK xsk_fd. */
int steer_set_xsk(struct steer *s, uint32_t queue, int xsk_fd, char *err, size_t errlen);

/* Queue's XSK is going: its steered segments are dropped (counted), never passed to the kernel. */
void steer_clear_xsk(struct steer *s, uint32_t queue);

/* The RX queue the flow's SYN came in on; -1 with the reason when it was not seen. */
int steer_learned_queue(const struct steer *s, const struct tcp_flow *flow, uint32_t *queue,
			char *err, size_t errlen);

/* From now on the flow's segments go to the XSKs, owned by queue's worker; not to the kernel. */
int steer_add(struct steer *s, const struct tcp_flow *flow, uint32_t queue, char *err,
	      size_t errlen);
/* The flow is gone (closed, or the handoff failed and the kernel keeps it). */
void steer_del(struct steer *s, const struct tcp_flow *flow);

/* Packets steered for the flow so far (0 if it is not steered). */
uint64_t steer_flow_packets(const struct steer *s, const struct tcp_flow *flow);

/* The program's counters summed over CPUs (enum steer_counter). */
void steer_counters(const struct steer *s, uint64_t out[STEER_CNT_COUNT]);

#endif
