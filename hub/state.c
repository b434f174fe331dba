/*
 * state.c — the state cache: batches in, latest entities and their JSON out.
 *
 * Process: ringhub, reader thread (writer) and mhd thread (reader), both under
 * state_lock. SINGLE topics keep one entity, LIST topics the entities of the newest
 * complete batch (missing ones dropped; an EMPTY_LIST placeholder means []), KEYED
 * topics upsert by key, CHILD records hang under their parent. JSON goes through the
 * one schema-driven path (record_json.h); nothing here touches the ring or sockets.
 */
#include "state.h"
#include "state_agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "util.h"

pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;

static struct state_topic topics[RT_MAX];
/* Child record types of each parent type. */
static uint16_t kid_types[RT_MAX][STATE_MAX_KIDS];
/* Each type's own "timestamp" field, if it has one. */
static const struct field_desc *ts_field[RT_MAX];
static unsigned n_kid_types[RT_MAX];
/* state_publish()'s text buffer, reused from publish to publish (under state_lock). */
static struct rj_buf pub_buf;

int state_init(void)
{
        for (const struct record_desc *d = schema_next(NULL); d; d = schema_next(d)) {
                topics[d->id].d = d;
                ts_field[d->id] = schema_field_by_name(d, "timestamp");
                if (d->kind == SK_CHILD) {
                        unsigned p = d->parent;
                        if (p >= RT_MAX || n_kid_types[p] >= STATE_MAX_KIDS)
                                return log_error_errno(-EINVAL, "schema: too many children of %u",
                                                       p);
                        kid_types[p][n_kid_types[p]++] = d->id;
                }
        }
        state_agent_init();
        return 0;
}

static void entity_free(struct state_entity *e)
{
        if (!e)
                return;
        for (unsigned i = 0; i < STATE_MAX_KIDS; i++)
                free(e->kids[i].p);
        hub_body_unref(e->body);
        free(e);
}

static void topic_clear(struct state_topic *t)
{
        for (size_t i = 0; i < t->n; i++)
                entity_free(t->ents[i]);
        t->n = 0;
}

void state_free(void)
{
        for (unsigned i = 0; i < RT_MAX; i++) {
                topic_clear(&topics[i]);
                free(topics[i].ents);
                topics[i].ents = NULL;
                topics[i].cap = 0;
                hub_body_unref(topics[i].body);
                topics[i].body = NULL;
        }
        rj_free(&pub_buf);
}

int state_kid_slot(unsigned parent, unsigned kid)
{
        if (parent >= RT_MAX)
                return -EINVAL;
        for (unsigned i = 0; i < n_kid_types[parent]; i++)
                if (kid_types[parent][i] == kid)
                        return (int)i;
        return -ENOENT;
}

struct state_topic *state_topic(unsigned type)
{
        if (type >= RT_MAX || !topics[type].d)
                return NULL;
        return &topics[type];
}

static struct state_entity *entity_new(const struct record_desc *d, const struct ring_record *r)
{
        struct state_entity *e = calloc(1, sizeof(*e) + d->size);
        if (!e)
                return NULL;
        e->type = d->id;
        if (r) {
                memcpy(e->payload, r->payload, d->size);
                e->ts_ns = r->ts_ns;
        } else
                record_init_missing(d->id, e->payload);
        record_key(d, e->payload, e->key, sizeof(e->key));
        return e;
}

static int key_cmp(const void *a, const void *b)
{
        const struct state_entity *x = *(struct state_entity *const *)a;
        const struct state_entity *y = *(struct state_entity *const *)b;
        return strverscmp(x->key, y->key);
}

static int ensure_cap(struct state_topic *t, size_t n)
{
        if (n <= t->cap)
                return 0;
        size_t cap = MAX(n, t->cap * 2);
        cap = MAX(cap, (size_t)8);
        struct state_entity **a = realloc(t->ents, cap * sizeof(*a));
        if (!a)
                return -ENOMEM;
        t->ents = a;
        t->cap = cap;
        return 0;
}

