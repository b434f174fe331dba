/*
 * fanout-bench.c — WebSocket fan-out benchmark of the real hub, and a paced producer.
 *
 * Process: a test/benchmark tool, never part of the deployed stack. Modes:
 *   fanout-bench [--hub PATH] [--ctl PATH]   start ringhub on a private ring and free port,
 *        connect real WebSocket clients (raw-socket C clients in forked processes, epoll),
 *        inject system records through the ring at fixed rates and print one JSON object
 *        (last line): cmps_10/100/1000, lat_p50_ms/lat_p99_ms, rss_idle_kb,
 *        rss_per_client_kb, serializations_per_event, hub CPU% per point.
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
#include <errno.h>
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

static int start_hub(const char *hub_path)
{
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof(a);
        bind(s, (struct sockaddr *)&a, sizeof(a));
        getsockname(s, (struct sockaddr *)&a, &al);
        hub_port = ntohs(a.sin_port);
        close(s);
        char listen_arg[64];
        snprintf(listen_arg, sizeof(listen_arg), "127.0.0.1:%d", hub_port);
        hub_pid = fork();
        if (hub_pid == 0) {
                execl(hub_path, hub_path, "--ring", ring_name, "--listen", listen_arg,
                      "--max-clients", "2000", "--queue", "1024", (char *)NULL);
                _exit(127);
        }
        for (int i = 0; i < 200; i++) {
                usleep(25000);
                if (!isnan(metric("ringhub_clients")))
                        return 0;
        }
        return -ETIMEDOUT;
}

struct point {
        double cmps_kernel, cmps_recv, cpu_pct, lat_p50, lat_p99;
        long rss_kb;
        uint64_t connected;
};

static void spawn_clients(unsigned n, enum client_mode mode, pid_t *pids, unsigned *nprocs)
{
        unsigned per = n <= 10 ? n : n <= 100 ? 25 : 100;
        unsigned procs = (n + per - 1) / per;
        memset(stats, 0, sizeof(*stats) * MAX_PROCS);
        for (unsigned i = 0; i < procs; i++) {
                unsigned cnt = MIN(per, n - i * per);
                pids[i] = fork();
                if (pids[i] == 0) {
                        prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the bench */
                        client_proc(&stats[i], hub_port, cnt, mode);
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

static struct point run_point(struct ring *r, int p, unsigned n, double rate, double secs, bool lat)
{
        struct point pt = { 0 };
        pid_t pids[MAX_PROCS];
        unsigned procs;
        spawn_clients(n, lat ? M_LAT : M_COUNT, pids, &procs);
        for (int i = 0; i < 400 && total(offsetof(struct client_stats, connected), procs) +
                                           total(offsetof(struct client_stats, failed), procs) <
                                       n;
             i++)
                usleep(25000);
        pt.connected = total(offsetof(struct client_stats, connected), procs);
        usleep(300000);
        struct prod_arg pa = { .r = r, .p = p, .rate = rate };
        pthread_t th;
        pthread_create(&th, NULL, prod_thread, &pa);
        usleep(500000); /* warm up */
        for (unsigned i = 0; i < procs; i++)
                memset((void *)stats[i].hist, 0, sizeof(stats[i].hist));
        double k0 = metric("ringhub_sent_messages_total");
        uint64_t m0 = total(offsetof(struct client_stats, msgs), procs);
        double c0 = cpu_secs(hub_pid);
        uint64_t t0 = mono_ns();
        usleep((useconds_t)(secs * 1e6));
        uint64_t t1 = mono_ns();
        double c1 = cpu_secs(hub_pid);
        uint64_t m1 = total(offsetof(struct client_stats, msgs), procs);
        double k1 = metric("ringhub_sent_messages_total");
        pt.rss_kb = read_status_kb(hub_pid, "VmRSS:");
        pa.stop = 1;
        pthread_join(th, NULL);
        double el = (double)(t1 - t0) / 1e9;
        pt.cmps_kernel = (k1 - k0) / el;
        pt.cmps_recv = (double)(m1 - m0) / el;
        pt.cpu_pct = (c1 - c0) / el * 100.0;
        if (lat) {
                uint64_t cnt = 0, acc = 0;
                for (unsigned b = 0; b <= HIST_BUCKETS; b++)
                        for (unsigned i = 0; i < procs; i++)
                                cnt += stats[i].hist[b];
                pt.lat_p50 = pt.lat_p99 = NAN;
                for (unsigned b = 0; b <= HIST_BUCKETS && cnt; b++) {
                        for (unsigned i = 0; i < procs; i++)
                                acc += stats[i].hist[b];
                        if (isnan(pt.lat_p50) && acc * 2 >= cnt)
                                pt.lat_p50 = (b + 0.5) * 0.01;
                        if (isnan(pt.lat_p99) && acc * 100 >= cnt * 99)
                                pt.lat_p99 = (b + 0.5) * 0.01;
                }
        }
        stop_clients(pids, procs);
        usleep(300000);
        return pt;
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
        spawn_clients((unsigned)clients, M_SEQ, pids, &procs);
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
        char hub_path[512], ctl_path[512];
        snprintf(hub_path, sizeof(hub_path), "%s/hub/ringhub", build ? build : ".");
        snprintf(ctl_path, sizeof(ctl_path), "%s/shm/ringhubctl", build ? build : ".");
        for (int i = 1; i + 1 < argc; i += 2)
                if (strcmp(argv[i], "--hub") == 0)
                        strscpy(hub_path, sizeof(hub_path), argv[i + 1]);
        double secs = 3.0;
        if (getenv("FANOUT_SECS"))
                safe_atod(getenv("FANOUT_SECS"), &secs);

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
        struct ring *r;
        struct ring_open_opts o = { .create = true, .gid = (gid_t)-1, .capacity = 65536 };
        int k = ring_open(ring_name, &o, &r, NULL);
        if (k < 0)
                return log_error_errno(k, "ring: %m"), 1;
        int p = ring_producer_register(r, "bench", 0);
        if (start_hub(hub_path) < 0) {
                log_error("hub did not start (%s)", hub_path);
                ring_unlink(ring_name);
                return 1;
        }
        usleep(1200000);
        long rss_idle = read_status_kb(hub_pid, "VmRSS:");

