// SPDX-License-Identifier: MIT
#include "derper_flags.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum derper_kind {
	K_STRING,
	K_BOOL,
	K_INT,
	K_FLOAT,
	K_DURATION,
};

/*
 * How a row is applied: to one key as it is (MAP), or by code below that
 * combines several flags (DERIVED), or refused whenever it asks for more
 * than derper's default (REFUSED).
 */
enum derper_how {
	MAP,
	DERIVED,
	REFUSED,
};

struct derper_flag {
	const char *name;
	enum derper_kind kind;
	enum derper_how how;
	const char *key; /* MAP: "section.key" */
	const char *def; /* derper's default, as derper.go has it */
	const char *why; /* REFUSED: what is missing */
};

/*
 * Every flag of derper.go, in its order. The keys of the mesh, admission
 * and certificate parts are named as those parts add them; until a key
 * exists the flag is refused by name. The TCP keepalive and user-timeout
 * flags wait for their [limits] tcp_* keys: when they land, turn the rows
 * into MAP rows (the value is a Go duration: convert it where applied).
 */
static const struct derper_flag flags[] = {
	{ "dev", K_BOOL, DERIVED, NULL, "false", NULL },
	{ "version", K_BOOL, DERIVED, NULL, "false", NULL },
	{ "a", K_STRING, DERIVED, NULL, ":443", NULL },
	{ "http-port", K_INT, DERIVED, NULL, "80", NULL },
	{ "stun-port", K_INT, DERIVED, NULL, "3478", NULL },
	{ "c", K_STRING, DERIVED, NULL, "", NULL },
	{ "certmode", K_STRING, DERIVED, NULL, "letsencrypt", NULL },
	{ "certdir", K_STRING, DERIVED, NULL, "", NULL },
	{ "hostname", K_STRING, DERIVED, NULL, "derp.tailscale.com", NULL },
	{ "stun", K_BOOL, DERIVED, NULL, "true", NULL },
	{ "derp", K_BOOL, REFUSED, NULL, "true", "the relay always serves DERP" },
	{ "mesh-psk-file", K_STRING, DERIVED, NULL, "", NULL },
	{ "mesh-with", K_STRING, MAP, "mesh.with", "", NULL },
	{ "bootstrap-dns-names", K_STRING, MAP, "bootstrap_dns.names", "", NULL },
	{ "unpublished-bootstrap-dns-names", K_STRING, MAP, "bootstrap_dns.unpublished", "", NULL },
	{ "verify-clients", K_BOOL, MAP, "admission.verify_clients", "false", NULL },
	{ "verify-client-url", K_STRING, MAP, "admission.verify_client_url", "", NULL },
	{ "verify-client-url-fail-open", K_BOOL, MAP, "admission.fail_open", "true", NULL },
	{ "accept-connection-limit", K_FLOAT, MAP, "limits.accept_rate", "+Inf", NULL },
	{ "accept-connection-burst", K_INT, MAP, "limits.accept_burst", "9223372036854775807",
	  NULL },
	{ "per-client-rate-limit", K_INT, MAP, "limits.client_rate_bytes", "0", NULL },
	{ "per-client-rate-burst", K_INT, MAP, "limits.client_burst_bytes", "0", NULL },
	{ "tcp-keepalive-time", K_DURATION, MAP, "limits.tcp_keepalive_ms", "10m0s", NULL },
	{ "tcp-user-timeout", K_DURATION, MAP, "limits.tcp_user_timeout_ms", "15s", NULL },
};

#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

_Static_assert(N_FLAGS <= DERPER_FLAGS_MAX, "DERPER_FLAGS_MAX is too small");

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

static int row_of(const char *name, size_t len)
{
	for (size_t i = 0; i < N_FLAGS; i++) {
		if (strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0)
			return (int)i;
	}
	return -1;
}

const char *derper_flag_name(size_t row)
{
	return row < N_FLAGS ? flags[row].name : NULL;
}

