/*
 * clients.c — client ids, peers, auth, limits and client events shared by every dialect
 * (see clients.h), plus GET/POST /api/clients and the REST Authorization check.
 *
 * Process: ringhub. Per-client state (struct hubc) hangs off hub_client_ext() and is
 * touched by the lws thread only; the registry of {uuid, ip} is also read by the
 * libmicrohttpd thread, so it has its own mutex. A client event is rendered once per
 * dialect and fanned out as shared bytes. Tokens are verified by auth.c and never
 * logged or kept; log lines name the client, never the token. No ring access here.
 */
#include "clients.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"
#include "macros.h"
#include "util.h"

#define REST_BODY_MAX 4096
#define HELD_NONE     UINT64_MAX

struct rest_req {
        size_t len;
        bool too_big;
        char body[REST_BODY_MAX + 1];
};

static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER; /* lws, mhd, reload */
static struct auth *auth;
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hubc *reg;

/* ---- setup ---- */

bool clients_auth_mode_valid(const char *mode)
{
        return mode &&
               (strcmp(mode, "off") == 0 || strcmp(mode, "token") == 0 || strcmp(mode, "jwt") == 0);
}

bool clients_auth_on(void)
{
        pthread_mutex_lock(&auth_lock);
        bool on = auth_enabled(auth);
        pthread_mutex_unlock(&auth_lock);
        return on;
}

static int verify(const char *token, struct auth_identity *id, const char **why)
{
        pthread_mutex_lock(&auth_lock);
        int r = auth_verify(auth, token, (uint64_t)time(NULL), id, why);
        pthread_mutex_unlock(&auth_lock);
        return r;
}

static int load_tokens(struct auth *a, const char *path)
{
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "cannot open token file %s: %m", path);
        char line[AUTH_TOKEN_MAX + 256];
        unsigned n = 0, lineno = 0;
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                char *s = strstrip(line);
                if (!*s || *s == '#')
                        continue;
                /* "TOKEN ROLE [NAME]" (docs/operations.md) */
                char *save = NULL, defname[32];
                const char *tok = strtok_r(s, " \t", &save);
                const char *role = strtok_r(NULL, " \t", &save);
                const char *name = strtok_r(NULL, " \t", &save);
                enum auth_role r = role ? auth_role_from_name(role) : AUTH_ROLE_NONE;
                if (!tok || r == AUTH_ROLE_NONE || (name && strtok_r(NULL, " \t", &save)))
                        return log_error_errno(-EINVAL,
                                               "%s:%u: want 'TOKEN viewer|operator|admin [NAME]'",
                                               path, lineno);
                if (!name) {
                        snprintf(defname, sizeof(defname), "token-%u", lineno);
                        name = defname;
                }
                int k = auth_add_token(a, name, r, tok);
                if (k < 0)
                        return log_error_errno(k, "%s:%u: cannot add token (at least 16 chars): %m",
                                               path, lineno);
                n++;
        }
        log_info("auth: %u API tokens from %s", n, path);
        return 0;
}

static int load_secret(struct auth *a, const char *path)
{
        char buf[512];
        ssize_t n = read_file_bounded(path, buf, sizeof(buf));
        if (n < 0)
                return log_error_errno((int)n, "cannot read JWT secret %s: %m", path);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
                n--;
        int r = auth_set_jwt_secret(a, buf, (size_t)n);
        explicit_bzero(buf, sizeof(buf));
        if (r < 0)
                return log_error_errno(r, "JWT secret in %s must be 16-256 bytes", path);
        return 0;
}

/* A new authenticator from the options (disabled when auth is off). */
static int auth_load(struct auth **ret)
{
        const struct hub_options *o = &hub.opt;
        struct auth *a = auth_new();
        if (!a)
                return log_error_errno(-ENOMEM, "cannot set up auth: %m");
        const char *mode = o->auth ? o->auth : "off";
        int r = 0;
        if (strcmp(mode, "off") == 0) {
                *ret = a;
                return 0;
        }
        if (strcmp(mode, "token") == 0 && !o->token_file)
                r = log_error_errno(-EINVAL, "--auth token needs --token-file");
        else if (strcmp(mode, "jwt") == 0 && !o->jwt_secret_file)
                r = log_error_errno(-EINVAL, "--auth jwt needs --jwt-secret-file");
        if (r == 0 && o->token_file)
                r = load_tokens(a, o->token_file);
        if (r == 0 && o->jwt_secret_file)
                r = load_secret(a, o->jwt_secret_file);
        if (r < 0) {
                auth_free(a);
                return r;
        }
        auth_set_enabled(a, true);
        log_info("auth: on (%s)", mode);
        *ret = a;
        return 0;
}

