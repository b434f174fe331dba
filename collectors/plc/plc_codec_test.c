/*
 * plc_codec_test.c — unit tests and a bounded fuzz run of plc_codec.c: register values
 * in every type and byte order (known vectors and round trips), vendor addresses, write
 * encoding with scale and range checks, and the carousel reply decoder.
 *
 * The fuzz part feeds random registers, lengths, layouts, byte strings and text to the
 * decoders from exactly-sized heap buffers, so the sanitized build catches any read past
 * what a PLC sent. Bounded: PLC_FUZZ_ITERATIONS (default 200000) iterations, seeded
 * (PLC_FUZZ_SEED) so a failure repeats.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plc_codec.h"

static int failures;

#define CHECK(cond, ...)                                                           \
        do {                                                                       \
                if (!(cond)) {                                                     \
                        failures++;                                                \
                        fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
                        fprintf(stderr, __VA_ARGS__);                              \
                        fputc('\n', stderr);                                       \
                }                                                                  \
        } while (0)

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
        uint64_t x = rng_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        return rng_state = x;
}

static struct plc_layout lay(enum plc_area a, enum plc_type t, enum plc_order o)
{
        return (struct plc_layout){ .area = a, .type = t, .order = o, .scale = 1.0 };
}

static void test_orders(void)
{
        /* 0x41200000 = 10.0f; bytes A=41 B=20 C=00 D=00 */
        static const struct {
                enum plc_order o;
                uint16_t regs[2];
        } f32[] = {
                { PLC_ORDER_ABCD, { 0x4120, 0x0000 } },
                { PLC_ORDER_CDAB, { 0x0000, 0x4120 } },
                { PLC_ORDER_BADC, { 0x2041, 0x0000 } },
                { PLC_ORDER_DCBA, { 0x0000, 0x2041 } },
        };
        for (size_t i = 0; i < 4; i++) {
                struct plc_layout l = lay(PLC_AREA_HOLDING, PLC_T_FLOAT32, f32[i].o);
                struct plc_value v;
                CHECK(plc_decode(&l, f32[i].regs, NULL, 2, &v) == 0, "decode");
                CHECK(v.kind == PLC_V_FLOAT && v.f == 10.0, "%s: %g", plc_order_name(f32[i].o),
                      v.f);
        }
        /* 0x0102030405060708 as int64 in each order */
        static const struct {
                enum plc_order o;
                uint16_t regs[4];
        } i64[] = {
                { PLC_ORDER_ABCD, { 0x0102, 0x0304, 0x0506, 0x0708 } },
                { PLC_ORDER_CDAB, { 0x0708, 0x0506, 0x0304, 0x0102 } },
                { PLC_ORDER_BADC, { 0x0201, 0x0403, 0x0605, 0x0807 } },
                { PLC_ORDER_DCBA, { 0x0807, 0x0605, 0x0403, 0x0201 } },
        };
        for (size_t i = 0; i < 4; i++) {
                struct plc_layout l = lay(PLC_AREA_INPUT, PLC_T_INT64, i64[i].o);
                struct plc_value v;
                CHECK(plc_decode(&l, i64[i].regs, NULL, 4, &v) == 0, "decode");
                CHECK(v.kind == PLC_V_INT && v.i == 0x0102030405060708LL, "%s: %" PRIx64,
                      plc_order_name(i64[i].o), (uint64_t)v.i);
                uint16_t back[4];
                plc_u64_to_regs(0x0102030405060708ULL, 4, i64[i].o, back);
                CHECK(memcmp(back, i64[i].regs, sizeof(back)) == 0, "encode %s",
                      plc_order_name(i64[i].o));
        }
        uint16_t r16 = 0xfffe;
        struct plc_layout l = lay(PLC_AREA_HOLDING, PLC_T_INT16, PLC_ORDER_ABCD);
        struct plc_value v;
        CHECK(plc_decode(&l, &r16, NULL, 1, &v) == 0 && v.i == -2, "int16 %" PRId64, v.i);
        l.order = PLC_ORDER_BADC;
        r16 = 0xfeff;
        CHECK(plc_decode(&l, &r16, NULL, 1, &v) == 0 && v.i == -2, "int16 BA %" PRId64, v.i);
        l = lay(PLC_AREA_HOLDING, PLC_T_BIT, PLC_ORDER_ABCD);
        l.bit = 3;
        r16 = 0x0008;
        CHECK(plc_decode(&l, &r16, NULL, 1, &v) == 0 && v.kind == PLC_V_BOOL && v.b, "bit 3");
        l = lay(PLC_AREA_HOLDING, PLC_T_UINT16, PLC_ORDER_ABCD);
        l.scale = 0.1;
        l.offset = -5;
        r16 = 1234;
        CHECK(plc_decode(&l, &r16, NULL, 1, &v) == 0 && v.kind == PLC_V_FLOAT &&
                  fabs(v.f - 118.4) < 1e-9,
              "scaled %g", v.f);
        CHECK(strcmp(plc_type_data_type(&l), "Double") == 0, "scaled → Double");
        uint32_t short_regs = 0;
        l = lay(PLC_AREA_HOLDING, PLC_T_FLOAT64, PLC_ORDER_ABCD);
        CHECK(plc_decode(&l, (uint16_t *)&short_regs, NULL, 2, &v) == -EBADMSG, "short");
        uint8_t bit = 1;
        l = lay(PLC_AREA_COIL, PLC_T_BOOL, PLC_ORDER_ABCD);
        CHECK(plc_decode(&l, NULL, &bit, 1, &v) == 0 && v.b, "coil");
}

