/*
 * conf.c — the configuration schema and the INI loader (see conf.h).
 *
 * Runs in the hub, in every collector and in the unit generator, once at start and on
 * SIGHUP. libinih does the tokenizing; this file feeds it through its own line reader
 * (so every message names the exact line, and over-long lines, NUL bytes and syntax
 * errors are caught before inih sees them), checks every key against the schema below
 * and every value against its type. It never exits, never touches the ring, and never
 * trusts the file: a bad file yields errors and no table, never a half-applied one.
 *
 * The schema is the single list of keys: units/ringhub.conf documents each one, and
 * tests check that the two agree in both directions.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <ini.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "macros.h"
#include "util.h"

#define CONF_MAX_FILE   (1024 * 1024) /* a config file larger than this is refused */
#define CONF_MAX_LINE   4096
#define CONF_MAX_VALUE  2048
#define CONF_MAX_ERRORS 50

#define MS_SEC  1000ULL
#define MS_MIN  (60 * MS_SEC)
#define MS_HOUR (60 * MS_MIN)
#define MS_DAY  (24 * MS_HOUR)

/* ---- extra value checks ---- */

static int check_ring_name(const char *v, char *err, size_t errlen)
{
        size_t n = strlen(v);
        if (n == 0 || n > 48 || v[0] == '.') {
                snprintf(err, errlen,
                         "a ring name is 1..48 characters and does not start with '.'");
                return -EINVAL;
        }
        for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-') {
                        snprintf(err, errlen,
                                 "a ring name may contain only letters, digits, '.', '_', '-'");
                        return -EINVAL;
                }
        return 0;
}

static int check_power_of_two(const char *v, char *err, size_t errlen)
{
        uint64_t u;
        if (safe_atou64(v, &u) == 0 && (u & (u - 1)) != 0) {
                snprintf(err, errlen, "the ring capacity must be a power of two");
                return -EINVAL;
        }
        return 0;
}

