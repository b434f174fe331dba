/*
 * plc_collector.c — ringhub-collect-plc: Modbus TCP tags and PLC-driven machines (the
 * carousel's raw byte protocol, or Modbus-mapped) into `tag` and `machine` records.
 *
 * The event loop (this file, the skeleton's) owns the ring, the logs and the command
 * replies; each PLC has a worker thread (plc_worker.c) that does all the blocking I/O and
 * reports through the outbox, which wakes the loop with an eventfd. Tasks: "poll" starts
 * the workers on its first run and then writes every machine record (the periodic
 * status), "refresh" (60 s, or the `refresh` command) makes every worker publish every
 * tag and machine again, deadband or not. Links and failing read blocks are logged once
 * per change and written as source_status records.
 *
 * Configuration: --map FILE (or [collector.plc] map_file / map), --machine
 * ID=HOST:PORT[,name=NAME] for a carousel without any file. Nothing configured → exit 4.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "collector.h"
#include "conf.h"
#include "log.h"
#include "macros.h"
#include "plc_collector.h"
#include "util.h"

enum { OPT_MAP = 0x200, OPT_MACHINE, OPT_RECONNECT_MAX };

static const struct option options[] = {
        { "map", required_argument, NULL, OPT_MAP },
        { "machine", required_argument, NULL, OPT_MACHINE },
        { "reconnect-max", required_argument, NULL, OPT_RECONNECT_MAX },
        {},
};

static int plc_parse_option(struct collector *c, int opt, const char *arg)
{
        struct plc_state *s = collector_state(c);
        uint64_t v;
        switch (opt) {
        case OPT_MAP:
                s->map_path = arg;
                return 0;
        case OPT_MACHINE:
                if (s->n_machine_args >= PLC_MAX_MACHINES)
                        return log_error_errno(-E2BIG, "--machine: more than %u machines",
                                               PLC_MAX_MACHINES);
                s->machine_args[s->n_machine_args++] = arg;
                return 0;
        case OPT_RECONNECT_MAX:
                if (safe_atou64(arg, &v) < 0 || v < 500 || v > 3600000)
                        return log_error_errno(-EINVAL,
                                               "--reconnect-max: '%s' is not 500..3600000 ms", arg);
                s->reconnect_max_ms = (uint32_t)v;
                return 0;
        }
        return -EINVAL;
}

/* ---- records ---- */

static uint32_t status_code(const struct plc_tag_ev *ev)
{
        /* OPC UA status words, so a client reads PLC and OPC UA tags alike. */
        switch (ev->exception) {
        case 0:
                return 0x80310000u; /* BadNoCommunication */
        case 1:
                return 0x803D0000u; /* BadNotSupported: illegal function */
        case 2:
                return 0x80340000u; /* BadNodeIdUnknown: illegal data address */
        default:
                return 0x80010000u; /* BadUnexpectedError */
        }
}

static void emit_tag(struct collector *c, const struct plc_tag_ev *ev)
{
        struct plc_state *s = collector_state(c);
        if (ev->tag >= s->map.n_tags)
                return;
        const struct plc_tag_conf *t = &s->map.tags[ev->tag];
        struct rec_tag rec;
        record_init_missing(RT_tag, &rec);
        strscpy(rec.name, sizeof(rec.name), t->name);
        strscpy(rec.endpoint, sizeof(rec.endpoint), s->map.devices[t->device].endpoint);
        strscpy(rec.node_id, sizeof(rec.node_id), t->node_id);
        strscpy(rec.data_type, sizeof(rec.data_type), plc_type_data_type(&t->layout));
        strscpy(rec.unit, sizeof(rec.unit), t->unit);
        strscpy(rec.description, sizeof(rec.description), t->description);
        rec.scan_time_ms = t->scan_ms;
        rec.dead_band = t->deadband;
        rec.source_time = ev->time_ns;
        strscpy(rec.quality, sizeof(rec.quality), ev->good ? "Good" : "Bad");
        if (ev->good) {
                rec.status_code = 0;
                switch (ev->v.kind) {
                case PLC_V_BOOL:
                        rec.value_bool = ev->v.b;
                        rec.value = ev->v.b ? 1.0 : 0.0;
                        break;
                case PLC_V_INT:
                        rec.value_int = ev->v.i;
                        rec.value = ev->v.f;
                        break;
                case PLC_V_UINT:
                        if (ev->v.u <= INT64_MAX)
                                rec.value_int = (int64_t)ev->v.u;
                        rec.value = ev->v.f;
                        break;
                case PLC_V_FLOAT:
                        rec.value = ev->v.f;
                        break;
                }
        } else
                rec.status_code = status_code(ev);
        s->values++;
        (void)collector_emit(c, RT_tag, &rec);
}