int clients_init(void)
{
        return auth_load(&auth);
}

int clients_reload(void)
{
        struct auth *a;
        int r = auth_load(&a);
        if (r < 0)
                return log_warning_errno(r, "auth settings not reloaded, keeping the old ones: %m");
        pthread_mutex_lock(&auth_lock);
        struct auth *old = auth;
        auth = a;
        pthread_mutex_unlock(&auth_lock);
        auth_free(old);
        return 0;
}

void clients_free(void)
{
        pthread_mutex_lock(&auth_lock);
        auth_free(auth);
        auth = NULL;
        pthread_mutex_unlock(&auth_lock);
}

/* ---- helpers ---- */

json_object *clients_parse_json(const char *msg, size_t len)
{
        if (len > INT32_MAX)
                return NULL;
        json_tokener *tok = json_tokener_new_ex(32);
        if (!tok)
                return NULL;
        json_object *o = json_tokener_parse_ex(tok, msg, (int)len);
        bool bad = !o || json_tokener_get_error(tok) != json_tokener_success;
        if (!bad) {
                /* Only whitespace may follow the value. */
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (!strchr(" \t\r\n", msg[i])) {
                                bad = true;
                                break;
                        }
        }
        json_tokener_free(tok);
        if (bad) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

size_t clients_iso8601(char *buf, size_t size, uint64_t ns)
{
        time_t s = (time_t)(ns / NSEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&s, &tm))
                return 0;
        int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned)(ns % NSEC_PER_SEC / NSEC_PER_MSEC));
        return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int clients_uuid4(char out[CLIENTS_UUID_LEN + 1])
{
        uint8_t b[16];
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return -errno;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, CLIENTS_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        return 0;
}

size_t clients_fmt_double(char *buf, size_t size, double v)
{
        if (size < 40)
                return 0;
        if (!isfinite(v))
                return (size_t)snprintf(buf, size, "null");
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, size, "%.17g", v);
        if (!strpbrk(buf, ".eEn"))
                strcat(buf, ".0");
        return strlen(buf);
}

const char *clients_json_text(json_object *o, size_t *ret_len)
{
        return json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, ret_len);
}

void clients_reply(struct hub_client *c, json_object *o)
{
        if (!o)
                return;
        struct hub_msg *m = hub_msg_from_json(0, o);
        json_object_put(o);
        if (!m)
                return;
        hub_client_send(c, m);
        hub_msg_unref(m);
}

/* ---- per client ---- */

struct hubc *clients_get(struct hub_client *c)
{
        return c ? *hub_client_ext(c) : NULL;
}

static bool dialect_has_own_auth(const struct dialect *d)
{
        /* /ws takes an auth message; Socket.IO takes the connect packet's auth. */
        return d == &dialect_native || d == &dialect_sio;
}

static void token_expired(lws_sorted_usec_list_t *sul)
{
        struct hubc *h = lws_container_of(sul, struct hubc, exp_sul);
        if (h->gone)
                return;
        log_info("client %s (%s): token of '%s' expired, closing", h->uuid, h->ip, h->sub);
        hub_client_close(h->c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "token expired");
}

int clients_authenticate(struct hubc *h, const char *token, const char **why)
{
        struct auth_identity id;
        int r = verify(token, &id, why);
        if (r < 0) {
                const struct dialect *d = hub_client_dialect(h->c, NULL);
                log_notice("client %s (%s, %s): authentication failed: %s", h->uuid, h->ip, d->name,
                           *why ? *why : "refused");
                return r;
        }
        h->authed = true;
        h->role = id.role;
        strscpy(h->sub, sizeof(h->sub), id.sub);
        /* A session lives no longer than its token (a new auth message moves this). */
        lws_sul_cancel(&h->exp_sul);
        if (id.exp) {
                uint64_t now = (uint64_t)time(NULL);
                lws_sul_schedule(
                    lws_get_context(hub_client_wsi(h->c)), 0, &h->exp_sul, token_expired,
                    (lws_usec_t)(id.exp > now ? id.exp - now : 0) * LWS_US_PER_SEC + 1000);
        }
        log_info("client %s (%s): authenticated as '%s' (%s)", h->uuid, h->ip, id.sub,
                 auth_role_name(id.role));
        return 0;
}

