/*
 * ua_types.c — OPC UA binary encoding and decoding of the built-in types.
 *
 * Part of the OPC UA client library (no ring, no event loop, no I/O). Decoders only ever
 * advance a bounds-checked cursor; a short or malformed buffer sets a sticky error and
 * yields zeros. Nothing here allocates while decoding. The encoder grows its buffer up
 * to the maximum it was given and fails cleanly past it.
 */
#include "ua_types.h"

#define MIN_SIZE(a, b) ((a) < (b) ? (a) : (b))

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
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

/* ---- encoding ---- */

void ua_enc_init(struct ua_enc *e, size_t max)
{
        *e = (struct ua_enc){ .max = max };
}

void ua_enc_free(struct ua_enc *e)
{
        free(e->buf);
        *e = (struct ua_enc){ .max = e->max };
}

void ua_enc_reset(struct ua_enc *e)
{
        e->len = 0;
        e->err = 0;
}

uint8_t *ua_enc_reserve(struct ua_enc *e, size_t n)
{
        if (e->err)
                return NULL;
        if (n > e->max || e->len > e->max - n) {
                e->err = -EMSGSIZE;
                return NULL;
        }
        if (e->len + n > e->cap) {
                size_t cap = e->cap ? e->cap : 256;
                while (cap < e->len + n)
                        cap *= 2;
                if (cap > e->max)
                        cap = e->max;
                uint8_t *b = realloc(e->buf, cap);
                if (!b) {
                        e->err = -ENOMEM;
                        return NULL;
                }
                e->buf = b;
                e->cap = cap;
        }
        uint8_t *p = e->buf + e->len;
        e->len += n;
        return p;
}

void ua_enc_bytes(struct ua_enc *e, const void *p, size_t n)
{
        uint8_t *d = ua_enc_reserve(e, n);
        if (d && n)
                memcpy(d, p, n);
}

void ua_enc_u8(struct ua_enc *e, uint8_t v)
{
        ua_enc_bytes(e, &v, 1);
}

void ua_enc_bool(struct ua_enc *e, bool v)
{
        ua_enc_u8(e, v ? 1 : 0);
}

void ua_enc_u16(struct ua_enc *e, uint16_t v)
{
        uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
        ua_enc_bytes(e, b, 2);
}

void ua_enc_u32(struct ua_enc *e, uint32_t v)
{
        uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
        ua_enc_bytes(e, b, 4);
}

void ua_enc_i32(struct ua_enc *e, int32_t v)
{
        ua_enc_u32(e, (uint32_t)v);
}

void ua_enc_u64(struct ua_enc *e, uint64_t v)
{
        ua_enc_u32(e, (uint32_t)v);
        ua_enc_u32(e, (uint32_t)(v >> 32));
}

void ua_enc_i64(struct ua_enc *e, int64_t v)
{
        ua_enc_u64(e, (uint64_t)v);
}

void ua_enc_double(struct ua_enc *e, double v)
{
        uint64_t u;
        memcpy(&u, &v, sizeof(u));
        ua_enc_u64(e, u);
}

void ua_enc_float(struct ua_enc *e, float v)
{
        uint32_t u;
        memcpy(&u, &v, sizeof(u));
        ua_enc_u32(e, u);
}

void ua_enc_string(struct ua_enc *e, struct ua_string s)
{
        if (s.len < 0) {
                ua_enc_i32(e, -1);
                return;
        }
        ua_enc_i32(e, s.len);
        ua_enc_bytes(e, s.data, (size_t)s.len);
}

void ua_enc_cstring(struct ua_enc *e, const char *s)
{
        ua_enc_string(e, ua_str(s));
}

