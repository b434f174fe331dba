/*
 * rest.h — REST, /api/clients and /metrics on libmicrohttpd (rest.c).
 *
 * Process: ringhub. libmicrohttpd runs its own epoll thread without a listening socket:
 * the port gate (gate.c) hands it every connection that is not a WebSocket upgrade.
 */
#pragma once

struct MHD_Daemon;

int rest_start(struct MHD_Daemon **ret);
void rest_stop(struct MHD_Daemon *d);
/* Hand an accepted connection to libmicrohttpd (it owns fd afterwards). */
int rest_add_connection(struct MHD_Daemon *d, int fd);