bool clients_may(const struct hubc *h, enum auth_role need)
{
        if (!clients_auth_on())
                return true;
        return h && h->authed && h->role >= need;
}

/* The token of the upgrade request: "Authorization: Bearer X" or ?token=X. */
static bool upgrade_token(struct lws *wsi, char *buf, size_t size)
{
        char hdr[AUTH_TOKEN_MAX + 32];
        if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
            lws_hdr_copy(wsi, hdr, sizeof(hdr), WSI_TOKEN_HTTP_AUTHORIZATION) > 0) {
                const char *t = auth_bearer(hdr);
                if (t && strlen(t) < size) {
                        strscpy(buf, size, t);
                        return true;
                }
        }
        /* Returns a pointer into buf, after "token=". */
        const char *v = lws_get_urlarg_by_name(wsi, "token=", buf, (int)size);
        if (!v || !*v)
                return false;
        memmove(buf, v, strlen(v) + 1);
        return true;
}

int clients_open(struct hub_client *c)
{
        unsigned di;
        const struct dialect *d = hub_client_dialect(c, &di);
        struct hubc *h = calloc(1, sizeof(*h));
        if (!h || clients_uuid4(h->uuid) < 0) {
                free(h);
                hub_client_close(c, 1011, "out of resources");
                return -1;
        }
        h->c = c;
        h->di = di;
        struct lws *wsi = hub_client_wsi(c);
        if (!lws_get_peer_simple(wsi, h->ip, sizeof(h->ip)))
                strscpy(h->ip, sizeof(h->ip), "unknown");
        /* IPv4-mapped IPv6 reads better as IPv4. */
        if (startswith(h->ip, "::ffff:") && strchr(h->ip, '.'))
                memmove(h->ip, h->ip + 7, strlen(h->ip + 7) + 1);
        rate_limit_init(&h->in_rl, hub.opt.rate_limit, 2.0 * hub.opt.rate_limit);
        rate_limit_init(&h->out_rl, hub.opt.max_events, hub.opt.max_events);
        *hub_client_ext(c) = h;
        pthread_mutex_lock(&reg_lock);
        h->next = reg;
        reg = h;
        pthread_mutex_unlock(&reg_lock);

        if (!clients_auth_on()) {
                h->authed = true;
                h->role = AUTH_ROLE_ADMIN;
                return 0;
        }
        char *tok = malloc(AUTH_TOKEN_MAX + 1);
        if (tok && upgrade_token(wsi, tok, AUTH_TOKEN_MAX + 1)) {
                const char *why = NULL;
                if (clients_authenticate(h, tok, &why) < 0)
                        h->auth_why = why ? why : "refused";
        }
        if (tok) {
                explicit_bzero(tok, AUTH_TOKEN_MAX + 1);
                free(tok);
        }
        if (!h->authed && !dialect_has_own_auth(d)) {
                if (!h->auth_why)
                        log_notice("client %s (%s, %s): no token, closing", h->uuid, h->ip,
                                   d->name);
                hub_client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication failed");
                return -1;
        }
        return 0;
}

void clients_opened(struct hub_client *c)
{
        struct hubc *h = clients_get(c);
        if (h)
                clients_event(HUB_T_CLIENT_CONNECTED, h->uuid, h->ip, true);
}

