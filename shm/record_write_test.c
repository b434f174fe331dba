/*
 * record_write_test.c — the schema-driven writer (rj_record, record_json.c) writes the
 * same bytes as the json-c path (record_json_new + plain serialization) for every
 * record type, every flag combination and random and edge field values (record_fill.h).
 * Also prints the cost of both per record (--bench: only that, for perf). Pure library test: no
 * ring, no processes.
 */
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "record_fill.h"
#include "record_json.h"
#include "schema.h"
#include "util.h"

static void compare(const struct record_desc *r, const uint8_t *p, unsigned flags, struct rj_buf *b)
{
        json_object *o = record_json_new(r->id, p, flags);
        check(o);
        size_t len;
        const char *want = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        b->n = 0;
        check(rj_record(b, r->id, p, flags) == 0);
        if (b->n != len || memcmp(b->p, want, len) != 0) {
                fprintf(stderr, "record %s flags 0x%x differ:\njson-c: %s\nwriter: %s\n", r->name,
                        flags, want, b->p);
                exit(1);
        }
        json_object_put(o);
}

static void timing(const struct record_desc *r, struct rj_buf *b)
{
        uint8_t p[SCHEMA_PAYLOAD_MAX] __attribute__((aligned(8)));
        realistic = true;
        fill(r, p);
        realistic = false;
        const int n = 2000;
        uint64_t t0 = mono_ns();
        for (int i = 0; i < n; i++) {
                json_object *o = record_json_new(r->id, p, RJ_SEED_TYPED | RJ_ALIASES);
                (void)json_object_to_json_string_length(
                    o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, NULL);
                json_object_put(o);
        }
        uint64_t t1 = mono_ns();
        for (int i = 0; i < n; i++) {
                b->n = 0;
                (void)rj_record(b, r->id, p, RJ_SEED_TYPED | RJ_ALIASES);
        }
        uint64_t t2 = mono_ns();
        printf("%-20s %4zu B  json-c %6" PRIu64 " ns  writer %5" PRIu64 " ns\n", r->name, b->n,
               (t1 - t0) / n, (t2 - t1) / n);
}

int main(int argc, char **argv)
{
        struct rj_buf b = { 0 };
        if (argc > 1 && strcmp(argv[1], "--bench") == 0) { /* timings only, for perf */
                for (int i = 0; i < 20; i++)
                        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r))
                                timing(r, &b);
                rj_free(&b);
                return 0;
        }
        unsigned types = 0;
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t p[SCHEMA_PAYLOAD_MAX] __attribute__((aligned(8)));
                /* every field missing, then random values */
                record_init_missing(r->id, p);
                for (unsigned flags = 0; flags < 16; flags++)
                        compare(r, p, flags, &b);
                for (int i = 0; i < 300; i++) {
                        fill(r, p);
                        for (unsigned flags = 0; flags < 16; flags++)
                                compare(r, p, flags, &b);
                }
                types++;
        }
        check(types == schema_record_count());
        /* appending: two records in one buffer are the two texts joined */
        const struct record_desc *r = schema_next(NULL);
        uint8_t p[SCHEMA_PAYLOAD_MAX] __attribute__((aligned(8)));
        fill(r, p);
        b.n = 0;
        check(rj_record(&b, r->id, p, 0) == 0);
        size_t one = b.n;
        check(rj_record(&b, r->id, p, 0) == 0);
        check(b.n == 2 * one && memcmp(b.p, b.p + one, one) == 0);
        check(rj_record(&b, 0, p, 0) < 0);
        for (r = schema_next(NULL); r; r = schema_next(r))
                timing(r, &b);
        rj_free(&b);
        printf("writer matches json-c over %u record types\n", types);
        return 0;
}
