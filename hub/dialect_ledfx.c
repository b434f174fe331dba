/*
 * dialect_ledfx.c — the LedFx-style dialect on GET /api/websocket.
 *
 * Process: ringhub. On connect the client gets {"event_type":"client_id","client_id"}.
 * Requests carry an integer "id" and a "type": subscribe_event {event_type,
 * event_filter} (equality per key), unsubscribe_event (by the subscription's id);
 * anything else gets LedFx's error shape. Events are rendered once on the reader thread
 * as {"event_type":…,<fields>} (lists under "data"); each subscription adds only its
 * own {"id":N,"type":"event", prefix by joining bytes, and a filter is checked against
 * one parse of the event shared by all clients. Every topic with an event name in
 * topics.def is carried (safety_estop and config_updated among them); hub_diag carries the
 * hub's timings in seconds, and LedFx's own virtual_diag and general_diag are made from it
 * once per hub_diag on the lws thread. See docs/wire-ledfx.md. Never encodes an event per
 * client.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "dialect.h"
#include "events.h"
#include "fanout.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "util.h"

#define SUBS_MAX       32
#define EVENT_TYPE_MAX 48

/* What a subscription receives of its topic: the event, or one of LedFx's two
 * diagnostics events made from the hub's hub_diag. */
enum lf_kind { LF_EVENT, LF_VIRTUAL_DIAG, LF_GENERAL_DIAG, LF_KINDS };

static const char *const lf_kind_names[LF_KINDS] = { NULL, "virtual_diag", "general_diag" };

struct lf_sub {
        int64_t id;
        unsigned topic;
        enum lf_kind kind;
        json_object *filter; /* object or NULL */
};

struct lf_client {
        struct hub_client *c;
        struct lf_sub subs[SUBS_MAX];
        unsigned n_subs;
};

/* One parse of the event being fanned out, shared by every filtered subscription. */
static struct hub_msg *parsed_msg;
static json_object *parsed;

/* The diagnostics events made from the latest hub_diag message, once per message and
 * shared by every client (lws thread). */
static struct hub_msg *diag_src, *diag_made[LF_KINDS];

/* ---- reader thread ---- */

static struct hub_msg *lf_frame(const struct hub_event *ev, const char *name, const char *json,
                                size_t len)
{
        bool obj = len >= 2 && json[0] == '{';
        bool empty = obj && len == 2;
        const char *parts[] = {
                "{\"event_type\":\"",  name,          "\"", obj ? (empty ? "" : ",") : ",\"data\":",
                obj ? json + 1 : json, obj ? "" : "}"
        };
        const size_t lens[] = {
                15, strlen(name), 1, obj ? (empty ? 0 : 1) : 8, obj ? len - 1 : len, obj ? 0 : 1
        };
        static_assert(sizeof("{\"event_type\":\"") - 1 == 15, "part 0");
        return hub_msg_new((uint16_t)ev->topic, ev->state ? HUB_MSG_STATE : 0, parts, lens,
                           ELEMENTSOF(parts));
}

/* The hub's diagnostics plus its timings in seconds (LedFx's convention), joined by hand
 * around the canonical JSON (no second json-c pass). */
static struct hub_msg *render_diag(const struct hub_event *ev)
{
        static const char *const keys[][2] = { { "serialize_min_us", "min" },
                                               { "serialize_avg_us", "avg" },
                                               { "serialize_max_us", "max" } };
        char extra[512];
        size_t el = 0;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                json_object *v;
                double us = json_object_object_get_ex(events_data(ev), keys[i][0], &v)
                                ? json_object_get_double(v)
                                : NAN;
                char num[40];
                jsonfmt_double(num, sizeof(num), us / 1e6);
                int n = snprintf(extra + el, sizeof(extra) - el, ",\"serialize_%s\":%s,\"r_%s\":%s",
                                 keys[i][1], num, keys[i][1], num);
                if (n <= 0 || (size_t)n >= sizeof(extra) - el)
                        return NULL;
                el += (size_t)n;
        }
        if (ev->json_len < 2)
                return NULL;
        bool empty = ev->json_len == 2;
        const char *parts[] = { "{\"event_type\":\"hub_diag\"", empty ? "" : ",", ev->json + 1,
                                extra, "}" };
        const size_t lens[] = { 24, empty ? 0 : 1, ev->json_len - 2, el, 1 };
        static_assert(sizeof("{\"event_type\":\"hub_diag\"") - 1 == 24, "diag prefix");
        return hub_msg_new((uint16_t)ev->topic, ev->state ? HUB_MSG_STATE : 0, parts, lens,
                           ELEMENTSOF(parts));
}

/* The journal's Events and Logs and the alarms have an "id" of their own, which would
 * collide with the subscription's "id" beside the flattened fields: theirs becomes
 * event_id / log_id / alarm_id. */
