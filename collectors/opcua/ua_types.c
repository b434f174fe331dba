/*
 * ua_types.c — OPC UA binary decoding of the built-in types, and string views.
 *
 * Part of the OPC UA client library (no ring, no event loop, no I/O). Every decoder,
 * from a byte to a Variant or DataValue, lives in this one file so the hot path of a
 * data change (DataValue → Variant → scalar) stays in one unit the compiler can inline.
 * Decoders only ever advance a bounds-checked cursor; a short or malformed buffer sets
 * a sticky error and yields zeros. Decoding allocates only a short-lived copy of a
 * nested Variant or DataValue, to find its end, and never keeps one. Encoding is in
 * ua_enc.c, text forms in ua_text.c, status code names in ua_status.c.
 */
#include "ua_types.h"

#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- strings ---- */

struct ua_string ua_str(const char *s)
{
        if (!s)
                return UA_STRING_NULL;
        size_t n = strlen(s);
        return (struct ua_string){ .len = n > INT32_MAX ? INT32_MAX : (int32_t)n,
                                   .data = (const uint8_t *)s };
}

bool ua_string_eq(struct ua_string a, const char *s)
{
        if (a.len < 0)
                return s == NULL;
        if (!s)
                return false;
        size_t n = strlen(s);
        return (size_t)a.len == n && (n == 0 || memcmp(a.data, s, n) == 0);
}

char *ua_string_copy(struct ua_string s, char *buf, size_t size)
{
        size_t n = 0;
        if (size == 0)
                return buf;
        if (s.len > 0) {
                n = MIN_SIZE((size_t)s.len, size - 1);
                for (size_t i = 0; i < n; i++) {
                        uint8_t ch = s.data[i];
                        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
                }
                /* Do not leave half a UTF-8 sequence at the end of a truncated copy. */
                if (n < (size_t)s.len)
                        while (n > 0 && ((uint8_t)buf[n - 1] & 0xc0) == 0x80)
                                n--;
                if (n > 0 && n < (size_t)s.len && ((uint8_t)buf[n - 1] & 0xc0) == 0xc0)
                        n--;
        }
        buf[n] = 0;
        return buf;
}

/* ---- decoding ---- */

void ua_dec_fail(struct ua_dec *d, int err)
{
        if (!d->err)
                d->err = err;
        d->p = d->end;
}

static inline const uint8_t *take(struct ua_dec *d, size_t n)
{
        if (d->err || ua_dec_left(d) < n) {
                ua_dec_fail(d, -EBADMSG);
                return NULL;
        }
        const uint8_t *p = d->p;
        d->p += n;
        return p;
}

uint8_t ua_dec_u8(struct ua_dec *d)
{
        const uint8_t *p = take(d, 1);
        return p ? p[0] : 0;
}

bool ua_dec_bool(struct ua_dec *d)
{
        return ua_dec_u8(d) != 0;
}

