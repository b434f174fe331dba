/*
 * rest_sources.c — see rest_sources.h: /notifications…, /zfs/…, /registration, the parity
 * history and the default bodies of the Unraid routes not read yet, in the agent's shapes.
 *
 * Process: ringhub, mhd thread. One table of routes; each names its topic, its body's
 * shape and the sources whose state explains an empty body. Every entity gets the keys
 * its agent DTO always carries (typed zeros, Go's zero time) when the collector could
 * not know them (a ZFS pool's vdevs and scan facts need `zpool status`, which is not
 * read). Object bodies carry {"source_status": {subsystem, state, reason}}; array bodies
 * carry the same as the X-Source-Status header. An unknown route under these prefixes is
 * not ours (rest.c answers 404).
 */
#include "rest_sources.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hub.h"
#include "jsonfmt.h"
#include "macros.h"
#include "state.h"
#include "util.h"

#define GO_ZERO_TIME "0001-01-01T00:00:00Z"

/* A key the agent's DTO always sends, and its type's zero. */
struct dflt {
        const char *key;
        /* s string, i integer, f float, b bool, T true, a array, t time; S the string in str;
         * n a network service {name: key, enabled: false, running: false} */
        char type;
        const char *str;
};

static const struct dflt d_notification[] = { { "id", 's' },        { "importance", 's' },
                                              { "timestamp", 't' }, { "formatted_timestamp", 's' },
                                              { "type", 's' },      { NULL, 0 } };
static const struct dflt d_pool[] = { { "name", 's' },
                                      { "health", 's' },
                                      { "state", 's' },
                                      { "size_bytes", 'i' },
                                      { "allocated_bytes", 'i' },
                                      { "free_bytes", 'i' },
                                      { "fragmentation_percent", 'f' },
                                      { "capacity_percent", 'f' },
                                      { "dedup_ratio", 'f' },
                                      { "readonly", 'b' },
                                      { "autoexpand", 'b' },
                                      { "vdevs", 'a' },
                                      { "scan_errors", 'i' },
                                      { "scan_repaired_bytes", 'i' },
                                      { "scan_start_time", 't' },
                                      { "scan_end_time", 't' },
                                      { "scan_progress_percent", 'f' },
                                      { "read_errors", 'i' },
                                      { "write_errors", 'i' },
                                      { "checksum_errors", 'i' },
                                      { "is_boot_pool", 'b' },
                                      { NULL, 0 } };
static const struct dflt d_dataset[] = { { "name", 's' },
                                         { "type", 's' },
                                         { "used_bytes", 'i' },
                                         { "available_bytes", 'i' },
                                         { "referenced_bytes", 'i' },
                                         { "compress_ratio", 'f' },
                                         { "compression", 's' },
                                         { "readonly", 'b' },
                                         { NULL, 0 } };
static const struct dflt d_snapshot[] = { { "name", 's' },          { "dataset", 's' },
                                          { "used_bytes", 'i' },    { "referenced_bytes", 'i' },
                                          { "creation_time", 't' }, { NULL, 0 } };
static const struct dflt d_arc[] = { { "size_bytes", 'i' },
                                     { "size_mb", 'f' },
                                     { "target_size_bytes", 'i' },
                                     { "min_size_bytes", 'i' },
                                     { "max_size_bytes", 'i' },
                                     { "configured_max_bytes", 'i' },
                                     { "usage_percent", 'f' },
                                     { "hit_ratio_percent", 'f' },
                                     { "mru_hit_ratio_percent", 'f' },
                                     { "mfu_hit_ratio_percent", 'f' },
                                     { "hits", 'i' },
                                     { "misses", 'i' },
                                     { NULL, 0 } };

static const struct dflt d_none[] = { { NULL, 0 } };
static const struct dflt d_user_script[] = { { "name", 's' },          { "description", 's' },
                                             { "path", 's' },          { "executable", 'b' },
                                             { "last_modified", 't' }, { NULL, 0 } };

/* The routes whose sources ringhub does not read yet: the agent's default bodies. */
static const struct dflt d_registration[] = { { "type", 'S', "unknown" },
                                              { "state", 'S', "invalid" },
                                              { "expiration", 't' },
                                              { "update_expiration", 't' },
                                              { NULL, 0 } };