void ua_enc_nodeid(struct ua_enc *e, const struct ua_nodeid *id)
{
        switch (id->kind) {
        case UA_NODEID_NUMERIC:
                if (id->ns == 0 && id->num <= 0xff) {
                        ua_enc_u8(e, 0x00);
                        ua_enc_u8(e, (uint8_t)id->num);
                } else if (id->ns <= 0xff && id->num <= 0xffff) {
                        ua_enc_u8(e, 0x01);
                        ua_enc_u8(e, (uint8_t)id->ns);
                        ua_enc_u16(e, (uint16_t)id->num);
                } else {
                        ua_enc_u8(e, 0x02);
                        ua_enc_u16(e, id->ns);
                        ua_enc_u32(e, id->num);
                }
                break;
        case UA_NODEID_STRING:
        case UA_NODEID_BYTESTRING:
                ua_enc_u8(e, id->kind);
                ua_enc_u16(e, id->ns);
                ua_enc_string(e, id->str);
                break;
        case UA_NODEID_GUID:
                ua_enc_u8(e, 0x04);
                ua_enc_u16(e, id->ns);
                ua_enc_bytes(e, id->guid, 16);
                break;
        default:
                e->err = e->err ? e->err : -EINVAL;
        }
}

void ua_enc_qualified_name(struct ua_enc *e, const struct ua_qualified_name *q)
{
        ua_enc_u16(e, q->ns);
        ua_enc_string(e, q->name);
}

void ua_enc_localized_text(struct ua_enc *e, const struct ua_localized_text *t)
{
        uint8_t m = (t->locale.len >= 0 ? 0x01 : 0) | (t->text.len >= 0 ? 0x02 : 0);
        ua_enc_u8(e, m);
        if (m & 0x01)
                ua_enc_string(e, t->locale);
        if (m & 0x02)
                ua_enc_string(e, t->text);
}

void ua_enc_variant(struct ua_enc *e, const struct ua_variant *v)
{
        if (v->is_array) { /* only re-encoding a decoded array is supported */
                ua_enc_u8(e, (uint8_t)(v->type | 0x80));
                ua_enc_i32(e, v->count);
                ua_enc_bytes(e, v->array_data, v->array_size);
                return;
        }
        ua_enc_u8(e, v->type);
        switch (v->type) {
        case UA_T_NULL:
                break;
        case UA_T_BOOLEAN:
                ua_enc_bool(e, v->v.b);
                break;
        case UA_T_SBYTE:
                ua_enc_u8(e, (uint8_t)(int8_t)v->v.i);
                break;
        case UA_T_BYTE:
                ua_enc_u8(e, (uint8_t)v->v.u);
                break;
        case UA_T_INT16:
                ua_enc_u16(e, (uint16_t)(int16_t)v->v.i);
                break;
        case UA_T_UINT16:
                ua_enc_u16(e, (uint16_t)v->v.u);
                break;
        case UA_T_INT32:
                ua_enc_i32(e, (int32_t)v->v.i);
                break;
        case UA_T_UINT32:
        case UA_T_STATUSCODE:
                ua_enc_u32(e, (uint32_t)v->v.u);
                break;
        case UA_T_INT64:
                ua_enc_i64(e, v->v.i);
                break;
        case UA_T_UINT64:
                ua_enc_u64(e, v->v.u);
                break;
        case UA_T_FLOAT:
                ua_enc_float(e, (float)v->v.d);
                break;
        case UA_T_DOUBLE:
                ua_enc_double(e, v->v.d);
                break;
        case UA_T_DATETIME:
                ua_enc_i64(e, v->v.dt);
                break;
        case UA_T_STRING:
        case UA_T_BYTESTRING:
        case UA_T_XMLELEMENT:
                ua_enc_string(e, v->v.s);
                break;
        case UA_T_GUID:
                ua_enc_bytes(e, v->v.guid, 16);
                break;
        case UA_T_NODEID:
                ua_enc_nodeid(e, &v->v.nodeid);
                break;
        case UA_T_QUALIFIEDNAME:
                ua_enc_qualified_name(e, &v->v.qn);
                break;
        case UA_T_LOCALIZEDTEXT:
                ua_enc_localized_text(e, &v->v.lt);
                break;
        default:
                e->err = e->err ? e->err : -EOPNOTSUPP;
        }
}

