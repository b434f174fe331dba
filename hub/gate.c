/*
 * gate.c — the port gate (see gate.h): every connection on the hub's one port passes
 * here first.
 *
 * Process: ringhub, lws thread. The gate accepts each connection, watches it in an
 * edge-triggered epoll nested into lws as a raw file (lws's level-triggered poll would
 * spin on a half-sent head), peeks at the request head (never consuming it) and hands a
 * WebSocket upgrade for a dialect's path to lws (lws_adopt_socket_vhost: lws reads the
 * head itself), a plain request for a dialect that speaks Engine.IO polling to lws too
 * (eio_poll.c) and everything else to libmicrohttpd (rest_add_connection). Over the
 * client limit an upgrade gets 503 (not one that joins a polling session: Engine.IO's
 * upgrade; one naming an unknown sid gets Engine.IO's 400); a head that does not arrive
 * in time gets 408, one over 8 KiB 431. After the hand-off the library owns and closes the fd.
 *
 * Limits (each refusal is a 503 "busy" and a rate-limited log line): max_pending heads
 * overall and max_pending_per_address per client address (addrlimit.c); REST
 * connections over http_connections or http_connections_per_address (rest.c counts
 * them). A peer that closes or resets before its head is complete is dropped at once
 * (EPOLLRDHUP/EPOLLHUP: the peeked bytes still queued would hide the EOF from recv).
 */
#include "gate.h"

#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addrlimit.h"
#include "client.h"
#include "dialect.h"
#include "dialects.h"
#include "eio_poll.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "rest.h"
#include "tls.h"
#include "sio.h"
#include "util.h"
#include "timers.h"

#define PEEK_MAX 8192

struct gate_conn {
        int fd;
        bool tls; /* fd is the plaintext end of a TLS relay (tls.c) */
        uint64_t deadline;
        struct sockaddr_storage addr;
        socklen_t addr_len;
        struct addrlimit_key key;
        struct gate_conn *prev, *next;
};

static struct lws_context *ctx;
static struct lws_vhost *vh;
static struct MHD_Daemon *mhd;
static int listen_fd = -EBADF, ep_fd = -EBADF, reserve_fd = -EBADF;
static struct gate_conn *pending;
static unsigned n_pending;
static struct htimer gate_tm;
static bool gate_timer_on;
static struct log_ratelimit refusal_log;

/* One line per refusal, at most 5 a second (a flood of refusals is no flood of lines). */
static void log_refusal(const struct addrlimit_key *k, const char *what)
{
        unsigned dropped;
        char a[64];
        if (!log_ratelimit_ok(&refusal_log, 5, NSEC_PER_SEC, &dropped))
                return;
        if (dropped)
                log_info("refused a connection from %s: %s (and %u refusals not logged)",
                         addrlimit_key_str(k, a, sizeof(a)), what, dropped);
        else
                log_info("refused a connection from %s: %s", addrlimit_key_str(k, a, sizeof(a)),
                         what);
}

static void gate_remove(struct gate_conn *g)
{
        addrlimit_put(&g->key, ADDRLIMIT_PENDING);
        if (g->prev)
                g->prev->next = g->next;
        else
                pending = g->next;
        if (g->next)
                g->next->prev = g->prev;
        n_pending--;
        free(g);
}

static void gate_drop(struct gate_conn *g)
{
        close(g->fd);
        gate_remove(g);
}

static void send_and_close(int fd, const char *status, const char *body)
{
        /* 503: try again soon. 426 must name what to upgrade to (RFC 9110 15.5.22): TLS,
         * which this port wants from the first byte. */
        const char *extra = startswith(status, "503")   ? "Retry-After: 5\r\n"
                            : startswith(status, "426") ? "Upgrade: TLS/1.2, HTTP/1.1\r\n"
                                                        : "";
        char buf[512];
        int n = snprintf(buf, sizeof(buf),
                         "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         "%sContent-Length: %zu\r\n\r\n%s",
                         status, extra, strlen(body), body);
        if (n > 0)
                (void)!send(fd, buf, MIN((size_t)n, sizeof(buf) - 1), MSG_NOSIGNAL | MSG_DONTWAIT);
        close(fd);
}

/* Does the head have header `name` whose value contains `token` (case-insensitive)? */
static bool head_has(const char *head, const char *name, const char *token)
{
        size_t nl = strlen(name);
        for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
                const char *h = l + 2;
                if (strncasecmp(h, name, nl) != 0 || h[nl] != ':')
                        continue;
                const char *end = strstr(h, "\r\n");
                size_t vl = end ? (size_t)(end - h) - nl - 1 : strlen(h + nl + 1);
                char v[256];
                vl = MIN(vl, sizeof(v) - 1);
                memcpy(v, h + nl + 1, vl);
                v[vl] = 0;
                if (strcasestr(v, token))
                        return true;
        }
        return false;
}

