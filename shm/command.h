/*
 * command.h — post a command to a collector and wait for its answer, for processes
 * that are not the hub: ringhubctl, tests and benchmarks.
 *
 * The hub has its own asynchronous path (it is the ring's consumer and sees results as
 * they come). Here the caller reads the ring with a private read-only cursor (started
 * before the post, so the answer cannot slip past) and waits with short sleeps, checking
 * the collector's liveness and generation in the registry as it goes.
 */
#pragma once

#include <stdint.h>

#include "mailbox.h"
#include "ring.h"
#include "schema.h"

/*
 * Post cmd to the producer named `producer` (cmd->generation is filled in) and wait up
 * to cmd->deadline_ns (realtime) for its command_result. Returns 0 with *ret filled
 * (whatever status the collector gave), or: -ENOENT no such producer; -ESRCH the
 * producer is not running, or died / re-registered before answering (CONNECTION_ERROR);
 * -EBUSY its mailbox is full; -ETIMEDOUT no answer by the deadline; -EINVAL,
 * -ENAMETOOLONG a bad command. *ret_request_id (optional) is set once posted.
 */
int command_call(struct ring *r, const char *producer, const struct mailbox_command *cmd,
                 struct rec_command_result *ret, uint64_t *ret_request_id);

/* The status word for a command_call() error: "CONNECTION_ERROR", "BUSY", "TIMEOUT", … */
const char *command_error_status(int err);
