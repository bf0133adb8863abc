// SPDX-License-Identifier: MIT
/*
 * The incremental DERP frame reader (derp_frame_reader_*) and the per-type
 * client frame rules (derp_frame_check_client).
 *
 * Input: one control byte, then the byte stream. The control byte picks the
 * reader's buffer size, max_payload and whether the peer may mesh; the
 * stream is fed in chunks whose sizes come from a PRNG seeded by the input,
 * following the loop documented in derp_frame.h (skip what TOO_LARGE frames
 * the rules allow to skip, close on the others).
 *
 * Oracle: a straight-line parse of the whole stream must yield the very same
 * frames (type, length, payload bytes) and close at the same frame, however
 * the stream was cut: chunking must never change what a connection sees.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "fuzz_common.h"

static const size_t caps[] = {
	DERP_FRAME_HDR_LEN,
	DERP_FRAME_HDR_LEN + 1,
	64,
	DERP_FRAME_HDR_LEN + KEY_LEN + 64,
	4096,
	DERP_FRAME_HDR_LEN + 2 * KEY_LEN + DERP_MAX_PACKET_SIZE, /* the server's */
	DERP_CLIENT_MAX_FRAME,
	100,
};

static const uint32_t max_payloads[] = {
	2 * KEY_LEN + DERP_MAX_PACKET_SIZE,
	0,
	KEY_LEN,
	UINT32_MAX,
};

/* Where the straight-line parse is in the stream. */
struct model {
	const uint8_t *s;
	size_t n;
	size_t pos;
	size_t cap;
	uint32_t max_payload;
	bool can_mesh;
	bool closed;
};

enum model_event {
	EV_FRAME,
	EV_CLOSE,
	EV_END, /* no complete frame left in the stream */
};

/* The next thing the reader loop must report, skipping allowed oversize frames. */
static enum model_event model_next(struct model *m, uint8_t *type, size_t *off, uint32_t *len)
{
	while (!m->closed && m->n - m->pos >= DERP_FRAME_HDR_LEN) {
		uint32_t plen;
		size_t fits = m->cap - DERP_FRAME_HDR_LEN;

		derp_frame_header_get(m->s + m->pos, type, &plen);
		*len = plen;
		if (plen > m->max_payload || plen > fits) {
			if (derp_frame_check_client(*type, plen, m->can_mesh) != DERP_FRAME_SKIP) {
				m->closed = true;
				return EV_CLOSE;
			}
			m->pos += DERP_FRAME_HDR_LEN + (size_t)plen;
			if (m->pos > m->n)
				m->pos = m->n;
			continue;
		}
		if (m->n - m->pos - DERP_FRAME_HDR_LEN < plen)
			break;
		*off = m->pos + DERP_FRAME_HDR_LEN;
		m->pos += DERP_FRAME_HDR_LEN + (size_t)plen;
		return EV_FRAME;
	}
	return EV_END;
}

/* Touches the payload as a handler would, so ASan checks every byte is readable. */
static void consume(uint8_t type, const uint8_t *payload, uint32_t len, bool can_mesh)
{
	enum derp_frame_verdict v = derp_frame_check_client(type, len, can_mesh);

	FUZZ_CHECK(derp_frame_verdict_name(v) != NULL);
	FUZZ_CHECK(derp_frame_type_name(type) != NULL);
	if (type == DERP_FRAME_SEND_PACKET && len >= KEY_LEN)
		(void)derp_packet_is_disco(payload + KEY_LEN, len - KEY_LEN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct derp_frame_reader r;
	struct fuzz_rng rng;
	struct model m;
	uint8_t *buf, *stream;
	size_t n, pos = 0;
	bool closed = false;

	if (size < 1)
		return 0;
	m.cap = caps[data[0] & 7];
	m.max_payload = max_payloads[(data[0] >> 3) & 3];
	m.can_mesh = data[0] & 0x20;
	m.closed = false;
	m.pos = 0;
	n = size - 1;
	stream = fuzz_dup(data + 1, n);
	m.s = stream;
	m.n = n;
	fuzz_rng_seed(&rng, data, size);

	buf = malloc(m.cap);
	if (!buf)
		abort();
	derp_frame_reader_init(&r, buf, m.cap);

	while (pos < n && !closed) {
		size_t chunk = fuzz_chunk_len(&rng, n - pos);
		const uint8_t *p = stream + pos;
		size_t left = chunk;

		pos += chunk;
		while (left > 0 && !closed) {
			size_t taken = derp_frame_reader_append(&r, p, left);
			enum derp_read_status st;
			uint8_t type;
			const uint8_t *payload;
			uint32_t plen;

			FUZZ_CHECK(taken <= left);
			FUZZ_CHECK(r.start <= r.len && r.len <= r.cap);
			p += taken;
			left -= taken;
			for (;;) {
				st = derp_frame_reader_next(&r, m.max_payload, &type, &payload,
							    &plen);
				if (st == DERP_READ_FRAME) {
					uint8_t mtype;
					size_t moff = 0;
					uint32_t mlen = 0;

					FUZZ_CHECK(model_next(&m, &mtype, &moff, &mlen) ==
						   EV_FRAME);
					FUZZ_CHECK(type == mtype && plen == mlen);
					FUZZ_CHECK(plen <= m.max_payload);
					FUZZ_CHECK(payload >= buf && payload + plen <= buf + m.cap);
					FUZZ_CHECK(memcmp(payload, stream + moff, plen) == 0);
					consume(type, payload, plen, m.can_mesh);
					continue;
				}
				if (st == DERP_READ_TOO_LARGE) {
					FUZZ_CHECK(payload == NULL);
					FUZZ_CHECK(plen > m.max_payload ||
						   plen > m.cap - DERP_FRAME_HDR_LEN);
					if (derp_frame_check_client(type, plen, m.can_mesh) !=
					    DERP_FRAME_SKIP) {
						uint8_t mtype;
						size_t moff;
						uint32_t mlen;

						FUZZ_CHECK(model_next(&m, &mtype, &moff, &mlen) ==
							   EV_CLOSE);
						FUZZ_CHECK(type == mtype && plen == mlen);
						closed = true;
						break;
					}
					FUZZ_CHECK(derp_frame_reader_skip_frame(&r));
					continue;
				}
				FUZZ_CHECK(st == DERP_READ_NEED_MORE);
				break;
			}
			/*
			 * After NEED_MORE the reader must take more bytes: a reader
			 * that is full and still wants more has wedged the stream.
			 */
			if (!closed && left > 0 && taken == 0)
				FUZZ_CHECK(r.len < r.cap || r.skip > 0);
		}
	}

	/* Everything fed: the reader must have delivered every whole frame. */
	if (!closed) {
		uint8_t mtype;
		size_t moff;
		uint32_t mlen;

		FUZZ_CHECK(model_next(&m, &mtype, &moff, &mlen) == EV_END);
	}
	free(buf);
	free(stream);
	return 0;
}
