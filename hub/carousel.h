/*
 * carousel.h — the carousel server's protocol (seeds/carousel-api-websocket.md) over the
 * PLC machines the hub keeps (machine records of ringhub-collect-plc), for the native
 * dialect: the machine list of the welcome, machine_status and status_broadcast bodies,
 * send_command → command_result to the sender and command_executed to the others, the
 * subscription types with their machine filter, the 2 s status broadcast, and the
 * emergency stop of every machine (safety.estop counts what stopped).
 *
 * Process: ringhub. Per-client state (struct carousel_sub) lives in the native client and
 * is touched on the lws thread; command answers arrive on any thread and reach clients
 * through the hand-off (hub_handoff_push_to). Reads the state cache under state_lock, so
 * never call these from a render() or a sink (the reader holds that lock there).
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"

#define CAROUSEL_IDS_MAX 16
#define CAROUSEL_ID_LEN  32

/* One native client as the carousel sees it (embedded in the dialect's client, zeroed). */
struct carousel_sub {
        struct hub_client *c;
        uint64_t id; /* client id, for replies from other threads */
        unsigned di; /* its dialect's index */
        bool listed;
        bool status_updates; /* status_broadcast every 2 s */
        bool command_results;
        unsigned n_ids; /* 0: every machine */
        char ids[CAROUSEL_IDS_MAX][CAROUSEL_ID_LEN];
        struct carousel_sub *next;
};

/* lws thread: a native client arrives / goes. */
void carousel_open(struct carousel_sub *s, struct hub_client *c);
void carousel_close(struct carousel_sub *s);

/* Why a request was refused, in the seed's codes; the native dialect sends the error. */
struct carousel_err {
        const char *code; /* MACHINE_NOT_FOUND, INVALID_COMMAND, INVALID_MESSAGE_FORMAT */
        const char *text;
        const char *machine; /* the machine_id asked for, or NULL */
};

/* A native reply envelope {type, timestamp, request_id?} (new ref; NULL on ENOMEM). */
json_object *carousel_reply_new(const char *type, json_object *req_id);

/* The welcome's machines: [{id, name, ip, port, type}] (new ref, NULL only on ENOMEM). */
json_object *carousel_machine_list(void);
/* {id: {status{…}, position, raw_status, connection_status}} of every machine (new ref). */
json_object *carousel_status_map(void);
/* get_status: machine_status for {machine_id}, status_broadcast of all without one; NULL
 * with *err set when refused. */
json_object *carousel_get_status(json_object *req, json_object *req_id, struct carousel_err *err);

/*
 * subscribe with a subscription_type (status_updates, command_results, all_events) and an
 * optional machine_ids array (already checked: strings). false when the type is unknown.
 */
bool carousel_subscribe(struct carousel_sub *s, const char *type, json_object *machine_ids);

/*
 * send_command {machine_id, command:{command, argument}} or flat {command, argument}
 * (command 0-255 or "move"/"status"): checked, then submitted as a machines move/command
 * through control_submit() (the caller checked the role). 0, or -1 with *err set.
 */
int carousel_send_command(struct carousel_sub *s, json_object *req, json_object *req_id,
                          struct carousel_err *err);

/* emergency_stop: every machine through the plc collector when it runs; the safety.estop
 * event and the command_result reply follow its answer (at once without one). */
void carousel_estop(struct carousel_sub *s, const char *reason, json_object *req_id);

/*
 * Reader thread (render): a machine record as a module event — module.discovered data
 * the first time a machine is seen (*ret_discovered), module.status_change data when its
 * connection changed since, else NULL. Never takes state_lock.
 */
json_object *carousel_module_event(json_object *machine, bool *ret_discovered);
/* The machines as module.discovered data, for a new client's snapshot (new ref). */
json_object *carousel_module_list(void);
