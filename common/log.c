/*
 * log.c — stderr logger with journald priority prefixes.
 *
 * One write(2) per line so lines from several threads never interleave. %m in the
 * format is replaced by strerror() of the error passed to log_*_errno(). Safe to call
 * from any thread; not async-signal-safe.
 */
#include "log.h"

#include <stdarg.h>
#include <string.h>
#include <stdbool.h>

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

        va_list ap;
        va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        int m = vsnprintf(buf + n, sizeof(buf) - n, fmt2, ap);
#pragma GCC diagnostic pop
        va_end(ap);
        if (m < 0)
                m = 0;
        n += m;
        if ((size_t)n >= sizeof(buf) - 1)
                n = sizeof(buf) - 2;
        buf[n++] = '\n';
        (void)!write(STDERR_FILENO, buf, n);

        errno = saved;
        return -(e ? e : 0);
}
