/*
 * commands.c — pending commands: post, correlate, time out, audit (see commands.h).
 */
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events.h"
#include "hub.h"
#include "journal.h"
#include "log.h"
#include "macros.h"
#include "mailbox.h"
#include "record_json.h"
#include "registry.h"
#include "util.h"

struct pending {
        bool used;
        unsigned producer;
        uint32_t generation;
        uint64_t request_id;
        uint64_t deadline_ns; /* realtime */
        uint64_t start_mono;
        char collector[RING_NAME_MAX + 1];
        char action[32], target[96], origin[48], role[16];
        command_done_fn done;
        void *userdata;
};

static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        pthread_t thread;
        bool started, stop;
        struct pending p[COMMANDS_MAX_PENDING];
        unsigned n;
} cm = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

unsigned commands_http_status(const char *status)
{
        static const struct {
                const char *status;
                unsigned http;
        } map[] = {
                { "OK", 200 },
                { "INVALID_COMMAND", 400 },
                { "FORBIDDEN", 403 },
                { "NOT_FOUND", 404 },
                { "CONFLICT", 409 },
                { "BUSY", 503 },
                { "CONNECTION_ERROR", 503 },
                { "TIMEOUT", 504 },
        };
        for (size_t i = 0; status && i < ELEMENTSOF(map); i++)
                if (strcmp(status, map[i].status) == 0)
                        return map[i].http;
        return 500;
}

/* The history's Event and Log of a command: who asked what, and how it ended. */
static void journal_command(const struct pending *p, const struct command_outcome *o, bool ok)
{
        char msg[200], desc[320];
        snprintf(msg, sizeof(msg), "%s %s%s%s: %s", o->collector, o->action, *o->target ? " " : "",
                 o->target, o->status);
        snprintf(desc, sizeof(desc), "command %llu by %s%s%s (%.1f ms)",
                 (unsigned long long)o->request_id, *o->origin ? o->origin : "an unknown client",
                 *o->message ? ": " : "", o->message, (double)o->duration_us / 1e3);
        const struct journal_entry e = {
                .message = msg,
                .description = desc,
                .classification = JOURNAL_CLASS_OPERATOR,
                .user = o->origin,
                .role = *p->role ? p->role : NULL,
                .priority = ok ? 3 : 2,
                .criticity = ok ? 2 : 3,
                .segment = o->collector,
        };
        (void)journal_action(&e, NULL);
}

/* Audit once, tell every client through the publish path, journal it, then the asker. */
static void finish(const struct pending *p, const char *status, const char *message,
                   const char *data, uint64_t collector_us)
{
        struct command_outcome o = {
                .request_id = p->request_id,
                .collector = p->collector,
                .action = p->action,
                .target = p->target,
                .origin = p->origin,
                .status = status,
                .message = message ? message : "",
                .data = data ? data : "",
                .duration_us = (mono_ns() - p->start_mono) / 1000,
                .collector_us = collector_us,
        };
        bool ok = strcmp(status, "OK") == 0;
        log_full(ok ? LOG_INFO : LOG_NOTICE,
                 "command %" PRIu64 ": %s %s%s%s by %s: %s%s%s (%.1f ms)", o.request_id,
                 o.collector, o.action, *o.target ? " " : "", o.target, *o.origin ? o.origin : "?",
                 status, *o.message ? ": " : "", o.message, (double)o.duration_us / 1e3);

        /* The collector's words (a command_result record) and the client's: valid UTF-8
         * without control bytes, or every strict client fails the frame. */
        json_object *d = json_object_new_object();
        if (d) {
                json_object_object_add(d, "request_id", json_object_new_uint64(o.request_id));
                json_object_object_add(d, "collector",
                                       json_string_utf8(o.collector, strlen(o.collector)));
                json_object_object_add(d, "action", json_string_utf8(o.action, strlen(o.action)));
                json_object_object_add(d, "target", json_string_utf8(o.target, strlen(o.target)));
                json_object_object_add(d, "origin", json_string_utf8(o.origin, strlen(o.origin)));
                json_object_object_add(d, "status", json_string_utf8(status, strlen(status)));
                json_object_object_add(d, "success", json_object_new_boolean(ok));
                json_object_object_add(d, "message",
                                       json_string_utf8(o.message, strlen(o.message)));
                json_object *res = *o.data ? json_tokener_parse(o.data) : NULL;
                if (res)
                        json_object_object_add(d, "result", res);
                json_object_object_add(d, "duration_ms", json_double((double)o.duration_us / 1e3));
                json_object_object_add(d, "collector_ms",
                                       json_double((double)o.collector_us / 1e3));
                (void)events_publish_json(HUB_T_COMMAND, false, d, 0);
                json_object_put(d);
        }
        journal_command(p, &o, ok);
        if (p->done)
                p->done(&o, p->userdata);
}

