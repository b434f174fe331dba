/*
 * disks_control.c — the commands of ringhub-collect-disks: start/stop the Unraid array,
 * parity checks (Unraid's /proc/mdcmd, md's sync_action, btrfs scrub), disk spin up/down.
 *
 * control_command() runs on the event loop: it finds the target and reads its state
 * there (small files only), answers what it can at once (NOT_FOUND, CONFLICT, …) and
 * hands every action that touches the system to a job thread of its own: writes to
 * /proc/mdcmd or md's sysfs, SG_IO (ATA PASS-THROUGH) and BTRFS_IOC_SCRUB_CANCEL, which
 * waits for the scrub to stop. A job posts an eventfd; the loop joins it, replies and
 * runs the array (or disks) task soon. A btrfs scrub runs BTRFS_IOC_SCRUB on one thread
 * per device for its whole duration; the array task shows its state through
 * control_scrub_view(). Nothing here wakes a disk except `spinup`. When the loop exits
 * the jobs are joined and answered and our scrubs are cancelled: no thread outlives it.
 * The action table is docs/commands-disks.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <json-c/json.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <pthread.h>
#include <scsi/sg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "collector_attr.h"
#include "disks.h"
#include "log.h"
#include "macros.h"
#include "util.h"

/* Answer cmd (the command in hand) with a status word and a message. */
#define REPLY(status, ...) collector_command_reply(c, cmd, status, NULL, __VA_ARGS__)

#define MAX_JOBS 8
#define MAX_DEVS 16
#define DONE_AT  UINT64_MAX /* resume_at: that device had finished */

enum job_kind { JOB_WRITE, JOB_CANCEL, JOB_SPINDOWN, JOB_SPINUP };

struct job {
        bool used;
        atomic_bool done;
        pthread_t thread;
        enum job_kind kind;
        struct collector_command cmd;
        unsigned task; /* to run soon after */
        char path[2][PATH_MAX], text[2][32];
        unsigned n;
        int fd;              /* JOB_CANCEL: the pool's mount point */
        struct scrub *scrub; /* JOB_CANCEL */
        int efd;
        const char *status; /* out */
        char msg[200];
};

struct scrub_dev {
        pthread_t thread;
        bool started;
        atomic_bool done;
        int fd, efd, err;
        struct btrfs_ioctl_scrub_args args;
};

enum scrub_state { SCRUB_NONE, SCRUB_RUNNING, SCRUB_PAUSED, SCRUB_FINISHED, SCRUB_ABORTED };

struct scrub {
        char uuid[40];
        enum scrub_state state;
        bool pause;    /* a pause was asked: keep where each device stood */
        bool readonly; /* started with correcting false */
        int fd;
        unsigned n;
        uint64_t devid[MAX_DEVS], resume_at[MAX_DEVS], corrected;
        struct scrub_dev dev[MAX_DEVS];
};

struct disks_control {
        int efd;
        sd_event_source *io, *exit;
        struct job jobs[MAX_JOBS];
        struct scrub scrubs[MAX_POOLS];
        struct {
                char name[32], action[16];
        } md_paused[MAX_POOLS]; /* what ran before parity-pause froze it */
};

/* A pool a parity command may name. */
struct pool_ref {
        char name[64], uuid[40], mnt[256];
        bool btrfs;
        uint64_t devid[MAX_DEVS];
        unsigned n;
};

static int close_fd(int fd)
{
        if (fd >= 0)
                close(fd);
        return -EBADF;
}

static void poke(int efd)
{
        uint64_t one = 1;
        if (write(efd, &one, sizeof(one)) < 0) {
                /* A full counter still reads as readable. */
        }
}

/* ---- job threads ------------------------------------------------------------------- */

static int write_text(const char *path, const char *text)
{
        /* Like `echo TEXT > PATH`: never creates; /proc and sysfs take O_TRUNC. */
        _cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        size_t n = strlen(text);
        ssize_t k = write(fd, text, n);
        return k < 0 ? -errno : (size_t)k != n ? -EIO : 0;
}

