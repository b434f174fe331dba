/*
 * schema_test.c — unit tests of the record schema (schema.c) and its JSON/text codec
 * (record_json.c).
 *
 * For every record type in schema.def: fill every field with distinctive values
 * (extremes, values a double cannot hold, escapes), serialize to JSON text, parse it
 * back into a fresh payload and compare bytes; the same through field text. Also
 * missing values, string bounds, validation of hostile payloads, aliases and the float
 * formatting of json_double. Pure library test: no ring, no processes.
 */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "record_json.h"
#include "schema.h"
#include "util.h"

#define check(expr)                                                                           \
        do {                                                                                  \
                if (!(expr)) {                                                                \
                        fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, \
                                #expr, ctx);                                                  \
                        exit(1);                                                              \
                }                                                                             \
        } while (0)

#define check_eq(a, b)                                                                         \
        do {                                                                                   \
                long long _a = (long long)(a), _b = (long long)(b);                            \
                if (_a != _b) {                                                                \
                        fprintf(stderr, "%s:%d: check failed: %s == %s (%lld != %lld) (%s)\n", \
                                __FILE__, __LINE__, #a, #b, _a, _b, ctx);                      \
                        exit(1);                                                               \
                }                                                                              \
        } while (0)

/* What is being checked, for failure messages. */
static char ctx[1024] = "";

static void jputp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(jputp)

static const struct field_desc *fld(const struct record_desc *r, unsigned i)
{
        return &schema_fields[r->first_field + i];
}

enum fill { FILL_EXTREME, FILL_DISTINCT, FILL_ZERO, FILL_MAX };

static const double extreme_doubles[] = {
        1e300, 0.1, -2.5e-300, DBL_MAX, -0.0, 123456.789, 3200.0, -DBL_MAX, DBL_MIN, 1e-7, 5e-324,
};

/* Set field i of r in payload to a value per fill mode; never the missing marker. */
static void fill_field(const struct record_desc *r, unsigned i, enum fill mode, void *payload)
{
        const struct field_desc *f = fld(r, i);
        uint8_t *p = (uint8_t *)payload + f->offset;
        unsigned gi = r->first_field + i;
        switch (f->kind) {
        case FK_STR: {
                /* Characters JSON must escape, and valid UTF-8 of 2, 3 and 4 bytes. */
                static const char *const toks[] = {
                        "\"",    "\\",           "/", "\t", "\xc3\xa9",
                        "<a&b>", "\xe2\x82\xac", "'", " ",  "\xf0\x9f\x98\x80",
                        "~"
                };
                memset(p, 0, f->size);
                if (mode == FILL_EXTREME) {
                        /* Maximal length: whole tokens, then ASCII up to size - 1. */
                        size_t o = 0;
                        for (size_t t = 0; t < ELEMENTSOF(toks); t++) {
                                size_t l = strlen(toks[t]);
                                if (o + l + 1 > f->size)
                                        break;
                                memcpy(p + o, toks[t], l);
                                o += l;
                        }
                        for (; o + 1 < f->size; o++)
                                p[o] = (uint8_t)('A' + (gi + o) % 26);
                } else if (mode == FILL_DISTINCT)
                        snprintf((char *)p, f->size, "f%u", gi);
                break;
        }
        case FK_U32: {
                uint32_t v = mode == FILL_EXTREME    ? MISSING_U32 - 1
                             : mode == FILL_DISTINCT ? gi + 7
                                                     : 0;
                memcpy(p, &v, 4);
                break;
        }
        case FK_U64: {
                uint64_t v = mode == FILL_EXTREME    ? MISSING_U64 - 1
                             : mode == FILL_DISTINCT ? (UINT64_C(1) << 53) + 1 + 2 * gi
                                                     : 0;
                memcpy(p, &v, 8);
                break;
        }
        case FK_I64: {
                int64_t v = mode == FILL_EXTREME    ? (gi % 2 ? INT64_MIN + 1 : INT64_MAX)
                            : mode == FILL_DISTINCT ? -(INT64_C(1) << 53) - 1 - 2 * (int64_t)gi
                                                    : 0;
                memcpy(p, &v, 8);
                break;
        }
        case FK_F64: {
                double v = mode == FILL_EXTREME ? extreme_doubles[gi % ELEMENTSOF(extreme_doubles)]
                           : mode == FILL_DISTINCT ? 0.1 * (gi + 1)
                                                   : 0.0;
                memcpy(p, &v, 8);
                break;
        }
        case FK_BOOL:
                *p = mode == FILL_EXTREME ? 1 : 0;
                break;
        case FK_TIME: {
                uint64_t v = mode == FILL_EXTREME    ? UINT64_C(1759413779850035377)
                             : mode == FILL_DISTINCT ? 1 + gi
                                                     : UINT64_C(4102444800000000000);
                memcpy(p, &v, 8);
                break;
        }
        }
}

static void fill_record(const struct record_desc *r, enum fill mode, void *payload)
{
        record_init_missing(r->id, payload);
        for (unsigned i = 0; i < r->n_fields; i++)
                fill_field(r, i, mode, payload);
}

/* Byte compare, naming the first differing field. */
static void check_same(const struct record_desc *r, const void *a, const void *b)
{
        if (memcmp(a, b, r->size) == 0)
                return;
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = fld(r, i);
                if (memcmp((const uint8_t *)a + f->offset, (const uint8_t *)b + f->offset,
                           f->size) != 0) {
                        char ta[512], tb[512];
                        fprintf(stderr, "%s.%s differs: %s vs %s (%s)\n", r->name, f->name,
                                field_to_text(f, a, ta, sizeof(ta)),
                                field_to_text(f, b, tb, sizeof(tb)), ctx);
                        exit(1);
                }
        }
        fprintf(stderr, "%s: padding differs (%s)\n", r->name, ctx);
        exit(1);
}

