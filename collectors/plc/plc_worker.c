/*
 * plc_worker.c — one thread per PLC: schedule, Modbus link with capped exponential
 * back-off, merged block reads, deadband, and the hand-off to the event loop.
 *
 * Each worker sleeps on its condition variable until the earliest due block or machine,
 * a queued command, a refresh request or stop. All Modbus I/O is libmodbus in blocking
 * mode bounded by the device's timeout, on this thread only: a PLC that never answers
 * delays nobody else. An exception reply fails one block (its tags go Bad, the block is
 * reported once); any other error drops the connection (every tag Bad, reported once)
 * and the worker reconnects after 0.5 s, 1 s, 2 s … up to reconnect_max.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macros.h"
#include "plc_worker_impl.h"
#include "util.h"

/* ---- reporting to the loop ---- */

void worker_reply(struct plc_worker *w, const struct plc_job *job, const char *status,
                  const char *data, const char *fmt, ...)
{
        struct plc_ev ev = { .type = job->kind == PLC_JOB_ESTOP ? PLC_EV_ESTOP : PLC_EV_REPLY,
                             .idx = job->target,
                             .cmd = job->cmd,
                             .ctx = job->agg };
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ev.text, sizeof(ev.text), fmt, ap);
        va_end(ap);
        strscpy(ev.status, sizeof(ev.status), status);
        strscpy(ev.data, sizeof(ev.data), data ? data : "");
        plc_outbox_push(w->ob, &ev);
}

static bool moved(const struct tag_state *ts, double deadband)
{
        const struct plc_value *a = &ts->cur, *b = &ts->pub;
        if (a->kind != b->kind)
                return true;
        switch (a->kind) {
        case PLC_V_BOOL:
                return a->b != b->b;
        case PLC_V_INT:
                return deadband > 0 ? fabs((double)a->i - (double)b->i) > deadband : a->i != b->i;
        case PLC_V_UINT:
                return deadband > 0 ? fabs((double)a->u - (double)b->u) > deadband : a->u != b->u;
        case PLC_V_FLOAT:
                if (isnan(a->f) || isnan(b->f))
                        return isnan(a->f) != isnan(b->f);
                return deadband > 0 ? fabs(a->f - b->f) > deadband : a->f != b->f;
        }
        return true;
}

static void tag_publish(struct plc_worker *w, struct block_state *bs, unsigned k, bool force)
{
        struct tag_state *ts = &bs->ts[k];
        const struct plc_tag_conf *t = &w->m->tags[bs->b.tags[k]];
        if (!force && ts->has_pub && ts->pub_good == ts->good &&
            (!ts->good || !moved(ts, t->deadband)))
                return;
        ts->has_pub = true;
        ts->pub_good = ts->good;
        ts->pub = ts->cur;
        struct plc_tag_ev ev = { .tag = bs->b.tags[k],
                                 .good = ts->good,
                                 .exception = ts->exception,
                                 .v = ts->cur,
                                 .time_ns = ts->time_ns };
        plc_outbox_push_tag(w->ob, &ev);
}

static void block_bad(struct plc_worker *w, struct block_state *bs, uint8_t exception)
{
        uint64_t now = real_ns();
        for (unsigned k = 0; k < bs->b.n_tags; k++) {
                struct tag_state *ts = &bs->ts[k];
                if (ts->good || ts->exception != exception || !ts->has_pub) {
                        ts->good = false;
                        ts->exception = exception;
                        ts->time_ns = now;
                }
                tag_publish(w, bs, k, false);
        }
}

static void block_status(struct plc_worker *w, struct block_state *bs, bool ok, const char *why)
{
        if (bs->status == (ok ? 1 : 0) || (ok && bs->status < 0))
                return; /* report a block only when it fails, and when it recovers */
        bs->status = ok;
        struct plc_ev ev = { .type = PLC_EV_BLOCK, .up = ok };
        snprintf(ev.source, sizeof(ev.source), "%.60s %.34s", w->source, bs->b.label);
        strscpy(ev.text, sizeof(ev.text), ok ? "readable again" : why);
        plc_outbox_push(w->ob, &ev);
}

