/*
 * alarms_hub.c — the hub's alarms (see alarms_hub.h): the set, its index, the sink that
 * feeds values to the engines, the events they cause, definitions and operator actions.
 *
 * Process: ringhub. The sink (reader thread) looks each changed entity up in a hash of
 * (topic, entity) → alarms, so its cost is the alarms watching that entity, not all of
 * them. A LIST topic (disks, containers…) arrives whole: an alarm whose entity is not in
 * it any more has lost its source (the engine returns it to normal: Unacknowledged goes to
 * RTN Unacknowledged, Acknowledged to Normal, each with an event); a missing value (null,
 * a spun-down disk's temperature, a UPS gone), an OPC UA quality "Bad…" or no value for the
 * alarm's stale_after does the same; without one, an alarm on a topic that comes every
 * cycle (SINGLE, LIST) goes stale after three of its cycles without a value (its
 * collector died or stalled), at least AUTO_STALE_MIN_NS. Definitions from the configuration file
 * are fixed (409 over REST); those made over REST are saved to the state directory's alarms.json on
 * every change and loaded at start. Alarm states are not saved: after a restart every
 * alarm starts in Normal and the first values raise what is still abnormal.
 */
#include "alarms_hub.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alarms_defs.h"
#include "events.h"
#include "history.h"
#include "hub.h"
#include "journal.h"
#include "jsonfmt.h"
#include "log.h"
#include "macros.h"
#include "schema.h"
#include "topics.h"
#include "util.h"

#define PEND_MAX          65536 /* changes waiting for flush; beyond, dropped and counted */
#define ALARMS_MAX        100000
#define AUTO_STALE_MIN_NS (10 * NSEC_PER_SEC)

static_assert(HUB_T_ALARM_DELETED - HUB_T_ALARM_RAISED == ALARM_CH_DELETED - ALARM_CH_RAISED,
              "topics.def alarm rows follow enum alarm_change");

struct entry {
        struct alarm a;
        unsigned topic;
        char entity[ALARM_TAG_MAX];
        char field[ALARM_TAG_MAX];
        struct entry *hnext; /* same hash bucket */
        uint64_t gen;        /* LIST publish in which it was last seen */
};

