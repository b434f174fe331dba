/*
 * collector_worker.c — the command worker of ringhub-collect-docker and -vm (see the
 * header for the contract).
 *
 * Two threads share one table of slots under one mutex: the event loop fills FREE slots
 * (QUEUED) and empties DONE ones; the worker takes the oldest QUEUED (RUNNING), works
 * without the lock on a copy, and puts the copy back (DONE), then pokes the eventfd.
 * Only the event loop calls into the collector (replies, collector_trigger); the worker
 * never logs. Stopping happens once, from the event loop's exit source or from free().
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "collector_worker.h"
#include "log.h"
#include "macros.h"
#include "util.h"

/* Room for the queue, the running job and finished ones the event loop has not read. */
#define N_SLOTS (COLLECTOR_WORKER_QUEUE * 2)

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

struct slot {
        enum slot_state state;
        bool answered; /* already answered at stop: drop the worker's result */
        uint64_t seq;
        struct collector_job job;
};

struct collector_worker {
        struct collector *c;
        const struct collector_worker_ops *ops;
        void *ctx;
        int efd;
        sd_event_source *io, *exit;
        pthread_t thread;
        bool thread_started, stopped, left_behind;

        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t cond;
        bool stopping;
        uint64_t next_seq;
        unsigned n_queued;
        struct slot slots[N_SLOTS];
};

/* The oldest slot in state st, or NULL. Under the lock. */
static struct slot *oldest(struct collector_worker *w, enum slot_state st)
{
        struct slot *best = NULL;
        for (size_t i = 0; i < N_SLOTS; i++)
                if (w->slots[i].state == st && (!best || w->slots[i].seq < best->seq))
                        best = &w->slots[i];
        return best;
}

static void poke(int efd)
{
        uint64_t one = 1;
        if (write(efd, &one, sizeof(one)) < 0) {
                /* A full eventfd counter still reads as readable: nothing is lost. */
        }
}

void collector_job_set_data(struct collector_job *job, const char *k1, const char *v1,
                            const char *k2, const char *v2)
{
        json_object *o = json_object_new_object();
        job->data[0] = 0;
        if (!o)
                return;
        json_object_object_add(o, k1, json_object_new_string(v1));
        json_object_object_add(o, k2, json_object_new_string(v2));
        if (strscpy(job->data, sizeof(job->data),
                    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN))) {
                json_object_object_del(o, k2);
                if (strscpy(job->data, sizeof(job->data),
                            json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)))
                        job->data[0] = 0; /* truncated JSON is no JSON */
        }
        json_object_put(o);
}

