/*
 * dialect.h — the interface one WebSocket dialect implements (one file per dialect).
 *
 * Process: ringhub. A dialect is a `const struct dialect` listed in dialects[] (ws.c).
 * Two sides, two threads:
 *   render()   reader thread: turn one event into this dialect's frame, serializing at
 *              most once (reuse ev->json when the dialect's data equals the canonical
 *              JSON); the core fans the same bytes out to every client of the dialect.
 *   on_*()     lws thread: per-client behaviour (welcome, snapshot, subscriptions,
 *              inbound messages). They may only use the hub_client_*() calls below
 *              and lws calls on hub_client_wsi(); never block, never touch the ring.
 * A dialect never encodes JSON per client for events; per-client replies to requests
 * are fine.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

/* One state change, as the core hands it to every dialect's render(). */
struct hub_event {
        unsigned topic;     /* record type id, HUB_T_COLLECTOR or HUB_T_DIAG */
        const char *name;   /* core topic name: record name, "collector", "hub_diag" */
        bool state;         /* data is the topic's full state (snapshot-able) */
        uint64_t ts_ns;     /* realtime of the event */
        uint64_t rec_ts_ns; /* realtime of the newest record behind it (latency) */
        json_object *data;  /* object (SINGLE, KEYED entity, pseudo topics) or array (LIST) */
        const char *json;   /* data serialized once, Unraid-typed (RJ_SEED_TYPED|RJ_ALIASES) */
        size_t json_len;
};

struct hub_client;

struct dialect {
        const char *name; /* "unraid" */
        const char *path; /* request path of the WebSocket upgrade ("/api/v1/ws") */
        size_t priv_size; /* per-client private state, zeroed */

        /* Reader thread. The frame for ev (HUB_MSG_STATE set for snapshot-able state),
         * or NULL when this dialect does not carry the topic. */
        struct hub_msg *(*render)(const struct hub_event *ev);

        /* lws thread. 0, or a WebSocket close code (1000-4999) to close the client. */
        int (*on_open)(struct hub_client *c);
        int (*on_text)(struct hub_client *c, const char *msg, size_t len);
        /* Does the client want frames of this topic? NULL = all. */
        bool (*wants)(struct hub_client *c, unsigned topic);
        void (*on_close)(struct hub_client *c);
        /* Optional: take a frame the client wants instead of hub_client_send() (per-client
         * rate holds, per-subscription wrapping). NULL = hub_client_send(). */
        void (*deliver)(struct hub_client *c, struct hub_msg *m);
};

/* ---- for dialects (lws thread only) ---- */
void *hub_client_priv(struct hub_client *c);
struct lws *hub_client_wsi(struct hub_client *c);
uint64_t hub_client_id(const struct hub_client *c);
/* Queue a frame (takes a new ref). Applies the queue limit and conflation. */
void hub_client_send(struct hub_client *c, struct hub_msg *m);
/* Queue the latest state frame of every topic the client wants (snapshot on connect). */
void hub_client_snapshot(struct hub_client *c);
/* Close with a WebSocket close code and a short reason (sent when the socket allows). */
void hub_client_close(struct hub_client *c, int code, const char *reason);

/* The dialect of a client and its index in hub_dialects[]. */
const struct dialect *hub_client_dialect(const struct hub_client *c, unsigned *ret_index);
/* One pointer of per-client state for clients.c (uuid, peer, role, limits). */
void **hub_client_ext(struct hub_client *c);
/* The latest state frame of a topic in the client's dialect (borrowed), or NULL. */
struct hub_msg *hub_client_latest(struct hub_client *c, unsigned topic);
/* lws thread: fan one frame out to every client of dialect d now (wants/deliver apply). */
void hub_broadcast(unsigned d, struct hub_msg *m);

/* Frame a JSON text built per client (a reply); counted as a reply, not an event. */
struct hub_msg *hub_msg_from_json(uint16_t topic, json_object *o);

extern const struct dialect dialect_unraid;

/* Every dialect the hub speaks (dialects.c); index = hub_handoff dialect number. */
extern const struct dialect *const hub_dialects[];
extern const unsigned hub_n_dialects;
