/*
 * rest.c — REST and /metrics on libmicrohttpd, fed connections by the port gate.
 *
 * Process: ringhub, libmicrohttpd's own epoll thread (MHD_USE_NO_LISTEN_SOCKET: the
 * gate (gate.c) owns the port and calls rest_add_connection()). Paths come from the
 * topics table (topics.def); bodies are the state cache's JSON, serialized once per state
 * change by the reader; a request only takes a reference under state_lock and copies it
 * out (machines and tags, kept entity by entity, are serialized per request). Collectors
 * come from the ring's registry (shm/registry.h). GET/POST /api/clients
 * lists WebSocket clients (client.c) and publishes a client_sync (session.c). With auth
 * on every path but /api/v1/health and the dashboard's (web.c) needs a bearer token
 * (tokens.c). Unknown path → 404
 * JSON (whatever the method), other methods than GET/HEAD on a path that exists → 405.
 * The Unraid agent's conventions (CORS and the OPTIONS preflight, 429 per client address,
 * 413 over 1 MB) and the routes built per request are rest_unraid.c's.
 * Must not block on anything but state_lock and the client registry, never touch the ring
 * cursor or lws.
 *
 * Connection limits are the gate's and ours, never libmicrohttpd's: its own limit is set
 * far above http_connections because an externally added connection refused at that
 * limit (libmicrohttpd 0.9.75) leaves its thread blocked on a mutex it holds, and REST
 * dead for good. rest_add_connection() counts connections in (overall and per client
 * address, addrlimit.c), the close notification counts them out. The watchdog's poke
 * (rest_probe) hands libmicrohttpd one request over a socketpair so its thread beats.
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "rest.h"
#include "rest_unraid.h"

#include "addrlimit.h"
#include "alarms_rest.h"
#include "client.h"
#include "control_rest.h"
#include "dialect.h"
#include "dialects.h"
#include "history.h"
#include "hub.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "metrics.h"
#include "record_json.h"
#include "rest_sources.h"
#include "session.h"
#include "state.h"
#include "tokens.h"
#include "util.h"
#include "web.h"

#define REST_BODY_MAX 4096
/* libmicrohttpd's own connection limit: out of reach (see the top of the file). */
#define REST_MHD_LIMIT (1u << 20)

static struct MHD_Daemon *daemon_;
static atomic_uint conns; /* connections handed to libmicrohttpd and not yet closed */

/* A request to /api/clients (its body), or REQ_PLAIN for every other request. */
struct rest_req {
        size_t len;
        bool too_big;
        char body[REST_BODY_MAX + 1];
};
#define REQ_PLAIN ((void *)1)

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len, bool close_conn)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
        rest_unraid_headers(r);
        if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        if (status == MHD_HTTP_UPGRADE_REQUIRED) /* a WebSocket path asked for in plain HTTP */
                MHD_add_response_header(r, MHD_HTTP_HEADER_UPGRADE, "websocket");
        if (close_conn)
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result respond_json(struct MHD_Connection *conn, unsigned status, const char *s)
{
        return respond(conn, status, "application/json", s, strlen(s), false);
}

static enum MHD_Result respond_error(struct MHD_Connection *conn, unsigned status, const char *msg,
                                     const char *path, bool close_conn)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "error", json_object_new_string(msg));
        json_object_object_add(o, "code", json_object_new_int(status));
        if (path)
                json_object_object_add(o, "path", json_object_new_string(path));
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        enum MHD_Result r = respond(conn, status, "application/json", s, len, close_conn);
        json_object_put(o);
        return r;
}

static enum MHD_Result respond_body(struct MHD_Connection *conn, struct hub_body *b)
{
        enum MHD_Result r = respond(conn, MHD_HTTP_OK, "application/json", b->s, b->len, false);
        hub_body_unref(b);
        return r;
}

/*
 * GET /api/v1/health: "ok", or "degraded" for HEALTH_RING_WINDOW_NS after the hub had to
 * repair an impossible ring state (then with the count and when).
 */
