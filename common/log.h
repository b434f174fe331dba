/*
 * log.h — logging for every ringhub process.
 *
 * Lines go to stderr with a "<N>" syslog priority prefix, which journald turns into
 * the record's priority when the process runs under systemd; on a terminal the prefix
 * is left out. log_*_errno() return the negative errno they were given, so error paths
 * read `return log_error_errno(r, "…: %m");` (with %m meaning strerror(-r)).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "macros.h"

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_ident(const char *ident);
/* Copy src to dst (size bytes with the NUL), control bytes as \xNN; the length written.
 * The logger does this to every message itself. */
size_t log_escape(char *dst, size_t size, const char *src);

/* At most `burst` lines per `interval_ns` from one call site (a refusal under a flood):
 * true when this one may be logged, with *ret_suppressed set to how many were dropped
 * before it (say so in the line). Not locked: one thread per limiter. */
struct log_ratelimit {
        uint64_t begin_ns;
        unsigned n, suppressed;
};
bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst, uint64_t interval_ns,
                      unsigned *ret_suppressed);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
    _printf_(5, 6);

#define log_full_errno(level, error, ...)                                                         \
        ({                                                                                        \
                int _l = (level), _e = (error);                                                   \
                _l <= log_get_max_level() ? log_internal(_l, _e, __FILE__, __LINE__, __VA_ARGS__) \
                                          : -abs(_e);                                             \
        })
#define log_full(level, ...) (void)log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)
