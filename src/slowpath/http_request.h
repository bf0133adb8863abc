/* SPDX-License-Identifier: MIT */
/*
 * HTTP/1.1 request head parser for the relay's front door, and the routing
 * of a parsed request to what derper would answer. Pure functions: no I/O.
 *
 * The parser works on the bytes received so far and is called again as more
 * arrive; it never reads past the blank line that ends the head, so bytes
 * after it (pipelined DERP frames with Derp-Fast-Start) stay with the caller.
 */
#ifndef HD_HTTP_REQUEST_H
#define HD_HTTP_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEAD	   8192 /* request line + headers, as bytes */
#define HTTP_MAX_HEADERS   64
#define HTTP_MAX_CHALLENGE 64

struct http_request {
	char method[16];
	char path[1024];   /* without the query string */
	char query[1024];  /* after '?', may be empty */
	int version_minor; /* HTTP/1.x */
	/* Headers the relay acts on; values trimmed, NUL-terminated, empty if absent. */
	char upgrade[64];
	char connection[128];
	char host[256];
	char derp_fast_start[16];
	char ideal_node[128];
	char sec_websocket_protocol[128];
	char hd_version[16]; /* HD-Version (docs/hd-protocol.md) */
	char sec_websocket_key[64];
	char sec_websocket_version[16];
	char x_tailscale_challenge[HTTP_MAX_CHALLENGE + 2]; /* longer values flagged below */
	bool challenge_too_long;
	bool forwarded_for; /* an X-Forwarded-For header: a proxy in between, so no /debug/ */
	size_t head_len; /* bytes of the head, including the final CRLF CRLF */
};

enum http_parse_status {
	HTTP_PARSE_DONE = 0,	/* req filled in; req->head_len bytes consumed */
	HTTP_PARSE_NEED_MORE,	/* head not complete yet and under the limit */
	HTTP_PARSE_BAD_REQUEST, /* malformed: answer 400 and close */
	HTTP_PARSE_TOO_LARGE,	/* head over HTTP_MAX_HEAD, or a line too long: 431 and close */
	HTTP_PARSE_BAD_VERSION, /* not HTTP/1.0 or 1.1: 505 and close */
};

/*
 * Parses the request head at buf[0..len). Header names are case-insensitive;
 * values that do not fit their field give HTTP_PARSE_TOO_LARGE, except the
 * challenge, which only sets challenge_too_long. Bare LF line ends are
 * accepted, as Go's server does. Returns one of the statuses above.
 */
enum http_parse_status http_request_parse(const uint8_t *buf, size_t len, struct http_request *req);

/* What the front door does with a complete request. */
enum http_action {
	HTTP_ACTION_RESPOND_CLOSE = 0, /* write the response, then close */
	HTTP_ACTION_DERP_UPGRADE,      /* write the response (may be empty), then speak DERP */
	HTTP_ACTION_HD_UPGRADE,	       /* write the response, then speak HD (docs/hd-protocol.md) */
	/* Answered by the caller, which holds what they need; nothing written. */
	HTTP_ACTION_BOOTSTRAP_DNS, /* /bootstrap-dns */
	HTTP_ACTION_DEBUG,	   /* /debug/ and below */
};

struct http_route_result {
	enum http_action action;
	bool fast_start; /* Derp-Fast-Start: 1 (no HTTP response is written) */
	bool not_ideal;	 /* non-empty Ideal-Node header */
	bool websocket;	 /* DERP inside WebSocket binary messages (subprotocol derp) */
	int status;	 /* HTTP status written, 0 with fast start */
	size_t response_len;
};

/*
 * Decides the answer derper gives (derp-protocol.md 1.2, 1.3, 1.6) and
 * writes the full response (status line, headers, body) into out:
 *  - /derp with Upgrade: derp (any case) or websocket without the derp
 *    subprotocol: 101 with Derp-Version and Derp-Public-Key (server_pub_hex),
 *    or nothing with Derp-Fast-Start: 1;
 *  - /derp without such an Upgrade: 426 "DERP requires connection upgrade\n";
 *  - /hd with Upgrade: hd and HD-Version: 1: 101 with Upgrade: hd and
 *    HD-Version: 1; another version: 426 naming the one spoken; no Upgrade:
 *    426 "HD requires connection upgrade\n";
 *  - /derp/probe, /derp/latency-check: GET/HEAD 200 empty with
 *    Access-Control-Allow-Origin: *, other methods 405;
 *  - /generate_204: 204 with the Cache-Control header, plus
 *    X-Tailscale-Response: response <challenge> when the challenge is valid;
 *  - /robots.txt: "User-agent: *\nDisallow: /\n";
 *  - /: a small HTML page naming hyper-derp;
 *  - /bootstrap-dns and /debug/...: HTTP_ACTION_BOOTSTRAP_DNS and
 *    HTTP_ACTION_DEBUG, nothing written; "/debug" redirects to "/debug/";
 *  - anything else: 404.
 *  - /derp with Upgrade: websocket and a Sec-WebSocket-Protocol containing
 *    "derp" (derper's test): the WebSocket handshake (RFC 6455 4.2.2) with
 *    subprotocol derp and res->websocket set; a request that is not a valid
 *    handshake gets what derper's websocket library answers (426 without
 *    the Connection: Upgrade token or on HTTP/1.0, 405 for a method other
 *    than GET, 400 for a version other than 13 or no key), and a client
 *    that does not offer the derp token exactly gets 400;
 * Responses that close carry "Connection: close" and a Content-Length.
 * Returns 0, or -1 if out_cap is too small.
 */
int http_route(const struct http_request *req, const char *server_pub_hex, uint8_t *out,
	       size_t out_cap, struct http_route_result *res);

/* The reason phrase of a status code ("Not Found"); "Unknown" for codes we never send. */
const char *http_reason_phrase(int status);

/* A response that ends the connection, for answers built outside http_route. */
struct http_response {
	int status;
	const char *content_type;  /* NULL: none */
	const char *extra_headers; /* NULL or complete "Name: value\r\n" lines */
	const char *body;	   /* body_len bytes; NULL: empty */
	size_t body_len;
	bool head_only; /* HEAD request: headers as for GET, no body */
	bool browser;	/* add the security headers derper puts on browser-facing pages */
};

/* Writes it with Connection: close and Content-Length; its length, 0 if out_cap is too small. */
size_t http_response_write(const struct http_response *r, uint8_t *out, size_t out_cap);

/* Builds a minimal error response (400, 431, 505, 408 ...) with Connection: close. */
size_t http_error_response(int status, uint8_t *out, size_t out_cap);

#endif
