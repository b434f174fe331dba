/*
 * disks_array.c — the array task of ringhub-collect-disks: the array and its pools.
 *
 * Every 10 s (and within a second of a change to Unraid's var.ini or disks.ini) one
 * batch: the `array` record, then one `pool` record per md RAID array (/proc/mdstat,
 * with md's sysfs files authoritative where present) and per multi-device btrfs file
 * system (/sys/fs/btrfs, plus btrfs-progs' scrub status file under --rootfs), or an
 * empty pool list. On Unraid the array record comes from var.ini (disks_unraid.c);
 * elsewhere it summarizes the pools, or says there are none. Reads files only, and the
 * state of the collector's own btrfs scrubs (disks_control.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "collector_attr.h"
#include "disks.h"
#include "macros.h"
#include "util.h"

static void md_pools(struct collector *c, bool *mdstat_ok)
{
        const char *sys = collector_sysfs(c);
        char p[PATH_MAX], path[PATH_MAX];
        _cleanup_free_ char *buf = malloc(65536);
        *mdstat_ok = true;
        if (!buf || collector_proc_path(c, "mdstat", p, sizeof(p)) < 0)
                return;
        ssize_t n = read_file_bounded(p, buf, 65536);
        if (n == -ENOENT)
                return;
        if (n < 0) {
                collector_source_status(c, "mdstat", false, "%s: %s", p, strerror((int)-n));
                *mdstat_ok = false;
                return;
        }
        bool trouble = false;
        char *save = NULL;
        char *lines[512];
        unsigned nl = 0;
        for (char *l = strtok_r(buf, "\n", &save); l && nl < ELEMENTSOF(lines);
             l = strtok_r(NULL, "\n", &save))
                lines[nl++] = l;
        for (unsigned i = 0; i < nl; i++) {
                char name[40], state[24];
                if (sscanf(lines[i], "%39s : %23s", name, state) != 2 || !startswith(name, "md"))
                        continue;
                struct disks_state *s = collector_state(c);
                struct rec_pool *pool =
                    s->n_pools < ELEMENTSOF(s->pools) ? collector_batch_add(c, RT_pool) : NULL;
                if (!pool)
                        break;
                s->pools[s->n_pools++] = pool;
                strscpy(pool->name, sizeof(pool->name), name);
                strscpy(pool->kind, sizeof(pool->kind), "md");
                strscpy(pool->state, sizeof(pool->state), state);
                /* "md0 : active raid1 sdb1[1] sda1[0](F)" */
                unsigned members = 0;
                char *tok_save = NULL, copy[512];
                strscpy(copy, sizeof(copy), lines[i]);
                for (char *t = strtok_r(copy, " ", &tok_save); t;
                     t = strtok_r(NULL, " ", &tok_save)) {
                        if (startswith(t, "raid") || !strcmp(t, "linear"))
                                strscpy(pool->level, sizeof(pool->level), t);
                        else if (strchr(t, '[') && strchr(t, ']'))
                                members++;
                }
                /* next line: "  1046528 blocks super 1.2 [2/1] [U_]" */
                unsigned want = 0, have = 0;
                bool counts = false;
                if (i + 1 < nl) {
                        for (const char *o = lines[i + 1]; (o = strchr(o, '[')); o++)
                                if (sscanf(o, "[%u/%u]", &want, &have) == 2) {
                                        counts = true;
                                        break;
                                }
                        unsigned long long blocks;
                        if (sscanf(lines[i + 1], " %llu blocks", &blocks) == 1)
                                pool->size_bytes = (uint64_t)blocks * 1024;
                }
                if (counts && have <= want) {
                        pool->num_devices = want;
                        pool->missing_devices = want - have;
                } else {
                        trouble = true; /* truncated or unknown format */
                        if (members)
                                pool->num_devices = members;
                }
                /* progress line: "[==>....]  resync = 12.6% (…)" */
                strscpy(pool->sync_action, sizeof(pool->sync_action), "idle");
                for (unsigned k = i + 2; k < nl && k < i + 4 && lines[k][0] == ' '; k++) {
                        static const char *const acts[] = { "resync", "recovery", "check", "repair",
                                                            "reshape" };
                        for (size_t a = 0; a < ELEMENTSOF(acts); a++) {
                                const char *at = strstr(lines[k], acts[a]);
                                double v;
                                if (at && sscanf(at + strlen(acts[a]), " = %lf%%", &v) == 1) {
                                        strscpy(pool->sync_action, sizeof(pool->sync_action),
                                                !strcmp(acts[a], "recovery") ? "recover" : acts[a]);
                                        pool->sync_progress = v;
                                }
                        }
                }
                /* sysfs is authoritative when present. */
                char v[64];
                uint64_t u;
                snprintf(path, sizeof(path), "block/%s/md/level", name);
                if (collector_read_attr(sys, path, v, sizeof(v)) > 0)
                        strscpy(pool->level, sizeof(pool->level), v);
                snprintf(path, sizeof(path), "block/%s/md/array_state", name);
                if (collector_read_attr(sys, path, v, sizeof(v)) > 0)
                        strscpy(pool->state, sizeof(pool->state), v);
                snprintf(path, sizeof(path), "block/%s/md/raid_disks", name);
                if (collector_read_attr_u64(sys, path, &u) == 0 && u < 1000)
                        pool->num_devices = (uint32_t)u;
                snprintf(path, sizeof(path), "block/%s/md/degraded", name);
                if (collector_read_attr_u64(sys, path, &u) == 0 && u < 1000)
                        pool->missing_devices = (uint32_t)u;
                snprintf(path, sizeof(path), "block/%s/md/sync_action", name);
                if (collector_read_attr(sys, path, v, sizeof(v)) > 0) {
                        strscpy(pool->sync_action, sizeof(pool->sync_action),
                                !strcmp(v, "recovery") ? "recover" : v);
                        if (!strcmp(v, "idle"))
                                pool->sync_progress = NAN;
                }
                snprintf(path, sizeof(path), "block/%s/md/sync_completed", name);
                unsigned long long done, total;
                if (collector_read_attr(sys, path, v, sizeof(v)) >= 0 &&
                    sscanf(v, "%llu / %llu", &done, &total) == 2 && total > 0)
                        pool->sync_progress = disks_pct(done, total);
                if (pool->missing_devices != MISSING_U32) {
                        pool->degraded = pool->missing_devices > 0;
                        if (pool->degraded)
                                strscpy(pool->state, sizeof(pool->state), "degraded");
                }
                if (!strcmp(pool->sync_action, "idle") && !isnan(pool->sync_progress))
                        pool->sync_progress = NAN;
                for (unsigned k = 0; k < s->n_mounts; k++)
                        if (!strcmp(s->mounts[k].dev, name)) {
                                strscpy(pool->mount_point, sizeof(pool->mount_point),
                                        s->mounts[k].path);
                                break;
                        }
        }
        if (trouble) {
                collector_source_status(c, "mdstat", false, "%s: truncated or unknown format", p);
                *mdstat_ok = false;
        } else
                collector_source_status(c, "mdstat", true, NULL);
}