/* JSON object → text → parse → record: must give back `orig` exactly. */
static void json_round_trip(const struct record_desc *r, const void *orig, unsigned flags,
                            const void *start)
{
        _cleanup_json_ json_object *o = record_json_new(r->id, orig, flags);
        check(o);
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        check(text);
        _cleanup_json_ json_object *parsed = json_tokener_parse(text);
        check(parsed);
        check(json_object_is_type(parsed, json_type_object));

        uint8_t back[SCHEMA_PAYLOAD_MAX];
        memcpy(back, start, r->size);
        const char *bad = NULL;
        int k = record_from_json(r->id, parsed, back, &bad);
        if (k < 0) {
                fprintf(stderr, "record_from_json(%s): %s at key %s; text %s\n", r->name,
                        strerror(-k), bad ? bad : "?", text);
                exit(1);
        }
        check_same(r, orig, back);
}

static void test_tables(void)
{
        unsigned count = 0, prev_id = 0;
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                snprintf(ctx, sizeof(ctx), "table %s", r->name);
                count++;
                check(r->id > prev_id);
                prev_id = r->id;
                check(schema_record(r->id) == r);
                check(schema_record_by_name(r->name) == r);
                check(r->size > 0 && r->size <= SCHEMA_PAYLOAD_MAX);
                check(r->n_fields > 0);
                check(r->version > 0);
                if (r->kind == SK_CHILD)
                        check(schema_record(r->parent) && r->list_key);
                unsigned end = 0;
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        snprintf(ctx, sizeof(ctx), "table %s.%s", r->name, f->name);
                        check(f->rtype == r->id);
                        check(f->offset >= end); /* declared order, no overlap */
                        end = f->offset + f->size;
                        check(end <= r->size);
                        check(schema_field_by_name(r, f->name) == f);
                        if (f->alias)
                                check(schema_field_by_name(r, f->alias) == f);
                        /* Every JSON key (names and aliases) is unique in its record. */
                        for (unsigned j = 0; j < i; j++) {
                                const struct field_desc *g = fld(r, j);
                                check(strcmp(g->name, f->name) != 0);
                                if (f->alias)
                                        check(strcmp(g->name, f->alias) != 0 &&
                                              (!g->alias || strcmp(g->alias, f->alias) != 0));
                                if (g->alias)
                                        check(strcmp(g->alias, f->name) != 0);
                        }
                }
                if (r->key) {
                        char buf[128];
                        uint8_t p[SCHEMA_PAYLOAD_MAX];
                        snprintf(ctx, sizeof(ctx), "key of %s", r->name);
                        check(schema_field_by_name(r, r->key));
                        record_init_missing(r->id, p);
                        check(record_key(r, p, buf, sizeof(buf)) == buf);
                }
        }
        snprintf(ctx, sizeof(ctx), "tables");
        check_eq(count, schema_record_count());
        check(count >= 9);
        check(schema_record(0) == NULL);
        check(schema_record(RT_MAX) == NULL);
        check(schema_record(100000) == NULL);
        check(schema_record_by_name("no_such_type") == NULL);
        check(schema_record_by_name(NULL) == NULL);
        check(schema_field_by_name(schema_next(NULL), "no_such_field") == NULL);
        /* The types the Unraid seed needs. */
        static const char *const needed[] = { "system",    "disk", "array", "share",
                                              "container", "vm",   "ups",   "gpu" };
        for (size_t i = 0; i < ELEMENTSOF(needed); i++) {
                snprintf(ctx, sizeof(ctx), "type %s", needed[i]);
                check(schema_record_by_name(needed[i]));
        }
}

