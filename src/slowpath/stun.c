// SPDX-License-Identifier: MIT
/* STUN Binding Request / Binding Success codec (stun.h). */
#include "stun.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>

static const char *const verdict_names[STUN_VERDICT_COUNT] = {
	[STUN_OK] = "ok",
	[STUN_NOT_STUN] = "not_stun",
	[STUN_NOT_BINDING] = "not_binding",
	[STUN_MALFORMED] = "malformed",
	[STUN_WRONG_SOFTWARE] = "wrong_software",
	[STUN_NO_FINGERPRINT] = "no_fingerprint",
	[STUN_BAD_FINGERPRINT] = "bad_fingerprint",
};

const char *stun_verdict_name(enum stun_verdict v)
{
	return (unsigned)v < STUN_VERDICT_COUNT ? verdict_names[v] : "?";
}

/*
 * zlib is not a dependency, so CRC-32 is done here: the reflected IEEE
 * polynomial 0xedb88320, four bits per table lookup. Sixteen entries are
 * plenty for a few dozen bytes per request, off the hot path.
 */
static const uint32_t crc32_nibble[16] = {
	0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
	0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
	0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

uint32_t stun_crc32(const uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (size_t i = 0; i < len; i++) {
		crc ^= buf[i];
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
		crc = (crc >> 4) ^ crc32_nibble[crc & 0xf];
	}
	return ~crc;
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v)
{
	p = put_be16(p, (uint16_t)(v >> 16));
	return put_be16(p, (uint16_t)v);
}

/* The RFC's test for a STUN message: the two top bits zero and the magic cookie. */
static bool is_stun(const uint8_t *buf, size_t len)
{
	return len >= STUN_HEADER_LEN && (buf[0] & 0xc0) == 0 &&
	       get_be32(buf + 4) == STUN_MAGIC_COOKIE;
}

enum stun_verdict stun_parse_binding_request(const uint8_t *buf, size_t len,
					     uint8_t txid_out[STUN_TXID_LEN])
{
	if (!is_stun(buf, len))
		return STUN_NOT_STUN;
	if (get_be16(buf) != STUN_BINDING_REQ)
		return STUN_NOT_BINDING;

	/*
	 * As derper: the attributes run to the end of the datagram (the
	 * header's length field is not consulted), each padded to four bytes,
	 * and the padding must be there too.
	 */
	bool software_ok = false;
	uint16_t last_type = 0;
	uint32_t got_fp = 0;
	size_t off = STUN_HEADER_LEN;
	while (off < len) {
		if (len - off < 4)
			return STUN_MALFORMED;
		uint16_t type = get_be16(buf + off);
		size_t alen = get_be16(buf + off + 2);
		size_t padded = (alen + 3) & ~(size_t)3;
		off += 4;
		if (padded > len - off)
			return STUN_MALFORMED;
		const uint8_t *val = buf + off;
		last_type = type;
		if (type == STUN_ATTR_SOFTWARE && alen == sizeof(STUN_TAILSCALE_SOFTWARE) - 1 &&
		    memcmp(val, STUN_TAILSCALE_SOFTWARE, alen) == 0)
			software_ok = true;
		if (type == STUN_ATTR_FINGERPRINT && alen == 4)
			got_fp = get_be32(val);
		off += padded;
	}
	if (!software_ok)
		return STUN_WRONG_SOFTWARE;
	if (last_type != STUN_ATTR_FINGERPRINT)
		return STUN_NO_FINGERPRINT;
	/* The CRC covers all but the FINGERPRINT attribute's 8 bytes (header and value). */
	if (got_fp != (stun_crc32(buf, len - 8) ^ STUN_FINGERPRINT_XOR))
		return STUN_BAD_FINGERPRINT;
	memcpy(txid_out, buf + 8, STUN_TXID_LEN);
	return STUN_OK;
}

size_t stun_build_binding_response(const uint8_t txid[STUN_TXID_LEN], const struct sockaddr *src,
				   uint8_t *out, size_t cap)
{
	uint8_t addr[16];
	size_t addr_len;
	uint16_t port;
	uint8_t family;

	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)src;
		memcpy(addr, &sin->sin_addr, 4);
		addr_len = 4;
		port = ntohs(sin->sin_port);
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;
		/*
		 * A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d;
		 * they are told their IPv4 address (Tailscale unmaps either way).
		 */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			memcpy(addr, &sin6->sin6_addr.s6_addr[12], 4);
			addr_len = 4;
		} else {
			memcpy(addr, &sin6->sin6_addr, 16);
			addr_len = 16;
		}
		port = ntohs(sin6->sin6_port);
	} else {
		return 0;
	}
	family = addr_len == 4 ? 0x01 : 0x02;

	size_t attr_len = 4 + addr_len; /* reserved, family, port, address */
	size_t total = STUN_HEADER_LEN + 4 + attr_len;
	if (cap < total)
		return 0;

	/* The cookie and the transaction ID, in order: what the address is XORed with. */
	uint8_t mask[16];
	put_be32(mask, STUN_MAGIC_COOKIE);
	memcpy(mask + 4, txid, STUN_TXID_LEN);

	uint8_t *p = out;
	p = put_be16(p, STUN_BINDING_OK);
	p = put_be16(p, (uint16_t)(4 + attr_len));
	p = put_be32(p, STUN_MAGIC_COOKIE);
	memcpy(p, txid, STUN_TXID_LEN);
	p += STUN_TXID_LEN;
	p = put_be16(p, STUN_ATTR_XOR_MAPPED);
	p = put_be16(p, (uint16_t)attr_len);
	*p++ = 0;
	*p++ = family;
	p = put_be16(p, port ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16));
	for (size_t i = 0; i < addr_len; i++)
		*p++ = addr[i] ^ mask[i];
	return (size_t)(p - out);
}