void ua_enc_datavalue(struct ua_enc *e, const struct ua_datavalue *dv)
{
        ua_enc_u8(e, dv->mask);
        if (dv->mask & UA_DV_VALUE)
                ua_enc_variant(e, &dv->value);
        if (dv->mask & UA_DV_STATUS)
                ua_enc_u32(e, dv->status);
        if (dv->mask & UA_DV_SOURCE_TS)
                ua_enc_i64(e, dv->source_ts);
        if (dv->mask & UA_DV_SOURCE_PS)
                ua_enc_u16(e, dv->source_ps);
        if (dv->mask & UA_DV_SERVER_TS)
                ua_enc_i64(e, dv->server_ts);
        if (dv->mask & UA_DV_SERVER_PS)
                ua_enc_u16(e, dv->server_ps);
}

void ua_enc_patch_u32(struct ua_enc *e, size_t at, uint32_t v)
{
        if (e->err || at + 4 > e->len)
                return;
        e->buf[at] = (uint8_t)v;
        e->buf[at + 1] = (uint8_t)(v >> 8);
        e->buf[at + 2] = (uint8_t)(v >> 16);
        e->buf[at + 3] = (uint8_t)(v >> 24);
}

void ua_enc_extension_object(struct ua_enc *e, uint32_t type_id,
                             void (*body)(struct ua_enc *e, const void *ud), const void *ud)
{
        struct ua_nodeid id = UA_NODEID_NUM(0, type_id);
        ua_enc_nodeid(e, &id);
        ua_enc_u8(e, 0x01);
        size_t at = e->len;
        ua_enc_u32(e, 0);
        body(e, ud);
        ua_enc_patch_u32(e, at, (uint32_t)(e->len - at - 4));
}

void ua_enc_null_extension_object(struct ua_enc *e)
{
        ua_enc_u8(e, 0x00); /* two-byte NodeId 0 */
        ua_enc_u8(e, 0x00);
        ua_enc_u8(e, 0x00); /* no body */
}

/* ---- text forms ---- */

static int b64_val(char ch)
{
        if (ch >= 'A' && ch <= 'Z')
                return ch - 'A';
        if (ch >= 'a' && ch <= 'z')
                return ch - 'a' + 26;
        if (ch >= '0' && ch <= '9')
                return ch - '0' + 52;
        if (ch == '+' || ch == '-')
                return 62;
        if (ch == '/' || ch == '_')
                return 63;
        return -1;
}

static int hexval(char ch)
{
        if (ch >= '0' && ch <= '9')
                return ch - '0';
        if (ch >= 'a' && ch <= 'f')
                return ch - 'a' + 10;
        if (ch >= 'A' && ch <= 'F')
                return ch - 'A' + 10;
        return -1;
}

