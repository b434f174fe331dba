/*
 * futex.h — the one system call the ring and the mailboxes block in.
 *
 * Shared (not FUTEX_PRIVATE) futexes: the words live in the shared segment and the
 * waiter and waker are different processes.
 */
#pragma once

#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static inline int ring_futex(_Atomic uint32_t *addr, int op, uint32_t val,
                             const struct timespec *ts)
{
        return (int)syscall(SYS_futex, (uint32_t *)addr, op, val, ts, NULL, 0);
}