/* "-name", "--name", "-name=v": the name's start and length; false if not a flag word. */
static bool split_word(const char *word, const char **name, size_t *len, const char **value)
{
	if (word[0] != '-' || word[1] == '\0')
		return false;
	const char *n = word + 1 + (word[1] == '-');
	if (*n == '\0' || *n == '-' || *n == '=')
		return false;
	const char *eq = strchr(n, '=');
	*name = n;
	*len = eq ? (size_t)(eq - n) : strlen(n);
	*value = eq ? eq + 1 : NULL;
	return true;
}

static bool is_help(const char *name, size_t len)
{
	return (len == 1 && name[0] == 'h') || (len == 4 && strncmp(name, "help", 4) == 0);
}

bool derper_flag_word(const char *word, bool *wants_value)
{
	const char *name, *value;
	size_t len;

	*wants_value = false;
	if (!split_word(word, &name, &len, &value))
		return false;
	if (is_help(name, len))
		return true;
	int row = row_of(name, len);
	if (row < 0)
		return false;
	*wants_value = !value && flags[row].kind != K_BOOL;
	return true;
}

/* Go's strconv.ParseBool. */
static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < 6; i++) {
		if (strcmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

static bool parse_int(const char *s, long long *out)
{
	char *end;
	if (*s == '\0')
		return false;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/*
 * A Go duration (time.ParseDuration): an optional sign, then number+unit
 * pairs ("1h30m", "1.5s", "500ms"), or a bare "0". Gives nanoseconds.
 */
static bool parse_duration(const char *s, double *ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {
		{ "ns", 1 },   { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 },
		{ "ms", 1e6 }, { "s", 1e9 },  { "m", 60e9 },	    { "h", 3600e9 },
	};
	double sign = 1, total = 0;

	if (*s == '+' || *s == '-')
		sign = *s++ == '-' ? -1 : 1;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return true;
	}
	if (*s == '\0')
		return false;
	while (*s) {
		size_t digits = strspn(s, "0123456789");
		size_t len = digits;
		if (s[len] == '.')
			len += 1 + strspn(s + len + 1, "0123456789");
		if (len == 0 || (digits == 0 && len == 1))
			return false;
		double v = strtod(s, NULL);
		s += len;
		/* Longest unit first: "ms" before "m", "ns" and "us" before "s". */
		size_t best = 0;
		double mult = 0;
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);
			if (n > best && strncmp(s, units[i].unit, n) == 0) {
				best = n;
				mult = units[i].ns;
			}
		}
		if (best == 0)
			return false;
		total += v * mult;
		s += best;
	}
	*ns = sign * total;
	return true;
}

static bool value_ok(enum derper_kind kind, const char *v)
{
	bool b;
	long long i;
	double d;
	char *end;

	switch (kind) {
	case K_STRING:
		return true;
	case K_BOOL:
		return parse_bool(v, &b);
	case K_INT:
		return parse_int(v, &i);
	case K_FLOAT:
		if (*v == '\0')
			return false;
		strtod(v, &end);
		return *end == '\0';
	case K_DURATION:
		return parse_duration(v, &d);
	}
	return false;
}

int derper_args_parse(char **words, int n, struct derper_args *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < n; i++) {
		const char *name, *value;
		size_t len;
		if (!split_word(words[i], &name, &len, &value))
			return fail(err, errlen, "unexpected argument \"%s\" (see --help)",
				    words[i]);
		out->any = true;
		if (is_help(name, len)) {
			out->help = true;
			continue;
		}
		int row = row_of(name, len);
		if (row < 0)
			return fail(err, errlen, "flag provided but not defined: -%.*s", (int)len,
				    name);
		const struct derper_flag *f = &flags[row];
		if (!value && f->kind == K_BOOL) {
			value = "true";
		} else if (!value) {
			if (i + 1 >= n)
				return fail(err, errlen, "flag needs an argument: -%s", f->name);
			value = words[++i];
		}
		if (!value_ok(f->kind, value))
			return fail(err, errlen, "invalid value \"%s\" for flag -%s", value,
				    f->name);
		out->value[row] = value;
	}
	/* -version=1, -version=T ... as Go reads a bool. */
	const char *version = out->value[row_of("version", 7)];
	out->version = version && parse_bool(version, &out->version) && out->version;
	return 0;
}

/* ---- applying ---- */

/* The flag's value: as given, or derper's default. */
static const char *val(const struct derper_args *a, const char *name)
{
	int row = row_of(name, strlen(name));
	return a->value[row] ? a->value[row] : flags[row].def;
}

