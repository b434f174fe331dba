/*
 * clients.h — what every WebSocket dialect shares about a client: a uuid4 id and the
 * peer's IP (GET/POST /api/clients), authentication and role, the inbound message rate
 * limit, the outbound events/s cap with per-topic rate holds, and client events
 * (client connected/disconnected/sync) rendered once per dialect.
 *
 * Process: ringhub. Per-client calls run on the lws thread; the registry behind
 * /api/clients is read by the libmicrohttpd thread under its own lock. Tokens are
 * checked here and never logged or kept. Nothing here touches the ring.
 */
#pragma once

#include <json-c/json.h>
#include <libwebsockets.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "dialect.h"
#include "hub.h"
#include "topic.h"

#define CLIENTS_UUID_LEN 36

extern const struct dialect dialect_native, dialect_sio, dialect_ledfx;

struct hubc {
        struct hub_client *c;
        unsigned di;
        bool gone; /* closing: deliver nothing more */
        char uuid[CLIENTS_UUID_LEN + 1];
        char ip[INET6_ADDRSTRLEN];
        /* auth: role is AUTH_ROLE_ADMIN when auth is off */
        bool authed;
        enum auth_role role;
        char sub[AUTH_SUB_MAX];
        const char *auth_why; /* why the upgrade's token was refused (static text) */
        /* inbound rate limit */
        struct rate_limit in_rl;
        uint64_t excess_window_ns;
        unsigned excess;
        /* outbound cap and per-topic rate holds */
        struct rate_limit out_rl;
        struct rate_limit topic_rl[HUB_T_MAX];
        struct hub_msg *held[HUB_T_MAX];
        unsigned n_held;
        uint64_t dropped;
        lws_sorted_usec_list_t sul;
        lws_sorted_usec_list_t exp_sul; /* the token's exp: closes the client */
        struct hubc *next;              /* registry */
};

int clients_init(void);
/* Re-read the token file and JWT secret named in hub.opt (any thread; a failure keeps
 * the old settings). For SIGHUP / reload. */
int clients_reload(void);
void clients_free(void);
bool clients_auth_mode_valid(const char *mode);
bool clients_auth_on(void);

/* ws.c hooks (lws thread): a client was accepted / has been welcomed / is going away.
 * clients_open() returns 0, or a negative value after closing the client itself. */
int clients_open(struct hub_client *c);
void clients_opened(struct hub_client *c);
void clients_close(struct hub_client *c);
struct hubc *clients_get(struct hub_client *c);

/* Check a token for the client; sets its role. 0, or -errno with a loggable *why. */
int clients_authenticate(struct hubc *h, const char *token, const char **why);
/* May the client do something that needs role `need`? (always with auth off) */
bool clients_may(const struct hubc *h, enum auth_role need);

/*
 * Count one inbound message. 0: go on; 1: over the limit, drop it (and when *ret_notify,
 * tell the client once: WS-003); -1: abuse, the caller closes the client.
 */
int clients_inbound(struct hubc *h, bool *ret_notify);

/* ws.c: the inbound rate limit for dialects without their own (Unraid): 0 go on, -1 drop
 * the message, or a close code on abuse. */
int clients_gate(struct hub_client *c);

/* Queue a frame through the events/s cap and the topic's rate (a state frame over
 * either is held, latest wins, and released by a timer). */
void clients_deliver(struct hubc *h, struct hub_msg *m);
/* Forget a frame of the topic still waiting for this client (it unsubscribed). */
void clients_drop_held(struct hubc *h, unsigned topic);
/* At most hz frames per second of a topic to this client (0 = unlimited). */
void clients_set_topic_rate(struct hubc *h, unsigned topic, double hz);

/* A client event (HUB_T_CLIENT_*), rendered in every dialect: fanned out at once on the
 * lws thread (local) or handed to it from another thread. */
void clients_event(unsigned topic, const char *uuid, const char *ip, bool local);

/* REST hook for rest.c: handles /api/clients and the Authorization check; true when it
 * answered (*ret is the result). */
bool clients_rest(struct MHD_Connection *conn, const char *url, const char *method,
                  const char *upload, size_t *upload_size, void **req_cls, enum MHD_Result *ret);
void clients_rest_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                            enum MHD_RequestTerminationCode toe);

/* ---- small helpers shared by the dialects ---- */
/* Parse exactly one JSON value from msg (NULL when malformed or trailing bytes). */
json_object *clients_parse_json(const char *msg, size_t len);
/* ISO 8601 UTC with milliseconds: 2024-12-19T10:30:00.123Z. Returns the length. */
size_t clients_iso8601(char *buf, size_t size, uint64_t realtime_ns);
int clients_uuid4(char out[CLIENTS_UUID_LEN + 1]);
/* A number as JSON text the way json_double() writes it ("null" when not finite). */
size_t clients_fmt_double(char *buf, size_t size, double v);
/* Serialize o (plain, no slash escapes); the text lives as long as o. */
const char *clients_json_text(json_object *o, size_t *ret_len);
/* Send a per-client reply built with json-c (puts o). */
void clients_reply(struct hub_client *c, json_object *o);
