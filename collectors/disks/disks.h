/*
 * disks.h — what the files of ringhub-collect-disks share; private to collectors/disks/.
 *
 *   disks_main.c       options, config, init/reload/done, the task table, inotify wiring
 *   disks_block.c      the disks task: /sys/block and /proc/diskstats, usage, SMART merged in
 *   disks_mounts.c     /proc/mounts, and which mount belongs to which disk
 *   disks_vfs.c        statvfs() in a pool of worker threads, with a timeout per round
 *   disks_smart.c      the SMART thread: smartctl run with a deadline, results cached
 *   disks_smart_json.c smartctl's JSON output into a struct smart_info
 *   disks_unraid.c     Unraid's emhttp files: disks.ini, var.ini (the array), shares.ini
 *   disks_array.c      the array task: md RAID, btrfs pools and scrub, the array summary
 *   disks_shares.c     the shares task: Unraid's shares, else the configured mounts
 *   disks_control.c    commands: array start/stop, parity check/scrub, disk spin up/down
 *
 * Everything here runs on the main thread except the workers of disks_vfs.c, the
 * thread of disks_smart.c and the command and scrub threads of disks_control.c, which
 * keep to their own structures; only the main thread writes to the ring.
 */
#pragma once

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "collector.h"

#define MAX_DISKS  64
#define MAX_ATTRS  32
#define MAX_MOUNTS 256
#define MAX_POOLS  16
#define MAX_SHARES 64

/* The tasks, in disks_main.c's table. */
enum { TASK_DISKS, TASK_ARRAY, TASK_SHARES, TASK_SMART };

/* ---- state ---------------------------------------------------------------------------- */

struct disk_prev {
        char dev[32];
        uint64_t io_ticks, ns;
        bool known;
        /* static attributes, read once */
        bool attrs_read;
        char model[40], serial[32];
        uint8_t rotational;
};

struct mount_ent {
        char dev[32];   /* source without /dev/ */
        char path[256]; /* mount point, unescaped */
        char fstype[16];
};

struct share_cfg {
        char name[48], path[96];
};

/* One [slot] of Unraid's disks.ini. */
struct ur_disk {
        char slot[32], name[32], device[16], status[24], type[16], fstype[16];
        uint64_t size_kib, fs_size, fs_free, fs_used;
        double temp;
        bool spun_down, temp_star, has_spundown;
        uint32_t spindown_delay;
        int idx; /* Unraid's slot number (mdcmd spinup N), -1 unknown */
};

struct ur_disks {
        struct ur_disk d[MAX_DISKS];
        unsigned n;
};

struct vfs_pool;
struct smart_ctl;
struct disks_control;

struct disks_state {
        /* options; the *_flag ones say a flag set it, so the config file must not */
        bool include_loop, no_smart;
        bool smartctl_flag, timeout_flag, shares_flag;
        bool republish; /* --once: publish again after SMART, same I/O sample */
        uint64_t statvfs_timeout_ms;
        struct share_cfg shares[MAX_SHARES];
        unsigned n_shares;
        char smartctl[PATH_MAX];
        uint64_t smart_timeout_ms;

        struct disk_prev prev[MAX_DISKS];
        unsigned n_prev;
        struct mount_ent mounts[MAX_MOUNTS];
        unsigned n_mounts;
        struct ur_disks ur;
        bool ur_present;

        struct vfs_pool *vfs;
        struct smart_ctl *smart;
        bool smart_thread_ok;
        bool wired;
        int inotify_fd;
        sd_event_source *inotify_src, *smart_src;
        struct rec_pool *pools[MAX_POOLS * 2]; /* this array cycle's pools, in the batch */
        unsigned n_pools;
        struct disks_control *ctl; /* disks_control.c, made on the first command */
};

/* ---- helpers -------------------------------------------------------------------------- */

/* part of whole in percent, at most 100; NAN when either is missing or whole is 0. */
static inline double disks_pct(uint64_t part, uint64_t whole)
{
        if (whole == 0 || whole == MISSING_U64 || part == MISSING_U64)
                return NAN;
        double d = (double)part / (double)whole * 100.0;
        return d > 100.0 ? 100.0 : d;
}

/* qsort() comparator for an array of char *. */
static inline int disks_cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the tasks (disks_block.c, disks_array.c, disks_shares.c) -------------------------- */

/* Each collects and commits one batch; 0 or -errno. */
int block_run(struct collector *c);  /* "disks": every disk and its SMART attributes */
int array_run(struct collector *c);  /* "array": the array record, the md/btrfs pools */
int shares_run(struct collector *c); /* "shares": the share list */

/* ---- disks_mounts.c ------------------------------------------------------------------- */