static const struct dflt d_sys_settings[] = { { "server_name", 's' }, { NULL, 0 } };
static const struct dflt d_disk_settings[] = { { "spindown_delay_minutes", 'i' },
                                               { "start_array", 'b' },
                                               { "spinup_groups", 'b' },
                                               { NULL, 0 } };
static const struct dflt d_enabled[] = { { "enabled", 'b' }, { NULL, 0 } };
static const struct dflt d_mover_settings[] = { { "active", 'b' },
                                                { "schedule", 's' },
                                                { "logging", 'b' },
                                                { "cache_floor_kb", 'i' },
                                                { NULL, 0 } };
static const struct dflt d_net_services[] = { { "smb", 'n' },
                                              { "nfs", 'n' },
                                              { "afp", 'n' },
                                              { "ftp", 'n' },
                                              { "ssh", 'n' },
                                              { "telnet", 'n' },
                                              { "avahi", 'n' },
                                              { "netbios", 'n' },
                                              { "wsd", 'n' },
                                              { "wireguard", 'n' },
                                              { "upnp", 'n' },
                                              { "ntp", 'n' },
                                              { "syslog_server", 'n' },
                                              { "total_services", 'i' },
                                              { "enabled_services", 'i' },
                                              { "running_services", 'i' },
                                              { NULL, 0 } };
/* without dynamix.cfg the agent says manual and correcting */
static const struct dflt d_parity_schedule[] = { { "mode", 'S', "manual" }, { "day", 'i' },
                                                 { "hour", 'i' },           { "day_of_month", 'i' },
                                                 { "month", 'i' },          { "frequency", 'i' },
                                                 { "duration_hours", 'i' }, { "cumulative", 'b' },
                                                 { "correcting", 'T' },     { NULL, 0 } };
static const struct dflt d_parity_rec[] = { { "action", 's' },           { "date", 't' },
                                            { "duration_seconds", 'i' }, { "speed_mbps", 'f' },
                                            { "status", 's' },           { "errors", 'i' },
                                            { "size_bytes", 'i' },       { NULL, 0 } };
static const struct dflt d_flash[] = { { "device", 's' },          { "model", 's' },
                                       { "vendor", 's' },          { "guid", 's' },
                                       { "size_bytes", 'i' },      { "used_bytes", 'i' },
                                       { "free_bytes", 'i' },      { "usage_percent", 'f' },
                                       { "smart_available", 'b' }, { NULL, 0 } };
static const struct dflt d_plugin[] = { { "name", 's' },
                                        { "version", 's' },
                                        { "author", 's' },
                                        { "update_available", 'b' },
                                        { NULL, 0 } };
static const struct dflt d_os_update[] = { { "current_version", 's' },
                                           { "update_available", 'b' },
                                           { "status", 'S', "unknown" },
                                           { NULL, 0 } };
static const struct dflt d_ud_device[] = { { "device", 's' },         { "serial_number", 's' },
                                           { "model", 's' },          { "identification", 's' },
                                           { "partitions", 'a' },     { "status", 's' },
                                           { "spin_state", 's' },     { "auto_mount", 'b' },
                                           { "pass_through", 'b' },   { "disable_mount", 'b' },
                                           { "script_enabled", 'b' }, { NULL, 0 } };
static const struct dflt d_ud_remote[] = {
        { "type", 's' },   { "source", 's' },     { "mount_point", 's' },
        { "status", 's' }, { "auto_mount", 'b' }, { "read_only", 'b' },
        { NULL, 0 }
};
static const struct dflt d_mover[] = { { "active", 'b' },
                                       { "last_run_duration_seconds", 'i' },
                                       { "last_run_files_moved", 'i' },
                                       { "last_run_bytes_moved", 'i' },
                                       { "current_throughput_mbs", 'f' },
                                       { NULL, 0 } };

