/*
 * dialect_sio.c — Socket.IO v4 (Engine.IO 4) on /socket.io/, speaking PyAutomation's
 * events.
 *
 * Process: ringhub. Over a WebSocket, or Engine.IO's long-polling transport with its
 * upgrade (eio_poll.c). Per session: the open packet (sid, upgrades, pingInterval,
 * pingTimeout, maxPayload), namespace "/" connect with optional auth {"token"} answered
 * by 40{"sid"} or refused with 44{"message"}, then on_connection (the snapshot) and the
 * state as events. The server pings every pingInterval and closes after pingTimeout
 * without a pong; client emits with an ack id get 43<id>[…]. Events are rendered once
 * on the reader thread as 42["name",data] around the canonical JSON: the NAS topics
 * under their Unraid names, on.tag (PyAutomation's tag shape, rolling buffers of 10,
 * timestamps "%m/%d/%Y, %H:%M:%S.%f" local, PyAutomation's data_type words), PLC machines
 * as on.machine / on.machine.property, on.opcua.connected/disconnected, and every
 * topic marked TC_SIO in topics.def under its event name (client events, safety_estop,
 * config_updated). Authenticates in band (the connect packet's auth) and keeps tag history
 * for on_connection (DIALECT_RENDER_ALWAYS). Packet parsing is sio.c's. See
 * docs/wire-socketio.md. No per-client encoding of events.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alarms_hub.h"
#include "client.h"
#include "dialect.h"
#include "events.h"
#include "eio_poll.h"
#include "fanout.h"
#include "history.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "session.h"
#include "sio.h"
#include "tokens.h"
#include "util.h"
#include "timers.h"

#define TAG_HISTORY 10
#define TAGS_MAX    4096

/* A topic carried as a plain Socket.IO event (tags and OPC UA connections have
 * PyAutomation's own events): its row, or NULL. */
static const struct topic_info *plain_topic(unsigned topic)
{
        const struct topic_info *t = topics_get(topic);
        return t && (t->carry & TC_SIO) && t->event ? t : NULL;
}

struct sio_client {
        struct hub_client *c;
        bool connected; /* namespace "/" joined */
        bool awaiting_pong;
        char sid[24];
        struct htimer ping_tm;
};

/* ---- tags: history per tag (reader thread) and their JSON for on_connection ---- */

struct tag_hist {
        char name[64];
        unsigned n;
        json_object *values[TAG_HISTORY]; /* newest first */
        char ts[TAG_HISTORY][40];
        char *json; /* the latest on.tag data, for on_connection (under tags_lock) */
        size_t json_len;
        json_object *obj; /* the same as an object: a machine's process variable */
        char endpoint[96];
};

/* PLC machines (machine records): the last record, for on.machine.property, and the latest
 * on.machine text for on_connection (under tags_lock). */
struct machine_hist {
        char id[32];
        json_object *last;
        uint64_t last_ns, interval_ns;
        char *json;
        size_t json_len;
};
#define MACHINES_MAX 256
static struct machine_hist machines[MACHINES_MAX];
static size_t n_machines;

static pthread_mutex_t tags_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tag_hist *tags;
static size_t n_tags, cap_tags;

static void sio_tags_free(void) __attribute__((destructor));
static void sio_tags_free(void)
{
        pthread_mutex_lock(&tags_lock);
        for (size_t i = 0; i < n_tags; i++) {
                for (unsigned k = 0; k < tags[i].n; k++)
                        json_object_put(tags[i].values[k]);
                free(tags[i].json);
                json_object_put(tags[i].obj);
        }
        free(tags);
        tags = NULL;
        n_tags = cap_tags = 0;
        for (size_t i = 0; i < n_machines; i++) {
                json_object_put(machines[i].last);
                free(machines[i].json);
        }
        n_machines = 0;
        pthread_mutex_unlock(&tags_lock);
}

static struct tag_hist *tag_find(const char *name)
{
        for (size_t i = 0; i < n_tags; i++)
                if (strcmp(tags[i].name, name) == 0)
                        return &tags[i];
        if (n_tags >= TAGS_MAX)
                return NULL;
        if (n_tags == cap_tags) {
                size_t cap = cap_tags ? cap_tags * 2 : 32;
                struct tag_hist *a = realloc(tags, cap * sizeof(*a));
                if (!a)
                        return NULL;
                tags = a;
                cap_tags = cap;
        }
        struct tag_hist *t = &tags[n_tags++];
        *t = (struct tag_hist){ 0 };
        strscpy(t->name, sizeof(t->name), name);
        return t;
}