/* <procfs>/mounts into s->mounts (block devices only). */
void mounts_load(struct collector *c);
/* The shortest mount point of the disk or one of its partitions, or NULL. */
const struct mount_ent *mounts_of_disk(const struct disks_state *s, const char *disk);
const struct mount_ent *mounts_at(const struct disks_state *s, const char *path);

/* ---- disks_vfs.c ---------------------------------------------------------------------- */

struct vfs_pool *vfs_pool_new(void);
/* Stops the workers; one stuck in a dead mount keeps the pool (it is never freed then). */
void vfs_pool_free(struct vfs_pool *p);
/* Ask for fresh numbers for each path; wait at most timeout_ms for those not known stuck. */
void vfs_query(struct vfs_pool *p, char paths[][PATH_MAX], unsigned n, uint64_t timeout_ms);
/* 1 fresh result, 0 not answered in time (unavailable), -errno statvfs failed. */
int vfs_result(struct vfs_pool *p, const char *path, uint64_t since_ns, uint64_t *total,
               uint64_t *free_, uint64_t *avail);

/* ---- disks_smart_json.c --------------------------------------------------------------- */

struct smart_attr {
        uint32_t id, value, worst, thresh;
        uint64_t raw;
        char name[32], when_failed[16];
};

struct smart_info {
        bool known;      /* a read returned data at least once */
        char status[16]; /* PASSED, FAILED, UNKNOWN */
        char spin[8];    /* active, standby, unknown */
        char model[40], serial[32];
        double temp;
        uint64_t errors, poh, cycles;
        struct smart_attr attrs[MAX_ATTRS];
        unsigned n_attrs;
        char problem[128]; /* why the last run gave nothing, "" when fine */
};

/* Nothing known: status UNKNOWN, spin unknown, every number missing. */
void smart_reset(struct smart_info *i);
/* Fill *i from smartctl's JSON output and exit status; prev: the device's last result. */
void smart_parse(const char *dev, const char *out, int status, struct smart_info *i,
                 const struct smart_info *prev);

/* ---- disks_smart.c -------------------------------------------------------------------- */

/* Start the SMART thread (s->smartctl, s->smart_timeout_ms) into s->smart; a thread that
 * cannot start leaves SMART off (logged) and returns 0. */
int smart_start(struct collector *c);
void smart_stop(struct smart_ctl *sc);
/* Readable (an eventfd) when a round has finished; -1 when there is none. */
int smart_efd(const struct smart_ctl *sc);
void smart_set_smartctl(struct smart_ctl *sc, const char *smartctl);
/* Start a round unless one runs. */
void smart_request(struct smart_ctl *sc);
/* Run a round and wait for it (--once). */
void smart_round(struct smart_ctl *sc);
/* The devices to ask about: the last results of those still listed are kept; standby[i]
 * says Unraid knows devs[i] asleep, so it is not asked. */
void smart_sync_devices(struct smart_ctl *sc, const char *const *devs, const bool *standby,
                        unsigned n);
/* The cached result for dev into *ret; false when dev is not listed. */
bool smart_fetch(struct smart_ctl *sc, const char *dev, struct smart_info *ret);
/* source_status "smartctl" from the last round's problems. */
void smart_report(struct collector *c);

/* ---- disks_unraid.c ------------------------------------------------------------------- */

/* disks.ini into s->ur (s->ur_present when read); reports the source when the file exists. */
void unraid_load_disks(struct collector *c);
const struct ur_disk *unraid_disk_for(const struct disks_state *s, const char *dev);
/* parity, data, cache, boot or pool. */
const char *unraid_role(const struct ur_disk *u);
/* The array record from var.ini at path (and disks.ini). */
void unraid_array(struct collector *c, struct rec_array *a, const char *path);
/* var.ini's mdState into md_state and the parity operation: 0 none, 1 running, 2 paused.
 * -ENOENT when there is no var.ini (not Unraid), other -errno when it is unusable. */
int unraid_sync_state(struct collector *c, char *md_state, size_t size, int *ret_sync);
/* The share records (sorted by name) from shares.ini at path into the open batch.
 * Returns how many, or -errno when the file is absent (-ENOENT) or unusable (reported). */
int unraid_shares(struct collector *c, const char *path);

/* ---- disks_control.c ------------------------------------------------------------------ */

/* ops->command: array-start/-stop, parity-start/-stop/-pause/-resume, spinup/spindown. */
int control_command(struct collector *c, const struct collector_command *cmd);
/* Cancel our scrubs, join every thread, free (disks_done). */
void control_done(struct collector *c);

/* A btrfs scrub this collector started (or paused), for the pool record. */
struct scrub_view {
        bool running;
        const char *status; /* running, finished, aborted */
        uint64_t scrubbed, corrected;
};
bool control_scrub_view(struct collector *c, const char *uuid, struct scrub_view *ret);