void clients_close(struct hub_client *c)
{
        struct hubc *h = clients_get(c);
        if (!h)
                return;
        h->gone = true;
        lws_sul_cancel(&h->sul);
        lws_sul_cancel(&h->exp_sul);
        for (unsigned t = 0; t < HUB_T_MAX; t++) {
                hub_msg_unref(h->held[t]);
                h->held[t] = NULL;
        }
        pthread_mutex_lock(&reg_lock);
        for (struct hubc **p = &reg; *p; p = &(*p)->next)
                if (*p == h) {
                        *p = h->next;
                        break;
                }
        pthread_mutex_unlock(&reg_lock);
        if (h->dropped)
                log_info("client %s: %" PRIu64 " events dropped over the %u events/s cap", h->uuid,
                         h->dropped, hub.opt.max_events);
        clients_event(HUB_T_CLIENT_DISCONNECTED, h->uuid, h->ip, true);
        *hub_client_ext(c) = NULL;
        free(h);
}

int clients_inbound(struct hubc *h, bool *ret_notify)
{
        uint64_t now = mono_ns();
        *ret_notify = false;
        if (rate_limit_take(&h->in_rl, now))
                return 0;
        if (now - h->excess_window_ns > NSEC_PER_SEC) {
                h->excess_window_ns = now;
                h->excess = 0;
                *ret_notify = true;
        }
        if (++h->excess > hub.opt.rate_limit) {
                log_notice("client %s (%s): more than %u messages/s, closing", h->uuid, h->ip,
                           hub.opt.rate_limit);
                return -1;
        }
        return 1;
}

int clients_gate(struct hub_client *c)
{
        struct hubc *h = clients_get(c);
        const struct dialect *d = hub_client_dialect(c, NULL);
        if (!h || d == &dialect_native || d == &dialect_sio || d == &dialect_ledfx)
                return 0; /* they answer WS-003 in their own words */
        bool notify;
        int k = clients_inbound(h, &notify);
        return k < 0 ? LWS_CLOSE_STATUS_POLICY_VIOLATION : k > 0 ? -1 : 0;
}

/* ---- outbound cap and rate holds ---- */

static void release(lws_sorted_usec_list_t *sul);

static void reschedule(struct hubc *h, uint64_t now)
{
        uint64_t wait = HELD_NONE;
        for (unsigned t = 0; t < HUB_T_MAX && h->n_held; t++) {
                if (!h->held[t])
                        continue;
                uint64_t w = MAX(rate_limit_wait_ns(&h->topic_rl[t], now),
                                 rate_limit_wait_ns(&h->out_rl, now));
                wait = MIN(wait, w);
        }
        if (wait == HELD_NONE)
                return;
        lws_sul_schedule(lws_get_context(hub_client_wsi(h->c)), 0, &h->sul, release,
                         (lws_usec_t)MAX(wait / 1000, (uint64_t)1000));
}

static void release(lws_sorted_usec_list_t *sul)
{
        struct hubc *h = lws_container_of(sul, struct hubc, sul);
        if (h->gone)
                return;
        uint64_t now = mono_ns();
        for (unsigned t = 0; t < HUB_T_MAX && h->n_held; t++) {
                struct hub_msg *m = h->held[t];
                if (!m || rate_limit_wait_ns(&h->topic_rl[t], now) ||
                    rate_limit_wait_ns(&h->out_rl, now))
                        continue;
                (void)rate_limit_take(&h->topic_rl[t], now);
                (void)rate_limit_take(&h->out_rl, now);
                h->held[t] = NULL;
                h->n_held--;
                hub_client_send(h->c, m);
                hub_msg_unref(m);
        }
        reschedule(h, now);
}

static void hold(struct hubc *h, unsigned t, struct hub_msg *m, uint64_t now)
{
        if (h->held[t])
                hub_msg_unref(h->held[t]);
        else
                h->n_held++;
        h->held[t] = hub_msg_ref(m);
        reschedule(h, now);
}

void clients_deliver(struct hubc *h, struct hub_msg *m)
{
        if (!h || h->gone)
                return;
        unsigned t = m->topic;
        uint64_t now = hub_fanout_now_ns();
        if (t < HUB_T_MAX && h->topic_rl[t].rate > 0) {
                /* At most `rate` per second of this topic; the latest one waits. */
                if (h->held[t] || !rate_limit_take(&h->topic_rl[t], now)) {
                        hold(h, t, m, now);
                        return;
                }
        }
        if (!rate_limit_take(&h->out_rl, now)) {
                if (t < HUB_T_MAX && (m->flags & HUB_MSG_STATE)) {
                        hold(h, t, m, now);
                        return;
                }
                if (h->dropped++ == 0)
                        log_notice("client %s (%s): over %u events/s, dropping events", h->uuid,
                                   h->ip, hub.opt.max_events);
                return;
        }
        hub_client_send(h->c, m);
}