static const char *str_of(json_object *o, const char *k)
{
        json_object *v;
        return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : "";
}

/* The tag's value in its own type: number, boolean or string (null when missing). */
static json_object *tag_value(json_object *d)
{
        json_object *v;
        static const char *const keys[] = { "value_bool", "value_int", "value", "value_string" };
        const char *dt = str_of(d, "data_type");
        size_t first = strcasecmp(dt, "Boolean") == 0                                      ? 0
                       : strncasecmp(dt, "Int", 3) == 0 || strncasecmp(dt, "UInt", 4) == 0 ? 1
                                                                                           : 2;
        for (size_t i = first; i < ELEMENTSOF(keys); i++)
                if (json_object_object_get_ex(d, keys[i], &v) &&
                    !json_object_is_type(v, json_type_null))
                        return json_object_get(v);
        for (size_t i = 0; i < first; i++)
                if (json_object_object_get_ex(d, keys[i], &v) &&
                    !json_object_is_type(v, json_type_null))
                        return json_object_get(v);
        return NULL;
}

/* PyAutomation's data_type words for the record's (OPC UA / PLC) type names. */
static const char *seed_type(const char *dt)
{
        if (!*dt)
                return "";
        if (strcasecmp(dt, "Boolean") == 0 || strcasecmp(dt, "bool") == 0)
                return "bool";
        if (strncasecmp(dt, "Int", 3) == 0 || strncasecmp(dt, "UInt", 4) == 0 ||
            strncasecmp(dt, "Byte", 4) == 0 || strncasecmp(dt, "SByte", 5) == 0)
                return "int";
        if (strncasecmp(dt, "String", 6) == 0 || strcasecmp(dt, "LocalizedText") == 0)
                return "str";
        return "float";
}

static uint32_t fnv1a(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 16777619u;
        return h;
}

static struct hub_msg *msg_event(const struct hub_event *ev, const char *name, uint16_t flags,
                                 const char *data, size_t len)
{
        const char *parts[] = { "42[\"", name, "\",", data, "]" };
        const size_t lens[] = { 4, strlen(name), 2, len, 1 };
        return hub_msg_new((uint16_t)ev->topic, flags, parts, lens, ELEMENTSOF(parts));
}

