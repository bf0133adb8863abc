// SPDX-License-Identifier: MIT
/*
 * Received bytes to DERP (or HD) frames. Frames are handled straight out of the
 * receive buffer when whole; only a frame split across reads is copied into
 * an assembly buffer (frame_assembly.c: budgeted, with a deadline). Each
 * header is checked against the per-type limits before any of its payload
 * is buffered, so a peer cannot make the relay hold more than one legal
 * frame.
 */
#include <string.h>

#include "derp_frame.h"
#include "hd_frame.h"
#include "log.h"
#include "tls.h"
#include "worker.h"

/* DERP's header is 5 bytes (type, 32-bit length), HD's 4 (type, 24-bit length). */
static uint32_t hdr_len(const struct conn *c)
{
	return c->is_hd ? HD_FRAME_HDR_LEN : DERP_FRAME_HDR_LEN;
}

static int handle_frame(struct worker *w, struct conn *c, uint8_t type, const uint8_t *payload,
			uint32_t len)
{
	if (c->is_hd)
		return hd_session_handle_frame(w, c, type, payload, len);
	return session_handle_frame(w, c, type, payload, len);
}

/* Returns DERP_FRAME_OK or DERP_FRAME_SKIP, or -1 after closing the connection. */
static int check_header(struct worker *w, struct conn *c, const uint8_t *hdr, uint8_t *type,
			uint32_t *len)
{
	char short_key[8];
	if (c->is_hd) {
		enum hd_frame_verdict v = hd_frame_header_parse(hdr, type, len) < 0
						  ? HD_FRAME_MALFORMED
						  : hd_frame_check_client(*type, *len);
		if (v == HD_FRAME_OK)
			return DERP_FRAME_OK;
		if (v == HD_FRAME_SKIP)
			return DERP_FRAME_SKIP;
		key_to_short(c->key, short_key);
		log_debug("conn %s: closing: HD frame %s (0x%02x) of %u bytes not allowed from a "
			  "client",
			  short_key, hd_frame_type_name(*type), *type, *len);
		worker_conn_close(w, c, CLOSE_BAD_FRAME);
		return -1;
	}
	derp_frame_header_get(hdr, type, len);
	enum derp_frame_verdict v = derp_frame_check_client(*type, *len, c->can_mesh);
	if (v == DERP_FRAME_OK || v == DERP_FRAME_SKIP)
		return v;
	key_to_short(c->key, short_key);
	log_debug("conn %s: closing: frame %s (0x%02x) of %u bytes: %s", short_key,
		  derp_frame_type_name(*type), *type, *len, derp_frame_verdict_name(v));
	worker_conn_close(w, c, CLOSE_BAD_FRAME);
	return -1;
}

/*
 * No assembly buffer for a frame even after dropping the ones that waited
 * longer (frame_assembly.c): this one goes instead, the rest of its bytes
 * read and discarded.
 */
static void drop_frame(struct worker *w, struct conn *c, uint32_t left)
{
	stat_add(&w->stats.frames_assembly_dropped, 1);
	c->skip_left = left;
}