void worker_link(struct plc_worker *w, bool up, const char *why)
{
        if (up) {
                w->backoff_ms = 0;
                if (w->link == 1)
                        return;
                w->link = 1;
        } else {
                uint32_t max = MAX(w->m->reconnect_max_ms, PLC_BACKOFF_MIN_MS);
                w->backoff_ms = w->backoff_ms ? MIN(w->backoff_ms * 2, max) : PLC_BACKOFF_MIN_MS;
                w->next_connect = mono_ns() + (uint64_t)w->backoff_ms * NSEC_PER_MSEC;
                if (w->link == 0)
                        return; /* still down: retries are not news */
                w->link = 0;
        }
        struct plc_ev ev = { .type = PLC_EV_LINK, .up = up };
        strscpy(ev.source, sizeof(ev.source), w->source);
        strscpy(ev.text, sizeof(ev.text), up ? "connected" : why);
        plc_outbox_push(w->ob, &ev);
}

/* The link is gone (or never came): every tag Bad, every machine disconnected. */
static void modbus_down(struct plc_worker *w, const char *why)
{
        if (w->connected)
                modbus_close(w->mb);
        w->connected = false;
        worker_link(w, false, why);
        for (unsigned i = 0; i < w->n_blocks; i++) {
                block_bad(w, &w->blocks[i], 0);
                w->blocks[i].due = 0; /* read at once after the reconnect */
        }
        for (unsigned i = 0; i < w->n_machines; i++)
                machine_link_lost(w, &w->machines[i], why);
}

int worker_modbus_ensure(struct plc_worker *w, bool force, char *err, size_t errlen)
{
        if (w->connected)
                return 0;
        if (!force && mono_ns() < w->next_connect)
                return -EAGAIN;
        if (modbus_connect(w->mb) < 0) {
                int e = errno;
                snprintf(err, errlen, "connect: %s", modbus_strerror(e));
                modbus_down(w, err);
                return -(e > 0 && e < MODBUS_ENOBASE ? e : EIO);
        }
        w->connected = true;
        return 0;
}

static bool is_exception(int e)
{
        return e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX;
}

int worker_modbus_failed(struct plc_worker *w, int e, char *err, size_t errlen)
{
        if (is_exception(e)) {
                snprintf(err, errlen, "exception %d: %s", e - MODBUS_ENOBASE, modbus_strerror(e));
                worker_link(w, true, NULL);
                return e - MODBUS_ENOBASE;
        }
        snprintf(err, errlen, "%s", e == ETIMEDOUT ? "no answer (timed out)" : modbus_strerror(e));
        modbus_down(w, err);
        return 0;
}

void worker_poll_tag_soon(struct plc_worker *w, unsigned tag)
{
        for (unsigned i = 0; i < w->n_blocks; i++)
                for (unsigned k = 0; k < w->blocks[i].b.n_tags; k++)
                        if (w->blocks[i].b.tags[k] == tag)
                                w->blocks[i].due = 0;
}

/* ---- polling ---- */

