/*
 * schema.h — record types and fields, derived from schema.def.
 *
 * Linked by every process (hub, collectors, ringhubctl). Defines one packed-free,
 * naturally aligned C struct per record type (`struct rec_<name>`), the type ids
 * (RT_<NAME>), the descriptor tables used by everything that walks fields generically,
 * and the helpers that mark values missing. Nothing here touches the ring itself.
 */
#pragma once

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest payload a record may have; the ring's slot is this plus its header. */
#define SCHEMA_PAYLOAD_MAX 464

enum schema_kind { SK_SINGLE, SK_LIST, SK_CHILD, SK_KEYED, SK_EVENT };
enum field_kind { FK_STR, FK_U32, FK_U64, FK_I64, FK_F64, FK_BOOL, FK_TIME };

#define R_SCALAR   0x1u
#define R_MAP      0x2u
#define R_NO_PRIME 0x4u /* not published empty at hub start: only once a collector wrote it */
#define F_SEED     0x1u
#define F_COUNTER  0x2u
#define F_NOMETRIC 0x4u
#define F_TEXT     0x8u

#define MISSING_U32  UINT32_MAX
#define MISSING_U64  UINT64_MAX
#define MISSING_I64  INT64_MIN
#define MISSING_BOOL 0xffu
#define MISSING_TIME 0u

/* C types per field kind. */
#define SCHEMA_CTYPE_STR(n, sz)  char n[sz]
#define SCHEMA_CTYPE_U32(n, sz)  uint32_t n
#define SCHEMA_CTYPE_U64(n, sz)  uint64_t n
#define SCHEMA_CTYPE_I64(n, sz)  int64_t n
#define SCHEMA_CTYPE_F64(n, sz)  double n
#define SCHEMA_CTYPE_BOOL(n, sz) uint8_t n
#define SCHEMA_CTYPE_TIME(n, sz) uint64_t n

/* struct rec_<name> { fields }; */
#define RECORD(name, id, ver, kind, parent, key, lkey, flags, doc) struct rec_##name {
#define FIELD(rec, name, kind, size, unit, flags, alias, doc)      SCHEMA_CTYPE_##kind(name, size);
#define END(name) \
        }         \
        ;
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END

/* enum record_type { RT_SYSTEM = 1, … } */
enum record_type {
        RT_NONE = 0,
#define RECORD(name, id, ver, kind, parent, key, lkey, flags, doc) RT_##name = id,
#define FIELD(...)
#define END(name)
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END
        RT_MAX = 64, /* ids are < RT_MAX */
};

/* Flat field index: FI_<rec>_<field>; FIB_/FIE_ bracket each record's fields. */
enum {
#define RECORD(name, id, ver, kind, parent, key, lkey, flags, doc) \
        FIB_##name, FIB_##name##_reset = FIB_##name - 1,
#define FIELD(rec, name, kind, size, unit, flags, alias, doc) FI_##rec##_##name,
#define END(name)                                             FIE_##name, FIE_##name##_reset = FIE_##name - 1,
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END
        FI_COUNT
};

/* Every record fits a slot, and the ids below fit the descriptor tables. */
#define RECORD(name, id, ver, kind, parent, key, lkey, flags, doc)     \
        static_assert(sizeof(struct rec_##name) <= SCHEMA_PAYLOAD_MAX, \
                      "record " #name " too large for a ring slot");   \
        static_assert(id > 0 && id < RT_MAX, "record id of " #name " out of range");
#define FIELD(...)
#define END(name)
#include "schema.def"
#undef RECORD
#undef FIELD
#undef END

struct field_desc {
        const char *name;  /* C and JSON name */
        const char *alias; /* second JSON key or NULL */
        const char *unit;  /* "" when none */
        const char *doc;
        uint16_t offset;
        uint16_t size;
        uint8_t kind; /* enum field_kind */
        uint8_t flags;
        uint8_t rtype;
};

struct record_desc {
        const char *name;
        const char *doc;
        const char *key;      /* entity key (LIST/KEYED) or parent key (CHILD), NULL if none */
        const char *list_key; /* JSON key under the parent (CHILD) */
        uint16_t id;
        uint16_t size;
        uint8_t version;
        uint8_t kind; /* enum schema_kind */
        uint8_t parent;
        uint8_t flags;
        uint16_t first_field;
        uint16_t n_fields;
        int16_t key_field; /* index into schema_fields, -1 if none */
};

extern const struct field_desc schema_fields[FI_COUNT];

/* NULL when the id is unknown. */
const struct record_desc *schema_record(unsigned id);
const struct record_desc *schema_record_by_name(const char *name);
const struct field_desc *schema_field_by_name(const struct record_desc *r, const char *name);
/* Iterate known record types in id order: for (r = schema_next(NULL); r; r = schema_next(r)) */
const struct record_desc *schema_next(const struct record_desc *prev);
unsigned schema_record_count(void);

const char *field_kind_name(unsigned kind);
const char *schema_kind_name(unsigned kind);

/* Set every field of a record to "missing" (strings empty). */
void record_init_missing(unsigned type, void *payload);
/* True when the field holds the missing marker. */
bool field_is_missing(const struct field_desc *f, const void *payload);
/* Numeric value of a field as double (NaN when missing or a string). */
double field_get_double(const struct field_desc *f, const void *payload);
/* The key of an entity record ("" when the type has no key). Writes into buf. */
const char *record_key(const struct record_desc *r, const void *payload, char *buf, size_t size);

/*
 * Check a payload from the ring before anything trusts it: known type, exact size,
 * known version, every string NUL-terminated, every bool 0/1/missing. Returns 0 or a
 * negative errno with a short reason in *why.
 */
int record_validate(unsigned type, unsigned version, const void *payload, size_t len,
                    const char **why);