static void set_nodelay(int fd)
{
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void gate_decide(struct gate_conn *g, const char *head)
{
        int fd = g->fd;
        struct addrlimit_key key = g->key;
        struct sockaddr_storage addr = g->addr;
        socklen_t addr_len = g->addr_len;
        epoll_ctl(ep_fd, EPOLL_CTL_DEL, fd, NULL);
        gate_remove(g);
        set_nodelay(fd);

        size_t ml = strcspn(head, " \r\n");
        const char *path = head + ml + (head[ml] == ' ');
        size_t pl = strcspn(path, " ?\r\n");
        bool upgrade = head_has(head, "upgrade", "websocket");
        const struct dialect *d = dialects_by_path(path, pl, NULL);
        /* Engine.IO's sid: an upgrade of a polling session, not a new client. */
        char query[256] = "", sid[64];
        if (path[pl] == '?') {
                size_t ql = strcspn(path + pl + 1, " \r\n");
                if (ql < sizeof(query)) {
                        memcpy(query, path + pl + 1, ql);
                        query[ql] = 0;
                }
        }
        bool joins = d && (d->flags & DIALECT_EIO_POLLING) &&
                     sio_query_value(query, "sid", sid, sizeof(sid));
        if (upgrade && ml == 3 && memcmp(head, "GET", 3) == 0 && d) {
                if (joins && !eio_poll_known(sid)) {
                        send_and_close(fd, "400 Bad Request",
                                       "{\"code\":1,\"message\":\"Session ID unknown\"}");
                        return;
                }
                if (!joins && (hub.shutting_down || client_count() >= hub.opt.max_clients)) {
                        atomic_fetch_add_explicit(&hub.stats.clients_refused, 1,
                                                  memory_order_relaxed);
                        log_refusal(&key, "WebSocket clients at their limit");
                        send_and_close(fd, "503 Service Unavailable",
                                       "{\"error\":\"too many clients\",\"code\":503}");
                        return;
                }
                /* lws reads the head itself (we only peeked) and does the handshake. */
                if (!lws_adopt_socket_vhost(vh, fd))
                        log_warning("lws could not adopt a WebSocket connection");
                return;
        }
        if (d && (d->flags & DIALECT_EIO_POLLING)) {
                /* Engine.IO long-polling: lws holds a poll until there is something to
                 * send (eio_poll.c), libmicrohttpd's thread never waits on one. */
                if (!lws_adopt_socket_vhost(vh, fd))
                        log_warning("lws could not adopt a polling connection");
                return;
        }
        int r = rest_add_connection(mhd, fd, (struct sockaddr *)&addr, addr_len);
        if (r == -EBUSY || r == -EUSERS) {
                atomic_fetch_add_explicit(&hub.stats.http_refused, 1, memory_order_relaxed);
                log_refusal(&key, r == -EBUSY ? "REST connections at their limit"
                                              : "REST connections of this address at their limit");
                send_and_close(fd, "503 Service Unavailable", "{\"error\":\"busy\",\"code\":503}");
                return;
        }
        if (r < 0)
                log_warning("libmicrohttpd refused a connection");
        else
                atomic_fetch_add_explicit(&hub.stats.http_conns, 1, memory_order_relaxed);
}

/* TLS on the one port (tls.c): a ClientHello is relayed and its plaintext end watched in
 * its place, under the same deadline; plain HTTP to a TLS-only port gets 426. True when
 * the connection was dealt with. */
static bool gate_tls(struct gate_conn *g, const char *buf, size_t n, bool head)
{
        if (g->tls)
                return false;
        if ((unsigned char)buf[0] == TLS_RECORD_HANDSHAKE) {
                epoll_ctl(ep_fd, EPOLL_CTL_DEL, g->fd, NULL);
                int fd = tls_enabled() ? tls_wrap(g->fd) : (close(g->fd), -EPROTONOSUPPORT);
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = g };
                if (fd < 0 || epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        if (fd >= 0)
                                close(fd);
                        gate_remove(g);
                        return true;
                }
                g->fd = fd;
                g->tls = true;
                return true;
        }
        if (!head || !tls_enabled() || !hub.opt.tls_only)
                return false;
        epoll_ctl(ep_fd, EPOLL_CTL_DEL, g->fd, NULL);
        int fd = g->fd;
        gate_remove(g);
        atomic_fetch_add_explicit(&hub.stats.tls_plain_refused, 1, memory_order_relaxed);
        char drain[PEEK_MAX];
        (void)!recv(fd, drain, n, MSG_DONTWAIT); /* read it: a clean close, no RST */
        send_and_close(fd, "426 Upgrade Required",
                       "{\"error\":\"this port speaks TLS only: use https:// or wss://\","
                       "\"code\":426}");
        return true;
}

