/*
 * hub.c — the hub's shared core (see hub.h): pre-framed messages, REST bodies, the
 * hand-off queue to the lws thread, the serialization counters and the diagnostics.
 *
 * Process: ringhub. Called from the reader, lws and mhd threads; everything here is
 * either immutable after construction (messages, bodies), behind hub.handoff_lock, or
 * atomics with a futex (the reader's drain on demand).
 * Must not call into lws except lws_cancel_service(), the only thread-safe lws call,
 * and must not call any other hub module.
 */
#include <errno.h>
#include <libwebsockets.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "futex.h"
#include "hub.h"
#include "log.h"
#include "macros.h"
#include "record_json.h"
#include "util.h"

#define HANDOFF_MAX 16384u
/* Quiet frames (no client of their dialect) wait for a wake-up only up to this many: while
 * nobody listens a frame costs a pooled buffer until the lws thread drains it, and at
 * HANDOFF_MAX that would be megabytes held for nothing. One wake-up per 256 frames. */
#define HANDOFF_QUIET_MAX 256u

struct hub hub = {
        .handoff_lock = PTHREAD_MUTEX_INITIALIZER,
        .handoff_space = PTHREAD_COND_INITIALIZER,
        .prime_lock = PTHREAD_MUTEX_INITIALIZER,
        .prime_cond = PTHREAD_COND_INITIALIZER,
        .diag_lock = PTHREAD_MUTEX_INITIALIZER,
};

static _Thread_local bool loop_thread;

void hub_mark_loop_thread(void)
{
        loop_thread = true;
}

bool hub_on_loop_thread(void)
{
        return loop_thread;
}

/* ---- frame buffers: per-size-class free lists ---- */

#define HUB_MSG_UNPOOLED 0xffu
/* Payload capacities and how many free buffers each class keeps (~5 MiB at most, kept only after a
 * burst). */
static const uint32_t class_cap[] = { 512, 2048, 8192, 32768 };
static const unsigned class_keep[] = { 2048, 1024, 128, 16 };
#define N_CLASSES ELEMENTSOF(class_cap)
/* The sanitizers must see every use after free: no reuse under them. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_OFF 1
#endif
#endif
#ifndef POOL_OFF
#define POOL_OFF 0
#endif

static struct msg_pool {
        pthread_mutex_t lock;
        struct hub_msg *free;
        unsigned n;
} pools[N_CLASSES] = {
        [0 ... N_CLASSES - 1] = { .lock = PTHREAD_MUTEX_INITIALIZER },
};

static struct hub_msg *msg_get(size_t len)
{
        unsigned cls = 0;
        while (cls < N_CLASSES && class_cap[cls] < len)
                cls++;
        struct hub_msg *m = NULL;
        if (cls < N_CLASSES) {
                struct msg_pool *p = &pools[cls];
                pthread_mutex_lock(&p->lock);
                m = p->free;
                if (m) {
                        p->free = m->pool_next;
                        p->n--;
                }
                pthread_mutex_unlock(&p->lock);
                if (m)
                        return m;
                len = class_cap[cls];
        }
        /* Headroom LWS_PRE, then at most 10 header bytes, then the payload. */
        m = malloc(sizeof(*m) + LWS_PRE + 10 + len);
        if (!m)
                return NULL;
        atomic_fetch_add_explicit(&hub.stats.msg_allocs, 1, memory_order_relaxed);
        m->pool_class = cls < N_CLASSES ? (uint8_t)cls : HUB_MSG_UNPOOLED;
        return m;
}

static void msg_put(struct hub_msg *m)
{
        if (!POOL_OFF && m->pool_class < N_CLASSES) {
                struct msg_pool *p = &pools[m->pool_class];
                pthread_mutex_lock(&p->lock);
                bool kept = p->n < class_keep[m->pool_class];
                if (kept) {
                        m->pool_next = p->free;
                        p->free = m;
                        p->n++;
                }
                pthread_mutex_unlock(&p->lock);
                if (kept)
                        return;
        }
        free(m);
}

static size_t pool_release(void)
{
        size_t n = 0;
        for (unsigned c = 0; c < N_CLASSES; c++) {
                pthread_mutex_lock(&pools[c].lock);
                while (pools[c].free) {
                        struct hub_msg *m = pools[c].free;
                        pools[c].free = m->pool_next;
                        free(m);
                        n++;
                }
                pools[c].n = 0;
                pthread_mutex_unlock(&pools[c].lock);
        }
        return n;
}

void hub_msg_pool_trim(void)
{
        /* Freed buffers sit in the middle of the heaps: give their pages back too. */
        if (pool_release())
                (void)malloc_trim(0);
}