static void fill_machine(struct plc_state *s, unsigned idx, const struct plc_machine_state *ms)
{
        const struct plc_machine_conf *mc = &s->map.machines[idx];
        struct rec_machine *rec = &s->machines[idx];
        record_init_missing(RT_machine, rec);
        strscpy(rec->id, sizeof(rec->id), mc->id);
        strscpy(rec->name, sizeof(rec->name), mc->name);
        strscpy(rec->ip, sizeof(rec->ip), mc->host);
        rec->port = mc->port;
        strscpy(rec->type, sizeof(rec->type),
                mc->kind == PLC_MACHINE_CAROUSEL ? "carousel" : "modbus");
        strscpy(rec->connection_status, sizeof(rec->connection_status), ms->connection_status);
        rec->connected = ms->connected;
        if (ms->has_status) {
                struct carousel_status st;
                carousel_bits(ms->raw, &st);
                rec->raw_status = ms->raw;
                rec->ready = st.ready;
                rec->running = st.running;
                rec->remote_mode = st.remote;
                rec->alarm = st.alarm;
                rec->emergency_stop = st.estop;
                rec->vfd_error = st.vfd_error;
                rec->position_error = st.position_error;
                rec->direction = st.direction;
        }
        if (ms->position != UINT32_MAX)
                rec->position = ms->position;
        strscpy(rec->last_command, sizeof(rec->last_command), ms->last_command);
        if (ms->last_argument != UINT32_MAX)
                rec->last_argument = ms->last_argument;
        strscpy(rec->last_result, sizeof(rec->last_result), ms->last_result);
        strscpy(rec->error, sizeof(rec->error), ms->error);
        s->machine_known[idx] = true;
}

static void emit_source(struct collector *c, const char *source, bool up, const char *msg)
{
        struct rec_source_status rec;
        record_init_missing(RT_source_status, &rec);
        strscpy(rec.collector, sizeof(rec.collector), collector_name(c));
        strscpy(rec.source, sizeof(rec.source), source);
        strscpy(rec.status, sizeof(rec.status), up ? "up" : "down");
        strscpy(rec.message, sizeof(rec.message), msg);
        (void)collector_emit(c, RT_source_status, &rec);
}

static void handle_ev(struct collector *c, const struct plc_ev *ev)
{
        struct plc_state *s = collector_state(c);
        switch (ev->type) {
        case PLC_EV_LINK:
        case PLC_EV_BLOCK:
                /* once per change: connected/disconnected, a block failing/readable again */
                if (ev->up)
                        log_info("%s: %s", ev->source, ev->text);
                else
                        log_warning("%s: %s: %s", ev->source,
                                    ev->type == PLC_EV_LINK ? "disconnected" : "read failed",
                                    ev->text);
                emit_source(c, ev->source, ev->up, ev->text);
                break;
        case PLC_EV_MACHINE:
                if (ev->idx < s->map.n_machines) {
                        fill_machine(s, ev->idx, &ev->ms);
                        (void)collector_emit(c, RT_machine, &s->machines[ev->idx]);
                }
                break;
        case PLC_EV_REPLY:
                (void)collector_command_reply(c, &ev->cmd, ev->status,
                                              ev->data[0] ? ev->data : NULL, "%s", ev->text);
                break;
        case PLC_EV_ESTOP:
                plc_estop_part(c, ev);
                break;
        }
}

/* Everything the workers reported since the last turn. */
static void drain(struct collector *c)
{
        struct plc_state *s = collector_state(c);
        uint64_t dropped_before = s->mine.dropped;
        plc_outbox_take(&s->ob, &s->mine);
        for (unsigned i = 0; i < s->mine.n_tags; i++)
                emit_tag(c, &s->mine.tags[i]);
        for (unsigned i = 0; i < s->mine.n_evs; i++)
                handle_ev(c, &s->mine.evs[i]);
        s->mine.n_tags = s->mine.n_evs = 0;
        if (s->mine.dropped > dropped_before)
                log_warning("%" PRIu64 " tag values dropped: the event loop fell behind",
                            s->mine.dropped - dropped_before);
}

static int on_outbox(sd_event_source *es, int fd, uint32_t revents, void *ud)
{
        drain(ud);
        return 0;
}

/* ---- configuration and life cycle ---- */

/* [collector.plc] map when no flag configured anything: a file the config names must be
 * there; the default path is used only when it exists. */
static const char *conf_map_path(struct collector *c, bool *ret_explicit)
{
        const struct conf *cfg = collector_conf(c);
        const char *p = conf_get_string(cfg, "collector.plc", "map");
        *ret_explicit = conf_is_set(cfg, "collector.plc", "map");
        if (*ret_explicit)
                return p && *p ? p : NULL;
        return p && *p && access(p, R_OK) == 0 ? p : NULL;
}

