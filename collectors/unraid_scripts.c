/*
 * unraid_scripts.c — running a User Scripts script for ringhub-collect-unraid (the command
 * "script-run", POST /api/v1/user-scripts/{name}/execute, admin role, audited by the hub).
 *
 * The name is checked before any path is built (letters, digits, ".", "_", "-", no leading
 * dot, under 64 bytes); the script is <root>/boot/config/plugins/user.scripts/scripts/
 * NAME/script and must be a regular file there (a symlink is refused): nothing outside
 * the User Scripts folder runs. It runs with /bin/bash (the plugin's scripts start with
 * #!/bin/bash and need no execute bit) as this collector's user, on the collector's
 * worker thread (never on the event loop), through the skeleton's spawn: stdin and stderr
 * /dev/null, its own process group, killed with it when the deadline passes — the
 * command's deadline less 2 s, at most SCRIPT_MAX_MS. Its output is read up to
 * SCRIPT_OUT_MAX bytes (the rest is read and dropped); the answer carries the exit code
 * and the output's last line (cut with "…").
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector_spawn.h"
#include "collector_worker.h"
#include "log.h"
#include "macros.h"
#include "unraid_int.h"
#include "util.h"

#define SCRIPT_MAX_MS  300000u /* 5 min */
#define SCRIPT_OUT_MAX 16384
#define SCRIPTS_DIR    "/boot/config/plugins/user.scripts/scripts"

struct script_runner {
        char dir[PATH_MAX]; /* SCRIPTS_DIR under the root */
};

static bool name_ok(const char *name)
{
        size_t n = strlen(name);
        return n > 0 && n < 64 && name[0] != '.' &&
               strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
                   n;
}

/* The last non-empty line of out, cut to fit size with "…". */
static void last_line(char *out, char *dst, size_t size)
{
        size_t n = strlen(out);
        while (n && (out[n - 1] == '\n' || out[n - 1] == '\r'))
                out[--n] = 0;
        char *nl = strrchr(out, '\n');
        (void)collector_copy_text(dst, size, nl ? nl + 1 : out);
}

/* On the worker thread. */
static void run_script(void *ctx, struct collector_job *job)
{
        struct script_runner *r = ctx;
        const char *name = job->cmd.target;
        char path[PATH_MAX];
        struct stat st;
        int n = snprintf(path, sizeof(path), "%s/%s/script", r->dir, name);
        if (n < 0 || (size_t)n >= sizeof(path) || lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                job->status = CMD_NOT_FOUND;
                snprintf(job->message, sizeof(job->message), "no user script '%.64s'", name);
                job->no_refresh = true;
                return;
        }
        uint64_t now = real_ns(), left_ms = 0;
        if (job->cmd.deadline_ns > now + 2 * NSEC_PER_SEC)
                left_ms = (job->cmd.deadline_ns - now) / NSEC_PER_MSEC - 2000;
        uint64_t timeout_ms = MIN(left_ms, (uint64_t)SCRIPT_MAX_MS);
        if (timeout_ms < 1000) {
                job->status = CMD_TIMEOUT;
                snprintf(job->message, sizeof(job->message), "no time left to run '%.64s'", name);
                return;
        }
        _cleanup_free_ char *out = malloc(SCRIPT_OUT_MAX);
        if (!out) {
                job->status = CMD_FAILED;
                snprintf(job->message, sizeof(job->message), "out of memory");
                return;
        }
        char *const argv[] = { (char *)"/bin/bash", path, NULL };
        bool overflow = false;
        int rc = collector_spawn_read(argv, out, SCRIPT_OUT_MAX, timeout_ms, &overflow);
        job->no_refresh = true;
        if (rc == -ETIME) {
                job->status = CMD_TIMEOUT;
                snprintf(job->message, sizeof(job->message), "'%.64s' killed after %" PRIu64 " s",
                         name, timeout_ms / 1000);
                return;
        }
        if (rc < 0) {
                job->status = CMD_FAILED;
                snprintf(job->message, sizeof(job->message), "cannot run '%.64s': %s", name,
                         rc == -ECHILD ? "ended by a signal" : strerror(-rc));
                return;
        }
        char line[100], code[12];
        last_line(out, line, sizeof(line));
        job->status = rc == 0 ? CMD_OK : CMD_FAILED;
        snprintf(job->message, sizeof(job->message), "exit %d: %s", rc, line);
        snprintf(code, sizeof(code), "%d", rc);
        collector_job_set_data(job, "exit_code", code, "output_truncated",
                               overflow ? "true" : "false");
}

static void free_runner(void *ctx)
{
        free(ctx);
}

static const struct collector_worker_ops runner_ops = {
        .run = run_script,
        .free = free_runner,
};

int unraid_script_command(struct collector *c, struct collector_worker **worker,
                          const struct collector_command *cmd)
{
        if (strcmp(cmd->action, "script-run") != 0)
                return 1;
        if (!name_ok(cmd->target))
                return collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                               "not a user script name: '%.64s'", cmd->target);
        if (!*worker) {
                struct script_runner *r = calloc(1, sizeof(*r));
                int k = r ? collector_root_path(c, SCRIPTS_DIR, r->dir, sizeof(r->dir)) : -ENOMEM;
                if (k == 0)
                        k = collector_worker_new(c, &runner_ops, r, worker);
                if (k < 0) {
                        free(r);
                        return collector_command_reply(c, cmd, CMD_FAILED, NULL,
                                                       "cannot start the script worker: %s",
                                                       strerror(-k));
                }
        }
        struct collector_job job = { .cmd = *cmd };
        log_info("running user script '%s' for %s (request %" PRIu64 ")", cmd->target, cmd->origin,
                 cmd->request_id);
        return collector_worker_submit(*worker, &job);
}
