/*
 * metrics.c — GET /metrics: Prometheus text exposition, driven by the schema.
 *
 * Process: ringhub, mhd thread, under state_lock while it walks the cache. Every
 * numeric field of every cached entity becomes a sample: F_COUNTER fields are counters
 * (`_total`), the rest gauges; names are ringhub_<stem>_<field> with the record's metric
 * stem from the topics table (topics.def; units are already in the field names), HELP
 * carries the field doc and unit; labels come from the entity key and, for children, the
 * parent key and the child's identifying fields. Then the hub's own counters, every one
 * declared in stats.def. Never writes to the cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "alarms_hub.h"
#include "hub.h"
#include "macros.h"
#include "record_json.h"
#include "state.h"
#include "util.h"

static bool field_numeric(const struct field_desc *f)
{
        if (f->flags & F_NOMETRIC)
                return false;
        return f->kind == FK_U32 || f->kind == FK_U64 || f->kind == FK_I64 || f->kind == FK_F64 ||
               f->kind == FK_BOOL;
}

static void put_escaped(FILE *o, const char *s, size_t max)
{
        for (size_t i = 0; i < max && s[i]; i++) {
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

/* Identifying fields of a child record: its strings named "name" and its F_NOMETRIC ints. */
static bool label_field(const struct record_desc *d, const struct field_desc *f)
{
        if (d->kind == SK_CHILD && d->key && strcmp(f->name, d->key) == 0)
                return false;
        if (f->kind == FK_STR)
                return strcmp(f->name, "name") == 0;
        return (f->flags & F_NOMETRIC) && (f->kind == FK_U32 || f->kind == FK_U64);
}

static void put_labels(FILE *o, const struct record_desc *d, const void *payload,
                       const struct record_desc *pd, const char *parent_key)
{
        bool first = true;
        fputc('{', o);
        if (pd && pd->key && *pd->key && parent_key) {
                fprintf(o, "%s_%s=\"", pd->name, pd->key);
                put_escaped(o, parent_key, STATE_KEY_MAX);
                fputc('"', o);
                first = false;
        }
        if (d->kind == SK_LIST || d->kind == SK_KEYED) {
                char key[STATE_KEY_MAX];
                record_key(d, payload, key, sizeof(key));
                fprintf(o, "%s%s=\"", first ? "" : ",", d->key);
                put_escaped(o, key, sizeof(key));
                fputc('"', o);
                first = false;
        } else if (d->kind == SK_CHILD) {
                for (unsigned i = 0; i < d->n_fields; i++) {
                        const struct field_desc *f = &schema_fields[d->first_field + i];
                        if (!label_field(d, f))
                                continue;
                        char buf[96];
                        fprintf(o, "%s%s=\"", first ? "" : ",", f->name);
                        if (f->kind == FK_STR)
                                put_escaped(o, (const char *)payload + f->offset, f->size);
                        else
                                put_escaped(o, field_to_text(f, payload, buf, sizeof(buf)),
                                            sizeof(buf));
                        fputc('"', o);
                        first = false;
                }
        }
        fputc('}', o);
}

static void put_value(FILE *o, const struct field_desc *f, const void *payload)
{
        double v = field_get_double(f, payload);
        if (f->kind == FK_U64 || f->kind == FK_U32) {
                uint64_t u = 0;
                memcpy(&u, (const uint8_t *)payload + f->offset, f->kind == FK_U32 ? 4 : 8);
                fprintf(o, " %" PRIu64 "\n", u);
        } else if (f->kind == FK_I64) {
                int64_t i;
                memcpy(&i, (const uint8_t *)payload + f->offset, 8);
                fprintf(o, " %" PRId64 "\n", i);
        } else
                fprintf(o, " %.17g\n", v);
}

struct sample_ctx {
        FILE *o;
        const struct record_desc *d;
        const struct field_desc *f;
        bool header_done;
        const char *metric;
        bool counter;
};

static void emit_sample(struct sample_ctx *sc, const void *payload, const struct record_desc *pd,
                        const char *parent_key)
{
        if (field_is_missing(sc->f, payload) || isnan(field_get_double(sc->f, payload)))
                return;
        if (!sc->header_done) {
                fprintf(sc->o, "# HELP %s ", sc->metric);
                put_help(sc->o, sc->f->doc ? sc->f->doc : sc->f->name);
                if (sc->f->unit && *sc->f->unit)
                        fprintf(sc->o, " (%s)", sc->f->unit);
                fprintf(sc->o, "\n# TYPE %s %s\n", sc->metric, sc->counter ? "counter" : "gauge");
                sc->header_done = true;
        }
        fputs(sc->metric, sc->o);
        put_labels(sc->o, sc->d, payload, pd, parent_key);
        put_value(sc->o, sc->f, payload);
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
                for (unsigned fi = 0; fi < d->n_fields; fi++) {
                        const struct field_desc *f = &schema_fields[d->first_field + fi];
                        if (!field_numeric(f))
                                continue;
                        char metric[160];
                        bool counter = f->flags & F_COUNTER;
                        snprintf(metric, sizeof(metric), "ringhub_%s_%s%s", topics_prom_name(d->id),
                                 f->name, counter ? "_total" : "");
                        struct sample_ctx sc = {
                                .o = o, .d = d, .f = f, .metric = metric, .counter = counter
                        };
                        for (size_t i = 0; i < t->n; i++) {
                                struct state_entity *e = t->ents[i];
                                if (!pd) {
                                        emit_sample(&sc, e->payload, NULL, NULL);
                                        continue;
                                }
                                const struct state_kids *k = &e->kids[slot];
                                for (uint32_t j = 0; j < k->n; j++)
                                        emit_sample(&sc, k->p + (size_t)d->size * j, pd, e->key);
                        }
                }
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
        fprintf(o, "# HELP ringhub_%s %s\n# TYPE ringhub_%s gauge\nringhub_%s %.17g\n", name, help,
                name, name, v);
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
                        fprintf(o, "%.9f\n", (double)v / 1e9);
                else
                        fprintf(o, "%" PRIu64 "\n", v);
        }
        struct hub_diag d;
        hub_diag_get(&d);
        gauge(o, "events_per_second", "events in the last second", d.events_per_sec);
        gauge(o, "sent_bytes_per_second", "bytes sent in the last second", d.bytes_per_sec);
        fprintf(o,
                "# HELP ringhub_serialize_seconds JSON serialization time over the last second\n"
                "# TYPE ringhub_serialize_seconds gauge\n"
                "ringhub_serialize_seconds{stat=\"min\"} %.9f\n"
                "ringhub_serialize_seconds{stat=\"avg\"} %.9f\n"
                "ringhub_serialize_seconds{stat=\"max\"} %.9f\n",
                d.serialize_min_us / 1e6, d.serialize_avg_us / 1e6, d.serialize_max_us / 1e6);
        gauge(o, "uptime_seconds", "seconds since the hub started",
              (double)(real_ns() - hub.start_ns) / 1e9);
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
        alarms_hub_metrics(o);
        if (fclose(o) != 0) {
                free(buf);
                return NULL;
        }
        *ret_len = len;
        return buf;
}
