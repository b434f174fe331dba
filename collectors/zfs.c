/*
 * zfs.c — ringhub-collect-zfs: ZFS pools, the ARC, datasets and snapshots.
 *
 * Two tasks. "zfs" (default 10 s) reads only the kernel's kstat files under
 * --procfs/spl/kstat/zfs: arcstats → one zfs_arc record; each pool's folder → its health
 * (`state`) and its I/O (the sum of its `objset-*` files' reads, writes, nread, nwritten).
 * "list" (default 5 min) runs `zpool list -Hp` and `zfs list -Hp` once each (the only
 * sources of sizes, ratios and properties; libzfs has no stable ABI and the kstats do not
 * carry them), with a deadline: pool sizes are kept for the fast task, datasets and
 * snapshots are written as their own batches. The spawns block this process's loop for at
 * most the deadline, on a schedule of minutes — never per cycle.
 *
 * No kstat folder (no ZFS module): empty lists, no ARC record, source "zfs" absent, and
 * nothing is spawned. Garbage lines are skipped and logged once.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "collector_attr.h"
#include "collector_spawn.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define MAX_POOLS   64
#define LIST_OUTPUT (4u << 20) /* zfs list output kept at most (a few thousand snapshots) */
#define SPAWN_MS    10000

enum { OPT_ZFS = 0x200, OPT_ZPOOL };

struct pool_props {
        char name[64];
        char guid[24];
        uint64_t size, alloc, free;
        double frag, cap, dedup;
        uint8_t readonly, autoexpand;
};

struct zfs_state {
        char zfs[PATH_MAX], zpool[PATH_MAX];
        bool zfs_from_flag, zpool_from_flag;
        struct pool_props props[MAX_POOLS];
        unsigned n_props;
        bool kstat_present;
        char *out; /* LIST_OUTPUT bytes, for the spawns */
};

static const char KSTAT[] = "spl/kstat/zfs";

/* "-" (property not set or not applicable) is missing. */
static uint64_t num_u64(const char *s)
{
        uint64_t v;
        return safe_atou64(s, &v) == 0 ? v : MISSING_U64;
}

static double num_f64(const char *s)
{
        double v;
        char buf[32];
        if (!strscpy(buf, sizeof(buf), s)) {
                size_t n = strlen(buf);
                if (n && (buf[n - 1] == 'x' || buf[n - 1] == '%'))
                        buf[n - 1] = 0; /* 1.50x, 12% without -p */
                if (safe_atod(buf, &v) == 0)
                        return v;
        }
        return NAN;
}

static uint8_t on_off(const char *s)
{
        return strcmp(s, "on") == 0 ? 1 : strcmp(s, "off") == 0 ? 0 : MISSING_BOOL;
}

/* Split a tab-separated line into at most max fields; returns how many. */
static unsigned split_tabs(char *line, char **f, unsigned max)
{
        unsigned n = 0;
        for (char *p = line; n < max; n++) {
                f[n] = p;
                p = strchr(p, '\t');
                if (!p)
                        return n + 1;
                *p++ = 0;
        }
        return n;
}

/* ---- kstat: the ARC ---- */

static void arc_emit(struct collector *c)
{
        char p[PATH_MAX], line[256];
        if (collector_proc_path(c, "spl/kstat/zfs/arcstats", p, sizeof(p)) < 0)
                return;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f) {
                collector_problem(c, "cannot read %s: %m", p);
                return;
        }
        uint64_t size = MISSING_U64, tc = MISSING_U64, cmin = MISSING_U64, cmax = MISSING_U64,
                 hits = MISSING_U64, misses = MISSING_U64, mru = MISSING_U64, mfu = MISSING_U64,
                 l2s = MISSING_U64, l2h = MISSING_U64, l2m = MISSING_U64;
        struct {
                const char *name;
                uint64_t *v;
        } keys[] = { { "size", &size },    { "c", &tc },         { "c_min", &cmin },
                     { "c_max", &cmax },   { "hits", &hits },    { "misses", &misses },
                     { "mru_hits", &mru }, { "mfu_hits", &mfu }, { "l2_size", &l2s },
                     { "l2_hits", &l2h },  { "l2_misses", &l2m } };
        unsigned got = 0;
        while (fgets(line, sizeof(line), f)) {
                char name[64];
                unsigned type;
                uint64_t v;
                if (sscanf(line, "%63s %u %" SCNu64, name, &type, &v) != 3)
                        continue; /* the two header lines */
                for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                        if (strcmp(name, keys[i].name) == 0) {
                                *keys[i].v = v;
                                got++;
                        }
        }
        if (got == 0) {
                collector_problem(c, "no ARC counters in %s", p);
                return;
        }
        struct rec_zfs_arc a;
        memset(&a, 0, sizeof(a));
        a.size_bytes = size;
        a.size_mb = size == MISSING_U64 ? NAN : (double)size / (1024.0 * 1024.0);
        a.target_size_bytes = tc;
        a.min_size_bytes = cmin;
        a.max_size_bytes = cmax;
        a.usage_percent = size != MISSING_U64 && cmax != MISSING_U64 && cmax > 0
                              ? 100.0 * (double)size / (double)cmax
                              : NAN;
        bool hm = hits != MISSING_U64 && misses != MISSING_U64;
        a.hit_ratio_percent = hm && hits + misses > 0
                                  ? 100.0 * (double)hits / (double)(hits + misses)
                                  : (hm ? 0 : NAN);
        a.mru_hit_ratio_percent = mru != MISSING_U64 && hits != MISSING_U64
                                      ? (hits ? 100.0 * (double)mru / (double)hits : 0)
                                      : NAN;
        a.mfu_hit_ratio_percent = mfu != MISSING_U64 && hits != MISSING_U64
                                      ? (hits ? 100.0 * (double)mfu / (double)hits : 0)
                                      : NAN;
        a.hits = hits;
        a.misses = misses;
        a.l2_size_bytes = l2s;
        a.l2_hits = l2h;
        a.l2_misses = l2m;
        collector_emit(c, RT_zfs_arc, &a);
}

