/*
 * gate.h — the port gate: peek at each new connection on the hub's one port and route it
 * to libwebsockets (a WebSocket upgrade on a dialect's path) or libmicrohttpd.
 *
 * Process: ringhub, lws thread. The loop (loop.c) nests the listening socket and the
 * gate's epoll fd into lws and calls gate_accept() / gate_events() when they are ready.
 */
#pragma once

#include <libwebsockets.h>

struct MHD_Daemon;

/* Set up the gate for the listening socket lfd (the loop keeps owning it). Returns the
 * gate's epoll fd to watch, or -errno. */
int gate_init(struct lws_context *ctx, struct lws_vhost *vh, int lfd, struct MHD_Daemon *mhd);
/* The listening socket is readable: accept what is waiting. */
void gate_accept(void);
/* The gate's epoll fd is readable: peek at the connections that have bytes. */
void gate_events(void);
/* Close the connections still waiting for their head, and the gate's fds. */
void gate_free(void);
