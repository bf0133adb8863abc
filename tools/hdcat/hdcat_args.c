// SPDX-License-Identifier: MIT
/* hdcat's command line (docs/hdcat.md). */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "hdcat.h"
#include "key.h"

void hdcat_usage(FILE *out)
{
	fputs(
	    "usage: hdcat --relay HOST:PORT [--tls] [--ca FILE] --key FILE\n"
	    "             [--token T | --token-file F] (--to nodekey:HEX | --to-id N | --listen)\n"
	    "             [LOCAL] [--wait S] [--ack-timeout S] [-v]\n"
	    "       hdcat --key FILE --print-nodekey\n"
	    "\n"
	    "Netcat over HD: one stream (or UDP flow) between LOCAL and an HD peer.\n"
	    "  --relay HOST:PORT    the relay (HD on /hd of its DERP port)\n"
	    "  --tls                TLS to the relay; --ca FILE trusts FILE's CAs\n"
	    "  --key FILE           this peer's key ({\"PrivateKey\": ...}); made if missing\n"
	    "  --token T            enrollment token (hdcli hd token issue KEY)\n"
	    "  --token-file F       the token, read from F\n"
	    "  --to nodekey:HEX     the peer, looked up on the relay\n"
	    "  --to-id N            the peer, by its HD peer id\n"
	    "  --listen             wait for the first peer that sends to us\n"
	    "  --wait SECONDS       for the relay, a lookup and the peer's answer (10)\n"
	    "  --ack-timeout SECONDS  give up (exit 4) when the peer acks nothing for\n"
	    "                       that long (default never; a peer that leaves is told)\n"
	    "  --print-nodekey      print this key's nodekey and exit\n"
	    "LOCAL (default: stdin and stdout):\n"
	    "  --tcp-listen [HOST:]PORT   accept one TCP connection (HOST 127.0.0.1)\n"
	    "  --tcp-connect HOST:PORT    connect to a TCP service\n"
	    "  --udp-listen [HOST:]PORT   datagrams from the first local sender\n"
	    "  --udp-connect HOST:PORT    datagrams to a UDP service\n"
	    "  --unix PATH                connect to a Unix stream socket\n"
	    "  --unix-listen PATH         accept one connection on a Unix stream socket\n"
	    "Exit: 0 done, 1 usage or local error, 2 relay, 3 peer, 4 nothing acked.\n",
	    out);
}

/* HOST:PORT, [V6]:PORT. *host points into *copy, which the caller frees. */
static int parse_host_port(const char *text, char **copyp, const char **host, uint16_t *port)
{
	char *copy = strdup(text), *colon, *end;
	if (!copy)
		return -1;
	colon = strrchr(copy, ':');
	if (!colon || colon == copy)
		goto bad;
	*colon = '\0';
	errno = 0;
	unsigned long p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
		goto bad;
	if (copy[0] == '[' && colon[-1] == ']') {
		colon[-1] = '\0';
		*host = copy + 1;
	} else {
		*host = copy;
	}
	*port = (uint16_t)p;
	free(*copyp);
	*copyp = copy;
	return 0;
bad:
	free(copy);
	return -1;
}

static char *read_token_file(const char *path)
{
	char buf[1024];
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "hdcat: --token-file %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (!fgets(buf, sizeof(buf), f)) {
		fprintf(stderr, "hdcat: --token-file %s: empty\n", path);
		fclose(f);
		return NULL;
	}
	fclose(f);
	buf[strcspn(buf, " \t\r\n")] = '\0';
	return strdup(buf);
}

static int set_local(struct hdcat_opts *o, enum hdcat_local_kind kind, const char *arg,
		     const char *name)
{
	if (o->local != HDCAT_LOCAL_STDIO) {
		fprintf(stderr, "hdcat: %s: only one local endpoint\n", name);
		return -1;
	}
	o->local = kind;
	o->local_addr = arg;
	return 0;
}

enum {
	OPT_RELAY = 256,
	OPT_TLS,
	OPT_CA,
	OPT_KEY,
	OPT_TOKEN,
	OPT_TOKEN_FILE,
	OPT_TO,
	OPT_TO_ID,
	OPT_LISTEN,
	OPT_WAIT,
	OPT_ACK_TIMEOUT,
	OPT_PRINT_NODEKEY,
	OPT_TCP_LISTEN,
	OPT_TCP_CONNECT,
	OPT_UDP_LISTEN,
	OPT_UDP_CONNECT,
	OPT_UNIX,
	OPT_UNIX_LISTEN,
};

