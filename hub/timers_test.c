/*
 * timers_test.c — unit tests for hub/timers.c: timers fire once each, never early, in
 * order of their due time; cancelled ones never; a timer moved by a new schedule fires at
 * its new time only; callbacks that re-arm themselves or cancel another; the fd is
 * disarmed when nothing is armed (an idle loop is not woken). Lower bounds on time only:
 * deterministic on a busy machine. Checks are common/checks.h, never assert().
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>

#include "checks.h"
#include "timers.h"
#include "util.h"

#define N 300

struct item {
        struct htimer t;
        uint64_t due; /* what the test expects: not before */
        unsigned fired;
        bool cancelled;
};

static struct item items[N];
static uint64_t last_fire_due;
static unsigned fired_total;

static void on_item(struct htimer *t)
{
        struct item *it = htimer_owner(t, struct item, t);
        check(!it->cancelled);
        check(mono_ns() >= it->due);
        check(it->t.due_ns >= last_fire_due); /* in order of due time */
        last_fire_due = it->t.due_ns;
        it->fired++;
        fired_total++;
}

/* Wait for the fd and run what is due until want timers fired (10 s at most). */
static void run_until(unsigned want)
{
        uint64_t deadline = mono_ns() + 10 * NSEC_PER_SEC;
        while (fired_total < want) {
                check(mono_ns() < deadline);
                struct pollfd p = { .fd = htimers_fd(), .events = POLLIN };
                if (poll(&p, 1, 1000) > 0)
                        htimers_run();
        }
}

static unsigned self_runs;
static struct htimer self_t, victim_t, killer_t;

static void on_self(struct htimer *t)
{
        if (++self_runs < 5)
                htimer_schedule(t, on_self, 0);
        fired_total++;
}

static void on_victim(struct htimer *t)
{
        check(!"a cancelled timer fired");
}

static void on_killer(struct htimer *t)
{
        htimer_cancel(&victim_t); /* due at the same time: must not fire after this */
        fired_total++;
}

static void order_and_cancel(void)
{
        unsigned seed = 12345, expect = 0;
        for (unsigned i = 0; i < N; i++) {
                seed = seed * 1103515245u + 12345u;
                uint64_t us = (seed >> 8) % 40000; /* 0–40 ms */
                items[i].due = mono_ns() + us * 1000;
                htimer_schedule(&items[i].t, on_item, us);
                check(htimer_armed(&items[i].t));
        }
        for (unsigned i = 0; i < N; i += 7) {
                htimer_cancel(&items[i].t);
                htimer_cancel(&items[i].t); /* twice is harmless */
                items[i].cancelled = true;
                check(!htimer_armed(&items[i].t));
        }
        for (unsigned i = 3; i < N; i += 11) {
                if (items[i].cancelled)
                        continue;
                uint64_t us = 45000 + i; /* moved later than all the others */
                items[i].due = mono_ns() + us * 1000;
                htimer_schedule(&items[i].t, on_item, us);
        }
        for (unsigned i = 0; i < N; i++)
                expect += !items[i].cancelled;
        run_until(expect);
        for (unsigned i = 0; i < N; i++) {
                check_eq(items[i].fired, items[i].cancelled ? 0 : 1);
                check(!htimer_armed(&items[i].t));
        }
}

static void callbacks(void)
{
        fired_total = 0;
        htimer_schedule(&self_t, on_self, 0);
        htimer_schedule(&killer_t, on_killer, 2000);
        htimer_schedule(&victim_t, on_victim, 2000);
        /* The killer is due first or at the same time: move the victim 1 µs later. */
        htimer_schedule(&victim_t, on_victim, 2001);
        run_until(6);
        check_eq(self_runs, 5);
        check(!htimer_armed(&victim_t));
}

static void idle(void)
{
        /* Nothing armed: the fd must not wake a poll. */
        struct pollfd p = { .fd = htimers_fd(), .events = POLLIN };
        check_eq(poll(&p, 1, 50), 0);
        /* One armed then cancelled: at most one early wake-up, then quiet. */
        struct htimer t = { 0 };
        htimer_schedule(&t, on_victim, 1000);
        htimer_cancel(&t);
        if (poll(&p, 1, 100) > 0)
                htimers_run();
        check_eq(poll(&p, 1, 50), 0);
}

int main(void)
{
        check(htimers_fd() >= 0);
        order_and_cancel();
        callbacks();
        idle();
        htimers_free();
        printf("timers: ok\n");
        return 0;
}
