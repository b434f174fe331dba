/*
 * events.c — the one publish path (see events.h): render once per dialect, fan out,
 * tell the sinks.
 *
 * Process: ringhub, any thread. A dialect renders an event only when some client of it
 * wants the topic (client_count_topic(), kept by the lws thread), when the topic feeds
 * another it renders (its feeds() hook) while it has a client, or when it keeps history
 * (DIALECT_RENDER_ALWAYS). A record topic's state frame it skipped is marked stale and
 * made from the state cache when someone wants it: a dialect's new client
 * (events_catch_up()) or a client that subscribes to it (fanout_latest() and
 * fanout_snapshot() ask events_refresh_latest() first); other state (the diagnostics)
 * is always rendered, for the next client's snapshot. On the lws thread frames are
 * delivered at once, so a reply that follows a published event (an estop's
 * command_result) arrives after it; other threads push into the hand-off, waiting while
 * it is full (the ring absorbs the pressure); in a batch (the reader's drain) the frames
 * are kept and handed off at its end, after the reader has let go of state_lock.
 */
#include "events.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "client.h"
#include "dialect.h"
#include "dialects.h"
#include "fanout.h"
#include "jsonfmt.h"
#include "ring.h"
#include "state.h"
#include "util.h"

struct sink {
        events_sink_fn fn;
        bool (*listening)(void *userdata);
        void *userdata;
};

static struct sink sinks[EVENTS_SINKS_MAX];
static _Atomic unsigned n_sinks;
/* Frames of a batch, handed off at its end (never while the caller holds state_lock). */
static _Thread_local struct hub_handoff *pend;
static _Thread_local size_t n_pend, cap_pend;
static _Thread_local unsigned batch_depth;
/* The reader sleeps long while nobody listens; the first client's event wakes it. */
static atomic_bool reader_idle;
/* Frames handed off without waking the lws thread (no client of their dialect): they wait
 * in the queue (it wakes the thread itself at 256 frames) until a kick or a new client. */
static atomic_bool quiet_pending;
/* Record topics whose state frame a dialect skipped while no client of it wanted them. */
static atomic_bool stale[HUB_MAX_DIALECTS][RT_MAX];

int events_add_sink(events_sink_fn fn, bool (*listening)(void *userdata), void *userdata)
{
        unsigned n = atomic_load(&n_sinks);
        if (!fn)
                return -EINVAL;
        if (n >= EVENTS_SINKS_MAX)
                return -ENOSPC;
        sinks[n] = (struct sink){ .fn = fn, .listening = listening, .userdata = userdata };
        atomic_store_explicit(&n_sinks, n + 1, memory_order_release);
        return 0;
}

bool events_listened(void)
{
        if (client_count() > 0)
                return true;
        unsigned n = atomic_load_explicit(&n_sinks, memory_order_acquire);
        for (unsigned i = 0; i < n; i++)
                if (!sinks[i].listening || sinks[i].listening(sinks[i].userdata))
                        return true;
        return false;
}

bool events_reader_idle(bool idle)
{
        atomic_store(&reader_idle, idle);
        /* Dekker pairing with events_publish(): it counts the client, then reads the flag. */
        if (idle && events_listened()) {
                atomic_store(&reader_idle, false);
                return false;
        }
        return idle;
}

void events_batch_begin(void)
{
        batch_depth++;
}

/* Hand a frame off; true when the lws thread should be woken for it (its dialect has a
 * client). A frame nobody receives now only updates the snapshot a later client gets. */
static bool handoff(unsigned d, struct hub_msg *m)
{
        hub_handoff_push(d, m, true);
        if (client_count_dialect(d) > 0)
                return true;
        atomic_store(&quiet_pending, true);
        return false;
}

static void drain_quiet(void)
{
        if (atomic_exchange(&quiet_pending, false) && !fanout_drain())
                atomic_store(&quiet_pending, true); /* inside a drain: the next one */
}

/* lws thread, state_lock held: dialect d's frame of a state topic from the state cache,
 * sent to its clients that want it, or only kept for the next one that asks (keep). */