/* Every type, every field filled, through JSON text and back: byte-identical. */
static void test_json_round_trip(void)
{
        static const unsigned flag_sets[] = { 0, RJ_MISSING_NULL, RJ_ALIASES,
                                              RJ_ALIASES | RJ_MISSING_NULL };
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t orig[SCHEMA_PAYLOAD_MAX], fresh[SCHEMA_PAYLOAD_MAX];
                record_init_missing(r->id, fresh);
                for (int mode = 0; mode < FILL_MAX; mode++) {
                        fill_record(r, (enum fill)mode, orig);
                        for (unsigned i = 0; i < r->n_fields; i++) {
                                snprintf(ctx, sizeof(ctx), "%s.%s mode %d", r->name,
                                         fld(r, i)->name, mode);
                                check(!field_is_missing(fld(r, i), orig));
                        }
                        for (size_t k = 0; k < ELEMENTSOF(flag_sets); k++) {
                                snprintf(ctx, sizeof(ctx), "%s mode %d flags %#x", r->name, mode,
                                         flag_sets[k]);
                                const char *why = "";
                                check_eq(record_validate(r->id, r->version, orig, r->size, &why),
                                         0);
                                check(why == NULL);
                                json_round_trip(r, orig, flag_sets[k], fresh);
                        }
                        /* Every field present exactly once, under its own name. */
                        _cleanup_json_ json_object *o = record_json_new(r->id, orig, 0);
                        check(o);
                        check_eq(json_object_object_length(o), r->n_fields);
                }
        }
}

/* Every field through its text form (ringhubctl inject / tail) and back. */
static void test_text_round_trip(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t orig[SCHEMA_PAYLOAD_MAX], back[SCHEMA_PAYLOAD_MAX];
                for (int mode = 0; mode < FILL_MAX; mode++) {
                        fill_record(r, (enum fill)mode, orig);
                        record_init_missing(r->id, back);
                        for (unsigned i = 0; i < r->n_fields; i++) {
                                const struct field_desc *f = fld(r, i);
                                char text[512];
                                field_to_text(f, orig, text, sizeof(text));
                                snprintf(ctx, sizeof(ctx), "text %s.%s mode %d '%s'", r->name,
                                         f->name, mode, text);
                                if (f->kind == FK_STR && mode == FILL_ZERO)
                                        continue; /* "" has no text form but "" */
                                check_eq(field_from_text(f, text, back), 0);
                        }
                        snprintf(ctx, sizeof(ctx), "text %s mode %d", r->name, mode);
                        for (unsigned i = 0; i < r->n_fields; i++)
                                if (fld(r, i)->kind == FK_STR && mode == FILL_ZERO)
                                        memset(back + fld(r, i)->offset, 0, fld(r, i)->size);
                        check_same(r, orig, back);
                }
        }
}

/* Every F64 field holds every extreme double, through JSON text and field text. */
static void test_double_extremes(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t orig[SCHEMA_PAYLOAD_MAX], back[SCHEMA_PAYLOAD_MAX];
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind != FK_F64)
                                continue;
                        for (size_t k = 0; k < ELEMENTSOF(extreme_doubles); k++) {
                                fill_record(r, FILL_DISTINCT, orig);
                                memcpy(orig + f->offset, &extreme_doubles[k], 8);
                                char text[64];
                                field_to_text(f, orig, text, sizeof(text));
                                snprintf(ctx, sizeof(ctx), "double %s.%s = %s", r->name, f->name,
                                         text);
                                json_round_trip(r, orig, 0, orig);
                                fill_record(r, FILL_DISTINCT, back);
                                check_eq(field_from_text(f, text, back), 0);
                                check_same(r, orig, back);
                        }
                }
        }
}

