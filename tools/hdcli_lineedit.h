/* SPDX-License-Identifier: MIT */
/*
 * The hdcli shell's line editor: libedit (BSD), so operators get the
 * editing, history search and key bindings they know (emacs keys by
 * default, vi mode and their own bindings from ~/.editrc), plus two keys of
 * ours: Tab completes verbs and their arguments, and '?' explains what may
 * come next at any point of the line.
 */
#ifndef HD_HDCLI_LINEEDIT_H
#define HD_HDCLI_LINEEDIT_H

#include <stdbool.h>
#include <stddef.h>

struct editline;
struct history;

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
	struct editline *el;
	struct history *hist;
	bool interrupted; /* Ctrl-C dropped the line being read */
	int hist_pos;	  /* Up/Down: 0 the new line, n the n-th newest history line */
	char *hist_saved; /* the new line, kept while stepping through history */
};

/* Sets up the editor on stdin/stdout (a terminal). Returns 0 or -1. */
int le_init(struct line_editor *le);
/*
 * Reads one line. Returns it (malloc'd, no newline), an empty string after
 * Ctrl-C, or NULL at Ctrl-D on an empty line or when stdin closes.
 */
char *le_readline(struct line_editor *le);
/* Remembers line for Up/Down and history search (blank lines and repeats are skipped). */
void le_history_add(struct line_editor *le, const char *line);
/* The history file holds one line per entry, oldest first. */
void le_history_load(struct line_editor *le, const char *path);
void le_history_save(const struct line_editor *le, const char *path);
void le_free(struct line_editor *le);

#endif
