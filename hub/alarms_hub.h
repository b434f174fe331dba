/*
 * alarms_hub.h — the hub's alarms: the set of alarms (alarms.h engines), watching the
 * state through an events sink, their events, definitions from the configuration file
 * and over REST (kept in the state directory), operator actions, snapshots and metrics.
 *
 * Process: ringhub. The sink runs on the reader thread: it indexes alarms by topic and
 * entity, so a value costs only the alarms watching that entity. What changed is queued
 * and published by alarms_hub_flush() outside the sink (the reader calls it after each
 * drain and each tick; REST and native commands after their action). One mutex guards
 * the set; nothing here blocks on I/O except a definition change (a small file write).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "alarms.h"

/* Who acts: a token's name (or client address) and role name ("operator"…); NULL where
 * a function takes one: the hub itself. */
struct alarms_actor {
        const char *name;
        const char *role;
};

/* Outcome of a REST/native call: an HTTP status and a message for errors. */
struct alarms_result {
        unsigned http;        /* 200, 201, 400, 404, 409, 500 */
        const char *error;    /* NULL on success */
        json_object *payload; /* the alarm (or list) on success, new ref; caller puts */
};

/*
 * Load the alarms of config_file (a JSON array of definitions; NULL or missing: none)
 * and those defined over REST earlier (state_dir/alarms.json; state_dir NULL: REST
 * definitions are kept in memory only), and register the sink. Before the threads start.
 * 0, or -errno for an unreadable or invalid configuration file (logged).
 */
int alarms_hub_init(const char *config_file, const char *state_dir);
void alarms_hub_free(void);

/* Publish what changed since the last call (any thread, never from a sink; on the lws
 * thread only when no other thread is flushing — the reader's next drain or tick does it
 * otherwise). */
void alarms_hub_flush(void);
/* Once a second or so (reader thread): delays, shelve expiry, stale sources. */
void alarms_hub_tick(uint64_t now_ns);
/* Whether an alarm waits out a delay or a shelve: the reader then keeps its 1 s tick even
 * with nobody listening (an idle hub otherwise ticks every few seconds). */
bool alarms_hub_timing(void);
/* Whether any alarm is defined: its conditions are evaluated as values come, so the
 * reader then wakes for every record even with nobody listening. */
bool alarms_hub_watching(void);

/* Definitions (admin). body: the seed's Alarm fields. */
struct alarms_result alarms_hub_create(json_object *body, const struct alarms_actor *who);
struct alarms_result alarms_hub_update(const char *id, json_object *body,
                                       const struct alarms_actor *who);
struct alarms_result alarms_hub_delete(const char *id, const struct alarms_actor *who);
/* Operator actions; args may hold "duration" (seconds, shelve) and "reason". */
struct alarms_result alarms_hub_act(const char *id, enum alarm_action act, json_object *args,
                                    const struct alarms_actor *who);
/* Acknowledge every unacknowledged alarm; payload {"acknowledged": N, "alarms": [...]} */
struct alarms_result alarms_hub_ack_all(const struct alarms_actor *who);

/*
 * An alarm action asked as a command (native {"type":"command","target":"alarms",
 * "action":A,"id":ID,"args":{…}}; A is an action of alarm_action_parse() or
 * "acknowledge-all"): fills reply (a command.result message) with "success" and "data"
 * {target, action, id, status OK|FORBIDDEN|NOT_FOUND|INVALID_COMMAND|CONFLICT, message,
 * result: the alarm}. allowed: the caller has the operator role (the control gate).
 */
void alarms_hub_command(json_object *reply, const char *action, const char *id, json_object *args,
                        bool allowed, const struct alarms_actor *who);

/* Snapshots (new refs): every alarm, one by id (NULL when unknown), the active ones, the
 * latest changes are the history's (history.h, HISTORY_ALARM). */
json_object *alarms_hub_list(void);
json_object *alarms_hub_get(const char *id);
json_object *alarms_hub_active(void);

/* /metrics: ringhub_alarm_state{…} per alarm and the active and unacknowledged counts. */
void alarms_hub_metrics(FILE *o);
