/*
 * docker_control.c — container control in ringhub-collect-docker: start, stop, restart,
 * pause, unpause.
 *
 * Runs in the docker collector's process. The event loop checks a command and queues it
 * for the worker thread (collector_worker.c), which finds the container in the engine's
 * list (full id, name, then unique id prefix, as `docker` itself resolves them: the id
 * found is all that goes into the URL), POSTs the action on a connection of its own and
 * maps the answer to a CMD_* status. The worker never touches the collector and never
 * logs; the answer is written, and the list run early, back on the event loop.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "docker_int.h"
#include "collector_worker.h"
#include "http_unix.h"
#include "log.h"
#include "macros.h"
#include "util.h"

#define DOCKER_STOP_TIMEOUT_S 10   /* stop/restart: SIGKILL after this, unless args say */
#define DOCKER_LOOKUP_MS      5000 /* finding the container: no answer by then is "down" */
#define DOCKER_ACTION_SLACK_S 60   /* an action's answer, beyond its stop timeout */

struct docker_worker {
        struct http_unix http;
        char socket[108];
        int cancel_fd; /* readable: cut a request short (the collector stops) */
};

static bool docker_action(const char *a)
{
        static const char *const actions[] = { "start", "stop", "restart", "pause", "unpause" };
        for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                if (strcmp(a, actions[i]) == 0)
                        return true;
        return false;
}

static bool has_name(json_object *ctr, const char *name)
{
        json_object *names = docker_jget(ctr, "Names");
        size_t n = names && json_object_is_type(names, json_type_array)
                       ? json_object_array_length(names)
                       : 0;
        if (*name == '/')
                name++;
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(names, i);
                const char *s =
                    json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
                if (strcmp(*s == '/' ? s + 1 : s, name) == 0)
                        return true;
        }
        return false;
}

/* The container target names: full id, then name, then unique id prefix. NULL: none
 * (*ambiguous set when a prefix fits several). */
static json_object *find_container(json_object *list, const char *target, unsigned *ambiguous)
{
        size_t n = json_object_array_length(list);
        json_object *by_prefix = NULL;
        bool hex = target[strspn(target, "0123456789abcdef")] == 0;

        *ambiguous = 0;
        for (size_t i = 0; i < n; i++) {
                const char *id = docker_jstr(json_object_array_get_idx(list, i), "Id");
                if (id && strcmp(id, target) == 0)
                        return json_object_array_get_idx(list, i);
        }
        for (size_t i = 0; i < n; i++)
                if (has_name(json_object_array_get_idx(list, i), target))
                        return json_object_array_get_idx(list, i);
        for (size_t i = 0; hex && i < n; i++) {
                const char *id = docker_jstr(json_object_array_get_idx(list, i), "Id");
                if (id && startswith(id, target)) {
                        by_prefix = json_object_array_get_idx(list, i);
                        (*ambiguous)++;
                }
        }
        if (*ambiguous > 1)
                return NULL;
        *ambiguous = 0;
        return by_prefix;
}

/* The engine's own words from an error answer, else the HTTP status. */
static void engine_message(const struct http_unix *h, int code, char *out, size_t size)
{
        _cleanup_json_ json_object *o = NULL;
        const char *m = docker_body_json(h, &o) == 0 ? docker_jstr(o, "message") : NULL;
        if (m && *m)
                snprintf(out, size, "engine: %s", m);
        else
                snprintf(out, size, "engine answered HTTP status %d", code);
}

/* Podman answers 500 "container state improper" where Docker answers 409. */
static bool state_improper(const struct http_unix *h)
{
        _cleanup_json_ json_object *o = NULL;
        const char *cause = docker_body_json(h, &o) == 0 ? docker_jstr(o, "cause") : NULL;
        return cause && strcmp(cause, "container state improper") == 0;
}

static void job_answer(struct collector_job *job, const char *status, const char *fmt, ...)
    _printf_(3, 4);
static void job_answer(struct collector_job *job, const char *status, const char *fmt, ...)
{
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(job->message, sizeof(job->message), fmt, ap);
        va_end(ap);
        job->status = status;
}