static int check_name(const char *v, char *err, size_t errlen)
{
        /* user/group names: what useradd accepts, bounded; empty = the creator's group */
        if (strlen(v) > 32)
                goto bad;
        for (const char *p = v; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.')
                        goto bad;
        if (*v == '-')
                goto bad;
        return 0;
bad:
        snprintf(err, errlen, "not a valid group name");
        return -EINVAL;
}

static int check_opcua_url(const char *v, char *err, size_t errlen)
{
        if (!startswith(v, "opc.tcp://") || strlen(v) <= strlen("opc.tcp://")) {
                snprintf(err, errlen, "expected opc.tcp://HOST:PORT[/PATH]");
                return -EINVAL;
        }
        return 0;
}

static int check_libvirt_uri(const char *v, char *err, size_t errlen)
{
        if (!strstr(v, ":///") && !strstr(v, "://")) {
                snprintf(err, errlen, "expected a libvirt URI such as qemu:///system");
                return -EINVAL;
        }
        return 0;
}

/* ---- the schema ---- */

#define K(sec, name, typ, dflt, lo, hi, rl, d)                                              \
        {                                                                                   \
                .section = (sec), .key = (name), .type = (typ), .def = (dflt), .min = (lo), \
                .max = (hi), .reload = (rl), .doc = (d)                                     \
        }
#define KE(sec, name, dflt, ch, rl, d)                                             \
        {                                                                          \
                .section = (sec), .key = (name), .type = CONF_ENUM, .def = (dflt), \
                .choices = (ch), .reload = (rl), .doc = (d)                        \
        }
#define KC(sec, name, typ, dflt, lo, hi, rl, chk, d)                                        \
        {                                                                                   \
                .section = (sec), .key = (name), .type = (typ), .def = (dflt), .min = (lo), \
                .max = (hi), .reload = (rl), .check = (chk), .doc = (d)                     \
        }
#define IV(sec, name, dflt, d) K(sec, name, CONF_DURATION_MS, dflt, 100, MS_DAY, true, d)
#define ENABLED(sec, dflt)                             \
        KE(sec, "enabled", dflt, "yes|no|auto", false, \
           "start this collector with ringhub.target (auto: when its source exists)")

static const struct conf_key schema[] = {
        /* [log] */
        KE("log", "level", "info", "debug|info|notice|warning|error", true,
           "lowest priority written to the journal"),

        /* [ring] */
        KC("ring", "name", CONF_STRING, "ringhub", 0, 0, false, check_ring_name,
           "shared-memory ring name (/dev/shm/NAME)"),
        KC("ring", "capacity", CONF_UINT, "4096", 64, 1u << 22, false, check_power_of_two,
           "slots when the ring is created (power of two, 64..4194304)"),
        K("ring", "mode", CONF_MODE, "0660", 0, 0777, false, "file mode of a new ring"),
        KC("ring", "group", CONF_STRING, "ringhub", 0, 0, false, check_name,
           "group owning a new ring; members may run ringhubctl (empty: creator's group)"),

        /* [hub] */
        K("hub", "listen", CONF_ENDPOINT, "0.0.0.0:8043", 0, 0, false,
          "address when not socket-activated (ringhub.socket sets the port otherwise)"),
        K("hub", "max_clients", CONF_UINT, "100", 1, 10000, true, "WebSocket clients at most"),
        K("hub", "max_message", CONF_SIZE, "16K", 1024, 16u << 20, true,
          "largest inbound WebSocket message"),
        K("hub", "ping_interval", CONF_DURATION_MS, "30s", 1 * MS_SEC, MS_HOUR, true,
          "WebSocket ping period"),
        K("hub", "read_deadline", CONF_DURATION_MS, "60s", 1 * MS_SEC, MS_HOUR, true,
          "close a client silent for this long"),
        K("hub", "queue", CONF_UINT, "256", 8, 65536, true,
          "messages queued per client before conflation, then close"),
        K("hub", "slow_timeout", CONF_DURATION_MS, "10s", 100, 10 * MS_MIN, true,
          "close a client that has been conflating this long"),
        K("hub", "head_timeout", CONF_DURATION_MS, "10s", 100, 10 * MS_MIN, true,
          "a request head must arrive within this time"),
        K("hub", "max_pending", CONF_UINT, "1024", 1, 65536, true,
          "connections still sending their request head"),
        K("hub", "http_connections", CONF_UINT, "1000", 1, 65536, true,
          "concurrent REST connections"),
        K("hub", "rate_limit", CONF_UINT, "20", 1, 100000, true,
          "inbound messages per second per client"),
        K("hub", "diagnostics_interval", CONF_DURATION_MS, "1s", 100, MS_MIN, true,
          "period of the hub's own diagnostics event"),
        KE("hub", "auth", "off", "off|token|jwt", true, "client authentication"),
        K("hub", "token_file", CONF_PATH, "/etc/ringhub/tokens", 0, 0, true,
          "API tokens, one 'TOKEN ROLE [NAME]' per line (auth = token)"),
        K("hub", "jwt_secret_file", CONF_PATH, "/etc/ringhub/jwt.secret", 0, 0, true,
          "HS256 secret (auth = jwt)"),

        /* [collector.system] */
        ENABLED("collector.system", "yes"),
        IV("collector.system", "interval", "5s", "CPU, memory, load, temperatures"),

        /* [collector.disks] */
        ENABLED("collector.disks", "yes"),
        IV("collector.disks", "interval", "30s", "disk list and I/O counters"),
        IV("collector.disks", "array_interval", "10s", "array / md / btrfs pool status"),
        IV("collector.disks", "shares_interval", "60s", "shares and mount usage"),
        IV("collector.disks", "smart_interval", "30min", "SMART poll (sleeping disks skipped)"),
        K("collector.disks", "smartctl", CONF_PATH, "/usr/sbin/smartctl", 0, 0, true,
          "smartctl binary (empty: no SMART)"),
        K("collector.disks", "mounts", CONF_STRING, "", 0, 0, true,
          "space-separated mount points reported as shares when Unraid's shares.ini is absent"),
        K("collector.disks", "mount_timeout", CONF_DURATION_MS, "500ms", 100, MS_MIN, true,
          "statvfs() deadline; a dead mount is reported, never waited for"),

        /* [collector.network] */
        ENABLED("collector.network", "yes"),
        IV("collector.network", "interval", "15s", "interfaces and counters"),
        K("collector.network", "interfaces", CONF_STRING, "", 0, 0, true,
          "space-separated interface names or globs (empty: all)"),

        /* [collector.docker] */
        ENABLED("collector.docker", "auto"),
        IV("collector.docker", "interval", "10s", "containers, state and stats"),
        K("collector.docker", "socket", CONF_PATH, "/var/run/docker.sock", 0, 0, false,
          "Docker Engine API socket"),
        K("collector.docker", "stats", CONF_BOOL, "yes", 0, 0, true,
          "read per-container CPU/memory/network stats"),

        /* [collector.vm] */
        ENABLED("collector.vm", "auto"),
        IV("collector.vm", "interval", "10s", "domains and their state"),
        KC("collector.vm", "uri", CONF_STRING, "qemu:///system", 0, 0, false, check_libvirt_uri,
           "libvirt connection URI"),

        /* [collector.ups] */
        ENABLED("collector.ups", "no"),
        IV("collector.ups", "interval", "10s", "UPS status"),
        KE("collector.ups", "driver", "nut", "nut|apcupsd", false, "protocol"),
        K("collector.ups", "server", CONF_ENDPOINT, "127.0.0.1:3493", 0, 0, false,
          "upsd (3493) or apcupsd NIS (3551) address"),
        K("collector.ups", "name", CONF_STRING, "", 0, 0, false,
          "NUT UPS name (empty: the first one upsd lists)"),

        /* [collector.gpu] */
        ENABLED("collector.gpu", "auto"),
        IV("collector.gpu", "interval", "10s", "GPU utilisation, memory, temperature"),
        K("collector.gpu", "nvml", CONF_BOOL, "yes", 0, 0, false,
          "try NVIDIA's NVML (dlopen) before sysfs"),

        /* [collector.plc] */
        ENABLED("collector.plc", "no"),
        K("collector.plc", "interval", CONF_DURATION_MS, "1s", 50, MS_HOUR, true, "Modbus poll"),
        K("collector.plc", "server", CONF_ENDPOINT, "127.0.0.1:502", 0, 0, false,
          "Modbus TCP server"),
        K("collector.plc", "unit_id", CONF_UINT, "1", 0, 255, false, "Modbus unit id"),
        K("collector.plc", "map", CONF_PATH, "/etc/ringhub/plc.map", 0, 0, false,
          "tag and machine map"),

        /* [collector.opcua] */
        ENABLED("collector.opcua", "no"),
        K("collector.opcua", "interval", CONF_DURATION_MS, "1s", 50, MS_HOUR, true,
          "publishing interval requested from the server"),
        KC("collector.opcua", "endpoint", CONF_STRING, "opc.tcp://127.0.0.1:4840", 0, 0, false,
           check_opcua_url, "OPC UA server endpoint URL"),
        K("collector.opcua", "tags", CONF_STRING, "", 0, 0, false,
          "space-separated node ids to monitor, e.g. ns=1;s=Plant.Temperature"),
        K("collector.opcua", "reconnect_max", CONF_DURATION_MS, "10s", 1 * MS_SEC, MS_HOUR, true,
          "longest back-off between reconnects"),
};

const struct conf_key *conf_schema(size_t *ret_n)
{
        if (ret_n)
                *ret_n = ELEMENTSOF(schema);
        return schema;
}

static int schema_index(const char *section, const char *key)
{
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (strcmp(schema[i].section, section) == 0 && strcmp(schema[i].key, key) == 0)
                        return (int)i;
        return -1;
}

const struct conf_key *conf_schema_find(const char *section, const char *key)
{
        if (!section || !key)
                return NULL;
        int i = schema_index(section, key);
        return i < 0 ? NULL : &schema[i];
}

static bool section_known(const char *section)
{
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (strcmp(schema[i].section, section) == 0)
                        return true;
        return false;
}

/* ---- values ---- */

struct conf_value {
        char *text; /* as written (or the default); NULL = unset */
        uint64_t u;
        bool b;
        bool set;      /* by the file */
        unsigned line; /* where */
};

struct conf {
        char *path;     /* the file asked for */
        unsigned flags; /* as given to conf_load(), for conf_reload() */
        bool missing;   /* the file did not exist: all defaults */
        struct conf_value v[ELEMENTSOF(schema)];
};

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

/* Parse text for key k into out (text not copied). On error, err says why. */
static int value_parse(const struct conf_key *k, const char *v, struct conf_value *out, char *err,
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
                const char *c = k->choices;
                size_t n = strlen(v);
                r = -EINVAL;
                while (c && *c) {
                        const char *e = strchrnul(c, '|');
                        if ((size_t)(e - c) == n && strncasecmp(c, v, n) == 0) {
                                r = 0;
                                break;
                        }
                        c = *e ? e + 1 : e;
                }
                bool b;
                /* yes|no enums take every boolean spelling */
                if (r < 0 && strstr(k->choices, "yes|no") && parse_bool(v, &b) == 0)
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
        if ((k->type == CONF_UINT || k->type == CONF_DURATION_MS || k->type == CONF_SIZE ||
             k->type == CONF_MODE) &&
            (out->u < k->min || out->u > k->max)) {
                if (k->type == CONF_DURATION_MS)
                        snprintf(err, errlen, "out of range %" PRIu64 "ms..%" PRIu64 "ms", k->min,
                                 k->max);
                else if (k->type == CONF_MODE)
                        snprintf(err, errlen, "out of range 0..0%" PRIo64, k->max);
                else
                        snprintf(err, errlen, "out of range %" PRIu64 "..%" PRIu64, k->min, k->max);
                return -ERANGE;
        }
        if (k->check)
                return k->check(v, err, errlen);
        return 0;
}

/* Canonical text of an enum value (bool spellings of yes|no enums become yes/no). */
static const char *enum_canonical(const struct conf_key *k, const char *v)
{
        bool b;
        if (strstr(k->choices, "yes|no") && parse_bool(v, &b) == 0)
                return b ? "yes" : "no";
        return v;
}

static void value_clear(struct conf_value *v)
{
        free(v->text);
        *v = (struct conf_value){ 0 };
}

static int value_set_default(size_t i, struct conf_value *out)
{
        const struct conf_key *k = &schema[i];
        char err[160];
        value_clear(out);
        if (!k->def)
                return 0;
        int r = value_parse(k, k->def, out, err, sizeof(err));
        assert(r == 0); /* conf_test checks every default */
        if (r < 0)
                return r;
        out->text = strdup(k->def);
        return out->text ? 0 : -ENOMEM;
}

static struct conf *conf_new_defaults(void)
{
        struct conf *c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                if (value_set_default(i, &c->v[i]) < 0)
                        return conf_free(c);
        return c;
}

struct conf *conf_free(struct conf *c)
{
        if (!c)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++)
                free(c->v[i].text);
        free(c->path);
        free(c);
        return NULL;
}

