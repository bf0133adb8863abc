// SPDX-License-Identifier: MIT
#include "hdcli_lineedit.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define KEY_CTRL(c) ((c)&0x1f) /* the byte Ctrl+c sends */

struct edit {
	char *buf;
	size_t len;
	size_t pos;
	size_t cap;
	const char *prompt;
	size_t hist_index; /* le->hist_len while editing a new line */
	char *saved;	   /* the new line, kept while browsing history */
};

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

static void out(const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(STDOUT_FILENO, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void outs(const char *s)
{
	out(s, strlen(s));
}

static size_t terminal_columns(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		return ws.ws_col;
	return 80;
}

/* Draws prompt and line, scrolled so the cursor stays visible. */
static void refresh(const struct edit *e)
{
	size_t cols = terminal_columns();
	size_t plen = strlen(e->prompt);
	const char *b = e->buf;
	size_t len = e->len, pos = e->pos;
	char seq[32];

	while (plen + pos >= cols && len > 0) {
		b++;
		len--;
		pos--;
	}
	if (plen + len > cols - 1)
		len = cols - 1 - plen;
	outs("\r");
	outs(e->prompt);
	out(b, len);
	outs("\x1b[0K");
	snprintf(seq, sizeof(seq), "\r\x1b[%zuC", plen + pos);
	if (plen + pos > 0)
		outs(seq);
}

static bool reserve(struct edit *e, size_t more)
{
	if (e->len + more + 1 <= e->cap)
		return true;
	size_t cap = e->cap ? e->cap * 2 : 256;
	while (cap < e->len + more + 1)
		cap *= 2;
	char *buf = realloc(e->buf, cap);
	if (!buf)
		return false;
	e->buf = buf;
	e->cap = cap;
	return true;
}

static void insert(struct edit *e, const char *s, size_t n)
{
	if (!reserve(e, n))
		return;
	memmove(e->buf + e->pos + n, e->buf + e->pos, e->len - e->pos);
	memcpy(e->buf + e->pos, s, n);
	e->len += n;
	e->pos += n;
	e->buf[e->len] = '\0';
}

static void delete_range(struct edit *e, size_t from, size_t to)
{
	memmove(e->buf + from, e->buf + to, e->len - to);
	e->len -= to - from;
	e->buf[e->len] = '\0';
	if (e->pos > to)
		e->pos -= to - from;
	else if (e->pos > from)
		e->pos = from;
}

static void set_line(struct edit *e, const char *s)
{
	e->len = e->pos = 0;
	if (e->buf)
		e->buf[0] = '\0';
	insert(e, s, strlen(s));
}

/* ---- history ---- */

void le_history_add(struct line_editor *le, const char *line)
{
	if (!line[0] || (le->hist_len && strcmp(le->history[le->hist_len - 1], line) == 0))
		return;
	size_t max = le->hist_max ? le->hist_max : 500;
	if (le->hist_len == max) {
		free(le->history[0]);
		memmove(le->history, le->history + 1, (max - 1) * sizeof(*le->history));
		le->hist_len--;
	}
	if (!le->history) {
		le->history = calloc(max, sizeof(*le->history));
		if (!le->history)
			return;
	}
	char *copy = strdup(line);
	if (copy)
		le->history[le->hist_len++] = copy;
}

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
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	for (size_t i = 0; i < le->hist_len; i++)
		fprintf(f, "%s\n", le->history[i]);
	fclose(f);
}

void le_free(struct line_editor *le)
{
	for (size_t i = 0; i < le->hist_len; i++)
		free(le->history[i]);
	free(le->history);
	le->history = NULL;
	le->hist_len = 0;
}

static void history_move(struct line_editor *le, struct edit *e, int dir)
{
	if (le->hist_len == 0)
		return;
	if (e->hist_index == le->hist_len) {
		free(e->saved);
		e->saved = strdup(e->buf);
	}
	if (dir < 0 && e->hist_index > 0)
		e->hist_index--;
	else if (dir > 0 && e->hist_index < le->hist_len)
		e->hist_index++;
	else
		return;
	if (e->hist_index == le->hist_len)
		set_line(e, e->saved ? e->saved : "");
	else
		set_line(e, le->history[e->hist_index]);
}

/* ---- completion and help ---- */

static void print_candidates(const struct le_candidates *c, const bool *keep)
{
	size_t width = 0, cols = terminal_columns();
	for (size_t i = 0; i < c->count; i++)
		if (keep[i] && strlen(c->items[i]) > width)
			width = strlen(c->items[i]);
	width += 2;
	size_t per_row = cols / width ? cols / width : 1, n = 0;
	outs("\r\n");
	for (size_t i = 0; i < c->count; i++) {
		if (!keep[i])
			continue;
		char cell[512];
		snprintf(cell, sizeof(cell), "%-*s", (int)width, c->items[i]);
		outs(cell);
		if (++n % per_row == 0)
			outs("\r\n");
	}
	if (n % per_row)
		outs("\r\n");
}

static void complete(struct line_editor *le, struct edit *e)
{
	struct le_candidates c = { 0 };
	size_t start = e->pos;
	while (start > 0 && e->buf[start - 1] != ' ')
		start--;
	size_t plen = e->pos - start;

	char prefix[1024];
	if (plen >= sizeof(prefix))
		return;
	memcpy(prefix, e->buf + start, plen);
	prefix[plen] = '\0';
	/* The callback sees the words before the one being typed. */
	char saved = e->buf[start];
	e->buf[start] = '\0';
	le->complete(le->arg, e->buf, start, &c);
	e->buf[start] = saved;

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
		outs("\a");
	} else if (matches == 1) {
		insert(e, first + plen, strlen(first) - plen);
		insert(e, " ", 1);
	} else if (common > plen) {
		insert(e, first + plen, common - plen);
	} else {
		print_candidates(&c, keep);
	}
	free(keep);
	candidates_free(&c);
}