static void test_addresses(void)
{
        static const struct {
                const char *s;
                enum plc_area in, out;
                int r;
                uint16_t addr;
        } cases[] = {
                { "40001", PLC_AREA_NONE, PLC_AREA_HOLDING, 0, 0 },
                { "40001", PLC_AREA_HOLDING, PLC_AREA_HOLDING, 0, 0 },
                { "40001", PLC_AREA_INPUT, PLC_AREA_INPUT, 0, 40001 },
                { "30010", PLC_AREA_NONE, PLC_AREA_INPUT, 0, 9 },
                { "00001", PLC_AREA_NONE, PLC_AREA_COIL, 0, 0 },
                { "10002", PLC_AREA_NONE, PLC_AREA_DISCRETE, 0, 1 },
                { "465536", PLC_AREA_NONE, PLC_AREA_HOLDING, 0, 65535 },
                { "400001", PLC_AREA_HOLDING, PLC_AREA_HOLDING, 0, 0 },
                { "0", PLC_AREA_HOLDING, PLC_AREA_HOLDING, 0, 0 },
                { "65535", PLC_AREA_COIL, PLC_AREA_COIL, 0, 65535 },
                { "12", PLC_AREA_NONE, PLC_AREA_NONE, -EDOM, 0 },
                { "70000", PLC_AREA_HOLDING, PLC_AREA_HOLDING, -ERANGE, 0 },
                { "40000", PLC_AREA_NONE, PLC_AREA_NONE, -EDOM, 0 },
                { "4x1", PLC_AREA_HOLDING, PLC_AREA_HOLDING, -EINVAL, 0 },
                { "", PLC_AREA_HOLDING, PLC_AREA_HOLDING, -EINVAL, 0 },
                { "00009", PLC_AREA_NONE, PLC_AREA_COIL, 0, 8 },
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                enum plc_area a = cases[i].in;
                uint16_t addr = 0;
                int r = plc_address_parse(cases[i].s, &a, &addr);
                CHECK(r == cases[i].r, "'%s': %d", cases[i].s, r);
                if (r == 0)
                        CHECK(a == cases[i].out && addr == cases[i].addr, "'%s': %s %u", cases[i].s,
                              plc_area_name(a), addr);
        }
}

