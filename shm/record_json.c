/*
 * record_json.c — records ⇄ JSON and text, walking the descriptor table.
 *
 * This is the only serializer of record fields in the project: the hub's dialects,
 * its REST bodies and `ringhubctl tail --json` all call it. Adding a field to
 * schema.def is enough for it to appear everywhere.
 */
#include "record_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void rd(const void *payload, const struct field_desc *f, void *v, size_t n)
{
        memcpy(v, (const uint8_t *)payload + f->offset, n);
}

static void wr(void *payload, const struct field_desc *f, const void *v, size_t n)
{
        memcpy((uint8_t *)payload + f->offset, v, n);
}

/* The shortest exact text (common/util.c), always float-typed on the wire (3200.0). */
json_object *json_double(double v)
{
        char buf[FMT_DOUBLE_MAX];
        fmt_double_float(buf, sizeof(buf), v);
        return json_object_new_double_s(v, buf);
}

/*
 * A string from a record as JSON: records come from files and devices, so a byte that
 * is not valid UTF-8 (or a control character) becomes U+FFFD — a WebSocket text frame
 * must be valid UTF-8 or the client drops the connection.
 */
json_object *json_string_utf8(const char *s, size_t n)
{
        const uint8_t *p = (const uint8_t *)s;
        size_t i = 0, k;
        while (i < n && (k = utf8_char(p + i, n - i)) > 0)
                i += k;
        if (i == n)
                return json_object_new_string_len(s, (int)n);
        char buf[RJ_STR_MAX * 3 + 1];
        size_t o = utf8_sanitize(buf, sizeof(buf), s, n);
        return json_object_new_string_len(buf, (int)o);
}

static json_object *json_time(uint64_t ns)
{
        char buf[64];
        if (!format_rfc3339_ns(buf, sizeof(buf), ns, true))
                return NULL;
        return json_object_new_string(buf);
}

json_object *field_to_json(const struct field_desc *f, const void *payload, unsigned flags)
{
        if ((f->flags & F_TEXT) && f->kind != FK_STR && !field_is_missing(f, payload)) {
                char buf[64];
                return json_object_new_string(field_to_text(f, payload, buf, sizeof(buf)));
        }
        if (field_is_missing(f, payload)) {
                if ((flags & RJ_SEED_TYPED) && (f->flags & F_SEED)) {
                        switch (f->kind) {
                        case FK_F64:
                                return json_double(0.0);
                        case FK_BOOL:
                                return json_object_new_boolean(0);
                        default:
                                return json_object_new_int64(0);
                        }
                }
                return NULL;
        }
        switch (f->kind) {
        case FK_STR: {
                const char *s = (const char *)payload + f->offset;
                return json_string_utf8(s, strnlen(s, f->size));
        }
        case FK_U32: {
                uint32_t v;
                rd(payload, f, &v, 4);
                return json_object_new_int64(v);
        }
        case FK_U64: {
                uint64_t v;
                rd(payload, f, &v, 8);
                return json_object_new_uint64(v);
        }
        case FK_I64: {
                int64_t v;
                rd(payload, f, &v, 8);
                return json_object_new_int64(v);
        }
        case FK_F64: {
                double v;
                rd(payload, f, &v, 8);
                if (!isfinite(v))
                        return NULL;
                return json_double(v);
        }
        case FK_BOOL:
                return json_object_new_boolean(((const uint8_t *)payload)[f->offset] != 0);
        case FK_TIME: {
                uint64_t v;
                rd(payload, f, &v, 8);
                return json_time(v);
        }
        }
        return NULL;
}

/* With RJ_NO_KEYS_OF_CHILD, a CHILD's parent-key field is left out. */
static bool key_of_child(const struct record_desc *r, const struct field_desc *f, unsigned flags)
{
        return (flags & RJ_NO_KEYS_OF_CHILD) && r->kind == SK_CHILD && r->key &&
               strcmp(f->name, r->key) == 0;
}

int record_to_json(unsigned type, const void *payload, unsigned flags, json_object *obj)
{
        const struct record_desc *r = schema_record(type);
        if (!r || !payload || !obj)
                return -EINVAL;
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                if (key_of_child(r, f, flags))
                        continue;
                json_object *v = field_to_json(f, payload, flags);
                if (!v && !(flags & RJ_MISSING_NULL))
                        continue;
                if (f->alias && (flags & RJ_ALIASES))
                        json_object_object_add(obj, f->alias, json_object_get(v));
                json_object_object_add(obj, f->name, v);
        }
        return 0;
}