static void render_from_state(unsigned d, unsigned topic, bool keep)
{
        struct state_topic *t = state_topic(topic);
        if (!t || !t->body)
                return;
        struct hub_event ev = {
                .topic = topic,
                .name = t->d->name,
                .state = true,
                .ts_ns = real_ns(),
                .rec_ts_ns = t->ts_ns ? t->ts_ns : real_ns(),
                .json = t->body->s,
                .json_len = t->body->len,
        };
        struct hub_msg *m = hub_dialects[d]->render(&ev);
        if (m) {
                m->ts_ns = ev.rec_ts_ns;
                atomic_fetch_add_explicit(&hub.stats.frames, 1, memory_order_relaxed);
                if (keep)
                        fanout_keep_latest(d, m);
                else
                        fanout_broadcast(d, m);
                hub_msg_unref(m);
        }
        if (ev.data) /* parsed by events_data() */
                json_object_put(ev.data);
}

void events_catch_up(unsigned d)
{
        drain_quiet();
        if (d >= hub_n_dialects)
                return;
        bool any = false;
        for (unsigned t = 1; t < RT_MAX && !any; t++)
                any = atomic_load(&stale[d][t]);
        if (!any)
                return;
        pthread_mutex_lock(&state_lock);
        /* Highest id first: what a summary borrows from another topic (the native system
         * summary's disk usage) is current when the summary is rendered. */
        for (unsigned t = RT_MAX - 1; t > 0; t--)
                if (atomic_exchange(&stale[d][t], false))
                        render_from_state(d, t, false);
        pthread_mutex_unlock(&state_lock);
}

void events_refresh_latest(unsigned d, unsigned topic)
{
        /* The caller counted its client's want first: a publisher that skips the topic
         * from now on renders it (render_anyway() looks again after marking it). */
        if (d >= hub_n_dialects || topic >= RT_MAX || !atomic_load(&stale[d][topic]))
                return;
        fanout_drain(); /* frames already on their way (older) go before this one */
        pthread_mutex_lock(&state_lock);
        if (atomic_exchange(&stale[d][topic], false))
                render_from_state(d, topic, true);
        pthread_mutex_unlock(&state_lock);
}

void events_batch_end(void)
{
        if (!batch_depth || --batch_depth > 0)
                return;
        bool kick = false;
        for (size_t i = 0; i < n_pend; i++)
                kick |= handoff(pend[i].dialect, pend[i].msg);
        if (kick)
                hub_handoff_kick();
        else if (n_pend)
                hub_handoff_publish_quiet();
        free(pend);
        pend = NULL;
        n_pend = cap_pend = 0;
}

/* Keep a frame for the batch's end; false when it must go now (no memory). */
static bool defer(unsigned d, struct hub_msg *m)
{
        if (n_pend == cap_pend) {
                size_t cap = cap_pend ? cap_pend * 2 : 64;
                struct hub_handoff *a = realloc(pend, cap * sizeof(*a));
                if (!a)
                        return false;
                pend = a;
                cap_pend = cap;
        }
        pend[n_pend++] = (struct hub_handoff){ .msg = m, .dialect = (uint8_t)d };
        return true;
}

/* Does a client of dialect d want the event's topic, or does the topic feed another the
 * dialect renders while it has a client? */
static bool wanted(unsigned d, const struct hub_event *ev)
{
        const struct dialect *dl = hub_dialects[d];
        if (ev->topic >= HUB_T_MAX)
                return client_count_dialect(d) > 0;
        return client_count_topic(d, ev->topic) > 0 ||
               (dl->feeds && dl->feeds(ev->topic) && client_count_dialect(d) > 0);
}

/*
 * No client of the dialect wants the topic: render the event anyway? Not an event that
 * is not state (no one would get it); not a record topic's state either — it is marked
 * stale and rendered from the state cache when a client wants it (events_catch_up(),
 * events_refresh_latest()); other state (the diagnostics) is rendered for the next
 * client's snapshot.
 */