static struct hub_msg *render_journal(const struct hub_event *ev, const char *name,
                                      const char *id_key)
{
        if (!events_data(ev) || !json_object_is_type(events_data(ev), json_type_object))
                return NULL;
        json_object *o = json_object_new_object();
        json_object_object_foreach(events_data(ev), k, v)
        {
                json_object_object_add(o, strcmp(k, "id") ? k : id_key, json_object_get(v));
        }
        size_t len;
        const char *text = jsonfmt_text(o, &len);
        struct hub_msg *m = text ? lf_frame(ev, name, text, len) : NULL;
        json_object_put(o);
        return m;
}

static struct hub_msg *ledfx_render(const struct hub_event *ev)
{
        if (ev->topic == HUB_T_DIAG)
                return render_diag(ev);
        if (ev->topic == HUB_T_EVENT || ev->topic == HUB_T_LOG)
                return render_journal(ev, topics_event_name(ev->topic),
                                      ev->topic == HUB_T_EVENT ? "event_id" : "log_id");
        if (ev->topic >= HUB_T_ALARM_RAISED && ev->topic <= HUB_T_ALARM_DELETED)
                return render_journal(ev, topics_event_name(ev->topic), "alarm_id");
        /* LedFx carries every topic that has an event name. */
        const char *name = topics_event_name(ev->topic);
        return name ? lf_frame(ev, name, ev->json, ev->json_len) : NULL;
}

/* ---- lws thread ---- */

static void reply(struct hub_client *c, json_object *id, bool ok, const char *error)
{
        json_object *o = json_object_new_object();
        if (!o)
                return;
        json_object_object_add(o, "id", json_object_get(id));
        if (ok)
                json_object_object_add(o, "type", json_object_new_string("result"));
        json_object_object_add(o, "success", json_object_new_boolean(ok));
        if (error) {
                json_object *e = json_object_new_object();
                json_object_object_add(e, "message", json_object_new_string(error));
                json_object_object_add(o, "error", e);
        }
        fanout_reply(c, o);
}

static bool filter_ok(const struct lf_sub *s, struct hub_msg *m)
{
        if (!s->filter)
                return true;
        if (parsed_msg != m) {
                json_object_put(parsed);
                hub_msg_unref(parsed_msg);
                size_t len;
                const char *p = hub_msg_payload(m, &len);
                parsed = jsonfmt_parse(p, len);
                parsed_msg = hub_msg_ref(m); /* held: its address stays unique */
        }
        if (!parsed)
                return false;
        json_object_object_foreach(s->filter, k, want)
        {
                json_object *have;
                if (!json_object_object_get_ex(parsed, k, &have) || !json_object_equal(have, want))
                        return false;
        }
        return true;
}

static double diag_num(json_object *d, const char *key)
{
        json_object *v;
        return d && json_object_object_get_ex(d, key, &v) && !json_object_is_type(v, json_type_null)
                   ? json_object_get_double(v)
                   : NAN;
}

static json_object *num_or_null(double v)
{
        return isfinite(v) ? json_double(v) : NULL;
}

/*
 * LedFx's diagnostics from the hub's: virtual_diag in the seed's shape with the hub as the
 * one "virtual" (fps: events/s; r_*: serialization times in seconds; cycle: the 1 s
 * period; phy: messages/s, version, clients), general_diag as a text table.
 */
static json_object *diag_build(enum lf_kind kind, json_object *d)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "event_type", json_object_new_string(lf_kind_names[kind]));
        if (kind == LF_VIRTUAL_DIAG) {
                json_object_object_add(o, "virtual_id", json_object_new_string("ringhub"));
                json_object_object_add(o, "fps", num_or_null(diag_num(d, "events_per_sec")));
                json_object_object_add(o, "r_avg",
                                       num_or_null(diag_num(d, "serialize_avg_us") / 1e6));
                json_object_object_add(o, "r_min",
                                       num_or_null(diag_num(d, "serialize_min_us") / 1e6));
                json_object_object_add(o, "r_max",
                                       num_or_null(diag_num(d, "serialize_max_us") / 1e6));
                json_object_object_add(o, "cycle", json_double(1.0));
                json_object_object_add(o, "sleep", NULL);
                json_object *phy = json_object_new_object();
                json_object_object_add(phy, "fps", num_or_null(diag_num(d, "messages_per_sec")));
                json_object_object_add(phy, "ver", json_object_new_string(RINGHUB_VERSION));
                double clients = diag_num(d, "clients");
                json_object_object_add(
                    phy, "n", isfinite(clients) ? json_object_new_int64((int64_t)clients) : NULL);
                json_object_object_add(phy, "name", json_object_new_string("ringhub"));
                json_object_object_add(phy, "rssi", NULL);
                json_object_object_add(phy, "qual", NULL);
                json_object_object_add(o, "phy", phy);
        } else {
                char text[512];
                snprintf(
                    text, sizeof(text),
                    "events/s %.0f | messages/s %.0f | bytes/s %.0f | clients %.0f | ring lag "
                    "%.0f | lost %.0f | serialize min/avg/max %.6f/%.6f/%.6f s",
                    diag_num(d, "events_per_sec"), diag_num(d, "messages_per_sec"),
                    diag_num(d, "bytes_per_sec"), diag_num(d, "clients"), diag_num(d, "ring_lag"),
                    diag_num(d, "lost"), diag_num(d, "serialize_min_us") / 1e6,
                    diag_num(d, "serialize_avg_us") / 1e6, diag_num(d, "serialize_max_us") / 1e6);
                json_object_object_add(o, "debug", json_object_new_string(text));
                json_object_object_add(o, "scroll", json_object_new_boolean(false));
        }
        return o;
}