json_object *record_json_new(unsigned type, const void *payload, unsigned flags)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        if (record_to_json(type, payload, flags, o) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static int set_str(const struct field_desc *f, const char *s, size_t n, void *payload)
{
        if (n >= f->size)
                return -E2BIG;
        if (memchr(s, 0, n))
                return -EINVAL;
        char *d = (char *)payload + f->offset;
        memcpy(d, s, n);
        memset(d + n, 0, f->size - n);
        return 0;
}

static int set_missing(const struct field_desc *f, void *payload)
{
        switch (f->kind) {
        case FK_STR:
                memset((uint8_t *)payload + f->offset, 0, f->size);
                return 0;
        case FK_U32: {
                uint32_t v = MISSING_U32;
                wr(payload, f, &v, 4);
                return 0;
        }
        case FK_U64: {
                uint64_t v = MISSING_U64;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_I64: {
                int64_t v = MISSING_I64;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_F64: {
                double v = NAN;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_BOOL:
                ((uint8_t *)payload)[f->offset] = MISSING_BOOL;
                return 0;
        case FK_TIME: {
                uint64_t v = MISSING_TIME;
                wr(payload, f, &v, 8);
                return 0;
        }
        }
        return -EINVAL;
}

/* Parse an RFC 3339 UTC/offset time into ns since the epoch. */
static int parse_time(const char *s, uint64_t *ret)
{
        struct tm tm = { 0 };
        const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!p)
                return -EINVAL;
        uint64_t frac = 0, scale = NSEC_PER_SEC;
        if (*p == '.') {
                for (p++; *p >= '0' && *p <= '9'; p++) {
                        if (scale > 1) {
                                scale /= 10;
                                frac += (uint64_t)(*p - '0') * scale;
                        }
                }
        }
        long off = 0;
        if (*p == 'Z')
                p++;
        else if (*p == '+' || *p == '-') {
                int hh, mm;
                if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
                        return -EINVAL;
                off = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
                p += 6;
        }
        if (*p)
                return -EINVAL;
        time_t t = timegm(&tm);
        if (t < 0)
                return -ERANGE;
        *ret = (uint64_t)(t - off) * NSEC_PER_SEC + frac;
        return 0;
}

int field_from_text(const struct field_desc *f, const char *text, void *payload)
{
        int r;
        if (!f || !text || !payload)
                return -EINVAL;
        if (f->kind != FK_STR && (strcmp(text, "null") == 0 || strcmp(text, "-") == 0))
                return set_missing(f, payload);
        switch (f->kind) {
        case FK_STR:
                return set_str(f, text, strlen(text), payload);
        case FK_U32: {
                uint64_t v;
                r = safe_atou64(text, &v);
                if (r < 0)
                        return r;
                if (v >= MISSING_U32)
                        return -ERANGE;
                uint32_t v32 = (uint32_t)v;
                wr(payload, f, &v32, 4);
                return 0;
        }
        case FK_U64: {
                uint64_t v;
                r = safe_atou64(text, &v);
                if (r < 0)
                        return r;
                if (v == MISSING_U64)
                        return -ERANGE;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_I64: {
                int64_t v;
                r = safe_atoi64(text, &v);
                if (r < 0)
                        return r;
                if (v == MISSING_I64)
                        return -ERANGE;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_F64: {
                double v;
                r = safe_atod(text, &v);
                if (r < 0)
                        return r;
                wr(payload, f, &v, 8);
                return 0;
        }
        case FK_BOOL: {
                uint8_t v;
                if (!strcmp(text, "true") || !strcmp(text, "1") || !strcmp(text, "yes"))
                        v = 1;
                else if (!strcmp(text, "false") || !strcmp(text, "0") || !strcmp(text, "no"))
                        v = 0;
                else
                        return -EINVAL;
                ((uint8_t *)payload)[f->offset] = v;
                return 0;
        }
        case FK_TIME: {
                uint64_t v;
                r = parse_time(text, &v);
                if (r < 0) {
                        r = safe_atou64(text, &v); /* raw ns */
                        if (r < 0)
                                return r;
                }
                if (v == MISSING_TIME)
                        return -ERANGE;
                wr(payload, f, &v, 8);
                return 0;
        }
        }
        return -EINVAL;
}

static int field_from_json(const struct field_desc *f, json_object *v, void *payload)
{
        if (!v)
                return set_missing(f, payload);
        enum json_type t = json_object_get_type(v);
        switch (f->kind) {
        case FK_STR:
                if (t != json_type_string)
                        return -EINVAL;
                return set_str(f, json_object_get_string(v), (size_t)json_object_get_string_len(v),
                               payload);
        case FK_BOOL:
                if (t != json_type_boolean)
                        return -EINVAL;
                ((uint8_t *)payload)[f->offset] = json_object_get_boolean(v) ? 1 : 0;
                return 0;
        case FK_F64: {
                if (t != json_type_double && t != json_type_int)
                        return -EINVAL;
                double d = json_object_get_double(v);
                wr(payload, f, &d, 8);
                return 0;
        }
        case FK_TIME:
                if (t != json_type_string)
                        return -EINVAL;
                return field_from_text(f, json_object_get_string(v), payload);
        case FK_U32:
        case FK_U64:
        case FK_I64: {
                if (t == json_type_string && (f->flags & F_TEXT))
                        return field_from_text(f, json_object_get_string(v), payload);
                if (t != json_type_int)
                        return -EINVAL;
                errno = 0;
                if (f->kind == FK_I64) {
                        int64_t i = json_object_get_int64(v);
                        if (errno || i == MISSING_I64)
                                return -ERANGE;
                        wr(payload, f, &i, 8);
                        return 0;
                }
                /* json-c keeps big unsigned values as uint64; negative ones are errors. */
                const char *txt = json_object_to_json_string(v);
                return field_from_text(f, txt, payload);
        }
        }
        return -EINVAL;
}

int record_from_json(unsigned type, json_object *obj, void *payload, const char **bad_key)
{
        const struct record_desc *r = schema_record(type);
        if (!r || !obj || !payload || !json_object_is_type(obj, json_type_object))
                return -EINVAL;
        json_object_object_foreach(obj, key, val)
        {
                const struct field_desc *f = schema_field_by_name(r, key);
                if (!f) {
                        if (bad_key)
                                *bad_key = key;
                        return -ENOENT;
                }
                int k = field_from_json(f, val, payload);
                if (k < 0) {
                        if (bad_key)
                                *bad_key = key;
                        return k;
                }
        }
        return 0;
}

const char *field_to_text(const struct field_desc *f, const void *payload, char *buf, size_t size)
{
        if (field_is_missing(f, payload)) {
                snprintf(buf, size, "-");
                return buf;
        }
        switch (f->kind) {
        case FK_STR: /* for terminals and labels: never a control byte */
                utf8_sanitize(buf, size, (const char *)payload + f->offset, f->size);
                break;
        case FK_U32: {
                uint32_t v;
                rd(payload, f, &v, 4);
                snprintf(buf, size, "%" PRIu32, v);
                break;
        }
        case FK_U64: {
                uint64_t v;
                rd(payload, f, &v, 8);
                snprintf(buf, size, "%" PRIu64, v);
                break;
        }
        case FK_I64: {
                int64_t v;
                rd(payload, f, &v, 8);
                snprintf(buf, size, "%" PRId64, v);
                break;
        }
        case FK_F64: {
                double v;
                rd(payload, f, &v, 8);
                fmt_double(buf, size, v);
                break;
        }
        case FK_BOOL:
                snprintf(buf, size, "%s", ((const uint8_t *)payload)[f->offset] ? "true" : "false");
                break;
        case FK_TIME: {
                uint64_t v;
                rd(payload, f, &v, 8);
                if (!format_rfc3339_ns(buf, size, v, true))
                        snprintf(buf, size, "%" PRIu64, v);
                break;
        }
        }
        return buf;
}

/* ---- the schema-driven writer (no json-c objects) ----------------------------------- */

void rj_free(struct rj_buf *b)
{
        free(b->p);
        *b = (struct rj_buf){ 0 };
}

bool rj_reserve(struct rj_buf *b, size_t n)
{
        if (b->n + n + 1 <= b->cap)
                return true;
        if (b->failed)
                return false;
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->n + n + 1)
                cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
                b->failed = true;
                return false;
        }
        b->p = p;
        b->cap = cap;
        return true;
}

void rj_put(struct rj_buf *b, const char *s, size_t n)
{
        if (!rj_reserve(b, n))
                return;
        memcpy(b->p + b->n, s, n);
        b->n += n;
        b->p[b->n] = 0;
}

void rj_puts(struct rj_buf *b, const char *s)
{
        rj_put(b, s, strlen(s));
}

/* Escape as json-c does with JSON_C_TO_STRING_NOSLASHESCAPE. */
static void put_escaped(struct rj_buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        if (!rj_reserve(b, n * 6 + 2))
                return;
        char *o = b->p + b->n;
        *o++ = '"';
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\') {
                        *o++ = (char)c;
                        continue;
                }
                *o++ = '\\';
                switch (c) {
                case '"':
                case '\\':
                        *o++ = (char)c;
                        break;
                case '\b':
                        *o++ = 'b';
                        break;
                case '\n':
                        *o++ = 'n';
                        break;
                case '\r':
                        *o++ = 'r';
                        break;
                case '\t':
                        *o++ = 't';
                        break;
                case '\f':
                        *o++ = 'f';
                        break;
                default:
                        *o++ = 'u';
                        *o++ = '0';
                        *o++ = '0';
                        *o++ = hex[c >> 4];
                        *o++ = hex[c & 0xf];
                }
        }
        *o++ = '"';
        b->n = (size_t)(o - b->p);
        b->p[b->n] = 0;
}

void rj_str(struct rj_buf *b, const char *s, size_t n)
{
        /* One pass for what records mostly hold, printable ASCII: copy, escaping only
         * quotes and backslashes. Anything else takes the checked path. */
        if (!rj_reserve(b, n * 2 + 2))
                return;
        char *o = b->p + b->n;
        *o++ = '"';
        size_t i = 0;
        for (; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c < 0x20 || c >= 0x7f)
                        break;
                if (c == '"' || c == '\\')
                        *o++ = '\\';
                *o++ = (char)c;
        }
        if (i == n) {
                *o++ = '"';
                b->n = (size_t)(o - b->p);
                b->p[b->n] = 0;
                return;
        }
        const uint8_t *p = (const uint8_t *)s;
        size_t k;
        for (i = 0; i < n && (k = utf8_char(p + i, n - i)) > 0;)
                i += k;
        if (i == n) {
                put_escaped(b, s, n);
                return;
        }
        char buf[RJ_STR_MAX * 3 + 1];
        size_t m = utf8_sanitize(buf, sizeof(buf), s, n);
        put_escaped(b, buf, m);
}

