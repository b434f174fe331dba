/*
 * hub.h — the hub daemon's core: options, counters, messages and the threads' hand-off.
 *
 * Process: ringhub only. Three threads share what is declared here:
 *   reader (reader.c)  ring → state cache (state.c) → events rendered once per dialect
 *   lws    (ws.c)      the port gate, WebSocket clients, fan-out; owns every client
 *   mhd    (rest.c)    libmicrohttpd's own epoll thread answering REST and /metrics
 * Counters are atomics; the state cache has one mutex; events travel reader → lws through
 * hub_handoff_*(). Nothing here talks to collectors except through the ring.
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

/* Topic ids: record type ids (< RT_MAX) plus the hub's own pseudo topics. */
enum {
        HUB_T_COLLECTOR = RT_MAX, /* a producer appeared, died, recovered or stopped */
        HUB_T_DIAG,               /* hub self-diagnostics, once a second */
        /* clients.c: a WebSocket client of any dialect connected, went away; a sync
         * (POST /api/clients); an emergency stop requested by a client */
        HUB_T_CLIENT_CONNECTED,
        HUB_T_CLIENT_DISCONNECTED,
        HUB_T_CLIENT_SYNC,
        HUB_T_ESTOP,
        HUB_T_CONFIG, /* the configuration was reloaded (SIGHUP) */
        HUB_T_MAX,
};

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
        unsigned head_timeout_ms;   /* a request head must arrive within this */
        unsigned max_pending;       /* connections whose head has not arrived yet */
        unsigned http_connections;  /* libmicrohttpd connection limit */
        /* clients.c: auth, inbound limits and the dialects' timers */
        const char *auth;            /* "off", "token", "jwt" */
        const char *token_file;      /* lines "TOKEN ROLE [NAME]" */
        const char *jwt_secret_file; /* HS256 secret */
        unsigned auth_timeout_secs;  /* native clients must authenticate within this */
        unsigned rate_limit;         /* inbound messages per second per client */
        unsigned max_events;         /* outbound events per second per client */
        unsigned sio_ping_ms;        /* Socket.IO pingInterval */
        unsigned sio_timeout_ms;     /* Socket.IO pingTimeout */
        unsigned diag_interval_ms;   /* self-diagnostics period */
};

/* Counters shared by every thread (relaxed atomics; /metrics and diagnostics read them). */
struct hub_stats {
        _Atomic uint64_t records;         /* valid records applied */
        _Atomic uint64_t invalid;         /* records failing record_validate() */
        _Atomic uint64_t batches;         /* complete batches applied */
        _Atomic uint64_t batches_dropped; /* incomplete batches superseded */
        _Atomic uint64_t events;          /* events produced (state changes) */
        _Atomic uint64_t serializations;  /* json-c passes for events (all dialects) */
        _Atomic uint64_t replies;         /* json-c passes for per-client replies */
        _Atomic uint64_t serialize_ns;    /* total time in them */
        _Atomic uint64_t frames;          /* frames rendered by dialects */
        _Atomic uint64_t clients;         /* WebSocket clients now */
        _Atomic uint64_t clients_total;   /* accepted since start */
        _Atomic uint64_t clients_refused; /* over the limit */
        _Atomic uint64_t clients_slow;    /* closed because they could not keep up */
        _Atomic uint64_t conflated;       /* queued messages replaced by a newer one */
        _Atomic uint64_t bad_frames;      /* inbound frames that closed their client */
        _Atomic uint64_t ws_messages;     /* messages handed to the kernel */
        _Atomic uint64_t ws_bytes;        /* bytes handed to the kernel */
        _Atomic uint64_t ws_writes;       /* write calls for them */
        _Atomic uint64_t http_requests;   /* REST and /metrics requests */
        _Atomic uint64_t http_conns;      /* connections handed to libmicrohttpd */
        _Atomic uint64_t heads_timed_out; /* connections closed before a full request head */
        _Atomic uint64_t handoff_waits;   /* times the reader waited for the lws thread */
        _Atomic uint64_t ring_lag;        /* records behind the head (last look) */
        _Atomic uint64_t ring_lost, ring_abandoned, ring_corrupt;
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
        uint8_t buf[];
};
#define HUB_MSG_STATE 0x1u /* the topic's full state: kept for snapshots, conflatable */

/* Text frame from parts joined; NULL on ENOMEM. */
struct hub_msg *hub_msg_new(uint16_t topic, uint16_t flags, const char *const *parts,
                            const size_t *lens, size_t n);
struct hub_msg *hub_msg_ref(struct hub_msg *m);
void hub_msg_unref(struct hub_msg *m);
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

struct hub {
        struct hub_options opt;
        struct hub_stats stats;
        struct ring *ring;
        uint64_t start_ns;

        /* reader → lws hand-off */
        pthread_mutex_t handoff_lock;
        pthread_cond_t handoff_space;
        struct hub_handoff *handoff;
        size_t handoff_n, handoff_cap;
        struct lws_context *lws; /* for lws_cancel_service() */

        /* reader status */
        pthread_mutex_t prime_lock;
        pthread_cond_t prime_cond;
        bool primed;
        _Atomic uint64_t reader_alive_ns;
        atomic_bool stop;

        pthread_mutex_t diag_lock;
        struct hub_diag diag;
};

struct hub_handoff {
        struct hub_msg *msg;
        uint8_t dialect;
};

extern struct hub hub;

/* lws thread: monotonic now, read once per fan-out pass (per-client limits use it). */
uint64_t hub_fanout_now_ns(void);

/*
 * The snake_case event name of a topic ("system_update", "client_sync"), shared by the
 * dialects that name events that way (Unraid, Socket.IO, LedFx); NULL when it has none.
 * Each dialect still decides which topics it carries.
 */
const char *hub_topic_event_name(unsigned topic);
/* The topic of such a name, or -1. */
int hub_topic_by_event_name(const char *name);

/* Count one json-c serialization pass that took ns. */
void hub_count_serialization(uint64_t ns);

/* Reader thread → lws thread: queue a rendered message for dialect d (takes the ref). */
void hub_handoff_push(unsigned d, struct hub_msg *m);
/* Wake the lws thread after one or more pushes. */
void hub_handoff_kick(void);
/* lws thread: take everything queued (caller frees the array). */
struct hub_handoff *hub_handoff_take(size_t *ret_n);

void hub_diag_get(struct hub_diag *ret);
/* The diagnostics as a JSON object (new ref). */
struct json_object *hub_diag_json(const struct hub_diag *d);
/* Min and max serialization time since the last call (ns; 0 when none). */
void hub_serialize_minmax_take(uint64_t *ret_min, uint64_t *ret_max);

/* reader.c */
int reader_start(void);
void reader_stop(void);
/* Block until the reader has rebuilt state from the ring (or stop). */
void reader_wait_primed(void);

/* rest.c */
struct MHD_Daemon;
int rest_start(struct MHD_Daemon **ret);
void rest_stop(struct MHD_Daemon *d);
/* Hand an accepted connection to libmicrohttpd (it owns fd afterwards). */
int rest_add_connection(struct MHD_Daemon *d, int fd);

/* metrics.c: Prometheus text of the state cache and counters (malloc'd). */
char *metrics_render(size_t *ret_len);

/* ws.c */
int ws_run(int listen_fd, struct MHD_Daemon *mhd);
