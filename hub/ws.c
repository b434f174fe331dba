/*
 * ws.c — the lws thread: the port gate, WebSocket clients, fan-out, timers, shutdown.
 *
 * Process: ringhub, main thread (lws is single-threaded; only lws_cancel_service() is
 * called from elsewhere). The hub owns the listening socket. The gate accepts each
 * connection, watches it in an edge-triggered epoll nested into lws as a raw file,
 * peeks at the request head (never consuming it) and hands WebSocket upgrades for a
 * dialect's path to lws (lws_adopt_socket_vhost) and everything else to libmicrohttpd
 * (MHD_add_connection). Heads that do not arrive in time are closed.
 *
 * Fan-out: frames from the reader thread are pre-framed and refcounted; each client
 * queue holds references, never copies. A writeable client gets up to 64 queued frames
 * joined into one write. A full queue conflates state frames of the same topic (latest
 * wins); a client that still cannot keep up is closed with 1008 and one log line.
 * Must not block: no ring waits, no JSON encoding of events here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "clients.h"
#include "hubconf.h"
#include "dialect.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define PEEK_MAX      8192
#define WRITE_BATCH   64
#define SCRATCH_BYTES (64 * 1024)

enum raw_kind { RAW_LISTEN = 1, RAW_EPOLL, RAW_SIGNAL };

struct gate_conn {
        int fd;
        uint64_t deadline;
        struct gate_conn *prev, *next;
};

struct hub_client {
        struct lws *wsi;
        const struct dialect *d;
        unsigned di;
        uint64_t id;
        struct hub_client *prev, *next;
        struct hub_msg **q;
        unsigned q_head, q_len, q_cap;
        /* Absolute position (messages ever queued) of the queue head, and per topic 1 + the
         * absolute position of its newest queued state message: conflation is O(1). */
        uint64_t q_head_abs;
        uint64_t state_pos[HUB_T_MAX];
        bool write_pending, closing;
        uint16_t close_code;
        char close_reason[64];
        uint64_t stalled_since;
        char *rx;
        size_t rx_len, rx_cap;
        void *ext; /* clients.c */
        _Alignas(16) uint8_t priv[];
};

struct pss {
        struct hub_client *c;
};

static struct lws_context *ctx;
static struct lws_vhost *vh;
static struct MHD_Daemon *mhd;
static int listen_fd = -EBADF, ep_fd = -EBADF, sig_fd = -EBADF, reserve_fd = -EBADF;
static struct gate_conn *pending;
static unsigned n_pending;
static struct hub_client *clients[HUB_MAX_DIALECTS];
static unsigned n_clients;
static uint64_t next_client_id = 1;
static struct hub_msg *latest[HUB_MAX_DIALECTS][HUB_T_MAX];
static lws_sorted_usec_list_t sul_gate, sul_watchdog, sul_shutdown;
static bool gate_timer_on, shutting_down, exit_loop;
static uint64_t shutdown_started, watchdog_usec;
static lws_retry_bo_t retry_policy;
static uint8_t scratch[LWS_PRE + SCRATCH_BYTES];

/* ---- clients ---- */

void *hub_client_priv(struct hub_client *c)
{
        return c->priv;
}

struct lws *hub_client_wsi(struct hub_client *c)
{
        return c->wsi;
}

uint64_t hub_client_id(const struct hub_client *c)
{
        return c->id;
}

const struct dialect *hub_client_dialect(const struct hub_client *c, unsigned *ret_index)
{
        if (ret_index)
                *ret_index = c->di;
        return c->d;
}

void **hub_client_ext(struct hub_client *c)
{
        return &c->ext;
}

static void queue_drop_all(struct hub_client *c)
{
        for (unsigned i = 0; i < c->q_len; i++)
                hub_msg_unref(c->q[(c->q_head + i) % c->q_cap]);
        c->q_head_abs += c->q_len;
        c->q_len = 0;
        c->q_head = 0;
}

static void want_write(struct hub_client *c)
{
        if (!c->write_pending) {
                c->write_pending = true;
                lws_callback_on_writable(c->wsi);
        }
}

