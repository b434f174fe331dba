/*
 * reader.c — the ring reader thread: records → batches → state cache → events.
 *
 * Process: ringhub, its own thread (ring_wait() sleeps in FUTEX_WAIT, which must not
 * block the lws loop). Validates every record, assembles batches per producer, applies
 * complete ones to the state cache, and publishes each change through the one publish
 * path (events.c), a drain at a time (events_batch_*: the frames are handed off after
 * state_lock is let go). Once a second it checks producers' liveness in the registry
 * (shm/registry.h), publishes its progress in the ring header, computes the hub
 * diagnostics and updates sd_notify STATUS=. Never busy-polls; never touches sockets.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "commands.h"
#include "alarms_hub.h"
#include "events.h"
#include "hub.h"
#include "journal.h"
#include "log.h"
#include "macros.h"
#include "reader.h"
#include "record_json.h"
#include "registry.h"
#include "state.h"
#include "util.h"

#define DRAIN_MAX     1024u /* records per drain before flushing events */
#define BATCH_MAX_CNT 4096u

struct pbatch {
        bool active;
        uint32_t id, gen;
        uint16_t cnt;
        unsigned seen;
        struct ring_record *recs;
        bool *have;
        size_t cap;
};

struct ptrack {
        bool known;
        uint32_t gen;
        const char *state;
};

/* The diagnostics period (hub.diagnostics_interval) and, while nobody listens, the
 * reader's tick. */
#define DIAG_NS \
        ((uint64_t)(hub.opt.diag_interval_ms ? hub.opt.diag_interval_ms : 1000) * NSEC_PER_MSEC)
#define IDLE_TICK_NS (5 * NSEC_PER_SEC)

static pthread_t reader_thread;
static bool reader_running;
static struct ring_cursor cur;
static struct pbatch batches[RING_MAX_PRODUCERS];
static struct ptrack ptracks[RING_MAX_PRODUCERS];
static uint64_t invalid_logged;
static char last_status[160];
/* The reader's text buffer for keyed entities, reused from event to event. */
static struct rj_buf keyed_buf;

static void publish_topic(struct state_topic *t)
{
        struct hub_body *body = NULL;
        if (state_publish(t, &body) < 0) {
                log_error("cannot serialize topic %s: out of memory", t->d->name);
                return;
        }
        struct hub_event ev = {
                .topic = t->d->id,
                .name = t->d->name,
                .state = true,
                .ts_ns = real_ns(),
                .rec_ts_ns = t->ts_ns,
                .json = body->s,
                .json_len = body->len,
        };
        events_publish(&ev);
        hub_body_unref(body);
}

static void apply_batch(const struct ring_record *const *recs, size_t n)
{
        struct state_changes ch = { 0 };
        pthread_mutex_lock(&state_lock);
        int r = state_apply_batch(recs, n, &ch);
        if (r < 0)
                log_warning_errno(r, "batch partly applied: %m");
        for (unsigned type = 1; type < RT_MAX; type++) {
                if (!ch.topic[type])
                        continue;
                struct state_topic *t = state_topic(type);
                if (hub.primed)
                        publish_topic(t);
                else
                        t->dirty = true;
        }
        if (hub.primed)
                for (size_t i = 0; i < ch.n_keyed; i++) {
                        struct state_entity *e = ch.keyed[i];
                        if (!e)
                                continue;
                        const struct record_desc *d = schema_record(e->type);
                        uint64_t t0 = mono_ns();
                        keyed_buf.n = 0;
                        keyed_buf.failed = false;
                        if (state_entity_write(&keyed_buf, d, e) < 0) {
                                log_error("cannot serialize %s: out of memory", d->name);
                                continue;
                        }
                        hub_count_serialization(mono_ns() - t0);
                        events_publish_text(d->id, false, keyed_buf.p, keyed_buf.n, e->ts_ns);
                }
        pthread_mutex_unlock(&state_lock);
        free(ch.keyed);
        atomic_fetch_add_explicit(&hub.stats.batches, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.records, n, memory_order_relaxed);
}

