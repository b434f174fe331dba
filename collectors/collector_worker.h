/*
 * collector_worker.h — the skeleton's worker thread and small queue for a collector's slow
 * commands (container and VM control today).
 *
 * Part of the skeleton library; it knows nothing of containers or domains. A command that may take
 * long (a container stop waits for its timeout, a VM shutdown for the guest) must never block the
 * event loop: ops->command checks it, then submits a copy here. The worker runs the jobs one at a
 * time in submission order; each finished job comes back to the event loop through an eventfd,
 * where the answer is written with collector_command_reply() and the list task is run
 * soon, so the next list shows the new state. At most COLLECTOR_WORKER_QUEUE jobs wait
 * behind the running one; beyond that submit says -EBUSY. A job still waiting when its
 * command's deadline has passed is answered TIMEOUT without being run.
 *
 * On SIGTERM (the event loop's exit) every job still waiting is answered FAILED
 * "collector stopping: not executed", the running one FAILED "collector stopping: …
 * may still complete" at once, ops->cancel is asked to cut it short, and the thread is
 * joined (after COLLECTOR_WORKER_JOIN_MS it is left behind, logged, as the process ends).
 * ops->run never touches the collector: only its own context.
 */
#pragma once

#include <stdbool.h>

#include "collector.h"

#define COLLECTOR_WORKER_QUEUE   16   /* jobs waiting behind the running one */
#define COLLECTOR_WORKER_JOIN_MS 5000 /* how long SIGTERM waits for a running job */

struct collector_worker;

struct collector_job {
        struct collector_command cmd; /* a copy, for the reply */
        long param;                   /* the collector's own, parsed on the event loop */
        /* Set by ops->run: */
        const char *status; /* a CMD_* word (static); NULL reads as FAILED */
        char message[160];
        char data[96];   /* a JSON object's text, or "" */
        bool no_refresh; /* nothing changed: no early list run */
};

struct collector_worker_ops {
        /* On the worker thread: carry out job->cmd and fill in the answer. */
        void (*run)(void *ctx, struct collector_job *job);
        /* From the event loop while run() may be going: make it return soon (optional). */
        void (*cancel)(void *ctx);
        /* After the thread has ended (optional). */
        void (*free)(void *ctx);
};

/* job->data = {"k1": v1, "k2": v2} (JSON text), or {"k1": v1} when both do not fit;
 * any thread. */
void collector_job_set_data(struct collector_job *job, const char *k1, const char *v1,
                            const char *k2, const char *v2);

/* On the event loop (collector_event(c) must exist): start the thread. */
int collector_worker_new(struct collector *c, const struct collector_worker_ops *ops, void *ctx,
                         struct collector_worker **ret);
/* Queue a job (copied), or answer it at once: BUSY when the queue is full, FAILED while
 * stopping. 0, or -EINVAL. */
int collector_worker_submit(struct collector_worker *w, const struct collector_job *job);
/* Stop (answering what is left, as on SIGTERM), join and free; takes NULL, returns NULL. */
struct collector_worker *collector_worker_free(struct collector_worker *w);
