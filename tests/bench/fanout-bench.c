/*
 * fanout-bench.c — WebSocket fan-out benchmark of the real hub, and a paced producer.
 *
 * Process: a test/benchmark tool, never part of the deployed stack. Modes:
 *   fanout-bench [--hub PATH] [--ctl PATH]   start ringhub on a private ring and free port,
 *        connect real WebSocket clients (raw-socket C clients in forked processes, epoll),
 *        inject system records through the ring at fixed rates (the four loads,
 *        the same beside a Node `ws` broadcaster) and print one JSON object (last line):
 *        per server and load the median over FANOUT_RUNS runs of delivery, latency p50/p99,
 *        CPU %, messages/s, CPU µs and send()s per message, allocations per event, each
 *        with its [min,max] as <field>_range. FANOUT_SECS, FANOUT_LOADS (a comma list of
 *        loads to run), FANOUT_HUB_CONFIG (a config file for the hub).
 *   fanout-bench verify --port P --clients N --count C [--timeout S]   N WebSocket
 *        clients on a running hub must each see uptime_seconds 1…C in order (tests/hub).
 *   fanout-bench produce --ring R --count N --rate EV_PER_S [--children K]
 *        write N system batches (uptime_seconds = sequence, 1…N; K cpu_core children
 *        each) at a fixed rate; used by tests/hub to drive 10,000 events.
 * Latency: in bench mode system.uptime_seconds carries the producer's CLOCK_REALTIME ns
 * at write time and clients subtract it from their own clock on receipt.
 * Must not touch anything but its own ring, port and child processes.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"
#include "registry.h"
#include "ring.h"
#include "schema.h"
#include "util.h"

#define HIST_BUCKETS 20000 /* 10 µs each: 0–200 ms */
#define MAX_PROCS    64

/* What a client does with each message: count it, also measure the latency carried in
 * uptime_seconds (a realtime ns), or check that uptime_seconds counts 1, 2, 3… */
enum client_mode { M_COUNT, M_LAT, M_SEQ };

struct client_stats {
        _Atomic uint64_t msgs, bytes, connected, failed, closed;
        _Atomic uint64_t sys;       /* system_update messages */
        _Atomic uint64_t complete;  /* M_SEQ: clients that saw every number up to seq_count */
        _Atomic uint64_t bad;       /* M_SEQ: clients that saw a gap or a reordering */
        _Atomic uint64_t bad_first; /* M_SEQ: the first wrong number seen, and what was due */
        _Atomic uint64_t bad_want;
        _Atomic uint64_t hist[HIST_BUCKETS + 1];
};

static struct client_stats *stats; /* MAP_SHARED, one per client process */
static volatile sig_atomic_t stop_flag;

static void on_term(int sig)
{
        stop_flag = 1;
}

/* ---- producer ---- */

static _Atomic uint64_t produced; /* system batches written */

/* FANOUT_LOADS=key,key… runs only those loads (the others print null). */
static bool load_wanted(const char *key)
{
        const char *only = getenv("FANOUT_LOADS");
        if (!only || !*only)
                return true;
        return comma_list_has(only, key);
}