const char *conf_source(const struct conf *c)
{
        return c && !c->missing ? c->path : NULL;
}

/* ---- parsing ---- */

struct parse_state {
        FILE *f;
        const char *path;
        char *line;
        size_t cap;
        unsigned lineno;
        struct conf *conf;
        char *errors; /* joined messages */
        size_t errors_len;
        unsigned n_errors;
        bool collect; /* true: keep in errors; false: log each */
        bool oom;
};

static void perr(struct parse_state *s, unsigned line, const char *fmt, ...) _printf_(3, 4);
static void perr(struct parse_state *s, unsigned line, const char *fmt, ...)
{
        char msg[512];
        va_list ap;
        int n = snprintf(msg, sizeof(msg), "%s:%u: ", s->path, line);
        va_start(ap, fmt);
        vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
        va_end(ap);

        s->n_errors++;
        if (s->n_errors > CONF_MAX_ERRORS)
                return;
        if (s->n_errors == CONF_MAX_ERRORS)
                snprintf(msg, sizeof(msg), "%s: too many errors, giving up", s->path);
        if (!s->collect) {
                log_error("%s", msg);
                return;
        }
        size_t l = strlen(msg);
        char *e = realloc(s->errors, s->errors_len + l + 2);
        if (!e) {
                s->oom = true;
                return;
        }
        s->errors = e;
        if (s->errors_len)
                s->errors[s->errors_len++] = '\n';
        memcpy(s->errors + s->errors_len, msg, l + 1);
        s->errors_len += l;
}

