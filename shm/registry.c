/*
 * registry.c — the producer registry (see registry.h).
 *
 * Entries are claimed with a CAS on their state, so two processes starting with one
 * name cannot both take it; everything else is single-writer (the entry's own process)
 * with relaxed or release stores that readers pick up with acquire loads.
 */
#include "registry.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macros.h"
#include "mailbox.h"
#include "util.h"

static uint64_t proc_starttime(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if (read_file_bounded(path, buf, sizeof(buf)) <= 0)
                return 0;
        /* Field 22, counted after the ")" that closes comm (comm may hold spaces). */
        char *p = strrchr(buf, ')');
        if (!p)
                return 0;
        unsigned field = 2;
        for (p++; *p && field < 22; p++)
                if (*p == ' ')
                        field++;
        return strtoull(p, NULL, 10);
}

bool ring_producer_alive(const struct ring *r, unsigned idx)
{
        if (!r || idx >= RING_MAX_PRODUCERS)
                return false;
        const struct ring_producer *p = &r->producers[idx];
        if (atomic_load_explicit(&p->state, memory_order_acquire) != RING_PRODUCER_ACTIVE)
                return false;
        pid_t pid = (pid_t)atomic_load_explicit(&p->pid, memory_order_relaxed);
        if (pid <= 0)
                return false;
        if (kill(pid, 0) < 0 && errno == ESRCH)
                return false;
        uint64_t st = atomic_load_explicit(&p->proc_start, memory_order_relaxed);
        uint64_t now_st = proc_starttime(pid);
        /* Unknown (other pid namespace, no /proc): trust kill(). */
        return !st || !now_st || st == now_st;
}

static void producer_fill(struct ring_producer *p, const char *name, uint32_t interval_ms)
{
        pid_t pid = getpid();
        atomic_store_explicit(&p->pid, (uint32_t)pid, memory_order_relaxed);
        strscpy(p->name, sizeof(p->name), name);
        atomic_store_explicit(&p->proc_start, proc_starttime(pid), memory_order_relaxed);
        uint64_t now = real_ns();
        atomic_store_explicit(&p->start_ns, now, memory_order_relaxed);
        atomic_store_explicit(&p->heartbeat_ns, now, memory_order_relaxed);
        atomic_store_explicit(&p->interval_ms, interval_ms, memory_order_relaxed);
        atomic_store_explicit(&p->exit_code, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&p->generation, 1, memory_order_relaxed);
        /* written/dropped survive a restart: they are the producer name's totals. */
        atomic_store_explicit(&p->state, RING_PRODUCER_ACTIVE, memory_order_release);
}

int ring_producer_register(struct ring *r, const char *name, uint32_t interval_ms)
{
        if (!r || !r->writable || !name || !*name || strlen(name) >= RING_NAME_MAX)
                return -EINVAL;

        /*
         * Claiming an entry is a CAS on its state: FREE/EXITED → ACTIVE is done by one
         * process only. A name's own entry is preferred (its counters carry on and the
         * hub sees the restart as a new generation of the same producer).
         */
        for (int pass = 0; pass < 3; pass++) {
                for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
                        struct ring_producer *p = &r->producers[i];
                        uint32_t st = atomic_load_explicit(&p->state, memory_order_acquire);
                        bool same = strncmp(p->name, name, sizeof(p->name)) == 0;
                        if (pass == 0 && !same)
                                continue;
                        if (pass == 1 && st != RING_PRODUCER_FREE)
                                continue;
                        if (pass == 0 && st == RING_PRODUCER_ACTIVE) {
                                if (ring_producer_alive(r, i))
                                        return -EEXIST;
                        }
                        if (pass == 2) {
                                /* Registry full: reclaim an entry of a dead or exited process. */
                                if (st == RING_PRODUCER_ACTIVE && ring_producer_alive(r, i))
                                        continue;
                        }
                        if (!atomic_compare_exchange_strong_explicit(
                                &p->state, &st, RING_PRODUCER_ACTIVE + 16u, memory_order_acq_rel,
                                memory_order_relaxed))
                                continue; /* someone else got it */
                        if (pass == 2 && !same) {
                                atomic_store_explicit(&p->written, 0, memory_order_relaxed);
                                atomic_store_explicit(&p->dropped, 0, memory_order_relaxed);
                                atomic_store_explicit(&p->batches, 0, memory_order_relaxed);
                        }
                        producer_fill(p, name, interval_ms);
                        return (int)i;
                }
        }
        return -ENOSPC;
}