static bool render_anyway(unsigned d, const struct hub_event *ev)
{
        if (!ev->state)
                return false;
        if (ev->topic >= RT_MAX || !state_topic(ev->topic))
                return true;
        atomic_store(&stale[d][ev->topic], true);
        /* A want counted since (seq_cst both sides): render, the refresh may be past. */
        return wanted(d, ev);
}

json_object *events_data(const struct hub_event *ev)
{
        /* ev is events_publish()'s own copy: the parsed tree is its one cache, put when
         * the publish ends. */
        if (!ev->data && ev->json)
                ((struct hub_event *)ev)->data = jsonfmt_parse(ev->json, ev->json_len);
        return ev->data;
}

void events_publish(const struct hub_event *in)
{
        struct hub_event e = *in, *ev = &e;
        bool parsed_here = !in->data;
        bool local = hub_on_loop_thread();
        /* The loop is being torn down (hub.lws is cleared first): nobody to tell. */
        if (local && !hub.lws)
                return;
        if (local)
                drain_quiet(); /* older frames queued quietly go first */
        atomic_fetch_add_explicit(&hub.stats.events, 1, memory_order_relaxed);
        if (atomic_load(&reader_idle) && client_count() > 0 && atomic_exchange(&reader_idle, false))
                hub_reader_kick(); /* a first client: diagnostics at once, not at the idle tick */
        bool pushed = false, quiet = false;
        for (unsigned d = 0; d < hub_n_dialects; d++) {
                const struct dialect *dl = hub_dialects[d];
                if (!(dl->flags & DIALECT_RENDER_ALWAYS) && !wanted(d, ev) && !render_anyway(d, ev))
                        continue;
                /* Rendered now: no longer stale (only this thread marks record topics). */
                if (ev->state && ev->topic < RT_MAX &&
                    atomic_load_explicit(&stale[d][ev->topic], memory_order_relaxed))
                        atomic_store(&stale[d][ev->topic], false);
                struct hub_msg *m = dl->render(ev);
                if (!m)
                        continue;
                m->ts_ns = ev->rec_ts_ns;
                atomic_fetch_add_explicit(&hub.stats.frames, 1, memory_order_relaxed);
                if (local) {
                        fanout_broadcast(d, m);
                        hub_msg_unref(m);
                } else if (!batch_depth || !defer(d, m)) {
                        bool woke = handoff(d, m);
                        pushed |= woke;
                        quiet |= !woke;
                }
        }
        if (pushed)
                hub_handoff_kick();
        else if (quiet)
                hub_handoff_publish_quiet();
        unsigned n = atomic_load_explicit(&n_sinks, memory_order_acquire);
        for (unsigned i = 0; i < n; i++)
                sinks[i].fn(ev, sinks[i].userdata);
        if (parsed_here && e.data)
                json_object_put(e.data);
}

static void publish_text(unsigned topic, bool state, json_object *data, const char *s, size_t len,
                         uint64_t rec_ts_ns)
{
        const struct topic_info *t = topics_get(topic);
        uint64_t now = real_ns();
        struct hub_event ev = {
                .topic = topic,
                .name = t                      ? t->name
                        : schema_record(topic) ? schema_record(topic)->name
                                               : "",
                .state = state,
                .ts_ns = now,
                .rec_ts_ns = rec_ts_ns ? rec_ts_ns : now,
                .data = data,
                .json = s,
                .json_len = len,
        };
        events_publish(&ev);
}

int events_publish_json(unsigned topic, bool state, json_object *data, uint64_t rec_ts_ns)
{
        uint64_t t0 = mono_ns();
        size_t len;
        const char *s = data ? jsonfmt_text(data, &len) : NULL;
        if (!s)
                return -ENOMEM;
        hub_count_serialization(mono_ns() - t0);
        publish_text(topic, state, data, s, len, rec_ts_ns);
        return 0;
}

void events_publish_text(unsigned topic, bool state, const char *json, size_t len,
                         uint64_t rec_ts_ns)
{
        publish_text(topic, state, NULL, json, len, rec_ts_ns);
}
