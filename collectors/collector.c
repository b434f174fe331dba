/*
 * collector.c — the collector skeleton (see collector.h).
 *
 * Runs in every ringhub-collect-* process. One sd-event loop: a timer per task (with a
 * coarse accuracy so the kernel can batch wake-ups), SIGTERM/SIGINT for a clean exit,
 * and the systemd watchdog handled by sd-event itself. No threads here; a collector
 * that must not block on a source (statvfs on a dead mount) makes its own.
 */
#include "collector.h"
#include "collector_int.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>

#include "conf.h"
#include "config.h"
#include "log.h"
#include "macros.h"
#include "mailbox.h"
#include "registry.h"
#include "util.h"

#define COLLECTOR_MAX_PROBLEMS 16

/* Problems of one task: hashes seen in its current run and in its previous run. */
struct problem_set {
        uint64_t h[2][COLLECTOR_MAX_PROBLEMS];
        unsigned n[2];
};

struct task_state {
        sd_event_source *timer;
        uint32_t interval_ms;
};

struct source_entry {
        char source[96];
        char message[160];
        bool up;
        bool known;
        uint64_t failures;
};

struct batch_rec {
        uint16_t type;
        uint16_t flags;
        _Alignas(8) uint8_t payload[RING_PAYLOAD_MAX];
};

struct collector {
        const struct collector_ops *ops;
        void *state;
        sd_event *event;
        struct ring *ring;
        int producer;
        struct task_state tasks[COLLECTOR_MAX_TASKS];
        unsigned n_tasks;
        const char *procfs, *sysfs, *rootfs;
        const char *ring_name;
        uint32_t capacity;
        struct batch_rec *batch;
        unsigned batch_n;
        bool batch_overflow;
        uint32_t batch_id;
        struct source_entry sources[16];
        unsigned n_sources;
        uint64_t cycles;
        uint64_t written, dropped;
        uint64_t ring_fail_logged_ns, ring_fail_unlogged; /* collector_ring_failed() */
        struct conf *conf;
        bool interval_from_flag[COLLECTOR_MAX_TASKS];
        struct collector_cmds *cmds;
        /* per task, plus one for problems met outside a task run (init, callbacks) */
        struct problem_set problems[COLLECTOR_MAX_TASKS + 1];
        unsigned current_task;
};

void *collector_state(struct collector *c)
{
        return c->state;
}
const char *collector_name(const struct collector *c)
{
        return c->ops->name;
}
sd_event *collector_event(struct collector *c)
{
        return c->event;
}
struct ring *collector_ring(struct collector *c)
{
        return c->ring;
}
uint32_t collector_interval_ms(const struct collector *c, unsigned task)
{
        return task < c->n_tasks ? c->tasks[task].interval_ms : 0;
}
const char *collector_procfs(const struct collector *c)
{
        return c->procfs;
}
const char *collector_sysfs(const struct collector *c)
{
        return c->sysfs;
}
const char *collector_rootfs(const struct collector *c)
{
        return c->rootfs;
}
const struct conf *collector_conf(const struct collector *c)
{
        return c->conf;
}

uint64_t collector_cycles(const struct collector *c)
{
        return c->cycles;
}

const struct collector_ops *collector_ops_of(const struct collector *c)
{
        return c->ops;
}

int collector_producer(const struct collector *c)
{
        return c->producer;
}

int collector_proc_path(const struct collector *c, const char *path, char *out, size_t size)
{
        return path_join(out, size, c->procfs, path);
}
int collector_sys_path(const struct collector *c, const char *path, char *out, size_t size)
{
        return path_join(out, size, c->sysfs, path);
}
int collector_root_path(const struct collector *c, const char *path, char *out, size_t size)
{
        return path_join(out, size, strcmp(c->rootfs, "/") == 0 ? "" : c->rootfs, path);
}

/* ---- batches ---- */

