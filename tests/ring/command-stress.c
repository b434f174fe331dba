/*
 * command-stress.c — the command path under load, across real processes.
 *
 *   command-stress COLLECTOR_EXE [--commands N] [--threads T]
 *
 * Runs the real collector (e.g. ringhub-collect-system) on a private ring, then:
 *  1. T threads send N `refresh` commands in all through command_call() while the
 *     collector keeps collecting; a separate reader follows the ring and counts every
 *     command_result by request id. Each command must be answered exactly once, with
 *     its own request id, status OK: none lost, none duplicated.
 *  2. The threads keep sending while the collector is killed with SIGKILL: every command
 *     in flight must end with CONNECTION_ERROR (or an answer that came first) well
 *     within its deadline — never silence, never a hang.
 *  3. The collector is started again; commands succeed again on the new generation.
 * Exit 0 on success, 1 with a message on the first violation, 77 when the collector
 * cannot run here.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "command.h"
#include "macros.h"
#include "registry.h"
#include "ring.h"
#include "util.h"

#define fail(...)                                                      \
        do {                                                           \
                fprintf(stderr, "command-stress: FAIL: " __VA_ARGS__); \
                fputc('\n', stderr);                                   \
                exit(1);                                               \
        } while (0)

#define MAX_IDS       (1u << 20)
#define DEADLINE_NS   (20 * NSEC_PER_SEC)
#define PRODUCER_NAME "system"

static const char *exe;
static char ring_name[64];
static struct ring *ring;
static pid_t collector_pid;

/* Seen by the reader: result records per request id. */
static _Atomic uint16_t results_seen[MAX_IDS];
static atomic_bool reader_stop;
/* Answered to the threads: per request id. */
static _Atomic uint16_t answered[MAX_IDS];

struct worker {
        pthread_t t;
        unsigned n;        /* commands to send (phase 1) or 0: until told to stop */
        atomic_bool *stop; /* phase 2 */
        unsigned ok, conn_errors, busy, other;
        uint64_t worst_error_ns; /* slowest CONNECTION_ERROR after the kill */
};

static void start_collector(void)
{
        collector_pid = fork();
        if (collector_pid < 0)
                fail("fork: %m");
        if (collector_pid == 0) {
                execl(exe, exe, "--ring", ring_name, "--interval", "1000", (char *)NULL);
                _exit(127);
        }
        uint64_t end = mono_ns() + 30 * NSEC_PER_SEC;
        while (mono_ns() < end) {
                int idx = registry_find(ring, PRODUCER_NAME);
                struct registry_entry e;
                if (idx >= 0 && registry_get(ring, (unsigned)idx, real_ns(), &e) &&
                    e.pid == (uint32_t)collector_pid && e.alive)
                        return;
                int st;
                if (waitpid(collector_pid, &st, WNOHANG) == collector_pid) {
                        fprintf(stderr, "command-stress: collector exited (status %d): skip\n", st);
                        exit(77);
                }
                usleep(10000);
        }
        fail("collector did not register within 30 s");
}

static void *reader(void *arg)
{
        struct ring_cursor c = *(const struct ring_cursor *)arg;
        /* This reader checks that every answer is in the ring: it waits for a writer
         * descheduled between claim and commit (a sanitized build under load can stall one
         * past the hub's 50 ms) rather than skip its slot as abandoned. */
        c.abandon_ns = 10 * NSEC_PER_SEC;
        struct ring_record rec;
        while (!atomic_load(&reader_stop)) {
                int k = ring_read(ring, &c, &rec);
                if (k != 1) {
                        usleep(200);
                        continue;
                }
                if (rec.type != RT_command_result || rec.len != sizeof(struct rec_command_result))
                        continue;
                struct rec_command_result res;
                memcpy(&res, rec.payload, sizeof(res));
                if (res.request_id < MAX_IDS)
                        atomic_fetch_add(&results_seen[res.request_id], 1);
        }
        if (c.lost)
                fail("the result reader lost %" PRIu64 " records (ring too small?)", c.lost);
        return NULL;
}

static void *work(void *arg)
{
        struct worker *w = arg;
        for (unsigned i = 0; w->n ? i < w->n : !atomic_load(w->stop); i++) {
                struct mailbox_command cmd = { .action = "refresh",
                                               .origin = "command-stress",
                                               .deadline_ns = real_ns() + DEADLINE_NS };
                struct rec_command_result res;
                uint64_t id = 0, t0 = real_ns();
                int k = command_call(ring, PRODUCER_NAME, &cmd, &res, &id);
                if (k == -EBUSY) {
                        w->busy++;
                        i--; /* an answer, but try again: the count is of executed ones */
                        continue;
                }
                if (k == 0) {
                        if (res.request_id != id)
                                fail("answer for request %" PRIu64 " carries id %" PRIu64, id,
                                     res.request_id);
                        if (strcmp(res.status, "OK") != 0)
                                fail("request %" PRIu64 ": status %s (%s)", id, res.status,
                                     res.message);
                        if (id >= MAX_IDS || atomic_fetch_add(&answered[id], 1) != 0)
                                fail("request %" PRIu64 " answered twice", id);
                        w->ok++;
                } else if (k == -ESRCH || k == -ENOENT) {
                        w->conn_errors++;
                        uint64_t took = real_ns() - t0;
                        if (took > w->worst_error_ns)
                                w->worst_error_ns = took;
                        if (w->stop && !w->n)
                                usleep(1000); /* collector down: do not spin */
                } else
                        fail("command_call: %s (%d)", command_error_status(k), k);
        }
        return NULL;
}

