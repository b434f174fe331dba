/*
 * mqtt_queue.c — the MQTT bridge's outbox (see mqtt_queue.h).
 *
 * Process: ringhub. The sink runs on the publishing thread (reader, lws, mhd, commands):
 * payload copies are made before the lock is taken, the critical section only links and
 * swaps pointers, and the bridge is woken through an eventfd at most once per drain. The
 * bridge's thread takes items out under the same lock and publishes outside it, so a
 * slow broker holds up nobody but that thread.
 */
#include "mqtt_queue.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "events.h"
#include "log.h"
#include "macros.h"
#include "state.h"
#include "util.h"

/* The topic level under the base per record type, and the field that names an entity in
 * it (NULL: a single; else LIST/KEYED entities are named by this field). */
static const struct seg {
        unsigned topic;
        const char *seg, *name_field;
} segs[] = {
        { RT_system, "system", NULL },
        { RT_array, "array", NULL },
        { RT_ups, "ups", NULL },
        { RT_disk, "disk", "id" },
        { RT_share, "share", "name" },
        { RT_pool, "pool", "name" },
        { RT_container, "container", "name" },
        { RT_vm, "vm", "name" },
        { RT_gpu, "gpu", "index" },
        { RT_netif, "network", "name" },
        { RT_source_status, "source", "source" },
        { RT_tag, "tag", "name" },
        { RT_opcua_conn, "opcua", "endpoint" },
        { RT_machine, "machine", "id" },
        { HUB_T_COLLECTOR, "collector", "collector" },
        { HUB_T_DIAG, "hub", NULL },
};

struct mqtt_ev {
        struct mqtt_ev *next;
        struct hub_body *payload;
        char rel[];
};

static struct {
        pthread_mutex_t lock;
        int fd;
        bool kicked, link_up, ready;
        struct mqtt_item **buckets;
        size_t n_buckets, n_items, max_items;
        struct mqtt_item *dhead, *dtail; /* dirty FIFO */
        struct mqtt_ev *ehead, *etail;
        size_t ev_bytes, max_ev_bytes, state_bytes;
        uint32_t gen[HUB_T_MAX];
} q = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static const struct seg *seg_of(unsigned topic)
{
        for (size_t i = 0; i < ELEMENTSOF(segs); i++)
                if (segs[i].topic == topic)
                        return &segs[i];
        return NULL;
}

void mqtt_queue_topic_level(char *dst, size_t size, const char *src)
{
        size_t i = 0;
        for (; src && *src && i + 1 < size; src++)
                dst[i++] = (*src == '/' || *src == '+' || *src == '#' || (unsigned char)*src < 0x20)
                               ? '_'
                               : *src;
        if (size)
                dst[i] = 0;
        if (i == 0 && size > 1)
                strscpy(dst, size, "_");
}

static uint32_t hash(const char *s)
{
        uint32_t h = 2166136261u;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 16777619u;
        return h;
}

static void gauge(void)
{
        atomic_store_explicit(&hub.stats.mqtt_queued, q.state_bytes + q.ev_bytes,
                              memory_order_relaxed);
}

static void kick(void)
{
        if (q.kicked || q.fd < 0)
                return;
        q.kicked = true;
        (void)eventfd_write(q.fd, 1);
}

int mqtt_queue_init(size_t max_items, size_t max_event_bytes)
{
        pthread_mutex_lock(&q.lock);
        int r = 0;
        if (q.fd < 0)
                q.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (!q.buckets) {
                q.n_buckets = 1024;
                q.buckets = calloc(q.n_buckets, sizeof(*q.buckets));
        }
        if (q.fd < 0 || !q.buckets)
                r = -ENOMEM;
        q.max_items = max_items;
        q.max_ev_bytes = max_event_bytes;
        pthread_mutex_unlock(&q.lock);
        return r;
}

void mqtt_queue_set_limits(size_t max_items, size_t max_event_bytes)
{
        pthread_mutex_lock(&q.lock);
        q.max_items = max_items;
        q.max_ev_bytes = max_event_bytes;
        pthread_mutex_unlock(&q.lock);
}

static void item_free(struct mqtt_item *it)
{
        hub_body_unref(it->payload);
        for (size_t i = 0; i < it->n_cfg; i++)
                free(it->cfg[i]);
        free(it->cfg);
        free(it);
}

static void events_clear(void)
{
        for (struct mqtt_ev *e = q.ehead, *n; e; e = n) {
                n = e->next;
                hub_body_unref(e->payload);
                free(e);
        }
        q.ehead = q.etail = NULL;
        q.ev_bytes = 0;
}

