/*
 * plc_machine.c — machines and commands, on a PLC collector worker thread.
 *
 * A carousel machine is polled with the raw STATUS byte; a Modbus-mapped machine by
 * reading its status register (same bits as the carousel's) and optional position
 * register on its device's connection. Commands run here too, in the order queued:
 * move/command (BUSY while the RUN bit is set, FAILED while the e-stop is pressed),
 * tag writes, and each machine's e-stop action. Every answer goes back to the event
 * loop through the outbox; a machine's state is published when it changes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "macros.h"
#include "plc_worker_impl.h"
#include "util.h"

void machine_init(struct plc_worker *w, struct machine_rt *mr, unsigned idx)
{
        *mr = (struct machine_rt){ .idx = idx };
        mr->st = (struct plc_machine_state){ .position = UINT32_MAX, .last_argument = UINT32_MAX };
        strscpy(mr->st.connection_status, sizeof(mr->st.connection_status), "connecting");
}

static bool same_state(const struct plc_machine_state *a, const struct plc_machine_state *b)
{
        return a->connected == b->connected && a->has_status == b->has_status &&
               (!a->has_status || a->raw == b->raw) && a->position == b->position &&
               a->last_argument == b->last_argument &&
               strcmp(a->connection_status, b->connection_status) == 0 &&
               strcmp(a->last_command, b->last_command) == 0 &&
               strcmp(a->last_result, b->last_result) == 0 && strcmp(a->error, b->error) == 0;
}

void machine_publish(struct plc_worker *w, struct machine_rt *mr, bool force)
{
        if (!force && mr->has_pub && same_state(&mr->st, &mr->pub))
                return;
        mr->pub = mr->st;
        mr->has_pub = true;
        struct plc_ev ev = { .type = PLC_EV_MACHINE, .idx = mr->idx, .ms = mr->st };
        plc_outbox_push(w->ob, &ev);
}

void machine_link_lost(struct plc_worker *w, struct machine_rt *mr, const char *why)
{
        mr->st.connected = false;
        mr->st.has_status = false;
        mr->st.position = UINT32_MAX;
        strscpy(mr->st.connection_status, sizeof(mr->st.connection_status), "disconnected");
        strscpy(mr->st.error, sizeof(mr->st.error), why);
        machine_publish(w, mr, false);
}

static void state_ok(struct machine_rt *mr, uint8_t raw, uint32_t position)
{
        mr->st.connected = true;
        mr->st.has_status = true;
        mr->st.raw = raw;
        mr->st.position = position;
        strscpy(mr->st.connection_status, sizeof(mr->st.connection_status), "connected");
        mr->st.error[0] = 0;
}

static void carousel_down(struct plc_worker *w, struct machine_rt *mr, const char *why)
{
        worker_link(w, false, why);
        machine_link_lost(w, mr, why);
}

static int read_reg(struct plc_worker *w, const struct plc_reg_ref *ref, uint16_t *v)
{
        int n = ref->area == PLC_AREA_INPUT ? modbus_read_input_registers(w->mb, ref->address, 1, v)
                                            : modbus_read_registers(w->mb, ref->address, 1, v);
        w->reads++;
        return n == 1 ? 0 : n < 0 ? errno : EMBBADDATA;
}

/* Modbus machine: status (and position); 0, or the failure already reported. */
static int modbus_machine_read(struct plc_worker *w, struct machine_rt *mr, char *err,
                               size_t errlen)
{
        const struct plc_machine_conf *mc = &w->m->machines[mr->idx];
        uint16_t status, pos = 0;
        int e = read_reg(w, &mc->status, &status);
        if (e == 0 && mc->position.set)
                e = read_reg(w, &mc->position, &pos);
        if (e) {
                char why[128];
                int exc = worker_modbus_failed(w, e, why, sizeof(why));
                snprintf(err, errlen, "status: %.100s", why);
                if (!w->connected)
                        return exc ? exc : -ECONNRESET;
                mr->st.has_status = false;
                strscpy(mr->st.error, sizeof(mr->st.error), err);
                machine_publish(w, mr, false);
                return exc;
        }
        worker_link(w, true, NULL);
        state_ok(mr, (uint8_t)status, mc->position.set ? pos : UINT32_MAX);
        machine_publish(w, mr, false);
        return 0;
}

void machine_poll(struct plc_worker *w, struct machine_rt *mr)
{
        char err[128];
        if (!w->carousel) {
                (void)modbus_machine_read(w, mr, err, sizeof(err));
                return;
        }
        struct carousel_status cs;
        if (carousel_transact(&w->cc, CAROUSEL_CMD_STATUS, 0, &cs, err, sizeof(err)) < 0) {
                carousel_down(w, mr, err);
                return;
        }
        worker_link(w, true, NULL);
        state_ok(mr, cs.raw, cs.position);
        machine_publish(w, mr, false);
}