/* ATA PASS-THROUGH(16), non-data. Returns the COUNT register (when ck), 0, or -1 with why. */
static int ata(int fd, uint8_t command, bool ck, char *why, size_t size)
{
        uint8_t cdb[16] = { 0x85, 3 << 1, ck ? 0x20 : 0 }, sense[32] = { 0 };
        cdb[14] = command;
        sg_io_hdr_t io = { .interface_id = 'S',
                           .dxfer_direction = SG_DXFER_NONE,
                           .cmd_len = sizeof(cdb),
                           .cmdp = cdb,
                           .mx_sb_len = sizeof(sense),
                           .sbp = sense,
                           .timeout = 30000 };
        if (ioctl(fd, SG_IO, &io) < 0) {
                snprintf(why, size,
                         errno == EPERM ? "not permitted: SG_IO needs CAP_SYS_RAWIO"
                                        : "not an ATA disk (SG_IO: %s)",
                         strerror(errno));
                return -1;
        }
        const uint8_t *d = NULL;
        uint8_t key = 0, status = 0, count = 0;
        if (io.sb_len_wr >= 8 && (sense[0] & 0x7f) == 0x72) { /* descriptor format */
                key = sense[1] & 0x0f;
                for (unsigned o = 8; o + 14 <= MIN(io.sb_len_wr, 8u + sense[7]);
                     o += 2u + sense[o + 1])
                        if (sense[o] == 0x09)
                                d = &sense[o];
                if (d)
                        status = d[13], count = d[5];
        } else if (io.sb_len_wr >= 14 && (sense[0] & 0x7f) == 0x70) { /* fixed format */
                key = sense[2] & 0x0f;
                status = sense[4], count = sense[6];
                d = sense;
        }
        if (key == 0x05 || (io.masked_status && !d)) {
                snprintf(why, size, "not an ATA disk (ATA PASS-THROUGH refused)");
                return -1;
        }
        if (io.host_status || (status & 0x01)) {
                snprintf(why, size, "the disk refused the command (host %u, ATA status 0x%02x)",
                         io.host_status, status);
                return -1;
        }
        return ck ? (d ? count : -2) : 0;
}

/* Spin up: one O_DIRECT read somewhere on the disk, past every cache. */
static int read_one_block(const char *dev, char *why, size_t size)
{
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
        uint64_t bytes = 0;
        _cleanup_free_ void *buf = NULL;
        if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) < 0 || posix_memalign(&buf, 4096, 4096)) {
                snprintf(why, size, "cannot read %.64s: %s", dev, strerror(errno));
                return -1;
        }
        off_t at = bytes >= 8192 ? (off_t)((real_ns() / 4096) % (bytes / 4096)) * 4096 : 0;
        if (pread(fd, buf, 4096, at) != 4096) {
                snprintf(why, size, "reading %.64s: %s", dev, strerror(errno ? errno : EIO));
                return -1;
        }
        return 0;
}

static void job_spin(struct job *j)
{
        const char *dev = j->path[0], *name = j->cmd.target;
        bool up = j->kind == JOB_SPINUP;
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        j->status = CMD_FAILED;
        if (fd < 0) {
                snprintf(j->msg, sizeof(j->msg), "%s: cannot open %.64s: %s",
                         errno == EACCES || errno == EPERM ? "not permitted" : name, dev,
                         strerror(errno));
                return;
        }
        /* CHECK POWER MODE answers without waking the disk: 0x00/0x01 standby, else idle or
         * active (0x80…0x83, 0xff). */
        int mode = ata(fd, 0xe5, true, j->msg, sizeof(j->msg));
        if (mode == -1)
                return;
        if (mode >= 0 && (up ? mode > 0x01 : mode <= 0x01)) {
                j->status = CMD_CONFLICT;
                snprintf(j->msg, sizeof(j->msg), "%s is already %s", name,
                         up ? "spinning" : "spun down");
                return;
        }
        if (up ? read_one_block(dev, j->msg, sizeof(j->msg)) < 0
               : ata(fd, 0xe0 /* STANDBY IMMEDIATE */, false, j->msg, sizeof(j->msg)) < 0)
                return;
        j->status = CMD_OK;
        snprintf(j->msg, sizeof(j->msg), "%s %s", name, up ? "spun up" : "spun down");
}

static void *job_main(void *userdata)
{
        struct job *j = userdata;
        int r = 0;
        switch (j->kind) {
        case JOB_WRITE:
                for (unsigned i = 0; i < j->n && r >= 0; i++)
                        if ((r = write_text(j->path[i], j->text[i])) < 0)
                                snprintf(j->msg, sizeof(j->msg), "writing '%.*s' to %.100s: %s",
                                         (int)strcspn(j->text[i], "\n"), j->text[i], j->path[i],
                                         strerror(-r));
                if (r == -EBUSY && j->n == 2 && !strcmp(j->text[0], "0\n"))
                        snprintf(j->msg, sizeof(j->msg), "%s is still stopping", j->cmd.target);
                j->status = r == -EBUSY ? CMD_BUSY : r < 0 ? CMD_FAILED : j->status;
                break;
        case JOB_CANCEL:
                /* Returns once every scrub of the file system has stopped. */
                if (ioctl(j->fd, BTRFS_IOC_SCRUB_CANCEL, NULL) < 0) {
                        j->status = errno == ENOTCONN ? CMD_CONFLICT : CMD_FAILED;
                        snprintf(j->msg, sizeof(j->msg), "%s: %s", j->cmd.target,
                                 errno == ENOTCONN ? "no scrub running" : strerror(errno));
                }
                break;
        case JOB_SPINDOWN:
        case JOB_SPINUP:
                job_spin(j);
                break;
        }
        atomic_store(&j->done, true);
        poke(j->efd);
        return NULL;
}