static void run_workers(struct worker *ws, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                if (pthread_create(&ws[i].t, NULL, work, &ws[i]) != 0)
                        fail("pthread_create");
}

static void join_workers(struct worker *ws, unsigned n)
{
        for (unsigned i = 0; i < n; i++)
                pthread_join(ws[i].t, NULL);
}

static void cleanup(void)
{
        if (collector_pid > 0) {
                kill(collector_pid, SIGKILL);
                waitpid(collector_pid, NULL, 0);
        }
        ring_unlink(ring_name);
}

int main(int argc, char **argv)
{
        unsigned commands = 10000, threads = 4;
        if (argc < 2)
                fail("usage: command-stress COLLECTOR_EXE [--commands N] [--threads T]");
        exe = argv[1];
        for (int i = 2; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--commands") == 0)
                        commands = (unsigned)atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--threads") == 0)
                        threads = (unsigned)atoi(argv[i + 1]);
        }
        threads = MAX(1u, MIN(threads, 16u));
        snprintf(ring_name, sizeof(ring_name), "cmdstress-%d", (int)getpid());
        struct ring_open_opts o = { .create = true, .capacity = 65536, .gid = (gid_t)-1 };
        if (ring_open(ring_name, &o, &ring, NULL) < 0)
                fail("cannot create ring");
        atexit(cleanup);
        signal(SIGPIPE, SIG_IGN);
        start_collector();

        /* The cursor is placed before any command is sent: a reader thread scheduled late
         * (a loaded machine) must not start past the first answers. */
        pthread_t rt;
        static struct ring_cursor rc;
        ring_cursor_init(ring, &rc, false);
        pthread_create(&rt, NULL, reader, &rc);

        /* 1: N commands, every one answered exactly once. */
        struct worker ws[16] = { 0 };
        uint64_t t0 = mono_ns();
        for (unsigned i = 0; i < threads; i++)
                ws[i].n = commands / threads + (i < commands % threads);
        run_workers(ws, threads);
        join_workers(ws, threads);
        double secs = (double)(mono_ns() - t0) / 1e9;
        unsigned ok = 0, busy = 0;
        for (unsigned i = 0; i < threads; i++) {
                ok += ws[i].ok;
                busy += ws[i].busy;
                if (ws[i].conn_errors)
                        fail("%u CONNECTION_ERROR while the collector ran", ws[i].conn_errors);
        }
        if (ok != commands)
                fail("%u of %u commands answered", ok, commands);
        /* The reader must have seen each answered id exactly once. */
        uint64_t end = mono_ns() + 10 * NSEC_PER_SEC;
        for (;;) {
                unsigned missing = 0, dup = 0;
                for (unsigned id = 0; id < MAX_IDS; id++) {
                        unsigned a = atomic_load(&answered[id]), s = atomic_load(&results_seen[id]);
                        missing += a && !s;
                        dup += s > 1;
                }
                if (dup)
                        fail("%u request ids have more than one result record", dup);
                if (!missing)
                        break;
                if (mono_ns() > end)
                        fail("%u answered ids never seen by the ring reader", missing);
                usleep(10000);
        }
        printf("phase 1: %u commands from %u threads in %.2f s (%.0f/s), %u busy retries, each "
               "answered once\n",
               commands, threads, secs, commands / secs, busy);

        /* 2: kill -9 with commands in flight. */
        atomic_bool stop = false;
        struct worker ws2[16] = { 0 };
        for (unsigned i = 0; i < threads; i++)
                ws2[i].stop = &stop;
        run_workers(ws2, threads);
        usleep(300 * 1000);
        kill(collector_pid, SIGKILL);
        waitpid(collector_pid, NULL, 0);
        collector_pid = 0;
        usleep(500 * 1000);
        atomic_store(&stop, true);
        join_workers(ws2, threads);
        unsigned conn = 0, ok2 = 0;
        uint64_t worst = 0;
        for (unsigned i = 0; i < threads; i++) {
                conn += ws2[i].conn_errors;
                ok2 += ws2[i].ok;
                worst = MAX(worst, ws2[i].worst_error_ns);
        }
        if (!conn)
                fail("no command saw the collector die");
        if (worst >= DEADLINE_NS)
                fail("a CONNECTION_ERROR took %.1f s (deadline %.0f s)", (double)worst / 1e9,
                     (double)DEADLINE_NS / 1e9);
        printf("phase 2: kill -9 with commands in flight: %u answered before, %u "
               "CONNECTION_ERROR, slowest error after %.0f ms\n",
               ok2, conn, (double)worst / 1e6);

        /* 3: a new run takes commands again. */
        start_collector();
        struct worker w3 = { .n = 100 };
        run_workers(&w3, 1);
        join_workers(&w3, 1);
        if (w3.ok != 100)
                fail("after the restart only %u of 100 commands succeeded", w3.ok);
        printf("phase 3: restarted collector answered 100 of 100\n");
        atomic_store(&reader_stop, true);
        pthread_join(rt, NULL);
        return 0;
}