void hub_client_close(struct hub_client *c, int code, const char *reason)
{
        if (c->closing)
                return;
        c->closing = true;
        c->close_code = (uint16_t)code;
        strscpy(c->close_reason, sizeof(c->close_reason), reason ? reason : "");
        queue_drop_all(c);
        c->write_pending = false;
        lws_callback_on_writable(c->wsi);
        /* A peer that never reads never makes us writeable: give up after 2 s. */
        lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, 2);
}

static void close_slow(struct hub_client *c, const char *why)
{
        atomic_fetch_add_explicit(&hub.stats.clients_slow, 1, memory_order_relaxed);
        log_warning("client %" PRIu64 " (%s): %s with %u frames queued, closing", c->id, c->d->name,
                    why, c->q_len);
        hub_client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer");
}

void hub_client_send(struct hub_client *c, struct hub_msg *m)
{
        if (c->closing)
                return;
        if (c->q_len == c->q_cap) {
                /* Full: the newest state of a topic replaces the queued older one. */
                uint64_t pos =
                    (m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX ? c->state_pos[m->topic] : 0;
                if (pos && pos - 1 >= c->q_head_abs) {
                        /* The newest queued state of this topic is replaced in place. */
                        unsigned i = (unsigned)(pos - 1 - c->q_head_abs);
                        struct hub_msg **slot = &c->q[(c->q_head + i) % c->q_cap];
                        if ((*slot)->topic == m->topic && ((*slot)->flags & HUB_MSG_STATE)) {
                                hub_msg_unref(*slot);
                                *slot = hub_msg_ref(m);
                                atomic_fetch_add_explicit(&hub.stats.conflated, 1,
                                                          memory_order_relaxed);
                                uint64_t now = hub_fanout_now_ns();
                                if (!c->stalled_since)
                                        c->stalled_since = now;
                                else if (now - c->stalled_since >=
                                         (uint64_t)hub.opt.slow_timeout_ms * NSEC_PER_MSEC)
                                        close_slow(c, "no progress while conflating");
                                return;
                        }
                }
                close_slow(c, "queue full");
                return;
        }
        if ((m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX)
                c->state_pos[m->topic] = c->q_head_abs + c->q_len + 1;
        c->q[(c->q_head + c->q_len++) % c->q_cap] = hub_msg_ref(m);
        want_write(c);
}

struct hub_msg *hub_client_latest(struct hub_client *c, unsigned topic)
{
        return topic < HUB_T_MAX ? latest[c->di][topic] : NULL;
}

static void deliver_all(unsigned d, struct hub_msg *m)
{
        for (struct hub_client *c = clients[d], *next; c; c = next) {
                next = c->next;
                if (c->d->wants && !c->d->wants(c, m->topic))
                        continue;
                if (c->d->deliver)
                        c->d->deliver(c, m);
                else
                        hub_client_send(c, m);
        }
}

void hub_broadcast(unsigned d, struct hub_msg *m)
{
        if (d < hub_n_dialects && !shutting_down)
                deliver_all(d, m);
}

void hub_client_snapshot(struct hub_client *c)
{
        for (unsigned t = 0; t < HUB_T_MAX; t++) {
                struct hub_msg *m = latest[c->di][t];
                if (m && (!c->d->wants || c->d->wants(c, t)))
                        hub_client_send(c, m);
        }
}

/* One clock reading per fan-out pass: per-client rate limits then cost no syscall each. */
static uint64_t fan_now;

uint64_t hub_fanout_now_ns(void)
{
        return fan_now ? fan_now : mono_ns();
}

static void fan_out(void)
{
        fan_now = mono_ns();
        size_t n;
        struct hub_handoff *a = hub_handoff_take(&n);
        for (size_t i = 0; i < n; i++) {
                struct hub_msg *m = a[i].msg;
                unsigned d = a[i].dialect;
                if (d < hub_n_dialects && !shutting_down) {
                        if ((m->flags & HUB_MSG_STATE) && m->topic < HUB_T_MAX) {
                                hub_msg_unref(latest[d][m->topic]);
                                latest[d][m->topic] = hub_msg_ref(m);
                        }
                        deliver_all(d, m);
                }
                hub_msg_unref(m);
        }
        free(a);
        fan_now = 0;
}

static int client_write(struct hub_client *c)
{
        c->write_pending = false;
        if (c->closing) {
                lws_close_reason(c->wsi, c->close_code, (unsigned char *)c->close_reason,
                                 strlen(c->close_reason));
                return -1;
        }
        if (c->q_len == 0)
                return 0;
        unsigned n = 0;
        size_t total = 0;
        uint8_t *buf;
        struct hub_msg *first = c->q[c->q_head];
        if (c->q_len == 1 || first->len > SCRATCH_BYTES / 2) {
                /* One frame: straight from its shared buffer (LWS_PRE headroom is there). */
                buf = first->frame;
                total = first->len;
                n = 1;
        } else {
                buf = scratch + LWS_PRE;
                while (n < c->q_len && n < WRITE_BATCH) {
                        struct hub_msg *m = c->q[(c->q_head + n) % c->q_cap];
                        if (total + m->len > SCRATCH_BYTES)
                                break;
                        memcpy(buf + total, m->frame, m->len);
                        total += m->len;
                        n++;
                }
        }
        /* Complete frames, already framed: lws sends them as they are. */
        int w = lws_write(c->wsi, buf, total, LWS_WRITE_RAW);
        if (w < 0)
                return -1;
        for (unsigned i = 0; i < n; i++) {
                hub_msg_unref(c->q[c->q_head]);
                c->q_head = (c->q_head + 1) % c->q_cap;
        }
        c->q_len -= n;
        c->q_head_abs += n;
        c->stalled_since = 0;
        atomic_fetch_add_explicit(&hub.stats.ws_writes, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.ws_messages, n, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.ws_bytes, total, memory_order_relaxed);
        if (c->q_len)
                want_write(c);
        return 0;
}

static const struct dialect *dialect_by_path(const char *path, size_t len, unsigned *ret_idx)
{
        for (unsigned i = 0; i < hub_n_dialects; i++) {
                const char *p = hub_dialects[i]->path;
                if (strlen(p) == len && memcmp(p, path, len) == 0) {
                        if (ret_idx)
                                *ret_idx = i;
                        return hub_dialects[i];
                }
        }
        return NULL;
}

static int client_open(struct lws *wsi, struct pss *pss)
{
        char uri[256];
        int ul = lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
        unsigned di = 0;
        const struct dialect *d = ul > 0 ? dialect_by_path(uri, strcspn(uri, "?"), &di) : NULL;
        if (!d) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                                 (unsigned char *)"unknown endpoint", 16);
                return -1;
        }
        if (n_clients >= hub.opt.max_clients || shutting_down) {
                atomic_fetch_add_explicit(&hub.stats.clients_refused, 1, memory_order_relaxed);
                lws_close_reason(wsi, 1013, (unsigned char *)"too many clients", 16);
                return -1;
        }
        size_t priv = ALIGN_TO(d->priv_size, (size_t)16);
        struct hub_client *c = calloc(1, sizeof(*c) + priv + hub.opt.queue_len * sizeof(void *));
        if (!c) {
                lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                                 (unsigned char *)"out of memory", 13);
                return -1;
        }
        c->wsi = wsi;
        c->d = d;
        c->di = di;
        c->id = next_client_id++;
        c->q = (struct hub_msg **)(c->priv + priv);
        c->q_cap = hub.opt.queue_len;
        c->next = clients[di];
        if (c->next)
                c->next->prev = c;
        clients[di] = c;
        pss->c = c;
        n_clients++;
        atomic_store(&hub.stats.clients, n_clients);
        atomic_fetch_add_explicit(&hub.stats.clients_total, 1, memory_order_relaxed);
        log_debug("client %" PRIu64 " connected (%s)", c->id, d->name);
        int code = clients_open(c);
        if (code == 0 && d->on_open)
                code = d->on_open(c);
        if (code == 0)
                clients_opened(c);
        if (code > 0)
                hub_client_close(c, code, "rejected");
        return 0;
}