/* Bounded copy of user text for messages: printable, at most 40 characters. */
static const char *quote(const char *v, char *buf, size_t size)
{
        size_t o = 0;
        for (const char *p = v; *p && o + 4 < size; p++)
                buf[o++] = (unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p;
        if (o + 4 >= size && strlen(v) > o) {
                buf[o - 3] = buf[o - 2] = buf[o - 1] = '.';
        }
        buf[o] = 0;
        return buf;
}

/* Levenshtein distance, small strings only; for "did you mean". */
static unsigned edit_distance(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        unsigned row[64];
        if (la >= ELEMENTSOF(row) || lb >= ELEMENTSOF(row))
                return 99;
        for (size_t j = 0; j <= lb; j++)
                row[j] = (unsigned)j;
        for (size_t i = 1; i <= la; i++) {
                unsigned prev = row[0];
                row[0] = (unsigned)i;
                for (size_t j = 1; j <= lb; j++) {
                        unsigned cur = row[j];
                        unsigned sub = prev + (tolower((unsigned char)a[i - 1]) !=
                                               tolower((unsigned char)b[j - 1]));
                        row[j] = MIN(MIN(row[j] + 1, row[j - 1] + 1), sub);
                        prev = cur;
                }
        }
        return row[lb];
}

static const char *suggest_key(const char *section, const char *key)
{
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                if (strcmp(schema[i].section, section) != 0)
                        continue;
                unsigned d = edit_distance(key, schema[i].key);
                if (d < bd) {
                        bd = d;
                        best = schema[i].key;
                }
        }
        return best;
}

