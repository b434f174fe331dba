/*
 * ua_client.c — OPC UA client: UA-TCP connection, secure channel (None), session, services.
 *
 * Part of the OPC UA client library (no ring). A single-threaded state machine: bytes in
 * (ua_client_feed) → chunks → reassembled messages → typed callbacks; requests out are
 * encoded once, split into chunks the peer accepts, and queued until the socket takes
 * them. Everything the server sends is checked: chunk sizes and counts against what we
 * announced, sequence numbers, channel and token ids, request ids, response types,
 * result counts against what was asked. Anything wrong closes the connection with one
 * reason string; nothing here aborts, exits or trusts a length it has not checked.
 */
#include "ua_client.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif

#define MAX_PENDING     128u
#define MAX_SUBS        8u
#define MAX_ACKS        32u
#define MAX_OUT         (8u << 20) /* queued output before we call the peer stuck */
#define MAX_REQ_ITEMS   10000u     /* items in one request (and results accepted) */
#define MAX_TOKEN_BYTES 1024u      /* authentication token we keep a copy of */
#define OUR_CHUNK       65536u
#define POLICY_NONE     "http://opcfoundation.org/UA/SecurityPolicy#None"

/* Binary encoding ids of the requests and responses we use. */
enum {
        T_SERVICE_FAULT = 397,
        T_OPN_REQ = 446,
        T_OPN_RESP = 449,
        T_CLO_REQ = 452,
        T_CREATE_SESSION_REQ = 461,
        T_CREATE_SESSION_RESP = 464,
        T_ACTIVATE_SESSION_REQ = 467,
        T_ACTIVATE_SESSION_RESP = 470,
        T_CLOSE_SESSION_REQ = 473,
        T_CLOSE_SESSION_RESP = 476,
        T_BROWSE_REQ = 527,
        T_BROWSE_RESP = 530,
        T_BROWSE_NEXT_REQ = 533,
        T_BROWSE_NEXT_RESP = 536,
        T_READ_REQ = 631,
        T_READ_RESP = 634,
        T_WRITE_REQ = 673,
        T_WRITE_RESP = 676,
        T_CREATE_MI_REQ = 751,
        T_CREATE_MI_RESP = 754,
        T_CREATE_SUB_REQ = 787,
        T_CREATE_SUB_RESP = 790,
        T_PUBLISH_REQ = 826,
        T_PUBLISH_RESP = 829,
        T_DELETE_SUBS_REQ = 847,
        T_DELETE_SUBS_RESP = 850,
        T_ANONYMOUS_TOKEN = 321,
        T_USERNAME_TOKEN = 324,
        T_DATA_CHANGE_FILTER = 724,
        T_DATA_CHANGE_NOTIFICATION = 811,
        T_STATUS_CHANGE_NOTIFICATION = 820,
};

enum phase { PH_NONE, PH_TCP, PH_HEL, PH_OPN, PH_CREATE, PH_ACTIVATE, PH_ACTIVE, PH_CLOSING };

typedef void (*generic_cb)(void);

struct pending {
        bool used;
        uint32_t request_id, handle;
        uint32_t req_type, resp_type;
        uint64_t deadline;
        size_t expect_n;
        generic_cb cb;
        void *ud;
};

struct sub {
        uint32_t id;
        bool used;
        double interval_ms;
        uint32_t keepalive;
        uint32_t acks[MAX_ACKS];
        unsigned n_acks;
};

struct ua_client {
        struct ua_client_config cfg;
        char *url, *user, *pass, *app_uri, *session_name;
        struct ua_client_callbacks cb;
        void *ud;

        enum phase phase;
        int fd;
        unsigned gen; /* bumped on every teardown: loops stop when it changes */
        struct ua_url u;
        struct ua_tcp_limits ours, peer;

        uint8_t *in;
        size_t in_len;
        struct ua_enc out;
        size_t out_off;
        struct ua_enc msg;
        struct ua_reasm reasm;

        uint32_t channel_id, token_id, prev_token_id, seq, peer_seq, next_request_id, next_handle;
        bool peer_seq_known;
        uint64_t renew_at, phase_deadline, last_request_ns;
        bool renewing;
        uint32_t renewals;

        struct ua_nodeid auth_token;
        uint8_t auth_token_buf[MAX_TOKEN_BYTES];
        char server_uri[256];
        char anon_policy[128], user_policy[128];
        bool have_user_policy;

        struct pending pending[MAX_PENDING];
        struct sub subs[MAX_SUBS];
        unsigned publish_outstanding, publish_target;

        char error[256];
        uint64_t notifications, decode_ns;
        bool offline;
};