static void client_free(struct pss *pss)
{
        struct hub_client *c = pss->c;
        if (!c)
                return;
        if (c->d->on_close)
                c->d->on_close(c);
        clients_close(c);
        if (c->prev)
                c->prev->next = c->next;
        else
                clients[c->di] = c->next;
        if (c->next)
                c->next->prev = c->prev;
        queue_drop_all(c);
        free(c->rx);
        free(c);
        pss->c = NULL;
        n_clients--;
        atomic_store(&hub.stats.clients, n_clients);
}

static int client_reject(struct lws *wsi, int code, const char *reason)
{
        atomic_fetch_add_explicit(&hub.stats.bad_frames, 1, memory_order_relaxed);
        lws_close_reason(wsi, code, (unsigned char *)reason, strlen(reason));
        return -1;
}

static int client_receive(struct lws *wsi, struct hub_client *c, const void *in, size_t len)
{
        if (c->closing)
                return 0;
        if (lws_frame_is_binary(wsi))
                return client_reject(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
                                     "binary messages not supported");
        if (c->rx_len + len > hub.opt.max_message)
                return client_reject(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big");
        if (c->rx_len + len + 1 > c->rx_cap) {
                size_t cap =
                    MIN((size_t)hub.opt.max_message + 1, MAX(c->rx_len + len + 1, (size_t)512));
                char *p = realloc(c->rx, cap);
                if (!p)
                        return client_reject(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                                             "out of memory");
                c->rx = p;
                c->rx_cap = cap;
        }
        memcpy(c->rx + c->rx_len, in, len);
        c->rx_len += len;
        if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) > 0)
                return 0;
        c->rx[c->rx_len] = 0;
        /* The inbound rate limit for dialects that do not apply it themselves. */
        int code = clients_gate(c);
        if (code == 0 && c->d->on_text)
                code = c->d->on_text(c, c->rx, c->rx_len);
        c->rx_len = 0;
        if (c->rx_cap > 4096) {
                free(c->rx);
                c->rx = NULL;
                c->rx_cap = 0;
        }
        if (code > 0)
                return client_reject(wsi, code, code == 1007 ? "malformed message" : "rejected");
        return 0;
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                       size_t len)
{
        struct pss *pss = user;
        switch (reason) {
        case LWS_CALLBACK_ESTABLISHED:
                return client_open(wsi, pss);
        case LWS_CALLBACK_SERVER_WRITEABLE:
                return pss && pss->c ? client_write(pss->c) : 0;
        case LWS_CALLBACK_RECEIVE:
                return pss && pss->c ? client_receive(wsi, pss->c, in, len) : -1;
        case LWS_CALLBACK_CLOSED:
                if (pss)
                        client_free(pss);
                return 0;
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
                fan_out();
                return 0;
        default:
                return 0;
        }
}