        /* Saturation: offer ~2 M client-messages/s (more than the hub can hand over). */
        struct point p10 = run_point(r, p, 10, 100000, secs, false);
        struct point p100 = run_point(r, p, 100, 20000, secs, false);
        struct point p1000 = run_point(r, p, 1000, 2000, secs, false);
        /* Latency at 1,000 events/s to 100 clients. */
        struct point lat = run_point(r, p, 100, 1000, secs, true);

        /* RSS per idle client: 1,000 connected, nothing flowing. */
        pid_t pids[MAX_PROCS];
        unsigned procs;
        spawn_clients(1000, M_COUNT, pids, &procs);
        for (int i = 0; i < 400 && total(offsetof(struct client_stats, connected), procs) +
                                           total(offsetof(struct client_stats, failed), procs) <
                                       1000;
             i++)
                usleep(25000);
        usleep(500000);
        uint64_t idle_clients = total(offsetof(struct client_stats, connected), procs);
        long rss_1000 = read_status_kb(hub_pid, "VmRSS:");
        stop_clients(pids, procs);

        double ev = metric("ringhub_events_total"), ser = metric("ringhub_serializations_total");
        kill(hub_pid, SIGTERM);
        waitpid(hub_pid, NULL, 0);
        ring_producer_unregister(r, p, 0);
        ring_close(r);
        ring_unlink(ring_name);

        fprintf(stderr,
                "clients  offered-ev/s  kernel-msgs/s  received-msgs/s  hub-cpu%%  rss-kB\n"
                "%7d  %12d  %13.0f  %15.0f  %8.1f  %6ld\n%7d  %12d  %13.0f  %15.0f  %8.1f  %6ld\n"
                "%7d  %12d  %13.0f  %15.0f  %8.1f  %6ld\n"
                "latency at 1000 ev/s x 100 clients: p50 %.2f ms, p99 %.2f ms (cpu %.1f%%)\n"
                "idle rss %ld kB, 1000 idle clients (%" PRIu64 " connected): %ld kB\n",
                10, 100000, p10.cmps_kernel, p10.cmps_recv, p10.cpu_pct, p10.rss_kb, 100, 20000,
                p100.cmps_kernel, p100.cmps_recv, p100.cpu_pct, p100.rss_kb, 1000, 2000,
                p1000.cmps_kernel, p1000.cmps_recv, p1000.cpu_pct, p1000.rss_kb, lat.lat_p50,
                lat.lat_p99, lat.cpu_pct, rss_idle, idle_clients, rss_1000);
        printf("{\"cmps_10\":%.0f,\"cmps_100\":%.0f,\"cmps_1000\":%.0f,"
               "\"recv_cmps_10\":%.0f,\"recv_cmps_100\":%.0f,\"recv_cmps_1000\":%.0f,"
               "\"cpu_pct_10\":%.1f,\"cpu_pct_100\":%.1f,\"cpu_pct_1000\":%.1f,"
               "\"rss_kb_10\":%ld,\"rss_kb_100\":%ld,\"rss_kb_1000\":%ld,"
               "\"lat_p50_ms\":%.3f,\"lat_p99_ms\":%.3f,\"lat_cpu_pct\":%.1f,"
               "\"rss_idle_kb\":%ld,\"rss_per_client_kb\":%.1f,\"clients_connected_1000\":%" PRIu64
               ",\"serializations_per_event\":%.3f}\n",
               p10.cmps_kernel, p100.cmps_kernel, p1000.cmps_kernel, p10.cmps_recv, p100.cmps_recv,
               p1000.cmps_recv, p10.cpu_pct, p100.cpu_pct, p1000.cpu_pct, p10.rss_kb, p100.rss_kb,
               p1000.rss_kb, lat.lat_p50, lat.lat_p99, lat.cpu_pct, rss_idle,
               idle_clients ? (double)(rss_1000 - rss_idle) / (double)idle_clients : 0,
               idle_clients, ev > 0 ? ser / ev : 0);
        return 0;
}