void rj_u64(struct rj_buf *b, uint64_t v)
{
        char tmp[FMT_U64_MAX];
        rj_put(b, tmp, fmt_u64(tmp, v));
}

void rj_double(struct rj_buf *b, double v)
{
        if (!rj_reserve(b, FMT_DOUBLE_MAX))
                return;
        b->n += fmt_double_float(b->p + b->n, FMT_DOUBLE_MAX, v);
}

/* RFC 3339 UTC with nanoseconds as format_rfc3339_ns(…, true); the seconds part is
 * formatted once per second per thread. False when it cannot be formatted. */
static bool put_time(struct rj_buf *b, uint64_t ns)
{
        static _Thread_local uint64_t cached_sec = UINT64_MAX;
        static _Thread_local char prefix[48];
        static _Thread_local size_t prefix_len;
        uint64_t sec = ns / NSEC_PER_SEC;
        if (sec != cached_sec) {
                char buf[64];
                size_t n = format_rfc3339_ns(buf, sizeof(buf), sec * NSEC_PER_SEC, true);
                if (n < 11 || n - 11 >= sizeof(prefix)) /* ".000000000Z" */
                        return false;
                memcpy(prefix, buf, n - 11);
                prefix_len = n - 11;
                cached_sec = sec;
        }
        if (!rj_reserve(b, prefix_len + 13))
                return true;
        char *o = b->p + b->n;
        *o++ = '"';
        memcpy(o, prefix, prefix_len);
        o += prefix_len;
        *o++ = '.';
        uint32_t frac = (uint32_t)(ns % NSEC_PER_SEC);
        for (int i = 8; i >= 0; i--) {
                o[i] = (char)('0' + frac % 10);
                frac /= 10;
        }
        o += 9;
        *o++ = 'Z';
        *o++ = '"';
        b->n = (size_t)(o - b->p);
        b->p[b->n] = 0;
        return true;
}