static int produce(struct ring *r, int p, uint64_t count, double rate, unsigned children,
                   bool ts_mode, volatile sig_atomic_t *stop)
{
        static _Alignas(8) uint8_t sys[RING_PAYLOAD_MAX], core[RING_PAYLOAD_MAX];
        const struct record_desc *sd = schema_record(RT_system), *cd = schema_record(RT_cpu_core);
        record_init_missing(RT_system, sys);
        record_init_missing(RT_cpu_core, core);
        struct rec_system *s = (struct rec_system *)sys;
        strscpy(s->hostname, sizeof(s->hostname), "bench");
        s->cpu_usage_percent = 12.5;
        s->ram_total_bytes = 17179869184ull;
        uint64_t start = mono_ns();
        for (uint64_t i = 1; i <= count && !(stop && *stop); i++) {
                if (rate > 0) {
                        uint64_t due = start + (uint64_t)((double)(i - 1) * 1e9 / rate);
                        uint64_t now = mono_ns();
                        if (due > now + 20000)
                                nanosleep(
                                    &(struct timespec){
                                        .tv_sec = (time_t)((due - now) / NSEC_PER_SEC),
                                        .tv_nsec = (long)((due - now) % NSEC_PER_SEC) },
                                    NULL);
                }
                s->uptime_seconds = ts_mode ? real_ns() : i;
                uint32_t batch = (uint32_t)(atomic_fetch_add(&r->producers[p].batches, 1) + 1);
                uint16_t cnt = (uint16_t)(1 + children);
                struct ring_write_meta m = { .type = RT_system,
                                             .version = sd->version,
                                             .batch_id = batch,
                                             .batch_idx = 0,
                                             .batch_cnt = cnt };
                ring_write(r, p, &m, sys, sd->size);
                for (unsigned k = 0; k < children; k++) {
                        struct rec_cpu_core *c = (struct rec_cpu_core *)core;
                        c->core = k;
                        c->usage_percent = (double)(k % 100);
                        struct ring_write_meta mc = { .type = RT_cpu_core,
                                                      .version = cd->version,
                                                      .batch_id = batch,
                                                      .batch_idx = (uint16_t)(1 + k),
                                                      .batch_cnt = cnt };
                        ring_write(r, p, &mc, core, cd->size);
                }
                ring_producer_heartbeat(r, p);
                atomic_fetch_add_explicit(&produced, 1, memory_order_relaxed);
        }
        return 0;
}

static int cmd_produce(int argc, char **argv)
{
        const char *ring = NULL;
        uint64_t count = 10000, children = 0;
        double rate = 1000;
        for (int i = 0; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--ring") == 0)
                        ring = argv[i + 1];
                else if (strcmp(argv[i], "--count") == 0)
                        safe_atou64(argv[i + 1], &count);
                else if (strcmp(argv[i], "--rate") == 0)
                        safe_atod(argv[i + 1], &rate);
                else if (strcmp(argv[i], "--children") == 0)
                        safe_atou64(argv[i + 1], &children);
        }
        struct ring *r;
        struct ring_open_opts o = { .create = true, .gid = (gid_t)-1 };
        int k = ring_open(ring_default_name(ring), &o, &r, NULL);
        if (k < 0)
                return log_error_errno(k, "ring: %m"), 1;
        int p = ring_producer_register(r, "bench-producer", 0);
        if (p < 0)
                return log_error_errno(p, "register: %m"), 1;
        signal(SIGTERM, on_term);
        produce(r, p, count, rate, (unsigned)MIN(children, 1000ull), false, &stop_flag);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
        return 0;
}

/* ---- WebSocket clients ---- */

struct conn {
        int fd;
        bool open, bad;
        uint64_t next; /* M_SEQ: the number due */
        size_t len;
        uint8_t buf[65536 + 16];
};

static int ws_connect(int port)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct timeval tv = { .tv_sec = 10 };
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                close(fd);
                return -errno;
        }
        static const char req[] = "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n\r\n";
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) < 0) {
                close(fd);
                return -errno;
        }
        /* Read the 101 head byte by byte so no frame bytes are swallowed. */
        char head[2048];
        size_t n = 0;
        while (n < sizeof(head) - 1) {
                ssize_t k = recv(fd, head + n, 1, 0);
                if (k <= 0) {
                        close(fd);
                        return -EIO;
                }
                n++;
                if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0)
                        break;
        }
        head[n] = 0;
        if (!strstr(head, " 101 ")) {
                close(fd);
                return -ECONNREFUSED;
        }
        return fd;
}

static uint64_t seq_count; /* M_SEQ: the last number */

static void on_message(struct client_stats *st, struct conn *c, const uint8_t *p, size_t len,
                       enum client_mode mode)
{
        atomic_fetch_add_explicit(&st->msgs, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->bytes, len, memory_order_relaxed);
        if (mode == M_COUNT)
                return;
        const char *k = memmem(p, len, "\"uptime_seconds\":", 17);
        if (!k)
                return;
        atomic_fetch_add_explicit(&st->sys, 1, memory_order_relaxed);
        uint64_t v = strtoull(k + 17, NULL, 10);
        if (mode == M_SEQ) {
                /* 0 before the first number: the snapshot of a state nobody wrote yet. */
                if (c->bad || c->next > seq_count || (v == 0 && c->next == 1))
                        return;
                if (v != c->next) {
                        c->bad = true;
                        if (atomic_fetch_add(&st->bad, 1) == 0) {
                                atomic_store(&st->bad_first, v);
                                atomic_store(&st->bad_want, c->next);
                        }
                        return;
                }
                if (c->next++ == seq_count)
                        atomic_fetch_add(&st->complete, 1);
                return;
        }
        uint64_t now = real_ns();
        if (v < 1000000000000000000ull || now < v)
                return;
        uint64_t b = (now - v) / 10000;
        atomic_fetch_add_explicit(&st->hist[MIN(b, (uint64_t)HIST_BUCKETS)], 1,
                                  memory_order_relaxed);
}