void collector_batch_begin(struct collector *c)
{
        c->batch_n = 0;
        c->batch_overflow = false;
}

void *collector_batch_add(struct collector *c, unsigned type)
{
        if (!schema_record(type))
                return NULL; /* a programming error: no such record type */
        if (c->batch_n >= COLLECTOR_MAX_BATCH) {
                c->batch_overflow = true;
                return NULL;
        }
        struct batch_rec *b = &c->batch[c->batch_n++];
        b->type = (uint16_t)type;
        b->flags = 0;
        record_init_missing(type, b->payload);
        return b->payload;
}

int collector_batch_add_empty(struct collector *c, unsigned type)
{
        if (!collector_batch_add(c, type))
                return -ENOBUFS;
        c->batch[c->batch_n - 1].flags = RING_REC_EMPTY_LIST;
        return 0;
}

unsigned collector_batch_count(const struct collector *c)
{
        return c->batch_n;
}

void collector_ring_failed(struct collector *c, int err, unsigned n)
{
        /* -ENOBUFS: lapped by other producers, an ordinary overrun the ring counts. */
        if (err >= 0 || err == -ENOBUFS)
                return;
        uint64_t now = mono_ns();
        c->ring_fail_unlogged += n;
        if (c->ring_fail_logged_ns && now - c->ring_fail_logged_ns < 60 * NSEC_PER_SEC)
                return;
        log_warning_errno(err, "cannot write to ring %s: %m (%" PRIu64 " records not written%s)",
                          c->ring->name, c->ring_fail_unlogged,
                          c->ring_fail_logged_ns ? " in the last minute" : "");
        c->ring_fail_logged_ns = now;
        c->ring_fail_unlogged = 0;
}

int collector_batch_commit(struct collector *c)
{
        enum { CHUNK = 64 }; /* records per ring claim */
        struct ring_write_meta m[CHUNK];
        const void *payloads[CHUNK];
        size_t lens[CHUNK];
        int r = 0;

        if (c->batch_overflow)
                log_warning("batch larger than %u records, the rest was left out",
                            COLLECTOR_MAX_BATCH);
        if (c->batch_n == 0)
                return 0;
        uint32_t id = ++c->batch_id;
        if (id == 0)
                id = c->batch_id = 1;
        uint64_t ts = real_ns();
        for (unsigned base = 0; base < c->batch_n; base += CHUNK) {
                unsigned n = MIN((unsigned)CHUNK, c->batch_n - base);
                for (unsigned i = 0; i < n; i++) {
                        const struct batch_rec *b = &c->batch[base + i];
                        const struct record_desc *d = schema_record(b->type);
                        m[i] = (struct ring_write_meta){ .type = b->type,
                                                         .version = d->version,
                                                         .flags = b->flags,
                                                         .batch_id = id,
                                                         .batch_idx = (uint16_t)(base + i),
                                                         .batch_cnt = (uint16_t)c->batch_n,
                                                         .ts_ns = ts };
                        payloads[i] = b->payload;
                        lens[i] = d->size;
                }
                uint64_t before = ring_producer_dropped(c->ring, c->producer);
                int k = ring_write_batch(c->ring, c->producer, m, payloads, lens, n);
                uint64_t lost = ring_producer_dropped(c->ring, c->producer) - before;
                if (k < 0 && k != -ENOBUFS && k != -EUCLEAN)
                        lost = n; /* refused before anything was written */
                c->dropped += lost;
                c->written += n - lost;
                if (k < 0) {
                        r = k;
                        collector_ring_failed(c, k, (unsigned)lost);
                }
        }
        (void)ring_producer_next_batch(c->ring, c->producer);
        c->batch_n = 0;
        return r;
}

int collector_emit(struct collector *c, unsigned type, const void *payload)
{
        const struct record_desc *d = schema_record(type);
        if (!d)
                return -EINVAL;
        collector_batch_begin(c);
        void *p = collector_batch_add(c, type);
        memcpy(p, payload, d->size);
        return collector_batch_commit(c);
}