void hub_msg_pool_free(void)
{
        (void)pool_release();
}

struct hub_msg *hub_msg_new(uint16_t topic, uint16_t flags, const char *const *parts,
                            const size_t *lens, size_t n)
{
        size_t len = 0;
        for (size_t i = 0; i < n; i++)
                len += lens[i];
        if (len > UINT32_MAX - 64)
                return NULL;
        struct hub_msg *m = msg_get(len);
        if (!m)
                return NULL;
        uint8_t *payload = m->buf + LWS_PRE + 10;
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
                memcpy(payload + off, parts[i], lens[i]);
                off += lens[i];
        }
        unsigned hl = len < 126 ? 2 : len < 65536 ? 4 : 10;
        uint8_t *h = payload - hl;
        h[0] = 0x81; /* FIN | text */
        if (hl == 2)
                h[1] = (uint8_t)len;
        else if (hl == 4) {
                h[1] = 126;
                h[2] = (uint8_t)(len >> 8);
                h[3] = (uint8_t)len;
        } else {
                h[1] = 127;
                for (int i = 0; i < 8; i++)
                        h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        }
        atomic_init(&m->ref, 1);
        m->topic = topic;
        m->flags = flags;
        m->frame = h;
        m->len = (uint32_t)(len + hl);
        m->payload_off = hl;
        m->ts_ns = 0;
        m->pool_next = NULL;
        return m;
}

struct hub_msg *hub_msg_ref(struct hub_msg *m)
{
        if (m)
                atomic_fetch_add_explicit(&m->ref, 1, memory_order_relaxed);
        return m;
}

void hub_msg_unref(struct hub_msg *m)
{
        if (m && atomic_fetch_sub_explicit(&m->ref, 1, memory_order_acq_rel) == 1)
                msg_put(m);
}

