/*
 * unraid_settings.c — Unraid's settings files as the agent's settings routes show them
 * (see unraid_int.h), for ringhub-collect-unraid.
 *
 * (and /os/update's current_version, var.ini's version; the parity-check schedule,
 * dynamix.cfg's [parity]; /system/flash's guid, model, vendor from var.ini and its space
 * from statvfs of /boot; /mover's state from var.ini and its last run from mover.log). One table
 * maps each route's JSON key to a file, a key in it and a type; the files are key="value" lines
 * (libinih, global section). Every run reads each file once and writes all rows as one batch of
 * `unraid_setting` records; the hub (rest_sources.c) turns a route's rows into its object. A
 * missing file is its source ("ident.cfg", …) down, and its route answers the agent's defaults.
 * Values longer than a record holds end in "…".
 */
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include "unraid_int.h"

#include "collector_spawn.h"
#include "macros.h"
#include "util.h"

struct setting {
        const char *route, *key; /* the agent's */
        unsigned file;           /* index in files[] */
        const char *section;     /* the file's [section], "" for none */
        const char *ini;         /* the file's key */
        /* s, i, b as the record says; read as: m parity mode number → name (s), h "min
         * hour" → hour (i), w write = CORRECT or empty → correcting (b) */
        char type;
};

/* source NULL: reported by another reader of the same file (var.ini: unraid_files.c) */
static const struct {
        const char *path, *source;
} files[] = {
        { "/boot/config/ident.cfg", "ident.cfg" },
        { "/boot/config/disk.cfg", "disk.cfg" },
        { "/boot/config/docker.cfg", "docker.cfg" },
        { "/boot/config/domain.cfg", "domain.cfg" },
        { "/var/local/emhttp/var.ini", NULL },
        { "/boot/config/plugins/dynamix/dynamix.cfg", "dynamix.cfg" },
};

static const struct setting table[] = {
        { "settings/system", "server_name", 0, "", "NAME", 's' },
        { "settings/system", "description", 0, "", "COMMENT", 's' },
        { "settings/system", "model", 0, "", "MODEL", 's' },
        { "settings/system", "timezone", 0, "", "TIMEZONE", 's' },
        { "settings/system", "date_format", 0, "", "DATE_FORMAT", 's' },
        { "settings/system", "time_format", 0, "", "TIME_FORMAT", 's' },
        { "settings/system", "security_mode", 0, "", "SECURITY", 's' },
        { "settings/disks", "spindown_delay_minutes", 1, "", "spindownDelay", 'i' },
        { "settings/disks", "start_array", 1, "", "startArray", 'b' },
        { "settings/disks", "spinup_groups", 1, "", "spinupGroups", 'b' },
        { "settings/disks", "shutdown_timeout_seconds", 1, "", "shutdownTimeout", 'i' },
        { "settings/disks", "default_filesystem", 1, "", "defaultFsType", 's' },
        { "settings/docker", "enabled", 2, "", "DOCKER_ENABLED", 'b' },
        { "settings/docker", "image_path", 2, "", "DOCKER_IMAGE_FILE", 's' },
        { "settings/docker", "default_network", 2, "", "DOCKER_DEFAULT_NETWORK", 's' },
        { "settings/vm", "enabled", 3, "", "SERVICE", 'b' },
        { "settings/mover", "active", 4, "", "shareMoverActive", 'b' },
        { "settings/mover", "schedule", 4, "", "shareMoverSchedule", 's' },
        { "settings/mover", "logging", 4, "", "shareMoverLogging", 'b' },
        { "settings/mover", "cache_floor_kb", 4, "", "shareCacheFloor", 'i' },
        { "os/update", "current_version", 4, "", "version", 's' },
        { "mover", "active", 4, "", "shareMoverActive", 'b' },
        { "mover", "schedule", 4, "", "shareMoverSchedule", 's' },
        { "system/flash", "guid", 4, "", "flashGUID", 's' },
        { "system/flash", "model", 4, "", "flashProduct", 's' },
        { "system/flash", "vendor", 4, "", "flashVendor", 's' },
        { "array/parity-check/schedule", "mode", 5, "parity", "mode", 'm' },
        { "array/parity-check/schedule", "day", 5, "parity", "day", 'i' },
        { "array/parity-check/schedule", "hour", 5, "parity", "hour", 'h' },
        { "array/parity-check/schedule", "day_of_month", 5, "parity", "dotm", 'i' },
        { "array/parity-check/schedule", "month", 5, "parity", "month", 'i' },
        { "array/parity-check/schedule", "cron", 5, "parity", "cron", 's' },
        { "array/parity-check/schedule", "frequency", 5, "parity", "frequency", 'i' },
        { "array/parity-check/schedule", "duration_hours", 5, "parity", "duration", 'i' },
        { "array/parity-check/schedule", "cumulative", 5, "parity", "cumulative", 'b' },
        { "array/parity-check/schedule", "correcting", 5, "parity", "write", 'w' },
};