/* Missing values: left out (or null) in JSON, and read back as missing. */
static void test_missing(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t miss[SCHEMA_PAYLOAD_MAX], full[SCHEMA_PAYLOAD_MAX];
                record_init_missing(r->id, miss);
                fill_record(r, FILL_DISTINCT, full);
                unsigned n_str = 0;
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        snprintf(ctx, sizeof(ctx), "missing %s.%s", r->name, f->name);
                        if (f->kind == FK_STR) {
                                n_str++;
                                check(!field_is_missing(f, miss));
                                continue;
                        }
                        check(field_is_missing(f, miss));
                        check(isnan(field_get_double(f, miss)));
                        check(field_to_json(f, miss, 0) == NULL);
                        char t[32];
                        check(strcmp(field_to_text(f, miss, t, sizeof(t)), "-") == 0);
                }
                snprintf(ctx, sizeof(ctx), "missing %s", r->name);
                const char *why;
                check_eq(record_validate(r->id, r->version, miss, r->size, &why), 0);

                _cleanup_json_ json_object *o0 = record_json_new(r->id, miss, 0);
                check(o0);
                check_eq(json_object_object_length(o0), n_str); /* only strings ("") */
                _cleanup_json_ json_object *on = record_json_new(r->id, miss, RJ_MISSING_NULL);
                check(on);
                check_eq(json_object_object_length(on), r->n_fields);
                json_object_object_foreach(on, key, val)
                {
                        const struct field_desc *f = schema_field_by_name(r, key);
                        check(f);
                        check(f->kind == FK_STR ? val != NULL : val == NULL);
                }
                /* Absent keys leave a fresh payload missing; nulls make a full one missing. */
                json_round_trip(r, miss, 0, miss);
                json_round_trip(r, miss, RJ_MISSING_NULL, miss);
                for (unsigned i = 0; i < r->n_fields; i++)
                        if (fld(r, i)->kind == FK_STR)
                                memset(full + fld(r, i)->offset, 0, fld(r, i)->size);
                json_round_trip(r, miss, RJ_MISSING_NULL, full);

                /* "null" and "-" in text mean missing too. */
                fill_record(r, FILL_DISTINCT, full);
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind == FK_STR)
                                continue;
                        snprintf(ctx, sizeof(ctx), "missing text %s.%s", r->name, f->name);
                        check_eq(field_from_text(f, i % 2 ? "null" : "-", full), 0);
                        check(field_is_missing(f, full));
                }

                /* Seed-typed: missing seed fields become typed zeros, others stay out. */
                _cleanup_json_ json_object *os = record_json_new(r->id, miss, RJ_SEED_TYPED);
                check(os);
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        snprintf(ctx, sizeof(ctx), "seed-typed %s.%s", r->name, f->name);
                        json_object *v = NULL;
                        bool has = json_object_object_get_ex(os, f->name, &v);
                        if (f->kind == FK_STR) {
                                check(has && json_object_is_type(v, json_type_string));
                                continue;
                        }
                        check(has == !!(f->flags & F_SEED));
                        if (!has)
                                continue;
                        if (f->kind == FK_F64) {
                                check(json_object_is_type(v, json_type_double));
                                check(strchr(json_object_to_json_string(v), '.'));
                        } else if (f->kind == FK_BOOL)
                                check(json_object_is_type(v, json_type_boolean));
                        else
                                check(json_object_is_type(v, json_type_int));
                }
        }
}

/* Non-finite doubles are never written as invalid JSON: they read as missing. */
static void test_non_finite(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t p[SCHEMA_PAYLOAD_MAX];
                fill_record(r, FILL_DISTINCT, p);
                bool any = false;
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind != FK_F64)
                                continue;
                        double v = i % 2 ? INFINITY : -INFINITY;
                        memcpy(p + f->offset, &v, 8);
                        any = true;
                }
                if (!any)
                        continue;
                snprintf(ctx, sizeof(ctx), "non-finite %s", r->name);
                for (unsigned flags = 0; flags <= RJ_MISSING_NULL; flags++) {
                        _cleanup_json_ json_object *o = record_json_new(r->id, p, flags);
                        check(o);
                        _cleanup_json_ json_object *back = json_tokener_parse(
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                        check(back);
                        uint8_t q[SCHEMA_PAYLOAD_MAX];
                        record_init_missing(r->id, q);
                        check_eq(record_from_json(r->id, back, q, NULL), 0);
                        for (unsigned i = 0; i < r->n_fields; i++)
                                if (fld(r, i)->kind == FK_F64)
                                        check(field_is_missing(fld(r, i), q));
                }
        }
}

