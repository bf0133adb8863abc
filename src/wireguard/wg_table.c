// SPDX-License-Identifier: MIT
/*
 * The relay table: validation, changes, and the file that keeps it across
 * restarts. The file is the list of commands that rebuild the table, so
 * loading it runs every line through the same checks as `wg peer add`.
 */
#include "wg_table.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wg_text.h"

void wg_table_init(struct wg_table *t)
{
	memset(t, 0, sizeof(*t));
}

/* ---- endpoints ---- */

/* "PORT" as 1..65535 in network order; 0, or -1 with the reason in err. */
static int parse_port(const char *text, uint16_t *port, char *err, size_t errlen)
{
	unsigned long v = 0;
	const char *p = text;

	if (*p == '\0')
		return wg_err(err, errlen, "missing port");
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 65535)
			break;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (*p || v == 0 || v > 65535)
		return wg_err(err, errlen, "\"%s\": port must be 1..65535", text);
	*port = htons((uint16_t)v);
	return 0;
}

/*
 * "vpn.example.com" or "vpn.example.com:51820": letters, digits, dots and
 * dashes, with a letter. The relay matches sources by address, and a name
 * would resolve once, to an address that may change under it.
 */
static bool is_hostname(const char *text)
{
	bool letter = false;
	const char *p = text;

	for (; *p && *p != ':'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
			letter = true;
		else if (!(*p >= '0' && *p <= '9') && *p != '.' && *p != '-')
			return false;
	}
	/* More than one colon: an IPv6 address without its brackets. */
	return letter && p != text && (!*p || !strchr(p + 1, ':'));
}

static int parse_v4(const char *text, struct wg_endpoint *ep, char *err, size_t errlen)
{
	char host[INET_ADDRSTRLEN];
	struct in_addr addr;
	const char *colon = strrchr(text, ':');
	uint16_t port = 0;

	if (is_hostname(text))
		return wg_err(err, errlen,
			      "\"%s\": hostnames are not accepted; give the peer's address as the "
			      "relay sees it: A.B.C.D:PORT or [IPV6]:PORT",
			      text);
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof(host))
		return wg_err(err, errlen, "\"%s\" is not IP:PORT", text);
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	if (inet_pton(AF_INET, host, &addr) != 1)
		return wg_err(err, errlen, "\"%s\" is not an IPv4 address", host);
	if (parse_port(colon + 1, &port, err, errlen) < 0)
		return -1;
	uint32_t host_order = ntohl(addr.s_addr);
	if (host_order == 0 || host_order == 0xffffffffu || (host_order >> 28) == 0xe)
		return wg_err(err, errlen, "%s is not a unicast address", host);
	*ep = wg_endpoint_from_v4(addr.s_addr, port);
	return 0;
}

/*
 * Only global-scope unicast IPv6 is an endpoint. A link-local peer would
 * need its interface (the %scope) to be reachable at all, and neither the
 * table, the routes nor the XDP maps carry one; the mapped form would be a
 * second spelling of an IPv4 peer, which the duplicate check and the file
 * would have to reconcile.
 */
static int check_v6(const struct in6_addr *a, const char *host, char *err, size_t errlen)
{
	if (IN6_IS_ADDR_UNSPECIFIED(a))
		return wg_err(err, errlen, "%s is not a unicast address", host);
	if (IN6_IS_ADDR_MULTICAST(a))
		return wg_err(err, errlen, "%s is a multicast address", host);
	if (IN6_IS_ADDR_LINKLOCAL(a))
		return wg_err(err, errlen,
			      "%s is link-local: the relay cannot tell its interface; use a "
			      "global address",
			      host);
	if (IN6_IS_ADDR_V4MAPPED(a))
		return wg_err(err, errlen, "%s is IPv4-mapped: write the IPv4 address instead",
			      host);
	return 0;
}

static int parse_v6(const char *text, struct wg_endpoint *ep, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN];
	struct in6_addr addr;
	const char *close = strchr(text, ']');
	uint16_t port = 0;

	if (!close || close[1] != ':')
		return wg_err(err, errlen, "\"%s\" is not [IPV6]:PORT", text);
	size_t len = (size_t)(close - text - 1);
	if (len == 0 || len >= sizeof(host))
		return wg_err(err, errlen, "\"%s\" is not an IPv6 address", text);
	memcpy(host, text + 1, len);
	host[len] = '\0';
	if (strchr(host, '%'))
		return wg_err(err, errlen,
			      "%s: scoped (link-local) addresses are not supported; use a global "
			      "address",
			      host);
	if (inet_pton(AF_INET6, host, &addr) != 1)
		return wg_err(err, errlen, "\"%s\" is not an IPv6 address", host);
	if (parse_port(close + 2, &port, err, errlen) < 0)
		return -1;
	if (check_v6(&addr, host, err, errlen) < 0)
		return -1;
	memset(ep, 0, sizeof(*ep));
	memcpy(ep->addr, &addr, sizeof(ep->addr));
	ep->port = port;
	return 0;
}