static bool kid_matches(const struct record_desc *kd, const struct ring_record *r,
                        const char *parent_key)
{
        char buf[STATE_KEY_MAX];
        const struct record_desc *pd = schema_record(kd->parent);
        if (!pd || pd->kind == SK_SINGLE)
                return true;
        return strcmp(record_key(kd, r->payload, buf, sizeof(buf)), parent_key) == 0;
}

/* Replace e's list of child type kt by the matching records of the batch. */
static int set_kids(struct state_entity *e, unsigned slot, unsigned kt,
                    const struct ring_record *const *recs, size_t n)
{
        const struct record_desc *kd = schema_record(kt);
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
                if (recs[i]->type == kt && !(recs[i]->flags & RING_REC_EMPTY_LIST) &&
                    kid_matches(kd, recs[i], e->key))
                        cnt++;
        uint8_t *p = NULL;
        if (cnt > 0) {
                p = malloc(cnt * kd->size);
                if (!p)
                        return -ENOMEM;
                size_t j = 0;
                for (size_t i = 0; i < n; i++)
                        if (recs[i]->type == kt && !(recs[i]->flags & RING_REC_EMPTY_LIST) &&
                            kid_matches(kd, recs[i], e->key))
                                memcpy(p + kd->size * j++, recs[i]->payload, kd->size);
        }
        free(e->kids[slot].p);
        e->kids[slot] = (struct state_kids){ .type = (uint16_t)kt, .n = (uint32_t)cnt, .p = p };
        return 0;
}

