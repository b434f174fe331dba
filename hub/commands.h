/*
 * commands.h — the hub's half of the command path (DESIGN §6, shm/mailbox.h).
 *
 * Process: ringhub. A client's command (REST, a WebSocket dialect, later alarms and the
 * MQTT bridge) is posted to the owning collector's mailbox; the collector's answer comes
 * back as a command_result record that the reader hands to commands_on_result(). Nobody
 * blocks while a command is in flight: the asker gets a callback, exactly once, with the
 * collector's answer or the hub's own verdict (BUSY when the mailbox or the hub's table
 * is full, CONNECTION_ERROR when the collector is not running, dies or restarts before
 * answering, TIMEOUT at the deadline). Every command is audited once: one log line (who,
 * what, result, duration), one `command` event through the publish path, which is how
 * other clients learn of it (native `command.executed`), and an Event and a Log in the
 * history (journal.h) — written before the asker hears the outcome, so an answered
 * command is in the history even if the hub is killed right after.
 *
 * Threads: commands_submit() from any thread; results on the reader thread; deadlines
 * and liveness on this module's own thread, which sleeps without a timeout while
 * nothing is in flight (an idle hub gains no wake-up). Callbacks run on one of those
 * threads, never under a lock the caller could hold, and must not block.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ring.h"

#define COMMANDS_MAX_PENDING     256
#define COMMANDS_DEFAULT_TIMEOUT 5000u /* ms */
#define COMMANDS_LIVENESS_PERIOD 50u   /* ms between looks at a pending command's collector */

struct command_request {
        const char *collector; /* producer name: docker, vm, disks, plc, system, … */
        const char *action;
        const char *target;  /* NULL = "" */
        const char *args;    /* a JSON object's text, NULL = "" */
        const char *origin;  /* who: token name or client address */
        const char *role;    /* the asker's role name (journal's user), NULL = unknown */
        uint32_t timeout_ms; /* 0 = COMMANDS_DEFAULT_TIMEOUT */
};

struct command_outcome {
        uint64_t request_id; /* 0 when it was never posted */
        const char *collector, *action, *target, *origin;
        const char *status;    /* OK, BUSY, INVALID_COMMAND, NOT_FOUND, CONFLICT,
                                  CONNECTION_ERROR, TIMEOUT, FAILED */
        const char *message;   /* for a human */
        const char *data;      /* a JSON object's text, or "" */
        uint64_t duration_us;  /* submit → outcome, in the hub */
        uint64_t collector_us; /* time the collector worked on it (0 if it never answered) */
};

typedef void (*command_done_fn)(const struct command_outcome *o, void *userdata);

int commands_start(void);
void commands_stop(void);

/*
 * Post a command; done(o, userdata) follows exactly once — possibly before this returns
 * (refused at once). Returns the request id, or 0 when it was refused at once.
 */
uint64_t commands_submit(const struct command_request *req, command_done_fn done, void *userdata);

/* Answer a command without posting it (refused by the caller's own checks: FORBIDDEN,
 * NOT_FOUND, …): audited and published like any outcome; done follows at once. */
void commands_refuse(const struct command_request *req, const char *status, const char *message,
                     command_done_fn done, void *userdata);

/* Whether a command waits for its answer (the reader then wakes for every record). */
bool commands_in_flight(void);

/* Reader thread: a command_result record from the ring (validated). */
void commands_on_result(const struct ring_record *rec);

/* The HTTP status an outcome maps to (200, 400, 403, 404, 409, 503, 504, 500). */
unsigned commands_http_status(const char *status);