static struct hub_msg *render_tag(const struct hub_event *ev)
{
        json_object *d = events_data(ev);
        const char *name = str_of(d, "name");
        if (!*name)
                return NULL;
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        char ts[96], id[16]; /* room for any int the format could print */
        jsonfmt_pyauto_time(ts, sizeof(ts), ev->rec_ts_ns ? ev->rec_ts_ns : ev->ts_ns);
        snprintf(id, sizeof(id), "%08" PRIx32, fnv1a(name));
        json_object *value = tag_value(d);
        json_object *values = json_object_new_array(), *stamps = json_object_new_array();
        struct hub_msg *m = NULL;
        pthread_mutex_lock(&tags_lock);
        struct tag_hist *t = tag_find(name);
        if (t) {
                if (t->n == TAG_HISTORY)
                        json_object_put(t->values[--t->n]);
                memmove(&t->values[1], &t->values[0], t->n * sizeof(t->values[0]));
                memmove(&t->ts[1], &t->ts[0], t->n * sizeof(t->ts[0]));
                t->values[0] = json_object_get(value);
                strscpy(t->ts[0], sizeof(t->ts[0]), ts);
                t->n++;
                for (unsigned k = 0; k < t->n; k++) {
                        json_object_array_add(values, json_object_get(t->values[k]));
                        json_object_array_add(stamps, json_object_new_string(t->ts[k]));
                }
        }
        const char *unit = str_of(d, "unit");
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "value", value);
        json_object_object_add(o, "timestamp", json_object_new_string(ts));
        json_object_object_add(o, "values", values);
        json_object_object_add(o, "timestamps", stamps);
        json_object_object_add(o, "unit", json_object_new_string(unit));
        json_object_object_add(o, "display_unit", json_object_new_string(unit));
        json_object_object_add(o, "data_type",
                               json_object_new_string(seed_type(str_of(d, "data_type"))));
        json_object_object_add(o, "source_data_type",
                               json_object_new_string(str_of(d, "data_type")));
        json_object_object_add(o, "variable", json_object_new_string(""));
        json_object_object_add(o, "description", json_object_new_string(str_of(d, "description")));
        json_object_object_add(o, "display_name", json_object_new_string(name));
        json_object_object_add(o, "opcua_address", json_object_new_string(str_of(d, "endpoint")));
        json_object_object_add(o, "node_namespace", json_object_new_string(str_of(d, "node_id")));
        json_object *sv;
        json_object_object_add(
            o, "scan_time",
            json_object_new_int64(
                json_object_object_get_ex(d, "scan_time_ms", &sv) ? json_object_get_int64(sv) : 0));
        json_object_object_add(o, "dead_band",
                               json_double(json_object_object_get_ex(d, "dead_band", &sv)
                                               ? json_object_get_double(sv)
                                               : 0.0));
        json_object_object_add(o, "segment", json_object_new_string(""));
        json_object_object_add(o, "manufacturer", json_object_new_string(""));
        static const char *const flags[] = { "process_filter", "gaussian_filter",
                                             "out_of_range_detection", "frozen_data_detection",
                                             "outlier_detection" };
        for (size_t i = 0; i < ELEMENTSOF(flags); i++)
                json_object_object_add(o, flags[i], json_object_new_boolean(false));
        json_object_object_add(o, "quality", json_object_new_string(str_of(d, "quality")));
        uint64_t t0 = mono_ns();
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        hub_count_serialization(mono_ns() - t0);
        if (s) {
                m = msg_event(ev, "on.tag", 0, s, len);
                if (t) {
                        char *copy = strndup(s, len);
                        if (copy) {
                                free(t->json);
                                t->json = copy;
                                t->json_len = len;
                        }
                        json_object_put(t->obj);
                        t->obj = json_object_get(o);
                        strscpy(t->endpoint, sizeof(t->endpoint), str_of(d, "endpoint"));
                }
        }
        pthread_mutex_unlock(&tags_lock);
        json_object_put(o);
        return m;
}

static struct hub_msg *render_opcua(const struct hub_event *ev)
{
        json_object *d = events_data(ev), *v;
        bool up = json_object_object_get_ex(d, "connected", &v) &&
                  json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
        const char *ep = str_of(d, "endpoint");
        char msg[320];
        snprintf(msg, sizeof(msg), "%s %s", up ? "Connected to" : "Disconnected from", ep);
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "message", json_object_new_string(msg));
        json_object_object_foreach(d, k, val)
        {
                if (strcmp(k, "message") != 0)
                        json_object_object_add(o, k, json_object_get(val));
        }
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        struct hub_msg *m =
            s ? msg_event(ev, up ? "on.opcua.connected" : "on.opcua.disconnected", 0, s, len)
              : NULL;
        json_object_put(o);
        return m;
}

/* ---- PLC machines: on.machine, on.machine.property (reader thread) ---- */

/* The machine record's fields a client sees as process variables and properties. */
static const char *const machine_props[] = {
        "connection_status", "connected",      "raw_status",  "ready",
        "running",           "remote_mode",    "alarm",       "emergency_stop",
        "vfd_error",         "position_error", "direction",   "position",
        "last_command",      "last_argument",  "last_result", "error",
};

static bool flag_of(json_object *d, const char *k)
{
        json_object *v;
        return json_object_object_get_ex(d, k, &v) && json_object_is_type(v, json_type_boolean) &&
               json_object_get_boolean(v);
}

/* The state machine's state and what may be asked of it from there. */
static const char *machine_state(json_object *d, json_object *actions)
{
        static const char *const idle[] = { "move", "command", "estop" };
        if (!flag_of(d, "connected"))
                return strcmp(str_of(d, "connection_status"), "connecting") == 0 ? "Start"
                                                                                 : "Disconnected";
        if (flag_of(d, "emergency_stop"))
                return "EmergencyStop";
        json_object_array_add(actions, json_object_new_string("estop"));
        if (flag_of(d, "alarm") || flag_of(d, "vfd_error") || flag_of(d, "position_error"))
                return "Alarm";
        if (flag_of(d, "running"))
                return "Run";
        json_object_array_del_idx(actions, 0, 1);
        for (size_t i = 0; i < ELEMENTSOF(idle); i++)
                json_object_array_add(actions, json_object_new_string(idle[i]));
        return flag_of(d, "ready") ? "Wait" : "Start";
}