struct hub_msg *hub_msg_from_json(uint16_t topic, json_object *o)
{
        uint64_t t0 = mono_ns();
        size_t len;
        const char *s = json_object_to_json_string_length(
            o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
                return NULL;
        /* A reply to one client is not an event: counted apart from event serializations. */
        atomic_fetch_add_explicit(&hub.stats.replies, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.serialize_ns, mono_ns() - t0, memory_order_relaxed);
        return hub_msg_new(topic, 0, &s, &len, 1);
}

struct hub_body *hub_body_new(const char *s, size_t len)
{
        struct hub_body *b = malloc(sizeof(*b) + len + 1);
        if (!b)
                return NULL;
        atomic_init(&b->ref, 1);
        b->len = len;
        memcpy(b->s, s, len);
        b->s[len] = 0;
        return b;
}

struct hub_body *hub_body_ref(struct hub_body *b)
{
        if (b)
                atomic_fetch_add_explicit(&b->ref, 1, memory_order_relaxed);
        return b;
}

void hub_body_unref(struct hub_body *b)
{
        if (b && atomic_fetch_sub_explicit(&b->ref, 1, memory_order_acq_rel) == 1)
                free(b);
}

/* The diagnostics window: count, sum, min and max of the same samples, under one lock,
 * so its average always lies between its min and max (the counters above also hold the
 * replies' time, which no event count divides). */
static pthread_mutex_t ser_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hub_serialize_window ser_win = { .min_ns = UINT64_MAX };

const double hub_ser_bounds_ns[HUB_SER_BUCKETS] = { 1e3, 2.5e3, 5e3, 1e4, 2.5e4, 5e4,
                                                    1e5, 2.5e5, 5e5, 1e6, 2.5e6, 1e7 };
static _Atomic uint64_t ser_buckets[HUB_SER_BUCKETS + 1], ser_sum_ns;

void hub_serialize_histogram(uint64_t ret_counts[HUB_SER_BUCKETS + 1], uint64_t *ret_sum_ns)
{
        for (unsigned i = 0; i <= HUB_SER_BUCKETS; i++)
                ret_counts[i] = atomic_load_explicit(&ser_buckets[i], memory_order_relaxed);
        *ret_sum_ns = atomic_load_explicit(&ser_sum_ns, memory_order_relaxed);
}

void hub_count_serialization(uint64_t ns)
{
        atomic_fetch_add_explicit(&hub.stats.serializations, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&hub.stats.serialize_ns, ns, memory_order_relaxed);
        unsigned b = 0;
        while (b < HUB_SER_BUCKETS && (double)ns > hub_ser_bounds_ns[b])
                b++;
        atomic_fetch_add_explicit(&ser_buckets[b], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&ser_sum_ns, ns, memory_order_relaxed);
        pthread_mutex_lock(&ser_lock);
        ser_win.n++;
        ser_win.sum_ns += ns;
        ser_win.min_ns = MIN(ser_win.min_ns, ns);
        ser_win.max_ns = MAX(ser_win.max_ns, ns);
        pthread_mutex_unlock(&ser_lock);
}

void hub_serialize_window_take(struct hub_serialize_window *ret)
{
        pthread_mutex_lock(&ser_lock);
        *ret = ser_win;
        ser_win = (struct hub_serialize_window){ .min_ns = UINT64_MAX };
        pthread_mutex_unlock(&ser_lock);
        if (ret->n == 0)
                ret->min_ns = 0;
}

json_object *hub_diag_json(const struct hub_diag *d)
{
        char ts[64];
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        if (format_rfc3339_ns(ts, sizeof(ts), d->ts_ns, false))
                json_object_object_add(o, "timestamp", json_object_new_string(ts));
        json_object_object_add(o, "events_per_sec", json_double(d->events_per_sec));
        json_object_object_add(o, "messages_per_sec", json_double(d->messages_per_sec));
        json_object_object_add(o, "bytes_per_sec", json_double(d->bytes_per_sec));
        json_object_object_add(o, "clients", json_object_new_uint64(d->clients));
        json_object_object_add(o, "ring_lag", json_object_new_uint64(d->ring_lag));
        json_object_object_add(o, "lost", json_object_new_uint64(d->lost));
        json_object_object_add(o, "abandoned", json_object_new_uint64(d->abandoned));
        json_object_object_add(o, "corrupt", json_object_new_uint64(d->corrupt));
        json_object_object_add(o, "invalid", json_object_new_uint64(d->invalid));
        json_object_object_add(o, "serialize_min_us", json_double(d->serialize_min_us));
        json_object_object_add(o, "serialize_avg_us", json_double(d->serialize_avg_us));
        json_object_object_add(o, "serialize_max_us", json_double(d->serialize_max_us));
        json_object_object_add(o, "serializations", json_object_new_uint64(d->serialize_count));
        return o;
}

/* This thread's pushes not yet published (never the lws thread's: it publishes each at
 * once, and its next pass drains them). */
#define STAGE_MAX 256
static _Thread_local struct hub_handoff stage[STAGE_MAX];
static _Thread_local size_t n_stage;
static _Thread_local bool stage_nowait; /* one of them came from a caller that must not wait */

/* Append n entries to the shared queue (handoff_lock held); false on ENOMEM. */
static bool handoff_append(const struct hub_handoff *a, size_t n)
{
        if (hub.handoff_n + n > hub.handoff_cap) {
                size_t cap = MAX(hub.handoff_cap * 2, MAX(hub.handoff_n + n, (size_t)256));
                struct hub_handoff *na = realloc(hub.handoff, cap * sizeof(*na));
                if (!na)
                        return false;
                hub.handoff = na;
                hub.handoff_cap = cap;
        }
        memcpy(hub.handoff + hub.handoff_n, a, n * sizeof(*a));
        hub.handoff_n += n;
        return true;
}

/* Wait while the queue is full (handoff_lock held): the ring is the buffer, not this. */
static void handoff_wait_space(void)
{
        while (hub.handoff_n >= HANDOFF_MAX && !atomic_load(&hub.stop)) {
                atomic_fetch_add_explicit(&hub.stats.handoff_waits, 1, memory_order_relaxed);
                hub.handoff_woken = true;
                if (hub.lws)
                        lws_cancel_service(hub.lws);
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += 50 * 1000 * 1000;
                if (ts.tv_nsec >= 1000000000) {
                        ts.tv_sec++;
                        ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&hub.handoff_space, &hub.handoff_lock, &ts);
        }
}

/* Publish a batch under one lock; wake the lws thread unless a wake-up is pending. */
static void handoff_publish(const struct hub_handoff *a, size_t n, bool may_wait, bool wake)
{
        pthread_mutex_lock(&hub.handoff_lock);
        if (may_wait)
                handoff_wait_space();
        if (!handoff_append(a, n)) {
                pthread_mutex_unlock(&hub.handoff_lock);
                log_error("hand-off queue: out of memory, dropping %zu frames", n);
                for (size_t i = 0; i < n; i++)
                        hub_msg_unref(a[i].msg);
                return;
        }
        /* A queue of HANDOFF_QUIET_MAX frames wakes the lws thread even for quiet frames
         * (they never wait). */
        bool need = (wake || hub.handoff_n >= HANDOFF_QUIET_MAX) && !hub.handoff_woken;
        if (need)
                hub.handoff_woken = true;
        pthread_mutex_unlock(&hub.handoff_lock);
        if (need && hub.lws)
                lws_cancel_service(hub.lws);
}

/* Publish the staged frames; wait for space only when the caller and every staged
 * frame's pusher allow it (a pusher that holds state_lock must never wait). */
static void stage_flush(bool allow_wait, bool wake)
{
        if (!n_stage)
                return;
        size_t n = n_stage;
        bool may_wait = allow_wait && !stage_nowait;
        n_stage = 0;
        stage_nowait = false;
        handoff_publish(stage, n, may_wait, wake);
}

static void handoff_add(unsigned d, uint64_t client, struct hub_msg *m, bool may_wait)
{
        struct hub_handoff h = { .msg = m, .dialect = (uint8_t)d, .client = client };
        if (hub_on_loop_thread()) {
                /* Drained by this thread's next pass (never waits for itself). */
                handoff_publish(&h, 1, false, true);
                return;
        }
        if (n_stage == STAGE_MAX)
                stage_flush(may_wait, true);
        stage[n_stage++] = h;
        if (!may_wait)
                stage_nowait = true;
}

void hub_handoff_push(unsigned d, struct hub_msg *m, bool may_wait)
{
        handoff_add(d, 0, m, may_wait);
}

void hub_handoff_push_to(unsigned d, uint64_t client_id, struct hub_msg *m)
{
        handoff_add(d, client_id, m, false);
        hub_handoff_kick();
}

void hub_handoff_kick(void)
{
        stage_flush(true, true); /* the lws thread's own pushes are published (and woken) at once */
}

void hub_handoff_publish_quiet(void)
{
        stage_flush(false, false);
}

struct hub_handoff *hub_handoff_take(size_t *ret_n)
{
        pthread_mutex_lock(&hub.handoff_lock);
        struct hub_handoff *a = hub.handoff;
        *ret_n = hub.handoff_n;
        hub.handoff_taken_cap = hub.handoff_cap;
        hub.handoff = hub.handoff_spare;
        hub.handoff_cap = hub.handoff_spare_cap;
        hub.handoff_spare = NULL;
        hub.handoff_spare_cap = 0;
        hub.handoff_n = 0;
        hub.handoff_woken = false;
        pthread_cond_broadcast(&hub.handoff_space);
        pthread_mutex_unlock(&hub.handoff_lock);
        return a;
}

void hub_handoff_done(struct hub_handoff *a)
{
        pthread_mutex_lock(&hub.handoff_lock);
        free(hub.handoff_spare);
        hub.handoff_spare = a;
        hub.handoff_spare_cap = a ? hub.handoff_taken_cap : 0;
        pthread_mutex_unlock(&hub.handoff_lock);
}

void hub_handoff_clear(void)
{
        size_t n;
        struct hub_handoff *a = hub_handoff_take(&n);
        for (size_t i = 0; i < n; i++)
                hub_msg_unref(a[i].msg);
        free(a);
        pthread_mutex_lock(&hub.handoff_lock);
        free(hub.handoff_spare);
        hub.handoff_spare = NULL;
        hub.handoff_spare_cap = 0;
        pthread_mutex_unlock(&hub.handoff_lock);
}

void hub_diag_get(struct hub_diag *ret)
{
        pthread_mutex_lock(&hub.diag_lock);
        *ret = hub.diag;
        pthread_mutex_unlock(&hub.diag_lock);
}

/* ---- thread beats for the watchdog ------------------------------------------------- */

static struct {
        const char *name; /* NULL: not registered */
        void (*poke)(void);
        _Atomic uint64_t ns;
} beats[_HUB_BEAT_MAX];
static pthread_mutex_t beats_lock = PTHREAD_MUTEX_INITIALIZER;

void hub_beat_register(enum hub_beat b, const char *name, void (*poke)(void))
{
        pthread_mutex_lock(&beats_lock);
        atomic_store(&beats[b].ns, mono_ns());
        beats[b].poke = poke;
        beats[b].name = name;
        pthread_mutex_unlock(&beats_lock);
}

void hub_beat_unregister(enum hub_beat b)
{
        pthread_mutex_lock(&beats_lock);
        beats[b].name = NULL;
        beats[b].poke = NULL;
        pthread_mutex_unlock(&beats_lock);
}

void hub_beat(enum hub_beat b)
{
        atomic_store_explicit(&beats[b].ns, mono_ns(), memory_order_relaxed);
}

const char *hub_beat_stale(uint64_t max_ns)
{
        const char *stale = NULL;
        uint64_t now = mono_ns();
        pthread_mutex_lock(&beats_lock);
        for (unsigned i = 0; i < _HUB_BEAT_MAX && !stale; i++)
                if (beats[i].name &&
                    now - atomic_load_explicit(&beats[i].ns, memory_order_relaxed) > max_ns)
                        stale = beats[i].name;
        pthread_mutex_unlock(&beats_lock);
        return stale;
}

void hub_beat_poke_all(void)
{
        void (*pokes[_HUB_BEAT_MAX])(void);
        pthread_mutex_lock(&beats_lock);
        for (unsigned i = 0; i < _HUB_BEAT_MAX; i++)
                pokes[i] = beats[i].name ? beats[i].poke : NULL;
        pthread_mutex_unlock(&beats_lock);
        /* Outside the lock: a poke may block on a stuck thread's lock, which is what the
         * watchdog is there to notice (this thread stops pinging). */
        for (unsigned i = 0; i < _HUB_BEAT_MAX; i++)
                if (pokes[i])
                        pokes[i]();
}

/* ---- the reader's drain on demand --------------------------------------------------- */

/* How long hub_reader_sync() waits at most for the reader. */
#define SYNC_MAX_NS (50 * NSEC_PER_MSEC)

static atomic_bool reader_on;           /* the reader thread runs */
static atomic_bool reader_lazy;         /* it sleeps off the ring's doorbell */
static _Atomic uint32_t reader_kicks;   /* +1 per kick */
static _Atomic uint64_t reader_drained; /* the reader's cursor after its last drain */
static _Atomic uint32_t drained_word;   /* futex word: +1 per drain while someone syncs */
static _Atomic unsigned syncers;        /* threads waiting in hub_reader_sync() */
static _Thread_local bool on_reader;

static void private_futex_wait(_Atomic uint32_t *w, uint32_t val, uint64_t ns)
{
        struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(ns % NSEC_PER_SEC) };
        (void)ring_futex(w, FUTEX_WAIT_PRIVATE, val, &ts);
}