/* Strings: at most size - 1 bytes, no embedded NUL, from text and from JSON. */
static void test_string_bounds(void)
{
        unsigned n = 0;
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind != FK_STR)
                                continue;
                        n++;
                        snprintf(ctx, sizeof(ctx), "bounds %s.%s", r->name, f->name);
                        uint8_t p[SCHEMA_PAYLOAD_MAX], before[SCHEMA_PAYLOAD_MAX];
                        fill_record(r, FILL_DISTINCT, p);
                        memcpy(before, p, r->size);
                        char s[1024];
                        check((size_t)f->size + 2 < sizeof(s));
                        memset(s, 'z', f->size);
                        s[f->size] = 0; /* one too many */
                        check_eq(field_from_text(f, s, p), -E2BIG);
                        check(memcmp(p, before, r->size) == 0);
                        s[f->size - 1] = 0; /* exactly the maximum */
                        check_eq(field_from_text(f, s, p), 0);
                        check_eq(strlen((const char *)p + f->offset), f->size - 1);

                        _cleanup_json_ json_object *o = json_object_new_object();
                        s[f->size - 1] = 'z';
                        json_object_object_add(o, f->name, json_object_new_string(s));
                        const char *bad = NULL;
                        record_init_missing(r->id, p);
                        check_eq(record_from_json(r->id, o, p, &bad), -E2BIG);
                        check(bad && strcmp(bad, f->name) == 0);

                        _cleanup_json_ json_object *o2 = json_object_new_object();
                        json_object_object_add(o2, f->name,
                                               json_object_new_string_len("ab\0cd", 5));
                        bad = NULL;
                        check_eq(record_from_json(r->id, o2, p, &bad), -EINVAL);
                        check(bad && strcmp(bad, f->name) == 0);

                        char text[128];
                        snprintf(text, sizeof(text), "{\"%s\":\"a\\u0000b\"}", f->name);
                        _cleanup_json_ json_object *o3 = json_tokener_parse(text);
                        check(o3);
                        check_eq(record_from_json(r->id, o3, p, NULL), -EINVAL);

                        /* And a record with a string that lost its NUL is refused. */
                        fill_record(r, FILL_DISTINCT, p);
                        memset(p + f->offset, 'q', f->size);
                        const char *why = NULL;
                        check_eq(record_validate(r->id, r->version, p, r->size, &why), -EBADMSG);
                        check(why && strstr(why, "unterminated"));
                }
        }
        snprintf(ctx, sizeof(ctx), "bounds");
        check(n > 0);
}

/* Bad values from JSON: clear errors, never a silent fake value. */
static void test_bad_json(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t p[SCHEMA_PAYLOAD_MAX];
                snprintf(ctx, sizeof(ctx), "bad json %s", r->name);
                record_init_missing(r->id, p);
                _cleanup_json_ json_object *unk = json_tokener_parse("{\"no_such_key\":1}");
                const char *bad = NULL;
                check_eq(record_from_json(r->id, unk, p, &bad), -ENOENT);
                check(bad && strcmp(bad, "no_such_key") == 0);
                _cleanup_json_ json_object *arr = json_tokener_parse("[1,2]");
                check_eq(record_from_json(r->id, arr, p, NULL), -EINVAL);
                check_eq(record_from_json(RT_NONE, unk, p, NULL), -EINVAL);
                check_eq(record_from_json(r->id, NULL, p, NULL), -EINVAL);

                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        static const char *const by_kind[][6] = {
                                [FK_STR] = { "1", "true", "1.5", "[]", "{}", NULL },
                                [FK_U32] = { "\"1\"", "1.5", "-1", "4294967295", "4294967296",
                                             "true" },
                                [FK_U64] = { "\"1\"", "1.5", "-1", "18446744073709551615", "true",
                                             "[]" },
                                [FK_I64] = { "\"1\"", "1.5", "-9223372036854775808", "true", "{}",
                                             NULL },
                                [FK_F64] = { "\"1.5\"", "true", "[]", "{}", NULL, NULL },
                                [FK_BOOL] = { "1", "0", "\"true\"", "1.0", NULL, NULL },
                                [FK_TIME] = { "1", "\"yesterday\"", "true", NULL, NULL, NULL },
                        };
                        for (unsigned k = 0; k < 6 && by_kind[f->kind][k]; k++) {
                                /* A number written as text reads back from its text. */
                                if ((f->flags & F_TEXT) && by_kind[f->kind][k][0] == '"')
                                        continue;
                                char text[256];
                                snprintf(text, sizeof(text), "{\"%s\":%s}", f->name,
                                         by_kind[f->kind][k]);
                                snprintf(ctx, sizeof(ctx), "bad json %s: %s", r->name, text);
                                _cleanup_json_ json_object *o = json_tokener_parse(text);
                                check(o);
                                uint8_t q[SCHEMA_PAYLOAD_MAX], q0[SCHEMA_PAYLOAD_MAX];
                                fill_record(r, FILL_DISTINCT, q);
                                memcpy(q0, q, r->size);
                                bad = NULL;
                                int e = record_from_json(r->id, o, q, &bad);
                                check(e < 0);
                                check(bad && strcmp(bad, f->name) == 0);
                                check(memcmp((uint8_t *)q + f->offset, q0 + f->offset, f->size) ==
                                      0);
                        }
                }
        }
}

