/* SPDX-License-Identifier: MIT */
/*
 * The state of an established TCP connection at the moment it leaves the
 * kernel: what TCP_REPAIR reads off a kernel socket (src/port/ hands it
 * over, see docs/bypass.md) and what the userspace TCP (src/tcp/) starts
 * from. Only established connections move, so there is no handshake state.
 *
 * Sequence numbers are absolute (as on the wire). Windows are in bytes,
 * already scaled. Addresses and ports are in network byte order, as they
 * appear in the packets, so the dataplane can match and build headers
 * without converting.
 */
#ifndef HD_TCP_SNAPSHOT_H
#define HD_TCP_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

struct tcp_flow {
	uint8_t family;        /* AF_INET or AF_INET6 */
	uint8_t local_ip[16];  /* IPv4 in the first 4 bytes */
	uint8_t remote_ip[16]; /* IPv4 in the first 4 bytes */
	uint16_t local_port;   /* network byte order */
	uint16_t remote_port;  /* network byte order */
};

struct tcp_snapshot {
	struct tcp_flow flow;

	/* Send side: bytes in [snd_una, snd_nxt) were sent and not yet acked. */
	uint32_t snd_una;
	uint32_t snd_nxt;
	uint32_t snd_wnd; /* the peer's last advertised window, scaled */
	uint32_t snd_wl1; /* RFC 793's window-update bookkeeping */
	uint32_t snd_wl2;

	/* Receive side. */
	uint32_t rcv_nxt;
	uint32_t rcv_wnd; /* what we last advertised, scaled */
	uint32_t rcv_wup; /* rcv_nxt when rcv_wnd was last advertised */

	/*
	 * The peer's MSS, for our segments: payload plus TCP options (RFC
	 * 6691); the engine sends 12 bytes less payload when timestamps are on.
	 */
	uint16_t mss;
	/*
	 * snd_wscale scales the window fields we send (the shift we offered in
	 * our SYN), rcv_wscale those we receive (the peer's). Linux's
	 * tcp_sock names them the other way round: rx_opt.snd_wscale is the
	 * peer's shift, rx_opt.rcv_wscale ours.
	 */
	uint8_t snd_wscale; /* shift the peer applies to our window field... */
	uint8_t rcv_wscale; /* ...and we apply to the peer's */
	bool wscale_ok;
	bool sack_ok;
	bool ts_ok;
	uint32_t ts_recent; /* the peer's last TSval we echo (when ts_ok); 0: not known yet */
	int32_t ts_offset;  /* add to our clock (ms) to continue the kernel's TSval */

	uint32_t srtt_us;   /* the kernel's smoothed RTT, a starting point; 0 if unknown */
	uint32_t rttvar_us;

	/*
	 * Bytes the kernel had queued but not yet delivered to us (receive) or
	 * sent-but-unacked plus unsent (send), carried over so no byte is lost.
	 * Owned by whoever owns the snapshot; NULL when empty.
	 */
	uint8_t *recv_queue;
	uint32_t recv_queue_len;
	uint8_t *send_queue; /* starts at snd_una */
	uint32_t send_queue_len;
};

#endif