enum shape {
        S_NOTIF_ALL,      /* {overview, notifications, timestamp} */
        S_NOTIF_UNREAD,   /* {notifications, count} of type unread */
        S_NOTIF_ARCHIVE,  /* … of type archive */
        S_NOTIF_OVERVIEW, /* {unread:{…}, archive:{…}} */
        S_NOTIF_ONE,      /* notifications/{id} */
        S_LIST,           /* [entity…] */
        S_LIST_ONE,       /* prefix/{key} */
        S_SINGLE,         /* {…} */
        S_RECORDS,        /* {records: [entity…], timestamp} */
        S_HW_FULL,        /* {bios, baseboard, cpu, cache, memory_array, memory_devices} */
        S_SETTINGS,       /* the route's unraid_setting rows as one object */
        S_PLUGINS,        /* {plugins, total_count, updates_available, timestamp} */
        S_UNASSIGNED,     /* {devices, remote_shares, timestamp} */
        S_SERVICES,       /* {smb: {name, enabled, running, port, description}, …, totals} */
        S_DEFAULT,        /* not read yet: the agent's default object */
        S_EMPTY_LIST,     /* not read yet: [] */
};

struct route {
        const char *path; /* exact, or the prefix of /{id} for *_ONE */
        enum shape shape;
        unsigned topic;
        const struct dflt *dflt;
        const char *collector;
        const char *sources[2]; /* source_status keys, first not up explains */
        const char *missing;    /* S_DEFAULT, S_EMPTY_LIST: what ringhub does not read yet */
};

#define NOT_YET(path, shape, dflt, what)                                                         \
        {                                                                                        \
                path, shape, 0, dflt, "unraid", { NULL, NULL }, "not read by ringhub yet: " what \
        }

static const struct route routes[] = {
        { "notifications",
          S_NOTIF_ALL,
          RT_notification,
          d_notification,
          "unraid",
          { "notifications", NULL } },
        { "notifications/unread",
          S_NOTIF_UNREAD,
          RT_notification,
          d_notification,
          "unraid",
          { "notifications", NULL } },
        { "notifications/archive",
          S_NOTIF_ARCHIVE,
          RT_notification,
          d_notification,
          "unraid",
          { "notifications", NULL } },
        { "notifications/overview",
          S_NOTIF_OVERVIEW,
          RT_notification,
          d_notification,
          "unraid",
          { "notifications", NULL } },
        { "notifications/",
          S_NOTIF_ONE,
          RT_notification,
          d_notification,
          "unraid",
          { "notifications", NULL } },
        { "zfs/pools", S_LIST, RT_zfs_pool, d_pool, "zfs", { "zfs_kstat", "zpool" } },
        { "zfs/pools/", S_LIST_ONE, RT_zfs_pool, d_pool, "zfs", { "zfs_kstat", "zpool" } },
        { "zfs/datasets", S_LIST, RT_zfs_dataset, d_dataset, "zfs", { "zfs_kstat", "zfs" } },
        { "zfs/snapshots", S_LIST, RT_zfs_snapshot, d_snapshot, "zfs", { "zfs_kstat", "zfs" } },
        { "zfs/arc", S_SINGLE, RT_zfs_arc, d_arc, "zfs", { "zfs_kstat", NULL } },
        { "registration",
          S_SINGLE,
          RT_registration,
          d_registration,
          "unraid",
          { "var.ini", NULL } },
        { "array/parity-check/history",
          S_RECORDS,
          RT_parity_check,
          d_parity_rec,
          "unraid",
          { "parity-checks.log", NULL } },
#define SETTINGS(path, dflt, file)                                   \
        {                                                            \
                path, S_SETTINGS, RT_unraid_setting, dflt, "unraid", \
                {                                                    \
                        file, NULL                                   \
                }                                                    \
        }
#define HW(path, shape, topic)                        \
        {                                             \
                path, shape, topic, d_none, "system", \
                {                                     \
                        "smbios", NULL                \
                }                                     \
        }
        HW("hardware/full", S_HW_FULL, RT_hw_bios),
        HW("hardware/bios", S_SINGLE, RT_hw_bios),
        HW("hardware/baseboard", S_SINGLE, RT_hw_baseboard),
        HW("hardware/cpu", S_SINGLE, RT_hw_cpu),
        HW("hardware/cache", S_LIST, RT_hw_cache),
        HW("hardware/memory-array", S_SINGLE, RT_hw_memory_array),
        HW("hardware/memory-devices", S_LIST, RT_hw_memory_device),
        SETTINGS("settings/system", d_sys_settings, "ident.cfg"),
        SETTINGS("settings/disks", d_disk_settings, "disk.cfg"),
        SETTINGS("settings/docker", d_enabled, "docker.cfg"),
        SETTINGS("settings/vm", d_enabled, "domain.cfg"),
        SETTINGS("settings/mover", d_mover_settings, "var.ini"),
        { "settings/network-services",
          S_SERVICES,
          RT_net_service,
          NULL,
          "unraid",
          { "network-services", NULL } },
        SETTINGS("array/parity-check/schedule", d_parity_schedule, "dynamix.cfg"),
        SETTINGS("system/flash", d_flash, "var.ini"),
        { "plugins", S_PLUGINS, RT_unraid_plugin, d_plugin, "unraid", { "plugins", NULL } },
        /* the installed version; whether a newer one exists needs Unraid's online check */
        SETTINGS("os/update", d_os_update, "var.ini"),
        { "user-scripts",
          S_LIST,
          RT_user_script,
          d_user_script,
          "unraid",
          { "user.scripts", NULL } },
        { "unassigned",
          S_UNASSIGNED,
          RT_unassigned_device,
          d_ud_device,
          "unraid",
          { "unassigned", NULL } },
        SETTINGS("mover", d_mover, "var.ini"),
};

