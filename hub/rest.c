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
 * on every path but /api/v1/health needs a bearer token (tokens.c). Unknown path → 404
 * JSON, other methods than GET/HEAD → 405. The Unraid agent's conventions (CORS and the
 * OPTIONS preflight, 429 per client address, 413 over 1 MB) and the routes built per
 * request are rest_unraid.c's. Must not block on anything but state_lock and
 * the client registry, never touch the ring cursor or lws.
 */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rest.h"
#include "rest_unraid.h"

#include "client.h"
#include "control_rest.h"
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
#include "tls.h"
#include "tokens.h"
#include "util.h"

#define REST_BODY_MAX 4096

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

/* GET /api/v1/<sub>: a topic's state, one of its entities, or a live view. */
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

static enum MHD_Result api(struct MHD_Connection *conn, const char *url, const char *sub)
{
        if (strcmp(sub, "health") == 0)
                return respond_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
        struct rest_sources_reply sr;
        if (rest_sources_get(sub, &sr))
                return sources(conn, &sr);
        json_object *built = rest_unraid_get(sub);
        if (built)
                return respond_object(conn, built);
        if (startswith(sub, "history/"))
                return history(conn, url, sub + strlen("history/"));
        /* The longest route first: "collectors/status" before a one-segment path + id. */
        const struct topic_info *rt = topics_by_rest(sub, strlen(sub));
        const char *id = NULL;
        if (!rt) {
                const char *slash = strchr(sub, '/');
                rt = slash ? topics_by_rest(sub, (size_t)(slash - sub)) : NULL;
                id = slash ? slash + 1 : NULL;
        }
        if (!rt)
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
        if (rt->id == HUB_T_DIAG && !id)
                return diag(conn);
        const struct record_desc *d = schema_record(rt->id);
        if (!d || (id && ((d->kind != SK_LIST && d->kind != SK_KEYED) || !*id || strchr(id, '/'))))
                return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
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
        }
        /* The control routes (POST, suspended while their command is in flight). */
        enum MHD_Result hr;
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
        bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
        bool known = strcmp(url, "/metrics") == 0 || startswith(url, "/api/v1/");
        if (!get && known)
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
        if (dialects_by_path(url, strlen(url), NULL) && !dialects_path_is_alias(url, strlen(url)))
                return respond_error(conn, 426, "WebSocket upgrade required", url, false);
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

int rest_start(struct MHD_Daemon **ret)
{
        struct MHD_Daemon *d =
            MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL_INTERNAL_THREAD |
                                 MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME,
                             0, NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_LIMIT,
                             (unsigned)hub.opt.http_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                             (unsigned)30, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                             MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL, MHD_OPTION_END);
        if (!d)
                return log_error_errno(-EIO, "cannot start libmicrohttpd");
        *ret = d;
        return 0;
}

void rest_stop(struct MHD_Daemon *d)
{
        if (d)
                MHD_stop_daemon(d);
}

int rest_add_connection(struct MHD_Daemon *d, int fd)
{
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0) {
                close(fd);
                return -errno;
        }
        /* A TLS connection's socket pair: the client's own address, for logs and audit. */
        if (ss.ss_family == AF_UNIX)
                (void)tls_peer(fd, &ss, &sl);
        /* libmicrohttpd owns (and closes) the socket from here on, also on failure. */
        if (MHD_add_connection(d, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
                return -EIO;
        return 0;
}
