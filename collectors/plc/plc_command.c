/*
 * plc_command.c — ringhub-collect-plc's commands, on the event loop: check them, then
 * queue the I/O to the worker thread that owns the machine or tag (never block the
 * loop); the worker's answer comes back through the outbox and is replied from there.
 *
 *   move     TARGET machine, {"argument":0..255}          BUSY while the machine runs
 *   command  TARGET machine, {"command":N,"argument":M}   (or {"command":{…}}, the seed's
 *            nested form): carousel command byte + argument, or a Modbus machine's
 *            command/argument register writes; command 1 (move_command) acts as move
 *   write    TARGET tag, {"value":number|bool}            scale, type and order reversed,
 *            range-checked; INVALID_COMMAND for discrete inputs and input registers
 *   estop    TARGET "" (every machine) or a machine id     data {"stopped":N,"failed":[…]}
 *   refresh  left to the skeleton (runs the refresh task: every tag and machine again)
 * Statuses: OK, BUSY, INVALID_COMMAND, NOT_FOUND, CONNECTION_ERROR, FAILED.
 */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "macros.h"
#include "plc_collector.h"
#include "util.h"

static void json_putp(json_object **o)
{
        if (*o)
                json_object_put(*o);
}

/* An integer argument in [0, max]: a JSON integer, or a number with no fraction. */
static int get_uint(json_object *obj, const char *key, uint32_t max, uint32_t *ret)
{
        json_object *v;
        if (!obj || !json_object_object_get_ex(obj, key, &v))
                return -ENOENT;
        double d;
        if (json_object_is_type(v, json_type_int))
                d = (double)json_object_get_int64(v);
        else if (json_object_is_type(v, json_type_double))
                d = json_object_get_double(v);
        else
                return -EINVAL;
        if (!(d >= 0 && d <= max) || floor(d) != d)
                return -ERANGE;
        *ret = (uint32_t)d;
        return 0;
}

static int reply_invalid(struct collector *c, const struct collector_command *cmd, const char *why)
{
        return collector_command_reply(c, cmd, CMD_INVALID, NULL, "%s %s: %s", cmd->action,
                                       cmd->target, why);
}

static int submit(struct collector *c, struct plc_worker *w, const struct plc_job *job)
{
        struct plc_state *s = collector_state(c);
        if (!w || !s->started)
                return collector_command_reply(c, &job->cmd, CMD_CONNECTION_ERROR, NULL,
                                               "the PLC workers are not running");
        if (plc_worker_submit(w, job) < 0)
                return collector_command_reply(c, &job->cmd, CMD_BUSY, NULL,
                                               "%s: %u commands already queued",
                                               plc_worker_source(w), PLC_JOBS_MAX);
        s->commands++;
        return 0;
}

static int machine_command(struct collector *c, const struct collector_command *cmd,
                           json_object *args, bool move)
{
        struct plc_state *s = collector_state(c);
        int mi = plc_machine_find(&s->map, cmd->target);
        if (mi < 0)
                return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL, "no machine '%s'",
                                               cmd->target);
        const struct plc_machine_conf *mc = &s->map.machines[mi];
        bool modbus = mc->kind == PLC_MACHINE_MODBUS;
        uint32_t max = modbus ? 65535 : 255, command, argument = 0;
        struct plc_job job = { .kind = PLC_JOB_COMMAND, .cmd = *cmd, .target = (unsigned)mi };
        json_object *nested;
        if (!move && args && json_object_object_get_ex(args, "command", &nested) &&
            json_object_is_type(nested, json_type_object))
                args = nested; /* {"command":{"command":1,"argument":25}} */
        if (move) {
                command = modbus ? mc->move_command : CAROUSEL_CMD_MOVE;
                int r = get_uint(args, "argument", 255, &argument);
                if (r < 0)
                        return reply_invalid(c, cmd,
                                             r == -ENOENT ? "args need \"argument\": 0..255"
                                                          : "argument is not an integer 0..255");
                job.has_argument = true;
        } else {
                int r = get_uint(args, "command", max, &command);
                if (r < 0)
                        return reply_invalid(c, cmd,
                                             modbus ? "\"command\" must be 0..65535"
                                                    : "\"command\" must be 0..255");
                r = get_uint(args, "argument", max, &argument);
                if (r == -ENOENT)
                        argument = 0;
                else if (r < 0)
                        return reply_invalid(c, cmd,
                                             modbus ? "\"argument\" must be 0..65535"
                                                    : "\"argument\" must be 0..255");
                job.has_argument = r == 0 || !modbus;
        }
        if (modbus && !mc->command.set)
                return reply_invalid(c, cmd, "the machine has no command register");
        if (modbus && job.has_argument && !mc->argument.set)
                return reply_invalid(c, cmd, "the machine has no argument register");
        job.command = (uint16_t)command;
        job.argument = (uint16_t)argument;
        job.is_move = move || command == (modbus ? mc->move_command : CAROUSEL_CMD_MOVE);
        return submit(c, plc_worker_of_machine(s->ws, s->n_ws, (unsigned)mi), &job);
}