void ring_producer_heartbeat(struct ring *r, int idx)
{
        if (!r || !r->writable || idx < 0 || (unsigned)idx >= RING_MAX_PRODUCERS)
                return;
        atomic_store_explicit(&r->producers[idx].heartbeat_ns, real_ns(), memory_order_release);
}

void ring_producer_unregister(struct ring *r, int idx, int exit_code)
{
        if (!r || !r->writable || idx < 0 || (unsigned)idx >= RING_MAX_PRODUCERS)
                return;
        struct ring_producer *p = &r->producers[idx];
        if (atomic_load_explicit(&p->pid, memory_order_relaxed) != (uint32_t)getpid())
                return;
        atomic_store_explicit(&p->exit_code, (uint32_t)exit_code, memory_order_relaxed);
        atomic_store_explicit(&p->heartbeat_ns, real_ns(), memory_order_relaxed);
        atomic_store_explicit(&p->state, RING_PRODUCER_EXITED, memory_order_release);
}

void ring_producer_set_interval(struct ring *r, int idx, uint32_t interval_ms)
{
        if (!r || !r->writable || idx < 0 || (unsigned)idx >= RING_MAX_PRODUCERS)
                return;
        atomic_store_explicit(&r->producers[idx].interval_ms, interval_ms, memory_order_relaxed);
}

uint32_t ring_producer_next_batch(struct ring *r, int idx)
{
        if (!r || !r->writable || idx < 0 || (unsigned)idx >= RING_MAX_PRODUCERS)
                return 0;
        return (uint32_t)(atomic_fetch_add_explicit(&r->producers[idx].batches, 1,
                                                    memory_order_relaxed) +
                          1);
}

uint64_t ring_producer_dropped(const struct ring *r, int idx)
{
        if (!r || idx < 0 || (unsigned)idx >= RING_MAX_PRODUCERS)
                return 0;
        return atomic_load_explicit(&r->producers[idx].dropped, memory_order_relaxed);
}

/* ---- snapshot ---- */

const char *registry_state_name(enum registry_state s)
{
        static const char *const names[] = { [REGISTRY_FREE] = "free",
                                             [REGISTRY_RUNNING] = "running",
                                             [REGISTRY_STALE] = "stale",
                                             [REGISTRY_DEAD] = "dead",
                                             [REGISTRY_EXITED] = "exited" };
        return (unsigned)s < ELEMENTSOF(names) ? names[s] : "?";
}

bool registry_get(const struct ring *r, unsigned index, uint64_t now_ns, struct registry_entry *ret)
{
        if (!r || !ret || index >= MIN(r->hdr->max_producers, RING_MAX_PRODUCERS))
                return false;
        const struct ring_producer *p = &r->producers[index];
        uint32_t st = atomic_load_explicit(&p->state, memory_order_acquire);
        if (st == RING_PRODUCER_FREE)
                return false;
        *ret = (struct registry_entry){ .index = index };
        /* Any process in the ring's group writes this: it leaves as valid UTF-8 without
         * control bytes, for events, REST, metrics, logs and terminals alike. */
        utf8_sanitize(ret->name, sizeof(ret->name), p->name, RING_NAME_MAX);
        ret->pid = atomic_load_explicit(&p->pid, memory_order_relaxed);
        ret->generation = atomic_load_explicit(&p->generation, memory_order_relaxed);
        ret->interval_ms = atomic_load_explicit(&p->interval_ms, memory_order_relaxed);
        ret->exit_code = atomic_load_explicit(&p->exit_code, memory_order_relaxed);
        ret->start_ns = atomic_load_explicit(&p->start_ns, memory_order_relaxed);
        ret->heartbeat_ns = atomic_load_explicit(&p->heartbeat_ns, memory_order_relaxed);
        ret->written = atomic_load_explicit(&p->written, memory_order_relaxed);
        ret->dropped = atomic_load_explicit(&p->dropped, memory_order_relaxed);
        ret->batches = atomic_load_explicit(&p->batches, memory_order_relaxed);
        if (st == RING_PRODUCER_EXITED)
                ret->state = REGISTRY_EXITED;
        else if (st != RING_PRODUCER_ACTIVE || !ring_producer_alive(r, index))
                ret->state = REGISTRY_DEAD; /* also a claim in progress (ACTIVE + 16) */
        else {
                uint64_t iv = ret->interval_ms, hb = ret->heartbeat_ns;
                bool stale =
                    iv > 0 && now_ns > hb && now_ns - hb > 3 * iv * NSEC_PER_MSEC + NSEC_PER_SEC;
                ret->state = stale ? REGISTRY_STALE : REGISTRY_RUNNING;
        }
        ret->alive = ret->state == REGISTRY_RUNNING || ret->state == REGISTRY_STALE;
        mailbox_stats(r, index, &ret->mailbox);
        return true;
}

