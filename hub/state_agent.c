/*
 * state_agent.c — the Unraid agent's derived and default fields (state_agent.h).
 *
 * Process: ringhub, reader thread (under state_lock, while state.c serializes an entity
 * once per change). Pure JSON: reads the schema-driven keys already in the object and
 * adds the agent's names beside them, so every dialect sees the same bytes. Formats as
 * the agent writes them (memory "1.50 GB / 8.00 GB", uptime "2d 3h 4m", port mappings
 * "8080:80/tcp"). docs/wire-unraid.md lists which fields are always defaults here.
 */
#include "state_agent.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "record_json.h"
#include "schema.h"

#define MIB (1024.0 * 1024.0)

static void add_default(json_object *o, const char *key, json_object *v)
{
        if (json_object_object_get_ex(o, key, NULL))
                json_object_put(v);
        else
                json_object_object_add(o, key, v);
}

/* As add_default, and an empty string counts as absent. */
static void add_default_text(json_object *o, const char *key, const char *text)
{
        json_object *v;
        if (json_object_object_get_ex(o, key, &v) && json_object_get_string_len(v) == 0)
                json_object_object_del(o, key);
        add_default(o, key, json_object_new_string(text));
}

/* A number of o (int or double), def when absent. */
static double num(json_object *o, const char *key, double def)
{
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) ||
            !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
                return def;
        return json_object_get_double(v);
}

/* "used / limit" in MB, or in GB from 1 GiB of limit on; empty_text when limit is 0. */
static json_object *memory_display(double used, double limit, const char *empty_text)
{
        char buf[64];
        if (!(limit > 0))
                return json_object_new_string(empty_text);
        double u = used / MIB, l = limit / MIB;
        if (l >= 1024)
                snprintf(buf, sizeof(buf), "%.2f GB / %.2f GB", u / 1024, l / 1024);
        else
                snprintf(buf, sizeof(buf), "%.2f MB / %.2f MB", u, l);
        return json_object_new_string(buf);
}

static json_object *uptime_text(json_object *o)
{
        double s = num(o, "uptime_seconds", -1);
        char buf[48];
        if (s < 0)
                return json_object_new_string("");
        uint64_t m = (uint64_t)s / 60, d = m / 1440, h = m / 60 % 24;
        if (d)
                snprintf(buf, sizeof(buf), "%" PRIu64 "d %" PRIu64 "h %" PRIu64 "m", d, h, m % 60);
        else if (h)
                snprintf(buf, sizeof(buf), "%" PRIu64 "h %" PRIu64 "m", h, m % 60);
        else
                snprintf(buf, sizeof(buf), "%" PRIu64 "m", m);
        return json_object_new_string(buf);
}

/* "host_port:container_port/protocol" for each published port, as the agent lists them
 * (from the container's port bindings: one per mapping). */
static json_object *port_mappings(json_object *o)
{
        json_object *ports, *a = json_object_new_array();
        if (!json_object_object_get_ex(o, "ports", &ports) ||
            !json_object_is_type(ports, json_type_array))
                return a;
        for (size_t i = 0; i < json_object_array_length(ports); i++) {
                json_object *p = json_object_array_get_idx(ports, i), *proto;
                double hp = num(p, "host_port", 0), cp = num(p, "container_port", 0);
                if (!(hp > 0))
                        continue;
                char buf[64];
                snprintf(buf, sizeof(buf), "%.0f:%.0f/%s", hp, cp,
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

static void zeros(json_object *o, const char *const *keys)
{
        for (; *keys; keys++)
                add_default(o, *keys, json_object_new_int64(0));
}

static void empty_strings(json_object *o, const char *const *keys)
{
        for (; *keys; keys++)
                add_default(o, *keys, json_object_new_string(""));
}

bool state_agent_adds(unsigned type)
{
        switch (type) {
        case RT_system:
        case RT_netif:
        case RT_share:
        case RT_vm:
        case RT_container:
                return true;
        default:
                return false;
        }
}

void state_agent_fields(unsigned type, json_object *o)
{
        switch (type) {
        case RT_system:
                add_default(o, "ram_used_mb", json_double(num(o, "ram_used_bytes", 0) / MIB));
                add_default(o, "ram_total_mb", json_double(num(o, "ram_total_bytes", 0) / MIB));
                break;
        case RT_netif:
                add_default(o, "rx_bytes_per_sec", json_double(0));
                add_default(o, "tx_bytes_per_sec", json_double(0));
                break;
        case RT_share:
                add_default(o, "smb_export", json_object_new_boolean(0));
                add_default(o, "nfs_export", json_object_new_boolean(0));
                add_default_text(o, "storage", "unknown");
                break;
        case RT_vm: {
                static const char *const counters[] = { "disk_read_bytes", "disk_write_bytes",
                                                        "network_rx_bytes", "network_tx_bytes",
                                                        NULL };
                add_default(o, "guest_cpu_percent", json_double(num(o, "cpu_percent", 0)));
                add_default(o, "host_cpu_percent", json_double(0)); /* until 2 samples */
                add_default(o, "memory_display",
                            memory_display(num(o, "memory_used_bytes", 0),
                                           num(o, "memory_allocated_bytes", 0), "0 B / 0 B"));
                zeros(o, counters);
                break;
        }
        case RT_container: {
                static const char *const strs[] = { "version", "network_mode", "ip_address",
                                                    "restart_policy", NULL };
                static const char *const counters[] = { "restart_count", NULL };
                double used = num(o, "memory_usage_bytes", 0);
                empty_strings(o, strs);
                zeros(o, counters);
                add_default(o, "memory_usage_mb", json_double(used / MIB));
                add_default(o, "memory_display",
                            memory_display(used, num(o, "memory_limit_bytes", 0), "0 / 0"));
                add_default(o, "port_mappings", port_mappings(o));
                add_default(o, "volume_mappings", json_object_new_array()); /* no mounts */
                add_default(o, "uptime", uptime_text(o));
                break;
        }
        default:
                break;
        }
}