struct scrub_sum {
        bool present, running, canceled;
        uint64_t scrubbed, corrected, uncorrectable;
};

/* btrfs-progs' status file: "<fsid>:<devid>|key:value|…" per device. */
static void btrfs_scrub(struct collector *c, const char *uuid, struct scrub_sum *ss)
{
        char p[PATH_MAX], rel[128];
        _cleanup_free_ char *buf = malloc(65536);
        *ss = (struct scrub_sum){ 0 };
        snprintf(rel, sizeof(rel), "/var/lib/btrfs/scrub.status.%s", uuid);
        if (!buf || collector_root_path(c, rel, p, sizeof(p)) < 0 ||
            read_file_bounded(p, buf, 65536) <= 0)
                return;
        char *save = NULL;
        unsigned devs = 0, finished = 0, canceled = 0;
        for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                if (strncmp(l, uuid, strlen(uuid)) != 0)
                        continue;
                devs++;
                char *fs = NULL;
                for (char *kv = strtok_r(l, "|", &fs); kv; kv = strtok_r(NULL, "|", &fs)) {
                        char *colon = strchr(kv, ':');
                        uint64_t v;
                        if (!colon || safe_atou64(colon + 1, &v) < 0)
                                continue;
                        *colon = 0;
                        if (!strcmp(kv, "data_bytes_scrubbed") ||
                            !strcmp(kv, "tree_bytes_scrubbed"))
                                ss->scrubbed += v;
                        else if (!strcmp(kv, "corrected_errors"))
                                ss->corrected += v;
                        else if (!strcmp(kv, "uncorrectable_errors"))
                                ss->uncorrectable += v;
                        else if (!strcmp(kv, "finished"))
                                finished += v == 1;
                        else if (!strcmp(kv, "canceled"))
                                canceled += v == 1;
                }
        }
        if (!devs)
                return;
        ss->present = true;
        ss->canceled = canceled > 0;
        ss->running = finished + canceled < devs;
}

