/* SPDX-License-Identifier: MIT */
/*
 * Leveled logging to stderr. One line per event, prefixed with a UTC
 * timestamp, the level and the thread's role ("main", "slow", "w0" ...), so
 * that a 3 a.m. reader can tell which thread said what.
 */
#ifndef HD_LOG_H
#define HD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

/* Parses "error", "warn", "info" or "debug"; returns -1 on anything else. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/*
 * Text lines (the default) or one JSON object per line, for log shippers:
 * {"ts":"...","level":"info","thread":"main","msg":"..."}.
 */
void log_set_json(bool json);
/* Sets the calling thread's role, shown in every line it logs (max 15 chars). */
void log_set_thread_role(const char *role);
bool log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * For warnings that could repeat per packet or per accept: true at most once
 * per period_ns (and the first time), recording now_ns in *last_ns.
 */
static inline bool log_due(uint64_t *last_ns, uint64_t now_ns, uint64_t period_ns)
{
	if (*last_ns && now_ns - *last_ns <= period_ns)
		return false;
	*last_ns = now_ns;
	return true;
}

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
/* Debug lines are formatted only when enabled: they sit on per-connection paths. */
#define log_debug(...)                                         \
	do {                                                   \
		if (log_enabled(LOG_LEVEL_DEBUG))              \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)

#endif