int wg_endpoint_parse(const char *text, struct wg_endpoint *ep, char *err, size_t errlen)
{
	const char *colon = strchr(text, ':');

	if (text[0] == '[')
		return parse_v6(text, ep, err, errlen);
	/* Bare IPv6 is ambiguous: is "2001:db8::1:80" port 80, or part of the address? */
	if (colon && strchr(colon + 1, ':'))
		return wg_err(err, errlen, "\"%s\": write an IPv6 endpoint as [ADDRESS]:PORT",
			      text);
	return parse_v4(text, ep, err, errlen);
}

char *wg_endpoint_format(const struct wg_endpoint *ep, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN];

	if (wg_endpoint_is_v4(ep)) {
		struct in_addr a = { .s_addr = wg_endpoint_v4(ep) };
		inet_ntop(AF_INET, &a, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(ep->port));
	} else {
		inet_ntop(AF_INET6, ep->addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(ep->port));
	}
	return buf;
}

/* ---- lookups ---- */

int wg_table_find(const struct wg_table *t, const char *name)
{
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		if (t->peers[i].used && strcmp(t->peers[i].name, name) == 0)
			return i;
	}
	return -1;
}

int wg_table_find_endpoint(const struct wg_table *t, const struct wg_endpoint *ep)
{
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_peer *p = &t->peers[i];
		if (p->used && wg_endpoint_equal(&p->ep, ep))
			return i;
	}
	return -1;
}

static int find_link(const struct wg_table *t, int a, int b)
{
	for (uint32_t i = 0; i < t->nlinks; i++) {
		const struct wg_link *l = &t->links[i];
		if ((l->a == a && l->b == b) || (l->a == b && l->b == a))
			return (int)i;
	}
	return -1;
}

uint32_t wg_table_links_of(const struct wg_table *t, int slot, uint16_t *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < t->nlinks; i++) {
		const struct wg_link *l = &t->links[i];
		int other = l->a == slot ? l->b : l->b == slot ? l->a : -1;
		if (other < 0)
			continue;
		if (n < max)
			out[n] = (uint16_t)other;
		n++;
	}
	return n;
}

/* ---- changes ---- */

/* Names are what operators type and logs print: keep them to one plain word. */
static int check_name(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);

	if (len == 0 || len >= WG_NAME_LEN)
		return wg_err(err, errlen, "peer name must be 1..%d characters", WG_NAME_LEN - 1);
	for (const char *p = name; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9') && *p != '-' && *p != '_' && *p != '.')
			return wg_err(err, errlen,
				      "peer name \"%s\": only letters, digits, '-', '_' and '.'",
				      name);
	}
	return 0;
}

static int check_label(const char *label, char *err, size_t errlen)
{
	if (strlen(label) >= WG_LABEL_LEN)
		return wg_err(err, errlen, "label must be at most %d characters", WG_LABEL_LEN - 1);
	/*
	 * The table file is read back line by line: '#' starts a comment there
	 * and '=' marks a key=value word, so a label holding either would not
	 * survive a restart.
	 */
	for (const char *p = label; *p; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '#' || *p == '=')
			return wg_err(err, errlen,
				      "label must be one word without spaces, '#' or '='");
	}
	return 0;
}