#define HEALTH_RING_WINDOW_NS (300ull * NSEC_PER_SEC)
static enum MHD_Result health(struct MHD_Connection *conn)
{
        uint64_t repairs = atomic_load_explicit(&hub.stats.ring_repairs, memory_order_relaxed);
        if (!repairs)
                return respond_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
        uint64_t at = atomic_load_explicit(&hub.ring_repaired_ns, memory_order_relaxed);
        char ts[64] = "", body[192];
        format_rfc3339_ns(ts, sizeof(ts), at, false);
        snprintf(body, sizeof(body),
                 "{\"status\":\"%s\",\"ring_repairs\":%" PRIu64 ",\"ring_last_repair\":\"%s\"}",
                 real_ns() - at < HEALTH_RING_WINDOW_NS ? "degraded" : "ok", repairs, ts);
        return respond_json(conn, MHD_HTTP_OK, body);
}

static enum MHD_Result diag(struct MHD_Connection *conn)
{
        struct hub_diag d;
        hub_diag_get(&d);
        json_object *o = hub_diag_json(&d);
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        enum MHD_Result ret = respond(conn, MHD_HTTP_OK, "application/json", s, len, false);
        json_object_put(o);
        return ret;
}

/* A KEYED topic (machines, tags): its entities are upserted one by one and kept without a
 * joined body, so the list (or one entity) is serialized here, under state_lock. */
static enum MHD_Result keyed(struct MHD_Connection *conn, const char *url,
                             const struct topic_info *rt, const struct record_desc *d,
                             const char *id)
{
        json_object *o = NULL;
        pthread_mutex_lock(&state_lock);
        struct state_topic *t = state_topic(rt->id);
        if (id) {
                struct state_entity *e = state_find(t, id, rt->rest_alt);
                o = e ? state_entity_json(d, e) : NULL;
        } else {
                o = json_object_new_array();
                for (size_t i = 0; o && t && i < t->n; i++)
                        json_object_array_add(o, state_entity_json(d, t->ents[i]));
        }
        pthread_mutex_unlock(&state_lock);
        if (!o)
                return id ? respond_error(conn, MHD_HTTP_NOT_FOUND, "no such entity", url, false)
                          : respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory",
                                          url, false);
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        enum MHD_Result r =
            s ? respond(conn, MHD_HTTP_OK, "application/json", s, len, false) : MHD_NO;
        json_object_put(o);
        return r;
}

/* GET /api/v1/history/{alarms,events,logs}: what the history keeps, oldest first. */
static enum MHD_Result history(struct MHD_Connection *conn, const char *url, const char *which)
{
        static const char *const names[HISTORY_KINDS] = { "alarms", "events", "logs" };
        for (unsigned k = 0; k < HISTORY_KINDS; k++)
                if (strcmp(which, names[k]) == 0) {
                        size_t len;
                        _cleanup_free_ char *a = history_last_array((enum history_kind)k, 0, &len);
                        return a ? respond(conn, MHD_HTTP_OK, "application/json", a, len, false)
                                 : respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                                 "out of memory", url, false);
                }
        return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
}

