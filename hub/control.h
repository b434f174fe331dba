/*
 * control.h — what clients may ask collectors to do: one command model for REST, the
 * native dialect (and later the MQTT bridge and the dashboard).
 *
 * Process: ringhub, any thread. The catalogue names every action a client can request
 * (area + action: docker stop, vm force-stop, array start, parity-check start, disks
 * spinup, collectors refresh, …), which collector carries it out under which verb, the
 * role it needs, whether it needs {"confirm":true}, its deadline, and which state topic
 * must hold the target (an unknown container is 404 from the hub's state, with no round
 * trip). The gate: with auth on, roles decide; with auth off, `[hub] control` must be on
 * (default off: a fresh install cannot be controlled from the LAN). Then
 * commands_submit() (commands.h) does the rest; every refusal here is audited the same way.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "auth.h"
#include "commands.h"

/* Who asks: the role the caller established (token) or AUTH_ROLE_ADMIN with auth off. */
struct control_who {
        enum auth_role role;
        const char *name; /* token name, else client address: for the audit line */
};

struct control_request {
        const char *area;   /* "docker", "vm", "array", "parity-check", "disks", "collectors" */
        const char *action; /* "stop", "force-stop", "start", "spinup", "refresh", … */
        const char *id;     /* the entity (container id or name, VM name, disk id, collector)
                               or NULL where the area has none (array, parity-check) */
        json_object *args;  /* the client's arguments object or NULL (borrowed) */
};

/* The gate alone: may a caller with this role do something that needs `need`? With auth
 * off the role is ignored and [hub] control decides (viewer-level actions always pass). */
bool control_allowed(enum auth_role role, enum auth_role need);

/* Is there such an action at all (REST: 404 vs 405)? */
bool control_known(const char *area, const char *action);
/* Does the area take an {id} in its REST path? */
bool control_area_has_id(const char *area);

/*
 * Check and submit. done(o, userdata) follows exactly once, also for a refusal (status
 * FORBIDDEN, INVALID_COMMAND, NOT_FOUND, CONNECTION_ERROR), which may come before this
 * returns. Any thread.
 */
void control_submit(const struct control_request *req, const struct control_who *who,
                    command_done_fn done, void *userdata);
