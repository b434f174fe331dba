/*
 * log.c — stderr logger with journald priority prefixes.
 *
 * One write(2) per line so lines from several threads never interleave. %m in the
 * format is replaced by strerror() of the error passed to log_*_errno(). Every control
 * byte of the formatted message (newline, escape, DEL, ...) is written as \xNN, so a
 * string a client or collector chose (a URL, a reason, an id) can never start a forged
 * journal line nor drive a terminal: no caller has to remember to escape. Safe to call
 * from any thread; not async-signal-safe.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "util.h"

static int max_level = LOG_INFO;
static const char *ident = NULL;
static int use_prefix = -1;

void log_set_max_level(int level)
{
        max_level = level;
}

int log_get_max_level(void)
{
        return max_level;
}

void log_set_ident(const char *id)
{
        ident = id;
}

size_t log_escape(char *dst, size_t size, const char *src)
{
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        if (size == 0)
                return 0;
        for (const unsigned char *p = (const unsigned char *)src; *p; p++) {
                if (*p >= 0x20 && *p != 0x7f) {
                        if (o + 1 >= size)
                                break;
                        dst[o++] = (char)*p;
                        continue;
                }
                if (o + 4 >= size)
                        break;
                dst[o++] = '\\';
                dst[o++] = 'x';
                dst[o++] = hex[*p >> 4];
                dst[o++] = hex[*p & 15];
        }
        dst[o] = 0;
        return o;
}

bool log_ratelimit_ok(struct log_ratelimit *rl, unsigned burst, uint64_t interval_ns,
                      unsigned *ret_suppressed)
{
        uint64_t now = mono_ns();
        if (rl->begin_ns == 0 || now - rl->begin_ns >= interval_ns) {
                *ret_suppressed = rl->suppressed;
                rl->begin_ns = now;
                rl->n = 1;
                rl->suppressed = 0;
                return true;
        }
        if (rl->n < burst) {
                rl->n++;
                *ret_suppressed = 0;
                return true;
        }
        rl->suppressed++;
        return false;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...)
{
        char fmt2[512], buf[1024];
        int saved = errno, e = abs(error);
        size_t o = 0;

        if (use_prefix < 0) {
                const char *js = getenv("JOURNAL_STREAM");
                use_prefix = (js && *js) || !isatty(STDERR_FILENO);
        }

        /* Expand %m ourselves so it names the error we were given, not errno. */
        for (const char *p = fmt; *p && o + 1 < sizeof(fmt2); p++) {
                if (p[0] == '%' && p[1] == 'm') {
                        const char *s = strerror(e ? e : saved);
                        for (; *s && o + 1 < sizeof(fmt2); s++)
                                fmt2[o++] = *s == '%' ? ' ' : *s;
                        p++;
                } else if (p[0] == '%' && p[1] == '%') {
                        if (o + 2 < sizeof(fmt2)) {
                                fmt2[o++] = '%';
                                fmt2[o++] = '%';
                        }
                        p++;
                } else
                        fmt2[o++] = *p;
        }
        fmt2[o] = 0;

        int n = 0;
        if (use_prefix)
                n = snprintf(buf, sizeof(buf), "<%d>", level & LOG_PRIMASK);
        if (ident && !use_prefix)
                n += snprintf(buf + n, sizeof(buf) - n, "%s: ", ident);
        if (max_level >= LOG_DEBUG)
                n += snprintf(buf + n, sizeof(buf) - n, "(%s:%d) ", file, line);

        char msg[sizeof(buf)];
        va_list ap;
        va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int m = vsnprintf(msg, sizeof(msg), fmt2, ap);
#pragma GCC diagnostic pop
        va_end(ap);
        if (m < 0)
                msg[0] = 0;
        n = MIN((size_t)n, sizeof(buf) - 2);
        n += (int)log_escape(buf + n, sizeof(buf) - 1 - n, msg);
        buf[n++] = '\n';
        (void)!write(STDERR_FILENO, buf, n);

        errno = saved;
        return -(e ? e : 0);
}