void mqtt_queue_free(void)
{
        pthread_mutex_lock(&q.lock);
        q.ready = false;
        for (size_t b = 0; b < q.n_buckets; b++)
                for (struct mqtt_item *it = q.buckets[b], *n; it; it = n) {
                        n = it->hnext;
                        item_free(it);
                }
        free(q.buckets);
        q.buckets = NULL;
        q.n_buckets = q.n_items = q.state_bytes = 0;
        q.dhead = q.dtail = NULL;
        events_clear();
        if (q.fd >= 0)
                close(q.fd);
        q.fd = -1;
        gauge();
        pthread_mutex_unlock(&q.lock);
}

int mqtt_queue_fd(void)
{
        return q.fd;
}

void mqtt_queue_drain_fd(void)
{
        /* Read first, then re-arm: a kick between the two finds kicked still set and
         * writes nothing, but what it queued is there for the caller's look that follows;
         * every kick after the re-arm writes again. */
        eventfd_t v;
        (void)eventfd_read(q.fd, &v);
        pthread_mutex_lock(&q.lock);
        q.kicked = false;
        pthread_mutex_unlock(&q.lock);
}

void mqtt_queue_set_link(bool up)
{
        pthread_mutex_lock(&q.lock);
        q.link_up = up;
        if (!up && q.ehead) {
                /* What waited for the broker is lost with the link: counted, not kept. */
                size_t n = 0;
                for (struct mqtt_ev *e = q.ehead; e; e = e->next)
                        n++;
                atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, n, memory_order_relaxed);
                events_clear();
                gauge();
        }
        pthread_mutex_unlock(&q.lock);
}

static void dirty_push(struct mqtt_item *it)
{
        if (it->dirty)
                return;
        it->dirty = true;
        it->dnext = NULL;
        if (q.dtail)
                q.dtail->dnext = it;
        else
                q.dhead = it;
        q.dtail = it;
}

void mqtt_queue_resend_all(void)
{
        pthread_mutex_lock(&q.lock);
        for (size_t b = 0; b < q.n_buckets; b++)
                for (struct mqtt_item *it = q.buckets[b]; it; it = it->hnext)
                        dirty_push(it);
        if (q.dhead)
                kick();
        pthread_mutex_unlock(&q.lock);
}

bool mqtt_queue_pending(void)
{
        pthread_mutex_lock(&q.lock);
        bool r = q.ehead || q.dhead;
        pthread_mutex_unlock(&q.lock);
        return r;
}

static struct mqtt_item *find(const char *rel, uint32_t h)
{
        for (struct mqtt_item *it = q.buckets[h & (q.n_buckets - 1)]; it; it = it->hnext)
                if (strcmp(it->rel, rel) == 0)
                        return it;
        return NULL;
}

static void rehash(void)
{
        size_t nb = q.n_buckets * 2;
        struct mqtt_item **b = calloc(nb, sizeof(*b));
        if (!b)
                return; /* longer chains, still correct */
        for (size_t i = 0; i < q.n_buckets; i++)
                for (struct mqtt_item *it = q.buckets[i], *n; it; it = n) {
                        n = it->hnext;
                        size_t j = hash(it->rel) & (nb - 1);
                        it->hnext = b[j];
                        b[j] = it;
                }
        free(q.buckets);
        q.buckets = b;
        q.n_buckets = nb;
}

/* Caller holds the lock; takes body (may be NULL: a tombstone for rel, if it exists). */
static void upsert(unsigned topic, const char *rel, const char *key, struct hub_body *body,
                   uint32_t gen)
{
        uint32_t h = hash(rel);
        struct mqtt_item *it = find(rel, h);
        if (!it) {
                if (!body)
                        return;
                size_t len = strlen(rel);
                if (q.n_items >= q.max_items || !(it = calloc(1, sizeof(*it) + len + 1))) {
                        atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
                        hub_body_unref(body);
                        return;
                }
                memcpy(it->rel, rel, len + 1);
                strscpy(it->key, sizeof(it->key), key ? key : "");
                size_t b = h & (q.n_buckets - 1);
                it->hnext = q.buckets[b];
                q.buckets[b] = it;
                if (++q.n_items > q.n_buckets)
                        rehash();
        }
        it->topic = topic;
        it->gen = gen;
        if (it->payload)
                q.state_bytes -= it->payload->len;
        hub_body_unref(it->payload);
        it->payload = body;
        if (body)
                q.state_bytes += body->len;
        if (it->dirty)
                atomic_fetch_add_explicit(&hub.stats.mqtt_coalesced, 1, memory_order_relaxed);
        dirty_push(it);
        kick();
}