static void test_encode(void)
{
        uint16_t regs[4];
        bool bit;
        struct plc_layout l = lay(PLC_AREA_HOLDING, PLC_T_INT16, PLC_ORDER_ABCD);
        struct plc_input in = { .kind = PLC_IN_INT, .i = 40000 };
        CHECK(plc_encode(&l, &in, regs, &bit) == -ERANGE, "int16 40000");
        in.i = -32768;
        CHECK(plc_encode(&l, &in, regs, &bit) == 0 && regs[0] == 0x8000, "int16 min");
        l.type = PLC_T_UINT16;
        in.i = -1;
        CHECK(plc_encode(&l, &in, regs, &bit) == -ERANGE, "uint16 -1");
        l.scale = 0.1;
        in = (struct plc_input){ .kind = PLC_IN_DOUBLE, .d = 12.3 };
        CHECK(plc_encode(&l, &in, regs, &bit) == 0 && regs[0] == 123, "scaled %u", regs[0]);
        l = lay(PLC_AREA_HOLDING, PLC_T_FLOAT32, PLC_ORDER_CDAB);
        in.d = 10.0;
        CHECK(plc_encode(&l, &in, regs, &bit) == 0 && regs[0] == 0 && regs[1] == 0x4120,
              "float CDAB");
        in.d = 1e300;
        CHECK(plc_encode(&l, &in, regs, &bit) == -ERANGE, "float range");
        in.d = NAN;
        CHECK(plc_encode(&l, &in, regs, &bit) == -EINVAL, "NaN");
        l = lay(PLC_AREA_HOLDING, PLC_T_UINT64, PLC_ORDER_DCBA);
        in.d = 18446744073709551616.0;
        CHECK(plc_encode(&l, &in, regs, &bit) == -ERANGE, "uint64 2^64");
        l = lay(PLC_AREA_HOLDING, PLC_T_INT64, PLC_ORDER_ABCD);
        in = (struct plc_input){ .kind = PLC_IN_INT, .i = INT64_MIN };
        struct plc_value v;
        CHECK(plc_encode(&l, &in, regs, &bit) == 0 && plc_decode(&l, regs, NULL, 4, &v) == 0 &&
                  v.i == INT64_MIN,
              "int64 min");
        l = lay(PLC_AREA_COIL, PLC_T_BOOL, PLC_ORDER_ABCD);
        in = (struct plc_input){ .kind = PLC_IN_BOOL, .b = true };
        CHECK(plc_encode(&l, &in, regs, &bit) == 0 && bit, "coil true");
        in = (struct plc_input){ .kind = PLC_IN_INT, .i = 2 };
        CHECK(plc_encode(&l, &in, regs, &bit) == -EINVAL, "coil 2");
        l = lay(PLC_AREA_HOLDING, PLC_T_INT32, PLC_ORDER_ABCD);
        in = (struct plc_input){ .kind = PLC_IN_BOOL, .b = true };
        CHECK(plc_encode(&l, &in, regs, &bit) == -EINVAL, "bool for int32");
}

static void test_carousel(void)
{
        struct carousel_status st;
        uint8_t b[3] = { 0xDA, 15, 0 };
        CHECK(carousel_decode(b, 2, &st) == 0, "decode");
        CHECK(st.raw == 0xDA && st.position == 15 && !st.ready && st.running && !st.remote &&
                  st.alarm && !st.estop && !st.vfd_error && st.position_error && st.direction,
              "bits of 0xDA");
        CHECK(carousel_decode(b, 1, &st) == -EBADMSG, "short");
        CHECK(carousel_decode(b, 3, &st) == -EBADMSG, "long");
        carousel_bits(0x00, &st);
        CHECK(st.estop, "e-stop is active-low");
        uint8_t req[2];
        CHECK(carousel_request(0, 9, req) == 1 && req[0] == 0, "STATUS is one byte");
        CHECK(carousel_request(1, 25, req) == 2 && req[0] == 1 && req[1] == 25, "MOVE 25");
}

