/*
 * rest.h — REST, /api/clients and /metrics on libmicrohttpd (rest.c).
 *
 * Process: ringhub. libmicrohttpd runs its own epoll thread without a listening socket:
 * the port gate (gate.c) hands it every connection that is not a WebSocket upgrade.
 */
#pragma once

#include <sys/socket.h>

struct MHD_Daemon;

int rest_start(struct MHD_Daemon **ret);
void rest_stop(struct MHD_Daemon *d);
/* Hand an accepted connection from `sa` to libmicrohttpd: 0 when it owns fd from now on
 * (also when it failed to take it: -EIO); -EBUSY over http_connections, -EUSERS over
 * http_connections_per_address, and fd is still the caller's to answer and close. */
int rest_add_connection(struct MHD_Daemon *d, int fd, const struct sockaddr *sa, socklen_t sl);
/* Connections libmicrohttpd holds now (the gate's count). */
unsigned rest_connections(void);