static void test_validate(void)
{
        const char *why;
        uint8_t p[SCHEMA_PAYLOAD_MAX] = { 0 };
        snprintf(ctx, sizeof(ctx), "validate unknown");
        check_eq(record_validate(RT_NONE, 1, p, 8, &why), -EPROTO);
        check(why && strstr(why, "unknown"));
        check_eq(record_validate(RT_MAX, 1, p, 8, &why), -EPROTO);
        check_eq(record_validate(60000, 1, p, 8, NULL), -EPROTO);
        for (unsigned id = 1; id < RT_MAX; id++)
                if (!schema_record(id))
                        check_eq(record_validate(id, 1, p, 8, NULL), -EPROTO);

        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                snprintf(ctx, sizeof(ctx), "validate %s", r->name);
                fill_record(r, FILL_EXTREME, p);
                check_eq(record_validate(r->id, r->version, p, r->size, &why), 0);
                check_eq(record_validate(r->id, r->version + 1, p, r->size, &why),
                         -EPROTONOSUPPORT);
                check(why && strstr(why, "version"));
                check_eq(record_validate(r->id, 0, p, r->size, NULL), -EPROTONOSUPPORT);
                check_eq(record_validate(r->id, r->version, p, r->size + 1, &why), -EBADMSG);
                check(why && strstr(why, "size"));
                check_eq(record_validate(r->id, r->version, p, r->size - 1, NULL), -EBADMSG);
                check_eq(record_validate(r->id, r->version, p, 0, NULL), -EBADMSG);
                check_eq(record_validate(r->id, r->version, NULL, r->size, NULL), -EBADMSG);
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind != FK_BOOL)
                                continue;
                        snprintf(ctx, sizeof(ctx), "validate %s.%s", r->name, f->name);
                        uint8_t *b = p + f->offset;
                        static const uint8_t good[] = { 0, 1, MISSING_BOOL };
                        for (size_t k = 0; k < ELEMENTSOF(good); k++) {
                                *b = good[k];
                                check_eq(record_validate(r->id, r->version, p, r->size, NULL), 0);
                        }
                        static const uint8_t badv[] = { 2, 0x7f, 0xfe };
                        for (size_t k = 0; k < ELEMENTSOF(badv); k++) {
                                *b = badv[k];
                                check_eq(record_validate(r->id, r->version, p, r->size, &why),
                                         -EBADMSG);
                                check(why && strstr(why, "bool"));
                        }
                        *b = 1;
                }
        }
}

/* Aliases: RJ_ALIASES writes both keys with the same value; either key parses. */
static void test_aliases(void)
{
        unsigned n = 0;
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                uint8_t p[SCHEMA_PAYLOAD_MAX];
                fill_record(r, FILL_DISTINCT, p);
                _cleanup_json_ json_object *with = record_json_new(r->id, p, RJ_ALIASES);
                _cleanup_json_ json_object *without = record_json_new(r->id, p, 0);
                snprintf(ctx, sizeof(ctx), "aliases %s", r->name);
                check(with && without);
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (!f->alias)
                                continue;
                        n++;
                        snprintf(ctx, sizeof(ctx), "alias %s.%s/%s", r->name, f->name, f->alias);
                        json_object *a = NULL, *b = NULL;
                        check(json_object_object_get_ex(with, f->name, &a));
                        check(json_object_object_get_ex(with, f->alias, &b));
                        check(strcmp(json_object_to_json_string(a),
                                     json_object_to_json_string(b)) == 0);
                        check(json_object_object_get_ex(without, f->name, NULL));
                        check(!json_object_object_get_ex(without, f->alias, NULL));

                        /* The alias alone sets the field. */
                        _cleanup_json_ json_object *only = json_object_new_object();
                        json_object_object_add(only, f->alias, json_object_get(b));
                        uint8_t q[SCHEMA_PAYLOAD_MAX];
                        record_init_missing(r->id, q);
                        check_eq(record_from_json(r->id, only, q, NULL), 0);
                        check(memcmp(q + f->offset, p + f->offset, f->size) == 0);
                }
        }
        snprintf(ctx, sizeof(ctx), "aliases");
        check(n > 0);
}