void collector_source_status(struct collector *c, const char *source, bool up, const char *fmt, ...)
{
        struct source_entry *e = NULL;
        char msg[160] = "";
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        for (unsigned i = 0; i < c->n_sources; i++)
                if (strncmp(c->sources[i].source, source, sizeof(c->sources[i].source) - 1) == 0)
                        e = &c->sources[i];
        if (!e) {
                if (c->n_sources >= ELEMENTSOF(c->sources))
                        e = &c->sources[ELEMENTSOF(c->sources) - 1];
                else
                        e = &c->sources[c->n_sources++];
                *e = (struct source_entry){ 0 };
                strscpy(e->source, sizeof(e->source), source);
        }
        e->failures = up ? 0 : e->failures + 1;
        bool changed = !e->known || e->up != up || (!up && strcmp(e->message, msg) != 0);
        if (!changed)
                return;
        e->known = true;
        e->up = up;
        strscpy(e->message, sizeof(e->message), msg);
        if (up)
                log_info("source %s is up%s%s", source, *msg ? ": " : "", msg);
        else
                log_warning("source %s is down: %s", source, *msg ? msg : "unavailable");

        struct rec_source_status s;
        record_init_missing(RT_source_status, &s);
        strscpy(s.collector, sizeof(s.collector), c->ops->name);
        strscpy(s.source, sizeof(s.source), source);
        strscpy(s.status, sizeof(s.status), up ? "up" : "down");
        strscpy(s.message, sizeof(s.message), msg);
        s.failures = e->failures;
        /* A keyed record of its own, outside the collector's list batches. */
        const struct record_desc *d = schema_record(RT_source_status);
        struct ring_write_meta m = { .type = RT_source_status, .version = d->version };
        int k = ring_write(c->ring, c->producer, &m, &s, sizeof(s));
        if (k == 0)
                c->written++;
        else {
                c->dropped++;
                collector_ring_failed(c, k, 1);
        }
}

/* ---- problems: log on appearance only ---- */

static uint64_t hash_text(const char *s)
{
        uint64_t h = 1469598103934665603ULL;
        for (; *s; s++)
                h = (h ^ (uint8_t)*s) * 1099511628211ULL;
        return h;
}

