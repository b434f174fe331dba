/*
 * unraid_devices.c — the unassigned devices of ringhub-collect-unraid (the "devices" task).
 *
 * An unassigned device is a whole disk in /sys/block that Unraid's disks.ini does not name
 * (array, cache pools, the flash), less the kernel's virtual devices (loop, md, zram, ram,
 * dm-, sr, nbd). Its model and serial come from sysfs, its partitions from the partition
 * folders under it, their mount point, file system and read-only flag from the mount
 * table; the Unassigned Devices plugin's unassigned.devices.cfg (a section per serial)
 * adds its keys where it names the disk: automount, pass_through, disable_mount,
 * share.N (partition N shared over SMB), command.1 (the device script) and
 * enable_script.1 (the script runs unless "false"). Remote shares are the mount table's cifs and
 * nfs mounts and loop-mounted ISOs under /mnt/remotes, /mnt/disks and /mnt/addons. All under
 * --sysfs, --procfs and
 * --rootfs; no lsblk, no blkid (an unmounted partition's file system is "") and no
 * statvfs (a dead remote would hang the collector: used and free are left out, as the
 * agent does when it cannot tell). Without disks.ini this is not Unraid: both lists are
 * empty and the source "unassigned" says why.
 */
#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "collector_attr.h"
#include "collector_spawn.h"
#include "macros.h"
#include "unraid_int.h"
#include "util.h"

#define MAX_ARRAY   64
#define MAX_DEVICES 64
#define MOUNTS_MAX  (256 * 1024)
#define UD_CFG      "/boot/config/plugins/unassigned.devices/unassigned.devices.cfg"

struct names {
        char n[MAX_ARRAY][16];
        unsigned count;
};

/* The value without the double quotes emhttp and the plugins write. */
static void unquoted(const char *v, char *out, size_t size)
{
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
                snprintf(out, size, "%.*s", (int)(n - 2), v + 1);
        else
                strscpy(out, size, v);
}

static int disks_ini_handler(void *user, const char *section, const char *key, const char *value)
{
        struct names *a = user;
        (void)section;
        if (strcmp(key, "device") == 0 && a->count < MAX_ARRAY) {
                unquoted(value, a->n[a->count], sizeof(a->n[0]));
                if (a->n[a->count][0])
                        a->count++;
        }
        return 1;
}

static bool named(const struct names *a, const char *dev)
{
        for (unsigned i = 0; i < a->count; i++)
                if (strcmp(a->n[i], dev) == 0)
                        return true;
        return false;
}

static bool is_virtual(const char *dev)
{
        static const char *const prefixes[] = { "loop", "md", "zram", "ram", "dm-", "sr", "nbd" };
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(dev, prefixes[i]))
                        return true;
        return false;
}

/* One mount table line: src, dir, type, options (octal escapes of src and dir decoded). */
struct mnt {
        char *src, *dir, *type, *opts;
};

static void unescape(char *s)
{
        char *o = s;
        for (char *p = s; *p; p++) {
                if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' && p[2] <= '7' &&
                    p[3] >= '0' && p[3] <= '7') {
                        *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
                        p += 3;
                } else
                        *o++ = *p;
        }
        *o = 0;
}

/* Split the mount table in buf into at most max entries; returns how many. */
static unsigned parse_mounts(char *buf, struct mnt *m, unsigned max)
{
        unsigned n = 0;
        char *save = NULL;
        for (char *l = strtok_r(buf, "\n", &save); l && n < max; l = strtok_r(NULL, "\n", &save)) {
                char *f[4], *s2 = NULL;
                unsigned k = 0;
                for (char *t = strtok_r(l, " \t", &s2); t && k < 4; t = strtok_r(NULL, " \t", &s2))
                        f[k++] = t;
                if (k < 4)
                        continue;
                unescape(f[0]);
                unescape(f[1]);
                m[n++] = (struct mnt){ f[0], f[1], f[2], f[3] };
        }
        return n;
}

static bool read_only(const char *opts)
{
        return strcmp(opts, "ro") == 0 || startswith(opts, "ro,");
}