int ua_nodeid_parse(const char *text, struct ua_nodeid *ret, const char **ret_ns_uri,
                    size_t *ret_ns_uri_len)
{
        struct ua_nodeid id = { .str = UA_STRING_NULL };
        const char *p = text;
        const char *uri = NULL;
        size_t uri_len = 0;

        if (!text)
                return -EINVAL;
        if (strncmp(p, "ns=", 3) == 0) {
                char *end;
                errno = 0;
                unsigned long ns = strtoul(p + 3, &end, 10);
                if (errno || end == p + 3 || *end != ';' || ns > 0xffff)
                        return -EINVAL;
                id.ns = (uint16_t)ns;
                p = end + 1;
        } else if (strncmp(p, "nsu=", 4) == 0) {
                /* The URI runs to the last ";x=" before the identifier. */
                const char *semi = NULL;
                for (const char *q = p + 4; *q; q++)
                        if (q[0] == ';' && q[1] && strchr("isgb", q[1]) && q[2] == '=') {
                                semi = q;
                                break;
                        }
                if (!semi || semi == p + 4)
                        return -EINVAL;
                uri = p + 4;
                uri_len = (size_t)(semi - uri);
                p = semi + 1;
        }
        if (!p[0] || p[1] != '=')
                return -EINVAL;
        const char *v = p + 2;
        switch (p[0]) {
        case 'i': {
                char *end;
                errno = 0;
                unsigned long long n = strtoull(v, &end, 10);
                if (errno || end == v || *end || n > UINT32_MAX || *v == '-' || *v == '+')
                        return -EINVAL;
                id.kind = UA_NODEID_NUMERIC;
                id.num = (uint32_t)n;
                break;
        }
        case 's':
                if (strlen(v) > 4096)
                        return -EINVAL;
                id.kind = UA_NODEID_STRING;
                id.str = ua_str(v);
                break;
        case 'g': {
                /* 8-4-4-4-12 hex; Data1..3 little-endian on the wire. */
                static const int group[] = { 8, 4, 4, 4, 12 };
                uint8_t raw[16];
                unsigned k = 0;
                const char *q = v;
                for (unsigned gi = 0; gi < 5; gi++) {
                        for (int j = 0; j < group[gi]; j += 2) {
                                int hi = hexval(q[0]), lo = hi < 0 ? -1 : hexval(q[1]);
                                if (hi < 0 || lo < 0)
                                        return -EINVAL;
                                raw[k++] = (uint8_t)(hi << 4 | lo);
                                q += 2;
                        }
                        if (gi < 4 && *q++ != '-')
                                return -EINVAL;
                }
                if (*q)
                        return -EINVAL;
                id.kind = UA_NODEID_GUID;
                id.guid[0] = raw[3], id.guid[1] = raw[2], id.guid[2] = raw[1], id.guid[3] = raw[0];
                id.guid[4] = raw[5], id.guid[5] = raw[4];
                id.guid[6] = raw[7], id.guid[7] = raw[6];
                memcpy(id.guid + 8, raw + 8, 8);
                break;
        }
        case 'b':
                /* Validated here; decoded into the caller's storage by the owner of text. */
                for (const char *q = v; *q; q++)
                        if (b64_val(*q) < 0 && *q != '=')
                                return -EINVAL;
                id.kind = UA_NODEID_BYTESTRING;
                id.str = ua_str(v); /* base64 text; see ua_nodeid_format */
                break;
        default:
                return -EINVAL;
        }
        *ret = id;
        if (ret_ns_uri)
                *ret_ns_uri = uri;
        if (ret_ns_uri_len)
                *ret_ns_uri_len = uri_len;
        if (uri && !ret_ns_uri)
                return -EINVAL;
        return 0;
}

char *ua_nodeid_format(const struct ua_nodeid *id, char *buf, size_t size)
{
        char ns[16] = "";
        char tmp[128];
        if (size == 0)
                return buf;
        if (id->ns)
                snprintf(ns, sizeof(ns), "ns=%u;", id->ns);
        switch (id->kind) {
        case UA_NODEID_NUMERIC:
                snprintf(buf, size, "%si=%" PRIu32, ns, id->num);
                break;
        case UA_NODEID_STRING:
                snprintf(buf, size, "%ss=%s", ns, ua_string_copy(id->str, tmp, sizeof(tmp)));
                break;
        case UA_NODEID_GUID: {
                const uint8_t *g = id->guid;
                snprintf(buf, size,
                         "%sg=%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                         ns, g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10],
                         g[11], g[12], g[13], g[14], g[15]);
                break;
        }
        case UA_NODEID_BYTESTRING: {
                static const char b64[] =
                    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                size_t o = 0, n = id->str.len > 0 ? (size_t)id->str.len : 0;
                for (size_t i = 0; i < n && o + 5 < sizeof(tmp); i += 3) {
                        uint32_t w = (uint32_t)id->str.data[i] << 16;
                        if (i + 1 < n)
                                w |= (uint32_t)id->str.data[i + 1] << 8;
                        if (i + 2 < n)
                                w |= id->str.data[i + 2];
                        tmp[o++] = b64[w >> 18 & 63];
                        tmp[o++] = b64[w >> 12 & 63];
                        tmp[o++] = i + 1 < n ? b64[w >> 6 & 63] : '=';
                        tmp[o++] = i + 2 < n ? b64[w & 63] : '=';
                }
                tmp[o] = 0;
                snprintf(buf, size, "%sb=%s", ns, tmp);
                break;
        }
        default:
                snprintf(buf, size, "?");
        }
        return buf;
}