int stun_parse_binding_response(const uint8_t *buf, size_t len, uint8_t txid_out[STUN_TXID_LEN],
				struct sockaddr_storage *addr)
{
	if (!is_stun(buf, len) || get_be16(buf) != STUN_BINDING_OK)
		return -1;
	size_t msg_len = get_be16(buf + 2);
	if (msg_len > len - STUN_HEADER_LEN || msg_len % 4)
		return -1;
	size_t end = STUN_HEADER_LEN + msg_len;

	uint8_t mask[16];
	memcpy(mask, buf + 4, 16); /* the cookie, then the transaction ID */
	for (size_t off = STUN_HEADER_LEN; end - off >= 4;) {
		uint16_t type = get_be16(buf + off);
		size_t alen = get_be16(buf + off + 2);
		size_t padded = (alen + 3) & ~(size_t)3;
		off += 4;
		if (padded > end - off)
			return -1;
		const uint8_t *v = buf + off;
		off += padded;
		if (type != STUN_ATTR_XOR_MAPPED)
			continue;
		size_t addr_len = alen >= 4 && v[1] == 0x01   ? 4
				  : alen >= 4 && v[1] == 0x02 ? 16
							      : 0;
		if (addr_len == 0 || alen != 4 + addr_len)
			return -1;
		uint16_t port = get_be16(v + 2) ^ (uint16_t)(STUN_MAGIC_COOKIE >> 16);
		memset(addr, 0, sizeof(*addr));
		if (addr_len == 4) {
			struct sockaddr_in *sin = (struct sockaddr_in *)addr;
			sin->sin_family = AF_INET;
			sin->sin_port = htons(port);
			for (size_t i = 0; i < 4; i++)
				((uint8_t *)&sin->sin_addr)[i] = v[4 + i] ^ mask[i];
		} else {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons(port);
			for (size_t i = 0; i < 16; i++)
				sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[i];
		}
		memcpy(txid_out, buf + 8, STUN_TXID_LEN);
		return 0;
	}
	return -1;
}
