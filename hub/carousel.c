/*
 * carousel.c — the carousel server's protocol over the PLC machines (see carousel.h).
 *
 * Process: ringhub. Machines come from the state cache (machine records, keyed by id),
 * read under state_lock on the lws thread. Commands go through control_submit() (area
 * "machines": the catalogue, roles and [hub] control decide) to ringhub-collect-plc; the
 * answer arrives on whichever thread delivers it and goes back as pre-framed replies
 * through the hand-off: command_result (or an error in the seed's codes) to the sender,
 * command_executed to every other listed client whose machine filter takes the machine.
 * The status broadcast is one lws timer that runs only while a client subscribed to
 * status updates is connected (an idle hub gets no wake-up); it keeps a 2 s period
 * measured from its own schedule, not from when the previous one ran.
 */
#include "carousel.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "events.h"
#include "fanout.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "registry.h"
#include "state.h"
#include "util.h"
#include "timers.h"

#define BROADCAST_US (2 * LWS_US_PER_SEC)

static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct carousel_sub *subs; /* every native client (subs_lock) */
static struct htimer bcast_tm;
static bool bcast_on;
static lws_usec_t bcast_due;
static atomic_uint estop_seq;

/* ---- machines from the state cache ---- */

static int refuse(struct carousel_err *err, const char *code, const char *text, const char *machine)
{
        *err = (struct carousel_err){ .code = code, .text = text, .machine = machine };
        return -1;
}

static const struct rec_machine *machine_at(const struct state_topic *t, size_t i)
{
        return (const struct rec_machine *)(const void *)t->ents[i]->payload;
}

static json_object *u32_or_null(uint32_t v)
{
        return v == UINT32_MAX ? NULL : json_object_new_int64(v);
}

static const char *bit_text(uint8_t b, const char *on, const char *off)
{
        return b == MISSING_BOOL ? NULL : b ? on : off;
}

/* The seed's status map with its Spanish texts, then the bits the seed leaves out. */
static json_object *status_texts(const struct rec_machine *m)
{
        json_object *o = json_object_new_object();
        const struct {
                const char *key;
                uint8_t bit;
                const char *on, *off;
        } rows[] = {
                { "READY", m->ready, "OK", "No listo" },
                { "RUN", m->running, "En movimiento", "Detenido" },
                { "MODO_OPERACION", m->remote_mode, "Remoto", "Manual" },
                { "ALARMA", m->alarm, "Activada", "Desactivada" },
                { "PARADA_EMERGENCIA", m->emergency_stop, "Activada", "Desactivada" },
                { "FALLA_VARIADOR", m->vfd_error, "Error", "OK" },
                { "ERROR_POSICIONAMIENTO", m->position_error, "Error", "OK" },
                { "SENTIDO_GIRO", m->direction, "Antihorario", "Horario" },
        };
        for (size_t i = 0; o && i < ELEMENTSOF(rows); i++) {
                const char *t = bit_text(rows[i].bit, rows[i].on, rows[i].off);
                if (t)
                        json_object_object_add(o, rows[i].key, json_object_new_string(t));
        }
        return o;
}

/* {status, position, raw_status, connection_status} plus the decoded bits and last command. */
static json_object *machine_status_obj(const struct rec_machine *m)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "status", status_texts(m));
        json_object_object_add(o, "position", u32_or_null(m->position));
        json_object_object_add(o, "raw_status", u32_or_null(m->raw_status));
        json_object_object_add(o, "connection_status",
                               json_object_new_string(m->connection_status[0] ? m->connection_status
                                                                              : "disconnected"));
        json_object_object_add(o, "name", json_string_utf8(m->name, strlen(m->name)));
        if (m->last_command[0]) {
                json_object_object_add(o, "last_command", json_object_new_string(m->last_command));
                json_object_object_add(o, "last_result", json_object_new_string(m->last_result));
        }
        if (m->error[0])
                json_object_object_add(o, "error", json_string_utf8(m->error, strlen(m->error)));
        return o;
}