/* ---- the gate ---- */

static void gate_remove(struct gate_conn *g)
{
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
        char buf[512];
        int n = snprintf(buf, sizeof(buf),
                         "HTTP/1.1 %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         "Retry-After: 5\r\nContent-Length: %zu\r\n\r\n%s",
                         status, strlen(body), body);
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
        epoll_ctl(ep_fd, EPOLL_CTL_DEL, fd, NULL);
        gate_remove(g);
        set_nodelay(fd);

        size_t ml = strcspn(head, " \r\n");
        const char *path = head + ml + (head[ml] == ' ');
        size_t pl = strcspn(path, " ?\r\n");
        bool upgrade = head_has(head, "upgrade", "websocket");
        if (upgrade && ml == 3 && memcmp(head, "GET", 3) == 0 && dialect_by_path(path, pl, NULL)) {
                if (shutting_down || n_clients >= hub.opt.max_clients) {
                        atomic_fetch_add_explicit(&hub.stats.clients_refused, 1,
                                                  memory_order_relaxed);
                        log_info("WebSocket client refused: %u clients (limit %u)", n_clients,
                                 hub.opt.max_clients);
                        send_and_close(fd, "503 Service Unavailable",
                                       "{\"error\":\"too many clients\",\"code\":503}");
                        return;
                }
                /* lws reads the head itself (we only peeked) and does the handshake. */
                if (!lws_adopt_socket_vhost(vh, fd))
                        log_warning("lws could not adopt a WebSocket connection");
                return;
        }
        atomic_fetch_add_explicit(&hub.stats.http_conns, 1, memory_order_relaxed);
        if (rest_add_connection(mhd, fd) < 0)
                log_warning("libmicrohttpd refused a connection");
}