static uint64_t mono_now(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_now_ns(void)
{
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

const char *ua_service_name(uint32_t t)
{
        switch (t) {
        case T_SERVICE_FAULT:
                return "ServiceFault";
        case T_OPN_REQ:
        case T_OPN_RESP:
                return "OpenSecureChannel";
        case T_CLO_REQ:
                return "CloseSecureChannel";
        case T_CREATE_SESSION_REQ:
        case T_CREATE_SESSION_RESP:
                return "CreateSession";
        case T_ACTIVATE_SESSION_REQ:
        case T_ACTIVATE_SESSION_RESP:
                return "ActivateSession";
        case T_CLOSE_SESSION_REQ:
        case T_CLOSE_SESSION_RESP:
                return "CloseSession";
        case T_BROWSE_REQ:
        case T_BROWSE_RESP:
                return "Browse";
        case T_BROWSE_NEXT_REQ:
        case T_BROWSE_NEXT_RESP:
                return "BrowseNext";
        case T_READ_REQ:
        case T_READ_RESP:
                return "Read";
        case T_WRITE_REQ:
        case T_WRITE_RESP:
                return "Write";
        case T_CREATE_MI_REQ:
        case T_CREATE_MI_RESP:
                return "CreateMonitoredItems";
        case T_CREATE_SUB_REQ:
        case T_CREATE_SUB_RESP:
                return "CreateSubscription";
        case T_PUBLISH_REQ:
        case T_PUBLISH_RESP:
                return "Publish";
        case T_DELETE_SUBS_REQ:
        case T_DELETE_SUBS_RESP:
                return "DeleteSubscriptions";
        default:
                return "Unknown";
        }
}

/* ---- life cycle ---- */

static char *dup_or_null(const char *s, bool *oom)
{
        if (!s)
                return NULL;
        char *d = strdup(s);
        if (!d)
                *oom = true;
        return d;
}

int ua_client_new(const struct ua_client_config *cfg, const struct ua_client_callbacks *cb,
                  void *userdata, struct ua_client **ret)
{
        struct ua_url u;
        if (!cfg || !cfg->endpoint_url || !ret)
                return -EINVAL;
        if (ua_url_parse(cfg->endpoint_url, &u) < 0)
                return -EINVAL;
        struct ua_client *c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        bool oom = false;
        c->cfg = *cfg;
        c->url = dup_or_null(cfg->endpoint_url, &oom);
        c->user = dup_or_null(cfg->username, &oom);
        c->pass = dup_or_null(cfg->password, &oom);
        c->app_uri = dup_or_null(
            cfg->application_uri ? cfg->application_uri : "urn:ringhub:opcua-client", &oom);
        c->session_name = dup_or_null(cfg->session_name ? cfg->session_name : "ringhub", &oom);
        if (!c->cfg.request_timeout_ms)
                c->cfg.request_timeout_ms = 10000;
        if (!c->cfg.channel_lifetime_ms)
                c->cfg.channel_lifetime_ms = 600000;
        if (!c->cfg.session_timeout_ms)
                c->cfg.session_timeout_ms = 60000;
        if (!c->cfg.max_message)
                c->cfg.max_message = 4u << 20;
        if (!c->cfg.max_chunks)
                c->cfg.max_chunks = 64;
        if (!c->cfg.max_subscriptions || c->cfg.max_subscriptions > MAX_SUBS)
                c->cfg.max_subscriptions = 4;
        if (cb)
                c->cb = *cb;
        c->ud = userdata;
        c->u = u;
        c->fd = -1;
        c->ours = (struct ua_tcp_limits){ .recv_buffer = OUR_CHUNK,
                                          .send_buffer = OUR_CHUNK,
                                          .max_message = c->cfg.max_message,
                                          .max_chunks = c->cfg.max_chunks };
        c->in = malloc(OUR_CHUNK);
        ua_enc_init(&c->out, MAX_OUT);
        ua_enc_init(&c->msg, 16u << 20);
        if (oom || !c->in) {
                ua_client_free(c);
                return -ENOMEM;
        }
        c->publish_target = 2;
        *ret = c;
        return 0;
}

struct ua_client *ua_client_free(struct ua_client *c)
{
        if (!c)
                return NULL;
        if (c->fd >= 0)
                close(c->fd);
        free(c->url);
        free(c->user);
        free(c->pass);
        free(c->app_uri);
        free(c->session_name);
        free(c->in);
        ua_enc_free(&c->out);
        ua_enc_free(&c->msg);
        ua_reasm_free(&c->reasm);
        free(c);
        return NULL;
}

enum ua_client_state ua_client_state(const struct ua_client *c)
{
        switch (c->phase) {
        case PH_NONE:
                return UA_CS_DISCONNECTED;
        case PH_ACTIVE:
                return UA_CS_ACTIVE;
        case PH_CLOSING:
                return UA_CS_CLOSING;
        default:
                return UA_CS_CONNECTING;
        }
}

const char *ua_client_error(const struct ua_client *c)
{
        return c->error;
}

const char *ua_client_server_uri(const struct ua_client *c)
{
        return c->server_uri;
}

const struct ua_tcp_limits *ua_client_peer_limits(const struct ua_client *c)
{
        return &c->peer;
}

void ua_client_stats(const struct ua_client *c, uint64_t *ret_notifications,
                     uint64_t *ret_decode_ns)
{
        if (ret_notifications)
                *ret_notifications = c->notifications;
        if (ret_decode_ns)
                *ret_decode_ns = c->decode_ns;
}

void ua_client_channel_info(const struct ua_client *c, uint32_t *ret_token, uint32_t *ret_renewals)
{
        if (ret_token)
                *ret_token = c->token_id;
        if (ret_renewals)
                *ret_renewals = c->renewals;
}

int ua_client_fd(const struct ua_client *c)
{
        return c->fd;
}

short ua_client_poll_events(const struct ua_client *c)
{
        if (c->fd < 0)
                return 0;
        short ev = POLLIN;
        if (c->phase == PH_TCP || c->out.len > c->out_off)
                ev |= POLLOUT;
        return ev;
}

/* Fail every pending request with status; callbacks may start new requests. */
static void fail_pending(struct ua_client *c, uint32_t status);

/* Drop the connection: no callbacks until the state is consistent, then report. */
static int teardown(struct ua_client *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int teardown(struct ua_client *c, int err, const char *fmt, ...)
{
        if (c->phase == PH_NONE && c->fd < 0)
                return err;
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(c->error, sizeof(c->error), fmt, ap);
                va_end(ap);
        }
        if (c->fd >= 0)
                close(c->fd);
        c->fd = -1;
        c->phase = PH_NONE;
        c->gen++;
        c->in_len = 0;
        ua_enc_reset(&c->out);
        c->out_off = 0;
        c->reasm.len = 0;
        c->reasm.active = false;
        c->reasm.chunks = 0;
        c->renewing = false;
        c->publish_outstanding = 0;
        c->publish_target = 2;
        memset(c->subs, 0, sizeof(c->subs));
        fail_pending(c, 0x80AE0000u /* BadConnectionClosed */);
        if (c->cb.state)
                c->cb.state(c, UA_CS_DISCONNECTED, c->error, c->ud);
        return err;
}

static void fail_pending(struct ua_client *c, uint32_t status)
{
        for (unsigned i = 0; i < MAX_PENDING; i++) {
                struct pending p = c->pending[i];
                if (!p.used)
                        continue;
                c->pending[i].used = false;
                if (!p.cb)
                        continue;
                /* All typed callbacks take (c, status, …); call with empty results. */
                switch (p.resp_type) {
                case T_READ_RESP:
                        ((ua_read_cb)p.cb)(c, status, NULL, 0, p.ud);
                        break;
                case T_WRITE_RESP:
                case T_DELETE_SUBS_RESP:
                        ((ua_status_list_cb)p.cb)(c, status, NULL, 0, p.ud);
                        break;
                case T_BROWSE_RESP:
                case T_BROWSE_NEXT_RESP:
                        ((ua_browse_cb)p.cb)(c, status, NULL, 0, p.ud);
                        break;
                case T_CREATE_SUB_RESP:
                        ((ua_subscription_cb)p.cb)(c, status, 0, 0, 0, p.ud);
                        break;
                case T_CREATE_MI_RESP:
                        ((ua_monitor_cb)p.cb)(c, status, NULL, 0, p.ud);
                        break;
                default:
                        break;
                }
        }
}

/* ---- sending ---- */

static void enc_request_header(struct ua_client *c, uint32_t handle, uint32_t timeout_ms)
{
        ua_enc_nodeid(&c->msg, &c->auth_token);
        ua_enc_i64(&c->msg, ua_datetime_from_unix_ns(real_now_ns()));
        ua_enc_u32(&c->msg, handle);
        ua_enc_u32(&c->msg, 0); /* return diagnostics */
        ua_enc_cstring(&c->msg, NULL);
        ua_enc_u32(&c->msg, timeout_ms);
        ua_enc_null_extension_object(&c->msg);
}

/* Start a request body in c->msg: type id then the request header. Returns the handle. */
static uint32_t begin_request(struct ua_client *c, uint32_t type, uint32_t timeout_ms)
{
        ua_enc_reset(&c->msg);
        struct ua_nodeid t = UA_NODEID_NUM(0, type);
        ua_enc_nodeid(&c->msg, &t);
        uint32_t h = ++c->next_handle;
        if (h == 0)
                h = c->next_handle = 1;
        enc_request_header(c, h, timeout_ms);
        return h;
}

static uint32_t next_request_id(struct ua_client *c)
{
        uint32_t id = ++c->next_request_id;
        if (id == 0)
                id = c->next_request_id = 1;
        return id;
}

static uint32_t next_seq(struct ua_client *c)
{
        uint32_t s = ++c->seq;
        if (s == 0 || s > UINT32_MAX - 1024) /* wrap below 1024 (Part 6 §6.7.2.4) */
                s = c->seq = 1;
        return s;
}

static int flush_out(struct ua_client *c);

/* Split c->msg into MSG/CLO chunks the peer can take and queue them. */
static int queue_message(struct ua_client *c, const char *type, uint32_t request_id)
{
        if (c->msg.err)
                return c->msg.err;
        size_t chunk_body = c->peer.recv_buffer - 24; /* header 8 + channel/token 8 + seq 8 */
        if (c->peer.max_message && c->msg.len > c->peer.max_message)
                return -EMSGSIZE;
        size_t n_chunks = (c->msg.len + chunk_body - 1) / chunk_body;
        if (n_chunks == 0)
                n_chunks = 1;
        if (c->peer.max_chunks && n_chunks > c->peer.max_chunks)
                return -EMSGSIZE;
        size_t off = 0;
        for (size_t i = 0; i < n_chunks; i++) {
                size_t n = MIN(chunk_body, c->msg.len - off);
                bool last = i + 1 == n_chunks;
                ua_enc_bytes(&c->out, type, 3);
                ua_enc_u8(&c->out, last ? 'F' : 'C');
                ua_enc_u32(&c->out, (uint32_t)(24 + n));
                ua_enc_u32(&c->out, c->channel_id);
                ua_enc_u32(&c->out, c->token_id);
                ua_enc_u32(&c->out, next_seq(c));
                ua_enc_u32(&c->out, request_id);
                ua_enc_bytes(&c->out, c->msg.buf + off, n);
                off += n;
        }
        if (c->out.err)
                return c->out.err;
        c->last_request_ns = mono_now();
        return flush_out(c);
}

static struct pending *add_pending(struct ua_client *c, uint32_t request_id, uint32_t handle,
                                   uint32_t req_type, uint32_t resp_type, uint64_t timeout_ms,
                                   generic_cb cb, void *ud, size_t expect_n)
{
        for (unsigned i = 0; i < MAX_PENDING; i++)
                if (!c->pending[i].used) {
                        c->pending[i] = (struct pending){
                                .used = true,
                                .request_id = request_id,
                                .handle = handle,
                                .req_type = req_type,
                                .resp_type = resp_type,
                                .deadline = mono_now() + timeout_ms * 1000000ull,
                                .cb = cb,
                                .ud = ud,
                                .expect_n = expect_n,
                        };
                        return &c->pending[i];
                }
        return NULL;
}

static unsigned pending_free_slots(const struct ua_client *c)
{
        unsigned n = 0;
        for (unsigned i = 0; i < MAX_PENDING; i++)
                n += !c->pending[i].used;
        return n;
}

/* Queue the body in c->msg as a MSG and remember the request. */
static int send_request(struct ua_client *c, uint32_t handle, uint32_t req_type, uint32_t resp_type,
                        uint64_t timeout_ms, generic_cb cb, void *ud, size_t expect_n)
{
        uint32_t rid = next_request_id(c);
        if (!add_pending(c, rid, handle, req_type, resp_type, timeout_ms, cb, ud, expect_n))
                return -EBUSY;
        int r = queue_message(c, "MSG", rid);
        if (r < 0) {
                for (unsigned i = 0; i < MAX_PENDING; i++)
                        if (c->pending[i].used && c->pending[i].request_id == rid)
                                c->pending[i].used = false;
                if (r != -EMSGSIZE)
                        return teardown(c, r, "cannot send %s request: %s",
                                        ua_service_name(req_type), strerror(-r));
        }
        return r;
}

static int send_opn(struct ua_client *c, bool renew)
{
        uint32_t handle = begin_request(c, T_OPN_REQ, c->cfg.request_timeout_ms);
        ua_enc_u32(&c->msg, 0);             /* client protocol version */
        ua_enc_u32(&c->msg, renew ? 1 : 0); /* Issue / Renew */
        ua_enc_u32(&c->msg, 1);             /* MessageSecurityMode None */
        ua_enc_string(&c->msg, (struct ua_string){ .len = 0, .data = (const uint8_t *)"" });
        ua_enc_u32(&c->msg, c->cfg.channel_lifetime_ms);
        if (c->msg.err)
                return c->msg.err;
        uint32_t rid = next_request_id(c);
        size_t start = c->out.len;
        ua_enc_bytes(&c->out, "OPNF", 4);
        ua_enc_u32(&c->out, 0);
        ua_enc_u32(&c->out, c->channel_id);
        ua_enc_cstring(&c->out, POLICY_NONE);
        ua_enc_cstring(&c->out, NULL); /* sender certificate */
        ua_enc_cstring(&c->out, NULL); /* receiver thumbprint */
        ua_enc_u32(&c->out, next_seq(c));
        ua_enc_u32(&c->out, rid);
        ua_enc_bytes(&c->out, c->msg.buf, c->msg.len);
        ua_enc_patch_u32(&c->out, start + 4, (uint32_t)(c->out.len - start));
        if (c->out.err)
                return c->out.err;
        if (!add_pending(c, rid, handle, T_OPN_REQ, T_OPN_RESP, c->cfg.request_timeout_ms, NULL,
                         NULL, 0))
                return -EBUSY;
        c->renewing = renew;
        return flush_out(c);
}

static int flush_out(struct ua_client *c)
{
        if (c->offline) {
                ua_enc_reset(&c->out);
                c->out_off = 0;
                return 0;
        }
        if (c->fd < 0 || c->phase == PH_TCP)
                return 0;
        while (c->out.len > c->out_off) {
                ssize_t n = send(c->fd, c->out.buf + c->out_off, c->out.len - c->out_off,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                c->out_off += (size_t)n;
        }
        ua_enc_reset(&c->out);
        c->out_off = 0;
        return 0;
}

/* ---- connect and handshake ---- */

int ua_client_connect(struct ua_client *c)
{
        if (c->phase != PH_NONE)
                return -EALREADY;
        int fd = ua_tcp_connect(&c->u);
        if (fd < 0) {
                snprintf(c->error, sizeof(c->error), "cannot connect to %.64s:%s: %s", c->u.host,
                         c->u.port, strerror(-fd));
                return fd;
        }
        c->fd = fd;
        c->phase = PH_TCP;
        c->error[0] = 0;
        c->in_len = 0;
        c->channel_id = 0;
        c->token_id = c->prev_token_id = 0;
        c->seq = 0;
        c->peer_seq_known = false;
        c->auth_token = UA_NODEID_NUM(0, 0);
        c->server_uri[0] = 0;
        c->anon_policy[0] = 0;
        c->have_user_policy = false;
        c->peer = (struct ua_tcp_limits){ 0 };
        c->phase_deadline = mono_now() + (uint64_t)c->cfg.request_timeout_ms * 1000000ull;
        if (c->cb.state)
                c->cb.state(c, UA_CS_CONNECTING, "connecting", c->ud);
        return 0;
}

static int start_hello(struct ua_client *c)
{
        ua_tcp_encode_hello(&c->out, &c->ours, c->url);
        if (c->out.err)
                return teardown(c, c->out.err, "cannot encode HEL");
        c->phase = PH_HEL;
        int r = flush_out(c);
        if (r < 0)
                return teardown(c, r, "cannot send HEL: %s", strerror(-r));
        return 0;
}

static void send_create_session(struct ua_client *c)
{
        uint32_t h = begin_request(c, T_CREATE_SESSION_REQ, c->cfg.request_timeout_ms);
        struct ua_enc *e = &c->msg;
        /* ApplicationDescription */
        ua_enc_cstring(e, c->app_uri);
        ua_enc_cstring(e, "urn:ringhub");
        struct ua_localized_text name = { .locale = UA_STRING_NULL, .text = ua_str("ringhub") };
        ua_enc_localized_text(e, &name);
        ua_enc_u32(e, 1); /* Client */
        ua_enc_cstring(e, NULL);
        ua_enc_cstring(e, NULL);
        ua_enc_i32(e, -1);         /* discovery urls */
        ua_enc_cstring(e, NULL);   /* server uri */
        ua_enc_cstring(e, c->url); /* endpoint url */
        ua_enc_cstring(e, c->session_name);
        uint8_t nonce[32];
        if (getrandom(nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce)) {
                /* Servers only need it unique: time and address make it so. */
                uint64_t t = mono_now() ^ real_now_ns() ^ (uintptr_t)c;
                for (unsigned i = 0; i < sizeof(nonce); i++)
                        nonce[i] = (uint8_t)(t >> (i % 8 * 8)) ^ (uint8_t)i;
        }
        ua_enc_string(e, (struct ua_string){ .len = sizeof(nonce), .data = nonce });
        ua_enc_cstring(e, NULL); /* client certificate */
        ua_enc_double(e, c->cfg.session_timeout_ms);
        ua_enc_u32(e, c->cfg.max_message);
        c->phase = PH_CREATE;
        (void)send_request(c, h, T_CREATE_SESSION_REQ, T_CREATE_SESSION_RESP,
                           c->cfg.request_timeout_ms, NULL, NULL, 0);
}

static void enc_anon_token(struct ua_enc *e, const void *ud)
{
        ua_enc_cstring(e, ud);
}

static void enc_user_token(struct ua_enc *e, const void *ud)
{
        const struct ua_client *c = ud;
        ua_enc_cstring(e, c->user_policy);
        ua_enc_cstring(e, c->user);
        ua_enc_cstring(e, c->pass ? c->pass : "");
        ua_enc_cstring(e, NULL); /* encryption algorithm: none */
}

static void send_activate_session(struct ua_client *c)
{
        uint32_t h = begin_request(c, T_ACTIVATE_SESSION_REQ, c->cfg.request_timeout_ms);
        struct ua_enc *e = &c->msg;
        ua_enc_cstring(e, NULL); /* client signature: algorithm */
        ua_enc_cstring(e, NULL); /* signature */
        ua_enc_i32(e, -1);       /* software certificates */
        ua_enc_i32(e, 1);        /* locale ids */
        ua_enc_cstring(e, "en");
        if (c->user)
                ua_enc_extension_object(e, T_USERNAME_TOKEN, enc_user_token, c);
        else
                ua_enc_extension_object(e, T_ANONYMOUS_TOKEN, enc_anon_token, c->anon_policy);
        ua_enc_cstring(e, NULL); /* user token signature */
        ua_enc_cstring(e, NULL);
        c->phase = PH_ACTIVATE;
        (void)send_request(c, h, T_ACTIVATE_SESSION_REQ, T_ACTIVATE_SESSION_RESP,
                           c->cfg.request_timeout_ms, NULL, NULL, 0);
}

/* ---- response handlers ---- */

struct resp_header {
        uint32_t handle;
        uint32_t status;
};

static void dec_response_header(struct ua_dec *d, struct resp_header *h)
{
        (void)ua_dec_i64(d); /* timestamp */
        h->handle = ua_dec_u32(d);
        h->status = ua_dec_u32(d);
        ua_dec_diagnostic_info(d);
        int32_t n = ua_dec_array_len(d, 4); /* string table */
        for (int32_t i = 0; i < n && !d->err; i++)
                (void)ua_dec_string(d);
        struct ua_extension_object eo;
        ua_dec_extension_object(d, &eo);
}

static int on_opn_response(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return teardown(c, -EPROTO, "OpenSecureChannel failed: %s",
                                ua_status_name(h->status, sb, sizeof(sb)));
        (void)ua_dec_u32(d); /* server protocol version */
        uint32_t channel = ua_dec_u32(d);
        uint32_t token = ua_dec_u32(d);
        (void)ua_dec_i64(d); /* created at */
        uint32_t lifetime = ua_dec_u32(d);
        (void)ua_dec_string(d); /* server nonce */
        if (d->err)
                return teardown(c, d->err, "OpenSecureChannel response is malformed");
        if (c->renewing && channel != c->channel_id)
                return teardown(c, -EPROTO, "renewed secure channel has another id (%" PRIu32 ")",
                                channel);
        if (lifetime < 1000)
                lifetime = 1000;
        c->channel_id = channel;
        c->prev_token_id = c->token_id;
        c->token_id = token;
        c->renew_at = mono_now() + (uint64_t)lifetime * 750000ull; /* 75 % of the lifetime */
        if (c->renewing) {
                c->renewing = false;
                c->renewals++;
                return 0;
        }
        send_create_session(c);
        return 0;
}

static bool policy_is_none(struct ua_string uri)
{
        return uri.len <= 0 || ua_string_eq(uri, POLICY_NONE);
}

static int on_create_session(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return teardown(c, -EPROTO, "CreateSession failed: %s",
                                ua_status_name(h->status, sb, sizeof(sb)));
        struct ua_nodeid session_id, token;
        ua_dec_nodeid(d, &session_id);
        ua_dec_nodeid(d, &token);
        (void)ua_dec_double(d); /* revised timeout */
        (void)ua_dec_string(d); /* server nonce */
        (void)ua_dec_string(d); /* server certificate */
        int32_t n = ua_dec_array_len(d, 16);
        bool anon = false, user = false, none_endpoint = false;
        for (int32_t i = 0; i < n && !d->err; i++) {
                struct ua_string ep_url = ua_dec_string(d);
                (void)ep_url;
                struct ua_string app_uri = ua_dec_string(d);
                (void)ua_dec_string(d); /* product uri */
                struct ua_localized_text lt;
                ua_dec_localized_text(d, &lt);
                (void)ua_dec_u32(d);    /* application type */
                (void)ua_dec_string(d); /* gateway */
                (void)ua_dec_string(d); /* discovery profile */
                int32_t nd = ua_dec_array_len(d, 4);
                for (int32_t k = 0; k < nd && !d->err; k++)
                        (void)ua_dec_string(d);
                (void)ua_dec_string(d); /* certificate */
                uint32_t mode = ua_dec_u32(d);
                struct ua_string policy = ua_dec_string(d);
                bool ok = mode == 1 && ua_string_eq(policy, POLICY_NONE);
                if (ok && !c->server_uri[0])
                        ua_string_copy(app_uri, c->server_uri, sizeof(c->server_uri));
                none_endpoint |= ok;
                int32_t nt = ua_dec_array_len(d, 5 * 4);
                for (int32_t k = 0; k < nt && !d->err; k++) {
                        struct ua_string pid = ua_dec_string(d);
                        uint32_t type = ua_dec_u32(d);
                        (void)ua_dec_string(d); /* issued token type */
                        (void)ua_dec_string(d); /* issuer endpoint */
                        struct ua_string tp = ua_dec_string(d);
                        if (!ok || d->err)
                                continue;
                        if (type == 0 && !anon && pid.len >= 0) {
                                ua_string_copy(pid, c->anon_policy, sizeof(c->anon_policy));
                                anon = true;
                        } else if (type == 1 && !user && pid.len >= 0 && policy_is_none(tp)) {
                                ua_string_copy(pid, c->user_policy, sizeof(c->user_policy));
                                user = true;
                        }
                }
                (void)ua_dec_string(d); /* transport profile */
                (void)ua_dec_u8(d);     /* security level */
        }
        if (d->err)
                return teardown(c, d->err, "CreateSession response is malformed");
        if (n > 0 && !none_endpoint)
                return teardown(c, -EPROTONOSUPPORT,
                                "server offers no endpoint with SecurityPolicy None");
        if (c->user && !user)
                return teardown(c, -EPERM, "server allows no unencrypted username/password token");
        if (!c->user && !anon) {
                if (n > 0)
                        return teardown(c, -EPERM, "server allows no anonymous sessions");
                snprintf(c->anon_policy, sizeof(c->anon_policy), "anonymous");
        }
        /* Keep our own copy of the authentication token. */
        c->auth_token = token;
        if (token.kind == UA_NODEID_STRING || token.kind == UA_NODEID_BYTESTRING) {
                if (token.str.len > (int32_t)MAX_TOKEN_BYTES)
                        return teardown(c, -E2BIG, "session authentication token too long");
                if (token.str.len > 0)
                        memcpy(c->auth_token_buf, token.str.data, (size_t)token.str.len);
                c->auth_token.str.data = c->auth_token_buf;
        }
        send_activate_session(c);
        return 0;
}

static int on_activate_session(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return teardown(c, -EACCES, "ActivateSession failed: %s",
                                ua_status_name(h->status, sb, sizeof(sb)));
        c->phase = PH_ACTIVE;
        c->error[0] = 0;
        if (c->cb.state)
                c->cb.state(c, UA_CS_ACTIVE, "session active", c->ud);
        return 0;
}

static void on_read(struct ua_client *c, struct ua_dec *d, const struct pending *p, uint32_t status)
{
        ua_read_cb cb = (ua_read_cb)p->cb;
        struct ua_datavalue *res = NULL;
        int32_t n = 0;
        if (ua_status_good(status)) {
                n = ua_dec_array_len(d, 1);
                if (n < 0)
                        n = 0;
                if ((size_t)n != p->expect_n)
                        ua_dec_fail(d, -EBADMSG);
                else if (n > 0 && !(res = calloc((size_t)n, sizeof(*res))))
                        ua_dec_fail(d, -ENOMEM);
                for (int32_t i = 0; i < n && !d->err; i++)
                        ua_dec_datavalue(d, &res[i]);
                ua_dec_skip_diag_array(d);
                if (d->err) {
                        status = UA_BAD_DECODINGERROR;
                        n = 0;
                }
        }
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

static void on_status_list(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                           uint32_t status)
{
        ua_status_list_cb cb = (ua_status_list_cb)p->cb;
        uint32_t *res = NULL;
        int32_t n = 0;
        if (ua_status_good(status)) {
                n = ua_dec_array_len(d, 4);
                if (n < 0)
                        n = 0;
                if ((size_t)n != p->expect_n)
                        ua_dec_fail(d, -EBADMSG);
                else if (n > 0 && !(res = calloc((size_t)n, sizeof(*res))))
                        ua_dec_fail(d, -ENOMEM);
                for (int32_t i = 0; i < n && !d->err; i++)
                        res[i] = ua_dec_u32(d);
                ua_dec_skip_diag_array(d);
                if (d->err) {
                        status = UA_BAD_DECODINGERROR;
                        n = 0;
                }
        }
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

static void on_browse(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                      uint32_t status)
{
        ua_browse_cb cb = (ua_browse_cb)p->cb;
        struct ua_browse_result *res = NULL;
        int32_t n = 0;
        if (ua_status_good(status)) {
                n = ua_dec_array_len(d, 9);
                if (n < 0)
                        n = 0;
                if ((size_t)n != p->expect_n)
                        ua_dec_fail(d, -EBADMSG);
                else if (n > 0 && !(res = calloc((size_t)n, sizeof(*res))))
                        ua_dec_fail(d, -ENOMEM);
                size_t total = 0;
                for (int32_t i = 0; i < n && !d->err; i++) {
                        res[i].status = ua_dec_u32(d);
                        res[i].continuation = ua_dec_string(d);
                        int32_t nr = ua_dec_array_len(d, 18);
                        /* We asked for at most 1000 per node; allow some slack, no more. */
                        if (nr > 0 && (total += (size_t)nr) > 4 * MAX_REQ_ITEMS) {
                                ua_dec_fail(d, -E2BIG);
                                break;
                        }
                        if (nr > 0 && !(res[i].refs = calloc((size_t)nr, sizeof(*res[i].refs)))) {
                                ua_dec_fail(d, -ENOMEM);
                                break;
                        }
                        for (int32_t k = 0; k < nr && !d->err; k++) {
                                struct ua_reference *r = &res[i].refs[k];
                                ua_dec_nodeid(d, &r->ref_type);
                                r->forward = ua_dec_bool(d);
                                ua_dec_expanded_nodeid(d, &r->node);
                                ua_dec_qualified_name(d, &r->browse_name);
                                ua_dec_localized_text(d, &r->display_name);
                                r->node_class = ua_dec_u32(d);
                                ua_dec_expanded_nodeid(d, &r->type_def);
                                res[i].n_refs = (size_t)k + 1;
                        }
                }
                ua_dec_skip_diag_array(d);
                if (d->err)
                        status = UA_BAD_DECODINGERROR;
        }
        if (cb)
                cb(c, status, ua_status_good(status) ? res : NULL,
                   ua_status_good(status) ? (size_t)n : 0, p->ud);
        for (int32_t i = 0; res && i < n; i++)
                free(res[i].refs);
        free(res);
}

static void on_create_subscription(struct ua_client *c, struct ua_dec *d, const struct pending *p,
                                   uint32_t status)
{
        ua_subscription_cb cb = (ua_subscription_cb)p->cb;
        uint32_t id = 0, keepalive = 0;
        double interval = 0;
        if (ua_status_good(status)) {
                id = ua_dec_u32(d);
                interval = ua_dec_double(d);
                (void)ua_dec_u32(d); /* lifetime */
                keepalive = ua_dec_u32(d);
                if (d->err || !isfinite(interval) || interval < 0)
                        status = UA_BAD_DECODINGERROR;
        }
        if (ua_status_good(status)) {
                struct sub *s = NULL;
                for (unsigned i = 0; i < c->cfg.max_subscriptions; i++)
                        if (!c->subs[i].used) {
                                s = &c->subs[i];
                                break;
                        }
                if (!s)
                        status = 0x80770000u; /* BadTooManySubscriptions (ours) */
                else
                        *s = (struct sub){ .used = true,
                                           .id = id,
                                           .interval_ms = interval,
                                           .keepalive = keepalive ? keepalive : 1 };
        }
        if (cb)
                cb(c, status, id, interval, keepalive, p->ud);
}

static void on_create_monitored_items(struct ua_client *c, struct ua_dec *d,
                                      const struct pending *p, uint32_t status)
{
        ua_monitor_cb cb = (ua_monitor_cb)p->cb;
        struct ua_monitor_result *res = NULL;
        int32_t n = 0;
        if (ua_status_good(status)) {
                n = ua_dec_array_len(d, 23);
                if (n < 0)
                        n = 0;
                if ((size_t)n != p->expect_n)
                        ua_dec_fail(d, -EBADMSG);
                else if (n > 0 && !(res = calloc((size_t)n, sizeof(*res))))
                        ua_dec_fail(d, -ENOMEM);
                for (int32_t i = 0; i < n && !d->err; i++) {
                        struct ua_extension_object eo;
                        res[i].status = ua_dec_u32(d);
                        res[i].item_id = ua_dec_u32(d);
                        res[i].revised_sampling_ms = ua_dec_double(d);
                        (void)ua_dec_u32(d); /* revised queue size */
                        ua_dec_extension_object(d, &eo);
                }
                ua_dec_skip_diag_array(d);
                if (d->err) {
                        status = UA_BAD_DECODINGERROR;
                        n = 0;
                }
        }
        if (cb)
                cb(c, status, res, (size_t)n, p->ud);
        free(res);
}

static struct sub *find_sub(struct ua_client *c, uint32_t id)
{
        for (unsigned i = 0; i < MAX_SUBS; i++)
                if (c->subs[i].used && c->subs[i].id == id)
                        return &c->subs[i];
        return NULL;
}

static bool have_subs(const struct ua_client *c)
{
        for (unsigned i = 0; i < MAX_SUBS; i++)
                if (c->subs[i].used)
                        return true;
        return false;
}

static void send_publishes(struct ua_client *c);

static void on_data_change(struct ua_client *c, uint32_t sub_id, struct ua_string body)
{
        struct ua_dec d;
        ua_dec_init(&d, body.data, body.len > 0 ? (size_t)body.len : 0);
        int32_t n = ua_dec_array_len(&d, 5);
        for (int32_t i = 0; i < n && !d.err; i++) {
                uint64_t t0 = mono_now();
                uint32_t handle = ua_dec_u32(&d);
                struct ua_datavalue dv;
                ua_dec_datavalue(&d, &dv);
                c->decode_ns += mono_now() - t0;
                if (d.err)
                        break;
                c->notifications++;
                if (c->cb.data_change)
                        c->cb.data_change(c, sub_id, handle, &dv, c->ud);
        }
}

static void lose_sub(struct ua_client *c, uint32_t sub_id, uint32_t status)
{
        struct sub *s = find_sub(c, sub_id);
        if (s)
                s->used = false;
        if (c->cb.subscription_lost)
                c->cb.subscription_lost(c, sub_id, status, c->ud);
}

static int on_publish(struct ua_client *c, struct ua_dec *d, uint32_t status)
{
        unsigned gen = c->gen;
        char sb[32];
        if (c->publish_outstanding)
                c->publish_outstanding--;
        if (!ua_status_good(status)) {
                switch (status & 0xffff0000u) {
                case UA_BAD_TOOMANYPUBLISHREQUESTS:
                        if (c->publish_target > 1)
                                c->publish_target--;
                        return 0;
                case UA_BAD_NOSUBSCRIPTION:
                        return 0;
                case UA_BAD_TIMEOUT:
                case 0x80850000u: /* BadRequestTimeout */
                        send_publishes(c);
                        return 0;
                case UA_BAD_SESSIONIDINVALID:
                case UA_BAD_SESSIONCLOSED:
                case 0x80270000u: /* BadSessionNotActivated */
                        return teardown(c, -ECONNRESET, "Publish failed: %s (session lost)",
                                        ua_status_name(status, sb, sizeof(sb)));
                default:
                        send_publishes(c);
                        return 0;
                }
        }
        uint32_t sub_id = ua_dec_u32(d);
        int32_t na = ua_dec_array_len(d, 4);
        ua_dec_skip(d, 4 * (size_t)(na > 0 ? na : 0));
        (void)ua_dec_bool(d); /* more notifications */
        uint32_t seq = ua_dec_u32(d);
        (void)ua_dec_i64(d); /* publish time */
        int32_t nn = ua_dec_array_len(d, 3);
        const uint8_t *notif_start = d->p;
        for (int32_t i = 0; i < nn && !d->err; i++) {
                struct ua_extension_object eo;
                ua_dec_extension_object(d, &eo);
        }
        int32_t nr = ua_dec_array_len(d, 4);
        ua_dec_skip(d, 4 * (size_t)(nr > 0 ? nr : 0));
        ua_dec_skip_diag_array(d);
        if (d->err)
                return teardown(c, d->err, "Publish response is malformed");
        struct sub *s = find_sub(c, sub_id);
        if (!s) {
                send_publishes(c);
                return 0; /* a subscription we deleted meanwhile */
        }
        if (nn > 0 && s->n_acks < MAX_ACKS)
                s->acks[s->n_acks++] = seq;
        if (c->cb.publish)
                c->cb.publish(c, sub_id, nn <= 0, c->ud);
        if (gen != c->gen)
                return -ECONNRESET;
        struct ua_dec nd;
        ua_dec_init(&nd, notif_start, (size_t)(d->end - notif_start));
        for (int32_t i = 0; i < nn && !nd.err; i++) {
                struct ua_extension_object eo;
                ua_dec_extension_object(&nd, &eo);
                if (eo.type_id.ns != 0 || eo.encoding != 1)
                        continue;
                if (eo.type_id.num == T_DATA_CHANGE_NOTIFICATION)
                        on_data_change(c, sub_id, eo.body);
                else if (eo.type_id.num == T_STATUS_CHANGE_NOTIFICATION && eo.body.len >= 4) {
                        struct ua_dec sd;
                        ua_dec_init(&sd, eo.body.data, (size_t)eo.body.len);
                        uint32_t st = ua_dec_u32(&sd);
                        if (ua_status_bad(st))
                                lose_sub(c, sub_id, st);
                }
                if (gen != c->gen)
                        return -ECONNRESET;
        }
        send_publishes(c);
        return 0;
}

static void send_publishes(struct ua_client *c)
{
        unsigned gen = c->gen;
        while (c->phase == PH_ACTIVE && gen == c->gen && have_subs(c) &&
               c->publish_outstanding < c->publish_target && pending_free_slots(c) > 4) {
                /* The server answers within one keep-alive period; allow two, plus slack. */
                double window = 0;
                for (unsigned i = 0; i < MAX_SUBS; i++)
                        if (c->subs[i].used)
                                window =
                                    fmax(window, c->subs[i].interval_ms * c->subs[i].keepalive);
                uint64_t timeout =
                    (uint64_t)fmin(window * 2 + c->cfg.request_timeout_ms, 3600000.0);
                uint32_t h = begin_request(c, T_PUBLISH_REQ, (uint32_t)timeout);
                unsigned n = 0;
                for (unsigned i = 0; i < MAX_SUBS; i++)
                        n += c->subs[i].used ? c->subs[i].n_acks : 0;
                ua_enc_i32(&c->msg, (int32_t)n);
                for (unsigned i = 0; i < MAX_SUBS; i++) {
                        for (unsigned k = 0; c->subs[i].used && k < c->subs[i].n_acks; k++) {
                                ua_enc_u32(&c->msg, c->subs[i].id);
                                ua_enc_u32(&c->msg, c->subs[i].acks[k]);
                        }
                        c->subs[i].n_acks = 0;
                }
                c->publish_outstanding++;
                if (send_request(c, h, T_PUBLISH_REQ, T_PUBLISH_RESP, timeout, NULL, NULL, 0) < 0) {
                        if (gen == c->gen && c->publish_outstanding)
                                c->publish_outstanding--;
                        return;
                }
        }
}

/* A whole message body for request_id (MSG or OPN). */
static int dispatch(struct ua_client *c, uint32_t request_id, const uint8_t *body, size_t len)
{
        struct ua_dec d;
        struct ua_nodeid type;
        struct resp_header h;
        char sb[32];

        ua_dec_init(&d, body, len);
        ua_dec_nodeid(&d, &type);
        dec_response_header(&d, &h);
        if (d.err)
                return teardown(c, d.err, "malformed response header (%zu bytes)", len);
        if (type.ns != 0 || type.kind != UA_NODEID_NUMERIC)
                return teardown(c, -EPROTO, "response of unknown type");
        struct pending *slot = NULL;
        for (unsigned i = 0; i < MAX_PENDING; i++)
                if (c->pending[i].used && c->pending[i].request_id == request_id) {
                        slot = &c->pending[i];
                        break;
                }
        if (!slot)
                return 0; /* a late answer to a request we gave up on */
        struct pending p = *slot;
        slot->used = false;
        if (type.num != p.resp_type && type.num != T_SERVICE_FAULT)
                return teardown(c, -EPROTO, "%s request answered with type %" PRIu32,
                                ua_service_name(p.req_type), type.num);
        if (h.handle != p.handle)
                return teardown(c, -EPROTO,
                                "%s response carries handle %" PRIu32 ", expected %" PRIu32,
                                ua_service_name(p.req_type), h.handle, p.handle);
        uint32_t status = h.status;
        if (type.num == T_SERVICE_FAULT && ua_status_good(status))
                status = UA_BAD_UNEXPECTEDERROR;
        if (type.num == T_SERVICE_FAULT && p.req_type != T_PUBLISH_REQ)
                snprintf(c->error, sizeof(c->error), "%s: ServiceFault %s",
                         ua_service_name(p.req_type), ua_status_name(status, sb, sizeof(sb)));
        switch (p.resp_type) {
        case T_OPN_RESP:
                return on_opn_response(c, &d, &h);
        case T_CREATE_SESSION_RESP:
                h.status = status;
                return on_create_session(c, &d, &h);
        case T_ACTIVATE_SESSION_RESP:
                h.status = status;
                return on_activate_session(c, &d, &h);
        case T_READ_RESP:
                on_read(c, &d, &p, status);
                return 0;
        case T_WRITE_RESP:
        case T_DELETE_SUBS_RESP:
                on_status_list(c, &d, &p, status);
                return 0;
        case T_BROWSE_RESP:
        case T_BROWSE_NEXT_RESP:
                on_browse(c, &d, &p, status);
                return 0;
        case T_CREATE_SUB_RESP:
                on_create_subscription(c, &d, &p, status);
                send_publishes(c);
                return 0;
        case T_CREATE_MI_RESP:
                on_create_monitored_items(c, &d, &p, status);
                return 0;
        case T_PUBLISH_RESP:
                return on_publish(c, &d, status);
        case T_CLOSE_SESSION_RESP:
                return 0;
        default:
                return 0;
        }
}

/* One whole chunk of h->size bytes at buf. */
static int handle_chunk(struct ua_client *c, const struct ua_chunk_hdr *h, const uint8_t *buf)
{
        const uint8_t *body = buf + UA_TCP_HEADER_SIZE;
        size_t len = h->size - UA_TCP_HEADER_SIZE;
        char reason[160], sb[32];

        if (strcmp(h->type, "ERR") == 0) {
                uint32_t st = 0;
                if (ua_tcp_decode_error(body, len, &st, reason, sizeof(reason)) < 0)
                        return teardown(c, -EPROTO, "server sent a malformed ERR");
                return teardown(c, -ECONNREFUSED, "server error %s: %s",
                                ua_status_name(st, sb, sizeof(sb)),
                                reason[0] ? reason : "(no reason)");
        }
        if (strcmp(h->type, "ACK") == 0) {
                if (c->phase != PH_HEL)
                        return teardown(c, -EPROTO, "unexpected ACK");
                struct ua_tcp_limits l;
                int r = ua_tcp_decode_ack(body, len, &l);
                if (r < 0)
                        return teardown(c, r, "malformed ACK (buffer sizes below 8192?)");
                /* The peer's receive buffer is our chunk size; never above what we offered. */
                l.recv_buffer = MIN(l.recv_buffer, c->ours.send_buffer);
                c->peer = l;
                c->phase = PH_OPN;
                r = send_opn(c, false);
                if (r < 0)
                        return teardown(c, r, "cannot send OpenSecureChannel: %s", strerror(-r));
                return 0;
        }
        if (h->final != 'F' && strcmp(h->type, "MSG") != 0)
                return teardown(c, -EPROTO, "%s must be a single chunk", h->type);
        if (c->phase == PH_HEL || c->phase == PH_TCP)
                return teardown(c, -EPROTO, "%s before ACK (garbage after HEL?)", h->type);

        struct ua_dec d;
        ua_dec_init(&d, body, len);
        uint32_t channel = ua_dec_u32(&d);
        if (strcmp(h->type, "OPN") == 0) {
                struct ua_string policy = ua_dec_string(&d);
                (void)ua_dec_string(&d); /* sender certificate */
                (void)ua_dec_string(&d); /* receiver thumbprint */
                if (!d.err && !ua_string_eq(policy, POLICY_NONE))
                        return teardown(c, -EPROTO,
                                        "server answered OPN with another security policy");
        } else {
                uint32_t token = ua_dec_u32(&d);
                if (!d.err && channel != c->channel_id)
                        return teardown(c, -EPROTO,
                                        "%s for secure channel %" PRIu32 ", ours is %" PRIu32,
                                        h->type, channel, c->channel_id);
                if (!d.err && token != c->token_id && token != c->prev_token_id)
                        return teardown(c, -EPROTO, "%s with unknown token id %" PRIu32, h->type,
                                        token);
        }
        uint32_t seq = ua_dec_u32(&d);
        uint32_t rid = ua_dec_u32(&d);
        if (d.err)
                return teardown(c, -EPROTO, "truncated %s chunk header", h->type);
        if (c->peer_seq_known) {
                uint32_t want = c->peer_seq + 1;
                bool wrap = c->peer_seq > UINT32_MAX - 1024 && seq < 1024;
                if (seq != want && !wrap)
                        return teardown(c, -EPROTO, "sequence number %" PRIu32 " after %" PRIu32,
                                        seq, c->peer_seq);
        }
        c->peer_seq = seq;
        c->peer_seq_known = true;
        if (strcmp(h->type, "CLO") == 0)
                return teardown(c, -ECONNRESET, "server closed the secure channel");
        if (strcmp(h->type, "OPN") == 0) {
                if (c->reasm.active)
                        return teardown(c, -EPROTO, "OPN inside a chunked message");
                return dispatch(c, rid, d.p, ua_dec_left(&d));
        }
        if (strcmp(h->type, "MSG") != 0)
                return teardown(c, -EPROTO, "unexpected %s", h->type);
        int r = ua_reasm_add(&c->reasm, h->final, rid, d.p, ua_dec_left(&d), &c->ours);
        if (r == -ECANCELED) {
                /* The server aborted a response: fail that request. */
                for (unsigned i = 0; i < MAX_PENDING; i++)
                        if (c->pending[i].used && c->pending[i].request_id == rid) {
                                snprintf(c->error, sizeof(c->error),
                                         "%s response aborted by server",
                                         ua_service_name(c->pending[i].req_type));
                                c->pending[i].deadline = 0; /* expire at the next tick */
                        }
                return 0;
        }
        if (r == -EMSGSIZE)
                return teardown(c, r, "response larger than %" PRIu32 " bytes",
                                c->ours.max_message);
        if (r == -E2BIG)
                return teardown(c, r, "response in more than %" PRIu32 " chunks",
                                c->ours.max_chunks);
        if (r < 0)
                return teardown(c, r, "bad chunk sequence: %s", strerror(-r));
        if (r == 0)
                return 0;
        r = dispatch(c, rid, c->reasm.buf, c->reasm.len);
        c->reasm.len = 0;
        return r;
}

void ua_client_begin_offline(struct ua_client *c)
{
        c->offline = true;
        c->phase = PH_HEL;
        c->phase_deadline = UINT64_MAX;
        c->error[0] = 0;
}

int ua_client_feed(struct ua_client *c, const uint8_t *data, size_t len)
{
        unsigned gen = c->gen;
        if (c->cb.rx && len)
                c->cb.rx(c, data, len, c->ud);
        while (len > 0) {
                if (c->phase == PH_NONE || gen != c->gen)
                        return -ECONNRESET;
                size_t room = OUR_CHUNK - c->in_len;
                size_t n = MIN(room, len);
                memcpy(c->in + c->in_len, data, n);
                c->in_len += n;
                data += n;
                len -= n;
                size_t off = 0;
                for (;;) {
                        struct ua_chunk_hdr h;
                        int r = ua_tcp_peek(c->in + off, c->in_len - off, c->ours.recv_buffer, &h);
                        if (r == -EBADMSG)
                                return teardown(c, r, "garbage from server (not a UA-TCP chunk)");
                        if (r == -EMSGSIZE)
                                return teardown(c, r, "chunk size out of range (limit %" PRIu32 ")",
                                                c->ours.recv_buffer);
                        if (r == 0)
                                break;
                        r = handle_chunk(c, &h, c->in + off);
                        if (gen != c->gen || c->phase == PH_NONE)
                                return r < 0 ? r : -ECONNRESET;
                        off += h.size;
                }
                if (off) {
                        memmove(c->in, c->in + off, c->in_len - off);
                        c->in_len -= off;
                }
        }
        return 0;
}

int ua_client_process(struct ua_client *c, short revents)
{
        if (c->fd < 0)
                return 0;
        if (c->phase == PH_TCP) {
                int err = 0;
                socklen_t l = sizeof(err);
                if (!(revents & (POLLOUT | POLLERR | POLLHUP)))
                        return 0;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err)
                        return teardown(c, -err, "cannot connect to %.64s:%s: %s", c->u.host,
                                        c->u.port, strerror(err));
                return start_hello(c);
        }
        if (revents & POLLOUT) {
                int r = flush_out(c);
                if (r < 0)
                        return teardown(c, r, "send failed: %s", strerror(-r));
        }
        if (revents & (POLLIN | POLLHUP | POLLERR)) {
                uint8_t buf[16384];
                /* Bounded: at most 64 reads per wake-up so one busy peer cannot starve us. */
                for (int i = 0; i < 64 && c->fd >= 0; i++) {
                        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
                        if (n == 0)
                                return teardown(c, -ECONNRESET, "server closed the connection");
                        if (n < 0) {
                                if (errno == EAGAIN || errno == EINTR)
                                        break;
                                return teardown(c, -errno, "receive failed: %s", strerror(errno));
                        }
                        int r = ua_client_feed(c, buf, (size_t)n);
                        if (r < 0)
                                return r;
                        if ((size_t)n < sizeof(buf))
                                break;
                }
        }
        return 0;
}

uint64_t ua_client_next_deadline(const struct ua_client *c)
{
        uint64_t t = UINT64_MAX;
        if (c->phase == PH_NONE)
                return t;
        if (c->phase != PH_ACTIVE)
                t = c->phase_deadline;
        if (c->renew_at && c->phase >= PH_CREATE && !c->renewing)
                t = MIN(t, c->renew_at);
        for (unsigned i = 0; i < MAX_PENDING; i++)
                if (c->pending[i].used)
                        t = MIN(t, c->pending[i].deadline);
        if (c->phase == PH_ACTIVE && !have_subs(c))
                t = MIN(t,
                        c->last_request_ns + (uint64_t)c->cfg.session_timeout_ms * 1000000ull / 3);
        return t;
}

static void on_keepalive_read(struct ua_client *c, uint32_t status, const struct ua_datavalue *res,
                              size_t n, void *ud)
{
}

int ua_client_tick(struct ua_client *c, uint64_t now)
{
        char sb[32];
        if (c->phase == PH_NONE)
                return 0;
        if (c->phase != PH_ACTIVE && now >= c->phase_deadline)
                return teardown(c, -ETIMEDOUT,
                                "no answer from %.64s:%s within %u ms while connecting", c->u.host,
                                c->u.port, c->cfg.request_timeout_ms);
        for (unsigned i = 0; i < MAX_PENDING; i++) {
                struct pending *p = &c->pending[i];
                if (!p->used || now < p->deadline)
                        continue;
                if (p->req_type == T_PUBLISH_REQ)
                        return teardown(c, -ETIMEDOUT,
                                        "no Publish response within the keep-alive time");
                if (p->req_type == T_OPN_REQ || p->req_type == T_CREATE_SESSION_REQ ||
                    p->req_type == T_ACTIVATE_SESSION_REQ)
                        return teardown(c, -ETIMEDOUT, "%s timed out",
                                        ua_service_name(p->req_type));
                /* A service call that timed out: report it, keep the connection. */
                struct pending copy = *p;
                p->used = false;
                copy.used = true;
                snprintf(c->error, sizeof(c->error), "%s timed out (%s)",
                         ua_service_name(copy.req_type),
                         ua_status_name(UA_BAD_TIMEOUT, sb, sizeof(sb)));
                /* Reuse fail path for a single entry. */
                struct pending saved[MAX_PENDING];
                memcpy(saved, c->pending, sizeof(saved));
                memset(c->pending, 0, sizeof(c->pending));
                c->pending[0] = copy;
                unsigned gen = c->gen;
                fail_pending(c, UA_BAD_TIMEOUT);
                if (gen != c->gen)
                        return -ECONNRESET;
                /* Merge back what was pending before plus anything the callback started. */
                for (unsigned k = 0; k < MAX_PENDING; k++) {
                        if (!saved[k].used)
                                continue;
                        for (unsigned j = 0; j < MAX_PENDING; j++)
                                if (!c->pending[j].used) {
                                        c->pending[j] = saved[k];
                                        break;
                                }
                }
        }
        if (c->renew_at && now >= c->renew_at && c->phase >= PH_CREATE && !c->renewing) {
                int r = send_opn(c, true);
                if (r < 0)
                        return teardown(c, r, "cannot renew the secure channel: %s", strerror(-r));
        }
        if (c->phase == PH_ACTIVE && !have_subs(c) &&
            now >= c->last_request_ns + (uint64_t)c->cfg.session_timeout_ms * 1000000ull / 3) {
                /* Keep an idle session alive: read ServerStatus.State. */
                struct ua_read_item it = { .node = UA_NODEID_NUM(0, 2259),
                                           .attribute = UA_ATTR_VALUE };
                (void)ua_client_read(c, &it, 1, on_keepalive_read, NULL);
        }
        return 0;
}

void ua_client_disconnect(struct ua_client *c, const char *reason)
{
        if (c->phase == PH_ACTIVE) {
                (void)begin_request(c, T_CLOSE_SESSION_REQ, 1000);
                ua_enc_bool(&c->msg, true); /* delete subscriptions */
                (void)queue_message(c, "MSG", next_request_id(c));
        }
        if (c->phase >= PH_CREATE && c->fd >= 0) {
                (void)begin_request(c, T_CLO_REQ, 1000);
                (void)queue_message(c, "CLO", next_request_id(c));
        }
        teardown(c, 0, "%s", reason ? reason : "closed by client");
}

/* ---- services ---- */

#define CHECK_ACTIVE(c, n)                           \
        do {                                         \
                if ((c)->phase != PH_ACTIVE)         \
                        return -ENOTCONN;            \
                if ((n) == 0 || (n) > MAX_REQ_ITEMS) \
                        return -EINVAL;              \
        } while (0)

static void enc_read_value_id(struct ua_enc *e, const struct ua_nodeid *node, uint32_t attr)
{
        ua_enc_nodeid(e, node);
        ua_enc_u32(e, attr ? attr : UA_ATTR_VALUE);
        ua_enc_cstring(e, NULL); /* index range */
        ua_enc_u16(e, 0);        /* data encoding: QualifiedName null */
        ua_enc_cstring(e, NULL);
}

int ua_client_read(struct ua_client *c, const struct ua_read_item *items, size_t n, ua_read_cb cb,
                   void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_READ_REQ, c->cfg.request_timeout_ms);
        ua_enc_double(&c->msg, 0); /* max age */
        ua_enc_u32(&c->msg, 2);    /* timestamps: Both */
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++)
                enc_read_value_id(&c->msg, &items[i].node, items[i].attribute);
        return send_request(c, h, T_READ_REQ, T_READ_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, n);
}

int ua_client_write(struct ua_client *c, const struct ua_write_item *items, size_t n,
                    ua_status_list_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_WRITE_REQ, c->cfg.request_timeout_ms);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_nodeid(&c->msg, &items[i].node);
                ua_enc_u32(&c->msg, UA_ATTR_VALUE);
                ua_enc_cstring(&c->msg, NULL);
                struct ua_datavalue dv = { .mask = UA_DV_VALUE, .value = items[i].value };
                ua_enc_datavalue(&c->msg, &dv);
        }
        return send_request(c, h, T_WRITE_REQ, T_WRITE_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, n);
}