static void *scrub_main(void *userdata)
{
        struct scrub_dev *d = userdata;
        d->err = ioctl(d->fd, BTRFS_IOC_SCRUB, &d->args) < 0 ? errno : 0;
        atomic_store(&d->done, true);
        poke(d->efd);
        return NULL;
}

/* ---- the event loop's side ---------------------------------------------------------- */

static void scrub_reap(struct collector *c, struct scrub *sc, bool wait)
{
        bool left = false;
        for (unsigned i = 0; i < sc->n; i++) {
                struct scrub_dev *d = &sc->dev[i];
                if (!d->started || (!wait && !atomic_load(&d->done))) {
                        left |= d->started;
                        continue;
                }
                pthread_join(d->thread, NULL);
                d->started = false;
                sc->corrected += d->args.progress.corrected_errors;
                sc->resume_at[i] = d->err == 0 ? DONE_AT : d->args.progress.last_physical;
                if (d->err && d->err != ECANCELED)
                        log_warning("btrfs scrub of %s device %llu: %s", sc->uuid,
                                    (unsigned long long)sc->devid[i], strerror(d->err));
        }
        if (left || sc->state != SCRUB_RUNNING)
                return;
        bool all = true;
        for (unsigned i = 0; i < sc->n; i++)
                all &= sc->resume_at[i] == DONE_AT;
        sc->state = all ? SCRUB_FINISHED : sc->pause ? SCRUB_PAUSED : SCRUB_ABORTED;
        sc->pause = false;
        sc->fd = close_fd(sc->fd);
        log_info("btrfs scrub of %s %s", sc->uuid,
                 sc->state == SCRUB_FINISHED ? "finished"
                 : sc->state == SCRUB_PAUSED ? "paused"
                                             : "stopped");
        collector_trigger(c, TASK_ARRAY, 0);
}

static void job_finish(struct collector *c, struct job *j)
{
        pthread_join(j->thread, NULL);
        struct scrub *sc = j->scrub;
        if (j->kind == JOB_CANCEL) {
                j->fd = close_fd(j->fd);
                bool ok = !strcmp(j->status, CMD_OK);
                if (sc && ok && sc->pause && sc->state == SCRUB_NONE)
                        sc->state = SCRUB_PAUSED; /* one btrfs-progs had started */
                else if (sc && !ok)
                        sc->pause = false;
        }
        (void)collector_command_reply(c, &j->cmd, j->status, NULL, "%s", j->msg);
        collector_trigger(c, j->task, j->task == TASK_ARRAY ? 0 : 1000);
        j->used = false;
}

static int on_event(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector *c = userdata;
        struct disks_control *x = ((struct disks_state *)collector_state(c))->ctl;
        uint64_t v;
        (void)!read(fd, &v, sizeof(v));
        for (unsigned i = 0; i < MAX_POOLS; i++)
                scrub_reap(c, &x->scrubs[i], false);
        for (unsigned i = 0; i < MAX_JOBS; i++)
                if (x->jobs[i].used && atomic_load(&x->jobs[i].done))
                        job_finish(c, &x->jobs[i]);
        return 0;
}

/* The loop ends: answer every job, stop our scrubs (a scrub does not outlive us). */
static int on_exit_(sd_event_source *es, void *userdata)
{
        struct collector *c = userdata;
        struct disks_control *x = ((struct disks_state *)collector_state(c))->ctl;
        for (unsigned i = 0; i < MAX_POOLS; i++) {
                struct scrub *sc = &x->scrubs[i];
                if (sc->state == SCRUB_RUNNING && sc->fd >= 0 &&
                    ioctl(sc->fd, BTRFS_IOC_SCRUB_CANCEL, NULL) < 0 && errno != ENOTCONN)
                        log_warning("cancelling the scrub of %s: %m", sc->uuid);
                scrub_reap(c, sc, true);
        }
        for (unsigned i = 0; i < MAX_JOBS; i++)
                if (x->jobs[i].used)
                        job_finish(c, &x->jobs[i]);
        return 0;
}

static struct disks_control *control_get(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        if (s->ctl)
                return s->ctl;
        struct disks_control *x = calloc(1, sizeof(*x));
        if (!x)
                return NULL;
        x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (x->efd < 0 ||
            sd_event_add_io(collector_event(c), &x->io, x->efd, EPOLLIN, on_event, c) < 0 ||
            sd_event_add_exit(collector_event(c), &x->exit, on_exit_, c) < 0) {
                sd_event_source_disable_unref(x->io);
                close_fd(x->efd);
                free(x);
                return NULL;
        }
        for (unsigned i = 0; i < MAX_POOLS; i++)
                x->scrubs[i].fd = -EBADF;
        return s->ctl = x;
}

