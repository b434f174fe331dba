/*
 * plc_map.c — the PLC map file (INI, parsed with libinih) and --machine flags, checked
 * and planned into merged Modbus reads.
 *
 * Runs on the collector's main thread before any device thread exists. Key names follow
 * Telegraf's modbus "request" configuration where one exists (slave_id, byte_order,
 * register, address, type, scale). Sections may come in any order: raw strings are kept
 * while parsing and resolved by plc_map_finish(). Errors are "FILE:LINE: …", one per
 * problem, and the collector exits with the usage code.
 *
 *   [defaults]     scan_time (ms, "100ms", "2s"), timeout, byte_order, reconnect_max,
 *                  merge_gap (unused registers a merged read may span, default 0)
 *   [device.NAME]  host, port (502), slave_id | unit_id (1), timeout, scan_time,
 *                  byte_order; or controller = tcp://HOST:PORT
 *   [tag.NAME]     device (default: the only device), register | area (coil, discrete,
 *                  holding, input), address (0-based, or 00001/10001/30001/40001 forms),
 *                  type (bool, int16, uint16, int32, uint32, int64, uint64, float32,
 *                  float64, bit + bit = N), byte_order (ABCD, CDAB, BADC, DCBA), scale,
 *                  offset, unit, description, deadband, scan_time
 *   [machine.ID]   type = carousel (host, port 3200, timeout, scan_time, estop_command
 *                  (default 2, "none" to disable), estop_argument (0)) or modbus (device,
 *                  status, position, command, argument, move_command (1), estop,
 *                  estop_value (1); register refs as 40001 or holding:0 or coil:3)
 */
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "macros.h"
#include "plc_map.h"
#include "plc_map_impl.h"
#include "util.h"

#define DEFAULT_TIMEOUT_MS    1000u
#define DEFAULT_RECONNECT_MAX 10000u
#define CAROUSEL_PORT         3200u
#define CAROUSEL_ESTOP_CMD    2 /* not in the documented protocol: see the map-file docs */

struct parse_ctx {
        struct plc_map *m;
        const char *path;
        FILE *f;
        unsigned line;
        int errors;
};

void plc_map_init(struct plc_map *m, uint32_t default_scan_ms)
{
        *m = (struct plc_map){ .default_scan_ms = default_scan_ms,
                               .default_timeout_ms = DEFAULT_TIMEOUT_MS,
                               .reconnect_max_ms = DEFAULT_RECONNECT_MAX,
                               .default_order = PLC_ORDER_ABCD,
                               .path = "--machine" };
}

static struct plc_map_raw *raw_of(struct plc_map *m)
{
        if (!m->raw)
                m->raw = calloc(1, sizeof(*m->raw));
        return m->raw;
}

void plc_map_free(struct plc_map *m)
{
        free(m->tags);
        m->tags = NULL;
        m->n_tags = m->cap_tags = 0;
        if (m->raw)
                free(m->raw->tags);
        free(m->raw);
        m->raw = NULL;
}

int plc_machine_find(const struct plc_map *m, const char *id)
{
        for (unsigned i = 0; i < m->n_machines; i++)
                if (strcmp(m->machines[i].id, id) == 0)
                        return (int)i;
        return -ENOENT;
}