/* Every live item of topic not carried by generation gen becomes a tombstone. */
static void sweep(unsigned topic, uint32_t gen)
{
        for (size_t b = 0; b < q.n_buckets; b++)
                for (struct mqtt_item *it = q.buckets[b]; it; it = it->hnext)
                        if (it->topic == topic && it->gen != gen && it->payload) {
                                q.state_bytes -= it->payload->len;
                                hub_body_unref(it->payload);
                                it->payload = NULL;
                                dirty_push(it);
                                kick();
                        }
}

static void event_push(const char *rel, const char *json, size_t len)
{
        /* Checked without the lock first: a down link costs no copy. */
        pthread_mutex_lock(&q.lock);
        bool up = q.link_up && q.ev_bytes + len <= q.max_ev_bytes;
        pthread_mutex_unlock(&q.lock);
        if (!up) {
                atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
                return;
        }
        size_t rl = strlen(rel);
        struct mqtt_ev *e = malloc(sizeof(*e) + rl + 1);
        struct hub_body *b = hub_body_new(json, len);
        if (!e || !b) {
                free(e);
                hub_body_unref(b);
                atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
                return;
        }
        memcpy(e->rel, rel, rl + 1);
        e->payload = b;
        e->next = NULL;
        pthread_mutex_lock(&q.lock);
        if (!q.link_up || q.ev_bytes + len > q.max_ev_bytes) {
                pthread_mutex_unlock(&q.lock);
                hub_body_unref(b);
                free(e);
                atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
                return;
        }
        if (q.etail)
                q.etail->next = e;
        else
                q.ehead = e;
        q.etail = e;
        q.ev_bytes += len;
        gauge();
        kick();
        pthread_mutex_unlock(&q.lock);
}

int mqtt_queue_split_array(const char *s, size_t len,
                           void (*fn)(size_t i, const char *p, size_t n, void *userdata),
                           void *userdata)
{
        size_t i = 0;
        while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r'))
                i++;
        if (i >= len || s[i] != '[')
                return -EINVAL;
        int depth = 0, n = 0;
        bool in_str = false, esc = false;
        size_t start = 0;
        for (; i < len; i++) {
                char c = s[i];
                if (in_str) {
                        if (esc)
                                esc = false;
                        else if (c == '\\')
                                esc = true;
                        else if (c == '"')
                                in_str = false;
                        continue;
                }
                if (c == '"') {
                        in_str = true;
                } else if (c == '[' || c == '{') {
                        if (depth++ == 0)
                                start = i + 1;
                } else if (c == ']' || c == '}' || (c == ',' && depth == 1)) {
                        if (depth == 1) {
                                size_t a = start, b = i;
                                while (a < b && (s[a] == ' ' || s[a] == '\n'))
                                        a++;
                                while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\n'))
                                        b--;
                                if (b > a) {
                                        if (fn)
                                                fn((size_t)n, s + a, b - a, userdata);
                                        n++;
                                }
                                start = i + 1;
                        }
                        if (c != ',' && --depth == 0)
                                return n;
                }
        }
        return -EINVAL;
}

/* An entity's name in its topic: the naming field's value, as text. */
static void name_of(json_object *o, const char *field, char *buf, size_t size)
{
        json_object *v;
        if (o && field && json_object_object_get_ex(o, field, &v) && v)
                strscpy(buf, size, json_object_get_string(v));
        else
                strscpy(buf, size, "");
}

struct list_ctx {
        const struct hub_event *ev;
        const struct seg *s;
        struct pend {
                struct hub_body *body;
                char key[96];
                char rel[160];
        } * p;
        size_t n;
};

static void list_elem(size_t i, const char *p, size_t n, void *userdata)
{
        struct list_ctx *c = userdata;
        struct pend *e = &c->p[c->n];
        json_object *o = json_object_array_get_idx(events_data(c->ev), i);
        char level[96];
        name_of(o, c->s->name_field, e->key, sizeof(e->key));
        if (!*e->key)
                return;
        mqtt_queue_topic_level(level, sizeof(level), e->key);
        snprintf(e->rel, sizeof(e->rel), "%s/%s", c->s->seg, level);
        e->body = hub_body_new(p, n);
        if (e->body)
                c->n++;
}

