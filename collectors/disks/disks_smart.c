/*
 * disks_smart.c — the SMART thread of ringhub-collect-disks.
 *
 * smartctl must never stall the event loop: it runs on a thread of its own, one device
 * after another, spawned with `-j -n standby -a` (a sleeping disk is never woken), with
 * a deadline after which its process group is killed. A disk Unraid already knows asleep
 * is not asked at all. Results (disks_smart_json.c) are cached per device under the
 * lock; the main thread lists the devices, fetches the cached results in the next disks
 * cycle, and learns through an eventfd that a round has finished. Nothing else is
 * spawned; the thread blocks every signal and never touches the ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "collector_spawn.h"
#include "disks.h"
#include "log.h"
#include "macros.h"
#include "util.h"

extern char **environ;

#define SMART_OUTPUT_MAX (512 * 1024)

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

/* The SMART thread is asked to stop (the collector is exiting): a hung smartctl is
 * killed at once. */
static bool smart_stopping(void *userdata)
{
        struct smart_ctl *sc = userdata;
        pthread_mutex_lock(&sc->lock);
        bool stop = sc->stop;
        pthread_mutex_unlock(&sc->lock);
        return stop;
}

/* Run smartctl on one device with a deadline. Returns exit status, or -errno. */
static int smart_run_one(struct smart_ctl *sc, char *bin, const char *dev, char *out, size_t size)
{
        char devpath[64];
        snprintf(devpath, sizeof(devpath), "/dev/%s", dev);
        char *argv[] = { bin,          (char *)"-j", (char *)"-n", (char *)"standby",
                         (char *)"-a", devpath,      NULL };
        return collector_spawn_read_cancel(argv, out, size, sc->timeout_ms, NULL, smart_stopping,
                                           sc);
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

int smart_start(struct collector *c)
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

void smart_stop(struct smart_ctl *sc)
{
        if (!sc)
                return;
        pthread_mutex_lock(&sc->lock);
        sc->stop = true;
        pthread_cond_broadcast(&sc->cond);
        pthread_mutex_unlock(&sc->lock);
        pthread_join(sc->thread, NULL);
        if (sc->efd >= 0)
                close(sc->efd);
        free(sc);
}

int smart_efd(const struct smart_ctl *sc)
{
        return sc->efd;
}

void smart_set_smartctl(struct smart_ctl *sc, const char *smartctl)
{
        pthread_mutex_lock(&sc->lock);
        strscpy(sc->smartctl, sizeof(sc->smartctl), smartctl);
        pthread_mutex_unlock(&sc->lock);
}

void smart_request(struct smart_ctl *sc)
{
        pthread_mutex_lock(&sc->lock);
        if (!sc->busy) {
                sc->requested = true;
                pthread_cond_signal(&sc->cond);
        }
        pthread_mutex_unlock(&sc->lock);
}

void smart_round(struct smart_ctl *sc)
{
        pthread_mutex_lock(&sc->lock);
        sc->finished = false;
        sc->requested = true;
        pthread_cond_signal(&sc->cond);
        while (!sc->finished)
                pthread_cond_wait(&sc->cond, &sc->lock);
        pthread_mutex_unlock(&sc->lock);
}

void smart_sync_devices(struct smart_ctl *sc, const char *const *devs, const bool *standby,
                        unsigned n)
{
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
                strscpy(e->dev, sizeof(e->dev), devs[i]);
                smart_reset(&e->info);
                for (unsigned k = 0; k < old_n; k++)
                        if (strcmp(old[k].dev, e->dev) == 0)
                                e->info = old[k].info;
                e->skip = standby[i];
        }
        free(old);
        pthread_mutex_unlock(&sc->lock);
}

bool smart_fetch(struct smart_ctl *sc, const char *dev, struct smart_info *ret)
{
        bool found = false;
        pthread_mutex_lock(&sc->lock);
        for (unsigned k = 0; k < sc->n; k++)
                if (strcmp(sc->e[k].dev, dev) == 0) {
                        *ret = sc->e[k].info;
                        found = true;
                }
        pthread_mutex_unlock(&sc->lock);
        return found;
}

void smart_report(struct collector *c)
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