struct pend {
        unsigned topic;
        json_object *o;
        char *user;       /* who acted, or NULL */
        const char *role; /* a static role name, or NULL */
        char msg[ALARM_NAME_MAX + 64];
        char desc[ALARM_TAG_MAX + 96];
        unsigned priority;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t save_lock = PTHREAD_MUTEX_INITIALIZER;  /* taken before lock */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER; /* taken before lock */
static struct entry **ents;                                    /* in creation order */
static size_t n_ents, cap_ents;
static struct entry **buckets;
static size_t n_buckets; /* power of two */
static _Atomic unsigned watching[RT_MAX];
static uint64_t list_gen[RT_MAX];
static uint64_t pub_ns[RT_MAX], period_ns[RT_MAX]; /* SINGLE/LIST topics: last, mean gap */
static struct pend *pend;
static size_t n_pend, cap_pend;
static uint64_t dropped;
static char store_path[4096];

/* ---- the index ---- */

static size_t hash_of(unsigned topic, const char *entity)
{
        uint64_t h = 1469598103934665603ull ^ topic;
        for (const char *p = entity; *p; p++)
                h = (h ^ (uint8_t)*p) * 1099511628211ull;
        return (size_t)(h ^ (h >> 29));
}

static int reindex(void)
{
        size_t nb = 64;
        while (nb < 2 * n_ents)
                nb *= 2;
        struct entry **b = calloc(nb, sizeof(*b));
        if (!b)
                return -ENOMEM;
        for (size_t i = n_ents; i-- > 0;) {
                struct entry *e = ents[i];
                size_t h = hash_of(e->topic, e->entity) & (nb - 1);
                e->hnext = b[h];
                b[h] = e;
        }
        free(buckets);
        buckets = b;
        n_buckets = nb;
        return 0;
}

static struct entry *by_id(const char *id)
{
        for (size_t i = 0; i < n_ents; i++)
                if (strcmp(ents[i]->a.def.id, id) == 0)
                        return ents[i];
        return NULL;
}

static struct entry *by_name(const char *name)
{
        for (size_t i = 0; i < n_ents; i++)
                if (strcmp(ents[i]->a.def.name, name) == 0)
                        return ents[i];
        return NULL;
}

/* ---- changes → pending events ---- */

static const char *name_of(const struct alarms_actor *who)
{
        return who && who->name ? who->name : "ringhub";
}

static void queue_one(const struct entry *e, enum alarm_change c, const struct alarms_actor *who)
{
        if (n_pend >= PEND_MAX) {
                if (dropped++ % 1000 == 0)
                        log_warning("alarm events are not being published: %" PRIu64 " dropped",
                                    dropped);
                return;
        }
        if (n_pend == cap_pend) {
                size_t cap = cap_pend ? cap_pend * 2 : 32;
                struct pend *p = realloc(pend, cap * sizeof(*p));
                if (!p)
                        return;
                pend = p;
                cap_pend = cap;
        }
        const char *user = who ? name_of(who) : NULL;
        json_object *o = alarms_payload(&e->a, (int)c, user);
        if (!o)
                return;
        struct pend *p = &pend[n_pend++];
        *p = (struct pend){ .topic = HUB_T_ALARM_RAISED + (unsigned)c,
                            .o = o,
                            .user = user ? strdup(user) : NULL,
                            .role = who ? who->role : NULL,
                            .priority = e->a.def.trigger == ALARM_TRIG_HIGH_HIGH ||
                                                e->a.def.trigger == ALARM_TRIG_LOW_LOW
                                            ? 1
                                            : 2 };
        snprintf(p->msg, sizeof(p->msg), "Alarm %s %s", e->a.def.name, alarm_change_name(c));
        snprintf(p->desc, sizeof(p->desc), "%s = %g (%s %g): %s%s", e->a.def.tag,
                 e->a.have_value ? e->a.value : NAN, alarm_trigger_name(e->a.def.trigger),
                 e->a.def.setpoint, alarm_state_name(e->a.state),
                 e->a.source_lost ? ", source lost" : "");
}

static void queue(const struct entry *e, const struct alarm_changes *c,
                  const struct alarms_actor *who)
{
        for (unsigned i = 0; i < c->n; i++) {
                queue_one(e, c->ch[i], who);
                log_info("alarm %s (%s = %g): %s, now %s%s%s", e->a.def.name, e->a.def.tag,
                         e->a.have_value ? e->a.value : NAN, alarm_change_name(c->ch[i]),
                         alarm_state_name(e->a.state), who ? " by " : "", who ? name_of(who) : "");
        }
}

void alarms_hub_flush(void)
{
        /* One flush at a time, so events go out in the order they were queued. The lws
         * thread never waits for it: a flush elsewhere may be waiting for that thread to
         * drain the hand-off queue; what it leaves goes with the reader's next drain or
         * tick (within a second). */
        if (hub_on_loop_thread() ? pthread_mutex_trylock(&flush_lock) != 0
                                 : pthread_mutex_lock(&flush_lock) != 0)
                return;
        pthread_mutex_lock(&lock);
        struct pend *p = pend;
        size_t n = n_pend;
        pend = NULL;
        n_pend = cap_pend = 0;
        pthread_mutex_unlock(&lock);
        for (size_t i = 0; i < n; i++) {
                (void)events_publish_json(p[i].topic, false, p[i].o, 0);
                /* last_alarms, and the Event and Log of the change */
                size_t len;
                const char *s = jsonfmt_text(p[i].o, &len);
                if (s && len <= HISTORY_ENTRY_MAX)
                        (void)journal_keep_alarm(s, len);
                struct journal_entry je = {
                        .message = p[i].msg,
                        .description = p[i].desc,
                        .classification = JOURNAL_CLASS_ALARM,
                        .user = p[i].user,
                        .role = p[i].role,
                        .priority = p[i].priority,
                        .criticity = p[i].priority == 1 ? 5 : 3,
                };
                /* an operator's action: an Event and a Log linking the alarm; the process's
                 * transitions: an Event */
                if (p[i].user)
                        (void)journal_action(&je, p[i].o);
                else
                        (void)journal_event(&je, NULL);
                json_object_put(p[i].o);
                free(p[i].user);
        }
        free(p);
        pthread_mutex_unlock(&flush_lock);
}

/* ---- the sink ---- */

/* The value of field in an entity object: NaN when missing, null, not a number, or when
 * the entity's quality says the value is bad (OPC UA). */
static double value_of(json_object *ent, const char *field)
{
        json_object *v;
        if (json_object_object_get_ex(ent, "quality", &v) &&
            json_object_is_type(v, json_type_string) &&
            startswith(json_object_get_string(v), "Bad"))
                return NAN;
        if (!json_object_object_get_ex(ent, field, &v))
                return NAN;
        if (json_object_is_type(v, json_type_boolean))
                return json_object_get_boolean(v) ? 1 : 0;
        if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
                return json_object_get_double(v);
        return NAN;
}

static void feed(unsigned topic, const char *entity, json_object *obj, uint64_t gen, uint64_t now)
{
        if (!n_buckets)
                return;
        const char *field = NULL; /* the alarms of an entity mostly watch one field */
        double v = NAN;
        for (struct entry *e = buckets[hash_of(topic, entity) & (n_buckets - 1)]; e; e = e->hnext) {
                if (e->topic != topic || strcmp(e->entity, entity) != 0)
                        continue;
                if (!field || strcmp(field, e->field) != 0) {
                        field = e->field;
                        v = value_of(obj, field);
                }
                struct alarm_changes c = { 0 };
                e->gen = gen;
                alarm_value(&e->a, v, now, &c);
                queue(e, &c, NULL);
        }
}

static const char *str_of(json_object *o, const char *key)
{
        json_object *v;
        return key && json_object_object_get_ex(o, key, &v) &&
                       json_object_is_type(v, json_type_string)
                   ? json_object_get_string(v)
                   : NULL;
}

/* One entity of a LIST or KEYED topic, by its key and by the names people use for it
 * (a disk's device sda beside its id disk1, a container's name beside its id). */
static void feed_entity(const struct record_desc *d, json_object *obj, uint64_t gen, uint64_t now)
{
        const char *names[3] = { str_of(obj, d->key), str_of(obj, "device"), str_of(obj, "name") };
        for (unsigned i = 0; i < ELEMENTSOF(names); i++) {
                bool dup = !names[i];
                for (unsigned j = 0; j < i && !dup; j++)
                        dup = names[j] && strcmp(names[i], names[j]) == 0;
                if (!dup)
                        feed(d->id, names[i], obj, gen, now);
        }
}

static void on_event(const struct hub_event *ev, void *userdata)
{
        (void)userdata;
        if (ev->topic >= RT_MAX ||
            !atomic_load_explicit(&watching[ev->topic], memory_order_relaxed))
                return;
        const struct record_desc *d = schema_record(ev->topic);
        json_object *data = d ? events_data(ev) : NULL;
        if (!data)
                return;
        uint64_t now = real_ns();
        pthread_mutex_lock(&lock);
        if (d->kind == SK_SINGLE || d->kind == SK_LIST) {
                /* how often the topic comes (its collector's cycle), for auto staleness */
                uint64_t gap = pub_ns[d->id] && now > pub_ns[d->id] ? now - pub_ns[d->id] : 0;
                period_ns[d->id] = !gap                ? period_ns[d->id]
                                   : !period_ns[d->id] ? gap
                                                       : (3 * period_ns[d->id] + gap) / 4;
                pub_ns[d->id] = now;
        }
        if (d->kind == SK_SINGLE) {
                feed(d->id, "", data, 0, now);
        } else if (d->kind == SK_KEYED) {
                feed_entity(d, data, 0, now);
        } else if (d->kind == SK_LIST && json_object_is_type(data, json_type_array)) {
                uint64_t gen = ++list_gen[d->id];
                size_t n = json_object_array_length(data);
                for (size_t i = 0; i < n; i++)
                        feed_entity(d, json_object_array_get_idx(data, i), gen, now);
                /* Entities gone from the list. */
                for (size_t i = 0; i < n_ents; i++) {
                        struct entry *e = ents[i];
                        if (e->topic != d->id || e->gen == gen)
                                continue;
                        struct alarm_changes c = { 0 };
                        alarm_lost(&e->a, now, &c);
                        queue(e, &c, NULL);
                }
        }
        pthread_mutex_unlock(&lock);
}

void alarms_hub_tick(uint64_t now)
{
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_ents; i++) {
                struct entry *e = ents[i];
                struct alarm_changes c = { 0 };
                alarm_tick(&e->a, now, &c);
                /* Without a stale_after of its own, an alarm on a topic that comes every
                 * cycle loses its source after three cycles without it (at least
                 * AUTO_STALE_MIN): its collector died, stalled or stopped. */
                uint64_t p = e->topic < RT_MAX ? period_ns[e->topic] : 0;
                if (!e->a.def.stale_ms && p && e->a.have_value &&
                    now - e->a.seen_ns >= MAX(3 * p, AUTO_STALE_MIN_NS))
                        alarm_lost(&e->a, now, &c);
                queue(e, &c, NULL);
        }
        pthread_mutex_unlock(&lock);
}