int plc_tag_find(const struct plc_map *m, const char *name)
{
        for (unsigned i = 0; i < m->n_tags; i++)
                if (strcmp(m->tags[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

int plc_map_device_find(const struct plc_map *m, const char *name)
{
        for (unsigned i = 0; i < m->n_devices; i++)
                if (strcmp(m->devices[i].name, name) == 0)
                        return (int)i;
        return -ENOENT;
}

/* "250", "250ms", "2s", "1min" → ms within [min, max]. */
static int parse_ms(const char *s, uint32_t min, uint32_t max, uint32_t *ret)
{
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || !(v >= 0))
                return -EINVAL;
        while (*end == ' ')
                end++;
        if (strcasecmp(end, "s") == 0)
                v *= 1000;
        else if (strcasecmp(end, "min") == 0)
                v *= 60000;
        else if (*end && strcasecmp(end, "ms") != 0)
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = (uint32_t)v;
        return 0;
}

int plc_map_parse_uint(const char *s, uint64_t max, uint64_t *ret)
{
        uint64_t v;
        /* Decimal only: strtoull's base 0 would read "010" as octal. */
        for (const char *p = s; *p; p++)
                if ((*p < '0' || *p > '9') && *p != ' ')
                        return -EINVAL;
        if (safe_atou64(s, &v) < 0 || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static int parse_port(const char *s, uint16_t *ret)
{
        uint64_t p;
        if (plc_map_parse_uint(s, 65535, &p) < 0 || p == 0)
                return -ERANGE;
        *ret = (uint16_t)p;
        return 0;
}

static int parse_double(const char *s, double *ret)
{
        double d;
        if (safe_atod(s, &d) < 0 || !isfinite(d))
                return -EINVAL;
        *ret = d;
        return 0;
}

/* A machine's register: "40001", "30005", "00003", "holding:0", "coil:3". */
static int parse_ref(const char *s, struct plc_reg_ref *ret)
{
        struct plc_reg_ref r = { .set = true, .area = PLC_AREA_NONE };
        const char *colon = strchr(s, ':');
        if (colon) {
                char area[24];
                if ((size_t)(colon - s) >= sizeof(area))
                        return -EINVAL;
                memcpy(area, s, (size_t)(colon - s));
                area[colon - s] = 0;
                if (plc_area_from_name(area, &r.area) < 0)
                        return -EINVAL;
                s = colon + 1;
        }
        if (plc_address_parse(s, &r.area, &r.address) < 0)
                return -EINVAL;
        *ret = r;
        return 0;
}

static int host_port(const char *s, char *host, size_t hsize, uint16_t *port)
{
        const char *colon = strrchr(s, ':');
        if (*s == '[') { /* [v6]:port */
                const char *close = strchr(s, ']');
                if (!close || close[1] != ':' || (size_t)(close - s - 1) >= hsize)
                        return -EINVAL;
                memcpy(host, s + 1, (size_t)(close - s - 1));
                host[close - s - 1] = 0;
                colon = close + 1;
        } else {
                if (!colon || colon == s || (size_t)(colon - s) >= hsize)
                        return -EINVAL;
                memcpy(host, s, (size_t)(colon - s));
                host[colon - s] = 0;
        }
        return parse_port(colon + 1, port) < 0 ? -EINVAL : 0;
}

static struct plc_machine_conf *machine_get(struct plc_map *m, const char *id, bool *created)
{
        int i = plc_machine_find(m, id);
        *created = false;
        if (i >= 0)
                return &m->machines[i];
        if (m->n_machines >= PLC_MAX_MACHINES || strlen(id) >= sizeof(m->machines[0].id) || !*id)
                return NULL;
        struct plc_machine_conf *mc = &m->machines[m->n_machines];
        *mc = (struct plc_machine_conf){ .kind = PLC_MACHINE_CAROUSEL,
                                         .port = CAROUSEL_PORT,
                                         .estop_command = CAROUSEL_ESTOP_CMD,
                                         .move_command = 1,
                                         .estop_value = 1 };
        strscpy(mc->id, sizeof(mc->id), id);
        strscpy(mc->name, sizeof(mc->name), id);
        m->n_machines++;
        *created = true;
        return mc;
}

int plc_map_add_machine_arg(struct plc_map *m, const char *spec)
{
        char buf[256], id[32];
        bool created;
        if (strscpy(buf, sizeof(buf), spec))
                return log_error_errno(-EINVAL, "--machine: '%.40s…' is too long", spec);
        char *eq = strchr(buf, '='), *opts = strchr(buf, ',');
        if (!eq || eq == buf || (opts && opts < eq) || (size_t)(eq - buf) >= sizeof(id))
                return log_error_errno(-EINVAL, "--machine: '%s' is not ID=HOST:PORT[,name=NAME]",
                                       spec);
        *eq = 0;
        strscpy(id, sizeof(id), buf);
        if (opts)
                *opts++ = 0;
        struct plc_machine_conf *mc = machine_get(m, id, &created);
        if (!mc || !created)
                return log_error_errno(-EINVAL, "--machine %s: %s", id,
                                       mc ? "given twice" : "too many machines or bad id");
        if (host_port(eq + 1, mc->host, sizeof(mc->host), &mc->port) < 0)
                return log_error_errno(-EINVAL, "--machine %s: '%s' is not HOST:PORT", id, eq + 1);
        while (opts && *opts) {
                char *next = strchr(opts, ',');
                if (next)
                        *next++ = 0;
                if (startswith(opts, "name="))
                        strscpy(mc->name, sizeof(mc->name), opts + 5);
                else
                        return log_error_errno(-EINVAL, "--machine %s: unknown option '%s'", id,
                                               opts);
                opts = next;
        }
        return 0;
}

static int defaults_key(struct plc_map *m, const char *k, const char *v)
{
        uint64_t u;
        if (strcmp(k, "scan_time") == 0)
                return parse_ms(v, 10, 3600000, &m->default_scan_ms);
        if (strcmp(k, "timeout") == 0)
                return parse_ms(v, 10, 60000, &m->default_timeout_ms);
        if (strcmp(k, "reconnect_max") == 0)
                return parse_ms(v, 100, 3600000, &m->reconnect_max_ms);
        if (strcmp(k, "byte_order") == 0)
                return plc_order_from_name(v, &m->default_order);
        if (strcmp(k, "merge_gap") == 0) {
                if (plc_map_parse_uint(v, 100, &u) < 0)
                        return -ERANGE;
                m->merge_gap = (unsigned)u;
                return 0;
        }
        return -ENOKEY;
}

static int device_key(struct plc_map *m, const char *name, const char *k, const char *v)
{
        int i = plc_map_device_find(m, name);
        uint64_t u;
        if (i < 0) {
                if (m->n_devices >= PLC_MAX_DEVICES || !*name ||
                    strlen(name) >= sizeof(m->devices[0].name))
                        return -E2BIG;
                i = (int)m->n_devices++;
                m->devices[i] = (struct plc_device_conf){ .port = 502, .unit = 1 };
                strscpy(m->devices[i].name, sizeof(m->devices[i].name), name);
        }
        struct plc_device_conf *d = &m->devices[i];
        if (strcmp(k, "host") == 0)
                return strscpy(d->host, sizeof(d->host), v) || !*v ? -EINVAL : 0;
        if (strcmp(k, "port") == 0)
                return parse_port(v, &d->port);
        if (strcmp(k, "controller") == 0) {
                const char *hp = startswith(v, "tcp://") ? v + 6 : v;
                return host_port(hp, d->host, sizeof(d->host), &d->port);
        }
        if (strcmp(k, "slave_id") == 0 || strcmp(k, "unit_id") == 0 || strcmp(k, "unit") == 0) {
                if (plc_map_parse_uint(v, 255, &u) < 0 || (u > 247 && u != 255))
                        return -ERANGE;
                d->unit = (uint8_t)u;
                return 0;
        }
        if (strcmp(k, "timeout") == 0) {
                d->has_timeout = true;
                return parse_ms(v, 10, 60000, &d->timeout_ms);
        }
        if (strcmp(k, "scan_time") == 0) {
                d->has_scan = true;
                return parse_ms(v, 10, 3600000, &d->scan_ms);
        }
        if (strcmp(k, "byte_order") == 0) {
                d->has_order = true;
                return plc_order_from_name(v, &d->order);
        }
        return -ENOKEY;
}

static int tag_key(struct plc_map *m, const char *name, const char *k, const char *v, unsigned line)
{
        struct plc_map_raw *raw = raw_of(m);
        int i = plc_tag_find(m, name);
        if (!raw)
                return -ENOMEM;
        if (i < 0) {
                if (m->n_tags >= PLC_MAX_TAGS || !*name || strlen(name) >= sizeof(m->tags[0].name))
                        return -E2BIG;
                if (m->n_tags == m->cap_tags) {
                        unsigned cap = m->cap_tags ? m->cap_tags * 2 : 64;
                        struct plc_tag_conf *t = realloc(m->tags, cap * sizeof(*t));
                        if (!t)
                                return -ENOMEM;
                        m->tags = t;
                        struct tag_raw *r = realloc(raw->tags, cap * sizeof(*r));
                        if (!r)
                                return -ENOMEM;
                        raw->tags = r;
                        m->cap_tags = cap;
                }
                i = (int)m->n_tags++;
                m->tags[i] = (struct plc_tag_conf){ .layout = { .scale = 1.0 } };
                raw->tags[i] = (struct tag_raw){ .line = line };
                strscpy(m->tags[i].name, sizeof(m->tags[i].name), name);
        }
        struct plc_tag_conf *t = &m->tags[i];
        struct tag_raw *r = &raw->tags[i];
        struct {
                const char *key;
                char *dst;
                size_t size;
        } strs[] = {
                { "device", r->device, sizeof(r->device) },
                { "register", r->area, sizeof(r->area) },
                { "area", r->area, sizeof(r->area) },
                { "address", r->address, sizeof(r->address) },
                { "type", r->type, sizeof(r->type) },
                { "data_type", r->type, sizeof(r->type) },
                { "byte_order", r->order, sizeof(r->order) },
                { "bit", r->bit, sizeof(r->bit) },
                { "unit", t->unit, sizeof(t->unit) },
                { "description", t->description, sizeof(t->description) },
        };
        for (size_t j = 0; j < ELEMENTSOF(strs); j++)
                if (strcmp(k, strs[j].key) == 0) {
                        bool cut = strscpy(strs[j].dst, strs[j].size, v);
                        /* a long description is cut, not refused */
                        return cut && strs[j].dst != t->description ? -E2BIG : 0;
                }
        if (strcmp(k, "scale") == 0)
                return parse_double(v, &t->layout.scale) < 0 || t->layout.scale == 0 ? -EINVAL : 0;
        if (strcmp(k, "offset") == 0)
                return parse_double(v, &t->layout.offset);
        if (strcmp(k, "deadband") == 0 || strcmp(k, "dead_band") == 0)
                return parse_double(v, &t->deadband) < 0 || t->deadband < 0 ? -EINVAL : 0;
        if (strcmp(k, "scan_time") == 0)
                return parse_ms(v, 10, 3600000, &t->scan_ms);
        return -ENOKEY;
}

static int machine_key(struct plc_map *m, const char *id, const char *k, const char *v,
                       unsigned line)
{
        bool created;
        uint64_t u;
        struct plc_map_raw *raw = raw_of(m);
        struct plc_machine_conf *mc = raw ? machine_get(m, id, &created) : NULL;
        if (!mc)
                return -E2BIG;
        unsigned idx = (unsigned)(mc - m->machines);
        if (created)
                raw->machine_line[idx] = line;
        if (strcmp(k, "type") == 0) {
                if (strcasecmp(v, "carousel") == 0)
                        mc->kind = PLC_MACHINE_CAROUSEL;
                else if (strcasecmp(v, "modbus") == 0)
                        mc->kind = PLC_MACHINE_MODBUS;
                else
                        return -EINVAL;
                return 0;
        }
        if (strcmp(k, "name") == 0)
                return strscpy(mc->name, sizeof(mc->name), v) ? -E2BIG : 0;
        if (strcmp(k, "host") == 0)
                return strscpy(mc->host, sizeof(mc->host), v) || !*v ? -EINVAL : 0;
        if (strcmp(k, "port") == 0)
                return parse_port(v, &mc->port);
        if (strcmp(k, "timeout") == 0)
                return parse_ms(v, 10, 60000, &mc->timeout_ms);
        if (strcmp(k, "scan_time") == 0)
                return parse_ms(v, 10, 3600000, &mc->scan_ms);
        if (strcmp(k, "estop_command") == 0) {
                if (strcasecmp(v, "none") == 0) {
                        mc->estop_command = -1;
                        return 0;
                }
                if (plc_map_parse_uint(v, 255, &u) < 0)
                        return -ERANGE;
                mc->estop_command = (int)u;
                return 0;
        }
        if (strcmp(k, "estop_argument") == 0) {
                if (plc_map_parse_uint(v, 255, &u) < 0)
                        return -ERANGE;
                mc->estop_argument = (int)u;
                return 0;
        }
        if (strcmp(k, "device") == 0)
                return strscpy(raw->machine_device[idx], sizeof(raw->machine_device[idx]), v)
                           ? -E2BIG
                           : 0;
        if (strcmp(k, "move_command") == 0 || strcmp(k, "estop_value") == 0) {
                if (plc_map_parse_uint(v, 65535, &u) < 0)
                        return -ERANGE;
                *(k[0] == 'm' ? &mc->move_command : &mc->estop_value) = (uint16_t)u;
                return 0;
        }
        struct {
                const char *key;
                struct plc_reg_ref *ref;
        } refs[] = { { "status", &mc->status },
                     { "position", &mc->position },
                     { "command", &mc->command },
                     { "argument", &mc->argument },
                     { "estop", &mc->estop } };
        for (size_t j = 0; j < ELEMENTSOF(refs); j++)
                if (strcmp(k, refs[j].key) == 0)
                        return parse_ref(v, refs[j].ref);
        return -ENOKEY;
}

static int on_key(void *user, const char *section, const char *k, const char *v)
{
        struct parse_ctx *ctx = user;
        int r;
        if (strcmp(section, "defaults") == 0)
                r = defaults_key(ctx->m, k, v);
        else if (startswith(section, "device."))
                r = device_key(ctx->m, section + 7, k, v);
        else if (startswith(section, "tag."))
                r = tag_key(ctx->m, section + 4, k, v, ctx->line);
        else if (startswith(section, "machine."))
                r = machine_key(ctx->m, section + 8, k, v, ctx->line);
        else {
                log_error("%s:%u: unknown section [%s] (defaults, device.NAME, tag.NAME, "
                          "machine.ID)",
                          ctx->path, ctx->line, section);
                ctx->errors++;
                return 1;
        }
        if (r == -ENOKEY)
                log_error("%s:%u: [%s] has no key '%s'", ctx->path, ctx->line, section, k);
        else if (r == -E2BIG)
                log_error("%s:%u: [%s] %s: name or value too long, or too many entries", ctx->path,
                          ctx->line, section, k);
        else if (r < 0)
                log_error("%s:%u: [%s] %s = '%s' is not valid", ctx->path, ctx->line, section, k,
                          v);
        if (r < 0)
                ctx->errors++;
        return 1; /* keep going: report every problem at once */
}

static char *read_line(char *str, int num, void *stream)
{
        struct parse_ctx *ctx = stream;
        char *s = fgets(str, num, ctx->f);
        if (s)
                ctx->line++;
        return s;
}

int plc_map_load(struct plc_map *m, const char *path)
{
        struct parse_ctx ctx = { .m = m, .path = path };
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return log_error_errno(-errno, "cannot open the PLC map %s: %m", path);
        ctx.f = f;
        m->path = path;
        int r = ini_parse_stream(read_line, &ctx, on_key, &ctx);
        if (r > 0) {
                log_error("%s:%d: syntax error", path, r);
                ctx.errors++;
        } else if (r < 0)
                return log_error_errno(-ENOMEM, "%s: cannot parse: out of memory", path);
        return ctx.errors ? -EINVAL : 0;
}