/* Parse complete frames out of c->buf. */
static void drain(struct client_stats *st, struct conn *c, enum client_mode mode)
{
        size_t off = 0;
        for (;;) {
                if (c->len - off < 2)
                        break;
                uint8_t *h = c->buf + off;
                uint64_t pl = h[1] & 0x7f;
                size_t hl = 2;
                if (pl == 126) {
                        if (c->len - off < 4)
                                break;
                        pl = (uint64_t)h[2] << 8 | h[3];
                        hl = 4;
                } else if (pl == 127) {
                        if (c->len - off < 10)
                                break;
                        pl = 0;
                        for (int i = 0; i < 8; i++)
                                pl = pl << 8 | h[2 + i];
                        hl = 10;
                }
                if (pl > sizeof(c->buf) - 16) {
                        c->open = false; /* too big for this client: give up */
                        return;
                }
                if (c->len - off < hl + pl)
                        break;
                if ((h[0] & 0x0f) == 1)
                        on_message(st, c, h + hl, pl, mode);
                else if ((h[0] & 0x0f) == 8)
                        c->open = false;
                off += hl + pl;
        }
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
}

static void client_proc(struct client_stats *st, int port, unsigned n, enum client_mode mode)
{
        signal(SIGTERM, on_term);
        struct conn *cs = calloc(n, sizeof(*cs));
        int ep = epoll_create1(EPOLL_CLOEXEC);
        for (unsigned i = 0; i < n && !stop_flag; i++) {
                int fd = ws_connect(port);
                if (fd < 0) {
                        atomic_fetch_add(&st->failed, 1);
                        cs[i].fd = -1;
                        continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                cs[i].fd = fd;
                cs[i].open = true;
                cs[i].next = 1;
                struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                atomic_fetch_add(&st->connected, 1);
        }
        struct epoll_event evs[256];
        while (!stop_flag) {
                int k = epoll_wait(ep, evs, 256, 200);
                for (int i = 0; i < k; i++) {
                        struct conn *c = &cs[evs[i].data.u32];
                        ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 16 - c->len,
                                         MSG_DONTWAIT);
                        if (r <= 0) {
                                if (r < 0 && (errno == EAGAIN || errno == EINTR))
                                        continue;
                                c->open = false;
                        } else {
                                c->len += (size_t)r;
                                drain(st, c, mode);
                        }
                        if (!c->open) {
                                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                                close(c->fd);
                                c->fd = -1;
                                atomic_fetch_add(&st->closed, 1);
                        }
                }
        }
        _exit(0);
}

/* ---- the hub ---- */

static pid_t hub_pid;
static int hub_port;
static char ring_name[64];

static long read_status_kb(pid_t pid, const char *key)
{
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/%d/status", pid);
        FILE *f = fopen(path, "re");
        long v = -1;
        if (!f)
                return -1;
        while (fgets(line, sizeof(line), f))
                if (startswith(line, key))
                        v = strtol(line + strlen(key), NULL, 10);
        fclose(f);
        return v;
}

static double cpu_secs(pid_t pid)
{
        char path[64], buf[1024];
        snprintf(path, sizeof(path), "/proc/%d/stat", pid);
        if (read_file_bounded(path, buf, sizeof(buf)) < 0)
                return 0;
        char *p = strrchr(buf, ')');
        unsigned long ut = 0, stt = 0;
        if (p)
                sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stt);
        return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* Read one counter from /metrics with a raw HTTP GET. */