void commands_refuse(const struct command_request *req, const char *status, const char *message,
                     command_done_fn done, void *userdata)
{
        struct pending p = { .start_mono = mono_ns(), .done = done, .userdata = userdata };
        strscpy(p.collector, sizeof(p.collector), req->collector ? req->collector : "");
        strscpy(p.action, sizeof(p.action), req->action ? req->action : "");
        strscpy(p.target, sizeof(p.target), req->target ? req->target : "");
        strscpy(p.origin, sizeof(p.origin), req->origin ? req->origin : "");
        strscpy(p.role, sizeof(p.role), req->role ? req->role : "");
        finish(&p, status, message, NULL, 0);
}

uint64_t commands_submit(const struct command_request *req, command_done_fn done, void *userdata)
{
        if (!req || !req->collector || !req->action || !*req->action) {
                commands_refuse(req, "INVALID_COMMAND", "a command needs a collector and an action",
                                done, userdata);
                return 0;
        }
        struct ring *r = hub.ring;
        int idx = r ? registry_find(r, req->collector) : -ENOENT;
        struct registry_entry e;
        if (idx < 0 || !registry_get(r, (unsigned)idx, real_ns(), &e) || !e.alive) {
                char msg[96];
                snprintf(msg, sizeof(msg), "the %s collector is not running", req->collector);
                commands_refuse(req, "CONNECTION_ERROR", msg, done, userdata);
                return 0;
        }

        pthread_mutex_lock(&cm.lock);
        struct pending *p = NULL;
        for (unsigned i = 0; i < COMMANDS_MAX_PENDING && !p; i++)
                if (!cm.p[i].used)
                        p = &cm.p[i];
        if (!p) {
                pthread_mutex_unlock(&cm.lock);
                commands_refuse(req, "BUSY", "too many commands in flight", done, userdata);
                return 0;
        }
        uint32_t timeout = req->timeout_ms ? req->timeout_ms : COMMANDS_DEFAULT_TIMEOUT;
        *p = (struct pending){ .used = true,
                               .producer = (unsigned)idx,
                               .generation = e.generation,
                               .deadline_ns = real_ns() + (uint64_t)timeout * NSEC_PER_MSEC,
                               .start_mono = mono_ns(),
                               .done = done,
                               .userdata = userdata };
        strscpy(p->collector, sizeof(p->collector), req->collector);
        strscpy(p->action, sizeof(p->action), req->action);
        strscpy(p->target, sizeof(p->target), req->target ? req->target : "");
        strscpy(p->origin, sizeof(p->origin), req->origin ? req->origin : "");
        strscpy(p->role, sizeof(p->role), req->role ? req->role : "");
        struct mailbox_command mc = { .action = req->action,
                                      .target = req->target,
                                      .args = req->args,
                                      .origin = req->origin,
                                      .generation = e.generation,
                                      .deadline_ns = p->deadline_ns };
        /* Posted under the lock: the answer cannot be looked up before it is listed. */
        int k = mailbox_post(r, (unsigned)idx, &mc, &p->request_id);
        if (k < 0) {
                struct pending copy = *p;
                p->used = false;
                pthread_mutex_unlock(&cm.lock);
                finish(&copy,
                       k == -EBUSY                          ? "BUSY"
                       : k == -EINVAL || k == -ENAMETOOLONG ? "INVALID_COMMAND"
                                                            : "CONNECTION_ERROR",
                       k == -EBUSY                          ? "the collector's mailbox is full"
                       : k == -EINVAL || k == -ENAMETOOLONG ? "argument too long or empty"
                                                            : "the collector restarted",
                       NULL, 0);
                return 0;
        }
        cm.n++;
        uint64_t id = p->request_id;
        pthread_cond_signal(&cm.cond); /* a new deadline to watch */
        pthread_mutex_unlock(&cm.lock);
        hub_reader_kick(); /* an idle reader now waits on the ring's doorbell for the answer */
        return id;
}

bool commands_in_flight(void)
{
        pthread_mutex_lock(&cm.lock);
        bool any = cm.n > 0;
        pthread_mutex_unlock(&cm.lock);
        return any;
}

void commands_on_result(const struct ring_record *rec)
{
        if (rec->type != RT_command_result || rec->len != sizeof(struct rec_command_result))
                return;
        struct rec_command_result res;
        memcpy(&res, rec->payload, sizeof(res));
        pthread_mutex_lock(&cm.lock);
        struct pending copy = { 0 };
        for (unsigned i = 0; i < COMMANDS_MAX_PENDING; i++) {
                struct pending *p = &cm.p[i];
                if (p->used && p->producer == rec->producer && p->request_id == res.request_id) {
                        copy = *p;
                        p->used = false;
                        cm.n--;
                        break;
                }
        }
        pthread_mutex_unlock(&cm.lock);
        if (!copy.used) {
                /* Not ours (ringhubctl send, or answered after we gave up): tell the others. */
                struct pending p = { .start_mono = mono_ns(), .request_id = res.request_id };
                struct registry_entry e;
                strscpy(p.collector, sizeof(p.collector),
                        registry_get(hub.ring, rec->producer, real_ns(), &e) ? e.name : "?");
                strscpy(p.action, sizeof(p.action), res.action);
                strscpy(p.target, sizeof(p.target), res.target);
                finish(&p, res.status, res.message, res.data, res.duration_us);
                return;
        }
        finish(&copy, res.status, res.message, res.data, res.duration_us);
}

