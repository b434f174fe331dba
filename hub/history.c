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

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macros.h"

#define HDR_MAGIC     "RHHIST\0\0"
#define HDR_SIZE      16u
#define HDR_VERSION   1u
#define REC_MAGIC     0x31524852u /* "RHR1" */
#define REC_HDR_SIZE  24u
#define RECORD_MAX    (REC_HDR_SIZE + HISTORY_ENTRY_MAX)
#define COMPACT_RATIO 2u /* compact when the file holds this many times the kept records */

struct rec_hdr {
        uint32_t magic, len, kind, crc;
        uint64_t seq;
};
_Static_assert(sizeof(struct rec_hdr) == REC_HDR_SIZE, "record header layout");

struct entry {
        uint64_t seq;
        uint32_t len;
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
        char path[4096];       /* DIR/history.log */
        uint64_t size;         /* bytes of the file */
        uint64_t file_records; /* records in the file */
        uint64_t seq;          /* last sequence number given */
        uint64_t appended, write_errors;
        bool failing; /* in a streak of write errors (logged once) */
} hs = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

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
static void ring_push(struct kind_ring *r, uint64_t seq, char *json, uint32_t len)
{
        struct entry *e;
        if (r->n == r->cap) {
                e = ring_at(r, 0);
                free(e->json);
                r->head = (r->head + 1) % r->cap;
        } else
                e = ring_at(r, r->n++);
        *e = (struct entry){ .seq = seq, .len = len, .json = json };
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
                        uint8_t z[512];
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

/* Rewrite the file with the kept entries (oldest first over all kinds): tmp, sync,
 * rename. Lock held. 0 or -errno; on failure the old file stays as it was. */
static int compact(void)
{
        char tmp[sizeof(hs.path) + 8];
        snprintf(tmp, sizeof(tmp), "%s.tmp", hs.path);
        _cleanup_close_ int fd =
            open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        uint8_t hdr[HDR_SIZE];
        header_bytes(hdr);
        int r = write_all(fd, &(struct iovec){ .iov_base = hdr, .iov_len = HDR_SIZE }, 1);
        uint64_t size = HDR_SIZE, records = 0;
        unsigned pos[HISTORY_KINDS] = { 0 };
        while (r == 0) {
                /* Merge the three rings by seq. */
                struct entry *next = NULL;
                unsigned nk = 0;
                for (unsigned k = 0; k < HISTORY_KINDS; k++) {
                        struct kind_ring *rg = &hs.ring[k];
                        if (pos[k] < rg->n && (!next || ring_at(rg, pos[k])->seq < next->seq)) {
                                next = ring_at(rg, pos[k]);
                                nk = k;
                        }
                }
                if (!next)
                        break;
                pos[nk]++;
                struct rec_hdr h = {
                        .magic = REC_MAGIC, .len = next->len, .kind = nk, .seq = next->seq
                };
                h.crc = rec_crc(&h, next->json);
                struct iovec iov[2] = { { .iov_base = &h, .iov_len = REC_HDR_SIZE },
                                        { .iov_base = next->json, .iov_len = next->len } };
                r = write_all(fd, iov, 2);
                size += REC_HDR_SIZE + next->len;
                records++;
        }
        if (r == 0 && fdatasync(fd) < 0)
                r = -errno;
        if (r == 0 && rename(tmp, hs.path) < 0)
                r = -errno;
        if (r < 0) {
                (void)unlink(tmp);
                return r;
        }
        (void)fsync_dir(hs.path);
        if (hs.fd >= 0)
                close(hs.fd);
        hs.fd = TAKE_FD(fd);
        hs.size = size;
        hs.file_records = records;
        return 0;
}

/* ---- open and close ---- */

static void load_one(const struct rec_hdr *h, const char *payload)
{
        char *copy = malloc((size_t)h->len + 1);
        if (!copy)
                return; /* the entry stays in the file; memory holds less */
        memcpy(copy, payload, h->len);
        copy[h->len] = 0;
        ring_push(&hs.ring[h->kind], h->seq, copy, h->len);
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
                return compact();
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
                return compact();
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
                        r = load();
        }
        pthread_mutex_unlock(&hs.lock);
        return r;
}

void history_close(void)
{
        pthread_mutex_lock(&hs.lock);
        if (hs.fd >= 0) {
                (void)fdatasync(hs.fd);
                close(hs.fd);
        }
        hs.fd = -1;
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
        int r = 0;
        if (hs.fd >= 0) {
                struct rec_hdr h = {
                        .magic = REC_MAGIC, .len = (uint32_t)len, .kind = kind, .seq = seq
                };
                h.crc = rec_crc(&h, json);
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
        ring_push(&hs.ring[kind], seq, copy, (uint32_t)len);
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
        if (r == 0 && hs.fd >= 0 && hs.file_records >= COMPACT_RATIO * kept_total()) {
                int k = compact();
                if (k < 0 && hs.file_records == COMPACT_RATIO * kept_total())
                        log_warning_errno(k,
                                          "history: compacting %s failed, trying again at "
                                          "the next append: %m",
                                          hs.path);
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