bool rj_field_written(const struct field_desc *f, const void *payload, unsigned flags)
{
        if (field_is_missing(f, payload))
                return (flags & RJ_SEED_TYPED) && (f->flags & F_SEED);
        if (f->kind == FK_F64 && !(f->flags & F_TEXT)) {
                double v;
                rd(payload, f, &v, 8);
                return isfinite(v);
        }
        if (f->kind == FK_TIME && !(f->flags & F_TEXT)) {
                uint64_t v;
                char buf[64];
                rd(payload, f, &v, 8);
                return format_rfc3339_ns(buf, sizeof(buf), v, true) > 0;
        }
        return true;
}

bool rj_field(struct rj_buf *b, const struct field_desc *f, const void *payload, unsigned flags)
{
        if ((f->flags & F_TEXT) && f->kind != FK_STR && !field_is_missing(f, payload)) {
                char buf[64];
                field_to_text(f, payload, buf, sizeof(buf));
                rj_str(b, buf, strlen(buf));
                return true;
        }
        if (field_is_missing(f, payload)) {
                if (!(flags & RJ_SEED_TYPED) || !(f->flags & F_SEED))
                        return false;
                switch (f->kind) {
                case FK_F64:
                        rj_put(b, "0.0", 3);
                        break;
                case FK_BOOL:
                        rj_put(b, "false", 5);
                        break;
                default:
                        rj_put(b, "0", 1);
                }
                return true;
        }
        switch (f->kind) {
        case FK_STR: {
                const char *s = (const char *)payload + f->offset;
                rj_str(b, s, strnlen(s, f->size));
                return true;
        }
        case FK_U32: {
                uint32_t v;
                rd(payload, f, &v, 4);
                rj_u64(b, v);
                return true;
        }
        case FK_U64:
        case FK_I64: {
                uint64_t v;
                rd(payload, f, &v, 8);
                if (f->kind == FK_I64 && (int64_t)v < 0) {
                        rj_put(b, "-", 1);
                        v = 0 - v; /* INT64_MIN's magnitude too */
                }
                rj_u64(b, v);
                return true;
        }
        case FK_F64: {
                double v;
                rd(payload, f, &v, 8);
                if (!isfinite(v))
                        return false;
                rj_double(b, v);
                return true;
        }
        case FK_BOOL:
                if (((const uint8_t *)payload)[f->offset])
                        rj_put(b, "true", 4);
                else
                        rj_put(b, "false", 5);
                return true;
        case FK_TIME: {
                uint64_t v;
                rd(payload, f, &v, 8);
                return put_time(b, v);
        }
        }
        return false;
}

