/*
 * dialect_native.c — the native typed dialect on GET /ws (OHT-50 and carousel conventions).
 *
 * Process: ringhub. Events are {"type":"area.name","timestamp":<ISO 8601 UTC>,"data":…},
 * rendered once per event on the reader thread around the canonical data JSON (only
 * system.status and the module.* events build a data object of their own, once). The
 * lws side keeps per-client subscriptions (patterns with "*", a rate in Hz per topic
 * applied by the fan-out's holds), answers requests (auth, subscribe, get_*,
 * send_command, emergency_stop, ping) with the request's request_id, and reports every
 * bad message with an error in the PROTOCOLS.md codes while keeping the connection open.
 * Topic names come from topics.def (native, native_alt). The carousel server's side —
 * machines in the welcome, get_status, send_command, subscription types and their 2 s
 * status broadcast, the emergency stop of every machine — is carousel.c's; PLC machines
 * also appear here as modules (module.discovered / module.status_change). Served on "/"
 * and the AGV seed's "/ws/telemetry" too (dialects.c). Authenticates in band
 * ({"type":"auth"}). See docs/wire-native.md. Never blocks; never encodes an event per
 * client.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alarms_hub.h"
#include "carousel.h"
#include "client.h"
#include "config.h"
#include "control.h"
#include "dialect.h"
#include "events.h"
#include "fanout.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "registry.h"
#include "session.h"
#include "tokens.h"
#include "util.h"

#define MSG_VARIANT 0x100u /* module.status_change rather than module.discovered */
#define RATE_MAX    1000.0
#define RATE_MIN    0.01 /* Hz: one frame per 100 s; smaller (but 0 = unlimited) is refused */
#define RATE_ERROR  "rate must be 0 (unlimited) or a number 0.01-1000 (Hz)"

/* A /ws name is index i: the topic of row i / 2 of topics.def, its native name when i is
 * even and its native_alt (a variant: module.status_change) when odd; NULL when none. */
#define N_NTOPICS (2 * (size_t)TOPICS_N)

static const char *nname(size_t i)
{
        const struct topic_info *t = topics_row(i / 2);
        return i % 2 ? t->native_alt : t->native;
}

static unsigned ntopic(size_t i)
{
        return topics_row(i / 2)->id;
}

/*
 * Names a client may subscribe to that the hub does not produce (no error for them, and
 * no event either): the AGV seed's catalogue (docs/wire-native.md lists which of its
 * names the hub produces) and the alarm names of the command seed.
 */
static const char *const reserved[] = {
        "telemetry.realtime", "telemetry.status",  "system.error",        "mission.started",
        "mission.progress",   "mission.completed", "safety.zone_entered", "safety.clear",
        "config.rollback",    "command.result",    "alarm.triggered",     "alarm.update",
};

struct native_client {
        struct hub_client *c;
        bool explicit_subs; /* until the first subscribe: everything, unlimited */
        bool snapshot_sent;
        bool want[N_NTOPICS];
        double rate[N_NTOPICS];
        double default_rate;     /* set_telemetry_rate */
        struct carousel_sub car; /* the carousel protocol's view of this client */
};

static unsigned native_di; /* this dialect's index (set by the first client) */

/* ---- reader thread: render ---- */

static double last_disk_usage = NAN; /* health.disk: fullest filesystem of the disk list */

/* The index of a topic's /ws name (or its variant's), or -1 when /ws does not carry it. */
static ssize_t ntopic_of(unsigned topic, bool variant)
{
        int row = topics_index(topic);
        size_t i = (size_t)row * 2 + variant;
        return row >= 0 && nname(i) ? (ssize_t)i : -1;
}

/*
 * The value after `"key":` in the event's canonical JSON, from `from` on (NULL when
 * absent): read without parsing the whole text. Sound on the writer's text: a key's
 * quotes are bare, a quote inside a string is escaped (\"), so the pattern cannot start
 * inside a string value.
 */
static const char *value_after(const struct hub_event *ev, const char *from, const char *key,
                               size_t *key_len)
{
        char pat[64];
        int n = snprintf(pat, sizeof(pat), "\"%s\":", key);
        if (n <= 0 || (size_t)n >= sizeof(pat) || from < ev->json)
                return NULL;
        size_t left = ev->json_len - (size_t)(from - ev->json);
        const char *p = memmem(from, left, pat, (size_t)n);
        *key_len = (size_t)n;
        return p ? p + n : NULL;
}

/* A JSON number's value (NAN when v is not one: null, a string, absent). */
static double num_at(const char *v)
{
        if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
                return NAN;
        return strtod(v, NULL);
}

/* The top-level number `key` of the event (its first occurrence: a record's own fields
 * come before its children's lists). */
static double num(const struct hub_event *ev, const char *key)
{
        size_t kl;
        return num_at(value_after(ev, ev->json, key, &kl));
}