/* A route of rest_sources.c: its body, and X-Source-Status (control characters blanked). */
static enum MHD_Result sources(struct MHD_Connection *conn, struct rest_sources_reply *sr)
{
        if (!sr->body)
                return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL,
                                     false);
        struct MHD_Response *r =
            MHD_create_response_from_buffer(sr->len, sr->body, MHD_RESPMEM_MUST_FREE);
        if (!r) {
                free(sr->body);
                return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        rest_unraid_headers(r);
        for (char *p = sr->source_header; *p; p++)
                if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
                        *p = ' ';
        if (sr->source_header[0])
                MHD_add_response_header(r, "X-Source-Status", sr->source_header);
        enum MHD_Result ret = MHD_queue_response(conn, sr->status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result respond_object(struct MHD_Connection *conn, json_object *o)
{
        size_t len;
        const char *s = o ? jsonfmt_text(o, &len) : NULL;
        enum MHD_Result r =
            s ? respond(conn, MHD_HTTP_OK, "application/json", s, len, false)
              : respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL, false);
        json_object_put(o);
        return r;
}

/*
 * The GET route of /api/v1/<sub>: its topic and entity id (NULL: the whole topic).
 * False when no GET route has that shape (health is answered before).
 */
static bool api_route(const char *sub, const struct topic_info **ret_rt, const char **ret_id)
{
        /* The longest route first: "collectors/status" before a one-segment path + id. */
        const struct topic_info *rt = topics_by_rest(sub, strlen(sub));
        const char *id = NULL;
        if (!rt) {
                const char *slash = strchr(sub, '/');
                rt = slash ? topics_by_rest(sub, (size_t)(slash - sub)) : NULL;
                id = slash ? slash + 1 : NULL;
        }
        if (!rt)
                return false;
        *ret_rt = rt;
        *ret_id = id;
        if ((rt->id == HUB_T_COLLECTOR || rt->id == HUB_T_DIAG) && !id)
                return true;
        const struct record_desc *d = schema_record(rt->id);
        return d &&
               (!id || ((d->kind == SK_LIST || d->kind == SK_KEYED) && *id && !strchr(id, '/')));
}

/* A GET route answers this path (a POST there is 405, elsewhere 404). */
static bool api_path_exists(const char *url)
{
        const struct topic_info *rt;
        const char *id;
        if (strcmp(url, "/metrics") == 0)
                return true;
        if (!startswith(url, "/api/v1/"))
                return false;
        url += strlen("/api/v1/");
        if (strcmp(url, "health") == 0 || startswith(url, "history/") || api_route(url, &rt, &id))
                return true;
        /* The routes built per request (built here only to know they exist). */
        struct rest_sources_reply sr;
        if (rest_sources_get(url, &sr)) {
                free(sr.body);
                return true;
        }
        json_object *built = rest_unraid_get(url);
        json_object_put(built);
        return built != NULL;
}

/* GET /api/v1/<sub>: a topic's state, one of its entities, or a live view. */
static enum MHD_Result api(struct MHD_Connection *conn, const char *url, const char *sub)
{
        if (strcmp(sub, "health") == 0)
                return health(conn);
        if (startswith(sub, "history/"))
                return history(conn, url, sub + strlen("history/"));
        struct rest_sources_reply sr;
        if (rest_sources_get(sub, &sr))
                return sources(conn, &sr);
        json_object *built = rest_unraid_get(sub);
        if (built)
                return respond_object(conn, built);
        const struct topic_info *rt;
        const char *id;
        if (!api_route(sub, &rt, &id))
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
        if (rt->id == HUB_T_DIAG && !id)
                return diag(conn);
        const struct record_desc *d = schema_record(rt->id);
        if (d->kind == SK_KEYED)
                return keyed(conn, url, rt, d, id);
        struct hub_body *b = NULL;
        pthread_mutex_lock(&state_lock);
        struct state_topic *t = state_topic(rt->id);
        /* A SINGLE topic no collector wrote: its defaults, with why (below). */
        if (!id) {
                if (t && (t->seen || d->kind != SK_SINGLE))
                        b = hub_body_ref(t->body);
        } else {
                struct state_entity *e = state_find(t, id, rt->rest_alt);
                b = e ? hub_body_ref(e->body) : NULL;
        }
        pthread_mutex_unlock(&state_lock);
        if (b)
                return respond_body(conn, b);
        if (id)
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such entity", url, false);
        /* No collector wrote it (yet): the agent's defaults, and why. */
        if (d->kind == SK_SINGLE)
                return respond_object(
                    conn, rest_unraid_default(rt->id, rt->id == RT_array ? "disks" : d->name));
        return respond_json(conn, MHD_HTTP_OK, "[]");
}

/* ---- /api/clients and the Authorization check ---- */

static enum MHD_Result rest_respond(struct MHD_Connection *conn, unsigned status, const char *body,
                                    bool auth_header)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        rest_unraid_headers(r);
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
            rest_respond(conn, status, jsonfmt_text(o, NULL), status == MHD_HTTP_UNAUTHORIZED);
        json_object_put(o);
        return r;
}