bool ua_nodeid_eq(const struct ua_nodeid *a, const struct ua_nodeid *b)
{
        if (a->ns != b->ns || a->kind != b->kind)
                return false;
        switch (a->kind) {
        case UA_NODEID_NUMERIC:
                return a->num == b->num;
        case UA_NODEID_GUID:
                return memcmp(a->guid, b->guid, 16) == 0;
        default:
                return a->str.len == b->str.len &&
                       (a->str.len <= 0 ||
                        memcmp(a->str.data, b->str.data, (size_t)a->str.len) == 0);
        }
}

const char *ua_builtin_name(unsigned type)
{
        static const char *const names[] = {
                "Null",           "Boolean",         "SByte",
                "Byte",           "Int16",           "UInt16",
                "Int32",          "UInt32",          "Int64",
                "UInt64",         "Float",           "Double",
                "String",         "DateTime",        "Guid",
                "ByteString",     "XmlElement",      "NodeId",
                "ExpandedNodeId", "StatusCode",      "QualifiedName",
                "LocalizedText",  "ExtensionObject", "DataValue",
                "Variant",        "DiagnosticInfo",
        };
        return type < sizeof(names) / sizeof(names[0]) ? names[type] : "Unknown";
}

double ua_variant_to_double(const struct ua_variant *v)
{
        if (v->is_array)
                return NAN;
        switch (v->type) {
        case UA_T_BOOLEAN:
                return v->v.b ? 1.0 : 0.0;
        case UA_T_SBYTE:
        case UA_T_INT16:
        case UA_T_INT32:
        case UA_T_INT64:
                return (double)v->v.i;
        case UA_T_BYTE:
        case UA_T_UINT16:
        case UA_T_UINT32:
        case UA_T_UINT64:
                return (double)v->v.u;
        case UA_T_FLOAT:
        case UA_T_DOUBLE:
                return v->v.d;
        default:
                return NAN;
        }
}

static size_t scalar_format(const struct ua_variant *v, char *buf, size_t size)
{
        char tmp[128];
        int n;
        switch (v->type) {
        case UA_T_NULL:
                n = snprintf(buf, size, "null");
                break;
        case UA_T_BOOLEAN:
                n = snprintf(buf, size, "%s", v->v.b ? "true" : "false");
                break;
        case UA_T_SBYTE:
        case UA_T_INT16:
        case UA_T_INT32:
        case UA_T_INT64:
                n = snprintf(buf, size, "%" PRId64, v->v.i);
                break;
        case UA_T_BYTE:
        case UA_T_UINT16:
        case UA_T_UINT32:
        case UA_T_UINT64:
                n = snprintf(buf, size, "%" PRIu64, v->v.u);
                break;
        case UA_T_STATUSCODE:
                n = snprintf(buf, size, "%s", ua_status_name((uint32_t)v->v.u, tmp, sizeof(tmp)));
                break;
        case UA_T_FLOAT:
        case UA_T_DOUBLE:
                n = snprintf(buf, size, "%.17g", v->v.d);
                break;
        case UA_T_DATETIME:
                n = snprintf(buf, size, "%" PRId64, v->v.dt);
                break;
        case UA_T_STRING:
        case UA_T_XMLELEMENT:
                n = snprintf(buf, size, "%s", ua_string_copy(v->v.s, tmp, sizeof(tmp)));
                break;
        case UA_T_NODEID:
                n = snprintf(buf, size, "%s", ua_nodeid_format(&v->v.nodeid, tmp, sizeof(tmp)));
                break;
        case UA_T_QUALIFIEDNAME:
                n = snprintf(buf, size, "%u:%s", v->v.qn.ns,
                             ua_string_copy(v->v.qn.name, tmp, sizeof(tmp)));
                break;
        case UA_T_LOCALIZEDTEXT:
                n = snprintf(buf, size, "%s", ua_string_copy(v->v.lt.text, tmp, sizeof(tmp)));
                break;
        default:
                n = snprintf(buf, size, "<%s>", ua_builtin_name(v->type));
        }
        return n < 0 ? 0 : (size_t)n;
}

