// SPDX-License-Identifier: MIT
#include "tcp_wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "tcp_csum.h"

static uint16_t load16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t load32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void store32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static enum tcp_parse_result parse_options(const uint8_t *o, size_t len, struct tcp_segment *seg)
{
	size_t i = 0;
	while (i < len) {
		uint8_t kind = o[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len)
			return TCP_PARSE_MALFORMED;
		uint8_t olen = o[i + 1];
		const uint8_t *v = o + i + 2;
		/* An option of the wrong length is ignored, as Linux does. */
		if (kind == 2 && olen == 4) {
			seg->mss = load16(v);
		} else if (kind == 3 && olen == 3) {
			seg->wscale = v[0];
		} else if (kind == 4 && olen == 2) {
			seg->sack_permitted = true;
		} else if (kind == 5 && olen >= 10 && (olen - 2) % 8 == 0) {
			unsigned n = (olen - 2) / 8;
			for (unsigned b = 0; b < n && seg->nsack < TCP_MAX_SACK_BLOCKS; b++) {
				seg->sack_start[seg->nsack] = load32(v + 8 * b);
				seg->sack_end[seg->nsack] = load32(v + 8 * b + 4);
				seg->nsack++;
			}
		} else if (kind == 8 && olen == 10) {
			seg->has_ts = true;
			seg->tsval = load32(v);
			seg->tsecr = load32(v + 4);
		}
		i += olen;
	}
	return TCP_PARSE_OK;
}

enum tcp_parse_result tcp_parse(const uint8_t *pkt, size_t len, bool allow_partial,
				struct tcp_segment *seg)
{
	memset(seg, 0, sizeof(*seg));
	seg->wscale = -1;
	if (len < 1)
		return TCP_PARSE_MALFORMED;

	const uint8_t *tcp;
	size_t tcp_len;
	if (pkt[0] >> 4 == 4) {
		if (len < 20)
			return TCP_PARSE_MALFORMED;
		size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
		size_t total = load16(pkt + 2);
		if (ihl < 20 || total < ihl || total > len)
			return TCP_PARSE_MALFORMED;
		if (tcp_csum_fold(tcp_csum_add(0, pkt, ihl)) != 0xffff)
			return TCP_PARSE_BAD_CSUM;
		/* Fragments never reach an established flow from a sane peer (DF, MSS). */
		if ((load16(pkt + 6) & 0x3fff) != 0 || pkt[9] != IPPROTO_TCP)
			return TCP_PARSE_NOT_TCP;
		seg->family = AF_INET;
		seg->src_ip = pkt + 12;
		seg->dst_ip = pkt + 16;
		tcp = pkt + ihl;
		tcp_len = total - ihl;
	} else if (pkt[0] >> 4 == 6) {
		if (len < 40)
			return TCP_PARSE_MALFORMED;
		size_t plen = load16(pkt + 4);
		if (40 + plen > len)
			return TCP_PARSE_MALFORMED;
		/* Extension headers are not walked: TCP must follow the fixed header. */
		if (pkt[6] != IPPROTO_TCP)
			return TCP_PARSE_NOT_TCP;
		seg->family = AF_INET6;
		seg->src_ip = pkt + 8;
		seg->dst_ip = pkt + 24;
		tcp = pkt + 40;
		tcp_len = plen;
	} else {
		return TCP_PARSE_MALFORMED;
	}

	if (tcp_len < 20)
		return TCP_PARSE_MALFORMED;
	size_t doff = (size_t)(tcp[12] >> 4) * 4;
	if (doff < 20 || doff > tcp_len)
		return TCP_PARSE_MALFORMED;

	uint32_t pseudo = tcp_csum_pseudo(seg->family, seg->src_ip, seg->dst_ip, (uint32_t)tcp_len);
	if (tcp_csum_fold(tcp_csum_add(pseudo, tcp, tcp_len)) != 0xffff) {
		/*
		 * CHECKSUM_PARTIAL: the sender's stack left the folded
		 * pseudo-header sum for the NIC to finish, and veth never did.
		 */
		if (!allow_partial || load16(tcp + 16) != tcp_csum_fold(pseudo))
			return TCP_PARSE_BAD_CSUM;
	}