static bool given(const struct derper_args *a, const char *name)
{
	return a->value[row_of(name, strlen(name))] != NULL;
}

static bool bool_val(const struct derper_args *a, const char *name)
{
	bool b = false;
	parse_bool(val(a, name), &b);
	return b;
}

static int set(struct hd_config *cfg, const char *flag, const char *key, const char *value,
	       char *err, size_t errlen)
{
	char reason[PATH_MAX + 128];
	if (config_set(cfg, key, value, reason, sizeof(reason)) < 0)
		return fail(err, errlen, "-%s: %s", flag, reason);
	return 0;
}

static int not_supported(const char *flag, char *err, size_t errlen)
{
	return fail(err, errlen, "-%s: not supported by this build (see docs/derper-flags.md)",
		    flag);
}

/* -a's address split: host ("" = every address) and port. */
struct listen_addr {
	char host[64];
	unsigned port;
};

static int parse_addr(const struct derper_args *a, struct listen_addr *out, char *err,
		      size_t errlen)
{
	/* derper's -dev listens on :3340 whatever -a says. */
	const char *addr = bool_val(a, "dev") ? ":3340" : val(a, "a");
	const char *colon = strrchr(addr, ':');
	const char *host = addr;
	size_t host_len;

	if (!colon)
		return fail(err, errlen, "-a: \"%s\": missing port in address", addr);
	host_len = (size_t)(colon - addr);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	}
	if (host_len >= sizeof(out->host))
		return fail(err, errlen, "-a: \"%s\": bad host", addr);
	memcpy(out->host, host, host_len);
	out->host[host_len] = '\0';

	const char *port = colon + 1;
	long long p;
	if (strcmp(port, "https") == 0)
		p = 443;
	else if (strcmp(port, "http") == 0)
		p = 80;
	else if (!parse_int(port, &p) || p < 0 || p > 65535)
		return fail(err, errlen, "-a: \"%s\": bad port", addr);
	out->port = (unsigned)p;

	if (strcmp(out->host, "localhost") == 0)
		snprintf(out->host, sizeof(out->host), "127.0.0.1");
	unsigned char buf[16];
	if (out->host[0] && inet_pton(AF_INET, out->host, buf) != 1 &&
	    inet_pton(AF_INET6, out->host, buf) != 1)
		return fail(err, errlen,
			    "-a: \"%s\": the host must be an IP address (or localhost) here", addr);
	return 0;
}

/* host:port as stun.listen and http.listen take it; an empty host is every address. */
static void join_host_port(const char *host, unsigned port, char *out, size_t cap)
{
	if (!host[0])
		snprintf(out, cap, ":%u", port);
	else if (strchr(host, ':'))
		snprintf(out, cap, "[%s]:%u", host, port);
	else
		snprintf(out, cap, "%s:%u", host, port);
}

static int apply_listen(const struct listen_addr *la, struct hd_config *cfg, char *err,
			size_t errlen)
{
	char port[8];
	snprintf(port, sizeof(port), "%u", la->port);
	/* Go's ":443" is every address, both families: "::" here (bindv6only = 0). */
	if (set(cfg, "a", "server.listen", la->host[0] ? la->host : "::", err, errlen) < 0 ||
	    set(cfg, "a", "server.port", port, err, errlen) < 0)
		return -1;
	return 0;
}

static int apply_stun(const struct derper_args *a, const struct listen_addr *la,
		      struct hd_config *cfg, char *err, size_t errlen)
{
	long long port = 0;
	char listen[96] = "";

	if (bool_val(a, "stun")) {
		parse_int(val(a, "stun-port"), &port);
		if (port < 1 || port > 65535)
			return fail(err, errlen, "-stun-port: %lld is not a port", port);
		/* derper binds STUN to -a's host. */
		join_host_port(la->host, (unsigned)port, listen, sizeof(listen));
	}
	return set(cfg, "stun", "stun.listen", listen, err, errlen);
}

