/*
 * history-bench.c — the history store's append latency (hub/history.c), as the hub's
 * threads see it: one history_append() of a Log-sized JSON object, timed from call to
 * return (the write() to the file, and now and then a compaction with its fdatasync).
 *
 *   history-bench [--n N] [--dir DIR] [--last K]
 *
 * N appends (default 100000) of a ~600-byte Log into DIR/history.log (default a fresh
 * directory under $TMPDIR), keeping K entries per kind (default 100, the shipped
 * [history] values): a compaction every 5×K appends. Prints p50, p99, p99.9 and max in
 * µs and appends/s, as one JSON object on the last line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "history.h"
#include "macros.h"
#include "util.h"

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
        size_t i = (size_t)(p * (double)(n - 1));
        return (double)v[i] / 1e3;
}

int main(int argc, char **argv)
{
        unsigned n = 100000, last = 100;
        const char *dir = NULL;
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--n") && i + 1 < argc)
                        n = (unsigned)strtoul(argv[++i], NULL, 10);
                else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
                        dir = argv[++i];
                else if (!strcmp(argv[i], "--last") && i + 1 < argc)
                        last = (unsigned)strtoul(argv[++i], NULL, 10);
                else {
                        fprintf(stderr, "usage: history-bench [--n N] [--dir DIR] [--last K]\n");
                        return 2;
                }
        }
        if (n < 100 || last < 1 || last > HISTORY_LAST_MAX) {
                fprintf(stderr, "--n at least 100, --last 1..%u\n", HISTORY_LAST_MAX);
                return 2;
        }
        char tmp[256] = "";
        if (!dir) {
                const char *t = getenv("TMPDIR");
                snprintf(tmp, sizeof(tmp), "%s/history-bench-XXXXXX", t && *t ? t : "/tmp");
                if (!mkdtemp(tmp)) {
                        perror("mkdtemp");
                        return 1;
                }
                dir = tmp;
        }
        const struct history_limits lim = { .last = { last, last, last } };
        int r = history_open(dir, &lim);
        if (r < 0) {
                fprintf(stderr, "history_open %s: %s\n", dir, strerror(-r));
                return 1;
        }
        uint64_t *lat = malloc(sizeof(uint64_t) * n);
        if (!lat)
                return 1;
        char json[1024];
        uint64_t t_all = mono_ns();
        for (unsigned i = 0; i < n; i++) {
                int len = snprintf(
                    json, sizeof(json),
                    "{\"id\":%u,\"timestamp\":\"12/06/2026, 13:31:54.908691\",\"user\":{"
                    "\"identifier\":\"ops\",\"username\":\"ops\",\"role\":{\"name\":\"operator\","
                    "\"level\":1},\"email\":\"\",\"name\":\"ops\",\"lastname\":\"\"},\"message\":"
                    "\"docker stop nginx: OK\",\"description\":\"command %u by ops: stopped (12.3 "
                    "ms)\",\"classification\":\"Operator\",\"event\":{\"id\":%u,\"message\":"
                    "\"docker stop nginx: OK\",\"priority\":3,\"criticity\":2},\"alarm\":null,"
                    "\"segment\":\"docker\",\"manufacturer\":\"ringhub\"}",
                    i + 1, i + 1, i + 1);
                uint64_t t0 = mono_ns();
                r = history_append(HISTORY_LOG, json, (size_t)len, NULL);
                lat[i] = mono_ns() - t0;
                if (r < 0) {
                        fprintf(stderr, "history_append: %s\n", strerror(-r));
                        return 1;
                }
        }
        double secs = (double)(mono_ns() - t_all) / 1e9;
        history_close();
        qsort(lat, n, sizeof(lat[0]), cmp_u64);
        fprintf(stderr, "%u appends of ~%zu bytes, %u kept per kind, in %s\n", n, strlen(json),
                last, dir);
        printf("{\"bench\":\"history\",\"n\":%u,\"entry_bytes\":%zu,\"kept_per_kind\":%u,"
               "\"p50_us\":%.2f,\"p99_us\":%.2f,\"p999_us\":%.2f,\"max_us\":%.1f,"
               "\"appends_per_sec\":%.0f}\n",
               n, strlen(json), last, pct(lat, n, 0.50), pct(lat, n, 0.99), pct(lat, n, 0.999),
               (double)lat[n - 1] / 1e3, (double)n / secs);
        free(lat);
        if (*tmp) {
                char p[300];
                snprintf(p, sizeof(p), "%s/%s", tmp, HISTORY_FILE);
                unlink(p);
                snprintf(p, sizeof(p), "%s/history.lock", tmp);
                unlink(p);
                rmdir(tmp);
        }
        return 0;
}