/* What subscription s is sent of m (a borrowed reference; NULL: nothing). */
static struct hub_msg *lf_message(const struct lf_sub *s, struct hub_msg *m)
{
        if (s->kind == LF_EVENT)
                return m;
        if (diag_src != m) {
                for (unsigned k = 0; k < LF_KINDS; k++) {
                        hub_msg_unref(diag_made[k]);
                        diag_made[k] = NULL;
                }
                hub_msg_unref(diag_src);
                diag_src = hub_msg_ref(m);
                size_t len;
                const char *p = hub_msg_payload(m, &len);
                json_object *d = jsonfmt_parse(p, len);
                for (unsigned k = LF_VIRTUAL_DIAG; k < LF_KINDS && d; k++) {
                        json_object *o = diag_build(k, d);
                        const char *t = jsonfmt_text(o, &len);
                        diag_made[k] = t ? hub_msg_new(m->topic, m->flags, &t, &len, 1) : NULL;
                        if (diag_made[k])
                                diag_made[k]->ts_ns = m->ts_ns;
                        json_object_put(o);
                }
                json_object_put(d);
        }
        return diag_made[s->kind];
}

static void send_wrapped(struct lf_client *l, const struct lf_sub *s, struct hub_msg *m)
{
        char head[64];
        int hl = snprintf(head, sizeof(head), "{\"id\":%" PRId64 ",\"type\":\"event\",", s->id);
        size_t len;
        const char *p = hub_msg_payload(m, &len);
        const char *parts[] = { head, p + 1 };
        const size_t lens[] = { (size_t)hl, len - 1 };
        struct hub_msg *w = hub_msg_new(m->topic, m->flags, parts, lens, 2);
        if (!w)
                return;
        w->ts_ns = m->ts_ns;
        fanout_deliver(l->c, w);
        hub_msg_unref(w);
}

static void ledfx_deliver(struct hub_client *c, struct hub_msg *m)
{
        struct lf_client *l = client_priv(c);
        if (client_closing(c))
                return;
        for (unsigned i = 0; i < l->n_subs; i++) {
                if (l->subs[i].topic != m->topic)
                        continue;
                struct hub_msg *w = lf_message(&l->subs[i], m);
                if (w && filter_ok(&l->subs[i], w))
                        send_wrapped(l, &l->subs[i], w);
        }
}

static bool ledfx_wants(struct hub_client *c, unsigned topic)
{
        struct lf_client *l = client_priv(c);
        for (unsigned i = 0; i < l->n_subs; i++)
                if (l->subs[i].topic == topic)
                        return true;
        return false;
}

static void do_subscribe(struct lf_client *l, json_object *o, json_object *id)
{
        json_object *et, *filter = NULL;
        if (!json_object_object_get_ex(o, "event_type", &et) ||
            !json_object_is_type(et, json_type_string)) {
                reply(l->c, id, false, "Missing event_type.");
                return;
        }
        if (json_object_object_get_ex(o, "event_filter", &filter) &&
            !json_object_is_type(filter, json_type_null) &&
            !json_object_is_type(filter, json_type_object)) {
                reply(l->c, id, false, "event_filter must be an object.");
                return;
        }
        if (filter &&
            (json_object_is_type(filter, json_type_null) || json_object_object_length(filter) == 0))
                filter = NULL;
        const char *name = json_object_get_string(et);
        enum lf_kind kind = LF_EVENT;
        for (unsigned k = LF_VIRTUAL_DIAG; k < LF_KINDS; k++)
                if (strcmp(name, lf_kind_names[k]) == 0)
                        kind = k;
        int topic = kind == LF_EVENT ? topics_by_event_name(name) : (int)HUB_T_DIAG;
        if (topic < 0) {
                reply(l->c, id, false, "Unknown event type.");
                return;
        }
        int64_t sid = json_object_get_int64(id);
        struct lf_sub *s = NULL;
        for (unsigned i = 0; i < l->n_subs; i++)
                if (l->subs[i].id == sid)
                        s = &l->subs[i]; /* same id again: replaces */
        if (!s) {
                if (l->n_subs >= SUBS_MAX) {
                        reply(l->c, id, false, "Too many subscriptions.");
                        return;
                }
                s = &l->subs[l->n_subs++];
        } else
                json_object_put(s->filter);
        *s = (struct lf_sub){
                .id = sid, .topic = (unsigned)topic, .kind = kind, .filter = json_object_get(filter)
        };
        reply(l->c, id, true, NULL);
        /* Current state at once, like a snapshot. */
        struct hub_msg *m = fanout_latest(l->c, (unsigned)topic);
        if (m)
                m = lf_message(s, m);
        if (m && filter_ok(s, m))
                send_wrapped(l, s, m);
}

