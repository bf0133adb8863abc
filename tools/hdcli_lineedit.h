/* SPDX-License-Identifier: MIT */
/*
 * A small line editor for the hdcli shell, so hdcli needs no readline
 * (GPL) or libedit: cursor keys, Home/End, Ctrl-A/E/B/F/K/U/W/L, history
 * (Up/Down), Tab completion and '?' help at any point. ASCII-minded; one
 * line, scrolled sideways when longer than the terminal.
 */
#ifndef HD_HDCLI_LINEEDIT_H
#define HD_HDCLI_LINEEDIT_H

#include <stddef.h>

struct le_candidates {
	char **items;
	size_t count;
	size_t cap;
};

/* Adds a copy of word; the editor keeps those starting with the typed prefix. */
void le_candidates_add(struct le_candidates *c, const char *word);

/*
 * Lists the words that may come at the end of line[0..len) (the editor
 * filters them by the word being typed). line is NUL-terminated at len.
 */
typedef void (*le_complete_fn)(void *arg, const char *line, size_t len, struct le_candidates *out);
/* Explains what may come next after line (typed so far), printing below the prompt. */
typedef void (*le_help_fn)(void *arg, const char *line);

struct line_editor {
	const char *prompt;
	le_complete_fn complete;
	le_help_fn help;
	void *arg;
	char **history;
	size_t hist_len;
	size_t hist_max;
};

/*
 * Reads one line from the terminal on stdin. Returns it (malloc'd, no
 * newline), an empty string after Ctrl-C, or NULL at Ctrl-D on an empty
 * line or when stdin closes.
 */
char *le_readline(struct line_editor *le);
/* Remembers line for Up/Down (blank lines and repeats are skipped). */
void le_history_add(struct line_editor *le, const char *line);
void le_history_load(struct line_editor *le, const char *path);
void le_history_save(const struct line_editor *le, const char *path);
void le_free(struct line_editor *le);

#endif