static struct hub_msg *frame(const struct hub_event *ev, const char *name, uint16_t flags,
                             const char *data, size_t data_len)
{
        char ts[40];
        size_t tl = jsonfmt_iso8601(ts, sizeof(ts), ev->ts_ns);
        const char *parts[] = { "{\"type\":\"", name, "\",\"timestamp\":\"", ts, "\",\"data\":",
                                data,           "}" };
        const size_t lens[] = { 9, strlen(name), 15, tl, 9, data_len, 1 };
        static_assert(sizeof("{\"type\":\"") - 1 == 9, "part 0");
        return hub_msg_new((uint16_t)ev->topic, flags, parts, lens, ELEMENTSOF(parts));
}

/* The AGV seed's system.status fields, then the full system record; written by hand
 * around the canonical JSON (no second json-c pass). */
static struct hub_msg *render_system(const struct hub_event *ev)
{
        char uptime[32] = "null", cpu[40], mem[40], disk[40], temp[40];
        size_t kl;
        const char *up = value_after(ev, ev->json, "uptime_seconds", &kl);
        if (up && *up >= '0' && *up <= '9') { /* an integer, as json-c would read it */
                char *end;
                long long v = strtoll(up, &end, 10);
                if (*end != '.' && *end != 'e' && *end != 'E')
                        snprintf(uptime, sizeof(uptime), "%lld", v);
        }
        jsonfmt_double(cpu, sizeof(cpu), num(ev, "cpu_usage_percent"));
        jsonfmt_double(mem, sizeof(mem), num(ev, "ram_usage_percent"));
        jsonfmt_double(disk, sizeof(disk), last_disk_usage);
        jsonfmt_double(temp, sizeof(temp), num(ev, "cpu_temp_celsius"));
        char pre[384];
        int pl = snprintf(pre, sizeof(pre),
                          "{\"status\":\"idle\",\"state\":\"ready\",\"uptime\":%s,"
                          "\"health\":{\"cpu\":%s,\"memory\":%s,\"disk\":%s,"
                          "\"temperature\":%s}",
                          uptime, cpu, mem, disk, temp);
        if (pl <= 0 || (size_t)pl >= sizeof(pre) || ev->json_len < 2)
                return NULL;
        /* prefix + "," + "…record…}" (the record never has these keys) */
        bool empty = ev->json_len == 2;
        char ts[40];
        size_t tl = jsonfmt_iso8601(ts, sizeof(ts), ev->ts_ns);
        const char *parts[] = { "{\"type\":\"system.status\",\"timestamp\":\"",
                                ts,
                                "\",\"data\":",
                                pre,
                                empty ? "}" : ",",
                                ev->json + 1,
                                "}" };
        const size_t lens[] = { 37, tl, 9, (size_t)pl, 1, empty ? 0 : ev->json_len - 1, 1 };
        static_assert(sizeof("{\"type\":\"system.status\",\"timestamp\":\"") - 1 == 37,
                      "system prefix");
        return hub_msg_new((uint16_t)ev->topic, HUB_MSG_STATE, parts, lens, ELEMENTSOF(parts));
}

/* The fullest disk, for the system summary: every disk's usage_percent in the list's
 * text (its SMART children have none). */
static void note_disks(const struct hub_event *ev)
{
        double mx = NAN;
        size_t kl;
        for (const char *v = value_after(ev, ev->json, "usage_percent", &kl); v;
             v = value_after(ev, v, "usage_percent", &kl)) {
                double u = num_at(v);
                if (isfinite(u) && (!isfinite(mx) || u > mx))
                        mx = u;
        }
        last_disk_usage = mx;
}

static const char *module_status(const char *state)
{
        if (!state)
                return "unknown";
        if (strcmp(state, "running") == 0)
                return "online";
        if (strcmp(state, "stale") == 0)
                return "error";
        return "offline";
}

/* A collector appeared (module.discovered) or changed state (module.status_change). */
static struct hub_msg *render_collector(const struct hub_event *ev)
{
        json_object *d = events_data(ev), *v;
        const char *what =
            json_object_object_get_ex(d, "event", &v) ? json_object_get_string(v) : "";
        const char *state =
            json_object_object_get_ex(d, "state", &v) ? json_object_get_string(v) : NULL;
        const char *prev =
            json_object_object_get_ex(d, "previous_state", &v) ? json_object_get_string(v) : NULL;
        const char *name =
            json_object_object_get_ex(d, "collector", &v) ? json_object_get_string(v) : "unknown";
        bool discovered = what && strcmp(what, "appeared") == 0;
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "module_id", json_object_new_string(name));
        if (discovered) {
                char addr[32];
                snprintf(addr, sizeof(addr), "pid:%" PRId64,
                         json_object_object_get_ex(d, "pid", &v) ? json_object_get_int64(v) : 0);
                json_object_object_add(o, "module_type", json_object_new_string("collector"));
                json_object_object_add(o, "address", json_object_new_string(addr));
                json_object_object_add(o, "firmware_version",
                                       json_object_new_string(RINGHUB_VERSION));
                json_object_object_add(o, "status", json_object_new_string(module_status(state)));
        } else {
                const char *code = "", *desc = "";
                if (what && strcmp(what, "died") == 0) {
                        code = "MOD-001";
                        desc = "process gone";
                } else if (what && strcmp(what, "stalled") == 0) {
                        code = "MOD-002";
                        desc = "heartbeat lost";
                } else if (what && strcmp(what, "restarted") == 0) {
                        desc = "restarted";
                } else if (what && strcmp(what, "stopped") == 0) {
                        desc = "stopped";
                }
                json_object_object_add(
                    o, "old_status",
                    json_object_new_string(prev ? module_status(prev) : "unknown"));
                json_object_object_add(o, "new_status",
                                       json_object_new_string(module_status(state)));
                json_object_object_add(o, "error_code", json_object_new_string(code));
                json_object_object_add(o, "error_description", json_object_new_string(desc));
        }
        /* The core's own fields beside the seed's. */
        json_object_object_foreach(d, k, val)
        {
                if (!json_object_object_get_ex(o, k, NULL))
                        json_object_object_add(o, k, json_object_get(val));
        }
        uint64_t t0 = mono_ns();
        size_t len;
        const char *s = jsonfmt_text(o, &len);
        hub_count_serialization(mono_ns() - t0);
        struct hub_msg *m = NULL;
        if (s)
                m = frame(ev, nname((size_t)topics_index(HUB_T_COLLECTOR) * 2 + !discovered),
                          discovered ? 0 : MSG_VARIANT, s, len);
        json_object_put(o);
        return m;
}