/* ---- the loop ---- */

static int read_byte(char *c)
{
	for (;;) {
		ssize_t n = read(STDIN_FILENO, c, 1);
		if (n == 1)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

/* Keys that arrive as escape sequences, numbered after the byte values. */
enum {
	KEY_NONE = 256,
	KEY_DELETE,
	KEY_UP,
	KEY_DOWN,
	KEY_LEFT,
	KEY_RIGHT,
	KEY_HOME,
	KEY_END,
};

/* After ESC: "[A" arrows, "[H"/"OH" Home/End, "[3~" Delete, "[1~"/"[4~" ... */
static int escape_key(void)
{
	char a, b, c;
	if (read_byte(&a) < 0 || read_byte(&b) < 0)
		return KEY_NONE;
	if (a == '[' && b >= '0' && b <= '9') {
		if (read_byte(&c) < 0 || c != '~')
			return KEY_NONE;
		switch (b) {
		case '3':
			return KEY_DELETE;
		case '1':
		case '7':
			return KEY_HOME;
		case '4':
		case '8':
			return KEY_END;
		}
		return KEY_NONE;
	}
	if (a != '[' && a != 'O')
		return KEY_NONE;
	switch (b) {
	case 'A':
		return KEY_UP;
	case 'B':
		return KEY_DOWN;
	case 'C':
		return KEY_RIGHT;
	case 'D':
		return KEY_LEFT;
	case 'H':
		return KEY_HOME;
	case 'F':
		return KEY_END;
	}
	return KEY_NONE;
}

static char *edit_loop(struct line_editor *le, struct edit *e)
{
	for (;;) {
		char byte;
		if (read_byte(&byte) < 0)
			return NULL;
		int key = (unsigned char)byte;
		if (key == 0x1b)
			key = escape_key();
		switch (key) {
		case '\r':
		case '\n':
			outs("\r\n");
			return strdup(e->buf);
		case KEY_CTRL('C'):
			outs("^C\r\n");
			return strdup("");
		case KEY_CTRL('D'):
			if (e->len == 0) {
				outs("\r\n");
				return NULL;
			}
			if (e->pos < e->len)
				delete_range(e, e->pos, e->pos + 1);
			break;
		case KEY_DELETE:
			if (e->pos < e->len)
				delete_range(e, e->pos, e->pos + 1);
			break;
		case 0x7f:
		case KEY_CTRL('H'):
			if (e->pos > 0)
				delete_range(e, e->pos - 1, e->pos);
			break;
		case KEY_CTRL('A'):
		case KEY_HOME:
			e->pos = 0;
			break;
		case KEY_CTRL('E'):
		case KEY_END:
			e->pos = e->len;
			break;
		case KEY_CTRL('B'):
		case KEY_LEFT:
			if (e->pos > 0)
				e->pos--;
			break;
		case KEY_CTRL('F'):
		case KEY_RIGHT:
			if (e->pos < e->len)
				e->pos++;
			break;
		case KEY_CTRL('K'):
			delete_range(e, e->pos, e->len);
			break;
		case KEY_CTRL('U'):
			delete_range(e, 0, e->pos);
			break;
		case KEY_CTRL('W'): {
			size_t from = e->pos;
			while (from > 0 && e->buf[from - 1] == ' ')
				from--;
			while (from > 0 && e->buf[from - 1] != ' ')
				from--;
			delete_range(e, from, e->pos);
			break;
		}
		case KEY_CTRL('L'):
			outs("\x1b[H\x1b[2J");
			break;
		case KEY_CTRL('P'):
		case KEY_UP:
			history_move(le, e, -1);
			break;
		case KEY_CTRL('N'):
		case KEY_DOWN:
			history_move(le, e, 1);
			break;
		case '\t':
			if (le->complete)
				complete(le, e);
			break;
		case '?':
			if (!le->help) {
				insert(e, "?", 1);
				break;
			}
			/* Help for what is typed up to the cursor; the line stays as it was. */
			char saved = e->buf[e->pos];
			e->buf[e->pos] = '\0';
			outs("?\r\n");
			le->help(le->arg, e->buf);
			fflush(stdout);
			e->buf[e->pos] = saved;
			break;
		default:
			if (key >= 0x20 && key < 0x7f)
				insert(e, &byte, 1);
			else if (key >= 0x80 && key < 0x100)
				insert(e, &byte, 1); /* UTF-8 bytes pass through */
			break;
		}
		refresh(e);
	}
}

char *le_readline(struct line_editor *le)
{
	struct termios orig, raw;
	struct edit e = { .prompt = le->prompt, .hist_index = le->hist_len };

	if (!reserve(&e, 0))
		return NULL;
	e.buf[0] = '\0';
	fflush(stdout);
	if (tcgetattr(STDIN_FILENO, &orig) < 0) {
		free(e.buf);
		return NULL;
	}
	raw = orig;
	raw.c_iflag &= ~(tcflag_t)(BRKINT | ICRNL | INPCK | ISTRIP | IXON);
	raw.c_cflag |= CS8;
	raw.c_lflag &= ~(tcflag_t)(ECHO | ICANON | IEXTEN | ISIG);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	/* Output processing stays on: help text may print plain "\n". */
	/* TCSANOW, not TCSAFLUSH: keep what was typed ahead (and what tests feed). */
	tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	refresh(&e);
	char *line = edit_loop(le, &e);
	tcsetattr(STDIN_FILENO, TCSADRAIN, &orig);
	free(e.buf);
	free(e.saved);
	return line;
}