static int attach_kids(struct state_entity *e, unsigned type, const struct ring_record *const *recs,
                       size_t n)
{
        for (unsigned k = 0; k < n_kid_types[type]; k++) {
                int r = set_kids(e, k, kid_types[type][k], recs, n);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int changes_add_keyed(struct state_changes *ch, struct state_entity *e)
{
        if (ch->n_keyed == ch->cap_keyed) {
                size_t cap = ch->cap_keyed ? ch->cap_keyed * 2 : 16;
                struct state_entity **a = realloc(ch->keyed, cap * sizeof(*a));
                if (!a)
                        return -ENOMEM;
                ch->keyed = a;
                ch->cap_keyed = cap;
        }
        ch->keyed[ch->n_keyed++] = e;
        return 0;
}

static int apply_single(struct state_topic *t, const struct ring_record *const *recs, size_t n)
{
        const struct ring_record *last = NULL;
        for (size_t i = 0; i < n; i++)
                if (recs[i]->type == t->d->id)
                        last = recs[i];
        struct state_entity *e = entity_new(t->d, last);
        if (!e)
                return -ENOMEM;
        if (attach_kids(e, t->d->id, recs, n) < 0 || ensure_cap(t, 1) < 0) {
                entity_free(e);
                return -ENOMEM;
        }
        topic_clear(t);
        t->ents[0] = e;
        t->n = 1;
        t->ts_ns = e->ts_ns;
        return 0;
}

static int apply_list(struct state_topic *t, const struct ring_record *const *recs, size_t n)
{
        bool empty = false;
        size_t cnt = 0;
        uint64_t ts = 0;
        for (size_t i = 0; i < n; i++) {
                if (recs[i]->type != t->d->id)
                        continue;
                ts = MAX(ts, recs[i]->ts_ns);
                if (recs[i]->flags & RING_REC_EMPTY_LIST)
                        empty = true;
                else
                        cnt++;
        }
        if (empty)
                cnt = 0;
        cnt = MIN(cnt, (size_t)STATE_MAX_ENTITIES);
        _cleanup_free_ struct state_entity **a = cnt ? calloc(cnt, sizeof(*a)) : NULL;
        if (cnt && !a)
                return -ENOMEM;
        size_t m = 0;
        for (size_t i = 0; i < n && m < cnt; i++) {
                if (recs[i]->type != t->d->id)
                        continue;
                struct state_entity *e = entity_new(t->d, recs[i]);
                if (!e || attach_kids(e, t->d->id, recs, n) < 0) {
                        entity_free(e);
                        for (size_t j = 0; j < m; j++)
                                entity_free(a[j]);
                        return -ENOMEM;
                }
                /* The same key twice in one batch: the later record wins. */
                size_t j;
                for (j = 0; j < m; j++)
                        if (strcmp(a[j]->key, e->key) == 0)
                                break;
                if (j < m) {
                        entity_free(a[j]);
                        a[j] = e;
                } else
                        a[m++] = e;
        }
        if (m > 1)
                qsort(a, m, sizeof(*a), key_cmp);
        if (ensure_cap(t, m) < 0) {
                for (size_t j = 0; j < m; j++)
                        entity_free(a[j]);
                return -ENOMEM;
        }
        topic_clear(t);
        if (m)
                memcpy(t->ents, a, m * sizeof(*a));
        t->n = m;
        t->ts_ns = ts;
        return 0;
}

static size_t find_index(struct state_topic *t, const char *key, bool *found)
{
        size_t lo = 0, hi = t->n;
        while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                int c = strverscmp(t->ents[mid]->key, key);
                if (c == 0) {
                        *found = true;
                        return mid;
                }
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        *found = false;
        return lo;
}

static int apply_keyed(struct state_topic *t, const struct ring_record *r, struct state_changes *ch)
{
        struct state_entity *e = entity_new(t->d, r);
        if (!e)
                return -ENOMEM;
        bool found;
        size_t i = find_index(t, e->key, &found);
        if (found) {
                /* Upserted twice in one batch: the change list points at the newer one. */
                for (size_t j = 0; j < ch->n_keyed; j++)
                        if (ch->keyed[j] == t->ents[i]) {
                                ch->keyed[j] = NULL;
                                break;
                        }
                entity_free(t->ents[i]);
                t->ents[i] = e;
        } else {
                if (t->n >= STATE_MAX_ENTITIES || ensure_cap(t, t->n + 1) < 0) {
                        entity_free(e);
                        return -ENOSPC;
                }
                memmove(t->ents + i + 1, t->ents + i, (t->n - i) * sizeof(*t->ents));
                t->ents[i] = e;
                t->n++;
        }
        t->ts_ns = MAX(t->ts_ns, e->ts_ns);
        t->seen = true;
        return changes_add_keyed(ch, e);
}

/* Children whose parent is not in this batch: update the existing parent(s). */
static int apply_orphan_kids(unsigned kt, const struct ring_record *const *recs, size_t n,
                             bool *changed)
{
        const struct record_desc *kd = schema_record(kt);
        struct state_topic *pt = state_topic(kd->parent);
        if (!pt || n_kid_types[kd->parent] == 0)
                return 0;
        unsigned slot = 0;
        while (slot < n_kid_types[kd->parent] && kid_types[kd->parent][slot] != kt)
                slot++;
        if (pt->d->kind == SK_SINGLE) {
                if (pt->n == 0) {
                        struct state_entity *e = entity_new(pt->d, NULL);
                        if (!e || ensure_cap(pt, 1) < 0) {
                                entity_free(e);
                                return -ENOMEM;
                        }
                        pt->ents[0] = e;
                        pt->n = 1;
                }
                changed[pt->d->id] = true;
                return set_kids(pt->ents[0], slot, kt, recs, n);
        }
        /* Every parent named by a record of this type gets its list replaced. */
        for (size_t i = 0; i < n; i++) {
                if (recs[i]->type != kt)
                        continue;
                char key[STATE_KEY_MAX];
                record_key(kd, recs[i]->payload, key, sizeof(key));
                bool found;
                size_t idx = find_index(pt, key, &found);
                if (!found)
                        continue;
                int r = set_kids(pt->ents[idx], slot, kt, recs, n);
                if (r < 0)
                        return r;
                changed[pt->d->id] = true;
        }
        return 0;
}

int state_apply_batch(const struct ring_record *const *recs, size_t n, struct state_changes *ch)
{
        bool present[RT_MAX] = { false };
        for (size_t i = 0; i < n; i++)
                if (recs[i]->type < RT_MAX)
                        present[recs[i]->type] = true;

        int ret = 0;
        for (unsigned type = 1; type < RT_MAX; type++) {
                struct state_topic *t = state_topic(type);
                if (!present[type] || !t)
                        continue;
                int r = 0;
                switch (t->d->kind) {
                case SK_SINGLE:
                        r = apply_single(t, recs, n);
                        break;
                case SK_LIST:
                        r = apply_list(t, recs, n);
                        break;
                case SK_KEYED:
                        for (size_t i = 0; i < n && r >= 0; i++)
                                if (recs[i]->type == type &&
                                    !(recs[i]->flags & RING_REC_EMPTY_LIST))
                                        r = apply_keyed(t, recs[i], ch);
                        continue;
                case SK_EVENT: /* not state: the reader hands these to their consumer */
                        continue;
                case SK_CHILD:
                        if (!present[t->d->parent])
                                r = apply_orphan_kids(type, recs, n, ch->topic);
                        continue;
                }
                if (r < 0) {
                        ret = r;
                        continue;
                }
                t->seen = true;
                ch->topic[type] = true;
        }
        return ret;
}

/* The record's own time (a notification's "timestamp" field) wins over the sample's. */
static void add_timestamp(json_object *o, uint64_t ts)
{
        char buf[64];
        if (json_object_object_get_ex(o, "timestamp", NULL))
                return;
        if (ts && format_rfc3339_ns(buf, sizeof(buf), ts, false))
                json_object_object_add(o, "timestamp", json_object_new_string(buf));
        else if (!ts && format_rfc3339_ns(buf, sizeof(buf), hub.start_ns, false))
                json_object_object_add(o, "timestamp", json_object_new_string(buf));
}

#define MAP_KEY_MAX 80

/*
 * The key of an R_MAP child: its first own field as text; an R_SCALAR map prefixes the
 * list key's first word ("cpu_per_core_usage" → "cpu0").
 */
static const char *map_key(const struct record_desc *kd, const uint8_t *p, char *buf, size_t size)
{
        const struct field_desc *f = &schema_fields[kd->first_field];
        if (kd->key && *kd->key && strcmp(f->name, kd->key) == 0 && kd->n_fields > 1)
                f++;
        size_t pre = (kd->flags & R_SCALAR) ? strcspn(kd->list_key, "_") : 0;
        if (size < FMT_U64_MAX + 1 || pre > size - FMT_U64_MAX - 1) {
                buf[0] = 0;
                return buf;
        }
        memcpy(buf, kd->list_key, pre);
        if ((f->kind == FK_U32 || f->kind == FK_U64) && !field_is_missing(f, p)) {
                /* a core's number: no printf per key */
                uint32_t v32;
                uint64_t v;
                if (f->kind == FK_U32) {
                        memcpy(&v32, p + f->offset, 4);
                        v = v32;
                } else
                        memcpy(&v, p + f->offset, 8);
                fmt_u64(buf + pre, v);
                return buf;
        }
        char val[64];
        field_to_text(f, p, val, sizeof(val));
        strscpy(buf + pre, size - pre, val);
        return buf;
}

json_object *state_entity_json(const struct record_desc *d, const struct state_entity *e)
{
        json_object *o = record_json_new(d->id, e->payload, STATE_RJ_FLAGS);
        if (!o)
                return NULL;
        for (unsigned k = 0; k < n_kid_types[d->id]; k++) {
                const struct record_desc *kd = schema_record(kid_types[d->id][k]);
                const struct state_kids *ks = &e->kids[k];
                bool map = kd->flags & R_MAP;
                json_object *a =
                    map ? json_object_new_object() : json_object_new_array_ext((int)ks->n);
                for (uint32_t i = 0; i < ks->n; i++) {
                        const uint8_t *p = ks->p + (size_t)kd->size * i;
                        json_object *v;
                        if (kd->flags & R_SCALAR)
                                v = field_to_json(
                                    &schema_fields[kd->first_field + kd->n_fields - 1], p,
                                    STATE_RJ_FLAGS);
                        else
                                v = record_json_new(kd->id, p,
                                                    STATE_RJ_FLAGS | RJ_NO_KEYS_OF_CHILD);
                        char key[MAP_KEY_MAX];
                        if (map)
                                json_object_object_add(a, map_key(kd, p, key, sizeof(key)), v);
                        else
                                json_object_array_add(a, v);
                }
                json_object_object_add(o, kd->list_key, a);
        }
        state_agent_fields(d->id, o);
        add_timestamp(o, e->ts_ns);
        return o;
}

/*
 * The timestamp member as add_timestamp() writes it (local time with its UTC offset):
 * the text of the whole second is formatted once per second per thread and the
 * nanoseconds written into it.
 */
static void write_timestamp(struct rj_buf *b, uint64_t ts, bool first)
{
        static _Thread_local uint64_t cached_sec = UINT64_MAX;
        static _Thread_local char text[64];
        static _Thread_local size_t len, frac_at;
        uint64_t t = ts ? ts : hub.start_ns, sec = t / NSEC_PER_SEC;
        if (sec != cached_sec) {
                len = format_rfc3339_ns(text, sizeof(text), sec * NSEC_PER_SEC, false);
                const char *dot = len ? memchr(text, '.', len) : NULL;
                if (!dot || len - (size_t)(dot - text) < 10)
                        return;
                frac_at = (size_t)(dot - text) + 1;
                cached_sec = sec;
        }
        uint32_t frac = (uint32_t)(t % NSEC_PER_SEC);
        for (int i = 8; i >= 0; i--, frac /= 10)
                text[frac_at + (size_t)i] = (char)('0' + frac % 10);
        rj_puts(b, first ? "\"timestamp\":" : ",\"timestamp\":");
        rj_str(b, text, len);
}

/* One child item: an R_SCALAR child's value, else its record without the parent key. */
static int write_kid(struct rj_buf *b, const struct record_desc *kd, const uint8_t *p)
{
        if (kd->flags & R_SCALAR) {
                if (!rj_field(b, &schema_fields[kd->first_field + kd->n_fields - 1], p,
                              STATE_RJ_FLAGS))
                        rj_put(b, "null", 4);
                return b->failed ? -ENOMEM : 0;
        }
        return rj_record(b, kd->id, p, STATE_RJ_FLAGS | RJ_NO_KEYS_OF_CHILD);
}

/*
 * An R_MAP child list as an object keyed by map_key(). As json-c's object: a key seen
 * again keeps its first place and takes the last item's value.
 */
static int write_map(struct rj_buf *b, const struct record_desc *kd, const struct state_kids *ks)
{
        char stack[16][MAP_KEY_MAX]; /* a box's cores fit; more take the heap */
        char(*keys)[MAP_KEY_MAX] = ks->n <= 16 ? stack : malloc((size_t)ks->n * MAP_KEY_MAX);
        if (!keys)
                return -ENOMEM;
        for (uint32_t i = 0; i < ks->n; i++)
                map_key(kd, ks->p + (size_t)kd->size * i, keys[i], MAP_KEY_MAX);
        int r = 0;
        rj_put(b, "{", 1);
        for (uint32_t i = 0, n = 0; i < ks->n && r >= 0; i++) {
                uint32_t j = 0, last = i;
                while (j < i && strcmp(keys[j], keys[i]) != 0)
                        j++;
                if (j < i)
                        continue; /* written at its first place */
                for (j = i + 1; j < ks->n; j++)
                        if (strcmp(keys[j], keys[i]) == 0)
                                last = j;
                if (n++ > 0)
                        rj_put(b, ",", 1);
                rj_str(b, keys[i], strlen(keys[i]));
                rj_put(b, ":", 1);
                r = write_kid(b, kd, ks->p + (size_t)kd->size * last);
        }
        rj_put(b, "}", 1);
        if (keys != stack)
                free(keys);
        return r < 0 ? r : b->failed ? -ENOMEM : 0;
}

/* Whether the record writes its own "timestamp" member (add_timestamp() then adds none). */
static bool own_timestamp(struct rj_buf *b, const struct record_desc *d, const void *payload)
{
        const struct field_desc *f = ts_field[d->id];
        if (!f)
                return false;
        size_t mark = b->n;
        bool written = rj_field(b, f, payload, STATE_RJ_FLAGS);
        b->n = mark;
        if (b->p)
                b->p[mark] = 0;
        return written;
}

int state_entity_write(struct rj_buf *b, const struct record_desc *d, const struct state_entity *e)
{
        bool first = true;
        rj_put(b, "{", 1);
        int r = rj_members_except(b, d->id, e->payload, STATE_RJ_FLAGS, &first,
                                  state_agent_omitted(d->id, e->payload));
        for (unsigned k = 0; k < n_kid_types[d->id] && r >= 0; k++) {
                const struct record_desc *kd = schema_record(kid_types[d->id][k]);
                const struct state_kids *ks = &e->kids[k];
                if (!first)
                        rj_put(b, ",", 1);
                first = false;
                rj_str(b, kd->list_key, strlen(kd->list_key));
                rj_put(b, ":", 1);
                if (kd->flags & R_MAP) {
                        r = write_map(b, kd, ks);
                        continue;
                }
                rj_put(b, "[", 1);
                for (uint32_t i = 0; i < ks->n && r >= 0; i++) {
                        if (i > 0)
                                rj_put(b, ",", 1);
                        r = write_kid(b, kd, ks->p + (size_t)kd->size * i);
                }
                rj_put(b, "]", 1);
        }
        if (r >= 0 && state_agent_adds(d->id)) {
                struct agent_kids kids[STATE_MAX_KIDS];
                for (unsigned k = 0; k < n_kid_types[d->id]; k++)
                        kids[k] = (struct agent_kids){ .type = kid_types[d->id][k],
                                                       .n = e->kids[k].n,
                                                       .p = e->kids[k].p };
                r = state_agent_write(b, d->id, e->payload, kids, n_kid_types[d->id], &first);
        }
        if (!own_timestamp(b, d, e->payload))
                write_timestamp(b, e->ts_ns, first);
        rj_put(b, "}", 1);
        return r < 0 ? r : b->failed ? -ENOMEM : 0;
}

int state_publish(struct state_topic *t, struct hub_body **ret_body)
{
        struct rj_buf b = pub_buf; /* under state_lock; given back below */
        uint64_t t0 = mono_ns();
        int r = 0;

        b.n = 0;
        b.failed = false;
        if (t->d->kind == SK_SINGLE) {
                if (t->n == 0) {
                        /* Before the first sample: every seed field, typed, "missing". */
                        struct state_entity *e = entity_new(t->d, NULL);
                        if (!e || ensure_cap(t, 1) < 0) {
                                entity_free(e);
                                return -ENOMEM;
                        }
                        t->ents[0] = e;
                        t->n = 1;
                }
                r = state_entity_write(&b, t->d, t->ents[0]);
                if (r >= 0) {
                        hub_body_unref(t->ents[0]->body);
                        t->ents[0]->body = hub_body_new(b.p, b.n);
                }
        } else {
                /* Each entity serialized once: its body serves /{id}, the list joins them. */
                rj_put(&b, "[", 1);
                for (size_t i = 0; i < t->n && r >= 0; i++) {
                        struct state_entity *e = t->ents[i];
                        if (i > 0)
                                rj_put(&b, ",", 1);
                        size_t at = b.n;
                        r = state_entity_write(&b, t->d, e);
                        if (r < 0)
                                break;
                        hub_body_unref(e->body);
                        e->body = hub_body_new(b.p + at, b.n - at);
                }
                rj_put(&b, "]", 1);
                if (r >= 0 && b.failed)
                        r = -ENOMEM;
        }
        pub_buf = b;
        if (r < 0)
                return r;
        /* A SINGLE topic's body is its one entity's. */
        struct hub_body *body = t->d->kind == SK_SINGLE && t->ents[0]->body
                                    ? hub_body_ref(t->ents[0]->body)
                                    : hub_body_new(b.p, b.n);
        if (!body)
                return -ENOMEM;
        hub_body_unref(t->body);
        t->body = body;
        t->dirty = false;
        hub_count_serialization(mono_ns() - t0);
        *ret_body = hub_body_ref(body);
        return 0;
}

struct state_entity *state_find(struct state_topic *t, const char *key, const char *alt_field)
{
        if (!t || !key)
                return NULL;
        for (size_t i = 0; i < t->n; i++)
                if (strcmp(t->ents[i]->key, key) == 0)
                        return t->ents[i];
        if (!alt_field)
                return NULL;
        const struct field_desc *f = schema_field_by_name(t->d, alt_field);
        if (!f || f->kind != FK_STR)
                return NULL;
        for (size_t i = 0; i < t->n; i++) {
                const char *v = (const char *)t->ents[i]->payload + f->offset;
                if (strncmp(v, key, f->size) == 0)
                        return t->ents[i];
        }
        return NULL;
}