/* A machine's first record (module.discovered) or a change of its connection
 * (module.status_change), handed off beside its machine.status frame. */
static void machine_module(const struct hub_event *ev)
{
        bool discovered;
        json_object *o = carousel_module_event(events_data(ev), &discovered);
        size_t len;
        const char *s = o ? jsonfmt_text(o, &len) : NULL;
        struct hub_event me = *ev;
        me.topic = HUB_T_COLLECTOR;
        struct hub_msg *m =
            s ? frame(&me, nname((size_t)topics_index(HUB_T_COLLECTOR) * 2 + !discovered),
                      discovered ? 0 : MSG_VARIANT, s, len)
              : NULL;
        json_object_put(o);
        if (m)
                hub_handoff_push(native_di, m, false); /* never waits: state_lock may be held */
}

/* The disks feed system.status's health.disk; a machine record the carousel's module
 * events. */
static bool native_feeds(unsigned topic)
{
        return topic == RT_disk || topic == RT_machine;
}

static struct hub_msg *native_render(const struct hub_event *ev)
{
        if (ev->topic == RT_machine)
                machine_module(ev);
        if (ev->topic == RT_system)
                return render_system(ev);
        if (ev->topic == HUB_T_COLLECTOR)
                return render_collector(ev);
        if (ev->topic == RT_disk)
                note_disks(ev);
        ssize_t i = ntopic_of(ev->topic, false);
        if (i < 0)
                return NULL;
        return frame(ev, nname((size_t)i), ev->state ? HUB_MSG_STATE : 0, ev->json, ev->json_len);
}

/* ---- lws thread: replies ---- */

static const char *error_name(const char *code)
{
        static const char *const names[][2] = {
                { "WS-001", "Authentication Failed" },
                { "WS-002", "Invalid Event Type" },
                { "WS-003", "Rate Limit Exceeded" },
                { "INVALID_MESSAGE_FORMAT", "Invalid Message Format" },
                { "MACHINE_NOT_FOUND", "Machine Not Found" },
                { "INVALID_COMMAND", "Invalid Command" },
                { "CONNECTION_ERROR", "Connection Error" },
                { "BUSY", "Busy" },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(names[i][0], code) == 0)
                        return names[i][1];
        return "Error";
}

static void send_error(struct hub_client *c, const char *code, const char *text,
                       json_object *req_id, const char *machine_id)
{
        json_object *o = carousel_reply_new("error", req_id);
        if (!o)
                return;
        json_object_object_add(o, "error_code", json_object_new_string(code));
        json_object_object_add(o, "code", json_object_new_string(code));
        json_object_object_add(o, "error_name", json_object_new_string(error_name(code)));
        /* Texts may quote the client's input: keep them valid UTF-8. */
        json_object_object_add(o, "error", json_string_utf8(text, strlen(text)));
        json_object_object_add(o, "description", json_string_utf8(text, strlen(text)));
        if (machine_id)
                json_object_object_add(o, "machine_id",
                                       json_string_utf8(machine_id, strlen(machine_id)));
        fanout_reply(c, o);
}

/* ---- subscriptions ---- */

static bool wants_index(const struct native_client *n, size_t i)
{
        return nname(i) && (!n->explicit_subs || n->want[i]);
}

static void apply_rates(struct native_client *n)
{
        double r[HUB_T_MAX] = { 0 };
        bool any[HUB_T_MAX] = { false };
        for (size_t i = 0; i < N_NTOPICS; i++) {
                if (!wants_index(n, i))
                        continue;
                unsigned t = ntopic(i);
                double ri = n->explicit_subs ? n->rate[i] : n->default_rate;
                /* Two names on one topic: the slower nonzero rate wins. */
                if (!any[t] || (ri > 0 && (r[t] == 0 || ri < r[t])))
                        r[t] = ri;
                any[t] = true;
        }
        for (unsigned t = 0; t < HUB_T_MAX; t++) {
                if (!any[t])
                        fanout_drop_held(n->c, t);
                fanout_set_topic_rate(n->c, t, any[t] ? r[t] : 0);
        }
}

