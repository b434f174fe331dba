/*
 * mqtt_disco.c — Home Assistant discovery payloads (see mqtt_disco.h).
 *
 * The unit table below is the one place that maps the schema's unit words (shm/
 * schema.def) to Home Assistant's device classes and units; a field whose unit is not
 * in it is still announced, with its unit word and no device class.
 */
#include "mqtt_disco.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "control.h"
#include "macros.h"
#include "schema.h"
#include "topics.h"
#include "util.h"

enum sc { SC_NONE, SC_MEASUREMENT, SC_TOTAL_INCREASING };

static const struct unit_map {
        const char *unit; /* the schema's word */
        const char *device_class, *ha_unit;
        bool counters; /* a F_COUNTER field of this class may be total_increasing */
} units[] = {
        { "celsius", "temperature", "°C", false }, { "bytes", "data_size", "B", true },
        { "bytes/s", "data_rate", "B/s", false },  { "Mbit/s", "data_rate", "Mbit/s", false },
        { "percent", NULL, "%", false },           { "seconds", "duration", "s", true },
        { "hours", "duration", "h", true },        { "minutes", "duration", "min", true },
        { "ms", "duration", "ms", true },          { "rpm", NULL, "rpm", false },
        { "watts", "power", "W", false },          { "volts", "voltage", "V", false },
        { "MHz", "frequency", "MHz", false },
};

/* A tag's own unit text → device class (its unit is kept as written). */
static const struct tag_unit {
        const char *unit, *device_class, *ha_unit;
} tag_units[] = {
        { "°C", "temperature", "°C" },
        { "C", "temperature", "°C" },
        { "degC", "temperature", "°C" },
        { "celsius", "temperature", "°C" },
        { "°F", "temperature", "°F" },
        { "W", "power", "W" },
        { "kW", "power", "kW" },
        { "V", "voltage", "V" },
        { "A", "current", "A" },
        { "Hz", "frequency", "Hz" },
        { "bar", "pressure", "bar" },
        { "mbar", "pressure", "mbar" },
        { "Pa", "pressure", "Pa" },
        { "kPa", "pressure", "kPa" },
        { "hPa", "pressure", "hPa" },
        { "psi", "pressure", "psi" },
        { "%", NULL, "%" },
};

/* Unitless numbers still worth a sensor. */
static const struct extra {
        unsigned type;
        const char *field;
} extras[] = {
        { RT_disk, "smart_errors" },
        { RT_system, "load_average_1m" },
        { RT_container, "restart_count" },
        { RT_pool, "corrected_errors" },
};

/* Binary sensors: a Jinja test on the entity's JSON. */
static const struct bin {
        unsigned type;
        const char *object, *name, *device_class, *test;
} bins[] = {
        { RT_container, "running", "running", "running", "value_json.state == 'running'" },
        { RT_vm, "running", "running", "running", "value_json.state == 'running'" },
        { RT_ups, "on_battery", "on battery", NULL, "value_json.status in ('ONBATT', 'LOWBATT')" },
        { RT_ups, "connected", "connected", "connectivity", "value_json.connected" },
        { RT_disk, "smart_failed", "SMART failed", "problem",
          "value_json.smart_status == 'FAILED'" },
        { RT_array, "degraded", "degraded", "problem", "value_json.degraded | default(false)" },
        { RT_netif, "link", "link", "connectivity", "value_json.state == 'up'" },
        { RT_opcua_conn, "connected", "connected", "connectivity", "value_json.connected" },
        { RT_source_status, "up", "up", "connectivity", "value_json.status == 'up'" },
        { RT_machine, "connected", "connected", "connectivity", "value_json.connected" },
        { RT_machine, "running", "running", "running", "value_json.running" },
        { RT_machine, "alarm", "alarm", "problem", "value_json.alarm" },
        { RT_machine, "emergency_stop", "emergency stop", "safety", "value_json.emergency_stop" },
        { HUB_T_COLLECTOR, "up", "up", "running", "value_json.alive" },
};

