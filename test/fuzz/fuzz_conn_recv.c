// SPDX-License-Identifier: MIT
/*
 * The dataplane's stream reassembly (src/dataplane/conn_recv.c), linked
 * alone: the worker and the session are replaced by stubs that record what
 * conn_recv_bytes hands them.
 *
 * Input: one control byte (can_mesh, whether the session handler fails on a
 * marked Ping, as a real handler does when it closes the connection, and
 * whether the connection speaks HD, with its 4-byte headers and rules),
 * then the byte stream, fed in chunks whose sizes come from a PRNG seeded by
 * the input, as multishot recv would deliver it.
 *
 * Oracle: a straight-line parse of the whole stream (check each header with
 * derp_frame_check_client: close on a bad one, skip what is skipped, deliver
 * the rest) must give the same frames, byte for byte, and close at the same
 * place, whatever the chunking. The assembly buffer must never grow past the
 * largest legal frame.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "derp_frame.h"
#include "fuzz_common.h"
#include "hd_frame.h"
#include "worker.h"

/* Largest frame a client may send (ForwardPacket: two keys and a packet). */
#define MAX_WHOLE (DERP_FRAME_HDR_LEN + 2 * KEY_LEN + DERP_MAX_PACKET_SIZE)
/* A Ping whose first payload byte is this makes the stub handler fail. */
#define FAIL_MARK 0xcc

struct model {
	const uint8_t *s;
	size_t n;
	size_t pos;
	bool can_mesh;
	bool is_hd;
	bool fail_on_mark;
};

static struct {
	struct model *m;
	bool fail_on_mark;
	bool handler_failed;
	unsigned frames;
	unsigned closes;
} stub;

enum model_event {
	EV_FRAME,
	EV_CLOSE,
	EV_END,
};

/* A header's verdict under the connection's protocol, as DERP's verdicts. */
static enum derp_frame_verdict model_check(const struct model *m, const uint8_t *hdr,
					   uint8_t *type, uint32_t *len)
{
	if (!m->is_hd) {
		derp_frame_header_get(hdr, type, len);
		return derp_frame_check_client(*type, *len, m->can_mesh);
	}
	if (hd_frame_header_parse(hdr, type, len) < 0)
		return DERP_FRAME_BAD_LENGTH;
	switch (hd_frame_check_client(*type, *len)) {
	case HD_FRAME_OK:
		return DERP_FRAME_OK;
	case HD_FRAME_SKIP:
		return DERP_FRAME_SKIP;
	default:
		return DERP_FRAME_BAD_LENGTH;
	}
}

static enum model_event model_next(struct model *m, uint8_t *type, size_t *off, uint32_t *len)
{
	const size_t hlen = m->is_hd ? HD_FRAME_HDR_LEN : DERP_FRAME_HDR_LEN;

	while (m->n - m->pos >= hlen) {
		uint32_t plen;
		enum derp_frame_verdict v = model_check(m, m->s + m->pos, type, &plen);

		*len = plen;
		if (v == DERP_FRAME_SKIP) {
			m->pos += hlen + (size_t)plen;
			if (m->pos > m->n)
				m->pos = m->n;
			continue;
		}
		if (v != DERP_FRAME_OK) {
			m->pos = m->n;
			return EV_CLOSE;
		}
		if (m->n - m->pos - hlen < plen)
			break;
		*off = m->pos + hlen;
		m->pos += hlen + (size_t)plen;
		return EV_FRAME;
	}
	return EV_END;
}

/* ---- stubs for the rest of the worker ---- */

void worker_conn_close(struct worker *w, struct conn *c, enum close_reason why)
{
	(void)w;
	(void)why;
	FUZZ_CHECK(!c->closing); /* closed twice */
	c->closing = true;
	stub.closes++;
}