/* ---- kstat: pools ---- */

/* Sum the pool's objset-* kstats (one per mounted dataset) into its I/O counters. */
static void pool_io(struct collector *c, const char *dir, struct rec_zfs_pool *r)
{
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return;
        uint64_t v[4] = { 0, 0, 0, 0 };
        bool any = false;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (!startswith(e->d_name, "objset-"))
                        continue;
                char p[PATH_MAX], line[256];
                if (path_join(p, sizeof(p), dir, e->d_name) < 0)
                        continue;
                _cleanup_fclose_ FILE *f = fopen(p, "re");
                if (!f)
                        continue;
                while (fgets(line, sizeof(line), f)) {
                        static const char *const names[4] = { "reads", "writes", "nread",
                                                              "nwritten" };
                        char name[64];
                        unsigned type;
                        uint64_t x;
                        if (sscanf(line, "%63s %u %" SCNu64, name, &type, &x) != 3)
                                continue;
                        for (unsigned i = 0; i < 4; i++)
                                if (strcmp(name, names[i]) == 0) {
                                        v[i] += x;
                                        any = true;
                                }
                }
        }
        (void)c;
        if (!any)
                return;
        r->read_ops = v[0];
        r->write_ops = v[1];
        r->read_bytes = v[2];
        r->write_bytes = v[3];
}

static const struct pool_props *props_of(const struct zfs_state *s, const char *name)
{
        for (unsigned i = 0; i < s->n_props; i++)
                if (strcmp(s->props[i].name, name) == 0)
                        return &s->props[i];
        return NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static void pool_fill(struct collector *c, const char *base, const char *name)
{
        struct zfs_state *s = collector_state(c);
        char dir[PATH_MAX], health[16];
        if (path_join(dir, sizeof(dir), base, name) < 0)
                return;
        if (collector_read_attr(dir, "state", health, sizeof(health)) <= 0)
                return; /* not a pool folder */
        struct rec_zfs_pool *r = collector_batch_add(c, RT_zfs_pool);
        if (!r)
                return;
        strscpy(r->name, sizeof(r->name), name);
        strscpy(r->health, sizeof(r->health), health);
        strscpy(r->state, sizeof(r->state), "ACTIVE");
        pool_io(c, dir, r);
        const struct pool_props *pp = props_of(s, name);
        if (!pp)
                return;
        strscpy(r->guid, sizeof(r->guid), pp->guid);
        r->size_bytes = pp->size;
        r->allocated_bytes = pp->alloc;
        r->free_bytes = pp->free;
        r->fragmentation_percent = pp->frag;
        r->capacity_percent = pp->cap;
        r->dedup_ratio = pp->dedup;
        r->readonly = pp->readonly;
        r->autoexpand = pp->autoexpand;
}

static int zfs_run(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        char base[PATH_MAX];
        int r = collector_proc_path(c, KSTAT, base, sizeof(base));
        _cleanup_(closedirp_) DIR *d = r < 0 ? NULL : opendir(base);
        s->kstat_present = d != NULL;
        collector_batch_begin(c);
        if (!d) {
                collector_source_status(c, "zfs_kstat", false,
                                        "no ZFS: %s missing (module not loaded)", base);
                collector_batch_add_empty(c, RT_zfs_pool);
                return collector_batch_commit(c);
        }
        char *names[MAX_POOLS];
        unsigned n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < MAX_POOLS)
                if (e->d_name[0] != '.' && e->d_type == DT_DIR && (names[n] = strdup(e->d_name)))
                        n++;
        qsort(names, n, sizeof(names[0]), cmp_str);
        for (unsigned i = 0; i < n; i++) {
                pool_fill(c, base, names[i]);
                free(names[i]);
        }
        if (collector_batch_count(c) == 0)
                collector_batch_add_empty(c, RT_zfs_pool);
        r = collector_batch_commit(c);
        arc_emit(c);
        collector_source_status(c, "zfs_kstat", true, NULL);
        return r;
}