	memcpy(&seg->src_port, tcp, 2);
	memcpy(&seg->dst_port, tcp + 2, 2);
	seg->seq = load32(tcp + 4);
	seg->ack = load32(tcp + 8);
	seg->flags = tcp[13];
	seg->win = load16(tcp + 14);
	seg->payload = tcp + doff;
	seg->len = (uint32_t)(tcp_len - doff);
	return parse_options(tcp + 20, doff - 20, seg);
}

static size_t options_len(const struct tcp_out_opts *o)
{
	size_t n = 0;
	if (o->mss)
		n += 4;
	if (o->wscale >= 0)
		n += 4;
	if (o->sack_permitted)
		n += 4;
	if (o->ts)
		n += 12;
	if (o->nsack)
		n += 4 + 8 * (size_t)o->nsack;
	return n;
}

size_t tcp_header_len(int family, const struct tcp_out_opts *o)
{
	return (family == AF_INET ? 20 : 40) + 20 + options_len(o);
}

static uint8_t *write_options(uint8_t *p, const struct tcp_out_opts *o)
{
	if (o->mss) {
		p[0] = 2;
		p[1] = 4;
		store16(p + 2, o->mss);
		p += 4;
	}
	if (o->wscale >= 0) {
		p[0] = 1;
		p[1] = 3;
		p[2] = 3;
		p[3] = (uint8_t)o->wscale;
		p += 4;
	}
	if (o->sack_permitted) {
		p[0] = 1;
		p[1] = 1;
		p[2] = 4;
		p[3] = 2;
		p += 4;
	}
	if (o->ts) {
		p[0] = 1;
		p[1] = 1;
		p[2] = 8;
		p[3] = 10;
		store32(p + 4, o->tsval);
		store32(p + 8, o->tsecr);
		p += 12;
	}
	if (o->nsack) {
		p[0] = 1;
		p[1] = 1;
		p[2] = 5;
		p[3] = (uint8_t)(2 + 8 * o->nsack);
		p += 4;
		for (unsigned i = 0; i < o->nsack; i++) {
			store32(p, o->sack_start[i]);
			store32(p + 4, o->sack_end[i]);
			p += 8;
		}
	}
	return p;
}

size_t tcp_build(uint8_t *out, const struct tcp_flow *flow, uint32_t seq, uint32_t ack,
		 uint8_t flags, uint16_t win, const struct tcp_out_opts *o, uint32_t payload_len,
		 uint16_t ip_id)
{
	size_t ip_len = flow->family == AF_INET ? 20 : 40;
	size_t th_len = 20 + options_len(o);
	size_t tcp_len = th_len + payload_len;
	uint8_t *ip = out, *th = out + ip_len;

	if (flow->family == AF_INET) {
		ip[0] = 0x45;
		ip[1] = 0;
		store16(ip + 2, (uint16_t)(ip_len + tcp_len));
		store16(ip + 4, ip_id);
		store16(ip + 6, 0x4000); /* DF: the MSS keeps segments under the path MTU */
		ip[8] = 64;
		ip[9] = IPPROTO_TCP;
		store16(ip + 10, 0);
		memcpy(ip + 12, flow->local_ip, 4);
		memcpy(ip + 16, flow->remote_ip, 4);
		store16(ip + 10, (uint16_t)~tcp_csum_fold(tcp_csum_add(0, ip, 20)));
	} else {
		store32(ip, 6u << 28);
		store16(ip + 4, (uint16_t)tcp_len);
		ip[6] = IPPROTO_TCP;
		ip[7] = 64;
		memcpy(ip + 8, flow->local_ip, 16);
		memcpy(ip + 24, flow->remote_ip, 16);
	}

	memcpy(th, &flow->local_port, 2);
	memcpy(th + 2, &flow->remote_port, 2);
	store32(th + 4, seq);
	store32(th + 8, ack);
	th[12] = (uint8_t)((th_len / 4) << 4);
	th[13] = flags;
	store16(th + 14, win);
	store16(th + 16, 0);
	store16(th + 18, 0);
	write_options(th + 20, o);

	uint32_t sum =
	    tcp_csum_pseudo(flow->family, flow->local_ip, flow->remote_ip, (uint32_t)tcp_len);
	store16(th + 16, (uint16_t)~tcp_csum_fold(tcp_csum_add(sum, th, tcp_len)));
	return ip_len + tcp_len;
}