/* Commands whose deadline passed or whose collector is gone, taken out of the table. */
static unsigned expire(uint64_t now, struct pending *out, const char **why, unsigned max,
                       uint64_t *ret_next)
{
        unsigned n = 0;
        uint64_t next = UINT64_MAX;
        uint32_t checked_gen[RING_MAX_PRODUCERS];
        uint8_t state[RING_MAX_PRODUCERS] = { 0 }; /* 0 unknown, 1 alive, 2 gone */
        for (unsigned i = 0; i < COMMANDS_MAX_PENDING && n < max; i++) {
                struct pending *p = &cm.p[i];
                if (!p->used)
                        continue;
                const char *w = NULL;
                if (now >= p->deadline_ns)
                        w = "TIMEOUT";
                else {
                        unsigned pi = p->producer;
                        if (!state[pi]) {
                                struct registry_entry e;
                                bool ok = registry_get(hub.ring, pi, now, &e) && e.alive;
                                state[pi] = ok ? 1 : 2;
                                checked_gen[pi] = ok ? e.generation : 0;
                        }
                        if (state[pi] == 2 || checked_gen[pi] != p->generation)
                                w = "CONNECTION_ERROR";
                }
                if (!w) {
                        next = MIN(next, p->deadline_ns);
                        continue;
                }
                out[n] = *p;
                why[n++] = w;
                p->used = false;
                cm.n--;
                if (strcmp(w, "TIMEOUT") == 0)
                        mailbox_note_timeout(hub.ring, p->producer);
        }
        *ret_next = next;
        return n;
}

static void *supervisor(void *arg)
{
        pthread_mutex_lock(&cm.lock);
        while (!cm.stop) {
                hub_beat(HUB_BEAT_COMMANDS);
                if (cm.n == 0) {
                        pthread_cond_wait(&cm.cond, &cm.lock); /* idle: no timeout */
                        continue;
                }
                struct pending gone[32];
                const char *why[32];
                uint64_t next;
                unsigned n = expire(real_ns(), gone, why, ELEMENTSOF(gone), &next);
                if (n) {
                        pthread_mutex_unlock(&cm.lock);
                        for (unsigned i = 0; i < n; i++)
                                finish(&gone[i], why[i],
                                       strcmp(why[i], "TIMEOUT") == 0
                                           ? "no answer from the collector in time"
                                           : "the collector stopped or restarted before "
                                             "answering",
                                       NULL, 0);
                        pthread_mutex_lock(&cm.lock);
                        continue;
                }
                if (cm.n == 0)
                        continue;
                uint64_t now = real_ns();
                uint64_t wake = MIN(next, now + COMMANDS_LIVENESS_PERIOD * NSEC_PER_MSEC);
                struct timespec ts = { .tv_sec = (time_t)(wake / NSEC_PER_SEC),
                                       .tv_nsec = (long)(wake % NSEC_PER_SEC) };
                pthread_cond_timedwait(&cm.cond, &cm.lock, &ts);
        }
        pthread_mutex_unlock(&cm.lock);
        return NULL;
}

/* The watchdog's poke: an idle supervisor wakes, beats and sleeps again. */
static void supervisor_poke(void)
{
        pthread_mutex_lock(&cm.lock);
        pthread_cond_signal(&cm.cond);
        pthread_mutex_unlock(&cm.lock);
}

int commands_start(void)
{
        /* CLOCK_REALTIME deadlines: the default condvar clock. */
        int k = pthread_create(&cm.thread, NULL, supervisor, NULL);
        if (k)
                return -k;
        cm.started = true;
        hub_beat_register(HUB_BEAT_COMMANDS, "commands", supervisor_poke);
        return 0;
}

void commands_stop(void)
{
        if (!cm.started)
                return;
        hub_beat_unregister(HUB_BEAT_COMMANDS);
        pthread_mutex_lock(&cm.lock);
        cm.stop = true;
        pthread_cond_signal(&cm.cond);
        pthread_mutex_unlock(&cm.lock);
        pthread_join(cm.thread, NULL);
        cm.started = false;
        /* Whatever is still pending gets its answer: the hub is going away. */
        for (unsigned i = 0; i < COMMANDS_MAX_PENDING; i++)
                if (cm.p[i].used) {
                        cm.p[i].used = false;
                        finish(&cm.p[i], "CONNECTION_ERROR", "the hub is stopping", NULL, 0);
                }
        cm.n = 0;
}
