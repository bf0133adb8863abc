// SPDX-License-Identifier: MIT
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int current_level = LOG_LEVEL_INFO;
static _Atomic bool json_lines;
static _Thread_local char thread_role[16] = "main";

static const char *const level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *name)
{
	for (int i = 0; i <= LOG_LEVEL_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0)
			return i;
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
		return "?";
	return level_names[level];
}

void log_set_level(enum log_level level)
{
	atomic_store_explicit(&current_level, level, memory_order_relaxed);
}

enum log_level log_get_level(void)
{
	return atomic_load_explicit(&current_level, memory_order_relaxed);
}

void log_set_json(bool json)
{
	atomic_store_explicit(&json_lines, json, memory_order_relaxed);
}

void log_set_thread_role(const char *role)
{
	snprintf(thread_role, sizeof(thread_role), "%s", role);
}

bool log_enabled(enum log_level level)
{
	return (int)level <= atomic_load_explicit(&current_level, memory_order_relaxed);
}

/* Appends text to out[*len..cap) as JSON string content, truncating at a character. */
static void put_json_escaped(char *out, size_t *len, size_t cap, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char esc[7];
		size_t n = 0;
		if (*p == '"' || *p == '\\') {
			esc[n++] = '\\';
			esc[n++] = (char)*p;
		} else if (*p == '\n') {
			esc[n++] = '\\';
			esc[n++] = 'n';
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		} else {
			esc[n++] = (char)*p;
		}
		if (*len + n >= cap)
			return;
		memcpy(out + *len, esc, n);
		*len += n;
	}
}

/*
 * {"ts":"...","level":"...","thread":"...","msg":"..."} and a newline. The
 * head always fits (the role is at most 15 characters); a long message is
 * cut, and the line stays valid JSON.
 */
static size_t format_json_line(char line[1024], const char *ts, enum log_level level,
			       const char *msg)
{
	const size_t cap = 1024 - 3; /* room for the closing "}\n */
	size_t len = (size_t)snprintf(line, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"thread\":\"",
				      ts, level_names[level]);
	put_json_escaped(line, &len, cap, thread_role);
	memcpy(line + len, "\",\"msg\":\"", 9);
	len += 9;
	put_json_escaped(line, &len, cap, msg);
	memcpy(line + len, "\"}\n", 3);
	return len + 3;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;

	struct timespec ts;
	struct tm tm;
	char line[1024];
	char stamp[40];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t sn = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(stamp + sn, sizeof(stamp) - sn, ".%03ldZ", ts.tv_nsec / 1000000);

	if (atomic_load_explicit(&json_lines, memory_order_relaxed)) {
		char msg[1024];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		size_t len = format_json_line(line, stamp, level, msg);
		fwrite(line, 1, len, stderr);
		return;
	}

	int n = snprintf(line, sizeof(line), "%s %-5s [%s] ", stamp, level_names[level],
			 thread_role);
	if (n < 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps lines from different threads whole. */
	fwrite(line, 1, len, stderr);
}