void clients_drop_held(struct hubc *h, unsigned topic)
{
        if (topic >= HUB_T_MAX || !h->held[topic])
                return;
        hub_msg_unref(h->held[topic]);
        h->held[topic] = NULL;
        h->n_held--;
}

void clients_set_topic_rate(struct hubc *h, unsigned topic, double hz)
{
        if (topic >= HUB_T_MAX)
                return;
        if (hz <= 0) {
                h->topic_rl[topic] = (struct rate_limit){ 0 };
                if (h->held[topic]) {
                        /* Unlimited now: what was waiting goes out at once. */
                        struct hub_msg *m = h->held[topic];
                        h->held[topic] = NULL;
                        h->n_held--;
                        hub_client_send(h->c, m);
                        hub_msg_unref(m);
                }
                return;
        }
        if (h->topic_rl[topic].rate != hz)
                rate_limit_init(&h->topic_rl[topic], hz, 1);
}

/* ---- client events ---- */

static const char *event_name(unsigned topic)
{
        switch (topic) {
        case HUB_T_CLIENT_CONNECTED:
                return "client_connected";
        case HUB_T_CLIENT_DISCONNECTED:
                return "client_disconnected";
        case HUB_T_CLIENT_SYNC:
                return "client_sync";
        default:
                return NULL;
        }
}

void clients_event(unsigned topic, const char *uuid, const char *ip, bool local)
{
        const char *name = event_name(topic);
        /* Not while the lws context is being torn down (hub.lws is cleared first). */
        if (!name || (local && !hub.lws))
                return;
        json_object *o = json_object_new_object();
        if (!o)
                return;
        json_object_object_add(o, "client_id", json_object_new_string(uuid ? uuid : "unknown"));
        if (ip)
                json_object_object_add(o, "client_ip", json_object_new_string(ip));
        uint64_t t0 = mono_ns();
        size_t len;
        const char *s = clients_json_text(o, &len);
        if (!s) {
                json_object_put(o);
                return;
        }
        hub_count_serialization(mono_ns() - t0);
        uint64_t now = real_ns();
        struct hub_event ev = {
                .topic = topic,
                .name = name,
                .ts_ns = now,
                .rec_ts_ns = now,
                .data = o,
                .json = s,
                .json_len = len,
        };
        bool pushed = false;
        for (unsigned d = 0; d < hub_n_dialects; d++) {
                struct hub_msg *m = hub_dialects[d]->render(&ev);
                if (!m)
                        continue;
                m->ts_ns = now;
                atomic_fetch_add_explicit(&hub.stats.frames, 1, memory_order_relaxed);
                if (local) {
                        hub_broadcast(d, m);
                        hub_msg_unref(m);
                } else {
                        hub_handoff_push(d, m);
                        pushed = true;
                }
        }
        if (pushed)
                hub_handoff_kick();
        atomic_fetch_add_explicit(&hub.stats.events, 1, memory_order_relaxed);
        json_object_put(o);
}

/* ---- REST ---- */

static enum MHD_Result rest_respond(struct MHD_Connection *conn, unsigned status, const char *body,
                                    bool auth_header)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (auth_header)
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                        "Bearer realm=\"ringhub\"");
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result rest_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(msg));
        json_object_object_add(o, "code", json_object_new_int((int)status));
        enum MHD_Result r =
            rest_respond(conn, status, clients_json_text(o, NULL), status == MHD_HTTP_UNAUTHORIZED);
        json_object_put(o);
        return r;
}