static const char *value_type(json_object *v)
{
        return json_object_is_type(v, json_type_boolean)  ? "bool"
               : json_object_is_type(v, json_type_int)    ? "int"
               : json_object_is_type(v, json_type_double) ? "float"
                                                          : "str";
}

static json_object *process_variable(json_object *tag, json_object *value, bool read_only)
{
        json_object *pv = json_object_new_object();
        json_object_object_add(pv, "tag", tag);
        json_object_object_add(pv, "value", json_object_get(value));
        json_object_object_add(pv, "read_only", json_object_new_boolean(read_only));
        return pv;
}

/* PyAutomation's Machine: its own fields, then every record field and every tag on the
 * machine's Modbus device (endpoint modbus://ip:port/…) as a process variable. */
static json_object *machine_json(json_object *d, uint64_t interval_ns)
{
        const char *id = str_of(d, "id"), *name = str_of(d, "name");
        json_object *o = json_object_new_object(), *actions = json_object_new_array();
        char desc[160], pfx[96];
        json_object_object_add(o, "state", json_object_new_string(machine_state(d, actions)));
        json_object_object_add(o, "actions", actions);
        json_object_object_add(o, "manufacturer", json_object_new_string(""));
        json_object_object_add(o, "segment", json_object_new_string(""));
        json_object_object_add(o, "name", json_object_new_string(*name ? name : id));
        json_object_object_add(o, "identifier", json_object_new_string(id));
        snprintf(desc, sizeof(desc), "%s machine at %s:%s", str_of(d, "type"), str_of(d, "ip"),
                 json_object_get_string(json_object_object_get(d, "port")));
        json_object_object_add(o, "description", json_object_new_string(desc));
        json_object_object_add(o, "classification", json_object_new_string("PLC"));
        double interval = interval_ns ? (double)(interval_ns / 1000000) / 1e3 : 1.0;
        json_object_object_add(o, "interval", json_double(interval));
        json_object_object_add(o, "machine_interval", json_double(interval));
        json_object_object_add(o, "buffer_size", json_object_new_int(TAG_HISTORY));
        json_object_object_add(o, "criticity", json_object_new_int(1));
        json_object_object_add(o, "priority", json_object_new_int(1));
        for (size_t i = 0; i < ELEMENTSOF(machine_props); i++) {
                json_object *v = json_object_object_get(d, machine_props[i]);
                char tn[96];
                snprintf(tn, sizeof(tn), "%s.%s", id, machine_props[i]);
                json_object *t = json_object_new_object();
                json_object_object_add(t, "name", json_object_new_string(tn));
                json_object_object_add(t, "value", json_object_get(v));
                json_object_object_add(t, "data_type", json_object_new_string(value_type(v)));
                json_object_object_add(t, "unit", json_object_new_string(""));
                json_object_object_add(o, machine_props[i], process_variable(t, v, true));
        }
        snprintf(pfx, sizeof(pfx), "modbus://%s:%s/", str_of(d, "ip"),
                 json_object_get_string(json_object_object_get(d, "port")));
        for (size_t i = 0; strcmp(str_of(d, "type"), "modbus") == 0 && i < n_tags; i++) {
                struct tag_hist *t = &tags[i];
                if (!t->obj || !startswith(t->endpoint, pfx) ||
                    json_object_object_get_ex(o, t->name, NULL))
                        continue;
                const char *ns = str_of(t->obj, "node_namespace");
                bool ro = !startswith(ns, "holding") && !startswith(ns, "coil");
                json_object_object_add(o, t->name,
                                       process_variable(json_object_get(t->obj),
                                                        json_object_object_get(t->obj, "value"),
                                                        ro));
        }
        return o;
}