/* On the worker thread. */
static void docker_work(void *userdata, struct collector_job *job)
{
        struct docker_worker *w = userdata;
        const char *action = job->cmd.action, *target = job->cmd.target;
        _cleanup_json_ json_object *list = NULL;
        char msg[200], path[160];
        unsigned ambiguous;

        job->no_refresh = true;
        int code = http_unix_get(&w->http, "/containers/json?all=1",
                                 mono_ns() + DOCKER_LOOKUP_MS * NSEC_PER_MSEC);
        if (code < 0) {
                /* Unreachable, or no (whole) answer in time; garbage is the engine's failure. */
                bool garbage =
                    code == -EBADMSG || code == -E2BIG || code == -EFBIG || code == -ENOMEM;
                job_answer(job, garbage ? CMD_FAILED : CMD_CONNECTION_ERROR, "engine at %.60s: %s",
                           w->socket, w->http.error);
                goto out;
        }
        if (code != 200) {
                engine_message(&w->http, code, msg, sizeof(msg));
                job_answer(job, CMD_FAILED, "listing containers: %s", msg);
                goto out;
        }
        if (docker_body_json(&w->http, &list) < 0 || !json_object_is_type(list, json_type_array)) {
                job_answer(job, CMD_FAILED, "engine: the container list is not a JSON list");
                goto out;
        }
        json_object *ctr = find_container(list, target, &ambiguous);
        const char *id = docker_jstr(ctr, "Id"), *state = docker_jstr(ctr, "State");
        if (ambiguous) {
                job_answer(job, CMD_INVALID, "id prefix '%s' fits %u containers", target,
                           ambiguous);
                goto out;
        }
        if (!ctr || !id || strspn(id, "0123456789abcdef") < 12 || strlen(id) > 64) {
                job_answer(job, CMD_NOT_FOUND, "no container '%s'", target);
                goto out;
        }
        if (!state)
                state = "";
        char short_id[13];
        strscpy(short_id, sizeof(short_id), id);
        collector_job_set_data(job, "id", short_id, "name", docker_first_name(ctr));
        if (strcmp(action, "pause") == 0 && strcmp(state, "paused") == 0) {
                job_answer(job, CMD_CONFLICT, "already paused");
                goto out;
        }
        if (strcmp(action, "pause") == 0 && strcmp(state, "running") != 0) {
                job_answer(job, CMD_CONFLICT, "not running (%s)", state);
                goto out;
        }
        if (strcmp(action, "unpause") == 0 && strcmp(state, "paused") != 0) {
                job_answer(job, CMD_CONFLICT, "not paused (%s)", state);
                goto out;
        }

        bool timed = strcmp(action, "stop") == 0 || strcmp(action, "restart") == 0;
        if (timed)
                snprintf(path, sizeof(path), "/containers/%s/%s?t=%ld", id, action, job->param);
        else
                snprintf(path, sizeof(path), "/containers/%s/%s", id, action);
        uint64_t budget_s = (uint64_t)(timed ? job->param : 0) + DOCKER_ACTION_SLACK_S;
        code = http_unix_post(&w->http, path, mono_ns() + budget_s * NSEC_PER_SEC);
        job->no_refresh = false;
        if (code == -ECANCELED)
                job_answer(job, CMD_FAILED, "collector stopping");
        else if (code < 0)
                job_answer(job,
                           code == -EBADMSG || code == -E2BIG || code == -EFBIG
                               ? CMD_FAILED
                               : CMD_CONNECTION_ERROR,
                           "engine at %.60s: %s", w->socket, w->http.error);
        else if (code >= 200 && code < 300)
                job_answer(job, CMD_OK, "%s", action);
        else if (code == 304)
                job_answer(job, CMD_CONFLICT, "%s",
                           strcmp(action, "start") == 0  ? "already running"
                           : strcmp(action, "stop") == 0 ? "already stopped"
                                                         : "nothing to do");
        else {
                engine_message(&w->http, code, msg, sizeof(msg));
                job_answer(job,
                           code == 404 ? CMD_NOT_FOUND
                           : code == 409 || (code == 500 && state_improper(&w->http)) ? CMD_CONFLICT
                                                                                      : CMD_FAILED,
                           "%s", msg);
        }
out:
        http_unix_close(&w->http);
        http_unix_trim(&w->http, 64 << 10);
}

static void docker_work_cancel(void *userdata)
{
        struct docker_worker *w = userdata;
        uint64_t one = 1;
        if (write(w->cancel_fd, &one, sizeof(one)) < 0) {
                /* cannot fail on an eventfd short of overflow */
        }
}

static void docker_work_free(void *userdata)
{
        struct docker_worker *w = userdata;
        http_unix_done(&w->http);
        if (w->cancel_fd >= 0)
                close(w->cancel_fd);
        free(w);
}

static const struct collector_worker_ops docker_worker_ops = {
        .run = docker_work,
        .cancel = docker_work_cancel,
        .free = docker_work_free,
};

static int docker_worker_start(struct collector *c, const char *socket,
                               struct collector_worker **ret)
{
        struct docker_worker *w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        strscpy(w->socket, sizeof(w->socket), socket);
        http_unix_init(&w->http, w->socket, "ringhub-collect-docker", DOCKER_BODY_MAX);
        w->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = w->cancel_fd < 0 ? -errno : 0;
        w->http.cancel_fd = w->cancel_fd;
        if (r >= 0)
                r = collector_worker_new(c, &docker_worker_ops, w, ret);
        if (r < 0)
                docker_work_free(w);
        return r;
}

/* args: "" or {"timeout": S} (stop and restart; 0…3600, default 10). */
static int parse_args(const struct collector_command *cmd, long *ret_timeout, char *why,
                      size_t size)
{
        *ret_timeout = DOCKER_STOP_TIMEOUT_S;
        if (!cmd->args[0])
                return 0;
        _cleanup_json_ json_object *a = json_tokener_parse(cmd->args);
        if (!a || !json_object_is_type(a, json_type_object)) {
                snprintf(why, size, "args must be a JSON object");
                return -EINVAL;
        }
        json_object *t = docker_jget(a, "timeout");
        if (!t)
                return 0;
        int64_t v = json_object_get_int64(t);
        if (!json_object_is_type(t, json_type_int) || v < 0 || v > 3600) {
                snprintf(why, size, "timeout must be a number of seconds (0…3600)");
                return -EINVAL;
        }
        *ret_timeout = (long)v;
        return 0;
}

int docker_control_command(struct collector *c, const char *socket,
                           struct collector_worker **worker, const struct collector_command *cmd)
{
        char why[100];
        long timeout;

        if (!docker_action(cmd->action))
                return 1; /* refresh, ping, unknown: the skeleton's */
        if (!cmd->target[0])
                return collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                               "%s needs a container id or name", cmd->action);
        if (parse_args(cmd, &timeout, why, sizeof(why)) < 0)
                return collector_command_reply(c, cmd, CMD_INVALID, NULL, "%s", why);
        if (!*worker) {
                int r = docker_worker_start(c, socket, worker);
                if (r < 0)
                        return log_error_errno(r, "cannot start the command worker: %m");
        }
        struct collector_job job = { .cmd = *cmd, .param = timeout };
        return collector_worker_submit(*worker, &job);
}
