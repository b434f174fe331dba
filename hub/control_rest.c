/*
 * control_rest.c — POST control routes, suspended while the command is in flight
 * (see control_rest.h).
 */
#include "control_rest.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "rest_unraid.h"
#include "tokens.h"
#include "util.h"

#define CTL_MAGIC    0x4354524cu /* "CTRL" */
#define CTL_BODY_MAX 1024
#define CTL_PATH_MAX 160

struct ctl_req {
        uint32_t magic;
        pthread_mutex_t lock;
        struct MHD_Connection *conn;
        bool submitted, done, suspended, too_big;
        size_t len;
        unsigned http;
        char area[24], id[CTL_PATH_MAX], action[24];
        char body[CTL_BODY_MAX + 1];
        char reply[768];
};

/* /api/v1/<area>/<id>/<action>, /api/v1/array/<action>, /api/v1/array/parity-check/<a>,
 * /api/v1/tags/<name> (a write; the machines' /command takes its action from the body);
 * the agent's notification routes: POST /notifications (create), POST
 * /notifications/archive/all, DELETE /notifications/<id>. */
static bool parse_path(const char *url, const char *method, struct ctl_req *q)
{
        if (!startswith(url, "/api/v1/"))
                return false;
        char path[CTL_PATH_MAX * 2];
        if (strlen(url) >= sizeof(path))
                return false;
        strcpy(path, url + strlen("/api/v1/"));
        char *seg[4] = { 0 };
        unsigned n = 0;
        for (char *s = path, *save = NULL; n < ELEMENTSOF(seg); s = NULL) {
                char *t = strtok_r(s, "/", &save);
                if (!t)
                        break;
                seg[n++] = t;
        }
        bool del = strcmp(method, "DELETE") == 0;
        bool notif = n >= 1 && strcmp(seg[0], "notifications") == 0;
        if ((n < 2 && !notif) || n > 3 || (del && (!notif || n != 2)))
                return false;
        const char *area = seg[0], *id = NULL, *action;
        if (notif && (n == 1 || del || (n == 3 && strcmp(seg[1], "archive") == 0))) {
                if (n == 3 && strcmp(seg[2], "all") != 0)
                        return false;
                id = del ? seg[1] : NULL;
                action = del ? "delete" : n == 1 ? "create" : "archive-all";
        } else if (strcmp(area, "array") == 0) {
                if (n == 3 && strcmp(seg[1], "parity-check") == 0) {
                        area = "parity-check";
                        action = seg[2];
                } else if (n == 2)
                        action = seg[1];
                else
                        return false;
        } else if (strcmp(area, "tags") == 0 && n == 2) {
                id = seg[1];
                action = "write";
        } else {
                if (n != 3 || !control_area_has_id(area))
                        return false;
                id = seg[1];
                action = seg[2];
        }
        if (strlen(area) >= sizeof(q->area) || strlen(action) >= sizeof(q->action) ||
            (id && strlen(id) >= sizeof(q->id)))
                return false;
        strcpy(q->area, area);
        strcpy(q->action, action);
        strcpy(q->id, id ? id : "");
        return true;
}

static void make_reply(struct ctl_req *q, const struct command_outcome *o)
{
        char ts[40] = "";
        jsonfmt_iso8601(ts, sizeof(ts), real_ns());
        json_object *r = json_object_new_object();
        bool ok = strcmp(o->status, "OK") == 0;
        json_object_object_add(r, "success", json_object_new_boolean(ok));
        json_object_object_add(r, ok ? "message" : "error",
                               json_string_utf8(o->message, strlen(o->message)));
        if (!ok)
                json_object_object_add(r, "code", json_object_new_string(o->status));
        json_object_object_add(r, "timestamp", json_object_new_string(ts));
        if (o->request_id)
                json_object_object_add(r, "request_id", json_object_new_uint64(o->request_id));
        json_object *data = *o->data ? json_tokener_parse(o->data) : NULL;
        if (data)
                json_object_object_add(r, "result", data);
        json_object_object_add(r, "duration_ms", json_double((double)o->duration_us / 1e3));
        json_object_object_add(r, "collector_ms", json_double((double)o->collector_us / 1e3));
        const char *s = jsonfmt_text(r, NULL);
        snprintf(q->reply, sizeof(q->reply), "%s", s);
        if (strlen(s) >= sizeof(q->reply)) /* cannot happen with the record's sizes */
                snprintf(q->reply, sizeof(q->reply), "{\"success\":%s}", ok ? "true" : "false");
        json_object_put(r);
        q->http = commands_http_status(o->status);
}

/* Any thread: the command's outcome. */
static void on_done(const struct command_outcome *o, void *userdata)
{
        struct ctl_req *q = userdata;
        pthread_mutex_lock(&q->lock);
        make_reply(q, o);
        q->done = true;
        if (q->suspended) {
                q->suspended = false;
                MHD_resume_connection(q->conn);
        }
        pthread_mutex_unlock(&q->lock);
}

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body)
{
        struct MHD_Response *r =
            MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        rest_unraid_headers(r);
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                        "Bearer realm=\"ringhub\"");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result fail(struct MHD_Connection *conn, unsigned status, const char *msg)
{
        char buf[256], ts[40] = "";
        jsonfmt_iso8601(ts, sizeof(ts), real_ns());
        snprintf(buf, sizeof(buf), "{\"success\":false,\"error\":\"%s\",\"timestamp\":\"%s\"}", msg,
                 ts);
        return respond(conn, status, buf);
}

