/*
 * conf_value.c — one configuration value, text to typed (see conf_internal.h).
 *
 * The types of conf.h: whole numbers, booleans, durations and sizes with unit suffixes,
 * octal modes, enums, HOST:PORT endpoints and paths; then the key's range, then its
 * validator. Pure functions of (key, text): no file, no table, no logging, and no key
 * known by name. Every message completes "bad value 'X' for 'K' in [S]: …".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "conf_internal.h"
#include "macros.h"
#include "util.h"

#define MS_SEC  1000ULL
#define MS_MIN  (60 * MS_SEC)
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)

bool conf_value_in_list(const char *list, const char *s, size_t n, bool icase)
{
        for (const char *w = list; *w;) {
                const char *e = strchrnul(w, '|');
                if ((size_t)(e - w) == n && (icase ? strncasecmp(w, s, n) : strncmp(w, s, n)) == 0)
                        return true;
                w = *e ? e + 1 : e;
        }
        return false;
}

static const char *type_hint(const struct conf_key *k)
{
        switch (k->type) {
        case CONF_STRING:
                return "text";
        case CONF_PATH:
                return "an absolute path (or nothing)";
        case CONF_UINT:
                return "a whole number";
        case CONF_BOOL:
                return "yes or no";
        case CONF_DURATION_MS:
                return "a duration such as 500ms, 5s, 2min, 1h";
        case CONF_SIZE:
                return "a size such as 16384, 16K, 1M";
        case CONF_MODE:
                return "an octal mode such as 0660";
        case CONF_ENUM:
                return k->choices;
        case CONF_ENDPOINT:
                return "HOST:PORT";
        }
        return "?";
}

static int parse_bool(const char *v, bool *ret)
{
        static const char *const yes[] = { "yes", "true", "on", "1" };
        static const char *const no[] = { "no", "false", "off", "0" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
                if (strcasecmp(v, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(v, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

/* Digits then an optional suffix from the table; multiplies with overflow checks. */
struct unit {
        const char *suffix;
        uint64_t mult;
};

static int parse_scaled(const char *v, const struct unit *units, size_t n_units, uint64_t *ret)
{
        const char *p = v;
        uint64_t x = 0;
        if (!isdigit((unsigned char)*p))
                return -EINVAL;
        for (; isdigit((unsigned char)*p); p++) {
                if (x > (UINT64_MAX - 9) / 10)
                        return -ERANGE;
                x = x * 10 + (uint64_t)(*p - '0');
        }
        while (*p == ' ' || *p == '\t')
                p++;
        uint64_t mult = 1;
        if (*p) {
                size_t i;
                for (i = 0; i < n_units; i++)
                        if (strcasecmp(p, units[i].suffix) == 0)
                                break;
                if (i == n_units)
                        return -EINVAL;
                mult = units[i].mult;
        }
        if (mult && x > UINT64_MAX / mult)
                return -ERANGE;
        *ret = x * mult;
        return 0;
}