static int parse_pubkey(const char *b64, uint8_t key[WG_KEY_LEN], char *err, size_t errlen)
{
	size_t len = 0;

	if (sodium_base642bin(key, WG_KEY_LEN, b64, strlen(b64), NULL, &len, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != WG_KEY_LEN)
		return wg_err(err, errlen, "pubkey \"%s\" is not 32 bytes of base64", b64);
	return 0;
}

int wg_table_peer_add(struct wg_table *t, const char *name, const char *endpoint, const char *label,
		      const char *pubkey_b64, char *err, size_t errlen)
{
	struct wg_peer p = { .used = true };
	char reason[160];
	int slot;

	if (check_name(name, err, errlen) < 0)
		return -1;
	if (wg_table_find(t, name) >= 0)
		return wg_err(err, errlen, "peer %s already exists", name);
	if (wg_endpoint_parse(endpoint, &p.ep, reason, sizeof(reason)) < 0)
		return wg_err(err, errlen, "peer %s: %s", name, reason);
	slot = wg_table_find_endpoint(t, &p.ep);
	if (slot >= 0)
		return wg_err(err, errlen, "peer %s: endpoint %s is already peer %s's", name,
			      endpoint, t->peers[slot].name);
	if (label && check_label(label, err, errlen) < 0)
		return -1;
	if (pubkey_b64 && parse_pubkey(pubkey_b64, p.pubkey, err, errlen) < 0)
		return -1;
	p.has_pubkey = pubkey_b64 != NULL;
	/* One key, one peer: MAC1 routing and roaming pick a peer by its key. */
	for (slot = 0; p.has_pubkey && slot < WG_MAX_PEERS; slot++) {
		const struct wg_peer *q = &t->peers[slot];
		if (q->used && q->has_pubkey && memcmp(q->pubkey, p.pubkey, WG_KEY_LEN) == 0)
			return wg_err(err, errlen, "peer %s: pubkey %s is already peer %s's", name,
				      pubkey_b64, q->name);
	}
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.label, sizeof(p.label), "%s", label ? label : "");
	for (slot = 0; slot < WG_MAX_PEERS && t->peers[slot].used; slot++)
		;
	if (slot == WG_MAX_PEERS)
		return wg_err(err, errlen, "the table is full (%d peers)", WG_MAX_PEERS);
	t->peers[slot] = p;
	t->npeers++;
	return slot;
}

int wg_table_peer_del(struct wg_table *t, const char *name, uint32_t *links_removed, char *err,
		      size_t errlen)
{
	int slot = wg_table_find(t, name);
	uint32_t kept = 0;

	if (slot < 0)
		return wg_err(err, errlen, "no peer %s", name);
	for (uint32_t i = 0; i < t->nlinks; i++) {
		if (t->links[i].a != slot && t->links[i].b != slot)
			t->links[kept++] = t->links[i];
	}
	if (links_removed)
		*links_removed = t->nlinks - kept;
	t->nlinks = kept;
	memset(&t->peers[slot], 0, sizeof(t->peers[slot]));
	t->npeers--;
	return 0;
}

static int link_slots(const struct wg_table *t, const char *a, const char *b, int *sa, int *sb,
		      char *err, size_t errlen)
{
	*sa = wg_table_find(t, a);
	*sb = wg_table_find(t, b);
	if (*sa < 0)
		return wg_err(err, errlen, "no peer %s", a);
	if (*sb < 0)
		return wg_err(err, errlen, "no peer %s", b);
	if (*sa == *sb)
		return wg_err(err, errlen, "a peer cannot be linked to itself");
	return 0;
}

int wg_table_link_add(struct wg_table *t, const char *a, const char *b, char *err, size_t errlen)
{
	int sa, sb;

	if (link_slots(t, a, b, &sa, &sb, err, errlen) < 0)
		return -1;
	if (find_link(t, sa, sb) >= 0)
		return wg_err(err, errlen, "%s and %s are already linked", a, b);
	if (t->nlinks == WG_MAX_LINKS)
		return wg_err(err, errlen, "the table is full (%d links)", WG_MAX_LINKS);
	t->links[t->nlinks++] = (struct wg_link){ .a = (uint16_t)sa, .b = (uint16_t)sb };
	return 0;
}

int wg_table_link_del(struct wg_table *t, const char *a, const char *b, char *err, size_t errlen)
{
	int sa, sb, i;

	if (link_slots(t, a, b, &sa, &sb, err, errlen) < 0)
		return -1;
	i = find_link(t, sa, sb);
	if (i < 0)
		return wg_err(err, errlen, "%s and %s are not linked", a, b);
	memmove(&t->links[i], &t->links[i + 1],
		(t->nlinks - (uint32_t)i - 1) * sizeof(t->links[0]));
	t->nlinks--;
	return 0;
}

/* ---- the file ---- */

#define MAX_WORDS 6

static int split_words(char *line, char **words)
{
	int n = 0;

	for (char *tok = strtok(line, " \t\r\n"); tok; tok = strtok(NULL, " \t\r\n")) {
		if (n == MAX_WORDS)
			return -1;
		words[n++] = tok;
	}
	return n;
}

