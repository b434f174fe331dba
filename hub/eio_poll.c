/*
 * eio_poll.c — Engine.IO v4 long-polling and its upgrade to WebSocket (see eio_poll.h).
 *
 * Process: ringhub, lws thread. Requests:
 *   GET  ?EIO=4&transport=polling            handshake: a new client (session_begin(),
 *                                            the client limit: 503), answered with its
 *                                            open packet
 *   GET  ?EIO=4&transport=polling&sid=S      the poll: answered with the queued frames
 *                                            joined by "\x1e", or held until one is
 *                                            queued (the server's ping comes every
 *                                            pingInterval, so a poll waits at most that)
 *   POST ?EIO=4&transport=polling&sid=S      packets joined by "\x1e" ("b"+base64 for
 *                                            binary), each through the session's rate
 *                                            limit to the dialect; answered "ok"
 * Errors as Engine.IO answers them: 400 with {"code","message"} (0 transport unknown,
 * 1 session ID unknown, 2 bad handshake method, 3 bad request, 5 unsupported protocol
 * version), 413 for a body over maxPayload; a second GET or POST while one of the session
 * is in flight, a malformed payload or an oversized body also close the session. The
 * upgrade: a WebSocket with ?sid=S joins the client (session.c's probe), "2probe" is
 * answered "3probe" and a held poll "6" (noop) so the client can pause polling; "5"
 * switches the client over to the WebSocket with its queue intact. Nothing sent on either
 * transport is lost or reordered across it: a POST still being read when "5" comes is
 * delivered first (the WebSocket's reads wait for it, then the switch). A session ends
 * (deferred to a timer, never inside client_close()) by answering a held poll "1".
 * Sessions are a hash by sid, bounded by the client limit. Never blocks.
 */
#include "eio_poll.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dialect.h"
#include "dialects.h"
#include "fanout.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "session.h"
#include "sio.h"
#include "timers.h"

#define SID_LEN    20
#define POLL_BATCH 64
#define ARG_MAX    64
#define BUCKETS    256 /* sessions by sid: a poll finds its own in O(1) */

enum eio_error {
        EIO_ERR_TRANSPORT = 0,
        EIO_ERR_SID = 1,
        EIO_ERR_METHOD = 2,
        EIO_ERR_REQUEST = 3,
        EIO_ERR_VERSION = 5,
};

static const char *const error_text[] = {
        [EIO_ERR_TRANSPORT] = "Transport unknown",          [EIO_ERR_SID] = "Session ID unknown",
        [EIO_ERR_METHOD] = "Bad handshake method",          [EIO_ERR_REQUEST] = "Bad request",
        [EIO_ERR_VERSION] = "Unsupported protocol version",
};

struct eio_sess {
        char sid[SID_LEN + 1];
        struct hub_client *c;
        struct lws *get;  /* the poll waiting for frames */
        struct lws *post; /* the data request being read */
        bool upgrading;   /* a WebSocket probe answered: polls return at once */
        struct lws *to;   /* "5" came on this probe while a POST was in flight: its reads
                           * wait, the switch follows the POST's packets */
        bool ending;
        struct htimer end_tm;
        struct eio_sess *prev, *next; /* in its bucket */
};

/* One HTTP request (the lws per-session data, shared with session.c's). */
struct eio_req {
        struct eio_sess *s; /* the session this GET or POST belongs to */
        bool is_post;
        char *body;
        size_t body_len, body_size;
        /* the answer, written when the connection is writeable */
        bool ready, close_after;
        unsigned status;
        const char *ctype;
        char *out; /* LWS_PRE headroom, then out_len bytes */
        size_t out_len;
};

static struct eio_sess *buckets[BUCKETS];

static struct eio_sess **bucket(const char *sid)
{
        uint32_t h = 2166136261u;
        for (; *sid; sid++)
                h = (h ^ (uint8_t)*sid) * 16777619u;
        return &buckets[h % BUCKETS];
}

static struct eio_sess *find(const char *sid)
{
        for (struct eio_sess *s = *bucket(sid); s; s = s->next)
                if (!s->ending && strcmp(s->sid, sid) == 0)
                        return s;
        return NULL;
}

bool eio_poll_known(const char *sid)
{
        return find(sid) != NULL;
}

static void req_reset(struct eio_req *r)
{
        free(r->body);
        free(r->out);
        *r = (struct eio_req){ 0 };
}