static void poll_block(struct plc_worker *w, struct block_state *bs)
{
        uint16_t regs[PLC_MAX_REGS];
        uint8_t bits[PLC_MAX_BITS];
        const struct plc_block *b = &bs->b;
        int n = -1;
        switch (b->area) {
        case PLC_AREA_COIL:
                n = modbus_read_bits(w->mb, b->start, b->count, bits);
                break;
        case PLC_AREA_DISCRETE:
                n = modbus_read_input_bits(w->mb, b->start, b->count, bits);
                break;
        case PLC_AREA_HOLDING:
                n = modbus_read_registers(w->mb, b->start, b->count, regs);
                break;
        case PLC_AREA_INPUT:
                n = modbus_read_input_registers(w->mb, b->start, b->count, regs);
                break;
        default:
                return;
        }
        int e = n < 0 ? errno : EMBBADDATA;
        w->reads++;
        if (n != b->count) {
                char err[128];
                int exc = worker_modbus_failed(w, e, err, sizeof(err));
                if (!w->connected)
                        return; /* the whole device is down: reported as such */
                block_status(w, bs, false, err);
                block_bad(w, bs, (uint8_t)exc);
                return;
        }
        worker_link(w, true, NULL);
        block_status(w, bs, true, NULL);
        uint64_t now = real_ns();
        bool is_bits = plc_area_is_bits(b->area);
        for (unsigned k = 0; k < b->n_tags; k++) {
                const struct plc_tag_conf *t = &w->m->tags[b->tags[k]];
                struct tag_state *ts = &bs->ts[k];
                size_t off = t->address - b->start;
                struct plc_value v;
                if (plc_decode(&t->layout, is_bits ? NULL : regs + off, is_bits ? bits + off : NULL,
                               b->count - off, &v) < 0) {
                        ts->good = false;
                        ts->exception = 0;
                } else {
                        ts->good = true;
                        ts->exception = 0;
                        ts->cur = v;
                }
                ts->time_ns = now;
                tag_publish(w, bs, k, false);
        }
}

static uint64_t next_period(uint64_t due, uint32_t period_ms, uint64_t now)
{
        uint64_t p = (uint64_t)period_ms * NSEC_PER_MSEC;
        due = due ? due + p : now + p;
        return due > now ? due : now + p; /* late: skip the missed turns, no burst */
}

static void poll_due(struct plc_worker *w)
{
        uint64_t now = mono_ns();
        if (w->carousel) {
                struct machine_rt *mr = &w->machines[0];
                if (now >= mr->due && (w->cc.fd >= 0 || now >= w->next_connect)) {
                        machine_poll(w, mr);
                        mr->due = next_period(mr->due, w->m->machines[mr->idx].scan_ms, mono_ns());
                }
                return;
        }
        char err[128];
        if (worker_modbus_ensure(w, false, err, sizeof(err)) < 0)
                return;
        for (unsigned i = 0; i < w->n_blocks && w->connected; i++) {
                struct block_state *bs = &w->blocks[i];
                if (now < bs->due)
                        continue;
                poll_block(w, bs);
                if (w->connected)
                        bs->due = next_period(bs->due, bs->b.scan_ms, mono_ns());
        }
        for (unsigned i = 0; i < w->n_machines && w->connected; i++) {
                struct machine_rt *mr = &w->machines[i];
                if (now < mr->due)
                        continue;
                machine_poll(w, mr);
                mr->due = next_period(mr->due, w->m->machines[mr->idx].scan_ms, mono_ns());
        }
}

static uint64_t next_due(const struct plc_worker *w)
{
        bool down = w->carousel ? w->cc.fd < 0 : !w->connected;
        uint64_t due = UINT64_MAX;
        for (unsigned i = 0; i < w->n_blocks; i++)
                due = MIN(due, w->blocks[i].due);
        for (unsigned i = 0; i < w->n_machines; i++)
                due = MIN(due, w->machines[i].due);
        if (down && w->link == 0)
                due = MAX(due, w->next_connect);
        return due;
}

static void publish_all(struct plc_worker *w)
{
        for (unsigned i = 0; i < w->n_blocks; i++)
                for (unsigned k = 0; k < w->blocks[i].b.n_tags; k++)
                        if (w->blocks[i].ts[k].time_ns)
                                tag_publish(w, &w->blocks[i], k, true);
        for (unsigned i = 0; i < w->n_machines; i++)
                machine_publish(w, &w->machines[i], true);
}

