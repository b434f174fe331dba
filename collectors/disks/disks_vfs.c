/*
 * disks_vfs.c — statvfs() off the event loop, for ringhub-collect-disks.
 *
 * statvfs() on a dead network or FUSE mount can hang for ever. Each path is an entry in
 * a small table; up to MAX_VFS_WORKERS detached worker threads take queued entries and
 * call statvfs() on them, one entry per worker at a time (every queued entry has an
 * idle worker woken for it or a new one started, so a dead mount never holds up a
 * healthy one). vfs_query() queues a round and waits at most the timeout for
 * it; a mount that has not answered by then reads as unavailable, and an entry still
 * busy from an earlier round (a stuck mount) is not waited for again. A worker stuck in
 * a dead mount is never joined: at exit the pool is left to it. The workers touch only
 * this table; they block every signal.
 *
 * The statfs() itself runs in a helper process each worker keeps (forked once, fed paths
 * over a socketpair): a FUSE daemon that has read the request and never answers leaves
 * the caller in an uninterruptible sleep the kernel ends only with the answer, and a
 * thread in that state would keep the whole collector from exiting. The helper takes
 * that sleep instead; the worker waits in a read() that exit ends, and the helper goes
 * (PR_SET_PDEATHSIG) once the kernel lets it.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "disks.h"
#include "util.h"

#define MAX_VFS         128
#define MAX_VFS_WORKERS 6

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

struct vfs_answer {
        int err; /* 0 or -errno */
        uint64_t total, free, avail;
};

/* The helper process: async-signal-safe calls only (it is forked from threads). */
static _Noreturn void vfs_helper(int fd, pid_t parent)
{
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(0);
        /* Nothing of the collector's (the ring, the event loop) stays open here. */
        if (fd > 3)
                (void)close_range(3, (unsigned)fd - 1, 0);
        (void)close_range((unsigned)fd + 1, ~0u, 0);
        char path[PATH_MAX];
        for (;;) {
                ssize_t n = read(fd, path, sizeof(path) - 1);
                if (n <= 0)
                        _exit(0);
                path[n] = 0;
                struct statfs st;
                struct vfs_answer a = { 0 };
                if (statfs(path, &st) < 0) /* may sleep for ever on a dead mount */
                        a.err = -errno;
                else {
                        uint64_t fr = (uint64_t)(st.f_frsize ? st.f_frsize : st.f_bsize);
                        a.total = (uint64_t)st.f_blocks * fr;
                        a.free = (uint64_t)st.f_bfree * fr;
                        a.avail = (uint64_t)st.f_bavail * fr;
                }
                if (write(fd, &a, sizeof(a)) != (ssize_t)sizeof(a))
                        _exit(0);
        }
}

struct vfs_link {
        int fd; /* the worker's end of the socketpair */
        pid_t pid;
};

static int vfs_link_open(struct vfs_link *l)
{
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -errno;
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(sv[0]);
                close(sv[1]);
                return r;
        }
        if (pid == 0) {
                close(sv[0]);
                vfs_helper(sv[1], parent);
        }
        close(sv[1]);
        *l = (struct vfs_link){ .fd = sv[0], .pid = pid };
        return 0;
}

static void vfs_link_close(struct vfs_link *l)
{
        if (l->fd < 0)
                return;
        close(l->fd); /* the helper reads EOF and leaves */
        (void)waitpid(l->pid, NULL, 0);
        l->fd = -1;
}

/* statfs(path) through the helper (opened on first use, again after a failure). */
static int vfs_ask(struct vfs_link *l, const char *path, struct vfs_answer *a)
{
        if (l->fd < 0) {
                int r = vfs_link_open(l);
                if (r < 0)
                        return r;
        }
        size_t n = strlen(path);
        ssize_t k = write(l->fd, path, n);
        if (k == (ssize_t)n) {
                do
                        k = read(l->fd, a, sizeof(*a)); /* as long as the mount takes */
                while (k < 0 && errno == EINTR);
        }
        if (k != (ssize_t)sizeof(*a)) {
                int r = k < 0 ? -errno : -EIO;
                vfs_link_close(l);
                return r;
        }
        return 0;
}

static void *vfs_worker(void *arg)
{
        struct vfs_pool *p = arg;
        struct vfs_link link = { .fd = -1 };
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

                struct vfs_answer a;
                int r = vfs_ask(&link, path, &a); /* may wait for ever on a dead mount */

                pthread_mutex_lock(&p->lock);
                p->busy_workers--;
                e->err = r < 0 ? r : a.err;
                if (e->err == 0) {
                        e->total = a.total;
                        e->free = a.free;
                        e->avail = a.avail;
                }
                e->done_ns = mono_ns();
                e->state = VFS_IDLE;
                pthread_cond_broadcast(&p->done);
        }
        p->n_workers--;
        pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->lock);
        vfs_link_close(&link);
        return NULL;
}

/*
 * Called with the lock held, after queueing an entry: make sure a worker will take it.
 * An idle worker counts as idle until it wakes, so one idle worker signalled for two
 * queued entries would take only one (and if that one is a dead mount, the other would
 * wait behind it): wake an idle worker only while there are at least as many idle
 * workers as queued entries, and start another one otherwise.
 */
static void vfs_ensure_worker(struct vfs_pool *p)
{
        unsigned queued = 0;
        for (unsigned i = 0; i < MAX_VFS; i++)
                queued += p->e[i].state == VFS_QUEUED;
        if (p->idle_workers >= queued) {
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
void vfs_query(struct vfs_pool *p, char paths[][PATH_MAX], unsigned n, uint64_t timeout_ms)
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
int vfs_result(struct vfs_pool *p, const char *path, uint64_t since_ns, uint64_t *total,
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

struct vfs_pool *vfs_pool_new(void)
{
        struct vfs_pool *p = calloc(1, sizeof(*p));
        if (!p)
                return NULL;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->work, NULL);
        pthread_cond_init(&p->done, NULL);
        return p;
}

void vfs_pool_free(struct vfs_pool *p)
{
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->work);
        /* Idle workers leave; one stuck in a dead mount never will: wait briefly. */
        struct timespec dl;
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 1;
        while (p->n_workers > p->busy_workers)
                if (pthread_cond_timedwait(&p->done, &p->lock, &dl) == ETIMEDOUT)
                        break;
        bool stuck = p->n_workers > 0;
        pthread_mutex_unlock(&p->lock);
        if (!stuck)
                free(p); /* a stuck worker still points at it: leave it */
}