static double metric(const char *name)
{
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)hub_port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                if (fd >= 0)
                        close(fd);
                return NAN;
        }
        static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        (void)!send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL);
        static char buf[1 << 20];
        size_t n = 0;
        ssize_t k;
        while (n < sizeof(buf) - 1 && (k = recv(fd, buf + n, sizeof(buf) - 1 - n, 0)) > 0)
                n += (size_t)k;
        close(fd);
        buf[n] = 0;
        char key[128];
        snprintf(key, sizeof(key), "\n%s ", name);
        char *p = strstr(buf, key);
        return p ? strtod(p + strlen(key), NULL) : NAN;
}

/* A free loopback port (bound, read, released). */
static int free_port(void)
{
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        bind(s, (struct sockaddr *)&a, sizeof(a));
        getsockname(s, (struct sockaddr *)&a, &al);
        close(s);
        return ntohs(a.sin_port);
}

static int start_hub(const char *hub_path)
{
        hub_port = free_port();
        char listen_arg[64];
        snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", hub_port);
        hub_pid = fork();
        if (hub_pid == 0) {
                /* FANOUT_HUB_CONFIG: a config file for the hub (e.g. another coalesce). */
                const char *conf = getenv("FANOUT_HUB_CONFIG");
                execl(hub_path, hub_path, "--ring", ring_name, "--listen", listen_arg,
                      "--max-clients", "2000", "--queue", "1024", conf ? "--config" : NULL, conf,
                      (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 200; i++) {
                usleep(25000);
                if (!isnan(metric("ringhub_clients")))
                        return 0;
        }
        return -ETIMEDOUT;
}

static void spawn_clients(unsigned n, int port, enum client_mode mode, pid_t *pids,
                          unsigned *nprocs)
{
        unsigned per = n <= 10 ? n : n <= 100 ? 25 : 100;
        unsigned procs = (n + per - 1) / per;
        memset(stats, 0, sizeof(*stats) * MAX_PROCS);
        for (unsigned i = 0; i < procs; i++) {
                unsigned cnt = MIN(per, n - i * per);
                pids[i] = fork();
                if (pids[i] == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
                        client_proc(&stats[i], port, cnt, mode);
                }
        }
        *nprocs = procs;
}

static uint64_t total(size_t off, unsigned procs)
{
        uint64_t t = 0;
        for (unsigned i = 0; i < procs; i++)
                t += atomic_load((_Atomic uint64_t *)((uint8_t *)&stats[i] + off));
        return t;
}

static void stop_clients(pid_t *pids, unsigned procs)
{
        for (unsigned i = 0; i < procs; i++)
                kill(pids[i], SIGTERM);
        for (unsigned i = 0; i < procs; i++)
                waitpid(pids[i], NULL, 0);
}

struct prod_arg {
        struct ring *r;
        int p;
        double rate;
        volatile sig_atomic_t stop;
};

static void *prod_thread(void *arg)
{
        struct prod_arg *a = arg;
        produce(a->r, a->p, UINT64_MAX, a->rate, 0, true, &a->stop);
        return NULL;
}

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return isnan(x) ? (isnan(y) ? 0 : 1) : isnan(y) ? -1 : (x > y) - (x < y);
}

/* The median of n values (NaN last; NaN when all are). */
static double median(double *v, unsigned n)
{
        qsort(v, n, sizeof(*v), cmp_double);
        unsigned k = 0;
        while (k < n && !isnan(v[k]))
                k++;
        return k ? (k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2) : NAN;
}

/* ---- the compared servers: the hub (fed through the ring) and the Node `ws` peer ---- */

struct server {
        const char *name;
        pid_t pid;
        int port;
        bool hub;
        struct ring *r; /* hub: the ring and our producer slot */
        int producer;
        FILE *in, *out; /* node: its stdin and stdout */
        struct prod_arg pa;
        pthread_t th;
};

/* Every figure of one load point (X-macro: the JSON names). */
/* clang-format off */
#define POINT_FIELDS(X)                                                  \
        X(connected) X(delivered) X(lat_p50_ms) X(lat_p99_ms) X(cpu_pct) \
        X(kernel_msgs_s) X(recv_msgs_s) X(cpu_us_per_msg) X(sends_per_msg) \
        X(slices_per_msg) X(allocs_per_event) X(rss_kb)
/* clang-format on */
struct point {
#define F(x) double x;
        POINT_FIELDS(F)
#undef F
};

/* Scheduler timeslices of every thread of pid (each is a wake-up or a preemption). */
static double timeslices(pid_t pid)
{
        char path[320], buf[256];
        double t = 0;
        snprintf(path, sizeof(path), "/proc/%d/task", pid);
        DIR *d = opendir(path);
        if (!d)
                return NAN;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", pid, e->d_name);
                unsigned long long run, wait, slices;
                if (read_file_bounded(path, buf, sizeof(buf)) >= 0 &&
                    sscanf(buf, "%llu %llu %llu", &run, &wait, &slices) == 3)
                        t += (double)slices;
        }
        closedir(d);
        return t;
}

