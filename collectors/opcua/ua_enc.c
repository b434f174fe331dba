/*
 * ua_enc.c — OPC UA binary encoding of the built-in types.
 *
 * Part of the OPC UA client library (no ring, no event loop, no I/O). Appends to a
 * `struct ua_enc` that grows up to the maximum it was given and fails cleanly past it:
 * the first error sticks and every later call is a no-op, so a request is encoded
 * start to end and checked once. Only what a client sends is supported: scalar
 * Variants (an array only as re-encoded from a decoded one) and DataValues of them.
 * Decoding is in ua_types.c.
 */
#include "ua_types.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
