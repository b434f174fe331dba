/*
 * conf_check.c — generic value validators that the key table parameterises (conf.h).
 *
 * A key in conf_keys.def names one of these with its parameters (CHECK_NAME("ring
 * name", 1, 48, "."), CHECK_URL("opc.tcp", …)); the loader calls it after the type and
 * range checks pass. They know shapes, never products: what a ring, a group or a libvirt
 * URI is lives in the table. Pure functions; the message completes "bad value …: ".
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "conf_internal.h"

int conf_check_name(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                    size_t errlen)
{
        size_t n = strlen(value);
        bool ok = n >= ck->lo && n <= ck->hi && !(n > 0 && ck->arg && strchr(ck->arg, value[0]));
        for (const char *p = value; ok && *p; p++)
                ok = isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-';
        if (ok)
                return 0;
        snprintf(err, errlen,
                 "expected a %s: %" PRIu64 "..%" PRIu64 " letters, digits, '.', '_' or '-'%s%s%s",
                 ck->what, ck->lo, ck->hi, ck->arg ? ", not starting with '" : "",
                 ck->arg ? ck->arg : "", ck->arg ? "'" : "");
        return -EINVAL;
}

int conf_check_pow2(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                    size_t errlen)
{
        if (number != 0 && (number & (number - 1)) == 0)
                return 0;
        snprintf(err, errlen, "expected a power of two");
        return -EINVAL;
}

int conf_check_url(const struct conf_check *ck, const char *value, uint64_t number, char *err,
                   size_t errlen)
{
        /* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) */
        const char *p = value;
        bool ok = isalpha((unsigned char)*p);
        while (ok && (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.'))
                p++;
        size_t scheme = (size_t)(p - value);
        ok = ok && strncmp(p, "://", 3) == 0 && strlen(p + 3) >= ck->lo;
        if (ok && ck->arg)
                ok = conf_value_in_list(ck->arg, value, scheme, false);
        if (ok)
                return 0;
        snprintf(err, errlen, "expected %s", ck->what);
        return -EINVAL;
}