json_object *carousel_machine_list(void)
{
        json_object *a = json_object_new_array();
        if (!a)
                return NULL;
        pthread_mutex_lock(&state_lock);
        const struct state_topic *t = state_topic(RT_machine);
        for (size_t i = 0; t && i < t->n; i++) {
                const struct rec_machine *m = machine_at(t, i);
                json_object *o = json_object_new_object();
                if (!o)
                        break;
                json_object_object_add(o, "id", json_string_utf8(m->id, strlen(m->id)));
                json_object_object_add(o, "name", json_string_utf8(m->name, strlen(m->name)));
                json_object_object_add(o, "ip", json_string_utf8(m->ip, strlen(m->ip)));
                json_object_object_add(o, "port", u32_or_null(m->port));
                json_object_object_add(o, "type", json_object_new_string(m->type));
                json_object_object_add(o, "connection_status",
                                       json_object_new_string(m->connection_status));
                json_object_array_add(a, o);
        }
        pthread_mutex_unlock(&state_lock);
        return a;
}

static bool machine_known(const char *id)
{
        pthread_mutex_lock(&state_lock);
        bool ok = state_find(state_topic(RT_machine), id, NULL) != NULL;
        pthread_mutex_unlock(&state_lock);
        return ok;
}

static bool sub_takes(const struct carousel_sub *s, const char *machine)
{
        if (!s->n_ids)
                return true;
        for (unsigned i = 0; i < s->n_ids; i++)
                if (strcmp(s->ids[i], machine) == 0)
                        return true;
        return false;
}

/* The status map of the machines s takes (every machine when s is NULL). */
static json_object *status_map_for(const struct carousel_sub *s)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        pthread_mutex_lock(&state_lock);
        const struct state_topic *t = state_topic(RT_machine);
        for (size_t i = 0; t && i < t->n; i++) {
                const struct rec_machine *m = machine_at(t, i);
                if (!s || sub_takes(s, m->id))
                        json_object_object_add(o, m->id, machine_status_obj(m));
        }
        pthread_mutex_unlock(&state_lock);
        return o;
}

json_object *carousel_status_map(void)
{
        return status_map_for(NULL);
}

json_object *carousel_reply_new(const char *type, json_object *req_id)
{
        char ts[40];
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "type", json_object_new_string(type));
        if (jsonfmt_iso8601(ts, sizeof(ts), real_ns()))
                json_object_object_add(o, "timestamp", json_object_new_string(ts));
        if (req_id)
                json_object_object_add(o, "request_id", json_object_get(req_id));
        return o;
}

static json_object *machine_status_reply(const char *id, json_object *req_id)
{
        json_object *st = NULL;
        pthread_mutex_lock(&state_lock);
        const struct state_entity *e = state_find(state_topic(RT_machine), id, NULL);
        if (e)
                st = machine_status_obj((const struct rec_machine *)(const void *)e->payload);
        pthread_mutex_unlock(&state_lock);
        if (!st)
                return NULL;
        json_object *r = carousel_reply_new("machine_status", req_id);
        if (!r) {
                json_object_put(st);
                return NULL;
        }
        json_object_object_add(r, "machine_id", json_string_utf8(id, strlen(id)));
        /* The seed's fields at the top, as it shows them. */
        json_object_object_foreach(st, k, v)
        {
                json_object_object_add(r, k, json_object_get(v));
        }
        json_object_put(st);
        return r;
}

json_object *carousel_get_status(json_object *o, json_object *req_id, struct carousel_err *err)
{
        json_object *mid, *r;
        if (json_object_object_get_ex(o, "machine_id", &mid) &&
            !json_object_is_type(mid, json_type_null)) {
                if (!json_object_is_type(mid, json_type_string)) {
                        refuse(err, "INVALID_MESSAGE_FORMAT", "machine_id must be a string", NULL);
                        return NULL;
                }
                r = machine_status_reply(json_object_get_string(mid), req_id);
                if (!r)
                        refuse(err, "MACHINE_NOT_FOUND", "Machine not found",
                               json_object_get_string(mid));
                return r;
        }
        r = carousel_reply_new("status_broadcast", req_id);
        if (r) {
                json_object_object_add(r, "status", carousel_status_map());
                json_object_object_add(r, "machines", carousel_machine_list());
        } else
                refuse(err, "INVALID_MESSAGE_FORMAT", "out of memory", NULL);
        return r;
}

