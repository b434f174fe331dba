/*
 * session.h — a WebSocket client's session: open, receive, close, authentication and
 * the inbound limits, for every dialect.
 *
 * Process: ringhub, lws thread (session_client_event() from any thread). The session
 * is the lws protocol "ringhub-ws": it creates the client (client.c) on the upgrade,
 * checks the upgrade's token, lets the dialect open, reassembles inbound messages and
 * applies the size and rate limits before the dialect's on_text(), and on close tells the
 * dialect, the fan-out and everyone else (client_disconnected). Tokens are checked by
 * tokens.c and never logged or kept; log lines name the client, never the token.
 */
#pragma once

#include <libwebsockets.h>
#include <stdbool.h>

#include "auth.h"
#include "client.h"

/* The lws callback of every dialect's WebSocket clients and the size of its per-session
 * data (eio_poll.c's protocol, protocols[0] of the vhost, hands it every reason that is
 * not plain HTTP). */
int session_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                     size_t len);
size_t session_pss_size(void);

/* A new client of dialect d (index di) on wsi: the client limit, the upgrade's token, the
 * dialect's on_open, the client event. kick/transport: a client on another transport than
 * a WebSocket (client.h); NULL for a WebSocket. NULL with errno EBUSY (over the client
 * limit, shutting down) or ENOMEM. The client may already be closing. */
struct hub_client *session_begin(struct lws *wsi, const struct dialect *d, unsigned di,
                                 void (*kick)(struct hub_client *c), void *transport);
/* The client is gone: the dialect, the fan-out, the client event, then freed. */
void session_end(struct hub_client *c);
/* The dialect switched c over to its probing WebSocket (c->probe; on_probe() returned 1
 * or, deferred, later): the WebSocket is the client's transport now, its queue goes out. */
void session_switched(struct hub_client *c);
/* One inbound message through the rate limit to the dialect: 0, or a close code (a bad
 * message). */
int session_dispatch(struct hub_client *c, const char *msg, size_t len);

/* Check a token for the client; sets its role and closes it when the token expires.
 * 0, or -errno with a loggable *why. */
int session_authenticate(struct hub_client *c, const char *token, const char **why);
/* May the client do something that needs role `need`? (always with auth off) */
/*
 * After the auth settings were reloaded (lws thread): re-check every live session. One
 * that holds no token while auth is now on, or whose API token was removed or JWT secret
 * replaced, is closed with 1008; an API token's changed role applies at once.
 */
void session_recheck_all(void);
bool session_may(const struct hub_client *c, enum auth_role need);

/* Publish a client event (HUB_T_CLIENT_CONNECTED/DISCONNECTED/SYNC) for the client uuid
 * (NULL: "unknown") at ip (NULL: none), from any thread. */
void session_client_event(unsigned topic, const char *uuid, const char *ip);
