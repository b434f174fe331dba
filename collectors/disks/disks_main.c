/*
 * disks_main.c — ringhub-collect-disks: disks (I/O, usage, SMART), the array and its
 * pools, and shares.
 *
 * Four tasks in one process: "disks" (30 s) writes every disk with its SMART attributes
 * as one batch; "array" (10 s) writes the array record plus the md/btrfs pool list;
 * "shares" (60 s) writes the share list; "smart" (30 min) only wakes the SMART thread.
 * Sources: /sys/block, /proc/diskstats, /proc/mounts, /proc/mdstat, md's sysfs files,
 * /sys/fs/btrfs, btrfs-progs' scrub status file and, on Unraid, the emhttp .ini files
 * (watched with inotify: a change re-collects within a second).
 *
 * Two things must never stall the event loop: statvfs() (disks_vfs.c) and smartctl
 * (disks_smart.c). This file only parses options and the config file, starts and stops
 * those threads, and wires the tasks and event sources; disks.h maps the other files.
 * Commands (array, parity check, spin) are disks_control.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "conf.h"
#include "disks.h"
#include "log.h"
#include "util.h"

/* ---- the smart task ---------------------------------------------------------------- */

static int on_smart_done(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector *c = userdata;
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));
        smart_report(c);
        collector_trigger(c, TASK_DISKS, 0); /* publish the new SMART data now */
        return 0;
}

static int smart_task(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        if (!s->smart || s->no_smart)
                return 0;
        if (!collector_event(c)) {
                /* --once: run the round here, then publish the disks again. */
                smart_round(s->smart);
                smart_report(c);
                /* Same cycle as far as I/O goes: no utilisation over the SMART round. */
                s->republish = true;
                int r = block_run(c);
                s->republish = false;
                return r;
        }
        smart_request(s->smart);
        return 0;
}

/* ---- inotify on the Unraid state files --------------------------------------------- */

static int on_inotify(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector *c = userdata;
        _Alignas(struct inotify_event) char buf[4096];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n <= 0)
                        break;
                for (char *p = buf; p < buf + n;) {
                        struct inotify_event *ev = (struct inotify_event *)p;
                        if (ev->len) {
                                if (!strcmp(ev->name, "disks.ini")) {
                                        collector_trigger(c, TASK_DISKS, 200);
                                        collector_trigger(c, TASK_ARRAY, 200);
                                } else if (!strcmp(ev->name, "var.ini"))
                                        collector_trigger(c, TASK_ARRAY, 200);
                                else if (!strcmp(ev->name, "shares.ini"))
                                        collector_trigger(c, TASK_SHARES, 200);
                        }
                        p += sizeof(*ev) + ev->len;
                }
        }
        return 0;
}

