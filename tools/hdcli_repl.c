// SPDX-License-Identifier: MIT
/*
 * The hdcli shell: a prompt with completion and help on a terminal, or a
 * script read line by line when stdin is not one. The verbs for completion
 * and '?' come from the relay's `help`, so a verb added on the server is
 * completable without a new hdcli.
 */
#include "hdcli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdcli_lineedit.h"
#include "mgmt_verb.h"

#define MAX_WORDS 64

struct verb_info {
	char *verb;
	char *args;
	char *help;
};

struct repl {
	struct hdcli *h;
	struct verb_info *verbs;
	int nverbs;
};

static const char *const log_levels[] = { "error", "warn", "info", "debug" };

int hdcli_split_words(const char *line, char **argv, int max, char *err, size_t errlen)
{
	int argc = 0;
	const char *p = line;
	char *word = malloc(strlen(line) + 1);

	if (!word) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		size_t n = 0;
		bool quoted = false;
		while (*p && (quoted || (*p != ' ' && *p != '\t'))) {
			if (*p == '"') {
				quoted = !quoted;
				p++;
			} else if (*p == '\\' && p[1]) {
				word[n++] = p[1];
				p += 2;
			} else {
				word[n++] = *p++;
			}
		}
		if (quoted) {
			snprintf(err, errlen, "missing closing quote");
			goto fail;
		}
		if (argc == max) {
			snprintf(err, errlen, "more than %d words", max);
			goto fail;
		}
		word[n] = '\0';
		argv[argc] = strdup(word);
		if (!argv[argc]) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		argc++;
	}
	free(word);
	return argc;
fail:
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(word);
	return -1;
}