static void server_rate(struct server *s, double rate)
{
        if (s->hub) {
                if (rate > 0) {
                        s->pa = (struct prod_arg){ .r = s->r, .p = s->producer, .rate = rate };
                        atomic_store(&produced, 0);
                        pthread_create(&s->th, NULL, prod_thread, &s->pa);
                } else {
                        s->pa.stop = 1;
                        pthread_join(s->th, NULL);
                }
                return;
        }
        fprintf(s->in, "rate %.0f\n", rate);
        fflush(s->in);
}

/* Messages generated since the rate was set (after it is set to 0). */
static uint64_t server_generated(struct server *s)
{
        if (s->hub)
                return atomic_load(&produced);
        char line[128];
        uint64_t n = 0;
        if (fgets(line, sizeof(line), s->out) && startswith(line, "sent "))
                safe_atou64(strstrip(line + 5), &n);
        return n;
}

static double hub_metric(struct server *s, const char *name)
{
        return s->hub ? metric(name) : NAN;
}

static struct point run_point(struct server *s, unsigned n, double rate, double secs)
{
        struct point pt = { 0 };
        pid_t pids[MAX_PROCS];
        unsigned procs;
#define TOTAL(f) total(offsetof(struct client_stats, f), procs)
        spawn_clients(n, s->port, M_LAT, pids, &procs);
        for (int i = 0; i < 400 && TOTAL(connected) + TOTAL(failed) < n; i++)
                usleep(25000);
        pt.connected = (double)TOTAL(connected);
        usleep(300000);
        for (unsigned i = 0; i < procs; i++)
                atomic_store(&stats[i].sys, 0); /* snapshots at connect are not events */
        server_rate(s, rate);
        usleep(500000); /* warm up */
        for (unsigned i = 0; i < procs; i++)
                memset((void *)stats[i].hist, 0, sizeof(stats[i].hist));
        double k0 = hub_metric(s, "ringhub_sent_messages_total"),
               w0 = hub_metric(s, "ringhub_sent_writes_total"),
               a0 = hub_metric(s, "ringhub_frame_buffers_allocated_total"),
               e0 = hub_metric(s, "ringhub_events_total");
        uint64_t m0 = TOTAL(msgs);
        double c0 = cpu_secs(s->pid), s0 = timeslices(s->pid);
        uint64_t t0 = mono_ns();
        usleep((useconds_t)(secs * 1e6));
        uint64_t t1 = mono_ns();
        double c1 = cpu_secs(s->pid), s1 = timeslices(s->pid);
        uint64_t m1 = TOTAL(msgs);
        double k1 = hub_metric(s, "ringhub_sent_messages_total"),
               w1 = hub_metric(s, "ringhub_sent_writes_total"),
               a1 = hub_metric(s, "ringhub_frame_buffers_allocated_total"),
               e1 = hub_metric(s, "ringhub_events_total");
        pt.rss_kb = (double)read_status_kb(s->pid, "VmRSS:");
        server_rate(s, 0);
        /* Every generated event to every connected client? Wait until they stop coming. */
        double want = (double)server_generated(s) * pt.connected;
        uint64_t last = TOTAL(sys), still = mono_ns();
        while ((double)last < want && mono_ns() - still < 700 * NSEC_PER_MSEC) {
                usleep(50000);
                if (TOTAL(sys) != last) {
                        last = TOTAL(sys);
                        still = mono_ns();
                }
        }
        pt.delivered = want > 0 ? (double)last / want : NAN;
        double el = (double)(t1 - t0) / 1e9, msgs = (double)(m1 - m0);
        pt.kernel_msgs_s = s->hub ? (k1 - k0) / el : NAN;
        pt.recv_msgs_s = msgs / el;
        pt.cpu_pct = (c1 - c0) / el * 100.0;
        pt.cpu_us_per_msg = msgs > 0 ? (c1 - c0) / msgs * 1e6 : NAN;
        pt.slices_per_msg = msgs > 0 ? (s1 - s0) / msgs : NAN;
        pt.sends_per_msg = k1 > k0 ? (w1 - w0) / (k1 - k0) : NAN;
        pt.allocs_per_event = e1 > e0 ? (a1 - a0) / (e1 - e0) : NAN;
        uint64_t cnt = 0, acc = 0;
        for (unsigned b = 0; b <= HIST_BUCKETS; b++)
                for (unsigned i = 0; i < procs; i++)
                        cnt += stats[i].hist[b];
        pt.lat_p50_ms = pt.lat_p99_ms = NAN;
        for (unsigned b = 0; b <= HIST_BUCKETS && cnt; b++) {
                for (unsigned i = 0; i < procs; i++)
                        acc += stats[i].hist[b];
                if (isnan(pt.lat_p50_ms) && acc * 2 >= cnt)
                        pt.lat_p50_ms = (b + 0.5) * 0.01;
                if (isnan(pt.lat_p99_ms) && acc * 100 >= cnt * 99)
                        pt.lat_p99_ms = (b + 0.5) * 0.01;
        }
#undef TOTAL
        stop_clients(pids, procs);
        usleep(300000);
        return pt;
}

