/*
 * util.h — time, string and file helpers shared by the hub, the collectors and the CLI.
 *
 * libc only. Every reader of a file under a configurable root goes through
 * read_file_bounded() so a huge or endless file can never exhaust memory.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define NSEC_PER_SEC  1000000000ULL
#define NSEC_PER_MSEC 1000000ULL
#define USEC_PER_SEC  1000000ULL

uint64_t now_ns(clockid_t clock);
/*
 * A long-running daemon's malloc, lean when idle: large blocks (128 KiB and up) are
 * always their own mapping and go back to the system when freed, and free memory at the
 * top of the heap past 128 KiB is returned (glibc otherwise raises both thresholds after
 * the first large free, so a periodic scratch buffer stays resident for ever). arenas:
 * at most that many malloc arenas (0 = glibc's default, one per thread up to 8 per core).
 */
void malloc_lean(unsigned arenas);
static inline uint64_t mono_ns(void)
{
        return now_ns(CLOCK_MONOTONIC);
}
static inline uint64_t real_ns(void)
{
        return now_ns(CLOCK_REALTIME);
}

/* Copy src into a fixed buffer, always terminated; returns true when it was truncated. */
bool strscpy(char *dst, size_t size, const char *src);

/*
 * Text that reaches a WebSocket text frame, a metric label or a terminal comes from peers
 * and producers: it must be valid UTF-8 without control characters. utf8_char() is the
 * length (1..4) of the valid, printable character at p, or 0 when it is invalid UTF-8 or
 * a control character (C0 but tab, DEL, C1). utf8_sanitize() copies up to n bytes of src
 * into dst (size bytes, NUL-terminated, cut on a character boundary), each refused byte
 * replaced by U+FFFD; it returns the bytes written (without the NUL).
 */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
size_t utf8_char(const uint8_t *p, size_t n);
size_t utf8_sanitize(char *dst, size_t size, const char *src, size_t n);
/* Trim ASCII whitespace at both ends in place; returns s. */
char *strstrip(char *s);
/* Append n bytes to a NUL-terminated buffer of `max` bytes plus its NUL (*len: its length
 * so far). False, leaving it as it was, when they would not fit. */
bool buf_append_bounded(char *buf, size_t *len, size_t max, const char *data, size_t n);
bool startswith(const char *s, const char *prefix);
/* Is key one of the items of "a,b,c" (exactly, not a prefix)? False for a NULL list. */
bool comma_list_has(const char *list, const char *key);

/* Read at most max-1 bytes of a file, terminated. Returns bytes read or -errno. */
ssize_t read_file_bounded(const char *path, char *buf, size_t max);
/* Join root and path ("/proc" + "/stat"), bounded. Returns -ENAMETOOLONG on overflow. */
int path_join(char *out, size_t size, const char *root, const char *path);

/* Parse helpers; return 0 or -EINVAL/-ERANGE, *ret set only on success. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi64(const char *s, int64_t *ret);
int safe_atod(const char *s, double *ret);

/* RFC 3339 with nanoseconds and local offset: 2025-10-02T14:02:59.850035377+10:00 */
size_t format_rfc3339_ns(char *buf, size_t size, uint64_t realtime_ns, bool utc);

/*
 * A double as the shortest text that reads back as the same double (0.1, 41.85, 1e+21;
 * NaN, +Inf, -Inf as Prometheus writes them). The one double formatter: JSON, records,
 * /metrics and the collectors all use it. Returns the length (truncated to size-1).
 */
#define FMT_DOUBLE_MAX 32
size_t fmt_double(char *buf, size_t size, double v);
/* The same, with ".0" added where the text would read as an integer (3200.0). */
size_t fmt_double_float(char *buf, size_t size, double v);
/* The decimal digits of v into buf (FMT_U64_MAX bytes), NUL-terminated, without the
 * printf family; returns their count. */
#define FMT_U64_MAX 21
size_t fmt_u64(char *buf, uint64_t v);
