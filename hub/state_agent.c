/*
 * state_agent.c — the Unraid agent's derived and default fields (state_agent.h).
 *
 * Process: ringhub, reader thread (under state_lock, while state.c serializes an entity
 * once per change) and mhd (cold paths). One table says, per record type, which keys the
 * agent's DTOs carry beyond ours and how each is made; two walkers follow it: the
 * schema-driven writer's (state_agent_write(), straight from the record into the text
 * buffer, no json-c) and the json-c tree's (state_agent_fields(), for REST lookups and
 * defaults). A key the record already writes is left alone, so every dialect sees the
 * same bytes. Formats as the agent writes them (memory "1.50 GB / 8.00 GB", uptime
 * "2d 3h 4m", port mappings "8080:80/tcp"), without the printf family on the writer's
 * path. docs/wire-unraid.md lists which fields are always defaults here.
 */
#include "state_agent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "macros.h"
#include "util.h"

#define MIB (1024.0 * 1024.0)

enum agent_kind {
        AK_ZERO,        /* 0 */
        AK_ZERO_DOUBLE, /* 0.0 */
        AK_FALSE,       /* false */
        AK_TEXT,        /* .text */
        AK_TEXT_SET,    /* .text, and a present empty string counts as absent (moves here) */
        AK_MB,          /* .src / MiB */
        AK_COPY,        /* .src as a double */
        AK_MEMORY,      /* "used / limit" of .src and .src2; .text when the limit is 0 */
        AK_UPTIME,      /* "2d 3h 4m" of .src seconds; "" when absent */
        AK_PORTS,       /* "host:container/protocol" of each published port, once each */
        AK_EMPTY_ARRAY, /* [] */
};

struct agent_field {
        unsigned type;
        enum agent_kind kind;
        const char *key;
        const char *src, *src2, *text;
};

/* In the order the agent's fields are added: a key that is not already there is
 * appended after the record's members and children. */
static const struct agent_field agent_fields[] = {
        { RT_system, AK_MB, "ram_used_mb", "ram_used_bytes", NULL, NULL },
        { RT_system, AK_MB, "ram_total_mb", "ram_total_bytes", NULL, NULL },
        { RT_netif, AK_ZERO_DOUBLE, "rx_bytes_per_sec", NULL, NULL, NULL },
        { RT_netif, AK_ZERO_DOUBLE, "tx_bytes_per_sec", NULL, NULL, NULL },
        { RT_share, AK_FALSE, "smb_export", NULL, NULL, NULL },
        { RT_share, AK_FALSE, "nfs_export", NULL, NULL, NULL },
        { RT_share, AK_TEXT_SET, "storage", NULL, NULL, "unknown" },
        { RT_vm, AK_COPY, "guest_cpu_percent", "cpu_percent", NULL, NULL },
        { RT_vm, AK_ZERO_DOUBLE, "host_cpu_percent", NULL, NULL, NULL }, /* until 2 samples */
        { RT_vm, AK_MEMORY, "memory_display", "memory_used_bytes", "memory_allocated_bytes",
          "0 B / 0 B" },
        { RT_vm, AK_ZERO, "disk_read_bytes", NULL, NULL, NULL },
        { RT_vm, AK_ZERO, "disk_write_bytes", NULL, NULL, NULL },
        { RT_vm, AK_ZERO, "network_rx_bytes", NULL, NULL, NULL },
        { RT_vm, AK_ZERO, "network_tx_bytes", NULL, NULL, NULL },
        { RT_container, AK_TEXT, "version", NULL, NULL, "" },
        { RT_container, AK_TEXT, "network_mode", NULL, NULL, "" },
        { RT_container, AK_TEXT, "ip_address", NULL, NULL, "" },
        { RT_container, AK_TEXT, "restart_policy", NULL, NULL, "" },
        { RT_container, AK_ZERO, "restart_count", NULL, NULL, NULL },
        { RT_container, AK_MB, "memory_usage_mb", "memory_usage_bytes", NULL, NULL },
        { RT_container, AK_MEMORY, "memory_display", "memory_usage_bytes", "memory_limit_bytes",
          "0 / 0" },
        { RT_container, AK_PORTS, "port_mappings", NULL, NULL, NULL },
        { RT_container, AK_EMPTY_ARRAY, "volume_mappings", NULL, NULL, NULL }, /* no mounts */
        { RT_container, AK_UPTIME, "uptime", "uptime_seconds", NULL, NULL },
};

/* The published ports AK_PORTS reads: a child type and its fields. */
#define PORTS_TYPE RT_container_port

/* What the writer resolved once per row (state_agent_init()). */
static struct agent_resolved {
        const struct field_desc *key, *src, *src2; /* the record's fields of those names */
        bool key_is_kids;                          /* the key is a child list's */
} resolved[ELEMENTSOF(agent_fields)];
static const struct field_desc *port_host, *port_container, *port_proto;
static bool adds[RT_MAX];

