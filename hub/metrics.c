/*
 * metrics.c — GET /metrics: Prometheus text exposition, driven by the schema.
 *
 * Process: ringhub, mhd thread, under state_lock while it walks the cache. Every
 * numeric field of every cached entity becomes a sample: F_COUNTER fields are counters
 * (`_total`), the rest gauges; names are ringhub_<stem>_<field> with the record's metric
 * stem from the topics table (topics.def; units are already in the field names), HELP
 * carries the field doc and unit; labels come from the entity key and, for children, the
 * parent key and the child's identifying fields. metrics.def says where that default
 * gives way to node_exporter's conventions (CPU seconds by mode, {chip,sensor}, the
 * filesystem apart from the device, state words as one-hot gauges, no per-second
 * rates). Then the hub's own counters (every one declared in stats.def), the
 * serialization-time histogram, `ringhub_collector_up` from the ring's registry and
 * `ringhub_build_info`. Every double goes out as its shortest exact text. Never writes
 * to the cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "config.h"
#include "alarms_hub.h"
#include "hub.h"
#include "macros.h"
#include "record_json.h"
#include "registry.h"
#include "state.h"
#include "util.h"

enum mkind { ML_LABEL, ML_SKIP, ML_MODE, ML_FS, ML_STATE };

static const struct mrow {
        enum mkind kind;
        unsigned rec;
        const char *field, *a, *b, *c;
} mrows[] = {
#define M_LABEL(r, f, l)        { ML_LABEL, RT_##r, #f, l, NULL, NULL },
#define M_SKIP(r, f)            { ML_SKIP, RT_##r, #f, NULL, NULL, NULL },
#define M_MODE(r, f, fam, l, v) { ML_MODE, RT_##r, #f, fam, l, v },
#define M_FS(r, f, fam)         { ML_FS, RT_##r, #f, fam, NULL, NULL },
#define M_STATE(r, f, l, vals)  { ML_STATE, RT_##r, #f, l, vals, NULL },
#include "metrics.def"
#undef M_LABEL
#undef M_SKIP
#undef M_MODE
#undef M_FS
#undef M_STATE
};

static const struct mrow *mrow(unsigned rec, const char *field, int kind)
{
        for (size_t i = 0; i < ELEMENTSOF(mrows); i++)
                if (mrows[i].rec == rec && (kind < 0 || mrows[i].kind == (enum mkind)kind) &&
                    strcmp(mrows[i].field, field) == 0)
                        return &mrows[i];
        return NULL;
}

static const struct field_desc *field_named(const struct record_desc *d, const char *name)
{
        for (unsigned i = 0; i < d->n_fields; i++)
                if (strcmp(schema_fields[d->first_field + i].name, name) == 0)
                        return &schema_fields[d->first_field + i];
        return NULL;
}

static void put_double(FILE *o, double v)
{
        char buf[FMT_DOUBLE_MAX];
        fmt_double(buf, sizeof(buf), v);
        fputs(buf, o);
}

static bool field_numeric(const struct field_desc *f)
{
        if (f->flags & F_NOMETRIC)
                return false;
        return f->kind == FK_U32 || f->kind == FK_U64 || f->kind == FK_I64 || f->kind == FK_F64 ||
               f->kind == FK_BOOL;
}

static void put_escaped(FILE *o, const char *raw, size_t max)
{
        char s[RJ_STR_MAX * 3 + 1]; /* label values must be valid UTF-8 */
        utf8_sanitize(s, sizeof(s), raw, max);
        for (size_t i = 0; s[i]; i++) {
                if (s[i] == '\\' || s[i] == '"')
                        fputc('\\', o), fputc(s[i], o);
                else if (s[i] == '\n')
                        fputs("\\n", o);
                else
                        fputc(s[i], o);
        }
}

static void put_help(FILE *o, const char *s)
{
        for (; *s; s++) {
                if (*s == '\\')
                        fputs("\\\\", o);
                else if (*s == '\n')
                        fputs("\\n", o);
                else
                        fputc(*s, o);
        }
}

/* Default identifying fields of a child record: its strings named "name" and its
 * F_NOMETRIC ints. */
static bool label_field(const struct record_desc *d, const struct field_desc *f)
{
        if (d->kind == SK_CHILD && d->key && strcmp(f->name, d->key) == 0)
                return false;
        if (f->kind == FK_STR)
                return strcmp(f->name, "name") == 0;
        return (f->flags & F_NOMETRIC) && (f->kind == FK_U32 || f->kind == FK_U64);
}

