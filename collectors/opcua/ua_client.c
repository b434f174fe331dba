/*
 * ua_client.c — OPC UA client: the client object, its pending requests, response dispatch.
 *
 * Part of the OPC UA client library (no ring). A single-threaded state machine split by
 * role (see ua_client_int.h): this file owns the object's life cycle, the table of
 * requests awaiting an answer, teardown, and the one dispatcher that checks every
 * response (request id, response type, request handle) before handing it to the
 * channel, session or service handler that asked for it; and ua_client_run(), a small
 * poll() loop for tools. Anything wrong closes the connection with one reason string;
 * nothing here aborts, exits, reads or writes the socket itself (ua_channel.c does), or
 * trusts a length it has not checked.
 */
#include "ua_client_int.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

void ua_client_stats(const struct ua_client *c, uint64_t *ret_notifications,
                     uint64_t *ret_decode_ns)
{
        if (ret_notifications)
                *ret_notifications = c->notifications;
        if (ret_decode_ns)
                *ret_decode_ns = c->decode_ns;
}

/* ---- teardown ---- */

int ua_client_teardown(struct ua_client *c, int err, const char *fmt, ...)
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
        ua_client_fail_pending(c, 0x80AE0000u /* BadConnectionClosed */);
        if (c->cb.state)
                c->cb.state(c, UA_CS_DISCONNECTED, c->error, c->ud);
        return err;
}

void ua_client_fail_pending(struct ua_client *c, uint32_t status)
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

/* ---- pending requests ---- */

struct pending *ua_client_add_pending(struct ua_client *c, uint32_t request_id, uint32_t handle,
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

unsigned ua_client_pending_free_slots(const struct ua_client *c)
{
        unsigned n = 0;
        for (unsigned i = 0; i < MAX_PENDING; i++)
                n += !c->pending[i].used;
        return n;
}

/* ---- responses ---- */

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

/* A whole message body for request_id (MSG or OPN). */
int ua_client_dispatch(struct ua_client *c, uint32_t request_id, const uint8_t *body, size_t len)
{
        struct ua_dec d;
        struct ua_nodeid type;
        struct resp_header h;
        char sb[32];

        ua_dec_init(&d, body, len);
        ua_dec_nodeid(&d, &type);
        dec_response_header(&d, &h);
        if (d.err)
                return ua_client_teardown(c, d.err, "malformed response header (%zu bytes)", len);
        if (type.ns != 0 || type.kind != UA_NODEID_NUMERIC)
                return ua_client_teardown(c, -EPROTO, "response of unknown type");
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
                return ua_client_teardown(c, -EPROTO, "%s request answered with type %" PRIu32,
                                          ua_service_name(p.req_type), type.num);
        if (h.handle != p.handle)
                return ua_client_teardown(
                    c, -EPROTO, "%s response carries handle %" PRIu32 ", expected %" PRIu32,
                    ua_service_name(p.req_type), h.handle, p.handle);
        uint32_t status = h.status;
        if (type.num == T_SERVICE_FAULT && ua_status_good(status))
                status = UA_BAD_UNEXPECTEDERROR;
        if (type.num == T_SERVICE_FAULT && p.req_type != T_PUBLISH_REQ)
                snprintf(c->error, sizeof(c->error), "%s: ServiceFault %s",
                         ua_service_name(p.req_type), ua_status_name(status, sb, sizeof(sb)));
        switch (p.resp_type) {
        case T_OPN_RESP:
                return ua_channel_on_opn(c, &d, &h);
        case T_CREATE_SESSION_RESP:
                h.status = status;
                return ua_session_on_create(c, &d, &h);
        case T_ACTIVATE_SESSION_RESP:
                h.status = status;
                return ua_session_on_activate(c, &d, &h);
        case T_READ_RESP:
                ua_services_on_read(c, &d, &p, status);
                return 0;
        case T_WRITE_RESP:
        case T_DELETE_SUBS_RESP:
                ua_services_on_status_list(c, &d, &p, status);
                return 0;
        case T_BROWSE_RESP:
        case T_BROWSE_NEXT_RESP:
                ua_services_on_browse(c, &d, &p, status);
                return 0;
        case T_CREATE_SUB_RESP:
                ua_services_on_create_subscription(c, &d, &p, status);
                ua_services_send_publishes(c);
                return 0;
        case T_CREATE_MI_RESP:
                ua_services_on_create_monitored_items(c, &d, &p, status);
                return 0;
        case T_PUBLISH_RESP:
                return ua_services_on_publish(c, &d, status);
        case T_CLOSE_SESSION_RESP:
                return 0;
        default:
                return 0;
        }
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