static void gate_peek(struct gate_conn *g)
{
        static char buf[PEEK_MAX + 1];
        ssize_t n = recv(g->fd, buf, PEEK_MAX, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return;
        if (n <= 0) {
                gate_drop(g);
                return;
        }
        buf[n] = 0;
        if (memmem(buf, (size_t)n, "\r\n\r\n", 4)) {
                gate_decide(g, buf);
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

static void gate_timer(lws_sorted_usec_list_t *sul)
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
                lws_sul_schedule(ctx, 0, &sul_gate, gate_timer, 250 * LWS_US_PER_MS);
        }
}

static void gate_accept(void)
{
        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
                if (shutting_down || n_pending >= hub.opt.max_pending) {
                        send_and_close(fd, "503 Service Unavailable",
                                       "{\"error\":\"busy\",\"code\":503}");
                        continue;
                }
                struct gate_conn *g = calloc(1, sizeof(*g));
                if (!g) {
                        close(fd);
                        continue;
                }
                g->fd = fd;
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
                        lws_sul_schedule(ctx, 0, &sul_gate, gate_timer, 250 * LWS_US_PER_MS);
                }
        }
}

static void gate_events(void)
{
        struct epoll_event evs[64];
        for (;;) {
                int n = epoll_wait(ep_fd, evs, ELEMENTSOF(evs), 0);
                if (n <= 0)
                        return;
                for (int i = 0; i < n; i++)
                        gate_peek(evs[i].data.ptr);
                if (n < (int)ELEMENTSOF(evs))
                        return;
        }
}

/* ---- shutdown, watchdog, signals ---- */

static void shutdown_timer(lws_sorted_usec_list_t *sul)
{
        if (n_clients == 0 || mono_ns() - shutdown_started > 2 * NSEC_PER_SEC) {
                exit_loop = true;
                lws_cancel_service(ctx);
                return;
        }
        lws_sul_schedule(ctx, 0, &sul_shutdown, shutdown_timer, 50 * LWS_US_PER_MS);
}

static void begin_shutdown(void)
{
        if (shutting_down)
                return;
        shutting_down = true;
        shutdown_started = mono_ns();
        sd_notify(0, "STOPPING=1");
        log_info("shutting down: closing %u clients", n_clients);
        for (unsigned d = 0; d < hub_n_dialects; d++)
                for (struct hub_client *c = clients[d]; c; c = c->next)
                        hub_client_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "server shutting down");
        lws_sul_schedule(ctx, 0, &sul_shutdown, shutdown_timer, 20 * LWS_US_PER_MS);
}

static void watchdog_timer(lws_sorted_usec_list_t *sul)
{
        uint64_t alive = atomic_load(&hub.reader_alive_ns);
        /* Ping only while the reader thread is alive too. */
        if (mono_ns() - alive < watchdog_usec * 1000)
                sd_notify(0, "WATCHDOG=1");
        lws_sul_schedule(ctx, 0, &sul_watchdog, watchdog_timer, (lws_usec_t)(watchdog_usec / 2));
}

static void signal_read(void)
{
        struct signalfd_siginfo si;
        while (read(sig_fd, &si, sizeof(si)) == sizeof(si)) {
                log_info("received signal %u", si.ssi_signo);
                if (si.ssi_signo == SIGHUP) {
                        hubconf_reload(); /* the config file, tokens, JWT secret */
                        continue;
                }
                begin_shutdown();
        }
}

static int raw_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
        if (reason != LWS_CALLBACK_RAW_RX_FILE)
                return 0;
        switch ((intptr_t)lws_get_opaque_user_data(wsi)) {
        case RAW_LISTEN:
                gate_accept();
                break;
        case RAW_EPOLL:
                gate_events();
                break;
        case RAW_SIGNAL:
                signal_read();
                break;
        }
        return 0;
}