static const char *suggest_section(const char *section)
{
        const char *best = NULL;
        unsigned bd = 3;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                unsigned d = edit_distance(section, schema[i].section);
                if (d < bd) {
                        bd = d;
                        best = schema[i].section;
                }
        }
        return best;
}

/*
 * Our reader for ini_parse_stream(): one physical line per call, so inih's line count
 * and ours agree. Lines inih would misread (too long, NUL bytes, no '=' and not a
 * section or comment) are reported here and handed to inih as blank lines.
 */
static char *conf_reader(char *str, int num, void *stream)
{
        struct parse_state *s = stream;
        ssize_t n = getline(&s->line, &s->cap, s->f);
        if (n < 0)
                return NULL;
        s->lineno++;
        if (memchr(s->line, 0, (size_t)n)) {
                perr(s, s->lineno, "NUL byte in line");
                goto blank;
        }
        if (n > num - 3 || n > CONF_MAX_LINE - 3) {
                perr(s, s->lineno, "line longer than %d characters", CONF_MAX_LINE - 3);
                goto blank;
        }

        const char *p = s->line;
        if (s->lineno == 1 && startswith(p, "\xEF\xBB\xBF"))
                p += 3;
        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '[') {
                const char *e = strchr(p, ']');
                const char *t = e ? e + 1 : NULL;
                while (t && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n'))
                        t++;
                if (!e || *t) {
                        perr(s, s->lineno, "syntax error: expected '[section]'");
                        goto blank;
                }
                /* An unknown section is reported here, at its header, even when it holds
                 * no keys; the handler then skips its keys silently. */
                char name[128];
                size_t nl = (size_t)(e - p - 1);
                char q[48];
                if (nl >= sizeof(name))
                        nl = sizeof(name) - 1;
                memcpy(name, p + 1, nl);
                name[nl] = 0;
                if (!section_known(name)) {
                        const char *sug = suggest_section(name);
                        perr(s, s->lineno, "unknown section [%s]%s%s%s", quote(name, q, sizeof(q)),
                             sug ? ", did you mean [" : "", sug ? sug : "", sug ? "]?" : "");
                }
        } else if (*p && *p != '\n' && *p != '\r' && *p != '#' && *p != ';') {
                const char *eq = strpbrk(p, "=:");
                if (!eq || eq == p) {
                        perr(s, s->lineno, "syntax error: expected 'key = value'");
                        goto blank;
                }
        }
        memcpy(str, s->line, (size_t)n + 1);
        return str;
blank:
        strcpy(str, "\n");
        return str;
}

