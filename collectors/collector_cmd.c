/*
 * collector_cmd.c — the skeleton's half of the command path (see collector.h, mailbox.h).
 *
 * One helper thread sleeps on the mailbox's futex doorbell (no timeout: an idle
 * collector gains no wake-up) and pokes an eventfd; the event loop takes every posted
 * command, checks it, and hands it to ops->command. Answers go into the ring as
 * command_result records. The table of outstanding commands makes "exactly one answer
 * per command" hold even for collectors that answer later from their own handlers.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "collector_int.h"
#include "log.h"
#include "macros.h"
#include "mailbox.h"
#include "registry.h"
#include "util.h"

#define MAX_OUTSTANDING 64

struct collector_cmds {
        struct collector *c;
        int producer;
        uint32_t generation;
        int efd;
        sd_event_source *io;
        pthread_t thread;
        bool thread_started;
        atomic_bool stop;
        uint64_t outstanding[MAX_OUTSTANDING]; /* request ids taken, not yet answered */
        unsigned n_outstanding;
};

static void *waiter(void *userdata)
{
        struct collector_cmds *m = userdata;
        struct ring *r = collector_ring(m->c);
        uint32_t seen = mailbox_doorbell(r, (unsigned)m->producer);
        uint64_t one = 1;
        /* Anything posted before we started (or while the collector was down). */
        if (write(m->efd, &one, sizeof(one)) < 0) {
        }
        while (!atomic_load(&m->stop)) {
                (void)mailbox_wait(r, (unsigned)m->producer, seen);
                uint32_t now = mailbox_doorbell(r, (unsigned)m->producer);
                if (now == seen)
                        continue; /* spurious */
                seen = now;
                if (!atomic_load(&m->stop) && write(m->efd, &one, sizeof(one)) < 0) {
                }
        }
        return NULL;
}

static bool outstanding_add(struct collector_cmds *m, uint64_t id)
{
        if (m->n_outstanding >= MAX_OUTSTANDING)
                return false;
        m->outstanding[m->n_outstanding++] = id;
        return true;
}

static bool outstanding_has(const struct collector_cmds *m, uint64_t id)
{
        for (unsigned i = 0; i < m->n_outstanding; i++)
                if (m->outstanding[i] == id)
                        return true;
        return false;
}

static bool outstanding_remove(struct collector_cmds *m, uint64_t id)
{
        for (unsigned i = 0; i < m->n_outstanding; i++)
                if (m->outstanding[i] == id) {
                        m->outstanding[i] = m->outstanding[--m->n_outstanding];
                        return true;
                }
        return false;
}

static struct collector_cmds *cmds_of(struct collector *c);

static int write_result(struct collector *c, const struct collector_command *cmd,
                        const char *status, const char *data, const char *msg)
{
        struct rec_command_result res;
        record_init_missing(RT_command_result, &res);
        res.request_id = cmd->request_id;
        strscpy(res.action, sizeof(res.action), cmd->action);
        strscpy(res.target, sizeof(res.target), cmd->target);
        strscpy(res.status, sizeof(res.status), status);
        strscpy(res.message, sizeof(res.message), msg ? msg : "");
        if (data && strlen(data) >= sizeof(res.data)) {
                log_warning("command %" PRIu64 " (%s): result data too long (%zu bytes), left out",
                            cmd->request_id, cmd->action, strlen(data));
                data = NULL;
        }
        strscpy(res.data, sizeof(res.data), data ? data : "");
        res.taken = cmd->taken_ns;
        uint64_t now = real_ns();
        res.duration_us = now > cmd->taken_ns ? (now - cmd->taken_ns) / 1000 : 0;
        const struct record_desc *d = schema_record(RT_command_result);
        struct ring_write_meta meta = { .type = RT_command_result, .version = d->version };
        int r = ring_write(collector_ring(c), collector_producer(c), &meta, &res, sizeof(res));
        if (r >= 0)
                mailbox_count_answer(collector_ring(c), (unsigned)collector_producer(c));
        else
                collector_ring_failed(c, r, 1);
        return r;
}

