/*
 * plc_carousel.c — raw TCP client of the carousel PLC (PROTOCOLS.md §carousel PLC).
 *
 * Runs on a device thread of ringhub-collect-plc, never on the event loop: calls block,
 * but each is bounded by the machine's timeout through poll(). A reused connection that
 * the PLC has closed since the last reply is reopened once, silently; anything else that
 * goes wrong closes the connection and is described in err for the caller to report.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "plc_carousel.h"
#include "net.h"
#include "util.h"

void carousel_conn_init(struct carousel_conn *cc, const char *host, uint16_t port,
                        uint32_t timeout_ms)
{
        *cc = (struct carousel_conn){ .port = port, .timeout_ms = timeout_ms, .fd = -1 };
        strscpy(cc->host, sizeof(cc->host), host);
}

void carousel_conn_close(struct carousel_conn *cc)
{
        if (cc->fd >= 0)
                close(cc->fd);
        cc->fd = -1;
}

static int remaining_ms(uint64_t deadline)
{
        uint64_t now = mono_ns();
        return now >= deadline ? 0 : (int)((deadline - now) / NSEC_PER_MSEC) + 1;
}

static int fail(struct carousel_conn *cc, int r, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(struct carousel_conn *cc, int r, char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        carousel_conn_close(cc);
        return r;
}

int carousel_conn_open(struct carousel_conn *cc, char *err, size_t errlen)
{
        char port[8];
        uint64_t deadline = mono_ns() + (uint64_t)cc->timeout_ms * NSEC_PER_MSEC;
        carousel_conn_close(cc);
        snprintf(port, sizeof(port), "%u", cc->port);
        int r = net_connect_tcp(cc->host, port, NET_NODELAY, -1, deadline);
        if (r == -EHOSTUNREACH)
                snprintf(err, errlen, "cannot resolve %s (or no address answers)", cc->host);
        else if (r == -ETIMEDOUT)
                snprintf(err, errlen, "connect: timed out after %u ms", cc->timeout_ms);
        else if (r < 0)
                snprintf(err, errlen, "connect: %s", strerror(-r));
        if (r < 0)
                return r;
        cc->fd = r;
        return 0;
}

/* Before a request: a closed peer (one-shot PLC) or bytes nobody asked for. */
static int check_idle(struct carousel_conn *cc, char *err, size_t errlen)
{
        uint8_t junk[64];
        ssize_t n = recv(cc->fd, junk, sizeof(junk), MSG_DONTWAIT);
        if (n == 0)
                return -EPIPE; /* closed since the last reply: reopen */
        if (n > 0)
                return fail(cc, -EBADMSG, err, errlen, "%s",
                            "unexpected bytes from the PLC between replies (reply of the "
                            "wrong length?)");
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return 0;
        return -EPIPE;
}

static int exchange(struct carousel_conn *cc, uint8_t command, uint8_t argument,
                    struct carousel_status *ret, char *err, size_t errlen)
{
        uint8_t req[2], buf[16];
        size_t len = carousel_request(command, argument, req), got = 0;
        uint64_t deadline = mono_ns() + (uint64_t)cc->timeout_ms * NSEC_PER_MSEC;
        ssize_t n = send(cc->fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
                return -EPIPE;
        if (n != (ssize_t)len)
                return fail(cc, -EIO, err, errlen, "send: %s",
                            n < 0 ? strerror(errno) : "short write");
        while (got < 2) {
                struct pollfd p = { .fd = cc->fd, .events = POLLIN };
                int pr = poll(&p, 1, remaining_ms(deadline));
                if (pr == 0 && got == 0)
                        return fail(cc, -ETIMEDOUT, err, errlen, "no reply within %u ms",
                                    cc->timeout_ms);
                if (pr == 0)
                        return fail(cc, -ETIMEDOUT, err, errlen,
                                    "short reply: %zu of 2 bytes, then nothing for %u ms", got,
                                    cc->timeout_ms);
                if (pr < 0 && errno == EINTR)
                        continue;
                n = recv(cc->fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
                if (n < 0 && (errno == EAGAIN || errno == EINTR))
                        continue;
                if (n == 0 && got == 0)
                        return -EPIPE; /* closed without a byte: a one-shot peer's old socket */
                if (n <= 0)
                        return fail(cc, n == 0 ? -ECONNRESET : -errno, err, errlen, "%s",
                                    n == 0 ? "short reply: 1 of 2 bytes, then the connection "
                                             "closed"
                                           : strerror(errno));
                got += (size_t)n;
        }
        if (got != 2)
                return fail(cc, -EBADMSG, err, errlen,
                            "reply of the wrong length: %zu bytes, expected 2", got);
        return carousel_decode(buf, got, ret);
}

int carousel_transact(struct carousel_conn *cc, uint8_t command, uint8_t argument,
                      struct carousel_status *ret, char *err, size_t errlen)
{
        bool fresh = cc->fd < 0;
        int r;
        if (fresh && (r = carousel_conn_open(cc, err, errlen)) < 0)
                return r;
        r = fresh ? 0 : check_idle(cc, err, errlen);
        if (r == 0)
                r = exchange(cc, command, argument, ret, err, errlen);
        if (r != -EPIPE)
                return r;
        if (fresh)
                return fail(cc, -ECONNRESET, err, errlen, "%s", "connection closed by the PLC");
        /* The PLC closed the reused connection (one-shot style): reopen once. */
        if ((r = carousel_conn_open(cc, err, errlen)) < 0)
                return r;
        r = exchange(cc, command, argument, ret, err, errlen);
        if (r == -EPIPE)
                return fail(cc, -ECONNRESET, err, errlen, "%s", "connection closed by the PLC");
        return r;
}
