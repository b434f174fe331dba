/*
 * vm_control.c — VM control in ringhub-collect-vm: start, stop, restart, pause, resume,
 * hibernate, force-stop, reset.
 *
 * Runs in the vm collector's process. The event loop checks a command (action, target,
 * confirm; vm.c makes sure libvirt is loaded) and queues it; the worker thread
 * (collector_worker.c) looks the domain up by name or UUID on a read-write connection of
 * its own, checks its state (CONFLICT when it is already there: drivers word this
 * differently, some as internal errors), calls the verb and maps libvirt's error. The
 * connection is kept for the next command and reopened when it dies. For test:/// URIs
 * the driver's state lives in that connection, so the list reads through it from the
 * first command on (and no longer re-reads the node file). The worker never logs.
 */
#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector_worker.h"
#include "log.h"
#include "macros.h"
#include "util.h"
#include "vm_int.h"

/* The table vm.c loaded, set before the worker thread starts; read-only after. */
static const struct virt_api *virt;

enum vm_verb { V_START, V_STOP, V_RESTART, V_PAUSE, V_RESUME, V_HIBERNATE, V_FORCE_STOP, V_RESET };

static const struct vm_action {
        const char *name, *done;
        bool confirm; /* needs args {"confirm": true} */
} vm_actions[] = {
        [V_START] = { "start", "started" },
        [V_STOP] = { "stop", "shutdown requested" },
        [V_RESTART] = { "restart", "reboot requested" },
        [V_PAUSE] = { "pause", "paused" },
        [V_RESUME] = { "resume", "resumed" },
        [V_HIBERNATE] = { "hibernate", "state saved, stopped" },
        [V_FORCE_STOP] = { "force-stop", "destroyed", true },
        [V_RESET] = { "reset", "reset", true },
};

struct vm_worker {
        char uri[96];
        pthread_mutex_t lock; /* conn: the worker replaces it, the list takes references */
        virConnectPtr conn;   /* read-write */
};

virConnectPtr vm_control_conn_ref(struct vm_control *ctl)
{
        struct vm_worker *w = ctl->w;
        virConnectPtr conn = NULL;
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        if (w->conn && virt->virConnectRef(w->conn) == 0)
                conn = w->conn;
        pthread_mutex_unlock(&w->lock);
        return conn;
}

static void vm_worker_drop_conn(struct vm_worker *w)
{
        pthread_mutex_lock(&w->lock);
        virConnectPtr conn = w->conn;
        w->conn = NULL;
        pthread_mutex_unlock(&w->lock);
        if (conn)
                virt->virConnectClose(conn);
}

/* CONFLICT's words when the domain is already where the verb would take it, or NULL. */
static const char *vm_conflict(enum vm_verb v, int st, char *buf, size_t size)
{
        bool off = st == VIR_DOMAIN_SHUTOFF;
        if (st == VIR_DOMAIN_NOSTATE)
                return NULL; /* unknown: let the driver judge */
        switch (v) {
        case V_START:
                if (off)
                        return NULL;
                if (st == VIR_DOMAIN_RUNNING || st == VIR_DOMAIN_BLOCKED)
                        return "already running";
                snprintf(buf, size, "already active (%s)", vm_state_name(st));
                return buf;
        case V_STOP:
        case V_FORCE_STOP:
                return off ? "already stopped" : NULL;
        case V_PAUSE:
                if (st == VIR_DOMAIN_PAUSED)
                        return "already paused";
                return off ? "not running" : NULL;
        case V_RESUME:
                if (st == VIR_DOMAIN_PAUSED)
                        return NULL;
                if (off)
                        return "not running";
                snprintf(buf, size, "not paused (%s)", vm_state_name(st));
                return buf;
        case V_RESTART:
        case V_HIBERNATE:
        case V_RESET:
                return off ? "not running" : NULL;
        }
        return NULL;
}

static int vm_call(enum vm_verb v, virDomainPtr d)
{
        switch (v) {
        case V_START:
                return virt->virDomainCreate(d);
        case V_STOP:
                return virt->virDomainShutdown(d);
        case V_RESTART:
                return virt->virDomainReboot(d, 0);
        case V_PAUSE:
                return virt->virDomainSuspend(d);
        case V_RESUME:
                return virt->virDomainResume(d);
        case V_HIBERNATE:
                return virt->virDomainManagedSave(d, 0);
        case V_FORCE_STOP:
                return virt->virDomainDestroy(d);
        case V_RESET:
                return virt->virDomainReset(d, 0);
        }
        return -1;
}

/* libvirt's last error (this thread's) as an answer. */
static void vm_job_error(struct vm_worker *w, struct collector_job *job, const char *what)
{
        virErrorPtr e = virt->virGetLastError();
        int code = e ? e->code : VIR_ERR_INTERNAL_ERROR;
        const char *status = CMD_FAILED;

        if (!w->conn || virt->virConnectIsAlive(w->conn) != 1) {
                status = CMD_CONNECTION_ERROR;
                vm_worker_drop_conn(w);
        } else if (code == VIR_ERR_NO_DOMAIN)
                status = CMD_NOT_FOUND;
        else if (code == VIR_ERR_OPERATION_INVALID)
                status = CMD_CONFLICT; /* "domain is not running" and the like */
        job->status = status;
        snprintf(job->message, sizeof(job->message), "%s: %s", what, vm_last_error());
}

