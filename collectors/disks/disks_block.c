/*
 * disks_block.c — the disks task of ringhub-collect-disks: one record per disk.
 *
 * Every 30 s (and at once when a SMART round or a change to Unraid's disks.ini asks)
 * one batch: a `disk` record per block device under <sysfs>/block (partitions, RAM,
 * device-mapper, md, optical and, unless --include-loop, loop devices left out),
 * sorted by id, each followed by its `disk_smart_attr` records. I/O counters come from
 * /proc/diskstats (utilisation is the io_ticks delta between cycles), model, serial and
 * rotational from sysfs (read once per device), role, status, spin state and file
 * system from Unraid's disks.ini where there is one, else usage from statvfs() of the
 * disk's mount (disks_vfs.c, never on this thread), and SMART from the cache of the
 * SMART thread (disks_smart.c). A disk asleep reports no temperature.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "collector_attr.h"
#include "disks.h"
#include "macros.h"
#include "util.h"

static bool skip_block(const struct disks_state *s, const char *name)
{
        static const char *const prefixes[] = { "ram", "zram", "dm-", "md", "sr", "fd", "nbd" };
        if (name[0] == '.')
                return true;
        if (startswith(name, "loop"))
                return !s->include_loop;
        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(name, prefixes[i]))
                        return true;
        return false;
}

static struct disk_prev *disk_prev_get(struct disks_state *s, const char *dev)
{
        for (unsigned i = 0; i < s->n_prev; i++)
                if (strcmp(s->prev[i].dev, dev) == 0)
                        return &s->prev[i];
        if (s->n_prev >= MAX_DISKS)
                return NULL;
        struct disk_prev *p = &s->prev[s->n_prev++];
        *p = (struct disk_prev){ .rotational = MISSING_BOOL };
        strscpy(p->dev, sizeof(p->dev), dev);
        return p;
}

struct diskstat {
        char name[32];
        uint64_t rd_ios, rd_sec, wr_ios, wr_sec, io_ticks;
};

struct disk_row {
        struct rec_disk rec;
        struct smart_info smart;
        bool have_smart;
        bool mounted;
        char vfs_path[PATH_MAX];
        char source[96]; /* "mount:<mount point>" for source_status */
        bool have_fs_from_ini;
};

static int cmp_row(const void *a, const void *b)
{
        return strcmp(((const struct disk_row *)a)->rec.id, ((const struct disk_row *)b)->rec.id);
}

static unsigned load_diskstats(struct collector *c, struct diskstat *out, unsigned max)
{
        char p[PATH_MAX], line[512];
        unsigned n = 0;
        if (collector_proc_path(c, "diskstats", p, sizeof(p)) < 0)
                return 0;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f) {
                collector_problem(c, "cannot read %s: %m", p);
                return 0;
        }
        while (fgets(line, sizeof(line), f) && n < max) {
                struct diskstat d;
                uint64_t rd_m, rd_t, wr_m, wr_t, inflight;
                if (sscanf(line,
                           " %*u %*u %31s %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                           " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                           d.name, &d.rd_ios, &rd_m, &d.rd_sec, &rd_t, &d.wr_ios, &wr_m, &d.wr_sec,
                           &wr_t, &inflight, &d.io_ticks) != 11)
                        continue;
                out[n++] = d;
        }
        return n;
}

