/*
 * ring_clock.h — the clock that stamps ring records (ring.c's writers).
 *
 * A record with no time of its own is stamped CLOCK_REALTIME when written; the vDSO's
 * clock_gettime() (24 ns here) was a fifth of a single-record write. Where the kernel
 * keeps time with the TSC (clocksource "tsc": invariant and in step across CPUs), a
 * thread extrapolates from the TSC instead, from an anchor (a clock_gettime() at most
 * RING_CLOCK_SPAN_NS old) at a rate measured against CLOCK_REALTIME over the thread's
 * life (from scratch when a re-anchor finds the clock stepped): within tens of ns of
 * clock_gettime() (a few µs at worst, in the first milliseconds); a clock step shows
 * within RING_CLOCK_SPAN_NS. Elsewhere every stamp is a clock_gettime().
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "util.h"

#define RING_CLOCK_SPAN_NS (1000ull * 1000) /* re-anchor after 1 ms */

#if defined(__x86_64__) && defined(__GNUC__)
#include <x86intrin.h>

struct ring_tsc_clock {
        uint64_t tsc, ns;           /* the anchor */
        uint64_t base_tsc, base_ns; /* where the rate is measured from */
        uint64_t mult;              /* ns per tick × 2^32; 0 while unknown */
        uint64_t span;              /* ticks in RING_CLOCK_SPAN_NS */
};
extern _Thread_local struct ring_tsc_clock ring_tsc_clock;

/* Slow paths (ring_clock.c): is the clocksource the TSC; re-anchor and re-measure. */
bool ring_tsc_usable(void);
uint64_t ring_tsc_anchor(struct ring_tsc_clock *c);

/* CLOCK_REALTIME in ns, as a record's stamp. */
static inline uint64_t ring_record_clock(void)
{
        struct ring_tsc_clock *c = &ring_tsc_clock;
        if (c->mult) {
                uint64_t d = __rdtsc() - c->tsc; /* wraps huge if the TSC went back */
                if (d < c->span)
                        return c->ns + ((d * c->mult) >> 32);
        } else if (!ring_tsc_usable())
                return real_ns();
        return ring_tsc_anchor(c);
}
#else
static inline uint64_t ring_record_clock(void)
{
        return real_ns();
}
#endif
