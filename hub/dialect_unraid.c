/*
 * dialect_unraid.c — the Unraid-agent dialect on GET /api/v1/ws.
 *
 * Process: ringhub. Envelope {"event":<topic>,"timestamp":<RFC 3339 ns, local offset>,
 * "data":…} around the canonical data JSON, which the core serialized once with
 * RJ_SEED_TYPED|RJ_ALIASES (every seed field with its seed type, both field
 * generations); this file only joins bytes, it never encodes data again. It carries the
 * topics marked TC_UNRAID in topics.def, under their event names. Clients may send
 * {"subscribe":[…]} ([] or null = everything; a topic's alias is accepted too); the
 * snapshot on connect is the latest frame of each topic. No rate_limited hook: excess
 * messages are dropped silently. See docs/wire-unraid.md. No per-client encoding.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "client.h"
#include "dialect.h"
#include "events.h"
#include "fanout.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "util.h"

struct unraid_client {
        bool filtered;
        bool want[HUB_T_MAX];
};

/* The row of a topic this dialect carries, or NULL. */
static const struct topic_info *topic_of(unsigned topic)
{
        const struct topic_info *t = topics_get(topic);
        return t && (t->carry & TC_UNRAID) && t->event ? t : NULL;
}

static const char *str_of(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : "";
}

/* An alarm change as an Unraid notification {id, alarm_id, title, subject, description,
 * importance alert|warning|normal, type unread|archive, timestamp, event, alarm}. */
static json_object *notification(const struct hub_event *ev, const char *ts)
{
        json_object *a = events_data(ev), *st = NULL, *o = json_object_new_object();
        if (!o)
                return NULL;
        const char *what = str_of(a, "event"), *trig = str_of(a, "trigger_type");
        (void)json_object_object_get_ex(a, "state", &st);
        const char *state = str_of(st, "state");
        bool raised = strcmp(what, "raised") == 0;
        bool severe = !strcmp(trig, "HIGH-HIGH") || !strcmp(trig, "LOW-LOW");
        bool unread = !strcmp(state, "Unacknowledged") || !strcmp(state, "RTN Unacknowledged");
        char id[96], subject[160], desc[320];
        snprintf(id, sizeof(id), "ringhub-alarm-%s-%" PRIu64, str_of(a, "id"), ev->ts_ns);
        snprintf(subject, sizeof(subject), "Alarm %s %s", str_of(a, "name"), what);
        snprintf(desc, sizeof(desc), "%s (%s %s): %s", str_of(a, "tag"), trig,
                 json_object_to_json_string(json_object_object_get(a, "trigger_value")), state);
        json_object_object_add(o, "id", json_object_new_string(id));
        json_object_object_add(o, "alarm_id", json_object_new_string(str_of(a, "id")));
        json_object_object_add(o, "title", json_object_new_string("ringhub alarm"));
        json_object_object_add(o, "subject", json_object_new_string(subject));
        json_object_object_add(o, "description", json_object_new_string(desc));
        json_object_object_add(
            o, "importance",
            json_object_new_string(raised ? (severe ? "alert" : "warning") : "normal"));
        json_object_object_add(o, "type", json_object_new_string(unread ? "unread" : "archive"));
        json_object_object_add(o, "timestamp", json_object_new_string(ts));
        json_object_object_add(o, "event", json_object_new_string(what));
        json_object_object_add(o, "alarm", json_object_get(a));
        return o;
}

static struct hub_msg *unraid_render(const struct hub_event *ev)
{
        const struct topic_info *t = topic_of(ev->topic);
        if (!t)
                return NULL;
        char ts[64];
        const char *name = t->event;
        size_t tl = format_rfc3339_ns(ts, sizeof(ts), ev->ts_ns, false);
        if (!tl)
                return NULL;
        const char *data = ev->json;
        size_t data_len = ev->json_len;
        json_object *note = NULL;
        if (ev->topic >= HUB_T_ALARM_RAISED && ev->topic <= HUB_T_ALARM_DELETED) {
                name = t->alias; /* notifications_update */
                note = notification(ev, ts);
                data = note ? jsonfmt_text(note, &data_len) : NULL;
                if (!data) {
                        json_object_put(note);
                        return NULL;
                }
        }
        const char *parts[] = {
                "{\"event\":\"", name, "\",\"timestamp\":\"", ts, "\",\"data\":", data, "}"
        };
        const size_t lens[] = { 10, strlen(name), 15, tl, 9, data_len, 1 };
        static_assert(sizeof("{\"event\":\"") - 1 == 10, "part 0");
        static_assert(sizeof("\",\"timestamp\":\"") - 1 == 15, "part 2");
        static_assert(sizeof("\",\"data\":") - 1 == 9, "part 4");
        struct hub_msg *m = hub_msg_new((uint16_t)ev->topic, ev->state ? HUB_MSG_STATE : 0, parts,
                                        lens, ELEMENTSOF(parts));
        json_object_put(note);
        return m;
}

static int unraid_open(struct hub_client *c)
{
        fanout_snapshot(c);
        return 0;
}

static int unraid_text(struct hub_client *c, const char *msg, size_t len)
{
        struct unraid_client *u = client_priv(c);
        /* Strict, as the agent: depth 16 and not even trailing whitespace. */
        json_tokener *tok = json_tokener_new_ex(16);
        if (!tok)
                return 1011;
        json_object *o = json_tokener_parse_ex(tok, msg, (int)len);
        bool bad = !o || json_tokener_get_error(tok) != json_tokener_success ||
                   tok->char_offset != (int)len;
        json_tokener_free(tok);
        if (bad) {
                json_object_put(o);
                log_debug("client %llu: malformed JSON message, closing",
                          (unsigned long long)client_id(c));
                return 1007;
        }
        json_object *sub;
        if (json_object_is_type(o, json_type_object) &&
            json_object_object_get_ex(o, "subscribe", &sub)) {
                size_t n =
                    json_object_is_type(sub, json_type_array) ? json_object_array_length(sub) : 0;
                memset(u->want, 0, sizeof(u->want));
                u->filtered = n > 0;
                for (size_t i = 0; i < n; i++) {
                        const char *name =
                            json_object_get_string(json_object_array_get_idx(sub, i));
                        bool known = false;
                        for (size_t k = 0; name && k < TOPICS_N; k++) {
                                const struct topic_info *t = topic_of(topics_row(k)->id);
                                if (t && (strcmp(name, t->event) == 0 ||
                                          (t->alias && strcmp(name, t->alias) == 0))) {
                                        u->want[t->id] = true;
                                        known = true;
                                }
                        }
                        if (!known)
                                log_debug("client %llu: unknown topic '%s' in subscribe, ignoring",
                                          (unsigned long long)client_id(c), name ? name : "?");
                }
        }
        /* Anything else is ignored, as the agent does. */
        json_object_put(o);
        return 0;
}

static bool unraid_wants(struct hub_client *c, unsigned topic)
{
        struct unraid_client *u = client_priv(c);
        return !u->filtered || (topic < HUB_T_MAX && u->want[topic]);
}

const struct dialect dialect_unraid = {
        .name = "unraid",
        .path = "/api/v1/ws",
        .priv_size = sizeof(struct unraid_client),
        .flags = 0,
        .render = unraid_render,
        .on_open = unraid_open,
        .on_text = unraid_text,
        .wants = unraid_wants,
};