static void count_invalid(const struct ring_record *rec, const char *why)
{
        atomic_fetch_add_explicit(&hub.stats.invalid, 1, memory_order_relaxed);
        /* One line for the first few, then one per thousand: a bad producer must not
         * flood the journal. */
        uint64_t n = ++invalid_logged;
        if (n <= 5 || n % 1000 == 0)
                log_warning("invalid record seq %" PRIu64 " type %u from producer %u: %s "
                            "(%" PRIu64 " so far), skipping",
                            rec->seq, rec->type, rec->producer, why, n);
}

static void batch_reset(struct pbatch *b)
{
        b->active = false;
        b->seen = 0;
}

static void handle_record(const struct ring_record *rec)
{
        const char *why = "invalid";
        if (record_validate(rec->type, rec->version, rec->payload, rec->len, &why) < 0) {
                count_invalid(rec, why);
                return;
        }
        if (rec->type == RT_command_result) {
                /* Not state: the answer to a command (commands.c). Answers older than this
                 * hub are history nobody waits for. */
                if (rec->ts_ns >= hub.start_ns)
                        commands_on_result(rec);
                return;
        }
        if (rec->batch_id == 0 || rec->batch_cnt == 0) {
                apply_batch(&rec, 1);
                return;
        }
        if (rec->producer >= RING_MAX_PRODUCERS) {
                count_invalid(rec, "producer index out of range");
                return;
        }
        struct pbatch *b = &batches[rec->producer];
        if (b->active &&
            (b->id != rec->batch_id || b->gen != rec->producer_gen || b->cnt != rec->batch_cnt)) {
                atomic_fetch_add_explicit(&hub.stats.batches_dropped, 1, memory_order_relaxed);
                log_debug("incomplete batch %u of producer %u dropped (%u/%u records)", b->id,
                          rec->producer, b->seen, b->cnt);
                batch_reset(b);
        }
        if (!b->active) {
                if (rec->batch_cnt > BATCH_MAX_CNT) {
                        count_invalid(rec, "batch too large");
                        return;
                }
                if (b->cap < rec->batch_cnt) {
                        struct ring_record *rr = realloc(b->recs, rec->batch_cnt * sizeof(*rr));
                        if (!rr)
                                return;
                        b->recs = rr;
                        bool *h = realloc(b->have, rec->batch_cnt * sizeof(*h));
                        if (!h)
                                return;
                        b->have = h;
                        b->cap = rec->batch_cnt;
                }
                memset(b->have, 0, rec->batch_cnt * sizeof(*b->have));
                b->active = true;
                b->id = rec->batch_id;
                b->gen = rec->producer_gen;
                b->cnt = rec->batch_cnt;
                b->seen = 0;
        }
        if (rec->batch_idx >= b->cnt) {
                count_invalid(rec, "batch index out of range");
                return;
        }
        if (b->have[rec->batch_idx])
                return;
        b->recs[rec->batch_idx] = *rec;
        b->have[rec->batch_idx] = true;
        if (++b->seen < b->cnt)
                return;
        const struct ring_record *ptrs[BATCH_MAX_CNT];
        for (unsigned i = 0; i < b->cnt; i++)
                ptrs[i] = &b->recs[i];
        apply_batch(ptrs, b->cnt);
        batch_reset(b);
}

/* ---- producers' liveness ---- */

/* The reader's word for a registry state (events say "stopped" for "exited"). */
static const char *state_word(enum registry_state s)
{
        return s == REGISTRY_EXITED ? "stopped" : registry_state_name(s);
}

/* A collector's transition as an Event of the history: up (appeared, restarted,
 * recovered) or down (stalled, died, stopped). */
static void journal_collector(const char *name, unsigned pid, const char *what, const char *state,
                              const char *prev)
{
        bool down = strcmp(state, "running") != 0;
        char msg[96], desc[160];
        snprintf(msg, sizeof(msg), "collector %s %s", name, what);
        snprintf(desc, sizeof(desc), "pid %u, now %s%s%s", pid, state, prev ? ", was " : "",
                 prev ? prev : "");
        const struct journal_entry e = { .message = msg,
                                         .description = desc,
                                         .classification = JOURNAL_CLASS_COLLECTOR,
                                         .priority = down ? 2 : 4,
                                         .criticity = down ? 3 : 1,
                                         .segment = name };
        (void)journal_event(&e, NULL);
}

