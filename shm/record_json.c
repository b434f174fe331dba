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

/*
 * Shortest text that reads back as the same double, always with a '.' or exponent so
 * typed clients see a float (3200.0, not 3200), as the seeds show.
 */
/*
 * Fast path for the values telemetry is full of (38.0, 12.5, 0.25, 3100.0): when v is
 * exactly n / 10^6 for an integer n below 2^53 — checked by computing that quotient,
 * which IEEE division rounds correctly, so the decimal text reads back as v — write n's
 * digits with the point put back. Returns the length, or 0 to take the slow path.
 */
static size_t fmt_micro(double v, char *buf)
{
        if (!(v > -1e9 && v < 1e9))
                return 0;
        double scaled = v * 1e6;
        long long n = llround(scaled);
        if ((double)n / 1e6 != v || (n == 0 && signbit(v)))
                return 0;
        char tmp[32];
        size_t o = 0, k = 0;
        bool neg = n < 0;
        unsigned long long u = neg ? (unsigned long long)(-n) : (unsigned long long)n;
        unsigned long long ip = u / 1000000, fp = u % 1000000;
        do
                tmp[k++] = (char)('0' + ip % 10);
        while ((ip /= 10) > 0);
        if (neg)
                buf[o++] = '-';
        while (k)
                buf[o++] = tmp[--k];
        buf[o++] = '.';
        if (fp == 0)
                buf[o++] = '0';
        else {
                char d[6];
                for (int i = 5; i >= 0; i--, fp /= 10)
                        d[i] = (char)('0' + fp % 10);
                int last = 5;
                while (d[last] == '0')
                        last--;
                for (int i = 0; i <= last; i++)
                        buf[o++] = d[i];
        }
        buf[o] = 0;
        return o;
}

json_object *json_double(double v)
{
        char buf[40];
        if (!fmt_micro(v, buf)) {
                snprintf(buf, sizeof(buf), "%.15g", v);
                if (strtod(buf, NULL) != v)
                        snprintf(buf, sizeof(buf), "%.17g", v);
                if (!strpbrk(buf, ".eEn"))
                        strcat(buf, ".0");
        }
        return json_object_new_double_s(v, buf);
}

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when it is not valid. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
        uint8_t c = p[0];
        size_t len;
        uint32_t cp;
        if (c < 0x80)
                return c >= 0x20 || c == '\t' ? 1 : 0;
        if ((c & 0xE0) == 0xC0) {
                len = 2;
                cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
                len = 3;
                cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
                len = 4;
                cp = c & 0x07;
        } else
                return 0;
        if (len > n)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((p[i] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[i] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        return len;
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
        while (i < n && (k = utf8_seq(p + i, n - i)) > 0)
                i += k;
        if (i == n)
                return json_object_new_string_len(s, (int)n);
        char buf[RJ_STR_MAX * 3 + 1];
        size_t o = 0;
        for (i = 0; i < n && o + 4 < sizeof(buf);) {
                k = utf8_seq(p + i, n - i);
                if (k) {
                        memcpy(buf + o, p + i, k);
                        o += k;
                        i += k;
                } else {
                        memcpy(buf + o, "\xEF\xBF\xBD", 3);
                        o += 3;
                        i++;
                }
        }
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

int record_to_json(unsigned type, const void *payload, unsigned flags, json_object *obj)
{
        const struct record_desc *r = schema_record(type);
        if (!r || !payload || !obj)
                return -EINVAL;
        for (unsigned i = 0; i < r->n_fields; i++) {
                const struct field_desc *f = &schema_fields[r->first_field + i];
                if ((flags & RJ_NO_KEYS_OF_CHILD) && r->kind == SK_CHILD && r->key &&
                    strcmp(f->name, r->key) == 0)
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
        case FK_STR:
                snprintf(buf, size, "%.*s", (int)f->size, (const char *)payload + f->offset);
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
                /* Shortest text that reads back as the same double. */
                snprintf(buf, size, "%.15g", v);
                if (strtod(buf, NULL) != v)
                        snprintf(buf, size, "%.17g", v);
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