static void fuzz(unsigned long iterations)
{
        for (unsigned long it = 0; it < iterations; it++) {
                /* registers: exact-size heap buffers, random length 0..5 */
                size_t n = rnd() % 6;
                uint16_t *regs = malloc(n ? n * sizeof(*regs) : 1);
                uint8_t *bits = malloc(n ? n : 1);
                for (size_t i = 0; i < n; i++) {
                        regs[i] = (uint16_t)rnd();
                        bits[i] = (uint8_t)rnd();
                }
                struct plc_layout l = {
                        .area = (enum plc_area)(rnd() % 5),
                        .type = (enum plc_type)(rnd() % 11),
                        .order = (enum plc_order)(rnd() % 4),
                        .bit = (uint8_t)(rnd() % 20),
                        .scale = rnd() % 3 ? 1.0 : (double)(int64_t)rnd() / 1e12,
                        .offset = rnd() % 3 ? 0.0 : (double)(int64_t)rnd() / 1e9,
                };
                struct plc_value v;
                int r = plc_decode(&l, n ? regs : NULL, n ? bits : NULL, n, &v);
                if (r == 0 && l.area < PLC_AREA_NONE && !plc_area_is_bits(l.area))
                        CHECK(n >= plc_type_width(l.type), "decoded from %zu registers", n);
                /* round trip of the raw integer in every order and width */
                unsigned w = 1u << (rnd() % 3);
                uint64_t raw = rnd() & (w == 4 ? UINT64_MAX : ((1ULL << (16 * w)) - 1));
                uint16_t tmp[4];
                plc_u64_to_regs(raw, w, l.order, tmp);
                CHECK(plc_regs_to_u64(tmp, w, l.order) == raw, "round trip %" PRIx64, raw);
                /* encode → decode of integers in range */
                if (l.area == PLC_AREA_HOLDING && l.type >= PLC_T_INT16 && l.type <= PLC_T_UINT64 &&
                    l.scale == 1.0 && l.offset == 0.0) {
                        struct plc_input in = { .kind = PLC_IN_INT, .i = (int64_t)rnd() };
                        bool bit;
                        uint16_t enc[4];
                        if (plc_encode(&l, &in, enc, &bit) == 0 &&
                            plc_decode(&l, enc, NULL, 4, &v) == 0)
                                CHECK((v.kind == PLC_V_INT ? v.i : (int64_t)v.u) == in.i,
                                      "%s %s: wrote %" PRId64, plc_type_name(l.type),
                                      plc_order_name(l.order), in.i);
                }
                free(regs);
                free(bits);
                /* carousel replies: any bytes, any length */
                size_t bn = rnd() % 5;
                uint8_t *buf = malloc(bn ? bn : 1);
                for (size_t i = 0; i < bn; i++)
                        buf[i] = (uint8_t)rnd();
                struct carousel_status st;
                r = carousel_decode(bn ? buf : NULL, bn, &st);
                CHECK((r == 0) == (bn == 2), "carousel %zu bytes: %d", bn, r);
                free(buf);
                /* text: addresses, type and order names */
                char text[9];
                size_t tn = rnd() % sizeof(text);
                for (size_t i = 0; i < tn; i++)
                        text[i] = "0123456789 x-:.ABCDabcd"[rnd() % 23];
                text[tn] = 0;
                enum plc_area a = (enum plc_area)(rnd() % 5);
                uint16_t addr;
                enum plc_type t;
                enum plc_order o;
                (void)plc_address_parse(text, &a, &addr);
                (void)plc_type_from_name(text, &t);
                (void)plc_order_from_name(text, &o);
        }
}

int main(void)
{
        const char *iters = getenv("PLC_FUZZ_ITERATIONS");
        const char *seed = getenv("PLC_FUZZ_SEED");
        unsigned long n = iters ? strtoul(iters, NULL, 10) : 200000;
        if (seed)
                rng_state = strtoull(seed, NULL, 0) | 1;
        test_orders();
        test_addresses();
        test_encode();
        test_carousel();
        fuzz(n);
        if (failures) {
                fprintf(stderr, "%d failure(s)\n", failures);
                return 1;
        }
        printf("plc codec: all checks passed, %lu fuzz iterations\n", n);
        return 0;
}