static struct hub_msg *render_machine(const struct hub_event *ev)
{
        json_object *d = events_data(ev);
        const char *id = str_of(d, "id");
        if (!*id)
                return NULL;
        struct hub_msg *m = NULL;
        pthread_mutex_lock(&tags_lock);
        size_t i = 0;
        while (i < n_machines && strcmp(machines[i].id, id) != 0)
                i++;
        if (i == n_machines) {
                if (n_machines == MACHINES_MAX)
                        goto out;
                machines[n_machines++] = (struct machine_hist){ 0 };
                strscpy(machines[i].id, sizeof(machines[i].id), id);
        }
        struct machine_hist *h = &machines[i];
        const char *changed = NULL;
        unsigned n_changed = 0;
        for (size_t k = 0; h->last && k < ELEMENTSOF(machine_props); k++) {
                json_object *a = json_object_object_get(h->last, machine_props[k]);
                json_object *b = json_object_object_get(d, machine_props[k]);
                if (!json_object_equal(a, b)) {
                        changed = machine_props[k];
                        n_changed++;
                }
        }
        uint64_t now = ev->rec_ts_ns ? ev->rec_ts_ns : ev->ts_ns;
        if (h->last_ns && now > h->last_ns && !n_changed)
                h->interval_ns = now - h->last_ns; /* the collector's periodic re-write */
        h->last_ns = now;
        if (h->last && !n_changed)
                goto out; /* the same machine again: nothing to tell */
        json_object *o = machine_json(d, h->interval_ns);
        size_t len;
        const char *s = o ? jsonfmt_text(o, &len) : NULL;
        char *copy = s ? strndup(s, len) : NULL;
        if (copy) {
                free(h->json);
                h->json = copy;
                h->json_len = len;
        }
        if (s && n_changed == 1) {
                const char *name = str_of(d, "name");
                json_object *p = json_object_new_object();
                json_object_object_add(p, "machine_name",
                                       json_object_new_string(*name ? name : id));
                json_object_object_add(p, "machine_id", json_object_new_string(id));
                json_object_object_add(p, "property", json_object_new_string(changed));
                json_object_object_add(p, "value",
                                       json_object_get(json_object_object_get(d, changed)));
                size_t pl;
                const char *ps = jsonfmt_text(p, &pl);
                if (ps)
                        m = msg_event(ev, "on.machine.property", 0, ps, pl);
                json_object_put(p);
        } else if (s)
                m = msg_event(ev, "on.machine", 0, s, len);
        json_object_put(o);
        json_object_put(h->last);
        h->last = json_object_get(d);
out:
        pthread_mutex_unlock(&tags_lock);
        return m;
}

static struct hub_msg *sio_render(const struct hub_event *ev)
{
        if (ev->topic == RT_machine)
                return render_machine(ev);
        if (ev->topic == RT_tag)
                return render_tag(ev);
        if (ev->topic == RT_opcua_conn)
                return render_opcua(ev);
        if (ev->topic >= HUB_T_ALARM_RAISED && ev->topic <= HUB_T_ALARM_DELETED)
                return msg_event(ev, "on.alarm", 0, ev->json, ev->json_len);
        if (ev->topic == HUB_T_EVENT || ev->topic == HUB_T_LOG) /* the journal's (journal.h) */
                return msg_event(ev, ev->topic == HUB_T_EVENT ? "on.event" : "on.log", 0, ev->json,
                                 ev->json_len);
        const struct topic_info *t = plain_topic(ev->topic);
        return t ? msg_event(ev, t->event, ev->state ? HUB_MSG_STATE : 0, ev->json, ev->json_len)
                 : NULL;
}

/* ---- lws thread ---- */

static void send_text(struct sio_client *s, const char *a, size_t al, const char *b, size_t bl)
{
        const char *parts[] = { a, b ? b : "" };
        const size_t lens[] = { al, b ? bl : 0 };
        struct hub_msg *m = hub_msg_new(0, 0, parts, lens, 2);
        if (m) {
                fanout_send(s->c, m);
                hub_msg_unref(m);
        }
}

static void send_str(struct sio_client *s, const char *text)
{
        send_text(s, text, strlen(text), NULL, 0);
}

static void ping_timer(struct htimer *t)
{
        struct sio_client *s = htimer_owner(t, struct sio_client, ping_tm);
        if (client_closing(s->c))
                return;
        if (s->awaiting_pong) {
                log_info("client %s (%s): no pong within %u ms, closing", client_uuid(s->c),
                         client_ip(s->c), hub.opt.sio_timeout_ms);
                client_close(s->c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "ping timeout");
                return;
        }
        send_str(s, "2");
        s->awaiting_pong = true;
        htimer_schedule(&s->ping_tm, ping_timer,
                        (lws_usec_t)hub.opt.sio_timeout_ms * LWS_US_PER_MS);
}