/* ---- text shared by both walkers ---- */

static char *put_dec(char *o, uint64_t v)
{
        return o + fmt_u64(o, v);
}

/*
 * printf's "%.2f" of v: exact, ties to even, as glibc rounds the binary value. By hand
 * for 0 ≤ v < 2^46 (v = m·2^e with a 53-bit m: 100·m fits 64 bits), snprintf otherwise.
 * Returns the end of the text (not terminated).
 */
static char *put_fixed2(char *o, size_t room, double v)
{
        if (!(v >= 0 && v < 0x1p46) || signbit(v)) {
                int n = snprintf(o, room, "%.2f", v);
                return o + (n > 0 ? MIN((size_t)n, room - 1) : 0);
        }
        uint64_t q = 0;
        if (v > 0) {
                int e;
                uint64_t m = (uint64_t)ldexp(frexp(v, &e), 53), x = m * 100;
                unsigned s = (unsigned)(53 - e); /* v < 2^46: e ≤ 46, s ≥ 7 */
                if (s <= 60) {
                        uint64_t rem = x & ((UINT64_C(1) << s) - 1), half = UINT64_C(1) << (s - 1);
                        q = x >> s;
                        if (rem > half || (rem == half && (q & 1)))
                                q++;
                }
        }
        o = put_dec(o, q / 100);
        *o++ = '.';
        *o++ = (char)('0' + q / 10 % 10);
        *o++ = (char)('0' + q % 10);
        return o;
}

/* "used / limit" in MB, or in GB from 1 GiB of limit on; empty_text when limit is 0. */
static const char *memory_text(char *buf, size_t size, double used, double limit,
                               const char *empty_text)
{
        if (!(limit > 0))
                return empty_text;
        double u = used / MIB, l = limit / MIB;
        bool gb = l >= 1024;
        const char *unit = gb ? " GB" : " MB";
        char *o = buf, *end = buf + size;
        o = put_fixed2(o, (size_t)(end - o), gb ? u / 1024 : u);
        memcpy(o, unit, 3);
        memcpy(o + 3, " / ", 3);
        o = put_fixed2(o + 6, (size_t)(end - o - 6), gb ? l / 1024 : l);
        memcpy(o, unit, 4); /* with its NUL */
        return buf;
}

/* "2d 3h 4m", "3h 4m", "4m"; "" for s < 0 (absent). */
static const char *uptime_text(char *buf, double s)
{
        if (s < 0)
                return "";
        uint64_t m = (uint64_t)s / 60, d = m / 1440, h = m / 60 % 24;
        char *o = buf;
        if (d) {
                o = put_dec(o, d);
                *o++ = 'd';
                *o++ = ' ';
        }
        if (d || h) {
                o = put_dec(o, h);
                *o++ = 'h';
                *o++ = ' ';
        }
        o = put_dec(o, m % 60);
        *o++ = 'm';
        *o = 0;
        return buf;
}

/* "%.0f" of a port number (an integer here; snprintf for anything else). */
static char *put_fixed0(char *o, size_t room, double v)
{
        if (v >= 0 && v < 0x1p53 && v == floor(v) && !signbit(v))
                return put_dec(o, (uint64_t)v);
        int n = snprintf(o, room, "%.0f", v);
        return o + (n > 0 ? MIN((size_t)n, room - 1) : 0);
}

#define PORT_TEXT_MAX (2 * 40 + 2 + RJ_STR_MAX * 3 + 1)

/* "host_port:container_port/protocol". */
static const char *port_text(char *buf, double hp, double cp, const char *proto)
{
        char *o = put_fixed0(buf, 40, hp);
        *o++ = ':';
        o = put_fixed0(o, 40, cp);
        *o++ = '/';
        size_t pl = strlen(proto);
        memcpy(o, proto, MIN(pl, (size_t)(RJ_STR_MAX * 3)));
        o[MIN(pl, (size_t)(RJ_STR_MAX * 3))] = 0;
        return buf;
}

/* ---- the json-c tree ---- */

