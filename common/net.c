/*
 * net.c — connecting a stream socket with a deadline, and waiting on one (see net.h).
 */
#include "net.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include "macros.h"
#include "util.h"

int net_wait_fd(int fd, short events, int cancel_fd, uint64_t deadline_ns)
{
        for (;;) {
                uint64_t now = mono_ns();
                if (now >= deadline_ns)
                        return -ETIMEDOUT;
                uint64_t ms = (deadline_ns - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;
                struct pollfd p[2] = { { .fd = fd, .events = events },
                                       { .fd = cancel_fd, .events = POLLIN } };
                int n = poll(p, cancel_fd >= 0 ? 2 : 1, (int)MIN(ms, (uint64_t)INT_MAX));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        continue; /* the deadline check above ends it */
                if (cancel_fd >= 0 && p[1].revents)
                        return -ECANCELED;
                if (p[0].revents & POLLNVAL)
                        return -EBADF;
                return 0;
        }
}

static int connect_start(int fd, const struct sockaddr *sa, socklen_t len)
{
        if (connect(fd, sa, len) == 0)
                return 0;
        return errno == EINPROGRESS ? 1 : -errno;
}

static int connect_finish(int fd, int cancel_fd, uint64_t deadline_ns)
{
        int r = net_wait_fd(fd, POLLOUT, cancel_fd, deadline_ns);
        if (r < 0)
                return r;
        int err = 0;
        socklen_t l = sizeof(err);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                return -errno;
        return -err;
}

int net_connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int cancel_fd,
                   uint64_t deadline_ns)
{
        int r = connect_start(fd, sa, len);
        return r <= 0 ? r : connect_finish(fd, cancel_fd, deadline_ns);
}

int net_connect_tcp(const char *host, const char *port, unsigned flags, int cancel_fd,
                    uint64_t deadline_ns)
{
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
        struct addrinfo *res = NULL;
        int r = getaddrinfo(host, port, &hints, &res);
        if (r != 0)
                return r == EAI_SYSTEM && errno ? -errno : -EHOSTUNREACH;
        int last = -EHOSTUNREACH;
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
                int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0) {
                        last = -errno;
                        continue;
                }
                int one = 1;
                if (flags & NET_NODELAY)
                        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                if (flags & NET_KEEPALIVE)
                        (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
                r = connect_start(fd, ai->ai_addr, ai->ai_addrlen);
                if (r > 0 && !(flags & NET_NOWAIT))
                        r = connect_finish(fd, cancel_fd, deadline_ns);
                if (r >= 0) {
                        freeaddrinfo(res);
                        return fd;
                }
                close(fd);
                last = r;
                if (r == -ETIMEDOUT || r == -ECANCELED)
                        break; /* the deadline is the caller's, not per address */
        }
        freeaddrinfo(res);
        return last;
}