static int conf_handler(void *user, const char *section, const char *name, const char *value)
{
        struct parse_state *s = user;
        char q1[48], q2[48], q3[48], err[200];
        unsigned line = s->lineno;

        if (!*section) {
                perr(s, line, "key '%s' outside a section", quote(name, q1, sizeof(q1)));
                return 1;
        }
        if (!section_known(section))
                return 1; /* reported at its header by conf_reader() */
        int i = schema_index(section, name);
        if (i < 0) {
                const char *sug = suggest_key(section, name);
                perr(s, line, "unknown key '%s' in [%s]%s%s%s", quote(name, q1, sizeof(q1)),
                     quote(section, q2, sizeof(q2)), sug ? ", did you mean '" : "", sug ? sug : "",
                     sug ? "'?" : "");
                return 1;
        }
        const struct conf_key *k = &schema[i];
        struct conf_value *cv = &s->conf->v[i];
        if (cv->set) {
                perr(s, line, "duplicate key '%s' in [%s] (first set on line %u)", k->key,
                     k->section, cv->line);
                return 1;
        }
        struct conf_value nv = { 0 };
        if (value_parse(k, value, &nv, err, sizeof(err)) < 0) {
                perr(s, line, "bad value '%s' for '%s' in [%s]: %s", quote(value, q3, sizeof(q3)),
                     k->key, k->section, err);
                return 1;
        }
        nv.text = strdup(k->type == CONF_ENUM ? enum_canonical(k, value) : value);
        if (!nv.text) {
                s->oom = true;
                return 0;
        }
        nv.set = true;
        nv.line = line;
        value_clear(cv);
        *cv = nv;
        return 1;
}

/* Rules that span keys. */
static void conf_check_cross(struct parse_state *s)
{
        struct conf *c = s->conf;
        int ia = schema_index("hub", "auth");
        const char *auth = c->v[ia].text;
        const char *need = strcmp(auth, "token") == 0 ? "token_file"
                           : strcmp(auth, "jwt") == 0 ? "jwt_secret_file"
                                                      : NULL;
        if (need) {
                int ip = schema_index("hub", need);
                if (!c->v[ip].text || !*c->v[ip].text)
                        perr(s, c->v[ia].set ? c->v[ia].line : c->v[ip].line,
                             "auth = %s needs %s in [hub]", auth, need);
        }
}

