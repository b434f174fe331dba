/*
 * history.c — the crash-safe store of alarms, events and logs (see history.h).
 *
 * Process: ringhub, any thread; one mutex around everything. Knows nothing of the hub:
 * no clients, no events, no JSON parsing — text in, text out — so its unit test links it
 * alone. File layout (host byte order; the file never leaves the machine):
 *
 *   header  "RHHIST\0\0" u32 version u32 crc32c(previous 12 bytes)          16 bytes
 *   record  u32 magic u32 len u32 kind u32 crc u64 seq, then len bytes JSON  24 + len
 *
 * crc is CRC-32C over the record header with crc = 0 and the payload. seq increases by
 * one per append over the store's life (compaction keeps the records' seq). A record is
 * written with one writev() on an O_APPEND descriptor; a write that fails half-way is cut
 * off again with ftruncate(), so a failure never leaves garbage before later records.
 */
#include "history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"

#define HDR_MAGIC        "RHHIST\0\0"
#define HDR_SIZE         16u
#define HDR_VERSION      1u
#define REC_MAGIC        0x31524852u /* "RHR1" */
#define REC_HDR_SIZE     24u
#define RECORD_MAX       (REC_HDR_SIZE + HISTORY_ENTRY_MAX)
#define COMPACT_RATIO    2u /* compact when the file holds this many times the kept records */
#define HISTORY_BAD_KEEP 3u /* damaged files kept aside, the newest */

struct rec_hdr {
        uint32_t magic, len, kind, crc;
        uint64_t seq;
};
_Static_assert(sizeof(struct rec_hdr) == REC_HDR_SIZE, "record header layout");

struct entry {
        uint64_t seq;
        uint32_t len, crc; /* crc: its record's, so compaction copies without computing */
        char *json;
};

/* The last limit entries of one kind, oldest at head. */
struct kind_ring {
        struct entry *e;
        unsigned cap, head, n;
};

static struct {
        pthread_mutex_t lock;
        struct kind_ring ring[HISTORY_KINDS];
        int fd;                /* -1: memory only */
        int lock_fd;           /* DIR/history.lock, flock()ed while open */
        char path[4096];       /* DIR/history.log */
        uint64_t size;         /* bytes of the file */
        uint64_t file_records; /* records in the file */
        uint64_t seq;          /* last sequence number given */
        uint64_t appended, write_errors;
        bool failing; /* in a streak of write errors (logged once) */
        /* the compaction thread */
        pthread_cond_t cond; /* wakes it; tells history_flush() it is done */
        pthread_t thread;
        bool thread_started, stop;
        bool compact_wanted, compacting, compact_failing;
        uint64_t compactions, retry_at;
} hs = {
        .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = -1, .lock_fd = -1
};

/* ---- CRC-32C (Castagnoli), table-driven ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
        for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++)
                        c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
                crc_table[i] = c;
        }
}

static uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
        pthread_once(&crc_once, crc_init);
        const uint8_t *p = buf;
        crc = ~crc;
        while (len--)
                crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
        return ~crc;
}

static uint32_t rec_crc(const struct rec_hdr *h, const char *payload)
{
        struct rec_hdr z = *h;
        z.crc = 0;
        return crc32c(crc32c(0, &z, sizeof(z)), payload, h->len);
}

static void header_bytes(uint8_t out[HDR_SIZE])
{
        uint32_t v = HDR_VERSION;
        memcpy(out, HDR_MAGIC, 8);
        memcpy(out + 8, &v, 4);
        uint32_t c = crc32c(0, out, 12);
        memcpy(out + 12, &c, 4);
}

const char *history_kind_name(enum history_kind kind)
{
        static const char *const names[HISTORY_KINDS] = { "alarm", "event", "log" };
        return (unsigned)kind < HISTORY_KINDS ? names[kind] : "?";
}

/* ---- the in-memory rings ---- */

static struct entry *ring_at(struct kind_ring *r, unsigned i)
{
        return &r->e[(r->head + i) % r->cap];
}