static json_object *now_time(void)
{
        char buf[64];
        format_rfc3339_ns(buf, sizeof(buf), real_ns(), true);
        return json_object_new_string(buf);
}

static void fill_defaults(json_object *o, const struct dflt *d)
{
        for (; d && d->key; d++) {
                if (json_object_object_get_ex(o, d->key, NULL))
                        continue;
                json_object *v = NULL;
                switch (d->type) {
                case 's':
                        v = json_object_new_string("");
                        break;
                case 'i':
                        v = json_object_new_int64(0);
                        break;
                case 'f':
                        v = json_object_new_double(0);
                        break;
                case 'b':
                        v = json_object_new_boolean(0);
                        break;
                case 'a':
                        v = json_object_new_array();
                        break;
                case 't':
                        v = json_object_new_string(GO_ZERO_TIME);
                        break;
                case 'S':
                        v = json_object_new_string(d->str);
                        break;
                case 'T':
                        v = json_object_new_boolean(1);
                        break;
                case 'n':
                        v = json_object_new_object();
                        json_object_object_add(v, "name", json_object_new_string(d->key));
                        json_object_object_add(v, "enabled", json_object_new_boolean(0));
                        json_object_object_add(v, "running", json_object_new_boolean(0));
                        break;
                }
                json_object_object_add(o, d->key, v);
        }
        if (!json_object_object_get_ex(o, "timestamp", NULL))
                json_object_object_add(o, "timestamp", now_time());
}

/* The agent's SourceStatus: {subsystem, state, reason?, last_checked, last_error?}. */
static json_object *status_json(const char *sub, const char *state, const char *reason)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "subsystem", json_object_new_string(sub));
        json_object_object_add(o, "state", json_object_new_string(state));
        if (*reason)
                json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "last_checked", now_time());
        if (*reason && strcmp(state, "healthy") != 0)
                json_object_object_add(o, "last_error", json_object_new_string(reason));
        return o;
}

/* {subsystem, state, reason}: the first of the route's sources that is not up, else
 * healthy. Caller holds state_lock. */
static json_object *source_status(const struct route *r)
{
        if (r->missing)
                return status_json(r->path, "unavailable", r->missing);
        struct state_topic *t = state_topic(RT_source_status);
        const char *state = "healthy", *reason = "", *sub = r->sources[0];
        char why[192];
        for (unsigned i = 0; i < ELEMENTSOF(r->sources) && r->sources[i]; i++) {
                struct state_entity *e = t ? state_find(t, r->sources[i], NULL) : NULL;
                if (!e) {
                        if (i > 0)
                                continue; /* a later source not yet tried (zfs list runs
                                           * minutes after start) */
                        snprintf(why, sizeof(why),
                                 "collector %s has not reported %s (not running here?)",
                                 r->collector, r->sources[i]);
                        state = "unavailable";
                        reason = why;
                        sub = r->sources[i];
                        break;
                }
                const struct rec_source_status *ss = (const void *)e->payload;
                if (strcmp(ss->status, "up") != 0) {
                        snprintf(why, sizeof(why), "%s", ss->message);
                        state = "unavailable";
                        reason = why;
                        sub = r->sources[i];
                        break;
                }
        }
        return status_json(sub, state, reason);
}