int ua_client_browse(struct ua_client *c, const struct ua_nodeid *nodes, size_t n,
                     uint32_t max_refs, ua_browse_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_BROWSE_REQ, c->cfg.request_timeout_ms);
        struct ua_nodeid null_id = UA_NODEID_NUM(0, 0), hier = UA_NODEID_NUM(0, 33);
        ua_enc_nodeid(&c->msg, &null_id); /* view */
        ua_enc_i64(&c->msg, 0);
        ua_enc_u32(&c->msg, 0);
        ua_enc_u32(&c->msg, max_refs && max_refs <= 1000 ? max_refs : 1000);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_nodeid(&c->msg, &nodes[i]);
                ua_enc_u32(&c->msg, 0); /* forward */
                ua_enc_nodeid(&c->msg, &hier);
                ua_enc_bool(&c->msg, true);
                ua_enc_u32(&c->msg, 0);  /* all node classes */
                ua_enc_u32(&c->msg, 63); /* all result fields */
        }
        return send_request(c, h, T_BROWSE_REQ, T_BROWSE_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, n);
}

int ua_client_browse_next(struct ua_client *c, const struct ua_string *cps, size_t n, bool release,
                          ua_browse_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_BROWSE_NEXT_REQ, c->cfg.request_timeout_ms);
        ua_enc_bool(&c->msg, release);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++)
                ua_enc_string(&c->msg, cps[i]);
        return send_request(c, h, T_BROWSE_NEXT_REQ, T_BROWSE_NEXT_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, release ? 0 : n);
}