static void schedule_ping(struct sio_client *s)
{
        htimer_schedule(&s->ping_tm, ping_timer, (lws_usec_t)hub.opt.sio_ping_ms * LWS_US_PER_MS);
}

/* Write o's text and put it ([] when NULL). */
static void put_json(FILE *f, json_object *o)
{
        const char *s = o ? jsonfmt_text(o, NULL) : NULL;
        fputs(s ? s : "[]", f);
        json_object_put(o);
}

/* The snapshot: PyAutomation's seven keys, its tags joined from the latest on.tag
 * texts (no parse, no second encoding). Malloc'd; NULL on ENOMEM. */
static char *on_connection_text(size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        if (!f)
                return NULL;
        fputs("{\"tags\":[", f);
        pthread_mutex_lock(&tags_lock);
        bool first = true;
        for (size_t i = 0; i < n_tags; i++)
                if (tags[i].json) {
                        if (!first)
                                fputc(',', f);
                        fwrite(tags[i].json, 1, tags[i].json_len, f);
                        first = false;
                }
        fputs("],\"alarms\":", f);
        put_json(f, alarms_hub_list());
        fputs(",\"machines\":[", f);
        first = true;
        for (size_t i = 0; i < n_machines; i++)
                if (machines[i].json) {
                        if (!first)
                                fputc(',', f);
                        fwrite(machines[i].json, 1, machines[i].json_len, f);
                        first = false;
                }
        pthread_mutex_unlock(&tags_lock);
        /* The history's last alarms, events and logs, as many as it keeps (history.h). */
        _cleanup_free_ char *la = history_last_array(HISTORY_ALARM, 0, NULL);
        _cleanup_free_ char *le = history_last_array(HISTORY_EVENT, 0, NULL);
        _cleanup_free_ char *ll = history_last_array(HISTORY_LOG, 0, NULL);
        fprintf(f, "],\"last_alarms\":%s,\"last_active_alarms\":", la ? la : "[]");
        put_json(f, alarms_hub_active());
        fprintf(f, ",\"last_events\":%s,\"last_logs\":%s}", le ? le : "[]", ll ? ll : "[]");
        if (fclose(f) != 0) {
                free(buf);
                return NULL;
        }
        *ret_len = len;
        return buf;
}

/* head + the snapshot + tail as one frame. */
static void send_snapshot(struct sio_client *s, const char *head, const char *tail)
{
        size_t len;
        _cleanup_free_ char *snap = on_connection_text(&len);
        if (!snap)
                return;
        const char *parts[] = { head, snap, tail };
        const size_t lens[] = { strlen(head), len, strlen(tail) };
        struct hub_msg *m = hub_msg_new(0, 0, parts, lens, ELEMENTSOF(parts));
        if (m) {
                fanout_send(s->c, m);
                hub_msg_unref(m);
        }
}

static void emit_json(struct sio_client *s, const char *prefix, json_object *payload)
{
        size_t len;
        const char *t = payload ? jsonfmt_text(payload, &len) : NULL;
        if (t)
                send_text(s, prefix, strlen(prefix), t, len);
        json_object_put(payload);
}

static void ack(struct sio_client *s, int64_t id, json_object *result)
{
        char head[40];
        snprintf(head, sizeof(head), "43%" PRId64, id);
        json_object *a = json_object_new_array();
        json_object_array_add(a, result);
        emit_json(s, head, a);
}

