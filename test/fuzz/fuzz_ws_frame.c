// SPDX-License-Identifier: MIT
/*
 * The WebSocket frame decoder (ws_decode).
 *
 * Input: one control byte, then the byte stream a client sends (or, with the
 * control byte's bit 3, a server: the client side's decoder). The control
 * byte also picks the output buffer size the decoder is given. The stream is
 * decoded twice: once whole with a large output buffer (the reference), once
 * fed in chunks of PRNG-chosen sizes with the small buffer, every chunk in its
 * own exact-size heap copy, decoded in place.
 *
 * Oracle: both runs report the same events in the same order, with the same
 * control payloads, the same error, and the same payload bytes in between:
 * how a stream is cut and how small the output buffer is must never change
 * what a connection sees. Every call consumes at most what it was given, and
 * consumes all of it unless it reports an event.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "ws_frame.h"

#define MAX_EVENTS 4096

static const size_t out_caps[] = { 1, 2, 3, 7, 64, 125, 4096, 65536 };

struct trace {
	uint8_t ev[MAX_EVENTS];
	uint8_t ctrl[MAX_EVENTS][WS_CONTROL_MAX];
	uint8_t ctrl_len[MAX_EVENTS];
	size_t nev;
	uint8_t *data; /* the payload stream */
	size_t data_len;
	size_t data_at[MAX_EVENTS]; /* data_len when each event came */
	const char *error;
};

static void record(struct trace *t, const struct ws_decoder *d, enum ws_event ev)
{
	if (t->nev == MAX_EVENTS)
		return;
	t->ev[t->nev] = (uint8_t)ev;
	t->ctrl_len[t->nev] = d->control_len;
	FUZZ_CHECK(d->control_len <= WS_CONTROL_MAX);
	if (ev == WS_EV_PING || ev == WS_EV_PONG || ev == WS_EV_CLOSE)
		memcpy(t->ctrl[t->nev], d->control, d->control_len);
	t->data_at[t->nev] = t->data_len;
	t->nev++;
}

/* Feeds in[0..n) until it is all taken; returns false once an error was reported. */
static bool feed(struct ws_decoder *d, struct trace *t, uint8_t *in, size_t n, size_t out_cap,
		 bool in_place, uint8_t *scratch)
{
	size_t pos = 0;
	while (pos < n) {
		size_t used, got;
		uint8_t *out = in_place ? in + pos : scratch;
		enum ws_event ev = ws_decode(d, in + pos, n - pos, &used, out, out_cap, &got);
		FUZZ_CHECK(used <= n - pos);
		FUZZ_CHECK(got <= out_cap);
		FUZZ_CHECK((ev == WS_EV_DATA) == (got > 0));
		memcpy(t->data + t->data_len, out, got);
		t->data_len += got;
		pos += used;
		if (ev == WS_EV_MORE) {
			FUZZ_CHECK(pos == n);
			break;
		}
		if (ev == WS_EV_DATA)
			continue;
		record(t, d, ev);
		if (ev == WS_EV_ERROR) {
			FUZZ_CHECK(d->error != NULL);
			FUZZ_CHECK(d->close_code == WS_CLOSE_PROTOCOL_ERROR ||
				   d->close_code == WS_CLOSE_UNSUPPORTED);
			t->error = d->error;
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct trace ref, cut;
	struct ws_decoder d;
	struct fuzz_rng rng;

	if (size < 1)
		return 0;
	size_t out_cap = out_caps[data[0] & 7];
	size_t n = size - 1;
	uint8_t *stream = fuzz_dup(data + 1, n);
	uint8_t *scratch = malloc(65536);
	memset(&ref, 0, sizeof(ref));
	memset(&cut, 0, sizeof(cut));
	ref.data = malloc(n + 1);
	cut.data = malloc(n + 1);
	if (!scratch || !ref.data || !cut.data)
		abort();

	bool client = data[0] & 8;
	if (client)
		ws_decoder_init_client(&d);
	else
		ws_decoder_init(&d);
	feed(&d, &ref, stream, n, 65536, false, scratch);

	if (client)
		ws_decoder_init_client(&d);
	else
		ws_decoder_init(&d);
	fuzz_rng_seed(&rng, data, size);
	size_t pos = 0;
	while (pos < n) {
		size_t chunk = fuzz_chunk_len(&rng, n - pos);
		uint8_t *c = fuzz_dup(data + 1 + pos, chunk);
		bool ok = feed(&d, &cut, c, chunk, out_cap, true, scratch);
		free(c);
		pos += chunk;
		if (!ok)
			break;
	}

	FUZZ_CHECK(ref.nev == cut.nev);
	FUZZ_CHECK(ref.data_len == cut.data_len);
	FUZZ_CHECK(memcmp(ref.data, cut.data, ref.data_len) == 0);
	FUZZ_CHECK(ref.error == cut.error);
	for (size_t i = 0; i < ref.nev; i++) {
		FUZZ_CHECK(ref.ev[i] == cut.ev[i]);
		FUZZ_CHECK(ref.data_at[i] == cut.data_at[i]);
		FUZZ_CHECK(ref.ctrl_len[i] == cut.ctrl_len[i]);
		FUZZ_CHECK(memcmp(ref.ctrl[i], cut.ctrl[i], ref.ctrl_len[i]) == 0);
	}
	/* Payload is never more than the stream, and the server encoders take any length. */
	FUZZ_CHECK(ref.data_len <= n);
	uint8_t hdr[WS_SERVER_HDR_MAX];
	FUZZ_CHECK(ws_server_header(hdr, WS_OP_BINARY, n) <= WS_SERVER_HDR_MAX);

	free(stream);
	free(scratch);
	free(ref.data);
	free(cut.data);
	return 0;
}
