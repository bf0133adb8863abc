// SPDX-License-Identifier: MIT
#include "hd_policy.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hd_array.h"
#include "key.h"

enum sel_kind { SEL_ANY, SEL_KEY, SEL_GROUP };

/* One side of a rule: everyone, one key (an index into parse.raw) or a group. */
struct sel {
	enum sel_kind kind;
	size_t idx;
};

struct rule {
	bool allow;
	struct sel from, to;
};

struct group {
	char name[HD_POLICY_NAME_MAX + 1];
	size_t *members; /* indices into parse.raw */
	size_t n, cap;
	bool used; /* named by a rule or another group: no more members after that */
};

/* The file as read, before the keys are known: keys are kept as mentioned. */
struct parse {
	uint8_t (*raw)[HD_POLICY_KEY_LEN];
	size_t n_raw, cap_raw;
	struct rule *rules;
	size_t n_rules, cap_rules;
	struct group *groups;
	size_t n_groups, cap_groups;
	size_t n_members;
};

static void parse_free(struct parse *ps)
{
	for (size_t i = 0; i < ps->n_groups; i++)
		free(ps->groups[i].members);
	free(ps->groups);
	free(ps->rules);
	free(ps->raw);
}

static int cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, HD_POLICY_KEY_LEN);
}

static struct group *find_group(struct parse *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_groups; i++)
		if (strcmp(ps->groups[i].name, name) == 0)
			return &ps->groups[i];
	return NULL;
}

static bool valid_group_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > HD_POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}

/* Keeps a mentioned key; its index goes into *idx. */
static int add_raw(struct parse *ps, const char *text, size_t *idx, const char **why)
{
	uint8_t key[HD_POLICY_KEY_LEN];
	void *p;

	if (key_from_hex(text, strlen(text), "nodekey:", key) < 0) {
		*why = "a key is nodekey: and 64 hex digits";
		return -1;
	}
	p = hd_array_grow(ps->raw, ps->n_raw, &ps->cap_raw, HD_POLICY_KEY_LEN, 16);
	if (!p) {
		*why = "out of memory";
		return -1;
	}
	ps->raw = p;
	memcpy(ps->raw[ps->n_raw], key, HD_POLICY_KEY_LEN);
	*idx = ps->n_raw++;
	return 0;
}

/* A rule side: *, nodekey:HEX or group:NAME (a group defined above). */
static int parse_sel(struct parse *ps, const char *text, struct sel *out, const char **why)
{
	if (strcmp(text, "*") == 0) {
		out->kind = SEL_ANY;
		return 0;
	}
	if (strncmp(text, "group:", 6) == 0) {
		struct group *g = find_group(ps, text + 6);
		if (!g) {
			*why = "unknown group (define it with a group line above its first use)";
			return -1;
		}
		g->used = true;
		out->kind = SEL_GROUP;
		out->idx = (size_t)(g - ps->groups);
		return 0;
	}
	if (strncmp(text, "nodekey:", 8) == 0) {
		out->kind = SEL_KEY;
		return add_raw(ps, text, &out->idx, why);
	}
	*why = "a peer is nodekey:<64 hex>, group:NAME or *";
	return -1;
}

static int add_member(struct parse *ps, struct group *g, size_t raw_idx, const char **why)
{
	size_t *p;

	if (ps->n_members == HD_POLICY_MAX_MEMBERS) {
		*why = "too many group members (at most 65536 in all)";
		return -1;
	}
	p = hd_array_grow(g->members, g->n, &g->cap, sizeof(*g->members), 16);
	if (!p) {
		*why = "out of memory";
		return -1;
	}
	g->members = p;
	g->members[g->n++] = raw_idx;
	ps->n_members++;
	return 0;
}

/* group NAME MEMBER...: a new group, or more members for one not yet used. */
static int parse_group(struct parse *ps, char **save, const char **why)
{
	char *name = strtok_r(NULL, " \t", save);
	char *member = name ? strtok_r(NULL, " \t", save) : NULL;
	struct group *g;

	if (!member) {
		*why = "want \"group NAME MEMBER...\"";
		return -1;
	}
	if (!valid_group_name(name)) {
		*why = "a group name is 1 to 63 of A-Z a-z 0-9 _ - .";
		return -1;
	}
	g = find_group(ps, name);
	if (g && g->used) {
		/* Rules above already took the group as it was: growing it now would be a surprise.
		 */
		*why = "the group is used above; list all its members before its first use";
		return -1;
	}
	if (!g) {
		struct group *p;
		if (ps->n_groups == HD_POLICY_MAX_GROUPS) {
			*why = "too many groups (at most 1024)";
			return -1;
		}
		p = hd_array_grow(ps->groups, ps->n_groups, &ps->cap_groups, sizeof(*ps->groups),
				  16);
		if (!p) {
			*why = "out of memory";
			return -1;
		}
		ps->groups = p;
		g = &ps->groups[ps->n_groups++];
		memset(g, 0, sizeof(*g));
		snprintf(g->name, sizeof(g->name), "%s", name);
	}
	for (; member; member = strtok_r(NULL, " \t", save)) {
		struct sel s;
		if (strcmp(member, "*") == 0) {
			*why = "a group member is nodekey:<64 hex> or group:NAME, not *";
			return -1;
		}
		if (parse_sel(ps, member, &s, why) < 0)
			return -1;
		if (s.kind == SEL_KEY) {
			if (add_member(ps, g, s.idx, why) < 0)
				return -1;
			continue;
		}
		const struct group *inner = &ps->groups[s.idx];
		if (inner == g) {
			*why = "a group cannot contain itself";
			return -1;
		}
		for (size_t i = 0; i < inner->n; i++)
			if (add_member(ps, g, inner->members[i], why) < 0)
				return -1;
	}
	return 0;
}