/* The label a field of d gives every sample of d, or NULL. */
static const char *label_of(const struct record_desc *d, const struct field_desc *f)
{
        const struct mrow *m = mrow(d->id, f->name, ML_LABEL);
        if (m)
                return m->a;
        if ((d->kind == SK_LIST || d->kind == SK_KEYED) && d->key && strcmp(f->name, d->key) == 0)
                return NULL; /* written first, as the key */
        return d->kind == SK_CHILD && label_field(d, f) ? f->name : NULL;
}

struct sample_ctx {
        FILE *o;
        const struct record_desc *d;
        const struct field_desc *f;
        bool header_done;
        const char *metric, *help, *type;
        const char *xlabel, *xvalue; /* one more label (mode, state) */
        bool fs;                     /* also mountpoint and fstype */
};

static void put_label(FILE *o, bool *first, const char *name, const char *v, size_t max)
{
        if (!*v)
                return; /* an empty label is no label in Prometheus */
        fprintf(o, "%s%s=\"", *first ? "" : ",", name);
        put_escaped(o, v, max);
        fputc('"', o);
        *first = false;
}

static void put_field_label(FILE *o, bool *first, const char *name, const struct field_desc *f,
                            const void *payload)
{
        char buf[96];
        if (!f || field_is_missing(f, payload))
                return;
        if (f->kind == FK_STR)
                put_label(o, first, name, (const char *)payload + f->offset, f->size);
        else
                put_label(o, first, name, field_to_text(f, payload, buf, sizeof(buf)), sizeof(buf));
}

static void put_labels(const struct sample_ctx *sc, const void *payload,
                       const struct record_desc *pd, const char *parent_key)
{
        FILE *o = sc->o;
        const struct record_desc *d = sc->d;
        bool first = true;
        char key[STATE_KEY_MAX], name[96];
        fputc('{', o);
        if (pd && pd->key && *pd->key && parent_key) {
                snprintf(name, sizeof(name), "%s_%s", pd->name, pd->key);
                put_label(o, &first, name, parent_key, STATE_KEY_MAX);
        }
        if (d->kind == SK_LIST || d->kind == SK_KEYED)
                put_label(o, &first, d->key, record_key(d, payload, key, sizeof(key)), sizeof(key));
        for (unsigned i = 0; i < d->n_fields; i++) {
                const struct field_desc *f = &schema_fields[d->first_field + i];
                const char *l = label_of(d, f);
                if (l)
                        put_field_label(o, &first, l, f, payload);
        }
        if (sc->fs) {
                put_field_label(o, &first, "mountpoint", field_named(d, "mount_point"), payload);
                put_field_label(o, &first, "fstype", field_named(d, "filesystem"), payload);
        }
        if (sc->xlabel)
                put_label(o, &first, sc->xlabel, sc->xvalue, 256);
        fputc('}', o);
}

static void put_value(FILE *o, const struct field_desc *f, const void *payload)
{
        fputc(' ', o);
        if (f->kind == FK_U64 || f->kind == FK_U32) {
                uint64_t u = 0;
                memcpy(&u, (const uint8_t *)payload + f->offset, f->kind == FK_U32 ? 4 : 8);
                fprintf(o, "%" PRIu64, u);
        } else if (f->kind == FK_I64) {
                int64_t i;
                memcpy(&i, (const uint8_t *)payload + f->offset, 8);
                fprintf(o, "%" PRId64, i);
        } else
                put_double(o, field_get_double(f, payload));
        fputc('\n', o);
}

static void put_header(struct sample_ctx *sc)
{
        if (sc->header_done)
                return;
        fprintf(sc->o, "# HELP %s ", sc->metric);
        put_help(sc->o, sc->help ? sc->help : sc->f->doc ? sc->f->doc : sc->f->name);
        if (!sc->help && sc->f->unit && *sc->f->unit)
                fprintf(sc->o, " (%s)", sc->f->unit);
        fprintf(sc->o, "\n# TYPE %s %s\n", sc->metric, sc->type);
        sc->header_done = true;
}

static void emit_sample(struct sample_ctx *sc, const void *payload, const struct record_desc *pd,
                        const char *parent_key)
{
        if (field_is_missing(sc->f, payload) || isnan(field_get_double(sc->f, payload)))
                return;
        put_header(sc);
        fputs(sc->metric, sc->o);
        put_labels(sc, payload, pd, parent_key);
        put_value(sc->o, sc->f, payload);
}