void collector_problem(struct collector *c, const char *fmt, ...)
{
        char buf[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        struct problem_set *p = &c->problems[MIN(c->current_task, (unsigned)COLLECTOR_MAX_TASKS)];
        uint64_t h = hash_text(buf);
        for (unsigned i = 0; i < p->n[0]; i++)
                if (p->h[0][i] == h)
                        return; /* already met in this run */
        bool known = false;
        for (unsigned i = 0; i < p->n[1]; i++)
                known |= p->h[1][i] == h;
        if (!known)
                log_warning("%s", buf);
        if (p->n[0] < COLLECTOR_MAX_PROBLEMS)
                p->h[0][p->n[0]++] = h;
}

/* After a task run: this run's problems become the "previous" ones. */
static void problems_rotate(struct collector *c, unsigned task)
{
        struct problem_set *p = &c->problems[task];
        memcpy(p->h[1], p->h[0], sizeof(p->h[0]));
        p->n[1] = p->n[0];
        p->n[0] = 0;
}

static int run_task(struct collector *c, unsigned i)
{
        c->current_task = i;
        int r = c->ops->tasks[i].run(c);
        problems_rotate(c, i);
        c->current_task = COLLECTOR_MAX_TASKS;
        return r;
}

/* ---- loop ---- */

static void notify_status(struct collector *c)
{
        sd_notifyf(false,
                   "STATUS=%" PRIu64 " cycles, %" PRIu64 " records written, %" PRIu64 " dropped",
                   c->cycles, c->written, c->dropped);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static int task_index(struct collector *c, sd_event_source *s)
{
        for (unsigned i = 0; i < c->n_tasks; i++)
                if (c->tasks[i].timer == s)
                        return (int)i;
        return -1;
}

static void task_schedule(struct collector *c, unsigned i, uint64_t delay_us)
{
        struct task_state *t = &c->tasks[i];
        uint64_t now;
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(t->timer, now + delay_us);
        sd_event_source_set_enabled(t->timer, SD_EVENT_ONESHOT);
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata)
{
        struct collector *c = userdata;
        int i = task_index(c, s);
        if (i < 0)
                return 0;
        struct task_state *t = &c->tasks[i];
        uint64_t start = mono_ns();
        int r = run_task(c, (unsigned)i);
        c->cycles++;
        if (r < 0)
                log_debug_errno(r, "task %s failed: %m", c->ops->tasks[i].name);
        ring_producer_heartbeat(c->ring, c->producer);
        if (c->cycles == 1 || c->cycles % 64 == 0)
                notify_status(c);

        /* Next run one interval after this one *started*: no drift, no overlap. */
        uint64_t took_us = (mono_ns() - start) / 1000;
        uint64_t iv_us = (uint64_t)t->interval_ms * 1000;
        task_schedule(c, (unsigned)i, took_us >= iv_us ? 0 : iv_us - took_us);
        return 0;
}

void collector_run_tasks_now(struct collector *c)
{
        for (unsigned i = 0; i < c->n_tasks; i++) {
                int r = run_task(c, i);
                if (r < 0)
                        log_debug_errno(r, "task %s failed: %m", c->ops->tasks[i].name);
        }
        c->cycles++;
        ring_producer_heartbeat(c->ring, c->producer);
}

void collector_trigger(struct collector *c, unsigned task, uint64_t delay_ms)
{
        if (task >= c->n_tasks)
                return;
        struct task_state *t = &c->tasks[task];
        uint64_t now, when;
        sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        if (sd_event_source_get_time(t->timer, &when) >= 0 && when <= now + delay_ms * 1000)
                return; /* already due sooner */
        task_schedule(c, task, delay_ms * 1000);
}

static int stop_fd = -EBADF; /* signalfd for SIGTERM/SIGINT, only polled (never read) */

int collector_stop_fd(void)
{
        return stop_fd;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct collector *c = userdata;
        sd_notify(false, "STOPPING=1");
        log_info("signal %u received, stopping", si->ssi_signo);
        sd_event_exit(c->event, 0);
        return 0;
}

static int log_level_from_name(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = { { "debug", LOG_DEBUG },
                       { "info", LOG_INFO },
                       { "notice", LOG_NOTICE },
                       { "warning", LOG_WARNING },
                       { "error", LOG_ERR } };
        for (size_t i = 0; s && i < ELEMENTSOF(levels); i++)
                if (strcmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return LOG_INFO;
}

/* Intervals from the config file, unless a flag named them. */
static void apply_conf_intervals(struct collector *c)
{
        for (unsigned i = 0; i < c->n_tasks; i++) {
                uint64_t ms;
                if (c->interval_from_flag[i] || (i == 0 && c->ops->interval_key_is_own))
                        continue;
                if (conf_collector_interval_ms(c->conf, c->ops->name,
                                               i ? c->ops->tasks[i].name : NULL, &ms) > 0 &&
                    ms >= 10)
                        c->tasks[i].interval_ms = (uint32_t)MIN(ms, 86400000u);
        }
}

struct reload_ctx {
        struct collector *c;
        unsigned applied, restart;
};

static void on_conf_change(const struct conf_key *k, const char *old_value, const char *new_value,
                           void *userdata)
{
        struct reload_ctx *r = userdata;
        char section[48];
        snprintf(section, sizeof(section), "collector.%s", r->c->ops->name);
        if (strcmp(k->section, section) != 0 && strcmp(k->section, "log") != 0)
                return; /* another process's section */
        if (k->reload) {
                r->applied++;
                log_info("config: [%s] %s = %s (was %s), applied", k->section, k->key,
                         new_value ? new_value : "", old_value ? old_value : "");
        } else {
                r->restart++;
                log_notice("config: [%s] %s = %s (was %s) takes effect after a restart", k->section,
                           k->key, new_value ? new_value : "", old_value ? old_value : "");
        }
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata)
{
        struct collector *c = userdata;
        struct conf *old = NULL;
        sd_notify(false, "RELOADING=1");
        if (conf_reload(&c->conf, &old) < 0) {
                log_warning("configuration not reloaded: errors above; keeping the running one");
                sd_notify(false, "READY=1");
                return 0;
        }
        struct reload_ctx ctx = { .c = c };
        conf_diff(old, c->conf, on_conf_change, &ctx);
        conf_free(old);
        log_set_max_level(log_level_from_name(conf_get_string(c->conf, "log", "level")));
        uint32_t before[COLLECTOR_MAX_TASKS];
        for (unsigned i = 0; i < c->n_tasks; i++)
                before[i] = c->tasks[i].interval_ms;
        apply_conf_intervals(c);
        for (unsigned i = 0; i < c->n_tasks; i++)
                if (c->tasks[i].interval_ms != before[i]) {
                        if (i == 0)
                                ring_producer_set_interval(c->ring, c->producer,
                                                           c->tasks[0].interval_ms);
                        /* Run on the new schedule from now. */
                        collector_trigger(c, i, MIN(c->tasks[i].interval_ms, before[i]));
                }
        if (c->ops->reload)
                c->ops->reload(c);
        log_info("configuration reloaded from %s: %u change(s) applied, %u need a restart",
                 conf_source(c->conf) ? conf_source(c->conf) : "defaults", ctx.applied,
                 ctx.restart);
        sd_notify(false, "READY=1");
        return 0;
}

static void help(const struct collector_ops *ops)
{
        printf("ringhub-collect-%s %s — %s\n\n"
               "Usage: ringhub-collect-%s [OPTIONS]\n\n"
               "  --ring NAME          ring name (default $RINGHUB_RING or 'ringhub')\n"
               "  --interval MS        main interval in milliseconds (default %u)\n",
               ops->name, RINGHUB_VERSION, ops->description, ops->name, ops->tasks[0].interval_ms);
        for (unsigned i = 1; i < COLLECTOR_MAX_TASKS && ops->tasks[i].run; i++)
                printf("  --interval-%-8s MS interval of '%s' (default %u)\n", ops->tasks[i].name,
                       ops->tasks[i].name, ops->tasks[i].interval_ms);
        printf("  --config FILE        configuration file (default %s, $%s)\n", CONF_DEFAULT_PATH,
               CONF_ENV);
        printf("  --procfs DIR         /proc root (default /proc, $RINGHUB_PROCFS)\n"
               "  --sysfs DIR          /sys root (default /sys, $RINGHUB_SYSFS)\n"
               "  --rootfs DIR         root for other files (default /, $RINGHUB_ROOTFS)\n"
               "  --ring-capacity N    slots when this process creates the ring\n"
               "  --once               run every task once and exit (tests)\n"
               "  -v, --verbose        debug logging\n"
               "  -h, --help           this help\n"
               "  --version            print the version and exit\n");
        if (ops->options_help)
                fputs(ops->options_help, stdout);
        printf(
            "\nExit codes: 0 stopped, 1 failure, 2 usage, 3 ring incompatible, 4 source absent\n");
}

static const char *env_or(const char *name, const char *def)
{
        const char *v = getenv(name);
        return v && *v ? v : def;
}

static int collector_run(struct collector *c, int argc, char **argv)
{
        const struct collector_ops *ops = c->ops;
        enum {
                OPT_RING = 0x100,
                OPT_INTERVAL,
                OPT_PROCFS,
                OPT_SYSFS,
                OPT_ROOTFS,
                OPT_CAPACITY,
                OPT_ONCE,
                OPT_CONFIG,
                OPT_VERSION,
                OPT_TASK_INTERVAL = 0x180
        };
        struct option opts[64];
        char task_opt_names[COLLECTOR_MAX_TASKS][32];
        unsigned n = 0;
        bool once = false;
        int r, exit_code = COLLECTOR_EXIT_OK;

        static char ident[48];
        snprintf(ident, sizeof(ident), "ringhub-collect-%s", ops->name);
        log_set_ident(ident);

        c->procfs = env_or("RINGHUB_PROCFS", "/proc");
        c->sysfs = env_or("RINGHUB_SYSFS", "/sys");
        c->rootfs = env_or("RINGHUB_ROOTFS", "/");
        for (unsigned i = 0; i < COLLECTOR_MAX_TASKS && ops->tasks[i].run; i++) {
                c->tasks[i].interval_ms = ops->tasks[i].interval_ms;
                c->n_tasks = i + 1;
        }

        opts[n++] = (struct option){ "ring", required_argument, NULL, OPT_RING };
        opts[n++] = (struct option){ "interval", required_argument, NULL, OPT_INTERVAL };
        opts[n++] = (struct option){ "procfs", required_argument, NULL, OPT_PROCFS };
        opts[n++] = (struct option){ "sysfs", required_argument, NULL, OPT_SYSFS };
        opts[n++] = (struct option){ "rootfs", required_argument, NULL, OPT_ROOTFS };
        opts[n++] = (struct option){ "ring-capacity", required_argument, NULL, OPT_CAPACITY };
        opts[n++] = (struct option){ "once", no_argument, NULL, OPT_ONCE };
        opts[n++] = (struct option){ "config", required_argument, NULL, OPT_CONFIG };
        opts[n++] = (struct option){ "verbose", no_argument, NULL, 'v' };
        opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
        opts[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
        for (unsigned i = 1; i < c->n_tasks; i++) {
                snprintf(task_opt_names[i], sizeof(task_opt_names[i]), "interval-%s",
                         ops->tasks[i].name);
                opts[n++] = (struct option){ task_opt_names[i], required_argument, NULL,
                                             OPT_TASK_INTERVAL + (int)i };
        }
        for (const struct option *o = ops->options; o && o->name && n < ELEMENTSOF(opts) - 1; o++)
                opts[n++] = *o;
        opts[n] = (struct option){ 0 };

        c->state = ops->state_size ? calloc(1, ops->state_size) : NULL;
        c->batch = calloc(COLLECTOR_MAX_BATCH, sizeof(*c->batch));
        if ((ops->state_size && !c->state) || !c->batch) {
                log_error("out of memory");
                return COLLECTOR_EXIT_FAILURE;
        }

        /* The file first; flags override it. */
        if (conf_load_from_args(argc, argv, &c->conf) < 0)
                return COLLECTOR_EXIT_USAGE;
        log_set_max_level(log_level_from_name(conf_get_string(c->conf, "log", "level")));

        int o;
        while ((o = getopt_long(argc, argv, "vh", opts, NULL)) >= 0) {
                uint64_t v;
                switch (o) {
                case OPT_RING:
                        c->ring_name = optarg;
                        break;
                case OPT_INTERVAL:
                        if (safe_atou64(optarg, &v) < 0 || v < 10 || v > 86400000) {
                                log_error("--interval: '%s' is not a number of milliseconds "
                                          "(10..86400000)",
                                          optarg);
                                return COLLECTOR_EXIT_USAGE;
                        }
                        c->tasks[0].interval_ms = (uint32_t)v;
                        c->interval_from_flag[0] = true;
                        break;
                case OPT_CONFIG:
                        break; /* loaded above */
                case OPT_PROCFS:
                        c->procfs = optarg;
                        break;
                case OPT_SYSFS:
                        c->sysfs = optarg;
                        break;
                case OPT_ROOTFS:
                        c->rootfs = optarg;
                        break;
                case OPT_CAPACITY:
                        if (safe_atou64(optarg, &v) < 0 || v > RING_MAX_CAPACITY) {
                                log_error("--ring-capacity: invalid '%s'", optarg);
                                return COLLECTOR_EXIT_USAGE;
                        }
                        c->capacity = (uint32_t)v;
                        break;
                case OPT_ONCE:
                        once = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help(ops);
                        return COLLECTOR_EXIT_OK;
                case OPT_VERSION:
                        printf("ringhub-collect-%s %s\n", ops->name, RINGHUB_VERSION);
                        return COLLECTOR_EXIT_OK;
                case '?':
                        return COLLECTOR_EXIT_USAGE;
                default:
                        if (o >= OPT_TASK_INTERVAL && o < OPT_TASK_INTERVAL + COLLECTOR_MAX_TASKS) {
                                if (safe_atou64(optarg, &v) < 0 || v < 10 || v > 86400000) {
                                        log_error("--%s: '%s' is not a number of milliseconds",
                                                  task_opt_names[o - OPT_TASK_INTERVAL], optarg);
                                        return COLLECTOR_EXIT_USAGE;
                                }
                                c->tasks[o - OPT_TASK_INTERVAL].interval_ms = (uint32_t)v;
                                c->interval_from_flag[o - OPT_TASK_INTERVAL] = true;
                                break;
                        }
                        if (!ops->parse_option || (r = ops->parse_option(c, o, optarg)) < 0)
                                return COLLECTOR_EXIT_USAGE;
                }
        }
        if (optind < argc) {
                log_error("unexpected argument '%s'", argv[optind]);
                return COLLECTOR_EXIT_USAGE;
        }

        apply_conf_intervals(c);
        /* Ring: --ring, else $RINGHUB_RING, else the config file's [ring] name. */
        const char *rname = c->ring_name || getenv("RINGHUB_RING")
                                ? ring_default_name(c->ring_name)
                                : conf_get_string(c->conf, "ring", "name");
        struct ring_abi_info abi = { 0 };
        struct ring_open_opts ro = {
                .create = true,
                .capacity = c->capacity ? c->capacity
                                        : (uint32_t)conf_get_uint(c->conf, "ring", "capacity"),
                .mode = (mode_t)conf_get_uint(c->conf, "ring", "mode"),
                .gid = conf_is_set(c->conf, "ring", "group") ? conf_ring_gid(c->conf) : (gid_t)-1,
        };
        r = ring_open(rname, &ro, &c->ring, &abi);
        if (r == -EPROTONOSUPPORT) {
                log_error(
                    "ring '%s' has ABI version %u (slot %u bytes); this collector needs ABI %u "
                    "(slot %u): restart the stack so the ring is recreated",
                    rname, abi.found_abi, abi.found_slot_size, RING_ABI_VERSION, RING_SLOT_SIZE);
                return COLLECTOR_EXIT_RING;
        }
        if (r < 0) {
                log_error_errno(r, "cannot open ring '%s': %m", rname);
                return COLLECTOR_EXIT_RING;
        }
        c->producer = ring_producer_register(c->ring, ops->name, c->tasks[0].interval_ms);
        if (c->producer < 0) {
                if (c->producer == -EEXIST)
                        log_error("another ringhub-collect-%s is already running on ring '%s'",
                                  ops->name, rname);
                else
                        log_error_errno(c->producer, "cannot register in ring '%s': %m", rname);
                ring_close(c->ring);
                return COLLECTOR_EXIT_RING;
        }
        /* Nothing posted to an earlier run is executed by this one. */
        mailbox_reset(c->ring, (unsigned)c->producer);

        if (ops->init) {
                r = ops->init(c);
                if (r < 0) {
                        exit_code = r == -ENODEV   ? COLLECTOR_EXIT_ABSENT
                                    : r == -EINVAL ? COLLECTOR_EXIT_USAGE
                                                   : COLLECTOR_EXIT_FAILURE;
                        log_error_errno(r, "initialization failed: %m");
                        goto out;
                }
        }

        if (once) {
                for (unsigned i = 0; i < c->n_tasks; i++)
                        run_task(c, i);
                ring_producer_heartbeat(c->ring, c->producer);
                goto out;
        }

        r = sd_event_default(&c->event);
        if (r < 0) {
                log_error_errno(r, "cannot create event loop: %m");
                exit_code = COLLECTOR_EXIT_FAILURE;
                goto out;
        }
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        /* sd-event reads these signals; this second signalfd only shows them pending to a
         * task stuck waiting on a peer (collector_stop_fd()). */
        stop_fd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC);
        if (stop_fd < 0)
                log_warning_errno(-errno, "no stop descriptor, a hung peer may delay exit: %m");
        signal(SIGPIPE, SIG_IGN);
        sd_event_add_signal(c->event, NULL, SIGTERM, on_signal, c);
        sd_event_add_signal(c->event, NULL, SIGINT, on_signal, c);
        sigaddset(&ss, SIGHUP);
        sigprocmask(SIG_BLOCK, &ss, NULL);
        sd_event_add_signal(c->event, NULL, SIGHUP, on_sighup, c);
        (void)sd_event_set_watchdog(c->event, true);

        for (unsigned i = 0; i < c->n_tasks; i++) {
                /* Accuracy: 1% of the interval, at least 1 ms, at most 250 ms — lets the
                 * kernel merge this wake-up with others. First run at once. */
                uint64_t acc = (uint64_t)c->tasks[i].interval_ms * 10;
                acc = MAX(acc, 1000u);
                acc = MIN(acc, 250000u);
                r = sd_event_add_time_relative(c->event, &c->tasks[i].timer, CLOCK_MONOTONIC, 0,
                                               acc, on_timer, c);
                if (r < 0) {
                        log_error_errno(r, "cannot add timer: %m");
                        exit_code = COLLECTOR_EXIT_FAILURE;
                        goto out;
                }
        }

        r = collector_commands_start(c, &c->cmds);
        if (r < 0) {
                log_error_errno(r, "cannot watch the command mailbox: %m");
                exit_code = COLLECTOR_EXIT_FAILURE;
                goto out;
        }

        sd_notifyf(false, "READY=1\nSTATUS=collecting every %u ms into ring %s",
                   c->tasks[0].interval_ms, rname);
        log_info("collecting every %u ms into ring '%s' as producer %d", c->tasks[0].interval_ms,
                 rname, c->producer);
        r = sd_event_loop(c->event);
        if (r < 0) {
                log_error_errno(r, "event loop failed: %m");
                exit_code = COLLECTOR_EXIT_FAILURE;
        }

out:
        collector_commands_stop(c->cmds);
        c->cmds = NULL;
        if (ops->done)
                ops->done(c);
        ring_producer_unregister(c->ring, c->producer, exit_code);
        for (unsigned i = 0; i < c->n_tasks; i++)
                sd_event_source_unref(c->tasks[i].timer);
        sd_event_unref(c->event);
        if (stop_fd >= 0)
                close(stop_fd);
        stop_fd = -EBADF;
        ring_close(c->ring);
        return exit_code;
}

int collector_main(const struct collector_ops *ops, int argc, char **argv)
{
        struct collector c = { .ops = ops, .producer = -1, .current_task = COLLECTOR_MAX_TASKS };
        /* A few light threads at most: one arena; scratch buffers go back when freed. */
        malloc_lean(1);
        /* Every exit path of the run, early ones included, ends here. */
        int r = collector_run(&c, argc, argv);
        free(c.batch);
        free(c.state);
        conf_free(c.conf);
        return r;
}
