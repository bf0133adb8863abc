// SPDX-License-Identifier: MIT
#include "peer_view.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int peer_key_parse(const char *text, uint8_t key[KEY_LEN], char *err, size_t errlen)
{
	const char *hex = text;
	if (strncmp(text, "nodekey:", 8) == 0)
		hex = text + 8;
	if (strlen(hex) != KEY_HEX_LEN || key_from_hex(hex, KEY_HEX_LEN, NULL, key) < 0) {
		snprintf(err, errlen, "\"%s\" is not a peer key (nodekey:<64 hex digits>)", text);
		return -1;
	}
	return 0;
}

void peer_addr_format(const uint8_t ip[16], uint16_t port, char out[64])
{
	static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char text[INET6_ADDRSTRLEN];

	if (memcmp(ip, v4_mapped, sizeof(v4_mapped)) == 0) {
		inet_ntop(AF_INET, ip + 12, text, sizeof(text));
		snprintf(out, 64, "%s:%u", text, port);
	} else {
		inet_ntop(AF_INET6, ip, text, sizeof(text));
		snprintf(out, 64, "[%s]:%u", text, port);
	}
}

static int by_key_then_seq(const void *a, const void *b)
{
	const struct peer_info *x = a, *y = b;
	int c = memcmp(x->key, y->key, KEY_LEN);
	if (c)
		return c;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int peer_list_sorted(struct relay *r, struct peer_info **out)
{
	int n = relay_list_peers(r, out, PEER_LIST_TIMEOUT_MS);
	if (n > 1)
		qsort(*out, (size_t)n, sizeof(**out), by_key_then_seq);
	return n;
}

void peer_write_json(struct json_writer *w, const char *name, const struct peer_info *p)
{
	char key[8 + KEY_HEX_LEN + 1];
	char addr[64];

	key_to_nodekey(p->key, key);
	peer_addr_format(p->ip, p->port, addr);
	jw_object_begin(w, name);
	jw_string(w, "key", key);
	jw_u64(w, "worker", p->worker);
	jw_string(w, "addr", addr);
	jw_u64(w, "conn_seq", p->seq);
	jw_bool(w, "preferred", p->preferred);
	jw_bool(w, "active", p->active);
	jw_bool(w, "mesh", p->can_mesh);
	jw_bool(w, "watcher", p->is_watcher);
	jw_u64(w, "queued", p->queued);
	jw_u64(w, "rx_packets", p->rx_packets);
	jw_u64(w, "rx_bytes", p->rx_bytes);
	jw_u64(w, "tx_packets", p->tx_packets);
	jw_u64(w, "tx_bytes", p->tx_bytes);
	jw_end(w);
}
