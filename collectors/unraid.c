/*
 * unraid.c — ringhub-collect-unraid: Unraid's own files, starting with the dynamix
 * notifications.
 *
 * Notifications are `.notify` files (key=value lines: event, subject, description,
 * importance, link, timestamp) in <base>/unread and <base>/archive, where <base> is
 * [notify] path of /boot/config/plugins/dynamix/dynamix.cfg (read with libinih), by
 * default /boot/config/plugins/dynamix/notifications — all under --rootfs. Both folders
 * (and the base, so that a folder created later is seen) are watched with inotify: a file
 * written, moved or deleted re-reads the folders 50 ms later and writes one batch of
 * `notification` records. The task's own interval (default 30 min) is only a safety net:
 * nothing polls. Text longer than a record field ends in "…" and sets `truncated`.
 *
 * Commands (create, archive, unarchive, delete, archive all) are in unraid_control.c, the
 * User Scripts runner (script-run, on a worker thread) in unraid_scripts.c; the
 * licence (var.ini) and the parity-check history (parity-checks.log), the second task
 * "files", in unraid_files.c, and the settings files (ident.cfg, disk.cfg, docker.cfg,
 * domain.cfg, var.ini's mover keys) in unraid_settings.c, the plugins (*.plg) in
 * unraid_plugins.c; their folders are watched too. The third task, "devices" (every
 * minute), lists the unassigned devices and remote shares (unraid_devices.c) and the
 * network services (unraid_services.c).
 *
 * No base folder: an empty list and source "notifications" absent. A garbage or huge file
 * yields what could be read (its first 16 KiB) and one log line. Spawns nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "collector.h"
#include "collector_spawn.h"
#include "unraid_int.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define NOTIFY_FILE_MAX (16u * 1024)
#define MAX_NOTIFY      (COLLECTOR_MAX_BATCH - 1)
#define DYNAMIX_CFG     "/boot/config/plugins/dynamix/dynamix.cfg"
#define DEFAULT_BASE    "/boot/config/plugins/dynamix/notifications"

struct unraid_state {
        int inotify_fd;
        /* emhttp, /boot/config, its plugins, the user scripts, dynamix: TASK_FILES; the
         * others (the notifications folders) TASK_NOTIFY */
        int wd_files[6];
        sd_event_source *inotify_src;
        char base[PATH_MAX];              /* under the root */
        struct collector_worker *scripts; /* runs user scripts (unraid_scripts.c) */
};

enum { TASK_NOTIFY = 0, TASK_FILES = 1 };

/* ---- the notifications folder ---- */

static int cfg_handler(void *user, const char *section, const char *name, const char *value)
{
        char *path = user;
        if (strcmp(section, "notify") == 0 && strcmp(name, "path") == 0 && value && *value)
                strscpy(path, PATH_MAX, value);
        return 1;
}

/* <root>/<[notify] path, else the default> into s->base. */
static int notify_base(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        char cfg[PATH_MAX], rel[PATH_MAX] = DEFAULT_BASE;
        if (collector_root_path(c, DYNAMIX_CFG, cfg, sizeof(cfg)) == 0) {
                _cleanup_fclose_ FILE *f = fopen(cfg, "re");
                if (f && ini_parse_file(f, cfg_handler, rel) > 0)
                        collector_problem(c, "garbage in %s, using what could be read", cfg);
        }
        size_t n = strlen(rel);
        if (n > 1 && rel[0] == '"' && rel[n - 1] == '"') {
                memmove(rel, rel + 1, n - 2);
                rel[n - 2] = 0;
        }
        return collector_root_path(c, rel, s->base, sizeof(s->base));
}

/* A value as dynamix writes it: optionally in double quotes, with backslash escapes. */
static char *ini_value(char *v)
{
        v = strstrip(v);
        size_t n = strlen(v);
        if (n < 2 || v[0] != '"' || v[n - 1] != '"')
                return v;
        char *o = v, *end = v + n - 1;
        for (char *p = v + 1; p < end; p++) {
                if (*p == '\\' && p + 1 < end)
                        p++;
                *o++ = *p;
        }
        *o = 0;
        return v;
}

/* "1700000000" or "2025-01-15 10:30:00" (UTC); 0 when neither. */
static uint64_t parse_time(const char *v)
{
        uint64_t epoch;
        if (safe_atou64(v, &epoch) == 0 && epoch <= 253402300799ull)
                return epoch * NSEC_PER_SEC;
        struct tm tm = { 0 };
        const char *e = strptime(v, "%Y-%m-%d %H:%M:%S", &tm);
        if (!e || *e)
                return 0;
        time_t t = timegm(&tm);
        return t < 0 ? 0 : (uint64_t)t * NSEC_PER_SEC;
}