size_t registry_snapshot(const struct ring *r, struct registry_entry *out, size_t max)
{
        size_t n = 0;
        uint64_t now = real_ns();
        for (unsigned i = 0; r && i < RING_MAX_PRODUCERS && n < max; i++)
                if (registry_get(r, i, now, &out[n]))
                        n++;
        return n;
}

int registry_find(const struct ring *r, const char *name)
{
        if (!r || !name)
                return -EINVAL;
        for (unsigned i = 0; i < MIN(r->hdr->max_producers, RING_MAX_PRODUCERS); i++) {
                const struct ring_producer *p = &r->producers[i];
                if (atomic_load_explicit(&p->state, memory_order_acquire) == RING_PRODUCER_FREE)
                        continue;
                if (strncmp(p->name, name, RING_NAME_MAX) == 0 && strlen(name) < RING_NAME_MAX)
                        return (int)i;
        }
        return -ENOENT;
}

static json_object *time_json(uint64_t ns)
{
        char ts[64];
        return ns && format_rfc3339_ns(ts, sizeof(ts), ns, false) ? json_object_new_string(ts)
                                                                  : NULL;
}

json_object *registry_entry_json(const struct registry_entry *e, uint64_t now_ns)
{
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        json_object_object_add(o, "index", json_object_new_int((int)e->index));
        json_object_object_add(o, "name", json_object_new_string(e->name));
        json_object_object_add(o, "pid", json_object_new_int64(e->pid));
        json_object_object_add(o, "alive", json_object_new_boolean(e->alive));
        json_object_object_add(o, "state", json_object_new_string(registry_state_name(e->state)));
        json_object_object_add(o, "generation", json_object_new_int64(e->generation));
        json_object_object_add(o, "interval_ms", json_object_new_int64(e->interval_ms));
        json_object_object_add(o, "started", time_json(e->start_ns));
        json_object_object_add(o, "last_heartbeat", time_json(e->heartbeat_ns));
        json_object_object_add(
            o, "heartbeat_age_s",
            json_object_new_double(e->heartbeat_ns && now_ns > e->heartbeat_ns
                                       ? (double)((now_ns - e->heartbeat_ns) / 1000000) / 1e3
                                       : 0.0));
        json_object_object_add(o, "records_written", json_object_new_uint64(e->written));
        json_object_object_add(o, "records_dropped", json_object_new_uint64(e->dropped));
        json_object_object_add(o, "batches", json_object_new_uint64(e->batches));
        if (e->state == REGISTRY_EXITED)
                json_object_object_add(o, "exit_code", json_object_new_int64(e->exit_code));
        const struct mailbox_stats *m = &e->mailbox;
        json_object *mb = json_object_new_object();
        json_object_object_add(mb, "queued", json_object_new_int64(m->queued));
        json_object_object_add(mb, "posted", json_object_new_uint64(m->posted));
        json_object_object_add(mb, "taken", json_object_new_uint64(m->taken));
        json_object_object_add(mb, "answered", json_object_new_uint64(m->answered));
        json_object_object_add(mb, "busy", json_object_new_uint64(m->busy));
        json_object_object_add(mb, "rejected", json_object_new_uint64(m->rejected));
        json_object_object_add(mb, "timed_out", json_object_new_uint64(m->timed_out));
        json_object_object_add(mb, "expired", json_object_new_uint64(m->expired));
        json_object_object_add(o, "mailbox", mb);
        return o;
}
