/*
 * rest.c — REST and /metrics on libmicrohttpd, fed connections by the port gate.
 *
 * Process: ringhub, libmicrohttpd's own epoll thread (MHD_USE_NO_LISTEN_SOCKET: the
 * gate in ws.c owns the port and calls rest_add_connection()). Bodies are the state
 * cache's JSON, serialized once per state change by the reader; a request only takes a
 * reference under state_lock and copies it out. Unknown path → 404 JSON, other methods
 * than GET/HEAD → 405. Must not block on anything but state_lock, never touch the ring
 * cursor or lws.
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

#include "clients.h"
#include "dialect.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "state.h"
#include "util.h"

struct route {
        const char *path; /* under /api/v1/ */
        unsigned type;    /* record type of the topic */
        const char *alt;  /* field also accepted as {id} */
        bool has_id;
};

static const struct route routes[] = {
        { "system", RT_system, NULL, false }, { "array", RT_array, NULL, false },
        { "disks", RT_disk, "name", true },   { "shares", RT_share, NULL, true },
        { "pools", RT_pool, NULL, true },     { "docker", RT_container, "name", true },
        { "vm", RT_vm, "id", true },          { "ups", RT_ups, NULL, false },
        { "gpu", RT_gpu, NULL, true },        { "network", RT_netif, NULL, true },
};

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len, bool close_conn)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
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
        const char *s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
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

/* Collectors from the registry (live heartbeats, so built per request). */
static enum MHD_Result collectors_status(struct MHD_Connection *conn)
{
        struct ring *r = hub.ring;
        uint64_t now = real_ns();
        json_object *a = json_object_new_array();
        unsigned max = MIN(r->hdr->max_producers, RING_MAX_PRODUCERS);
        for (unsigned i = 0; i < max; i++) {
                struct ring_producer *p = &r->producers[i];
                uint32_t st = atomic_load_explicit(&p->state, memory_order_acquire);
                if (st == RING_PRODUCER_FREE)
                        continue;
                char name[RING_NAME_MAX + 1], ts[64];
                memcpy(name, p->name, RING_NAME_MAX);
                name[RING_NAME_MAX] = 0;
                uint64_t hb = atomic_load(&p->heartbeat_ns);
                uint32_t iv = atomic_load(&p->interval_ms);
                bool alive =
                    st == RING_PRODUCER_ACTIVE && ring_producer_alive(r, i) &&
                    (iv == 0 || now < hb || now - hb <= 3ull * iv * NSEC_PER_MSEC + NSEC_PER_SEC);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "name", json_object_new_string(name));
                json_object_object_add(o, "pid", json_object_new_int64(atomic_load(&p->pid)));
                json_object_object_add(o, "alive", json_object_new_boolean(alive));
                json_object_object_add(o, "state",
                                       json_object_new_string(st == RING_PRODUCER_EXITED ? "exited"
                                                              : alive                    ? "running"
                                                                                         : "dead"));
                json_object_object_add(o, "generation",
                                       json_object_new_int64(atomic_load(&p->generation)));
                json_object_object_add(o, "interval_ms", json_object_new_int64(iv));
                json_object_object_add(o, "last_heartbeat",
                                       hb && format_rfc3339_ns(ts, sizeof(ts), hb, false)
                                           ? json_object_new_string(ts)
                                           : NULL);
                json_object_object_add(o, "records_written",
                                       json_object_new_uint64(atomic_load(&p->written)));
                json_object_object_add(o, "records_dropped",
                                       json_object_new_uint64(atomic_load(&p->dropped)));
                json_object_object_add(o, "batches",
                                       json_object_new_uint64(atomic_load(&p->batches)));
                if (st == RING_PRODUCER_EXITED)
                        json_object_object_add(o, "exit_code",
                                               json_object_new_int64(atomic_load(&p->exit_code)));
                json_object_array_add(a, o);
        }
        size_t len;
        const char *s = json_object_to_json_string_length(
            a, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        enum MHD_Result ret = respond(conn, MHD_HTTP_OK, "application/json", s, len, false);
        json_object_put(a);
        return ret;
}

static enum MHD_Result diag(struct MHD_Connection *conn)
{
        struct hub_diag d;
        hub_diag_get(&d);
        json_object *o = hub_diag_json(&d);
        size_t len;
        const char *s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        enum MHD_Result ret = respond(conn, MHD_HTTP_OK, "application/json", s, len, false);
        json_object_put(o);
        return ret;
}

static enum MHD_Result api(struct MHD_Connection *conn, const char *url, const char *sub)
{
        if (strcmp(sub, "health") == 0)
                return respond_json(conn, MHD_HTTP_OK, "{\"status\":\"ok\"}");
        if (strcmp(sub, "collectors/status") == 0)
                return collectors_status(conn);
        if (strcmp(sub, "hub/diag") == 0)
                return diag(conn);
        for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
                const struct route *rt = &routes[i];
                size_t pl = strlen(rt->path);
                if (strncmp(sub, rt->path, pl) != 0 || (sub[pl] != 0 && sub[pl] != '/'))
                        continue;
                const char *id = sub[pl] == '/' ? sub + pl + 1 : NULL;
                if (id && (!rt->has_id || !*id || strchr(id, '/')))
                        break;
                struct hub_body *b = NULL;
                pthread_mutex_lock(&state_lock);
                struct state_topic *t = state_topic(rt->type);
                if (!id)
                        b = hub_body_ref(t ? t->body : NULL);
                else {
                        struct state_entity *e = state_find(t, id, rt->alt);
                        b = e ? hub_body_ref(e->body) : NULL;
                }
                pthread_mutex_unlock(&state_lock);
                if (b)
                        return respond_body(conn, b);
                if (id)
                        return respond_error(conn, MHD_HTTP_NOT_FOUND, "no such entity", url,
                                             false);
                /* Not published yet (the hub is still starting). */
                const struct record_desc *d = schema_record(rt->type);
                return respond_json(conn, MHD_HTTP_OK,
                                    d && d->kind == SK_SINGLE
                                        ? (rt->type == RT_ups ? "{\"connected\":false}" : "{}")
                                        : "[]");
        }
        return respond_error(conn, MHD_HTTP_NOT_FOUND, "not found", url, false);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **req_cls)
{
        /* /api/clients and the Authorization check (clients.c). */
        enum MHD_Result hr;
        if (clients_rest(conn, url, method, upload_data, upload_data_size, req_cls, &hr))
                return hr;
        /* First call per request: headers only. */
        if (!*req_cls) {
                *req_cls = (void *)1;
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
                const char *p = url;
                for (unsigned i = 0; i < hub_n_dialects; i++)
                        if (strcmp(p, hub_dialects[i]->path) == 0)
                                return respond_error(conn, MHD_HTTP_BAD_REQUEST,
                                                     "open a new connection for WebSocket", url,
                                                     true);
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
                enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
                MHD_destroy_response(r);
                return ret;
        }
        for (unsigned i = 0; i < hub_n_dialects; i++)
                if (strcmp(url, hub_dialects[i]->path) == 0)
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
        struct MHD_Daemon *d = MHD_start_daemon(
            MHD_USE_NO_LISTEN_SOCKET | MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC |
                MHD_USE_ERROR_LOG,
            0, NULL, NULL, handler, NULL, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)hub.opt.http_connections, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_NOTIFY_COMPLETED,
            clients_rest_completed, NULL, MHD_OPTION_END);
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
        /* libmicrohttpd owns (and closes) the socket from here on, also on failure. */
        if (MHD_add_connection(d, fd, (struct sockaddr *)&ss, sl) != MHD_YES)
                return -EIO;
        return 0;
}