/* ---- zpool list / zfs list (slow schedule) ---- */

static int run_list(struct collector *c, const char *bin, const char *what, char **argv)
{
        struct zfs_state *s = collector_state(c);
        bool overflow = false;
        argv[0] = (char *)bin;
        int r = collector_spawn_read(argv, s->out, LIST_OUTPUT, SPAWN_MS, &overflow);
        if (r != 0) {
                if (r == -ETIME)
                        collector_source_status(c, what, false, "%s did not finish within %d ms",
                                                bin, SPAWN_MS);
                else if (r < 0)
                        collector_source_status(c, what, false, "%s could not run: %s", bin,
                                                strerror(-r));
                else
                        collector_source_status(c, what, false, "%s exited with %d", bin, r);
                return r < 0 ? r : -EIO;
        }
        if (overflow)
                collector_problem(c, "%s output over %u bytes, the rest dropped", bin, LIST_OUTPUT);
        collector_source_status(c, what, true, NULL);
        return 0;
}

static void zpool_list(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        char *argv[] = { NULL,
                         "list",
                         "-Hp",
                         "-o",
                         "name,size,alloc,free,frag,cap,dedup,guid,readonly,autoexpand",
                         NULL };
        s->n_props = 0;
        if (run_list(c, s->zpool, "zpool", argv) < 0)
                return;
        char *save = NULL;
        for (char *l = strtok_r(s->out, "\n", &save); l && s->n_props < MAX_POOLS;
             l = strtok_r(NULL, "\n", &save)) {
                char *f[10];
                if (split_tabs(l, f, 10) != 10) {
                        collector_problem(c, "garbage in zpool list output: '%.60s'", l);
                        continue;
                }
                struct pool_props *p = &s->props[s->n_props++];
                strscpy(p->name, sizeof(p->name), f[0]);
                p->size = num_u64(f[1]);
                p->alloc = num_u64(f[2]);
                p->free = num_u64(f[3]);
                p->frag = num_f64(f[4]);
                p->cap = num_f64(f[5]);
                p->dedup = num_f64(f[6]);
                strscpy(p->guid, sizeof(p->guid), f[7]);
                p->readonly = on_off(f[8]);
                p->autoexpand = on_off(f[9]);
        }
}

static void dataset_add(struct collector *c, char **f)
{
        struct rec_zfs_dataset *r = collector_batch_add(c, RT_zfs_dataset);
        if (!r)
                return;
        bool cut = collector_copy_text(r->name, sizeof(r->name), f[0]);
        strscpy(r->type, sizeof(r->type), f[1]);
        r->used_bytes = num_u64(f[2]);
        r->available_bytes = num_u64(f[3]);
        r->referenced_bytes = num_u64(f[4]);
        r->compress_ratio = num_f64(f[5]);
        if (strcmp(f[6], "-") != 0)
                cut |= collector_copy_text(r->mountpoint, sizeof(r->mountpoint), f[6]);
        r->quota_bytes = num_u64(f[7]);
        r->reservation_bytes = num_u64(f[8]);
        strscpy(r->compression, sizeof(r->compression), f[9]);
        r->readonly = on_off(f[10]);
        r->truncated = cut;
}

static void snapshot_add(struct collector *c, char **f)
{
        struct rec_zfs_snapshot *r = collector_batch_add(c, RT_zfs_snapshot);
        if (!r)
                return;
        bool cut = collector_copy_text(r->name, sizeof(r->name), f[0]);
        char *at = strchr(f[0], '@');
        if (at)
                *at = 0;
        cut |= collector_copy_text(r->dataset, sizeof(r->dataset), f[0]);
        r->used_bytes = num_u64(f[2]);
        r->referenced_bytes = num_u64(f[4]);
        uint64_t t = num_u64(f[11]);
        r->creation_time = t == MISSING_U64 ? MISSING_TIME : t * NSEC_PER_SEC;
        r->truncated = cut;
}