static const struct option long_opts[] = {
	{ "relay", required_argument, NULL, OPT_RELAY },
	{ "tls", no_argument, NULL, OPT_TLS },
	{ "ca", required_argument, NULL, OPT_CA },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "token", required_argument, NULL, OPT_TOKEN },
	{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
	{ "to", required_argument, NULL, OPT_TO },
	{ "to-id", required_argument, NULL, OPT_TO_ID },
	{ "listen", no_argument, NULL, OPT_LISTEN },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT },
	{ "print-nodekey", no_argument, NULL, OPT_PRINT_NODEKEY },
	{ "tcp-listen", required_argument, NULL, OPT_TCP_LISTEN },
	{ "tcp-connect", required_argument, NULL, OPT_TCP_CONNECT },
	{ "udp-listen", required_argument, NULL, OPT_UDP_LISTEN },
	{ "udp-connect", required_argument, NULL, OPT_UDP_CONNECT },
	{ "unix", required_argument, NULL, OPT_UNIX },
	{ "unix-listen", required_argument, NULL, OPT_UNIX_LISTEN },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_one(struct hdcat_opts *o, int opt, const char *arg)
{
	char *end;
	unsigned long v;

	switch (opt) {
	case OPT_RELAY:
		if (parse_host_port(arg, &o->relay_buf, &o->relay_host, &o->relay_port) < 0) {
			fprintf(stderr, "hdcat: --relay %s: want HOST:PORT\n", arg);
			return -1;
		}
		return 0;
	case OPT_TLS:
		o->tls = true;
		return 0;
	case OPT_CA:
		o->ca_file = arg;
		return 0;
	case OPT_KEY:
		o->key_file = arg;
		return 0;
	case OPT_TOKEN:
		free(o->token);
		o->token = strdup(arg);
		return o->token ? 0 : -1;
	case OPT_TOKEN_FILE:
		free(o->token);
		o->token = read_token_file(arg);
		return o->token ? 0 : -1;
	case OPT_TO:
		if (key_from_hex(arg, strlen(arg), "nodekey:", o->to_key) < 0) {
			fprintf(stderr, "hdcat: --to %s: want nodekey:<64 hex digits>\n", arg);
			return -1;
		}
		o->to_key_set = true;
		return 0;
	case OPT_TO_ID:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || end == arg || v == 0 || v >= 0xffff) {
			fprintf(stderr, "hdcat: --to-id %s: want a peer id 1..65534\n", arg);
			return -1;
		}
		o->to_id = (uint16_t)v;
		return 0;
	case OPT_LISTEN:
		o->listen = true;
		return 0;
	case OPT_WAIT:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || end == arg || v == 0 || v > 3600) {
			fprintf(stderr, "hdcat: --wait %s: want seconds 1..3600\n", arg);
			return -1;
		}
		o->wait_ms = (int)v * 1000;
		return 0;
	case OPT_ACK_TIMEOUT:
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || *end || end == arg || v == 0 || v > 86400) {
			fprintf(stderr, "hdcat: --ack-timeout %s: want seconds 1..86400\n", arg);
			return -1;
		}
		o->ack_timeout_ms = (int)v * 1000;
		return 0;
	case OPT_PRINT_NODEKEY:
		o->print_nodekey = true;
		return 0;
	case OPT_TCP_LISTEN:
		return set_local(o, HDCAT_LOCAL_TCP_LISTEN, arg, "--tcp-listen");
	case OPT_TCP_CONNECT:
		return set_local(o, HDCAT_LOCAL_TCP_CONNECT, arg, "--tcp-connect");
	case OPT_UDP_LISTEN:
		return set_local(o, HDCAT_LOCAL_UDP_LISTEN, arg, "--udp-listen");
	case OPT_UDP_CONNECT:
		return set_local(o, HDCAT_LOCAL_UDP_CONNECT, arg, "--udp-connect");
	case OPT_UNIX:
		return set_local(o, HDCAT_LOCAL_UNIX_CONNECT, arg, "--unix");
	case OPT_UNIX_LISTEN:
		return set_local(o, HDCAT_LOCAL_UNIX_LISTEN, arg, "--unix-listen");
	case 'v':
		o->verbose = true;
		return 0;
	default:
		return -1;
	}
}

void hdcat_opts_free(struct hdcat_opts *o)
{
	free(o->token);
	free(o->relay_buf);
	o->token = NULL;
	o->relay_buf = NULL;
}

int hdcat_args_parse(int argc, char **argv, struct hdcat_opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->wait_ms = 10000;
	while ((opt = getopt_long(argc, argv, "vh", long_opts, NULL)) != -1) {
		if (opt == 'h') {
			hdcat_usage(stdout);
			return 1;
		}
		if (parse_one(o, opt, optarg) < 0) {
			if (opt == '?')
				hdcat_usage(stderr);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hdcat: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	if (!o->key_file) {
		fprintf(stderr, "hdcat: --key FILE is required\n");
		return -1;
	}
	if (o->print_nodekey)
		return 0;
	if (!o->relay_host) {
		fprintf(stderr, "hdcat: --relay HOST:PORT is required\n");
		return -1;
	}
	if ((int)o->listen + (int)o->to_key_set + (int)(o->to_id != 0) != 1) {
		fprintf(stderr, "hdcat: give exactly one of --to, --to-id, --listen\n");
		return -1;
	}
	return 0;
}