/* Prepare the answer (parts joined by sep) and ask to write it. */
static void answer(struct lws *wsi, struct eio_req *r, unsigned status, const char *ctype,
                   const char *const *parts, const size_t *lens, size_t n, char sep)
{
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += lens[i] + (i > 0 && sep);
        free(r->out);
        r->out = malloc(LWS_PRE + total + 1);
        r->out_len = 0;
        if (r->out) {
                char *p = r->out + LWS_PRE;
                for (size_t i = 0; i < n; i++) {
                        if (i > 0 && sep)
                                *p++ = sep;
                        memcpy(p, parts[i], lens[i]);
                        p += lens[i];
                }
                r->out_len = total;
        } else
                status = 500;
        r->status = status;
        r->ctype = ctype;
        r->ready = true;
        lws_callback_on_writable(wsi);
}

static void answer_text(struct lws *wsi, struct eio_req *r, unsigned status, const char *ctype,
                        const char *text)
{
        size_t len = strlen(text);
        answer(wsi, r, status, ctype, &text, &len, 1, 0);
}

/* Engine.IO's error answer; the connection closes after it (its body may be unread). */
static void answer_error(struct lws *wsi, struct eio_req *r, unsigned status, enum eio_error code)
{
        char body[96];
        snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", (int)code,
                 error_text[code]);
        atomic_fetch_add_explicit(&hub.stats.eio_errors, 1, memory_order_relaxed);
        r->close_after = true;
        answer_text(wsi, r, status, "application/json", body);
}

/* ---- sessions ---- */

static void end_timer(struct htimer *t);
static void switch_over(struct eio_sess *s);

/* The session is over: end it from a timer (its caller may still hold the client). */
static void kick(struct hub_client *c)
{
        struct eio_sess *s = c->transport;
        if (c->closing && !s->ending) {
                s->ending = true;
                htimer_schedule(&s->end_tm, end_timer, 1);
        }
        if (s->get)
                lws_callback_on_writable(s->get);
}

/* The held poll gets text now and leaves the session. */
static void release_get(struct eio_sess *s, const char *text)
{
        struct eio_req *r = lws_wsi_user(s->get);
        if (r) {
                answer_text(s->get, r, 200, "text/plain; charset=UTF-8", text);
                r->s = NULL;
        }
        s->get = NULL;
        s->c->wsi = NULL;
}

static void detach_post(struct eio_sess *s)
{
        struct eio_req *r = s->post ? lws_wsi_user(s->post) : NULL;
        if (r)
                r->s = NULL;
        s->post = NULL;
}

static void unlink_sess(struct eio_sess *s)
{
        htimer_cancel(&s->end_tm);
        if (s->prev)
                s->prev->next = s->next;
        else
                *bucket(s->sid) = s->next;
        if (s->next)
                s->next->prev = s->prev;
}