int conf_load(const char *path, unsigned flags, struct conf **ret, char **ret_errors)
{
        if (!path || !ret)
                return -EINVAL;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                if (r == -ENOENT && (flags & CONF_MISSING_OK)) {
                        struct conf *c = conf_new_defaults();
                        if (!c || !(c->path = strdup(path))) {
                                conf_free(c);
                                return -ENOMEM;
                        }
                        c->flags = flags;
                        c->missing = true;
                        *ret = c;
                        return 0;
                }
                if (ret_errors)
                        (void)asprintf(ret_errors, "%s: cannot open: %s", path, strerror(-r));
                else
                        log_error_errno(r, "%s: cannot open: %m", path);
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || st.st_size > CONF_MAX_FILE) {
                if (ret_errors)
                        (void)asprintf(ret_errors, "%s: not a regular file of at most %d bytes",
                                       path, CONF_MAX_FILE);
                else
                        log_error("%s: not a regular file of at most %d bytes", path,
                                  CONF_MAX_FILE);
                return -EINVAL;
        }
        _cleanup_fclose_ FILE *f = fdopen(fd, "re");
        if (!f)
                return -errno;
        TAKE_FD(fd);

        struct parse_state s = {
                .f = f,
                .path = path,
                .collect = ret_errors != NULL,
        };
        s.conf = conf_new_defaults();
        if (!s.conf)
                return -ENOMEM;
        s.conf->path = strdup(path);
        if (!s.conf->path) {
                conf_free(s.conf);
                return -ENOMEM;
        }
        s.conf->flags = flags;

        /* Process-wide inih settings; only this file uses inih. Values are literal: no
         * inline comments (OPC UA node ids contain ';'), no continuation lines. */
        ini_allow_inline_comments = false;
        ini_allow_multiline = false;
        ini_stop_on_first_error = false;
        ini_max_line = CONF_MAX_LINE;

        int r = ini_parse_stream(conf_reader, &s, conf_handler, &s);
        free(s.line);
        if (r > 0 && s.n_errors == 0)
                perr(&s, (unsigned)r, "syntax error");
        if (r == -2 || s.oom) {
                conf_free(s.conf);
                free(s.errors);
                return -ENOMEM;
        }
        if (ferror(f))
                perr(&s, s.lineno, "read error");
        if (s.n_errors == 0)
                conf_check_cross(&s);
        if (s.n_errors > 0) {
                conf_free(s.conf);
                if (ret_errors)
                        *ret_errors = TAKE_PTR(s.errors);
                free(s.errors);
                return -EINVAL;
        }
        *ret = s.conf;
        return 0;
}

const char *conf_path_from_args(int argc, char *const *argv, bool *ret_explicit)
{
        for (int i = 1; argv && i < argc && argv[i]; i++) {
                if (strcmp(argv[i], "--") == 0)
                        break;
                if (strcmp(argv[i], "--config") == 0 && i + 1 < argc && argv[i + 1]) {
                        if (ret_explicit)
                                *ret_explicit = true;
                        return argv[i + 1];
                }
                if (startswith(argv[i], "--config=")) {
                        if (ret_explicit)
                                *ret_explicit = true;
                        return argv[i] + strlen("--config=");
                }
        }
        const char *e = getenv(CONF_ENV);
        if (e && *e) {
                if (ret_explicit)
                        *ret_explicit = true;
                return e;
        }
        if (ret_explicit)
                *ret_explicit = false;
        return CONF_DEFAULT_PATH;
}

int conf_load_from_args(int argc, char *const *argv, struct conf **ret)
{
        bool explicit;
        const char *path = conf_path_from_args(argc, argv, &explicit);
        return conf_load(path, explicit ? 0 : CONF_MISSING_OK, ret, NULL);
}

int conf_reload(struct conf **c, struct conf **ret_old)
{
        if (!c || !ret_old)
                return -EINVAL;
        struct conf *n = NULL;
        int r;
        if (!*c)
                r = conf_load(CONF_DEFAULT_PATH, CONF_MISSING_OK, &n, NULL);
        else
                r = conf_load((*c)->path, (*c)->flags, &n, NULL);
        if (r < 0)
                return r;
        *ret_old = *c;
        *c = n;
        return 0;
}

/* ---- lookups ---- */

static const struct conf_value *lookup(const struct conf *c, const char *section, const char *key,
                                       struct conf_value *tmp, const struct conf_key **ret_k)
{
        int i = section && key ? schema_index(section, key) : -1;
        assert(i >= 0 && "unknown config key");
        if (i < 0)
                return NULL;
        *ret_k = &schema[i];
        if (c)
                return &c->v[i];
        /* no table: the default, parsed on the fly */
        char err[160];
        *tmp = (struct conf_value){ .text = (char *)schema[i].def };
        if (schema[i].def)
                (void)value_parse(&schema[i], schema[i].def, tmp, err, sizeof(err));
        return tmp;
}

const char *conf_get_string(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return NULL;
        assert(k->type == CONF_STRING || k->type == CONF_PATH || k->type == CONF_ENUM ||
               k->type == CONF_ENDPOINT);
        return v->text;
}