/* The plugin's settings of one disk: the section named by its serial (or model_serial). */
struct ud_cfg {
        const char *serial, *model_serial;
        struct rec_unassigned_device *d;
        uint32_t share;  /* bit N: partition N is shared ("share.N") */
        bool script_off; /* "enable_script.1" is "false" */
};

static bool yes(const char *v)
{
        char b[16];
        unquoted(v, b, sizeof(b));
        return strcmp(b, "yes") == 0 || strcmp(b, "true") == 0 || strcmp(b, "1") == 0;
}

static int ud_handler(void *user, const char *section, const char *key, const char *value)
{
        struct ud_cfg *u = user;
        char sec[128];
        unquoted(section, sec, sizeof(sec));
        if (!sec[0] || !((u->serial[0] && strcmp(sec, u->serial) == 0) ||
                         (u->model_serial[0] && strcmp(sec, u->model_serial) == 0)))
                return 1;
        if (strcmp(key, "automount") == 0)
                u->d->auto_mount = yes(value);
        else if (strcmp(key, "pass_through") == 0)
                u->d->pass_through = yes(value);
        else if (strcmp(key, "disable_mount") == 0)
                u->d->disable_mount = yes(value);
        else if (startswith(key, "share.")) {
                uint64_t part;
                if (safe_atou64(key + strlen("share."), &part) == 0 && part < 32)
                        u->share = yes(value) ? u->share | 1u << part : u->share & ~(1u << part);
        } else if (strcmp(key, "command.1") == 0 || strcmp(key, "command") == 0) {
                char cmd[PATH_MAX];
                unquoted(value, cmd, sizeof(cmd));
                (void)collector_copy_text(u->d->script_path, sizeof(u->d->script_path), cmd);
        } else if (strcmp(key, "enable_script.1") == 0) {
                char b[16];
                unquoted(value, b, sizeof(b));
                u->script_off = strcmp(b, "false") == 0;
        }
        return 1;
}