static void *worker_main(void *userdata)
{
        struct collector_worker *w = userdata;

        pthread_mutex_lock(&w->lock);
        for (;;) {
                struct slot *s;
                while (!w->stopping && !(s = oldest(w, SLOT_QUEUED)))
                        pthread_cond_wait(&w->cond, &w->lock);
                if (w->stopping)
                        break;
                s->state = SLOT_RUNNING;
                w->n_queued--;
                struct collector_job job = s->job;
                pthread_mutex_unlock(&w->lock);

                if (job.cmd.deadline_ns && real_ns() > job.cmd.deadline_ns) {
                        job.status = CMD_TIMEOUT;
                        strscpy(job.message, sizeof(job.message),
                                "waited behind other commands past its deadline: not executed");
                        job.no_refresh = true;
                } else
                        w->ops->run(w->ctx, &job);

                pthread_mutex_lock(&w->lock);
                s->job = job;
                s->state = SLOT_DONE;
                poke(w->efd);
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void reply(struct collector_worker *w, const struct collector_job *job)
{
        (void)collector_command_reply(w->c, &job->cmd, job->status ? job->status : CMD_FAILED,
                                      job->data[0] ? job->data : NULL, "%s", job->message);
}

/* Event loop: answer every finished job, oldest first, then have the list run soon. */
static int on_done(sd_event_source *es, int fd, uint32_t revents, void *userdata)
{
        struct collector_worker *w = userdata;
        uint64_t v;
        bool refresh = false;

        if (read(w->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return 0;
        for (;;) {
                struct collector_job job;
                bool answered;
                pthread_mutex_lock(&w->lock);
                struct slot *s = oldest(w, SLOT_DONE);
                if (s) {
                        job = s->job;
                        answered = s->answered;
                        *s = (struct slot){ .state = SLOT_FREE };
                }
                pthread_mutex_unlock(&w->lock);
                if (!s)
                        break;
                if (!answered)
                        reply(w, &job);
                refresh |= !job.no_refresh;
        }
        if (refresh)
                collector_trigger(w->c, 0, 0);
        return 0;
}

/*
 * Answer what is left and end the thread (once): finished jobs with their own answer,
 * the running one and the queued ones FAILED. Event loop only.
 */
static void worker_stop(struct collector_worker *w)
{
        struct collector_job done[N_SLOTS], cut[N_SLOTS];
        size_t n_done = 0, n_cut = 0;
        bool running = false;

        if (w->stopped)
                return;
        w->stopped = true;
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        for (struct slot *s; (s = oldest(w, SLOT_DONE));) {
                if (!s->answered)
                        done[n_done++] = s->job;
                *s = (struct slot){ .state = SLOT_FREE };
        }
        struct slot *r = oldest(w, SLOT_RUNNING);
        if (r) {
                r->answered = true;
                cut[n_cut] = r->job;
                cut[n_cut].status = CMD_FAILED;
                snprintf(cut[n_cut].message, sizeof(cut[n_cut].message),
                         "collector stopping: %s interrupted, it may still complete",
                         r->job.cmd.action);
                cut[n_cut++].data[0] = 0;
                running = true;
        }
        for (struct slot *s; (s = oldest(w, SLOT_QUEUED));) {
                cut[n_cut] = s->job;
                cut[n_cut].status = CMD_FAILED;
                strscpy(cut[n_cut].message, sizeof(cut[n_cut].message),
                        "collector stopping: not executed");
                cut[n_cut++].data[0] = 0;
                *s = (struct slot){ .state = SLOT_FREE };
        }
        w->n_queued = 0;
        pthread_cond_broadcast(&w->cond);
        pthread_mutex_unlock(&w->lock);

        for (size_t i = 0; i < n_done; i++)
                reply(w, &done[i]);
        for (size_t i = 0; i < n_cut; i++)
                reply(w, &cut[i]);
        if (running && w->ops->cancel)
                w->ops->cancel(w->ctx);
        if (!w->thread_started)
                return;

        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += COLLECTOR_WORKER_JOIN_MS / 1000;
        until.tv_nsec += (long)(COLLECTOR_WORKER_JOIN_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        int k = pthread_timedjoin_np(w->thread, NULL, &until);
        if (k != 0) {
                log_warning("command worker still busy after %u ms, left behind as the "
                            "collector stops",
                            (unsigned)COLLECTOR_WORKER_JOIN_MS);
                pthread_detach(w->thread);
                w->left_behind = true;
        }
        w->thread_started = false;
}

static int on_loop_exit(sd_event_source *es, void *userdata)
{
        worker_stop(userdata);
        return 0;
}

int collector_worker_new(struct collector *c, const struct collector_worker_ops *ops, void *ctx,
                         struct collector_worker **ret)
{
        sd_event *e = collector_event(c);
        if (!e || !ops || !ops->run || !ret)
                return -EINVAL;
        struct collector_worker *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        w->c = c;
        w->ops = ops;
        w->ctx = ctx;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cond, NULL);
        w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int k = w->efd < 0 ? -errno : 0;
        if (k >= 0)
                k = sd_event_add_io(e, &w->io, w->efd, EPOLLIN, on_done, w);
        if (k >= 0)
                k = sd_event_add_exit(e, &w->exit, on_loop_exit, w);
        if (k >= 0) {
                /* It waits on sockets or in libvirt: libvirt's RPC wants some stack. */
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 512 * 1024);
                k = -pthread_create(&w->thread, &attr, worker_main, w);
                pthread_attr_destroy(&attr);
                w->thread_started = k == 0;
        }
        if (k < 0) {
                w->ctx = NULL; /* the caller still owns it */
                collector_worker_free(w);
                return k;
        }
        *ret = w;
        return 0;
}

int collector_worker_submit(struct collector_worker *w, const struct collector_job *job)
{
        if (!w || !job)
                return -EINVAL;
        int r = -EBUSY;
        pthread_mutex_lock(&w->lock);
        if (w->stopping)
                r = -ESHUTDOWN;
        else if (w->n_queued < COLLECTOR_WORKER_QUEUE) {
                struct slot *s = oldest(w, SLOT_FREE);
                if (s) {
                        *s = (struct slot){ .state = SLOT_QUEUED,
                                            .seq = ++w->next_seq,
                                            .job = *job };
                        w->n_queued++;
                        pthread_cond_signal(&w->cond);
                        r = 0;
                }
        }
        pthread_mutex_unlock(&w->lock);
        if (r == -EBUSY)
                (void)collector_command_reply(w->c, &job->cmd, CMD_BUSY, NULL,
                                              "%u commands already waiting",
                                              COLLECTOR_WORKER_QUEUE);
        else if (r < 0)
                (void)collector_command_reply(w->c, &job->cmd, CMD_FAILED, NULL,
                                              "collector stopping: not executed");
        return 0;
}

struct collector_worker *collector_worker_free(struct collector_worker *w)
{
        if (!w)
                return NULL;
        worker_stop(w);
        sd_event_source_disable_unref(w->io);
        sd_event_source_disable_unref(w->exit);
        if (w->left_behind)
                return NULL; /* the thread still uses it: the process ends soon */
        if (w->efd >= 0)
                close(w->efd);
        if (w->ctx && w->ops->free)
                w->ops->free(w->ctx);
        pthread_cond_destroy(&w->cond);
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
}