/* The alarms need no periodic events (diagnostics): an idle hub may slow its tick; what
 * they need of it, alarms_hub_timing() tells the reader. */
static bool wants_periodic(void *userdata)
{
        (void)userdata;
        return false;
}

bool alarms_hub_watching(void)
{
        pthread_mutex_lock(&lock);
        bool any = n_ents > 0;
        pthread_mutex_unlock(&lock);
        return any;
}

bool alarms_hub_timing(void)
{
        bool timing = false;
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_ents && !timing; i++)
                timing = ents[i]->a.pending || ents[i]->a.state == ALARM_SHELVED;
        pthread_mutex_unlock(&lock);
        return timing;
}

/* ---- the set ---- */

static struct entry *entry_new(const struct alarm_def *d)
{
        if (n_ents >= ALARMS_MAX)
                return NULL;
        struct entry *e = calloc(1, sizeof(*e));
        char t[ALARM_TAG_MAX];
        if (!e || !alarm_path_split(d->tag, t, e->entity, e->field)) {
                free(e);
                return NULL;
        }
        const struct record_desc *r = schema_record_by_name(t);
        e->topic = r ? r->id : 0;
        alarm_init(&e->a, d, real_ns());
        if (n_ents == cap_ents) {
                size_t cap = cap_ents ? cap_ents * 2 : 16;
                struct entry **a = realloc(ents, cap * sizeof(*a));
                if (!a) {
                        free(e);
                        return NULL;
                }
                ents = a;
                cap_ents = cap;
        }
        ents[n_ents++] = e;
        if (2 * n_ents > n_buckets) {
                if (reindex() < 0) {
                        n_ents--;
                        free(e);
                        return NULL;
                }
        } else {
                size_t h = hash_of(e->topic, e->entity) & (n_buckets - 1);
                e->hnext = buckets[h];
                buckets[h] = e;
        }
        if (e->topic < RT_MAX)
                atomic_fetch_add(&watching[e->topic], 1);
        hub_reader_kick(); /* an idle reader goes back on the ring's doorbell */
        return e;
}

