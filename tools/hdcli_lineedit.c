// SPDX-License-Identifier: MIT
#include "hdcli_lineedit.h"

#include <histedit.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_MAX 500

void le_candidates_add(struct le_candidates *c, const char *word)
{
	if (c->count == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		char **items = realloc(c->items, cap * sizeof(*items));
		if (!items)
			return;
		c->items = items;
		c->cap = cap;
	}
	char *copy = strdup(word);
	if (copy)
		c->items[c->count++] = copy;
}

static void candidates_free(struct le_candidates *c)
{
	for (size_t i = 0; i < c->count; i++)
		free(c->items[i]);
	free(c->items);
	memset(c, 0, sizeof(*c));
}

static struct line_editor *editor_of(EditLine *el)
{
	void *le = NULL;

	el_get(el, EL_CLIENTDATA, &le);
	return le;
}

static char *prompt(EditLine *el)
{
	return (char *)editor_of(el)->prompt;
}

/* The line up to the cursor, or whole, NUL-terminated (libedit's buffer is not). */
static char *line_copy(EditLine *el, bool whole)
{
	const LineInfo *li = el_line(el);
	const char *end = whole ? li->lastchar : li->cursor;

	return strndup(li->buffer, (size_t)(end - li->buffer));
}

static size_t terminal_columns(EditLine *el)
{
	int cols = 0;

	if (el_get(el, EL_GETTC, "co", &cols, NULL) != 0 || cols <= 0)
		return 80;
	return (size_t)cols;
}

static void print_candidates(EditLine *el, const struct le_candidates *c, const bool *keep)
{
	size_t width = 0, cols = terminal_columns(el), n = 0;

	for (size_t i = 0; i < c->count; i++)
		if (keep[i] && strlen(c->items[i]) > width)
			width = strlen(c->items[i]);
	width += 2;
	size_t per_row = cols / width ? cols / width : 1;
	printf("\n");
	for (size_t i = 0; i < c->count; i++) {
		if (!keep[i])
			continue;
		printf("%-*s", (int)width, c->items[i]);
		if (++n % per_row == 0)
			printf("\n");
	}
	if (n % per_row)
		printf("\n");
	fflush(stdout);
}

/*
 * Tab: one match is inserted whole with a space after it; several insert
 * what they have in common, and when that adds nothing they are listed.
 * libedit's own completer (fn_complete) is file-name minded and not part of
 * its public header, so the candidates and the listing are ours.
 */
static unsigned char key_complete(EditLine *el, int ch)
{
	struct line_editor *le = editor_of(el);
	struct le_candidates c = { 0 };
	/*
	 * A whole redraw, not libedit's usual diff: the completed line then
	 * reaches the terminal as one piece of text after the prompt.
	 */
	unsigned char ret = CC_REDISPLAY;
	(void)ch;

	char *line = line_copy(el, false);
	if (!line || !le->complete) {
		free(line);
		return CC_REFRESH_BEEP;
	}
	size_t pos = strlen(line), start = pos;
	while (start > 0 && line[start - 1] != ' ')
		start--;
	const char *prefix = line + start;
	size_t plen = pos - start;
	/* The callback sees the words before the one being typed. */
	char *before = strndup(line, start);
	if (before)
		le->complete(le->arg, before, start, &c);
	free(before);

	bool *keep = calloc(c.count ? c.count : 1, sizeof(*keep));
	size_t matches = 0, common = 0;
	const char *first = NULL;
	for (size_t i = 0; keep && i < c.count; i++) {
		if (strncmp(c.items[i], prefix, plen) != 0)
			continue;
		keep[i] = true;
		if (!first) {
			first = c.items[i];
			common = strlen(first);
		} else {
			size_t k = 0;
			while (k < common && first[k] == c.items[i][k])
				k++;
			common = k;
		}
		matches++;
	}
	if (matches == 0) {
		ret = CC_REFRESH_BEEP;
	} else if (matches == 1) {
		el_insertstr(el, first + plen);
		el_insertstr(el, " ");
	} else if (common > plen) {
		char *add = strndup(first + plen, common - plen);
		if (add)
			el_insertstr(el, add);
		free(add);
	} else {
		print_candidates(el, &c, keep);
		ret = CC_REDISPLAY;
	}
	free(keep);
	candidates_free(&c);
	free(line);
	return ret;
}