static bool native_wants(struct hub_client *c, unsigned topic)
{
        struct native_client *n = client_priv(c);
        if (!client_authed(c))
                return false;
        int row = topics_index(topic);
        return row >= 0 && (wants_index(n, (size_t)row * 2) || wants_index(n, (size_t)row * 2 + 1));
}

static void native_deliver(struct hub_client *c, struct hub_msg *m)
{
        struct native_client *n = client_priv(c);
        if (client_closing(c))
                return;
        ssize_t i = ntopic_of(m->topic, (m->flags & MSG_VARIANT) != 0);
        if (i < 0 || !wants_index(n, (size_t)i))
                return;
        fanout_deliver(c, m);
}

/* The latest state of each newly wanted topic (a subscribe or auth is a fresh start). */
static void send_state(struct native_client *n, const bool *before)
{
        for (size_t i = 0; i < N_NTOPICS; i++) {
                if (!wants_index(n, i) || (before && before[i]))
                        continue;
                struct hub_msg *m = fanout_latest(n->c, ntopic(i));
                if (m && i % 2 == 0)
                        fanout_deliver(n->c, m);
        }
}

static bool pattern_known(const char *p)
{
        for (size_t i = 0; i < N_NTOPICS; i++)
                if (nname(i) && topic_match(p, nname(i)))
                        return true;
        for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
                if (topic_match(p, reserved[i]))
                        return true;
        return false;
}

/* A rate field: absent (*ret untouched), 0, or a number RATE_MIN..RATE_MAX (never NaN,
 * an infinity, a negative or a denormal whose period would not fit a timer). */
static bool parse_rate(json_object *o, double *ret)
{
        json_object *v;
        if (!json_object_object_get_ex(o, "rate", &v) || json_object_is_type(v, json_type_null))
                return true;
        if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
                return false;
        double r = json_object_get_double(v);
        if (!isfinite(r) || (r != 0 && r < RATE_MIN) || r < 0 || r > RATE_MAX)
                return false;
        *ret = r;
        return true;
}

/* The carousel's subscription_type as patterns. */
static const char *carousel_pattern(const char *type)
{
        if (strcmp(type, "all_events") == 0)
                return "*";
        if (strcmp(type, "status_updates") == 0)
                return "machine.status";
        if (strcmp(type, "command_results") == 0)
                return "command.executed";
        return NULL;
}

