/*
 * record_fill.h — random and edge field values for the tests of the JSON writers
 * (record_write_test.c, hub/state_test.c): NaN and infinities, missing markers, integer
 * extremes, strings of every length up to the field's maximum with quotes, backslashes,
 * slashes, tabs, control bytes, DEL, valid multi-byte UTF-8 and invalid UTF-8.
 * Deterministic (a fixed seed), so a failure reproduces. Header-only, for tests.
 */
#pragma once

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "schema.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
/* Timing fills with what telemetry carries: ASCII names, readings in hundredths. */
static bool realistic;

static inline uint64_t rnd(void)
{
        /* xorshift64*: deterministic, so a failure reproduces */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dull;
}

static const char *const pieces[] = {
        "a",        "Z",        "0",         " ",        "\"",           "\\",
        "/",        "\t",       "\n",        "\r",       "\b",           "\f",
        "\x01",     "\x1f",     "\x7f",      "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9d\x84\x9e",
        "\xc2\x80", /* C1 control */
        "\xff",     "\xc0\xaf", "\x80",      "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xf0",     "{}",       "</script>", "\\u0000",  "null",
};

static inline void fill_str(char *d, size_t size)
{
        size_t want = rnd() % 4 == 0 ? size - 1 : (size_t)(rnd() % size);
        size_t n = 0;
        memset(d, 0, size);
        while (n < want) {
                const char *p =
                    pieces[rnd() % (realistic ? 4 : sizeof(pieces) / sizeof(pieces[0]))];
                size_t k = strlen(p);
                if (rnd() % 50 == 0) { /* a NUL ends the string early */
                        d[n++] = 0;
                        continue;
                }
                if (n + k > want)
                        break;
                memcpy(d + n, p, k);
                n += k;
        }
}

static inline double rnd_double(void)
{
        static const double edge[] = { 0.0,
                                       -0.0,
                                       NAN,
                                       -NAN,
                                       INFINITY,
                                       -INFINITY,
                                       DBL_MAX,
                                       -DBL_MAX,
                                       DBL_MIN,
                                       5e-324,
                                       1e21,
                                       1e-7,
                                       0.1,
                                       12.5,
                                       3200.0,
                                       -38.25,
                                       1e15 + 0.3,
                                       999999.999999,
                                       123456789012345678.0 };
        uint64_t bits;
        switch (realistic ? 3 : rnd() % 4) {
        case 0:
                return edge[rnd() % (sizeof(edge) / sizeof(edge[0]))];
        case 1:
                bits = rnd();
                double v;
                memcpy(&v, &bits, 8);
                return v;
        case 2:
                return (double)(int64_t)(rnd() % 2000000000) / 1e6;
        default:
                return (double)((int64_t)(rnd() % 100000) - 50000) / 100.0;
        }
}

static inline void fill_field(const struct field_desc *f, uint8_t *p)
{
        uint8_t *d = p + f->offset;
        bool edge = rnd() % 3 == 0;
        switch (f->kind) {
        case FK_STR:
                fill_str((char *)d, f->size);
                return;
        case FK_U32: {
                static const uint32_t e[] = { 0, 1, MISSING_U32, MISSING_U32 - 1, 4294967294u };
                uint32_t v = edge ? e[rnd() % 5] : (uint32_t)rnd();
                memcpy(d, &v, 4);
                return;
        }
        case FK_U64: {
                static const uint64_t e[] = { 0, 1, MISSING_U64, MISSING_U64 - 1, 1ull << 53 };
                uint64_t v = edge ? e[rnd() % 5] : rnd() >> (rnd() % 64);
                memcpy(d, &v, 8);
                return;
        }
        case FK_I64: {
                static const int64_t e[] = { 0, -1, MISSING_I64, MISSING_I64 + 1, INT64_MAX };
                int64_t v = edge ? e[rnd() % 5] : (int64_t)rnd() >> (rnd() % 64);
                memcpy(d, &v, 8);
                return;
        }
        case FK_F64: {
                double v = rnd_double();
                memcpy(d, &v, 8);
                return;
        }
        case FK_BOOL: {
                static const uint8_t e[] = { 0, 1, MISSING_BOOL };
                *d = e[rnd() % 3];
                return;
        }
        case FK_TIME: {
                static const uint64_t e[] = {
                        MISSING_TIME, 1, 999999999, 1000000000, 1733000000123456789ull, UINT64_MAX
                };
                uint64_t v = edge ? e[rnd() % 6] : rnd() >> (rnd() % 8);
                memcpy(d, &v, 8);
                return;
        }
        }
}

static inline void fill(const struct record_desc *r, uint8_t *p)
{
        record_init_missing(r->id, p);
        for (unsigned i = 0; i < r->n_fields; i++)
                if (rnd() % 5) /* some stay missing */
                        fill_field(&schema_fields[r->first_field + i], p);
}