/* A CHILD's parent-key field is left out on request. */
static void test_child_keys(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                if (r->kind != SK_CHILD || !r->key)
                        continue;
                uint8_t p[SCHEMA_PAYLOAD_MAX];
                fill_record(r, FILL_DISTINCT, p);
                snprintf(ctx, sizeof(ctx), "child key %s.%s", r->name, r->key);
                _cleanup_json_ json_object *o = record_json_new(r->id, p, RJ_NO_KEYS_OF_CHILD);
                _cleanup_json_ json_object *o2 = record_json_new(r->id, p, 0);
                check(o && o2);
                check(!json_object_object_get_ex(o, r->key, NULL));
                check(json_object_object_get_ex(o2, r->key, NULL));
                char buf[128];
                const struct field_desc *kf = schema_field_by_name(r, r->key);
                check(kf);
                char t[128];
                check(strcmp(record_key(r, p, buf, sizeof(buf)),
                             field_to_text(kf, p, t, sizeof(t))) == 0);
        }
}

/* Strings from devices: control characters and invalid UTF-8 become U+FFFD, so JSON
 * text is always valid UTF-8, even for a maximal string of nothing but bad bytes. */
static void test_utf8_replacement(void)
{
        for (const struct record_desc *r = schema_next(NULL); r; r = schema_next(r)) {
                for (unsigned i = 0; i < r->n_fields; i++) {
                        const struct field_desc *f = fld(r, i);
                        if (f->kind != FK_STR)
                                continue;
                        snprintf(ctx, sizeof(ctx), "utf8 %s.%s", r->name, f->name);
                        check(f->size <= RJ_STR_MAX);
                        uint8_t p[SCHEMA_PAYLOAD_MAX];
                        record_init_missing(r->id, p);
                        static const uint8_t bad[] = { 0x01, 0x0a, 0x80, 0xff, 0xc3, 0x1f };
                        for (unsigned k = 0; k + 1 < f->size; k++)
                                p[f->offset + k] = bad[k % ELEMENTSOF(bad)];
                        _cleanup_json_ json_object *v = field_to_json(f, p, 0);
                        check(v && json_object_is_type(v, json_type_string));
                        const char *s = json_object_get_string(v);
                        check_eq(json_object_get_string_len(v), 3 * (f->size - 1));
                        for (unsigned k = 0; k + 1 < f->size; k++)
                                check(memcmp(s + 3 * k, "\xEF\xBF\xBD", 3) == 0);
                }
        }
        /* A valid string is kept as is; one bad byte is replaced, the rest kept. */
        _cleanup_json_ json_object *ok = json_string_utf8("a\xc3\xa9\tb", 5);
        snprintf(ctx, sizeof(ctx), "utf8 literal");
        check(strcmp(json_object_get_string(ok), "a\xc3\xa9\tb") == 0);
        _cleanup_json_ json_object *mixed = json_string_utf8("a\xc3(b\n", 5);
        check(strcmp(json_object_get_string(mixed), "a\xEF\xBF\xBD(b\xEF\xBF\xBD") == 0);
}

/* json_double: always float-typed text ('.' or exponent) and exact on parse. */
static void test_json_double(void)
{
        static const double vals[] = {
                0.0,
                -0.0,
                1.0,
                -5.0,
                3200.0,
                1e15,
                1e16,
                1e21,
                1e22,
                0.5,
                0.1,
                1e-7,
                1e300,
                -1e300,
                DBL_MAX,
                DBL_MIN,
                5e-324,
                123456789012345678.0,
                4503599627370497.0,
                9007199254740993.0,
                2.5,
                100.0,
                65535.0,
                1.0 / 3.0,
        };
        for (size_t i = 0; i < ELEMENTSOF(vals); i++) {
                _cleanup_json_ json_object *o = json_double(vals[i]);
                const char *s = json_object_to_json_string(o);
                snprintf(ctx, sizeof(ctx), "json_double %.17g -> %s", vals[i], s);
                check(json_object_is_type(o, json_type_double));
                check(strpbrk(s, ".eE"));
                check(!strpbrk(s, "nN")); /* never nan/inf */
                _cleanup_json_ json_object *back = json_tokener_parse(s);
                check(back && json_object_is_type(back, json_type_double));
                double d = json_object_get_double(back);
                check(memcmp(&d, &vals[i], sizeof(d)) == 0);
        }
}