static void do_subscribe(struct native_client *n, json_object *o, json_object *req_id, bool sub)
{
        struct hub_client *c = n->c;
        json_object *ev = NULL, *st = NULL;
        json_object_object_get_ex(o, "events", &ev);
        json_object_object_get_ex(o, "subscription_type", &st);
        const char *single = NULL;
        json_object *mids = NULL;
        if (!ev && st && json_object_is_type(st, json_type_string))
                single = carousel_pattern(json_object_get_string(st));
        if (single && json_object_object_get_ex(o, "machine_ids", &mids) &&
            !json_object_is_type(mids, json_type_null)) {
                bool okids = json_object_is_type(mids, json_type_array) &&
                             json_object_array_length(mids) <= CAROUSEL_IDS_MAX;
                for (size_t k = 0; okids && k < json_object_array_length(mids); k++)
                        okids = json_object_is_type(json_object_array_get_idx(mids, k),
                                                    json_type_string);
                if (!okids) {
                        send_error(c, "INVALID_MESSAGE_FORMAT",
                                   "machine_ids must be an array of at most 16 strings", req_id,
                                   NULL);
                        return;
                }
        } else
                mids = NULL;
        if (!single && (!ev || !json_object_is_type(ev, json_type_array))) {
                if (st && !ev) {
                        send_error(c, "WS-002", "Unknown subscription type", req_id, NULL);
                        return;
                }
                send_error(c, "INVALID_MESSAGE_FORMAT", "missing field: events (array of strings)",
                           req_id, NULL);
                return;
        }
        double rate = n->default_rate;
        if (sub && !parse_rate(o, &rate)) {
                send_error(c, "INVALID_MESSAGE_FORMAT", RATE_ERROR, req_id, NULL);
                return;
        }
        size_t cnt = single ? 1 : json_object_array_length(ev);
        if (cnt > 64) {
                send_error(c, "INVALID_MESSAGE_FORMAT", "too many events (at most 64)", req_id,
                           NULL);
                return;
        }
        for (size_t k = 0; k < cnt; k++) {
                json_object *e = single ? NULL : json_object_array_get_idx(ev, k);
                if (!single && (!json_object_is_type(e, json_type_string) ||
                                !topic_pattern_valid(json_object_get_string(e)))) {
                        send_error(c, "INVALID_MESSAGE_FORMAT",
                                   "events must be dotted names with * wildcards", req_id, NULL);
                        return;
                }
        }
        size_t known = 0;
        const char *first_unknown = NULL;
        for (size_t k = 0; k < cnt; k++) {
                const char *p =
                    single ? single : json_object_get_string(json_object_array_get_idx(ev, k));
                if (pattern_known(p))
                        known++;
                else if (!first_unknown)
                        first_unknown = p;
        }
        if (!known && first_unknown) {
                /* Nothing to (un)subscribe: only the error, nothing changes. */
                char text[320];
                snprintf(text, sizeof(text), "Unknown event type: %.200s", first_unknown);
                send_error(c, "WS-002", text, req_id, NULL);
                return;
        }
        bool before[N_NTOPICS];
        for (size_t i = 0; i < N_NTOPICS; i++)
                before[i] = wants_index(n, i);
        if (!n->explicit_subs) {
                /* The first subscribe replaces the implicit "everything". */
                n->explicit_subs = true;
                for (size_t i = 0; i < N_NTOPICS; i++) {
                        n->want[i] = !sub;
                        n->rate[i] = n->default_rate;
                }
        }
        json_object *accepted = json_object_new_array();
        for (size_t k = 0; k < cnt; k++) {
                const char *p =
                    single ? single : json_object_get_string(json_object_array_get_idx(ev, k));
                if (!pattern_known(p))
                        continue;
                for (size_t i = 0; i < N_NTOPICS; i++)
                        if (nname(i) && topic_match(p, nname(i))) {
                                n->want[i] = sub;
                                n->rate[i] = sub ? rate : 0;
                        }
                json_object_array_add(accepted, json_object_new_string(p));
        }
        apply_rates(n);
        json_object *r =
            carousel_reply_new(sub ? "subscription_confirmed" : "unsubscription_confirmed", req_id);
        if (r) {
                json_object_object_add(r, "events", accepted);
                accepted = NULL;
                if (sub)
                        json_object_object_add(r, "rate", json_double(rate));
                if (st)
                        json_object_object_add(r, "subscription_type", json_object_get(st));
                if (single) {
                        json_object_object_add(r, "machine_ids",
                                               mids ? json_object_get(mids)
                                                    : json_object_new_array());
                        if (sub)
                                carousel_subscribe(&n->car, json_object_get_string(st), mids);
                }
                fanout_reply(c, r);
        }
        json_object_put(accepted);
        if (first_unknown) {
                char text[320];
                snprintf(text, sizeof(text), "Unknown event type: %.200s", first_unknown);
                send_error(c, "WS-002", text, req_id, NULL);
        }
        if (sub)
                send_state(n, before);
}

static void send_telemetry_status(struct native_client *n, json_object *req_id)
{
        json_object *r = carousel_reply_new("telemetry.status", req_id);
        if (!r)
                return;
        char ts[40];
        json_object *d = json_object_new_object();
        json_object_object_add(d, "streaming", json_object_new_boolean(true));
        json_object_object_add(d, "rate", json_double(n->default_rate));
        json_object_object_add(
            d, "connected_clients",
            json_object_new_uint64(atomic_load_explicit(&hub.stats.clients, memory_order_relaxed)));
        json_object_object_add(
            d, "last_update",
            jsonfmt_iso8601(ts, sizeof(ts), real_ns()) ? json_object_new_string(ts) : NULL);
        json_object_object_add(r, "data", d);
        fanout_reply(n->c, r);
}

/* get_system_status: the latest system.status data, spliced from its shared frame. */
static void send_system_status(struct native_client *n, json_object *req_id)
{
        struct hub_msg *m = fanout_latest(n->c, RT_system);
        size_t len = 0;
        const char *p = m ? hub_msg_payload(m, &len) : NULL;
        const char *d = p ? memmem(p, len, ",\"data\":", 8) : NULL;
        char ts[40];
        size_t tl = jsonfmt_iso8601(ts, sizeof(ts), real_ns());
        const char *rid = "null";
        size_t rl = 4;
        if (req_id)
                rid = jsonfmt_text(req_id, &rl);
        const char *data = "{\"status\":\"starting\",\"state\":\"busy\"}";
        size_t dl = strlen(data);
        if (d) {
                data = d + 8;
                dl = len - (size_t)(data - p) - 1; /* without the envelope's "}" */
        }
        const char *parts[] = { "{\"type\":\"system.status\",\"request_id\":",
                                rid,
                                ",\"timestamp\":\"",
                                ts,
                                "\",\"data\":",
                                data,
                                "}" };
        const size_t lens[] = { 37, rl, 14, tl, 9, dl, 1 };
        static_assert(sizeof("{\"type\":\"system.status\",\"request_id\":") - 1 == 37, "p0");
        struct hub_msg *r = hub_msg_new(0, 0, parts, lens, ELEMENTSOF(parts));
        if (r) {
                fanout_send(n->c, r);
                hub_msg_unref(r);
        }
}