/* A number of o (int or double), def when absent. */
static double tree_num(json_object *o, const char *key, double def)
{
        json_object *v;
        if (!key || !json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
                return def;
        return json_object_get_double(v);
}

static json_object *tree_ports(json_object *o)
{
        json_object *ports, *a = json_object_new_array();
        if (!json_object_object_get_ex(o, schema_record(PORTS_TYPE)->list_key, &ports) ||
            !json_object_is_type(ports, json_type_array))
                return a;
        for (size_t i = 0; i < json_object_array_length(ports); i++) {
                json_object *p = json_object_array_get_idx(ports, i), *proto;
                double hp = tree_num(p, "host_port", 0), cp = tree_num(p, "container_port", 0);
                if (!(hp > 0))
                        continue;
                char buf[PORT_TEXT_MAX];
                port_text(buf, hp, cp,
                          json_object_object_get_ex(p, "protocol", &proto)
                              ? json_object_get_string(proto)
                              : "tcp");
                /* Once per mapping: not again for its IPv6 binding. */
                bool dup = false;
                for (size_t k = 0; k < json_object_array_length(a) && !dup; k++)
                        dup = !strcmp(json_object_get_string(json_object_array_get_idx(a, k)), buf);
                if (!dup)
                        json_object_array_add(a, json_object_new_string(buf));
        }
        return a;
}

static json_object *tree_value(const struct agent_field *a, json_object *o)
{
        char buf[96];
        switch (a->kind) {
        case AK_ZERO:
                return json_object_new_int64(0);
        case AK_ZERO_DOUBLE:
                return json_double(0);
        case AK_FALSE:
                return json_object_new_boolean(0);
        case AK_TEXT:
        case AK_TEXT_SET:
                return json_object_new_string(a->text);
        case AK_MB:
                return json_double(tree_num(o, a->src, 0) / MIB);
        case AK_COPY:
                return json_double(tree_num(o, a->src, 0));
        case AK_MEMORY:
                return json_object_new_string(memory_text(buf, sizeof(buf), tree_num(o, a->src, 0),
                                                          tree_num(o, a->src2, 0), a->text));
        case AK_UPTIME:
                return json_object_new_string(uptime_text(buf, tree_num(o, a->src, -1)));
        case AK_PORTS:
                return tree_ports(o);
        case AK_EMPTY_ARRAY:
                return json_object_new_array();
        }
        return NULL;
}

void state_agent_fields(unsigned type, json_object *o)
{
        for (size_t i = 0; i < ELEMENTSOF(agent_fields); i++) {
                const struct agent_field *a = &agent_fields[i];
                json_object *v;
                if (a->type != type)
                        continue;
                if (a->kind == AK_TEXT_SET && json_object_object_get_ex(o, a->key, &v) &&
                    json_object_get_string_len(v) == 0)
                        json_object_object_del(o, a->key);
                if (!json_object_object_get_ex(o, a->key, NULL))
                        json_object_object_add(o, a->key, tree_value(a, o));
        }
}

/* ---- the schema-driven writer ---- */

void state_agent_init(void)
{
        for (size_t i = 0; i < ELEMENTSOF(agent_fields); i++) {
                const struct agent_field *a = &agent_fields[i];
                const struct record_desc *d = schema_record(a->type);
                struct agent_resolved *r = &resolved[i];
                if (!d)
                        continue;
                adds[a->type] = true;
                for (unsigned k = 0; k < d->n_fields; k++) {
                        const struct field_desc *f = &schema_fields[d->first_field + k];
                        if (!strcmp(f->name, a->key) || (f->alias && !strcmp(f->alias, a->key)))
                                r->key = f;
                }
                for (const struct record_desc *kd = schema_next(NULL); kd; kd = schema_next(kd))
                        if (kd->kind == SK_CHILD && kd->parent == a->type &&
                            !strcmp(kd->list_key, a->key))
                                r->key_is_kids = true;
                r->src = a->src ? schema_field_by_name(d, a->src) : NULL;
                r->src2 = a->src2 ? schema_field_by_name(d, a->src2) : NULL;
        }
        const struct record_desc *pd = schema_record(PORTS_TYPE);
        port_host = pd ? schema_field_by_name(pd, "host_port") : NULL;
        port_container = pd ? schema_field_by_name(pd, "container_port") : NULL;
        port_proto = pd ? schema_field_by_name(pd, "protocol") : NULL;
}

bool state_agent_adds(unsigned type)
{
        return type < RT_MAX && adds[type];
}

/* What tree_num() reads from the field's JSON (STATE_AGENT_RJ_FLAGS): its number, def
 * when it writes none or something that is not a number (a string, a boolean). */
static double payload_num(const struct field_desc *f, const void *payload, double def)
{
        if (!f || !rj_field_written(f, payload, STATE_AGENT_RJ_FLAGS))
                return def;
        if (field_is_missing(f, payload)) /* typed zero */
                return f->kind == FK_BOOL ? def : 0;
        if ((f->flags & F_TEXT) || f->kind == FK_STR || f->kind == FK_BOOL || f->kind == FK_TIME)
                return def;
        return field_get_double(f, payload);
}

/* A string field's text as its JSON carries it (sanitized like json_string_utf8()). */
static const char *payload_text(const struct field_desc *f, const void *payload, char *buf,
                                size_t size)
{
        const char *s = (const char *)payload + f->offset;
        utf8_sanitize(buf, size, s, strnlen(s, f->size));
        return buf;
}

static void port_of(const uint8_t *p, double *hp, double *cp, char *proto, size_t size)
{
        *hp = payload_num(port_host, p, 0);
        *cp = payload_num(port_container, p, 0);
        if (port_proto && port_proto->kind == FK_STR)
                payload_text(port_proto, p, proto, size);
        else
                snprintf(proto, size, "tcp");
}

static void write_ports(struct rj_buf *b, const struct agent_kids *kids, unsigned n_kids)
{
        const struct agent_kids *ks = NULL;
        for (unsigned k = 0; k < n_kids; k++)
                if (kids[k].type == PORTS_TYPE)
                        ks = &kids[k];
        const struct record_desc *pd = schema_record(PORTS_TYPE);
        unsigned n = 0;
        rj_put(b, "[", 1);
        for (uint32_t i = 0; ks && i < ks->n; i++) {
                char proto[RJ_STR_MAX * 3 + 1], text[PORT_TEXT_MAX];
                double hp, cp;
                port_of(ks->p + (size_t)pd->size * i, &hp, &cp, proto, sizeof(proto));
                if (!(hp > 0))
                        continue;
                port_text(text, hp, cp, proto);
                /* Once per mapping: not again for its IPv6 binding. */
                bool dup = false;
                for (uint32_t j = 0; j < i && !dup; j++) {
                        char pj[RJ_STR_MAX * 3 + 1], tj[PORT_TEXT_MAX];
                        double hj, cj;
                        port_of(ks->p + (size_t)pd->size * j, &hj, &cj, pj, sizeof(pj));
                        dup = hj > 0 && !strcmp(port_text(tj, hj, cj, pj), text);
                }
                if (dup)
                        continue;
                if (n++ > 0)
                        rj_put(b, ",", 1);
                rj_str(b, text, strlen(text));
        }
        rj_put(b, "]", 1);
}

const struct field_desc *state_agent_omitted(unsigned type, const void *payload)
{
        for (size_t i = 0; i < ELEMENTSOF(agent_fields); i++) {
                const struct field_desc *f = resolved[i].key;
                if (agent_fields[i].type == type && agent_fields[i].kind == AK_TEXT_SET && f &&
                    f->kind == FK_STR && !((const char *)payload)[f->offset])
                        return f;
        }
        return NULL;
}

int state_agent_write(struct rj_buf *b, unsigned type, const void *payload,
                      const struct agent_kids *kids, unsigned n_kids, bool *first)
{
        for (size_t i = 0; i < ELEMENTSOF(agent_fields); i++) {
                const struct agent_field *a = &agent_fields[i];
                const struct agent_resolved *r = &resolved[i];
                if (a->type != type || r->key_is_kids)
                        continue;
                if (r->key && rj_field_written(r->key, payload, STATE_AGENT_RJ_FLAGS) &&
                    r->key != state_agent_omitted(type, payload))
                        continue; /* the record has it */
                rj_put(b, *first ? "\"" : ",\"", *first ? 1 : 2);
                *first = false;
                rj_puts(b, a->key);
                rj_put(b, "\":", 2);
                char buf[96];
                switch (a->kind) {
                case AK_ZERO:
                        rj_put(b, "0", 1);
                        break;
                case AK_ZERO_DOUBLE:
                        rj_put(b, "0.0", 3);
                        break;
                case AK_FALSE:
                        rj_put(b, "false", 5);
                        break;
                case AK_TEXT:
                case AK_TEXT_SET:
                        rj_str(b, a->text, strlen(a->text));
                        break;
                case AK_MB:
                        rj_double(b, payload_num(r->src, payload, 0) / MIB);
                        break;
                case AK_COPY:
                        rj_double(b, payload_num(r->src, payload, 0));
                        break;
                case AK_MEMORY:
                        rj_puts(b, "\"");
                        rj_puts(b, memory_text(buf, sizeof(buf), payload_num(r->src, payload, 0),
                                               payload_num(r->src2, payload, 0), a->text));
                        rj_puts(b, "\"");
                        break;
                case AK_UPTIME:
                        rj_puts(b, "\"");
                        rj_puts(b, uptime_text(buf, payload_num(r->src, payload, -1)));
                        rj_puts(b, "\"");
                        break;
                case AK_PORTS:
                        write_ports(b, kids, n_kids);
                        break;
                case AK_EMPTY_ARRAY:
                        rj_put(b, "[]", 2);
                        break;
                }
        }
        return b->failed ? -ENOMEM : 0;
}

size_t state_agent_fixed2(char *buf, size_t size, double v)
{
        if (size < 32)
                return 0;
        char *o = put_fixed2(buf, size, v);
        *o = 0;
        return (size_t)(o - buf);
}
