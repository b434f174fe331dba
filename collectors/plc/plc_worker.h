/*
 * plc_worker.h — the PLC collector's device threads and what they hand to the event loop.
 *
 * One worker thread per Modbus device (its tags and its Modbus-mapped machines) and one
 * per carousel machine, so a dead or slow PLC only ever delays itself. A worker polls
 * on its own schedule, runs the commands queued to it, and reports through one outbox:
 * tag values that moved past their deadband, machine states that changed, link and
 * block status changes, and command replies. Only the event loop thread drains the
 * outbox (it is woken through an eventfd) and touches the ring, logs or replies.
 * Workers never call the collector skeleton.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"
#include "plc_map.h"

/* ---- worker → event loop ---- */

struct plc_tag_ev {
        uint32_t tag;
        bool good;
        uint8_t exception; /* Modbus exception code that made it Bad; 0 = no communication */
        struct plc_value v;
        uint64_t time_ns; /* CLOCK_REALTIME of the read */
};

struct plc_machine_state {
        bool connected, has_status;
        char connection_status[16]; /* connecting, connected, disconnected */
        uint8_t raw;
        uint32_t position; /* UINT32_MAX: unknown */
        char last_command[24];
        uint32_t last_argument; /* UINT32_MAX: none */
        char last_result[24];
        char error[96];
};

enum plc_ev_type {
        PLC_EV_LINK,    /* a worker's PLC came up or went down: idx = worker */
        PLC_EV_BLOCK,   /* a read block failed or recovered: idx = worker, text = label */
        PLC_EV_MACHINE, /* a machine's state: idx = machine */
        PLC_EV_REPLY,   /* a command's answer */
        PLC_EV_ESTOP,   /* one machine's part of an estop: ctx = the aggregate */
};

struct plc_ev {
        enum plc_ev_type type;
        unsigned idx;
        bool up;
        char source[96]; /* LINK, BLOCK */
        char text[160];  /* why (LINK, BLOCK), message (REPLY, ESTOP) */
        struct plc_machine_state ms;
        struct collector_command cmd; /* REPLY */
        char status[24];              /* REPLY, ESTOP: a CMD_* word */
        char data[96];                /* REPLY */
        void *ctx;                    /* ESTOP */
};

struct plc_outbox {
        pthread_mutex_t mu;
        int efd; /* eventfd: written when the outbox turns non-empty */
        struct plc_tag_ev *tags;
        unsigned n_tags, cap_tags;
        struct plc_ev *evs;
        unsigned n_evs, cap_evs;
        uint64_t dropped;
};

int plc_outbox_init(struct plc_outbox *ob);
void plc_outbox_free(struct plc_outbox *ob);
void plc_outbox_push_tag(struct plc_outbox *ob, const struct plc_tag_ev *ev);
void plc_outbox_push(struct plc_outbox *ob, const struct plc_ev *ev);
/* Event loop: swap the outbox's arrays with *mine (emptied by the caller after use). */
void plc_outbox_take(struct plc_outbox *ob, struct plc_outbox *mine);

/* ---- event loop → worker ---- */

enum plc_job_kind {
        PLC_JOB_COMMAND, /* a carousel command byte, or a Modbus machine's command write */
        PLC_JOB_WRITE,   /* a tag write */
        PLC_JOB_ESTOP,   /* one machine's e-stop action */
};

struct plc_job {
        enum plc_job_kind kind;
        struct collector_command cmd;
        unsigned target; /* machine or tag index */
        uint16_t command, argument;
        bool has_argument, is_move; /* is_move: refuse with BUSY while the machine runs */
        uint16_t regs[4];           /* WRITE: encoded registers */
        bool bit;                   /* WRITE: coil or register bit value */
        void *agg;                  /* ESTOP: handed back in PLC_EV_ESTOP */
};

#define PLC_JOBS_MAX 16u

struct plc_worker;

/* Plan every worker (one per device, one per carousel machine); no thread yet. */
int plc_workers_new(const struct plc_map *m, struct plc_outbox *ob, struct plc_worker ***ret,
                    unsigned *ret_n);
int plc_worker_start(struct plc_worker *w);
/* --once: connect, poll everything once, on the calling thread. */
void plc_worker_run_once(struct plc_worker *w);
/* Queue a job; -EBUSY when the queue is full. */
int plc_worker_submit(struct plc_worker *w, const struct plc_job *job);
/* Publish every tag and machine of this worker on its next turn, deadband or not. */
void plc_worker_refresh(struct plc_worker *w);
/* Stop the thread (waits for its current I/O, bounded by the timeout) and free. */
struct plc_worker *plc_worker_free(struct plc_worker *w);
/* Which worker serves a machine or a Modbus device. */
struct plc_worker *plc_worker_of_machine(struct plc_worker **ws, unsigned n, unsigned machine);
struct plc_worker *plc_worker_of_tag(struct plc_worker **ws, unsigned n, const struct plc_map *m,
                                     unsigned tag);
/* The source name for logs and source_status records (modbus://…, carousel://…). */
const char *plc_worker_source(const struct plc_worker *w);
unsigned plc_worker_blocks(const struct plc_worker *w);
uint64_t plc_worker_reads(const struct plc_worker *w);