void control_done(struct collector *c)
{
        struct disks_state *s = collector_state(c);
        struct disks_control *x = s->ctl;
        if (!x)
                return;
        on_exit_(NULL, c); /* nothing is left when the loop's exit ran; --once never gets here */
        sd_event_source_disable_unref(x->io);
        sd_event_source_disable_unref(x->exit);
        close_fd(x->efd);
        free(x);
        s->ctl = NULL;
}

/* A job for cmd, or NULL (answered BUSY). */
static struct job *job_new(struct collector *c, const struct collector_command *cmd,
                           enum job_kind kind, unsigned task)
{
        struct disks_control *x = control_get(c);
        for (unsigned i = 0; x && i < MAX_JOBS; i++)
                if (!x->jobs[i].used) {
                        struct job *j = &x->jobs[i];
                        *j = (struct job){ .used = true,
                                           .kind = kind,
                                           .cmd = *cmd,
                                           .task = task,
                                           .fd = -EBADF,
                                           .efd = x->efd,
                                           .status = CMD_OK };
                        return j;
                }
        (void)REPLY(CMD_BUSY, "%u disk commands already running", MAX_JOBS);
        return NULL;
}

/* Run j; j->msg holds the answer for success. */
static int job_start(struct collector *c, struct job *j)
{
        int r = -pthread_create(&j->thread, NULL, job_main, j);
        if (r < 0) {
                j->used = false;
                j->fd = close_fd(j->fd);
                return collector_command_reply(c, &j->cmd, CMD_FAILED, NULL, "no thread: %s",
                                               strerror(-r));
        }
        return 0;
}

/* One write (or two) on a job thread; ok_fmt… is the answer on success. */
__attribute__((format(printf, 8, 9))) static int
job_write(struct collector *c, const struct collector_command *cmd, unsigned task, const char *p0,
          const char *t0, const char *p1, const char *t1, const char *ok_fmt, ...)
{
        struct job *j = job_new(c, cmd, JOB_WRITE, task);
        if (!j)
                return 0;
        strscpy(j->path[0], sizeof(j->path[0]), p0);
        strscpy(j->text[0], sizeof(j->text[0]), t0);
        j->n = 1;
        if (p1) {
                strscpy(j->path[1], sizeof(j->path[1]), p1);
                strscpy(j->text[1], sizeof(j->text[1]), t1);
                j->n = 2;
        }
        va_list ap;
        va_start(ap, ok_fmt);
        vsnprintf(j->msg, sizeof(j->msg), ok_fmt, ap);
        va_end(ap);
        return job_start(c, j);
}

/* ---- pools ---------------------------------------------------------------------------- */

/* md arrays (/proc/mdstat) and multi-device btrfs file systems, as the array task sees them. */
static unsigned pools_list(struct collector *c, struct pool_ref *out, unsigned max)
{
        struct disks_state *s = collector_state(c);
        const char *sys = collector_sysfs(c);
        char p[PATH_MAX], rel[200], v[512];
        unsigned n = 0;
        _cleanup_fclose_ FILE *f =
            collector_proc_path(c, "mdstat", p, sizeof(p)) == 0 ? fopen(p, "re") : NULL;
        while (f && n < max && fgets(v, sizeof(v), f)) {
                char name[40], state[24];
                if (sscanf(v, "%39s : %23s", name, state) != 2 || !startswith(name, "md"))
                        continue;
                out[n] = (struct pool_ref){ .btrfs = false };
                strscpy(out[n++].name, sizeof(out[0].name), name);
        }
        _cleanup_(closedirp_) DIR *d =
            collector_sys_path(c, "fs/btrfs", p, sizeof(p)) == 0 ? opendir(p) : NULL;
        mounts_load(c);
        for (struct dirent *de; d && n < max && (de = readdir(d));) {
                if (strlen(de->d_name) != 36 || de->d_name[8] != '-')
                        continue;
                struct pool_ref *r = &out[n];
                *r = (struct pool_ref){ .btrfs = true };
                strscpy(r->uuid, sizeof(r->uuid), de->d_name);
                snprintf(p, sizeof(p), "%s/fs/btrfs/%s/devinfo", sys, r->uuid);
                _cleanup_(closedirp_) DIR *di = opendir(p);
                for (struct dirent *e; di && (e = readdir(di));)
                        if (e->d_name[0] != '.' && r->n < MAX_DEVS &&
                            safe_atou64(e->d_name, &r->devid[r->n]) == 0)
                                r->n++;
                if (r->n < 2)
                        continue; /* single-device file systems are disks, not pools */
                snprintf(rel, sizeof(rel), "fs/btrfs/%s/label", r->uuid);
                strscpy(r->name, sizeof(r->name),
                        collector_read_attr(sys, rel, v, sizeof(v)) > 0 ? v : r->uuid);
                snprintf(p, sizeof(p), "%s/fs/btrfs/%s/devices", sys, r->uuid);
                _cleanup_(closedirp_) DIR *dv = opendir(p);
                for (struct dirent *e; dv && !r->mnt[0] && (e = readdir(dv));)
                        for (unsigned k = 0; k < s->n_mounts && !r->mnt[0]; k++)
                                if (!strcmp(s->mounts[k].dev, e->d_name) &&
                                    !strcmp(s->mounts[k].fstype, "btrfs"))
                                        strscpy(r->mnt, sizeof(r->mnt), s->mounts[k].path);
                n++;
        }
        return n;
}

