/*
 * timers.c — the lws thread's timers on one timerfd (see timers.h).
 *
 * Process: ringhub, lws thread. A binary min-heap of armed timers by due time; the fd is
 * armed for the earliest (absolute CLOCK_MONOTONIC), re-armed only when the earliest
 * becomes earlier than what the fd waits for (a later one just costs one early wake-up).
 */
#include "timers.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static struct htimer **heap;
static unsigned n_heap, cap_heap;
static int tfd = -EBADF;
static uint64_t fd_due; /* what the fd is armed for; 0: disarmed */

int htimers_fd(void)
{
        if (tfd < 0) {
                tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
                if (tfd < 0)
                        return -errno;
        }
        return tfd;
}

static void place(unsigned i, struct htimer *t)
{
        heap[i] = t;
        t->slot = i + 1;
}

static void sift_up(unsigned i)
{
        struct htimer *t = heap[i];
        while (i > 0) {
                unsigned p = (i - 1) / 2;
                if (heap[p]->due_ns <= t->due_ns)
                        break;
                place(i, heap[p]);
                i = p;
        }
        place(i, t);
}

static void sift_down(unsigned i)
{
        struct htimer *t = heap[i];
        for (;;) {
                unsigned l = 2 * i + 1, m = i;
                uint64_t best = t->due_ns;
                if (l < n_heap && heap[l]->due_ns < best)
                        m = l, best = heap[l]->due_ns;
                if (l + 1 < n_heap && heap[l + 1]->due_ns < best)
                        m = l + 1;
                if (m == i)
                        break;
                place(i, heap[m]);
                i = m;
        }
        place(i, t);
}

static void heap_remove(struct htimer *t)
{
        unsigned i = t->slot - 1;
        t->slot = 0;
        struct htimer *last = heap[--n_heap];
        if (i == n_heap)
                return;
        place(i, last);
        if (i > 0 && heap[(i - 1) / 2]->due_ns > last->due_ns)
                sift_up(i);
        else
                sift_down(i);
}

/* Arm the fd for the earliest timer, unless it already wakes us no later than that. */
static void arm(bool force)
{
        if (tfd < 0)
                return;
        uint64_t due = n_heap ? heap[0]->due_ns : 0;
        if (!force && due && fd_due && fd_due <= due)
                return;
        if (!force && !due)
                return; /* nothing armed: let a pending wake-up come and find nothing */
        struct itimerspec its = { 0 };
        if (due) {
                its.it_value.tv_sec = (time_t)(due / NSEC_PER_SEC);
                its.it_value.tv_nsec = (long)(due % NSEC_PER_SEC);
        }
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                log_error_errno(-errno, "timerfd_settime: %m");
        fd_due = due;
}

void htimer_schedule(struct htimer *t, htimer_fn fn, uint64_t delay_us)
{
        t->fn = fn;
        t->due_ns = mono_ns() + delay_us * 1000ull;
        if (t->slot) {
                unsigned i = t->slot - 1;
                if (i > 0 && heap[(i - 1) / 2]->due_ns > t->due_ns)
                        sift_up(i);
                else
                        sift_down(i);
        } else {
                if (n_heap == cap_heap) {
                        unsigned cap = cap_heap ? cap_heap * 2 : 64;
                        struct htimer **h = realloc(heap, cap * sizeof(*h));
                        if (!h) {
                                log_error("timer: out of memory, %u timers armed", n_heap);
                                return;
                        }
                        heap = h;
                        cap_heap = cap;
                }
                heap[n_heap] = t;
                sift_up(n_heap++);
        }
        arm(false);
}

void htimer_cancel(struct htimer *t)
{
        if (t->slot)
                heap_remove(t);
}

void htimers_run(void)
{
        uint64_t ticks;
        if (tfd >= 0 && read(tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                log_error_errno(-errno, "timerfd read: %m");
        fd_due = 0;
        uint64_t now = mono_ns();
        /* Only what was due on entry: a callback that re-arms at 0 runs on the next pass. */
        while (n_heap && heap[0]->due_ns <= now) {
                struct htimer *t = heap[0];
                heap_remove(t);
                t->fn(t);
        }
        arm(true);
}

void htimers_free(void)
{
        for (unsigned i = 0; i < n_heap; i++)
                heap[i]->slot = 0;
        free(heap);
        heap = NULL;
        n_heap = cap_heap = 0;
        if (tfd >= 0)
                close(tfd);
        tfd = -EBADF;
        fd_due = 0;
}