static void do_send_command(struct native_client *n, json_object *o, json_object *req_id)
{
        struct carousel_err e;
        if (carousel_send_command(&n->car, o, req_id, &e) < 0)
                send_error(n->c, e.code, e.text, req_id, e.machine);
}

/* A command's answer, on whichever thread it arrives: to the asking client only (the
 * command.executed event reaches every subscriber through the publish path). */
struct native_cmd {
        uint64_t client;
        unsigned di;
        json_object *req_id;
};

static void native_cmd_done(const struct command_outcome *o, void *userdata)
{
        struct native_cmd *nc = userdata;
        json_object *r = carousel_reply_new("command.result", nc->req_id);
        if (r) {
                bool ok = strcmp(o->status, "OK") == 0;
                json_object_object_add(r, "success", json_object_new_boolean(ok));
                json_object *d = json_object_new_object();
                json_object_object_add(d, "request_id", json_object_new_uint64(o->request_id));
                json_object_object_add(d, "collector", json_object_new_string(o->collector));
                json_object_object_add(d, "action", json_object_new_string(o->action));
                json_object_object_add(d, "target", json_string_utf8(o->target, strlen(o->target)));
                json_object_object_add(d, "status", json_object_new_string(o->status));
                json_object_object_add(d, "message",
                                       json_string_utf8(o->message, strlen(o->message)));
                json_object *res = *o->data ? json_tokener_parse(o->data) : NULL;
                if (res)
                        json_object_object_add(d, "result", res);
                json_object_object_add(d, "duration_ms", json_double((double)o->duration_us / 1e3));
                json_object_object_add(d, "collector_ms",
                                       json_double((double)o->collector_us / 1e3));
                json_object_object_add(r, "data", d);
                struct hub_msg *m = hub_msg_from_json(HUB_T_COMMAND, r);
                if (m)
                        hub_handoff_push_to(nc->di, nc->client, m);
                json_object_put(r);
        }
        json_object_put(nc->req_id);
        free(nc);
}

/* {"type":"command","target":"docker","action":"stop","id":"web1","args":{…}} */
static void do_command(struct native_client *n, json_object *o, json_object *req_id)
{
        json_object *tv, *av, *iv = NULL, *args = NULL, *cf;
        if (!json_object_object_get_ex(o, "target", &tv) ||
            !json_object_is_type(tv, json_type_string) ||
            !json_object_object_get_ex(o, "action", &av) ||
            !json_object_is_type(av, json_type_string)) {
                send_error(n->c, "INVALID_MESSAGE_FORMAT",
                           "a command needs string fields target and action", req_id, NULL);
                return;
        }
        if (json_object_object_get_ex(o, "id", &iv) && !json_object_is_type(iv, json_type_null) &&
            !json_object_is_type(iv, json_type_string)) {
                send_error(n->c, "INVALID_MESSAGE_FORMAT", "id must be a string", req_id, NULL);
                return;
        }
        json_object_object_get_ex(o, "args", &args);
        if (args && !json_object_is_type(args, json_type_object)) {
                send_error(n->c, "INVALID_MESSAGE_FORMAT", "args must be an object", req_id, NULL);
                return;
        }
        /* {"confirm":true} may also stand beside the other fields. */
        json_object *own = NULL;
        if (json_object_object_get_ex(o, "confirm", &cf)) {
                own = args ? json_object_get(args) : json_object_new_object();
                json_object_object_add(own, "confirm", json_object_get(cf));
                args = own;
        }
        if (strcmp(json_object_get_string(tv), "alarms") == 0) {
                /* Alarm actions are the hub's own: answered at once (alarms_hub.c). */
                json_object *r = carousel_reply_new("command.result", req_id);
                char who[96];
                snprintf(who, sizeof(who), "%s@%s", client_sub(n->c)[0] ? client_sub(n->c) : "ws",
                         client_ip(n->c));
                if (r) {
                        alarms_hub_command(
                            r, json_object_get_string(av), iv ? json_object_get_string(iv) : NULL,
                            args, control_allowed(client_role(n->c), AUTH_ROLE_OPERATOR),
                            &(struct alarms_actor){ .name = who,
                                                    .role = auth_role_name(client_role(n->c)) });
                        fanout_reply(n->c, r);
                }
                json_object_put(own);
                return;
        }
        struct native_cmd *nc = calloc(1, sizeof(*nc));
        if (!nc) {
                json_object_put(own);
                return;
        }
        nc->client = client_id(n->c);
        client_dialect(n->c, &nc->di);
        nc->req_id = req_id ? json_object_get(req_id) : NULL;
        char who_name[96];
        snprintf(who_name, sizeof(who_name), "%s@%s", client_sub(n->c)[0] ? client_sub(n->c) : "ws",
                 client_ip(n->c));
        struct control_who who = { .role = client_role(n->c), .name = who_name };
        struct control_request req = {
                .area = json_object_get_string(tv),
                .action = json_object_get_string(av),
                .id = iv && json_object_is_type(iv, json_type_string) ? json_object_get_string(iv)
                                                                      : NULL,
                .args = args,
        };
        control_submit(&req, &who, native_cmd_done, nc);
        json_object_put(own);
}

