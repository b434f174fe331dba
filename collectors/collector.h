/*
 * collector.h — the skeleton every collector process stands on.
 *
 * A collector is one file that fills a `struct collector_ops` and calls
 * collector_main(). The skeleton does the plumbing: arguments (--ring, --interval,
 * --procfs/--sysfs/--rootfs, the collector's own flags), attaching to the ring and
 * registering as a producer, an sd-event loop with one timer per task, heartbeats,
 * sd_notify READY/STATUS/WATCHDOG/STOPPING, clean SIGTERM, and writing batches.
 * Collectors never talk to the hub except through the ring.
 *
 * Exit codes (units use RestartPreventExitStatus= for 2, 3 and 4):
 *   0 stopped cleanly            1 runtime failure, restart me
 *   2 usage or config error      3 ring incompatible (ABI) or inaccessible
 *   4 source can never appear here (e.g. no UPS configured)
 */
#pragma once

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "ring.h"
#include "schema.h"

#define COLLECTOR_EXIT_OK      0
#define COLLECTOR_EXIT_FAILURE 1
#define COLLECTOR_EXIT_USAGE   2
#define COLLECTOR_EXIT_RING    3
#define COLLECTOR_EXIT_ABSENT  4

#define COLLECTOR_MAX_TASKS 8
#define COLLECTOR_MAX_BATCH 1024

struct collector;

struct collector_task {
        const char *name;
        uint32_t interval_ms; /* default; --interval sets task 0, --interval-NAME the others */
        int (*run)(struct collector *c);
};

/*
 * Commands (hub → collector). The skeleton takes each command from this collector's
 * mailbox in the ring segment (shm/mailbox.h), checks it (record_validate, addressed to
 * this generation, deadline not passed) and calls ops->command on the event loop. The
 * collector answers exactly once with collector_command_reply(), at once or later (a
 * slow action keeps a copy of the command and replies from a timer or I/O handler); the
 * skeleton writes the command_result record into the ring. The skeleton itself answers
 * `refresh` (run every task now) unless ops->command handles it, answers
 * INVALID_COMMAND for a collector without ops->command, and TIMEOUT for a command still
 * unanswered at its deadline (a later reply is then dropped and logged).
 */
struct collector_command {
        uint64_t request_id;
        uint64_t deadline_ns; /* CLOCK_REALTIME */
        uint64_t taken_ns;    /* CLOCK_REALTIME when the skeleton took it */
        char action[32];
        char target[96];
        char args[224]; /* a JSON object's text, or "" */
        char origin[48];
};

/* Result status words, as the command_result record and every dialect carry them. */
#define CMD_OK               "OK"
#define CMD_BUSY             "BUSY"             /* mailbox full, or the target is busy */
#define CMD_INVALID          "INVALID_COMMAND"  /* unknown action, bad or missing argument */
#define CMD_NOT_FOUND        "NOT_FOUND"        /* no such target */
#define CMD_CONFLICT         "CONFLICT"         /* already in the requested state */
#define CMD_CONNECTION_ERROR "CONNECTION_ERROR" /* collector or its source unreachable */
#define CMD_TIMEOUT          "TIMEOUT"          /* no answer by the deadline */
#define CMD_FAILED           "FAILED"           /* the source refused or failed */

struct collector_ops {
        const char *name; /* "system": the binary is ringhub-collect-<name> */
        const char *description;
        struct collector_task tasks[COLLECTOR_MAX_TASKS]; /* tasks[0] is the main one */
        size_t state_size;                                /* zeroed, collector_state() */
        const struct option *options;                     /* extra long options (val >= 0x200) */
        const char *options_help;                         /* lines for --help */
        int (*parse_option)(struct collector *c, int opt, const char *arg);
        int (*init)(struct collector *c);  /* after registering; <0 → exit */
        void (*done)(struct collector *c); /* before unregistering */
        /* [collector.NAME] interval means something else to this collector (OPC UA: its
         * publishing interval): the skeleton leaves tasks[0] at its compiled default. */
        bool interval_key_is_own;
        /* After SIGHUP reloaded the config (intervals are already applied). */
        void (*reload)(struct collector *c);
        /* A command from the mailbox (see above): return 0 after replying or arranging to
         * reply later, or a negative errno to have the skeleton answer FAILED with it.
         * Return 1 to leave an action to the skeleton (e.g. `refresh`). */
        int (*command)(struct collector *c, const struct collector_command *cmd);
};

