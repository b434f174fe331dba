/*
 * disks.c — ringhub-collect-disks: disks (I/O, usage, SMART), the array and its pools,
 * and shares.
 *
 * Four tasks in one process: "disks" (30 s) writes every disk with its SMART attributes
 * as one batch; "array" (10 s) writes the array record plus the md/btrfs pool list;
 * "shares" (60 s) writes the share list; "smart" (5 min) only wakes the SMART thread.
 * Sources: /sys/block, /proc/diskstats, /proc/mounts, /proc/mdstat, md's sysfs files,
 * /sys/fs/btrfs, btrfs-progs' scrub status file and, on Unraid, the emhttp .ini files
 * (watched with inotify: a change re-collects within a second).
 *
 * Two things must never stall the event loop: statvfs() on a dead network mount runs in
 * a small pool of worker threads and a mount that does not answer in time is reported
 * "unavailable"; smartctl runs in its own thread (spawned with a timeout, `-n standby`
 * so a sleeping disk is never woken), and its results are cached and published by the
 * next disks cycle. Nothing else is spawned. Only the main thread writes to the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "collector.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "util.h"

extern char **environ;

#define MAX_DISKS        64
#define MAX_ATTRS        32
#define MAX_MOUNTS       256
#define MAX_POOLS        16
#define MAX_SHARES       64
#define MAX_VFS          128
#define MAX_VFS_WORKERS  6
#define INI_MAX          (256 * 1024)
#define SMART_OUTPUT_MAX (512 * 1024)

enum { TASK_DISKS, TASK_ARRAY, TASK_SHARES, TASK_SMART };

/* ---- small helpers ---------------------------------------------------------------- */

static int read_under(const struct collector *c, char which, const char *path, char *buf,
                      size_t size)
{
        char p[PATH_MAX];
        int r = which == 's'   ? collector_sys_path(c, path, p, sizeof(p))
                : which == 'p' ? collector_proc_path(c, path, p, sizeof(p))
                               : collector_root_path(c, path, p, sizeof(p));
        if (r < 0)
                return r;
        ssize_t n = read_file_bounded(p, buf, size);
        if (n < 0)
                return (int)n;
        return (int)n;
}

/* Read a one-line sysfs value, trimmed. */
static int read_line(const struct collector *c, char which, const char *path, char *buf,
                     size_t size)
{
        int r = read_under(c, which, path, buf, size);
        if (r < 0)
                return r;
        char *s = strstrip(buf);
        if (s != buf)
                memmove(buf, s, strlen(s) + 1);
        return 0;
}

static int read_u64(const struct collector *c, char which, const char *path, uint64_t *ret)
{
        char buf[64];
        int r = read_line(c, which, path, buf, sizeof(buf));
        if (r < 0)
                return r;
        return safe_atou64(buf, ret);
}

static double pct(uint64_t part, uint64_t whole)
{
        if (whole == 0 || whole == MISSING_U64 || part == MISSING_U64)
                return NAN;
        double d = (double)part / (double)whole * 100.0;
        return d > 100.0 ? 100.0 : d;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- INI files (Unraid's emhttp state) --------------------------------------------- */

typedef void (*ini_cb)(void *ud, const char *section, const char *key, const char *value);

static char *unquote(char *v)
{
        v = strstrip(v);
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                v[n - 1] = 0;
                v++;
        }
        return v;
}

/*
 * Parse `[section]` / `["section"]` and `key="value"` lines. Returns the number of
 * key=value lines, -errno when unreadable, or -EBADMSG when the file has content but
 * not one parseable line (garbage).
 */
static int ini_parse(const char *path, ini_cb cb, void *ud)
{
        _cleanup_free_ char *buf = malloc(INI_MAX);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read_file_bounded(path, buf, INI_MAX);
        if (n < 0)
                return (int)n;
        if ((size_t)n >= INI_MAX - 1)
                return -EFBIG;
        if (memchr(buf, 0, (size_t)n))
                return -EBADMSG; /* binary garbage */
        char section[64] = "";
        int kv = 0, bad = 0;
        char *save = NULL;
        for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *l = strstrip(line);
                if (!*l || *l == '#' || *l == ';')
                        continue;
                if (*l == '[') {
                        char *end = strrchr(l, ']');
                        if (!end || end[1]) {
                                bad++;
                                continue;
                        }
                        *end = 0;
                        strscpy(section, sizeof(section), unquote(l + 1));
                        continue;
                }
                char *eq = strchr(l, '=');
                if (!eq || eq == l) {
                        bad++;
                        continue;
                }
                *eq = 0;
                cb(ud, section, strstrip(l), unquote(eq + 1));
                kv++;
        }
        if (kv == 0 && (bad > 0 || n > 0))
                return -EBADMSG;
        return kv;
}

static uint64_t ini_u64(const char *v)
{
        uint64_t u;
        return safe_atou64(v, &u) == 0 ? u : MISSING_U64;
}

/* ---- Unraid: disks.ini, var.ini, shares.ini ---------------------------------------- */

struct ur_disk {
        char slot[32], name[32], device[16], status[24], type[16], fstype[16];
        uint64_t size_kib, fs_size, fs_free, fs_used;
        double temp;
        bool spun_down, temp_star, has_spundown;
        uint32_t spindown_delay;
};

struct ur_disks {
        struct ur_disk d[MAX_DISKS];
        unsigned n;
};

static void disks_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_disks *u = ud;
        if (!*section)
                return;
        struct ur_disk *d = u->n ? &u->d[u->n - 1] : NULL;
        if (!d || strcmp(d->slot, section) != 0) {
                if (u->n >= MAX_DISKS)
                        return;
                d = &u->d[u->n++];
                *d = (struct ur_disk){ .size_kib = MISSING_U64,
                                       .fs_size = MISSING_U64,
                                       .fs_free = MISSING_U64,
                                       .fs_used = MISSING_U64,
                                       .temp = NAN,
                                       .spindown_delay = MISSING_U32 };
                strscpy(d->slot, sizeof(d->slot), section);
        }
        if (!strcmp(key, "name"))
                strscpy(d->name, sizeof(d->name), value);
        else if (!strcmp(key, "device"))
                strscpy(d->device, sizeof(d->device), value);
        else if (!strcmp(key, "status"))
                strscpy(d->status, sizeof(d->status), value);
        else if (!strcmp(key, "type"))
                strscpy(d->type, sizeof(d->type), value);
        else if (!strcmp(key, "fsType"))
                strscpy(d->fstype, sizeof(d->fstype), value);
        else if (!strcmp(key, "size"))
                d->size_kib = ini_u64(value);
        else if (!strcmp(key, "fsSize"))
                d->fs_size = ini_u64(value);
        else if (!strcmp(key, "fsFree"))
                d->fs_free = ini_u64(value);
        else if (!strcmp(key, "fsUsed"))
                d->fs_used = ini_u64(value);
        else if (!strcmp(key, "spundown")) {
                d->spun_down = !strcmp(value, "1");
                d->has_spundown = true;
        } else if (!strcmp(key, "spindownDelay")) {
                uint64_t v = ini_u64(value);
                d->spindown_delay = v < 100000 ? (uint32_t)v : MISSING_U32;
        } else if (!strcmp(key, "temp")) {
                double t;
                if (!strcmp(value, "*"))
                        d->temp_star = true;
                else if (safe_atod(value, &t) == 0 && t > -60 && t < 150)
                        d->temp = t;
        }
}