int ua_client_create_subscription(struct ua_client *c, const struct ua_subscription_params *p,
                                  ua_subscription_cb cb, void *ud)
{
        CHECK_ACTIVE(c, 1);
        uint32_t h = begin_request(c, T_CREATE_SUB_REQ, c->cfg.request_timeout_ms);
        ua_enc_double(&c->msg, p->publishing_interval_ms);
        ua_enc_u32(&c->msg, p->lifetime_count ? p->lifetime_count : 60);
        ua_enc_u32(&c->msg, p->max_keepalive_count ? p->max_keepalive_count : 10);
        ua_enc_u32(&c->msg, p->max_notifications);
        ua_enc_bool(&c->msg, true);
        ua_enc_u8(&c->msg, p->priority);
        return send_request(c, h, T_CREATE_SUB_REQ, T_CREATE_SUB_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, 0);
}

static void enc_deadband(struct ua_enc *e, const void *ud)
{
        const double *db = ud;
        ua_enc_u32(e, 1); /* trigger StatusValue */
        ua_enc_u32(e, 1); /* Absolute */
        ua_enc_double(e, *db);
}

int ua_client_create_monitored_items(struct ua_client *c, uint32_t sub_id,
                                     const struct ua_monitor_item *items, size_t n,
                                     ua_monitor_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_CREATE_MI_REQ, c->cfg.request_timeout_ms);
        ua_enc_u32(&c->msg, sub_id);
        ua_enc_u32(&c->msg, 2); /* timestamps: Both */
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                enc_read_value_id(&c->msg, &items[i].node, UA_ATTR_VALUE);
                ua_enc_u32(&c->msg, 2); /* Reporting */
                ua_enc_u32(&c->msg, items[i].client_handle);
                ua_enc_double(&c->msg, items[i].sampling_ms);
                if (items[i].deadband > 0 && isfinite(items[i].deadband))
                        ua_enc_extension_object(&c->msg, T_DATA_CHANGE_FILTER, enc_deadband,
                                                &items[i].deadband);
                else
                        ua_enc_null_extension_object(&c->msg);
                ua_enc_u32(&c->msg, items[i].queue_size ? items[i].queue_size : 1);
                ua_enc_bool(&c->msg, true);
        }
        return send_request(c, h, T_CREATE_MI_REQ, T_CREATE_MI_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, n);
}