static void record_command(struct machine_rt *mr, const char *what, uint32_t argument,
                           const char *result)
{
        strscpy(mr->st.last_command, sizeof(mr->st.last_command), what);
        mr->st.last_argument = argument;
        strscpy(mr->st.last_result, sizeof(mr->st.last_result), result);
}

static void carousel_job(struct plc_worker *w, struct machine_rt *mr, const struct plc_job *job)
{
        const struct plc_machine_conf *mc = &w->m->machines[mr->idx];
        struct carousel_status cs;
        char err[128], label[24], data[96];
        uint8_t cmd = (uint8_t)job->command, arg = (uint8_t)job->argument;
        if (job->kind == PLC_JOB_ESTOP) {
                if (mc->estop_command < 0)
                        return worker_reply(w, job, CMD_FAILED, NULL,
                                            "%s: no e-stop action configured", mc->id);
                cmd = (uint8_t)mc->estop_command;
                arg = (uint8_t)mc->estop_argument;
                strscpy(label, sizeof(label), "estop");
        } else if (job->is_move)
                strscpy(label, sizeof(label), "move");
        else
                snprintf(label, sizeof(label), "command %u", cmd);
        if (job->is_move) {
                if (carousel_transact(&w->cc, CAROUSEL_CMD_STATUS, 0, &cs, err, sizeof(err)) < 0) {
                        carousel_down(w, mr, err);
                        return worker_reply(w, job, CMD_CONNECTION_ERROR, NULL, "%s: %s", mc->id,
                                            err);
                }
                worker_link(w, true, NULL);
                state_ok(mr, cs.raw, cs.position);
                machine_publish(w, mr, false);
                if (cs.running)
                        return worker_reply(w, job, CMD_BUSY, NULL, "%s is moving (position %u)",
                                            mc->id, cs.position);
                if (cs.estop)
                        return worker_reply(w, job, CMD_FAILED, NULL,
                                            "%s: emergency stop is active", mc->id);
        }
        int r = carousel_transact(&w->cc, cmd, arg, &cs, err, sizeof(err));
        if (r < 0) {
                record_command(mr, label, arg, r == -EBADMSG ? CMD_FAILED : CMD_CONNECTION_ERROR);
                carousel_down(w, mr, err);
                return worker_reply(w, job, r == -EBADMSG ? CMD_FAILED : CMD_CONNECTION_ERROR, NULL,
                                    "%s: %s", mc->id, err);
        }
        worker_link(w, true, NULL);
        state_ok(mr, cs.raw, cs.position);
        record_command(mr, label, arg, CMD_OK);
        machine_publish(w, mr, false);
        snprintf(data, sizeof(data), "{\"raw_status\":%u,\"position\":%u}", cs.raw, cs.position);
        worker_reply(w, job, CMD_OK, data, "%s: %s %u sent", mc->id, label, arg);
}

/* A failed write: the PLC refused (exception) or the link is gone. */
static void write_failed(struct plc_worker *w, const struct plc_job *job, const char *what, int e)
{
        char err[128];
        int exc = worker_modbus_failed(w, e, err, sizeof(err));
        worker_reply(w, job, exc ? CMD_FAILED : CMD_CONNECTION_ERROR, NULL, "%s: %s", what, err);
}