/* Keep json (taken over) as the newest entry of r, forgetting the oldest beyond cap. */
static void ring_push(struct kind_ring *r, uint64_t seq, char *json, uint32_t len, uint32_t crc)
{
        struct entry *e;
        if (r->n == r->cap) {
                e = ring_at(r, 0);
                free(e->json);
                r->head = (r->head + 1) % r->cap;
        } else
                e = ring_at(r, r->n++);
        *e = (struct entry){ .seq = seq, .len = len, .crc = crc, .json = json };
}

static void rings_free(void)
{
        for (unsigned k = 0; k < HISTORY_KINDS; k++) {
                struct kind_ring *r = &hs.ring[k];
                for (unsigned i = 0; r->e && i < r->n; i++)
                        free(ring_at(r, i)->json);
                free(r->e);
                hs.ring[k] = (struct kind_ring){ 0 };
        }
}

static uint64_t kept_total(void)
{
        uint64_t n = 0;
        for (unsigned k = 0; k < HISTORY_KINDS; k++)
                n += hs.ring[k].cap;
        return n;
}

/* ---- reading a file: one scanner for open and check ---- */

typedef void (*scan_fn)(const struct rec_hdr *h, const char *payload);

/* Walk the records of an open store file from its start; fn (optional) gets each valid
 * one. Returns 0 clean, 1 torn tail, 2 damaged, or -errno. */
static int scan(int fd, scan_fn fn, struct history_check_result *res)
{
        *res = (struct history_check_result){ 0 };
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        uint64_t size = (uint64_t)st.st_size;
        if (size == 0)
                return 0; /* a store created but never written: no header yet */
        uint8_t hdr[HDR_SIZE], want[HDR_SIZE];
        header_bytes(want);
        if (size < HDR_SIZE || pread(fd, hdr, HDR_SIZE, 0) != (ssize_t)HDR_SIZE ||
            memcmp(hdr, want, HDR_SIZE) != 0) {
                res->bad_header = true;
                res->bad_bytes = size;
                return 2;
        }
        _cleanup_free_ char *buf = malloc(HISTORY_ENTRY_MAX);
        if (!buf)
                return -ENOMEM;
        uint64_t off = HDR_SIZE, prev = 0;
        int verdict = 0;
        while (off < size) {
                struct rec_hdr h;
                uint64_t left = size - off;
                bool whole = left >= REC_HDR_SIZE &&
                             pread(fd, &h, REC_HDR_SIZE, (off_t)off) == (ssize_t)REC_HDR_SIZE;
                bool sane = whole && h.magic == REC_MAGIC && h.kind < HISTORY_KINDS && h.len > 0 &&
                            h.len <= HISTORY_ENTRY_MAX;
                if (sane && REC_HDR_SIZE + (uint64_t)h.len > left) {
                        verdict = 1; /* cut short by the end of the file */
                        break;
                }
                if (sane && pread(fd, buf, h.len, (off_t)(off + REC_HDR_SIZE)) != (ssize_t)h.len)
                        return -EIO;
                if (sane && rec_crc(&h, buf) == h.crc && h.seq > prev) {
                        if (fn)
                                fn(&h, buf);
                        res->records[h.kind]++;
                        if (!res->first_seq)
                                res->first_seq = h.seq;
                        res->last_seq = prev = h.seq;
                        off += REC_HDR_SIZE + h.len;
                        continue;
                }
                /* Not a valid record here. The last record failing its CRC, a header cut
                 * short, or zeros where a power loss left the file longer than its data:
                 * a torn tail. Anything else is damage. */
                if (!whole || (sane && REC_HDR_SIZE + (uint64_t)h.len == left))
                        verdict = 1;
                else {
                        verdict = 1;
                        uint8_t z[4096];
                        for (uint64_t o = off; o < size && verdict == 1; o += sizeof(z)) {
                                size_t n = (size_t)MIN((uint64_t)sizeof(z), size - o);
                                if (pread(fd, z, n, (off_t)o) != (ssize_t)n)
                                        return -EIO;
                                for (size_t i = 0; i < n; i++)
                                        if (z[i]) {
                                                verdict = 2;
                                                break;
                                        }
                        }
                }
                break;
        }
        res->good_bytes = off;
        res->bad_bytes = size - off;
        res->torn_tail = verdict == 1;
        return verdict;
}

