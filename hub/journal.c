/*
 * journal.c — Events and Logs (see journal.h): build, store, publish.
 *
 * Process: ringhub, any thread. One mutex orders id assignment and the store's append,
 * so ids in the store increase with the file; publishing happens after it, outside the
 * lock. Ids restart from the highest one the history still holds.
 */
#include "journal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "auth.h"
#include "events.h"
#include "hub.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "topics.h"
#include "util.h"

#define MANUFACTURER "ringhub"

static struct {
        pthread_mutex_t lock;
        uint64_t last_id[HISTORY_KINDS];
} jr = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void max_id(const char *json, size_t len, uint64_t seq, void *userdata)
{
        uint64_t *max = userdata;
        json_object *o = jsonfmt_parse(json, len), *id;
        if (o && json_object_object_get_ex(o, "id", &id) && json_object_is_type(id, json_type_int))
                *max = MAX(*max, (uint64_t)json_object_get_int64(id));
        json_object_put(o);
}

int journal_open(const char *dir, const struct history_limits *lim)
{
        int r = history_open(dir, lim);
        if (r < 0 && r != -EINVAL) {
                log_error_errno(r,
                                "history: cannot use %s, keeping alarms, events and logs in "
                                "memory only: %m",
                                dir);
                history_close();
                r = history_open(NULL, lim);
        }
        pthread_mutex_lock(&jr.lock);
        for (unsigned k = HISTORY_EVENT; k <= HISTORY_LOG; k++) {
                jr.last_id[k] = 0;
                (void)history_last((enum history_kind)k, 0, max_id, &jr.last_id[k]);
        }
        pthread_mutex_unlock(&jr.lock);
        return r;
}

void journal_close(void)
{
        history_close();
}

/* The seed's User object for whoever acted; null for the hub itself. */
static json_object *user_object(const struct journal_entry *e)
{
        if (!e->user || !*e->user)
                return NULL;
        enum auth_role r = e->role ? auth_role_from_name(e->role) : AUTH_ROLE_NONE;
        json_object *u = json_object_new_object(), *role = json_object_new_object();
        json_object_object_add(u, "identifier", json_object_new_string(e->user));
        json_object_object_add(u, "username", json_object_new_string(e->user));
        json_object_object_add(role, "name",
                               json_object_new_string(r != AUTH_ROLE_NONE ? e->role : "unknown"));
        /* PyAutomation: level 0 is the most powerful. */
        json_object_object_add(role, "level",
                               json_object_new_int(r == AUTH_ROLE_ADMIN      ? 0
                                                   : r == AUTH_ROLE_OPERATOR ? 1
                                                   : r == AUTH_ROLE_VIEWER   ? 2
                                                                             : 3));
        json_object_object_add(u, "role", role);
        json_object_object_add(u, "email", json_object_new_string(""));
        json_object_object_add(u, "name", json_object_new_string(e->user));
        json_object_object_add(u, "lastname", json_object_new_string(""));
        return u;
}

/* The fields Events and Logs share, in the seed's order up to classification. */
static json_object *common_fields(const struct journal_entry *e, uint64_t id)
{
        char ts[48];
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_uint64(id));
        json_object_object_add(
            o, "timestamp",
            jsonfmt_pyauto_time(ts, sizeof(ts), real_ns()) ? json_object_new_string(ts) : NULL);
        json_object_object_add(o, "user", user_object(e));
        json_object_object_add(o, "message", json_object_new_string(e->message));
        json_object_object_add(o, "description",
                               json_object_new_string(e->description ? e->description : ""));
        json_object_object_add(
            o, "classification",
            json_object_new_string(e->classification ? e->classification : JOURNAL_CLASS_SYSTEM));
        return o;
}

static void add_tail(json_object *o, const struct journal_entry *e)
{
        json_object_object_add(o, "segment",
                               json_object_new_string(e->segment ? e->segment : MANUFACTURER));
        json_object_object_add(o, "manufacturer", json_object_new_string(MANUFACTURER));
}

static void count(int r)
{
        if (r == 0 || r == -EIO)
                atomic_fetch_add_explicit(&hub.stats.history_entries, 1, memory_order_relaxed);
        if (r == -EIO)
                atomic_fetch_add_explicit(&hub.stats.history_write_errors, 1, memory_order_relaxed);
}

int journal_keep_alarm(const char *json, size_t len)
{
        int r = history_append(HISTORY_ALARM, json, len, NULL);
        count(r);
        return r;
}

/* Give o its id, store it, publish it on topic. Returns the id or 0. */
static uint64_t record(enum history_kind kind, unsigned topic,
                       json_object *(*build)(const struct journal_entry *, uint64_t, void *),
                       const struct journal_entry *e, void *userdata, json_object **ret)
{
        if (!e || !e->message || !*e->message)
                return 0;
        pthread_mutex_lock(&jr.lock);
        uint64_t id = ++jr.last_id[kind];
        json_object *o = build(e, id, userdata);
        size_t len = 0;
        const char *text = o ? jsonfmt_text(o, &len) : NULL;
        int r = text ? history_append(kind, text, len, NULL) : -ENOMEM;
        pthread_mutex_unlock(&jr.lock);
        count(r);
        if (r == -EINVAL)
                log_warning("history: %s %llu not kept (%zu bytes, at most %u)",
                            history_kind_name(kind), (unsigned long long)id, len,
                            HISTORY_ENTRY_MAX);
        if (!text) {
                json_object_put(o);
                return 0;
        }
        (void)events_publish_json(topic, false, o, 0);
        if (ret)
                *ret = o;
        else
                json_object_put(o);
        return id;
}

static json_object *build_event(const struct journal_entry *e, uint64_t id, void *userdata)
{
        json_object *o = common_fields(e, id);
        json_object_object_add(o, "priority",
                               json_object_new_int(e->priority ? (int)e->priority : 3));
        json_object_object_add(o, "criticity",
                               json_object_new_int(e->criticity ? (int)e->criticity : 1));
        add_tail(o, e);
        json_object_object_add(o, "has_comments", json_object_new_boolean(false));
        return o;
}

uint64_t journal_event(const struct journal_entry *e, json_object **ret_event)
{
        if (ret_event)
                *ret_event = NULL;
        return record(HISTORY_EVENT, HUB_T_EVENT, build_event, e, NULL, ret_event);
}

struct log_links {
        json_object *event, *alarm;
};

static json_object *build_log(const struct journal_entry *e, uint64_t id, void *userdata)
{
        struct log_links *l = userdata;
        json_object *o = common_fields(e, id);
        /* A copy: the Event object itself may be held by a sink on another thread, and
         * json-c serializes into the object it prints. */
        json_object *ev = NULL;
        if (l->event && json_object_deep_copy(l->event, &ev, NULL) < 0)
                ev = NULL;
        json_object_object_add(o, "event", ev);
        json_object *al = NULL;
        if (l->alarm && json_object_deep_copy(l->alarm, &al, NULL) < 0)
                al = NULL;
        json_object_object_add(o, "alarm", al);
        add_tail(o, e);
        return o;
}

uint64_t journal_log(const struct journal_entry *e, json_object *event, json_object *alarm)
{
        struct log_links l = { .event = event, .alarm = alarm };
        return record(HISTORY_LOG, HUB_T_LOG, build_log, e, &l, NULL);
}

uint64_t journal_action(const struct journal_entry *e, json_object *alarm)
{
        json_object *ev = NULL;
        uint64_t id = journal_event(e, &ev);
        if (id)
                (void)journal_log(e, ev, alarm);
        json_object_put(ev);
        return id;
}