/* Every entity of a topic as agent-shaped objects (filter: a notification type, or
 * NULL). Caller holds state_lock. */
static json_object *entities(const struct route *r, const char *type_filter)
{
        struct state_topic *t = state_topic(r->topic);
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && t && i < t->n; i++) {
                json_object *o = state_entity_json(t->d, t->ents[i]), *ty;
                if (!o)
                        continue;
                if (type_filter && (!json_object_object_get_ex(o, "type", &ty) ||
                                    strcmp(json_object_get_string(ty), type_filter) != 0)) {
                        json_object_put(o);
                        continue;
                }
                fill_defaults(o, r->dflt);
                json_object_array_add(a, o);
        }
        return a;
}

static const char *str_of(json_object *o, const char *key)
{
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "";
}

/* Newest first, as the agent sorts them (RFC 3339 UTC strings sort by time). */
static int by_time_desc(const void *a, const void *b)
{
        return strcmp(str_of(*(json_object *const *)b, "timestamp"),
                      str_of(*(json_object *const *)a, "timestamp"));
}

static json_object *counts(json_object *list, const char *type)
{
        int info = 0, warning = 0, alert = 0;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *n = json_object_array_get_idx(list, i);
                if (strcmp(str_of(n, "type"), type) != 0)
                        continue;
                const char *imp = str_of(n, "importance");
                if (strcmp(imp, "alert") == 0)
                        alert++;
                else if (strcmp(imp, "warning") == 0)
                        warning++;
                else if (strcmp(imp, "info") == 0 || strcmp(imp, "normal") == 0)
                        info++;
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "info", json_object_new_int(info));
        json_object_object_add(o, "warning", json_object_new_int(warning));
        json_object_object_add(o, "alert", json_object_new_int(alert));
        json_object_object_add(o, "total", json_object_new_int(info + warning + alert));
        return o;
}

static json_object *overview(json_object *list)
{
        json_object *o = json_object_new_object();
        json_object_object_add(o, "unread", counts(list, "unread"));
        json_object_object_add(o, "archive", counts(list, "archive"));
        return o;
}

/* The entity whose key is want; a notification in both folders (Unraid keeps an archive
 * copy of a new one) is the unread one. */
static json_object *find_by(json_object *list, const char *key, const char *want)
{
        json_object *found = NULL;
        for (size_t i = 0; i < json_object_array_length(list); i++) {
                json_object *o = json_object_array_get_idx(list, i);
                if (strcmp(str_of(o, key), want) != 0)
                        continue;
                if (!found || strcmp(str_of(o, "type"), "unread") == 0)
                        found = o;
        }
        return json_object_get(found);
}

static json_object *not_found(const struct route *r, const char *id)
{
        json_object *o = json_object_new_object();
        if (r->shape == S_NOTIF_ONE) {
                json_object_object_add(o, "error",
                                       json_object_new_string("Notification not found"));
                return o;
        }
        char msg[160];
        snprintf(msg, sizeof(msg), "ZFS pool not found: %s", id);
        json_object_object_add(o, "success", json_object_new_boolean(0));
        json_object_object_add(o, "message", json_object_new_string(msg));
        json_object_object_add(o, "timestamp", now_time());
        return o;
}

/* One SINGLE topic's entity, or NULL before its first record. Caller holds state_lock. */
static json_object *single_of(unsigned topic)
{
        struct state_topic *t = state_topic(topic);
        return t && t->n ? state_entity_json(t->d, t->ents[0]) : NULL;
}

static json_object *list_of(unsigned topic)
{
        struct state_topic *t = state_topic(topic);
        json_object *a = json_object_new_array();
        for (size_t i = 0; a && t && i < t->n; i++)
                json_object_array_add(a, state_entity_json(t->d, t->ents[i]));
        return a;
}