bool unraid_settings_file(const char *name)
{
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i].source && strcmp(name, files[i].source) == 0)
                        return true;
        return false;
}

struct file_ctx {
        struct collector *c;
        unsigned file;
        unsigned rows;
};

static void add_row(struct collector *c, const struct setting *t, const char *raw)
{
        char v[512];
        size_t n = strlen(raw);
        if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"')
                snprintf(v, sizeof(v), "%.*s", (int)(n - 2), raw + 1);
        else
                strscpy(v, sizeof(v), raw);
        struct rec_unraid_setting *r = collector_batch_add(c, RT_unraid_setting);
        if (!r)
                return;
        snprintf(r->id, sizeof(r->id), "%s/%s", t->route, t->key);
        strscpy(r->route, sizeof(r->route), t->route);
        strscpy(r->key, sizeof(r->key), t->key);
        char type = t->type;
        if (type == 'm') {
                static const char *const modes[] = { "disabled", "daily",  "weekly",
                                                     "monthly",  "yearly", "custom" };
                uint64_t m;
                strscpy(v, sizeof(v),
                        safe_atou64(v, &m) == 0 && m < ELEMENTSOF(modes) ? modes[m] : "manual");
                type = 's';
        } else if (type == 'h') {
                char *t0 = strstrip(v), *last = strrchr(t0, ' ');
                memmove(v, last ? last + 1 : t0, strlen(last ? last + 1 : t0) + 1);
                type = 'i';
        } else if (type == 'w') {
                strscpy(v, sizeof(v), strcmp(v, "CORRECT") == 0 || !*v ? "true" : "false");
                type = 'b';
        } else if (type == 'b') {
                bool on = strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 ||
                          strcmp(v, "enable") == 0 || strcmp(v, "enabled") == 0;
                strscpy(v, sizeof(v), on ? "true" : "false");
        }
        double d;
        if (type == 'f' && safe_atod(v, &d) < 0)
                strscpy(v, sizeof(v), "0");
        if (type == 'i') {
                int64_t x;
                if (safe_atoi64(v, &x) < 0)
                        strscpy(v, sizeof(v), "0"); /* the agent's default for garbage */
        }
        r->truncated = collector_copy_text(r->value, sizeof(r->value), v);
        r->type[0] = type;
        r->type[1] = 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
        struct file_ctx *f = user;
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].file == f->file && strcmp(table[i].section, section) == 0 &&
                    strcmp(table[i].ini, name) == 0) {
                        add_row(f->c, &table[i], value ? value : "");
                        f->rows++;
                }
        return 1;
}

/* /system/flash's space: statvfs of the flash (/boot), as rows of its own. */
static void flash_space(struct collector *c)
{
        static const struct setting rows[] = {
                { "system/flash", "size_bytes", 0, "", "", 'i' },
                { "system/flash", "used_bytes", 0, "", "", 'i' },
                { "system/flash", "free_bytes", 0, "", "", 'i' },
                { "system/flash", "usage_percent", 0, "", "", 'f' },
        };
        char p[PATH_MAX], v[4][32];
        struct statvfs st;
        if (collector_root_path(c, "/boot", p, sizeof(p)) < 0 || statvfs(p, &st) < 0 ||
            st.f_blocks == 0)
                return;
        uint64_t size = (uint64_t)st.f_blocks * st.f_frsize,
                 avail = (uint64_t)st.f_bavail * st.f_frsize,
                 used = size - (uint64_t)st.f_bfree * st.f_frsize;
        snprintf(v[0], sizeof(v[0]), "%" PRIu64, size);
        snprintf(v[1], sizeof(v[1]), "%" PRIu64, used);
        snprintf(v[2], sizeof(v[2]), "%" PRIu64, avail);
        snprintf(v[3], sizeof(v[3]), "%.1f", 100.0 * (double)used / (double)size);
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                add_row(c, &rows[i], v[i]);
}