static void notify_parse(struct collector *c, const char *path, const char *name, const char *type)
{
        _cleanup_free_ char *buf = malloc(NOTIFY_FILE_MAX);
        if (!buf)
                return;
        ssize_t n = read_file_bounded(path, buf, NOTIFY_FILE_MAX);
        if (n < 0)
                return; /* removed meanwhile */
        if ((size_t)n >= NOTIFY_FILE_MAX - 1)
                collector_problem(c, "%s is over %u bytes, the rest ignored", path,
                                  NOTIFY_FILE_MAX);
        struct rec_notification *r = collector_batch_add(c, RT_notification);
        if (!r)
                return;
        bool cut = collector_copy_text(r->id, sizeof(r->id), name);
        snprintf(r->path, sizeof(r->path), "%s/%s", type, r->id);
        strscpy(r->type, sizeof(r->type), type);
        r->truncated = 0;
        unsigned known = 0;
        char *save = NULL;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(l, '=');
                if (!eq)
                        continue;
                *eq = 0;
                char *k = strstrip(l), *v = eq + 1;
                v = ini_value(v);
                known++;
                if (strcmp(k, "event") == 0)
                        cut |= collector_copy_text(r->title, sizeof(r->title), v);
                else if (strcmp(k, "subject") == 0)
                        cut |= collector_copy_text(r->subject, sizeof(r->subject), v);
                else if (strcmp(k, "description") == 0)
                        cut |= collector_copy_text(r->description, sizeof(r->description), v);
                else if (strcmp(k, "importance") == 0)
                        cut |= collector_copy_text(r->importance, sizeof(r->importance), v);
                else if (strcmp(k, "link") == 0)
                        cut |= collector_copy_text(r->link, sizeof(r->link), v);
                else if (strcmp(k, "timestamp") == 0)
                        r->timestamp = parse_time(v);
                else
                        known--;
        }
        if (known == 0)
                collector_problem(c, "no notification fields in %s", path);
        struct stat st;
        if (r->timestamp == 0 && stat(path, &st) == 0)
                r->timestamp = (uint64_t)st.st_mtim.tv_sec * NSEC_PER_SEC;
        if (r->timestamp) {
                time_t t = (time_t)(r->timestamp / NSEC_PER_SEC);
                struct tm tm;
                gmtime_r(&t, &tm);
                strftime(r->formatted_timestamp, sizeof(r->formatted_timestamp),
                         "%Y-%m-%dT%H:%M:%SZ", &tm);
        }
        r->truncated = cut;
}

static int cmp_name(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The .notify files of one folder, by name; returns how many were added. */
static unsigned notify_dir(struct collector *c, const char *sub, unsigned room)
{
        struct unraid_state *s = collector_state(c);
        char dir[PATH_MAX];
        if (path_join(dir, sizeof(dir), s->base, sub) < 0)
                return 0;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return 0;
        char **names = calloc(room ? room : 1, sizeof(*names));
        if (!names)
                return 0;
        unsigned n = 0, skipped = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                size_t len = strlen(e->d_name);
                if (len <= 7 || strcmp(e->d_name + len - 7, ".notify") != 0)
                        continue;
                if (n == room) {
                        skipped++;
                        continue;
                }
                if ((names[n] = strdup(e->d_name)))
                        n++;
        }
        if (skipped)
                collector_problem(c, "over %u notifications: %u in %s not shown", MAX_NOTIFY,
                                  skipped, dir);
        qsort(names, n, sizeof(*names), cmp_name);
        for (unsigned i = 0; i < n; i++) {
                char p[PATH_MAX];
                if (path_join(p, sizeof(p), dir, names[i]) == 0)
                        notify_parse(c, p, names[i],
                                     strcmp(sub, "unread") == 0 ? "unread" : "archive");
                free(names[i]);
        }
        free(names);
        return n;
}

static bool is_files_wd(const struct unraid_state *s, int wd)
{
        for (size_t i = 0; i < ELEMENTSOF(s->wd_files); i++)
                if (wd == s->wd_files[i])
                        return true;
        return false;
}

/* A file of the files task: var.ini, parity-checks.log, a settings file, a .plg. */
static bool is_files_event(const struct unraid_state *s, const struct inotify_event *ev)
{
        if (!is_files_wd(s, ev->wd) || !ev->len)
                return false;
        size_t n = strlen(ev->name);
        if (ev->wd == s->wd_files[2])
                return n > 4 && strcmp(ev->name + n - 4, ".plg") == 0;
        if (ev->wd == s->wd_files[3])
                return true; /* a script folder came or went */
        return strcmp(ev->name, "var.ini") == 0 || strcmp(ev->name, "parity-checks.log") == 0 ||
               strcmp(ev->name, "mover.log") == 0 || unraid_settings_file(ev->name);
}

static int on_inotify(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector *c = userdata;
        struct unraid_state *s = collector_state(c);
        _Alignas(struct inotify_event) char buf[4096];
        bool notify = false, files = false;
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *ev = (const void *)p;
                        if (is_files_event(s, ev))
                                files = true;
                        else if (!is_files_wd(s, ev->wd))
                                notify = true;
                        p += sizeof(*ev) + ev->len;
                }
        if (notify)
                collector_trigger(c, TASK_NOTIFY, 50);
        if (files)
                collector_trigger(c, TASK_FILES, 200);
        return 0;
}