static void *worker_main(void *arg)
{
        struct plc_worker *w = arg;
        struct plc_job jobs[PLC_JOBS_MAX];
        for (;;) {
                pthread_mutex_lock(&w->mu);
                while (!w->stop && !w->n_jobs && !w->refresh) {
                        uint64_t due = next_due(w);
                        if (mono_ns() >= due)
                                break;
                        if (due == UINT64_MAX)
                                pthread_cond_wait(&w->cv, &w->mu);
                        else {
                                struct timespec ts = { .tv_sec = (time_t)(due / NSEC_PER_SEC),
                                                       .tv_nsec = (long)(due % NSEC_PER_SEC) };
                                pthread_cond_timedwait(&w->cv, &w->mu, &ts);
                        }
                }
                bool stop = w->stop, refresh = w->refresh;
                unsigned n = w->n_jobs;
                memcpy(jobs, w->jobs, n * sizeof(jobs[0]));
                w->n_jobs = 0;
                w->refresh = false;
                pthread_mutex_unlock(&w->mu);
                if (stop)
                        break;
                for (unsigned i = 0; i < n; i++)
                        machine_run_job(w, &jobs[i]);
                if (refresh)
                        publish_all(w);
                poll_due(w);
        }
        return NULL;
}

/* ---- life cycle ---- */

static struct plc_worker *worker_alloc(const struct plc_map *m, struct plc_outbox *ob)
{
        struct plc_worker *w = calloc(1, sizeof(*w));
        if (!w)
                return NULL;
        w->m = m;
        w->ob = ob;
        w->link = -1;
        w->cc.fd = -1;
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cv, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&w->mu, NULL);
        return w;
}

static int modbus_worker_init(struct plc_worker *w, unsigned d)
{
        const struct plc_device_conf *dev = &w->m->devices[d];
        char port[8];
        w->device = d;
        strscpy(w->source, sizeof(w->source), dev->endpoint);
        snprintf(port, sizeof(port), "%u", dev->port);
        w->mb = modbus_new_tcp_pi(dev->host, port);
        if (!w->mb)
                return -errno ? -errno : -ENOMEM;
        (void)modbus_set_slave(w->mb, dev->unit);
        uint32_t t = dev->timeout_ms;
        (void)modbus_set_response_timeout(w->mb, t / 1000, (t % 1000) * 1000);
        (void)modbus_set_byte_timeout(w->mb, t / 1000, (t % 1000) * 1000);
        struct plc_block *blocks = NULL;
        int n = plc_plan_blocks(w->m, d, &blocks);
        if (n < 0)
                return n;
        w->blocks = calloc(n ? (size_t)n : 1, sizeof(*w->blocks));
        if (!w->blocks) {
                plc_blocks_free(blocks, (unsigned)n);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                w->blocks[i].b = blocks[i];
                w->blocks[i].status = -1;
                w->blocks[i].ts = calloc(blocks[i].n_tags, sizeof(struct tag_state));
                if (!w->blocks[i].ts) {
                        for (int j = i; j < n; j++)
                                free(blocks[j].tags);
                        free(blocks);
                        return -ENOMEM;
                }
                w->n_blocks++;
        }
        free(blocks); /* the tag lists now belong to w->blocks */
        for (unsigned i = 0; i < w->m->n_machines; i++)
                if (w->m->machines[i].kind == PLC_MACHINE_MODBUS && w->m->machines[i].device == d)
                        w->n_machines++;
        w->machines = calloc(w->n_machines ? w->n_machines : 1, sizeof(*w->machines));
        if (!w->machines)
                return -ENOMEM;
        for (unsigned i = 0, k = 0; i < w->m->n_machines; i++)
                if (w->m->machines[i].kind == PLC_MACHINE_MODBUS && w->m->machines[i].device == d)
                        machine_init(w, &w->machines[k++], i);
        return 0;
}

static int carousel_worker_init(struct plc_worker *w, unsigned mi)
{
        const struct plc_machine_conf *mc = &w->m->machines[mi];
        w->carousel = true;
        snprintf(w->source, sizeof(w->source), "carousel://%s:%u", mc->host, mc->port);
        carousel_conn_init(&w->cc, mc->host, mc->port, mc->timeout_ms);
        w->machines = calloc(1, sizeof(*w->machines));
        if (!w->machines)
                return -ENOMEM;
        w->n_machines = 1;
        machine_init(w, &w->machines[0], mi);
        return 0;
}