int collector_command_reply(struct collector *c, const struct collector_command *cmd,
                            const char *status, const char *data, const char *fmt, ...)
{
        struct collector_cmds *m = cmds_of(c);
        if (!m || !cmd || !status)
                return -EINVAL;
        if (!outstanding_remove(m, cmd->request_id)) {
                log_warning("command %" PRIu64 " (%s %s) answered twice or never taken: dropped",
                            cmd->request_id, cmd->action, cmd->target);
                return -EALREADY;
        }
        char msg[160] = "";
        if (fmt) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(msg, sizeof(msg), fmt, ap);
                va_end(ap);
        }
        if (real_ns() > cmd->deadline_ns)
                log_notice("command %" PRIu64 " (%s %s) answered %s after its deadline",
                           cmd->request_id, cmd->action, cmd->target, status);
        return write_result(c, cmd, status, data, msg);
}

/* Answer a command the skeleton decided on itself (never handed to the collector). */
static void answer_now(struct collector_cmds *m, const struct collector_command *cmd,
                       const char *status, const char *msg)
{
        if (outstanding_add(m, cmd->request_id))
                (void)collector_command_reply(m->c, cmd, status, NULL, "%s", msg);
        else
                (void)write_result(m->c, cmd, status, NULL, msg);
}

static void dispatch(struct collector_cmds *m, const struct collector_command *cmd, bool *refresh,
                     struct collector_command *refreshes, unsigned *n_refresh)
{
        struct collector *c = m->c;
        if (!outstanding_add(m, cmd->request_id)) {
                (void)write_result(c, cmd, CMD_BUSY, NULL, "too many commands in progress");
                return;
        }
        const struct collector_ops *ops = collector_ops_of(c);
        int r = 1;
        if (ops->command)
                r = ops->command(c, cmd);
        if (r < 0) {
                if (outstanding_has(m, cmd->request_id))
                        (void)collector_command_reply(c, cmd, CMD_FAILED, NULL, "%s failed: %s",
                                                      cmd->action, strerror(-r));
                return;
        }
        if (r == 0)
                return; /* answered, or will be */
        /* Left to the skeleton. */
        if (strcmp(cmd->action, "refresh") == 0) {
                if (*n_refresh < RING_MAILBOX_SLOTS * 2) {
                        refreshes[(*n_refresh)++] = *cmd;
                        *refresh = true;
                        return;
                }
                (void)collector_command_reply(c, cmd, CMD_BUSY, NULL, "too many refreshes");
        } else if (strcmp(cmd->action, "ping") == 0)
                (void)collector_command_reply(c, cmd, CMD_OK, NULL, "pong");
        else
                (void)collector_command_reply(c, cmd, CMD_INVALID, NULL,
                                              "%s does not know the command '%s'",
                                              collector_name(c), cmd->action);
}