static void free_words(char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

/* ---- the verb list ---- */

static void add_verb(struct repl *r, const char *verb, const char *args, const char *help)
{
	struct verb_info *v = realloc(r->verbs, (size_t)(r->nverbs + 1) * sizeof(*v));
	if (!v)
		return;
	r->verbs = v;
	v[r->nverbs].verb = strdup(verb);
	v[r->nverbs].args = strdup(args);
	v[r->nverbs].help = strdup(help);
	if (v[r->nverbs].verb && v[r->nverbs].args && v[r->nverbs].help)
		r->nverbs++;
}

/* Asks the relay for its verbs; falls back to hdcli's own table. */
static void load_verbs(struct repl *r)
{
	struct hdcli_reply reply;
	char *argv[] = { "help" };

	if (hdcli_request(r->h, 1, argv, &reply) == 0) {
		const struct json_value *cmds = reply.ok ? json_get(reply.data, "commands") : NULL;
		for (const struct json_value *c = cmds ? cmds->child : NULL; c; c = c->next)
			add_verb(r, json_get_str(c, "verb", "?"), json_get_str(c, "args", ""),
				 json_get_str(c, "help", ""));
		hdcli_reply_free(&reply);
	}
	if (r->nverbs > 0)
		return;
	for (int i = 0; i < hdcli_verb_count; i++)
		add_verb(r, hdcli_verbs[i].verb, hdcli_verbs[i].args, hdcli_verbs[i].help);
}

/*
 * Whether verb begins with the words argv[0..argc). Copies the verb's
 * following word into buf, or "" when the verb is complete.
 */
static bool verb_prefix(const char *verb, int argc, char **argv, char *buf, size_t cap)
{
	const char *rest = mgmt_verb_rest(verb, argc, argv);
	if (!rest)
		return false;
	snprintf(buf, cap, "%.*s", (int)strcspn(rest, " "), rest);
	return true;
}

/* The verb that argv starts with, and how many words it takes. */
static const struct verb_info *match_verb(const struct repl *r, int argc, char **argv, int *nwords)
{
	const struct verb_info *best = NULL;
	int best_n = 0;
	char next[64];

	for (int n = 1; n <= argc; n++) {
		for (int i = 0; i < r->nverbs; i++) {
			if (verb_prefix(r->verbs[i].verb, n, argv, next, sizeof(next)) &&
			    next[0] == '\0' && n > best_n) {
				best = &r->verbs[i];
				best_n = n;
			}
		}
	}
	*nwords = best_n;
	return best;
}

/* ---- argument values for completion ---- */

/* Adds the "key" of each element of array `list` in the reply to `show what`. */
static void add_shown_keys(struct repl *r, char *what, const char *list, struct le_candidates *out)
{
	struct hdcli_reply reply;
	char *argv[] = { "show", what };
	if (hdcli_request(r->h, 2, argv, &reply) < 0)
		return;
	const struct json_value *items = reply.ok ? json_get(reply.data, list) : NULL;
	for (const struct json_value *i = items ? items->child : NULL; i; i = i->next)
		le_candidates_add(out, json_get_str(i, "key", ""));
	hdcli_reply_free(&reply);
}

/* Values for argument number argi of verb. */
static void add_arg_values(struct repl *r, const struct verb_info *v, int argi,
			   struct le_candidates *out)
{
	if (strcmp(v->verb, "peer close") == 0 && argi == 0) {
		add_shown_keys(r, "peers", "peers", out); /* nodekey:HEX */
	} else if (strcmp(v->verb, "set log-level") == 0 && argi == 0) {
		for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
			le_candidates_add(out, log_levels[i]);
	} else if (strcmp(v->verb, "config set") == 0 && argi == 0) {
		add_shown_keys(r, "config", "keys", out); /* section.key */
	} else if (strcmp(v->verb, "help") == 0) {
		for (int i = 0; i < r->nverbs; i++) {
			char next[64];
			if (verb_prefix(r->verbs[i].verb, 0, NULL, next, sizeof(next)))
				le_candidates_add(out, next);
		}
	}
}

/* ---- Tab ---- */

static void complete_words(void *arg, const char *line, size_t len, struct le_candidates *out)
{
	struct repl *r = arg;
	char *argv[MAX_WORDS];
	char err[64];
	(void)len;

	int argc = hdcli_split_words(line, argv, MAX_WORDS, err, sizeof(err));
	if (argc < 0)
		return;
	if (argc == 0) {
		le_candidates_add(out, "quit");
		le_candidates_add(out, "?");
	}
	/* The next word of every verb the typed words begin. */
	for (int i = 0; i < r->nverbs; i++) {
		char next[64];
		if (verb_prefix(r->verbs[i].verb, argc, argv, next, sizeof(next)) && next[0]) {
			bool dup = false;
			for (size_t k = 0; k < out->count; k++)
				dup |= strcmp(out->items[k], next) == 0;
			if (!dup)
				le_candidates_add(out, next);
		}
	}
	int nwords;
	const struct verb_info *v = match_verb(r, argc, argv, &nwords);
	if (v)
		add_arg_values(r, v, argc - nwords, out);
	free_words(argv, argc);
}

/* ---- '?' ---- */

static void print_verb(const struct verb_info *v)
{
	char synopsis[96];
	snprintf(synopsis, sizeof(synopsis), "%s%s%s", v->verb, v->args[0] ? " " : "", v->args);
	printf("  %-28s %s\n", synopsis, v->help);
}

static void show_help(void *arg, const char *line)
{
	struct repl *r = arg;
	char *argv[MAX_WORDS];
	char err[64];
	size_t len = strlen(line);
	bool partial = len > 0 && line[len - 1] != ' ';

	int argc = hdcli_split_words(line, argv, MAX_WORDS, err, sizeof(err));
	if (argc < 0) {
		printf("  (%s)\n", err);
		return;
	}
	/* Verbs that the complete words begin and the partial word starts. */
	int shown = 0;
	int whole = partial ? argc - 1 : argc;
	for (int i = 0; i < r->nverbs; i++) {
		char next[64];
		if (!verb_prefix(r->verbs[i].verb, whole, argv, next, sizeof(next)))
			continue;
		if (partial && strncmp(next, argv[argc - 1], strlen(argv[argc - 1])) != 0)
			continue;
		if (!partial && !next[0])
			continue; /* fully typed: its arguments are explained below */
		print_verb(&r->verbs[i]);
		shown++;
	}
	int nwords;
	const struct verb_info *v = match_verb(r, whole, argv, &nwords);
	if (v) {
		struct le_candidates values = { 0 };
		print_verb(v);
		shown++;
		add_arg_values(r, v, whole - nwords, &values);
		if (values.count > 0)
			printf("  values:\n");
		for (size_t i = 0; i < values.count; i++) {
			printf("    %s\n", values.items[i]);
			free(values.items[i]);
		}
		free(values.items);
	}
	if (argc == 0)
		printf("  %-28s %s\n", "quit", "leave the shell (or Ctrl-D)");
	if (shown == 0)
		printf("  no command starts with \"%s\"\n", line);
	free_words(argv, argc);
}

/* ---- the loop ---- */

static int run_line(struct repl *r, const char *line, bool *quit)
{
	char *argv[MAX_WORDS];
	char err[128];

	int argc = hdcli_split_words(line, argv, MAX_WORDS, err, sizeof(err));
	if (argc < 0) {
		fprintf(stderr, "hdcli: %s\n", err);
		return HDCLI_USAGE;
	}
	if (argc == 0 || argv[0][0] == '#') {
		free_words(argv, argc);
		return HDCLI_OK;
	}
	int rc;
	if (argc == 1 && (strcmp(argv[0], "quit") == 0 || strcmp(argv[0], "exit") == 0)) {
		*quit = true;
		rc = HDCLI_OK;
	} else if (argc == 1 && strcmp(argv[0], "?") == 0) {
		show_help(r, "");
		rc = HDCLI_OK;
	} else {
		rc = hdcli_run(r->h, argc, argv);
	}
	free_words(argv, argc);
	fflush(stdout);
	return rc;
}

static int run_script(struct repl *r)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int worst = HDCLI_OK;
	bool quit = false;

	while (!quit && (n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		int rc = run_line(r, line, &quit);
		if (rc > worst)
			worst = rc;
	}
	free(line);
	return worst;
}

static int run_interactive(struct repl *r)
{
	struct line_editor le = {
		.prompt = "hdcli> ",
		.complete = complete_words,
		.help = show_help,
		.arg = r,
	};
	char history[4096] = "";
	const char *home = getenv("HOME");
	if (le_init(&le) < 0) {
		fprintf(stderr, "hdcli: cannot set up the line editor\n");
		return HDCLI_USAGE;
	}
	if (home && home[0])
		snprintf(history, sizeof(history), "%s/.hdcli_history", home);
	if (history[0])
		le_history_load(&le, history);

	load_verbs(r);
	printf("hdcli: connected to %s. Tab completes, ? explains, Ctrl-D leaves.\n",
	       r->h->socket_path);
	int last = HDCLI_OK;
	bool quit = false;
	while (!quit) {
		char *line = le_readline(&le);
		if (!line)
			break;
		le_history_add(&le, line);
		last = run_line(r, line, &quit);
		free(line);
	}
	if (history[0])
		le_history_save(&le, history);
	le_free(&le);
	return last;
}

int hdcli_repl(struct hdcli *h)
{
	struct repl r = { .h = h };
	int rc;

	if (isatty(STDIN_FILENO)) {
		if (hdcli_connect(h) < 0)
			return HDCLI_USAGE;
		rc = run_interactive(&r);
	} else {
		rc = run_script(&r);
	}
	for (int i = 0; i < r.nverbs; i++) {
		free(r.verbs[i].verb);
		free(r.verbs[i].args);
		free(r.verbs[i].help);
	}
	free(r.verbs);
	return rc;
}