/* Controls: a button (payload) or a switch (on/off payloads, its state from a test). */
static const struct ctl {
        unsigned type;
        const char *component, *object, *name;
        const char *area, *on, *off; /* catalogue area; actions (off NULL: a button) */
        const char *payload_on, *payload_off, *test;
} ctls[] = {
        { RT_container, "switch", "power", "power", "docker", "start", "stop", "start", "stop",
          "value_json.state == 'running'" },
        { RT_container, "button", "restart", "restart", "docker", "restart", NULL, "restart", NULL,
          NULL },
        { RT_vm, "switch", "power", "power", "vm", "start", "stop", "start", "stop",
          "value_json.state == 'running'" },
        { RT_array, "button", "parity_check", "parity check", "parity-check", "start", NULL,
          "parity-check-start", NULL, NULL },
        { HUB_T_COLLECTOR, "button", "refresh", "refresh", "collectors", "refresh", NULL, "refresh",
          NULL, NULL },
        { RT_disk, "button", "spinup", "spin up", "disks", "spinup", NULL, "spinup", NULL, NULL },
};

void mqtt_disco_id(char *dst, size_t size, const char *src)
{
        size_t i = 0;
        for (; src && *src && i + 1 < size; src++) {
                char ch = *src;
                bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                          (ch >= '0' && ch <= '9') || ch == '_' || ch == '-';
                dst[i++] = ok ? ch : '_';
        }
        if (size)
                dst[i] = 0;
}

/* The label an entity's names start with. */
static void label(unsigned type, const char *key, char *buf, size_t size)
{
        static const struct {
                unsigned type;
                const char *word;
        } words[] = {
                { RT_disk, "Disk" },
                { RT_container, "Container" },
                { RT_vm, "VM" },
                { RT_gpu, "GPU" },
                { RT_netif, "Network" },
                { RT_share, "Share" },
                { RT_pool, "Pool" },
                { RT_ups, "UPS" },
                { RT_array, "Array" },
                { RT_source_status, "Source" },
                { RT_opcua_conn, "OPC UA" },
                { HUB_T_COLLECTOR, "Collector" },
        };
        const char *w = "";
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (words[i].type == type)
                        w = words[i].word;
        snprintf(buf, size, "%s%s%s", w, *w && *key ? " " : "", key);
}

/* "temperature_celsius" → "temperature" (the unit is shown by Home Assistant). */
static void title(const char *field, char *buf, size_t size)
{
        static const char *const suffixes[] = { "_celsius", "_bytes_per_sec", "_bytes",
                                                "_percent", "_seconds",       "_watts",
                                                "_hours",   "_mbps",          "_mhz" };
        strscpy(buf, size, field);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t n = strlen(buf), m = strlen(suffixes[i]);
                if (n > m && strcmp(buf + n - m, suffixes[i]) == 0) {
                        buf[n - m] = 0;
                        break;
                }
        }
        for (char *p = buf; *p; p++)
                if (*p == '_')
                        *p = ' ';
}

struct ent {
        const struct mqtt_disco_ctx *c;
        unsigned type;
        const char *key, *rel;
        char label[128], oid[160], machine[160];
        json_object *ent;
        mqtt_disco_emit_fn emit;
        void *userdata;
        int n;
};

static void add_str(json_object *o, const char *k, const char *v)
{
        if (v)
                json_object_object_add(o, k, json_object_new_string(v));
}

static json_object *device(const struct ent *e)
{
        json_object *d = json_object_new_object(), *ids = json_object_new_array();
        if (*e->machine) {
                /* A PLC machine is a device of its own, reached through the NAS. */
                char id[256];
                json_object *nm;
                snprintf(id, sizeof(id), "%s_machine_%s", e->c->node, e->machine);
                json_object_array_add(ids, json_object_new_string(id));
                json_object_object_add(d, "identifiers", ids);
                add_str(d, "name",
                        json_object_object_get_ex(e->ent, "name", &nm) &&
                                json_object_get_string_len(nm)
                            ? json_object_get_string(nm)
                            : e->key);
                add_str(d, "model", "PLC machine");
                add_str(d, "via_device", e->c->node);
        } else {
                json_object_array_add(ids, json_object_new_string(e->c->node));
                json_object_object_add(d, "identifiers", ids);
                add_str(d, "name", e->c->device_name);
                add_str(d, "model", "ringhub hub");
                add_str(d, "sw_version", RINGHUB_VERSION);
        }
        add_str(d, "manufacturer", "ringhub");
        return d;
}

