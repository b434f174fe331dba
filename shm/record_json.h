/*
 * record_json.h — the one schema-driven path between records and JSON.
 *
 * Used by the hub for every dialect and by `ringhubctl --json`, so the CLI prints the
 * same keys the wire carries. Also parses JSON objects and `field=value` text back into
 * records (round-trip tests, `ringhubctl inject`). json-c only; no ring access.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "schema.h"

/* How missing values and aliases are written. */
#define RJ_MISSING_NULL     0x1u /* missing → null (default: key left out) */
#define RJ_SEED_TYPED       0x2u /* F_SEED fields missing → typed zero ("", 0, false) */
#define RJ_ALIASES          0x4u /* also write each field's alias key */
#define RJ_NO_KEYS_OF_CHILD 0x8u /* leave out a CHILD's parent-key field */

/* Longest string field (bytes). */
#define RJ_STR_MAX 256

/* A string as JSON, invalid UTF-8 and control characters replaced by U+FFFD. */
json_object *json_string_utf8(const char *s, size_t n);

/* A double with the shortest exact text, always float-typed on the wire (3200.0). */
json_object *json_double(double v);

/* Add the record's fields to obj. Returns 0 or -errno. */
int record_to_json(unsigned type, const void *payload, unsigned flags, json_object *obj);
/* New object with the record's fields (NULL on error). */
json_object *record_json_new(unsigned type, const void *payload, unsigned flags);
/* Value of one field as a new json_object (NULL for missing without RJ_*). */
json_object *field_to_json(const struct field_desc *f, const void *payload, unsigned flags);

/*
 * Fill payload (already record_init_missing'd) from an object. Unknown keys are
 * errors (-ENOENT, *bad_key set); wrong types -EINVAL; strings too long -E2BIG.
 */
int record_from_json(unsigned type, json_object *obj, void *payload, const char **bad_key);
/* Parse text into one field ("12.5", "true", "null" for missing, strings as is). */
int field_from_text(const struct field_desc *f, const char *text, void *payload);
/* Format one field as text into buf ("-" when missing). */
const char *field_to_text(const struct field_desc *f, const void *payload, char *buf, size_t size);

/*
 * The schema-driven writer: the same text as serializing record_json_new()'s object
 * with jsonfmt_text() (plain, no slash escapes), written straight into a reusable
 * buffer with no json-c objects — the hub's hot path. record_json_new() stays for
 * parsing-side round trips and cold paths; schema_test checks the two agree byte for
 * byte over every record type.
 */
struct rj_buf {
        char *p;     /* NUL-terminated text (NULL before the first write) */
        size_t n;    /* its length */
        size_t cap;  /* allocated bytes */
        bool failed; /* an allocation failed: the text is incomplete */
};

void rj_free(struct rj_buf *b);
/* Make room for n more bytes (and the NUL). False (b->failed set) when out of memory. */
bool rj_reserve(struct rj_buf *b, size_t n);
void rj_put(struct rj_buf *b, const char *s, size_t n);
void rj_puts(struct rj_buf *b, const char *s);
/* A string as a JSON string: sanitized like json_string_utf8(), escaped like json-c. */
void rj_str(struct rj_buf *b, const char *s, size_t n);
/* One field's value; false (nothing written) when field_to_json() would give NULL. */
bool rj_field(struct rj_buf *b, const struct field_desc *f, const void *payload, unsigned flags);
/* A number as the writer writes a field's: an integer, a double's shortest exact text. */
void rj_u64(struct rj_buf *b, uint64_t v);
void rj_double(struct rj_buf *b, double v);
/* Whether rj_field() writes the field (false: its key is left out). */
bool rj_field_written(const struct field_desc *f, const void *payload, unsigned flags);
/* The record's members without braces, each after a ',' unless *first (then cleared). */
int rj_members(struct rj_buf *b, unsigned type, const void *payload, unsigned flags, bool *first);
/* The same but for field omit (NULL: none). */
int rj_members_except(struct rj_buf *b, unsigned type, const void *payload, unsigned flags,
                      bool *first, const struct field_desc *omit);
/* The record as one JSON object, appended. 0 or -errno (-ENOMEM when b->failed). */
int rj_record(struct rj_buf *b, unsigned type, const void *payload, unsigned flags);