static void do_estop(struct native_client *n, json_object *o, json_object *req_id)
{
        json_object *reason = NULL;
        json_object_object_get_ex(o, "reason", &reason);
        if (reason && !json_object_is_type(reason, json_type_string)) {
                send_error(n->c, "INVALID_MESSAGE_FORMAT", "reason must be a string", req_id, NULL);
                return;
        }
        carousel_estop(&n->car, reason ? json_object_get_string(reason) : "remote", req_id);
}

/* The collectors already registered when the client arrives, as module.discovered
 * (the core only announces producers that appear later), from the ring's registry, built
 * for this client alone. */
static void send_modules(struct native_client *n)
{
        ssize_t t = ntopic_of(HUB_T_COLLECTOR, false);
        if (t < 0 || !wants_index(n, (size_t)t) || !hub.ring)
                return;
        uint64_t now = real_ns();
        for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
                struct registry_entry e;
                if (!registry_get(hub.ring, i, now, &e) || e.interval_ms == 0)
                        continue;
                char addr[32];
                snprintf(addr, sizeof(addr), "pid:%u", (unsigned)e.pid);
                json_object *m = carousel_reply_new(nname((size_t)t), NULL),
                            *d = json_object_new_object();
                if (!m || !d) {
                        json_object_put(m);
                        json_object_put(d);
                        return;
                }
                json_object_object_add(d, "module_id", json_string_utf8(e.name, strlen(e.name)));
                json_object_object_add(d, "module_type", json_object_new_string("collector"));
                json_object_object_add(d, "address", json_object_new_string(addr));
                json_object_object_add(d, "firmware_version",
                                       json_object_new_string(RINGHUB_VERSION));
                json_object_object_add(d, "status",
                                       json_object_new_string(e.alive ? "online" : "offline"));
                json_object_object_add(m, "data", d);
                fanout_reply(n->c, m);
        }
        json_object *ms = carousel_module_list();
        for (size_t i = 0; ms && i < json_object_array_length(ms); i++) {
                json_object *m = carousel_reply_new(nname((size_t)t), NULL);
                if (m) {
                        json_object_object_add(m, "data",
                                               json_object_get(json_object_array_get_idx(ms, i)));
                        fanout_reply(n->c, m);
                }
        }
        json_object_put(ms);
}

static void send_snapshot_once(struct native_client *n)
{
        if (n->snapshot_sent)
                return;
        n->snapshot_sent = true;
        send_state(n, NULL);
        send_modules(n);
}

static void do_auth(struct native_client *n, json_object *o, json_object *req_id)
{
        json_object *t;
        if (!json_object_object_get_ex(o, "token", &t) ||
            !json_object_is_type(t, json_type_string)) {
                send_error(n->c, "INVALID_MESSAGE_FORMAT", "missing field: token", req_id, NULL);
                return;
        }
        /* With auth off there is nothing to check: the session says so and carries on. */
        const char *why = NULL;
        if (session_authenticate(n->c, json_object_get_string(t), &why) < 0) {
                char text[128];
                snprintf(text, sizeof(text), "Invalid or expired token (%s)",
                         why ? why : "refused");
                send_error(n->c, "WS-001", text, req_id, NULL);
                return;
        }
        json_object *r = carousel_reply_new("auth_success", req_id);
        if (r) {
                json_object *d = json_object_new_object();
                json_object_object_add(d, "client_id", json_object_new_string(client_uuid(n->c)));
                json_object_object_add(d, "sub", json_object_new_string(client_sub(n->c)));
                json_object_object_add(d, "role",
                                       json_object_new_string(auth_role_name(client_role(n->c))));
                json_object_object_add(r, "data", d);
                fanout_reply(n->c, r);
        }
        send_snapshot_once(n);
}