/* The common part of every config; object is the entity's own part of the ids. */
static json_object *config(const struct ent *e, const char *object, const char *name, char *topic,
                           size_t tsize, const char *component)
{
        char oid[256], uid[320], st[512], av[512], nm[256];
        snprintf(oid, sizeof(oid), "%s_%s", e->oid, object);
        mqtt_disco_id(oid, sizeof(oid), oid);
        snprintf(uid, sizeof(uid), "%s_%s", e->c->node, oid);
        snprintf(topic, tsize, "%s/%s/%s/%s/config", e->c->prefix, component, e->c->node, oid);
        snprintf(st, sizeof(st), "%s/%s", e->c->base, e->rel);
        snprintf(av, sizeof(av), "%s/status", e->c->base);
        snprintf(nm, sizeof(nm), "%s%s%s", e->label, *e->label ? " " : "", name);
        json_object *o = json_object_new_object(), *org = json_object_new_object();
        add_str(o, "name", nm);
        add_str(o, "unique_id", uid);
        add_str(o, "object_id", uid);
        add_str(o, "state_topic", st);
        add_str(o, "availability_topic", av);
        add_str(o, "payload_available", "online");
        add_str(o, "payload_not_available", "offline");
        json_object_object_add(o, "device", device(e));
        add_str(org, "name", "ringhub");
        add_str(org, "sw_version", RINGHUB_VERSION);
        json_object_object_add(o, "origin", org);
        return o;
}

static void emit(struct ent *e, const char *topic, json_object *o)
{
        size_t len;
        const char *s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (s) {
                e->emit(topic, s, len, e->userdata);
                e->n++;
        }
        json_object_put(o);
}

static void sensor(struct ent *e, const char *object, const char *name, const char *tmpl,
                   const char *device_class, const char *unit, enum sc sc)
{
        char topic[512];
        json_object *o = config(e, object, name, topic, sizeof(topic), "sensor");
        add_str(o, "value_template", tmpl);
        add_str(o, "device_class", device_class);
        add_str(o, "unit_of_measurement", unit && *unit ? unit : NULL);
        add_str(o, "state_class",
                sc == SC_MEASUREMENT        ? "measurement"
                : sc == SC_TOTAL_INCREASING ? "total_increasing"
                                            : NULL);
        emit(e, topic, o);
}

static bool is_extra(unsigned type, const char *field)
{
        for (size_t i = 0; i < ELEMENTSOF(extras); i++)
                if (extras[i].type == type && strcmp(extras[i].field, field) == 0)
                        return true;
        return false;
}

/* One sensor per numeric field with a unit (and the extras). */
static void field_sensors(struct ent *e, const struct record_desc *d)
{
        for (unsigned i = 0; i < d->n_fields; i++) {
                const struct field_desc *f = &schema_fields[d->first_field + i];
                bool numeric = f->kind == FK_U32 || f->kind == FK_U64 || f->kind == FK_I64 ||
                               f->kind == FK_F64;
                if (!numeric || (f->flags & F_NOMETRIC) || (!*f->unit && !is_extra(d->id, f->name)))
                        continue;
                const struct unit_map *u = NULL;
                for (size_t k = 0; k < ELEMENTSOF(units); k++)
                        if (strcmp(units[k].unit, f->unit) == 0)
                                u = &units[k];
                const char *dc = u ? u->device_class : NULL;
                if (u && !dc && strcmp(f->unit, "percent") == 0 && strstr(f->name, "battery"))
                        dc = "battery";
                enum sc sc = (f->flags & F_COUNTER) && (!u || u->counters) ? SC_TOTAL_INCREASING
                                                                           : SC_MEASUREMENT;
                char tmpl[160], name[96];
                snprintf(tmpl, sizeof(tmpl), "{{ value_json.%s | default(None) }}", f->name);
                title(f->name, name, sizeof(name));
                sensor(e, f->name, name, tmpl, dc, u ? u->ha_unit : f->unit, sc);
        }
}

