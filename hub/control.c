/*
 * control.c — the command catalogue and the control gate (see control.h).
 */
#include "control.h"

#include <stdio.h>
#include <string.h>

#include "hub.h"
#include "log.h"
#include "macros.h"
#include "registry.h"
#include "state.h"
#include "tokens.h"
#include "util.h"

struct control_action {
        const char *area, *action;
        const char *collector; /* NULL: the collector named by the request's id */
        const char *verb;      /* the collector's action word */
        enum auth_role role;
        bool confirm;           /* needs {"confirm":true} */
        bool id;                /* takes an {id} */
        unsigned entity;        /* record type whose state must hold the id; 0 = none */
        const char *entity_alt; /* a second field the id may name (container name) */
        uint32_t timeout_ms;
        /* an argument (seconds) the collector waits for (docker stop's timeout): the
         * deadline grows to it + 15 s */
        const char *wait_arg;
};

#define OP    AUTH_ROLE_OPERATOR
#define ADMIN AUTH_ROLE_ADMIN
#define S     1000u

static const struct control_action catalogue[] = {
        /* containers: the Docker Engine API; a stop waits for the container's own timeout */
        { "docker", "start", "docker", "start", OP, false, true, RT_container, "name", 30 * S },
        { "docker", "stop", "docker", "stop", OP, false, true, RT_container, "name", 60 * S,
          "timeout" },
        { "docker", "restart", "docker", "restart", OP, false, true, RT_container, "name", 60 * S,
          "timeout" },
        { "docker", "pause", "docker", "pause", OP, false, true, RT_container, "name", 15 * S },
        { "docker", "unpause", "docker", "unpause", OP, false, true, RT_container, "name", 15 * S },
        /* VMs: libvirt; a guest shutdown may take minutes */
        { "vm", "start", "vm", "start", OP, false, true, RT_vm, "uuid", 60 * S },
        { "vm", "stop", "vm", "stop", OP, false, true, RT_vm, "uuid", 120 * S },
        { "vm", "restart", "vm", "restart", OP, false, true, RT_vm, "uuid", 120 * S },
        { "vm", "pause", "vm", "pause", OP, false, true, RT_vm, "uuid", 30 * S },
        { "vm", "resume", "vm", "resume", OP, false, true, RT_vm, "uuid", 30 * S },
        { "vm", "hibernate", "vm", "hibernate", OP, false, true, RT_vm, "uuid", 120 * S },
        { "vm", "force-stop", "vm", "force-stop", ADMIN, true, true, RT_vm, "uuid", 30 * S },
        { "vm", "reset", "vm", "reset", ADMIN, true, true, RT_vm, "uuid", 30 * S },
        /* the array and its parity check: Unraid mdcmd, md sync_action, btrfs scrub */
        { "array", "start", "disks", "array-start", OP, false, false, 0, NULL, 60 * S },
        { "array", "stop", "disks", "array-stop", ADMIN, false, false, 0, NULL, 120 * S },
        { "parity-check", "start", "disks", "parity-start", OP, false, false, 0, NULL, 30 * S },
        { "parity-check", "stop", "disks", "parity-stop", OP, false, false, 0, NULL, 30 * S },
        { "parity-check", "pause", "disks", "parity-pause", OP, false, false, 0, NULL, 30 * S },
        { "parity-check", "resume", "disks", "parity-resume", OP, false, false, 0, NULL, 30 * S },
        /* disks: spin state (never woken except by spinup) */
        { "disks", "spinup", "disks", "spinup", OP, false, true, RT_disk, "name", 60 * S },
        { "disks", "spindown", "disks", "spindown", OP, false, true, RT_disk, "name", 30 * S },
        /* PLC machines and tags (ringhub-collect-plc): a carousel's command byte, a Modbus
         * machine's registers, a tag write; estop-all stops every machine at once */
        { "machines", "move", "plc", "move", OP, false, true, RT_machine, NULL, 10 * S },
        { "machines", "command", "plc", "command", OP, false, true, RT_machine, NULL, 10 * S },
        { "machines", "estop", "plc", "estop", OP, false, true, RT_machine, NULL, 10 * S },
        { "machines", "estop-all", "plc", "estop", OP, false, false, 0, NULL, 10 * S },
        { "tags", "write", "plc", "write", OP, false, true, RT_tag, NULL, 10 * S },
        /* Unraid notifications (ringhub-collect-unraid): files moved, written, removed */
        { "notifications", "archive", "unraid", "notify-archive", OP, false, true, RT_notification,
          "id", 10 * S },
        { "notifications", "unarchive", "unraid", "notify-unarchive", OP, false, true,
          RT_notification, "id", 10 * S },
        { "notifications", "delete", "unraid", "notify-delete", OP, false, true, RT_notification,
          "id", 10 * S },
        { "notifications", "create", "unraid", "notify-create", OP, false, false, 0, NULL, 10 * S },
        { "notifications", "archive-all", "unraid", "notify-archive-all", OP, false, false, 0, NULL,
          10 * S },
        /* a User Scripts script, run by the unraid collector as its user: admin; the
         * collector kills it 2 s before this deadline (at most 5 min) */
        { "user-scripts", "execute", "unraid", "script-run", ADMIN, false, true, RT_user_script,
          NULL, 310 * S },
        /* any collector: collect now */
        { "collectors", "refresh", NULL, "refresh", OP, false, true, 0, NULL, 30 * S },
        { "collectors", "ping", NULL, "ping", AUTH_ROLE_VIEWER, false, true, 0, NULL, 5 * S },
};

