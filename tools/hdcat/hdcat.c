// SPDX-License-Identifier: MIT
/*
 * hdcat: netcat over HD (docs/hdcat.md). Loads or makes the key, connects to
 * the relay, finds the peer, and runs one session.
 */
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "hdcat.h"
#include "key.h"

/* The peer id of a key, asked of the relay. Returns it, or 0 with a message printed. */
static uint16_t lookup(struct hd_client *c, const uint8_t key[HD_CLIENT_KEY_LEN], int wait_ms)
{
	char nodekey[8 + KEY_HEX_LEN + 1];
	struct hd_event ev;

	key_to_nodekey(key, nodekey);
	if (hd_client_lookup(c, key) < 0) {
		fprintf(stderr, "hdcat: lookup: %s\n", hd_client_error(c));
		return 0;
	}
	for (;;) {
		int r = hd_client_next(c, &ev, wait_ms);
		if (r <= 0 || ev.type == HD_EVENT_CLOSED) {
			fprintf(stderr, "hdcat: no answer to the lookup of %s: %s\n", nodekey,
				r == 0	? "timed out"
				: r < 0 ? hd_client_error(c)
					: ev.text);
			return 0;
		}
		if (ev.type == HD_EVENT_PEER_GONE && ev.reason == 1)
			break; /* "not here", if a relay answers a Lookup that way */
		if (ev.type == HD_EVENT_PEER_INFO && memcmp(ev.key, key, HD_CLIENT_KEY_LEN) == 0) {
			if (ev.peer_id != 0)
				return ev.peer_id;
			break;
		}
	}
	fprintf(stderr, "hdcat: peer %s is not here (not connected to this relay)\n", nodekey);
	return 0;
}

int main(int argc, char **argv)
{
	struct hdcat_opts o;
	uint8_t priv[KEY_LEN], pub[KEY_LEN];
	char err[512], nodekey[8 + KEY_HEX_LEN + 1];
	bool created;
	int r = hdcat_args_parse(argc, argv, &o);

	if (r != 0) {
		hdcat_opts_free(&o);
		return r > 0 ? HDCAT_OK : HDCAT_EXIT_USAGE;
	}
	if (key_file_load_or_create(o.key_file, priv, pub, &created, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdcat: %s\n", err);
		hdcat_opts_free(&o);
		return HDCAT_EXIT_USAGE;
	}
	key_to_nodekey(pub, nodekey);
	if (created)
		fprintf(stderr, "hdcat: made a new key in %s: %s\n", o.key_file, nodekey);
	if (o.print_nodekey) {
		printf("%s\n", nodekey);
		hdcat_opts_free(&o);
		return HDCAT_OK;
	}
	/* A local reader or the relay going away shows up as an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);

	struct hd_client_config cfg = {
		.host = o.relay_host,
		.port = o.relay_port,
		.tls = o.tls,
		.ca_file = o.ca_file,
		.token = o.token,
		.timeout_ms = o.wait_ms,
	};
	memcpy(cfg.private_key, priv, KEY_LEN);
	struct hd_client *c;
	if (hd_client_connect(&cfg, &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "hdcat: relay %s:%u: %s\n", o.relay_host, o.relay_port, err);
		hdcat_opts_free(&o);
		return HDCAT_EXIT_RELAY;
	}
	uint16_t peer = o.to_id;
	if (o.to_key_set && (peer = lookup(c, o.to_key, o.wait_ms)) == 0) {
		hd_client_close(c);
		hdcat_opts_free(&o);
		return HDCAT_EXIT_PEER;
	}
	if (o.listen) {
		/* Tests and scripts wait for this line before they start the other side. */
		fprintf(stderr, "hdcat: listening as peer id %u (%s)\n", hd_client_peer_id(c),
			nodekey);
	}
	r = hdcat_session_run(&o, c, peer);
	hd_client_close(c);
	hdcat_opts_free(&o);
	sodium_memzero(priv, sizeof(priv));
	return r;
}
