/* SPDX-License-Identifier: MIT */
/*
 * TCP segments on the wire: parsing an IPv4/IPv6 packet that carries TCP
 * into a struct tcp_segment, and writing the headers of one we send.
 * No state: the connection logic lives in tcp_input.c / tcp_output.c.
 */
#ifndef HD_TCP_WIRE_H
#define HD_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tcp_snapshot.h"

#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_PSH 0x08
#define TCP_FLAG_ACK 0x10
#define TCP_FLAG_URG 0x20

#define TCP_MAX_SACK_BLOCKS 4 /* what fits in 40 option bytes (3 with timestamps) */

enum tcp_parse_result {
	TCP_PARSE_OK = 0,
	TCP_PARSE_MALFORMED, /* truncated, bad lengths, options that run past the header */
	TCP_PARSE_NOT_TCP,   /* another protocol, an IPv4 fragment or IPv6 extension headers */
	TCP_PARSE_BAD_CSUM,  /* neither a full nor (where allowed) a CHECKSUM_PARTIAL sum */
};

struct tcp_segment {
	int family;
	const uint8_t *src_ip; /* into the packet */
	const uint8_t *dst_ip;
	uint16_t src_port; /* network byte order */
	uint16_t dst_port;
	uint32_t seq;
	uint32_t ack;
	uint16_t win; /* unscaled window field */
	uint8_t flags;
	const uint8_t *payload;
	uint32_t len; /* payload bytes */

	bool has_ts;
	uint32_t tsval;
	uint32_t tsecr;
	uint8_t nsack;
	uint32_t sack_start[TCP_MAX_SACK_BLOCKS];
	uint32_t sack_end[TCP_MAX_SACK_BLOCKS];
	/* Options only a SYN carries, for the test responder that answers one. */
	uint16_t mss;	/* 0 when absent */
	int16_t wscale; /* -1 when absent */
	bool sack_permitted;
};

/*
 * Parses one IP packet. allow_partial accepts a TCP checksum field that holds
 * only the pseudo-header sum, as a local sender's CHECKSUM_PARTIAL packets
 * reach XDP on veth (see docs/bypass.md); the full sum is always accepted.
 */
enum tcp_parse_result tcp_parse(const uint8_t *pkt, size_t len, bool allow_partial,
				struct tcp_segment *seg);

/* What a segment we send carries besides flags and payload. */
struct tcp_out_opts {
	bool ts;
	uint32_t tsval;
	uint32_t tsecr;
	uint8_t nsack;
	uint32_t sack_start[TCP_MAX_SACK_BLOCKS];
	uint32_t sack_end[TCP_MAX_SACK_BLOCKS];
	/* SYN options, for the test responder's SYN-ACK. */
	uint16_t mss;
	int16_t wscale; /* -1: none */
	bool sack_permitted;
};

/* Bytes of IP + TCP header (with options) a segment with these options takes. */
size_t tcp_header_len(int family, const struct tcp_out_opts *o);

/*
 * Writes the IP and TCP headers in front of the payload_len bytes already at
 * out + tcp_header_len(), and both checksums. ip_id is used for IPv4 only.
 * Returns the packet length.
 */
size_t tcp_build(uint8_t *out, const struct tcp_flow *flow, uint32_t seq, uint32_t ack,
		 uint8_t flags, uint16_t win, const struct tcp_out_opts *o, uint32_t payload_len,
		 uint16_t ip_id);

#endif