/* A settings route: its rows (route, key, value, type) as one object. */
static json_object *settings(const struct route *r)
{
        struct state_topic *t = state_topic(RT_unraid_setting);
        json_object *o = json_object_new_object();
        for (size_t i = 0; o && t && i < t->n; i++) {
                const struct rec_unraid_setting *x = (const void *)t->ents[i]->payload;
                if (strcmp(x->route, r->path) != 0)
                        continue;
                int64_t v = 0;
                double f = 0;
                json_object *j;
                if (x->type[0] == 'b')
                        j = json_object_new_boolean(strcmp(x->value, "true") == 0);
                else if (x->type[0] == 'i')
                        j = json_object_new_int64(safe_atoi64(x->value, &v) == 0 ? v : 0);
                else if (x->type[0] == 'f')
                        j = json_object_new_double(safe_atod(x->value, &f) == 0 ? f : 0);
                else
                        j = json_object_new_string(x->value);
                json_object_object_add(o, x->key, j);
        }
        return o;
}

/* /hardware/full: the parts there are (the agent leaves out the others). */
static json_object *hw_full(void)
{
        static const struct {
                const char *key;
                unsigned topic;
                bool list;
        } parts[] = { { "bios", RT_hw_bios, false },
                      { "baseboard", RT_hw_baseboard, false },
                      { "cpu", RT_hw_cpu, false },
                      { "cache", RT_hw_cache, true },
                      { "memory_array", RT_hw_memory_array, false },
                      { "memory_devices", RT_hw_memory_device, true } };
        json_object *o = json_object_new_object();
        for (size_t i = 0; o && i < ELEMENTSOF(parts); i++) {
                json_object *v =
                    parts[i].list ? list_of(parts[i].topic) : single_of(parts[i].topic);
                if (v && parts[i].list && json_object_array_length(v) == 0) {
                        json_object_put(v);
                        v = NULL;
                }
                if (v)
                        json_object_object_add(o, parts[i].key, v);
        }
        json_object_object_add(o, "timestamp", now_time());
        return o;
}