struct ur_var {
        char md_state[24], resync_action[24];
        uint64_t num_disks, num_invalid, num_disabled, num_missing, sync_errs;
        uint64_t resync_pos, resync_size, resync_dt;
};

static void var_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_var *v = ud;
        if (!strcmp(key, "mdState"))
                strscpy(v->md_state, sizeof(v->md_state), value);
        else if (!strcmp(key, "mdResyncAction"))
                strscpy(v->resync_action, sizeof(v->resync_action), value);
        else if (!strcmp(key, "sbSyncAction") && !v->resync_action[0])
                strscpy(v->resync_action, sizeof(v->resync_action), value);
        else if (!strcmp(key, "mdNumDisks"))
                v->num_disks = ini_u64(value);
        else if (!strcmp(key, "mdNumInvalid"))
                v->num_invalid = ini_u64(value);
        else if (!strcmp(key, "mdNumDisabled"))
                v->num_disabled = ini_u64(value);
        else if (!strcmp(key, "mdNumMissing"))
                v->num_missing = ini_u64(value);
        else if (!strcmp(key, "sbSyncErrs"))
                v->sync_errs = ini_u64(value);
        else if (!strcmp(key, "mdResyncPos"))
                v->resync_pos = ini_u64(value);
        else if (!strcmp(key, "mdResyncSize"))
                v->resync_size = ini_u64(value);
        else if (!strcmp(key, "mdResyncDt"))
                v->resync_dt = ini_u64(value);
}

struct ur_share {
        char section[48], name[48], comment[64];
        uint64_t size, free, used;
};

struct ur_shares {
        struct ur_share s[MAX_SHARES];
        unsigned n;
};

static void shares_ini_cb(void *ud, const char *section, const char *key, const char *value)
{
        struct ur_shares *u = ud;
        if (!*section)
                return;
        struct ur_share *s = u->n ? &u->s[u->n - 1] : NULL;
        if (!s || strcmp(s->section, section) != 0) {
                if (u->n >= MAX_SHARES)
                        return;
                s = &u->s[u->n++];
                *s = (struct ur_share){ .size = MISSING_U64,
                                        .free = MISSING_U64,
                                        .used = MISSING_U64 };
                strscpy(s->section, sizeof(s->section), section);
                strscpy(s->name, sizeof(s->name), section);
        }
        if (!strcmp(key, "name") && *value)
                strscpy(s->name, sizeof(s->name), value);
        else if (!strcmp(key, "comment"))
                strscpy(s->comment, sizeof(s->comment), value);
        else if (!strcmp(key, "size"))
                s->size = ini_u64(value);
        else if (!strcmp(key, "free"))
                s->free = ini_u64(value);
        else if (!strcmp(key, "used"))
                s->used = ini_u64(value);
}

/* ---- statvfs off the loop ---------------------------------------------------------- */

enum vfs_state { VFS_IDLE, VFS_QUEUED, VFS_BUSY };

struct vfs_entry {
        char path[PATH_MAX];
        enum vfs_state state;
        int err; /* 0 or -errno of the last completed call */
        uint64_t total, free, avail;
        uint64_t done_ns; /* monotonic time of the last completion */
        uint64_t used_ns; /* last asked for: entries unused for long are recycled */
        uint64_t round;   /* the query round that queued it */
};

struct vfs_pool {
        pthread_mutex_t lock;
        pthread_cond_t work, done;
        struct vfs_entry e[MAX_VFS];
        unsigned n_workers, idle_workers, busy_workers;
        bool stop;
};

static void *vfs_worker(void *arg)
{
        struct vfs_pool *p = arg;
        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct vfs_entry *e = NULL;
                for (unsigned i = 0; i < MAX_VFS && !e; i++)
                        if (p->e[i].state == VFS_QUEUED)
                                e = &p->e[i];
                if (!e) {
                        if (p->stop)
                                break;
                        p->idle_workers++;
                        pthread_cond_wait(&p->work, &p->lock);
                        p->idle_workers--;
                        continue;
                }
                e->state = VFS_BUSY;
                p->busy_workers++;
                char path[PATH_MAX];
                strscpy(path, sizeof(path), e->path);
                pthread_mutex_unlock(&p->lock);

                struct statvfs st;
                int r = statvfs(path, &st) < 0 ? -errno : 0; /* may hang on a dead mount */

                pthread_mutex_lock(&p->lock);
                p->busy_workers--;
                e->err = r;
                if (r == 0) {
                        e->total = (uint64_t)st.f_blocks * st.f_frsize;
                        e->free = (uint64_t)st.f_bfree * st.f_frsize;
                        e->avail = (uint64_t)st.f_bavail * st.f_frsize;
                }
                e->done_ns = mono_ns();
                e->state = VFS_IDLE;
                pthread_cond_broadcast(&p->done);
        }
        p->n_workers--;
        pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* Called with the lock held: make sure a worker can take a newly queued entry. */
static void vfs_ensure_worker(struct vfs_pool *p)
{
        if (p->idle_workers > 0) {
                pthread_cond_signal(&p->work);
                return;
        }
        if (p->n_workers >= MAX_VFS_WORKERS)
                return; /* every worker is stuck in a dead mount: the request waits */
        pthread_attr_t a;
        pthread_t t;
        pthread_attr_init(&a);
        pthread_attr_setstacksize(&a, 64 * 1024);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        if (pthread_create(&t, &a, vfs_worker, p) == 0)
                p->n_workers++;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&a);
}