/* A state word as one sample per known value: 1 for the current one. */
static void emit_state_word(struct sample_ctx *sc, const char *values, const void *payload,
                            const struct record_desc *pd, const char *parent_key)
{
        char cur[RJ_STR_MAX];
        strscpy(cur, MIN(sizeof(cur), (size_t)sc->f->size + 1),
                (const char *)payload + sc->f->offset);
        if (!*cur)
                return;
        put_header(sc);
        bool known = false;
        for (const char *v = values; *v;) {
                size_t n = strcspn(v, "|");
                char word[64];
                snprintf(word, sizeof(word), "%.*s", (int)n, v);
                bool on = strcmp(word, cur) == 0;
                known |= on;
                sc->xvalue = word;
                fputs(sc->metric, sc->o);
                put_labels(sc, payload, pd, parent_key);
                fprintf(sc->o, " %d\n", on);
                v += n + (v[n] == '|');
        }
        if (!known) {
                sc->xvalue = cur;
                fputs(sc->metric, sc->o);
                put_labels(sc, payload, pd, parent_key);
                fputs(" 1\n", sc->o);
        }
}

/* Every sample of one field (or of a family's member field) over the cached entities. */
static void emit_field(struct sample_ctx *sc, struct state_topic *t, const struct record_desc *pd,
                       int slot, const char *states)
{
        for (size_t i = 0; i < t->n; i++) {
                struct state_entity *e = t->ents[i];
                const struct state_kids *k = pd ? &e->kids[slot] : NULL;
                uint32_t n = pd ? k->n : 1;
                for (uint32_t j = 0; j < n; j++) {
                        const void *p = pd ? k->p + (size_t)sc->d->size * j : e->payload;
                        if (states)
                                emit_state_word(sc, states, p, pd, pd ? e->key : NULL);
                        else
                                emit_sample(sc, p, pd, pd ? e->key : NULL);
                }
        }
}

/* A field before field fi already opened the family (its samples were all written then). */
static bool mode_family_seen(const struct record_desc *d, unsigned fi, const char *family)
{
        for (unsigned k = 0; k < fi; k++) {
                const struct mrow *m = mrow(d->id, schema_fields[d->first_field + k].name, ML_MODE);
                if (m && strcmp(m->a, family) == 0)
                        return true;
        }
        return false;
}

static void emit_record(FILE *o, const struct record_desc *d, struct state_topic *t,
                        const struct record_desc *pd, int slot)
{
        for (unsigned fi = 0; fi < d->n_fields; fi++) {
                const struct field_desc *f = &schema_fields[d->first_field + fi];
                const struct mrow *m = mrow(d->id, f->name, -1);
                char metric[160];
                struct sample_ctx sc = { .o = o, .d = d, .f = f, .metric = metric };
                if (m && m->kind == ML_STATE && f->kind == FK_STR) {
                        snprintf(metric, sizeof(metric), "ringhub_%s_%s", topics_prom_name(d->id),
                                 f->name);
                        sc.type = "gauge";
                        sc.xlabel = m->a;
                        emit_field(&sc, t, pd, slot, m->b);
                        continue;
                }
                if (!field_numeric(f) || (m && m->kind == ML_SKIP))
                        continue;
                bool counter = f->flags & F_COUNTER;
                sc.type = counter ? "counter" : "gauge";
                if (m && m->kind == ML_MODE) {
                        if (mode_family_seen(d, fi, m->a))
                                continue;
                        snprintf(metric, sizeof(metric), "ringhub_%s", m->a);
                        char help[160];
                        snprintf(help, sizeof(help), "%s: time by %s (%s)", d->doc, m->b, f->unit);
                        sc.help = help;
                        for (unsigned k = fi; k < d->n_fields; k++) {
                                const struct field_desc *mf = &schema_fields[d->first_field + k];
                                const struct mrow *mm = mrow(d->id, mf->name, ML_MODE);
                                if (!mm || strcmp(mm->a, m->a) != 0)
                                        continue;
                                sc.f = mf;
                                sc.xlabel = mm->b;
                                sc.xvalue = mm->c;
                                emit_field(&sc, t, pd, slot, NULL);
                        }
                        continue;
                }
                if (m && m->kind == ML_FS) {
                        snprintf(metric, sizeof(metric), "ringhub_%s", m->a);
                        sc.fs = true;
                } else
                        snprintf(metric, sizeof(metric), "ringhub_%s_%s%s", topics_prom_name(d->id),
                                 f->name, counter ? "_total" : "");
                emit_field(&sc, t, pd, slot, NULL);
        }
}

static void emit_state(FILE *o)
{
        for (const struct record_desc *d = schema_next(NULL); d; d = schema_next(d)) {
                /* Children are found through their parents' entities. */
                const struct record_desc *pd =
                    d->kind == SK_CHILD ? schema_record(d->parent) : NULL;
                struct state_topic *t = state_topic(pd ? pd->id : d->id);
                if (!t || !t->seen)
                        continue;
                int slot = pd ? state_kid_slot(pd->id, d->id) : 0;
                if (slot < 0)
                        continue;
                emit_record(o, d, t, pd, slot);
        }
}