/* "Sat Nov 14 03:00:01 UTC 2023" or without the zone, read as UTC → RFC 3339; 0 if not. */
static uint64_t mover_time(const char *s, char *out, size_t size)
{
        static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
        char mon[4], zone[16];
        int day, h, m, sec, year;
        struct tm tm = { 0 };
        if (sscanf(s, "%*s %3s %d %d:%d:%d %15s %d", mon, &day, &h, &m, &sec, zone, &year) != 7 &&
            sscanf(s, "%*s %3s %d %d:%d:%d %d", mon, &day, &h, &m, &sec, &year) != 6)
                return 0;
        const char *at = strstr(months, mon);
        if (!at || (at - months) % 3 || strlen(mon) != 3)
                return 0;
        tm = (struct tm){ .tm_year = year - 1900,
                          .tm_mon = (int)(at - months) / 3,
                          .tm_mday = day,
                          .tm_hour = h,
                          .tm_min = m,
                          .tm_sec = sec };
        time_t t = timegm(&tm);
        if (t <= 0)
                return 0;
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return (uint64_t)t;
}

/* /mover's last run from /var/log/mover.log: the newest "Started (DATE)", the
 * "Finished (DATE)" after it, and the last "N files" and "N bytes" counts. */
static void mover_log(struct collector *c)
{
        static const struct setting rows[] = {
                { "mover", "last_run_start", 0, "", "", 's' },
                { "mover", "last_run_finish", 0, "", "", 's' },
                { "mover", "last_run_duration_seconds", 0, "", "", 'i' },
                { "mover", "last_run_files_moved", 0, "", "", 'i' },
                { "mover", "last_run_bytes_moved", 0, "", "", 'i' },
        };
        char p[PATH_MAX], line[512], start[32] = "", finish[32] = "";
        uint64_t t0 = 0, t1 = 0, moved = 0, bytes = 0;
        if (collector_root_path(c, "/var/log/mover.log", p, sizeof(p)) < 0)
                return;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f)
                return;
        while (fgets(line, sizeof(line), f)) {
                char *a = strcasestr(line, "started ("), *b = strcasestr(line, "finished (");
                uint64_t n;
                if (a && (n = mover_time(a + 9, start, sizeof(start)))) {
                        t0 = n;
                        t1 = moved = bytes = 0;
                        finish[0] = 0;
                } else if (b && (n = mover_time(b + 10, finish, sizeof(finish))))
                        t1 = n;
                for (char *q = line; (q = strpbrk(q, "0123456789")); q += strspn(q, "0123456789")) {
                        char *e;
                        unsigned long long v = strtoull(q, &e, 10);
                        if (strncmp(e, " file", 5) == 0)
                                moved = v;
                        else if (strncmp(e, " byte", 5) == 0)
                                bytes = v;
                }
        }
        if (!t0 && !t1)
                return;
        char v[5][32];
        strscpy(v[0], sizeof(v[0]), start);
        strscpy(v[1], sizeof(v[1]), finish);
        snprintf(v[2], sizeof(v[2]), "%" PRIu64, t0 && t1 > t0 ? t1 - t0 : 0);
        snprintf(v[3], sizeof(v[3]), "%" PRIu64, moved);
        snprintf(v[4], sizeof(v[4]), "%" PRIu64, bytes);
        for (size_t i = 0; i < ELEMENTSOF(rows); i++)
                if (*v[i])
                        add_row(c, &rows[i], v[i]);
}

int unraid_settings_run(struct collector *c)
{
        collector_batch_begin(c);
        for (unsigned i = 0; i < ELEMENTSOF(files); i++) {
                char p[PATH_MAX];
                if (collector_root_path(c, files[i].path, p, sizeof(p)) < 0)
                        continue;
                _cleanup_fclose_ FILE *f = fopen(p, "re");
                if (!f) {
                        if (files[i].source)
                                collector_source_status(c, files[i].source, false, "%s: %m", p);
                        continue;
                }
                struct file_ctx ctx = { .c = c, .file = i };
                int r = ini_parse_file(f, handler, &ctx);
                if (r > 0)
                        collector_problem(c, "garbage in %s line %d, using what could be read", p,
                                          r);
                if (files[i].source)
                        collector_source_status(c, files[i].source, true, NULL);
        }
        flash_space(c);
        mover_log(c);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_unraid_setting);
        return collector_batch_commit(c);
}
