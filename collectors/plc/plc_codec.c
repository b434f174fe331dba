/*
 * plc_codec.c — Modbus register values and the carousel status reply, both ways.
 *
 * Runs on the PLC collector's device threads and its event loop alike: pure functions,
 * no I/O, no allocation. Byte and word order are done here on the 16-bit registers (the
 * libmodbus float helpers do not round-trip on Debian 12, see PROTOCOLS.md): the
 * registers of a value are turned into one big-endian integer, then reinterpreted.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <string.h>
#include <strings.h>

#include "plc_codec.h"

static const char *const area_names[] = {
        [PLC_AREA_COIL] = "coil",       [PLC_AREA_DISCRETE] = "discrete",
        [PLC_AREA_HOLDING] = "holding", [PLC_AREA_INPUT] = "input",
        [PLC_AREA_NONE] = "none",
};

const char *plc_area_name(enum plc_area a)
{
        return a <= PLC_AREA_NONE ? area_names[a] : "?";
}

struct name_value {
        const char *name;
        int value;
};

/* Case-insensitive lookup in a name table. */
static int lookup(const struct name_value *t, size_t n, const char *s, int *ret)
{
        for (size_t i = 0; s && i < n; i++)
                if (strcasecmp(s, t[i].name) == 0) {
                        *ret = t[i].value;
                        return 0;
                }
        return -EINVAL;
}

int plc_area_from_name(const char *s, enum plc_area *ret)
{
        static const struct name_value names[] = {
                { "coil", PLC_AREA_COIL },
                { "coils", PLC_AREA_COIL },
                { "discrete", PLC_AREA_DISCRETE },
                { "discrete_input", PLC_AREA_DISCRETE },
                { "discrete input", PLC_AREA_DISCRETE },
                { "input_bit", PLC_AREA_DISCRETE },
                { "holding", PLC_AREA_HOLDING },
                { "holding_register", PLC_AREA_HOLDING },
                { "holding register", PLC_AREA_HOLDING },
                { "input", PLC_AREA_INPUT },
                { "input_register", PLC_AREA_INPUT },
                { "input register", PLC_AREA_INPUT },
        };
        int v;
        if (lookup(names, sizeof(names) / sizeof(names[0]), s, &v) < 0)
                return -EINVAL;
        *ret = (enum plc_area)v;
        return 0;
}

static const char *const type_names[] = {
        [PLC_T_BOOL] = "bool",     [PLC_T_INT16] = "int16",     [PLC_T_UINT16] = "uint16",
        [PLC_T_INT32] = "int32",   [PLC_T_UINT32] = "uint32",   [PLC_T_INT64] = "int64",
        [PLC_T_UINT64] = "uint64", [PLC_T_FLOAT32] = "float32", [PLC_T_FLOAT64] = "float64",
        [PLC_T_BIT] = "bit",
};

const char *plc_type_name(enum plc_type t)
{
        return t <= PLC_T_BIT ? type_names[t] : "?";
}

int plc_type_from_name(const char *s, enum plc_type *ret)
{
        /* Our names, Telegraf's (case-insensitive) and IEC 61131 ones. */
        static const struct name_value names[] = {
                { "bool", PLC_T_BOOL },
                { "int16", PLC_T_INT16 },
                { "uint16", PLC_T_UINT16 },
                { "int32", PLC_T_INT32 },
                { "uint32", PLC_T_UINT32 },
                { "int64", PLC_T_INT64 },
                { "uint64", PLC_T_UINT64 },
                { "float32", PLC_T_FLOAT32 },
                { "float64", PLC_T_FLOAT64 },
                { "bit", PLC_T_BIT },
                { "boolean", PLC_T_BOOL },
                { "float", PLC_T_FLOAT32 },
                { "real", PLC_T_FLOAT32 },
                { "double", PLC_T_FLOAT64 },
                { "float32-ieee", PLC_T_FLOAT32 },
                { "float64-ieee", PLC_T_FLOAT64 },
                { "int", PLC_T_INT16 },
                { "word", PLC_T_UINT16 },
                { "dint", PLC_T_INT32 },
                { "udint", PLC_T_UINT32 },
                { "lint", PLC_T_INT64 },
                { "ulint", PLC_T_UINT64 },
                { "lreal", PLC_T_FLOAT64 },
        };
        int v;
        if (lookup(names, sizeof(names) / sizeof(names[0]), s, &v) < 0)
                return -EINVAL;
        *ret = (enum plc_type)v;
        return 0;
}

static const char *const order_names[] = { "ABCD", "CDAB", "BADC", "DCBA" };

const char *plc_order_name(enum plc_order o)
{
        return o <= PLC_ORDER_DCBA ? order_names[o] : "?";
}