static const struct lws_protocols protocols[] = {
        /* protocols[0]: what clients without a subprotocol get. */
        { .name = "ringhub-ws",
          .callback = ws_callback,
          .per_session_data_size = sizeof(struct pss),
          .rx_buffer_size = 4096 },
        { .name = "ringhub-raw", .callback = raw_callback },
        { NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void lws_log(int level, const char *line)
{
        char buf[256];
        strscpy(buf, sizeof(buf), line);
        log_warning("lws: %s", strstrip(buf));
}

static int adopt_raw(int fd, enum raw_kind kind)
{
        /* lws closes what it adopts: give it a dup and keep ours. */
        int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dfd < 0)
                return -errno;
        lws_sock_file_fd_type u = { .filefd = dfd };
        struct lws *w =
            lws_adopt_descriptor_vhost(vh, LWS_ADOPT_RAW_FILE_DESC, u, "ringhub-raw", NULL);
        if (!w)
                return -EIO;
        lws_set_opaque_user_data(w, (void *)(intptr_t)kind);
        return 0;
}

int ws_run(int lfd, struct MHD_Daemon *d)
{
        int r;
        listen_fd = lfd;
        mhd = d;

        lws_set_log_level(LLL_ERR, lws_log);
        retry_policy = (lws_retry_bo_t){
                .secs_since_valid_ping = (uint16_t)MIN(hub.opt.ping_secs, 65535u),
                .secs_since_valid_hangup = (uint16_t)MIN(hub.opt.read_timeout_secs, 65535u),
        };
        struct lws_context_creation_info info = { 0 };
        info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
        info.protocols = protocols;
        info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
        info.max_http_header_data = 8192;
        info.timeout_secs = MAX(1u, hub.opt.head_timeout_ms / 1000);
        info.retry_and_idle_policy = &retry_policy;
        info.vhost_name = "ringhub";
        ctx = lws_create_context(&info);
        if (!ctx)
                return log_error_errno(-EIO, "cannot create the libwebsockets context");
        vh = lws_create_vhost(ctx, &info);
        if (!vh) {
                r = log_error_errno(-EIO, "cannot create the libwebsockets vhost");
                goto out;
        }
        hub.lws = ctx;

        ep_fd = epoll_create1(EPOLL_CLOEXEC);
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (ep_fd < 0 || sig_fd < 0) {
                r = log_error_errno(-errno, "cannot create epoll/signalfd: %m");
                goto out;
        }
        if ((r = adopt_raw(sig_fd, RAW_SIGNAL)) < 0 || (r = adopt_raw(ep_fd, RAW_EPOLL)) < 0 ||
            (r = adopt_raw(listen_fd, RAW_LISTEN)) < 0) {
                log_error_errno(r, "cannot nest descriptors into libwebsockets: %m");
                goto out;
        }
        if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0)
                lws_sul_schedule(ctx, 0, &sul_watchdog, watchdog_timer,
                                 (lws_usec_t)(watchdog_usec / 2));
        /* Frames rendered while we were setting up. */
        fan_out();

        sd_notify(0, "READY=1");
        log_info("ready");
        while (!exit_loop)
                if (lws_service(ctx, 0) < 0)
                        break;
        r = 0;
out:
        hub.lws = NULL;
        lws_context_destroy(ctx);
        ctx = NULL;
        while (pending)
                gate_drop(pending);
        for (unsigned di = 0; di < HUB_MAX_DIALECTS; di++)
                for (unsigned t = 0; t < HUB_T_MAX; t++) {
                        hub_msg_unref(latest[di][t]);
                        latest[di][t] = NULL;
                }
        size_t n;
        struct hub_handoff *a = hub_handoff_take(&n);
        for (size_t i = 0; i < n; i++)
                hub_msg_unref(a[i].msg);
        free(a);
        if (ep_fd >= 0)
                close(ep_fd);
        if (sig_fd >= 0)
                close(sig_fd);
        if (reserve_fd >= 0)
                close(reserve_fd);
        ep_fd = sig_fd = reserve_fd = -EBADF;
        return r;
}
