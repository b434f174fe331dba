/*
 * render-bench.c — what one state event costs to serialize and to render in each dialect,
 * for the common NAS records, in the build it is compiled in.
 *
 * Drives the hub's own modules (hub/state.c, the dialects' render()) in one thread, with
 * no ring, sockets or clients: per record type one entity with telemetry-like values and
 * its usual children goes into the state cache; then, repeated, its state is published
 * (state_publish(): the schema-driven writer, the bodies kept) and the event rendered by
 * each dialect as events.c renders it. For comparison, the same entity through the json-c
 * tree (state_entity_json() serialized), the path the writer replaced; and the writer
 * again with its doubles as collectors compute them (ratios: no short decimal, the
 * formatter's slow path) rather than readings in hundredths. Prints a line per record
 * and, last, one JSON object: ns per event per dialect, per record type.
 *
 * usage: render-bench [ITERATIONS]   (default 20000)
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dialect.h"
#include "dialects.h"
#include "record_fill.h"
#include "ring.h"
#include "state.h"
#include "util.h"

#ifndef BENCH_BUILDTYPE
#define BENCH_BUILDTYPE "unknown"
#endif

/* The records timed, and how many of each child type they carry. */
static const struct {
        const char *name;
        unsigned kids;
} cases[] = {
        { "system", 4 }, { "disk", 4 },  { "array", 2 }, { "share", 2 }, { "container", 2 },
        { "vm", 2 },     { "netif", 2 }, { "ups", 2 },   { "gpu", 2 },
};

#define BATCH_MAX 64

static struct ring_record recs[BATCH_MAX];
static const struct ring_record *rec_ptrs[BATCH_MAX];

static void set_parent_key(const struct record_desc *d, const uint8_t *parent,
                           const struct record_desc *kd, uint8_t *kid)
{
        const struct field_desc *pf = d->key && *d->key ? schema_field_by_name(d, d->key) : NULL;
        const struct field_desc *kf =
            kd->key && *kd->key ? schema_field_by_name(kd, kd->key) : NULL;
        char text[RJ_STR_MAX + 1];
        if (pf && kf)
                (void)field_from_text(kf, field_to_text(pf, parent, text, sizeof(text)), kid);
}

/* One entity of d and its children as one batch into the state cache. */
static size_t make_batch(const struct record_desc *d, unsigned kids)
{
        size_t n = 0;
        uint64_t now = real_ns();
        struct ring_record *r = &recs[n++];
        memset(r, 0, sizeof(*r));
        r->type = d->id;
        r->len = d->size;
        r->ts_ns = now;
        realistic = true;
        fill(d, r->payload);
        for (const struct record_desc *kd = schema_next(NULL); kd; kd = schema_next(kd)) {
                if (kd->kind != SK_CHILD || kd->parent != d->id)
                        continue;
                unsigned k = kd->flags & R_SCALAR ? kids * 2 : kids;
                for (unsigned i = 0; i < k && n < BATCH_MAX; i++) {
                        struct ring_record *c = &recs[n++];
                        memset(c, 0, sizeof(*c));
                        c->type = kd->id;
                        c->len = kd->size;
                        c->ts_ns = now;
                        fill(kd, c->payload);
                        set_parent_key(d, r->payload, kd, c->payload);
                }
        }
        realistic = false;
        for (size_t i = 0; i < n; i++)
                rec_ptrs[i] = &recs[i];
        return n;
}

/* The batch's readings as collectors compute them (a ratio, a byte count in MiB): every
 * double divided by 3, so none is a short decimal any more. */
static void computed_values(size_t nb)
{
        for (size_t i = 0; i < nb; i++) {
                const struct record_desc *d = schema_record(recs[i].type);
                for (unsigned k = 0; k < d->n_fields; k++) {
                        const struct field_desc *f = &schema_fields[d->first_field + k];
                        double v;
                        if (f->kind != FK_F64)
                                continue;
                        memcpy(&v, recs[i].payload + f->offset, 8);
                        v /= 3.0;
                        memcpy(recs[i].payload + f->offset, &v, 8);
                }
        }
}

/* ns per state_publish() of topic t. */
static double time_publish(struct state_topic *t, unsigned n, struct hub_body **ret_body)
{
        struct hub_body *body = NULL;
        uint64_t t0 = mono_ns();
        for (unsigned i = 0; i < n; i++) {
                hub_body_unref(body);
                body = NULL;
                if (state_publish(t, &body) < 0)
                        exit(1);
        }
        double ns = (double)(mono_ns() - t0) / n;
        if (ret_body)
                *ret_body = body;
        else
                hub_body_unref(body);
        return ns;
}

