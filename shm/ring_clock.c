/*
 * ring_clock.c — the slow paths of the records' clock (see ring_clock.h): whether the
 * kernel keeps time with the TSC, and the anchor a thread extrapolates from.
 */
#include "ring_clock.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define RING_CLOCK_STEP_NS (20ull * 1000) /* a re-anchor this far off: the clock stepped */
/* TSC reads around clock_gettime() further apart: preempted, not an anchor. */
#define RING_CLOCK_GAP_TICKS 4096u

_Thread_local struct ring_tsc_clock ring_tsc_clock;
static _Atomic int tsc_usable = -1; /* the kernel's clocksource is the TSC */

bool ring_tsc_usable(void)
{
        int u = atomic_load_explicit(&tsc_usable, memory_order_relaxed);
        if (u < 0) {
                char cs[16];
                ssize_t n = read_file_bounded(
                    "/sys/devices/system/clocksource/clocksource0/current_clocksource", cs,
                    sizeof(cs));
                u = n > 0 && startswith(cs, "tsc") && (cs[3] == '\n' || cs[3] == '\0');
                atomic_store_explicit(&tsc_usable, u, memory_order_relaxed);
        }
        return u;
}

/* The anchor is stale or the rate unknown: read the clock, re-anchor, re-measure. */
uint64_t ring_tsc_anchor(struct ring_tsc_clock *c)
{
        uint64_t t0 = __rdtsc();
        uint64_t ns = real_ns();
        uint64_t gap = __rdtsc() - t0, t = t0 + gap / 2;
        if (gap > RING_CLOCK_GAP_TICKS)
                return ns; /* preempted between the reads: no anchor to trust */
        if (c->mult) {
                /* Where the old anchor and rate put now: off by more than the rate can
                 * drift (1,000 ppm) means the clock was stepped, or the TSC. */
                double el = (double)(t - c->tsc) * (double)c->mult / 4294967296.0;
                double off = (double)ns - (double)c->ns - el;
                if (off > RING_CLOCK_STEP_NS + el / 1000 || -off > RING_CLOCK_STEP_NS + el / 1000)
                        c->base_tsc = 0;
        }
        if (!c->base_tsc || ns < c->base_ns || t <= c->base_tsc) {
                *c = (struct ring_tsc_clock){ .tsc = t, .ns = ns, .base_tsc = t, .base_ns = ns };
                return ns;
        }
        if (ns - c->base_ns >= RING_CLOCK_SPAN_NS) {
                double m = (double)(ns - c->base_ns) / (double)(t - c->base_tsc) * 4294967296.0;
                if (m < 4294967.0 || m > 4294967296.0 * 100) { /* not 10 MHz…1 THz */
                        *c = (struct ring_tsc_clock){
                                .tsc = t, .ns = ns, .base_tsc = t, .base_ns = ns
                        };
                        return ns;
                }
                c->mult = (uint64_t)m;
                c->span = (RING_CLOCK_SPAN_NS << 32) / c->mult;
        }
        c->tsc = t;
        c->ns = ns;
        return ns;
}
#endif
