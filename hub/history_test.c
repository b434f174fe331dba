/*
 * history_test.c — unit tests for hub/history.c: append and reopen, bounds per kind,
 * compaction keeping the size bounded, a torn tail dropped (cut short, failing its CRC,
 * zeros), a garbage or truncated file moved aside, damage in the middle salvaged, the
 * checker's verdicts. Works in a fresh directory under $TMPDIR. Checks are
 * common/checks.h, never assert().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checks.h"
#include "history.h"

static char dir[256], path[300];

static const struct history_limits small = { .last = { 3, 5, 4 } };

static void append(enum history_kind k, unsigned i)
{
        char j[64];
        int n = snprintf(j, sizeof(j), "{\"i\":%u}", i);
        check_eq(history_append(k, j, (size_t)n, NULL), 0);
}

struct collect {
        unsigned n;
        char last[64];
        uint64_t last_seq;
};

static void collect_fn(const char *json, size_t len, uint64_t seq, void *userdata)
{
        struct collect *c = userdata;
        check(seq > c->last_seq);
        c->n++;
        c->last_seq = seq;
        snprintf(c->last, sizeof(c->last), "%.*s", (int)len, json);
}

static struct collect last(enum history_kind k)
{
        struct collect c = { 0 };
        check_eq(history_last(k, 0, collect_fn, &c), c.n);
        return c;
}

static off_t file_size(void)
{
        struct stat st;
        check_eq(stat(path, &st), 0);
        return st.st_size;
}

static unsigned count_aside(void)
{
        DIR *d = opendir(dir);
        check(d);
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d)))
                n += strncmp(de->d_name, "history.log.bad-", 16) == 0;
        closedir(d);
        return n;
}

static void write_bytes(const char *bytes, size_t len, bool append_them)
{
        int fd = open(path, O_WRONLY | O_CREAT | (append_them ? O_APPEND : O_TRUNC), 0600);
        check(fd >= 0);
        check_eq(write(fd, bytes, len), (ssize_t)len);
        close(fd);
}

static void cleanup(void);

static void test_roundtrip_and_bounds(void)
{
        cleanup();
        check_eq(history_open(dir, &small), 0);
        check_eq(history_check(path, NULL), 0); /* a fresh store: header only */
        for (unsigned i = 1; i <= 10; i++)
                append(HISTORY_EVENT, i);
        append(HISTORY_ALARM, 100);
        append(HISTORY_LOG, 200);
        struct collect c = last(HISTORY_EVENT);
        check_eq(c.n, 5); /* bounded in memory */
        check(!strcmp(c.last, "{\"i\":10}"));
        size_t len;
        char *arr = history_last_array(HISTORY_EVENT, 2, &len);
        check(arr && !strcmp(arr, "[{\"i\":9},{\"i\":10}]") && len == strlen(arr));
        free(arr);
        arr = history_last_array(HISTORY_ALARM, 0, NULL);
        check(arr && !strcmp(arr, "[{\"i\":100}]"));
        free(arr);
        check_eq(history_append(HISTORY_LOG, "{}", 0, NULL), -EINVAL);
        check_eq(history_append(HISTORY_KINDS, "{}", 2, NULL), -EINVAL);
        static char big[HISTORY_ENTRY_MAX + 1];
        memset(big, ' ', sizeof(big));
        check_eq(history_append(HISTORY_LOG, big, sizeof(big), NULL), -EINVAL);
        history_close();

        /* Reopen: the same entries, the sequence goes on. */
        check_eq(history_open(dir, &small), 0);
        c = last(HISTORY_EVENT);
        check_eq(c.n, 5);
        check(!strcmp(c.last, "{\"i\":10}"));
        check_eq(last(HISTORY_LOG).n, 1);
        uint64_t seq;
        check_eq(history_append(HISTORY_LOG, "{\"i\":201}", 9, &seq), 0);
        check_eq(seq, 13);
        history_close();
        struct history_check_result res;
        check_eq(history_check(path, &res), 0);
        check_eq(res.last_seq, 13);
        check_eq(count_aside(), 0);
}

static void test_compaction(void)
{
        cleanup();
        /* 12 kept in all: the file never holds more than 24 records. */
        check_eq(history_open(dir, &small), 0);
        struct history_check_result res;
        off_t max = 0;
        for (unsigned i = 0; i < 1000; i++) {
                append((enum history_kind)(i % HISTORY_KINDS), i);
                history_flush();
                check_eq(history_check(path, &res), 0);
                check(res.records[0] + res.records[1] + res.records[2] < 24);
                max = file_size() > max ? file_size() : max;
        }
        check(max < 16 + 24 * (24 + 10));
        /* Appends racing the compaction thread: nothing lost, nothing doubled. */
        for (unsigned i = 1000; i < 3000; i++)
                append(HISTORY_EVENT, i);
        history_flush();
        check_eq(history_check(path, &res), 0);
        check(!strcmp(last(HISTORY_EVENT).last, "{\"i\":2999}"));
        history_close();
        check_eq(history_open(dir, &small), 0);
        struct collect c = last(HISTORY_EVENT);
        check_eq(c.n, 5);
        check(!strcmp(c.last, "{\"i\":2999}"));
        check_eq(last(HISTORY_ALARM).n, 3);
        history_close();
        /* Limits lowered: compacted at open. */
        const struct history_limits one = { .last = { 1, 1, 1 } };
        check_eq(history_open(dir, &one), 0);
        check_eq(history_check(path, &res), 0);
        check(res.records[0] + res.records[1] + res.records[2] <= 3);
        check(!strcmp(last(HISTORY_LOG).last, "{\"i\":998}"));
        check(!strcmp(last(HISTORY_EVENT).last, "{\"i\":2999}"));
        history_close();
        check_eq(count_aside(), 0);
}

