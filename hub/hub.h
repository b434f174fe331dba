/*
 * hub.h — the hub daemon's core (hub.c): options, counters, events, pre-framed
 * messages, REST bodies and the hand-off of frames to the lws thread.
 *
 * Process: ringhub only. Three threads share what is declared here:
 *   reader (reader.c)  ring → state cache (state.c) → events (events.c)
 *   lws    (loop.c)    the port gate, WebSocket sessions, fan-out; owns every client
 *   mhd    (rest.c)    libmicrohttpd's own epoll thread answering REST and /metrics
 * Counters are atomics; the state cache has one mutex; frames travel to the lws thread
 * through hub_handoff_*(). Nothing here talks to collectors except through the ring, and
 * nothing here calls into another hub module: this is the bottom of the hub.
 */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"
#include "ring.h"
#include "schema.h"
#include "topics.h"

#define HUB_MAX_DIALECTS 8

struct hub_options {
        const char *ring;
        const char *listen;         /* ADDR:PORT; unused with socket activation */
        unsigned max_clients;       /* WebSocket clients */
        unsigned max_message;       /* inbound message bytes */
        unsigned ping_secs;         /* idle seconds before a ping */
        unsigned read_timeout_secs; /* idle seconds before hanging up */
        unsigned queue_len;         /* per-client queued messages */
        unsigned slow_timeout_ms;   /* a client conflated this long without progress is closed */
        unsigned coalesce_us; /* a busy client's frames wait at most this long to share a write */
        unsigned head_timeout_ms;              /* a request head must arrive within this */
        unsigned max_pending;                  /* connections whose head has not arrived yet */
        unsigned http_connections;             /* REST connections (the gate enforces it) */
        unsigned max_pending_per_address;      /* pending heads from one client address */
        unsigned http_connections_per_address; /* REST connections of one client address */
        unsigned rest_rate;      /* REST requests per second per client address (0: off) */
        unsigned rest_burst;     /* … and at once above that */
        const char *cors_origin; /* Access-Control-Allow-Origin ("": none) */
        /* tls.c and the gate: certificate and key files (NULL: no TLS), plain refused */
        const char *tls_cert;
        const char *tls_key; /* NULL: the key is in tls_cert's file */
        bool tls_only;
        /* tokens.c, session.c and the dialects: auth, inbound limits, timers */
        const char *auth;            /* "off", "token", "jwt" */
        const char *token_file;      /* lines "TOKEN ROLE [NAME]" */
        const char *jwt_secret_file; /* HS256 secret */
        uint64_t jwt_max_lifetime_s; /* a JWT's exp at most this far ahead */
        const char *jwt_audience;    /* "" or NULL: aud not checked */
        const char *jwt_issuer;      /* "" or NULL: iss not checked */
        unsigned auth_timeout_secs;  /* native clients must authenticate within this */
        unsigned rate_limit;         /* inbound messages per second per client */
        unsigned max_events;         /* outbound events per second per client */
        unsigned sio_ping_ms;        /* Socket.IO pingInterval */
        unsigned sio_timeout_ms;     /* Socket.IO pingTimeout */
        unsigned diag_interval_ms;   /* self-diagnostics period */
        /* control.c: with auth off, commands are accepted only when this is on */
        atomic_bool control;
        /* the hub's own files ([hub] state_dir, --state-dir, else systemd's
         * $STATE_DIRECTORY): the history store (journal.c). NULL: none, keep in memory */
        const char *state_dir;
        const char *alarms_file; /* alarm definitions ([hub] alarms_file, --alarms-file) */
        /* records kept per history kind ([history] last_alarms, last_events, last_logs) */
        unsigned history_alarms, history_events, history_logs;
};

/* Counters shared by every thread (relaxed atomics; /metrics and diagnostics read them),
 * declared with their metric names and help in stats.def. */
struct hub_stats {
#define STAT(field, kind, metric, help) _Atomic uint64_t field;
#include "stats.def"
#undef STAT
};

/* Once-a-second self-diagnostics (the hub_diag topic). */
struct hub_diag {
        uint64_t ts_ns;
        double events_per_sec, messages_per_sec, bytes_per_sec;
        uint64_t clients, ring_lag, lost, abandoned, corrupt, invalid;
        double serialize_min_us, serialize_avg_us, serialize_max_us;
        uint64_t serialize_count; /* in the last second */
};

/*
 * One pre-framed WebSocket message shared by every client queue that carries it:
 * `frame` points at a complete unmasked frame (header + payload) with at least LWS_PRE
 * bytes of headroom before it. Immutable once built; freed by the last unref.
 */
