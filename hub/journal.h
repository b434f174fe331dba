/*
 * journal.h — the hub's Events and Logs: built in PyAutomation's shapes, kept in the
 * history store, published to every client.
 *
 * Process: ringhub, any thread. journal_event() and journal_log() build the seed's Event
 * and Log objects (../docs/wire-socketio.md §Events and logs), append them to the
 * history (history.h; durable against kill -9 before they return) and publish them
 * through the one publish path (events.c) on topics `event` and `log` (HUB_T_EVENT,
 * HUB_T_LOG): Socket.IO on.event / on.log, native event.recorded / log.recorded, LedFx
 * event_recorded / log_recorded, … The sources: operator actions (the command audit in
 * commands.c), collectors going up and down (reader.c), configuration reloads
 * (hubconf.c's reload hook), alarm transitions (the alarm engine).
 *
 * An Event says what happened; a Log is the audit trail of an operator's action and
 * links the Event it caused (and the Alarm, for alarm actions). Ids are integers
 * increasing over the store's life, one sequence per kind, as in the seed.
 *
 * For the alarm engine: journal_event() for a transition (JOURNAL_CLASS_ALARM, user
 * NULL), journal_action(&e, alarm) for an operator's acknowledge, shelve, … (user and
 * role set: an Event and a Log linking it and the Alarm object), journal_keep_alarm()
 * for the Alarm record itself (on_connection last_alarms, /api/v1/history/alarms).
 *
 * Not from inside an events sink call (events.h: a sink must not publish — the sinks,
 * the caller's included, would be called again from inside it); a sink that needs to
 * journal something hands it to its own thread or to the next call outside. The
 * dialects render `event` and `log` without taking state_lock.
 */
#pragma once

#include <json-c/json.h>
#include <stdint.h>

#include "history.h"

/* Classification words used by the hub's own sources. */
#define JOURNAL_CLASS_OPERATOR  "Operator"  /* a command an operator asked for */
#define JOURNAL_CLASS_COLLECTOR "Collector" /* a collector appeared, died, recovered */
#define JOURNAL_CLASS_CONFIG    "Config"    /* the configuration was reloaded */
#define JOURNAL_CLASS_ALARM     "Alarm"     /* an alarm changed state or was acted on */
#define JOURNAL_CLASS_SYSTEM    "System"    /* the hub itself (start, stop) */

struct journal_entry {
        const char *message;        /* short, for a human (required) */
        const char *description;    /* longer; NULL = "" */
        const char *classification; /* JOURNAL_CLASS_* or the caller's word; NULL = "System" */
        const char *user;           /* who acted (token name or client address); NULL = the
                                       hub itself: "user" is null */
        const char *role;           /* the actor's role name (viewer, operator, admin); NULL =
                                       unknown */
        unsigned priority;          /* 1 (highest) .. 5; 0 = 3 */
        unsigned criticity;         /* 1 .. 5 (highest); 0 = 1 */
        const char *segment;        /* NULL = the entity's area, else "ringhub" */
};

/*
 * Open the history under dir (history_open(); NULL or "" = memory only) with the limits,
 * and restore the id sequences from what it holds. Registered before the hub's threads
 * start (main.c). 0, or a negative errno (the history then works in memory only; logged).
 */
int journal_open(const char *dir, const struct history_limits *lim);
void journal_close(void);

/*
 * Record an Event: build {id, timestamp, user, message, description, classification,
 * priority, criticity, segment, manufacturer, has_comments}, append it to the history,
 * publish it on topic `event`. Returns its id (> 0), or 0 when it could not be built
 * (out of memory, no message). *ret_event (optional) gets a reference to the Event
 * object (json_object_put() it), e.g. to link it from a Log.
 */
uint64_t journal_event(const struct journal_entry *e, json_object **ret_event);

/*
 * Record a Log: {id, timestamp, user, message, description, classification, event,
 * alarm, segment, manufacturer}, event and alarm being the linked objects (borrowed,
 * NULL = null). Appended and published on topic `log`. Returns its id (> 0) or 0.
 */
uint64_t journal_log(const struct journal_entry *e, json_object *event, json_object *alarm);

/*
 * An operator's action, the common case: an Event and a Log that links it (and the alarm
 * when there is one). Returns the Event's id or 0.
 */
uint64_t journal_action(const struct journal_entry *e, json_object *alarm);

/*
 * Keep an Alarm record (the on.alarm object's text) in the history, for last_alarms and
 * /api/v1/history/alarms; not published (the alarm engine sends on.alarm itself).
 * Counted in /metrics like every entry. history_append()'s result.
 */
int journal_keep_alarm(const char *json, size_t len);

/* Snapshots (last_events, last_logs, last_alarms): history_last_array() in history.h. */