/*
 * '?': help for what is typed up to the cursor, then the line as it was.
 * A key of its own rather than a command, as on a router's CLI: no hdcli
 * argument contains '?', so the key is free to take.
 */
static unsigned char key_help(EditLine *el, int ch)
{
	struct line_editor *le = editor_of(el);
	char *line;
	(void)ch;

	if (!le->help)
		return el_insertstr(el, "?") == 0 ? CC_REFRESH : CC_ERROR;
	line = line_copy(el, false);
	if (!line)
		return CC_ERROR;
	printf("?\n");
	le->help(le->arg, line);
	fflush(stdout);
	free(line);
	return CC_REDISPLAY;
}

/* Replaces the whole line by text, the cursor at its end. */
static void set_line(EditLine *el, const char *text)
{
	const LineInfo *li = el_line(el);

	el_cursor(el, (int)(li->lastchar - li->cursor));
	li = el_line(el);
	el_deletestr(el, (int)(li->cursor - li->buffer));
	el_insertstr(el, text);
}

/*
 * Up/Down (and Ctrl-P/Ctrl-N) step through the history. Ours rather than
 * libedit's ed-prev-history only to redraw the recalled line whole, like
 * Tab does; the history is libedit's, so its searches (Ctrl-R, and
 * ed-search-prev-history for ~/.editrc) see the same lines.
 */
static unsigned char history_step(EditLine *el, int dir)
{
	struct line_editor *le = editor_of(el);
	int want = le->hist_pos + dir;
	HistEvent ev;

	if (want < 0)
		return CC_REFRESH_BEEP;
	if (le->hist_pos == 0) {
		free(le->hist_saved);
		le->hist_saved = line_copy(el, true);
	}
	if (want == 0) {
		set_line(el, le->hist_saved ? le->hist_saved : "");
		le->hist_pos = 0;
		return CC_REDISPLAY;
	}
	/* H_FIRST is the newest line; H_NEXT walks towards older ones. */
	int ok = history(le->hist, &ev, H_FIRST);
	for (int i = 1; ok == 0 && i < want; i++)
		ok = history(le->hist, &ev, H_NEXT);
	if (ok != 0)
		return CC_REFRESH_BEEP;
	set_line(el, ev.str);
	le->hist_pos = want;
	return CC_REDISPLAY;
}

static unsigned char key_history_prev(EditLine *el, int ch)
{
	(void)ch;
	return history_step(el, 1);
}

static unsigned char key_history_next(EditLine *el, int ch)
{
	(void)ch;
	return history_step(el, -1);
}

/* Ctrl-C: drop the line and give a fresh prompt, as a shell does. */
static unsigned char key_interrupt(EditLine *el, int ch)
{
	struct line_editor *le = editor_of(el);
	(void)ch;

	le->interrupted = true;
	/* el_gets returns nothing for an empty line ending this way: give it one. */
	el_insertstr(el, "\n");
	printf("^C\n");
	fflush(stdout);
	return CC_NEWLINE;
}