static bool looks_like_uuid(const char *s)
{
        size_t n = strlen(s);
        return (n == 36 || n == 32) && strspn(s, "0123456789abcdefABCDEF-") == n;
}

/* On the worker thread. */
static void vm_work(void *userdata, struct collector_job *job)
{
        struct vm_worker *w = userdata;
        enum vm_verb v = (enum vm_verb)job->param;
        const char *target = job->cmd.target;
        char buf[64], uuid[VIR_UUID_STRING_BUFLEN] = "";
        int st = VIR_DOMAIN_NOSTATE, reason;

        job->no_refresh = true;
        if (w->conn && virt->virConnectIsAlive(w->conn) != 1)
                vm_worker_drop_conn(w);
        if (!w->conn) {
                virConnectPtr conn = virt->virConnectOpen(w->uri);
                if (!conn) {
                        job->status = CMD_CONNECTION_ERROR;
                        snprintf(job->message, sizeof(job->message), "cannot connect to %s: %s",
                                 w->uri, vm_last_error());
                        return;
                }
                pthread_mutex_lock(&w->lock);
                w->conn = conn;
                pthread_mutex_unlock(&w->lock);
        }
        virDomainPtr d = virt->virDomainLookupByName(w->conn, target);
        if (!d && looks_like_uuid(target)) {
                virErrorPtr e = virt->virGetLastError();
                if (e && e->code == VIR_ERR_NO_DOMAIN)
                        d = virt->virDomainLookupByUUIDString(w->conn, target);
        }
        if (!d) {
                vm_job_error(w, job, "no domain");
                if (strcmp(job->status, CMD_NOT_FOUND) == 0)
                        snprintf(job->message, sizeof(job->message), "no domain '%s'", target);
                return;
        }
        (void)virt->virDomainGetUUIDString(d, uuid);
        const char *name = virt->virDomainGetName(d);
        collector_job_set_data(job, "uuid", uuid, "name", name ? name : "");
        if (virt->virDomainGetState(d, &st, &reason, 0) < 0) {
                vm_job_error(w, job, "cannot read its state");
                goto out;
        }
        const char *conflict = vm_conflict(v, st, buf, sizeof(buf));
        if (conflict) {
                job->status = CMD_CONFLICT;
                strscpy(job->message, sizeof(job->message), conflict);
                goto out;
        }
        job->no_refresh = false;
        if (vm_call(v, d) < 0) {
                vm_job_error(w, job, vm_actions[v].name);
                goto out;
        }
        job->status = CMD_OK;
        strscpy(job->message, sizeof(job->message), vm_actions[v].done);
out:
        virt->virDomainFree(d);
}

static void vm_work_free(void *userdata)
{
        struct vm_worker *w = userdata;
        vm_worker_drop_conn(w);
        pthread_mutex_destroy(&w->lock);
        free(w);
}

/* No cancel: a libvirt call cannot be cut short (SIGTERM waits COLLECTOR_WORKER_JOIN_MS). */
static const struct collector_worker_ops vm_worker_ops = {
        .run = vm_work,
        .free = vm_work_free,
};

/* args: "" or a JSON object; force-stop and reset need {"confirm": true}. */
static bool confirmed(const struct collector_command *cmd, bool *ret_bad)
{
        *ret_bad = false;
        if (!cmd->args[0])
                return false;
        json_object *a = json_tokener_parse(cmd->args), *v = NULL;
        if (!a || !json_object_is_type(a, json_type_object)) {
                json_object_put(a);
                *ret_bad = true;
                return false;
        }
        bool ok = json_object_object_get_ex(a, "confirm", &v) &&
                  json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
        json_object_put(a);
        return ok;
}

int vm_control_check(struct collector *c, const struct collector_command *cmd)
{
        size_t v = 0;
        bool bad;

        while (v < ELEMENTSOF(vm_actions) && strcmp(vm_actions[v].name, cmd->action) != 0)
                v++;
        if (v == ELEMENTSOF(vm_actions))
                return -ENOENT;
        if (!cmd->target[0]) {
                (void)collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                              "%s needs a domain name or UUID", cmd->action);
                return -EINVAL;
        }
        bool confirm = confirmed(cmd, &bad);
        if (bad || (vm_actions[v].confirm && !confirm)) {
                (void)collector_command_reply(c, cmd, CMD_INVALID, NULL, "%s",
                                              bad ? "args must be a JSON object"
                                                  : "needs confirm: args {\"confirm\":true}");
                return -EINVAL;
        }
        return (int)v;
}

int vm_control_submit(struct collector *c, struct vm_control *ctl, const struct virt_api *api,
                      const char *uri, const struct collector_command *cmd, int verb)
{
        int r;

        if (!ctl->worker) {
                struct vm_worker *w = calloc(1, sizeof(*w));
                if (!w)
                        return -ENOMEM;
                virt = api;
                strscpy(w->uri, sizeof(w->uri), uri);
                pthread_mutex_init(&w->lock, NULL);
                r = collector_worker_new(c, &vm_worker_ops, w, &ctl->worker);
                if (r < 0) {
                        vm_work_free(w);
                        return log_error_errno(r, "cannot start the command worker: %m");
                }
                ctl->w = w;
        }
        struct collector_job job = { .cmd = *cmd, .param = verb };
        return collector_worker_submit(ctl->worker, &job);
}

void vm_control_done(struct vm_control *ctl)
{
        ctl->worker = collector_worker_free(ctl->worker); /* frees ctl->w */
        ctl->w = NULL;
}
