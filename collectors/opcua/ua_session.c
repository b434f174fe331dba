/*
 * ua_session.c — OPC UA client: connect, session create/activate, keep-alive, close.
 *
 * Part of the OPC UA client library (no ring). Starts a connection (state reset for a
 * reconnect), sends CreateSession once the secure channel is open, picks an endpoint
 * with SecurityPolicy None and an identity token it allows, activates the session, and
 * drives the timers: connect deadline, request timeouts, channel renewal and the idle
 * keep-alive Read, and closes politely. The owner decides when to reconnect: this file
 * never sleeps, never retries on its own and never reads or writes the socket itself.
 */
#include "ua_client_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

const char *ua_client_server_uri(const struct ua_client *c)
{
        return c->server_uri;
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

void ua_session_send_create(struct ua_client *c)
{
        uint32_t h = ua_channel_begin_request(c, T_CREATE_SESSION_REQ, c->cfg.request_timeout_ms);
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
        (void)ua_channel_send_request(c, h, T_CREATE_SESSION_REQ, T_CREATE_SESSION_RESP,
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
        uint32_t h = ua_channel_begin_request(c, T_ACTIVATE_SESSION_REQ, c->cfg.request_timeout_ms);
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
        (void)ua_channel_send_request(c, h, T_ACTIVATE_SESSION_REQ, T_ACTIVATE_SESSION_RESP,
                                      c->cfg.request_timeout_ms, NULL, NULL, 0);
}

static bool policy_is_none(struct ua_string uri)
{
        return uri.len <= 0 || ua_string_eq(uri, POLICY_NONE);
}

int ua_session_on_create(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return ua_client_teardown(c, -EPROTO, "CreateSession failed: %s",
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
                return ua_client_teardown(c, d->err, "CreateSession response is malformed");
        if (n > 0 && !none_endpoint)
                return ua_client_teardown(c, -EPROTONOSUPPORT,
                                          "server offers no endpoint with SecurityPolicy None");
        if (c->user && !user)
                return ua_client_teardown(c, -EPERM,
                                          "server allows no unencrypted username/password token");
        if (!c->user && !anon) {
                if (n > 0)
                        return ua_client_teardown(c, -EPERM, "server allows no anonymous sessions");
                snprintf(c->anon_policy, sizeof(c->anon_policy), "anonymous");
        }
        /* Keep our own copy of the authentication token. */
        c->auth_token = token;
        if (token.kind == UA_NODEID_STRING || token.kind == UA_NODEID_BYTESTRING) {
                if (token.str.len > (int32_t)MAX_TOKEN_BYTES)
                        return ua_client_teardown(c, -E2BIG,
                                                  "session authentication token too long");
                if (token.str.len > 0)
                        memcpy(c->auth_token_buf, token.str.data, (size_t)token.str.len);
                c->auth_token.str.data = c->auth_token_buf;
        }
        send_activate_session(c);
        return 0;
}

int ua_session_on_activate(struct ua_client *c, struct ua_dec *d, const struct resp_header *h)
{
        char sb[32];
        if (!ua_status_good(h->status))
                return ua_client_teardown(c, -EACCES, "ActivateSession failed: %s",
                                          ua_status_name(h->status, sb, sizeof(sb)));
        c->phase = PH_ACTIVE;
        c->error[0] = 0;
        if (c->cb.state)
                c->cb.state(c, UA_CS_ACTIVE, "session active", c->ud);
        return 0;
}

/* ---- timers and close ---- */

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
        if (c->phase == PH_ACTIVE && !ua_services_have_subs(c))
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
                return ua_client_teardown(c, -ETIMEDOUT,
                                          "no answer from %.64s:%s within %u ms while connecting",
                                          c->u.host, c->u.port, c->cfg.request_timeout_ms);
        for (unsigned i = 0; i < MAX_PENDING; i++) {
                struct pending *p = &c->pending[i];
                if (!p->used || now < p->deadline)
                        continue;
                if (p->req_type == T_PUBLISH_REQ)
                        return ua_client_teardown(c, -ETIMEDOUT,
                                                  "no Publish response within the keep-alive time");
                if (p->req_type == T_OPN_REQ || p->req_type == T_CREATE_SESSION_REQ ||
                    p->req_type == T_ACTIVATE_SESSION_REQ)
                        return ua_client_teardown(c, -ETIMEDOUT, "%s timed out",
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
                ua_client_fail_pending(c, UA_BAD_TIMEOUT);
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
                int r = ua_channel_send_opn(c, true);
                if (r < 0)
                        return ua_client_teardown(c, r, "cannot renew the secure channel: %s",
                                                  strerror(-r));
        }
        if (c->phase == PH_ACTIVE && !ua_services_have_subs(c) &&
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
                (void)ua_channel_begin_request(c, T_CLOSE_SESSION_REQ, 1000);
                ua_enc_bool(&c->msg, true); /* delete subscriptions */
                (void)ua_channel_queue(c, "MSG", ua_channel_next_request_id(c));
        }
        if (c->phase >= PH_CREATE && c->fd >= 0) {
                (void)ua_channel_begin_request(c, T_CLO_REQ, 1000);
                (void)ua_channel_queue(c, "CLO", ua_channel_next_request_id(c));
        }
        ua_client_teardown(c, 0, "%s", reason ? reason : "closed by client");
}