static double per_op(uint64_t t0, uint64_t t1, unsigned n)
{
        return (double)(t1 - t0) / n;
}

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 20000;
        if (n == 0)
                n = 1;
        hub.start_ns = real_ns();
        if (state_init() < 0) {
                fprintf(stderr, "render-bench: state_init failed\n");
                return 1;
        }
        json_object *out = json_object_new_object(), *recs_o = json_object_new_object();
        json_object_object_add(out, "bench", json_object_new_string("render"));
        json_object_object_add(out, "build", json_object_new_string(BENCH_BUILDTYPE));
        json_object_object_add(out, "iterations", json_object_new_int64(n));
        printf("%-10s %6s %9s %9s", "record", "bytes", "json-c", "writer");
        for (unsigned d = 0; d < hub_n_dialects; d++)
                printf(" %9s", hub_dialects[d]->name);
        printf(" %9s   (ns per event)\n", "computed");
        for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
                const struct record_desc *d = schema_record_by_name(cases[ci].name);
                struct state_topic *t = d ? state_topic(d->id) : NULL;
                if (!t)
                        continue;
                struct state_changes ch = { 0 };
                size_t nb = make_batch(d, cases[ci].kids);
                if (state_apply_batch(rec_ptrs, nb, &ch) < 0 || t->n == 0) {
                        fprintf(stderr, "render-bench: %s: batch not applied\n", d->name);
                        return 1;
                }
                free(ch.keyed);

                /* json-c: the tree of every entity, serialized (the path before the writer) */
                uint64_t t0 = mono_ns();
                for (unsigned i = 0; i < n; i++) {
                        json_object *o = state_entity_json(t->d, t->ents[0]);
                        (void)json_object_to_json_string_length(
                            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, NULL);
                        json_object_put(o);
                }
                uint64_t t1 = mono_ns();
                struct hub_body *body = NULL;
                double wr = time_publish(t, n, &body);
                json_object *ro = json_object_new_object(), *rd = json_object_new_object();
                double jc = per_op(t0, t1, n);
                printf("%-10s %6zu %9.0f %9.0f", d->name, body->len, jc, wr);
                for (unsigned di = 0; di < hub_n_dialects; di++) {
                        const struct dialect *dl = hub_dialects[di];
                        uint64_t r0 = mono_ns();
                        for (unsigned i = 0; i < n; i++) {
                                uint64_t now = real_ns();
                                struct hub_event ev = { .topic = d->id,
                                                        .name = d->name,
                                                        .state = true,
                                                        .ts_ns = now,
                                                        .rec_ts_ns = now,
                                                        .json = body->s,
                                                        .json_len = body->len };
                                struct hub_msg *m = dl->render(&ev);
                                hub_msg_unref(m);
                                if (ev.data)
                                        json_object_put(ev.data);
                        }
                        double rn = per_op(r0, mono_ns(), n);
                        printf(" %9.0f", rn);
                        json_object_object_add(rd, dl->name,
                                               json_object_new_int64((int64_t)(rn + 0.5)));
                }
                /* The same record with computed readings (the writer only). */
                computed_values(nb);
                ch = (struct state_changes){ 0 };
                if (state_apply_batch(rec_ptrs, nb, &ch) < 0)
                        return 1;
                free(ch.keyed);
                double wc = time_publish(t, n, NULL);
                printf(" %9.0f\n", wc);
                json_object_object_add(ro, "serialize_computed_ns",
                                       json_object_new_int64((int64_t)(wc + 0.5)));
                json_object_object_add(ro, "bytes", json_object_new_int64((int64_t)body->len));
                json_object_object_add(ro, "json_c_ns", json_object_new_int64((int64_t)(jc + 0.5)));
                json_object_object_add(ro, "serialize_ns",
                                       json_object_new_int64((int64_t)(wr + 0.5)));
                json_object_object_add(ro, "render_ns", rd);
                json_object_object_add(recs_o, d->name, ro);
                hub_body_unref(body);
        }
        json_object_object_add(out, "records", recs_o);
        printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
        json_object_put(out);
        state_free();
        return 0;
}