bool control_rest_identify(struct MHD_Connection *conn, struct control_who *who, char *name,
                           size_t size, enum MHD_Result *ret)
{
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        char ip[64] = "?";
        if (ci && ci->client_addr) {
                const struct sockaddr *sa = ci->client_addr;
                if (sa->sa_family == AF_INET)
                        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip,
                                  sizeof(ip));
                else if (sa->sa_family == AF_INET6)
                        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
                                  sizeof(ip));
        }
        if (!tokens_auth_on()) {
                snprintf(name, size, "rest %s", ip);
                *who = (struct control_who){ .role = AUTH_ROLE_ADMIN, .name = name };
                return true;
        }
        const char *hv = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
        const char *tok = hv ? auth_bearer(hv) : NULL;
        struct auth_identity id;
        const char *why = "no bearer token";
        if (!tok || tokens_verify(tok, &id, &why) < 0) {
                log_notice("REST control from %s: authentication failed: %s", ip,
                           why ? why : "refused");
                *ret = fail(conn, MHD_HTTP_UNAUTHORIZED, "authentication required");
                return false;
        }
        snprintf(name, size, "%s@%s", id.sub[0] ? id.sub : "token", ip);
        *who = (struct control_who){ .role = id.role, .name = name };
        return true;
}

static json_object *args_of(struct MHD_Connection *conn, struct ctl_req *q, const char **bad)
{
        json_object *args = NULL;
        *bad = NULL;
        if (q->len) {
                args = jsonfmt_parse(q->body, q->len);
                if (!args || !json_object_is_type(args, json_type_object)) {
                        json_object_put(args);
                        *bad = "the body must be a JSON object";
                        return NULL;
                }
        }
        /* ?correcting=true|false (the agent's parity-check flag) joins the body's fields. */
        const char *corr = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "correcting");
        if (corr) {
                if (strcmp(corr, "true") != 0 && strcmp(corr, "false") != 0) {
                        json_object_put(args);
                        *bad = "correcting must be true or false";
                        return NULL;
                }
                if (!args)
                        args = json_object_new_object();
                json_object_object_add(args, "correcting",
                                       json_object_new_boolean(strcmp(corr, "true") == 0));
        }
        return args;
}

bool control_rest(struct MHD_Connection *conn, const char *url, const char *method,
                  const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret)
{
        struct ctl_req *q = *req_cls;
        if (!q) {
                if (strcmp(method, "POST") != 0 && strcmp(method, "DELETE") != 0)
                        return false;
                struct ctl_req probe;
                if (!parse_path(url, method, &probe))
                        return false;
                q = calloc(1, sizeof(*q));
                if (!q) {
                        *ret = MHD_NO;
                        return true;
                }
                q->magic = CTL_MAGIC;
                pthread_mutex_init(&q->lock, NULL);
                q->conn = conn;
                memcpy(q->area, probe.area, sizeof(q->area));
                memcpy(q->id, probe.id, sizeof(q->id));
                memcpy(q->action, probe.action, sizeof(q->action));
                *req_cls = q;
                *ret = MHD_YES;
                return true;
        }
        if (q == (void *)1 || q->magic != CTL_MAGIC)
                return false; /* another module's request */
        if (*upload_size) {
                if (!buf_append_bounded(q->body, &q->len, CTL_BODY_MAX, upload, *upload_size))
                        q->too_big = true;
                *upload_size = 0;
                *ret = MHD_YES;
                return true;
        }

        pthread_mutex_lock(&q->lock);
        bool submitted = q->submitted, done = q->done;
        pthread_mutex_unlock(&q->lock);
        if (done) {
                *ret = respond(conn, q->http, q->reply);
                return true;
        }
        if (submitted) { /* resumed without an answer: cannot happen; never hang */
                *ret = fail(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error");
                return true;
        }
        if (!control_known(q->area, q->action)) {
                *ret = fail(conn, MHD_HTTP_NOT_FOUND, "unknown action");
                return true;
        }
        if (q->too_big) {
                *ret = fail(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
                return true;
        }
        char name[96];
        struct control_who who;
        if (!control_rest_identify(conn, &who, name, sizeof(name), ret))
                return true;
        const char *bad;
        json_object *args = args_of(conn, q, &bad);
        if (bad) {
                *ret = fail(conn, MHD_HTTP_BAD_REQUEST, bad);
                return true;
        }
        /* POST /machines/{id}/command {"action":"move","argument":M}: the body names it. */
        json_object *av;
        if (strcmp(q->area, "machines") == 0 && strcmp(q->action, "command") == 0 && args &&
            json_object_object_get_ex(args, "action", &av)) {
                const char *a = json_object_get_string(av);
                if (!json_object_is_type(av, json_type_string) || !control_known(q->area, a) ||
                    strlen(a) >= sizeof(q->action)) {
                        json_object_put(args);
                        *ret = fail(conn, MHD_HTTP_BAD_REQUEST,
                                    "action must be move, command or estop");
                        return true;
                }
                strcpy(q->action, a);
                json_object_object_del(args, "action");
        }
        /* ?pool=NAME picks the md RAID set or btrfs pool of a parity check (default: the
         * Unraid array or the only pool). */
        const char *pool = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "pool");
        if (pool && strcmp(q->area, "parity-check") == 0 && !q->id[0] &&
            strlen(pool) < sizeof(q->id))
                strcpy(q->id, pool);
        struct control_request req = {
                .area = q->area, .action = q->action, .id = q->id[0] ? q->id : NULL, .args = args
        };
        q->submitted = true;
        control_submit(&req, &who, on_done, q); /* may answer at once, on this thread */
        json_object_put(args);

        pthread_mutex_lock(&q->lock);
        if (q->done) {
                pthread_mutex_unlock(&q->lock);
                *ret = respond(conn, q->http, q->reply);
                return true;
        }
        MHD_suspend_connection(conn);
        q->suspended = true;
        pthread_mutex_unlock(&q->lock);
        *ret = MHD_YES;
        return true;
}