int plc_order_from_name(const char *s, enum plc_order *ret)
{
        /* Telegraf also spells the 16-bit orders AB/BA and the 64-bit ones in full. */
        static const struct name_value names[] = {
                { "ABCD", PLC_ORDER_ABCD },     { "CDAB", PLC_ORDER_CDAB },
                { "BADC", PLC_ORDER_BADC },     { "DCBA", PLC_ORDER_DCBA },
                { "AB", PLC_ORDER_ABCD },       { "BA", PLC_ORDER_BADC },
                { "ABCDEFGH", PLC_ORDER_ABCD }, { "GHEFCDAB", PLC_ORDER_CDAB },
                { "BADCFEHG", PLC_ORDER_BADC }, { "HGFEDCBA", PLC_ORDER_DCBA },
                { "big", PLC_ORDER_ABCD },      { "little", PLC_ORDER_DCBA },
        };
        int v;
        if (lookup(names, sizeof(names) / sizeof(names[0]), s, &v) < 0)
                return -EINVAL;
        *ret = (enum plc_order)v;
        return 0;
}

static bool scaled(const struct plc_layout *l)
{
        return l->scale != 1.0 || l->offset != 0.0;
}

const char *plc_type_data_type(const struct plc_layout *l)
{
        static const char *const words[] = {
                [PLC_T_BOOL] = "Boolean",  [PLC_T_INT16] = "Int16",   [PLC_T_UINT16] = "UInt16",
                [PLC_T_INT32] = "Int32",   [PLC_T_UINT32] = "UInt32", [PLC_T_INT64] = "Int64",
                [PLC_T_UINT64] = "UInt64", [PLC_T_FLOAT32] = "Float", [PLC_T_FLOAT64] = "Double",
                [PLC_T_BIT] = "Boolean",
        };
        if (l->type > PLC_T_BIT)
                return "?";
        if (l->type != PLC_T_BOOL && l->type != PLC_T_BIT && scaled(l))
                return "Double";
        return words[l->type];
}

unsigned plc_type_width(enum plc_type t)
{
        switch (t) {
        case PLC_T_INT32:
        case PLC_T_UINT32:
        case PLC_T_FLOAT32:
                return 2;
        case PLC_T_INT64:
        case PLC_T_UINT64:
        case PLC_T_FLOAT64:
                return 4;
        default:
                return 1;
        }
}

bool plc_area_is_bits(enum plc_area a)
{
        return a == PLC_AREA_COIL || a == PLC_AREA_DISCRETE;
}

bool plc_area_writable(enum plc_area a)
{
        return a == PLC_AREA_COIL || a == PLC_AREA_HOLDING;
}

bool plc_type_fits_area(enum plc_type t, enum plc_area a)
{
        if (a >= PLC_AREA_NONE || t > PLC_T_BIT)
                return false;
        return plc_area_is_bits(a) ? t == PLC_T_BOOL : true;
}

int plc_address_parse(const char *s, enum plc_area *area, uint16_t *ret)
{
        uint32_t v = 0;
        size_t len = 0;
        if (!s || !area || !ret)
                return -EINVAL;
        while (*s == ' ' || *s == '\t')
                s++;
        for (; s[len] >= '0' && s[len] <= '9'; len++) {
                if (len >= 7)
                        return -ERANGE;
                v = v * 10 + (uint32_t)(s[len] - '0');
        }
        for (size_t k = len; s[k]; k++)
                if (s[k] != ' ' && s[k] != '\t')
                        return -EINVAL;
        if (len == 0)
                return -EINVAL;
        if (len == 5 || len == 6) {
                static const enum plc_area by_digit[10] = {
                        PLC_AREA_COIL,    PLC_AREA_DISCRETE, PLC_AREA_NONE, PLC_AREA_INPUT,
                        PLC_AREA_HOLDING, PLC_AREA_NONE,     PLC_AREA_NONE, PLC_AREA_NONE,
                        PLC_AREA_NONE,    PLC_AREA_NONE,
                };
                enum plc_area va = by_digit[s[0] - '0'];
                uint32_t rest = len == 5 ? v % 10000 : v % 100000;
                uint32_t max = len == 5 ? 9999 : 65536;
                if (va != PLC_AREA_NONE && rest >= 1 && rest <= max &&
                    (*area == PLC_AREA_NONE || *area == va)) {
                        *area = va;
                        *ret = (uint16_t)(rest - 1);
                        return 0;
                }
        }
        if (*area == PLC_AREA_NONE)
                return -EDOM; /* a plain address needs the area named */
        if (v > 65535)
                return -ERANGE;
        *ret = (uint16_t)v;
        return 0;
}