int block_run(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        const char *sys = collector_sysfs(c);
        char dir[PATH_MAX], path[PATH_MAX + 64];
        _cleanup_free_ struct disk_row *rows = calloc(MAX_DISKS, sizeof(*rows));
        _cleanup_free_ struct diskstat *ds = calloc(512, sizeof(*ds));
        unsigned n = 0;
        if (!rows || !ds)
                return -ENOMEM;

        mounts_load(c);
        unraid_load_disks(c);
        unsigned n_ds = load_diskstats(c, ds, 512);
        uint64_t now = mono_ns();

        if (collector_sys_path(c, "block", dir, sizeof(dir)) < 0)
                return -ENAMETOOLONG;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                collector_problem(c, "cannot list %s: %m", dir);
        char *names[MAX_DISKS];
        unsigned n_names = 0;
        struct dirent *de;
        while (d && (de = readdir(d)) && n_names < MAX_DISKS)
                if (!skip_block(s, de->d_name))
                        names[n_names++] = strdup(de->d_name);
        qsort(names, n_names, sizeof(names[0]), disks_cmp_str);

        for (unsigned i = 0; i < n_names; i++) {
                const char *dev = names[i];
                if (!dev)
                        continue;
                uint64_t sectors;
                snprintf(path, sizeof(path), "block/%s/size", dev);
                if (collector_read_attr_u64(sys, path, &sectors) < 0 || sectors == 0) {
                        free(names[i]);
                        continue; /* an empty slot (loop without a file, no medium) */
                }
                struct disk_row *row = &rows[n++];
                struct rec_disk *r = &row->rec;
                record_init_missing(RT_disk, r);
                strscpy(r->device, sizeof(r->device), dev);
                strscpy(r->id, sizeof(r->id), dev);
                strscpy(r->name, sizeof(r->name), dev);
                r->size_bytes = sectors * 512;

                struct disk_prev *pv = disk_prev_get(s, dev);
                if (pv && !pv->attrs_read) {
                        char buf[128];
                        snprintf(path, sizeof(path), "block/%s/device/model", dev);
                        if (collector_read_attr(sys, path, buf, sizeof(buf)) >= 0)
                                strscpy(pv->model, sizeof(pv->model), buf);
                        snprintf(path, sizeof(path), "block/%s/device/serial", dev);
                        if (collector_read_attr(sys, path, buf, sizeof(buf)) >= 0)
                                strscpy(pv->serial, sizeof(pv->serial), buf);
                        snprintf(path, sizeof(path), "block/%s/queue/rotational", dev);
                        if (collector_read_attr(sys, path, buf, sizeof(buf)) >= 0 &&
                            (!strcmp(buf, "0") || !strcmp(buf, "1")))
                                pv->rotational = buf[0] == '1';
                        pv->attrs_read = true;
                }
                if (pv) {
                        strscpy(r->model, sizeof(r->model), pv->model);
                        strscpy(r->serial_number, sizeof(r->serial_number), pv->serial);
                        r->rotational = pv->rotational;
                }

                for (unsigned k = 0; k < n_ds; k++) {
                        if (strcmp(ds[k].name, dev) != 0)
                                continue;
                        r->read_ops = ds[k].rd_ios;
                        r->write_ops = ds[k].wr_ios;
                        r->read_bytes = ds[k].rd_sec * 512;
                        r->write_bytes = ds[k].wr_sec * 512;
                        if (pv) {
                                /* Under 100 ms apart the delta says nothing. */
                                if (pv->known && !s->republish &&
                                    now > pv->ns + 100 * NSEC_PER_MSEC &&
                                    ds[k].io_ticks >= pv->io_ticks) {
                                        double ms = (double)(now - pv->ns) / 1e6;
                                        double u =
                                            (double)(ds[k].io_ticks - pv->io_ticks) / ms * 100.0;
                                        r->io_utilization_percent = u > 100 ? 100 : u;
                                }
                                if (!pv->known || now > pv->ns + 100 * NSEC_PER_MSEC) {
                                        pv->io_ticks = ds[k].io_ticks;
                                        pv->ns = now;
                                        pv->known = true;
                                }
                        }
                        break;
                }

                const struct ur_disk *u = s->ur_present ? unraid_disk_for(s, dev) : NULL;
                const struct mount_ent *m = NULL;
                if (u) {
                        const char *id = u->name[0] ? u->name : u->slot;
                        strscpy(r->id, sizeof(r->id), id);
                        strscpy(r->name, sizeof(r->name), id);
                        strscpy(r->status, sizeof(r->status), u->status);
                        strscpy(r->role, sizeof(r->role), unraid_role(u));
                        r->spindown_delay = u->spindown_delay;
                        /* temp="*" means asleep where emhttp has no spundown key (not flash). */
                        if (u->spun_down ||
                            (!u->has_spundown && u->temp_star && strcasecmp(u->type, "Flash") != 0))
                                strscpy(r->spin_state, sizeof(r->spin_state), "standby");
                        else if (!isnan(u->temp))
                                r->temperature_celsius = u->temp;
                        if (u->size_kib != MISSING_U64)
                                r->size_bytes = u->size_kib * 1024;
                        char mp[64];
                        if (!strcasecmp(u->type, "Flash"))
                                strscpy(mp, sizeof(mp), "/boot");
                        else
                                snprintf(mp, sizeof(mp), "/mnt/%s", id);
                        m = mounts_at(s, mp);
                        if (u->fstype[0] && u->fs_size != MISSING_U64 && u->fs_size > 0) {
                                strscpy(r->filesystem, sizeof(r->filesystem), u->fstype);
                                strscpy(r->mount_point, sizeof(r->mount_point), mp);
                                uint64_t fsz = u->fs_size * 1024;
                                r->fs_size_bytes = fsz;
                                if (u->fs_free != MISSING_U64)
                                        r->free_bytes = u->fs_free * 1024;
                                if (u->fs_used != MISSING_U64)
                                        r->used_bytes = u->fs_used * 1024;
                                else if (u->fs_free != MISSING_U64 && u->fs_free <= u->fs_size)
                                        r->used_bytes = fsz - r->free_bytes;
                                r->usage_percent = disks_pct(r->used_bytes, fsz);
                                strscpy(r->mount_state, sizeof(r->mount_state), "ok");
                                row->have_fs_from_ini = true;
                        }
                }
                if (!m && !row->have_fs_from_ini)
                        m = mounts_of_disk(s, dev);
                if (m && !row->have_fs_from_ini) {
                        strscpy(r->mount_point, sizeof(r->mount_point), m->path);
                        strscpy(r->filesystem, sizeof(r->filesystem), m->fstype);
                        snprintf(row->source, sizeof(row->source), "mount:%.80s", m->path);
                        if (collector_root_path(c, m->path, row->vfs_path, sizeof(row->vfs_path)) ==
                            0)
                                row->mounted = true;
                } else if (!row->have_fs_from_ini)
                        strscpy(r->mount_state, sizeof(r->mount_state), "none");
                free(names[i]);
        }

        /* statvfs for every mounted disk at once, off the loop. */
        _cleanup_free_ char(*vp)[PATH_MAX] = calloc(MAX_DISKS, PATH_MAX);
        unsigned nv = 0;
        uint64_t since = mono_ns();
        for (unsigned i = 0; vp && i < n; i++)
                if (rows[i].mounted)
                        strscpy(vp[nv++], PATH_MAX, rows[i].vfs_path);
        if (nv && s->vfs)
                vfs_query(s->vfs, vp, nv, s->statvfs_timeout_ms);
        for (unsigned i = 0; i < n; i++) {
                struct disk_row *row = &rows[i];
                struct rec_disk *r = &row->rec;
                if (row->mounted && s->vfs) {
                        uint64_t total = 0, fr = 0, avail = 0;
                        int k = vfs_result(s->vfs, row->vfs_path, since, &total, &fr, &avail);
                        if (k > 0) {
                                r->free_bytes = avail;
                                r->used_bytes = total - fr;
                                r->fs_size_bytes = total;
                                r->usage_percent = disks_pct(total - fr, total - fr + avail);
                                strscpy(r->mount_state, sizeof(r->mount_state), "ok");
                                collector_source_status(c, row->source, true, NULL);
                        } else {
                                strscpy(r->mount_state, sizeof(r->mount_state),
                                        k == 0 ? "unavailable" : "error");
                                if (k == 0)
                                        collector_source_status(
                                            c, r->mount_point, false,
                                            "statvfs did not answer within %" PRIu64 " ms",
                                            s->statvfs_timeout_ms);
                                else
                                        collector_source_status(c, row->source, false,
                                                                "statvfs: %s", strerror(-k));
                        }
                }
        }

        qsort(rows, n, sizeof(rows[0]), cmp_row);
        if (s->smart) {
                const char *devs[MAX_DISKS];
                bool standby[MAX_DISKS];
                for (unsigned i = 0; i < n; i++) {
                        devs[i] = rows[i].rec.device;
                        standby[i] = !strcmp(rows[i].rec.spin_state, "standby");
                }
                smart_sync_devices(s->smart, devs, standby, n);
        }

        collector_batch_begin(c);
        for (unsigned i = 0; i < n; i++) {
                struct disk_row *row = &rows[i];
                struct rec_disk *r = &row->rec;
                if (s->smart && !s->no_smart)
                        row->have_smart = smart_fetch(s->smart, r->device, &row->smart);
                const struct smart_info *si = row->have_smart ? &row->smart : NULL;
                bool standby =
                    !strcmp(r->spin_state, "standby") || (si && !strcmp(si->spin, "standby"));
                if (si) {
                        strscpy(r->smart_status, sizeof(r->smart_status), si->status);
                        r->smart_errors = si->errors;
                        r->power_on_hours = si->poh;
                        r->power_cycle_count = si->cycles;
                        if (!standby && !isnan(si->temp))
                                r->temperature_celsius = si->temp;
                        if (si->model[0])
                                strscpy(r->model, sizeof(r->model), si->model);
                        if (si->serial[0])
                                strscpy(r->serial_number, sizeof(r->serial_number), si->serial);
                        if (!r->spin_state[0])
                                strscpy(r->spin_state, sizeof(r->spin_state), si->spin);
                } else if (!s->no_smart)
                        strscpy(r->smart_status, sizeof(r->smart_status), "UNKNOWN");
                if (standby) {
                        strscpy(r->spin_state, sizeof(r->spin_state), "standby");
                        r->temperature_celsius = NAN;
                }
                if (!r->spin_state[0])
                        strscpy(r->spin_state, sizeof(r->spin_state), "unknown");

                struct rec_disk *out = collector_batch_add(c, RT_disk);
                if (!out)
                        break;
                memcpy(out, r, sizeof(*r));
                for (unsigned k = 0; si && k < si->n_attrs; k++) {
                        struct rec_disk_smart_attr *a = collector_batch_add(c, RT_disk_smart_attr);
                        if (!a)
                                break;
                        strscpy(a->disk_id, sizeof(a->disk_id), r->id);
                        a->attr_id = si->attrs[k].id;
                        strscpy(a->name, sizeof(a->name), si->attrs[k].name);
                        a->value = si->attrs[k].value;
                        a->worst = si->attrs[k].worst;
                        a->threshold = si->attrs[k].thresh;
                        a->raw_value = si->attrs[k].raw;
                        strscpy(a->when_failed, sizeof(a->when_failed), si->attrs[k].when_failed);
                }
        }
        if (n == 0)
                collector_batch_add_empty(c, RT_disk);
        return collector_batch_commit(c);
}