static int plc_init(struct collector *c)
{
        struct plc_state *s = collector_state(c);
        int r;
        plc_map_init(&s->map, collector_interval_ms(c, 0));
        const char *path = s->map_path;
        bool expl = true;
        if (!path && s->n_machine_args == 0)
                path = conf_map_path(c, &expl);
        if (path) {
                r = plc_map_load(&s->map, path);
                if (r < 0)
                        return r == -ENOENT && !expl ? -ENODEV : -EINVAL;
        }
        for (unsigned i = 0; i < s->n_machine_args; i++)
                if (plc_map_add_machine_arg(&s->map, s->machine_args[i]) < 0)
                        return -EINVAL;
        if (plc_map_finish(&s->map) < 0)
                return -EINVAL;
        if (s->reconnect_max_ms)
                s->map.reconnect_max_ms = s->reconnect_max_ms;
        if (s->map.n_devices == 0 && s->map.n_machines == 0)
                return log_error_errno(-ENODEV, "no PLC configured: give --map FILE or --machine "
                                                "ID=HOST:PORT (or [collector.plc] map_file)");
        s->machines = calloc(s->map.n_machines ? s->map.n_machines : 1, sizeof(*s->machines));
        s->machine_known = calloc(s->map.n_machines ? s->map.n_machines : 1, sizeof(bool));
        if (!s->machines || !s->machine_known)
                return log_error_errno(-ENOMEM, "out of memory");
        r = plc_outbox_init(&s->ob);
        if (r < 0)
                return log_error_errno(r, "cannot create the outbox: %m");
        s->ob_ready = true;
        r = plc_workers_new(&s->map, &s->ob, &s->ws, &s->n_ws);
        if (r < 0)
                return log_error_errno(r, "cannot set up the PLC connections: %m");
        unsigned blocks = 0;
        for (unsigned i = 0; i < s->n_ws; i++)
                blocks += plc_worker_blocks(s->ws[i]);
        log_info("%u device(s), %u tag(s) in %u read(s) per scan, %u machine(s)%s%s",
                 s->map.n_devices, s->map.n_tags, blocks, s->map.n_machines, path ? " from " : "",
                 path ? path : "");
        return 0;
}

static int plc_poll_task(struct collector *c)
{
        struct plc_state *s = collector_state(c);
        sd_event *e = collector_event(c);
        if (!s->started && !e) {
                /* --once: every PLC polled once on this thread, in turn. */
                for (unsigned i = 0; i < s->n_ws; i++)
                        plc_worker_run_once(s->ws[i]);
                drain(c);
                s->started = true;
                return 0;
        }
        if (!s->started) {
                int r = sd_event_add_io(e, &s->ob_src, s->ob.efd, EPOLLIN, on_outbox, c);
                if (r < 0)
                        return log_error_errno(r, "cannot watch the outbox: %m");
                for (unsigned i = 0; i < s->n_ws; i++) {
                        r = plc_worker_start(s->ws[i]);
                        if (r < 0)
                                return log_error_errno(r, "cannot start a worker thread: %m");
                }
                s->started = true;
                return 0;
        }
        /* The periodic machine status (the carousel server's status_broadcast). */
        for (unsigned i = 0; i < s->map.n_machines; i++)
                if (s->machine_known[i])
                        (void)collector_emit(c, RT_machine, &s->machines[i]);
        return 0;
}

static int plc_refresh_task(struct collector *c)
{
        struct plc_state *s = collector_state(c);
        if (!s->started || !collector_event(c))
                return 0;
        for (unsigned i = 0; i < s->n_ws; i++)
                plc_worker_refresh(s->ws[i]);
        return 0;
}

static void plc_done(struct collector *c)
{
        struct plc_state *s = collector_state(c);
        uint64_t reads = 0;
        for (unsigned i = 0; i < s->n_ws; i++) {
                reads += plc_worker_reads(s->ws[i]);
                s->ws[i] = plc_worker_free(s->ws[i]);
        }
        free(s->ws);
        s->ws = NULL;
        s->ob_src = sd_event_source_disable_unref(s->ob_src);
        log_info("stopping: %" PRIu64 " reads, %" PRIu64 " tag values written, %" PRIu64
                 " commands",
                 reads, s->values, s->commands);
        plc_commands_free(s);
        if (s->ob_ready)
                plc_outbox_free(&s->ob);
        free(s->mine.tags);
        free(s->mine.evs);
        free(s->machines);
        free(s->machine_known);
        plc_map_free(&s->map);
}

static const struct collector_ops ops = {
        .name = "plc",
        .description = "Modbus TCP tags and PLC machines (carousel, Modbus-mapped) into the ring",
        .tasks = { { .name = "poll", .interval_ms = 1000, .run = plc_poll_task },
                   { .name = "refresh", .interval_ms = 60000, .run = plc_refresh_task } },
        .state_size = sizeof(struct plc_state),
        .options = options,
        .options_help =
            "  (--interval is the default scan time of tags and machines and the period of\n"
            "   the machine records; --interval-refresh the full republish, deadband or not)\n"
            "      --map FILE            the tag and machine map (INI; default [collector.plc]\n"
            "                            map_file): [defaults], [device.NAME], [tag.NAME],\n"
            "                            [machine.ID] — see collectors/plc/plc_map.c\n"
            "      --machine ID=HOST:PORT[,name=NAME]\n"
            "                            a carousel PLC (raw byte protocol, port 3200), "
            "repeatable\n"
            "      --reconnect-max MS    longest wait between reconnects (default 10000)\n",
        .parse_option = plc_parse_option,
        .init = plc_init,
        .done = plc_done,
        .command = plc_command,
};

int main(int argc, char **argv)
{
        return collector_main(&ops, argc, argv);
}
