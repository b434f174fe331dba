/*
 * client.h — one WebSocket client, whatever its dialect: the one struct every room of the
 * WebSocket half shares, its lifetime, the per-dialect client lists and the registry
 * behind GET /api/clients.
 *
 * Process: ringhub. A client lives on the lws thread: created and freed by the session,
 * fed by the fan-out. Each field group below belongs to one file, which alone writes it;
 * dialects read a client only through the accessors (their own state is client_priv()).
 * The registry of {uuid, ip} is also read by the mhd thread, under its own lock.
 */
#pragma once

#include <json-c/json.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth.h"
#include "hub.h"
#include "jsonfmt.h"
#include "topic.h"
#include "timers.h"

struct dialect;

struct hub_client {
        /* client.c: identity, lists, lifetime (wsi: eio_poll.c's on a polling client) */
        struct lws *wsi;
        const struct dialect *d;
        unsigned di; /* index in hub_dialects[] */
        uint64_t id;
        char uuid[JSONFMT_UUID_LEN + 1];
        char ip[INET6_ADDRSTRLEN];
        struct hub_client *prev, *next; /* clients of the same dialect (lws thread) */
        struct hub_client *reg_next;    /* the registry (reg_lock) */
        bool closing;                   /* client_close() called: deliver nothing more */
        uint16_t close_code;
        char close_reason[64];

        /* eio_poll.c: a client on Engine.IO's long-polling transport rather than a
         * WebSocket. kick() is called (lws thread) when frames are queued or the client
         * closes; wsi is then the poll request waiting for frames, or NULL. NULL on a
         * WebSocket client. */
        void (*kick)(struct hub_client *c);
        void *transport;
        /* session.c: a WebSocket that probes to take this client over (the upgrade) */
        struct lws *probe;

        /* session.c: authentication (role is AUTH_ROLE_ADMIN when auth is off) and
         * inbound messages */
        bool authed;
        enum auth_role role;
        char sub[AUTH_SUB_MAX];
        bool has_ident;             /* authenticated with a token (not auth off) */
        struct auth_identity ident; /* that token's identity, re-checked on reload */
        const char *auth_why;       /* why the upgrade's token was refused (static text) */
        struct rate_limit in_rl;
        uint64_t excess_window_ns;
        unsigned excess;
        char *rx;
        size_t rx_len, rx_cap;
        unsigned rx_frames;     /* frames of the message being received */
        uint64_t rx_started_ns; /* when its first frame came */
        struct htimer exp_tm;   /* the token's exp: closes the client */
        struct htimer auth_tm;  /* in-band auth deadline (auth_timeout_secs) */

        /* fanout.c: the queue of shared frames, conflation, the events/s cap and the
         * per-topic rate holds */
        struct hub_msg **q;
        unsigned q_head, q_len, q_cap;
        /* Absolute position (messages ever queued) of the queue head, and per topic 1 + the
         * absolute position of its newest queued state message: conflation is O(1). */
        uint64_t q_head_abs;
        uint64_t state_pos[HUB_T_MAX];
        bool write_pending;
        /* adaptive coalescing: when the last write went out, and the list of clients
         * whose write waits (until coal_until_ns) for more frames to join it */
        uint64_t last_write_ns, coal_until_ns;
        struct hub_client *coal_prev, *coal_next;
        uint8_t coal_list; /* which list it is on (fanout.c), 0: none */
        uint64_t stalled_since;
        struct rate_limit out_rl;
        struct rate_limit topic_rl[HUB_T_MAX];
        struct hub_msg *held[HUB_T_MAX];
        unsigned n_held;
        uint64_t dropped;
        struct htimer hold_tm;

        /* client.c: the topics the dialect said the client wants when last asked
         * (client_sync_wants()), counted per dialect and topic for the publish path */
        uint64_t wants_mask[(HUB_T_MAX + 63) / 64];
        /* the dialect's own state: priv_size bytes, zeroed */
        _Alignas(16) uint8_t priv[];
};

/* ---- lifetime (session.c) ---- */
/* A new client of dialect d (index di) on wsi (a WebSocket, or the polling transport's
 * first request), listed and counted; NULL on ENOMEM. */
struct hub_client *client_new(struct lws *wsi, const struct dialect *d, unsigned di);
/* Unlist and free (its queue's references are dropped). */
void client_free(struct hub_client *c);
/* Close with a WebSocket close code and a short reason (sent when the socket allows):
 * nothing more is queued, the queue is dropped. */
void client_close(struct hub_client *c, int code, const char *reason);
/* Close every client (shutdown). */
void client_close_all(int code, const char *reason);

/* ---- lists and counts ---- */
/* lws thread: the first client of dialect di (then c->next). */
struct hub_client *client_first(unsigned di);
/* Any thread: clients now, in all dialects or in dialect di. */
unsigned client_count(void);
unsigned client_count_dialect(unsigned di);
/*
 * Subscriptions as the publish path sees them: per dialect and topic, how many clients
 * want it (the dialect's wants(); all topics without one). The lws thread asks again
 * wherever a client's subscriptions may change (after its dialect's on_open and on_text,
 * before its latest state of a topic is read) and when it goes; publishing threads read
 * the counts (relaxed: a frame not rendered for a topic nobody wanted is made from the
 * state cache when someone wants it, see events.c). client_sync_want() asks for one
 * topic and returns the answer.
 */
void client_sync_wants(struct hub_client *c);
bool client_sync_want(struct hub_client *c, unsigned topic);
/* Any thread: clients of dialect di that want topic (seq_cst: pairs with a publisher
 * that marks the topic skipped and then looks again). */
unsigned client_count_topic(unsigned di, unsigned topic);
/* Any thread: {uuid: ip} of every client (GET /api/clients), a new object. */
json_object *client_list_json(void);

/* ---- accessors for dialects ---- */
void *client_priv(struct hub_client *c);
struct lws *client_wsi(struct hub_client *c);
/* The lws context the client's timers run on (also while it has no connection). */
struct lws_context *client_context(const struct hub_client *c);
/* Is the client on Engine.IO's polling transport (not a WebSocket)? */
bool client_polling(const struct hub_client *c);
uint64_t client_id(const struct hub_client *c);
const char *client_uuid(const struct hub_client *c);
const char *client_ip(const struct hub_client *c);
bool client_authed(const struct hub_client *c);
enum auth_role client_role(const struct hub_client *c);
/* The token's subject ("" when none). */
const char *client_sub(const struct hub_client *c);
/* Why the upgrade's token was refused (NULL when it was not). */
const char *client_auth_why(const struct hub_client *c);
bool client_closing(const struct hub_client *c);
/* The dialect of a client and its index in hub_dialects[]. */
const struct dialect *client_dialect(const struct hub_client *c, unsigned *ret_index);