/* The Node peer, or pid 0 when node or its `ws` module is not here (NODE_PATH). */
static int start_node(struct server *s, const char *script, unsigned size)
{
        int pin[2], pout[2];
        if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0)
                return -errno;
        s->port = free_port();
        s->pid = fork();
        if (s->pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                dup2(pin[0], 0);
                dup2(pout[1], 1);
                char port[16], sz[16];
                snprintf(port, sizeof(port), "%d", s->port);
                snprintf(sz, sizeof(sz), "%u", size);
                execlp("node", "node", script, port, sz, (char *)NULL);
                _exit(127);
        }
        close(pin[0]);
        close(pout[1]);
        s->in = fdopen(pin[1], "w");
        s->out = fdopen(pout[0], "r");
        char line[128];
        if (!s->in || !s->out || !fgets(line, sizeof(line), s->out) ||
            !startswith(line, "listening")) {
                kill(s->pid, SIGTERM);
                waitpid(s->pid, NULL, 0);
                s->pid = 0;
                return -ENOENT;
        }
        return 0;
}
/* verify: N clients on a running hub, each must see system.uptime_seconds 1…count in
 * order (the paced producer's numbers). Prints "ready" once all are connected, then one
 * JSON object; exit 0 when every client saw every number, 1 otherwise. */