/* ---- the client list and the status broadcast (lws thread) ---- */

void carousel_open(struct carousel_sub *s, struct hub_client *c)
{
        s->c = c;
        s->id = client_id(c);
        client_dialect(c, &s->di);
        pthread_mutex_lock(&subs_lock);
        s->next = subs;
        subs = s;
        s->listed = true;
        pthread_mutex_unlock(&subs_lock);
}

static bool any_status_sub(void)
{
        for (struct carousel_sub *s = subs; s; s = s->next)
                if (s->status_updates)
                        return true;
        return false;
}

static void bcast_stop_if_idle(void)
{
        if (bcast_on && !any_status_sub()) {
                htimer_cancel(&bcast_tm);
                bcast_on = false;
        }
}

void carousel_close(struct carousel_sub *s)
{
        if (!s->listed)
                return;
        pthread_mutex_lock(&subs_lock);
        for (struct carousel_sub **p = &subs; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        s->listed = false;
        bcast_stop_if_idle();
        pthread_mutex_unlock(&subs_lock);
}

static struct hub_msg *frame_of(json_object *o)
{
        struct hub_msg *m = o ? hub_msg_from_json(0, o) : NULL;
        json_object_put(o);
        return m;
}

static json_object *broadcast_json(const struct carousel_sub *s)
{
        json_object *r = carousel_reply_new("status_broadcast", NULL);
        if (r)
                json_object_object_add(r, "status", status_map_for(s));
        return r;
}

static void bcast_fire(struct htimer *t)
{
        (void)t;
        pthread_mutex_lock(&subs_lock);
        bcast_on = false;
        if (!any_status_sub()) {
                pthread_mutex_unlock(&subs_lock);
                return;
        }
        struct hub_msg *all = NULL;
        for (struct carousel_sub *s = subs; s; s = s->next) {
                if (!s->status_updates || client_closing(s->c))
                        continue;
                if (s->n_ids) {
                        struct hub_msg *m = frame_of(broadcast_json(s));
                        if (m) {
                                fanout_send(s->c, m);
                                hub_msg_unref(m);
                        }
                        continue;
                }
                if (!all)
                        all = frame_of(broadcast_json(NULL));
                if (all)
                        fanout_send(s->c, all);
        }
        hub_msg_unref(all);
        lws_usec_t now = lws_now_usecs();
        bcast_due += BROADCAST_US;
        if (bcast_due <= now)
                bcast_due = now + BROADCAST_US;
        htimer_schedule(&bcast_tm, bcast_fire, bcast_due - now);
        bcast_on = true;
        pthread_mutex_unlock(&subs_lock);
}

bool carousel_subscribe(struct carousel_sub *s, const char *type, json_object *machine_ids)
{
        bool status = strcmp(type, "status_updates") == 0, all = strcmp(type, "all_events") == 0;
        bool cmds = strcmp(type, "command_results") == 0;
        if (!status && !all && !cmds)
                return false;
        pthread_mutex_lock(&subs_lock);
        s->status_updates |= status || all;
        s->command_results |= cmds || all;
        size_t n = machine_ids && json_object_is_type(machine_ids, json_type_array)
                       ? json_object_array_length(machine_ids)
                       : 0;
        s->n_ids = 0;
        for (size_t i = 0; i < n && s->n_ids < CAROUSEL_IDS_MAX; i++) {
                json_object *v = json_object_array_get_idx(machine_ids, i);
                if (json_object_is_type(v, json_type_string))
                        strscpy(s->ids[s->n_ids++], CAROUSEL_ID_LEN, json_object_get_string(v));
        }
        if (s->status_updates && !bcast_on) {
                lws_usec_t now = lws_now_usecs();
                bcast_due = now + BROADCAST_US;
                htimer_schedule(&bcast_tm, bcast_fire, BROADCAST_US);
                bcast_on = true;
        }
        pthread_mutex_unlock(&subs_lock);
        return true;
}

/* ---- commands: any thread for the answers ---- */

static const char *seed_code(const char *status)
{
        if (strcmp(status, "NOT_FOUND") == 0)
                return "MACHINE_NOT_FOUND";
        if (strcmp(status, "TIMEOUT") == 0)
                return "CONNECTION_ERROR";
        if (strcmp(status, "FORBIDDEN") == 0)
                return "WS-001";
        return status; /* BUSY, CONNECTION_ERROR, INVALID_COMMAND, FAILED, CONFLICT */
}

static void push_to(unsigned di, uint64_t client, json_object *o)
{
        struct hub_msg *m = frame_of(o);
        if (m)
                hub_handoff_push_to(di, client, m);
}

struct carousel_cmd {
        uint64_t client;
        unsigned di;
        json_object *req_id;
        int64_t command, argument;
        char machine[CAROUSEL_ID_LEN];
        char client_uuid[JSONFMT_UUID_LEN + 1];
};

static json_object *command_data(const struct carousel_cmd *cc, const struct command_outcome *o)
{
        json_object *d = json_object_new_object();
        if (!d)
                return NULL;
        json_object_object_add(d, "command_sent",
                               cc->command >= 0 ? json_object_new_int64(cc->command) : NULL);
        json_object_object_add(d, "argument",
                               cc->argument >= 0 ? json_object_new_int64(cc->argument) : NULL);
        bool ok = strcmp(o->status, "OK") == 0;
        json_object_object_add(d, "result",
                               ok ? json_object_new_string("Comando ejecutado correctamente")
                                  : json_string_utf8(o->message, strlen(o->message)));
        json_object_object_add(d, "status", json_string_utf8(o->status, strlen(o->status)));
        json_object_object_add(d, "message", json_string_utf8(o->message, strlen(o->message)));
        json_object *res = *o->data ? json_tokener_parse(o->data) : NULL;
        if (res)
                json_object_object_add(d, "machine", res);
        json_object_object_add(d, "request_id", json_object_new_uint64(o->request_id));
        json_object_object_add(d, "duration_ms", json_double((double)o->duration_us / 1e3));
        return d;
}

static void command_done(const struct command_outcome *o, void *userdata)
{
        struct carousel_cmd *cc = userdata;
        bool ok = strcmp(o->status, "OK") == 0;
        json_object *r;
        if (ok) {
                r = carousel_reply_new("command_result", cc->req_id);
                if (r) {
                        json_object_object_add(r, "machine_id",
                                               json_object_new_string(cc->machine));
                        json_object_object_add(r, "success", json_object_new_boolean(true));
                        json_object_object_add(r, "data", command_data(cc, o));
                }
        } else {
                const char *code = seed_code(o->status);
                r = carousel_reply_new("error", cc->req_id);
                if (r) {
                        json_object_object_add(r, "error_code", json_object_new_string(code));
                        json_object_object_add(r, "code", json_object_new_string(code));
                        json_object_object_add(r, "error",
                                               json_string_utf8(o->message, strlen(o->message)));
                        json_object_object_add(r, "description",
                                               json_string_utf8(o->message, strlen(o->message)));
                        json_object_object_add(r, "machine_id",
                                               json_object_new_string(cc->machine));
                        json_object_object_add(r, "success", json_object_new_boolean(false));
                        json_object_object_add(r, "data", command_data(cc, o));
                }
        }
        push_to(cc->di, cc->client, r);
        if (ok) {
                /* The others learn of it: one frame, a reference per client. */
                json_object *e = carousel_reply_new("command_executed", NULL);
                if (e) {
                        json_object_object_add(e, "machine_id",
                                               json_object_new_string(cc->machine));
                        json_object_object_add(e, "success", json_object_new_boolean(true));
                        json_object_object_add(e, "client_id",
                                               json_object_new_string(cc->client_uuid));
                        json_object_object_add(e, "data", command_data(cc, o));
                }
                struct hub_msg *m = frame_of(e);
                pthread_mutex_lock(&subs_lock);
                for (struct carousel_sub *s = subs; m && s; s = s->next)
                        if (s->id != cc->client && sub_takes(s, cc->machine))
                                hub_handoff_push_to(s->di, s->id, hub_msg_ref(m));
                pthread_mutex_unlock(&subs_lock);
                hub_msg_unref(m);
        }
        json_object_put(cc->req_id);
        free(cc);
}

static void who_of(const struct hub_client *c, struct control_who *who, char *name, size_t size)
{
        snprintf(name, size, "%s@%s", client_sub(c)[0] ? client_sub(c) : "ws", client_ip(c));
        *who = (struct control_who){ .role = client_role(c), .name = name };
}

static void submit_command(struct carousel_sub *s, const char *machine, const char *action,
                           int64_t command_sent, int64_t argument, json_object *req_id)
{
        struct carousel_cmd *cc = calloc(1, sizeof(*cc));
        if (!cc)
                return;
        cc->client = s->id;
        cc->di = s->di;
        cc->req_id = req_id ? json_object_get(req_id) : NULL;
        cc->command = command_sent;
        cc->argument = argument;
        strscpy(cc->machine, sizeof(cc->machine), machine);
        strscpy(cc->client_uuid, sizeof(cc->client_uuid), client_uuid(s->c));
        json_object *args = json_object_new_object();
        if (strcmp(action, "command") == 0 && command_sent >= 0)
                json_object_object_add(args, "command", json_object_new_int64(command_sent));
        if (argument >= 0)
                json_object_object_add(args, "argument", json_object_new_int64(argument));
        char name[96];
        struct control_who who;
        who_of(s->c, &who, name, sizeof(name));
        struct control_request req = {
                .area = "machines", .action = action, .id = machine, .args = args
        };
        control_submit(&req, &who, command_done, cc);
        json_object_put(args);
}

static bool small_uint(json_object *v, int64_t *ret)
{
        if (!v || !json_object_is_type(v, json_type_int))
                return false;
        int64_t x = json_object_get_int64(v);
        if (x < 0 || x > 255)
                return false;
        *ret = x;
        return true;
}

int carousel_send_command(struct carousel_sub *s, json_object *o, json_object *req_id,
                          struct carousel_err *err)
{
        json_object *mid, *cmd, *arg = NULL;
        if (!json_object_object_get_ex(o, "machine_id", &mid) ||
            !json_object_is_type(mid, json_type_string))
                return refuse(err, "INVALID_MESSAGE_FORMAT", "missing field: machine_id", NULL);
        const char *machine = json_object_get_string(mid);
        if (!json_object_object_get_ex(o, "command", &cmd))
                return refuse(err, "INVALID_MESSAGE_FORMAT", "missing field: command", machine);
        /* The seed's nested {"command":{"command":1,"argument":25}} or flat fields. */
        if (json_object_is_type(cmd, json_type_object)) {
                json_object *inner;
                json_object_object_get_ex(cmd, "argument", &arg);
                cmd = json_object_object_get_ex(cmd, "command", &inner) ? inner : NULL;
        } else
                json_object_object_get_ex(o, "argument", &arg);
        int64_t cv = -1, av = -1;
        bool named = cmd && json_object_is_type(cmd, json_type_string) &&
                     json_object_get_string_len(cmd) > 0 && json_object_get_string_len(cmd) <= 32;
        bool has_arg = arg && !json_object_is_type(arg, json_type_null);
        if ((!named && !small_uint(cmd, &cv)) || (has_arg && !small_uint(arg, &av)))
                return refuse(err, "INVALID_COMMAND",
                              "command must be 0-255 or a name, argument 0-255", machine);
        if (!machine_known(machine))
                return refuse(err, "MACHINE_NOT_FOUND", "Machine not found", machine);
        /* Named: move (argument = position) or status (command 0); numbered: the byte. */
        const char *action = "command";
        if (named) {
                const char *nm = json_object_get_string(cmd);
                if (strcmp(nm, "move") == 0) {
                        action = "move";
                        cv = 1;
                } else if (strcmp(nm, "status") == 0)
                        cv = 0;
                else
                        return refuse(err, "INVALID_COMMAND", "unknown command name (move, status)",
                                      machine);
        }
        if (strcmp(action, "move") == 0 && !has_arg)
                return refuse(err, "INVALID_COMMAND", "move needs an argument 0-255", machine);
        submit_command(s, machine, action, cv, has_arg ? av : -1, req_id);
        return 0;
}

/* ---- emergency stop ---- */

struct estop_ctx {
        uint64_t client;
        unsigned di;
        json_object *req_id;
        char id[24];
        char reason[128];
        char client_uuid[JSONFMT_UUID_LEN + 1];
};

static bool plc_running(void)
{
        int idx = hub.ring ? registry_find(hub.ring, "plc") : -1;
        struct registry_entry e;
        return idx >= 0 && registry_get(hub.ring, (unsigned)idx, real_ns(), &e) && e.alive;
}

/* The event and the reply; o is NULL when no plc collector runs (nothing to stop). */
static void estop_finish(struct estop_ctx *x, const struct command_outcome *o)
{
        int64_t stopped = 0;
        json_object *failed = json_object_new_array();
        json_object *res = o && *o->data ? json_tokener_parse(o->data) : NULL, *v;
        if (res && json_object_object_get_ex(res, "stopped", &v) &&
            json_object_is_type(v, json_type_int))
                stopped = json_object_get_int64(v);
        if (res && json_object_object_get_ex(res, "failed", &v) &&
            json_object_is_type(v, json_type_array)) {
                json_object_put(failed);
                failed = json_object_get(v);
        }
        int64_t affected = stopped + (int64_t)json_object_array_length(failed);
        const char *status = o ? o->status : "OK";
        const char *msg = o ? o->message : "no PLC collector: no machine to stop";
        json_object *d = json_object_new_object();
        json_object_object_add(d, "estop_id", json_object_new_string(x->id));
        json_object_object_add(d, "trigger_type", json_object_new_string("remote"));
        json_object_object_add(d, "position", NULL);
        json_object_object_add(d, "emergency_level", json_object_new_string("critical"));
        json_object_object_add(d, "auto_recovery", json_object_new_boolean(false));
        json_object_object_add(d, "reason", json_string_utf8(x->reason, strlen(x->reason)));
        json_object_object_add(d, "client_id", json_object_new_string(x->client_uuid));
        json_object_object_add(d, "machines_affected", json_object_new_int64(affected));
        json_object_object_add(d, "machines_stopped", json_object_new_int64(stopped));
        json_object_object_add(d, "machines_failed", json_object_get(failed));
        json_object_object_add(d, "status", json_object_new_string(status));
        json_object_object_add(d, "message", json_string_utf8(msg, strlen(msg)));
        /* To every dialect that carries it, through the one publish path. */
        (void)events_publish_json(HUB_T_ESTOP, false, d, 0);
        json_object_put(d);
        json_object *r = carousel_reply_new("command_result", x->req_id);
        if (r) {
                bool ok = strcmp(status, "OK") == 0;
                json_object_object_add(r, "success", json_object_new_boolean(ok));
                if (!ok)
                        json_object_object_add(r, "error_code",
                                               json_object_new_string(seed_code(status)));
                json_object *rd = json_object_new_object();
                json_object_object_add(rd, "command", json_object_new_string("emergency_stop"));
                json_object_object_add(rd, "estop_id", json_object_new_string(x->id));
                json_object_object_add(rd, "machines_affected", json_object_new_int64(affected));
                json_object_object_add(rd, "machines_stopped", json_object_new_int64(stopped));
                json_object_object_add(rd, "machines_failed", json_object_get(failed));
                json_object_object_add(rd, "status", json_object_new_string(status));
                json_object_object_add(rd, "message", json_string_utf8(msg, strlen(msg)));
                json_object_object_add(r, "data", rd);
        }
        push_to(x->di, x->client, r);
        json_object_put(failed);
        json_object_put(res);
        json_object_put(x->req_id);
        free(x);
}

static void estop_done(const struct command_outcome *o, void *userdata)
{
        estop_finish(userdata, o);
}

void carousel_estop(struct carousel_sub *s, const char *reason, json_object *req_id)
{
        struct estop_ctx *x = calloc(1, sizeof(*x));
        if (!x)
                return;
        x->client = s->id;
        x->di = s->di;
        x->req_id = req_id ? json_object_get(req_id) : NULL;
        snprintf(x->id, sizeof(x->id), "estop-%03u", atomic_fetch_add(&estop_seq, 1) + 1);
        strscpy(x->reason, sizeof(x->reason), reason);
        strscpy(x->client_uuid, sizeof(x->client_uuid), client_uuid(s->c));
        log_warning("emergency stop %s requested by client %s (%s): %.80s", x->id,
                    client_uuid(s->c), client_sub(s->c)[0] ? client_sub(s->c) : "anonymous",
                    reason);
        if (!plc_running()) {
                estop_finish(x, NULL);
                return;
        }
        char name[96];
        struct control_who who;
        who_of(s->c, &who, name, sizeof(name));
        struct control_request req = { .area = "machines", .action = "estop-all" };
        control_submit(&req, &who, estop_done, x);
}

/* ---- machines as modules ---- */

static const char *machine_module_status(const char *conn, const char *err)
{
        if (strcmp(conn, "connected") == 0)
                return "online";
        return *err && strcmp(conn, "disconnected") == 0 ? "error" : "offline";
}

/* PLC machines are modules too: the status last announced per machine (reader thread). */
#define MACHINES_SEEN_MAX 256
static struct {
        char id[32];
        char status[16];
} mseen[MACHINES_SEEN_MAX];
static size_t n_mseen;

static const char *str_field(json_object *o, const char *k)
{
        json_object *v;
        return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : "";
}

static json_object *discovered_data(json_object *d, const char *status)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        char addr[80];
        snprintf(addr, sizeof(addr), "%s:%s", str_field(d, "ip"),
                 json_object_get_string(json_object_object_get(d, "port")));
        json_object_object_add(o, "module_id", json_object_new_string(str_field(d, "id")));
        json_object_object_add(o, "module_type", json_object_new_string("plc_machine"));
        json_object_object_add(o, "address", json_object_new_string(addr));
        json_object_object_add(o, "firmware_version", json_object_new_string(str_field(d, "type")));
        json_object_object_add(o, "status", json_object_new_string(status));
        return o;
}