static void entry_remove(struct entry *e)
{
        for (size_t i = 0; i < n_ents; i++)
                if (ents[i] == e) {
                        memmove(ents + i, ents + i + 1, (n_ents - i - 1) * sizeof(*ents));
                        n_ents--;
                        break;
                }
        if (e->topic < RT_MAX)
                atomic_fetch_sub(&watching[e->topic], 1);
        (void)reindex();
        free(e);
}

/* The REST definitions as they are to be: with put (added, or replacing its id), without
 * the alarm drop. Caller holds lock. */
static json_object *defs_after(const struct alarm_def *put, const char *drop)
{
        json_object *a = json_object_new_array();
        bool replaced = false;
        for (size_t i = 0; a && i < n_ents; i++) {
                const struct alarm_def *d = &ents[i]->a.def;
                if (d->from_config || (drop && strcmp(d->id, drop) == 0))
                        continue;
                if (put && strcmp(d->id, put->id) == 0) {
                        d = put;
                        replaced = true;
                }
                json_object_array_add(a, alarms_def_json(d));
        }
        if (a && put && !replaced)
                json_object_array_add(a, alarms_def_json(put));
        return a;
}

/* Write what defs_after() gave (and put it), outside lock: the reader's sink never waits
 * for the disk. Callers hold save_lock, so definitions change one at a time. */
