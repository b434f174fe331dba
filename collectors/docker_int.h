/*
 * docker_int.h — what docker.c (the list) and docker_control.c (the commands) share,
 * inside ringhub-collect-docker only: JSON helpers for the engine's answers, and the
 * command entry point. Nothing here is for other collectors.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"
#include "http_unix.h"

#define DOCKER_BODY_MAX (16u << 20) /* the largest answer read from the engine */

struct collector_worker;

void docker_freejsonp(json_object **o);
#define _cleanup_json_ _cleanup_(docker_freejsonp)

/* The body of the last answer on h as JSON: 0 with *ret (NULL when empty), or -EBADMSG. */
int docker_body_json(const struct http_unix *h, json_object **ret);
/* o[key] when o is an object; the string o[key], else NULL. */
json_object *docker_jget(json_object *o, const char *key);
const char *docker_jstr(json_object *o, const char *key);
/* A list entry's first name without its leading '/', or "". */
const char *docker_first_name(json_object *ctr);

/*
 * ops->command (event loop): start, stop, restart, pause, unpause of the container
 * cmd->target, queued for *worker (started on the first command, on socket). Returns 1
 * for any other action (the skeleton's), else 0 after answering or queueing.
 */
int docker_control_command(struct collector *c, const char *socket,
                           struct collector_worker **worker, const struct collector_command *cmd);