static void sink_list(const struct hub_event *ev, const struct seg *s)
{
        size_t want = json_object_is_type(events_data(ev), json_type_array)
                          ? json_object_array_length(events_data(ev))
                          : 0;
        struct list_ctx c = { .ev = ev, .s = s, .p = calloc(want ? want : 1, sizeof(*c.p)) };
        if (!c.p)
                return;
        int n = want ? mqtt_queue_split_array(ev->json, ev->json_len, list_elem, &c) : 0;
        if (n < 0 || (size_t)n != want) {
                /* Not the array the data says: keep the last good state. */
                log_warning("mqtt: %s list body does not match its data, ignoring", s->seg);
                for (size_t i = 0; i < c.n; i++)
                        hub_body_unref(c.p[i].body);
                free(c.p);
                return;
        }
        pthread_mutex_lock(&q.lock);
        if (q.ready) {
                uint32_t gen = ++q.gen[ev->topic];
                for (size_t i = 0; i < c.n; i++)
                        upsert(ev->topic, c.p[i].rel, c.p[i].key, TAKE_PTR(c.p[i].body), gen);
                sweep(ev->topic, gen);
                gauge();
        }
        pthread_mutex_unlock(&q.lock);
        for (size_t i = 0; i < c.n; i++)
                hub_body_unref(c.p[i].body);
        free(c.p);
}

static void sink_state(unsigned topic, const char *rel, const char *key, const char *json,
                       size_t len)
{
        struct hub_body *b = hub_body_new(json, len);
        if (!b)
                return;
        pthread_mutex_lock(&q.lock);
        if (q.ready) {
                upsert(topic, rel, key, TAKE_PTR(b), q.gen[topic]);
                gauge();
        }
        pthread_mutex_unlock(&q.lock);
        hub_body_unref(b);
}

void mqtt_queue_sink(const struct hub_event *ev, void *userdata)
{
        if (!ev->json || !ev->json_len)
                return;
        const struct seg *s = seg_of(ev->topic);
        const struct record_desc *d = ev->topic < RT_MAX ? schema_record(ev->topic) : NULL;
        char key[96], level[96], rel[160];
        if (d && d->kind == SK_EVENT)
                return; /* answers reach their asker; the audit event is HUB_T_COMMAND */
        if (s && !s->name_field) {
                /* A single the hub has never had a record for (published empty at start,
                 * rec_ts_ns 0: reader.c prime()) is not announced as a device part. */
                if (d && !ev->rec_ts_ns)
                        return;
                sink_state(ev->topic, s->seg, "", ev->json, ev->json_len);
                return;
        }
        if (s && d && d->kind == SK_LIST) {
                if (ev->state)
                        sink_list(ev, s);
                return;
        }
        if (s) {
                /* KEYED entities and collectors: one retained topic per entity. */
                name_of(events_data(ev), s->name_field, key, sizeof(key));
                if (!*key && ev->topic == HUB_T_COLLECTOR)
                        name_of(events_data(ev), "name", key, sizeof(key));
                if (*key) {
                        mqtt_queue_topic_level(level, sizeof(level), key);
                        snprintf(rel, sizeof(rel), "%s/%s", s->seg, level);
                        sink_state(ev->topic, rel, key, ev->json, ev->json_len);
                }
                if (ev->topic != HUB_T_COLLECTOR)
                        return;
        }
        mqtt_queue_topic_level(level, sizeof(level), ev->name && *ev->name ? ev->name : "hub");
        snprintf(rel, sizeof(rel), "event/%s", level);
        event_push(rel, ev->json, ev->json_len);
}

bool mqtt_queue_take(struct mqtt_out *o)
{
        *o = (struct mqtt_out){ 0 };
        pthread_mutex_lock(&q.lock);
        bool r = true;
        if (q.ehead) {
                struct mqtt_ev *e = q.ehead;
                q.ehead = e->next;
                if (!q.ehead)
                        q.etail = NULL;
                q.ev_bytes -= e->payload->len;
                o->payload = e->payload;
                strscpy(o->rel, sizeof(o->rel), e->rel);
                free(e);
        } else if (q.dhead) {
                struct mqtt_item *it = q.dhead;
                q.dhead = it->dnext;
                if (!q.dhead)
                        q.dtail = NULL;
                it->dirty = false;
                it->dnext = NULL;
                o->item = it;
                o->payload = it->payload ? hub_body_ref(it->payload) : NULL;
                strscpy(o->rel, sizeof(o->rel), it->rel);
        } else {
                r = false;
        }
        gauge();
        pthread_mutex_unlock(&q.lock);
        return r;
}

static void unlink_item(struct mqtt_item *it)
{
        struct mqtt_item **pp = &q.buckets[hash(it->rel) & (q.n_buckets - 1)];
        for (; *pp; pp = &(*pp)->hnext)
                if (*pp == it) {
                        *pp = it->hnext;
                        q.n_items--;
                        item_free(it);
                        return;
                }
}

