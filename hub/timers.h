/*
 * timers.h — the lws thread's own timers, on one timerfd.
 *
 * Process: ringhub, lws thread only. Why not lws's sorted-usec lists: lws waits in poll()
 * with a timeout of whole milliseconds, truncated, so a timer due in less than 1 ms makes
 * it poll(…, 0) over every socket until the timer is due — a busy loop of up to 1 ms per
 * timer (measured: 18,000 poll() calls/s at 100 clients × 1,000 events/s, a third of the
 * hub's CPU). A timerfd wakes poll() when the timer is due, to the microsecond.
 *
 * Each timer is a struct htimer embedded in its owner; scheduling an armed timer moves
 * it; a callback may schedule or cancel any timer, itself included. Cancel a timer before
 * freeing what holds it. No allocation once the heap has grown to the number of timers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htimer;
typedef void (*htimer_fn)(struct htimer *t);

struct htimer {
        uint64_t due_ns; /* CLOCK_MONOTONIC */
        htimer_fn fn;
        unsigned slot; /* its place in the heap + 1; 0: not armed */
};

/* The timerfd, created on first use (<0: -errno). Poll it for reading; when it is
 * readable, call htimers_run(). */
int htimers_fd(void);

/* Fire fn(t) delay_us from now (0: on the next loop pass). */
void htimer_schedule(struct htimer *t, htimer_fn fn, uint64_t delay_us);
void htimer_cancel(struct htimer *t);

static inline bool htimer_armed(const struct htimer *t)
{
        return t->slot != 0;
}

/* The fd is readable: fire every timer that is due, then re-arm the fd. */
void htimers_run(void);

/* At shutdown: forget every timer, close the fd. */
void htimers_free(void);

/* The owner of an embedded timer (like container_of). */
#define htimer_owner(t, type, member) ((type *)((char *)(t)-offsetof(type, member)))
