/*
 * schema.c — descriptor tables and generic field helpers, generated from schema.def.
 *
 * Linked into every process. The tables are const and built at compile time; lookups
 * are array indexing by id. Validation here is the hub's first line of defence against
 * a corrupt or hostile record in shared memory.
 */
#include "schema.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define KIND_SINGLE SK_SINGLE
#define KIND_LIST   SK_LIST
#define KIND_CHILD  SK_CHILD
#define KIND_KEYED  SK_KEYED
#define KIND_EVENT  SK_EVENT
#define FKIND_STR   FK_STR
#define FKIND_U32   FK_U32
#define FKIND_U64   FK_U64
#define FKIND_I64   FK_I64
#define FKIND_F64   FK_F64
#define FKIND_BOOL  FK_BOOL
#define FKIND_TIME  FK_TIME
#define RT_none     RT_NONE

const struct field_desc schema_fields[FI_COUNT] = {
#define RECORD(...)
#define FIELD(rec, fname, fkind, fsize, funit, fflags, falias, fdoc) \
        [FI_##rec##_##fname] = {                                     \
                .name = #fname,                                      \
                .alias = (falias)[0] ? (falias) : NULL,              \
                .unit = funit,                                       \
                .doc = fdoc,                                         \
                .offset = offsetof(struct rec_##rec, fname),         \
                .size = sizeof(((struct rec_##rec *)0)->fname),      \
                .kind = FKIND_##fkind,                               \
                .flags = (fflags),                                   \
                .rtype = RT_##rec,                                   \
        },
#define END(name)
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END
};

static const struct record_desc records[RT_MAX] = {
#define RECORD(rname, rid, rver, rkind, rparent, rkey, rlkey, rflags, rdoc) \
        [rid] = {                                                           \
                .name = #rname,                                             \
                .doc = rdoc,                                                \
                .key = (rkey)[0] ? (rkey) : NULL,                           \
                .list_key = (rlkey)[0] ? (rlkey) : NULL,                    \
                .id = rid,                                                  \
                .size = sizeof(struct rec_##rname),                         \
                .version = rver,                                            \
                .kind = KIND_##rkind,                                       \
                .parent = RT_##rparent,                                     \
                .flags = rflags,                                            \
                .first_field = FIB_##rname,                                 \
                .n_fields = FIE_##rname - FIB_##rname,                      \
                .key_field = -1,                                            \
        },
#define FIELD(...)
#define END(name)
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END
};

/* Key field indexes are resolved once; the table above cannot name them statically. */
static int16_t key_fields[RT_MAX];
static bool key_fields_done;

static void resolve_keys(void)
{
        if (__atomic_load_n(&key_fields_done, __ATOMIC_ACQUIRE))
                return;
        for (unsigned id = 0; id < RT_MAX; id++) {
                key_fields[id] = -1;
                const struct record_desc *r = &records[id];
                if (!r->name || !r->key)
                        continue;
                for (unsigned i = 0; i < r->n_fields; i++)
                        if (strcmp(schema_fields[r->first_field + i].name, r->key) == 0)
                                key_fields[id] = (int16_t)(r->first_field + i);
        }
        __atomic_store_n(&key_fields_done, true, __ATOMIC_RELEASE);
}

const struct record_desc *schema_record(unsigned id)
{
        if (id >= RT_MAX || !records[id].name)
                return NULL;
        return &records[id];
}

const struct record_desc *schema_record_by_name(const char *name)
{
        if (!name)
                return NULL;
        for (unsigned id = 1; id < RT_MAX; id++)
                if (records[id].name && strcmp(records[id].name, name) == 0)
                        return &records[id];
        return NULL;
}

const struct field_desc *schema_field_by_name(const struct record_desc *r, const char *name)
{
        if (!r || !name)
                return NULL;
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                if (strcmp(f->name, name) == 0 || (f->alias && strcmp(f->alias, name) == 0))
                        return f;
        }
        return NULL;
}

const struct record_desc *schema_next(const struct record_desc *prev)
{
        for (unsigned id = prev ? prev->id + 1u : 1u; id < RT_MAX; id++)
                if (records[id].name)
                        return &records[id];
        return NULL;
}

unsigned schema_record_count(void)
{
        unsigned n = 0;
        for (unsigned id = 1; id < RT_MAX; id++)
                n += !!records[id].name;
        return n;
}

const char *field_kind_name(unsigned kind)
{
        static const char *const names[] = {
                [FK_STR] = "string", [FK_U32] = "u32",   [FK_U64] = "u64",   [FK_I64] = "i64",
                [FK_F64] = "f64",    [FK_BOOL] = "bool", [FK_TIME] = "time",
        };
        return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

const char *schema_kind_name(unsigned kind)
{
        static const char *const names[] = { [SK_SINGLE] = "single",
                                             [SK_LIST] = "list",
                                             [SK_CHILD] = "child",
                                             [SK_KEYED] = "keyed",
                                             [SK_EVENT] = "event" };
        return kind < sizeof(names) / sizeof(names[0]) ? names[kind] : "?";
}

void record_init_missing(unsigned type, void *payload)
{
        const struct record_desc *r = schema_record(type);
        if (!r)
                return;
        memset(payload, 0, r->size);
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                uint8_t *p = (uint8_t *)payload + f->offset;
                switch (f->kind) {
                case FK_U32: {
                        uint32_t v = MISSING_U32;
                        memcpy(p, &v, 4);
                        break;
                }
                case FK_U64: {
                        uint64_t v = MISSING_U64;
                        memcpy(p, &v, 8);
                        break;
                }
                case FK_I64: {
                        int64_t v = MISSING_I64;
                        memcpy(p, &v, 8);
                        break;
                }
                case FK_F64: {
                        double v = NAN;
                        memcpy(p, &v, 8);
                        break;
                }
                case FK_BOOL:
                        *p = MISSING_BOOL;
                        break;
                default:
                        break;
                }
        }
}

bool field_is_missing(const struct field_desc *f, const void *payload)
{
        const uint8_t *p = (const uint8_t *)payload + f->offset;
        switch (f->kind) {
        case FK_U32: {
                uint32_t v;
                memcpy(&v, p, 4);
                return v == MISSING_U32;
        }
        case FK_U64: {
                uint64_t v;
                memcpy(&v, p, 8);
                return v == MISSING_U64;
        }
        case FK_I64: {
                int64_t v;
                memcpy(&v, p, 8);
                return v == MISSING_I64;
        }
        case FK_F64: {
                double v;
                memcpy(&v, p, 8);
                return isnan(v);
        }
        case FK_BOOL:
                return *p == MISSING_BOOL;
        case FK_TIME: {
                uint64_t v;
                memcpy(&v, p, 8);
                return v == MISSING_TIME;
        }
        default:
                return false;
        }
}

double field_get_double(const struct field_desc *f, const void *payload)
{
        const uint8_t *p = (const uint8_t *)payload + f->offset;
        if (field_is_missing(f, payload))
                return NAN;
        switch (f->kind) {
        case FK_U32: {
                uint32_t v;
                memcpy(&v, p, 4);
                return v;
        }
        case FK_U64:
        case FK_TIME: {
                uint64_t v;
                memcpy(&v, p, 8);
                return (double)v;
        }
        case FK_I64: {
                int64_t v;
                memcpy(&v, p, 8);
                return (double)v;
        }
        case FK_F64: {
                double v;
                memcpy(&v, p, 8);
                return v;
        }
        case FK_BOOL:
                return *p;
        default:
                return NAN;
        }
}

const char *record_key(const struct record_desc *r, const void *payload, char *buf, size_t size)
{
        resolve_keys();
        if (!r || key_fields[r->id] < 0 || size == 0) {
                if (size)
                        buf[0] = 0;
                return buf;
        }
        const struct field_desc *f = &schema_fields[key_fields[r->id]];
        const uint8_t *p = (const uint8_t *)payload + f->offset;
        if (f->kind == FK_STR) {
                size_t n = strnlen((const char *)p, f->size);
                if (n >= size)
                        n = size - 1;
                memcpy(buf, p, n);
                buf[n] = 0;
        } else if (field_is_missing(f, payload))
                buf[0] = 0;
        else if (f->kind == FK_I64) {
                int64_t v;
                memcpy(&v, p, 8);
                snprintf(buf, size, "%" PRId64, v);
        } else
                snprintf(buf, size, "%.0f", field_get_double(f, payload));
        return buf;
}

int record_validate(unsigned type, unsigned version, const void *payload, size_t len,
                    const char **why)
{
        const char *dummy;
        if (!why)
                why = &dummy;
        const struct record_desc *r = schema_record(type);
        if (!r) {
                *why = "unknown record type";
                return -EPROTO;
        }
        if (version != r->version) {
                *why = "unsupported record version";
                return -EPROTONOSUPPORT;
        }
        if (len != r->size || !payload) {
                *why = "wrong record size";
                return -EBADMSG;
        }
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                const uint8_t *p = (const uint8_t *)payload + f->offset;
                if (f->kind == FK_STR && !memchr(p, 0, f->size)) {
                        *why = "unterminated string";
                        return -EBADMSG;
                }
                if (f->kind == FK_BOOL && *p > 1 && *p != MISSING_BOOL) {
                        *why = "bad boolean";
                        return -EBADMSG;
                }
        }
        *why = NULL;
        return 0;
}
