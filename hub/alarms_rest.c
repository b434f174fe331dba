/*
 * alarms_rest.c — the alarm routes under /api/v1/alarms (see alarms_rest.h).
 *
 * Process: ringhub, the mhd thread. GET lists (viewer); POST/PUT/DELETE of definitions need
 * admin; POST …/{id}/<action> and …/acknowledge-all need operator. The gate is the
 * commands' one (control_allowed: roles with auth on, [hub] control with auth off); the
 * caller's name goes with each change into the audit line and the event's "user".
 */
#include "alarms_rest.h"

#include <stdlib.h>
#include <string.h>

#include "alarms_hub.h"
#include "control.h"
#include "control_rest.h"
#include "hub.h"
#include "jsonfmt.h"
#include "log.h"
#include "tokens.h"
#include "util.h"

#define ALR_MAGIC    0x414c524du /* "ALRM" */
#define ALR_BODY_MAX 4096
#define PREFIX       "/api/v1/alarms"

struct alr_req {
        uint32_t magic;
        bool too_big;
        size_t len;
        char body[ALR_BODY_MAX + 1];
};

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned status, json_object *o)
{
        size_t len;
        const char *s = o ? jsonfmt_text(o, &len) : NULL;
        if (!s) {
                s = "{\"error\":\"out of memory\"}";
                len = strlen(s);
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
        struct MHD_Response *r =
            MHD_create_response_from_buffer(len, (void *)s, MHD_RESPMEM_MUST_COPY);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        enum MHD_Result ret = MHD_queue_response(conn, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned status, const char *msg)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "success", json_object_new_boolean(0));
        json_object_object_add(o, "error", json_object_new_string(msg));
        json_object_object_add(o, "code", json_object_new_int((int)status));
        enum MHD_Result r = send_json(conn, status, o);
        json_object_put(o);
        return r;
}

static enum MHD_Result send_result(struct MHD_Connection *conn, struct alarms_result res)
{
        if (res.error)
                return send_error(conn, res.http, res.error);
        enum MHD_Result r = send_json(conn, res.http, res.payload);
        json_object_put(res.payload);
        return r;
}

/* Split what follows /api/v1/alarms: "" | "/ID" | "/ID/ACTION". */
static bool split(const char *rest, char *id, size_t id_size, char *action, size_t act_size)
{
        *id = *action = 0;
        if (!*rest)
                return true;
        if (*rest != '/' || !rest[1])
                return false;
        rest++;
        const char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        if (!n || n >= id_size ||
            (slash && (!slash[1] || strlen(slash + 1) >= act_size || strchr(slash + 1, '/'))))
                return false;
        memcpy(id, rest, n);
        id[n] = 0;
        if (slash)
                strcpy(action, slash + 1);
        return true;
}

static enum MHD_Result route(struct MHD_Connection *conn, const char *url, const char *method,
                             struct alr_req *q)
{
        char id[ALARM_ID_MAX + ALARM_NAME_MAX], action[32];
        if (!split(url + strlen(PREFIX), id, sizeof(id), action, sizeof(action)))
                return send_error(conn, MHD_HTTP_NOT_FOUND, "not found");
        bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
        bool post = !strcmp(method, "POST"), put = !strcmp(method, "PUT"),
             del = !strcmp(method, "DELETE");
        bool ack_all = !strcmp(id, "acknowledge-all") && !*action;
        int act = *action ? alarm_action_parse(action) : -1;
        if (*action && act < 0)
                return send_error(conn, MHD_HTTP_NOT_FOUND, "unknown alarm action");
        enum auth_role need;
        if (get && !*action && !ack_all)
                need = AUTH_ROLE_VIEWER;
        else if ((post && (ack_all || act >= 0)))
                need = AUTH_ROLE_OPERATOR;
        else if ((post && !*id) || ((put || del) && *id && !*action && !ack_all))
                need = AUTH_ROLE_ADMIN;
        else
                return send_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");

        char name[96];
        struct control_who who;
        enum MHD_Result ret;
        if (!control_rest_identify(conn, &who, name, sizeof(name), &ret))
                return ret;
        if (!control_allowed(who.role, need)) {
                log_notice("REST %s %s by %s (%s): refused, needs role %s", method, url, who.name,
                           auth_role_name(who.role), auth_role_name(need));
                return send_error(conn, MHD_HTTP_FORBIDDEN,
                                  tokens_auth_on() ? "forbidden: role too low"
                                                   : "forbidden: control is off");
        }
        if (q->too_big)
                return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
        if (need == AUTH_ROLE_VIEWER) {
                json_object *o = *id ? alarms_hub_get(id) : alarms_hub_list();
                if (!o)
                        return send_error(conn, MHD_HTTP_NOT_FOUND, "no such alarm");
                enum MHD_Result r = send_json(conn, MHD_HTTP_OK, o);
                json_object_put(o);
                return r;
        }
        json_object *body = NULL;
        if (q->len) {
                body = jsonfmt_parse(q->body, q->len);
                if (!body || !json_object_is_type(body, json_type_object)) {
                        json_object_put(body);
                        return send_error(conn, MHD_HTTP_BAD_REQUEST,
                                          "the body must be a JSON object");
                }
        }
        struct alarms_result res;
        const struct alarms_actor actor = { .name = who.name, .role = auth_role_name(who.role) };
        if (ack_all)
                res = alarms_hub_ack_all(&actor);
        else if (act >= 0)
                res = alarms_hub_act(id, (enum alarm_action)act, body, &actor);
        else if (post)
                res = alarms_hub_create(body, &actor);
        else if (put)
                res = alarms_hub_update(id, body, &actor);
        else
                res = alarms_hub_delete(id, &actor);
        json_object_put(body);
        return send_result(conn, res);
}

bool alarms_rest(struct MHD_Connection *conn, const char *url, const char *method,
                 const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret)
{
        struct alr_req *q = *req_cls;
        if (!q) {
                if (!startswith(url, PREFIX) || (url[strlen(PREFIX)] && url[strlen(PREFIX)] != '/'))
                        return false;
                q = calloc(1, sizeof(*q));
                if (!q) {
                        *ret = MHD_NO;
                        return true;
                }
                q->magic = ALR_MAGIC;
                *req_cls = q;
                *ret = MHD_YES;
                return true;
        }
        if (q == (void *)1 || q->magic != ALR_MAGIC)
                return false; /* another module's request */
        if (*upload_size) {
                if (!buf_append_bounded(q->body, &q->len, ALR_BODY_MAX, upload, *upload_size))
                        q->too_big = true;
                *upload_size = 0;
                *ret = MHD_YES;
                return true;
        }
        atomic_fetch_add_explicit(&hub.stats.http_requests, 1, memory_order_relaxed);
        *ret = route(conn, url, method, q);
        return true;
}