/* fmt_double: the shortest text that reads back exactly (0.3 is 0.3, 0.1+0.2 is not). */
static void test_fmt_double(void)
{
        static const struct {
                double v;
                const char *plain, *flt;
        } cases[] = {
                { 0.1, "0.1", "0.1" },
                { 0.1 + 0.2, "0.30000000000000004", "0.30000000000000004" },
                { 41.85, "41.85", "41.85" },
                { 3200.0, "3200", "3200.0" },
                { 0.0, "0", "0.0" },
                { -2.5, "-2.5", "-2.5" },
                { 1e21, "1e+21", "1e+21" },
                { 1.0 / 3.0, "0.3333333333333333", "0.3333333333333333" },
                { 9007199254740993.0, "9007199254740992", "9007199254740992.0" },
                { 4.166e-6, "4.166e-06", "4.166e-06" },
                { NAN, "NaN", "NaN" },
                { INFINITY, "+Inf", "+Inf" },
                { -INFINITY, "-Inf", "-Inf" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char a[FMT_DOUBLE_MAX], b[FMT_DOUBLE_MAX];
                fmt_double(a, sizeof(a), cases[i].v);
                fmt_double_float(b, sizeof(b), cases[i].v);
                snprintf(ctx, sizeof(ctx), "fmt_double %.17g -> %s / %s", cases[i].v, a, b);
                check(strcmp(a, cases[i].plain) == 0);
                check(strcmp(b, cases[i].flt) == 0);
        }
        char small[4];
        snprintf(ctx, sizeof(ctx), "fmt_double truncates");
        check(fmt_double(small, sizeof(small), 123.25) == 3 && strcmp(small, "123") == 0);
}

/* The slow path as it was: %.{15,16,17}g until strtod gives v back, ".0" for an integer. */
static void fmt_reference(char *out, size_t size, double v, bool point)
{
        for (int p = 15; p <= 17; p++) {
                snprintf(out, size, "%.*g", p, v);
                if (strtod(out, NULL) == v)
                        break;
        }
        if (point && !strpbrk(out, ".eE"))
                strcat(out, ".0");
}

/* fmt_double(_float)'s exact integer path against printf and strtod: ratios, byte counts
 * in MiB, random bits, neighbours of powers of ten and of ties at 15–17 digits. */
static void test_fmt_double_exact(void)
{
        uint64_t x = 0x9e3779b97f4a7c15ull;
        char want[64], got[FMT_DOUBLE_MAX];
        for (unsigned i = 0; i < 400000; i++) {
                x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
                uint64_t r = x * 0x2545f4914f6cdd1dull;
                double v;
                switch (i % 6) {
                case 0:
                        v = (double)(r % 1000000007) / (double)((r >> 32) % 999983 + 1);
                        break;
                case 1:
                        v = (double)(r % (1ull << 44)) / 1048576.0;
                        break;
                case 2:
                        memcpy(&v, &r, 8);
                        break;
                case 3:
                        v = pow(10, (double)(int)(r % 20) - 4);
                        v = nextafter(v, r & 1 ? INFINITY : 0);
                        break;
                case 4: /* 16 or 17 significant digits ending in 5: ties at 15 or 16 */
                        v = (double)((r % 100000000000000000ull) | 5) / pow(10, (double)(r >> 60));
                        break;
                default:
                        v = -((double)(r % 100000) / 3.0);
                }
                if (!isfinite(v))
                        continue;
                bool flt = (i / 6) & 1;
                fmt_reference(want, sizeof(want), v, flt);
                if (flt)
                        fmt_double_float(got, sizeof(got), v);
                else
                        fmt_double(got, sizeof(got), v);
                snprintf(ctx, sizeof(ctx), "fmt_double%s %a: want %s, got %s", flt ? "_float" : "",
                         v, want, got);
                check(strcmp(want, got) == 0);
        }
}

int main(void)
{
        static const struct {
                const char *name;
                void (*fn)(void);
        } tests[] = {
                { "tables", test_tables },
                { "json_round_trip", test_json_round_trip },
                { "text_round_trip", test_text_round_trip },
                { "double_extremes", test_double_extremes },
                { "missing", test_missing },
                { "non_finite", test_non_finite },
                { "string_bounds", test_string_bounds },
                { "bad_json", test_bad_json },
                { "validate", test_validate },
                { "aliases", test_aliases },
                { "child_keys", test_child_keys },
                { "utf8_replacement", test_utf8_replacement },
                { "json_double", test_json_double },
                { "fmt_double", test_fmt_double },
                { "fmt_double_exact", test_fmt_double_exact },
        };
        for (size_t i = 0; i < ELEMENTSOF(tests); i++) {
                tests[i].fn();
                printf("ok %zu %s\n", i + 1, tests[i].name);
        }
        printf("%u record types checked\n", schema_record_count());
        return 0;
}