/* Fans and temperature sensors of the host, by their label (not their position). */
static void child_sensors(struct ent *e, const char *list, const char *field, const char *prefix,
                          const char *device_class, const char *unit)
{
        json_object *a, *nm;
        if (!json_object_object_get_ex(e->ent, list, &a) ||
            !json_object_is_type(a, json_type_array))
                return;
        for (size_t i = 0; i < json_object_array_length(a); i++) {
                json_object *el = json_object_array_get_idx(a, i);
                const char *n =
                    json_object_object_get_ex(el, "name", &nm) ? json_object_get_string(nm) : NULL;
                if (!n || !*n || strpbrk(n, "'\\{}%"))
                        continue; /* a label a template cannot quote: skipped */
                char tmpl[320], object[128], name[96];
                snprintf(tmpl, sizeof(tmpl),
                         "{{ (value_json.%s | selectattr('name', 'equalto', '%s') | "
                         "map(attribute='%s') | first) | default(None) }}",
                         list, n, field);
                snprintf(object, sizeof(object), "%s_%s", prefix, n);
                snprintf(name, sizeof(name), "%s %s", prefix, n);
                sensor(e, object, name, tmpl, device_class, unit, SC_MEASUREMENT);
        }
}

static void tag_sensor(struct ent *e)
{
        json_object *v;
        const char *unit =
            json_object_object_get_ex(e->ent, "unit", &v) ? json_object_get_string(v) : NULL;
        const char *type =
            json_object_object_get_ex(e->ent, "data_type", &v) ? json_object_get_string(v) : "";
        char topic[512];
        if (type && strcasecmp(type, "Boolean") == 0) {
                json_object *o = config(e, "value", "value", topic, sizeof(topic), "binary_sensor");
                add_str(o, "value_template", "{{ 'ON' if value_json.value_bool else 'OFF' }}");
                add_str(o, "payload_on", "ON");
                add_str(o, "payload_off", "OFF");
                emit(e, topic, o);
                return;
        }
        if (type && strcasecmp(type, "String") == 0) {
                sensor(e, "value", "value", "{{ value_json.value_string | default(None) }}", NULL,
                       NULL, SC_NONE);
                return;
        }
        const struct tag_unit *u = NULL;
        for (size_t k = 0; unit && k < ELEMENTSOF(tag_units); k++)
                if (strcmp(tag_units[k].unit, unit) == 0)
                        u = &tag_units[k];
        sensor(e, "value", "value", "{{ value_json.value | default(None) }}",
               u ? u->device_class : NULL, u ? u->ha_unit : unit, SC_MEASUREMENT);
}

static void binary_sensors(struct ent *e)
{
        for (size_t i = 0; i < ELEMENTSOF(bins); i++) {
                const struct bin *b = &bins[i];
                if (b->type != e->type)
                        continue;
                char topic[512], tmpl[256];
                json_object *o =
                    config(e, b->object, b->name, topic, sizeof(topic), "binary_sensor");
                snprintf(tmpl, sizeof(tmpl), "{{ 'ON' if %s else 'OFF' }}", b->test);
                add_str(o, "value_template", tmpl);
                add_str(o, "payload_on", "ON");
                add_str(o, "payload_off", "OFF");
                add_str(o, "device_class", b->device_class);
                emit(e, topic, o);
        }
}

static void controls(struct ent *e)
{
        for (size_t i = 0; e->c->control && i < ELEMENTSOF(ctls); i++) {
                const struct ctl *k = &ctls[i];
                if (k->type != e->type || !control_known(k->area, k->on) ||
                    (k->off && !control_known(k->area, k->off)))
                        continue;
                char topic[512], cmd[512], tmpl[256];
                json_object *o = config(e, k->object, k->name, topic, sizeof(topic), k->component);
                snprintf(cmd, sizeof(cmd), "%s/%s/set", e->c->base, e->rel);
                add_str(o, "command_topic", cmd);
                if (k->off) {
                        snprintf(tmpl, sizeof(tmpl), "{{ 'ON' if %s else 'OFF' }}", k->test);
                        add_str(o, "value_template", tmpl);
                        add_str(o, "payload_on", k->payload_on);
                        add_str(o, "payload_off", k->payload_off);
                        add_str(o, "state_on", "ON");
                        add_str(o, "state_off", "OFF");
                } else {
                        /* A button has no state: the entity's topic stays for reference. */
                        json_object_object_del(o, "state_topic");
                        add_str(o, "payload_press", k->payload_on);
                }
                emit(e, topic, o);
        }
}

