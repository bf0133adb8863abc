/* SPDX-License-Identifier: MIT */
/*
 * hdcat: netcat over HD (docs/hdcat.md). One byte stream or one flow of
 * datagrams between a local endpoint and a peer of an HD relay.
 */
#ifndef HDCAT_H
#define HDCAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hd.h"

/* Exit codes, as docs/hdcat.md lists them. */
enum hdcat_exit {
	HDCAT_OK = 0,
	HDCAT_EXIT_USAGE = 1, /* bad arguments, key file, local socket */
	HDCAT_EXIT_RELAY = 2, /* relay unreachable, refused us, or closed */
	HDCAT_EXIT_PEER = 3,  /* peer not here, did not answer, left early or aborted */
	HDCAT_EXIT_LOST = 4,  /* nothing acknowledged for --ack-timeout */
};

enum hdcat_local_kind {
	HDCAT_LOCAL_STDIO,
	HDCAT_LOCAL_TCP_LISTEN,
	HDCAT_LOCAL_TCP_CONNECT,
	HDCAT_LOCAL_UDP_LISTEN,
	HDCAT_LOCAL_UDP_CONNECT,
	HDCAT_LOCAL_UNIX_CONNECT,
	HDCAT_LOCAL_UNIX_LISTEN,
};

struct hdcat_opts {
	const char *relay_host; /* in relay_buf */
	char *relay_buf;
	uint16_t relay_port;
	bool tls;
	const char *ca_file;
	const char *key_file;
	char *token; /* from --token, or read from --token-file */
	bool print_nodekey;
	bool listen;
	bool to_key_set;
	uint8_t to_key[HD_CLIENT_KEY_LEN];
	uint16_t to_id;
	int wait_ms;	    /* for the relay, the peer's answer and a Lookup */
	int ack_timeout_ms; /* give up when nothing is acked this long; 0 = never */
	enum hdcat_local_kind local;
	const char *local_addr; /* HOST:PORT, PORT or a path, as the kind needs */
	bool verbose;
};

/* Parses argv into o. Returns 0, 1 when it printed --help, or -1 with a message printed. */
int hdcat_args_parse(int argc, char **argv, struct hdcat_opts *o);
void hdcat_usage(FILE *out);
/* Frees what parsing allocated. */
void hdcat_opts_free(struct hdcat_opts *o);

/* ---- the local endpoint ---- */

struct hdcat_local {
	enum hdcat_local_kind kind;
	int in_fd;  /* read from here to send; -1 once at its end */
	int out_fd; /* write what arrives here; -1 once closed */
	bool datagrams;
	bool udp_peer_known; /* UDP listen: the source of the first datagram is the peer */
};

/*
 * Opens the local side: binds and (for a stream) accepts one connection, or
 * connects. Returns 0 or -1 with err set.
 */
int hdcat_local_open(const struct hdcat_opts *o, struct hdcat_local *l, char *err, size_t errlen);
/*
 * Reads what the local side has, at most cap bytes (one datagram for UDP).
 * Returns bytes read, 0 at its end, -2 for nothing after all, -1 on error.
 */
ssize_t hdcat_local_read(struct hdcat_local *l, uint8_t *buf, size_t cap);
/* Writes one chunk (a datagram for UDP). Returns 0 or -1. */
int hdcat_local_write(struct hdcat_local *l, const uint8_t *buf, size_t len);
/* The peer has finished: half-closes the local output. */
void hdcat_local_close_output(struct hdcat_local *l);
void hdcat_local_close(struct hdcat_local *l);

/* ---- what travels in an HD packet (docs/hdcat.md, "Wire format") ---- */

enum hdcat_msg_type {
	HDCAT_MSG_HELLO = 1,
	HDCAT_MSG_DATA = 2,
	HDCAT_MSG_ACK = 3,
	HDCAT_MSG_FIN = 4,
	HDCAT_MSG_ABORT = 5,
	HDCAT_MSG_NACK = 6,
};

#define HDCAT_MSG_HDR_LEN 5
/* The largest payload of one chunk: an HD packet less our header. */
#define HDCAT_MAX_CHUNK (HD_CLIENT_MAX_PACKET - HDCAT_MSG_HDR_LEN)

struct hdcat_msg {
	enum hdcat_msg_type type;
	uint32_t seq;
	const uint8_t *data;
	size_t len;
};

/* Writes the header for type/seq into out (HDCAT_MSG_HDR_LEN bytes). */
void hdcat_msg_header(uint8_t *out, enum hdcat_msg_type type, uint32_t seq);
/* Parses a packet. Returns 0, or -1 if it is not an hdcat message. */
int hdcat_msg_parse(const uint8_t *p, size_t len, struct hdcat_msg *m);

/* ---- the session: relay connected, peer known (or awaited) ---- */

int hdcat_session_run(const struct hdcat_opts *o, struct hd_client *c, uint16_t peer_id);

#endif
