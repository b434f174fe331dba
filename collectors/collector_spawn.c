/*
 * collector_spawn.c — see collector_spawn.h: a helper program's stdout with a deadline,
 * and record text that is visibly cut when it does not fit. Skeleton library; no logging,
 * no ring access; safe on any thread (no shared state).
 */
#include "collector_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "macros.h"
#include "util.h"

extern char **environ;

static int spawn_child(char *const argv[], int out_fd, pid_t *ret_pid)
{
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
        posix_spawnattr_init(&at);
        sigset_t none, dfl;
        sigemptyset(&none);
        sigfillset(&dfl);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setsigdefault(&at, &dfl);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                          POSIX_SPAWN_SETPGROUP);
        int r = strchr(argv[0], '/') ? posix_spawn(ret_pid, argv[0], &fa, &at, argv, environ)
                                     : posix_spawnp(ret_pid, argv[0], &fa, &at, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);
        return -r;
}

int collector_spawn_read(char *const argv[], char *out, size_t size, uint64_t timeout_ms,
                         bool *ret_overflow)
{
        return collector_spawn_read_cancel(argv, out, size, timeout_ms, ret_overflow, NULL, NULL);
}

int collector_spawn_read_cancel(char *const argv[], char *out, size_t size, uint64_t timeout_ms,
                                bool *ret_overflow, bool (*cancel)(void *userdata), void *userdata)
{
        if (!argv || !argv[0] || !out || size == 0)
                return -EINVAL;
        int pfd[2];
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid;
        int r = spawn_child(argv, pfd[1], &pid);
        close(pfd[1]);
        if (r < 0) {
                close(pfd[0]);
                return r;
        }
        size_t o = 0;
        bool timed_out = false, overflow = false;
        uint64_t deadline = mono_ns() + timeout_ms * NSEC_PER_MSEC;
        for (;;) {
                uint64_t now = mono_ns();
                if (now >= deadline || (cancel && cancel(userdata))) {
                        timed_out = true;
                        break;
                }
                struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
                int k = poll(&pf, 1, (int)MIN((deadline - now) / NSEC_PER_MSEC + 1, 100u));
                if (k < 0 && errno != EINTR)
                        break;
                if (k <= 0)
                        continue;
                char tmp[4096];
                ssize_t n = read(pfd[0], tmp, sizeof(tmp));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                size_t take = MIN((size_t)n, size - 1 - o);
                overflow |= take < (size_t)n;
                memcpy(out + o, tmp, take);
                o += take;
        }
        out[o] = 0;
        close(pfd[0]);
        if (timed_out) {
                kill(-pid, SIGKILL);
                kill(pid, SIGKILL);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
        if (ret_overflow)
                *ret_overflow = overflow;
        if (timed_out)
                return -ETIME;
        if (WIFSIGNALED(st))
                return -ECHILD;
        return WEXITSTATUS(st);
}

bool collector_copy_text(char *dst, size_t size, const char *src)
{
        static const char ellipsis[] = "\xe2\x80\xa6";
        if (!strscpy(dst, size, src))
                return false;
        if (size < sizeof(ellipsis)) {
                memset(dst, 0, size);
                return true;
        }
        size_t cut = size - sizeof(ellipsis);
        while (cut > 0 && ((unsigned char)dst[cut] & 0xc0) == 0x80)
                cut--; /* never split a UTF-8 sequence */
        memcpy(dst + cut, ellipsis, sizeof(ellipsis));
        memset(dst + cut + sizeof(ellipsis), 0, size - cut - sizeof(ellipsis));
        return true;
}
