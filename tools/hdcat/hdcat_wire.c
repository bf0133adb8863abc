// SPDX-License-Identifier: MIT
/*
 * hdcat's messages inside HD packets: a type byte and a 32-bit sequence
 * number, then the data (docs/hdcat.md, "Wire format").
 */
#include "hdcat.h"

void hdcat_msg_header(uint8_t *out, enum hdcat_msg_type type, uint32_t seq)
{
	out[0] = (uint8_t)type;
	out[1] = (uint8_t)(seq >> 24);
	out[2] = (uint8_t)(seq >> 16);
	out[3] = (uint8_t)(seq >> 8);
	out[4] = (uint8_t)seq;
}

int hdcat_msg_parse(const uint8_t *p, size_t len, struct hdcat_msg *m)
{
	if (len < HDCAT_MSG_HDR_LEN || p[0] < HDCAT_MSG_HELLO || p[0] > HDCAT_MSG_NACK)
		return -1;
	m->type = (enum hdcat_msg_type)p[0];
	m->seq = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
	m->data = p + HDCAT_MSG_HDR_LEN;
	m->len = len - HDCAT_MSG_HDR_LEN;
	/* Only data and an abort's text carry bytes; anything else is not ours. */
	if (m->len > 0 && m->type != HDCAT_MSG_DATA && m->type != HDCAT_MSG_ABORT)
		return -1;
	return 0;
}