uint64_t plc_regs_to_u64(const uint16_t *regs, unsigned n, enum plc_order order)
{
        bool word_swap = order == PLC_ORDER_CDAB || order == PLC_ORDER_DCBA;
        bool byte_swap = order == PLC_ORDER_BADC || order == PLC_ORDER_DCBA;
        uint64_t v = 0;
        for (unsigned i = 0; i < n && i < 4; i++) {
                uint16_t r = regs[word_swap ? n - 1 - i : i];
                if (byte_swap)
                        r = (uint16_t)(r << 8 | r >> 8);
                v = v << 16 | r;
        }
        return v;
}

void plc_u64_to_regs(uint64_t v, unsigned n, enum plc_order order, uint16_t *regs)
{
        bool word_swap = order == PLC_ORDER_CDAB || order == PLC_ORDER_DCBA;
        bool byte_swap = order == PLC_ORDER_BADC || order == PLC_ORDER_DCBA;
        n = n > 4 ? 4 : n;
        for (unsigned i = 0; i < n; i++) {
                /* i-th register in big-endian order holds bits of word i from the top. */
                uint16_t r = (uint16_t)(v >> (16 * (n - 1 - i)));
                if (byte_swap)
                        r = (uint16_t)(r << 8 | r >> 8);
                regs[word_swap ? n - 1 - i : i] = r;
        }
}

int plc_decode(const struct plc_layout *l, const uint16_t *regs, const uint8_t *bits, size_t n,
               struct plc_value *ret)
{
        struct plc_value v = { .kind = PLC_V_FLOAT };
        if (!l || !ret || l->type > PLC_T_BIT || l->area >= PLC_AREA_NONE)
                return -EINVAL;
        if (plc_area_is_bits(l->area)) {
                if (!bits || n < 1 || l->type != PLC_T_BOOL)
                        return -EBADMSG;
                v.kind = PLC_V_BOOL;
                v.b = bits[0] != 0;
                v.f = v.b;
                *ret = v;
                return 0;
        }
        unsigned w = plc_type_width(l->type);
        if (!regs || n < w)
                return -EBADMSG;
        uint64_t u = plc_regs_to_u64(regs, w, l->order);
        switch (l->type) {
        case PLC_T_BOOL:
                v.kind = PLC_V_BOOL;
                v.b = u != 0;
                break;
        case PLC_T_BIT:
                if (l->bit > 15)
                        return -EINVAL;
                v.kind = PLC_V_BOOL;
                v.b = (regs[0] >> l->bit) & 1u;
                break;
        case PLC_T_INT16:
                v.kind = PLC_V_INT;
                v.i = (int16_t)(uint16_t)u;
                break;
        case PLC_T_INT32:
                v.kind = PLC_V_INT;
                v.i = (int32_t)(uint32_t)u;
                break;
        case PLC_T_INT64:
                v.kind = PLC_V_INT;
                v.i = (int64_t)u;
                break;
        case PLC_T_UINT16:
        case PLC_T_UINT32:
        case PLC_T_UINT64:
                v.kind = PLC_V_UINT;
                v.u = u;
                break;
        case PLC_T_FLOAT32: {
                uint32_t u32 = (uint32_t)u;
                float f;
                memcpy(&f, &u32, sizeof(f));
                v.f = f;
                break;
        }
        case PLC_T_FLOAT64:
                memcpy(&v.f, &u, sizeof(v.f));
                break;
        }
        if (v.kind == PLC_V_BOOL)
                v.f = v.b;
        else {
                if (v.kind == PLC_V_INT)
                        v.f = (double)v.i;
                else if (v.kind == PLC_V_UINT)
                        v.f = (double)v.u;
                if (scaled(l)) {
                        v.f = v.f * l->scale + l->offset;
                        v.kind = PLC_V_FLOAT;
                }
        }
        *ret = v;
        return 0;
}

/* The raw number to write: (value - offset) / scale, exact for an unscaled integer. */
static int raw_number(const struct plc_layout *l, const struct plc_input *in, double *ret_d,
                      bool *ret_exact, int64_t *ret_i)
{
        *ret_exact = false;
        if (in->kind == PLC_IN_BOOL)
                return -EINVAL;
        if (in->kind == PLC_IN_INT && !scaled(l)) {
                *ret_exact = true;
                *ret_i = in->i;
                *ret_d = (double)in->i;
                return 0;
        }
        double d = in->kind == PLC_IN_INT ? (double)in->i : in->d;
        if (!isfinite(d) || l->scale == 0.0)
                return -EINVAL;
        d = (d - l->offset) / l->scale;
        if (!isfinite(d))
                return -ERANGE;
        *ret_d = d;
        return 0;
}