json_object *carousel_module_event(json_object *d, bool *ret_discovered)
{
        const char *id = str_field(d, "id"), *err = str_field(d, "error");
        const char *st = machine_module_status(str_field(d, "connection_status"), err);
        size_t i = 0;
        while (i < n_mseen && strcmp(mseen[i].id, id) != 0)
                i++;
        bool discovered = i == n_mseen;
        if (!*id || (!discovered && strcmp(mseen[i].status, st) == 0) ||
            (discovered && n_mseen == MACHINES_SEEN_MAX))
                return NULL;
        json_object *o;
        if (discovered) {
                o = discovered_data(d, st);
                strscpy(mseen[n_mseen].id, sizeof(mseen[0].id), id);
                n_mseen++;
        } else {
                bool bad = strcmp(st, "online") != 0;
                o = json_object_new_object();
                if (!o)
                        return NULL;
                json_object_object_add(o, "module_id", json_object_new_string(id));
                json_object_object_add(o, "old_status", json_object_new_string(mseen[i].status));
                json_object_object_add(o, "new_status", json_object_new_string(st));
                json_object_object_add(o, "error_code",
                                       json_object_new_string(bad ? "MOD-001" : ""));
                json_object_object_add(
                    o, "error_description",
                    json_object_new_string(bad ? (*err ? err : "not connected") : ""));
                json_object_object_add(o, "module_type", json_object_new_string("plc_machine"));
        }
        if (!o)
                return NULL;
        strscpy(mseen[i].status, sizeof(mseen[0].status), st);
        json_object_object_add(o, "machine", json_object_get(d));
        *ret_discovered = discovered;
        return o;
}

json_object *carousel_module_list(void)
{
        json_object *ms = carousel_machine_list(), *a = json_object_new_array();
        for (size_t i = 0; ms && a && i < json_object_array_length(ms); i++) {
                json_object *x = json_object_array_get_idx(ms, i);
                json_object *o = discovered_data(
                    x, machine_module_status(str_field(x, "connection_status"), ""));
                if (o)
                        json_object_array_add(a, o);
        }
        json_object_put(ms);
        return a;
}