static void gate_peek(struct gate_conn *g, uint32_t events)
{
        static char buf[PEEK_MAX + 1];
        ssize_t n = recv(g->fd, buf, PEEK_MAX, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR) &&
            !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
                return;
        if (n <= 0) {
                /* Closed (0) or reset before a full head: abandoned, as below. */
                atomic_fetch_add_explicit(&hub.stats.heads_abandoned, 1, memory_order_relaxed);
                gate_drop(g);
                return;
        }
        buf[n] = 0;
        bool head = memmem(buf, (size_t)n, "\r\n\r\n", 4);
        if (gate_tls(g, buf, (size_t)n, head))
                return;
        if (head) {
                gate_decide(g, buf);
                return;
        }
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                /* Closed or reset with the head unfinished: it never will be. */
                atomic_fetch_add_explicit(&hub.stats.heads_abandoned, 1, memory_order_relaxed);
                gate_drop(g);
                return;
        }
        if (n >= PEEK_MAX) {
                epoll_ctl(ep_fd, EPOLL_CTL_DEL, g->fd, NULL);
                int fd = g->fd;
                gate_remove(g);
                send_and_close(fd, "431 Request Header Fields Too Large",
                               "{\"error\":\"request head too large\",\"code\":431}");
        }
        /* Otherwise wait for the rest (edge-triggered: the next bytes wake us). */
}

static void gate_timer(struct htimer *t)
{
        uint64_t now = mono_ns();
        gate_timer_on = false;
        for (struct gate_conn *g = pending, *next; g; g = next) {
                next = g->next;
                if (now >= g->deadline) {
                        atomic_fetch_add_explicit(&hub.stats.heads_timed_out, 1,
                                                  memory_order_relaxed);
                        epoll_ctl(ep_fd, EPOLL_CTL_DEL, g->fd, NULL);
                        int fd = g->fd;
                        gate_remove(g);
                        send_and_close(fd, "408 Request Timeout",
                                       "{\"error\":\"request head timed out\",\"code\":408}");
                }
        }
        if (pending) {
                gate_timer_on = true;
                htimer_schedule(&gate_tm, gate_timer, 250 * LWS_US_PER_MS);
        }
}

void gate_accept(void)
{
        for (;;) {
                struct sockaddr_storage addr;
                socklen_t addr_len = sizeof(addr);
                int fd = accept4(listen_fd, (struct sockaddr *)&addr, &addr_len,
                                 SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE) {
                                /* Out of fds: shed this connection so poll does not spin. */
                                log_warning("out of file descriptors, dropping a connection");
                                if (reserve_fd >= 0) {
                                        close(reserve_fd);
                                        int x = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
                                        if (x >= 0)
                                                close(x);
                                        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                                }
                                continue;
                        }
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(-errno, "accept failed: %m");
                        if (errno == ECONNABORTED || errno == EINTR)
                                continue;
                        return;
                }
                struct addrlimit_key key;
                addrlimit_key_of((struct sockaddr *)&addr, &key);
                const char *why =
                    hub.shutting_down                  ? "shutting down"
                    : n_pending >= hub.opt.max_pending ? "request heads at their limit"
                    : !addrlimit_take(&key, ADDRLIMIT_PENDING, hub.opt.max_pending_per_address)
                        ? "request heads of this address at their limit"
                        : NULL;
                if (why) {
                        atomic_fetch_add_explicit(&hub.stats.heads_refused, 1,
                                                  memory_order_relaxed);
                        log_refusal(&key, why);
                        send_and_close(fd, "503 Service Unavailable",
                                       "{\"error\":\"busy\",\"code\":503}");
                        continue;
                }
                struct gate_conn *g = calloc(1, sizeof(*g));
                if (!g) {
                        addrlimit_put(&key, ADDRLIMIT_PENDING);
                        close(fd);
                        continue;
                }
                g->fd = fd;
                g->addr = addr;
                g->addr_len = addr_len;
                g->key = key;
                g->deadline = mono_ns() + (uint64_t)hub.opt.head_timeout_ms * NSEC_PER_MSEC;
                g->next = pending;
                if (pending)
                        pending->prev = g;
                pending = g;
                n_pending++;
                struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = g };
                if (epoll_ctl(ep_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                        log_warning_errno(-errno, "epoll_ctl failed: %m");
                        gate_drop(g);
                        continue;
                }
                if (!gate_timer_on) {
                        gate_timer_on = true;
                        htimer_schedule(&gate_tm, gate_timer, 250 * LWS_US_PER_MS);
                }
        }
}

void gate_events(void)
{
        struct epoll_event evs[64];
        for (;;) {
                int n = epoll_wait(ep_fd, evs, ELEMENTSOF(evs), 0);
                if (n <= 0)
                        return;
                for (int i = 0; i < n; i++)
                        gate_peek(evs[i].data.ptr, evs[i].events);
                if (n < (int)ELEMENTSOF(evs))
                        return;
        }
}

int gate_init(struct lws_context *c, struct lws_vhost *v, int lfd, struct MHD_Daemon *d)
{
        ctx = c;
        vh = v;
        listen_fd = lfd;
        mhd = d;
        ep_fd = epoll_create1(EPOLL_CLOEXEC);
        if (ep_fd < 0)
                return -errno;
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        return ep_fd;
}

void gate_free(void)
{
        while (pending)
                gate_drop(pending);
        if (ep_fd >= 0)
                close(ep_fd);
        if (reserve_fd >= 0)
                close(reserve_fd);
        ep_fd = reserve_fd = -EBADF;
        addrlimit_free();
        ctx = NULL;
        vh = NULL;
}
