/*
 * state_writer_test.c — the state cache's writer (state_entity_write) gives byte for byte the
 * text of the json-c tree (state_entity_json) for every record type that is state, with
 * random and edge field values (shm/record_fill.h), every number of children of each
 * child type (R_SCALAR ones included), and records with and without a timestamp; the
 * Unraid agent's fields (state_agent.c) included, whose "%.2f" texts are held to printf's.
 *
 * hub/state.c alone: the hub.c symbols it links to are defined here; the two writers use
 * none but the start time.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "record_fill.h"
#include "state.h"

struct hub hub;

/* state.c's links to hub.c: the writers under test keep no bodies and count nothing. */
struct hub_body *hub_body_new(const char *s, size_t len)
{
        (void)s;
        (void)len;
        return NULL;
}

struct hub_body *hub_body_ref(struct hub_body *b)
{
        return b;
}

void hub_body_unref(struct hub_body *b)
{
        (void)b;
}

void hub_count_serialization(uint64_t ns)
{
        (void)ns;
}

static void compare(const struct record_desc *d, const struct state_entity *e, struct rj_buf *b)
{
        json_object *o = state_entity_json(d, e);
        check(o);
        size_t len;
        const char *want = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        b->n = 0;
        check(state_entity_write(b, d, e) == 0);
        if (b->n != len || memcmp(b->p, want, len) != 0) {
                fprintf(stderr, "entity %s differs:\njson-c: %s\nwriter: %s\n", d->name, want,
                        b->p);
                exit(1);
        }
        json_object_put(o);
}

/* state_agent_fixed2() against printf's "%.2f": ties, byte counts in MiB and GiB, edges. */
static void check_fixed2(void)
{
        static const double edge[] = { 0,          0.005,  0.015, 0.125,    0.375,
                                       0.625,      1.005,  2.675, 1023.995, 1e-300,
                                       0x1p46 - 1, 0x1p46, 1e20,  -0.0,     -1.5 };
        char want[64], got[64];
        for (size_t i = 0; i < 200000 + sizeof(edge) / sizeof(edge[0]); i++) {
                double v;
                if (i < sizeof(edge) / sizeof(edge[0]))
                        v = edge[i];
                else if (i % 3 == 0)
                        v = (double)(rnd() % (1ull << 40)) / 8; /* ties of .x25, .x75 */
                else
                        v = (double)(rnd() >> (rnd() % 64)) /
                            (i % 3 == 1 ? 1048576.0 : 1073741824.0);
                snprintf(want, sizeof(want), "%.2f", v);
                check(state_agent_fixed2(got, sizeof(got), v) == strlen(want));
                if (strcmp(want, got) != 0) {
                        fprintf(stderr, "%%.2f of %a: printf %s, writer %s\n", v, want, got);
                        exit(1);
                }
        }
}

int main(void)
{
        struct rj_buf b = { 0 };
        unsigned tested = 0;
        hub.start_ns = 1733000000123456789ull;
        check(state_init() == 0);
        check_fixed2();
        for (const struct record_desc *d = schema_next(NULL); d; d = schema_next(d)) {
                if (d->kind == SK_CHILD || d->kind == SK_EVENT)
                        continue;
                for (int it = 0; it < 200; it++) {
                        struct state_entity *e = calloc(1, sizeof(*e) + d->size);
                        check(e);
                        e->type = d->id;
                        fill(d, e->payload);
                        e->ts_ns = it % 3 == 0 ? 0 : rnd() >> 4;
                        for (const struct record_desc *kd = schema_next(NULL); kd;
                             kd = schema_next(kd)) {
                                int k = kd->kind == SK_CHILD ? state_kid_slot(d->id, kd->id) : -1;
                                if (k < 0)
                                        continue;
                                struct state_kids *ks = &e->kids[k];
                                ks->type = kd->id;
                                ks->n = (uint32_t)(rnd() % 4);
                                ks->p = calloc(ks->n ? ks->n : 1, kd->size);
                                check(ks->p);
                                for (uint32_t i = 0; i < ks->n; i++)
                                        fill(kd, ks->p + (size_t)kd->size * i);
                        }
                        compare(d, e, &b);
                        for (unsigned k = 0; k < STATE_MAX_KIDS; k++)
                                free(e->kids[k].p);
                        free(e);
                }
                tested++;
        }
        check(tested > 0);
        rj_free(&b);
        state_free();
        printf("state writer matches json-c over %u entity types\n", tested);
        return 0;
}