/*
 * A btrfs pool's usable size is what `df` says for its mount: statvfs of the mount point,
 * through the statvfs pool (a dead mount is not waited for). allocation/data/total_bytes
 * is only what data chunks have claimed so far. Unmounted or no answer: left missing.
 */
static void btrfs_sizes(struct collector *c, unsigned first)
{
        struct disks_state *s = collector_state(c);
        if (!s->vfs || first >= s->n_pools)
                return;
        _cleanup_free_ char(*vp)[PATH_MAX] = calloc(s->n_pools - first, PATH_MAX);
        if (!vp)
                return;
        unsigned n = 0;
        for (unsigned i = first; i < s->n_pools; i++)
                if (s->pools[i]->mount_point[0] &&
                    collector_root_path(c, s->pools[i]->mount_point, vp[n], PATH_MAX) == 0)
                        n++;
        if (!n)
                return;
        uint64_t since = mono_ns();
        vfs_query(s->vfs, vp, n, s->statvfs_timeout_ms);
        for (unsigned i = first; i < s->n_pools; i++) {
                char at[PATH_MAX];
                uint64_t total, fr, avail;
                if (s->pools[i]->mount_point[0] &&
                    collector_root_path(c, s->pools[i]->mount_point, at, sizeof(at)) == 0 &&
                    vfs_result(s->vfs, at, since, &total, &fr, &avail) > 0)
                        s->pools[i]->size_bytes = total;
        }
}