/* false when the request may go on; else the refusal was queued into *ret. */
static bool rest_refused(struct MHD_Connection *conn, const char *method, const char *url,
                         enum auth_role need, enum MHD_Result *ret)
{
        if (!tokens_auth_on())
                return false;
        const char *hv = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        const char *tok = hv ? auth_bearer(hv) : NULL;
        struct auth_identity id;
        const char *why = "no bearer token";
        if (tok && tokens_verify(tok, &id, &why) == 0) {
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

static enum MHD_Result api_clients_list(struct MHD_Connection *conn)
{
        json_object *o = client_list_json();
        if (!o)
                return rest_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        enum MHD_Result r = rest_respond(conn, MHD_HTTP_OK, jsonfmt_text(o, NULL), false);
        json_object_put(o);
        return r;
}

static enum MHD_Result api_clients_post(struct MHD_Connection *conn, struct rest_req *q)
{
        if (q->too_big)
                return rest_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        json_object *o = jsonfmt_parse(q->body, q->len);
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
        session_client_event(HUB_T_CLIENT_SYNC, cid, NULL);
        json_object_put(o);
        return rest_respond(conn, MHD_HTTP_OK, "{\"status\":\"success\",\"action\":\"sync\"}",
                            false);
}

/* /api/clients and the Authorization check: true when it answered (*ret is the result). */
static bool api_clients(struct MHD_Connection *conn, const char *url, const char *method,
                        const char *upload, size_t *upload_size, void **req_cls,
                        enum MHD_Result *ret)
{
        if (strcmp(url, "/api/clients") != 0) {
                /* Other paths: only the Authorization check, on the request's last call. */
                if (!tokens_auth_on() || !*req_cls || *upload_size ||
                    strcmp(url, "/api/v1/health") == 0 || web_path(url))
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
                if (!buf_append_bounded(q->body, &q->len, REST_BODY_MAX, upload, *upload_size))
                        q->too_big = true;
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
        *ret = get ? api_clients_list(conn) : api_clients_post(conn, q);
        return true;
}

static void request_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                              enum MHD_RequestTerminationCode toe)
{
        /* Every request but /api/clients is marked REQ_PLAIN; those are a rest_req. */
        if (*req_cls && *req_cls != REQ_PLAIN)
                free(*req_cls);
        *req_cls = NULL;
}

/* ---- the handler ---- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
        hub_beat(HUB_BEAT_MHD);
        /* Request smuggling: a body framed two ways is refused (RFC 9112 6.3). */
        if (!*req_cls &&
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) &&
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
                return respond_error(conn, MHD_HTTP_BAD_REQUEST,
                                     "both Content-Length and Transfer-Encoding", NULL, true);
        /* The agent's conventions, on a request's first call: CORS preflight, the
         * per-address rate limit, the body limit. */
        if (!*req_cls) {
                if (strcmp(method, "OPTIONS") == 0)
                        return respond(conn, MHD_HTTP_OK, "text/plain", "", 0, false);
                if (rest_unraid_limited(conn)) {
                        atomic_fetch_add_explicit(&hub.stats.http_requests, 1,
                                                  memory_order_relaxed);
                        return respond_error(conn, MHD_HTTP_TOO_MANY_REQUESTS, "too many requests",
                                             url, false);
                }
                const char *cl =
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
                uint64_t n;
                if (cl && safe_atou64(cl, &n) == 0 && n > REST_UNRAID_BODY_MAX)
                        return respond_error(conn, MHD_HTTP_CONTENT_TOO_LARGE,
                                             "request body too large", url, true);
                /* An idle reader drains the ring on its slow tick: what this request
                 * reads must be as fresh as the ring (at most 50 ms of waiting). */
                (void)hub_reader_sync();
        }
        /* The alarm routes (answered at once). */
        enum MHD_Result hr;
        if (alarms_rest(conn, url, method, upload_data, upload_data_size, req_cls, &hr))
                return hr;
        /* The control routes (POST, suspended while their command is in flight). */
        if (control_rest(conn, url, method, upload_data, upload_data_size, req_cls, &hr))
                return hr;
        /* /api/clients and the Authorization check. */
        if (api_clients(conn, url, method, upload_data, upload_data_size, req_cls, &hr))
                return hr;
        /* First call per request: headers only. */
        if (!*req_cls) {
                *req_cls = REQ_PLAIN;
                return MHD_YES;
        }
        if (*upload_data_size) {
                *upload_data_size = 0; /* bodies are ignored */
                return MHD_YES;
        }
        atomic_fetch_add_explicit(&hub.stats.http_requests, 1, memory_order_relaxed);

        const char *up = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Upgrade");
        if (up && strcasestr(up, "websocket")) {
                /* A keep-alive connection cannot move to lws; or an unknown WS path. */
                if (dialects_by_path(url, strlen(url), NULL))
                        return respond_error(conn, MHD_HTTP_BAD_REQUEST,
                                             "open a new connection for WebSocket", url, true);
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "no WebSocket endpoint here", url,
                                     true);
        }
        /* The dashboard (a plain GET /: an upgrade on / went to lws at the gate). */
        if (web_path(url))
                return web_respond(conn, url, method);
        bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        if (!get && api_path_exists(url))
                return respond_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", url,
                                     false);
        if (!get)
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
        if (strcmp(url, "/metrics") == 0) {
                size_t len;
                char *s = metrics_render(&len);
                if (!s)
                        return respond_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory",
                                             url, false);
                struct MHD_Response *r =
                    MHD_create_response_from_buffer(len, s, MHD_RESPMEM_MUST_FREE);
                if (!r) {
                        free(s);
                        return MHD_NO;
                }
                MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        "text/plain; version=0.0.4; charset=utf-8");
                rest_unraid_headers(r);
                enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
                MHD_destroy_response(r);
                return ret;
        }
        const struct dialect *d = dialects_by_path(url, strlen(url), NULL);
        if (d && (d->flags & DIALECT_EIO_POLLING))
                /* Engine.IO polling on a REST keep-alive connection: it cannot move to lws
                 * (eio_poll.c); the client retries on a new one, which the gate routes. */
                return respond_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
                                     "polling needs a new connection", url, true);
        if (d && !dialects_path_is_alias(url, strlen(url)))
                return respond_error(conn, MHD_HTTP_UPGRADE_REQUIRED, "WebSocket upgrade required",
                                     url, false);
        if (startswith(url, "/api/v1/"))
                return api(conn, url, url + strlen("/api/v1/"));
        return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
        char buf[256];
        vsnprintf(buf, sizeof(buf), fmt, ap);
        log_debug("libmicrohttpd: %s", strstrip(buf));
}