static int cmd_verify(int argc, char **argv)
{
        uint64_t clients = 200, timeout = 120, port = 0;
        seq_count = 2500;
        for (int i = 0; i + 1 < argc; i += 2) {
                if (strcmp(argv[i], "--port") == 0)
                        safe_atou64(argv[i + 1], &port);
                else if (strcmp(argv[i], "--clients") == 0)
                        safe_atou64(argv[i + 1], &clients);
                else if (strcmp(argv[i], "--count") == 0)
                        safe_atou64(argv[i + 1], &seq_count);
                else if (strcmp(argv[i], "--timeout") == 0)
                        safe_atou64(argv[i + 1], &timeout);
        }
        if (!port || !clients || clients > MAX_PROCS * 100)
                return log_error("verify: --port P --clients 1..%d --count N", MAX_PROCS * 100), 2;
        hub_port = (int)port;
        pid_t pids[MAX_PROCS];
        unsigned procs;
        spawn_clients((unsigned)clients, hub_port, M_SEQ, pids, &procs);
        uint64_t end = mono_ns() + timeout * NSEC_PER_SEC;
#define TOTAL(f) total(offsetof(struct client_stats, f), procs)
        while (TOTAL(connected) + TOTAL(failed) < clients && mono_ns() < end)
                usleep(20000);
        bool ok = TOTAL(connected) == clients;
        if (ok) {
                printf("ready %" PRIu64 "\n", clients);
                fflush(stdout);
                while (TOTAL(complete) < clients && !TOTAL(bad) && !TOTAL(closed) &&
                       mono_ns() < end)
                        usleep(20000);
        }
        uint64_t bad_first = 0, bad_want = 0;
        for (unsigned i = 0; i < procs; i++)
                if (stats[i].bad && !bad_want) {
                        bad_first = stats[i].bad_first;
                        bad_want = stats[i].bad_want;
                }
        printf("{\"clients\":%" PRIu64 ",\"connected\":%" PRIu64 ",\"complete\":%" PRIu64
               ",\"bad\":%" PRIu64 ",\"closed\":%" PRIu64 ",\"first_bad\":%" PRIu64
               ",\"first_bad_wanted\":%" PRIu64 ",\"messages\":%" PRIu64 "}\n",
               clients, TOTAL(connected), TOTAL(complete), TOTAL(bad), TOTAL(closed), bad_first,
               bad_want, TOTAL(sys));
        ok = ok && TOTAL(complete) == clients;
#undef TOTAL
        stop_clients(pids, procs);
        return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
        if (argc > 1 && strcmp(argv[1], "verify") == 0) {
                stats = mmap(NULL, sizeof(*stats) * MAX_PROCS, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
                if (stats == MAP_FAILED)
                        return 1;
                return cmd_verify(argc - 2, argv + 2);
        }
        if (argc > 1 && strcmp(argv[1], "produce") == 0)
                return cmd_produce(argc - 2, argv + 2);

        const char *build = getenv("BUILD");
        char hub_path[512], node_script[512];
        snprintf(hub_path, sizeof(hub_path), "%s/hub/ringhub", build ? build : ".");
        const char *src = getenv("SRC");
        snprintf(node_script, sizeof(node_script), "%s/tests/bench/fanout-node-peer.js",
                 src ? src : ".");
        for (int i = 1; i + 1 < argc; i += 2)
                if (strcmp(argv[i], "--hub") == 0)
                        strscpy(hub_path, sizeof(hub_path), argv[i + 1]);
                else if (strcmp(argv[i], "--node-peer") == 0)
                        strscpy(node_script, sizeof(node_script), argv[i + 1]);
        double secs = 2.0, runs = 3;
        if (getenv("FANOUT_SECS"))
                safe_atod(getenv("FANOUT_SECS"), &secs);
        if (getenv("FANOUT_RUNS"))
                safe_atod(getenv("FANOUT_RUNS"), &runs);
        runs = MAX(1.0, MIN(runs, 9.0));

        struct rlimit rl;
        getrlimit(RLIMIT_NOFILE, &rl);
        rl.rlim_cur = MIN(rl.rlim_max, (rlim_t)20000);
        setrlimit(RLIMIT_NOFILE, &rl);
        signal(SIGPIPE, SIG_IGN);

        stats = mmap(NULL, sizeof(*stats) * MAX_PROCS, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (stats == MAP_FAILED)
                return 1;
        snprintf(ring_name, sizeof(ring_name), "bench-fanout-%d", getpid());
        struct server hubs = { .name = "ringhub", .hub = true }, node = { .name = "node_ws" };
        struct ring_open_opts o = { .create = true, .gid = (gid_t)-1, .capacity = 65536 };
        int k = ring_open(ring_name, &o, &hubs.r, NULL);
        if (k < 0)
                return log_error_errno(k, "ring: %m"), 1;
        hubs.producer = ring_producer_register(hubs.r, "bench", 0);
        if (start_hub(hub_path) < 0) {
                log_error("hub did not start (%s)", hub_path);
                ring_unlink(ring_name);
                return 1;
        }
        hubs.pid = hub_pid;
        hubs.port = hub_port;
        usleep(1200000);
        double rss_idle = (double)read_status_kb(hub_pid, "VmRSS:");
        /* The peer sends messages of the hub's size (a system_update frame, measured). */
        struct point probe = run_point(&hubs, 1, 100, 0.3);
        unsigned size = 606;
        double b = metric("ringhub_sent_bytes_total"), m = metric("ringhub_sent_messages_total");
        if (m > 0 && b > 0)
                size = (unsigned)(b / m);
        (void)probe;
        if (start_node(&node, node_script, size) < 0)
                fprintf(stderr, "no Node `ws` peer (node, NODE_PATH with ws, %s): skipped\n",
                        node_script);

        /* The table: clients, events/s (flat out: more than either can take). */
        static const struct {
                const char *key;
                unsigned clients;
                double rate;
        } loads[] = {
                { "c100_r1000", 100, 1000 },
                { "c1000_r1000", 1000, 1000 },
                { "c100_flat", 100, 50000 },
                { "c10_r10", 10, 10 },
        };
        enum { N_LOADS = ELEMENTSOF(loads) };
        struct server *servers[2] = { &hubs, node.pid ? &node : NULL };
        static struct point res[2][N_LOADS][9];
        for (unsigned r = 0; r < (unsigned)runs; r++)
                for (unsigned l = 0; l < N_LOADS; l++)
                        for (unsigned sv = 0; sv < 2; sv++)
                                if (servers[sv] && load_wanted(loads[l].key))
                                        res[sv][l][r] = run_point(servers[sv], loads[l].clients,
                                                                  loads[l].rate, secs);
                                else {
#define F(x) res[sv][l][r].x = NAN;
                                        POINT_FIELDS(F)
#undef F
                                }

        kill(hub_pid, SIGTERM);
        waitpid(hub_pid, NULL, 0);
        if (node.pid) {
                fclose(node.in); /* the peer exits at the end of its input */
                waitpid(node.pid, NULL, 0);
                fclose(node.out);
        }
        ring_producer_unregister(hubs.r, hubs.producer, 0);
        ring_close(hubs.r);
        ring_unlink(ring_name);

        /* Medians of the runs, a table on stderr, one JSON object on stdout. */
        printf("{\"runs\":%u,\"secs\":%.1f,\"message_bytes\":%u,\"rss_idle_kb\":%.0f",
               (unsigned)runs, secs, size, rss_idle);
        fprintf(stderr, "%-8s %-12s %9s %9s %8s %8s %7s %11s %11s %8s %8s %8s %8s\n", "server",
                "load", "connected", "delivered", "p50_ms", "p99_ms", "cpu%", "kernel_m/s",
                "recv_m/s", "us/msg", "send/msg", "slc/msg", "alloc/ev");
        for (unsigned sv = 0; sv < 2; sv++) {
                if (!servers[sv])
                        continue;
                printf(",\"%s\":{", servers[sv]->name);
                for (unsigned l = 0; l < N_LOADS; l++) {
                        struct point md, lo, hi;
                        double v[9];
#define F(x)                                                     \
        lo.x = hi.x = NAN;                                       \
        for (unsigned r = 0; r < (unsigned)runs; r++) {          \
                v[r] = res[sv][l][r].x;                          \
                lo.x = isnan(lo.x) || v[r] < lo.x ? v[r] : lo.x; \
                hi.x = isnan(hi.x) || v[r] > hi.x ? v[r] : hi.x; \
        }                                                        \
        md.x = median(v, (unsigned)runs);
                        POINT_FIELDS(F)
#undef F
                        printf("%s\"%s\":{", l ? "," : "", loads[l].key);
                        bool first = true;
#define F(x)                                       \
        printf("%s\"" #x "\":", first ? "" : ","); \
        first = false;                             \
        if (isnan(md.x))                           \
                printf("null");                    \
        else                                       \
                printf("%.4g", md.x);              \
        if (runs > 1 && !isnan(md.x))              \
                printf(",\"" #x "_range\":[%.4g,%.4g]", lo.x, hi.x);
                        POINT_FIELDS(F)
#undef F
                        printf("}");
                        fprintf(stderr,
                                "%-8s %-12s %9.0f %9.4f %8.2f %8.2f %7.1f %11.0f %11.0f %8.2f "
                                "%8.3f %8.3f %8.3f\n",
                                servers[sv]->name, loads[l].key, md.connected, md.delivered,
                                md.lat_p50_ms, md.lat_p99_ms, md.cpu_pct, md.kernel_msgs_s,
                                md.recv_msgs_s, md.cpu_us_per_msg, md.sends_per_msg,
                                md.slices_per_msg, md.allocs_per_event);
                }
                printf("}");
        }
        printf("}\n");
        return 0;
}