/* Continues a frame split across reads. Returns bytes consumed, or -1 if the conn closed. */
static long continue_partial(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	size_t used = 0;
	if (c->partial_need == 0) {
		/* Still collecting the header. */
		size_t k = hdr_len(c) - c->partial_len;
		if (k > n)
			k = n;
		memcpy(c->partial + c->partial_len, p, k);
		c->partial_len += (uint32_t)k;
		used = k;
		if (c->partial_len < hdr_len(c))
			return (long)used;
		uint8_t type;
		uint32_t len;
		int v = check_header(w, c, c->partial, &type, &len);
		if (v < 0)
			return -1;
		if (v == DERP_FRAME_SKIP) {
			c->skip_left = len;
			frame_assembly_done(w, c);
			return (long)used;
		}
		if (frame_assembly_grow(w, c, hdr_len(c) + len) < 0) {
			frame_assembly_done(w, c);
			drop_frame(w, c, len);
			return (long)used;
		}
		c->partial_need = hdr_len(c) + len;
	}
	size_t k = c->partial_need - c->partial_len;
	if (k > n - used)
		k = n - used;
	memcpy(c->partial + c->partial_len, p + used, k);
	c->partial_len += (uint32_t)k;
	used += k;
	if (c->partial_len < c->partial_need)
		return (long)used;
	uint8_t type = c->partial[0];
	uint32_t len = c->partial_need - hdr_len(c);
	int rc = handle_frame(w, c, type, c->partial + hdr_len(c), len);
	if (rc < 0)
		return -1; /* closing: the buffer goes when the connection is finalized */
	frame_assembly_done(w, c);
	return (long)used;
}

/* Keeps the start of a frame that the read cut short (whole: its length, 0 if unknown yet). */
static int start_partial(struct worker *w, struct conn *c, const uint8_t *p, size_t n,
			 uint32_t whole)
{
	uint32_t cap = whole ? whole : hdr_len(c);
	if (frame_assembly_start(w, c, cap, p, (uint32_t)n) == 0) {
		c->partial_need = whole;
		return 0;
	}
	if (!whole) {
		/* Not even a header: without its length the frame's end cannot be found. */
		worker_conn_close(w, c, CLOSE_NO_MEMORY);
		return -1;
	}
	drop_frame(w, c, whole - (uint32_t)n);
	return 0;
}

int conn_recv_bytes(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0 && !c->closing) {
		if (c->skip_left) {
			size_t k = c->skip_left < n ? (size_t)c->skip_left : n;
			c->skip_left -= k;
			p += k;
			n -= k;
			continue;
		}
		if (c->partial_len) {
			long used = continue_partial(w, c, p, n);
			if (used < 0)
				return -1;
			p += used;
			n -= (size_t)used;
			continue;
		}
		const uint32_t hlen = hdr_len(c);
		if (n < hlen)
			return start_partial(w, c, p, n, 0);
		uint8_t type;
		uint32_t len;
		int v = check_header(w, c, p, &type, &len);
		if (v < 0)
			return -1;
		if (v == DERP_FRAME_SKIP) {
			c->skip_left = len;
			p += hlen;
			n -= hlen;
			continue;
		}
		size_t whole = hlen + (size_t)len;
		if (n < whole)
			return start_partial(w, c, p, n, (uint32_t)whole);
		if (handle_frame(w, c, type, p + hlen, len) < 0)
			return -1;
		p += whole;
		n -= whole;
	}
	return c->closing ? -1 : 0;
}

int conn_recv_tls(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	if (tls_feed(c->ssl, p, n) < 0) {
		worker_conn_close(w, c, CLOSE_NO_MEMORY);
		return -1;
	}
	while (!c->closing) {
		size_t got = 0;
		enum tls_status st = tls_read(c->ssl, w->tls_plain, TLS_PLAIN_CHUNK, &got);
		if (st == TLS_WANT_MORE)
			break;
		if (st == TLS_CLOSED) {
			worker_conn_close(w, c, CLOSE_EOF);
			return -1;
		}
		if (st == TLS_ERROR) {
			char why[160];
			log_debug("conn %u: TLS error: %s", c->id,
				  tls_last_error(why, sizeof(why)));
			worker_conn_close(w, c, CLOSE_READ_ERROR);
			return -1;
		}
		int rc = c->ws ? conn_recv_ws(w, c, w->tls_plain, got)
			       : conn_recv_bytes(w, c, w->tls_plain, got);
		if (rc < 0)
			return -1;
	}
	/* Reading can make TLS want to write (alerts, key updates): send it along. */
	if (!c->closing && tls_pending_out(c->ssl))
		sendq_kick(w, c);
	return c->closing ? -1 : 0;
}