/* ,"key": — schema names and aliases need no escaping (record-write checks every one). */
static void put_key(struct rj_buf *b, const char *key, bool *first)
{
        size_t kl = strlen(key);
        if (!rj_reserve(b, kl + 4))
                return;
        char *o = b->p + b->n;
        if (!*first)
                *o++ = ',';
        *first = false;
        *o++ = '"';
        memcpy(o, key, kl);
        o += kl;
        *o++ = '"';
        *o++ = ':';
        b->n = (size_t)(o - b->p);
        b->p[b->n] = 0;
}

int rj_members(struct rj_buf *b, unsigned type, const void *payload, unsigned flags, bool *first)
{
        return rj_members_except(b, type, payload, flags, first, NULL);
}

int rj_members_except(struct rj_buf *b, unsigned type, const void *payload, unsigned flags,
                      bool *first, const struct field_desc *omit)
{
        const struct record_desc *r = schema_record(type);
        if (!r || !payload)
                return -EINVAL;
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                if (f == omit || key_of_child(r, f, flags))
                        continue;
                bool alias = f->alias && (flags & RJ_ALIASES);
                size_t mark = b->n;
                bool was_first = *first;
                put_key(b, alias ? f->alias : f->name, first);
                size_t v0 = b->n;
                if (!rj_field(b, f, payload, flags)) {
                        if (!(flags & RJ_MISSING_NULL)) {
                                b->n = mark;
                                if (b->p)
                                        b->p[mark] = 0;
                                *first = was_first;
                                continue;
                        }
                        rj_put(b, "null", 4);
                }
                if (alias) {
                        size_t vn = b->n - v0;
                        put_key(b, f->name, first);
                        if (rj_reserve(b, vn)) {
                                memcpy(b->p + b->n, b->p + v0, vn);
                                b->n += vn;
                                b->p[b->n] = 0;
                        }
                }
        }
        return b->failed ? -ENOMEM : 0;
}

int rj_record(struct rj_buf *b, unsigned type, const void *payload, unsigned flags)
{
        bool first = true;
        rj_put(b, "{", 1);
        int r = rj_members(b, type, payload, flags, &first);
        rj_put(b, "}", 1);
        return r < 0 ? r : b->failed ? -ENOMEM : 0;
}
