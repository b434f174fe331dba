/*
 * jsonfmt.c — JSON parsing and the text formats the wire uses (see jsonfmt.h).
 *
 * Process: ringhub, any thread. Pure helpers: no client, dialect or socket here.
 */
#include "jsonfmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

json_object *jsonfmt_parse(const char *msg, size_t len)
{
        if (len > INT32_MAX)
                return NULL;
        json_tokener *tok = json_tokener_new_ex(32);
        if (!tok)
                return NULL;
        json_object *o = json_tokener_parse_ex(tok, msg, (int)len);
        bool bad = !o || json_tokener_get_error(tok) != json_tokener_success;
        if (!bad) {
                /* Only whitespace may follow the value. */
                for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                        if (!strchr(" \t\r\n", msg[i])) {
                                bad = true;
                                break;
                        }
        }
        json_tokener_free(tok);
        if (bad) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

size_t jsonfmt_iso8601(char *buf, size_t size, uint64_t ns)
{
        time_t s = (time_t)(ns / NSEC_PER_SEC);
        struct tm tm;
        if (!gmtime_r(&s, &tm))
                return 0;
        int n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned)(ns % NSEC_PER_SEC / NSEC_PER_MSEC));
        return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

size_t jsonfmt_pyauto_time(char *buf, size_t size, uint64_t ns)
{
        time_t s = (time_t)(ns / NSEC_PER_SEC);
        struct tm tm;
        if (!localtime_r(&s, &tm))
                return 0;
        int n = snprintf(buf, size, "%02d/%02d/%04d, %02d:%02d:%02d.%06u", tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         (unsigned)(ns % NSEC_PER_SEC / 1000));
        return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int jsonfmt_uuid4(char out[JSONFMT_UUID_LEN + 1])
{
        uint8_t b[16];
        if (getrandom(b, sizeof(b), 0) != sizeof(b))
                return -errno;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        snprintf(out, JSONFMT_UUID_LEN + 1,
                 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                 b[15]);
        return 0;
}

size_t jsonfmt_double(char *buf, size_t size, double v)
{
        if (size < 40)
                return 0;
        if (!isfinite(v))
                return (size_t)snprintf(buf, size, "null");
        snprintf(buf, size, "%.15g", v);
        if (strtod(buf, NULL) != v)
                snprintf(buf, size, "%.17g", v);
        if (!strpbrk(buf, ".eEn"))
                strcat(buf, ".0");
        return strlen(buf);
}

const char *jsonfmt_text(json_object *o, size_t *ret_len)
{
        return json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, ret_len);
}
