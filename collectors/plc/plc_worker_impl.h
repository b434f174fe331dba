/*
 * plc_worker_impl.h — what plc_worker.c (thread, schedule, Modbus link, tags) and
 * plc_machine.c (machines, commands) share about a worker. Private to those two files;
 * everything in here is touched only by the worker's own thread, except the fields
 * marked "under mu".
 */
#pragma once

#include <modbus.h>

#include "plc_carousel.h"
#include "plc_worker.h"

#define PLC_BACKOFF_MIN_MS 500u

struct tag_state {
        bool has_pub, pub_good, good;
        uint8_t exception;
        struct plc_value cur, pub;
        uint64_t time_ns;
};

struct block_state {
        struct plc_block b;
        uint64_t due; /* CLOCK_MONOTONIC ns */
        int status;   /* -1 unknown, 0 failing, 1 readable */
        struct tag_state *ts;
};

struct machine_rt {
        unsigned idx; /* in map->machines */
        uint64_t due;
        struct plc_machine_state st, pub;
        bool has_pub;
};

struct plc_worker {
        const struct plc_map *m;
        struct plc_outbox *ob;
        bool carousel;
        unsigned device; /* Modbus worker: its device */
        char source[96];

        pthread_t th;
        bool started;
        pthread_mutex_t mu;
        pthread_cond_t cv;
        bool stop, refresh;                /* under mu */
        struct plc_job jobs[PLC_JOBS_MAX]; /* under mu */
        unsigned n_jobs;                   /* under mu */

        modbus_t *mb;
        struct carousel_conn cc;
        bool connected;
        int link; /* -1 unknown, 0 down, 1 up: reported to the loop on change */
        uint32_t backoff_ms;
        uint64_t next_connect; /* CLOCK_MONOTONIC ns */

        struct block_state *blocks;
        unsigned n_blocks;
        struct machine_rt *machines;
        unsigned n_machines;
        uint64_t reads;
};

/* plc_worker.c */
void worker_link(struct plc_worker *w, bool up, const char *why);
int worker_modbus_ensure(struct plc_worker *w, bool force, char *err, size_t errlen);
/* After a failed libmodbus call with errno e: the exception code (the PLC answered), or
 * 0 after dropping the connection. err gets the text either way. */
int worker_modbus_failed(struct plc_worker *w, int e, char *err, size_t errlen);
void worker_poll_tag_soon(struct plc_worker *w, unsigned tag);
void worker_reply(struct plc_worker *w, const struct plc_job *job, const char *status,
                  const char *data, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* plc_machine.c */
void machine_init(struct plc_worker *w, struct machine_rt *mr, unsigned idx);
void machine_poll(struct plc_worker *w, struct machine_rt *mr);
void machine_publish(struct plc_worker *w, struct machine_rt *mr, bool force);
void machine_link_lost(struct plc_worker *w, struct machine_rt *mr, const char *why);
void machine_run_job(struct plc_worker *w, const struct plc_job *job);