static const struct control_action *find(const char *area, const char *action)
{
        for (size_t i = 0; area && action && i < ELEMENTSOF(catalogue); i++)
                if (strcmp(catalogue[i].area, area) == 0 &&
                    strcmp(catalogue[i].action, action) == 0)
                        return &catalogue[i];
        return NULL;
}

bool control_allowed(enum auth_role role, enum auth_role need)
{
        if (tokens_auth_on())
                return role >= need;
        return need <= AUTH_ROLE_VIEWER || atomic_load(&hub.opt.control);
}

bool control_known(const char *area, const char *action)
{
        return find(area, action) != NULL;
}

bool control_area_has_id(const char *area)
{
        for (size_t i = 0; area && i < ELEMENTSOF(catalogue); i++)
                if (strcmp(catalogue[i].area, area) == 0)
                        return catalogue[i].id;
        return false;
}

static bool entity_exists(unsigned type, const char *id, const char *alt)
{
        pthread_mutex_lock(&state_lock);
        struct state_topic *t = state_topic(type);
        bool ok = t && state_find(t, id, alt) != NULL;
        pthread_mutex_unlock(&state_lock);
        return ok;
}

/* Is a source of this collector down (its engine, daemon or device unreachable)? Then a
 * target missing from the state is not known to be gone: the collector emptied its list
 * because it cannot see. why: the collector's reason. */
static bool source_down(const char *collector, char *why, size_t size)
{
        bool down = false;
        pthread_mutex_lock(&state_lock);
        struct state_topic *t = state_topic(RT_source_status);
        for (unsigned i = 0; t && i < t->n && !down; i++) {
                const struct rec_source_status *ss = (const void *)t->ents[i]->payload;
                if (strncmp(ss->collector, collector, sizeof(ss->collector)) == 0 &&
                    strncmp(ss->status, "down", sizeof(ss->status)) == 0) {
                        snprintf(why, size, "%.*s", (int)strnlen(ss->message, sizeof(ss->message)),
                                 ss->message);
                        down = true;
                }
        }
        pthread_mutex_unlock(&state_lock);
        return down;
}

/* Refuse with the command model's words (logged and published like any outcome). */
static void refuse(const struct control_request *req, const struct control_who *who,
                   const char *collector, const char *status, const char *msg, command_done_fn done,
                   void *userdata)
{
        struct command_request cr = { .collector = collector,
                                      .action = req->action,
                                      .target = req->id,
                                      .origin = who->name,
                                      .role = auth_role_name(who->role) };
        commands_refuse(&cr, status, msg, done, userdata);
}