static struct scrub *scrub_of(struct disks_control *x, const char *uuid, bool make)
{
        struct scrub *fresh = NULL;
        for (unsigned i = 0; i < MAX_POOLS; i++) {
                if (!strcmp(x->scrubs[i].uuid, uuid))
                        return &x->scrubs[i];
                if (!fresh && !x->scrubs[i].uuid[0])
                        fresh = &x->scrubs[i];
        }
        if (make && fresh) {
                *fresh = (struct scrub){ .fd = -EBADF };
                strscpy(fresh->uuid, sizeof(fresh->uuid), uuid);
        }
        return make ? fresh : NULL;
}

bool control_scrub_view(struct collector *c, const char *uuid, struct scrub_view *ret)
{
        struct disks_state *s = collector_state(c);
        struct scrub *sc = s->ctl ? scrub_of(s->ctl, uuid, false) : NULL;
        if (!sc || sc->state == SCRUB_NONE)
                return false;
        *ret = (struct scrub_view){ .running = sc->state == SCRUB_RUNNING,
                                    .corrected = sc->corrected };
        ret->status = sc->state == SCRUB_RUNNING ? "running"
                      : sc->state == SCRUB_FINISHED
                          ? "finished"
                          : "aborted"; /* paused too: btrfs cancelled it */
        for (unsigned i = 0; ret->running && i < sc->n; i++) {
                struct btrfs_ioctl_scrub_args a = { .devid = sc->devid[i] };
                if (ioctl(sc->fd, BTRFS_IOC_SCRUB_PROGRESS, &a) == 0) /* quick: a copy */
                        ret->scrubbed +=
                            a.progress.data_bytes_scrubbed + a.progress.tree_bytes_scrubbed,
                            ret->corrected += a.progress.corrected_errors;
        }
        return true;
}

/* Is a scrub running on any device of the pool (ours or btrfs-progs')? 1, 0 or -errno. */
static int scrub_running(int fd, const struct pool_ref *p, uint64_t *ret_pos)
{
        int running = 0;
        for (unsigned i = 0; i < p->n; i++) {
                struct btrfs_ioctl_scrub_args a = { .devid = p->devid[i] };
                if (ioctl(fd, BTRFS_IOC_SCRUB_PROGRESS, &a) == 0)
                        running = 1;
                else if (errno != ENOTCONN && errno != ENODEV)
                        return -errno;
                if (ret_pos)
                        ret_pos[i] = a.progress.last_physical;
        }
        return running;
}

