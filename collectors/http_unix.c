/*
 * http_unix.c — GET and body-less POST over HTTP/1.1 on an AF_UNIX stream socket, for
 * ringhub-collect-docker.
 *
 * Runs inside the docker collector's process: on its event-loop thread (the list) and on
 * its command worker (each with its own struct http_unix). The socket is non-blocking and
 * every wait is a poll() bounded by the caller's deadline (and woken by cancel_fd), so a
 * server that stalls anywhere (connect, request, status line, headers, body) costs at
 * most the time left. Input is untrusted: lines are searched for within a fixed
 * buffer, numbers are parsed with overflow checks, and no length the server sends is
 * trusted before it is checked against the body cap. Never logs, never raises SIGPIPE.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "http_unix.h"
#include "macros.h"
#include "net.h"
#include "util.h"

#define HTTP_UNIX_MAX_INTERIM 8 /* 1xx answers skipped before the real one */

/* Internal: a reused connection turned out closed before any answer byte; retry fresh. */
#define HTTP_UNIX_STALE (-ESTALE)

enum framing { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_EOF };

struct answer {
        int status;
        unsigned minor;
        enum framing framing;
        uint64_t length;
        bool have_length, have_te, te_chunked, close, got_bytes;
};

void http_unix_init(struct http_unix *h, const char *socket_path, const char *user_agent,
                    size_t body_max)
{
        *h = (struct http_unix){
                .socket_path = socket_path,
                .user_agent = user_agent,
                .body_max = body_max,
                .fd = -EBADF,
                .cancel_fd = -EBADF,
        };
}

void http_unix_close(struct http_unix *h)
{
        if (h->fd >= 0)
                close(h->fd);
        h->fd = -EBADF;
        h->rstart = h->rend = 0;
}

void http_unix_trim(struct http_unix *h, size_t keep)
{
        if (h->body_cap > keep) {
                free(h->body);
                h->body = NULL;
                h->body_cap = h->body_len = 0;
        }
}

void http_unix_done(struct http_unix *h)
{
        http_unix_close(h);
        http_unix_trim(h, 0);
}

static int fail(struct http_unix *h, int r, const char *fmt, ...) _printf_(3, 4);
static int fail(struct http_unix *h, int r, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->error, sizeof(h->error), fmt, ap);
        va_end(ap);
        http_unix_close(h);
        return r;
}

static int wait_fd(int fd, short events, int cancel_fd, uint64_t deadline_ns)
{
        return net_wait_fd(fd, events, cancel_fd, deadline_ns);
}

static int do_connect(struct http_unix *h, uint64_t deadline_ns)
{
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        size_t n = strlen(h->socket_path);
        int r;

        if (n == 0 || n >= sizeof(sa.sun_path))
                return fail(h, -ENAMETOOLONG, "socket path of %zu bytes is not usable", n);
        memcpy(sa.sun_path, h->socket_path, n);

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return fail(h, -errno, "socket: %s", strerror(errno));
        r = net_connect_fd(fd, (struct sockaddr *)&sa,
                           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1),
                           h->cancel_fd, deadline_ns);
        if (r == -EAGAIN)
                return fail(h, r, "cannot connect: the server's listen queue is full");
        if (r < 0)
                return fail(h, r, "cannot connect: %s",
                            r == -ETIMEDOUT ? "timed out" : strerror(-r));
        h->fd = TAKE_FD(fd);
        h->rstart = h->rend = 0;
        return 0;
}