uint16_t ua_dec_u16(struct ua_dec *d)
{
        const uint8_t *p = take(d, 2);
        return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t ua_dec_u32(struct ua_dec *d)
{
        const uint8_t *p = take(d, 4);
        return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                       (uint32_t)p[3] << 24
                 : 0;
}

int32_t ua_dec_i32(struct ua_dec *d)
{
        return (int32_t)ua_dec_u32(d);
}

uint64_t ua_dec_u64(struct ua_dec *d)
{
        uint64_t lo = ua_dec_u32(d);
        uint64_t hi = ua_dec_u32(d);
        return lo | hi << 32;
}

int64_t ua_dec_i64(struct ua_dec *d)
{
        return (int64_t)ua_dec_u64(d);
}

double ua_dec_double(struct ua_dec *d)
{
        uint64_t u = ua_dec_u64(d);
        double v;
        memcpy(&v, &u, sizeof(v));
        return v;
}

float ua_dec_float(struct ua_dec *d)
{
        uint32_t u = ua_dec_u32(d);
        float v;
        memcpy(&v, &u, sizeof(v));
        return v;
}

void ua_dec_skip(struct ua_dec *d, size_t n)
{
        (void)take(d, n);
}

struct ua_string ua_dec_string(struct ua_dec *d)
{
        int32_t n = ua_dec_i32(d);
        if (d->err || n < 0) /* any negative length is a null string */
                return UA_STRING_NULL;
        const uint8_t *p = take(d, (size_t)n);
        if (!p)
                return UA_STRING_NULL;
        return (struct ua_string){ .len = n, .data = p };
}

void ua_dec_guid(struct ua_dec *d, uint8_t out[16])
{
        const uint8_t *p = take(d, 16);
        if (p)
                memcpy(out, p, 16);
        else
                memset(out, 0, 16);
}

static uint8_t dec_nodeid_body(struct ua_dec *d, struct ua_nodeid *out)
{
        uint8_t enc = ua_dec_u8(d);
        memset(out, 0, sizeof(*out));
        out->str = UA_STRING_NULL;
        switch (enc & 0x0f) {
        case 0x00:
                out->num = ua_dec_u8(d);
                break;
        case 0x01:
                out->ns = ua_dec_u8(d);
                out->num = ua_dec_u16(d);
                break;
        case 0x02:
                out->ns = ua_dec_u16(d);
                out->num = ua_dec_u32(d);
                break;
        case 0x03:
                out->ns = ua_dec_u16(d);
                out->kind = UA_NODEID_STRING;
                out->str = ua_dec_string(d);
                break;
        case 0x04:
                out->ns = ua_dec_u16(d);
                out->kind = UA_NODEID_GUID;
                ua_dec_guid(d, out->guid);
                break;
        case 0x05:
                out->ns = ua_dec_u16(d);
                out->kind = UA_NODEID_BYTESTRING;
                out->str = ua_dec_string(d);
                break;
        default:
                ua_dec_fail(d, -EBADMSG);
        }
        return enc;
}

void ua_dec_nodeid(struct ua_dec *d, struct ua_nodeid *out)
{
        uint8_t enc = dec_nodeid_body(d, out);
        if (enc & 0xc0) /* the expanded-only flags are not allowed in a plain NodeId */
                ua_dec_fail(d, -EBADMSG);
}

void ua_dec_expanded_nodeid(struct ua_dec *d, struct ua_expanded_nodeid *out)
{
        uint8_t enc = dec_nodeid_body(d, &out->id);
        out->ns_uri = UA_STRING_NULL;
        out->server_index = 0;
        if (enc & 0x80)
                out->ns_uri = ua_dec_string(d);
        if (enc & 0x40)
                out->server_index = ua_dec_u32(d);
}

void ua_dec_qualified_name(struct ua_dec *d, struct ua_qualified_name *out)
{
        out->ns = ua_dec_u16(d);
        out->name = ua_dec_string(d);
}

void ua_dec_localized_text(struct ua_dec *d, struct ua_localized_text *out)
{
        uint8_t m = ua_dec_u8(d);
        out->locale = m & 0x01 ? ua_dec_string(d) : UA_STRING_NULL;
        out->text = m & 0x02 ? ua_dec_string(d) : UA_STRING_NULL;
}

void ua_dec_extension_object(struct ua_dec *d, struct ua_extension_object *out)
{
        ua_dec_nodeid(d, &out->type_id);
        out->encoding = ua_dec_u8(d);
        out->body = UA_STRING_NULL;
        if (out->encoding == 1 || out->encoding == 2)
                out->body = ua_dec_string(d);
        else if (out->encoding != 0)
                ua_dec_fail(d, -EBADMSG);
}

void ua_dec_diagnostic_info(struct ua_dec *d)
{
        if (++d->depth > UA_MAX_DEPTH) {
                ua_dec_fail(d, -E2BIG);
                d->depth--;
                return;
        }
        uint8_t m = ua_dec_u8(d);
        if (m & 0x01)
                ua_dec_skip(d, 4); /* symbolic id */
        if (m & 0x02)
                ua_dec_skip(d, 4); /* namespace uri */
        if (m & 0x08)
                ua_dec_skip(d, 4); /* locale (bit order as encoded: 0x04 follows) */
        if (m & 0x04)
                ua_dec_skip(d, 4); /* localized text */
        if (m & 0x10)
                (void)ua_dec_string(d); /* additional info */
        if (m & 0x20)
                ua_dec_skip(d, 4); /* inner status code */
        if (m & 0x40)
                ua_dec_diagnostic_info(d);
        d->depth--;
}

int32_t ua_dec_array_len(struct ua_dec *d, size_t min_elem)
{
        int32_t n = ua_dec_i32(d);
        if (d->err)
                return 0;
        if (n < 0)
                return -1;
        if ((uint32_t)n > UA_MAX_ARRAY ||
            (uint64_t)n * (min_elem ? min_elem : 1) > ua_dec_left(d)) {
                ua_dec_fail(d, -EBADMSG);
                return 0;
        }
        return n;
}

void ua_dec_skip_diag_array(struct ua_dec *d)
{
        int32_t n = ua_dec_array_len(d, 1);
        for (int32_t i = 0; i < n && !d->err; i++)
                ua_dec_diagnostic_info(d);
}

/* Encoded size of fixed-size built-ins, 0 for variable ones. */
static size_t fixed_size(unsigned type)
{
        switch (type) {
        case UA_T_BOOLEAN:
        case UA_T_SBYTE:
        case UA_T_BYTE:
                return 1;
        case UA_T_INT16:
        case UA_T_UINT16:
                return 2;
        case UA_T_INT32:
        case UA_T_UINT32:
        case UA_T_FLOAT:
        case UA_T_STATUSCODE:
                return 4;
        case UA_T_INT64:
        case UA_T_UINT64:
        case UA_T_DOUBLE:
        case UA_T_DATETIME:
                return 8;
        case UA_T_GUID:
                return 16;
        default:
                return 0;
        }
}

static void dec_scalar(struct ua_dec *d, unsigned type, struct ua_variant *out);

void ua_dec_skip_builtin(struct ua_dec *d, unsigned type)
{
        struct ua_variant tmp;
        dec_scalar(d, type, &tmp);
}

static void dec_scalar(struct ua_dec *d, unsigned type, struct ua_variant *out)
{
        out->type = (uint8_t)type;
        out->is_array = false;
        out->count = 0;
        out->array_data = NULL;
        out->array_size = 0;
        memset(&out->v, 0, sizeof(out->v));
        switch (type) {
        case UA_T_BOOLEAN:
                out->v.b = ua_dec_bool(d);
                break;
        case UA_T_SBYTE:
                out->v.i = (int8_t)ua_dec_u8(d);
                break;
        case UA_T_BYTE:
                out->v.u = ua_dec_u8(d);
                break;
        case UA_T_INT16:
                out->v.i = (int16_t)ua_dec_u16(d);
                break;
        case UA_T_UINT16:
                out->v.u = ua_dec_u16(d);
                break;
        case UA_T_INT32:
                out->v.i = ua_dec_i32(d);
                break;
        case UA_T_UINT32:
        case UA_T_STATUSCODE:
                out->v.u = ua_dec_u32(d);
                break;
        case UA_T_INT64:
                out->v.i = ua_dec_i64(d);
                break;
        case UA_T_UINT64:
                out->v.u = ua_dec_u64(d);
                break;
        case UA_T_FLOAT:
                out->v.d = ua_dec_float(d);
                break;
        case UA_T_DOUBLE:
                out->v.d = ua_dec_double(d);
                break;
        case UA_T_DATETIME:
                out->v.dt = ua_dec_i64(d);
                break;
        case UA_T_STRING:
        case UA_T_BYTESTRING:
        case UA_T_XMLELEMENT:
                out->v.s = ua_dec_string(d);
                break;
        case UA_T_GUID:
                ua_dec_guid(d, out->v.guid);
                break;
        case UA_T_NODEID:
                ua_dec_nodeid(d, &out->v.nodeid);
                break;
        case UA_T_EXPANDEDNODEID:
                ua_dec_expanded_nodeid(d, &out->v.xnodeid);
                break;
        case UA_T_QUALIFIEDNAME:
                ua_dec_qualified_name(d, &out->v.qn);
                break;
        case UA_T_LOCALIZEDTEXT:
                ua_dec_localized_text(d, &out->v.lt);
                break;
        case UA_T_EXTENSIONOBJECT:
                ua_dec_extension_object(d, &out->v.eo);
                break;
        case UA_T_DATAVALUE: {
                /* Nested DataValue: decoded for its size, kept only as a type marker. */
                struct ua_datavalue *dv = malloc(sizeof(*dv));
                if (!dv) {
                        ua_dec_fail(d, -ENOMEM);
                        break;
                }
                ua_dec_datavalue(d, dv);
                free(dv);
                break;
        }
        case UA_T_VARIANT: {
                struct ua_variant *inner = malloc(sizeof(*inner));
                if (!inner) {
                        ua_dec_fail(d, -ENOMEM);
                        break;
                }
                ua_dec_variant(d, inner);
                free(inner);
                break;
        }
        case UA_T_DIAGNOSTICINFO:
                ua_dec_diagnostic_info(d);
                break;
        default:
                ua_dec_fail(d, -EBADMSG);
        }
}

void ua_dec_variant(struct ua_dec *d, struct ua_variant *out)
{
        memset(out, 0, sizeof(*out));
        if (++d->depth > UA_MAX_DEPTH) {
                ua_dec_fail(d, -E2BIG);
                d->depth--;
                return;
        }
        uint8_t m = ua_dec_u8(d);
        unsigned type = m & 0x3f;
        if (d->err)
                goto out;
        if (type > UA_T_MAX) {
                ua_dec_fail(d, -EBADMSG);
                goto out;
        }
        if (m & 0x80) {
                size_t fs = fixed_size(type);
                int32_t n = ua_dec_array_len(d, fs ? fs : 1);
                out->type = (uint8_t)type;
                out->is_array = true;
                out->count = n;
                out->array_data = d->p;
                if (type == UA_T_NULL && n > 0)
                        ua_dec_fail(d, -EBADMSG);
                else if (fs)
                        ua_dec_skip(d, fs * (size_t)(n > 0 ? n : 0));
                else
                        for (int32_t i = 0; i < n && !d->err; i++)
                                ua_dec_skip_builtin(d, type);
                out->array_size = d->err ? 0 : (size_t)(d->p - out->array_data);
                if (m & 0x40) { /* array dimensions: Int32[] */
                        int32_t nd = ua_dec_array_len(d, 4);
                        ua_dec_skip(d, 4 * (size_t)(nd > 0 ? nd : 0));
                }
        } else {
                if (m & 0x40) /* dimensions without an array */
                        ua_dec_fail(d, -EBADMSG);
                else if (type != UA_T_NULL)
                        dec_scalar(d, type, out);
        }
out:
        if (d->err)
                memset(out, 0, sizeof(*out));
        d->depth--;
}

bool ua_variant_array_next(const struct ua_variant *v, size_t *pos, struct ua_variant *elem)
{
        if (!v->is_array || v->count <= 0 || *pos >= v->array_size)
                return false;
        struct ua_dec d;
        ua_dec_init(&d, v->array_data + *pos, v->array_size - *pos);
        dec_scalar(&d, v->type, elem);
        if (d.err || d.p == v->array_data + *pos)
                return false;
        *pos = (size_t)(d.p - v->array_data);
        return true;
}

void ua_dec_datavalue(struct ua_dec *d, struct ua_datavalue *out)
{
        memset(out, 0, sizeof(*out));
        if (++d->depth > UA_MAX_DEPTH) {
                ua_dec_fail(d, -E2BIG);
                d->depth--;
                return;
        }
        out->mask = ua_dec_u8(d);
        if (out->mask & UA_DV_VALUE)
                ua_dec_variant(d, &out->value);
        if (out->mask & UA_DV_STATUS)
                out->status = ua_dec_u32(d);
        if (out->mask & UA_DV_SOURCE_TS)
                out->source_ts = ua_dec_i64(d);
        if (out->mask & UA_DV_SOURCE_PS)
                out->source_ps = ua_dec_u16(d);
        if (out->mask & UA_DV_SERVER_TS)
                out->server_ts = ua_dec_i64(d);
        if (out->mask & UA_DV_SERVER_PS)
                out->server_ps = ua_dec_u16(d);
        d->depth--;
}