static int tag_write(struct collector *c, const struct collector_command *cmd, json_object *args)
{
        struct plc_state *s = collector_state(c);
        int ti = plc_tag_find(&s->map, cmd->target);
        if (ti < 0)
                return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL, "no tag '%s'",
                                               cmd->target);
        const struct plc_tag_conf *t = &s->map.tags[ti];
        if (!plc_area_writable(t->layout.area))
                return reply_invalid(c, cmd,
                                     t->layout.area == PLC_AREA_INPUT
                                         ? "input registers are read-only"
                                         : "discrete inputs are read-only");
        json_object *v;
        if (!args || !json_object_object_get_ex(args, "value", &v))
                return reply_invalid(c, cmd, "args need \"value\"");
        struct plc_input in = { 0 };
        if (json_object_is_type(v, json_type_boolean))
                in = (struct plc_input){ .kind = PLC_IN_BOOL, .b = json_object_get_boolean(v) };
        else if (json_object_is_type(v, json_type_int))
                in = (struct plc_input){ .kind = PLC_IN_INT, .i = json_object_get_int64(v) };
        else if (json_object_is_type(v, json_type_double))
                in = (struct plc_input){ .kind = PLC_IN_DOUBLE, .d = json_object_get_double(v) };
        else
                return reply_invalid(c, cmd, "\"value\" must be a number or a boolean");
        struct plc_job job = { .kind = PLC_JOB_WRITE, .cmd = *cmd, .target = (unsigned)ti };
        int r = plc_encode(&t->layout, &in, job.regs, &job.bit);
        if (r == -ERANGE)
                return reply_invalid(c, cmd, "value out of range for the tag's type");
        if (r < 0)
                return reply_invalid(c, cmd, "value does not fit the tag's type");
        return submit(c, plc_worker_of_tag(s->ws, s->n_ws, &s->map, (unsigned)ti), &job);
}

static void estop_reply(struct collector *c, struct estop_agg *a)
{
        struct plc_state *s = collector_state(c);
        char data[96];
        int len = snprintf(data, sizeof(data), "{\"stopped\":%u,\"failed\":[", a->stopped);
        unsigned shown = 0;
        for (; shown < a->n_failed; shown++) {
                const char *id = s->map.machines[a->failed[shown]].id;
                /* keep room for the closing `],"more":NN}` */
                if ((size_t)len + strlen(id) + 4 + 14 >= sizeof(data))
                        break;
                len += snprintf(data + len, sizeof(data) - (size_t)len, "%s\"%s\"",
                                shown ? "," : "", id);
        }
        if (shown < a->n_failed)
                snprintf(data + len, sizeof(data) - (size_t)len, "],\"more\":%u}",
                         a->n_failed - shown);
        else
                snprintf(data + len, sizeof(data) - (size_t)len, "]}");
        const char *status = a->n_failed == 0 ? CMD_OK
                             : a->stopped == 0 && a->n_conn_failed == a->n_failed
                                 ? CMD_CONNECTION_ERROR
                                 : CMD_FAILED;
        if (a->n_failed)
                log_warning("estop%s%s: %u machine(s) stopped, %u failed (%s)",
                            a->cmd.target[0] ? " " : "", a->cmd.target, a->stopped, a->n_failed,
                            a->first_error);
        else
                log_notice("estop%s%s: %u machine(s) stopped", a->cmd.target[0] ? " " : "",
                           a->cmd.target, a->stopped);
        (void)collector_command_reply(c, &a->cmd, status, data, "%u stopped, %u failed%s%s",
                                      a->stopped, a->n_failed, a->n_failed ? ": " : "",
                                      a->first_error);
}