/* The event loop exists only once tasks run: hook our fds in on the first run. */
static void wire_event_sources(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        sd_event *e = collector_event(c);
        if (s->wired || !e)
                return;
        s->wired = true;
        if (s->smart && smart_efd(s->smart) >= 0 &&
            sd_event_add_io(e, &s->smart_src, smart_efd(s->smart), EPOLLIN, on_smart_done, c) < 0)
                log_warning("cannot watch the SMART thread, SMART updates wait for the next cycle");
        char dir[PATH_MAX];
        if (collector_root_path(c, "/var/local/emhttp", dir, sizeof(dir)) < 0 ||
            access(dir, F_OK) < 0)
                return;
        s->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (s->inotify_fd < 0 ||
            inotify_add_watch(s->inotify_fd, dir,
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0 ||
            sd_event_add_io(e, &s->inotify_src, s->inotify_fd, EPOLLIN, on_inotify, c) < 0) {
                log_warning_errno(-errno, "cannot watch %s, changes wait for the next cycle: %m",
                                  dir);
                return;
        }
        log_debug("watching %s", dir);
}

static int disks_task(struct collector *c)
{
        wire_event_sources(c);
        return block_run(c);
}

static int array_task(struct collector *c)
{
        wire_event_sources(c);
        return array_run(c);
}

static int shares_task(struct collector *c)
{
        wire_event_sources(c);
        return shares_run(c);
}

/* ---- options, init, done ----------------------------------------------------------- */

enum {
        OPT_SMARTCTL = 0x200,
        OPT_SMART_TIMEOUT,
        OPT_STATVFS_TIMEOUT,
        OPT_SHARE,
        OPT_LOOP,
        OPT_NO_SMART
};

static const struct option disks_options[] = {
        { "smartctl", required_argument, NULL, OPT_SMARTCTL },
        { "smart-timeout", required_argument, NULL, OPT_SMART_TIMEOUT },
        { "statvfs-timeout", required_argument, NULL, OPT_STATVFS_TIMEOUT },
        { "share", required_argument, NULL, OPT_SHARE },
        { "include-loop", no_argument, NULL, OPT_LOOP },
        { "no-smart", no_argument, NULL, OPT_NO_SMART },
        {},
};

static int disks_parse_option(struct collector *c, int opt, const char *arg)
{
        struct disks_state *s = collector_state(c);
        uint64_t v;
        switch (opt) {
        case OPT_SMARTCTL:
                if (strscpy(s->smartctl, sizeof(s->smartctl), arg) || !*arg) {
                        log_error("--smartctl: invalid path");
                        return -EINVAL;
                }
                s->smartctl_flag = true;
                return 0;
        case OPT_SMART_TIMEOUT:
        case OPT_STATVFS_TIMEOUT:
                if (safe_atou64(arg, &v) < 0 || v < 10 || v > 600000) {
                        log_error("--%s: '%s' is not a number of milliseconds (10..600000)",
                                  opt == OPT_SMART_TIMEOUT ? "smart-timeout" : "statvfs-timeout",
                                  arg);
                        return -EINVAL;
                }
                if (opt == OPT_SMART_TIMEOUT)
                        s->smart_timeout_ms = v;
                else {
                        s->statvfs_timeout_ms = v;
                        s->timeout_flag = true;
                }
                return 0;
        case OPT_SHARE: {
                s->shares_flag = true;
                if (s->n_shares >= MAX_SHARES) {
                        log_error("--share: at most %d shares", MAX_SHARES);
                        return -EINVAL;
                }
                struct share_cfg *sh = &s->shares[s->n_shares];
                const char *eq = strchr(arg, '=');
                const char *path = eq ? eq + 1 : arg;
                if (path[0] != '/' || strlen(path) >= sizeof(sh->path)) {
                        log_error("--share: '%s' is not NAME=/absolute/path", arg);
                        return -EINVAL;
                }
                strscpy(sh->path, sizeof(sh->path), path);
                if (eq) {
                        size_t n = (size_t)(eq - arg);
                        if (n == 0 || n >= sizeof(sh->name)) {
                                log_error("--share: bad name in '%s'", arg);
                                return -EINVAL;
                        }
                        memcpy(sh->name, arg, n);
                        sh->name[n] = 0;
                } else {
                        const char *base = strrchr(path, '/');
                        strscpy(sh->name, sizeof(sh->name), base[1] ? base + 1 : path);
                }
                s->n_shares++;
                return 0;
        }
        case OPT_LOOP:
                s->include_loop = true;
                return 0;
        case OPT_NO_SMART:
                s->no_smart = true;
                s->smartctl_flag = true;
                return 0;
        }
        return -EINVAL;
}

/*
 * [collector.disks] smartctl, mounts and mount_timeout, each unless a flag set it (at
 * start and on SIGHUP). A key the file leaves out keeps the compiled default: smartctl
 * from PATH, no extra shares, 500 ms. Validates everything before changing anything.
 */
static int disks_conf(struct collector *c, bool *smart_changed)
{
        struct disks_state *s = collector_state(c);
        const struct conf *cfg = collector_conf(c);
        const char *sec = "collector.disks";
        *smart_changed = false;

        struct share_cfg sh[MAX_SHARES];
        unsigned n_sh = 0;
        if (!s->shares_flag) {
                const char *list = conf_get_string(cfg, sec, "mounts");
                char buf[2048];
                if (strscpy(buf, sizeof(buf), list ? list : "")) {
                        log_error("[collector.disks] mounts: list too long");
                        return -EINVAL;
                }
                for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w;
                     w = strtok_r(NULL, " \t", &save)) {
                        if (n_sh >= MAX_SHARES || w[0] != '/' ||
                            strscpy(sh[n_sh].path, sizeof(sh[n_sh].path), w)) {
                                log_error("[collector.disks] mounts: '%.60s' is not an absolute "
                                          "path (at most %d of them)",
                                          w, MAX_SHARES);
                                return -EINVAL;
                        }
                        const char *base = strrchr(w, '/');
                        strscpy(sh[n_sh].name, sizeof(sh[n_sh].name), base[1] ? base + 1 : w);
                        n_sh++;
                }
        }
        if (!s->smartctl_flag) {
                const char *v = conf_is_set(cfg, sec, "smartctl")
                                    ? conf_get_string(cfg, sec, "smartctl")
                                    : "smartctl";
                bool off = !v || !*v;
                if (!off && strcmp(v, s->smartctl) != 0) {
                        strscpy(s->smartctl, sizeof(s->smartctl), v);
                        *smart_changed = true;
                }
                if (off != s->no_smart)
                        *smart_changed = true;
                s->no_smart = off;
        }
        if (!s->timeout_flag)
                s->statvfs_timeout_ms = conf_is_set(cfg, sec, "mount_timeout")
                                            ? conf_get_uint(cfg, sec, "mount_timeout")
                                            : 500;
        if (!s->shares_flag) {
                memcpy(s->shares, sh, n_sh * sizeof(sh[0]));
                s->n_shares = n_sh;
        }
        return 0;
}

