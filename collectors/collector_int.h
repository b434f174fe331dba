/*
 * collector_int.h — what the skeleton's own files share (collector.c, collector_cmd.c).
 * Collectors never include this.
 */
#pragma once

#include "collector.h"

struct collector_cmds;

const struct collector_ops *collector_ops_of(const struct collector *c);
/* The registry index this process writes as. */
int collector_producer(const struct collector *c);
/* A ring write returned err (n records not written): count them and say so, rate-limited. */
void collector_ring_failed(struct collector *c, int err, unsigned n);
/* Run every task now, out of schedule (a `refresh` command). */
void collector_run_tasks_now(struct collector *c);

/* collector_cmd.c: the command mailbox. start after registering, with the event loop
 * up; stop before unregistering. */
int collector_commands_start(struct collector *c, struct collector_cmds **ret);
void collector_commands_stop(struct collector_cmds *m);