/* derper's default -certdir: tsweb.DefaultCertDir("derper-certs"), under the user's cache. */
static void default_cert_dir(char *out, size_t cap)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	if (xdg && xdg[0] == '/')
		snprintf(out, cap, "%s/tailscale/derper-certs", xdg);
	else if (home && home[0])
		snprintf(out, cap, "%s/.cache/tailscale/derper-certs", home);
	else
		out[0] = '\0';
}

/* derper's manual mode file name: the host name without characters outside [a-zA-Z0-9.-]. */
static void cert_file_stem(const char *hostname, char *out, size_t cap)
{
	size_t n = 0;
	for (const char *c = hostname; *c && n + 1 < cap; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '-' || *c == '.')
			out[n++] = *c;
	}
	out[n] = '\0';
}

/* derper serves TLS when -a's port is 443 (or "https") or -certmode is manual. */
static bool serves_tls(const struct derper_args *a, const struct listen_addr *la)
{
	return la->port == 443 || strcmp(val(a, "certmode"), "manual") == 0;
}

static int apply_tls(const struct derper_args *a, const struct listen_addr *la,
		     struct hd_config *cfg, char *err, size_t errlen)
{
	const char *mode = val(a, "certmode");
	char dir[PATH_MAX];
	char path[PATH_MAX + 300];
	char stem[256];

	if (!serves_tls(a, la)) {
		/* Plain HTTP, as derper on any other port: no certificate from anywhere. */
		if (config_has_key("tls.mode") &&
		    set(cfg, "a", "tls.mode", "file", err, errlen) < 0)
			return -1;
		if (set(cfg, "a", "tls.cert", "", err, errlen) < 0)
			return -1;
		return set(cfg, "a", "tls.key", "", err, errlen);
	}
	if (strcmp(mode, "manual") != 0 && strcmp(mode, "letsencrypt") != 0)
		return fail(err, errlen, "-certmode: unsupport cert mode: \"%s\"", mode);
	if (given(a, "certdir"))
		snprintf(dir, sizeof(dir), "%s", val(a, "certdir"));
	else
		default_cert_dir(dir, sizeof(dir));
	if (!dir[0])
		return fail(err, errlen, "-certdir: missing required --certdir flag");

	/* derper's manual mode file name: the host name without characters outside [a-zA-Z0-9.-].
	 */
	cert_file_stem(val(a, "hostname"), stem, sizeof(stem));