static struct vfs_entry *vfs_find(struct vfs_pool *p, const char *path, bool create)
{
        struct vfs_entry *free_e = NULL, *oldest = NULL;
        for (unsigned i = 0; i < MAX_VFS; i++) {
                struct vfs_entry *e = &p->e[i];
                if (e->path[0] && strcmp(e->path, path) == 0)
                        return e;
                if (!e->path[0] && !free_e)
                        free_e = e;
                if (e->path[0] && e->state == VFS_IDLE && (!oldest || e->used_ns < oldest->used_ns))
                        oldest = e;
        }
        if (!create)
                return NULL;
        struct vfs_entry *e = free_e ? free_e : oldest;
        if (!e)
                return NULL;
        *e = (struct vfs_entry){ .state = VFS_IDLE };
        strscpy(e->path, sizeof(e->path), path);
        return e;
}

/* Ask for fresh numbers for each path; wait at most timeout_ms for those not known stuck. */
static void vfs_query(struct vfs_pool *p, char paths[][PATH_MAX], unsigned n, uint64_t timeout_ms)
{
        uint64_t start = mono_ns();
        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < n; i++) {
                struct vfs_entry *e = vfs_find(p, paths[i], true);
                if (!e)
                        continue;
                e->used_ns = start;
                if (e->state == VFS_IDLE) {
                        e->state = VFS_QUEUED;
                        e->round = start;
                        vfs_ensure_worker(p);
                }
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        uint64_t dl = (uint64_t)deadline.tv_sec * NSEC_PER_SEC + (uint64_t)deadline.tv_nsec +
                      timeout_ms * NSEC_PER_MSEC;
        deadline.tv_sec = (time_t)(dl / NSEC_PER_SEC);
        deadline.tv_nsec = (long)(dl % NSEC_PER_SEC);
        for (;;) {
                bool pending = false;
                for (unsigned i = 0; i < n && !pending; i++) {
                        struct vfs_entry *e = vfs_find(p, paths[i], false);
                        /* An entry still busy from an earlier round is a stuck mount: no wait. */
                        if (e && e->state != VFS_IDLE && e->round == start)
                                pending = true;
                }
                if (!pending || pthread_cond_timedwait(&p->done, &p->lock, &deadline) == ETIMEDOUT)
                        break;
        }
        pthread_mutex_unlock(&p->lock);
}

/* 1 fresh result, 0 not answered in time (unavailable), -errno statvfs failed. */
static int vfs_result(struct vfs_pool *p, const char *path, uint64_t since_ns, uint64_t *total,
                      uint64_t *free_, uint64_t *avail)
{
        int r = 0;
        pthread_mutex_lock(&p->lock);
        struct vfs_entry *e = vfs_find(p, path, false);
        if (e && e->state == VFS_IDLE && e->done_ns >= since_ns) {
                if (e->err < 0)
                        r = e->err;
                else {
                        *total = e->total;
                        *free_ = e->free;
                        *avail = e->avail;
                        r = 1;
                }
        }
        pthread_mutex_unlock(&p->lock);
        return r;
}

/* ---- SMART (own thread) ------------------------------------------------------------ */

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

struct smart_entry {
        char dev[32];
        bool skip; /* Unraid says spun down: do not even ask */
        struct smart_info info;
};

struct smart_ctl {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool started, requested, busy, stop, finished;
        struct smart_entry e[MAX_DISKS];
        unsigned n;
        int efd; /* eventfd: a round finished */
        char smartctl[PATH_MAX];
        uint64_t timeout_ms;
};

static void smart_reset(struct smart_info *i)
{
        *i = (struct smart_info){
                .temp = NAN, .errors = MISSING_U64, .poh = MISSING_U64, .cycles = MISSING_U64
        };
        strscpy(i->status, sizeof(i->status), "UNKNOWN");
        strscpy(i->spin, sizeof(i->spin), "unknown");
}

static json_object *jget(json_object *o, const char *path)
{
        char key[64];
        while (o && *path) {
                const char *dot = strchr(path, '.');
                size_t n = dot ? (size_t)(dot - path) : strlen(path);
                if (n >= sizeof(key))
                        return NULL;
                memcpy(key, path, n);
                key[n] = 0;
                if (!json_object_is_type(o, json_type_object) ||
                    !json_object_object_get_ex(o, key, &o))
                        return NULL;
                path += n + (dot ? 1 : 0);
        }
        return o;
}

static uint64_t jget_u64(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        if (!v || !json_object_is_type(v, json_type_int))
                return MISSING_U64;
        int64_t i = json_object_get_int64(v);
        return i < 0 ? MISSING_U64 : (uint64_t)i;
}