int collector_main(const struct collector_ops *ops, int argc, char **argv);

struct conf;

void *collector_state(struct collector *c);
/* The configuration file's table (never NULL-unsafe: NULL reads as defaults, see conf.h).
 * A collector reads its own keys from section "collector.<name>"; flags override them. */
const struct conf *collector_conf(const struct collector *c);
const char *collector_name(const struct collector *c);
sd_event *collector_event(struct collector *c);
struct ring *collector_ring(struct collector *c);
uint32_t collector_interval_ms(const struct collector *c, unsigned task);

/* Source roots (default /proc, /sys, /; flags or RINGHUB_PROCFS/SYSFS/ROOTFS). */
const char *collector_procfs(const struct collector *c);
const char *collector_sysfs(const struct collector *c);
const char *collector_rootfs(const struct collector *c);
/* root + path into out; -ENAMETOOLONG on overflow. */
int collector_proc_path(const struct collector *c, const char *path, char *out, size_t size);
int collector_sys_path(const struct collector *c, const char *path, char *out, size_t size);
int collector_root_path(const struct collector *c, const char *path, char *out, size_t size);

/*
 * Stopping with a hung peer: a descriptor that polls readable once SIGTERM or SIGINT is
 * pending (-EBADF before the event loop exists, or with --once). Never read it. A task
 * waiting on a peer polls it with the peer's socket and gives up at once (-ECANCELED)
 * when it turns readable, so the signal is handled and the collector exits within its
 * unit's stop timeout, whatever the peer does. It polls readable only on the thread
 * that runs the event loop (signals are blocked; a worker has its own cancel path).
 */
int collector_stop_fd(void);

/* Run a task again soon (e.g. an inotify event); coalesced, never overlapping a run. */
void collector_trigger(struct collector *c, unsigned task, uint64_t delay_ms);

/*
 * Batches: records of one collection, published together. begin → add… → commit.
 * add returns the payload (set to "missing") to fill in, or NULL when full.
 * An empty list is written as one placeholder record flagged RING_REC_EMPTY_LIST:
 * use collector_batch_add_empty(c, RT_x).
 */
void collector_batch_begin(struct collector *c);
void *collector_batch_add(struct collector *c, unsigned type);
int collector_batch_add_empty(struct collector *c, unsigned type);
unsigned collector_batch_count(const struct collector *c);
int collector_batch_commit(struct collector *c);
/* A single record as a batch of one. */
int collector_emit(struct collector *c, unsigned type, const void *payload);

/*
 * Report a source's state; writes a source_status record and logs one line only when
 * the state (or message) changes, so a source failing every cycle logs once.
 */
void collector_source_status(struct collector *c, const char *source, bool up, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * A problem with a source file or device ("cannot read /proc/stat", "garbage in
 * disks.ini"): logged as a warning when it appears, not again while it persists from
 * one run of the same task to the next, and again if it comes back after going away.
 */
void collector_problem(struct collector *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Answer a command: status is one of the CMD_* words; data is a JSON object's text or
 * NULL; the message is for a human (printf format). Exactly one reply per command; a
 * second one, or one after the deadline, is dropped with a log line. Returns 0 or -errno.
 */
int collector_command_reply(struct collector *c, const struct collector_command *cmd,
                            const char *status, const char *data, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* For tests: how many cycles have run (all tasks). */
uint64_t collector_cycles(const struct collector *c);