/* A number entity whose value goes out through command_template on the entity's set topic. */
static void number(struct ent *e, const char *object, const char *name, const char *tmpl,
                   const char *cmd_tmpl, double min, double max, double step)
{
        char topic[512], cmd[512];
        json_object *o = config(e, object, name, topic, sizeof(topic), "number");
        snprintf(cmd, sizeof(cmd), "%s/%s/set", e->c->base, e->rel);
        add_str(o, "command_topic", cmd);
        add_str(o, "command_template", cmd_tmpl);
        add_str(o, "value_template", tmpl);
        json_object_object_add(o, "min", json_object_new_double(min));
        json_object_object_add(o, "max", json_object_new_double(max));
        json_object_object_add(o, "step", json_object_new_double(step));
        add_str(o, "mode", "box");
        emit(e, topic, o);
}

/*
 * PLC controls: a machine's target position (move) and e-stop; a Modbus tag's value
 * (write: a switch for a boolean, a number otherwise). OPC UA tags are read-only here.
 */
static void plc_controls(struct ent *e)
{
        if (!e->c->control)
                return;
        if (e->type == RT_machine && control_known("machines", "move")) {
                number(e, "move", "move to", "{{ value_json.position }}",
                       "{\"action\":\"move\",\"argument\":{{ value | int }}}", 0, 255, 1);
                char topic[512], cmd[512];
                json_object *o =
                    config(e, "estop", "emergency stop", topic, sizeof(topic), "button");
                snprintf(cmd, sizeof(cmd), "%s/%s/set", e->c->base, e->rel);
                add_str(o, "command_topic", cmd);
                json_object_object_del(o, "state_topic");
                add_str(o, "payload_press", "estop");
                emit(e, topic, o);
        }
        json_object *ep, *vb;
        if (e->type != RT_tag || !control_known("tags", "write") ||
            !json_object_object_get_ex(e->ent, "endpoint", &ep) ||
            !startswith(json_object_get_string(ep), "modbus://"))
                return;
        if (json_object_object_get_ex(e->ent, "value_bool", &vb) &&
            json_object_is_type(vb, json_type_boolean)) {
                char topic[512], cmd[512];
                json_object *o = config(e, "write", "set", topic, sizeof(topic), "switch");
                snprintf(cmd, sizeof(cmd), "%s/%s/set", e->c->base, e->rel);
                add_str(o, "command_topic", cmd);
                add_str(o, "value_template", "{{ 'ON' if value_json.value_bool else 'OFF' }}");
                add_str(o, "payload_on", "{\"action\":\"write\",\"value\":true}");
                add_str(o, "payload_off", "{\"action\":\"write\",\"value\":false}");
                add_str(o, "state_on", "ON");
                add_str(o, "state_off", "OFF");
                emit(e, topic, o);
        } else
                number(e, "write", "set", "{{ value_json.value }}",
                       "{\"action\":\"write\",\"value\":{{ value }}}", -1e9, 1e9, 0.001);
}

int mqtt_disco_entity(const struct mqtt_disco_ctx *c, unsigned topic, const char *key,
                      const char *rel, json_object *ent, mqtt_disco_emit_fn fn, void *userdata)
{
        if (!ent || !json_object_is_type(ent, json_type_object))
                return 0;
        struct ent e = { .c = c,
                         .type = topic,
                         .key = key,
                         .rel = rel,
                         .ent = ent,
                         .emit = fn,
                         .userdata = userdata };
        const struct record_desc *d = topic < RT_MAX ? schema_record(topic) : NULL;
        char kid[128];
        mqtt_disco_id(kid, sizeof(kid), key);
        mqtt_disco_id(e.oid, sizeof(e.oid), rel);
        if (topic == RT_machine) {
                strscpy(e.machine, sizeof(e.machine), kid);
                e.label[0] = 0;
        } else if (topic == RT_tag || topic == RT_system) {
                strscpy(e.label, sizeof(e.label), topic == RT_tag ? key : "");
        } else {
                label(topic, key, e.label, sizeof(e.label));
        }
        if (topic == RT_tag)
                tag_sensor(&e);
        else if (d && d->kind != SK_EVENT)
                field_sensors(&e, d);
        if (topic == RT_system) {
                child_sensors(&e, "fans", "rpm", "fan", NULL, "rpm");
                child_sensors(&e, "temperatures", "value_celsius", "temperature", "temperature",
                              "°C");
        }
        binary_sensors(&e);
        controls(&e);
        plc_controls(&e);
        return e.n;
}