int wg_table_apply_line(struct wg_table *t, const char *line, char *err, size_t errlen)
{
	char buf[512];
	char *w[MAX_WORDS];
	const char *label = NULL, *pubkey = NULL;
	int n;

	if (strlen(line) >= sizeof(buf))
		return wg_err(err, errlen, "line too long");
	snprintf(buf, sizeof(buf), "%s", line);
	char *hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	n = split_words(buf, w);
	if (n == 0)
		return 0;
	if (n < 0)
		return wg_err(err, errlen, "too many words");
	if (strcmp(w[0], "link") == 0) {
		if (n != 3)
			return wg_err(err, errlen, "expected: link A B");
		return wg_table_link_add(t, w[1], w[2], err, errlen);
	}
	if (strcmp(w[0], "peer") != 0)
		return wg_err(err, errlen, "expected \"peer\" or \"link\", not \"%s\"", w[0]);
	if (n < 3)
		return wg_err(err, errlen, "expected: peer NAME IP:PORT [LABEL] [pubkey=BASE64]");
	for (int i = 3; i < n; i++) {
		if (strncmp(w[i], "pubkey=", 7) == 0 && !pubkey)
			pubkey = w[i] + 7;
		else if (strchr(w[i], '=') == NULL && !label)
			label = w[i];
		else
			return wg_err(err, errlen, "unexpected \"%s\"", w[i]);
	}
	return wg_table_peer_add(t, w[1], w[2], label, pubkey, err, errlen) < 0 ? -1 : 0;
}

int wg_table_load(struct wg_table *t, const char *path, char *err, size_t errlen)
{
	struct wg_table *next;
	char line[512], reason[256];
	int lineno = 0, ret = -1;
	FILE *f = fopen(path, "r");

	if (!f) {
		if (errno == ENOENT) {
			wg_table_init(t);
			return 0;
		}
		return wg_err(err, errlen, "%s: %s", path, strerror(errno));
	}
	next = malloc(sizeof(*next));
	if (!next) {
		wg_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	wg_table_init(next);
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			wg_err(err, errlen, "%s:%d: line too long", path, lineno);
			goto out;
		}
		if (wg_table_apply_line(next, line, reason, sizeof(reason)) < 0) {
			wg_err(err, errlen, "%s:%d: %s", path, lineno, reason);
			goto out;
		}
	}
	if (ferror(f)) {
		wg_err(err, errlen, "%s: read error", path);
		goto out;
	}
	*t = *next;
	ret = 0;
out:
	free(next);
	fclose(f);
	return ret;
}

size_t wg_table_format(const struct wg_table *t, char *out, size_t cap)
{
	size_t len = 0;
	char ep[WG_ENDPOINT_STRLEN], key[64];

	if (cap)
		out[0] = '\0';
	wg_appendf(out, cap, &len,
		   "# hyper-derp WireGuard relay table: peers, then links. Written by the relay;\n"
		   "# change it with `hdcli wg ...` rather than by hand.\n");
	for (int i = 0; i < WG_MAX_PEERS; i++) {
		const struct wg_peer *p = &t->peers[i];
		if (!p->used)
			continue;
		wg_appendf(out, cap, &len, "peer %s %s", p->name,
			   wg_endpoint_format(&p->ep, ep, sizeof(ep)));
		if (p->label[0])
			wg_appendf(out, cap, &len, " %s", p->label);
		if (p->has_pubkey) {
			sodium_bin2base64(key, sizeof(key), p->pubkey, WG_KEY_LEN,
					  sodium_base64_VARIANT_ORIGINAL);
			wg_appendf(out, cap, &len, " pubkey=%s", key);
		}
		wg_appendf(out, cap, &len, "\n");
	}
	for (uint32_t i = 0; i < t->nlinks; i++)
		wg_appendf(out, cap, &len, "link %s %s\n", t->peers[t->links[i].a].name,
			   t->peers[t->links[i].b].name);
	return len;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int wg_table_save(const struct wg_table *t, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	size_t len = wg_table_format(t, NULL, 0);
	char *text = malloc(len + 1);
	int fd = -1, ret = -1;

	if (!text)
		return wg_err(err, errlen, "%s: out of memory", path);
	wg_table_format(t, text, len + 1);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp)) {
		wg_err(err, errlen, "%s: path too long", path);
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		wg_err(err, errlen, "%s: cannot create a temporary file: %s", path,
		       strerror(errno));
		goto out;
	}
	if (fchmod(fd, 0600) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0) {
		wg_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		wg_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		wg_err(err, errlen, "%s: rename: %s", path, strerror(errno));
		goto out_unlink;
	}
	/* The rename itself is durable only once the directory is synced. */
	snprintf(dir, sizeof(dir), "%s", path);
	int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	ret = 0;
	goto out;
out_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	free(text);
	return ret;
}