static int send_all(struct http_unix *h, const char *buf, size_t len, uint64_t deadline_ns)
{
        while (len > 0) {
                ssize_t n = send(h->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n >= 0) {
                        buf += n;
                        len -= (size_t)n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = wait_fd(h->fd, POLLOUT, h->cancel_fd, deadline_ns);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Receive into dst: bytes (>0), 0 at the end of the stream, or -errno / -ETIMEDOUT. */
static ssize_t recv_some(struct http_unix *h, char *dst, size_t size, uint64_t deadline_ns)
{
        for (;;) {
                ssize_t n = recv(h->fd, dst, size, MSG_DONTWAIT);
                if (n >= 0)
                        return n;
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN)
                        return -errno;
                int r = wait_fd(h->fd, POLLIN, h->cancel_fd, deadline_ns);
                if (r < 0)
                        return r;
        }
}

/* More bytes into rbuf (compacting it first): >0, 0 at end of stream, <0 error. */
static ssize_t fill(struct http_unix *h, uint64_t deadline_ns)
{
        if (h->rstart > 0) {
                memmove(h->rbuf, h->rbuf + h->rstart, h->rend - h->rstart);
                h->rend -= h->rstart;
                h->rstart = 0;
        }
        if (h->rend >= sizeof(h->rbuf))
                return -ENOBUFS;
        ssize_t n = recv_some(h, h->rbuf + h->rend, sizeof(h->rbuf) - h->rend, deadline_ns);
        if (n > 0)
                h->rend += (size_t)n;
        return n;
}

/* Reason for a failed read: the stream ended (0) or an error (<0). */
static int read_failed(struct http_unix *h, struct answer *a, ssize_t n, const char *where)
{
        if (n == -ETIMEDOUT)
                return fail(h, -ETIMEDOUT, "no complete answer before the deadline (%s)", where);
        if (n == -ECANCELED)
                return fail(h, -ECANCELED, "cancelled while waiting for the %s", where);
        if (n == 0 || n == -ECONNRESET) {
                if (!a->got_bytes)
                        return HTTP_UNIX_STALE; /* the caller decides: retry or report */
                return fail(h, -EPROTO, "answer cut short: connection closed in the %s", where);
        }
        return fail(h, (int)n, "cannot read the %s: %s", where, strerror((int)-n));
}

/*
 * One line (LF or CRLF terminated, at most HTTP_UNIX_LINE_MAX bytes with its end) from
 * the stream, NUL-terminated in place in rbuf; valid until the next read. Lines holding
 * NUL or a bare CR are refused.
 */
static int read_line(struct http_unix *h, struct answer *a, const char *what, char **ret,
                     size_t *ret_len, uint64_t deadline_ns)
{
        for (;;) {
                char *start = h->rbuf + h->rstart;
                size_t avail = h->rend - h->rstart;
                char *nl = memchr(start, '\n', MIN(avail, (size_t)HTTP_UNIX_LINE_MAX));
                if (nl) {
                        size_t len = (size_t)(nl - start);
                        h->rstart += len + 1;
                        if (len > 0 && start[len - 1] == '\r')
                                len--;
                        start[len] = 0;
                        if (memchr(start, 0, len) || memchr(start, '\r', len))
                                return fail(h, -EBADMSG, "%s holds a NUL or bare CR", what);
                        *ret = start;
                        *ret_len = len;
                        return 0;
                }
                if (avail >= HTTP_UNIX_LINE_MAX)
                        return fail(h, -E2BIG, "%s longer than %u bytes", what, HTTP_UNIX_LINE_MAX);
                ssize_t n = fill(h, deadline_ns);
                if (n <= 0)
                        return read_failed(h, a, n, what);
                a->got_bytes = true;
        }
}

static int body_reserve(struct http_unix *h, uint64_t more)
{
        if (more >= h->body_max || h->body_len + more + 1 > h->body_max)
                return fail(h, -EFBIG, "answer larger than %zu bytes", h->body_max);
        size_t need = h->body_len + (size_t)more + 1;
        if (need <= h->body_cap)
                return 0;
        size_t cap = MAX(MAX(h->body_cap * 2, need), (size_t)16384);
        cap = MIN(cap, h->body_max);
        char *d = realloc(h->body, cap);
        if (!d)
                return fail(h, -ENOMEM, "out of memory for a %zu byte answer", need);
        h->body = d;
        h->body_cap = cap;
        return 0;
}

/* Exactly n body bytes: first what rbuf holds, then straight from the socket. */
static int read_body_bytes(struct http_unix *h, struct answer *a, uint64_t n, uint64_t deadline_ns)
{
        int r = body_reserve(h, n);
        if (r < 0)
                return r;
        size_t take = (size_t)MIN(n, (uint64_t)(h->rend - h->rstart));
        memcpy(h->body + h->body_len, h->rbuf + h->rstart, take);
        h->body_len += take;
        h->rstart += take;
        n -= take;
        while (n > 0) {
                ssize_t got = recv_some(h, h->body + h->body_len, (size_t)n, deadline_ns);
                if (got <= 0)
                        return read_failed(h, a, got, "body");
                h->body_len += (size_t)got;
                n -= (uint64_t)got;
        }
        return 0;
}

static int read_until_eof(struct http_unix *h, struct answer *a, uint64_t deadline_ns)
{
        int r = read_body_bytes(h, a, h->rend - h->rstart, deadline_ns); /* what rbuf holds */
        if (r < 0)
                return r;
        for (;;) {
                size_t room = h->body_cap - h->body_len - 1;
                if (room == 0) {
                        size_t left = h->body_max - 1 - h->body_len;
                        if (left == 0)
                                return fail(h, -EFBIG, "answer larger than %zu bytes", h->body_max);
                        r = body_reserve(h, MIN((size_t)65536, left));
                        if (r < 0)
                                return r;
                        room = h->body_cap - h->body_len - 1;
                }
                ssize_t got = recv_some(h, h->body + h->body_len, room, deadline_ns);
                if (got == 0)
                        return 0;
                if (got < 0)
                        return read_failed(h, a, got, "body");
                h->body_len += (size_t)got;
        }
}

/* Server bytes for a message: printable ASCII only, at most 40 of them. */
static const char *printable(const char *s, char buf[static 48])
{
        size_t i = 0;
        for (; s[i] && i < 40; i++)
                buf[i] = s[i] >= ' ' && s[i] <= '~' ? s[i] : '?';
        buf[i] = 0;
        return buf;
}

static bool is_tchar(char ch)
{
        return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
               (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

static char *trim_ows(char *s)
{
        while (*s == ' ' || *s == '\t')
                s++;
        size_t n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = 0;
        return s;
}

/* Is token (case-insensitive) an element of the comma-separated list? */
static bool list_has(const char *list, const char *token)
{
        size_t tn = strlen(token);
        for (const char *p = list; *p;) {
                p += strspn(p, " \t,");
                size_t n = strcspn(p, ",");
                size_t m = n;
                while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
                        m--;
                if (m == tn && strncasecmp(p, token, tn) == 0)
                        return true;
                p += n;
        }
        return false;
}

/* Is the last element of the comma-separated list token? */
static bool list_ends_with(const char *list, const char *token)
{
        const char *last = strrchr(list, ',');
        last = last ? last + 1 : list;
        last += strspn(last, " \t");
        size_t tn = strlen(token);
        return strncasecmp(last, token, tn) == 0 && last[tn + strspn(last + tn, " \t")] == 0;
}

static int parse_u64_dec(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                unsigned d = (unsigned)(*s - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return -ERANGE;
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

static int parse_status_line(struct http_unix *h, struct answer *a, const char *l, size_t len)
{
        char pb[48];
#define DIGIT(ch) ((ch) >= '0' && (ch) <= '9')
        if (len < 12 || memcmp(l, "HTTP/1.", 7) != 0 || !DIGIT(l[7]) || l[8] != ' ' ||
            !DIGIT(l[9]) || !DIGIT(l[10]) || !DIGIT(l[11]) || (len > 12 && l[12] != ' '))
                return fail(h, -EBADMSG, "answer is not HTTP/1.x (status line '%s')",
                            printable(l, pb));
        a->minor = (unsigned)(l[7] - '0');
        a->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
#undef DIGIT
        if (a->status < 100 || a->status > 599)
                return fail(h, -EBADMSG, "HTTP status %d is out of range", a->status);
        return 0;
}

static int parse_header(struct http_unix *h, struct answer *a, char *l, size_t len)
{
        char pb[48];
        if (l[0] == ' ' || l[0] == '\t')
                return fail(h, -EBADMSG, "folded header line");
        char *colon = memchr(l, ':', len);
        if (!colon || colon == l)
                return fail(h, -EBADMSG, "header line without a name: '%s'", printable(l, pb));
        for (const char *p = l; p < colon; p++)
                if (!is_tchar(*p))
                        return fail(h, -EBADMSG, "bad character in header name '%s'",
                                    printable(l, pb));
        *colon = 0;
        char *v = trim_ows(colon + 1);

        if (strcasecmp(l, "Content-Length") == 0) {
                uint64_t n;
                if (parse_u64_dec(v, &n) < 0)
                        return fail(h, -EBADMSG, "bad Content-Length '%s'", printable(v, pb));
                if (a->have_length && n != a->length)
                        return fail(h, -EBADMSG, "conflicting Content-Length headers");
                a->have_length = true;
                a->length = n;
        } else if (strcasecmp(l, "Transfer-Encoding") == 0) {
                a->have_te = true;
                a->te_chunked = list_ends_with(v, "chunked"); /* the last header line counts */
        } else if (strcasecmp(l, "Connection") == 0) {
                if (list_has(v, "close"))
                        a->close = true;
        }
        return 0;
}

/* Status line and header block of one answer (1xx interim answers are skipped). */
static int read_head(struct http_unix *h, struct answer *a, uint64_t deadline_ns)
{
        char *l;
        size_t len;
        int r;

        for (unsigned interim = 0;; interim++) {
                bool got = a->got_bytes;
                *a = (struct answer){ .got_bytes = got };
                r = read_line(h, a, "status line", &l, &len, deadline_ns);
                if (r == -EBADMSG || r == -E2BIG) {
                        char why[sizeof(h->error)];
                        strscpy(why, sizeof(why), h->error);
                        snprintf(h->error, sizeof(h->error), "answer is not HTTP/1.x (%.150s)",
                                 why);
                }
                if (r < 0)
                        return r;
                r = parse_status_line(h, a, l, len);
                if (r < 0)
                        return r;
                for (unsigned n = 0;; n++) {
                        r = read_line(h, a, "header line", &l, &len, deadline_ns);
                        if (r < 0)
                                return r == HTTP_UNIX_STALE ? read_failed(h, a, 0, "header") : r;
                        if (len == 0)
                                break;
                        if (n >= HTTP_UNIX_HEADERS_MAX)
                                return fail(h, -E2BIG, "more than %u header lines",
                                            HTTP_UNIX_HEADERS_MAX);
                        r = parse_header(h, a, l, len);
                        if (r < 0)
                                return r;
                }
                if (a->status >= 200)
                        return 0;
                if (a->status == 101)
                        return fail(h, -EBADMSG, "unexpected protocol switch (HTTP 101)");
                if (interim >= HTTP_UNIX_MAX_INTERIM)
                        return fail(h, -EBADMSG, "more than %d interim 1xx answers",
                                    HTTP_UNIX_MAX_INTERIM);
        }
}

static int parse_chunk_size(const char *l, uint64_t *ret)
{
        uint64_t v = 0;
        const char *p = l;
        for (;; p++) {
                unsigned d;
                if (*p >= '0' && *p <= '9')
                        d = (unsigned)(*p - '0');
                else if (*p >= 'a' && *p <= 'f')
                        d = (unsigned)(*p - 'a' + 10);
                else if (*p >= 'A' && *p <= 'F')
                        d = (unsigned)(*p - 'A' + 10);
                else
                        break;
                if (v > (UINT64_MAX >> 4))
                        return -ERANGE;
                v = (v << 4) | d;
        }
        if (p == l)
                return -EINVAL;
        p += strspn(p, " \t");
        if (*p && *p != ';')
                return -EINVAL; /* anything after the size must be a chunk extension */
        *ret = v;
        return 0;
}

static int read_chunked(struct http_unix *h, struct answer *a, uint64_t deadline_ns)
{
        char pb[48];
        char *l;
        size_t len;
        int r;

        for (;;) {
                uint64_t size;
                r = read_line(h, a, "chunk size line", &l, &len, deadline_ns);
                if (r < 0)
                        return r == HTTP_UNIX_STALE ? read_failed(h, a, 0, "chunked body") : r;
                r = parse_chunk_size(l, &size);
                if (r == -ERANGE)
                        return fail(h, -EFBIG, "answer larger than %zu bytes (chunk size)",
                                    h->body_max);
                if (r < 0)
                        return fail(h, -EBADMSG, "bad chunk size line '%s'", printable(l, pb));
                if (size == 0)
                        break;
                r = read_body_bytes(h, a, size, deadline_ns);
                if (r < 0)
                        return r == HTTP_UNIX_STALE ? read_failed(h, a, 0, "chunked body") : r;
                r = read_line(h, a, "end of a chunk", &l, &len, deadline_ns);
                if (r < 0)
                        return r == HTTP_UNIX_STALE ? read_failed(h, a, 0, "chunked body") : r;
                if (len != 0)
                        return fail(h, -EBADMSG, "chunk longer than its size line says");
        }
        for (unsigned n = 0;; n++) { /* trailer section */
                r = read_line(h, a, "trailer line", &l, &len, deadline_ns);
                if (r < 0)
                        return r == HTTP_UNIX_STALE ? read_failed(h, a, 0, "trailer") : r;
                if (len == 0)
                        return 0;
                if (n >= HTTP_UNIX_HEADERS_MAX)
                        return fail(h, -E2BIG, "more than %u trailer lines", HTTP_UNIX_HEADERS_MAX);
        }
}

static bool path_ok(const char *path)
{
        if (path[0] != '/')
                return false;
        for (const unsigned char *p = (const unsigned char *)path; *p; p++)
                if (*p <= ' ' || *p == 0x7f)
                        return false;
        return strlen(path) < 2048;
}

static int request_once(struct http_unix *h, bool post, const char *path, uint64_t deadline_ns)
{
        char req[2300];
        struct answer a = { 0 };
        int r;

        int n = snprintf(req, sizeof(req),
                         "%s %s HTTP/1.1\r\nHost: docker\r\nUser-Agent: %s\r\n"
                         "Accept: application/json\r\n%s\r\n",
                         post ? "POST" : "GET", path, h->user_agent ? h->user_agent : "ringhub",
                         post ? "Content-Length: 0\r\n" : "");
        if (n < 0 || (size_t)n >= sizeof(req))
                return fail(h, -ENAMETOOLONG, "request too long");
        r = send_all(h, req, (size_t)n, deadline_ns);
        if (r == -EPIPE || r == -ECONNRESET)
                return HTTP_UNIX_STALE;
        if (r < 0)
                return fail(h, r, "cannot send the request: %s",
                            r == -ETIMEDOUT   ? "timed out"
                            : r == -ECANCELED ? "cancelled"
                                              : strerror(-r));

        h->body_len = 0;
        r = read_head(h, &a, deadline_ns);
        if (r < 0)
                return r;

        if (a.minor == 0)
                a.close = true;
        if (a.status == 204 || a.status == 304)
                a.framing = FRAME_NONE;
        else if (a.have_te) {
                if (!a.te_chunked)
                        return fail(h, -EBADMSG, "unsupported transfer coding");
                a.framing = FRAME_CHUNKED;
                if (a.have_length)
                        a.close = true; /* both framings given: do not trust the stream after */
        } else if (a.have_length) {
                a.framing = FRAME_LENGTH;
        } else {
                a.framing = FRAME_EOF;
                a.close = true;
        }

        r = body_reserve(h, 0);
        if (r < 0)
                return r;
        switch (a.framing) {
        case FRAME_NONE:
                break;
        case FRAME_LENGTH:
                r = read_body_bytes(h, &a, a.length, deadline_ns);
                if (r == HTTP_UNIX_STALE)
                        r = read_failed(h, &a, 0, "body");
                break;
        case FRAME_CHUNKED:
                r = read_chunked(h, &a, deadline_ns);
                break;
        case FRAME_EOF:
                r = read_until_eof(h, &a, deadline_ns);
                break;
        }
        if (r < 0)
                return r;
        h->body[h->body_len] = 0;

        /* Keep the connection only when the answer ended exactly where its framing says. */
        if (a.close || h->rstart != h->rend)
                http_unix_close(h);
        return a.status;
}

static int request(struct http_unix *h, bool post, const char *path, uint64_t deadline_ns)
{
        int r;

        h->error[0] = 0;
        if (!path || !path_ok(path))
                return fail(h, -EINVAL, "request path is not usable");
        /* A POST may change something: never on a connection that may have gone stale. */
        if (post)
                http_unix_close(h);
        for (unsigned attempt = 0;; attempt++) {
                bool reused = h->fd >= 0;
                if (!reused) {
                        r = do_connect(h, deadline_ns);
                        if (r < 0)
                                return r;
                }
                r = request_once(h, post, path, deadline_ns);
                if (r != HTTP_UNIX_STALE)
                        return r;
                http_unix_close(h);
                if (!reused || attempt > 0)
                        return fail(h, -EPROTO, "connection closed without an answer");
        }
}

int http_unix_get(struct http_unix *h, const char *path, uint64_t deadline_ns)
{
        return request(h, false, path, deadline_ns);
}

int http_unix_post(struct http_unix *h, const char *path, uint64_t deadline_ns)
{
        return request(h, true, path, deadline_ns);
}