/* One zfs list: the datasets' batch and the snapshots' batch from one output. */
static void zfs_list(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        char *argv[] = { NULL,
                         "list",
                         "-Hp",
                         "-t",
                         "filesystem,volume,snapshot",
                         "-o",
                         "name,type,used,avail,refer,compressratio,mountpoint,quota,"
                         "reservation,compression,readonly,creation",
                         NULL };
        bool ok = run_list(c, s->zfs, "zfs", argv) == 0;
        for (int pass = 0; pass < 2; pass++) {
                unsigned type = pass == 0 ? RT_zfs_dataset : RT_zfs_snapshot;
                collector_batch_begin(c);
                const char *p = ok ? s->out : "";
                while (*p) {
                        const char *nl = strchr(p, '\n');
                        size_t len = nl ? (size_t)(nl - p) : strlen(p);
                        char line[1024], *f[12];
                        bool fits = len < sizeof(line);
                        if (fits) {
                                memcpy(line, p, len);
                                line[len] = 0;
                        }
                        p += len + (nl ? 1 : 0);
                        if (!fits || split_tabs(line, f, 12) != 12) {
                                if (pass == 0)
                                        collector_problem(c, "garbage in zfs list output");
                                continue;
                        }
                        bool snap = strcmp(f[1], "snapshot") == 0;
                        if (snap && pass == 1)
                                snapshot_add(c, f);
                        else if (!snap && pass == 0)
                                dataset_add(c, f);
                }
                if (collector_batch_count(c) == 0)
                        collector_batch_add_empty(c, type);
                collector_batch_commit(c);
        }
}

static int list_run(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        char base[PATH_MAX];
        s->kstat_present =
            collector_proc_path(c, KSTAT, base, sizeof(base)) == 0 && access(base, F_OK) == 0;
        if (!s->kstat_present) {
                s->n_props = 0;
                collector_batch_begin(c);
                collector_batch_add_empty(c, RT_zfs_dataset);
                collector_batch_commit(c);
                collector_batch_begin(c);
                collector_batch_add_empty(c, RT_zfs_snapshot);
                return collector_batch_commit(c);
        }
        zpool_list(c);
        zfs_list(c);
        collector_trigger(c, 0, 0); /* the pools' sizes now */
        return 0;
}

static void zfs_conf(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        const struct conf *cf = collector_conf(c);
        if (!s->zfs_from_flag)
                strscpy(s->zfs, sizeof(s->zfs), conf_get_string(cf, "collector.zfs", "zfs"));
        if (!s->zpool_from_flag)
                strscpy(s->zpool, sizeof(s->zpool), conf_get_string(cf, "collector.zfs", "zpool"));
}

static int zfs_init(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        zfs_conf(c);
        s->out = malloc(LIST_OUTPUT);
        if (!s->out)
                return -ENOMEM;
        return 0;
}

static void zfs_done(struct collector *c)
{
        struct zfs_state *s = collector_state(c);
        free(s->out);
        s->out = NULL;
}

static int zfs_parse_option(struct collector *c, int opt, const char *arg)
{
        struct zfs_state *s = collector_state(c);
        if (opt == OPT_ZFS) {
                s->zfs_from_flag = true;
                return strscpy(s->zfs, sizeof(s->zfs), arg) ? -ENAMETOOLONG : 0;
        }
        if (opt == OPT_ZPOOL) {
                s->zpool_from_flag = true;
                return strscpy(s->zpool, sizeof(s->zpool), arg) ? -ENAMETOOLONG : 0;
        }
        return -EINVAL;
}

static const struct option zfs_options[] = {
        { "zfs", required_argument, NULL, OPT_ZFS },
        { "zpool", required_argument, NULL, OPT_ZPOOL },
        {},
};

static const struct collector_ops zfs_ops = {
        .name = "zfs",
        .description = "ZFS pools and ARC (kstat), datasets and snapshots (zfs list)",
        .tasks = { { "zfs", 10000, zfs_run }, { "list", 300000, list_run } },
        .state_size = sizeof(struct zfs_state),
        .options = zfs_options,
        .options_help = "  --zfs PATH           the zfs program ([collector.zfs] zfs)\n"
                        "  --zpool PATH         the zpool program ([collector.zfs] zpool)\n",
        .parse_option = zfs_parse_option,
        .init = zfs_init,
        .done = zfs_done,
        .reload = zfs_conf,
};

int main(int argc, char **argv)
{
        return collector_main(&zfs_ops, argc, argv);
}