int plc_workers_new(const struct plc_map *m, struct plc_outbox *ob, struct plc_worker ***ret,
                    unsigned *ret_n)
{
        unsigned n = 0, total = m->n_devices;
        for (unsigned i = 0; i < m->n_machines; i++)
                total += m->machines[i].kind == PLC_MACHINE_CAROUSEL;
        struct plc_worker **ws = calloc(total ? total : 1, sizeof(*ws));
        if (!ws)
                return -ENOMEM;
        int r = 0;
        for (unsigned i = 0; i < m->n_devices && r == 0; i++) {
                ws[n] = worker_alloc(m, ob);
                r = ws[n] ? modbus_worker_init(ws[n], i) : -ENOMEM;
                n += ws[n] != NULL;
        }
        for (unsigned i = 0; i < m->n_machines && r == 0; i++) {
                if (m->machines[i].kind != PLC_MACHINE_CAROUSEL)
                        continue;
                ws[n] = worker_alloc(m, ob);
                r = ws[n] ? carousel_worker_init(ws[n], i) : -ENOMEM;
                n += ws[n] != NULL;
        }
        if (r < 0) {
                for (unsigned i = 0; i < n; i++)
                        plc_worker_free(ws[i]);
                free(ws);
                return r;
        }
        *ret = ws;
        *ret_n = n;
        return 0;
}

int plc_worker_start(struct plc_worker *w)
{
        pthread_attr_t a;
        pthread_attr_init(&a);
        /* Small stacks: a worker's deepest frame is a 2,250-byte read buffer + libmodbus. */
        pthread_attr_setstacksize(&a, 256 * 1024);
        int r = pthread_create(&w->th, &a, worker_main, w);
        pthread_attr_destroy(&a);
        if (r)
                return -r;
        w->started = true;
        return 0;
}

void plc_worker_run_once(struct plc_worker *w)
{
        if (!w->carousel) {
                char err[128];
                (void)worker_modbus_ensure(w, true, err, sizeof(err));
        } else
                w->next_connect = 0;
        poll_due(w);
}

int plc_worker_submit(struct plc_worker *w, const struct plc_job *job)
{
        int r = 0;
        pthread_mutex_lock(&w->mu);
        if (w->n_jobs >= PLC_JOBS_MAX)
                r = -EBUSY;
        else
                w->jobs[w->n_jobs++] = *job;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        return r;
}

void plc_worker_refresh(struct plc_worker *w)
{
        pthread_mutex_lock(&w->mu);
        w->refresh = true;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
}

struct plc_worker *plc_worker_free(struct plc_worker *w)
{
        if (!w)
                return NULL;
        if (w->started) {
                pthread_mutex_lock(&w->mu);
                w->stop = true;
                pthread_cond_signal(&w->cv);
                pthread_mutex_unlock(&w->mu);
                pthread_join(w->th, NULL);
        }
        if (w->mb) {
                if (w->connected)
                        modbus_close(w->mb);
                modbus_free(w->mb);
        }
        carousel_conn_close(&w->cc);
        for (unsigned i = 0; i < w->n_blocks; i++) {
                free(w->blocks[i].b.tags);
                free(w->blocks[i].ts);
        }
        free(w->blocks);
        free(w->machines);
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return NULL;
}

struct plc_worker *plc_worker_of_machine(struct plc_worker **ws, unsigned n, unsigned machine)
{
        for (unsigned i = 0; i < n; i++)
                for (unsigned k = 0; k < ws[i]->n_machines; k++)
                        if (ws[i]->machines[k].idx == machine)
                                return ws[i];
        return NULL;
}

struct plc_worker *plc_worker_of_tag(struct plc_worker **ws, unsigned n, const struct plc_map *m,
                                     unsigned tag)
{
        for (unsigned i = 0; i < n; i++)
                if (!ws[i]->carousel && ws[i]->device == m->tags[tag].device)
                        return ws[i];
        return NULL;
}

const char *plc_worker_source(const struct plc_worker *w)
{
        return w->source;
}

unsigned plc_worker_blocks(const struct plc_worker *w)
{
        return w->n_blocks;
}

uint64_t plc_worker_reads(const struct plc_worker *w)
{
        return w->reads;
}