static void check_producers(bool emit_events)
{
        uint64_t now = real_ns();
        for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
                struct ptrack *tr = &ptracks[i];
                struct registry_entry e;
                /* Ad-hoc writers (ringhubctl inject) declare no interval: no events. */
                if (!registry_get(hub.ring, i, now, &e) || e.interval_ms == 0) {
                        tr->known = false;
                        continue;
                }
                const char *s = state_word(e.state);
                const char *what = NULL;
                if (!tr->known)
                        what = "appeared";
                else if (tr->gen != e.generation)
                        what = "restarted";
                else if (strcmp(tr->state, s) != 0)
                        what = strcmp(s, "running") == 0   ? "recovered"
                               : strcmp(s, "stopped") == 0 ? "stopped"
                               : strcmp(s, "dead") == 0    ? "died"
                                                           : "stalled";
                const char *prev = tr->known ? tr->state : NULL;
                tr->known = true;
                tr->gen = e.generation;
                tr->state = s;
                if (!what)
                        continue;
                if (strcmp(what, "appeared") != 0 || emit_events)
                        log_info("collector %s (pid %u): %s, now %s", e.name, (unsigned)e.pid, what,
                                 s);
                if (!emit_events)
                        continue;
                char ts[64];
                format_rfc3339_ns(ts, sizeof(ts), now, false);
                json_object *o = json_object_new_object();
                json_object_object_add(o, "collector", json_object_new_string(e.name));
                json_object_object_add(o, "event", json_object_new_string(what));
                json_object_object_add(o, "state", json_object_new_string(s));
                json_object_object_add(o, "previous_state",
                                       prev ? json_object_new_string(prev) : NULL);
                json_object_object_add(o, "alive",
                                       json_object_new_boolean(strcmp(s, "running") == 0));
                json_object_object_add(o, "pid", json_object_new_int64(e.pid));
                json_object_object_add(o, "generation", json_object_new_int64(e.generation));
                json_object_object_add(o, "timestamp", json_object_new_string(ts));
                (void)events_publish_json(HUB_T_COLLECTOR, false, o, now);
                json_object_put(o);
                journal_collector(e.name, (unsigned)e.pid, what, s, prev);
        }
}

/* ---- impossible ring states ---- */

/*
 * Something in the ring's group wrote the segment (a scribbled head, slot or header):
 * undo it so producers and new openers work again, count it, and say so — the first
 * few times and then once per thousand, as for invalid records.
 */
static void repair_ring(void)
{
        unsigned damage = cur.damage;
        unsigned n = ring_repair(hub.ring, &cur);
        if (!n)
                return;
        uint64_t total =
            atomic_fetch_add_explicit(&hub.stats.ring_repairs, n, memory_order_relaxed) + n;
        atomic_store_explicit(&hub.ring_repaired_ns, real_ns(), memory_order_relaxed);
        if (total <= 5 || total % 1000 < n)
                log_warning("ring %s held impossible state (%s), repaired; cursor %" PRIu64
                            ", %" PRIu64 " repairs so far",
                            hub.ring->name,
                            damage & RING_DAMAGE_HEAD   ? "head"
                            : damage & RING_DAMAGE_SLOT ? "slot"
                                                        : "header",
                            cur.seq, total);
}

/* ---- once a second ---- */

static void serialize_window(double *min_us, double *avg_us, double *max_us, uint64_t *count)
{
        struct hub_serialize_window w;
        hub_serialize_window_take(&w);
        *count = w.n;
        *avg_us = w.n ? (double)w.sum_ns / (double)w.n / 1000.0 : 0.0;
        *min_us = (double)w.min_ns / 1000.0;
        *max_us = (double)w.max_ns / 1000.0;
}

