/* SPDX-License-Identifier: MIT */
/*
 * libhd: a client of hyper-derp's HD relay protocol (docs/hd-protocol.md).
 *
 *   struct hd_client_config cfg = { .host = "relay.example.com", .port = 443,
 *                                   .tls = true, .token = "hdt1_..." };
 *   memcpy(cfg.private_key, my_key, 32);
 *   struct hd_client *c;
 *   if (hd_client_connect(&cfg, &c, err, sizeof(err)) < 0) ...
 *   hd_client_send(c, peer_id, data, len);
 *   struct hd_event ev;
 *   while (hd_client_next(c, &ev, 1000) > 0) ...   (or poll hd_client_fd)
 *   hd_client_close(c);
 *
 * A client is used by one thread at a time. Events point into the client's
 * buffer and are valid until the next call on it. Every function returns -1
 * on failure; hd_client_error says why.
 */
#ifndef LIBHD_HD_H
#define LIBHD_HD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HD_CLIENT_KEY_LEN    32
#define HD_CLIENT_MAX_PACKET 65536

struct hd_client;

struct hd_client_config {
	const char *host; /* a name or an address literal */
	uint16_t port;
	bool tls;
	const char *ca_file;	 /* TLS: trust these CAs; NULL = the system's */
	const char *server_name; /* TLS: the name to verify (and SNI); NULL = host */
	bool insecure;		 /* TLS: skip certificate verification (tests only) */
	uint8_t private_key[HD_CLIENT_KEY_LEN]; /* the client's Curve25519 key */
	const char *token;			/* enrollment token "hdt1_..."; NULL = none */
	int timeout_ms;				/* connect and handshake; 0 = 10 s */
};

enum hd_event_type {
	HD_EVENT_PACKET,    /* peer_id sent data/len */
	HD_EVENT_PEER_INFO, /* key has peer_id (0: not known to the relay) */
	HD_EVENT_PEER_GONE, /* peer_id is gone (reason) */
	HD_EVENT_CLOSED,    /* the relay closed (reason, text), or the connection ended */
};

struct hd_event {
	enum hd_event_type type;
	uint16_t peer_id;
	uint16_t relay_id;
	uint8_t key[HD_CLIENT_KEY_LEN];
	uint8_t reason;
	const uint8_t *data;
	size_t len;
	char text[256];
};

/* Connects, upgrades to HD and authenticates. Returns 0, or -1 with the reason in err. */
int hd_client_connect(const struct hd_client_config *cfg, struct hd_client **out, char *err,
		      size_t errlen);
/* The id the relay gave this client. */
uint16_t hd_client_peer_id(const struct hd_client *c);
/* The socket, for poll: readable means hd_client_next has something to read. */
int hd_client_fd(const struct hd_client *c);
/* Sends a packet (0..65536 bytes) to a peer id. Blocks until written. */
int hd_client_send(struct hd_client *c, uint16_t peer_id, const void *data, size_t len);
/* Asks for a key's peer id; the answer is an HD_EVENT_PEER_INFO. */
int hd_client_lookup(struct hd_client *c, const uint8_t key[HD_CLIENT_KEY_LEN]);
/*
 * The next event, waiting up to timeout_ms (-1: forever, 0: only what has
 * arrived). Returns 1 with ev filled, 0 on timeout, -1 on error. Keepalives
 * and pings are answered inside.
 */
int hd_client_next(struct hd_client *c, struct hd_event *ev, int timeout_ms);
const char *hd_client_error(const struct hd_client *c);
void hd_client_close(struct hd_client *c);

/* The public key of a private key. Returns 0 or -1. */
int hd_client_public_key(const uint8_t priv[HD_CLIENT_KEY_LEN], uint8_t pub[HD_CLIENT_KEY_LEN]);

#ifdef __cplusplus
}
#endif

#endif
