/*
 * plc_collector.h — ringhub-collect-plc's event-loop state, shared by plc_collector.c
 * (options, life cycle, records) and plc_command.c (commands). Everything here lives on
 * the event loop thread; the device threads see only the map (read-only), their own
 * worker and the outbox.
 */
#pragma once

#include "collector.h"
#include "plc_map.h"
#include "plc_worker.h"

/* One estop fanned out to several machines, answered when the last one reports. */
struct estop_agg {
        struct estop_agg *next;
        struct collector_command cmd;
        unsigned pending, stopped, n_failed, n_conn_failed;
        unsigned failed[PLC_MAX_MACHINES];
        char first_error[120];
};

struct plc_state {
        struct plc_map map;
        const char *map_path;
        const char *machine_args[PLC_MAX_MACHINES];
        unsigned n_machine_args;
        uint32_t reconnect_max_ms; /* --reconnect-max; 0: the map's */

        struct plc_outbox ob, mine;
        struct plc_worker **ws;
        unsigned n_ws;
        sd_event_source *ob_src;
        bool ob_ready, started;

        struct rec_machine *machines; /* last state of each machine, for the periodic write */
        bool *machine_known;
        struct estop_agg *aggs;
        uint64_t values, commands;
};

/* plc_command.c */
int plc_command(struct collector *c, const struct collector_command *cmd);
void plc_estop_part(struct collector *c, const struct plc_ev *ev);
void plc_commands_free(struct plc_state *s);