static int native_text(struct hub_client *c, const char *msg, size_t len)
{
        struct native_client *n = client_priv(c);
        json_object *o = jsonfmt_parse(msg, len);
        if (!o) {
                send_error(c, "INVALID_MESSAGE_FORMAT", "malformed JSON", NULL, NULL);
                return 0;
        }
        json_object *tv = NULL, *req_id = NULL;
        if (!json_object_is_type(o, json_type_object) ||
            !json_object_object_get_ex(o, "type", &tv) ||
            !json_object_is_type(tv, json_type_string)) {
                send_error(c, "INVALID_MESSAGE_FORMAT", "missing field: type", NULL, NULL);
                json_object_put(o);
                return 0;
        }
        json_object_object_get_ex(o, "request_id", &req_id);
        if (req_id && (json_object_is_type(req_id, json_type_object) ||
                       json_object_is_type(req_id, json_type_array))) {
                send_error(c, "INVALID_MESSAGE_FORMAT", "request_id must be a string or number",
                           NULL, NULL);
                json_object_put(o);
                return 0;
        }
        const char *type = json_object_get_string(tv);
        if (strcmp(type, "auth") == 0)
                do_auth(n, o, req_id);
        else if (strcmp(type, "ping") == 0)
                fanout_reply(c, carousel_reply_new("pong", req_id));
        else if (!client_authed(c))
                send_error(c, "WS-001", "Authentication required: send {\"type\":\"auth\"} first",
                           req_id, NULL);
        else if (strcmp(type, "subscribe") == 0)
                do_subscribe(n, o, req_id, true);
        else if (strcmp(type, "unsubscribe") == 0)
                do_subscribe(n, o, req_id, false);
        else if (strcmp(type, "set_telemetry_rate") == 0) {
                double r = -1;
                json_object *v;
                if (!json_object_object_get_ex(o, "rate", &v) || !parse_rate(o, &r) || r < 0)
                        send_error(c, "INVALID_MESSAGE_FORMAT", RATE_ERROR, req_id, NULL);
                else {
                        n->default_rate = r;
                        for (size_t i = 0; i < N_NTOPICS; i++)
                                if (n->want[i])
                                        n->rate[i] = r;
                        apply_rates(n);
                        send_telemetry_status(n, req_id);
                }
        } else if (strcmp(type, "get_system_status") == 0)
                send_system_status(n, req_id);
        else if (strcmp(type, "get_status") == 0) {
                struct carousel_err e;
                json_object *r = carousel_get_status(o, req_id, &e);
                if (r)
                        fanout_reply(c, r);
                else
                        send_error(c, e.code, e.text, req_id, e.machine);
        } else if (strcmp(type, "command") == 0)
                do_command(n, o, req_id); /* roles and [hub] control: control.c */
        else if (strcmp(type, "send_command") == 0 || strcmp(type, "emergency_stop") == 0) {
                if (!control_allowed(client_role(c), AUTH_ROLE_OPERATOR)) {
                        log_notice("client %s (%s): %s refused, role %s%s", client_uuid(c),
                                   client_ip(c), type, auth_role_name(client_role(c)),
                                   tokens_auth_on() ? "" : ", control off");
                        send_error(c, "WS-001",
                                   tokens_auth_on()
                                       ? "Forbidden: the operator role is required"
                                       : "Forbidden: control is off ([hub] control = on allows "
                                         "commands)",
                                   req_id, NULL);
                } else if (type[0] == 's')
                        do_send_command(n, o, req_id);
                else
                        do_estop(n, o, req_id);
        } else {
                char text[96];
                snprintf(text, sizeof(text), "Unknown message type: %.48s", type);
                send_error(c, "WS-002", text, req_id, NULL);
        }
        json_object_put(o);
        return 0;
}

static int native_open(struct hub_client *c)
{
        struct native_client *n = client_priv(c);
        n->c = c;
        client_dialect(c, &native_di);
        carousel_open(&n->car, c);
        json_object *w = carousel_reply_new("welcome", NULL);
        if (!w)
                return 1011;
        json_object *si = json_object_new_object(), *caps = json_object_new_array();
        static const char *const cap_names[] = {
                "status_updates", "command_execution", "real_time_notifications", "subscriptions",
                "wildcards",      "rate_limits",       "request_response",        "client_ids",
        };
        for (size_t i = 0; i < ELEMENTSOF(cap_names); i++)
                json_object_array_add(caps, json_object_new_string(cap_names[i]));
        json_object_object_add(si, "name", json_object_new_string("ringhub"));
        json_object_object_add(si, "version", json_object_new_string(RINGHUB_VERSION));
        json_object_object_add(si, "capabilities", caps);
        json_object_object_add(w, "mode", json_object_new_string("multi-plc"));
        json_object_object_add(w, "server_info", si);
        json_object_object_add(w, "machines", carousel_machine_list());
        json_object_object_add(w, "client_id", json_object_new_string(client_uuid(c)));
        json_object_object_add(w, "auth_required", json_object_new_boolean(!client_authed(c)));
        /* With auth off, whether commands are taken ([hub] control); the dashboard shows
         * its buttons by it. With auth on the role decides (auth_success). */
        json_object_object_add(w, "control",
                               json_object_new_boolean(atomic_load(&hub.opt.control)));
        fanout_reply(c, w);
        if (client_authed(c)) {
                send_snapshot_once(n);
                return 0;
        }
        if (client_auth_why(c)) {
                char text[128];
                snprintf(text, sizeof(text), "Invalid or expired token (%s)", client_auth_why(c));
                send_error(c, "WS-001", text, NULL, NULL);
        }
        return 0; /* session.c closes it unless it authenticates in time */
}

static void native_rate_limited(struct hub_client *c)
{
        send_error(c, "WS-003", "Too many messages per second", NULL, NULL);
}

static void native_close(struct hub_client *c)
{
        struct native_client *n = client_priv(c);
        carousel_close(&n->car);
}

const struct dialect dialect_native = {
        .name = "native",
        .path = "/ws",
        .priv_size = sizeof(struct native_client),
        .flags = DIALECT_AUTH_IN_BAND,
        .render = native_render,
        .on_open = native_open,
        .on_text = native_text,
        .wants = native_wants,
        .feeds = native_feeds,
        .on_close = native_close,
        .deliver = native_deliver,
        .rate_limited = native_rate_limited,
};