static int store(json_object *a)
{
        int r = !a ? -ENOMEM : store_path[0] ? alarms_file_write(store_path, a) : 0;
        json_object_put(a);
        if (r < 0)
                log_error_errno(r, "cannot save alarm definitions to %s: %m", store_path);
        return r;
}

/* Add every definition of a file; errors name the file and the entry. */
static int load(const char *path, bool from_config)
{
        json_object *arr = NULL;
        int r = alarms_file_read(path, &arr);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return log_error_errno(r, "cannot read alarm definitions %s: %m", path);
        for (size_t i = 0; i < json_object_array_length(arr); i++) {
                struct alarm_def d;
                const char *why;
                if (alarms_def_parse(json_object_array_get_idx(arr, i), NULL, &d, &why) < 0) {
                        log_error("%s: alarm %zu: %s", path, i + 1, why);
                        r = -EINVAL;
                        continue;
                }
                d.from_config = from_config;
                if (by_id(d.id) || by_name(d.name)) {
                        log_error("%s: alarm %zu: %s is defined twice, ignoring", path, i + 1,
                                  d.name);
                        continue;
                }
                if (!entry_new(&d))
                        r = -ENOMEM;
        }
        json_object_put(arr);
        if (r == 0 && n_ents)
                log_info("alarms: %zu defined after %s", n_ents, path);
        return r;
}

int alarms_hub_init(const char *config_file, const char *state_dir)
{
        int r = 0;
        if (config_file && *config_file)
                r = load(config_file, true);
        if (r < 0)
                return r;
        if (state_dir && *state_dir) {
                if (mkdir(state_dir, 0700) < 0 && errno != EEXIST)
                        log_warning_errno(-errno, "cannot create %s, ignoring: %m", state_dir);
                if (path_join(store_path, sizeof(store_path), state_dir, "/alarms.json") < 0)
                        return log_error_errno(-ENAMETOOLONG, "state directory too long: %m");
                (void)load(store_path, false); /* a bad file is logged; REST rewrites it */
        }
        r = reindex();
        if (r < 0)
                return r;
        return events_add_sink(on_event, wants_periodic, NULL);
}

void alarms_hub_free(void)
{
        alarms_hub_flush();
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_ents; i++)
                free(ents[i]);
        free(ents);
        free(buckets);
        ents = NULL;
        buckets = NULL;
        n_ents = cap_ents = n_buckets = 0;
        pthread_mutex_unlock(&lock);
}

/* ---- REST and commands ---- */

static struct alarms_result fail(unsigned http, const char *why)
{
        return (struct alarms_result){ .http = http, .error = why };
}