static int parse_endpoint(const char *v)
{
        const char *colon = strrchr(v, ':');
        uint64_t port;
        if (!colon || colon == v || safe_atou64(colon + 1, &port) < 0 || port < 1 || port > 65535)
                return -EINVAL;
        size_t hl = (size_t)(colon - v);
        char host[256];
        if (hl >= sizeof(host))
                return -EINVAL;
        memcpy(host, v, hl);
        host[hl] = 0;
        if (strcmp(host, "*") == 0)
                return 0;
        if (host[0] == '[') {
                struct in6_addr a6;
                if (hl < 3 || host[hl - 1] != ']')
                        return -EINVAL;
                host[hl - 1] = 0;
                return inet_pton(AF_INET6, host + 1, &a6) == 1 ? 0 : -EINVAL;
        }
        for (const char *p = host; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
                        return -EINVAL;
        return 0;
}

static const struct unit duration_units[] = {
        { "ms", 1 },       { "s", MS_SEC },  { "sec", MS_SEC }, { "m", MS_MIN },
        { "min", MS_MIN }, { "h", MS_HOUR }, { "d", MS_DAY },
};
static const struct unit size_units[] = {
        { "B", 1 },
        { "K", 1024 },
        { "KiB", 1024 },
        { "M", 1024 * 1024 },
        { "MiB", 1024 * 1024 },
        { "G", 1024 * 1024 * 1024ULL },
        { "GiB", 1024 * 1024 * 1024ULL },
};

int conf_value_parse(const struct conf_key *k, const char *v, struct conf_value *out, char *err,
                     size_t errlen)
{
        int r = 0;
        err[0] = 0;
        if (strlen(v) > CONF_MAX_VALUE) {
                snprintf(err, errlen, "value longer than %d characters", CONF_MAX_VALUE);
                return -EINVAL;
        }
        for (const char *p = v; *p; p++)
                if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                        snprintf(err, errlen, "control character in value");
                        return -EINVAL;
                }
        if (!*v && k->type != CONF_STRING && k->type != CONF_PATH) {
                snprintf(err, errlen, "empty value, expected %s", type_hint(k));
                return -EINVAL;
        }

        switch (k->type) {
        case CONF_STRING:
                break;
        case CONF_PATH:
                if (*v && *v != '/')
                        r = -EINVAL;
                break;
        case CONF_UINT:
                r = safe_atou64(v, &out->u);
                /* safe_atou64 may accept a sign or spaces; a config number is digits only */
                for (const char *p = v; r == 0 && *p; p++)
                        if (!isdigit((unsigned char)*p))
                                r = -EINVAL;
                break;
        case CONF_BOOL:
                r = parse_bool(v, &out->b);
                break;
        case CONF_DURATION_MS:
                r = parse_scaled(v, duration_units, ELEMENTSOF(duration_units), &out->u);
                break;
        case CONF_SIZE:
                r = parse_scaled(v, size_units, ELEMENTSOF(size_units), &out->u);
                break;
        case CONF_MODE: {
                uint64_t m = 0;
                const char *p = v;
                for (; *p >= '0' && *p <= '7'; p++)
                        m = m * 8 + (uint64_t)(*p - '0');
                if (*p || p - v > 5)
                        r = -EINVAL;
                out->u = m;
                break;
        }
        case CONF_ENUM: {
                bool b;
                r = k->choices && conf_value_in_list(k->choices, v, strlen(v), true) ? 0 : -EINVAL;
                /* yes|no enums take every boolean spelling */
                if (r < 0 && k->choices && strstr(k->choices, "yes|no") && parse_bool(v, &b) == 0)
                        r = 0;
                break;
        }
        case CONF_ENDPOINT:
                r = parse_endpoint(v);
                break;
        }
        if (r == -ERANGE) {
                snprintf(err, errlen, "number too large");
                return -EINVAL;
        }
        if (r < 0) {
                snprintf(err, errlen, "expected %s", type_hint(k));
                return -EINVAL;
        }
        if (conf_type_numeric(k->type) && (out->u < k->min || out->u > k->max)) {
                if (k->type == CONF_DURATION_MS)
                        snprintf(err, errlen, "out of range %" PRIu64 "ms..%" PRIu64 "ms", k->min,
                                 k->max);
                else if (k->type == CONF_MODE)
                        snprintf(err, errlen, "out of range 0..0%" PRIo64, k->max);
                else
                        snprintf(err, errlen, "out of range %" PRIu64 "..%" PRIu64, k->min, k->max);
                return -ERANGE;
        }
        if (k->check.fn)
                return k->check.fn(&k->check, v, out->u, err, errlen);
        return 0;
}

const char *conf_value_canonical(const struct conf_key *k, const char *v)
{
        bool b;
        if (k->type == CONF_ENUM && strstr(k->choices, "yes|no") && parse_bool(v, &b) == 0)
                return b ? "yes" : "no";
        return v;
}

void conf_value_clear(struct conf_value *v)
{
        free(v->text);
        *v = (struct conf_value){ 0 };
}

bool conf_value_equal(const struct conf_key *k, const struct conf_value *a,
                      const struct conf_value *b)
{
        if (conf_type_numeric(k->type))
                return a->u == b->u;
        if (k->type == CONF_BOOL)
                return a->b == b->b;
        if (!a->text || !b->text)
                return a->text == b->text;
        return strcmp(a->text, b->text) == 0;
}