static void do_connect(struct sio_client *s, const struct sio_packet *p)
{
        if (strcmp(p->nsp, "/") != 0) {
                char head[SIO_NSP_MAX + 8];
                snprintf(head, sizeof(head), "44%s,", p->nsp);
                json_object *e = json_object_new_object();
                json_object_object_add(e, "message", json_object_new_string("Invalid namespace"));
                emit_json(s, head, e);
                return;
        }
        if (s->connected)
                return;
        if (tokens_auth_on() && !client_authed(s->c)) {
                json_object *a = p->data_len ? jsonfmt_parse(p->data, p->data_len) : NULL, *t;
                const char *why = client_auth_why(s->c) ? client_auth_why(s->c) : "no token";
                if (a && json_object_is_type(a, json_type_object) &&
                    json_object_object_get_ex(a, "token", &t) &&
                    json_object_is_type(t, json_type_string))
                        (void)session_authenticate(s->c, json_object_get_string(t), &why);
                else if (!client_auth_why(s->c))
                        log_notice("client %s (%s, socketio): no token", client_uuid(s->c),
                                   client_ip(s->c));
                json_object_put(a);
                if (!client_authed(s->c)) {
                        char msg[128];
                        snprintf(msg, sizeof(msg), "Authentication failed: %s",
                                 why ? why : "refused");
                        json_object *e = json_object_new_object();
                        json_object_object_add(e, "message", json_object_new_string(msg));
                        emit_json(s, "44", e);
                        return;
                }
        }
        s->connected = true;
        sio_random_id(s->sid, 21);
        json_object *ok = json_object_new_object();
        json_object_object_add(ok, "sid", json_object_new_string(s->sid));
        emit_json(s, "40", ok);
        send_snapshot(s, "42[\"on_connection\",", "]");
        /* Then the NAS state, one event per topic. */
        for (size_t i = 0; i < TOPICS_N; i++) {
                const struct topic_info *t = plain_topic(topics_row(i)->id);
                struct hub_msg *m = t ? fanout_latest(s->c, t->id) : NULL;
                if (m)
                        fanout_deliver(s->c, m);
        }
}

static void do_event(struct sio_client *s, const struct sio_packet *p)
{
        if (!s->connected || strcmp(p->nsp, "/") != 0)
                return;
        json_object *a = jsonfmt_parse(p->data, p->data_len);
        json_object *name =
            a && json_object_is_type(a, json_type_array) ? json_object_array_get_idx(a, 0) : NULL;
        if (!name || !json_object_is_type(name, json_type_string)) {
                log_debug("client %s: event without a name, ignoring", client_uuid(s->c));
                json_object_put(a);
                return;
        }
        const char *ev = json_object_get_string(name);
        json_object *arg = json_object_array_get_idx(a, 1);
        json_object *result = NULL;
        if (strcmp(ev, "ping") == 0) {
                char ts[96];
                result = json_object_new_object();
                json_object_object_add(result, "pong", json_object_new_boolean(true));
                if (jsonfmt_pyauto_time(ts, sizeof(ts), real_ns()))
                        json_object_object_add(result, "timestamp", json_object_new_string(ts));
        } else if (strcmp(ev, "on_connection") == 0 || strcmp(ev, "get_snapshot") == 0) {
                if (p->ack_id >= 0) {
                        char head[40];
                        snprintf(head, sizeof(head), "43%" PRId64 "[", p->ack_id);
                        send_snapshot(s, head, "]");
                }
                json_object_put(a);
                return;
        } else if (strcmp(ev, "sync") == 0 || strcmp(ev, "send_command") == 0) {
                result = json_object_new_object();
                if (!session_may(s->c, AUTH_ROLE_OPERATOR)) {
                        log_notice("client %s (%s): %s refused, role %s", client_uuid(s->c),
                                   client_ip(s->c), ev, auth_role_name(client_role(s->c)));
                        json_object_object_add(result, "success", json_object_new_boolean(false));
                        json_object_object_add(result, "error",
                                               json_object_new_string("forbidden: operator role "
                                                                      "required"));
                } else if (ev[1] == 'y') {
                        json_object *cid = NULL;
                        if (arg && json_object_is_type(arg, json_type_object))
                                json_object_object_get_ex(arg, "client_id", &cid);
                        session_client_event(HUB_T_CLIENT_SYNC,
                                             cid && json_object_is_type(cid, json_type_string) &&
                                                     json_object_get_string_len(cid) <= 64
                                                 ? json_object_get_string(cid)
                                                 : client_uuid(s->c),
                                             NULL);
                        json_object_object_add(result, "status", json_object_new_string("success"));
                        json_object_object_add(result, "action", json_object_new_string("sync"));
                } else {
                        json_object_object_add(result, "success", json_object_new_boolean(false));
                        json_object_object_add(result, "error",
                                               json_object_new_string("MACHINE_NOT_FOUND"));
                }
        } else if (p->ack_id >= 0) {
                result = json_object_new_object();
                json_object_object_add(result, "success", json_object_new_boolean(false));
                json_object_object_add(result, "error", json_object_new_string("unknown event"));
        }
        if (p->ack_id >= 0)
                ack(s, p->ack_id, result);
        else
                json_object_put(result);
        json_object_put(a);
}

