/* SPDX-License-Identifier: MIT */
/*
 * The Internet checksum (RFC 1071) over TCP segments, with the IPv4 or IPv6
 * pseudo-header. Sums are kept unfolded in 32 bits until the end.
 */
#ifndef HD_TCP_CSUM_H
#define HD_TCP_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Adds len bytes at p (big-endian 16-bit words) to sum. */
uint32_t tcp_csum_add(uint32_t sum, const uint8_t *p, size_t len);
/* Folds to 16 bits, not complemented. */
uint16_t tcp_csum_fold(uint32_t sum);
/* The pseudo-header sum: addresses (4 or 16 bytes each), protocol 6, length. */
uint32_t tcp_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst, uint32_t tcp_len);

#endif