void hub_reader_running(bool on, uint64_t seq)
{
        if (on)
                on_reader = true; /* called on the reader thread as it starts */
        atomic_store(&reader_drained, seq);
        atomic_store(&reader_on, on);
        if (!on) { /* nobody waits for a reader that has gone */
                atomic_fetch_add(&drained_word, 1);
                (void)ring_futex(&drained_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
        }
}

void hub_reader_kick(void)
{
        /* The word first: a reader about to sleep sees it (ring_wait_lazy()). */
        atomic_fetch_add(&reader_kicks, 1);
        ring_wake(hub.ring);
}

void hub_reader_lazy(bool lazy)
{
        /* Dekker pairing with hub_reader_sync(): this flag, then the ring's head. */
        atomic_store(&reader_lazy, lazy);
        atomic_thread_fence(memory_order_seq_cst);
}

void hub_reader_sleep(const struct ring_cursor *c, uint64_t timeout_ns, uint32_t *seen)
{
        /* Returns at once on a kick since the last sleep. */
        (void)ring_wait_lazy(hub.ring, c, timeout_ns, &reader_kicks, *seen);
        *seen = atomic_load(&reader_kicks);
}

void hub_reader_drained(uint64_t seq)
{
        /* Dekker pairing with hub_reader_sync(): the cursor, then the waiters. */
        atomic_store(&reader_drained, seq);
        if (atomic_load(&syncers)) {
                atomic_fetch_add(&drained_word, 1);
                (void)ring_futex(&drained_word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL);
        }
}

bool hub_reader_sync(void)
{
        if (!hub.ring || on_reader || !atomic_load(&reader_on))
                return true;
        uint64_t target = atomic_load_explicit(&hub.ring->hdr->head, memory_order_acquire);
        if (atomic_load(&reader_drained) >= target)
                return true; /* nothing unread: the common case costs two loads */
        /* On the doorbell, the reader is woken by what was written (or has not slept since)
         * and gets there by itself: no waiting behind its hand-off to the lws thread. */
        atomic_thread_fence(memory_order_seq_cst);
        if (!atomic_load(&reader_lazy))
                return true;
        atomic_fetch_add(&syncers, 1);
        hub_reader_kick();
        uint64_t end = mono_ns() + SYNC_MAX_NS;
        bool done = false;
        for (;;) {
                uint32_t w = atomic_load(&drained_word);
                done = atomic_load(&reader_drained) >= target;
                uint64_t now = mono_ns();
                if (done || now >= end || !atomic_load(&reader_on))
                        break;
                private_futex_wait(&drained_word, w, end - now);
        }
        atomic_fetch_sub(&syncers, 1);
        return done;
}