int le_init(struct line_editor *le)
{
	le->hist = history_init();
	le->el = el_init("hdcli", stdin, stdout, stderr);
	if (!le->hist || !le->el) {
		le_free(le);
		return -1;
	}
	HistEvent ev;
	history(le->hist, &ev, H_SETSIZE, HISTORY_MAX);
	history(le->hist, &ev, H_SETUNIQUE, 1);

	el_set(le->el, EL_CLIENTDATA, le);
	el_set(le->el, EL_PROMPT, prompt);
	el_set(le->el, EL_EDITOR, "emacs");
	el_set(le->el, EL_SIGNAL, 1);
	el_set(le->el, EL_HIST, history, le->hist);
	/*
	 * Ctrl-C reaches us as a key, not SIGINT: it drops the line being
	 * edited, not the shell.
	 */
	el_set(le->el, EL_SETTY, "-d", "-isig", NULL);
	/*
	 * The wide call for our functions: libedit keeps the names it is
	 * given, and the narrow one copies them where el_end never frees them.
	 */
	el_wset(le->el, EL_ADDFN, L"hd-complete", L"complete hdcli verbs and arguments",
		key_complete);
	el_wset(le->el, EL_ADDFN, L"hd-help", L"explain what may come next", key_help);
	el_wset(le->el, EL_ADDFN, L"hd-interrupt", L"drop the line", key_interrupt);
	el_wset(le->el, EL_ADDFN, L"hd-prev-history", L"the previous history line",
		key_history_prev);
	el_wset(le->el, EL_ADDFN, L"hd-next-history", L"the next history line", key_history_next);
	el_set(le->el, EL_BIND, "^I", "hd-complete", NULL);
	el_set(le->el, EL_BIND, "?", "hd-help", NULL);
	el_set(le->el, EL_BIND, "^C", "hd-interrupt", NULL);
	el_set(le->el, EL_BIND, "^P", "hd-prev-history", NULL);
	el_set(le->el, EL_BIND, "^N", "hd-next-history", NULL);
	/* Arrow keys in both cursor key modes a terminal may send. */
	el_set(le->el, EL_BIND, "\033[A", "hd-prev-history", NULL);
	el_set(le->el, EL_BIND, "\033OA", "hd-prev-history", NULL);
	el_set(le->el, EL_BIND, "\033[B", "hd-next-history", NULL);
	el_set(le->el, EL_BIND, "\033OB", "hd-next-history", NULL);
	/* Ctrl-R: incremental search back through the history, as in shells. */
	el_set(le->el, EL_BIND, "^R", "em-inc-search-prev", NULL);
	/* Shells' Ctrl-W (libedit's emacs default kills the region instead). */
	el_set(le->el, EL_BIND, "^W", "ed-delete-prev-word", NULL);
	/* The operator's ~/.editrc (or $EDITRC) comes last and may change any of this. */
	el_source(le->el, NULL);
	return 0;
}

char *le_readline(struct line_editor *le)
{
	int count = 0;

	le->interrupted = false;
	le->hist_pos = 0;
	const char *s = el_gets(le->el, &count);
	if (le->interrupted)
		return strdup("");
	if (!s || count <= 0) {
		printf("\n");
		fflush(stdout);
		return NULL;
	}
	size_t n = strlen(s);
	if (n > 0 && s[n - 1] == '\n')
		n--;
	return strndup(s, n);
}

void le_history_add(struct line_editor *le, const char *line)
{
	HistEvent ev;

	if (line[0])
		history(le->hist, &ev, H_ENTER, line);
}

/*
 * Plain lines, not libedit's own H_LOAD/H_SAVE format (a header and
 * vis(3)-encoded lines), so history files written before libedit still load.
 */
void le_history_load(struct line_editor *le, const char *path)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!f)
		return;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n')
			line[n - 1] = '\0';
		le_history_add(le, line);
	}
	free(line);
	fclose(f);
}

void le_history_save(const struct line_editor *le, const char *path)
{
	HistEvent ev;
	FILE *f = fopen(path, "w");

	if (!f)
		return;
	/* H_LAST is the oldest entry; H_PREV walks towards the newest. */
	for (int ok = history(le->hist, &ev, H_LAST); ok == 0; ok = history(le->hist, &ev, H_PREV))
		fprintf(f, "%s\n", ev.str);
	fclose(f);
}

void le_free(struct line_editor *le)
{
	if (le->el)
		el_end(le->el);
	if (le->hist)
		history_end(le->hist);
	free(le->hist_saved);
	le->el = NULL;
	le->hist = NULL;
	le->hist_saved = NULL;
}