/* NULL when the request may go on; else the refusal was queued into *ret. */
static bool rest_refused(struct MHD_Connection *conn, const char *method, const char *url,
                         enum auth_role need, enum MHD_Result *ret)
{
        if (!clients_auth_on())
                return false;
        const char *hv = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        const char *tok = hv ? auth_bearer(hv) : NULL;
        struct auth_identity id;
        const char *why = "no bearer token";
        if (tok && verify(tok, &id, &why) == 0) {
                if (id.role >= need)
                        return false;
                log_notice("REST %s %s by '%s' (%s): needs role %s", method, url, id.sub,
                           auth_role_name(id.role), auth_role_name(need));
                *ret = rest_error(conn, MHD_HTTP_FORBIDDEN, "forbidden: role too low");
                return true;
        }
        log_notice("REST %s %s: authentication failed: %s", method, url, why ? why : "refused");
        *ret = rest_error(conn, MHD_HTTP_UNAUTHORIZED, "authentication required");
        return true;
}

static enum MHD_Result clients_list(struct MHD_Connection *conn)
{
        json_object *o = json_object_new_object();
        pthread_mutex_lock(&reg_lock);
        for (struct hubc *h = reg; h; h = h->next)
                json_object_object_add(o, h->uuid, json_object_new_string(h->ip));
        pthread_mutex_unlock(&reg_lock);
        enum MHD_Result r = rest_respond(conn, MHD_HTTP_OK, clients_json_text(o, NULL), false);
        json_object_put(o);
        return r;
}

static enum MHD_Result clients_post(struct MHD_Connection *conn, struct rest_req *q)
{
        if (q->too_big)
                return rest_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        json_object *o = clients_parse_json(q->body, q->len);
        json_object *a, *id;
        if (!o || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return rest_error(conn, MHD_HTTP_BAD_REQUEST, "invalid JSON body");
        }
        if (!json_object_object_get_ex(o, "action", &a) ||
            !json_object_is_type(a, json_type_string)) {
                json_object_put(o);
                return rest_error(conn, MHD_HTTP_BAD_REQUEST, "missing action");
        }
        if (strcmp(json_object_get_string(a), "sync") != 0) {
                json_object_put(o);
                return rest_error(conn, MHD_HTTP_BAD_REQUEST, "unknown action");
        }
        const char *cid = "unknown";
        if (json_object_object_get_ex(o, "client_id", &id) &&
            json_object_is_type(id, json_type_string) && json_object_get_string_len(id) > 0 &&
            json_object_get_string_len(id) <= 64)
                cid = json_object_get_string(id);
        clients_event(HUB_T_CLIENT_SYNC, cid, NULL, false);
        json_object_put(o);
        return rest_respond(conn, MHD_HTTP_OK, "{\"status\":\"success\",\"action\":\"sync\"}",
                            false);
}

bool clients_rest(struct MHD_Connection *conn, const char *url, const char *method,
                  const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret)
{
        if (strcmp(url, "/api/clients") != 0) {
                /* Other paths: only the Authorization check, on the request's last call. */
                if (!clients_auth_on() || !*req_cls || *upload_size ||
                    strcmp(url, "/api/v1/health") == 0)
                        return false;
                return rest_refused(conn, method, url, AUTH_ROLE_VIEWER, ret);
        }
        struct rest_req *q = *req_cls;
        if (!q) {
                q = calloc(1, sizeof(*q));
                if (!q) {
                        *ret = MHD_NO;
                        return true;
                }
                *req_cls = q;
                *ret = MHD_YES;
                return true;
        }
        if (*upload_size) {
                if (q->len + *upload_size > REST_BODY_MAX)
                        q->too_big = true;
                else {
                        memcpy(q->body + q->len, upload, *upload_size);
                        q->len += *upload_size;
                        q->body[q->len] = 0;
                }
                *upload_size = 0;
                *ret = MHD_YES;
                return true;
        }
        atomic_fetch_add_explicit(&hub.stats.http_requests, 1, memory_order_relaxed);
        bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        bool post = strcmp(method, "POST") == 0;
        if (!get && !post) {
                *ret = rest_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
                return true;
        }
        if (rest_refused(conn, method, url, get ? AUTH_ROLE_VIEWER : AUTH_ROLE_OPERATOR, ret))
                return true;
        *ret = get ? clients_list(conn) : clients_post(conn, q);
        return true;
}

void clients_rest_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe)
{
        /* rest.c marks its own requests with (void *)1; everything else is a rest_req. */
        if (*req_cls && *req_cls != (void *)1)
                free(*req_cls);
        *req_cls = NULL;
}