int ua_client_delete_subscriptions(struct ua_client *c, const uint32_t *ids, size_t n,
                                   ua_status_list_cb cb, void *ud)
{
        CHECK_ACTIVE(c, n);
        uint32_t h = begin_request(c, T_DELETE_SUBS_REQ, c->cfg.request_timeout_ms);
        ua_enc_i32(&c->msg, (int32_t)n);
        for (size_t i = 0; i < n; i++) {
                ua_enc_u32(&c->msg, ids[i]);
                struct sub *s = find_sub(c, ids[i]);
                if (s)
                        s->used = false;
        }
        return send_request(c, h, T_DELETE_SUBS_REQ, T_DELETE_SUBS_RESP, c->cfg.request_timeout_ms,
                            (generic_cb)cb, ud, n);
}

int ua_client_run(struct ua_client *c, const bool *done, uint32_t timeout_ms)
{
        uint64_t end = mono_now() + (uint64_t)timeout_ms * 1000000ull;
        while (!(done && *done)) {
                if (c->phase == PH_NONE)
                        return -ECONNRESET;
                uint64_t now = mono_now();
                if (now >= end)
                        return -ETIMEDOUT;
                uint64_t dl = MIN(end, ua_client_next_deadline(c));
                int wait = dl <= now ? 0 : (int)MIN((dl - now) / 1000000ull + 1, 1000ull);
                struct pollfd pfd = { .fd = c->fd, .events = ua_client_poll_events(c) };
                int r = poll(&pfd, 1, wait);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        (void)ua_client_process(c, pfd.revents);
                (void)ua_client_tick(c, mono_now());
        }
        return 0;
}