static int scrub_command(struct collector *c, const struct collector_command *cmd,
                         const struct pool_ref *p, const char *op, bool correcting)
{
        struct disks_control *x = control_get(c);
        struct scrub *sc = x ? scrub_of(x, p->uuid, true) : NULL;
        if (!sc)
                return -ENOMEM;
        if (!p->mnt[0])
                return REPLY(CMD_FAILED, "%s is not mounted", p->name);
        _cleanup_close_ int fd = open(p->mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        uint64_t pos[MAX_DEVS] = { 0 };
        int running = fd < 0 ? -errno : scrub_running(fd, p, pos);
        if (running < 0)
                return REPLY(CMD_FAILED, "%s: %s", p->mnt, strerror(-running));
        bool start = !strcmp(op, "start"), resume = !strcmp(op, "resume");
        if (start || resume) {
                if (running || sc->state == SCRUB_RUNNING)
                        return REPLY(CMD_CONFLICT, "a scrub is already running on %s", p->name);
                if (resume && sc->state != SCRUB_PAUSED)
                        return REPLY(CMD_CONFLICT, "no paused scrub on %s", p->name);
                if (start) {
                        sc->n = p->n;
                        memcpy(sc->devid, p->devid, sizeof(sc->devid));
                        memset(sc->resume_at, 0, sizeof(sc->resume_at));
                        sc->corrected = 0;
                        sc->readonly = !correcting;
                }
                unsigned started = 0;
                for (unsigned i = 0; i < sc->n; i++) {
                        struct scrub_dev *d = &sc->dev[i];
                        if (sc->resume_at[i] == DONE_AT)
                                continue;
                        *d = (struct scrub_dev){ .fd = fd, .efd = x->efd };
                        d->args = (struct btrfs_ioctl_scrub_args){
                                .devid = sc->devid[i],
                                .start = sc->resume_at[i],
                                .end = UINT64_MAX,
                                .flags = sc->readonly ? BTRFS_SCRUB_READONLY : 0
                        };
                        d->started = pthread_create(&d->thread, NULL, scrub_main, d) == 0;
                        started += d->started;
                }
                if (!started && sc->n)
                        return REPLY(CMD_FAILED, "no thread");
                sc->state = SCRUB_RUNNING;
                sc->pause = false;
                sc->fd = TAKE_FD(fd);
                collector_trigger(c, TASK_ARRAY, 0);
                return REPLY(CMD_OK, "scrub %s on %s (%u devices%s)",
                             resume ? "resumed" : "started", p->name, started,
                             sc->readonly ? ", read-only" : "");
        }
        bool pause = !strcmp(op, "pause");
        if (!running && sc->state != SCRUB_RUNNING) {
                if (pause || sc->state != SCRUB_PAUSED)
                        return REPLY(CMD_CONFLICT, "no scrub running on %s", p->name);
                sc->state = SCRUB_ABORTED; /* stop a paused scrub: forget where it stood */
                collector_trigger(c, TASK_ARRAY, 0);
                return REPLY(CMD_OK, "paused scrub on %s dropped", p->name);
        }
        if (pause && sc->state != SCRUB_RUNNING) { /* btrfs-progs' scrub: keep its position */
                sc->state = SCRUB_NONE;
                sc->n = p->n;
                memcpy(sc->devid, p->devid, sizeof(sc->devid));
                memcpy(sc->resume_at, pos, sizeof(sc->resume_at));
        }
        sc->pause = pause;
        struct job *j = job_new(c, cmd, JOB_CANCEL, TASK_ARRAY);
        if (!j)
                return 0;
        j->fd = TAKE_FD(fd);
        j->scrub = sc;
        snprintf(j->msg, sizeof(j->msg), pause ? "scrub on %s paused" : "scrub on %s cancelled",
                 p->name);
        return job_start(c, j);
}

/* ---- md RAID: sync_action ------------------------------------------------------------ */

static int md_command(struct collector *c, const struct collector_command *cmd, const char *md,
                      const char *op, bool correcting)
{
        struct disks_control *x = control_get(c);
        char rel[128], act[32], path[PATH_MAX], min[PATH_MAX];
        snprintf(rel, sizeof(rel), "block/%s/md/sync_action", md);
        int r = collector_read_attr(collector_sysfs(c), rel, act, sizeof(act));
        if (!x || r < 0 || collector_sys_path(c, rel, path, sizeof(path)) < 0)
                return REPLY(CMD_FAILED, "%s: cannot read %s: %s", md, rel,
                             strerror(r < 0 ? -r : ENOMEM));
        snprintf(rel, sizeof(rel), "block/%s/md/sync_min", md);
        (void)collector_sys_path(c, rel, min, sizeof(min));
        unsigned k = 0; /* md's slot in md_paused */
        while (k + 1 < MAX_POOLS && x->md_paused[k].name[0] && strcmp(x->md_paused[k].name, md))
                k++;
        bool idle = !strcmp(act, "idle"), frozen = !strcmp(act, "frozen");
        bool user = !strcmp(act, "check") || !strcmp(act, "repair");
        if (!strcmp(op, "start")) {
                if (!idle)
                        return REPLY(CMD_CONFLICT, "%s is %s", md, frozen ? "paused" : act);
                /* From the start: an interrupted check leaves sync_min where it stopped. */
                const char *what = correcting ? "repair\n" : "check\n";
                bool has_min = access(min, F_OK) == 0;
                return job_write(c, cmd, TASK_ARRAY, has_min ? min : path, has_min ? "0\n" : what,
                                 has_min ? path : NULL, what, "%s: %s started", md,
                                 correcting ? "repair" : "check");
        }
        if (!strcmp(op, "pause")) {
                if (idle || frozen)
                        return REPLY(CMD_CONFLICT, "%s: %s", md,
                                     idle ? "no sync running" : "already paused");
                strscpy(x->md_paused[k].name, sizeof(x->md_paused[k].name), md);
                snprintf(x->md_paused[k].action, sizeof(x->md_paused[k].action), "%.8s\n", act);
                return job_write(c, cmd, TASK_ARRAY, path, "frozen\n", NULL, NULL, "%s paused", md);
        }
        char prev[16] = "";
        if (!strcmp(x->md_paused[k].name, md))
                strscpy(prev, sizeof(prev), x->md_paused[k].action);
        x->md_paused[k].action[0] = 0;
        if (!strcmp(op, "resume")) {
                if (!frozen)
                        return REPLY(CMD_CONFLICT, "%s is not paused", md);
                /* Unfreezing restarts a resync or recovery by itself; a check or repair
                 * continues from sync_min, where md stopped it. */
                bool again = !strcmp(prev, "check\n") || !strcmp(prev, "repair\n");
                return job_write(c, cmd, TASK_ARRAY, path, "idle\n", again ? path : NULL, prev,
                                 again ? "%s resumed"
                                       : "%s unfrozen (md restarts a pending "
                                         "resync or recovery by itself)",
                                 md);
        }
        if (idle)
                return REPLY(CMD_CONFLICT, "%s: no sync running", md);
        if (!user && !frozen)
                return REPLY(CMD_FAILED, "%s: md restarts a %s by itself; parity-pause holds it",
                             md, act);
        return job_write(c, cmd, TASK_ARRAY, path, "idle\n", NULL, NULL, "%s stopped", md);
}

/* ---- Unraid: /proc/mdcmd ------------------------------------------------------------- */

static int unraid_command(struct collector *c, const struct collector_command *cmd,
                          const char *state, int sync, const char *op, bool correcting)
{
        char p[PATH_MAX];
        if (collector_proc_path(c, "mdcmd", p, sizeof(p)) < 0 || access(p, W_OK) < 0)
                return REPLY(CMD_FAILED, "cannot write %s: %s", p, strerror(errno));
        bool started = !strcmp(state, "STARTED");
        if (!strcmp(op, "array-start")) {
                if (started)
                        return REPLY(CMD_CONFLICT, "the array is already started");
                if (strcmp(state, "STOPPED") != 0) /* a new disk, a missing one: a human decides */
                        return REPLY(CMD_FAILED,
                                     "the array is %s: start it from the Unraid "
                                     "web UI",
                                     state);
                return job_write(c, cmd, TASK_ARRAY, p, "start\n", NULL, NULL, "%s",
                                 "array starting");
        }
        if (!strcmp(op, "array-stop"))
                return started ? job_write(c, cmd, TASK_ARRAY, p, "stop\n", NULL, NULL, "%s",
                                           "array stopping")
                               : REPLY(CMD_CONFLICT, "the array is %s", state);
        if (!started)
                return REPLY(CMD_FAILED, "the array is %s", state);
        static const struct {
                const char *op, *text, *ok;
                int need; /* sync state it needs: 0 none, 1 running, 2 paused, 3 either */
        } t[] = {
                { "start", "check CORRECT\n", "parity check started (correcting)", 0 },
                { "nostart", "check NOCORRECT\n", "parity check started (not correcting)", 0 },
                { "stop", "nocheck CANCEL\n", "parity check cancelled", 3 },
                { "pause", "nocheck PAUSE\n", "parity check paused", 1 },
                { "resume", "check RESUME\n", "parity check resumed", 2 },
        };
        const char *want = !strcmp(op, "start") && !correcting ? "nostart" : op;
        for (size_t i = 0; i < ELEMENTSOF(t); i++) {
                if (strcmp(t[i].op, want) != 0)
                        continue;
                if (t[i].need == 3 ? sync == 0 : sync != t[i].need)
                        return REPLY(CMD_CONFLICT, "%s",
                                     sync == 0   ? "no parity operation running"
                                     : sync == 1 ? "a parity operation is running"
                                                 : "the parity operation is paused");
                return job_write(c, cmd, TASK_ARRAY, p, t[i].text, NULL, NULL, "%s", t[i].ok);
        }
        return 1;
}

/* ---- spin ---------------------------------------------------------------------------- */

static int spin_command(struct collector *c, const struct collector_command *cmd, bool unraid,
                        bool up)
{
        struct disks_state *s = collector_state(c);
        const char *t = cmd->target;
        char dev[40] = "", p[PATH_MAX], text[64];
        if (!*t || strchr(t, '/') || t[0] == '.' || strlen(t) >= sizeof(dev))
                return REPLY(*t ? CMD_NOT_FOUND : CMD_INVALID,
                             "%s: a disk id such as sdb or disk1 is needed", t);
        if (unraid)
                unraid_load_disks(c);
        for (unsigned i = 0; unraid && i < s->ur.n; i++) {
                const struct ur_disk *u = &s->ur.d[i];
                if (strcmp(u->name, t) != 0 && strcmp(u->slot, t) != 0 && strcmp(u->device, t) != 0)
                        continue;
                if (!u->device[0])
                        return REPLY(CMD_NOT_FOUND, "%s: no disk in this slot", t);
                if (u->has_spundown && u->spun_down != up)
                        return REPLY(CMD_CONFLICT, "%s is already %s", t,
                                     up ? "spinning" : "spun down");
                if (u->idx >= 0 && u->idx <= 29 &&
                    collector_proc_path(c, "mdcmd", p, sizeof(p)) == 0) {
                        snprintf(text, sizeof(text), "%s %d\n", up ? "spinup" : "spindown", u->idx);
                        return job_write(c, cmd, TASK_DISKS, p, text, NULL, NULL,
                                         up ? "%s spinning up" : "%s spun down", t);
                }
                strscpy(dev, sizeof(dev), u->device); /* a pool or boot device: SG_IO */
        }
        if (!dev[0])
                strscpy(dev, sizeof(dev), t);
        snprintf(text, sizeof(text), "block/%s", dev);
        if (collector_sys_path(c, text, p, sizeof(p)) < 0 || access(p, F_OK) < 0)
                return REPLY(CMD_NOT_FOUND, "no disk %s", t);
        struct job *j = job_new(c, cmd, up ? JOB_SPINUP : JOB_SPINDOWN, TASK_DISKS);
        if (!j)
                return 0;
        snprintf(text, sizeof(text), "/dev/%s", dev);
        if (collector_root_path(c, text, j->path[0], sizeof(j->path[0])) < 0)
                strscpy(j->path[0], sizeof(j->path[0]), text);
        return job_start(c, j);
}

/* ---- the dispatcher ------------------------------------------------------------------ */

/* args: "" or an object; only parity-start takes a key, "correcting" (a boolean). */
static const char *parse_args(const struct collector_command *cmd, bool *correcting)
{
        *correcting = false;
        if (!cmd->args[0])
                return NULL;
        json_object *o = json_tokener_parse(cmd->args), *v;
        const char *why = NULL;
        if (!o || !json_object_is_type(o, json_type_object))
                why = "args must be a JSON object";
        else if (json_object_object_length(o) > 1 ||
                 (json_object_object_length(o) == 1 &&
                  (strcmp(cmd->action, "parity-start") != 0 ||
                   !json_object_object_get_ex(o, "correcting", &v))))
                why = strcmp(cmd->action, "parity-start") == 0
                          ? "the only argument is \"correcting\""
                          : "takes no arguments";
        else if (json_object_object_get_ex(o, "correcting", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        why = "\"correcting\" must be true or false";
                else
                        *correcting = json_object_get_boolean(v);
        }
        json_object_put(o);
        return why;
}

int control_command(struct collector *c, const struct collector_command *cmd)
{
        static const char *const actions[] = { "array-start", "array-stop",   "parity-start",
                                               "parity-stop", "parity-pause", "parity-resume",
                                               "spinup",      "spindown" };
        size_t a = 0;
        while (a < ELEMENTSOF(actions) && strcmp(actions[a], cmd->action) != 0)
                a++;
        if (a == ELEMENTSOF(actions))
                return 1; /* refresh, ping, unknown: the skeleton's */
        bool correcting;
        const char *why = parse_args(cmd, &correcting);
        if (why)
                return REPLY(CMD_INVALID, "%s: %s", cmd->action, why);
        if (!control_get(c))
                return -ENOMEM;
        char state[24];
        int sync = 0, r = unraid_sync_state(c, state, sizeof(state), &sync);
        bool unraid = r != -ENOENT;
        if (a >= 6)
                return spin_command(c, cmd, unraid, a == 6);
        if (unraid && r < 0)
                return REPLY(CMD_FAILED, "var.ini: %s",
                             r == -EBADMSG ? "not an Unraid var.ini" : strerror(-r));
        if (a < 2) {
                if (cmd->target[0])
                        return REPLY(CMD_INVALID, "%s takes no target", cmd->action);
                return unraid ? unraid_command(c, cmd, state, sync, cmd->action, false)
                              : REPLY(CMD_INVALID, "no Unraid array here");
        }
        const char *op = cmd->action + strlen("parity-");
        if (unraid && (!cmd->target[0] || !strcmp(cmd->target, "md")))
                return unraid_command(c, cmd, state, sync, op, correcting);
        struct pool_ref pools[MAX_POOLS];
        unsigned n = pools_list(c, pools, MAX_POOLS), hit = n;
        char names[200] = "";
        for (unsigned i = 0; i < n; i++) {
                if (cmd->target[0] &&
                    (!strcmp(pools[i].name, cmd->target) || !strcmp(pools[i].uuid, cmd->target)))
                        hit = i;
                size_t len = strlen(names);
                snprintf(names + len, sizeof(names) - len, "%s%.63s", len ? ", " : "",
                         pools[i].name);
        }
        if (!cmd->target[0] && n == 1)
                hit = 0;
        if (hit == n)
                return REPLY(cmd->target[0] || !n ? CMD_NOT_FOUND : CMD_INVALID, "%s%s%s",
                             cmd->target[0] ? "no pool "
                             : n            ? "several pools, name one: "
                                            : "no array or pool here",
                             cmd->target[0] ? cmd->target : names, "");
        return pools[hit].btrfs ? scrub_command(c, cmd, &pools[hit], op, correcting)
                                : md_command(c, cmd, pools[hit].name, op, correcting);
}