static void test_torn_tail(void)
{
        cleanup();
        check_eq(history_open(dir, &small), 0);
        for (unsigned i = 100; i < 104; i++)
                append(HISTORY_EVENT, i); /* records of 24 + 9 bytes */
        history_close();
        off_t good = file_size();

        /* A record cut short: dropped, the rest kept. */
        char rec[64];
        int fd = open(path, O_RDONLY);
        check(fd >= 0);
        check_eq(pread(fd, rec, 33, good - 33), 33); /* the last record: 24 + 9 */
        close(fd);
        write_bytes(rec, 30, true);
        struct history_check_result res;
        check_eq(history_check(path, &res), 1);
        check(res.torn_tail && res.bad_bytes == 30 && res.good_bytes == (uint64_t)good);
        check_eq(history_open(dir, &small), 0);
        check_eq(file_size(), good);
        check_eq(last(HISTORY_EVENT).n, 4);
        history_close();

        /* The last record failing its CRC (a flipped byte): dropped. */
        rec[32] ^= 0x40;
        write_bytes(rec, 33, true);
        check_eq(history_check(path, NULL), 1);
        check_eq(history_open(dir, &small), 0);
        check_eq(last(HISTORY_EVENT).n, 4);
        append(HISTORY_EVENT, 4);
        history_close();
        check_eq(history_check(path, NULL), 0);
        good = file_size();

        /* Half a header, and zeros a power loss may leave. */
        write_bytes(rec, 7, true);
        check_eq(history_check(path, NULL), 1);
        check_eq(history_open(dir, &small), 0);
        history_close();
        static const char zeros[4096];
        write_bytes(zeros, sizeof(zeros), true);
        check_eq(history_check(path, NULL), 1);
        check_eq(history_open(dir, &small), 0);
        check_eq(last(HISTORY_EVENT).n, 5);
        history_close();
        check_eq(file_size(), good);
        check_eq(count_aside(), 0);
}

static void test_garbage(void)
{
        cleanup();
        /* Damage in the middle: moved aside, the records before it kept. */
        check_eq(history_open(dir, &small), 0);
        for (unsigned i = 0; i < 3; i++)
                append(HISTORY_LOG, i);
        history_close();
        off_t good = file_size();
        char junk[200];
        memset(junk, 'x', sizeof(junk));
        write_bytes(junk, sizeof(junk), true);
        check_eq(history_check(path, NULL), 2);
        check_eq(history_open(dir, &small), 0);
        check_eq(count_aside(), 1);
        check_eq(last(HISTORY_LOG).n, 3);
        history_close();
        check_eq(history_check(path, NULL), 0);
        check_eq(file_size(), good);

        /* Not a store at all: moved aside, fresh. */
        write_bytes("this is not a history store\n", 28, false);
        struct history_check_result res;
        check_eq(history_check(path, &res), 2);
        check(res.bad_header);
        check_eq(history_open(dir, &small), 0);
        check_eq(count_aside(), 2);
        check_eq(last(HISTORY_LOG).n, 0);
        append(HISTORY_LOG, 1);
        history_close();
        check_eq(history_check(path, NULL), 0);

        /* Truncated inside the header: moved aside, fresh. */
        write_bytes("RHHI", 4, false);
        check_eq(history_check(path, NULL), 2);
        check_eq(history_open(dir, &small), 0);
        check_eq(count_aside(), 3);
        history_close();
        check_eq(history_check(path, NULL), 0);

        /* Only the newest three damaged files are kept aside. */
        write_bytes("garbage", 7, false);
        check_eq(history_open(dir, &small), 0);
        history_close();
        check_eq(count_aside(), 3);

        /* A missing file is an error for the checker, a fresh store for open. */
        check_eq(history_check("/nonexistent/history.log", NULL), -ENOENT);
}

static void test_memory_only(void)
{
        check_eq(history_open(NULL, &small), 0);
        append(HISTORY_ALARM, 1);
        check_eq(last(HISTORY_ALARM).n, 1);
        history_close();
        const struct history_limits bad = { .last = { 0, 1, 1 } };
        check_eq(history_open(NULL, &bad), -EINVAL);
        /* Not open: refused. */
        check_eq(history_append(HISTORY_LOG, "{}", 2, NULL), -EINVAL);
}

/* One hub per directory: a second process is refused while the first holds it. */
static void test_lock(void)
{
        cleanup();
        check_eq(history_open(dir, &small), 0);
        pid_t pid = fork();
        check(pid >= 0);
        if (pid == 0)
                _exit(history_open(dir, &small) == -EBUSY ? 0 : 1);
        int status;
        check_eq(waitpid(pid, &status, 0), pid);
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        history_close();
}

static void cleanup(void)
{
        DIR *d = opendir(dir);
        if (!d)
                return;
        struct dirent *de;
        char p[600];
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
                        unlink(p);
                }
        closedir(d);
        rmdir(dir);
}

int main(void)
{
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/history-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        check(mkdtemp(dir));
        /* A directory below it that history_open() creates itself. */
        strcat(dir, "/state");
        snprintf(path, sizeof(path), "%s/%s", dir, HISTORY_FILE);
        test_roundtrip_and_bounds();
        test_compaction();
        test_torn_tail();
        test_garbage();
        test_memory_only();
        test_lock();
        cleanup();
        *strrchr(dir, '/') = 0;
        rmdir(dir);
        puts("history: ok");
        return 0;
}