static int disks_init(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        bool changed;
        s->inotify_fd = -EBADF;
        if (!s->smart_timeout_ms)
                s->smart_timeout_ms = 10000;
        int r = disks_conf(c, &changed);
        if (r < 0)
                return r;
        if (!s->smartctl[0])
                strscpy(s->smartctl, sizeof(s->smartctl), "smartctl");

        s->vfs = vfs_pool_new();
        if (!s->vfs)
                return -ENOMEM;

        if (s->no_smart)
                return 0;
        return smart_start(c);
}

/* SIGHUP: mounts, mount_timeout and smartctl apply at once (the SMART thread starts late
 * when the file turns SMART on). A bad value keeps the running settings. */
static void disks_reload(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        bool smart_changed;
        if (disks_conf(c, &smart_changed) < 0) {
                log_warning("[collector.disks] not applied: keeping the running settings");
                return;
        }
        if (smart_changed && !s->no_smart) {
                if (!s->smart) {
                        (void)smart_start(c);
                        sd_event *e = collector_event(c);
                        if (s->smart && e && s->wired && smart_efd(s->smart) >= 0 &&
                            sd_event_add_io(e, &s->smart_src, smart_efd(s->smart), EPOLLIN,
                                            on_smart_done, c) < 0)
                                log_warning("cannot watch the SMART thread");
                } else {
                        smart_set_smartctl(s->smart, s->smartctl);
                }
                collector_trigger(c, TASK_SMART, 0);
        }
        if (smart_changed)
                log_info("SMART: %s", s->no_smart ? "off" : s->smartctl);
        collector_trigger(c, TASK_SHARES, 0);
}

static void disks_done(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        sd_event_source_disable_unref(s->inotify_src);
        sd_event_source_disable_unref(s->smart_src);
        if (s->inotify_fd >= 0)
                close(s->inotify_fd);
        control_done(c);
        smart_stop(s->smart);
        vfs_pool_free(s->vfs);
}

static const struct collector_ops disks_ops = {
        .name = "disks",
        .description = "disks with SMART, the array (Unraid, md, btrfs) and shares",
        .tasks = { { "disks", 30000, disks_task },
                   { "array", 10000, array_task },
                   { "shares", 60000, shares_task },
                   /* = smart_interval's default in common/conf_keys.def (tested). */
                   { "smart", 30 * 60000, smart_task } },
        .state_size = sizeof(struct disks_state),
        .options = disks_options,
        .options_help =
            "  --smartctl PATH      smartctl binary (default: the config file's smartctl\n"
            "                       if it sets one, else smartctl from PATH)\n"
            "  --smart-timeout MS   kill smartctl after MS (default 10000)\n"
            "  --no-smart           never run smartctl\n"
            "  --statvfs-timeout MS a mount slower than MS is unavailable (500)\n"
            "  --share [NAME=]PATH  report PATH as a share (repeatable; not Unraid;\n"
            "                       replaces the config file's mounts)\n"
            "  --include-loop       report loop devices as disks\n",
        .parse_option = disks_parse_option,
        .init = disks_init,
        .done = disks_done,
        .reload = disks_reload,
        .command = control_command,
};

int main(int argc, char **argv)
{
        return collector_main(&disks_ops, argc, argv);
}