void mqtt_queue_put(struct mqtt_out *o, bool sent)
{
        struct mqtt_item *it = o->item;
        pthread_mutex_lock(&q.lock);
        if (!it) {
                if (!sent)
                        atomic_fetch_add_explicit(&hub.stats.mqtt_dropped, 1, memory_order_relaxed);
        } else if (!sent) {
                dirty_push(it);
        } else if (!o->payload && !it->payload && !it->dirty) {
                unlink_item(it); /* the broker has forgotten it: so do we */
        }
        pthread_mutex_unlock(&q.lock);
        hub_body_unref(o->payload);
        o->payload = NULL;
        o->item = NULL;
}

void mqtt_queue_state(unsigned topic, const char *name, const char *json, size_t len)
{
        const struct seg *s = seg_of(topic);
        char level[96], rel[160];
        if (!s || !name || !*name)
                return;
        mqtt_queue_topic_level(level, sizeof(level), name);
        snprintf(rel, sizeof(rel), "%s/%s", s->seg, level);
        sink_state(topic, rel, name, json, len);
}

/* An entity's naming field as text, from its record. */
static void field_text(const struct record_desc *d, const char *field, const void *payload,
                       char *buf, size_t size)
{
        const struct field_desc *f = field ? schema_field_by_name(d, field) : NULL;
        const char *p = (const char *)payload + (f ? f->offset : 0);
        buf[0] = 0;
        if (f && f->kind == FK_STR)
                snprintf(buf, size, "%.*s", (int)strnlen(p, f->size), p);
        else if (f && f->kind == FK_U32 && !field_is_missing(f, payload))
                snprintf(buf, size, "%u", *(const uint32_t *)(const void *)p);
}

/* Caller holds state_lock and q.lock: the state cache's entities become items. */
static void seed(void)
{
        for (size_t i = 0; i < ELEMENTSOF(segs); i++) {
                const struct seg *s = &segs[i];
                const struct record_desc *d = s->topic < RT_MAX ? schema_record(s->topic) : NULL;
                struct state_topic *t = d ? state_topic(d->id) : NULL;
                if (!t || !t->seen)
                        continue;
                for (size_t k = 0; k < t->n; k++) {
                        struct state_entity *e = t->ents[k];
                        struct hub_body *b = e->body ? hub_body_ref(e->body) : NULL;
                        if (!b) {
                                /* KEYED entities keep no body: their event's own text. */
                                json_object *o = state_entity_json(d, e);
                                size_t len;
                                const char *txt =
                                    o ? json_object_to_json_string_length(
                                            o,
                                            JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                            &len)
                                      : NULL;
                                b = txt ? hub_body_new(txt, len) : NULL;
                                json_object_put(o);
                        }
                        if (!b)
                                continue;
                        char key[96], level[96], rel[160];
                        if (!s->name_field) {
                                strscpy(rel, sizeof(rel), s->seg);
                                key[0] = 0;
                        } else {
                                field_text(d, s->name_field, e->payload, key, sizeof(key));
                                if (!*key) {
                                        hub_body_unref(b);
                                        continue;
                                }
                                mqtt_queue_topic_level(level, sizeof(level), key);
                                snprintf(rel, sizeof(rel), "%s/%s", s->seg, level);
                        }
                        upsert(d->id, rel, key, b, q.gen[d->id]);
                }
        }
}

/* q.ready for threads that do not take q.lock (the reader's idle test). */
static atomic_bool listening;

bool mqtt_queue_listening(void *userdata)
{
        (void)userdata;
        return atomic_load_explicit(&listening, memory_order_relaxed);
}

void mqtt_queue_enable(bool on)
{
        if (on) /* the state it seeds from: as fresh as the ring */
                (void)hub_reader_sync();
        pthread_mutex_lock(&state_lock);
        pthread_mutex_lock(&q.lock);
        bool was = q.ready;
        q.ready = on && q.buckets;
        atomic_store(&listening, q.ready);
        if (q.ready && !was)
                seed();
        if (!q.ready && was) {
                for (size_t b = 0; b < q.n_buckets; b++) {
                        for (struct mqtt_item *it = q.buckets[b], *n; it; it = n) {
                                n = it->hnext;
                                item_free(it);
                        }
                        q.buckets[b] = NULL;
                }
                q.n_items = q.state_bytes = 0;
                q.dhead = q.dtail = NULL;
                events_clear();
        }
        gauge();
        bool came = q.ready && !was;
        pthread_mutex_unlock(&q.lock);
        pthread_mutex_unlock(&state_lock);
        if (came)
                hub_reader_kick(); /* a listener: the reader wakes for every record again */
}
