/*
 * util.c — see util.h. Small, dependency-free helpers; nothing here logs.
 */
#include "util.h"
#include "macros.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

uint64_t now_ns(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void malloc_lean(unsigned arenas)
{
        /* Setting a threshold turns glibc's dynamic adjustment off. */
        (void)mallopt(M_MMAP_THRESHOLD, 128 * 1024);
        (void)mallopt(M_TRIM_THRESHOLD, 128 * 1024);
        if (arenas)
                (void)mallopt(M_ARENA_MAX, (int)arenas);
}

bool strscpy(char *dst, size_t size, const char *src)
{
        if (size == 0)
                return true;
        if (!src)
                src = "";
        size_t n = strnlen(src, size);
        bool trunc = n >= size;
        if (trunc)
                n = size - 1;
        memcpy(dst, src, n);
        memset(dst + n, 0, size - n);
        return trunc;
}

size_t utf8_char(const uint8_t *p, size_t n)
{
        uint8_t c = p[0];
        size_t len;
        uint32_t cp;
        if (c < 0x80)
                return (c >= 0x20 && c != 0x7F) || c == '\t' ? 1 : 0;
        if ((c & 0xE0) == 0xC0) {
                len = 2;
                cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
                len = 3;
                cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
                len = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (cp >= 0x80 && cp < 0xA0))
                return 0;
        return len;
}

size_t utf8_sanitize(char *dst, size_t size, const char *src, size_t n)
{
        const uint8_t *p = (const uint8_t *)src;
        size_t o = 0;
        if (size == 0)
                return 0;
        for (size_t i = 0; i < n && p[i];) {
                size_t k = utf8_char(p + i, n - i);
                const char *put = k ? src + i : UTF8_REPLACEMENT;
                size_t m = k ? k : sizeof(UTF8_REPLACEMENT) - 1;
                if (o + m >= size)
                        break;
                memcpy(dst + o, put, m);
                o += m;
                i += k ? k : 1;
        }
        dst[o] = 0;
        return o;
}

bool buf_append_bounded(char *buf, size_t *len, size_t max, const char *data, size_t n)
{
        if (n > max - *len)
                return false;
        memcpy(buf + *len, data, n);
        *len += n;
        buf[*len] = 0;
        return true;
}

char *strstrip(char *s)
{
        while (*s && isspace((unsigned char)*s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char)s[n - 1]))
                s[--n] = 0;
        return s;
}

bool startswith(const char *s, const char *prefix)
{
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool comma_list_has(const char *list, const char *key)
{
        size_t n = strlen(key);
        for (const char *p = list ? strstr(list, key) : NULL; n && p; p = strstr(p + 1, key))
                if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
                        return true;
        return false;
}

ssize_t read_file_bounded(const char *path, char *buf, size_t max)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t o = 0;
        while (o + 1 < max) {
                ssize_t n = read(fd, buf + o, max - 1 - o);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                o += (size_t)n;
        }
        buf[o] = 0;
        return (ssize_t)o;
}