int history_check(const char *path, struct history_check_result *res)
{
        struct history_check_result dummy;
        if (!res)
                res = &dummy;
        *res = (struct history_check_result){ 0 };
        if (!path)
                return -EINVAL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return scan(fd, NULL, res);
}

/* ---- writing ---- */

static int write_all(int fd, const struct iovec *iov, int n)
{
        size_t want = 0;
        for (int i = 0; i < n; i++)
                want += iov[i].iov_len;
        ssize_t k;
        do
                k = writev(fd, iov, n);
        while (k < 0 && errno == EINTR);
        if (k < 0)
                return -errno;
        return (size_t)k == want ? 0 : -EIO; /* a short write: disk full */
}

static int fsync_dir(const char *path)
{
        char dir[sizeof(hs.path)];
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return 0;
        *slash = 0;
        _cleanup_close_ int fd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

/* The kept entries with seq > after, oldest first over all kinds, as file bytes (after
 * the header when header is set). Lock held. Malloc'ed; NULL on ENOMEM. */
static uint8_t *image(uint64_t after, bool header, size_t *ret_len, uint64_t *ret_records)
{
        size_t len = header ? HDR_SIZE : 0;
        for (unsigned k = 0; k < HISTORY_KINDS; k++)
                for (unsigned i = 0; i < hs.ring[k].n; i++)
                        if (ring_at(&hs.ring[k], i)->seq > after)
                                len += REC_HDR_SIZE + ring_at(&hs.ring[k], i)->len;
        uint8_t *buf = malloc(MAX(len, (size_t)1)), *p = buf;
        if (!buf)
                return NULL;
        if (header) {
                header_bytes(p);
                p += HDR_SIZE;
        }
        uint64_t records = 0;
        unsigned pos[HISTORY_KINDS] = { 0 };
        for (;;) {
                /* Merge the three rings by seq. */
                struct entry *next = NULL;
                unsigned nk = 0;
                for (unsigned k = 0; k < HISTORY_KINDS; k++) {
                        struct kind_ring *rg = &hs.ring[k];
                        while (pos[k] < rg->n && ring_at(rg, pos[k])->seq <= after)
                                pos[k]++;
                        if (pos[k] < rg->n && (!next || ring_at(rg, pos[k])->seq < next->seq)) {
                                next = ring_at(rg, pos[k]);
                                nk = k;
                        }
                }
                if (!next)
                        break;
                pos[nk]++;
                const struct rec_hdr h = { .magic = REC_MAGIC,
                                           .len = next->len,
                                           .kind = nk,
                                           .crc = next->crc,
                                           .seq = next->seq };
                memcpy(p, &h, REC_HDR_SIZE);
                memcpy(p + REC_HDR_SIZE, next->json, next->len);
                p += REC_HDR_SIZE + next->len;
                records++;
        }
        *ret_len = len;
        *ret_records = records;
        return buf;
}

static void tmp_path(char *tmp, size_t size)
{
        snprintf(tmp, size, "%s.tmp", hs.path);
}

/* Write the image of the kept entries to PATH.tmp and sync it (no lock needed for the
 * write itself). Returns the open fd or -errno. */
static int write_tmp(const uint8_t *buf, size_t len)
{
        char tmp[sizeof(hs.path) + 8];
        tmp_path(tmp, sizeof(tmp));
        _cleanup_close_ int fd =
            open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        int r = write_all(fd, &(struct iovec){ .iov_base = (void *)buf, .iov_len = len }, 1);
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        return TAKE_FD(fd);
}

/* A PATH.tmp that will not be used. */
static void drop_tmp(int fd)
{
        char tmp[sizeof(hs.path) + 8];
        tmp_path(tmp, sizeof(tmp));
        (void)unlink(tmp);
        close(fd);
}

/* Put PATH.tmp (fd, size bytes, records) in the place of the file (on failure the caller
 * drops it). Lock held. *ret_old
 * gets the replaced file's descriptor, for the caller to close after the lock: the last
 * close of a replaced file frees its blocks, which takes a while. */
static int install_tmp(int fd, uint64_t size, uint64_t records, int *ret_old)
{
        char tmp[sizeof(hs.path) + 8];
        tmp_path(tmp, sizeof(tmp));
        if (rename(tmp, hs.path) < 0)
                return -errno;
        *ret_old = hs.fd;
        hs.fd = fd;
        hs.size = size;
        hs.file_records = records;
        return 0;
}

/* Rewrite the file with the kept entries at once (open, salvage). Lock held. 0 or -errno;
 * on failure the old file stays as it was. */
static int compact_now(void)
{
        size_t len;
        uint64_t records;
        _cleanup_free_ uint8_t *buf = image(0, true, &len, &records);
        if (!buf)
                return -ENOMEM;
        int fd = write_tmp(buf, len);
        if (fd < 0)
                return fd;
        int old = -1;
        int r = install_tmp(fd, len, records, &old);
        if (r < 0)
                drop_tmp(fd);
        if (old >= 0)
                close(old);
        if (r == 0)
                (void)fsync_dir(hs.path);
        return r;
}

/*
 * The compaction thread: the hub's threads only append, and when the file holds
 * COMPACT_RATIO times the kept records they wake this one. It takes an image of the kept
 * entries under the lock, writes and syncs it without the lock (appends go on into the
 * old file meanwhile), then under the lock adds what was appended since and renames it
 * over the file. Sleeps without a timeout between compactions.
 */
static void *compactor(void *arg)
{
        pthread_mutex_lock(&hs.lock);
        for (;;) {
                while (!hs.stop && !hs.compact_wanted)
                        pthread_cond_wait(&hs.cond, &hs.lock);
                if (hs.stop)
                        break;
                hs.compact_wanted = false;
                size_t len, tail_len;
                uint64_t records, tail_records, upto = hs.seq;
                _cleanup_free_ uint8_t *buf = image(0, true, &len, &records);
                pthread_mutex_unlock(&hs.lock);
                int fd = buf ? write_tmp(buf, len) : -ENOMEM;
                pthread_mutex_lock(&hs.lock);
                int r = fd, old = -1;
                if (fd >= 0 && (hs.stop || hs.fd < 0))
                        r = -ECANCELED;
                else if (fd >= 0) {
                        _cleanup_free_ uint8_t *tail = image(upto, false, &tail_len, &tail_records);
                        r = !tail
                                ? -ENOMEM
                                : write_all(
                                      fd, &(struct iovec){ .iov_base = tail, .iov_len = tail_len },
                                      1);
                        if (r == 0)
                                r = install_tmp(fd, len + tail_len, records + tail_records, &old);
                }
                if (fd >= 0 && r < 0)
                        drop_tmp(fd);
                hs.compactions++;
                if (r < 0 && r != -ECANCELED && !hs.compact_failing)
                        log_warning_errno(r,
                                          "history: compacting %s failed, trying again at "
                                          "the next append: %m",
                                          hs.path);
                hs.compact_failing = r < 0;
                /* After a failure, the next try waits for as many appends as are kept. */
                hs.retry_at = r < 0 ? hs.file_records + kept_total() : 0;
                hs.compacting = false;
                pthread_cond_broadcast(&hs.cond);
                if (r == 0) {
                        pthread_mutex_unlock(&hs.lock);
                        if (old >= 0)
                                close(old);
                        (void)fsync_dir(hs.path);
                        pthread_mutex_lock(&hs.lock);
                }
        }
        pthread_mutex_unlock(&hs.lock);
        return NULL;
}

/* ---- open and close ---- */

static void load_one(const struct rec_hdr *h, const char *payload)
{
        char *copy = malloc((size_t)h->len + 1);
        if (!copy)
                return; /* the entry stays in the file; memory holds less */
        memcpy(copy, payload, h->len);
        copy[h->len] = 0;
        ring_push(&hs.ring[h->kind], h->seq, copy, h->len, h->crc);
}

static int mkdir_p(const char *dir)
{
        char p[sizeof(hs.path)];
        if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        for (char *s = p + 1;; s++) {
                if (*s != '/' && *s)
                        continue;
                char c = *s;
                *s = 0;
                if (mkdir(p, 0700) < 0 && errno != EEXIST)
                        return -errno;
                *s = c;
                if (!c)
                        return 0;
        }
}

static int aside_cmp(const void *a, const void *b)
{
        return strcmp(a, b);
}

/* Keep the newest HISTORY_BAD_KEEP damaged files moved aside (their names sort by the
 * time they were moved), so that a store damaged at every start cannot fill the disk. */
static void prune_aside(void)
{
        char dir[sizeof(hs.path)];
        snprintf(dir, sizeof(dir), "%s", hs.path);
        char *slash = strrchr(dir, '/');
        if (!slash)
                return;
        *slash = 0;
        _cleanup_(closedirp_) DIR *d = opendir(dir);
        if (!d)
                return;
        static const char prefix[] = HISTORY_FILE ".bad-";
        char found[32][64];
        unsigned n = 0;
        struct dirent *de;
        while ((de = readdir(d)) && n < ELEMENTSOF(found))
                if (strncmp(de->d_name, prefix, sizeof(prefix) - 1) == 0 &&
                    strlen(de->d_name) < sizeof(found[0]))
                        strcpy(found[n++], de->d_name);
        if (n <= HISTORY_BAD_KEEP)
                return;
        qsort(found, n, sizeof(found[0]), aside_cmp);
        for (unsigned i = 0; i < n - HISTORY_BAD_KEEP; i++)
                (void)unlinkat(dirfd(d), found[i], 0);
}

/* Move a damaged file aside as PATH.bad-UNIXTIME (never over an older one); bad gets the
 * new name, or "" when it could not be moved (it is then overwritten). */
static void move_aside(char *bad, size_t size)
{
        time_t now = time(NULL);
        for (unsigned i = 0; i < 100; i++) {
                snprintf(bad, size, i ? "%s.bad-%lld.%u" : "%s.bad-%lld", hs.path, (long long)now,
                         i);
                if (access(bad, F_OK) < 0 && errno == ENOENT)
                        break;
        }
        if (rename(hs.path, bad) < 0)
                bad[0] = 0;
        else
                prune_aside();
}

/* One hub per directory: a second one (another ring, same state_dir) would interleave
 * its records. The lock is a file of its own, since compaction replaces history.log. */
static int take_lock(const char *dir)
{
        char p[sizeof(hs.path)];
        if (snprintf(p, sizeof(p), "%s/history.lock", dir) >= (int)sizeof(p))
                return -ENAMETOOLONG;
        _cleanup_close_ int fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? -EBUSY : -errno;
        hs.lock_fd = TAKE_FD(fd);
        return 0;
}

/* Load the file (lock held): repair a torn tail, move a damaged file aside. */
static int load(void)
{
        _cleanup_close_ int fd = open(hs.path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        struct history_check_result res;
        int v = scan(fd, load_one, &res);
        if (v < 0)
                return v;
        hs.seq = res.last_seq;
        hs.file_records = res.records[0] + res.records[1] + res.records[2];
        hs.size = res.good_bytes;
        if (v == 2) {
                char bad[sizeof(hs.path) + 40];
                move_aside(bad, sizeof(bad));
                if (res.bad_header)
                        log_warning("history: %s is not a history store (%" PRIu64
                                    " bytes); moved aside as %s, starting a fresh store",
                                    hs.path, res.bad_bytes, *bad ? bad : "(could not move it)");
                else
                        log_warning("history: %s is damaged at byte %" PRIu64 " (%" PRIu64
                                    " bytes of garbage); moved aside as %s, a fresh store keeps "
                                    "the %" PRIu64 " records before the damage",
                                    hs.path, res.good_bytes, res.bad_bytes,
                                    *bad ? bad : "(could not move it)", hs.file_records);
                return compact_now();
        }
        if (v == 1) {
                log_notice("history: dropped a torn tail of %" PRIu64 " bytes after record %" PRIu64
                           " of %s (a crash during a write)",
                           res.bad_bytes, res.last_seq, hs.path);
                if (ftruncate(fd, (off_t)res.good_bytes) < 0)
                        return -errno;
        }
        if (res.good_bytes == 0) {
                uint8_t hdr[HDR_SIZE];
                header_bytes(hdr);
                int r = write_all(fd, &(struct iovec){ .iov_base = hdr, .iov_len = HDR_SIZE }, 1);
                if (r < 0)
                        return r;
                hs.size = HDR_SIZE;
        }
        hs.fd = TAKE_FD(fd);
        if (hs.file_records >= COMPACT_RATIO * kept_total())
                return compact_now();
        return 0;
}

int history_open(const char *dir, const struct history_limits *lim)
{
        if (!lim)
                return -EINVAL;
        for (unsigned k = 0; k < HISTORY_KINDS; k++)
                if (lim->last[k] < 1 || lim->last[k] > HISTORY_LAST_MAX)
                        return -EINVAL;
        pthread_mutex_lock(&hs.lock);
        int r = 0;
        for (unsigned k = 0; k < HISTORY_KINDS && r == 0; k++) {
                hs.ring[k].cap = lim->last[k];
                hs.ring[k].e = calloc(lim->last[k], sizeof(struct entry));
                if (!hs.ring[k].e)
                        r = -ENOMEM;
        }
        if (r == 0 && dir && *dir) {
                r = mkdir_p(dir);
                if (r == 0 && snprintf(hs.path, sizeof(hs.path), "%s/%s", dir, HISTORY_FILE) >=
                                  (int)sizeof(hs.path))
                        r = -ENAMETOOLONG;
                if (r == 0)
                        r = take_lock(dir);
                if (r == 0)
                        r = load();
        }
        if (r == 0 && hs.fd >= 0) {
                int k = pthread_create(&hs.thread, NULL, compactor, NULL);
                if (k == 0)
                        hs.thread_started = true;
                else
                        r = -k;
        }
        pthread_mutex_unlock(&hs.lock);
        return r;
}

void history_flush(void)
{
        pthread_mutex_lock(&hs.lock);
        while (hs.compacting)
                pthread_cond_wait(&hs.cond, &hs.lock);
        pthread_mutex_unlock(&hs.lock);
}

void history_close(void)
{
        pthread_mutex_lock(&hs.lock);
        if (hs.thread_started) {
                hs.stop = true;
                pthread_cond_broadcast(&hs.cond);
                pthread_mutex_unlock(&hs.lock);
                pthread_join(hs.thread, NULL);
                pthread_mutex_lock(&hs.lock);
                hs.thread_started = hs.stop = false;
        }
        hs.compact_wanted = hs.compacting = hs.compact_failing = false;
        hs.compactions = hs.retry_at = 0;
        if (hs.fd >= 0) {
                (void)fdatasync(hs.fd);
                close(hs.fd);
        }
        hs.fd = -1;
        if (hs.lock_fd >= 0)
                close(hs.lock_fd);
        hs.lock_fd = -1;
        rings_free();
        hs.path[0] = 0;
        hs.size = hs.file_records = hs.seq = hs.appended = hs.write_errors = 0;
        hs.failing = false;
        pthread_mutex_unlock(&hs.lock);
}

/* ---- appending and reading ---- */

int history_append(enum history_kind kind, const char *json, size_t len, uint64_t *ret_seq)
{
        if ((unsigned)kind >= HISTORY_KINDS || !json || len == 0 || len > HISTORY_ENTRY_MAX)
                return -EINVAL;
        char *copy = malloc(len + 1);
        if (!copy)
                return -ENOMEM;
        memcpy(copy, json, len);
        copy[len] = 0;
        pthread_mutex_lock(&hs.lock);
        if (!hs.ring[kind].cap) {
                pthread_mutex_unlock(&hs.lock);
                free(copy);
                return -EINVAL; /* not open */
        }
        uint64_t seq = ++hs.seq;
        struct rec_hdr h = { .magic = REC_MAGIC, .len = (uint32_t)len, .kind = kind, .seq = seq };
        h.crc = rec_crc(&h, json);
        int r = 0;
        if (hs.fd >= 0) {
                struct iovec iov[2] = { { .iov_base = &h, .iov_len = REC_HDR_SIZE },
                                        { .iov_base = (void *)json, .iov_len = len } };
                r = write_all(hs.fd, iov, 2);
                if (r == 0) {
                        hs.size += REC_HDR_SIZE + len;
                        hs.file_records++;
                } else if (ftruncate(hs.fd, (off_t)hs.size) < 0) {
                        /* The file may now end in half a record; the next open drops it.
                         * Until then nothing more is written after it. */
                        close(hs.fd);
                        hs.fd = -1;
                }
        }
        ring_push(&hs.ring[kind], seq, copy, (uint32_t)len, h.crc);
        hs.appended++;
        if (r < 0) {
                hs.write_errors++;
                if (!hs.failing)
                        log_error_errno(r,
                                        "history: cannot write %s, keeping entries in memory "
                                        "only: %m",
                                        hs.path);
        } else if (hs.failing)
                log_notice("history: writing %s again", hs.path);
        hs.failing = r < 0;
        if (r == 0 && hs.fd >= 0 && hs.file_records >= COMPACT_RATIO * kept_total() &&
            hs.file_records >= hs.retry_at && !hs.compacting && hs.thread_started) {
                hs.compact_wanted = hs.compacting = true;
                pthread_cond_broadcast(&hs.cond);
        }
        pthread_mutex_unlock(&hs.lock);
        if (ret_seq)
                *ret_seq = seq;
        return r < 0 ? -EIO : 0;
}

unsigned history_last(enum history_kind kind, unsigned n, history_fn fn, void *userdata)
{
        if ((unsigned)kind >= HISTORY_KINDS || !fn)
                return 0;
        pthread_mutex_lock(&hs.lock);
        struct kind_ring *r = &hs.ring[kind];
        unsigned take = n == 0 || n > r->n ? r->n : n;
        for (unsigned i = r->n - take; i < r->n; i++) {
                struct entry *e = ring_at(r, i);
                fn(e->json, e->len, e->seq, userdata);
        }
        pthread_mutex_unlock(&hs.lock);
        return take;
}

char *history_last_array(enum history_kind kind, unsigned n, size_t *ret_len)
{
        if ((unsigned)kind >= HISTORY_KINDS)
                return NULL;
        pthread_mutex_lock(&hs.lock);
        struct kind_ring *r = &hs.ring[kind];
        unsigned take = n == 0 || n > r->n ? r->n : n;
        size_t len = 2;
        for (unsigned i = r->n - take; i < r->n; i++)
                len += ring_at(r, i)->len + 1;
        char *out = malloc(len + 1);
        if (out) {
                char *p = out;
                *p++ = '[';
                for (unsigned i = r->n - take; i < r->n; i++) {
                        struct entry *e = ring_at(r, i);
                        if (p > out + 1)
                                *p++ = ',';
                        memcpy(p, e->json, e->len);
                        p += e->len;
                }
                *p++ = ']';
                *p = 0;
                len = (size_t)(p - out);
        }
        pthread_mutex_unlock(&hs.lock);
        if (out && ret_len)
                *ret_len = len;
        return out;
}

void history_counts(uint64_t *appended, uint64_t *write_errors)
{
        pthread_mutex_lock(&hs.lock);
        *appended = hs.appended;
        *write_errors = hs.write_errors;
        pthread_mutex_unlock(&hs.lock);
}
