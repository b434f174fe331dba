/*
 * ring-bench.c — throughput, producer cost, wake-ups and latency of the shared-memory ring.
 *
 * Everything runs as separate processes (fork), like collectors and the hub: 1, 2 and 4
 * producer processes writing 256-byte records as fast as they can into a 65536-slot
 * ring while one consumer process drains it the way the hub does (ring_wait, then
 * ring_read until nothing is ready, optionally lingering after a wake to batch). Then
 * one producer paced at 100 k records/s measures wake-ups per 1,000 records and
 * producer→consumer latency (CLOCK_MONOTONIC stamped in the payload) for several linger
 * settings. Prints human lines, then one JSON object as the last line. A benchmark, not
 * a test: it asserts nothing, but reports lost records next to every rate.
 *
 * For profiling one point: RING_BENCH_PHASES=single,batch,alone,latency runs only those
 * phases (the others report 0 and the JSON's "phases" says what ran);
 * RING_BENCH_PAYLOAD=N writes N-byte payloads instead of 256.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "macros.h"
#include "registry.h"
#include "ring.h"
#include "util.h"

#define PAYLOAD_MAX   RING_PAYLOAD_MAX
#define CAPACITY      65536u
#define MAX_PROD      4
#define LAT_RATE      100000u /* records/s for the latency runs */
#define LAT_SECONDS   1u
#define LAT_MAX       (LAT_RATE * LAT_SECONDS)
#define TP_SECONDS_NS (1000ull * NSEC_PER_MSEC)

struct shared {
        _Atomic uint32_t go, consumer_ready, producers_done, stop;
        /* producers */
        uint64_t written[MAX_PROD], dropped[MAX_PROD], prod_ns[MAX_PROD], prod_cpu_ns[MAX_PROD];
        /* consumer */
        uint64_t delivered, lost, abandoned, corrupt, end_ns, batches, cons_cpu_ns;
        uint64_t n_lat;
        uint32_t lat_ns[LAT_MAX];
};

static char ring_name[64];
static pid_t main_pid;
static unsigned payload_len = 256; /* RING_BENCH_PAYLOAD */

/* RING_BENCH_PHASES=key,key… runs only those phases. */
static bool phase_wanted(const char *key)
{
        const char *only = getenv("RING_BENCH_PHASES");
        if (!only || !*only)
                return true;
        return comma_list_has(only, key);
}

static void cleanup(void)
{
        if (getpid() == main_pid && ring_name[0])
                (void)ring_unlink(ring_name);
}

static void die(const char *what, int e)
{
        fprintf(stderr, "ring-bench: %s: %s\n", what, strerror(e < 0 ? -e : e));
        exit(1);
}

static struct ring *open_ring(bool create)
{
        struct ring *r = NULL;
        struct ring_open_opts o = { .create = create, .capacity = CAPACITY, .gid = (gid_t)-1 };
        int k = ring_open(ring_name, &o, &r, NULL);
        if (k < 0)
                die("ring_open", k);
        return r;
}