int session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			 uint32_t len)
{
	uint8_t mtype;
	size_t moff = 0;
	uint32_t mlen = 0;

	FUZZ_CHECK(!c->closing && !c->is_hd);
	FUZZ_CHECK(model_next(stub.m, &mtype, &moff, &mlen) == EV_FRAME);
	FUZZ_CHECK(type == mtype && len == mlen);
	FUZZ_CHECK(derp_frame_check_client(type, len, c->can_mesh) == DERP_FRAME_OK);
	FUZZ_CHECK(memcmp(payload, stub.m->s + moff, len) == 0);
	stub.frames++;
	if (stub.fail_on_mark && type == DERP_FRAME_PING && payload[0] == FAIL_MARK) {
		worker_conn_close(w, c, CLOSE_BAD_FRAME);
		stub.handler_failed = true;
		stub.m->pos = stub.m->n; /* nothing after this frame is seen */
		return -1;
	}
	return 0;
}

int hd_session_handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			    uint32_t len)
{
	uint8_t mtype;
	size_t moff = 0;
	uint32_t mlen = 0;

	FUZZ_CHECK(!c->closing && c->is_hd);
	FUZZ_CHECK(model_next(stub.m, &mtype, &moff, &mlen) == EV_FRAME);
	FUZZ_CHECK(type == mtype && len == mlen);
	FUZZ_CHECK(hd_frame_check_client(type, len) == HD_FRAME_OK);
	FUZZ_CHECK(memcmp(payload, stub.m->s + moff, len) == 0);
	stub.frames++;
	if (stub.fail_on_mark && type == HD_FRAME_PING && payload[0] == FAIL_MARK) {
		worker_conn_close(w, c, CLOSE_BAD_FRAME);
		stub.handler_failed = true;
		stub.m->pos = stub.m->n;
		return -1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct worker w;
	struct conn c;
	struct model m;
	struct fuzz_rng rng;
	uint8_t *stream;
	size_t n, pos = 0;
	bool failed = false;

	if (size < 1)
		return 0;
	memset(&w, 0, sizeof(w));
	memset(&c, 0, sizeof(c));
	/* Room for any frame: the assembly budget's eviction is itest_recv_budget's. */
	pktbuf_pool_init(&w.asm_pool, 0, PKTBUF_POOL_ASSEMBLY, 16 << 20);
	c.can_mesh = data[0] & 1;
	c.is_hd = data[0] & 4;
	n = size - 1;
	stream = fuzz_dup(data + 1, n);
	m = (struct model){ .s = stream, .n = n, .can_mesh = c.can_mesh, .is_hd = c.is_hd };
	memset(&stub, 0, sizeof(stub));
	stub.m = &m;
	stub.fail_on_mark = data[0] & 2;
	fuzz_rng_seed(&rng, data, size);

	while (pos < n) {
		size_t chunk = fuzz_chunk_len(&rng, n - pos);
		/* Each read in its own exact-size buffer, as a recv buffer would be. */
		uint8_t *p = fuzz_dup(stream + pos, chunk);
		int rc;

		pos += chunk;
		rc = conn_recv_bytes(&w, &c, p, chunk);
		free(p);
		FUZZ_CHECK(rc == 0 || rc == -1);
		FUZZ_CHECK((rc < 0) == c.closing);
		/* The frame being assembled fits its assembly buffer, and no frame is larger. */
		uint32_t cap = c.partial_buf ? c.partial_buf->cap : 0;
		FUZZ_CHECK(cap <= PKTBUF_LARGE_CAP);
		FUZZ_CHECK(c.partial_len <= cap);
		FUZZ_CHECK(c.partial_need <= cap && c.partial_need <= MAX_WHOLE);
		FUZZ_CHECK((c.partial_buf != NULL) == c.asm_listed);
		if (rc < 0) {
			failed = true;
			break;
		}
	}

	uint8_t mtype;
	size_t moff;
	uint32_t mlen;
	enum model_event ev = model_next(&m, &mtype, &moff, &mlen);

	if (failed) {
		/* Closed by the handler, or by a bad header where the model closes too. */
		FUZZ_CHECK(stub.closes == 1);
		FUZZ_CHECK(ev == (stub.handler_failed ? EV_END : EV_CLOSE));
	} else {
		FUZZ_CHECK(stub.closes == 0);
		FUZZ_CHECK(ev == EV_END);
	}
	frame_assembly_release(&w, &c);
	FUZZ_CHECK(w.asm_oldest == NULL && w.asm_newest == NULL);
	pktbuf_pool_destroy(&w.asm_pool);
	free(stream);
	return 0;
}