static void tick(uint64_t dt_ns, bool idle)
{
        static uint64_t last_events, last_msgs, last_bytes;
        struct hub_stats *s = &hub.stats;

        repair_ring();
        ring_consumer_publish(hub.ring, &cur, atomic_load(&s->invalid));
        atomic_store(&s->ring_lag, ring_lag(hub.ring, &cur));
        atomic_store(&s->ring_lost, cur.lost);
        atomic_store(&s->ring_abandoned, cur.abandoned);
        atomic_store(&s->ring_corrupt, cur.corrupt);
        check_producers(true);

        struct hub_diag d = { .ts_ns = real_ns() };
        double secs = dt_ns ? (double)dt_ns / 1e9 : 1.0;
        uint64_t ev = atomic_load(&s->events), msgs = atomic_load(&s->ws_messages),
                 bytes = atomic_load(&s->ws_bytes);
        d.events_per_sec = (double)(ev - last_events) / secs;
        d.messages_per_sec = (double)(msgs - last_msgs) / secs;
        d.bytes_per_sec = (double)(bytes - last_bytes) / secs;
        last_events = ev;
        last_msgs = msgs;
        last_bytes = bytes;
        d.clients = atomic_load(&s->clients);
        d.ring_lag = atomic_load(&s->ring_lag);
        d.lost = cur.lost;
        d.abandoned = cur.abandoned;
        d.corrupt = cur.corrupt;
        d.invalid = atomic_load(&s->invalid);
        serialize_window(&d.serialize_min_us, &d.serialize_avg_us, &d.serialize_max_us,
                         &d.serialize_count);
        pthread_mutex_lock(&hub.diag_lock);
        hub.diag = d;
        pthread_mutex_unlock(&hub.diag_lock);

        /* The hub_diag topic, for dialects that carry it (the Unraid one does not); not
         * while nobody listens (REST reads hub.diag). */
        json_object *o = idle ? NULL : hub_diag_json(&d);
        if (o) {
                (void)events_publish_json(HUB_T_DIAG, true, o, d.ts_ns);
                json_object_put(o);
        }

        char status[160];
        snprintf(status, sizeof(status), "STATUS=%" PRIu64 " clients, %.0f events/s, lag %" PRIu64,
                 d.clients, d.events_per_sec, d.ring_lag);
        if (strcmp(status, last_status) != 0) {
                sd_notify(0, status);
                strscpy(last_status, sizeof(last_status), status);
        }
}

static void prime(void)
{
        pthread_mutex_lock(&state_lock);
        pthread_mutex_lock(&hub.prime_lock);
        hub.primed = true;
        pthread_mutex_unlock(&hub.prime_lock);
        for (unsigned type = 1; type < RT_MAX; type++) {
                struct state_topic *t = state_topic(type);
                if (t && (t->d->kind == SK_SINGLE || t->d->kind == SK_LIST) &&
                    (t->seen || !(t->d->flags & R_NO_PRIME)))
                        publish_topic(t);
        }
        pthread_mutex_unlock(&state_lock);
        check_producers(false);
        pthread_mutex_lock(&hub.prime_lock);
        pthread_cond_broadcast(&hub.prime_cond);
        pthread_mutex_unlock(&hub.prime_lock);
        log_info("state rebuilt from the ring: %" PRIu64 " records, %" PRIu64 " batches",
                 atomic_load(&hub.stats.records), atomic_load(&hub.stats.batches));
}

/*
 * The longest the reader may sleep at a stretch: a third of the systemd watchdog's
 * period (loop.c pings only while the reader is alive), else no bound.
 */
static uint64_t watchdog_bound_ns(void)
{
        uint64_t wd_usec = 0;
        if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0)
                return wd_usec * 1000 / 3;
        return UINT64_MAX;
}

/*
 * Nobody listening, no command in flight, no alarm defined (its conditions are evaluated
 * as values come): the reader need not be woken by every producer's batch. It then
 * sleeps off the ring's doorbell until its slow tick or a kick (hub_reader_kick(): a
 * REST request, a new client, the MQTT bridge connecting, a command submitted) and
 * drains then. Not when the last drain read a quarter of the ring: it would overflow.
 */
static bool lazy_drain(bool idle, uint64_t drained)
{
        return idle && hub.primed && drained < hub.ring->capacity / 4 && !events_listened() &&
               !commands_in_flight() && !alarms_hub_watching();
}