int path_join(char *out, size_t size, const char *root, const char *path)
{
        int n = snprintf(out, size, "%s%s%s", root ? root : "",
                         (root && *root && path[0] != '/') ? "/" : "", path);
        if (n < 0 || (size_t)n >= size)
                return -ENAMETOOLONG;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret)
{
        char *end;
        if (!s)
                return -EINVAL;
        while (isspace((unsigned char)*s))
                s++;
        if (*s == '-' || !*s)
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 0);
        if (errno)
                return -errno;
        while (isspace((unsigned char)*end))
                end++;
        if (*end)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret)
{
        char *end;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        long long v = strtoll(s, &end, 0);
        if (errno)
                return -errno;
        while (isspace((unsigned char)*end))
                end++;
        if (*end || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

int safe_atod(const char *s, double *ret)
{
        char *end;
        if (!s || !*s)
                return -EINVAL;
        errno = 0;
        double v = strtod(s, &end);
        /* ERANGE with a non-zero finite result is a subnormal, which is exact enough. */
        if (errno && !(errno == ERANGE && v != 0 && isfinite(v)))
                return -errno;
        while (isspace((unsigned char)*end))
                end++;
        if (*end || end == s || !isfinite(v))
                return -EINVAL;
        *ret = v;
        return 0;
}

size_t format_rfc3339_ns(char *buf, size_t size, uint64_t t, bool utc)
{
        time_t sec = (time_t)(t / NSEC_PER_SEC);
        struct tm tm;
        if (utc)
                gmtime_r(&sec, &tm);
        else
                localtime_r(&sec, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        if (n == 0)
                return 0;
        long off = utc ? 0 : tm.tm_gmtoff;
        int m;
        if (utc)
                m = snprintf(buf + n, size - n, ".%09lluZ", (unsigned long long)(t % NSEC_PER_SEC));
        else
                m = snprintf(buf + n, size - n, ".%09llu%c%02ld:%02ld",
                             (unsigned long long)(t % NSEC_PER_SEC), off < 0 ? '-' : '+',
                             labs(off) / 3600, (labs(off) / 60) % 60);
        if (m < 0 || (size_t)m >= size - n)
                return 0;
        return n + (size_t)m;
}

/*
 * Fast path for the values telemetry is full of (38.0, 12.5, 0.25, 3100.0): when v is
 * exactly n / 10^6 for an integer n below 2^53 — checked by computing that quotient,
 * which IEEE division rounds correctly, so the decimal text reads back as v — write n's
 * digits with the point put back and trailing zeros dropped. Doubles below 1e9 are
 * closer together than 1e-6, so no shorter text reads back as v. Returns the length,
 * or 0 to take the slow path.
 */
static size_t fmt_micro(double v, char *buf, bool point)
{
        if (!(v > -1e9 && v < 1e9))
                return 0;
        long long n = llround(v * 1e6);
        if ((double)n / 1e6 != v || (n == 0 && signbit(v)))
                return 0;
        char tmp[32];
        size_t o = 0, k = 0;
        unsigned long long u = n < 0 ? (unsigned long long)(-n) : (unsigned long long)n;
        unsigned long long ip = u / 1000000, fp = u % 1000000;
        do
                tmp[k++] = (char)('0' + ip % 10);
        while ((ip /= 10) > 0);
        if (n < 0)
                buf[o++] = '-';
        while (k)
                buf[o++] = tmp[--k];
        if (fp || point) {
                buf[o++] = '.';
                char d[6];
                for (int i = 5; i >= 0; i--, fp /= 10)
                        d[i] = (char)('0' + fp % 10);
                int last = 5;
                while (last > 0 && d[last] == '0')
                        last--;
                for (int i = 0; i <= last; i++)
                        buf[o++] = d[i];
        }
        buf[o] = 0;
        return o;
}

/*
 * The correctly rounded 15-, 16- then 17-digit text: when some decimal of p digits reads
 * back as v, the correctly rounded one (closer to v) does too, and %g drops the trailing
 * zeros, so the first that reads back is the shortest.
 */
/*
 * The slow path's text ("%.{15,16,17}g", the first precision that reads back as v)
 * computed exactly with 128-bit integers, for 1e-3 <= |v| < 1e14 (ratios, rates, byte
 * counts in MiB): v = m / 2^k with a 53-bit m; the p significant digits are
 * m * 10^s / 2^k rounded half to even, as glibc's printf rounds; they read back as v
 * when they lie strictly between v's midpoints to its neighbours (on one, when m is
 * even), as strtod rounds. In that range the text never takes the e-style. Returns the
 * length, or 0 (another range) to take snprintf and strtod.
 */
static size_t fmt_exact(double v, char *buf, bool point)
{
        static const uint64_t pow10[] = { 1ull,
                                          10ull,
                                          100ull,
                                          1000ull,
                                          10000ull,
                                          100000ull,
                                          1000000ull,
                                          10000000ull,
                                          100000000ull,
                                          1000000000ull,
                                          10000000000ull,
                                          100000000000ull,
                                          1000000000000ull,
                                          10000000000000ull,
                                          100000000000000ull,
                                          1000000000000000ull,
                                          10000000000000000ull,
                                          100000000000000000ull,
                                          1000000000000000000ull,
                                          10000000000000000000ull };
        double a = fabs(v);
        if (!(a >= 1e-3 && a < 1e14))
                return 0;
        int e2;
        uint64_t m = (uint64_t)ldexp(frexp(a, &e2), 53); /* a = m / 2^k */
        unsigned k = (unsigned)(53 - e2);                /* 6..62 in this range */
        int e10 = (int)floor(log10(a));
        for (int p = 15; p <= 17; p++) {
                uint64_t d = 0;
                int s = 0;
                unsigned __int128 rem = 0, half = (unsigned __int128)1 << (k - 1);
                /* e10: v's decimal exponent, from the truncated digits (exact). */
                for (int tries = 0;; tries++) {
                        s = p - 1 - e10;
                        if (s < 0 || s > 19 || tries == 4)
                                return 0;
                        unsigned __int128 x = (unsigned __int128)m * pow10[s];
                        rem = x & (((unsigned __int128)1 << k) - 1);
                        d = (uint64_t)(x >> k);
                        if (d >= pow10[p])
                                e10++;
                        else if (d < pow10[p - 1])
                                e10--;
                        else
                                break;
                }
                if (rem > half || (rem == half && (d & 1)))
                        d++; /* may reach 10^p: printf's exponent is then e10 + 1 */
                /* Reads back: d / 10^s against (2m ± 1) / 2^(k+1), the lower one
                 * (4m - 1) / 2^(k+2) when m is a power of two. */
                unsigned __int128 dd = (unsigned __int128)d << (k + 2);
                unsigned __int128 up = (unsigned __int128)(2 * m + 1) * pow10[s] * 2;
                unsigned __int128 lo = m == (1ull << 52)
                                           ? (unsigned __int128)(4 * m - 1) * pow10[s]
                                           : (unsigned __int128)(2 * m - 1) * pow10[s] * 2;
                bool even = !(m & 1);
                bool back = (dd < up || (dd == up && even)) && (dd > lo || (dd == lo && even));
                if (!back && p < 17)
                        continue;
                int x10 = e10;
                if (d == pow10[p]) {
                        d = pow10[p - 1];
                        x10++;
                }
                /* d's p digits with the point after e10 + 1 of them, trailing zeros off. */
                char dig[20];
                for (int i = p - 1; i >= 0; i--, d /= 10)
                        dig[i] = (char)('0' + d % 10);
                int last = p - 1, ip = x10 + 1; /* digits before the point (<= 0: none) */
                while (last >= ip && last > 0 && dig[last] == '0')
                        last--;
                size_t o = 0;
                if (v < 0)
                        buf[o++] = '-';
                if (ip <= 0) {
                        buf[o++] = '0';
                        buf[o++] = '.';
                        for (int i = ip; i < 0; i++)
                                buf[o++] = '0';
                        for (int i = 0; i <= last; i++)
                                buf[o++] = dig[i];
                } else {
                        for (int i = 0; i < ip; i++)
                                buf[o++] = dig[i];
                        if (last >= ip) {
                                buf[o++] = '.';
                                for (int i = ip; i <= last; i++)
                                        buf[o++] = dig[i];
                        } else if (point) {
                                buf[o++] = '.';
                                buf[o++] = '0';
                        }
                }
                buf[o] = 0;
                return o;
        }
        return 0;
}

static size_t fmt_any(char *buf, size_t size, double v, bool point)
{
        char tmp[FMT_DOUBLE_MAX + 4];
        size_t n = 0;
        if (isnan(v))
                n = (size_t)snprintf(tmp, sizeof(tmp), "NaN");
        else if (isinf(v))
                n = (size_t)snprintf(tmp, sizeof(tmp), v > 0 ? "+Inf" : "-Inf");
        else if (!(n = fmt_micro(v, tmp, point)) && !(n = fmt_exact(v, tmp, point))) {
                for (int p = 15; p <= 17; p++) {
                        snprintf(tmp, sizeof(tmp), "%.*g", p, v);
                        if (strtod(tmp, NULL) == v)
                                break;
                }
                if (point && !strpbrk(tmp, ".eE"))
                        strcat(tmp, ".0");
                n = strlen(tmp);
        }
        if (size == 0)
                return 0;
        if (n >= size)
                n = size - 1;
        memcpy(buf, tmp, n);
        buf[n] = 0;
        return n;
}

size_t fmt_double(char *buf, size_t size, double v)
{
        return fmt_any(buf, size, v, false);
}

size_t fmt_u64(char *buf, uint64_t v)
{
        char tmp[FMT_U64_MAX];
        size_t i = sizeof(tmp);
        do {
                tmp[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        size_t n = sizeof(tmp) - i;
        memcpy(buf, tmp + i, n);
        buf[n] = 0;
        return n;
}

size_t fmt_double_float(char *buf, size_t size, double v)
{
        return fmt_any(buf, size, v, true);
}