char *ua_variant_format(const struct ua_variant *v, char *buf, size_t size)
{
        if (size == 0)
                return buf;
        buf[0] = 0;
        if (!v->is_array) {
                scalar_format(v, buf, size);
                return buf;
        }
        size_t o = 0, pos = 0;
        struct ua_variant el;
        bool first = true;
        buf[o++] = '[';
        while (o + 2 < size && ua_variant_array_next(v, &pos, &el)) {
                if (!first)
                        buf[o++] = ',';
                first = false;
                o += scalar_format(&el, buf + o, size - o - 1);
                if (o >= size - 1)
                        o = size - 2;
        }
        if (o + 1 < size)
                buf[o++] = ']';
        buf[MIN_SIZE(o, size - 1)] = 0;
        return buf;
}

uint64_t ua_datetime_to_unix_ns(int64_t dt)
{
        if (dt <= UA_DATETIME_UNIX)
                return 0;
        if (dt == INT64_MAX)
                return UINT64_MAX;
        uint64_t ticks = (uint64_t)(dt - UA_DATETIME_UNIX);
        if (ticks > UINT64_MAX / 100)
                return UINT64_MAX;
        return ticks * 100;
}

int64_t ua_datetime_from_unix_ns(uint64_t ns)
{
        if (ns == 0)
                return 0;
        return (int64_t)(ns / 100) + UA_DATETIME_UNIX;
}

/* ---- status codes ---- */