static void btrfs_pools(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        const char *sys = collector_sysfs(c);
        const unsigned first = s->n_pools;
        char dir[PATH_MAX], path[PATH_MAX + 300];
        if (collector_sys_path(c, "fs/btrfs", dir, sizeof(dir)) < 0)
                return;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return;
        char *uuids[MAX_POOLS];
        unsigned nu = 0;
        struct dirent *de;
        while ((de = readdir(d)) && nu < MAX_POOLS)
                if (strlen(de->d_name) == 36 && de->d_name[8] == '-')
                        uuids[nu++] = strdup(de->d_name);
        qsort(uuids, nu, sizeof(uuids[0]), disks_cmp_str);
        for (unsigned i = 0; i < nu; i++) {
                const char *uuid = uuids[i];
                if (!uuid)
                        continue;
                snprintf(path, sizeof(path), "%s/%s/devinfo", dir, uuid);
                _cleanup_(closedirp_) DIR *di = opendir(path);
                unsigned ndev = 0, missing = 0;
                uint64_t err[5] = { 0 };
                bool err_known = false;
                while (di && (de = readdir(di))) {
                        if (de->d_name[0] == '.')
                                continue;
                        ndev++;
                        char rel[400], buf[512];
                        uint64_t v;
                        snprintf(rel, sizeof(rel), "fs/btrfs/%s/devinfo/%s/missing", uuid,
                                 de->d_name);
                        if (collector_read_attr_u64(sys, rel, &v) == 0 && v)
                                missing++;
                        snprintf(rel, sizeof(rel), "fs/btrfs/%s/devinfo/%s/error_stats", uuid,
                                 de->d_name);
                        if (collector_read_attr(sys, rel, buf, sizeof(buf)) < 0)
                                continue;
                        static const char *const keys[] = { "read_errs", "write_errs", "flush_errs",
                                                            "corruption_errs", "generation_errs" };
                        for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                                const char *at = strstr(buf, keys[k]);
                                unsigned long long x;
                                if (at && sscanf(at + strlen(keys[k]), " %llu", &x) == 1) {
                                        err[k] += x;
                                        err_known = true;
                                }
                        }
                }
                if (ndev < 2) {
                        free(uuids[i]);
                        continue; /* single-device filesystems are disks, not pools */
                }
                struct rec_pool *pool =
                    s->n_pools < ELEMENTSOF(s->pools) ? collector_batch_add(c, RT_pool) : NULL;
                if (!pool) {
                        free(uuids[i]);
                        continue;
                }
                s->pools[s->n_pools++] = pool;
                char rel[200], v[128];
                snprintf(rel, sizeof(rel), "fs/btrfs/%s/label", uuid);
                if (collector_read_attr(sys, rel, v, sizeof(v)) > 0)
                        strscpy(pool->name, sizeof(pool->name), v);
                else
                        strscpy(pool->name, sizeof(pool->name), uuid);
                strscpy(pool->kind, sizeof(pool->kind), "btrfs");
                static const char *const profiles[] = { "raid1c4", "raid1c3", "raid10",
                                                        "raid1",   "raid6",   "raid5",
                                                        "raid0",   "dup",     "single" };
                for (size_t k = 0; k < ELEMENTSOF(profiles) && !pool->level[0]; k++) {
                        snprintf(path, sizeof(path), "%s/%s/allocation/data/%s", dir, uuid,
                                 profiles[k]);
                        if (access(path, F_OK) == 0)
                                strscpy(pool->level, sizeof(pool->level), profiles[k]);
                }
                pool->num_devices = ndev;
                pool->missing_devices = missing;
                pool->degraded = missing > 0;
                strscpy(pool->state, sizeof(pool->state), missing ? "degraded" : "ok");
                if (err_known) {
                        pool->read_errors = err[0];
                        pool->write_errors = err[1];
                        pool->flush_errors = err[2];
                        pool->corruption_errors = err[3];
                        pool->generation_errors = err[4];
                }
                uint64_t used = 0, part;
                static const char *const kinds[] = { "data", "metadata", "system" };
                bool used_known = false;
                for (size_t k = 0; k < ELEMENTSOF(kinds); k++) {
                        snprintf(rel, sizeof(rel), "fs/btrfs/%s/allocation/%s/disk_used", uuid,
                                 kinds[k]);
                        if (collector_read_attr_u64(sys, rel, &part) == 0) {
                                used += part;
                                used_known = true;
                        }
                }
                /* Where it is mounted: any member device's mount. */
                snprintf(path, sizeof(path), "%s/%s/devices", dir, uuid);
                _cleanup_(closedirp_) DIR *dv = opendir(path);
                while (dv && (de = readdir(dv)) && !pool->mount_point[0])
                        for (unsigned k = 0; k < s->n_mounts; k++)
                                if (!strcmp(s->mounts[k].dev, de->d_name) &&
                                    !strcmp(s->mounts[k].fstype, "btrfs")) {
                                        strscpy(pool->mount_point, sizeof(pool->mount_point),
                                                s->mounts[k].path);
                                        break;
                                }
                struct scrub_sum ss;
                struct scrub_view own;
                btrfs_scrub(c, uuid, &ss);
                /* A scrub of ours (disks_control.c) unless btrfs-progs runs one now. */
                if (!ss.running && control_scrub_view(c, uuid, &own))
                        ss = (struct scrub_sum){ .present = true,
                                                 .running = own.running,
                                                 .canceled = strcmp(own.status, "aborted") == 0,
                                                 .scrubbed = own.scrubbed,
                                                 .corrected = own.corrected };
                strscpy(pool->sync_action, sizeof(pool->sync_action), "idle");
                if (!ss.present)
                        strscpy(pool->scrub_status, sizeof(pool->scrub_status), "none");
                else {
                        strscpy(pool->scrub_status, sizeof(pool->scrub_status),
                                ss.running    ? "running"
                                : ss.canceled ? "aborted"
                                              : "finished");
                        pool->corrected_errors = ss.corrected;
                        if (ss.running) {
                                strscpy(pool->sync_action, sizeof(pool->sync_action), "scrub");
                                if (used_known && used > 0)
                                        pool->sync_progress =
                                            disks_pct(MIN(ss.scrubbed, used), used);
                        }
                }
                free(uuids[i]);
        }
        btrfs_sizes(c, first);
}

