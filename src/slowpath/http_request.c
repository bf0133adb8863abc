// SPDX-License-Identifier: MIT
/*
 * HTTP/1.1 request head parsing and derper-compatible routing.
 *
 * The parser is stateless: each call looks at everything received so far.
 * While the head is incomplete it only scans for the blank line (memchr-fast)
 * and sanity-checks the method, so a peer that trickles bytes one at a time
 * costs a cheap scan per call, not a full re-parse. Once the blank line is
 * in, the whole head is parsed in one pass.
 */
#include "http_request.h"
#include "ws_upgrade.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- character classes (ASCII only: never depend on the C locale) ---- */

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 tchar: the characters allowed in methods and header names. */
static bool is_tchar(uint8_t c)
{
	if (is_digit(c) || is_alpha(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Compares the n bytes at p with the NUL-terminated lit, ignoring ASCII case. */
static bool span_equals_nocase(const uint8_t *p, size_t n, const char *lit)
{
	size_t lit_len = strlen(lit);

	if (n != lit_len)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ascii_lower(p[i]) != ascii_lower((uint8_t)lit[i]))
			return false;
	}
	return true;
}

static bool str_equals_nocase(const char *s, const char *lit)
{
	return span_equals_nocase((const uint8_t *)s, strlen(s), lit);
}

static int hex_value(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c = ascii_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* ---- the head as lines ---- */

struct span {
	const uint8_t *p;
	size_t len;
};

/*
 * Finds the end of the head: the first empty line, ended by CRLF or a bare LF
 * (Go's server accepts both). Only the first HTTP_MAX_HEAD bytes are
 * searched, so a head that fits is never confused with one that does not.
 * Returns true and the head length (through the blank line's LF) if found.
 */
static bool find_head_end(const uint8_t *buf, size_t len, size_t *head_len)
{
	size_t window = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD;
	size_t pos = 0;

	while (pos < window) {
		const uint8_t *lf = memchr(buf + pos, '\n', window - pos);
		if (!lf)
			return false;
		size_t i = (size_t)(lf - buf);
		bool empty_line = (i >= 1 && buf[i - 1] == '\n') ||
				  (i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n');
		if (empty_line) {
			*head_len = i + 1;
			return true;
		}
		pos = i + 1;
	}
	return false;
}

/* Takes the next line out of [*pos, end): without its LF and a CR before it. */
static struct span next_line(const uint8_t *buf, size_t end, size_t *pos)
{
	const uint8_t *start = buf + *pos;
	const uint8_t *lf = memchr(start, '\n', end - *pos);
	/* find_head_end guarantees every line up to end is LF-terminated. */
	size_t n = (size_t)(lf - start);

	*pos += n + 1;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	return (struct span){ .p = start, .len = n };
}

/*
 * Before the head is complete: is what we have so far plausibly the start of
 * a request? Rejecting early means a TLS ClientHello or binary junk on the
 * plain-HTTP port gets its 400 at once instead of waiting for the timeout.
 */
static enum http_parse_status check_partial_method(const uint8_t *buf, size_t len,
						   size_t method_cap)
{
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == ' ')
			return i == 0 ? HTTP_PARSE_BAD_REQUEST : HTTP_PARSE_NEED_MORE;
		if (!is_tchar(buf[i]))
			return HTTP_PARSE_BAD_REQUEST;
		if (i + 1 >= method_cap)
			return HTTP_PARSE_TOO_LARGE;
	}
	return HTTP_PARSE_NEED_MORE;
}

/* ---- request line ---- */

/* Copies n bytes into a NUL-terminated field of size cap; false if it does not fit. */
static bool copy_field(char *dst, size_t cap, const uint8_t *src, size_t n)
{
	if (n >= cap)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

/*
 * "HTTP/" DIGIT "." DIGIT, the only shape Go accepts. A well-formed version
 * other than 1.0 or 1.1 is answered 505; anything else is a malformed line.
 */
static enum http_parse_status parse_version(struct span v, struct http_request *req)
{
	if (v.len != 8 || memcmp(v.p, "HTTP/", 5) != 0 || !is_digit(v.p[5]) || v.p[6] != '.' ||
	    !is_digit(v.p[7]))
		return HTTP_PARSE_BAD_REQUEST;
	if (v.p[5] != '1' || (v.p[7] != '0' && v.p[7] != '1'))
		return HTTP_PARSE_BAD_VERSION;
	req->version_minor = v.p[7] - '0';
	return HTTP_PARSE_DONE;
}

/*
 * Percent-decodes the path into req->path, as Go's r.URL.Path is decoded
 * before the mux sees it. Decoded control bytes (including NUL) are refused:
 * the path is a C string and no legitimate client sends them.
 */
static enum http_parse_status decode_path(struct span path, struct http_request *req)
{
	size_t out = 0;

	for (size_t i = 0; i < path.len; i++) {
		uint8_t c = path.p[i];

		if (c == '%') {
			if (path.len - i < 3)
				return HTTP_PARSE_BAD_REQUEST; /* truncated escape */
			int hi = hex_value(path.p[i + 1]);
			int lo = hex_value(path.p[i + 2]);
			if (hi < 0 || lo < 0)
				return HTTP_PARSE_BAD_REQUEST;
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		}
		if (is_ctl(c))
			return HTTP_PARSE_BAD_REQUEST;
		if (out + 1 >= sizeof(req->path))
			return HTTP_PARSE_TOO_LARGE;
		req->path[out++] = (char)c;
	}
	req->path[out] = '\0';
	return HTTP_PARSE_DONE;
}

/*
 * The request target is origin-form ("/derp?x") or, from proxies,
 * absolute-form ("http://host/derp"), whose scheme and authority Go drops
 * before routing. "*" and authority-form (CONNECT) are not served here.
 */
static enum http_parse_status parse_target(struct span t, struct http_request *req)
{
	for (size_t i = 0; i < t.len; i++) {
		if (is_ctl(t.p[i]))
			return HTTP_PARSE_BAD_REQUEST;
	}

	if (t.len > 0 && t.p[0] != '/') {
		size_t skip;
		if (t.len >= 7 && span_equals_nocase(t.p, 7, "http://"))
			skip = 7;
		else if (t.len >= 8 && span_equals_nocase(t.p, 8, "https://"))
			skip = 8;
		else
			return HTTP_PARSE_BAD_REQUEST;
		while (skip < t.len && t.p[skip] != '/' && t.p[skip] != '?')
			skip++;
		t.p += skip;
		t.len -= skip;
	}

	const uint8_t *q = memchr(t.p, '?', t.len);
	struct span path = { .p = t.p, .len = q ? (size_t)(q - t.p) : t.len };
	enum http_parse_status st;

	if (path.len == 0) {
		/* "http://host" or "http://host?x" alone: the root, as in Go. */
		strcpy(req->path, "/");
	} else {
		st = decode_path(path, req);
		if (st != HTTP_PARSE_DONE)
			return st;
	}
	if (q) {
		size_t qlen = t.len - path.len - 1;
		if (!copy_field(req->query, sizeof(req->query), q + 1, qlen))
			return HTTP_PARSE_TOO_LARGE;
	}
	return HTTP_PARSE_DONE;
}

/*
 * METHOD SP TARGET SP VERSION, split on single spaces exactly as Go does:
 * anything with fewer or more parts is malformed.
 */
static enum http_parse_status parse_request_line(struct span line, struct http_request *req)
{
	const uint8_t *sp1 = memchr(line.p, ' ', line.len);
	if (!sp1)
		return HTTP_PARSE_BAD_REQUEST;
	size_t method_len = (size_t)(sp1 - line.p);
	const uint8_t *rest = sp1 + 1;
	size_t rest_len = line.len - method_len - 1;
	const uint8_t *sp2 = memchr(rest, ' ', rest_len);
	if (!sp2)
		return HTTP_PARSE_BAD_REQUEST;

	struct span method = { .p = line.p, .len = method_len };
	struct span target = { .p = rest, .len = (size_t)(sp2 - rest) };
	struct span version = { .p = sp2 + 1, .len = rest_len - target.len - 1 };

	if (method.len == 0 || target.len == 0)
		return HTTP_PARSE_BAD_REQUEST;
	for (size_t i = 0; i < method.len; i++) {
		if (!is_tchar(method.p[i]))
			return HTTP_PARSE_BAD_REQUEST;
	}
	/* A stray extra space leaves a space inside the version: malformed. */
	if (memchr(version.p, ' ', version.len))
		return HTTP_PARSE_BAD_REQUEST;

	/* Version first, so any HTTP/2 preface or request gets its 505. */
	enum http_parse_status st = parse_version(version, req);
	if (st != HTTP_PARSE_DONE)
		return st;
	if (!copy_field(req->method, sizeof(req->method), method.p, method.len))
		return HTTP_PARSE_TOO_LARGE;
	return parse_target(target, req);
}

/* ---- header lines ---- */

struct header_state {
	unsigned count;
	bool seen_host;
	bool seen_content_length;
	/* First occurrence wins for the headers below, as Go's Header.Get. */
	bool seen_upgrade;
	bool seen_connection;
	bool seen_fast_start;
	bool seen_ideal_node;
	bool seen_ws_protocol;
	bool seen_ws_key;
	bool seen_ws_version;
	bool seen_challenge;
	bool seen_hd_version;
};

/* Stores a header value in its field the first time the header is seen. */
static enum http_parse_status store_value(char *dst, size_t cap, bool *seen, struct span value)
{
	if (*seen)
		return HTTP_PARSE_DONE;
	*seen = true;
	if (!copy_field(dst, cap, value.p, value.len))
		return HTTP_PARSE_TOO_LARGE;
	return HTTP_PARSE_DONE;
}

/*
 * The relay never reads a request body: the connection either becomes DERP
 * or gets one response and closes. So any body is refused outright rather
 * than risking its bytes being taken for DERP frames or a next request.
 */
static enum http_parse_status check_content_length(struct header_state *hs, struct span value)
{
	if (hs->seen_content_length)
		return HTTP_PARSE_BAD_REQUEST;
	hs->seen_content_length = true;
	if (value.len == 0)
		return HTTP_PARSE_BAD_REQUEST;
	for (size_t i = 0; i < value.len; i++) {
		if (!is_digit(value.p[i]))
			return HTTP_PARSE_BAD_REQUEST;
		if (value.p[i] != '0')
			return HTTP_PARSE_BAD_REQUEST; /* a body */
	}
	return HTTP_PARSE_DONE;
}

static enum http_parse_status store_challenge(struct http_request *req, struct header_state *hs,
					      struct span value)
{
	if (hs->seen_challenge)
		return HTTP_PARSE_DONE;
	hs->seen_challenge = true;
	/* Too long to ever be echoed: flag it instead of failing the request. */
	if (value.len > HTTP_MAX_CHALLENGE) {
		req->challenge_too_long = true;
		return HTTP_PARSE_DONE;
	}
	copy_field(req->x_tailscale_challenge, sizeof(req->x_tailscale_challenge), value.p,
		   value.len);
	return HTTP_PARSE_DONE;
}

static enum http_parse_status apply_header(struct http_request *req, struct header_state *hs,
					   struct span name, struct span value)
{
	if (span_equals_nocase(name.p, name.len, "Upgrade"))
		return store_value(req->upgrade, sizeof(req->upgrade), &hs->seen_upgrade, value);
	if (span_equals_nocase(name.p, name.len, "Connection"))
		return store_value(req->connection, sizeof(req->connection), &hs->seen_connection,
				   value);
	if (span_equals_nocase(name.p, name.len, "Host")) {
		/* Two Host headers is a smuggling tell; Go answers 400 too. */
		if (hs->seen_host)
			return HTTP_PARSE_BAD_REQUEST;
		return store_value(req->host, sizeof(req->host), &hs->seen_host, value);
	}
	if (span_equals_nocase(name.p, name.len, "Derp-Fast-Start"))
		return store_value(req->derp_fast_start, sizeof(req->derp_fast_start),
				   &hs->seen_fast_start, value);
	if (span_equals_nocase(name.p, name.len, "Ideal-Node"))
		return store_value(req->ideal_node, sizeof(req->ideal_node), &hs->seen_ideal_node,
				   value);
	if (span_equals_nocase(name.p, name.len, "Sec-WebSocket-Protocol"))
		return store_value(req->sec_websocket_protocol, sizeof(req->sec_websocket_protocol),
				   &hs->seen_ws_protocol, value);
	if (span_equals_nocase(name.p, name.len, "Sec-WebSocket-Key"))
		return store_value(req->sec_websocket_key, sizeof(req->sec_websocket_key),
				   &hs->seen_ws_key, value);
	if (span_equals_nocase(name.p, name.len, "Sec-WebSocket-Version"))
		return store_value(req->sec_websocket_version, sizeof(req->sec_websocket_version),
				   &hs->seen_ws_version, value);
	if (span_equals_nocase(name.p, name.len, "X-Tailscale-Challenge"))
		return store_challenge(req, hs, value);
	if (span_equals_nocase(name.p, name.len, "HD-Version"))
		return store_value(req->hd_version, sizeof(req->hd_version), &hs->seen_hd_version,
				   value);
	if (span_equals_nocase(name.p, name.len, "X-Forwarded-For")) {
		/* Go's Header.Get: an empty value counts as absent. */
		req->forwarded_for |= value.len > 0;
		return HTTP_PARSE_DONE;
	}
	if (span_equals_nocase(name.p, name.len, "Content-Length"))
		return check_content_length(hs, value);
	if (span_equals_nocase(name.p, name.len, "Transfer-Encoding"))
		return HTTP_PARSE_BAD_REQUEST; /* always implies a body */
	return HTTP_PARSE_DONE;
}

/*
 * name ":" OWS value OWS. The name must be a token right up to the colon, so
 * "Host : x" (whitespace before the colon, a request-smuggling classic) fails
 * here. Lines starting with whitespace are obsolete folding: refused, since
 * proxies disagree about how to join them.
 */
static enum http_parse_status parse_header_line(struct span line, struct http_request *req,
						struct header_state *hs)
{
	if (is_ows(line.p[0]))
		return HTTP_PARSE_BAD_REQUEST;
	const uint8_t *colon = memchr(line.p, ':', line.len);
	if (!colon || colon == line.p)
		return HTTP_PARSE_BAD_REQUEST;

	struct span name = { .p = line.p, .len = (size_t)(colon - line.p) };
	for (size_t i = 0; i < name.len; i++) {
		if (!is_tchar(name.p[i]))
			return HTTP_PARSE_BAD_REQUEST;
	}

	struct span value = { .p = colon + 1, .len = line.len - name.len - 1 };
	for (size_t i = 0; i < value.len; i++) {
		if (is_ctl(value.p[i]) && value.p[i] != '\t')
			return HTTP_PARSE_BAD_REQUEST;
	}
	while (value.len > 0 && is_ows(value.p[0])) {
		value.p++;
		value.len--;
	}
	while (value.len > 0 && is_ows(value.p[value.len - 1]))
		value.len--;

	if (++hs->count > HTTP_MAX_HEADERS)
		return HTTP_PARSE_TOO_LARGE;
	return apply_header(req, hs, name, value);
}

enum http_parse_status http_request_parse(const uint8_t *buf, size_t len, struct http_request *req)
{
	size_t head_len;

	memset(req, 0, sizeof(*req));
	if (!find_head_end(buf, len, &head_len)) {
		enum http_parse_status st = check_partial_method(buf, len, sizeof(req->method));
		if (st != HTTP_PARSE_NEED_MORE)
			return st;
		return len >= HTTP_MAX_HEAD ? HTTP_PARSE_TOO_LARGE : HTTP_PARSE_NEED_MORE;
	}

	size_t pos = 0;
	struct span line = next_line(buf, head_len, &pos);
	if (line.len == 0)
		return HTTP_PARSE_BAD_REQUEST; /* the head starts with a blank line */
	enum http_parse_status st = parse_request_line(line, req);
	if (st != HTTP_PARSE_DONE)
		return st;

	struct header_state hs = { 0 };
	for (;;) {
		line = next_line(buf, head_len, &pos);
		if (line.len == 0)
			break;
		st = parse_header_line(line, req, &hs);
		if (st != HTTP_PARSE_DONE)
			return st;
	}
	req->head_len = head_len;
	return HTTP_PARSE_DONE;
}

/* ---- responses ---- */

const char *http_reason_phrase(int status)
{
	switch (status) {
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 301:
		return "Moved Permanently";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

/* Appends to a fixed buffer; remembers if anything did not fit. */
struct out_buf {
	uint8_t *p;
	size_t cap;
	size_t len;
	bool overflow;
};

static void out_bytes(struct out_buf *o, const void *data, size_t n)
{
	if (o->overflow || n > o->cap - o->len) {
		o->overflow = true;
		return;
	}
	memcpy(o->p + o->len, data, n);
	o->len += n;
}

static void out_str(struct out_buf *o, const char *s)
{
	out_bytes(o, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void out_fmt(struct out_buf *o, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		o->overflow = true;
		return;
	}
	out_bytes(o, tmp, (size_t)n);
}

/* Headers a plain-text or HTML response carries besides its status line. */
struct response {
	int status;
	const char *content_type;  /* NULL: none */
	const char *extra_headers; /* NULL or complete "Name: value\r\n" lines */
	const char *body;	   /* NULL: empty */
	bool head_only;		   /* HEAD request: headers as for GET, no body */
};

static const char text_plain[] = "text/plain; charset=utf-8";

/* Security headers derper adds to its browser-facing pages (HSTS is moot on plain HTTP). */
static const char browser_headers[] =
    "Content-Security-Policy: default-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'self'; block-all-mixed-content; object-src 'none'\r\n"
    "X-Frame-Options: DENY\r\n"
    "X-Content-Type-Options: nosniff\r\n";

/*
 * Writes a complete response that ends the connection. 204 carries no
 * Content-Length: RFC 9110 forbids it there.
 */
static void write_closing_response_len(struct out_buf *o, const struct response *r, size_t body_len)
{
	out_fmt(o, "HTTP/1.1 %d %s\r\n", r->status, http_reason_phrase(r->status));
	if (r->content_type)
		out_fmt(o, "Content-Type: %s\r\n", r->content_type);
	if (r->extra_headers)
		out_str(o, r->extra_headers);
	out_str(o, "Connection: close\r\n");
	if (r->status != 204)
		out_fmt(o, "Content-Length: %zu\r\n", body_len);
	out_str(o, "\r\n");
	if (!r->head_only && body_len > 0)
		out_bytes(o, r->body, body_len);
}

static void write_closing_response(struct out_buf *o, const struct response *r)
{
	write_closing_response_len(o, r, r->body ? strlen(r->body) : 0);
}

size_t http_response_write(const struct http_response *hr, uint8_t *out, size_t out_cap)
{
	struct out_buf o = { .p = out, .cap = out_cap };
	char headers[1024];

	snprintf(headers, sizeof(headers), "%s%s", hr->browser ? browser_headers : "",
		 hr->extra_headers ? hr->extra_headers : "");
	struct response r = {
		.status = hr->status,
		.content_type = hr->content_type,
		.extra_headers = headers,
		.body = hr->body,
		.head_only = hr->head_only,
	};
	write_closing_response_len(&o, &r, hr->body ? hr->body_len : 0);
	return o.overflow ? 0 : o.len;
}

/* Go's http.Error: plain text, nosniff, the message plus a newline. */
static void write_text_error(struct out_buf *o, const struct http_request *req, int status,
			     const char *body)
{
	struct response r = {
		.status = status,
		.content_type = text_plain,
		.extra_headers = "X-Content-Type-Options: nosniff\r\n",
		.body = body,
		.head_only = strcmp(req->method, "HEAD") == 0,
	};
	write_closing_response(o, &r);
}

/* Exactly derper's 101 (spec 1.3): no Date, no other headers. */
static void write_switching_protocols(struct out_buf *o, const char *server_pub_hex)
{
	out_str(o, "HTTP/1.1 101 Switching Protocols\r\n"
		   "Upgrade: DERP\r\n"
		   "Connection: Upgrade\r\n"
		   "Derp-Version: 2\r\n"
		   "Derp-Public-Key: ");
	out_str(o, server_pub_hex);
	out_str(o, "\r\n\r\n");
}

/* A WebSocket handshake refused: Go's http.Error with extra headers. */
static void websocket_refused(struct out_buf *o, int status, const char *extra_headers,
			      const char *body)
{
	struct response r = {
		.status = status,
		.content_type = text_plain,
		.extra_headers = extra_headers,
		.body = body,
	};
	write_closing_response(o, &r);
}

/*
 * DERP over WebSocket (derper's addWebSocketSupport): the checks its
 * websocket library makes on the handshake, in its order, then the 101.
 * derper would accept a client that offers no "derp" token (only a
 * substring of one) and close it straight after the 101 with 1008; the
 * relay refuses it before upgrading instead, which ends the same way for
 * the client without a WebSocket opened for nothing.
 */
static void route_websocket(const struct http_request *req, struct out_buf *o,
			    struct http_route_result *res)
{
	static const char upgrade_hdrs[] = "X-Content-Type-Options: nosniff\r\n"
					   "Upgrade: websocket\r\n";
	char accept[WS_ACCEPT_LEN + 1];

	if (req->version_minor < 1 || !ws_header_has_token(req->connection, "upgrade")) {
		res->status = 426;
		websocket_refused(o, 426, upgrade_hdrs,
				  "WebSocket protocol violation: Connection header does not "
				  "contain Upgrade\n");
		return;
	}
	if (strcmp(req->method, "GET") != 0) {
		res->status = 405;
		websocket_refused(o, 405, NULL,
				  "WebSocket protocol violation: handshake request method is "
				  "not GET\n");
		return;
	}
	if (strcmp(req->sec_websocket_version, "13") != 0) {
		res->status = 400;
		websocket_refused(o, 400, "Sec-WebSocket-Version: 13\r\n",
				  "unsupported WebSocket protocol version (only 13 is "
				  "supported)\n");
		return;
	}
	if (req->sec_websocket_key[0] == '\0') {
		res->status = 400;
		websocket_refused(o, 400, NULL,
				  "WebSocket protocol violation: missing Sec-WebSocket-Key\n");
		return;
	}
	if (!ws_header_has_token(req->sec_websocket_protocol, "derp")) {
		res->status = 400;
		websocket_refused(o, 400, NULL, "client must speak the derp subprotocol\n");
		return;
	}
	if (ws_accept_key(req->sec_websocket_key, accept) < 0) {
		res->status = 500;
		write_text_error(o, req, 500, "Internal Server Error\n");
		return;
	}
	res->action = HTTP_ACTION_DERP_UPGRADE;
	res->websocket = true;
	res->status = 101;
	/* No compression is offered back: WireGuard packets do not compress (derper). */
	out_str(o, "HTTP/1.1 101 Switching Protocols\r\n"
		   "Upgrade: websocket\r\n"
		   "Connection: Upgrade\r\n"
		   "Sec-WebSocket-Accept: ");
	out_str(o, accept);
	out_str(o, "\r\nSec-WebSocket-Protocol: derp\r\n\r\n");
}

static void route_derp(const struct http_request *req, const char *server_pub_hex,
		       struct out_buf *o, struct http_route_result *res)
{
	bool up_derp = str_equals_nocase(req->upgrade, "derp");
	bool up_websocket = str_equals_nocase(req->upgrade, "websocket");

	/*
	 * Very old clients sent "Upgrade: websocket" but spoke raw DERP framing;
	 * derper tells real WebSocket clients apart by the "derp" subprotocol,
	 * matched as a plain substring, as it does.
	 */
	if (up_websocket && strstr(req->sec_websocket_protocol, "derp")) {
		route_websocket(req, o, res);
		return;
	}
	if (!up_derp && !up_websocket) {
		res->status = 426;
		write_text_error(o, req, 426, "DERP requires connection upgrade\n");
		return;
	}

	res->action = HTTP_ACTION_DERP_UPGRADE;
	/* Exactly "1": derper compares the raw value, so "true" or " 1 x" do not count. */
	if (strcmp(req->derp_fast_start, "1") == 0) {
		res->fast_start = true;
		res->status = 0;
		return;
	}
	res->status = 101;
	write_switching_protocols(o, server_pub_hex);
}

/* The HD upgrade (docs/hd-protocol.md, section 1). */
static void route_hd(const struct http_request *req, struct out_buf *o,
		     struct http_route_result *res)
{
	if (!str_equals_nocase(req->upgrade, "hd")) {
		res->status = 426;
		write_text_error(o, req, 426, "HD requires connection upgrade\n");
		return;
	}
	/* A version we do not speak is told which one we do, so it can tell "old relay" apart. */
	if (strcmp(req->hd_version, "1") != 0) {
		struct response r = {
			.status = 426,
			.content_type = text_plain,
			.extra_headers = "HD-Version: 1\r\n",
			.body = "HD version not supported\n",
		};
		res->status = 426;
		write_closing_response(o, &r);
		return;
	}
	res->action = HTTP_ACTION_HD_UPGRADE;
	res->status = 101;
	out_str(o, "HTTP/1.1 101 Switching Protocols\r\n"
		   "Upgrade: hd\r\n"
		   "Connection: Upgrade\r\n"
		   "HD-Version: 1\r\n\r\n");
}

static void route_probe(const struct http_request *req, struct out_buf *o,
			struct http_route_result *res)
{
	bool is_head = strcmp(req->method, "HEAD") == 0;

	if (!is_head && strcmp(req->method, "GET") != 0) {
		res->status = 405;
		write_text_error(o, req, 405, "bogus probe method\n");
		return;
	}
	struct response r = {
		.status = 200,
		.extra_headers = "Access-Control-Allow-Origin: *\r\n",
		.head_only = is_head,
	};
	res->status = 200;
	write_closing_response(o, &r);
}

static bool is_challenge_char(char c)
{
	return is_alpha((uint8_t)c) || is_digit((uint8_t)c) || c == '.' || c == '-' || c == '_' ||
	       c == ':';
}

/* Whether the captive-portal challenge may be echoed back (spec 1.6). */
static bool challenge_is_valid(const struct http_request *req)
{
	const char *c = req->x_tailscale_challenge;

	if (req->challenge_too_long || c[0] == '\0' || strlen(c) > HTTP_MAX_CHALLENGE)
		return false;
	for (; *c; c++) {
		if (!is_challenge_char(*c))
			return false;
	}
	return true;
}

static void route_no_content(const struct http_request *req, struct out_buf *o,
			     struct http_route_result *res)
{
	char headers[256];
	int n = snprintf(headers, sizeof(headers),
			 "Cache-Control: no-cache, no-store, "
			 "must-revalidate, no-transform, max-age=0\r\n");

	/* An invalid challenge gets no response header at all, not an error. */
	if (challenge_is_valid(req))
		snprintf(headers + n, sizeof(headers) - (size_t)n,
			 "X-Tailscale-Response: response %s\r\n", req->x_tailscale_challenge);

	struct response r = {
		.status = 204,
		.extra_headers = headers,
	};
	res->status = 204;
	write_closing_response(o, &r);
}

static const char home_page[] = "<!DOCTYPE html>\n"
				"<html><head><title>hyper-derp</title></head><body>\n"
				"<h1>DERP</h1>\n"
				"<p>This is a <a href=\"https://tailscale.com/\">Tailscale</a> "
				"DERP relay server, run by hyper-derp.</p>\n"
				"</body></html>\n";

static void route_static(const struct http_request *req, struct out_buf *o,
			 struct http_route_result *res, const char *content_type, const char *body)
{
	struct response r = {
		.status = 200,
		.content_type = content_type,
		.extra_headers = browser_headers,
		.body = body,
		.head_only = strcmp(req->method, "HEAD") == 0,
	};
	res->status = 200;
	write_closing_response(o, &r);
}

int http_route(const struct http_request *req, const char *server_pub_hex, uint8_t *out,
	       size_t out_cap, struct http_route_result *res)
{
	struct out_buf o = { .p = out, .cap = out_cap };
	const char *path = req->path;

	memset(res, 0, sizeof(*res));
	res->action = HTTP_ACTION_RESPOND_CLOSE;
	res->not_ideal = req->ideal_node[0] != '\0';

	/* Probe paths first: derper's handler checks them before the Upgrade header. */
	if (strcmp(path, "/derp/probe") == 0 || strcmp(path, "/derp/latency-check") == 0) {
		route_probe(req, &o, res);
	} else if (strcmp(path, "/derp") == 0) {
		if (!server_pub_hex)
			return -1;
		route_derp(req, server_pub_hex, &o, res);
	} else if (strcmp(path, "/hd") == 0) {
		route_hd(req, &o, res);
	} else if (strcmp(path, "/generate_204") == 0) {
		route_no_content(req, &o, res);
	} else if (strcmp(path, "/robots.txt") == 0) {
		route_static(req, &o, res, text_plain, "User-agent: *\nDisallow: /\n");
	} else if (strcmp(path, "/") == 0) {
		route_static(req, &o, res, "text/html; charset=utf-8", home_page);
	} else if (strcmp(path, "/bootstrap-dns") == 0) {
		res->action = HTTP_ACTION_BOOTSTRAP_DNS;
	} else if (strncmp(path, "/debug/", 7) == 0) {
		res->action = HTTP_ACTION_DEBUG;
	} else if (strcmp(path, "/debug") == 0) {
		/* Go's ServeMux sends a path without its subtree's slash there. */
		struct response r = {
			.status = 301,
			.content_type = "text/html; charset=utf-8",
			.extra_headers = "Location: /debug/\r\n",
			.head_only = strcmp(req->method, "HEAD") == 0,
		};
		res->status = 301;
		write_closing_response(&o, &r);
	} else {
		res->status = 404;
		write_text_error(&o, req, 404, "404 page not found\n");
	}

	if (o.overflow)
		return -1;
	res->response_len = o.len;
	return 0;
}

size_t http_error_response(int status, uint8_t *out, size_t out_cap)
{
	struct out_buf o = { .p = out, .cap = out_cap };
	char body[64];

	/* Go's server answers unparseable requests with "<code> <reason>" as the body. */
	snprintf(body, sizeof(body), "%d %s", status, http_reason_phrase(status));
	struct response r = {
		.status = status,
		.content_type = text_plain,
		.body = body,
	};
	write_closing_response(&o, &r);
	return o.overflow ? 0 : o.len;
}