static const struct {
        uint32_t code;
        const char *name;
} status_names[] = {
        { 0x00000000u, "Good" },
        { 0x80010000u, "BadUnexpectedError" },
        { 0x80020000u, "BadInternalError" },
        { 0x80030000u, "BadOutOfMemory" },
        { 0x80040000u, "BadResourceUnavailable" },
        { 0x80050000u, "BadCommunicationError" },
        { 0x80060000u, "BadEncodingError" },
        { 0x80070000u, "BadDecodingError" },
        { 0x80080000u, "BadEncodingLimitsExceeded" },
        { 0x80B80000u, "BadRequestTooLarge" },
        { 0x800A0000u, "BadTimeout" },
        { 0x800B0000u, "BadServiceUnsupported" },
        { 0x800C0000u, "BadShutdown" },
        { 0x800D0000u, "BadServerNotConnected" },
        { 0x800E0000u, "BadServerHalted" },
        { 0x800F0000u, "BadNothingToDo" },
        { 0x80100000u, "BadTooManyOperations" },
        { 0x80130000u, "BadSecurityChecksFailed" },
        { 0x801F0000u, "BadUserAccessDenied" },
        { 0x80200000u, "BadIdentityTokenInvalid" },
        { 0x80210000u, "BadIdentityTokenRejected" },
        { 0x80220000u, "BadSecureChannelIdInvalid" },
        { 0x80230000u, "BadInvalidTimestamp" },
        { 0x80240000u, "BadNonceInvalid" },
        { 0x80250000u, "BadSessionIdInvalid" },
        { 0x80260000u, "BadSessionClosed" },
        { 0x80270000u, "BadSessionNotActivated" },
        { 0x80280000u, "BadSubscriptionIdInvalid" },
        { 0x802A0000u, "BadRequestHeaderInvalid" },
        { 0x802B0000u, "BadTimestampsToReturnInvalid" },
        { 0x80310000u, "BadNoCommunication" },
        { 0x80320000u, "BadWaitingForInitialData" },
        { 0x80330000u, "BadNodeIdInvalid" },
        { 0x80340000u, "BadNodeIdUnknown" },
        { 0x80350000u, "BadAttributeIdInvalid" },
        { 0x80360000u, "BadIndexRangeInvalid" },
        { 0x80370000u, "BadIndexRangeNoData" },
        { 0x80380000u, "BadDataEncodingInvalid" },
        { 0x80390000u, "BadDataEncodingUnsupported" },
        { 0x803A0000u, "BadNotReadable" },
        { 0x803B0000u, "BadNotWritable" },
        { 0x803C0000u, "BadOutOfRange" },
        { 0x803D0000u, "BadNotSupported" },
        { 0x803E0000u, "BadNotFound" },
        { 0x803F0000u, "BadObjectDeleted" },
        { 0x80400000u, "BadNotImplemented" },
        { 0x80410000u, "BadMonitoringModeInvalid" },
        { 0x80420000u, "BadMonitoredItemIdInvalid" },
        { 0x80430000u, "BadMonitoredItemFilterInvalid" },
        { 0x80440000u, "BadMonitoredItemFilterUnsupported" },
        { 0x80450000u, "BadFilterNotAllowed" },
        { 0x804A0000u, "BadContinuationPointInvalid" },
        { 0x804B0000u, "BadNoContinuationPoints" },
        { 0x806F0000u, "BadNoMatch" },
        { 0x80740000u, "BadTypeMismatch" },
        { 0x80770000u, "BadTooManySubscriptions" },
        { 0x80780000u, "BadTooManyPublishRequests" },
        { 0x80790000u, "BadNoSubscription" },
        { 0x807A0000u, "BadSequenceNumberUnknown" },
        { 0x807D0000u, "BadTcpServerTooBusy" },
        { 0x807E0000u, "BadTcpMessageTypeInvalid" },
        { 0x807F0000u, "BadTcpSecureChannelUnknown" },
        { 0x80800000u, "BadTcpMessageTooLarge" },
        { 0x80810000u, "BadTcpNotEnoughResources" },
        { 0x80820000u, "BadTcpInternalError" },
        { 0x80830000u, "BadTcpEndpointUrlInvalid" },
        { 0x80840000u, "BadRequestInterrupted" },
        { 0x80850000u, "BadRequestTimeout" },
        { 0x80860000u, "BadSecureChannelClosed" },
        { 0x80870000u, "BadSecureChannelTokenUnknown" },
        { 0x80880000u, "BadSequenceNumberInvalid" },
        { 0x808E0000u, "BadDeadbandFilterInvalid" },
        { 0x80AB0000u, "BadInvalidArgument" },
        { 0x80AC0000u, "BadConnectionRejected" },
        { 0x80AD0000u, "BadDisconnect" },
        { 0x80AE0000u, "BadConnectionClosed" },
        { 0x80AF0000u, "BadInvalidState" },
        { 0x80B00000u, "BadEndOfStream" },
        { 0x80B70000u, "BadMaxConnectionsReached" },
        { 0x40000000u, "Uncertain" },
        { 0x40900000u, "UncertainLastUsableValue" },
        { 0x40910000u, "UncertainSubstituteValue" },
        { 0x40920000u, "UncertainInitialValue" },
        { 0x80000000u, "Bad" },
};

/* Status code constants above that need names match the table; checked by the unit test. */

const char *ua_status_name(uint32_t status, char *buf, size_t size)
{
        uint32_t code = status & 0xffff0000u; /* the low bits are info flags */
        for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
                if (status_names[i].code == code)
                        return status_names[i].name;
        snprintf(buf, size, "0x%08" PRIX32, status);
        return buf;
}

const char *ua_status_quality(uint32_t status)
{
        switch (status >> 30) {
        case 0:
                return "Good";
        case 1:
                return "Uncertain";
        default:
                return "Bad";
        }
}