static void modbus_machine_job(struct plc_worker *w, struct machine_rt *mr,
                               const struct plc_job *job)
{
        const struct plc_machine_conf *mc = &w->m->machines[mr->idx];
        char err[128];
        if (worker_modbus_ensure(w, true, err, sizeof(err)) < 0)
                return worker_reply(w, job, CMD_CONNECTION_ERROR, NULL, "%s: %s", mc->id, err);
        if (job->kind == PLC_JOB_ESTOP) {
                if (!mc->estop.set)
                        return worker_reply(w, job, CMD_FAILED, NULL,
                                            "%s: no estop register configured", mc->id);
                int n = mc->estop.area == PLC_AREA_COIL
                            ? modbus_write_bit(w->mb, mc->estop.address, mc->estop_value != 0)
                            : modbus_write_register(w->mb, mc->estop.address, mc->estop_value);
                if (n != 1) {
                        record_command(mr, "estop", mc->estop_value, CMD_FAILED);
                        return write_failed(w, job, mc->id, n < 0 ? errno : EMBBADDATA);
                }
                record_command(mr, "estop", mc->estop_value, CMD_OK);
                (void)modbus_machine_read(w, mr, err, sizeof(err));
                return worker_reply(w, job, CMD_OK, NULL, "%s: estop written", mc->id);
        }
        if (job->is_move) {
                int r = modbus_machine_read(w, mr, err, sizeof(err));
                if (r != 0)
                        return worker_reply(w, job, r > 0 ? CMD_FAILED : CMD_CONNECTION_ERROR, NULL,
                                            "%s: %s", mc->id, err);
                if (mr->st.raw & CAROUSEL_RUN)
                        return worker_reply(w, job, CMD_BUSY, NULL, "%s is moving", mc->id);
                if (!(mr->st.raw & CAROUSEL_ESTOP_OK))
                        return worker_reply(w, job, CMD_FAILED, NULL,
                                            "%s: emergency stop is active", mc->id);
        }
        const char *label = job->is_move ? "move" : "command";
        /* The argument first: the PLC acts when the command register changes. */
        if (job->has_argument && mc->argument.set) {
                int n = modbus_write_register(w->mb, mc->argument.address, job->argument);
                if (n != 1) {
                        record_command(mr, label, job->argument, CMD_FAILED);
                        return write_failed(w, job, mc->id, n < 0 ? errno : EMBBADDATA);
                }
        }
        int n = modbus_write_register(w->mb, mc->command.address, job->command);
        if (n != 1) {
                record_command(mr, label, job->argument, CMD_FAILED);
                return write_failed(w, job, mc->id, n < 0 ? errno : EMBBADDATA);
        }
        record_command(mr, label, job->has_argument ? job->argument : UINT32_MAX, CMD_OK);
        (void)modbus_machine_read(w, mr, err, sizeof(err));
        machine_publish(w, mr, false);
        worker_reply(w, job, CMD_OK, NULL, "%s: %s %u written", mc->id, label, job->command);
}

static void tag_write(struct plc_worker *w, const struct plc_job *job)
{
        const struct plc_tag_conf *t = &w->m->tags[job->target];
        const struct plc_layout *l = &t->layout;
        char err[128], data[96];
        int n, want = 1;
        if (worker_modbus_ensure(w, true, err, sizeof(err)) < 0)
                return worker_reply(w, job, CMD_CONNECTION_ERROR, NULL, "%s: %s", t->name, err);
        if (l->area == PLC_AREA_COIL) {
                n = modbus_write_bit(w->mb, t->address, job->bit);
                snprintf(data, sizeof(data), "{\"bit\":%s}", job->bit ? "true" : "false");
        } else if (l->type == PLC_T_BIT) {
                uint16_t v;
                n = modbus_read_registers(w->mb, t->address, 1, &v);
                if (n != 1)
                        return write_failed(w, job, t->name, n < 0 ? errno : EMBBADDATA);
                v = job->bit ? (uint16_t)(v | 1u << l->bit) : (uint16_t)(v & ~(1u << l->bit));
                n = modbus_write_register(w->mb, t->address, v);
                snprintf(data, sizeof(data), "{\"registers\":[%u]}", v);
        } else {
                unsigned width = plc_type_width(l->type);
                want = (int)width;
                n = width == 1 ? modbus_write_register(w->mb, t->address, job->regs[0])
                               : modbus_write_registers(w->mb, t->address, (int)width, job->regs);
                int len = snprintf(data, sizeof(data), "{\"registers\":[");
                for (unsigned i = 0; i < width; i++)
                        len += snprintf(data + len, sizeof(data) - (size_t)len, "%s%u",
                                        i ? "," : "", job->regs[i]);
                snprintf(data + len, sizeof(data) - (size_t)len, "]}");
        }
        if (n != want)
                return write_failed(w, job, t->name, n < 0 ? errno : EMBBADDATA);
        worker_link(w, true, NULL);
        worker_poll_tag_soon(w, job->target);
        worker_reply(w, job, CMD_OK, data, "%s written", t->name);
}

void machine_run_job(struct plc_worker *w, const struct plc_job *job)
{
        if (job->kind != PLC_JOB_ESTOP && job->cmd.deadline_ns && real_ns() > job->cmd.deadline_ns)
                return; /* the skeleton has answered TIMEOUT already */
        if (job->kind == PLC_JOB_WRITE) {
                tag_write(w, job);
                return;
        }
        for (unsigned i = 0; i < w->n_machines; i++)
                if (w->machines[i].idx == job->target) {
                        if (w->carousel)
                                carousel_job(w, &w->machines[i], job);
                        else
                                modbus_machine_job(w, &w->machines[i], job);
                        return;
                }
        worker_reply(w, job, CMD_NOT_FOUND, NULL, "no such machine on this worker");
}