/* The body of route r (id for the *_ONE shapes); *ret_status 404 for an unknown id. */
static json_object *build(const struct route *r, const char *id, unsigned *ret_status,
                          json_object **ret_ss)
{
        bool single = r->shape == S_SINGLE || r->shape == S_DEFAULT || r->shape == S_EMPTY_LIST ||
                      r->shape == S_HW_FULL || r->shape == S_SETTINGS;
        json_object *list = single ? NULL
                                   : entities(r, r->shape == S_NOTIF_UNREAD    ? "unread"
                                                 : r->shape == S_NOTIF_ARCHIVE ? "archive"
                                                                               : NULL);
        *ret_ss = source_status(r);
        if (list && r->topic == RT_notification)
                json_object_array_sort(list, by_time_desc);
        json_object *o = NULL;
        switch (r->shape) {
        case S_NOTIF_ALL:
                o = json_object_new_object();
                json_object_object_add(o, "overview", overview(list));
                json_object_object_add(o, "notifications", json_object_get(list));
                json_object_object_add(o, "timestamp", now_time());
                break;
        case S_NOTIF_UNREAD:
        case S_NOTIF_ARCHIVE:
                o = json_object_new_object();
                json_object_object_add(o, "notifications", json_object_get(list));
                json_object_object_add(o, "count",
                                       json_object_new_int((int)json_object_array_length(list)));
                break;
        case S_NOTIF_OVERVIEW:
                o = overview(list);
                break;
        case S_NOTIF_ONE:
        case S_LIST_ONE:
                o = find_by(list, r->shape == S_NOTIF_ONE ? "id" : "name", id);
                if (!o) {
                        *ret_status = 404;
                        o = not_found(r, id);
                }
                break;
        case S_LIST:
                o = json_object_get(list);
                break;
        case S_HW_FULL:
                o = hw_full();
                break;
        case S_PLUGINS: {
                /* every .plg in /boot/config/plugins is an installed, enabled plugin */
                int updates = 0;
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        json_object *p = json_object_array_get_idx(list, i), *u;
                        json_object_object_add(p, "enabled", json_object_new_boolean(1));
                        if (json_object_object_get_ex(p, "update_available", &u) &&
                            json_object_get_boolean(u))
                                updates++;
                }
                o = json_object_new_object();
                json_object_object_add(o, "plugins", json_object_get(list));
                json_object_object_add(o, "total_count",
                                       json_object_new_int((int)json_object_array_length(list)));
                json_object_object_add(o, "updates_available", json_object_new_int(updates));
                json_object_object_add(o, "timestamp", now_time());
                break;
        }
        case S_UNASSIGNED: {
                const struct route rem = { .topic = RT_unassigned_remote, .dflt = d_ud_remote };
                o = json_object_new_object();
                json_object_object_add(o, "devices", json_object_get(list));
                json_object_object_add(o, "remote_shares", entities(&rem, NULL));
                json_object_object_add(o, "timestamp", now_time());
                break;
        }
        case S_SERVICES: {
                /* each record under its key, without the key and sample time */
                int enabled = 0, running = 0;
                o = json_object_new_object();
                for (size_t i = 0; i < json_object_array_length(list); i++) {
                        json_object *x = json_object_array_get_idx(list, i), *b;
                        char key[32];
                        snprintf(key, sizeof(key), "%s", str_of(x, "key"));
                        json_object_object_del(x, "key");
                        json_object_object_del(x, "timestamp");
                        if (json_object_object_get_ex(x, "enabled", &b) &&
                            json_object_get_boolean(b))
                                enabled++;
                        if (json_object_object_get_ex(x, "running", &b) &&
                            json_object_get_boolean(b))
                                running++;
                        json_object_object_add(o, key, json_object_get(x));
                }
                if (json_object_array_length(list)) {
                        json_object_object_add(
                            o, "total_services",
                            json_object_new_int((int)json_object_array_length(list)));
                        json_object_object_add(o, "enabled_services", json_object_new_int(enabled));
                        json_object_object_add(o, "running_services", json_object_new_int(running));
                }
                fill_defaults(o, d_net_services);
                break;
        }
        case S_SETTINGS:
                o = settings(r);
                if (o)
                        fill_defaults(o, r->dflt);
                break;
        case S_RECORDS:
                o = json_object_new_object();
                json_object_object_add(o, "records", json_object_get(list));
                json_object_object_add(o, "timestamp", now_time());
                break;
        case S_SINGLE:
                o = single_of(r->topic);
                if (!o)
                        o = json_object_new_object();
                fill_defaults(o, r->dflt);
                break;
        case S_DEFAULT:
                o = json_object_new_object();
                fill_defaults(o, r->dflt);
                break;
        case S_EMPTY_LIST:
                o = json_object_new_array();
                break;
        }
        json_object_put(list);
        return o;
}

bool rest_sources_get(const char *sub, struct rest_sources_reply *ret)
{
        const struct route *r = NULL;
        const char *id = NULL;
        for (size_t i = 0; i < ELEMENTSOF(routes) && !r; i++) {
                const struct route *x = &routes[i];
                bool one = x->shape == S_NOTIF_ONE || x->shape == S_LIST_ONE;
                if (!one && strcmp(sub, x->path) == 0)
                        r = x;
                else if (one && startswith(sub, x->path) && sub[strlen(x->path)] &&
                         !strchr(sub + strlen(x->path), '/')) {
                        r = x;
                        id = sub + strlen(x->path);
                }
        }
        if (!r)
                return false;
        *ret = (struct rest_sources_reply){ .status = 200 };
        json_object *ss = NULL;
        pthread_mutex_lock(&state_lock);
        json_object *o = build(r, id, &ret->status, &ss);
        pthread_mutex_unlock(&state_lock);
        if (o && ss) {
                if (json_object_is_type(o, json_type_object) && ret->status == 200)
                        json_object_object_add(o, "source_status", json_object_get(ss));
                const char *reason = str_of(ss, "reason");
                snprintf(ret->source_header, sizeof(ret->source_header), "%s%s%s",
                         str_of(ss, "state"), *reason ? "; " : "", reason);
        }
        size_t len = 0;
        const char *s = o ? jsonfmt_text(o, &len) : NULL;
        ret->body = s ? strndup(s, len) : NULL;
        ret->len = ret->body ? len : 0;
        if (!ret->body)
                ret->status = 500;
        json_object_put(o);
        json_object_put(ss);
        return true;
}
