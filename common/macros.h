/*
 * macros.h — small language helpers shared by every ringhub process.
 *
 * Cleanup attributes in the systemd style (_cleanup_close_, _cleanup_free_ …),
 * ELEMENTSOF, TAKE_PTR/TAKE_FD, and branch hints. Header-only; libc only.
 * Nothing here may allocate or log.
 */
#pragma once

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define ELEMENTSOF(x)  (sizeof(x) / sizeof((x)[0]))
#define _cleanup_(f)   __attribute__((cleanup(f)))
#define _unused_       __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x)    __builtin_expect(!!(x), 1)
#define _unlikely_(x)  __builtin_expect(!!(x), 0)
#define ALIGN_TO(x, a) (((x) + ((a)-1)) & ~((typeof(x))(a)-1))
#define MIN(a, b)      ((a) < (b) ? (a) : (b))
#define MAX(a, b)      ((a) > (b) ? (a) : (b))

/* Take ownership: return the value and clear the variable so cleanup skips it. */
#define TAKE_PTR(p)                 \
        ({                          \
                typeof(p) _p = (p); \
                (p) = NULL;         \
                _p;                 \
        })
#define TAKE_FD(fd)             \
        ({                      \
                int _fd = (fd); \
                (fd) = -EBADF;  \
                _fd;            \
        })

static inline void freep(void *p)
{
        free(*(void **)p);
}
static inline void closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}
static inline void fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

#define _cleanup_free_   _cleanup_(freep)
#define _cleanup_close_  _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)

#include <dirent.h>
static inline void closedirp_(DIR **d)
{
        if (*d)
                closedir(*d);
}