static void agg_unlink(struct plc_state *s, struct estop_agg *a)
{
        for (struct estop_agg **p = &s->aggs; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        free(a);
}

static void agg_fail(struct estop_agg *a, unsigned machine, bool conn, const char *why)
{
        a->failed[a->n_failed++] = machine;
        a->n_conn_failed += conn;
        if (!a->first_error[0])
                strscpy(a->first_error, sizeof(a->first_error), why);
}

void plc_estop_part(struct collector *c, const struct plc_ev *ev)
{
        struct plc_state *s = collector_state(c);
        struct estop_agg *a = ev->ctx;
        bool known = false;
        for (struct estop_agg *p = s->aggs; p; p = p->next)
                known |= p == a;
        if (!known || a->pending == 0)
                return;
        if (strcmp(ev->status, CMD_OK) == 0)
                a->stopped++;
        else
                agg_fail(a, ev->idx, strcmp(ev->status, CMD_CONNECTION_ERROR) == 0, ev->text);
        if (--a->pending == 0) {
                estop_reply(c, a);
                agg_unlink(s, a);
        }
}

static int estop(struct collector *c, const struct collector_command *cmd)
{
        struct plc_state *s = collector_state(c);
        int one = -1;
        if (cmd->target[0]) {
                one = plc_machine_find(&s->map, cmd->target);
                if (one < 0)
                        return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL,
                                                       "no machine '%s'", cmd->target);
        } else if (s->map.n_machines == 0)
                return collector_command_reply(c, cmd, CMD_NOT_FOUND, NULL,
                                               "no machines configured");
        struct estop_agg *a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        a->cmd = *cmd;
        a->next = s->aggs;
        s->aggs = a;
        a->pending = 1; /* held while fanning out, so no early reply */
        for (unsigned i = 0; i < s->map.n_machines; i++) {
                if (one >= 0 && i != (unsigned)one)
                        continue;
                struct plc_worker *w = plc_worker_of_machine(s->ws, s->n_ws, i);
                struct plc_job job = { .kind = PLC_JOB_ESTOP, .cmd = *cmd, .target = i, .agg = a };
                if (!w || !s->started)
                        agg_fail(a, i, true, "the PLC workers are not running");
                else if (plc_worker_submit(w, &job) < 0)
                        agg_fail(a, i, false, "command queue full");
                else
                        a->pending++;
        }
        s->commands++;
        if (--a->pending == 0) { /* drop the hold: every machine failed at once */
                estop_reply(c, a);
                agg_unlink(s, a);
        }
        return 0;
}

int plc_command(struct collector *c, const struct collector_command *cmd)
{
        _cleanup_(json_putp) json_object *args = NULL;
        if (strcmp(cmd->action, "refresh") == 0)
                return 1;
        if (cmd->args[0]) {
                args = json_tokener_parse(cmd->args);
                if (!args || !json_object_is_type(args, json_type_object))
                        return reply_invalid(c, cmd, "args are not a JSON object");
        }
        if (strcmp(cmd->action, "move") == 0)
                return machine_command(c, cmd, args, true);
        if (strcmp(cmd->action, "command") == 0 || strcmp(cmd->action, "send_command") == 0)
                return machine_command(c, cmd, args, false);
        if (strcmp(cmd->action, "write") == 0)
                return tag_write(c, cmd, args);
        if (strcmp(cmd->action, "estop") == 0 || strcmp(cmd->action, "emergency_stop") == 0)
                return estop(c, cmd);
        return collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                       "unknown action '%s' (move, command, write, estop, "
                                       "refresh)",
                                       cmd->action);
}

void plc_commands_free(struct plc_state *s)
{
        while (s->aggs) {
                struct estop_agg *a = s->aggs;
                s->aggs = a->next;
                free(a);
        }
}