	/* With the certificate part's keys, its modes do the work (reloads, ACME). */
	if (config_has_key("tls.mode")) {
		bool manual = strcmp(mode, "manual") == 0;
		if (set(cfg, "certmode", "tls.mode", manual ? "manual" : "acme", err, errlen) < 0 ||
		    set(cfg, "certdir", "tls.cert_dir", dir, err, errlen) < 0)
			return -1;
		/* It names <cert_dir>/<server.hostname>.crt there: derper's file names. */
		if (config_has_key("server.hostname"))
			return set(cfg, "hostname", "server.hostname", stem, err, errlen);
		return 0;
	}
	if (strcmp(mode, "manual") != 0)
		return fail(err, errlen,
			    "-certmode letsencrypt%s: not supported by this build (see "
			    "docs/derper-flags.md); give -certmode manual and -certdir",
			    given(a, "certmode") ? ""
						 : " (derper's default when -a's port is 443)");
	/* Without them: the files derper's manual mode reads, <certdir>/<hostname>.crt and .key. */
	snprintf(path, sizeof(path), "%s/%s.crt", dir, stem);
	if (set(cfg, "certdir", "tls.cert", path, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
	return set(cfg, "certdir", "tls.key", path, err, errlen);
}

static int apply_http_port(const struct derper_args *a, const struct listen_addr *la,
			   struct hd_config *cfg, char *err, size_t errlen)
{
	long long port = 0;
	char text[16];

	parse_int(val(a, "http-port"), &port);
	if (!config_has_key("http.port")) {
		/* -1 asks for no port-80 listener, which is what this build has. */
		if (given(a, "http-port") && port >= 0)
			return not_supported("http-port", err, errlen);
		return 0;
	}
	/* derper runs its port-80 listener only beside TLS. */
	if (port < 0 || !serves_tls(a, la))
		port = 0;
	if (port > 65535)
		return fail(err, errlen, "-http-port: %lld is not a port", port);
	snprintf(text, sizeof(text), "%lld", port);
	if (set(cfg, "http-port", "http.port", text, err, errlen) < 0)
		return -1;
	/* Bound to -a's host, as derper's: http.listen's empty value is server.listen. */
	if (!config_has_key("http.listen"))
		return 0;
	return set(cfg, "http-port", "http.listen", "", err, errlen);
}

/* derper's defaultMeshPSKFile: the first of these that exists. */
static void default_mesh_psk_file(char *out, size_t cap)
{
	const char *home = getenv("HOME");
	char in_home[PATH_MAX];
	snprintf(in_home, sizeof(in_home), "%s/keys/derp-mesh.key", home ? home : "");
	const char *try[] = { "/home/derp/keys/derp-mesh.key", in_home };
	out[0] = '\0';
	for (size_t i = 0; i < 2; i++) {
		if (access(try[i], F_OK) == 0) {
			snprintf(out, cap, "%s", try[i]);
			return;
		}
	}
}

/*
 * derper's -c default depends on running as root. Asked once, at the first
 * parse: a reload (SIGHUP, `config commit`) parses the command line again
 * after the privileges were dropped and must reach the same key file.
 */
static bool started_as_root(void)
{
	static int as_root = -1;
	if (as_root < 0)
		as_root = geteuid() == 0;
	return as_root == 1;
}

static int apply_keys(const struct derper_args *a, enum derper_phase phase, struct hd_config *cfg,
		      char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (given(a, "c")) {
		/* The same JSON file, {"PrivateKey": "privkey:..."}: the relay keeps its identity.
		 */
		if (set(cfg, "c", "server.key_file", val(a, "c"), err, errlen) < 0)
			return -1;
	} else if (phase == DERPER_DEFAULTS && started_as_root()) {
		if (set(cfg, "c", "server.key_file", "/var/lib/derper/derper.key", err, errlen) < 0)
			return -1;
	}
	if (given(a, "mesh-psk-file"))
		return set(cfg, "mesh-psk-file", "server.mesh_key_file", val(a, "mesh-psk-file"),
			   err, errlen);
	if (phase == DERPER_DEFAULTS) {
		default_mesh_psk_file(path, sizeof(path));
		if (path[0])
			return set(cfg, "mesh-psk-file", "server.mesh_key_file", path, err, errlen);
	}
	return 0;
}

/*
 * A value as the key takes it: bools as true/false, derper's +Inf rate as 0
 * (no limit), Go durations as milliseconds (the *_ms keys they map to).
 */
static void key_value(const struct derper_flag *f, const char *v, char *out, size_t cap)
{
	bool b;
	double ns;
	if (f->kind == K_BOOL && parse_bool(v, &b)) {
		snprintf(out, cap, "%s", b ? "true" : "false");
	} else if (f->kind == K_DURATION && parse_duration(v, &ns)) {
		snprintf(out, cap, "%.0f", ns < 0 ? 0.0 : ceil(ns / 1e6));
	} else if (f->kind == K_FLOAT) {
		double d = strtod(v, NULL);
		snprintf(out, cap, "%.0f", isinf(d) || d < 0 ? 0.0 : ceil(d));
	} else {
		snprintf(out, cap, "%s", v);
	}
}

/* Whether v is derper's default for f, so it asks for nothing this build lacks. */
static bool is_default(const struct derper_flag *f, const char *v)
{
	bool b1, b2;
	if (f->kind == K_BOOL && parse_bool(v, &b1) && parse_bool(f->def, &b2))
		return b1 == b2;
	if (f->kind == K_FLOAT)
		return isinf(strtod(v, NULL)) && strtod(v, NULL) > 0;
	double d1, d2;
	if (f->kind == K_DURATION && parse_duration(v, &d1) && parse_duration(f->def, &d2))
		return d1 == d2;
	return strcmp(v, f->def) == 0;
}

static int apply_rows(const struct derper_args *a, struct hd_config *cfg, char *err, size_t errlen)
{
	char text[PATH_MAX];

	for (size_t i = 0; i < N_FLAGS; i++) {
		const struct derper_flag *f = &flags[i];
		const char *v = a->value[i];
		if (!v || f->how == DERIVED)
			continue;
		if (f->how == REFUSED || !config_has_key(f->key)) {
			if (is_default(f, v))
				continue;
			if (f->how == REFUSED)
				return fail(err, errlen,
					    "-%s=%s: not supported by this build: %s (see "
					    "docs/derper-flags.md)",
					    f->name, v, f->why);
			return not_supported(f->name, err, errlen);
		}
		key_value(f, v, text, sizeof(text));
		if (set(cfg, f->name, f->key, text, err, errlen) < 0)
			return -1;
	}
	return 0;
}

/*
 * derper has no management socket, and a derper unit running as its own
 * user gives it no /run directory: our default there could not be made
 * and the relay would not start. Such a unit gets the socket in systemd's
 * RuntimeDirectory= if it has one, else none (hdcli then has nothing to
 * talk to; a --config file or --mgmt-socket can still set one).
 */
static int apply_mgmt_socket(struct hd_config *cfg, char *err, size_t errlen)
{
	const char *runtime = getenv("RUNTIME_DIRECTORY");
	char path[PATH_MAX];

	if (started_as_root())
		return 0;
	path[0] = '\0';
	/* systemd lists several directories separated by ':'; the first is ours. */
	if (runtime && runtime[0] == '/')
		snprintf(path, sizeof(path), "%.*s/mgmt.sock", (int)strcspn(runtime, ":"), runtime);
	return set(cfg, "c", "mgmt.socket", path, err, errlen);
}

int derper_args_apply(const struct derper_args *a, enum derper_phase phase, struct hd_config *cfg,
		      char *err, size_t errlen)
{
	struct listen_addr la;

	if (!a->any)
		return 0;
	if (parse_addr(a, &la, err, errlen) < 0)
		return -1;
	bool dev = given(a, "dev");
	bool addr_given = given(a, "a") || dev;
	/*
	 * Defaults go in before the --config file, so the file overrides them;
	 * a group of flags given goes in after it, so the command line wins.
	 */
	if (phase == DERPER_DEFAULTS || addr_given) {
		if (apply_listen(&la, cfg, err, errlen) < 0)
			return -1;
	}
	if (phase == DERPER_DEFAULTS || addr_given || given(a, "stun") || given(a, "stun-port")) {
		if (apply_stun(a, &la, cfg, err, errlen) < 0)
			return -1;
	}
	/*
	 * derper's TLS default (Let's Encrypt on 443) is left to
	 * derper_args_finish: a certificate from the file or our options must
	 * win over it, and they come after this.
	 */
	bool tls_given =
	    addr_given || given(a, "certmode") || given(a, "certdir") || given(a, "hostname");
	if (phase == DERPER_GIVEN && tls_given) {
		if (apply_tls(a, &la, cfg, err, errlen) < 0)
			return -1;
	}
	if (phase == DERPER_DEFAULTS || addr_given || given(a, "http-port")) {
		if (apply_http_port(a, &la, cfg, err, errlen) < 0)
			return -1;
	}
	if (apply_keys(a, phase, cfg, err, errlen) < 0)
		return -1;
	if (phase == DERPER_DEFAULTS && apply_mgmt_socket(cfg, err, errlen) < 0)
		return -1;
	return phase == DERPER_GIVEN ? apply_rows(a, cfg, err, errlen) : 0;
}

int derper_args_finish(const struct derper_args *a, struct hd_config *cfg, char *err, size_t errlen)
{
	struct listen_addr la;
	char mode[32];

	if (!a->any)
		return 0;
	if (parse_addr(a, &la, err, errlen) < 0)
		return -1;
	/* A certificate from anywhere, or derper's manual mode: nothing to add. */
	if (cfg->port != 443 || cfg->tls_cert[0] || strcmp(val(a, "certmode"), "manual") == 0)
		return 0;
	if (config_get(cfg, "tls.mode", mode, sizeof(mode)) == 0)
		return strcmp(mode, "file") == 0 ? apply_tls(a, &la, cfg, err, errlen) : 0;
	return fail(err, errlen,
		    "-certmode letsencrypt (derper's default when -a's port is 443): not "
		    "supported by this build (see docs/derper-flags.md); give -certmode "
		    "manual and -certdir, or a [tls] certificate");
}