static int parse_rule(struct parse *ps, bool allow, char **save, const char **why)
{
	char *from = strtok_r(NULL, " \t", save);
	char *to = from ? strtok_r(NULL, " \t", save) : NULL;
	struct rule r = { .allow = allow };
	struct rule *p;

	if (!to || strtok_r(NULL, " \t", save)) {
		*why = allow ? "want \"allow FROM TO\"" : "want \"deny FROM TO\"";
		return -1;
	}
	if (ps->n_rules == HD_POLICY_MAX_RULES) {
		*why = "too many rules (at most 4096)";
		return -1;
	}
	if (parse_sel(ps, from, &r.from, why) < 0 || parse_sel(ps, to, &r.to, why) < 0)
		return -1;
	p = hd_array_grow(ps->rules, ps->n_rules, &ps->cap_rules, sizeof(*ps->rules), 16);
	if (!p) {
		*why = "out of memory";
		return -1;
	}
	ps->rules = p;
	ps->rules[ps->n_rules++] = r;
	return 0;
}

/* One line, comment and line end cut off. Returns 0 or -1 with why set. */
static int parse_line(struct parse *ps, char *line, const char **why)
{
	char *save = NULL;
	char *verb = strtok_r(line, " \t", &save);

	if (!verb)
		return 0;
	if (strcmp(verb, "allow") == 0)
		return parse_rule(ps, true, &save, why);
	if (strcmp(verb, "deny") == 0)
		return parse_rule(ps, false, &save, why);
	if (strcmp(verb, "group") == 0)
		return parse_group(ps, &save, why);
	*why = "unknown line (want allow, deny or group)";
	return -1;
}

static size_t slot_of(const struct hd_policy *p, const uint8_t key[HD_POLICY_KEY_LEN])
{
	uint64_t h;

	crypto_shorthash((unsigned char *)&h, key, HD_POLICY_KEY_LEN, p->seed);
	return (size_t)h & p->slot_mask;
}

/* A key's class: its index among the named keys, or n_keys for every other key. */
static size_t class_of(const struct hd_policy *p, const uint8_t key[HD_POLICY_KEY_LEN])
{
	for (size_t i = slot_of(p, key);; i = (i + 1) & p->slot_mask) {
		uint32_t s = p->slots[i];
		if (!s)
			return p->n_keys;
		if (memcmp(p->keys[s - 1], key, HD_POLICY_KEY_LEN) == 0)
			return s - 1;
	}
}

/* The table is at most half full, so a probe ends at an empty slot soon. */
static int build_slots(struct hd_policy *p)
{
	size_t cap = 2;

	while (cap < 2 * p->n_keys)
		cap *= 2;
	p->slots = calloc(cap, sizeof(*p->slots));
	if (!p->slots)
		return -1;
	p->slot_mask = cap - 1;
	randombytes_buf(p->seed, sizeof(p->seed));
	for (size_t c = 0; c < p->n_keys; c++) {
		size_t i = slot_of(p, p->keys[c]);
		while (p->slots[i])
			i = (i + 1) & p->slot_mask;
		p->slots[i] = (uint32_t)(c + 1);
	}
	return 0;
}

/* The classes a rule side covers, as a bitmap of one matrix row. */
static void side_mask(const struct hd_policy *p, const struct parse *ps, const struct sel *s,
		      uint64_t *mask)
{
	size_t rows = p->n_keys + 1;

	memset(mask, 0, p->words * sizeof(*mask));
	if (s->kind == SEL_ANY) {
		for (size_t c = 0; c < rows; c++)
			mask[c / 64] |= 1ull << (c % 64);
		return;
	}
	if (s->kind == SEL_KEY) {
		size_t c = class_of(p, ps->raw[s->idx]);
		mask[c / 64] |= 1ull << (c % 64);
		return;
	}
	const struct group *g = &ps->groups[s->idx];
	for (size_t i = 0; i < g->n; i++) {
		size_t c = class_of(p, ps->raw[g->members[i]]);
		mask[c / 64] |= 1ull << (c % 64);
	}
}