struct hub_msg {
        _Atomic uint32_t ref;
        uint16_t topic;       /* conflation key */
        uint16_t flags;       /* HUB_MSG_* */
        uint32_t len;         /* frame bytes */
        uint32_t payload_off; /* payload = frame + payload_off */
        uint64_t ts_ns;       /* realtime of the record behind it (latency) */
        uint8_t *frame;
        struct hub_msg *pool_next; /* hub.c: in its size class's free list */
        uint8_t pool_class;        /* hub.c: size class, HUB_MSG_UNPOOLED when none */
        uint8_t buf[];
};
#define HUB_MSG_STATE 0x1u /* the topic's full state: kept for snapshots, conflatable */

/* Text frame from parts joined; NULL on ENOMEM. Buffers come from per-size-class free
 * lists (any thread takes, the last unref gives back): no malloc in steady state. */
struct hub_msg *hub_msg_new(uint16_t topic, uint16_t flags, const char *const *parts,
                            const size_t *lens, size_t n);
struct hub_msg *hub_msg_ref(struct hub_msg *m);
void hub_msg_unref(struct hub_msg *m);
/* Free the pooled buffers (exit, after every thread has stopped). */
void hub_msg_pool_free(void);
/* Any thread, while nobody listens (the reader's idle tick): free the pooled buffers a
 * burst left, and give their pages back to the system. */
void hub_msg_pool_trim(void);
static inline const char *hub_msg_payload(const struct hub_msg *m, size_t *ret_len)
{
        if (ret_len)
                *ret_len = m->len - m->payload_off;
        return (const char *)m->frame + m->payload_off;
}

/* A refcounted JSON body (REST). */
struct hub_body {
        _Atomic uint32_t ref;
        size_t len;
        char s[];
};
struct hub_body *hub_body_new(const char *s, size_t len);
struct hub_body *hub_body_ref(struct hub_body *b);
void hub_body_unref(struct hub_body *b);

/* One event, as the publish path (events.c) hands it to every dialect's render() and
 * to every sink. */
struct hub_event {
        unsigned topic;           /* topic id (topics.h) */
        const char *name;         /* core topic name: record name, "collector", "hub_diag", … */
        bool state;               /* data is the topic's full state (snapshot-able) */
        uint64_t ts_ns;           /* realtime of the event */
        uint64_t rec_ts_ns;       /* realtime of the newest record behind it (latency) */
        struct json_object *data; /* object (SINGLE, KEYED, pseudo topics) or array (LIST) */
        const char *json; /* data serialized once, Unraid-typed (RJ_SEED_TYPED|RJ_ALIASES) */
        size_t json_len;
};

struct hub {
        struct hub_options opt;
        struct hub_stats stats;
        struct ring *ring;
        uint64_t start_ns;

        /* frames → lws hand-off: producers append batches, the lws thread swaps the array
         * with its spare (two arrays in turn, no allocation once they are big enough) */
        pthread_mutex_t handoff_lock;
        pthread_cond_t handoff_space;
        struct hub_handoff *handoff, *handoff_spare;
        size_t handoff_n, handoff_cap, handoff_spare_cap, handoff_taken_cap;
        bool handoff_woken;      /* a wake-up is on its way: the next drain sees what is queued */
        struct lws_context *lws; /* for lws_cancel_service(); NULL outside the loop */
        bool shutting_down;      /* lws thread: SIGTERM seen, no new clients */

        /* reader status */
        pthread_mutex_t prime_lock;
        pthread_cond_t prime_cond;
        bool primed;
        _Atomic uint64_t ring_repaired_ns; /* realtime of the last ring repair, 0 = never */
        atomic_bool stop;

        pthread_mutex_t diag_lock;
        struct hub_diag diag;
};

/* The threads the systemd watchdog (loop.c) checks besides the lws thread itself, which
 * sends WATCHDOG=1 only while every registered thread has beaten within the watchdog
 * period. A thread stamps its beat when it makes progress; `poke` (may be NULL for a
 * thread that wakes on its own at least once a second) makes an idle one beat soon. */
enum hub_beat {
        HUB_BEAT_READER,
        HUB_BEAT_MHD,
        HUB_BEAT_COMMANDS,
        HUB_BEAT_MQTT,
        HUB_BEAT_TLS,
        _HUB_BEAT_MAX,
};
void hub_beat_register(enum hub_beat b, const char *name, void (*poke)(void));
void hub_beat_unregister(enum hub_beat b);
void hub_beat(enum hub_beat b);
/* The name of a registered thread that has not beaten for max_ns, or NULL. */
const char *hub_beat_stale(uint64_t max_ns);
/* Poke every registered thread (the watchdog's tick). */
void hub_beat_poke_all(void);