static void sleep_ns(uint64_t ns)
{
        struct timespec ts = { .tv_sec = (time_t)(ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(ns % NSEC_PER_SEC) };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* The hub's loop: drain what is ready, then sleep on the doorbell; after a wake,
 * optionally linger so more records arrive per wake-up. */
static void consumer(struct shared *sh, unsigned n_producers, uint64_t linger_ns, bool latency)
{
        struct ring *r = open_ring(false);
        if (ring_consumer_attach(r) < 0)
                die("consumer attach", EBUSY);
        struct ring_cursor c;
        ring_cursor_init(r, &c, false);
        static struct ring_record rec;
        uint64_t delivered = 0, batches = 0, n_lat = 0;
        uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        atomic_store(&sh->consumer_ready, 1);
        for (;;) {
                int k;
                uint64_t before = delivered;
                while ((k = ring_read(r, &c, &rec)) == 1) {
                        delivered++;
                        if (latency && n_lat < LAT_MAX) {
                                uint64_t ts;
                                memcpy(&ts, rec.payload, 8);
                                uint64_t d = mono_ns() - ts;
                                sh->lat_ns[n_lat++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
                        }
                }
                batches += delivered != before;
                if (k == 0 && atomic_load(&sh->producers_done) == n_producers &&
                    ring_lag(r, &c) == 0)
                        break;
                int w = ring_wait(r, &c, k == -EINPROGRESS ? 100 * 1000 : 100 * NSEC_PER_MSEC);
                if (w == 1 && linger_ns && k == 0)
                        sleep_ns(linger_ns);
        }
        sh->end_ns = mono_ns();
        sh->cons_cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
        sh->delivered = delivered;
        sh->lost = c.lost;
        sh->abandoned = c.abandoned;
        sh->corrupt = c.corrupt;
        sh->batches = batches;
        sh->n_lat = n_lat;
        ring_consumer_detach(r);
        ring_close(r);
}

/* rate 0: as fast as possible for duration_ns; else paced at `rate` records/s. */
/* Records per ring_write_batch() call in the throughput runs (1 = ring_write()). */
static unsigned batch = 1;

static void producer(struct shared *sh, unsigned idx, uint64_t duration_ns, uint64_t rate)
{
        struct ring *r = open_ring(false);
        char name[RING_NAME_MAX];
        snprintf(name, sizeof(name), "bench-%u", idx);
        int p = ring_producer_register(r, name, 0);
        if (p < 0)
                die("register", p);
        uint8_t payload[PAYLOAD_MAX];
        for (unsigned i = 0; i < PAYLOAD_MAX; i++)
                payload[i] = (uint8_t)(i * 7 + idx);
        struct ring_write_meta m = { .type = 1, .version = 1 }; /* ts: now, as collectors do */
        while (!atomic_load(&sh->go))
                ;
        uint64_t n = 0, dropped = 0, t0 = mono_ns(), t = t0;
        uint64_t cpu0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        if (!rate) {
                /* A batch is what a collector writes per cycle: one claim, one time. */
                struct ring_write_meta ms[64];
                uint8_t bufs[64][PAYLOAD_MAX];
                const void *pp[64];
                size_t lens[64];
                for (unsigned i = 0; i < 64; i++) {
                        ms[i] = m;
                        memcpy(bufs[i], payload, PAYLOAD_MAX);
                        pp[i] = bufs[i];
                        lens[i] = payload_len;
                }
                for (;;) {
                        if (batch > 1) {
                                for (unsigned i = 0; i < 256; i += batch, n += batch) {
                                        memcpy(bufs[0] + 8, &n, 8);
                                        if (ring_write_batch(r, p, ms, pp, lens, batch) < 0)
                                                dropped = atomic_load(&r->producers[p].dropped);
                                }
                        } else
                                for (unsigned i = 0; i < 256; i++, n++) {
                                        memcpy(payload + 8, &n, 8);
                                        dropped += ring_write(r, p, &m, payload, payload_len) < 0;
                                }
                        t = mono_ns();
                        if (t - t0 >= duration_ns)
                                break;
                }
        } else {
                uint64_t total = rate * duration_ns / NSEC_PER_SEC;
                for (; n < total; n++) {
                        uint64_t due = t0 + n * NSEC_PER_SEC / rate;
                        while ((t = mono_ns()) < due)
                                ;
                        memcpy(payload, &t, 8);
                        dropped += ring_write(r, p, &m, payload, payload_len) < 0;
                }
                t = mono_ns();
        }
        sh->written[idx] = n - dropped;
        sh->dropped[idx] = dropped;
        sh->prod_ns[idx] = t - t0;
        sh->prod_cpu_ns[idx] = now_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
        atomic_fetch_add(&sh->producers_done, 1);
        ring_close(r);
}

struct result {
        double rps, offered, ns_per_rec, cpu_ns_per_rec, cons_cpu_ns_per_rec, wakes_per_1k,
            lat_p50_us, lat_p99_us, lat_max_us;
        uint64_t delivered, lost, abandoned, corrupt, dropped, wakes, batches;
};

static int cmp_u32(const void *a, const void *b)
{
        uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
        return x < y ? -1 : x > y;
}

static struct result run(unsigned np, uint64_t duration_ns, uint64_t rate, uint64_t linger_ns,
                         bool with_consumer)
{
        struct shared *sh =
            mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (sh == MAP_FAILED)
                die("mmap", errno);
        (void)ring_unlink(ring_name);
        struct ring *r = open_ring(true);

        pid_t cons = with_consumer ? fork() : 0;
        if (cons < 0)
                die("fork", errno);
        if (with_consumer && cons == 0) {
                consumer(sh, np, linger_ns, rate != 0);
                _exit(0);
        }
        while (with_consumer && !atomic_load(&sh->consumer_ready))
                sleep_ns(100 * 1000);
        pid_t pids[MAX_PROD];
        for (unsigned i = 0; i < np; i++) {
                pids[i] = fork();
                if (pids[i] < 0)
                        die("fork", errno);
                if (pids[i] == 0) {
                        producer(sh, i, duration_ns, rate);
                        _exit(0);
                }
        }
        sleep_ns(20 * NSEC_PER_MSEC); /* let everyone register and spin on `go` */
        uint64_t t0 = mono_ns();
        atomic_store(&sh->go, 1);
        int st;
        for (unsigned i = 0; i < np; i++)
                if (waitpid(pids[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
                        die("producer failed", EIO);
        ring_wake(r);
        if (with_consumer && (waitpid(cons, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st)))
                die("consumer failed", EIO);
        if (!with_consumer)
                sh->end_ns = mono_ns();

        struct result res = { 0 };
        uint64_t written = 0, prod_ns = 0;
        for (unsigned i = 0; i < np; i++) {
                written += sh->written[i];
                res.dropped += sh->dropped[i];
                prod_ns = MAX(prod_ns, sh->prod_ns[i]);
        }
        res.delivered = sh->delivered;
        res.lost = sh->lost;
        res.abandoned = sh->abandoned;
        res.corrupt = sh->corrupt;
        res.batches = sh->batches;
        res.wakes = atomic_load(&r->hdr->wakes);
        res.rps = (double)sh->delivered * 1e9 / (double)(sh->end_ns - t0);
        res.offered = (double)(written + res.dropped) * 1e9 / (double)prod_ns;
        res.ns_per_rec = np == 1 ? (double)sh->prod_ns[0] / (double)(written + res.dropped) : 0;
        res.cpu_ns_per_rec =
            np == 1 ? (double)sh->prod_cpu_ns[0] / (double)(written + res.dropped) : 0;
        res.cons_cpu_ns_per_rec =
            sh->delivered ? (double)sh->cons_cpu_ns / (double)sh->delivered : 0;
        res.wakes_per_1k = (double)res.wakes * 1000.0 / (double)(sh->delivered ? sh->delivered : 1);
        if (sh->n_lat) {
                qsort(sh->lat_ns, sh->n_lat, sizeof(uint32_t), cmp_u32);
                res.lat_p50_us = sh->lat_ns[sh->n_lat / 2] / 1e3;
                res.lat_p99_us = sh->lat_ns[sh->n_lat * 99 / 100] / 1e3;
                res.lat_max_us = sh->lat_ns[sh->n_lat - 1] / 1e3;
        }
        ring_close(r);
        (void)ring_unlink(ring_name);
        munmap(sh, sizeof(*sh));
        return res;
}

int main(void)
{
        main_pid = getpid();
        snprintf(ring_name, sizeof(ring_name), "bench-ring-%d", (int)main_pid);
        atexit(cleanup);
        setvbuf(stdout, NULL, _IOLBF, 0);
        const char *pl = getenv("RING_BENCH_PAYLOAD");
        if (pl && *pl) {
                char *end;
                unsigned long v = strtoul(pl, &end, 10);
                if (*end || v < 16 || v > RING_PAYLOAD_MAX) {
                        fprintf(stderr, "ring-bench: RING_BENCH_PAYLOAD must be 16..%u\n",
                                RING_PAYLOAD_MAX);
                        return 2;
                }
                payload_len = (unsigned)v;
        }
        const char *phases = getenv("RING_BENCH_PHASES");

        printf("ring-bench: capacity %u slots x %u B, %u-byte payloads, producers and consumer"
               " are separate processes, %ld CPUs online\n",
               CAPACITY, RING_SLOT_SIZE, payload_len, sysconf(_SC_NPROCESSORS_ONLN));

        /* Throughput: producers flat out for 1 s; the consumer drains concurrently and
         * lingers 200 µs after each wake-up (the hub's batching). */
        const uint64_t tp_linger = 200 * 1000;
        static const unsigned nps[] = { 1, 2, 4 };
        struct result tp1[3] = { 0 }, tp[3] = { 0 }, alone = { 0 }, lat[3] = { 0 };
        batch = 1;
        for (unsigned i = 0; i < 3 && phase_wanted("single"); i++) {
                tp1[i] = run(nps[i], TP_SECONDS_NS, 0, tp_linger, true);
                printf("single-record writes, %u producer%s: delivered %.2f M rec/s (offered %.2f "
                       "M/s), lost %" PRIu64 ", producer %.1f ns/record (%.1f ns CPU), "
                       "consumer %.1f ns CPU/record\n",
                       nps[i], nps[i] > 1 ? "s" : "", tp1[i].rps / 1e6, tp1[i].offered / 1e6,
                       tp1[i].lost, tp1[i].ns_per_rec, tp1[i].cpu_ns_per_rec,
                       tp1[i].cons_cpu_ns_per_rec);
        }
        batch = 32;
        for (unsigned i = 0; i < 3 && phase_wanted("batch"); i++) {
                tp[i] = run(nps[i], TP_SECONDS_NS, 0, tp_linger, true);
                printf("batches of 32, throughput %u producer%s: delivered %.2f M rec/s (offered "
                       "%.2f M/s); "
                       "delivered %" PRIu64 ", lost %" PRIu64 ", abandoned %" PRIu64
                       ", corrupt %" PRIu64 ", producer-dropped %" PRIu64 ", %" PRIu64
                       " drains (%.0f rec/drain), wakes %" PRIu64 "\n",
                       nps[i], nps[i] > 1 ? "s" : "", tp[i].rps / 1e6, tp[i].offered / 1e6,
                       tp[i].delivered, tp[i].lost, tp[i].abandoned, tp[i].corrupt, tp[i].dropped,
                       tp[i].batches,
                       tp[i].batches ? (double)tp[i].delivered / (double)tp[i].batches : 0.0,
                       tp[i].wakes);
        }
        if (phase_wanted("alone"))
                alone = run(1, TP_SECONDS_NS / 2, 0, 0, false);
        batch = 1;
        printf("producer cost, 1 producer with the consumer draining: %.1f ns/record wall, "
               "%.1f ns CPU; alone (no consumer): %.1f ns wall, %.1f ns CPU\n",
               tp[0].ns_per_rec, tp[0].cpu_ns_per_rec, alone.ns_per_rec, alone.cpu_ns_per_rec);

        /* Latency and wake-ups at a fixed 100 k records/s, for several lingers. */
        static const uint64_t lingers[] = { 0, 250 * 1000, 1000 * 1000 };
        for (unsigned i = 0; i < 3 && phase_wanted("latency"); i++) {
                lat[i] = run(1, (uint64_t)LAT_SECONDS * NSEC_PER_SEC, LAT_RATE, lingers[i], true);
                printf("100k rec/s, linger %4.0f us: wakes %.1f per 1,000 records, latency p50 "
                       "%.1f us, p99 %.1f us, max %.1f us; delivered %" PRIu64 ", lost %" PRIu64
                       ", abandoned %" PRIu64 "\n",
                       lingers[i] / 1e3, lat[i].wakes_per_1k, lat[i].lat_p50_us, lat[i].lat_p99_us,
                       lat[i].lat_max_us, lat[i].delivered, lat[i].lost, lat[i].abandoned);
        }
        /* The headline wake/latency figures are the hub's setting: linger 1 ms. */
        const struct result *hl = &lat[2];
        printf(
            "{\"phases\":\"%s\",\"capacity\":%u,\"payload_bytes\":%u,\"consumer_linger_us\":%.0f,"
            "\"rps_1p\":%.0f,\"rps_2p\":%.0f,\"rps_4p\":%.0f,"
            "\"offered_rps_1p\":%.0f,\"offered_rps_2p\":%.0f,\"offered_rps_4p\":%.0f,"
            "\"lost_1p\":%" PRIu64 ",\"lost_2p\":%" PRIu64 ",\"lost_4p\":%" PRIu64 ","
            "\"ns_per_record_1p\":%.1f,\"cpu_ns_per_record_1p\":%.1f,"
            "\"ns_per_record_alone\":%.1f,\"cpu_ns_per_record_alone\":%.1f,"
            "\"wakes_per_1k\":%.2f,\"lat_p50_us\":%.1f,\"lat_p99_us\":%.1f,"
            "\"lat_linger_us\":%.0f,\"lat_rate\":%u,"
            "\"wakes_per_1k_linger0\":%.2f,\"lat_p50_us_linger0\":%.1f,"
            "\"lat_p99_us_linger0\":%.1f,"
            "\"wakes_per_1k_linger250\":%.2f,\"lat_p50_us_linger250\":%.1f,"
            "\"lat_p99_us_linger250\":%.1f,\"producer_batch\":32,"
            "\"rps_1p_single\":%.0f,\"rps_2p_single\":%.0f,\"rps_4p_single\":%.0f,"
            "\"lost_1p_single\":%" PRIu64 ",\"ns_per_record_1p_single\":%.1f,"
            "\"cpu_ns_per_record_1p_single\":%.1f,\"consumer_cpu_ns_per_record_1p_single\":%.1f,"
            "\"consumer_cpu_ns_per_record_4p_single\":%.1f,"
            "\"consumer_cpu_ns_per_record_4p\":%.1f}\n",
            phases && *phases ? phases : "single,batch,alone,latency", CAPACITY, payload_len,
            tp_linger / 1e3, tp[0].rps, tp[1].rps, tp[2].rps, tp[0].offered, tp[1].offered,
            tp[2].offered, tp[0].lost, tp[1].lost, tp[2].lost, tp[0].ns_per_rec,
            tp[0].cpu_ns_per_rec, alone.ns_per_rec, alone.cpu_ns_per_rec, hl->wakes_per_1k,
            hl->lat_p50_us, hl->lat_p99_us, lingers[2] / 1e3, LAT_RATE, lat[0].wakes_per_1k,
            lat[0].lat_p50_us, lat[0].lat_p99_us, lat[1].wakes_per_1k, lat[1].lat_p50_us,
            lat[1].lat_p99_us, tp1[0].rps, tp1[1].rps, tp1[2].rps, tp1[0].lost, tp1[0].ns_per_rec,
            tp1[0].cpu_ns_per_rec, tp1[0].cons_cpu_ns_per_rec, tp1[2].cons_cpu_ns_per_rec,
            tp[2].cons_cpu_ns_per_rec);
        return 0;
}