/* Not Unraid: the array record summarizes the md and btrfs pools (or says there are none). */
static void summarize_pools(struct disks_state *s, struct rec_array *a, bool mdstat_ok)
{
        uint32_t devs = 0, missing = 0;
        uint64_t errors = 0;
        bool errors_known = false;
        const struct rec_pool *active = NULL;
        a->parity_check_running = false;
        a->parity_check_progress = 0.0;
        strscpy(a->parity_check_status, sizeof(a->parity_check_status), "idle");
        for (unsigned i = 0; i < s->n_pools; i++) {
                const struct rec_pool *p = s->pools[i];
                if (p->num_devices != MISSING_U32)
                        devs += p->num_devices;
                if (p->missing_devices != MISSING_U32)
                        missing += p->missing_devices;
                const uint64_t errs[] = { p->read_errors, p->write_errors, p->flush_errors,
                                          p->corruption_errors, p->generation_errors };
                for (size_t k = 0; k < ELEMENTSOF(errs); k++)
                        if (errs[k] != MISSING_U64) {
                                errors += errs[k];
                                errors_known = true;
                        }
                if (!active && p->sync_action[0] && strcmp(p->sync_action, "idle") != 0)
                        active = p;
        }
        a->num_disks = a->total_disks = a->num_data_disks = devs;
        a->num_parity_disks = 0;
        a->num_invalid_disks = missing;
        if (errors_known)
                a->sync_errors = errors;
        if (s->n_pools == 0) {
                strscpy(a->state, sizeof(a->state), mdstat_ok ? "NONE" : "UNKNOWN");
                strscpy(a->kind, sizeof(a->kind), "none");
                return;
        }
        const struct rec_pool *first = s->pools[0];
        bool same = true;
        for (unsigned i = 1; i < s->n_pools; i++)
                same &= !strcmp(s->pools[i]->kind, first->kind);
        strscpy(a->kind, sizeof(a->kind), same ? first->kind : "mixed");
        strscpy(a->name, sizeof(a->name), (active ? active : first)->name);
        strscpy(a->level, sizeof(a->level), (active ? active : first)->level);
        a->degraded = missing > 0;
        a->parity_valid = missing == 0;
        strscpy(a->state, sizeof(a->state), missing ? "DEGRADED" : "STARTED");
        if (s->n_pools == 1 && first->size_bytes != MISSING_U64)
                a->size_bytes = first->size_bytes;
        if (active) {
                strscpy(a->parity_check_status, sizeof(a->parity_check_status),
                        !strcmp(active->sync_action, "repair") ? "check" : active->sync_action);
                a->parity_check_running = true;
                a->parity_check_progress =
                    isnan(active->sync_progress) ? 0.0 : active->sync_progress;
                a->sync_percent = a->parity_check_progress;
        } else if (!a->degraded)
                a->sync_percent = 100.0;
}

/* Size, free and used share of the user share root (/mnt/user), through the vfs workers. */
static void user_root_usage(struct collector *c, struct rec_array *a)
{
        struct disks_state *s = collector_state(c);
        char vp[1][PATH_MAX];
        uint64_t total, fr, avail, since = mono_ns();
        if (!s->vfs || collector_root_path(c, "/mnt/user", vp[0], PATH_MAX) < 0 ||
            access(vp[0], F_OK) < 0)
                return;
        vfs_query(s->vfs, vp, 1, s->statvfs_timeout_ms);
        if (vfs_result(s->vfs, vp[0], since, &total, &fr, &avail) <= 0 || total < fr)
                return;
        a->total_bytes = total;
        a->free_bytes = avail;
        a->used_percent = disks_pct(total - fr, total - fr + avail);
}

int array_run(struct collector *c)
{
        char p[PATH_MAX];
        collector_batch_begin(c);
        struct rec_array *a = collector_batch_add(c, RT_array);
        if (!a)
                return -ENOBUFS;
        struct disks_state *s = collector_state(c);
        mounts_load(c);
        bool mdstat_ok;
        s->n_pools = 0;
        md_pools(c, &mdstat_ok);
        btrfs_pools(c);
        unsigned n_pools = s->n_pools;

        if (collector_root_path(c, "/var/local/emhttp/var.ini", p, sizeof(p)) == 0 &&
            access(p, F_OK) == 0) {
                unraid_array(c, a, p);
                user_root_usage(c, a);
        } else {
                summarize_pools(s, a, mdstat_ok);
        }
        if (n_pools == 0)
                collector_batch_add_empty(c, RT_pool);
        return collector_batch_commit(c);
}