/*
 * Turns the rules into the matrix. They are applied last to first, each
 * overwriting its (from, to) cells, so what is left in a cell is the first
 * rule that matched it. Cells no rule covers stay 0: denied.
 */
static int compile(struct hd_policy *p, const struct parse *ps, const char *name, char *err,
		   size_t errlen)
{
	size_t n = 0, rows;
	uint64_t *from = NULL, *to = NULL;

	if (ps->n_raw) {
		p->keys = malloc(ps->n_raw * HD_POLICY_KEY_LEN);
		if (!p->keys)
			goto nomem;
		memcpy(p->keys, ps->raw, ps->n_raw * HD_POLICY_KEY_LEN);
		qsort(p->keys, ps->n_raw, HD_POLICY_KEY_LEN, cmp_key);
		for (size_t i = 0; i < ps->n_raw; i++)
			if (n == 0 || memcmp(p->keys[n - 1], p->keys[i], HD_POLICY_KEY_LEN) != 0)
				memmove(p->keys[n++], p->keys[i], HD_POLICY_KEY_LEN);
	}
	if (n > HD_POLICY_MAX_KEYS) {
		snprintf(err, errlen, "%s: names %zu different keys, at most %d", name, n,
			 HD_POLICY_MAX_KEYS);
		return -1;
	}
	p->n_keys = n;
	if (build_slots(p) < 0)
		goto nomem;
	rows = n + 1;
	p->words = (rows + 63) / 64;
	p->allow = calloc(rows * p->words, sizeof(*p->allow));
	from = malloc(p->words * sizeof(*from));
	to = malloc(p->words * sizeof(*to));
	if (!p->allow || !from || !to)
		goto nomem;
	for (size_t r = ps->n_rules; r-- > 0;) {
		const struct rule *rule = &ps->rules[r];
		side_mask(p, ps, &rule->from, from);
		side_mask(p, ps, &rule->to, to);
		for (size_t s = 0; s < rows; s++) {
			uint64_t *row = p->allow + s * p->words;
			if (!(from[s / 64] >> (s % 64) & 1))
				continue;
			for (size_t w = 0; w < p->words; w++)
				row[w] = rule->allow ? row[w] | to[w] : row[w] & ~to[w];
		}
	}
	free(from);
	free(to);
	return 0;
nomem:
	free(from);
	free(to);
	snprintf(err, errlen, "%s: out of memory", name);
	return -1;
}

int hd_policy_parse(const char *text, size_t len, const char *name, struct hd_policy **out,
		    char *err, size_t errlen)
{
	struct parse ps = { 0 };
	struct hd_policy *p = NULL;
	char *buf = NULL, *line;
	size_t lineno = 0;

	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "%s: libsodium did not start", name);
		return -1;
	}
	if (memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: contains a NUL byte; a policy is text", name);
		return -1;
	}
	buf = malloc(len + 1);
	p = calloc(1, sizeof(*p));
	if (!buf || !p) {
		snprintf(err, errlen, "%s: out of memory", name);
		goto fail;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	line = buf;
	while (line) {
		char *next = strchr(line, '\n');
		const char *why = NULL;
		if (next)
			*next++ = '\0';
		lineno++;
		line[strcspn(line, "#\r")] = '\0';
		if (parse_line(&ps, line, &why) < 0) {
			snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
			goto fail;
		}
		line = next;
	}
	if (compile(p, &ps, name, err, errlen) < 0)
		goto fail;
	p->n_rules = ps.n_rules;
	p->n_groups = ps.n_groups;
	parse_free(&ps);
	free(buf);
	*out = p;
	return 0;
fail:
	parse_free(&ps);
	free(buf);
	hd_policy_free(p);
	return -1;
}

int hd_policy_load(const char *path, struct hd_policy **out, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	size_t got = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > HD_POLICY_MAX_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u bytes", path,
			 HD_POLICY_MAX_FILE);
		close(fd);
		return -1;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, errlen, "%s: read: %s", path, n ? strerror(errno) : "short");
			free(text);
			close(fd);
			return -1;
		}
		got += (size_t)n;
	}
	close(fd);
	rc = hd_policy_parse(text, got, path, out, err, errlen);
	free(text);
	return rc;
}

void hd_policy_free(struct hd_policy *p)
{
	if (!p)
		return;
	free(p->keys);
	free(p->slots);
	free(p->allow);
	free(p);
}

bool hd_policy_allows(const struct hd_policy *p, const uint8_t src[HD_POLICY_KEY_LEN],
		      const uint8_t dst[HD_POLICY_KEY_LEN])
{
	size_t s, d;

	if (!p)
		return true;
	s = class_of(p, src);
	d = class_of(p, dst);
	return p->allow[s * p->words + d / 64] >> (d % 64) & 1;
}
