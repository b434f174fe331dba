/*
 * eio_poll.h — Engine.IO v4's HTTP long-polling transport (GET/POST
 * /socket.io/?EIO=4&transport=polling[&sid=…]) and its upgrade to a WebSocket, for the
 * dialects flagged DIALECT_EIO_POLLING (Socket.IO).
 *
 * Process: ringhub, lws thread. The gate hands a plain (not upgrade) request for such a
 * dialect's path to lws; this module's protocol is protocols[0] of the vhost: it answers
 * the HTTP requests and hands every WebSocket reason to session.c. A polling session is a
 * hub_client like any other (the client limit, /api/clients, metrics, auth, the fan-out
 * queue); its frames wait in the queue for the next poll, one poll may wait for frames
 * (never blocking the thread). See docs/wire-socketio.md.
 */
#pragma once

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct hub_client;

/* protocols[0]: Engine.IO polling over HTTP, every other reason to session_callback(). */
void eio_poll_protocol(struct lws_protocols *ret);
/* Is there a polling session with this sid (the gate, before an upgrade)? */
bool eio_poll_known(const char *sid);
/* The dialect's join() and on_probe() hooks (dialect.h): the upgrade of a polling session
 * named by the WebSocket's ?sid=, and its probe (2probe → 3probe, then 5 switches). */
int eio_poll_join(struct lws *wsi, struct hub_client **ret);
int eio_poll_probe(struct hub_client *c, struct lws *wsi, const char *msg, size_t len,
                   const char **ret_reply);
/* The Engine.IO sid of a polling client; NULL for a WebSocket client. */
const char *eio_poll_sid(const struct hub_client *c);
/* End every polling session (loop exit, before the lws context goes). */
void eio_poll_free(void);