static void sess_end(struct eio_sess *s)
{
        if (s->get && hub.shutting_down) {
                /* As a WebSocket gets no close packet then: the connection drops, and
                 * clients reconnect (a close packet "1" would tell python-engineio not to). */
                struct eio_req *r = lws_wsi_user(s->get);
                if (r)
                        r->s = NULL;
                lws_set_timeout(s->get, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
                s->get = NULL;
        }
        if (s->get)
                release_get(s, "1");
        detach_post(s);
        unlink_sess(s);
        s->c->wsi = NULL;
        session_end(s->c);
        free(s);
}

static void end_timer(struct htimer *t)
{
        sess_end(htimer_owner(t, struct eio_sess, end_tm));
}

static void close_sess(struct eio_sess *s, const char *why)
{
        log_info("client %s (%s): %s, closing its polling session", client_uuid(s->c),
                 client_ip(s->c), why);
        client_close(s->c, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
}

void eio_poll_free(void)
{
        for (size_t i = 0; i < BUCKETS; i++)
                while (buckets[i])
                        sess_end(buckets[i]);
}

const char *eio_poll_sid(const struct hub_client *c)
{
        return c->kick == kick ? ((const struct eio_sess *)c->transport)->sid : NULL;
}

/* ---- requests ---- */

static bool arg(struct lws *wsi, const char *name, char *buf, size_t size)
{
        char tmp[ARG_MAX + 16];
        const char *v = lws_get_urlarg_by_name(wsi, name, tmp, (int)sizeof(tmp));
        if (!v || strlen(v) >= size)
                return false;
        memmove(buf, v, strlen(v) + 1);
        return true;
}

static void handshake(struct lws *wsi, struct eio_req *r, const char *uri)
{
        unsigned di;
        const struct dialect *d = dialects_by_path(uri, strcspn(uri, "?"), &di);
        struct eio_sess *s = calloc(1, sizeof(*s));
        if (!s) {
                answer_error(wsi, r, 500, EIO_ERR_REQUEST);
                return;
        }
        do
                sio_random_id(s->sid, sizeof(s->sid));
        while (find(s->sid));
        s->c = session_begin(wsi, d, di, kick, s);
        if (!s->c) {
                int e = errno;
                free(s);
                r->close_after = true;
                answer_text(wsi, r, e == EBUSY ? 503 : 500, "application/json",
                            e == EBUSY ? "{\"error\":\"too many clients\",\"code\":503}"
                                       : "{\"error\":\"out of memory\",\"code\":500}");
                return;
        }
        struct eio_sess **b = bucket(s->sid);
        s->next = *b;
        if (*b)
                (*b)->prev = s;
        *b = s;
        /* The first poll: the open packet is queued already. */
        s->get = wsi;
        r->s = s;
        lws_callback_on_writable(wsi);
}

static void on_get(struct lws *wsi, struct eio_req *r, struct eio_sess *s)
{
        if (s->get) {
                /* Engine.IO: two polls at once close the session. */
                answer_error(wsi, r, 400, EIO_ERR_REQUEST);
                close_sess(s, "overlapping polls");
                return;
        }
        s->get = wsi;
        s->c->wsi = wsi;
        r->s = s;
        /* No timeout while it waits: the server's ping answers it within pingInterval. */
        lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
        lws_callback_on_writable(wsi);
}

static void on_post(struct lws *wsi, struct eio_req *r, struct eio_sess *s)
{
        char cl[24] = "";
        if (s->post) {
                answer_error(wsi, r, 400, EIO_ERR_REQUEST);
                close_sess(s, "overlapping data requests");
                return;
        }
        if (lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) {
                answer_error(wsi, r, 400, EIO_ERR_REQUEST);
                return;
        }
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || end == cl || n == 0) {
                answer_error(wsi, r, 400, EIO_ERR_REQUEST);
                return;
        }
        if (n > hub.opt.max_message) {
                atomic_fetch_add_explicit(&hub.stats.eio_errors, 1, memory_order_relaxed);
                r->close_after = true;
                answer_text(wsi, r, 413, "application/json",
                            "{\"code\":3,\"message\":\"Payload too large\"}");
                close_sess(s, "data request over maxPayload");
                return;
        }
        r->body = malloc((size_t)n + 1);
        if (!r->body) {
                answer_error(wsi, r, 500, EIO_ERR_REQUEST);
                return;
        }
        r->body_size = (size_t)n;
        r->is_post = true;
        r->s = s;
        s->post = wsi;
}

static int on_request(struct lws *wsi, struct eio_req *r, const char *uri)
{
        req_reset(r);
        atomic_fetch_add_explicit(&hub.stats.eio_requests, 1, memory_order_relaxed);
        const struct dialect *d = dialects_by_path(uri, strcspn(uri, "?"), NULL);
        if (!d || !(d->flags & DIALECT_EIO_POLLING)) {
                /* Another path on a connection kept alive after a poll: not ours. */
                r->close_after = true;
                answer_text(wsi, r, 404, "application/json",
                            "{\"error\":\"not found\",\"code\":404}");
                return 0;
        }
        bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
        bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
        char eio[8] = "", transport[16] = "", sid[ARG_MAX] = "";
        (void)arg(wsi, "EIO=", eio, sizeof(eio));
        (void)arg(wsi, "transport=", transport, sizeof(transport));
        bool has_sid = arg(wsi, "sid=", sid, sizeof(sid));
        if (strcmp(eio, "4") != 0)
                answer_error(wsi, r, 400, EIO_ERR_VERSION);
        else if (strcmp(transport, "polling") != 0)
                answer_error(wsi, r, 400,
                             strcmp(transport, "websocket") == 0 ? EIO_ERR_REQUEST
                                                                 : EIO_ERR_TRANSPORT);
        else if (!has_sid && !get)
                answer_error(wsi, r, 400, EIO_ERR_METHOD);
        else if (!has_sid)
                handshake(wsi, r, uri);
        else {
                struct eio_sess *s = find(sid);
                if (!s)
                        answer_error(wsi, r, 400, EIO_ERR_SID);
                else if (get)
                        on_get(wsi, r, s);
                else if (post)
                        on_post(wsi, r, s);
                else
                        answer_error(wsi, r, 400, EIO_ERR_REQUEST);
        }
        return 0;
}

static void on_body(struct eio_req *r, const char *in, size_t len)
{
        if (r->ready || !r->body)
                return; /* answered already: the rest is read and dropped */
        /* lws reads no more than Content-Length, but do not trust it. */
        len = MIN(len, r->body_size - r->body_len);
        memcpy(r->body + r->body_len, in, len);
        r->body_len += len;
}

/* "b" + base64: a binary packet. Only checked: the dialect takes no binary. */
static bool base64_ok(const char *p, size_t n)
{
        if (n == 0 || n % 4)
                return false;
        for (size_t i = 0; i < n; i++) {
                char ch = p[i];
                bool pad = ch == '=' && i >= n - 2 && (i == n - 1 || p[n - 1] == '=');
                if (!pad && !(ch >= 'A' && ch <= 'Z') && !(ch >= 'a' && ch <= 'z') &&
                    !(ch >= '0' && ch <= '9') && ch != '+' && ch != '/')
                        return false;
        }
        return true;
}

/* Split the payload and hand each packet to the session: false on a malformed one. */
static bool deliver_payload(struct eio_sess *s, char *body, size_t len)
{
        struct hub_client *c = s->c;
        for (size_t off = 0; off <= len && !c->closing;) {
                char *p = body + off;
                char *rs = memchr(p, '\x1e', len - off);
                size_t n = rs ? (size_t)(rs - p) : len - off;
                p[n] = 0;
                if (n == 0)
                        return false;
                if (p[0] == 'b') {
                        if (!base64_ok(p + 1, n - 1))
                                return false;
                        log_debug("client %s: binary packet over polling, ignoring",
                                  client_uuid(c));
                } else if (p[0] < '0' || p[0] > '6')
                        return false;
                else if (session_dispatch(c, p, n) > 0)
                        return false;
                off += n + 1;
        }
        return true;
}

static void on_body_done(struct lws *wsi, struct eio_req *r)
{
        struct eio_sess *s = r->s;
        if (r->ready)
                return;
        if (s) {
                s->post = NULL;
                r->s = NULL;
        }
        if (!s || s->ending || s->c->closing) {
                answer_error(wsi, r, 400, EIO_ERR_SID);
                return;
        }
        if (r->body_len != r->body_size || !deliver_payload(s, r->body, r->body_len)) {
                answer_error(wsi, r, 400, EIO_ERR_REQUEST);
                close_sess(s, "malformed polling payload");
                return;
        }
        answer_text(wsi, r, 200, "text/html", "ok");
        if (s->to && !s->c->closing)
                switch_over(s);
}

/* A held poll: the queued frames, "1" when the client closes, "6" while upgrading, or
 * keep waiting. */
static void poll_ready(struct lws *wsi, struct eio_req *r)
{
        struct eio_sess *s = r->s;
        struct hub_client *c = s->c;
        if (c->closing) {
                kick(c);
                release_get(s, "1");
                return;
        }
        struct hub_msg *m[POLL_BATCH];
        unsigned n = fanout_take(c, m, POLL_BATCH);
        if (n == 0) {
                if (s->upgrading)
                        release_get(s, "6");
                return;
        }
        const char *parts[POLL_BATCH];
        size_t lens[POLL_BATCH];
        for (unsigned i = 0; i < n; i++)
                parts[i] = hub_msg_payload(m[i], &lens[i]);
        s->get = NULL;
        c->wsi = NULL;
        r->s = NULL;
        answer(wsi, r, 200, "text/plain; charset=UTF-8", parts, lens, n, '\x1e');
        for (unsigned i = 0; i < n; i++)
                hub_msg_unref(m[i]);
}

static int write_answer(struct lws *wsi, struct eio_req *r)
{
        if (!r->ready) {
                if (r->s && !r->is_post && r->s->get == wsi)
                        poll_ready(wsi, r);
                if (!r->ready)
                        return 0;
        }
        uint8_t head[LWS_PRE + 384], *start = head + LWS_PRE, *p = start;
        uint8_t *end = head + sizeof(head) - 1;
        if (lws_add_http_common_headers(wsi, r->status, r->ctype, r->out_len, &p, end) ||
            (r->close_after &&
             lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION, (const uint8_t *)"close", 5,
                                          &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
                return -1;
        if (r->out_len &&
            lws_write(wsi, (uint8_t *)r->out + LWS_PRE, r->out_len, LWS_WRITE_HTTP_FINAL) < 0)
                return -1;
        bool close_after = r->close_after;
        req_reset(r);
        if (close_after)
                return -1;
        return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static void on_closed(struct lws *wsi, struct eio_req *r)
{
        struct eio_sess *s = r->s;
        if (s && s->get == wsi) {
                s->get = NULL;
                s->c->wsi = NULL;
        }
        if (s && s->post == wsi) {
                /* Its packets are lost with it (the client's doing): the switch goes on. */
                s->post = NULL;
                if (s->to && !s->c->closing)
                        switch_over(s);
        }
        req_reset(r);
}

static int eio_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                        size_t len)
{
        struct eio_req *r = user;
        switch (reason) {
        case LWS_CALLBACK_HTTP:
                return r ? on_request(wsi, r, in) : -1;
        case LWS_CALLBACK_HTTP_BODY:
                if (r)
                        on_body(r, in, len);
                return 0;
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
                if (r)
                        on_body_done(wsi, r);
                return 0;
        case LWS_CALLBACK_HTTP_WRITEABLE:
                return r ? write_answer(wsi, r) : -1;
        case LWS_CALLBACK_CLOSED_HTTP:
                if (r)
                        on_closed(wsi, r);
                return 0;
        default:
                return session_callback(wsi, reason, user, in, len);
        }
}

void eio_poll_protocol(struct lws_protocols *ret)
{
        *ret = (struct lws_protocols){
                .name = "ringhub-ws",
                .callback = eio_callback,
                .per_session_data_size = MAX(session_pss_size(), sizeof(struct eio_req)),
                .rx_buffer_size = 4096,
                /* lws sends at most tx_packet_size (else rx_buffer_size) + LWS_PRE + 4
                 * bytes per send() and keeps the rest for later POLLOUTs: a joined write
                 * must go out whole. */
                .tx_packet_size = FANOUT_WRITE_MAX,
        };
}

/* ---- the upgrade ---- */

int eio_poll_join(struct lws *wsi, struct hub_client **ret)
{
        char sid[ARG_MAX];
        if (!arg(wsi, "sid=", sid, sizeof(sid)))
                return 0;
        struct eio_sess *s = find(sid);
        if (!s)
                return -1;
        *ret = s->c;
        return 1;
}

/* The client leaves polling for the WebSocket s->to; s is freed. */
static void switch_to(struct eio_sess *s)
{
        struct hub_client *c = s->c;
        if (s->get)
                release_get(s, "6");
        detach_post(s);
        unlink_sess(s);
        c->kick = NULL;
        c->transport = NULL;
        c->wsi = s->to;
        log_debug("client %s: upgraded from polling to WebSocket", client_uuid(c));
        free(s);
}

static void switch_over(struct eio_sess *s)
{
        struct hub_client *c = s->c;
        struct lws *ws = s->to;
        switch_to(s);
        session_switched(c);
        lws_rx_flow_control(ws, 1);
}

int eio_poll_probe(struct hub_client *c, struct lws *wsi, const char *msg, size_t len,
                   const char **ret_reply)
{
        if (c->kick != kick)
                return -1;
        struct eio_sess *s = c->transport;
        if (!wsi) {
                s->upgrading = false;
                s->to = NULL;
                return 0;
        }
        if (len == 6 && memcmp(msg, "2probe", 6) == 0) {
                *ret_reply = "3probe";
                s->upgrading = true;
                /* Let the client pause polling: a held poll returns now. */
                if (s->get)
                        lws_callback_on_writable(s->get);
                return 0;
        }
        if (len != 1 || msg[0] != '5')
                return 0;
        if (!s->upgrading || s->to)
                return -1;
        if (s->post) {
                /* Sent before the "5": the POST's packets go first, what follows on the
                 * WebSocket waits in lws until then. */
                s->to = wsi;
                lws_rx_flow_control(wsi, 0);
                log_debug("client %s: upgrade waits for a data request in flight", client_uuid(c));
                return 0;
        }
        s->to = wsi;
        switch_to(s);
        return 1;
}