static int sio_text(struct hub_client *c, const char *msg, size_t len)
{
        struct sio_client *s = client_priv(c);
        struct sio_packet p;
        int r = sio_parse(msg, len, &p);
        if (r < 0) {
                log_debug("client %s: %s Socket.IO packet, ignoring", client_uuid(c),
                          r == -EPROTONOSUPPORT ? "binary" : "malformed");
                return 0;
        }
        switch (p.eio) {
        case EIO_PING:
                send_text(s, "3", 1, p.data, p.data_len);
                break;
        case EIO_PONG:
                if (s->awaiting_pong) {
                        s->awaiting_pong = false;
                        schedule_ping(s);
                }
                break;
        case EIO_CLOSE:
                client_close(c, LWS_CLOSE_STATUS_NORMAL, "");
                break;
        case EIO_MESSAGE:
                if (p.sio == SIO_CONNECT)
                        do_connect(s, &p);
                else if (p.sio == SIO_DISCONNECT) {
                        if (strcmp(p.nsp, "/") == 0) {
                                s->connected = false;
                                client_close(c, LWS_CLOSE_STATUS_NORMAL, "");
                        }
                } else if (p.sio == SIO_EVENT)
                        do_event(s, &p);
                /* Acks from the client: the hub never asks for one. */
                break;
        default:
                break;
        }
        return 0;
}

/* Does the upgrade's query ask for Engine.IO 4 over websocket? */
static bool upgrade_query_ok(struct hub_client *c)
{
        /* lws keeps each "k=v" argument as a fragment: join them back with '&'. */
        char q[512] = "", frag[256];
        size_t ql = 0;
        for (int i = 0; i < 16; i++) {
                int n = lws_hdr_copy_fragment(client_wsi(c), frag, sizeof(frag),
                                              WSI_TOKEN_HTTP_URI_ARGS, i);
                if (n <= 0)
                        break;
                if (ql + (size_t)n + 2 > sizeof(q))
                        break;
                if (ql)
                        q[ql++] = '&';
                memcpy(q + ql, frag, (size_t)n);
                ql += (size_t)n;
                q[ql] = 0;
        }
        return sio_query_ok(q);
}

static int sio_open(struct hub_client *c)
{
        struct sio_client *s = client_priv(c);
        s->c = c;
        /* Polling (eio_poll.c checked its query and owns its sid) offers the upgrade. */
        const char *poll_sid = eio_poll_sid(c);
        if (!poll_sid && !upgrade_query_ok(c)) {
                log_info("client %s (%s): Socket.IO needs EIO=4&transport=websocket",
                         client_uuid(c), client_ip(c));
                client_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                             "need EIO=4&transport=websocket");
                return -1;
        }
        char eio_sid[24];
        if (!poll_sid)
                sio_random_id(eio_sid, 21);
        char open[256];
        int ol = snprintf(open, sizeof(open),
                          "0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%u,"
                          "\"pingTimeout\":%u,\"maxPayload\":%u}",
                          poll_sid ? poll_sid : eio_sid, poll_sid ? "\"websocket\"" : "",
                          hub.opt.sio_ping_ms, hub.opt.sio_timeout_ms, hub.opt.max_message);
        send_text(s, open, (size_t)ol, NULL, 0);
        schedule_ping(s);
        return 0;
}

static bool sio_wants(struct hub_client *c, unsigned topic)
{
        struct sio_client *s = client_priv(c);
        return s->connected;
}

static void sio_rate_limited(struct hub_client *c)
{
        send_str(client_priv(c),
                 "42[\"error\",{\"code\":\"WS-003\",\"message\":\"Rate limit exceeded\"}]");
}

static void sio_close(struct hub_client *c)
{
        struct sio_client *s = client_priv(c);
        htimer_cancel(&s->ping_tm);
}

const struct dialect dialect_sio = {
        .name = "socketio",
        .path = "/socket.io/",
        .priv_size = sizeof(struct sio_client),
        .flags = DIALECT_AUTH_IN_BAND | DIALECT_RENDER_ALWAYS | DIALECT_EIO_POLLING,
        .render = sio_render,
        .on_open = sio_open,
        .on_text = sio_text,
        .wants = sio_wants,
        .on_close = sio_close,
        .deliver = fanout_deliver,
        .rate_limited = sio_rate_limited,
        .join = eio_poll_join,
        .on_probe = eio_poll_probe,
};