static int int_in_range(const struct plc_layout *l, const struct plc_input *in, int64_t lo,
                        uint64_t hi, uint64_t *ret_bits)
{
        double d;
        bool exact;
        int64_t i = 0;
        int r = raw_number(l, in, &d, &exact, &i);
        if (r < 0)
                return r;
        if (exact) {
                if (i < lo || (i > 0 && (uint64_t)i > hi))
                        return -ERANGE;
                *ret_bits = (uint64_t)i;
                return 0;
        }
        d = nearbyint(d);
        /* 2^63 and 2^64 are exact doubles: compare against them, not against the maxima. */
        if (d < (double)lo || d >= 18446744073709551616.0 || (hi <= INT64_MAX && d > (double)hi))
                return -ERANGE;
        if (d >= 9223372036854775808.0) {
                if (hi <= INT64_MAX)
                        return -ERANGE;
                *ret_bits = (uint64_t)d;
        } else
                *ret_bits = (uint64_t)(int64_t)d;
        return 0;
}

int plc_encode(const struct plc_layout *l, const struct plc_input *in, uint16_t regs[4], bool *bit)
{
        uint64_t u = 0;
        int r;
        if (!l || !in || !regs || !bit || l->type > PLC_T_BIT)
                return -EINVAL;
        if (l->type == PLC_T_BOOL || l->type == PLC_T_BIT) {
                bool b;
                if (in->kind == PLC_IN_BOOL)
                        b = in->b;
                else if (in->kind == PLC_IN_INT && (in->i == 0 || in->i == 1))
                        b = in->i == 1;
                else if (in->kind == PLC_IN_DOUBLE && (in->d == 0.0 || in->d == 1.0))
                        b = in->d == 1.0;
                else
                        return -EINVAL;
                *bit = b;
                if (l->type == PLC_T_BOOL && !plc_area_is_bits(l->area))
                        regs[0] = b;
                return 0;
        }
        if (plc_area_is_bits(l->area))
                return -EINVAL;
        switch (l->type) {
        case PLC_T_INT16:
                r = int_in_range(l, in, INT16_MIN, INT16_MAX, &u);
                u &= 0xffffu;
                break;
        case PLC_T_UINT16:
                r = int_in_range(l, in, 0, UINT16_MAX, &u);
                break;
        case PLC_T_INT32:
                r = int_in_range(l, in, INT32_MIN, INT32_MAX, &u);
                u &= 0xffffffffu;
                break;
        case PLC_T_UINT32:
                r = int_in_range(l, in, 0, UINT32_MAX, &u);
                break;
        case PLC_T_INT64:
                r = int_in_range(l, in, INT64_MIN, INT64_MAX, &u);
                break;
        case PLC_T_UINT64:
                r = int_in_range(l, in, 0, UINT64_MAX, &u);
                break;
        case PLC_T_FLOAT32: {
                double d;
                bool exact;
                int64_t i;
                r = raw_number(l, in, &d, &exact, &i);
                if (r == 0 && fabs(d) > FLT_MAX)
                        r = -ERANGE;
                if (r == 0) {
                        float f = (float)d;
                        uint32_t u32;
                        memcpy(&u32, &f, sizeof(u32));
                        u = u32;
                }
                break;
        }
        case PLC_T_FLOAT64: {
                double d;
                bool exact;
                int64_t i;
                r = raw_number(l, in, &d, &exact, &i);
                if (r == 0)
                        memcpy(&u, &d, sizeof(u));
                break;
        }
        default:
                return -EINVAL;
        }
        if (r < 0)
                return r;
        plc_u64_to_regs(u, plc_type_width(l->type), l->order, regs);
        return 0;
}

size_t carousel_request(uint8_t command, uint8_t argument, uint8_t out[2])
{
        out[0] = command;
        if (command == CAROUSEL_CMD_STATUS)
                return 1;
        out[1] = argument;
        return 2;
}

void carousel_bits(uint8_t raw, struct carousel_status *st)
{
        st->raw = raw;
        st->ready = raw & CAROUSEL_READY;
        st->running = raw & CAROUSEL_RUN;
        st->remote = raw & CAROUSEL_REMOTE;
        st->alarm = raw & CAROUSEL_ALARM;
        st->estop = !(raw & CAROUSEL_ESTOP_OK);
        st->vfd_error = raw & CAROUSEL_VFD_ERROR;
        st->position_error = raw & CAROUSEL_POS_ERROR;
        st->direction = raw & CAROUSEL_DIRECTION;
}

int carousel_decode(const uint8_t *buf, size_t n, struct carousel_status *ret)
{
        struct carousel_status st = { 0 };
        if (!buf || !ret || n != 2)
                return -EBADMSG;
        carousel_bits(buf[0], &st);
        st.position = buf[1];
        *ret = st;
        return 0;
}