static void plugin_settings(struct collector *c, struct rec_unassigned_device *d, uint32_t *share)
{
        char p[PATH_MAX], ms[112];
        snprintf(ms, sizeof(ms), "%s_%s", d->model, d->serial_number);
        for (char *q = ms; *q; q++)
                if (*q == ' ')
                        *q = '_';
        struct ud_cfg u = { .serial = d->serial_number,
                            .model_serial = d->serial_number[0] ? ms : "",
                            .d = d };
        if (collector_root_path(c, UD_CFG, p, sizeof(p)) < 0)
                return;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (f && ini_parse_file(f, ud_handler, &u) > 0)
                collector_problem(c, "garbage in %s, using what could be read", p);
        *share = u.share;
        /* The plugin runs a disk's script when it has one, unless switched off. */
        d->script_enabled = d->script_path[0] && !u.script_off;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* The partitions of dev (folders under /sys/block/DEV with a partition file), sorted. */
static void add_partitions(struct collector *c, struct rec_unassigned_device *d,
                           const struct mnt *m, unsigned nm, uint32_t share)
{
        char dir[PATH_MAX], rel[64];
        snprintf(rel, sizeof(rel), "block/%.15s", d->device);
        if (collector_sys_path(c, rel, dir, sizeof(dir)) < 0)
                return;
        _cleanup_(closedirp_) DIR *dp = opendir(dir);
        char parts[32][16];
        unsigned n = 0;
        for (struct dirent *e; dp && n < ELEMENTSOF(parts) && (e = readdir(dp));) {
                uint64_t num;
                char sub[PATH_MAX];
                if (!startswith(e->d_name, d->device) || strlen(e->d_name) >= sizeof(parts[0]) ||
                    path_join(sub, sizeof(sub), dir, e->d_name) < 0 ||
                    collector_read_attr_u64(sub, "partition", &num) < 0)
                        continue;
                strscpy(parts[n++], sizeof(parts[0]), e->d_name);
        }
        qsort(parts, n, sizeof(parts[0]), cmp_str);
        strscpy(d->status, sizeof(d->status), "unmounted");
        for (unsigned i = 0; i < n; i++) {
                char sub[PATH_MAX], src[32];
                uint64_t num = 0, sectors;
                if (path_join(sub, sizeof(sub), dir, parts[i]) < 0)
                        continue;
                struct rec_unassigned_partition *p =
                    collector_batch_add(c, RT_unassigned_partition);
                if (!p)
                        return;
                strscpy(p->device, sizeof(p->device), d->device);
                strscpy(p->name, sizeof(p->name), parts[i]);
                if (collector_read_attr_u64(sub, "partition", &num) == 0 && num <= UINT32_MAX)
                        p->partition_number = (uint32_t)num;
                if (collector_read_attr_u64(sub, "size", &sectors) == 0)
                        p->size_bytes = sectors * 512;
                p->smb_share = p->partition_number < 32 && (share >> p->partition_number & 1);
                p->nfs_share = false;
                p->read_only = false;
                strscpy(p->status, sizeof(p->status), "unmounted");
                snprintf(src, sizeof(src), "/dev/%.15s", parts[i]);
                for (unsigned k = 0; k < nm; k++) {
                        if (strcmp(m[k].src, src) != 0)
                                continue;
                        (void)collector_copy_text(p->mount_point, sizeof(p->mount_point), m[k].dir);
                        strscpy(p->filesystem, sizeof(p->filesystem), m[k].type);
                        p->read_only = read_only(m[k].opts);
                        strscpy(p->status, sizeof(p->status), "mounted");
                        strscpy(d->status, sizeof(d->status), "mounted");
                        break;
                }
        }
}

static void add_device(struct collector *c, const char *dev, const struct mnt *m, unsigned nm)
{
        char dir[PATH_MAX], rel[64], stat[256];
        snprintf(rel, sizeof(rel), "block/%.15s", dev);
        if (collector_sys_path(c, rel, dir, sizeof(dir)) < 0)
                return;
        struct rec_unassigned_device *d = collector_batch_add(c, RT_unassigned_device);
        if (!d)
                return;
        strscpy(d->device, sizeof(d->device), dev);
        char text[256];
        /* longer than the record holds: cut with "…", never silently */
        if (collector_read_attr(dir, "device/model", text, sizeof(text)) < 0)
                text[0] = 0;
        (void)collector_copy_text(d->model, sizeof(d->model), text);
        (void)collector_copy_text(d->identification, sizeof(d->identification), text);
        if (collector_read_attr(dir, "device/serial", text, sizeof(text)) < 0)
                text[0] = 0;
        (void)collector_copy_text(d->serial_number, sizeof(d->serial_number), text);
        uint64_t sectors, rd, wr;
        if (collector_read_attr_u64(dir, "size", &sectors) == 0)
                d->size_bytes = sectors * 512;
        /* stat: reads completed, merged, sectors, ms, writes completed, … */
        if (collector_read_attr(dir, "stat", stat, sizeof(stat)) > 0 &&
            sscanf(stat, "%" SCNu64 " %*u %*u %*u %" SCNu64, &rd, &wr) == 2) {
                d->reads = rd;
                d->writes = wr;
        }
        strscpy(d->spin_state, sizeof(d->spin_state), "unknown");
        d->auto_mount = d->pass_through = d->disable_mount = d->script_enabled = false;
        uint32_t share = 0;
        plugin_settings(c, d, &share);
        add_partitions(c, d, m, nm, share);
}

static bool under_mnt(const char *dir)
{
        return startswith(dir, "/mnt/remotes/") || startswith(dir, "/mnt/disks/") ||
               startswith(dir, "/mnt/addons/");
}

static void add_remote(struct collector *c, const struct mnt *m)
{
        const char *type = NULL;
        if (strcmp(m->type, "cifs") == 0 || strcmp(m->type, "smb3") == 0)
                type = "smb";
        else if (strcmp(m->type, "nfs") == 0 || strcmp(m->type, "nfs4") == 0)
                type = "nfs";
        else if (startswith(m->src, "/dev/loop") && startswith(m->dir, "/mnt/disks/"))
                type = "iso";
        if (!type || !under_mnt(m->dir))
                return;
        struct rec_unassigned_remote *r = collector_batch_add(c, RT_unassigned_remote);
        if (!r)
                return;
        (void)collector_copy_text(r->mount_point, sizeof(r->mount_point), m->dir);
        (void)collector_copy_text(r->source, sizeof(r->source), m->src);
        strscpy(r->type, sizeof(r->type), type);
        strscpy(r->status, sizeof(r->status), "mounted");
        r->read_only = read_only(m->opts);
        if (type[0] == 's' && startswith(m->src, "//")) {
                const char *host = m->src + 2, *slash = strchr(host, '/');
                snprintf(r->smb_server, sizeof(r->smb_server), "%.*s",
                         (int)(slash ? slash - host : (ptrdiff_t)strlen(host)), host);
                strscpy(r->smb_share, sizeof(r->smb_share), slash ? slash + 1 : "");
        } else if (type[0] == 'n') {
                const char *colon = strchr(m->src, ':');
                snprintf(r->nfs_server, sizeof(r->nfs_server), "%.*s",
                         (int)(colon ? colon - m->src : (ptrdiff_t)strlen(m->src)), m->src);
                strscpy(r->nfs_export, sizeof(r->nfs_export), colon ? colon + 1 : "");
        }
}

/* Both lists empty, and why. */
static int none(struct collector *c, const char *why, const char *path)
{
        collector_source_status(c, "unassigned", false, "%s: %s", path, why);
        collector_batch_begin(c);
        collector_batch_add_empty(c, RT_unassigned_device);
        int r = collector_batch_commit(c);
        collector_batch_begin(c);
        collector_batch_add_empty(c, RT_unassigned_remote);
        int k = collector_batch_commit(c);
        return r < 0 ? r : k;
}

int unraid_unassigned_run(struct collector *c)
{
        char p[PATH_MAX];
        struct names array = { 0 };
        if (collector_root_path(c, "/var/local/emhttp/disks.ini", p, sizeof(p)) < 0)
                return none(c, "path too long", "disks.ini");
        {
                _cleanup_fclose_ FILE *f = fopen(p, "re");
                if (!f)
                        return none(c, "missing: not Unraid (the array's disks are unknown)", p);
                if (ini_parse_file(f, disks_ini_handler, &array) > 0)
                        collector_problem(c, "garbage in %s, using what could be read", p);
        }
        _cleanup_free_ char *buf = malloc(MOUNTS_MAX);
        _cleanup_free_ struct mnt *m = calloc(1024, sizeof(*m));
        if (!buf || !m)
                return -ENOMEM;
        unsigned nm = 0;
        ssize_t n = collector_proc_path(c, "mounts", p, sizeof(p)) == 0
                        ? read_file_bounded(p, buf, MOUNTS_MAX)
                        : -ENAMETOOLONG;
        if (n >= 0)
                nm = parse_mounts(buf, m, 1024);
        else
                collector_problem(c, "cannot read %s: %s", p, strerror((int)-n));

        char devs[MAX_DEVICES][16];
        unsigned nd = 0;
        if (collector_sys_path(c, "block", p, sizeof(p)) < 0)
                return none(c, "path too long", "/sys/block");
        {
                _cleanup_(closedirp_) DIR *dp = opendir(p);
                if (!dp)
                        return none(c, strerror(errno), p);
                for (struct dirent *e; nd < MAX_DEVICES && (e = readdir(dp));)
                        if (e->d_name[0] != '.' && strlen(e->d_name) < sizeof(devs[0]) &&
                            !is_virtual(e->d_name) && !named(&array, e->d_name))
                                strscpy(devs[nd++], sizeof(devs[0]), e->d_name);
        }
        qsort(devs, nd, sizeof(devs[0]), cmp_str);
        collector_batch_begin(c);
        for (unsigned i = 0; i < nd; i++)
                add_device(c, devs[i], m, nm);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_unassigned_device);
        int r = collector_batch_commit(c);
        collector_batch_begin(c);
        for (unsigned i = 0; i < nm; i++)
                add_remote(c, &m[i]);
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_unassigned_remote);
        int k = collector_batch_commit(c);
        collector_source_status(c, "unassigned", true, NULL);
        return r < 0 ? r : k;
}
