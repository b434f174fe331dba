/*
 * command-bench.c — the command path's cost: poster → mailbox → collector → result
 * record → poster, through the real collector process.
 *
 *   command-bench COLLECTOR_EXE [--n N] [--reps R]
 *
 * Per repetition: N sequential `ping` round trips (the path alone: the collector answers
 * at once) and N sequential `refresh` round trips (the path plus one collection), then
 * 4 threads sending `ping` flat out for N×4 commands (commands/s one collector takes).
 * The poster is command_call(): it follows the ring with its own cursor and sleeps
 * 20 µs…1 ms between looks, so its figures include that polling; the hub's path, woken
 * by the ring's doorbell, has none. Prints the medians over R repetitions with their
 * ranges, as one JSON object on the last line.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "macros.h"
#include "registry.h"
#include "ring.h"
#include "util.h"

static struct ring *ring;
static char ring_name[64];
static pid_t kid;

static void cleanup(void)
{
        if (kid > 0) {
                kill(kid, SIGTERM);
                waitpid(kid, NULL, 0);
        }
        ring_unlink(ring_name);
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static uint64_t call(const char *action)
{
        struct mailbox_command cmd = { .action = action,
                                       .origin = "command-bench",
                                       .deadline_ns = real_ns() + 10 * NSEC_PER_SEC };
        struct rec_command_result res;
        uint64_t t0 = mono_ns();
        int k = command_call(ring, "system", &cmd, &res, NULL);
        if (k < 0 || strcmp(res.status, "OK") != 0) {
                fprintf(stderr, "command-bench: %s failed: %s\n", action,
                        k < 0 ? command_error_status(k) : res.status);
                exit(1);
        }
        return mono_ns() - t0;
}

static void latencies(const char *action, unsigned n, double *p50, double *p99)
{
        uint64_t *v = calloc(n, sizeof(*v));
        for (unsigned i = 0; i < n; i++)
                v[i] = call(action);
        qsort(v, n, sizeof(*v), cmp_u64);
        *p50 = (double)v[n / 2] / 1e3;
        *p99 = (double)v[(size_t)(n * 0.99)] / 1e3;
        free(v);
}

static unsigned per_thread;
static void *flood(void *arg)
{
        for (unsigned i = 0; i < per_thread; i++)
                call("ping");
        return NULL;
}

struct stat3 {
        double v[16];
        unsigned n;
};
static void add(struct stat3 *s, double v)
{
        s->v[s->n++] = v;
}
static int cmp_d(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}
static void put(const char *key, struct stat3 *s, bool last)
{
        qsort(s->v, s->n, sizeof(double), cmp_d);
        printf("\"%s\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f}%s", key, s->v[s->n / 2], s->v[0],
               s->v[s->n - 1], last ? "" : ",");
}

int main(int argc, char **argv)
{
        unsigned n = 2000, reps = 3;
        if (argc < 2) {
                fprintf(stderr, "usage: command-bench COLLECTOR_EXE [--n N] [--reps R]\n");
                return 2;
        }
        for (int i = 2; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--n") == 0)
                        n = (unsigned)atoi(argv[i + 1]);
                else if (strcmp(argv[i], "--reps") == 0)
                        reps = (unsigned)MIN(atoi(argv[i + 1]), 16);
        }
        snprintf(ring_name, sizeof(ring_name), "cmdbench-%d", (int)getpid());
        struct ring_open_opts o = { .create = true, .capacity = 65536, .gid = (gid_t)-1 };
        if (ring_open(ring_name, &o, &ring, NULL) < 0)
                return 1;
        atexit(cleanup);
        kid = fork();
        if (kid == 0) {
                execl(argv[1], argv[1], "--ring", ring_name, "--interval", "5000", (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 3000 && registry_find(ring, "system") < 0; i++)
                usleep(10000);

        struct stat3 ping50 = { 0 }, ping99 = { 0 }, ref50 = { 0 }, ref99 = { 0 }, rate = { 0 };
        for (unsigned r = 0; r < reps; r++) {
                double a, b;
                latencies("ping", n, &a, &b);
                add(&ping50, a);
                add(&ping99, b);
                latencies("refresh", n, &a, &b);
                add(&ref50, a);
                add(&ref99, b);
                per_thread = n;
                pthread_t t[4];
                uint64_t t0 = mono_ns();
                for (int i = 0; i < 4; i++)
                        pthread_create(&t[i], NULL, flood, NULL);
                for (int i = 0; i < 4; i++)
                        pthread_join(t[i], NULL);
                add(&rate, 4.0 * n / ((double)(mono_ns() - t0) / 1e9));
                fprintf(stderr,
                        "rep %u: ping p50 %.1f µs p99 %.1f µs, refresh p50 %.1f p99 %.1f, "
                        "%.0f commands/s\n",
                        r + 1, ping50.v[r], ping99.v[r], ref50.v[r], ref99.v[r], rate.v[r]);
        }
        printf("{\"bench\":\"command\",\"n\":%u,\"reps\":%u,", n, reps);
        put("ping_rtt_p50_us", &ping50, false);
        put("ping_rtt_p99_us", &ping99, false);
        put("refresh_rtt_p50_us", &ref50, false);
        put("refresh_rtt_p99_us", &ref99, false);
        put("commands_per_sec_4_threads", &rate, true);
        printf("}\n");
        return 0;
}