static const char *jget_str(json_object *o, const char *path)
{
        json_object *v = jget(o, path);
        return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* Fill *i from smartctl's JSON and exit status. */
static void smart_parse(const char *dev, const char *out, int status, struct smart_info *i,
                        const struct smart_info *prev)
{
        json_tokener *tok = json_tokener_new();
        json_object *j = tok ? json_tokener_parse_ex(tok, out, (int)strlen(out)) : NULL;
        if (tok && json_tokener_get_error(tok) != json_tokener_success) {
                json_object_put(j);
                j = NULL;
        }
        json_tokener_free(tok);
        smart_reset(i);
        if (!j || !json_object_is_type(j, json_type_object)) {
                snprintf(i->problem, sizeof(i->problem),
                         "smartctl printed no JSON for %s (exit status %d)", dev, status);
                json_object_put(j);
                return;
        }
        const char *msg = NULL;
        bool standby = false;
        json_object *msgs = jget(j, "smartctl.messages");
        if (msgs && json_object_is_type(msgs, json_type_array))
                for (size_t k = 0; k < json_object_array_length(msgs); k++) {
                        const char *s = jget_str(json_object_array_get_idx(msgs, k), "string");
                        if (!s)
                                continue;
                        if (!msg)
                                msg = s;
                        if (strcasestr(s, "STANDBY") || strcasestr(s, "SLEEP"))
                                standby = true;
                }
        if (standby && (status & 2)) {
                /* Asleep: keep what the last active read knew, but no temperature. */
                if (prev && prev->known) {
                        *i = *prev;
                        i->temp = NAN;
                        i->problem[0] = 0;
                }
                strscpy(i->spin, sizeof(i->spin), "standby");
                json_object_put(j);
                return;
        }
        if (status & 3) {
                /* Command line error or device could not be opened: nothing to report. */
                snprintf(i->problem, sizeof(i->problem), "%s: %s", dev,
                         msg ? msg : "smartctl could not read the device");
                json_object_put(j);
                return;
        }
        i->known = true;
        strscpy(i->spin, sizeof(i->spin), "active");
        json_object *passed = jget(j, "smart_status.passed");
        if (passed && json_object_is_type(passed, json_type_boolean))
                strscpy(i->status, sizeof(i->status),
                        json_object_get_boolean(passed) ? "PASSED" : "FAILED");
        const char *s;
        if ((s = jget_str(j, "model_name")))
                strscpy(i->model, sizeof(i->model), s);
        if ((s = jget_str(j, "serial_number")))
                strscpy(i->serial, sizeof(i->serial), s);
        uint64_t t = jget_u64(j, "temperature.current");
        if (t == MISSING_U64)
                t = jget_u64(j, "nvme_smart_health_information_log.temperature");
        if (t != MISSING_U64 && t < 150)
                i->temp = (double)t;
        i->poh = jget_u64(j, "power_on_time.hours");
        if (i->poh == MISSING_U64)
                i->poh = jget_u64(j, "nvme_smart_health_information_log.power_on_hours");
        i->cycles = jget_u64(j, "power_cycle_count");
        if (i->cycles == MISSING_U64)
                i->cycles = jget_u64(j, "nvme_smart_health_information_log.power_cycles");
        i->errors = jget_u64(j, "ata_smart_error_log.extended.count");
        if (i->errors == MISSING_U64)
                i->errors = jget_u64(j, "ata_smart_error_log.summary.count");
        if (i->errors == MISSING_U64)
                i->errors = jget_u64(j, "nvme_smart_health_information_log.media_errors");
        json_object *table = jget(j, "ata_smart_attributes.table");
        if (table && json_object_is_type(table, json_type_array))
                for (size_t k = 0; k < json_object_array_length(table) && i->n_attrs < MAX_ATTRS;
                     k++) {
                        json_object *a = json_object_array_get_idx(table, k);
                        uint64_t id = jget_u64(a, "id");
                        if (id == MISSING_U64 || id > 255)
                                continue;
                        struct smart_attr *sa = &i->attrs[i->n_attrs++];
                        uint64_t v;
                        sa->id = (uint32_t)id;
                        sa->value = (v = jget_u64(a, "value")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->worst = (v = jget_u64(a, "worst")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->thresh = (v = jget_u64(a, "thresh")) <= 255 ? (uint32_t)v : MISSING_U32;
                        sa->raw = jget_u64(a, "raw.value");
                        strscpy(sa->name, sizeof(sa->name), (s = jget_str(a, "name")) ? s : "");
                        strscpy(sa->when_failed, sizeof(sa->when_failed),
                                (s = jget_str(a, "when_failed")) ? s : "");
                }
        json_object_put(j);
}

/* Run smartctl on one device with a deadline. Returns exit status, or -errno. */
static int smart_run_one(struct smart_ctl *sc, char *bin, const char *dev, char *out, size_t size)
{
        char devpath[64];
        snprintf(devpath, sizeof(devpath), "/dev/%s", dev);
        char *argv[] = { bin,          (char *)"-j", (char *)"-n", (char *)"standby",
                         (char *)"-a", devpath,      NULL };
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_init(&at);
        sigset_t none, dfl;
        sigemptyset(&none);
        sigfillset(&dfl);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                          POSIX_SPAWN_SETPGROUP);
        pid_t pid;
        int r = strchr(bin, '/') ? posix_spawn(&pid, bin, &fa, &at, argv, environ)
                                 : posix_spawnp(&pid, bin, &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        close(pfd[1]);
        if (r != 0) {
                close(pfd[0]);
                return -r;
        }
        size_t o = 0;
        bool timed_out = false;
        uint64_t deadline = mono_ns() + sc->timeout_ms * NSEC_PER_MSEC;
        for (;;) {
                uint64_t now = mono_ns();
                if (now >= deadline) {
                        timed_out = true;
                        break;
                }
                pthread_mutex_lock(&sc->lock);
                bool stop = sc->stop;
                pthread_mutex_unlock(&sc->lock);
                if (stop) {
                        timed_out = true;
                        break;
                }
                struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
                int left = (int)MIN((deadline - now) / NSEC_PER_MSEC + 1, 100u);
                int k = poll(&pf, 1, left);
                if (k < 0 && errno != EINTR)
                        break;
                if (k <= 0)
                        continue;
                char tmp[4096];
                ssize_t n = read(pfd[0], tmp, sizeof(tmp));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = MIN((size_t)n, size - 1 - o);
                memcpy(out + o, tmp, take);
                o += take;
        }
        out[o] = 0;
        close(pfd[0]);
        if (timed_out)
                kill(-pid, SIGKILL), kill(pid, SIGKILL);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (timed_out)
                return -ETIME;
        if (WIFSIGNALED(st))
                return -ECHILD;
        return WEXITSTATUS(st);
}

static void *smart_thread(void *arg)
{
        struct smart_ctl *sc = arg;
        char *out = malloc(SMART_OUTPUT_MAX);
        pthread_mutex_lock(&sc->lock);
        for (;;) {
                while (!sc->requested && !sc->stop)
                        pthread_cond_wait(&sc->cond, &sc->lock);
                if (sc->stop)
                        break;
                sc->requested = false;
                sc->busy = true;
                for (unsigned i = 0; i < sc->n && !sc->stop; i++) {
                        char dev[32], bin[PATH_MAX];
                        struct smart_info prev = sc->e[i].info, next;
                        strscpy(dev, sizeof(dev), sc->e[i].dev);
                        strscpy(bin, sizeof(bin), sc->smartctl); /* SIGHUP may change it */
                        if (sc->e[i].skip) {
                                strscpy(sc->e[i].info.spin, sizeof(sc->e[i].info.spin), "standby");
                                sc->e[i].info.temp = NAN;
                                continue;
                        }
                        pthread_mutex_unlock(&sc->lock);
                        int st = out ? smart_run_one(sc, bin, dev, out, SMART_OUTPUT_MAX) : -ENOMEM;
                        if (st == -ETIME) {
                                smart_reset(&next);
                                snprintf(next.problem, sizeof(next.problem),
                                         "smartctl did not finish within %" PRIu64 " ms on %s",
                                         sc->timeout_ms, dev);
                        } else if (st < 0) {
                                smart_reset(&next);
                                snprintf(next.problem, sizeof(next.problem),
                                         "cannot run %.60s for %s: %s", bin, dev, strerror(-st));
                        } else
                                smart_parse(dev, out, st, &next, &prev);
                        pthread_mutex_lock(&sc->lock);
                        /* The device list may have been replaced meanwhile: match by name. */
                        for (unsigned k = 0; k < sc->n; k++)
                                if (strcmp(sc->e[k].dev, dev) == 0)
                                        sc->e[k].info = next;
                }
                sc->busy = false;
                sc->finished = true;
                pthread_cond_broadcast(&sc->cond);
                if (sc->efd >= 0) {
                        uint64_t one = 1;
                        (void)!write(sc->efd, &one, sizeof(one));
                }
        }
        pthread_mutex_unlock(&sc->lock);
        free(out);
        return NULL;
}

/* ---- collector state --------------------------------------------------------------- */

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
};

/* Octal escapes in /proc/mounts (\040 for a space). */
static void unescape_mount(char *s)
{
        char *w = s;
        for (char *r = s; *r;) {
                if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
                    r[3] >= '0' && r[3] <= '7') {
                        *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

static void load_mounts(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX], line[1024];
        s->n_mounts = 0;
        if (collector_proc_path(c, "mounts", p, sizeof(p)) < 0)
                return;
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        if (!f) {
                collector_problem(c, "cannot read %s: %m", p);
                return;
        }
        while (fgets(line, sizeof(line), f) && s->n_mounts < MAX_MOUNTS) {
                char src[256], mp[256], fs[32];
                if (sscanf(line, "%255s %255s %31s", src, mp, fs) != 3 ||
                    strncmp(src, "/dev/", 5) != 0)
                        continue;
                struct mount_ent *m = &s->mounts[s->n_mounts++];
                strscpy(m->dev, sizeof(m->dev), src + 5);
                unescape_mount(mp);
                strscpy(m->path, sizeof(m->path), mp);
                strscpy(m->fstype, sizeof(m->fstype), fs);
        }
}

/* Is `part` the disk itself or one of its partitions (sda1, nvme0n1p2, mmcblk0p1)? */
static bool dev_belongs(const char *part, const char *disk)
{
        size_t n = strlen(disk);
        if (strncmp(part, disk, n) != 0)
                return false;
        const char *r = part + n;
        if (!*r)
                return true;
        if (*r == 'p' && r[1] >= '0' && r[1] <= '9' && disk[n - 1] >= '0' && disk[n - 1] <= '9')
                r++;
        else if (disk[n - 1] >= '0' && disk[n - 1] <= '9')
                return false; /* nvme0n1 vs nvme0n10 */
        if (!*r)
                return false;
        for (; *r; r++)
                if (*r < '0' || *r > '9')
                        return false;
        return true;
}

static const struct mount_ent *mount_of_disk(struct disks_state *s, const char *disk)
{
        const struct mount_ent *best = NULL;
        for (unsigned i = 0; i < s->n_mounts; i++)
                if (dev_belongs(s->mounts[i].dev, disk) &&
                    (!best || strlen(s->mounts[i].path) < strlen(best->path)))
                        best = &s->mounts[i];
        return best;
}

static const struct mount_ent *mount_at(struct disks_state *s, const char *path)
{
        for (unsigned i = 0; i < s->n_mounts; i++)
                if (strcmp(s->mounts[i].path, path) == 0)
                        return &s->mounts[i];
        return NULL;
}

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

/* Unraid disks.ini into s->ur; reports the source when the file exists. */
static void load_unraid_disks(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX];
        s->ur.n = 0;
        s->ur_present = false;
        if (collector_root_path(c, "/var/local/emhttp/disks.ini", p, sizeof(p)) < 0)
                return;
        int r = ini_parse(p, disks_ini_cb, &s->ur);
        if (r == -ENOENT)
                return;
        if (r < 0) {
                s->ur.n = 0;
                collector_source_status(c, "disks.ini", false, "%s: %s", p,
                                        r == -EBADMSG ? "not an INI file" : strerror(-r));
                return;
        }
        s->ur_present = true;
        collector_source_status(c, "disks.ini", true, NULL);
}

static const struct ur_disk *unraid_disk_for(struct disks_state *s, const char *dev)
{
        for (unsigned i = 0; i < s->ur.n; i++)
                if (s->ur.d[i].device[0] && strcmp(s->ur.d[i].device, dev) == 0)
                        return &s->ur.d[i];
        return NULL;
}

static const char *unraid_role(const struct ur_disk *u)
{
        if (!strcasecmp(u->type, "Parity"))
                return "parity";
        if (!strcasecmp(u->type, "Data"))
                return "data";
        if (!strcasecmp(u->type, "Cache"))
                return "cache";
        if (!strcasecmp(u->type, "Flash"))
                return "boot";
        return "pool";
}

/* ---- the disks task ---------------------------------------------------------------- */

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

static void smart_sync_devices(struct disks_state *s, struct disk_row *rows, unsigned n)
{
        if (!s->smart)
                return;
        struct smart_ctl *sc = s->smart;
        pthread_mutex_lock(&sc->lock);
        struct smart_entry *old = calloc(MAX_DISKS, sizeof(*old));
        if (!old) {
                pthread_mutex_unlock(&sc->lock);
                return;
        }
        memcpy(old, sc->e, sizeof(sc->e));
        unsigned old_n = sc->n;
        sc->n = 0;
        for (unsigned i = 0; i < n && sc->n < MAX_DISKS; i++) {
                struct smart_entry *e = &sc->e[sc->n++];
                *e = (struct smart_entry){ 0 };
                strscpy(e->dev, sizeof(e->dev), rows[i].rec.device);
                smart_reset(&e->info);
                for (unsigned k = 0; k < old_n; k++)
                        if (strcmp(old[k].dev, e->dev) == 0)
                                e->info = old[k].info;
                e->skip = !strcmp(rows[i].rec.spin_state, "standby");
        }
        free(old);
        pthread_mutex_unlock(&sc->lock);
}

static void smart_fetch(struct disks_state *s, struct disk_row *r)
{
        if (!s->smart || s->no_smart)
                return;
        pthread_mutex_lock(&s->smart->lock);
        for (unsigned k = 0; k < s->smart->n; k++)
                if (strcmp(s->smart->e[k].dev, r->rec.device) == 0) {
                        r->smart = s->smart->e[k].info;
                        r->have_smart = true;
                }
        pthread_mutex_unlock(&s->smart->lock);
}

static int disks_run(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char dir[PATH_MAX], path[PATH_MAX + 64];
        _cleanup_free_ struct disk_row *rows = calloc(MAX_DISKS, sizeof(*rows));
        _cleanup_free_ struct diskstat *ds = calloc(512, sizeof(*ds));
        unsigned n = 0;
        if (!rows || !ds)
                return -ENOMEM;

        load_mounts(c);
        load_unraid_disks(c);
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
        qsort(names, n_names, sizeof(names[0]), cmp_str);

        for (unsigned i = 0; i < n_names; i++) {
                const char *dev = names[i];
                if (!dev)
                        continue;
                uint64_t sectors;
                snprintf(path, sizeof(path), "block/%s/size", dev);
                if (read_u64(c, 's', path, &sectors) < 0 || sectors == 0) {
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
                        if (read_line(c, 's', path, buf, sizeof(buf)) == 0)
                                strscpy(pv->model, sizeof(pv->model), buf);
                        snprintf(path, sizeof(path), "block/%s/device/serial", dev);
                        if (read_line(c, 's', path, buf, sizeof(buf)) == 0)
                                strscpy(pv->serial, sizeof(pv->serial), buf);
                        snprintf(path, sizeof(path), "block/%s/queue/rotational", dev);
                        if (read_line(c, 's', path, buf, sizeof(buf)) == 0 &&
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
                        m = mount_at(s, mp);
                        if (u->fstype[0] && u->fs_size != MISSING_U64 && u->fs_size > 0) {
                                strscpy(r->filesystem, sizeof(r->filesystem), u->fstype);
                                strscpy(r->mount_point, sizeof(r->mount_point), mp);
                                uint64_t fsz = u->fs_size * 1024;
                                if (u->fs_free != MISSING_U64)
                                        r->free_bytes = u->fs_free * 1024;
                                if (u->fs_used != MISSING_U64)
                                        r->used_bytes = u->fs_used * 1024;
                                else if (u->fs_free != MISSING_U64 && u->fs_free <= u->fs_size)
                                        r->used_bytes = fsz - r->free_bytes;
                                r->usage_percent = pct(r->used_bytes, fsz);
                                strscpy(r->mount_state, sizeof(r->mount_state), "ok");
                                row->have_fs_from_ini = true;
                        }
                }
                if (!m && !row->have_fs_from_ini)
                        m = mount_of_disk(s, dev);
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
                                r->usage_percent = pct(total - fr, total - fr + avail);
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
        smart_sync_devices(s, rows, n);

        collector_batch_begin(c);
        for (unsigned i = 0; i < n; i++) {
                struct disk_row *row = &rows[i];
                struct rec_disk *r = &row->rec;
                smart_fetch(s, row);
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

/* ---- the array task: Unraid, md, btrfs --------------------------------------------- */

static void md_pools(struct collector *c, bool *mdstat_ok)
{
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
                if (read_line(c, 's', path, v, sizeof(v)) == 0 && v[0])
                        strscpy(pool->level, sizeof(pool->level), v);
                snprintf(path, sizeof(path), "block/%s/md/array_state", name);
                if (read_line(c, 's', path, v, sizeof(v)) == 0 && v[0])
                        strscpy(pool->state, sizeof(pool->state), v);
                snprintf(path, sizeof(path), "block/%s/md/raid_disks", name);
                if (read_u64(c, 's', path, &u) == 0 && u < 1000)
                        pool->num_devices = (uint32_t)u;
                snprintf(path, sizeof(path), "block/%s/md/degraded", name);
                if (read_u64(c, 's', path, &u) == 0 && u < 1000)
                        pool->missing_devices = (uint32_t)u;
                snprintf(path, sizeof(path), "block/%s/md/sync_action", name);
                if (read_line(c, 's', path, v, sizeof(v)) == 0 && v[0]) {
                        strscpy(pool->sync_action, sizeof(pool->sync_action),
                                !strcmp(v, "recovery") ? "recover" : v);
                        if (!strcmp(v, "idle"))
                                pool->sync_progress = NAN;
                }
                snprintf(path, sizeof(path), "block/%s/md/sync_completed", name);
                unsigned long long done, total;
                if (read_line(c, 's', path, v, sizeof(v)) == 0 &&
                    sscanf(v, "%llu / %llu", &done, &total) == 2 && total > 0)
                        pool->sync_progress = pct(done, total);
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

static void btrfs_pools(struct collector *c)
{
        struct disks_state *s = collector_state(c);
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
        qsort(uuids, nu, sizeof(uuids[0]), cmp_str);
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
                        if (read_u64(c, 's', rel, &v) == 0 && v)
                                missing++;
                        snprintf(rel, sizeof(rel), "fs/btrfs/%s/devinfo/%s/error_stats", uuid,
                                 de->d_name);
                        if (read_under(c, 's', rel, buf, sizeof(buf)) < 0)
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
                if (read_line(c, 's', rel, v, sizeof(v)) == 0 && v[0])
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
                        if (read_u64(c, 's', rel, &part) == 0) {
                                used += part;
                                used_known = true;
                        }
                }
                snprintf(rel, sizeof(rel), "fs/btrfs/%s/allocation/data/total_bytes", uuid);
                if (read_u64(c, 's', rel, &part) == 0)
                        pool->size_bytes = part;
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
                btrfs_scrub(c, uuid, &ss);
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
                                        pool->sync_progress = pct(MIN(ss.scrubbed, used), used);
                        }
                }
                free(uuids[i]);
        }
}

static const char *unraid_check_status(const char *action)
{
        if (startswith(action, "check"))
                return "check";
        if (startswith(action, "recon"))
                return "recover";
        if (startswith(action, "clear"))
                return "resync";
        return "running";
}

static void unraid_array(struct collector *c, struct rec_array *a, const char *p)
{
        struct disks_state *s = collector_state(c);
        struct ur_var v = { .num_disks = MISSING_U64,
                            .num_invalid = MISSING_U64,
                            .num_disabled = MISSING_U64,
                            .num_missing = MISSING_U64,
                            .sync_errs = MISSING_U64,
                            .resync_pos = MISSING_U64,
                            .resync_size = MISSING_U64,
                            .resync_dt = MISSING_U64 };
        int r = ini_parse(p, var_ini_cb, &v);
        strscpy(a->kind, sizeof(a->kind), "unraid");
        strscpy(a->name, sizeof(a->name), "md");
        if (r < 0 || !v.md_state[0]) {
                collector_source_status(c, "var.ini", false, "%s: %s", p,
                                        r < 0 && r != -EBADMSG ? strerror(-r)
                                                               : "not an Unraid var.ini");
                strscpy(a->state, sizeof(a->state), "UNKNOWN");
                strscpy(a->parity_check_status, sizeof(a->parity_check_status), "unknown");
                return;
        }
        collector_source_status(c, "var.ini", true, NULL);
        strscpy(a->state, sizeof(a->state), v.md_state);
        unsigned parity = 0, data = 0;
        load_unraid_disks(c);
        for (unsigned i = 0; i < s->ur.n; i++) {
                if (!s->ur.d[i].device[0])
                        continue;
                if (!strcasecmp(s->ur.d[i].type, "Parity"))
                        parity++;
                else if (!strcasecmp(s->ur.d[i].type, "Data"))
                        data++;
        }
        if (v.num_disks < 1000)
                a->num_disks = a->total_disks = (uint32_t)v.num_disks;
        else if (s->ur_present)
                a->num_disks = a->total_disks = parity + data;
        if (s->ur_present) {
                a->num_data_disks = data;
                a->num_parity_disks = parity;
        }
        if (v.num_invalid < 1000)
                a->num_invalid_disks = (uint32_t)v.num_invalid;
        a->sync_errors = v.sync_errs;
        if (v.num_disabled != MISSING_U64 || v.num_missing != MISSING_U64)
                a->degraded = (v.num_disabled != MISSING_U64 && v.num_disabled > 0) ||
                              (v.num_missing != MISSING_U64 && v.num_missing > 0);
        if (v.num_invalid != MISSING_U64 && s->ur_present)
                a->parity_valid = parity > 0 && v.num_invalid == 0;
        bool active = v.resync_pos != MISSING_U64 && v.resync_pos > 0 &&
                      v.resync_size != MISSING_U64 && v.resync_size > 0;
        if (active) {
                bool paused = v.resync_dt == 0;
                a->parity_check_progress = pct(v.resync_pos, v.resync_size);
                a->parity_check_running = !paused;
                strscpy(a->parity_check_status, sizeof(a->parity_check_status),
                        paused ? "paused" : unraid_check_status(v.resync_action));
                a->sync_percent = a->parity_check_progress;
        } else {
                a->parity_check_running = false;
                a->parity_check_progress = 0.0;
                strscpy(a->parity_check_status, sizeof(a->parity_check_status), "idle");
                if (a->parity_valid == 1)
                        a->sync_percent = 100.0;
        }
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

static int array_run(struct collector *c)
{
        char p[PATH_MAX];
        collector_batch_begin(c);
        struct rec_array *a = collector_batch_add(c, RT_array);
        if (!a)
                return -ENOBUFS;
        struct disks_state *s = collector_state(c);
        load_mounts(c);
        bool mdstat_ok;
        s->n_pools = 0;
        md_pools(c, &mdstat_ok);
        btrfs_pools(c);
        unsigned n_pools = s->n_pools;

        if (collector_root_path(c, "/var/local/emhttp/var.ini", p, sizeof(p)) == 0 &&
            access(p, F_OK) == 0)
                unraid_array(c, a, p);
        else {
                summarize_pools(s, a, mdstat_ok);
        }
        if (n_pools == 0)
                collector_batch_add_empty(c, RT_pool);
        return collector_batch_commit(c);
}

/* ---- the shares task --------------------------------------------------------------- */

static int shares_run(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char p[PATH_MAX];
        collector_batch_begin(c);
        unsigned n = 0;
        bool unraid = false;
        if (collector_root_path(c, "/var/local/emhttp/shares.ini", p, sizeof(p)) == 0) {
                _cleanup_free_ struct ur_shares *u = calloc(1, sizeof(*u));
                int r = u ? ini_parse(p, shares_ini_cb, u) : -ENOMEM;
                if (r >= 0) {
                        unraid = true;
                        collector_source_status(c, "shares.ini", true, NULL);
                        /* Sorted by name. */
                        for (unsigned i = 0; i < u->n; i++)
                                for (unsigned k = i + 1; k < u->n; k++)
                                        if (strcmp(u->s[k].name, u->s[i].name) < 0) {
                                                struct ur_share t = u->s[i];
                                                u->s[i] = u->s[k];
                                                u->s[k] = t;
                                        }
                        for (unsigned i = 0; i < u->n; i++) {
                                struct rec_share *sh = collector_batch_add(c, RT_share);
                                if (!sh)
                                        break;
                                const struct ur_share *x = &u->s[i];
                                strscpy(sh->name, sizeof(sh->name), x->name);
                                snprintf(sh->path, sizeof(sh->path), "/mnt/user/%s", x->name);
                                strscpy(sh->comment, sizeof(sh->comment), x->comment);
                                uint64_t size = x->size;
                                if ((size == MISSING_U64 || size == 0) && x->used != MISSING_U64 &&
                                    x->free != MISSING_U64)
                                        size = x->used + x->free;
                                if (size != MISSING_U64)
                                        sh->size_bytes = size * 1024;
                                if (x->free != MISSING_U64)
                                        sh->free_bytes = x->free * 1024;
                                if (x->used != MISSING_U64)
                                        sh->used_bytes = x->used * 1024;
                                else if (size != MISSING_U64 && x->free != MISSING_U64 &&
                                         x->free <= size)
                                        sh->used_bytes = (size - x->free) * 1024;
                                if (size != MISSING_U64 && size > 0 &&
                                    sh->used_bytes != MISSING_U64)
                                        sh->usage_percent = pct(sh->used_bytes, size * 1024);
                                strscpy(sh->mount_state, sizeof(sh->mount_state), "ok");
                                n++;
                        }
                } else if (r != -ENOENT)
                        collector_source_status(c, "shares.ini", false, "%s: %s", p,
                                                r == -EBADMSG ? "not an INI file" : strerror(-r));
        }
        if (!unraid && s->n_shares) {
                char(*vp)[PATH_MAX] = calloc(s->n_shares, PATH_MAX);
                if (!vp)
                        return -ENOMEM;
                for (unsigned i = 0; i < s->n_shares; i++)
                        if (collector_root_path(c, s->shares[i].path, vp[i], PATH_MAX) < 0)
                                vp[i][0] = 0;
                uint64_t since = mono_ns();
                if (s->vfs)
                        vfs_query(s->vfs, vp, s->n_shares, s->statvfs_timeout_ms);
                for (unsigned i = 0; i < s->n_shares; i++) {
                        struct rec_share *sh = collector_batch_add(c, RT_share);
                        if (!sh)
                                break;
                        strscpy(sh->name, sizeof(sh->name), s->shares[i].name);
                        strscpy(sh->path, sizeof(sh->path), s->shares[i].path);
                        uint64_t total = 0, fr = 0, avail = 0;
                        char src[96];
                        snprintf(src, sizeof(src), "mount:%.80s", sh->path);
                        int k = s->vfs && vp[i][0]
                                    ? vfs_result(s->vfs, vp[i], since, &total, &fr, &avail)
                                    : -ENAMETOOLONG;
                        if (k > 0) {
                                sh->size_bytes = total;
                                sh->free_bytes = avail;
                                sh->used_bytes = total - fr;
                                sh->usage_percent = pct(total - fr, total - fr + avail);
                                strscpy(sh->mount_state, sizeof(sh->mount_state), "ok");
                                collector_source_status(c, src, true, NULL);
                        } else {
                                strscpy(sh->mount_state, sizeof(sh->mount_state),
                                        k == 0 ? "unavailable" : "error");
                                collector_source_status(c, src, false, "statvfs: %s",
                                                        k == 0 ? "no answer in time"
                                                               : strerror(-k));
                        }
                        n++;
                }
                free(vp);
        }
        if (n == 0)
                collector_batch_add_empty(c, RT_share);
        return collector_batch_commit(c);
}

/* ---- the smart task ---------------------------------------------------------------- */

static void smart_report(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        char first[128] = "";
        unsigned bad = 0;
        pthread_mutex_lock(&s->smart->lock);
        for (unsigned i = 0; i < s->smart->n; i++)
                if (s->smart->e[i].info.problem[0]) {
                        /* A device smartctl cannot talk to (no SMART) is not a failure. */
                        const char *pr = s->smart->e[i].info.problem;
                        if (strstr(pr, "Unable to detect device type") ||
                            strstr(pr, "Unknown USB bridge"))
                                continue;
                        if (!bad++)
                                strscpy(first, sizeof(first), pr);
                }
        pthread_mutex_unlock(&s->smart->lock);
        if (bad)
                collector_source_status(c, "smartctl", false, "%s%s", first,
                                        bad > 1 ? " (and more)" : "");
        else
                collector_source_status(c, "smartctl", true, NULL);
}

static int on_smart_done(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector *c = userdata;
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));
        smart_report(c);
        collector_trigger(c, TASK_DISKS, 0); /* publish the new SMART data now */
        return 0;
}

static int smart_run(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        if (!s->smart || s->no_smart)
                return 0;
        if (!collector_event(c)) {
                /* --once: run the round here, then publish the disks again. */
                struct smart_ctl *sc = s->smart;
                pthread_mutex_lock(&sc->lock);
                sc->finished = false;
                sc->requested = true;
                pthread_cond_signal(&sc->cond);
                while (!sc->finished)
                        pthread_cond_wait(&sc->cond, &sc->lock);
                pthread_mutex_unlock(&sc->lock);
                smart_report(c);
                /* Same cycle as far as I/O goes: no utilisation over the SMART round. */
                s->republish = true;
                int r = disks_run(c);
                s->republish = false;
                return r;
        }
        pthread_mutex_lock(&s->smart->lock);
        if (!s->smart->busy) {
                s->smart->requested = true;
                pthread_cond_signal(&s->smart->cond);
        }
        pthread_mutex_unlock(&s->smart->lock);
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
        if (s->smart && s->smart->efd >= 0 &&
            sd_event_add_io(e, &s->smart_src, s->smart->efd, EPOLLIN, on_smart_done, c) < 0)
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
        return disks_run(c);
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

static int smart_start(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        struct smart_ctl *sc = calloc(1, sizeof(*sc));
        if (!sc)
                return -ENOMEM;
        pthread_mutex_init(&sc->lock, NULL);
        pthread_cond_init(&sc->cond, NULL);
        strscpy(sc->smartctl, sizeof(sc->smartctl), s->smartctl);
        sc->timeout_ms = s->smart_timeout_ms;
        sc->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        int r = pthread_create(&sc->thread, NULL, smart_thread, sc);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                log_warning_errno(-r, "cannot start the SMART thread, SMART is off: %m");
                if (sc->efd >= 0)
                        close(sc->efd);
                free(sc);
                return 0;
        }
        sc->started = true;
        s->smart = sc;
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

        s->vfs = calloc(1, sizeof(*s->vfs));
        if (!s->vfs)
                return -ENOMEM;
        pthread_mutex_init(&s->vfs->lock, NULL);
        pthread_cond_init(&s->vfs->work, NULL);
        pthread_cond_init(&s->vfs->done, NULL);

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
                        if (s->smart && e && s->wired && s->smart->efd >= 0 &&
                            sd_event_add_io(e, &s->smart_src, s->smart->efd, EPOLLIN, on_smart_done,
                                            c) < 0)
                                log_warning("cannot watch the SMART thread");
                } else {
                        pthread_mutex_lock(&s->smart->lock);
                        strscpy(s->smart->smartctl, sizeof(s->smart->smartctl), s->smartctl);
                        pthread_mutex_unlock(&s->smart->lock);
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
        if (s->smart) {
                pthread_mutex_lock(&s->smart->lock);
                s->smart->stop = true;
                pthread_cond_broadcast(&s->smart->cond);
                pthread_mutex_unlock(&s->smart->lock);
                pthread_join(s->smart->thread, NULL);
                if (s->smart->efd >= 0)
                        close(s->smart->efd);
                free(s->smart);
        }
        if (s->vfs) {
                pthread_mutex_lock(&s->vfs->lock);
                s->vfs->stop = true;
                pthread_cond_broadcast(&s->vfs->work);
                /* Idle workers leave; one stuck in a dead mount never will: wait briefly. */
                struct timespec dl;
                clock_gettime(CLOCK_REALTIME, &dl);
                dl.tv_sec += 1;
                while (s->vfs->n_workers > s->vfs->busy_workers)
                        if (pthread_cond_timedwait(&s->vfs->done, &s->vfs->lock, &dl) == ETIMEDOUT)
                                break;
                bool stuck = s->vfs->n_workers > 0;
                pthread_mutex_unlock(&s->vfs->lock);
                if (!stuck)
                        free(s->vfs); /* a stuck worker still points at it: leave it */
        }
}

static const struct collector_ops disks_ops = {
        .name = "disks",
        .description = "disks with SMART, the array (Unraid, md, btrfs) and shares",
        .tasks = { { "disks", 30000, disks_task },
                   { "array", 10000, array_task },
                   { "shares", 60000, shares_task },
                   { "smart", 300000, smart_run } },
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
};

int main(int argc, char **argv)
{
        return collector_main(&disks_ops, argc, argv);
}