uint64_t conf_get_uint(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return 0;
        assert(k->type == CONF_UINT || k->type == CONF_DURATION_MS || k->type == CONF_SIZE ||
               k->type == CONF_MODE);
        return v->u;
}

bool conf_get_bool(const struct conf *c, const char *section, const char *key)
{
        struct conf_value tmp;
        const struct conf_key *k;
        const struct conf_value *v = lookup(c, section, key, &tmp, &k);
        if (!v)
                return false;
        assert(k->type == CONF_BOOL);
        return v->b;
}

bool conf_is_set(const struct conf *c, const char *section, const char *key)
{
        int i = section && key ? schema_index(section, key) : -1;
        return c && i >= 0 && c->v[i].set;
}

int conf_collector_interval_ms(const struct conf *c, const char *collector, const char *task,
                               uint64_t *ret)
{
        char section[64], key[64];
        if (!collector || !ret)
                return -EINVAL;
        if (snprintf(section, sizeof(section), "collector.%s", collector) >= (int)sizeof(section))
                return -ENOENT;
        if (!task)
                strscpy(key, sizeof(key), "interval");
        else if (snprintf(key, sizeof(key), "%s_interval", task) >= (int)sizeof(key))
                return -ENOENT;
        int i = schema_index(section, key);
        if (i < 0)
                return -ENOENT;
        if (!c || !c->v[i].set)
                return 0;
        *ret = c->v[i].u;
        return 1;
}

const char *conf_collector_enabled(const struct conf *c, const char *collector)
{
        char section[64];
        if (!collector ||
            snprintf(section, sizeof(section), "collector.%s", collector) >= (int)sizeof(section))
                return NULL;
        int i = schema_index(section, "enabled");
        if (i < 0)
                return NULL;
        return c ? c->v[i].text : schema[i].def;
}

gid_t conf_ring_gid(const struct conf *c)
{
        const char *name = conf_get_string(c, "ring", "group");
        if (!name || !*name)
                return (gid_t)-1;
        errno = 0;
        struct group *g = getgrnam(name);
        if (!g) {
                log_warning("[ring] group '%s' does not exist, ring keeps its creator's group",
                            name);
                return (gid_t)-1;
        }
        return g->gr_gid;
}

/* ---- diff and dump ---- */

static bool value_equal(const struct conf_key *k, const struct conf_value *a,
                        const struct conf_value *b)
{
        switch (k->type) {
        case CONF_UINT:
        case CONF_DURATION_MS:
        case CONF_SIZE:
        case CONF_MODE:
                return a->u == b->u;
        case CONF_BOOL:
                return a->b == b->b;
        default:
                if (!a->text || !b->text)
                        return a->text == b->text;
                return strcmp(a->text, b->text) == 0;
        }
}

unsigned conf_diff(const struct conf *a, const struct conf *b, conf_change_fn fn, void *userdata)
{
        unsigned n = 0;
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                struct conf_value ta, tb;
                const struct conf_key *k;
                const struct conf_value *va = lookup(a, schema[i].section, schema[i].key, &ta, &k);
                const struct conf_value *vb = lookup(b, schema[i].section, schema[i].key, &tb, &k);
                if (value_equal(k, va, vb))
                        continue;
                n++;
                if (fn)
                        fn(k, va->text, vb->text, userdata);
        }
        return n;
}

void conf_dump(const struct conf *c, FILE *f)
{
        const char *last = NULL;
        fprintf(f, "# effective configuration (%s)\n",
                c && c->path ? c->path : "built-in defaults");
        for (size_t i = 0; i < ELEMENTSOF(schema); i++) {
                const struct conf_key *k = &schema[i];
                if (!last || strcmp(last, k->section) != 0) {
                        fprintf(f, "%s[%s]\n", last ? "\n" : "", k->section);
                        last = k->section;
                }
                const struct conf_value *v = c ? &c->v[i] : NULL;
                const char *text = v ? v->text : k->def;
                if (v && v->set)
                        fprintf(f, "%s = %s  # line %u\n", k->key, text ? text : "", v->line);
                else
                        fprintf(f, "%s = %s  # default\n", k->key, text ? text : "");
        }
}