void control_submit(const struct control_request *req, const struct control_who *who,
                    command_done_fn done, void *userdata)
{
        const struct control_action *a = find(req->area, req->action);
        char msg[160];
        const char *coll = a && a->collector ? a->collector : req->id ? req->id : "";
        if (!a) {
                snprintf(msg, sizeof(msg), "unknown action %.32s for %.32s",
                         req->action ? req->action : "", req->area ? req->area : "");
                refuse(req, who, coll, "NOT_FOUND", msg, done, userdata);
                return;
        }
        /* The gate: roles with auth on; [hub] control with auth off. */
        if (tokens_auth_on()) {
                if (!control_allowed(who->role, a->role)) {
                        snprintf(msg, sizeof(msg), "forbidden: %s %s needs the %s role", a->area,
                                 a->action, auth_role_name(a->role));
                        refuse(req, who, coll, "FORBIDDEN", msg, done, userdata);
                        return;
                }
        } else if (!control_allowed(who->role, a->role)) {
                refuse(req, who, coll, "FORBIDDEN",
                       "control is off: set [hub] control = on (or turn on auth with "
                       "operator tokens) to allow commands",
                       done, userdata);
                return;
        }
        if (a->id && (!req->id || !*req->id)) {
                refuse(req, who, coll, "INVALID_COMMAND", "this action needs a target id", done,
                       userdata);
                return;
        }
        json_object *cf = NULL;
        if (a->confirm &&
            (!req->args || !json_object_object_get_ex(req->args, "confirm", &cf) ||
             !json_object_is_type(cf, json_type_boolean) || !json_object_get_boolean(cf))) {
                snprintf(msg, sizeof(msg), "%s %s needs {\"confirm\":true}", a->area, a->action);
                refuse(req, who, coll, "INVALID_COMMAND", msg, done, userdata);
                return;
        }
        /* The collector must be there before the target is looked up: a stopped docker
         * collector is 503, not "no such container". */
        int idx = hub.ring ? registry_find(hub.ring, coll) : -1;
        struct registry_entry e;
        if (idx < 0 || !registry_get(hub.ring, (unsigned)idx, real_ns(), &e) || !e.alive) {
                snprintf(msg, sizeof(msg), "the %s collector is not running", coll);
                refuse(req, who, coll, "CONNECTION_ERROR", msg, done, userdata);
                return;
        }
        if (a->entity && !entity_exists(a->entity, req->id, a->entity_alt)) {
                char why[160];
                if (source_down(coll, why, sizeof(why))) {
                        snprintf(msg, sizeof(msg),
                                 "the %s collector cannot reach its source: %.80s", coll, why);
                        refuse(req, who, coll, "CONNECTION_ERROR", msg, done, userdata);
                        return;
                }
                snprintf(msg, sizeof(msg), "no such %s: %.64s", schema_record(a->entity)->name,
                         req->id);
                refuse(req, who, coll, "NOT_FOUND", msg, done, userdata);
                return;
        }
        /* A caller may ask for a shorter deadline than the action's (never a longer one),
         * and an action that waits for a time the caller gives gets that time more. */
        uint32_t timeout = a->timeout_ms;
        json_object *dl;
        if (a->wait_arg && req->args && json_object_object_get_ex(req->args, a->wait_arg, &dl) &&
            json_object_is_type(dl, json_type_int)) {
                int64_t w = json_object_get_int64(dl);
                if (w >= 0 && w <= 3600)
                        timeout = MAX(timeout, (uint32_t)w * 1000u + 15000u);
        }
        if (req->args && json_object_object_get_ex(req->args, "deadline_ms", &dl)) {
                int64_t v = json_object_is_type(dl, json_type_int) ? json_object_get_int64(dl) : -1;
                if (v < 100 || v > (int64_t)timeout) {
                        snprintf(msg, sizeof(msg), "deadline_ms must be 100..%u", timeout);
                        refuse(req, who, coll, "INVALID_COMMAND", msg, done, userdata);
                        return;
                }
                timeout = (uint32_t)v;
        }
        const char *args =
            req->args ? json_object_to_json_string_ext(
                            req->args, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                      : NULL;
        struct command_request cr = { .collector = coll,
                                      .action = a->verb,
                                      /* an area without an {id} may still name one
                                         (parity-check: which pool) */
                                      .target = req->id ? req->id : "",
                                      .args = args,
                                      .origin = who->name,
                                      .role = auth_role_name(who->role),
                                      .timeout_ms = timeout };
        (void)commands_submit(&cr, done, userdata);
}