static void *reader_main(void *arg)
{
        static struct ring_record rec;
        uint64_t last_tick = mono_ns(), next_tick = last_tick + NSEC_PER_SEC;
        const uint64_t wd_ns = watchdog_bound_ns();
        bool idle = false;
        uint64_t drained = 0; /* records read since the last sleep */
        uint32_t kicks = 0;
        bool again = false; /* looked at the ring once more before a lazy sleep */

        hub_reader_running(true, cur.seq);

        while (!atomic_load(&hub.stop)) {
                unsigned n = 0;
                int k;
                events_batch_begin();
                while ((k = ring_read(hub.ring, &cur, &rec)) == 1) {
                        handle_record(&rec);
                        if (++n >= DRAIN_MAX)
                                break;
                }
                if (!hub.primed && k != 1 && k != -EINPROGRESS)
                        prime();
                alarms_hub_flush(); /* what the drain's values changed */
                events_batch_end();
                hub_reader_drained(cur.seq);
                drained += n;
                if (cur.damage)
                        repair_ring();

                uint64_t now = mono_ns();
                hub_beat(HUB_BEAT_READER);
                if (idle && events_listened()) { /* someone came: diagnostics now */
                        idle = false;
                        next_tick = now;
                }
                if (now >= next_tick && hub.primed) {
                        idle = events_reader_idle(!events_listened());
                        events_batch_begin();
                        tick(now - last_tick, idle);
                        alarms_hub_tick(real_ns());
                        alarms_hub_flush();
                        events_batch_end();
                        last_tick = now;
                        /* Nobody listening: only liveness, the ring header and STATUS=;
                         * and no frame buffers kept for a client that is not there. */
                        /* (An alarm waiting out a delay or a shelve keeps the 1 s tick.) */
                        if (idle)
                                hub_msg_pool_trim();
                        bool slow = idle && !alarms_hub_timing();
                        next_tick = now + (slow ? MAX(IDLE_TICK_NS, DIAG_NS) : DIAG_NS);
                }
                if (k == 1)
                        continue;
                if (k == -EINPROGRESS) {
                        /* A producer is mid-write: look again shortly (skipped once stuck). */
                        nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
                        continue;
                }
                if (k < 0)
                        log_warning_errno(k, "ring read failed, retrying: %m");
                /* Until the next tick: records (unless nobody listens) and a kick wake it
                 * sooner. */
                uint64_t wait = MIN(next_tick > now ? next_tick - now : 1, wd_ns);
                bool lazy = lazy_drain(idle, drained);
                hub_reader_lazy(lazy);
                if (!lazy) {
                        ring_wait(hub.ring, &cur, wait);
                } else if (!again && ring_lag(hub.ring, &cur)) {
                        again = true; /* written before the flag: drain it first (once) */
                        continue;
                } else {
                        hub_reader_sleep(&cur, wait, &kicks);
                }
                again = false;
                drained = 0;
        }
        return NULL;
}

int reader_start(void)
{
        ring_cursor_init(hub.ring, &cur, true);
        /* Signals belong to the lws thread (signalfd); this thread blocks them all. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = -pthread_create(&reader_thread, NULL, reader_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return log_error_errno(r, "cannot start the ring reader: %m");
        reader_running = true;
        hub_beat_register(HUB_BEAT_READER, "reader", NULL); /* wakes at least once a second */
        return 0;
}

void reader_wait_primed(void)
{
        pthread_mutex_lock(&hub.prime_lock);
        while (!hub.primed && !atomic_load(&hub.stop))
                pthread_cond_wait(&hub.prime_cond, &hub.prime_lock);
        pthread_mutex_unlock(&hub.prime_lock);
}

void reader_stop(void)
{
        if (!reader_running)
                return;
        hub_beat_unregister(HUB_BEAT_READER);
        atomic_store(&hub.stop, true);
        hub_reader_kick();
        pthread_mutex_lock(&hub.handoff_lock);
        pthread_cond_broadcast(&hub.handoff_space);
        pthread_mutex_unlock(&hub.handoff_lock);
        pthread_join(reader_thread, NULL);
        reader_running = false;
        hub_reader_running(false, cur.seq);
        ring_consumer_publish(hub.ring, &cur, atomic_load(&hub.stats.invalid));
        for (unsigned i = 0; i < RING_MAX_PRODUCERS; i++) {
                free(batches[i].recs);
                free(batches[i].have);
        }
        rj_free(&keyed_buf);
}