static void do_unsubscribe(struct lf_client *l, json_object *o, json_object *id)
{
        json_object *v;
        int64_t sid = json_object_get_int64(id);
        if (json_object_object_get_ex(o, "subscription_id", &v) &&
            json_object_is_type(v, json_type_int))
                sid = json_object_get_int64(v);
        bool found = false;
        for (unsigned i = 0; i < l->n_subs;) {
                if (l->subs[i].id == sid) {
                        json_object_put(l->subs[i].filter);
                        l->subs[i] = l->subs[--l->n_subs];
                        found = true;
                } else
                        i++;
        }
        reply(l->c, id, found, found ? NULL : "No such subscription.");
}

/* json-c keeps integers up to 2^64-1, but a subscription's id is an int64_t: one above
 * INT64_MAX would be echoed in the reply as sent and clamped in every event. */
static bool id_in_range(json_object *id)
{
        return json_object_get_int64(id) != INT64_MAX ||
               json_object_get_uint64(id) == (uint64_t)INT64_MAX;
}

static int ledfx_text(struct hub_client *c, const char *msg, size_t len)
{
        struct lf_client *l = client_priv(c);
        json_object *o = jsonfmt_parse(msg, len), *id = NULL, *type = NULL;
        if (!o || !json_object_is_type(o, json_type_object)) {
                reply(c, NULL, false, "Invalid JSON message.");
                json_object_put(o);
                return 0;
        }
        if (!json_object_object_get_ex(o, "id", &id) || !json_object_is_type(id, json_type_int) ||
            !id_in_range(id)) {
                reply(c, NULL, false, "Message needs an integer id (a signed 64-bit one).");
                json_object_put(o);
                return 0;
        }
        if (!json_object_object_get_ex(o, "type", &type) ||
            !json_object_is_type(type, json_type_string)) {
                reply(c, id, false, "Message needs a type.");
                json_object_put(o);
                return 0;
        }
        const char *t = json_object_get_string(type);
        if (strcmp(t, "subscribe_event") == 0)
                do_subscribe(l, o, id);
        else if (strcmp(t, "unsubscribe_event") == 0)
                do_unsubscribe(l, o, id);
        else
                reply(c, id, false, "Unknown command type.");
        json_object_put(o);
        return 0;
}

static int ledfx_open(struct hub_client *c)
{
        struct lf_client *l = client_priv(c);
        l->c = c;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "event_type", json_object_new_string("client_id"));
        json_object_object_add(o, "client_id", json_object_new_string(client_uuid(c)));
        fanout_reply(c, o);
        return 0;
}

static void ledfx_rate_limited(struct hub_client *c)
{
        reply(c, NULL, false, "Rate limit exceeded (WS-003).");
}

static void ledfx_close(struct hub_client *c)
{
        struct lf_client *l = client_priv(c);
        for (unsigned i = 0; i < l->n_subs; i++)
                json_object_put(l->subs[i].filter);
        l->n_subs = 0;
        /* Drop the shared parse too: nothing may outlive the loop's last client. */
        json_object_put(parsed);
        hub_msg_unref(parsed_msg);
        parsed = NULL;
        parsed_msg = NULL;
        for (unsigned k = 0; k < LF_KINDS; k++) {
                hub_msg_unref(diag_made[k]);
                diag_made[k] = NULL;
        }
        hub_msg_unref(diag_src);
        diag_src = NULL;
}

const struct dialect dialect_ledfx = {
        .name = "ledfx",
        .path = "/api/websocket",
        .priv_size = sizeof(struct lf_client),
        .render = ledfx_render,
        .on_open = ledfx_open,
        .on_text = ledfx_text,
        .wants = ledfx_wants,
        .on_close = ledfx_close,
        .deliver = ledfx_deliver,
        .rate_limited = ledfx_rate_limited,
};