static bool inotify_ready(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        sd_event *e = collector_event(c);
        if (!e)
                return false;
        if (s->inotify_fd < 0) {
                s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (s->inotify_fd < 0 || sd_event_add_io(e, &s->inotify_src, s->inotify_fd, EPOLLIN,
                                                         on_inotify, c) < 0) {
                        log_warning_errno(-errno, "cannot use inotify, changes wait for "
                                                  "the next cycle: %m");
                        s->inotify_src = sd_event_source_disable_unref(s->inotify_src);
                        if (s->inotify_fd >= 0)
                                close(s->inotify_fd);
                        s->inotify_fd = -1;
                        return false;
                }
        }
        return true;
}

/* Watch the base and both folders (again after one appeared); idempotent. */
static void notify_watch(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        if (!inotify_ready(c))
                return;
        static const char *const subs[] = { "", "unread", "archive" };
        for (size_t i = 0; i < ELEMENTSOF(subs); i++) {
                char dir[PATH_MAX];
                if (path_join(dir, sizeof(dir), s->base, subs[i]) < 0)
                        continue;
                /* EEXIST-like repeats just return the same watch */
                (void)inotify_add_watch(s->inotify_fd, dir,
                                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                            IN_DELETE | IN_ONLYDIR);
        }
}

static int notify_run(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        collector_batch_begin(c);
        if (notify_base(c) < 0 || access(s->base, F_OK) < 0) {
                collector_source_status(c, "notifications", false,
                                        "no dynamix notifications folder %s", s->base);
                collector_batch_add_empty(c, RT_notification);
                return collector_batch_commit(c);
        }
        notify_watch(c);
        unsigned n = notify_dir(c, "unread", MAX_NOTIFY);
        n += notify_dir(c, "archive", MAX_NOTIFY - n);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_notification);
        collector_source_status(c, "notifications", true, NULL);
        return collector_batch_commit(c);
}

/* The licence and the parity history; their folders are watched for var.ini and
 * parity-checks.log. */
static int files_run(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        static const char *const dirs[ELEMENTSOF(s->wd_files)] = {
                "/var/local/emhttp",
                "/boot/config",
                "/boot/config/plugins",
                "/boot/config/plugins/user.scripts/scripts",
                "/boot/config/plugins/dynamix",
                "/var/log" /* mover.log: only its close-after-write wakes us */
        };
        for (unsigned i = 0; i < ELEMENTSOF(dirs) && inotify_ready(c); i++) {
                char d[PATH_MAX];
                if (s->wd_files[i] < 0 && collector_root_path(c, dirs[i], d, sizeof(d)) == 0)
                        s->wd_files[i] = inotify_add_watch(s->inotify_fd, d,
                                                           IN_CLOSE_WRITE | IN_MOVED_TO |
                                                               IN_CREATE | IN_DELETE | IN_ONLYDIR);
        }
        int r = unraid_registration_run(c);
        int k = unraid_parity_run(c);
        int m = unraid_settings_run(c);
        int g = unraid_plugins_run(c);
        int u = unraid_user_scripts_run(c);
        return r < 0 ? r : k < 0 ? k : m < 0 ? m : g < 0 ? g : u;
}

/* The unassigned devices and remote shares (sysfs and the mount table) and the network
 * services (config files and one /proc scan), every minute. */
static int devices_run(struct collector *c)
{
        int r = unraid_unassigned_run(c);
        int k = unraid_services_run(c);
        return r < 0 ? r : k;
}

static int unraid_init(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        s->inotify_fd = -1;
        for (size_t i = 0; i < ELEMENTSOF(s->wd_files); i++)
                s->wd_files[i] = -1;
        return 0;
}

static void unraid_done(struct collector *c)
{
        struct unraid_state *s = collector_state(c);
        s->scripts = collector_worker_free(s->scripts);
        s->inotify_src = sd_event_source_disable_unref(s->inotify_src);
        if (s->inotify_fd >= 0)
                close(s->inotify_fd);
        s->inotify_fd = -1;
}

static int unraid_command(struct collector *c, const struct collector_command *cmd)
{
        struct unraid_state *s = collector_state(c);
        int r = unraid_script_command(c, &s->scripts, cmd);
        if (r != 1)
                return r;
        if (notify_base(c) < 0)
                s->base[0] = 0;
        return unraid_notify_command(c, s->base, cmd);
}

static const struct collector_ops unraid_ops = {
        .name = "unraid",
        .description =
            "Unraid's files: notifications, licence, parity history (inotify), unassigned devices",
        .tasks = { { "notifications", 1800000, notify_run },
                   { "files", 1800000, files_run },
                   { "devices", 60000, devices_run } },
        .state_size = sizeof(struct unraid_state),
        .init = unraid_init,
        .done = unraid_done,
        .command = unraid_command,
};

int main(int argc, char **argv)
{
        return collector_main(&unraid_ops, argc, argv);
}
