/*
 * net.h — connecting a stream socket with a deadline, and waiting on one (net.c).
 *
 * libc only. The one connect helper of the collectors (Docker's and libvirt's UNIX
 * sockets, NUT and apcupsd, the PLCs, OPC UA servers): non-blocking, close-on-exec,
 * every wait a poll() bounded by the caller's deadline (CLOCK_MONOTONIC ns) and woken
 * by an optional cancel_fd, so a peer that never answers costs at most the deadline.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

#define NET_NODELAY   0x1u /* TCP_NODELAY */
#define NET_KEEPALIVE 0x2u /* SO_KEEPALIVE */
#define NET_NOWAIT                                                           \
        0x4u /* return as soon as the connect is under way (the caller polls \
                for POLLOUT and reads SO_ERROR); no deadline */

/* Wait for events on fd until the deadline: 0 (ready, or POLLERR/POLLHUP: the next call
 * tells), -ETIMEDOUT, -ECANCELED (cancel_fd readable; -1: none) or -errno. */
int net_wait_fd(int fd, short events, int cancel_fd, uint64_t deadline_ns);

/* Connect the non-blocking socket fd to sa and wait for the outcome: 0 or -errno
 * (-EAGAIN: a UNIX socket's listen queue is full; -ETIMEDOUT; -ECANCELED). */
int net_connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int cancel_fd,
                   uint64_t deadline_ns);

/* A TCP connection to host:port (names resolved, each address tried until one
 * answers): the fd, or -errno (-EHOSTUNREACH: the name does not resolve). */
int net_connect_tcp(const char *host, const char *port, unsigned flags, int cancel_fd,
                    uint64_t deadline_ns);