static int on_mailbox(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct collector_cmds *m = userdata;
        struct collector *c = m->c;
        struct ring *r = collector_ring(c);
        uint64_t v;
        if (read(m->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return 0;

        struct collector_command refreshes[RING_MAILBOX_SLOTS * 2];
        unsigned n_refresh = 0;
        bool refresh = false;
        /* Bounded: at most a few mailboxes' worth per wake-up; the rest on the next turn. */
        for (unsigned n = 0; n < RING_MAILBOX_SLOTS * 4; n++) {
                struct rec_command rec;
                const char *why = NULL;
                int k = mailbox_take(r, (unsigned)m->producer, &rec, &why);
                if (k == 0)
                        break;
                struct collector_command cmd = { .request_id = rec.request_id,
                                                 .taken_ns = real_ns() };
                if (k < 0) {
                        log_warning("mailbox: refused a garbage entry (%s)%s", why ? why : "?",
                                    rec.request_id ? ", answered INVALID_COMMAND" : "");
                        if (rec.request_id) {
                                strscpy(cmd.action, sizeof(cmd.action), "?");
                                answer_now(m, &cmd, CMD_INVALID, "garbage in the mailbox entry");
                        }
                        continue;
                }
                cmd.deadline_ns = rec.deadline;
                strscpy(cmd.action, sizeof(cmd.action), rec.action);
                strscpy(cmd.target, sizeof(cmd.target), rec.target);
                strscpy(cmd.args, sizeof(cmd.args), rec.args);
                strscpy(cmd.origin, sizeof(cmd.origin), rec.origin);
                if (rec.generation != m->generation) {
                        log_notice("mailbox: command %" PRIu64 " (%s) was for run %u, this is "
                                   "run %u: not executed",
                                   rec.request_id, rec.action, rec.generation, m->generation);
                        answer_now(m, &cmd, CMD_CONNECTION_ERROR,
                                   "posted to an earlier run of the collector");
                        continue;
                }
                if (cmd.deadline_ns && cmd.taken_ns > cmd.deadline_ns) {
                        mailbox_count_late(r, (unsigned)m->producer);
                        answer_now(m, &cmd, CMD_TIMEOUT, "taken after its deadline: not executed");
                        continue;
                }
                log_debug("command %" PRIu64 ": %s %s %s from %s", cmd.request_id, cmd.action,
                          cmd.target, cmd.args, *cmd.origin ? cmd.origin : "?");
                dispatch(m, &cmd, &refresh, refreshes, &n_refresh);
        }
        struct mailbox_stats st;
        mailbox_stats(r, (unsigned)m->producer, &st);
        if (st.queued) {
                uint64_t one = 1;
                if (write(m->efd, &one, sizeof(one)) < 0) {
                }
        }
        if (refresh) {
                /* Every refresh taken in this turn shares one collection. */
                collector_run_tasks_now(c);
                for (unsigned i = 0; i < n_refresh; i++)
                        (void)collector_command_reply(c, &refreshes[i], CMD_OK, NULL, "collected");
        }
        return 0;
}

static struct collector_cmds *the_cmds; /* one collector per process */

static struct collector_cmds *cmds_of(struct collector *c)
{
        return the_cmds && the_cmds->c == c ? the_cmds : NULL;
}

int collector_commands_start(struct collector *c, struct collector_cmds **ret)
{
        struct ring *r = collector_ring(c);
        int producer = collector_producer(c);
        struct registry_entry e;
        if (!registry_get(r, (unsigned)producer, real_ns(), &e))
                return -ESRCH;
        struct collector_cmds *m = calloc(1, sizeof(*m));
        if (!m)
                return -ENOMEM;
        m->c = c;
        m->producer = producer;
        m->generation = e.generation;
        m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int k = m->efd < 0 ? -errno : 0;
        if (k >= 0)
                k = sd_event_add_io(collector_event(c), &m->io, m->efd, EPOLLIN, on_mailbox, m);
        if (k >= 0) {
                the_cmds = m;
                /* It only waits on a futex and writes an eventfd: a small stack. */
                pthread_attr_t attr;
                pthread_attr_init(&attr);
                pthread_attr_setstacksize(&attr, 64 * 1024);
                k = -pthread_create(&m->thread, &attr, waiter, m);
                pthread_attr_destroy(&attr);
                m->thread_started = k == 0;
        }
        if (k < 0) {
                collector_commands_stop(m);
                return k;
        }
        *ret = m;
        return 0;
}

void collector_commands_stop(struct collector_cmds *m)
{
        if (!m)
                return;
        if (m->thread_started) {
                atomic_store(&m->stop, true);
                mailbox_ring_doorbell(collector_ring(m->c), (unsigned)m->producer);
                pthread_join(m->thread, NULL);
        }
        sd_event_source_disable_unref(m->io);
        if (m->efd >= 0)
                close(m->efd);
        if (the_cmds == m)
                the_cmds = NULL;
        free(m);
}
