/*
 * dialect.h — the interface one WebSocket dialect implements (one file per dialect).
 *
 * Process: ringhub. A dialect is a `const struct dialect` listed in dialects.c. It says
 * what it needs from the hub through its flags and optional hooks; nothing in the hub
 * recognises a dialect by its address. Two sides, two threads:
 *   render()   any publishing thread (events.c): turn one event into this dialect's
 *              frame, serializing at most once (reuse ev->json when the dialect's data
 *              equals the canonical JSON); the fan-out sends the same bytes to every
 *              client of the dialect.
 *   on_*()     lws thread: per-client behaviour (welcome, snapshot, subscriptions,
 *              inbound messages). They use client.h's accessors, fanout.h (queue a frame
 *              or a reply), session.h (authenticate, roles), events.h (publish an event)
 *              and lws calls on client_wsi(); never block, never touch the ring.
 * The session applies the inbound size and rate limits before on_text(). A dialect never
 * encodes JSON per client for events; per-client replies to requests are fine.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hub.h"

struct hub_client;
struct lws;

enum dialect_flag {
        /* The client may authenticate after the upgrade in the dialect's own protocol (an
         * auth message, Socket.IO's connect packet): with auth on, an upgrade without a
         * valid token is let in unauthenticated rather than closed. */
        DIALECT_AUTH_IN_BAND = 1u << 0,
        /* render() keeps history that a later client's snapshot needs (Socket.IO's tag
         * buffers): render every event even while the dialect has no client. Without it
         * events that are not state are not rendered for a dialect with no client. */
        DIALECT_RENDER_ALWAYS = 1u << 1,
        /* A plain GET/POST of the dialect's path is Engine.IO's polling transport
         * (eio_poll.c), not a 426: the gate hands it to lws. */
        DIALECT_EIO_POLLING = 1u << 2,
};

struct dialect {
        const char *name; /* "unraid" */
        const char *path; /* request path of the WebSocket upgrade ("/api/v1/ws") */
        size_t priv_size; /* per-client private state, zeroed */
        unsigned flags;   /* DIALECT_* */

        /* The frame for ev (HUB_MSG_STATE set for snapshot-able state), or NULL when this
         * dialect does not carry the topic. */
        struct hub_msg *(*render)(const struct hub_event *ev);

        /* lws thread. 0, or a WebSocket close code (1000-4999) to close the client. */
        int (*on_open)(struct hub_client *c);
        int (*on_text)(struct hub_client *c, const char *msg, size_t len);
        /* Does the client want frames of this topic? NULL = all. The hub renders a topic
         * for a dialect only while some client of it wants the topic (client.h counts). */
        bool (*wants)(struct hub_client *c, unsigned topic);
        /* Optional, any thread: does render() of this topic feed the dialect's frames of
         * other topics (a summary borrows from it, a frame of another topic is derived from
         * it)? Such a topic is rendered whenever the dialect has a client, wanted or not. */
        bool (*feeds)(unsigned topic);
        void (*on_close)(struct hub_client *c);
        /* Optional: take a frame the client wants instead of fanout_send() (per-client rate
         * holds, per-subscription wrapping). NULL = fanout_send(). */
        void (*deliver)(struct hub_client *c, struct hub_msg *m);
        /* Optional: the client is over the inbound rate limit (the session drops the
         * excess); called at most once a second while it stays over, to tell the client in
         * the dialect's words. NULL: the dialect has no way to say so; the excess is
         * dropped silently and abuse closes the client at once as a bad frame. */
        void (*rate_limited)(struct hub_client *c);
        /* Optional, lws thread: does this WebSocket upgrade name a client that exists on
         * another transport (Engine.IO's sid)? 0: no, a new client; 1: yes, *ret (the
         * WebSocket then probes); -1: it names one that is gone (refused). */
        int (*join)(struct lws *wsi, struct hub_client **ret);
        /* Optional, lws thread: a message on a probing WebSocket. *ret_reply: static text
         * to answer on it. 0: go on probing (or the switch is deferred: the dialect calls
         * session_switched() when it is done); 1: the client was switched over to wsi; -1:
         * close the probe. Called with wsi NULL when the probe went away. */
        int (*on_probe)(struct hub_client *c, struct lws *wsi, const char *msg, size_t len,
                        const char **ret_reply);
};