static struct alarms_result ok(unsigned http, const struct entry *e)
{
        return (struct alarms_result){ .http = http, .payload = alarms_payload(&e->a, -1, NULL) };
}

struct alarms_result alarms_hub_create(json_object *body, const struct alarms_actor *who)
{
        struct alarm_def d;
        const char *why;
        if (alarms_def_parse(body, NULL, &d, &why) < 0)
                return fail(400, why);
        pthread_mutex_lock(&save_lock);
        pthread_mutex_lock(&lock);
        struct alarms_result res = { 0 };
        json_object *after = NULL;
        if (by_id(d.id) || by_name(d.name))
                res = fail(409, "an alarm with this name or id exists");
        else if (n_ents >= ALARMS_MAX)
                res = fail(409, "too many alarms");
        else
                after = defs_after(&d, NULL);
        pthread_mutex_unlock(&lock);
        if (!res.error && store(after) < 0)
                res = fail(500, "cannot save the definition");
        if (!res.error) {
                pthread_mutex_lock(&lock);
                struct entry *e = entry_new(&d);
                if (!e) {
                        res = fail(500, "out of memory");
                } else {
                        queue_one(e, ALARM_CH_CREATED, who);
                        log_notice("audit: alarm %s (%s) created by %s", d.name, d.id,
                                   name_of(who));
                        res = ok(201, e);
                }
                pthread_mutex_unlock(&lock);
        }
        pthread_mutex_unlock(&save_lock);
        alarms_hub_flush();
        return res;
}

struct alarms_result alarms_hub_update(const char *id, json_object *body,
                                       const struct alarms_actor *who)
{
        pthread_mutex_lock(&save_lock);
        pthread_mutex_lock(&lock);
        struct entry *e = by_id(id);
        struct alarms_result res = { 0 };
        struct alarm_def d;
        const char *why = NULL;
        json_object *v, *after = NULL;
        if (!e)
                res = fail(404, "no such alarm");
        else if (e->a.def.from_config)
                res = fail(409, "defined in the configuration file: change it there");
        else if (alarms_def_parse(body, &e->a.def, &d, &why) < 0)
                res = fail(400, why);
        else if (strcmp(d.id, id) != 0 || (json_object_object_get_ex(body, "name", &v) &&
                                           by_name(d.name) && by_name(d.name) != e))
                res = fail(409, "the id cannot change and the name must stay unique");
        else
                after = defs_after(&d, NULL);
        pthread_mutex_unlock(&lock);
        if (!res.error && store(after) < 0)
                res = fail(500, "cannot save the definition");
        if (!res.error) {
                char t[ALARM_TAG_MAX], ent[ALARM_TAG_MAX], f[ALARM_TAG_MAX];
                (void)alarm_path_split(d.tag, t, ent, f);
                const struct record_desc *r = schema_record_by_name(t);
                unsigned topic = r ? r->id : 0;
                pthread_mutex_lock(&lock);
                e = by_id(id); /* still there: definitions change under save_lock only */
                struct alarm_changes c = { 0 };
                alarm_redefine(&e->a, &d, real_ns(), &c);
                if (topic != e->topic) {
                        atomic_fetch_sub(&watching[e->topic], 1);
                        atomic_fetch_add(&watching[topic], 1);
                }
                e->topic = topic;
                strcpy(e->entity, ent);
                strcpy(e->field, f);
                (void)reindex();
                queue(e, &c, who);
                log_notice("audit: alarm %s (%s) updated by %s", d.name, d.id, name_of(who));
                res = ok(200, e);
                pthread_mutex_unlock(&lock);
        }
        pthread_mutex_unlock(&save_lock);
        alarms_hub_flush();
        return res;
}