/*
 * The reader's drain on demand. While anyone listens the reader sleeps on the ring's
 * doorbell and every producer's batch wakes it; while nobody does it sleeps until its
 * slow tick (producers then wake it only once half the ring is unread: ring_wait_lazy())
 * and drains when asked:
 *   hub_reader_kick()  any thread: the reader looks at the ring and at who listens now
 *                      (a client, a sink, a command in flight);
 *   hub_reader_sync()  any thread but the reader's: while the reader sleeps lazily, wait
 *                      until it has read every record written before the call (at most
 *                      50 ms; true when it has), so what a REST request, a new client or
 *                      the MQTT bridge reads next is as fresh as the ring. At once when
 *                      nothing is unread or the reader is on the doorbell.
 * The reader calls the rest: hub_reader_running() as it starts (on its thread) and once
 * it is joined (its cursor), hub_reader_drained() after each drain, hub_reader_lazy()
 * as it chooses how to sleep (before it looks at the ring a last time),
 * hub_reader_sleep() to sleep lazily (seen: the kicks it has seen; a kick since returns
 * at once).
 */
void hub_reader_kick(void);
bool hub_reader_sync(void);
void hub_reader_running(bool on, uint64_t seq);
void hub_reader_drained(uint64_t seq);
void hub_reader_lazy(bool lazy);
void hub_reader_sleep(const struct ring_cursor *c, uint64_t timeout_ns, uint32_t *seen);

struct hub_handoff {
        struct hub_msg *msg;
        uint8_t dialect;
        uint64_t client; /* 0: every client of the dialect; else this client's id only */
};

extern struct hub hub;

/* The lws thread marks itself once; anyone may ask whether it runs there. */
void hub_mark_loop_thread(void);
bool hub_on_loop_thread(void);

/* Frame a JSON text built per client (a reply); counted as a reply, not an event. */
struct hub_msg *hub_msg_from_json(uint16_t topic, struct json_object *o);

/* Count one json-c serialization pass that took ns. */
void hub_count_serialization(uint64_t ns);

/* Any thread → lws thread: queue a rendered message for dialect d (takes the ref). Off
 * the lws thread the message waits in a per-thread batch that hub_handoff_kick()
 * publishes (one lock, at most one wake-up per drain). With may_wait the publishing
 * caller waits while the queue is full (backpressure on the reader); the lws thread
 * itself never waits. */
void hub_handoff_push(unsigned d, struct hub_msg *m, bool may_wait);
/* Any thread → one client (by id) of dialect d: a reply that is ready off the lws thread
 * (a command's answer). Dropped at delivery when the client has gone. Kicks the thread. */
void hub_handoff_push_to(unsigned d, uint64_t client_id, struct hub_msg *m);
/* Publish this thread's pushes and wake the lws thread unless a wake-up is already on
 * its way (one lws_cancel_service() per drain, not per frame). */
void hub_handoff_kick(void);
/* Publish this thread's pushes without waking the lws thread: frames no client waits for
 * (they update the snapshot at the next drain, a kick, a new client or once 256 frames
 * are queued, so that nobody listening holds little memory). Never waits for space (its
 * caller may hold state_lock). */
void hub_handoff_publish_quiet(void);
/* lws thread: take everything queued; give the array back with hub_handoff_done(). */
struct hub_handoff *hub_handoff_take(size_t *ret_n);
void hub_handoff_done(struct hub_handoff *a);
/* Drop whatever is still queued (at exit, after every thread has stopped). */
void hub_handoff_clear(void);

void hub_diag_get(struct hub_diag *ret);
/* The diagnostics as a JSON object (new ref). */
struct json_object *hub_diag_json(const struct hub_diag *d);
/* The serialization time of events as a histogram: upper bounds (ns) and, per bucket
 * (the last one above every bound), how many; the sum of those times. */
#define HUB_SER_BUCKETS 12
extern const double hub_ser_bounds_ns[HUB_SER_BUCKETS];
void hub_serialize_histogram(uint64_t ret_counts[HUB_SER_BUCKETS + 1], uint64_t *ret_sum_ns);
/* Event serializations since the last call: how many, their total, min and max (ns). */
struct hub_serialize_window {
        uint64_t n, sum_ns, min_ns, max_ns;
};
void hub_serialize_window_take(struct hub_serialize_window *ret);