/* A connection is gone: count it out (the watchdog's probe, AF_UNIX, was never in). */
static void conn_closed(const struct sockaddr *sa)
{
        if (!sa || sa->sa_family == AF_UNIX)
                return;
        struct addrlimit_key k;
        addrlimit_key_of(sa, &k);
        addrlimit_put(&k, ADDRLIMIT_REST);
        atomic_fetch_sub(&conns, 1);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                              enum MHD_ConnectionNotificationCode code)
{
        if (code != MHD_CONNECTION_NOTIFY_CLOSED)
                return;
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        conn_closed(ci ? ci->client_addr : NULL);
}

/* The watchdog's poke (lws thread): one request over a socketpair; the handler beats. */
static void rest_probe(void)
{
        static int mine = -EBADF;
        static const char req[] = "GET /api/v1/health HTTP/1.1\r\nHost: watchdog\r\n"
                                  "Connection: close\r\n\r\n";
        int sv[2];
        if (mine >= 0)
                close(mine); /* the last probe's end: its answer is not needed */
        mine = -EBADF;
        if (!daemon_ || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
                return;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        if (send(sv[0], req, sizeof(req) - 1, MSG_NOSIGNAL) < 0 ||
            MHD_add_connection(daemon_, sv[1], (struct sockaddr *)&sa, sizeof(sa)) != MHD_YES) {
                close(sv[0]);
                return;
        }
        mine = sv[0];
}

int rest_start(struct MHD_Daemon **ret)
{
        struct MHD_Daemon *d = MHD_start_daemon(
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
                MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
            0, NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_LIMIT, REST_MHD_LIMIT,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
            MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
            notify_connection, NULL, MHD_OPTION_END);
        if (!d)
                return log_error_errno(-EIO, "cannot start libmicrohttpd");
        *ret = daemon_ = d;
        hub_beat_register(HUB_BEAT_MHD, "libmicrohttpd", rest_probe);
        return 0;
}

void rest_stop(struct MHD_Daemon *d)
{
        if (!d)
                return;
        hub_beat_unregister(HUB_BEAT_MHD);
        daemon_ = NULL;
        MHD_stop_daemon(d);
}

int rest_add_connection(struct MHD_Daemon *d, int fd, const struct sockaddr *sa, socklen_t sl)
{
        struct addrlimit_key k;
        addrlimit_key_of(sa, &k);
        /* Over a limit the caller answers 503 itself: libmicrohttpd never sees its limit. */
        if (atomic_fetch_add(&conns, 1) >= hub.opt.http_connections) {
                atomic_fetch_sub(&conns, 1);
                return -EBUSY;
        }
        if (!addrlimit_take(&k, ADDRLIMIT_REST, hub.opt.http_connections_per_address)) {
                atomic_fetch_sub(&conns, 1);
                return -EUSERS;
        }
        /* sa is the client's own address, also for a TLS connection's socket pair (the
         * gate keeps what accept() gave): logs and the audit name the client. */
        /* libmicrohttpd owns (and closes) the socket from here on, also on failure. */
        if (MHD_add_connection(d, fd, sa, sl) != MHD_YES) {
                conn_closed(sa);
                return -EIO;
        }
        return 0;
}

unsigned rest_connections(void)
{
        return atomic_load(&conns);
}