struct alarms_result alarms_hub_delete(const char *id, const struct alarms_actor *who)
{
        pthread_mutex_lock(&save_lock);
        pthread_mutex_lock(&lock);
        struct entry *e = by_id(id);
        struct alarms_result res = { 0 };
        json_object *after = NULL;
        if (!e)
                res = fail(404, "no such alarm");
        else if (e->a.def.from_config)
                res = fail(409, "defined in the configuration file: remove it there");
        else
                after = defs_after(NULL, id);
        pthread_mutex_unlock(&lock);
        if (!res.error && store(after) < 0)
                res = fail(500, "cannot save the definition");
        if (!res.error) {
                pthread_mutex_lock(&lock);
                e = by_id(id);
                res = ok(200, e);
                queue_one(e, ALARM_CH_DELETED, who);
                log_notice("audit: alarm %s (%s) deleted by %s", e->a.def.name, id, name_of(who));
                entry_remove(e);
                pthread_mutex_unlock(&lock);
        }
        pthread_mutex_unlock(&save_lock);
        alarms_hub_flush();
        return res;
}

struct alarms_result alarms_hub_act(const char *id, enum alarm_action act, json_object *args,
                                    const struct alarms_actor *who)
{
        double dur = 0;
        if (args && !json_object_is_type(args, json_type_object))
                return fail(400, "the body must be a JSON object");
        json_object *dv;
        if (args && json_object_object_get_ex(args, "duration", &dv) &&
            (!(json_object_is_type(dv, json_type_int) ||
               json_object_is_type(dv, json_type_double)) ||
             (dur = json_object_get_double(dv)) <= 0 || dur > 7 * 86400.0))
                return fail(400, "duration is seconds, more than 0 and at most 604800");
        pthread_mutex_lock(&lock);
        struct entry *e = by_id(id);
        if (!e)
                e = by_name(id);
        struct alarms_result res;
        if (!e) {
                res = fail(404, "no such alarm");
        } else {
                struct alarm_changes c = { 0 };
                int r = alarm_act(&e->a, act, name_of(who), (uint64_t)llround(dur * 1000.0),
                                  real_ns(), &c);
                if (r < 0) {
                        res = fail(409, r == -EALREADY ? "nothing to do in this state"
                                                       : "not possible in this state");
                } else {
                        queue(e, &c, who);
                        log_notice("audit: alarm %s (%s) %s by %s: now %s", e->a.def.name,
                                   e->a.def.id, alarm_action_name(act), name_of(who),
                                   alarm_state_name(e->a.state));
                        res = ok(200, e);
                }
        }
        pthread_mutex_unlock(&lock);
        alarms_hub_flush();
        return res;
}

struct alarms_result alarms_hub_ack_all(const struct alarms_actor *who)
{
        json_object *list = json_object_new_array();
        if (!list)
                return fail(500, "out of memory");
        unsigned n = 0;
        uint64_t now = real_ns();
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_ents; i++) {
                struct entry *e = ents[i];
                struct alarm_changes c = { 0 };
                if (!alarm_is_unacked(&e->a) ||
                    alarm_act(&e->a, ALARM_ACT_ACKNOWLEDGE, name_of(who), 0, now, &c) < 0)
                        continue;
                queue(e, &c, who);
                json_object_array_add(list, alarms_payload(&e->a, -1, NULL));
                n++;
        }
        pthread_mutex_unlock(&lock);
        log_notice("audit: %u alarm(s) acknowledged by %s (acknowledge all)", n, name_of(who));
        alarms_hub_flush();
        json_object *o = json_object_new_object();
        json_object_object_add(o, "acknowledged", json_object_new_int((int)n));
        json_object_object_add(o, "alarms", list);
        return (struct alarms_result){ .http = 200, .payload = o };
}

