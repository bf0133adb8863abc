/* SPDX-License-Identifier: MIT */
/*
 * STUN (RFC 5389) as Tailscale's netcheck speaks it to a DERP region: a
 * Binding Request in, a Binding Success with XOR-MAPPED-ADDRESS out. Pure
 * functions over byte buffers, no sockets; stun_server.c does the I/O.
 *
 * What is accepted is exactly what Tailscale's derper accepts
 * (net/stun ParseBindingRequest, docs/derp-compat.md): the magic cookie,
 * message type 0x0001, well-formed attributes up to the end of the
 * datagram, a SOFTWARE attribute "tailnode", and a FINGERPRINT as the last
 * attribute whose CRC covers everything before it. Anything else gets no
 * answer.
 */
#ifndef HD_STUN_H
#define HD_STUN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define STUN_HEADER_LEN	      20
#define STUN_TXID_LEN	      12
#define STUN_MAGIC_COOKIE     0x2112a442u
#define STUN_BINDING_REQ      0x0001
#define STUN_BINDING_OK	      0x0101
#define STUN_ATTR_XOR_MAPPED  0x0020
#define STUN_ATTR_SOFTWARE    0x8022
#define STUN_ATTR_FINGERPRINT 0x8028
/* FINGERPRINT is CRC-32 of the message before it, XORed with "STUN". */
#define STUN_FINGERPRINT_XOR 0x5354554eu
/* The SOFTWARE value every Tailscale client sends (8 bytes: no padding). */
#define STUN_TAILSCALE_SOFTWARE "tailnode"
/* Header, then XOR-MAPPED-ADDRESS of an IPv6 address: the longest response. */
#define STUN_RESPONSE_MAX (STUN_HEADER_LEN + 4 + 4 + 16)

/* Why a datagram got no answer; STUN_OK when it is answered. */
enum stun_verdict {
	STUN_OK = 0,
	STUN_NOT_STUN,	      /* shorter than a header, top bits set, or no magic cookie */
	STUN_NOT_BINDING,     /* STUN, but not a Binding Request */
	STUN_MALFORMED,	      /* an attribute runs past the end of the datagram */
	STUN_WRONG_SOFTWARE,  /* no SOFTWARE "tailnode": not a Tailscale client */
	STUN_NO_FINGERPRINT,  /* the last attribute is not FINGERPRINT */
	STUN_BAD_FINGERPRINT, /* FINGERPRINT does not match the bytes before it */
	STUN_VERDICT_COUNT,
};

/* "ok", "not_stun", "not_binding", ...: the names counters and metrics use. */
const char *stun_verdict_name(enum stun_verdict v);

/*
 * Checks that buf[0..len) is a Binding Request from a Tailscale client and
 * copies its transaction ID to txid_out. Never reads outside buf. Returns
 * STUN_OK, or why the datagram must be dropped (txid_out then undefined).
 */
enum stun_verdict stun_parse_binding_request(const uint8_t *buf, size_t len,
					     uint8_t txid_out[STUN_TXID_LEN]);

/*
 * Writes the Binding Success for txid telling src (AF_INET, or AF_INET6;
 * an IPv4-mapped IPv6 source is answered as the IPv4 address it is) its
 * address and port: the header and one XOR-MAPPED-ADDRESS, no SOFTWARE or
 * FINGERPRINT, as derper sends it. Returns the length (32 for IPv4, 44 for
 * IPv6), or 0 if the family is neither or cap is too small.
 */
size_t stun_build_binding_response(const uint8_t txid[STUN_TXID_LEN], const struct sockaddr *src,
				   uint8_t *out, size_t cap);

/*
 * Reads a Binding Success: its transaction ID and the XOR-MAPPED-ADDRESS,
 * as an AF_INET or AF_INET6 address in *addr. The relay never receives
 * one; the tests and the fuzzer check what the relay sends with it.
 * Returns 0, or -1 if buf is not a well-formed Binding Success with that
 * attribute.
 */
int stun_parse_binding_response(const uint8_t *buf, size_t len, uint8_t txid_out[STUN_TXID_LEN],
				struct sockaddr_storage *addr);

/* CRC-32 (IEEE 802.3, the one zlib and Go's crc32.ChecksumIEEE compute) of buf. */
uint32_t stun_crc32(const uint8_t *buf, size_t len);

#endif