enum stat_kind { COUNTER, GAUGE, SECONDS };

static const struct stat_row {
        const char *metric, *help;
        enum stat_kind kind;
        size_t offset;
} stat_rows[] = {
#define STAT(field, kind, metric, help) { metric, help, kind, offsetof(struct hub_stats, field) },
#include "stats.def"
#undef STAT
};

static void gauge(FILE *o, const char *name, const char *help, double v)
{
        fprintf(o, "# HELP ringhub_%s %s\n# TYPE ringhub_%s gauge\nringhub_%s ", name, help, name,
                name);
        put_double(o, v);
        fputc('\n', o);
}

static void emit_hub(FILE *o)
{
        for (size_t i = 0; i < ELEMENTSOF(stat_rows); i++) {
                const struct stat_row *s = &stat_rows[i];
                uint64_t v = atomic_load((_Atomic uint64_t *)((uint8_t *)&hub.stats + s->offset));
                if (s->kind == GAUGE) {
                        gauge(o, s->metric, s->help, (double)v);
                        continue;
                }
                fprintf(o, "# HELP ringhub_%s %s\n# TYPE ringhub_%s counter\nringhub_%s ",
                        s->metric, s->help, s->metric, s->metric);
                if (s->kind == SECONDS)
                        put_double(o, (double)v / 1e9);
                else
                        fprintf(o, "%" PRIu64, v);
                fputc('\n', o);
        }
        uint64_t counts[HUB_SER_BUCKETS + 1], sum_ns, cum = 0;
        hub_serialize_histogram(counts, &sum_ns);
        fputs("# HELP ringhub_serialize_duration_seconds time to serialize one event for every "
              "dialect\n# TYPE ringhub_serialize_duration_seconds histogram\n",
              o);
        for (unsigned i = 0; i <= HUB_SER_BUCKETS; i++) {
                cum += counts[i];
                fputs("ringhub_serialize_duration_seconds_bucket{le=\"", o);
                if (i < HUB_SER_BUCKETS)
                        put_double(o, hub_ser_bounds_ns[i] / 1e9);
                else
                        fputs("+Inf", o);
                fprintf(o, "\"} %" PRIu64 "\n", cum);
        }
        fputs("ringhub_serialize_duration_seconds_sum ", o);
        put_double(o, (double)sum_ns / 1e9);
        fprintf(o, "\nringhub_serialize_duration_seconds_count %" PRIu64 "\n", cum);
        gauge(o, "start_time_seconds", "when the hub started, seconds since the Unix epoch",
              (double)hub.start_ns / 1e9);
        fputs("# HELP ringhub_build_info the hub's version (always 1)\n"
              "# TYPE ringhub_build_info gauge\nringhub_build_info{version=\"" RINGHUB_VERSION
              "\"} 1\n",
              o);
}

/* One sample per registered collector: 1 while it runs (heartbeats in time), 0 when it
 * is stale, dead or exited; `producer` is the registry index `ringhubctl stat` shows. */
static void emit_collectors(FILE *o)
{
        fputs("# HELP ringhub_collector_up a collector runs and its heartbeat is current (1) or "
              "not (0)\n# TYPE ringhub_collector_up gauge\n",
              o);
        struct registry_entry *ents = hub.ring ? calloc(RING_MAX_PRODUCERS, sizeof(*ents)) : NULL;
        size_t n = ents ? registry_snapshot(hub.ring, ents, RING_MAX_PRODUCERS) : 0;
        for (size_t i = 0; i < n; i++) {
                if (!ents[i].interval_ms) /* ad-hoc writers (ringhubctl inject) */
                        continue;
                bool first = true;
                char idx[16];
                snprintf(idx, sizeof(idx), "%u", ents[i].index);
                fputs("ringhub_collector_up{", o);
                put_label(o, &first, "collector", ents[i].name, sizeof(ents[i].name));
                put_label(o, &first, "producer", idx, sizeof(idx));
                fprintf(o, "} %d\n", ents[i].state == REGISTRY_RUNNING);
        }
        free(ents);
}

char *metrics_render(size_t *ret_len)
{
        char *buf = NULL;
        size_t len = 0;
        FILE *o = open_memstream(&buf, &len);
        if (!o)
                return NULL;
        pthread_mutex_lock(&state_lock);
        emit_state(o);
        pthread_mutex_unlock(&state_lock);
        emit_hub(o);
        emit_collectors(o);
        alarms_hub_metrics(o);
        if (fclose(o) != 0) {
                free(buf);
                return NULL;
        }
        *ret_len = len;
        return buf;
}