void alarms_hub_command(json_object *reply, const char *action, const char *id, json_object *args,
                        bool allowed, const struct alarms_actor *who)
{
        bool all = action && strcmp(action, "acknowledge-all") == 0;
        int act = action ? alarm_action_parse(action) : -1;
        struct alarms_result res;
        if (!all && act < 0)
                res = fail(400, "unknown alarm action");
        else if (!all && (!id || !*id))
                res = fail(400, "an alarm action needs the alarm's id");
        else if (!allowed)
                res = fail(403, "the operator role is required");
        else if (all)
                res = alarms_hub_ack_all(who);
        else
                res = alarms_hub_act(id, (enum alarm_action)act, args, who);
        const char *status = res.http == 200   ? "OK"
                             : res.http == 403 ? "FORBIDDEN"
                             : res.http == 404 ? "NOT_FOUND"
                             : res.http == 409 ? "CONFLICT"
                                               : "INVALID_COMMAND";
        json_object *d = json_object_new_object();
        json_object_object_add(d, "target", json_object_new_string("alarms"));
        json_object_object_add(d, "action", action ? json_object_new_string(action) : NULL);
        json_object_object_add(d, "id", id ? json_object_new_string(id) : NULL);
        json_object_object_add(d, "status", json_object_new_string(status));
        json_object_object_add(d, "message",
                               json_object_new_string(res.error ? res.error : "done"));
        json_object_object_add(d, "result", res.payload);
        json_object_object_add(reply, "success", json_object_new_boolean(!res.error));
        json_object_object_add(reply, "data", d);
}

/* ---- snapshots and metrics ---- */

static json_object *collect(bool active_only)
{
        json_object *a = json_object_new_array();
        pthread_mutex_lock(&lock);
        for (size_t i = 0; a && i < n_ents; i++)
                if (!active_only || alarm_is_active(&ents[i]->a))
                        json_object_array_add(a, alarms_payload(&ents[i]->a, -1, NULL));
        pthread_mutex_unlock(&lock);
        return a;
}

json_object *alarms_hub_list(void)
{
        return collect(false);
}

json_object *alarms_hub_active(void)
{
        return collect(true);
}

json_object *alarms_hub_get(const char *id)
{
        pthread_mutex_lock(&lock);
        struct entry *e = by_id(id);
        json_object *o = e ? alarms_payload(&e->a, -1, NULL) : NULL;
        pthread_mutex_unlock(&lock);
        return o;
}

void alarms_hub_metrics(FILE *o)
{
        unsigned active = 0, unacked = 0;
        pthread_mutex_lock(&lock);
        fputs("# HELP ringhub_alarm_state ISA-18.2 state of an alarm: 0 Normal, 1 Unacknowledged, "
              "2 Acknowledged, 3 RTN Unacknowledged, 4 Shelved, 5 Suppressed By Design, "
              "6 Out Of Service\n# TYPE ringhub_alarm_state gauge\n",
              o);
        for (size_t i = 0; i < n_ents; i++) {
                const struct alarm *a = &ents[i]->a;
                active += alarm_is_active(a);
                unacked += alarm_is_unacked(a);
                /* names and tags are label-safe (alarms_defs.c checks them) */
                fprintf(o,
                        "ringhub_alarm_state{alarm=\"%s\",id=\"%s\",tag=\"%s\",trigger=\"%s\","
                        "state=\"%s\",source_lost=\"%s\"} %d\n",
                        a->def.name, a->def.id, a->def.tag, alarm_trigger_name(a->def.trigger),
                        alarm_state_name(a->state), a->source_lost ? "true" : "false",
                        (int)a->state);
        }
        size_t n = n_ents;
        pthread_mutex_unlock(&lock);
        fprintf(o,
                "# HELP ringhub_alarms_configured Alarms defined.\n"
                "# TYPE ringhub_alarms_configured gauge\nringhub_alarms_configured %zu\n"
                "# HELP ringhub_alarms_active Alarms Unacknowledged, Acknowledged or RTN "
                "Unacknowledged.\n# TYPE ringhub_alarms_active gauge\nringhub_alarms_active %u\n"
                "# HELP ringhub_alarms_unacknowledged Alarms waiting for an acknowledgement.\n"
                "# TYPE ringhub_alarms_unacknowledged gauge\nringhub_alarms_unacknowledged %u\n",
                n, active, unacked);
}
