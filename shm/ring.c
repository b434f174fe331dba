/*
 * ring.c — the shared-memory ring (see ring.h for the layout and ordering contract).
 *
 * Linked by every process. Producers (collectors) call ring_write(); the single hub
 * calls ring_read()/ring_wait(); ringhubctl maps the segment read-only and keeps its own
 * cursor. Nothing here allocates on the write path or takes a lock: the only blocking
 * call is the consumer's FUTEX_WAIT.
 */
#include "ring.h"
#include "ring_clock.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "futex.h"
#include "macros.h"
#include "util.h"

static_assert(RING_HEADER_SIZE % 64 == 0, "header alignment");
static_assert(RING_PAYLOAD_MAX <= UINT16_MAX, "len fits u16");

#define RING_PRODUCERS_OFFSET RING_HEADER_SIZE
#define RING_MAILBOXES_OFFSET \
        ALIGN_TO((uint64_t)RING_PRODUCERS_OFFSET + RING_MAX_PRODUCERS * RING_PRODUCER_SIZE, 4096u)
#define RING_SLOTS_OFFSET \
        ALIGN_TO((uint64_t)RING_MAILBOXES_OFFSET + RING_MAX_PRODUCERS * RING_MAILBOX_SIZE, 4096u)

static size_t ring_total_size(uint32_t capacity)
{
        return (size_t)RING_SLOTS_OFFSET + (size_t)capacity * RING_SLOT_SIZE;
}

const char *ring_default_name(const char *arg)
{
        if (arg && *arg)
                return arg;
        const char *e = getenv("RINGHUB_RING");
        if (e && *e)
                return e;
        return "ringhub";
}

int ring_name_valid(const char *name)
{
        if (!name || !*name || strlen(name) > 48)
                return 0;
        for (const char *p = name; *p; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
                        return 0;
        return name[0] != '.';
}

/*
 * ---- checksum ----
 * Not a defence against an attacker (every producer may write any record anyway) but
 * against torn and mixed records: 16 bytes per 64×64→128-bit multiply, two independent
 * accumulators, every input word mixed with a different constant. Where the compiler
 * has no 128-bit integers (32-bit NAS CPUs) a multiply-rotate lane does the same job.
 */

static inline uint64_t rotl64(uint64_t x, int r)
{
        return (x << r) | (x >> (64 - r));
}

static inline uint64_t load64(const uint8_t *p)
{
        uint64_t v;
        memcpy(&v, p, 8);
        return v;
}

#define P1 UINT64_C(0x9E3779B185EBCA87)
#define P2 UINT64_C(0xC2B2AE3D27D4EB4F)
#define P3 UINT64_C(0x165667B19E3779F9)
#define P4 UINT64_C(0x27D4EB2F165667C5)

static inline uint64_t mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
        __uint128_t r = (__uint128_t)a * b;
        return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
        return rotl64(a * P1, 31) ^ (b * P2);
#endif
}

static uint64_t hash_bytes(const uint8_t *p, size_t n, uint64_t seed)
{
        /* Four independent accumulators over 64-byte steps: the multiplies overlap. */
        uint64_t a = seed ^ P1, b = seed + P2, c = seed ^ P3, d = seed + P4;
        size_t i = 0;
        for (; i + 64 <= n; i += 64) {
                a += mix(load64(p + i) ^ (P1 + i), load64(p + i + 8) ^ P2);
                b += mix(load64(p + i + 16) ^ (P3 + i), load64(p + i + 24) ^ P4);
                c += mix(load64(p + i + 32) ^ (P2 + i), load64(p + i + 40) ^ P1);
                d += mix(load64(p + i + 48) ^ (P4 + i), load64(p + i + 56) ^ P3);
        }
        for (; i + 16 <= n; i += 16)
                a = rotl64(a, 17) + mix(load64(p + i) ^ (P3 + i), load64(p + i + 8) ^ P1);
        if (i < n) {
                /* The last n − i (1…15) bytes, zero-extended to 16. */
                uint64_t t[2] = { 0, 0 };
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                if (n >= 16) {
                        /* From the record's last 16 bytes, shifted down: a variable-length
                         * memcpy here was a library call that cost as much as the hash. */
                        uint64_t lo = load64(p + n - 16), hi = load64(p + n - 8);
                        unsigned sh = 8u * (unsigned)(16 - (n - i)); /* 8…120 */
                        if (sh >= 64)
                                t[0] = hi >> (sh - 64);
                        else {
                                t[0] = (lo >> sh) | (hi << (64 - sh));
                                t[1] = hi >> sh;
                        }
                } else
#endif
                        memcpy(t, p + i, n - i);
                b = rotl64(b, 23) + mix(t[0] ^ P4, t[1] ^ (P2 + n));
        }
        uint64_t h = mix(a ^ rotl64(c, 32), b ^ rotl64(d, 32) ^ (P4 + n));
        return h ^ (h >> 29);
}

/*
 * Checksum of the header fields in h (ts..reserved, not ctl or sum) and payload p.
 * Inlined where the header was just built field by field: the fields are then combined
 * in registers, not re-read from memory with loads wider than the stores (a store-
 * forwarding stall that cost more than the hash itself).
 */
static inline __attribute__((always_inline)) uint32_t checksum_of(const struct ring_slot *h,
                                                                  const uint8_t *p, size_t len)
{
        /*
         * `reserved` holds the sequence the writer claimed, so a record written late by a
         * producer that was lapped (its stores landing on a slot now committed for a
         * newer sequence) fails the check instead of passing as the newer record.
         */
        uint64_t meta[4];
        memcpy(&meta[0], &h->ts_ns, 8);
        meta[1] = (uint64_t)h->batch_id | ((uint64_t)h->type << 32) | ((uint64_t)h->len << 48);
        meta[2] = (uint64_t)h->batch_idx | ((uint64_t)h->batch_cnt << 16) |
                  ((uint64_t)h->producer << 32) | ((uint64_t)h->version << 40) |
                  ((uint64_t)h->flags << 48);
        meta[3] = (uint64_t)h->producer_gen ^ rotl64(h->reserved, 32);
        uint64_t v = mix(meta[0] ^ P1, meta[1] ^ P2) ^ mix(meta[2] ^ P3, meta[3] ^ P4);
        v = hash_bytes(p, len, v);
        uint32_t sum = (uint32_t)(v ^ (v >> 32));
        return sum ? sum : 1; /* 0 never valid: a zeroed slot can't pass */
}

uint32_t ring_checksum(const struct ring_slot *s, size_t len)
{
        /* Covers ts..reserved (bytes 8..48 minus the sum itself) and the payload. */
        return checksum_of(s, s->payload, len);
}

/* How many records ahead a batch's writer fetches its slots. */
#define RING_PREFETCH_AHEAD 8u

/* Ask for a slot's header and the first `len` payload bytes ahead of use (rw 1: to write). */
static inline void prefetch_slot(const struct ring_slot *slot, size_t len, int rw)
{
        const char *p = (const char *)slot;
        for (size_t off = 0; off < RING_SLOT_HDR_SIZE + len; off += 64) {
                if (rw)
                        __builtin_prefetch(p + off, 1, 3);
                else
                        __builtin_prefetch(p + off, 0, 3);
        }
}

/* ---- open / create ---- */

static int ring_check_header(const struct ring_header *h, size_t file_size,
                             struct ring_abi_info *abi)
{
        if (abi)
                *abi = (struct ring_abi_info){ .found_abi = h->abi_version,
                                               .found_slot_size = h->slot_size,
                                               .found_header_size = h->header_size };
        if (h->abi_version != RING_ABI_VERSION || h->slot_size != RING_SLOT_SIZE ||
            h->header_size != RING_HEADER_SIZE || h->slot_header_size != RING_SLOT_HDR_SIZE ||
            h->max_producers != RING_MAX_PRODUCERS)
                return -EPROTONOSUPPORT;
        if (h->capacity < RING_MIN_CAPACITY || h->capacity > RING_MAX_CAPACITY ||
            (h->capacity & (h->capacity - 1)) || h->slots_offset != RING_SLOTS_OFFSET ||
            h->producers_offset != RING_PRODUCERS_OFFSET ||
            h->mailboxes_offset != RING_MAILBOXES_OFFSET || h->mailbox_size != RING_MAILBOX_SIZE ||
            h->mailbox_slots != RING_MAILBOX_SLOTS ||
            h->total_size != ring_total_size(h->capacity) || h->total_size > file_size)
                return -EBADMSG;
        return 0;
}

static void ring_init_header(struct ring_header *h, uint32_t capacity)
{
        /* The segment is fresh zeroes from ftruncate: slots EMPTY, registry FREE. */
        h->abi_version = RING_ABI_VERSION;
        h->header_size = RING_HEADER_SIZE;
        h->slot_size = RING_SLOT_SIZE;
        h->slot_header_size = RING_SLOT_HDR_SIZE;
        h->capacity = capacity;
        h->max_producers = RING_MAX_PRODUCERS;
        h->producers_offset = RING_PRODUCERS_OFFSET;
        h->slots_offset = RING_SLOTS_OFFSET;
        h->mailboxes_offset = RING_MAILBOXES_OFFSET;
        h->mailbox_size = RING_MAILBOX_SIZE;
        h->mailbox_slots = RING_MAILBOX_SLOTS;
        h->total_size = ring_total_size(capacity);
        h->created_ns = real_ns();
        atomic_store_explicit(&h->head, 0, memory_order_relaxed);
        /* Publishing the magic makes everything above visible to openers. */
        atomic_store_explicit(&h->magic, RING_MAGIC, memory_order_release);
}

int ring_open(const char *name, const struct ring_open_opts *opts, struct ring **ret,
              struct ring_abi_info *ret_abi)
{
        static const struct ring_open_opts defaults = { 0 };
        char path[80];
        int r;

        if (!ret)
                return -EINVAL;
        if (!opts)
                opts = &defaults;
        if (!ring_name_valid(name))
                return -EINVAL;
        if (opts->create && opts->readonly)
                return -EINVAL;
        uint32_t capacity = opts->capacity ? opts->capacity : RING_DEFAULT_CAPACITY;
        if (capacity < RING_MIN_CAPACITY || capacity > RING_MAX_CAPACITY ||
            (capacity & (capacity - 1)))
                return -EINVAL;
        snprintf(path, sizeof(path), "/%s", name);

        int oflags = (opts->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
        _cleanup_close_ int fd = -EBADF;
        mode_t mode = opts->mode ? opts->mode : 0660;
        if (opts->create) {
                fd = shm_open(path, oflags | O_CREAT, mode);
        } else
                fd = shm_open(path, oflags, 0);
        if (fd < 0)
                return -errno;

        /*
         * Whoever holds LOCK_EX initializes. A creator that dies mid-init drops the lock
         * and leaves no magic, so the next opener initializes instead: creation is
         * race-free without any "wait for the other one" timeouts.
         */
        if (flock(fd, opts->readonly ? LOCK_SH : LOCK_EX) < 0)
                return -errno;

        struct stat st;
        if (fstat(fd, &st) < 0) {
                r = -errno;
                goto unlock;
        }

        size_t size = (size_t)st.st_size;
        bool init = false;
        if (size < RING_HEADER_SIZE) {
                if (!opts->create) {
                        r = -ENODATA; /* exists but never initialized */
                        goto unlock;
                }
                size = ring_total_size(capacity);
                if (ftruncate(fd, (off_t)size) < 0) {
                        r = -errno;
                        goto unlock;
                }
                if (fchmod(fd, mode) < 0) {
                        r = -errno;
                        goto unlock;
                }
                if (opts->gid != (gid_t)-1 && opts->gid != 0 &&
                    fchown(fd, (uid_t)-1, opts->gid) < 0) {
                        r = -errno;
                        goto unlock;
                }
                init = true;
        }

        int prot = opts->readonly ? PROT_READ : PROT_READ | PROT_WRITE;
        void *map = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
                r = -errno;
                goto unlock;
        }
        struct ring_header *h = map;

        if (!init && atomic_load_explicit(&h->magic, memory_order_acquire) == 0) {
                /* A creator died before publishing the magic: finish its job. */
                if (!opts->create) {
                        munmap(map, size);
                        r = -ENODATA;
                        goto unlock;
                }
                if (size != ring_total_size(capacity)) {
                        /* Its size may differ from ours; re-size to what we'll write. */
                        munmap(map, size);
                        size = ring_total_size(capacity);
                        if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
                                r = -errno;
                                goto unlock;
                        }
                        map = mmap(NULL, size, prot, MAP_SHARED, fd, 0);
                        if (map == MAP_FAILED) {
                                r = -errno;
                                goto unlock;
                        }
                        h = map;
                }
                init = true;
        }
        if (init)
                ring_init_header(h, capacity);
        else if (atomic_load_explicit(&h->magic, memory_order_acquire) != RING_MAGIC) {
                munmap(map, size);
                r = -EBADMSG;
                goto unlock;
        }

        r = ring_check_header(h, size, ret_abi);
        if (r < 0) {
                munmap(map, size);
                goto unlock;
        }
        (void)flock(fd, LOCK_UN);

        struct ring *rg = calloc(1, sizeof(*rg));
        if (!rg) {
                munmap(map, size);
                return -ENOMEM;
        }
        rg->fd = TAKE_FD(fd);
        rg->writable = !opts->readonly;
        rg->map_size = size;
        rg->hdr = h;
        rg->producers = (struct ring_producer *)((uint8_t *)map + h->producers_offset);
        rg->mailboxes = (struct ring_mailbox *)((uint8_t *)map + h->mailboxes_offset);
        rg->slots = (struct ring_slot *)((uint8_t *)map + h->slots_offset);
        rg->capacity = h->capacity;
        rg->mask = h->capacity - 1;
        memcpy(&rg->layout, h, sizeof(rg->layout)); /* the constant lines (checked above) */
        strscpy(rg->name, sizeof(rg->name), name);
        *ret = rg;
        return 0;

unlock:
        (void)flock(fd, LOCK_UN);
        return r;
}

void ring_close(struct ring *r)
{
        if (!r)
                return;
        if (r->hdr)
                munmap(r->hdr, r->map_size);
        if (r->fd >= 0)
                close(r->fd);
        free(r);
}

int ring_unlink(const char *name)
{
        char path[80];
        if (!ring_name_valid(name))
                return -EINVAL;
        snprintf(path, sizeof(path), "/%s", name);
        return shm_unlink(path) < 0 ? -errno : 0;
}

/* ---- write ---- */

/*
 * Write one claimed sequence. Plain stores only: the claim and the commit are release
 * stores of ctl, made safe without a locked instruction by three facts. (1) A claim
 * never moves ctl backwards unless a producer a whole lap late races a newer one —
 * then at worst the newer record is lost, never delivered mixed: (2) the checksum
 * binds the claimed sequence, and (3) the reader re-checks ctl after copying. The
 * caller makes the doorbell check after its last commit.
 */
enum slot_write_result { SLOT_WRITTEN, SLOT_LAPPED, SLOT_IMPOSSIBLE };

/*
 * Can ctl word w, found on the slot of sequence s by a claim, exist in a sane ring? A
 * newer lap (seq > s) can; our own sequence already there means the head went back; a
 * sequence not yet handed out (committed at or past the head, or a lap past it) or the
 * undefined state 3 means someone wrote the slot.
 */
static bool ctl_impossible(const struct ring *r, uint64_t w, uint64_t s)
{
        if (RING_CTL_STATE(w) > RING_SLOT_COMMITTED)
                return true;
        if (RING_CTL_STATE(w) == RING_SLOT_EMPTY || RING_CTL_SEQ(w) < s)
                return false;
        if (RING_CTL_SEQ(w) == s)
                return true;
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        return RING_CTL_SEQ(w) >= head + r->capacity ||
               (RING_CTL_STATE(w) == RING_SLOT_COMMITTED && RING_CTL_SEQ(w) >= head);
}

/*
 * Write one claimed sequence. Plain stores only: the claim and the commit are release
 * stores of ctl, made safe without a locked instruction by three facts. (1) A claim
 * never moves ctl backwards unless a producer a whole lap late races a newer one —
 * then at worst the newer record is lost, never delivered mixed: (2) the checksum
 * binds the claimed sequence, and (3) the reader re-checks ctl after copying. The
 * caller makes the doorbell check after its last commit.
 */
static enum slot_write_result slot_write(struct ring *r, int producer, uint32_t gen, uint64_t s,
                                         const struct ring_write_meta *m, const void *payload,
                                         size_t len, uint64_t ts)
{
        struct ring_slot *slot = &r->slots[s & r->mask];
        uint64_t w = atomic_load_explicit(&slot->ctl, memory_order_acquire);
        if (RING_CTL_STATE(w) > RING_SLOT_COMMITTED ||
            (RING_CTL_STATE(w) != RING_SLOT_EMPTY && RING_CTL_SEQ(w) >= s))
                /* lapped before we even started, or the slot was scribbled on */
                return ctl_impossible(r, w, s) ? SLOT_IMPOSSIBLE : SLOT_LAPPED;
        atomic_store_explicit(&slot->ctl, RING_CTL(s, RING_SLOT_WRITING), memory_order_relaxed);
        atomic_thread_fence(memory_order_release); /* claim before payload (seqlock) */

        /*
         * The header is built and checksummed in private memory, never read back from
         * the slot: if this producer has been lapped, the slot may already hold another
         * writer's bytes, and a sum over those would bless a mixed record.
         */
        struct ring_slot hd;
        hd.ts_ns = m->ts_ns ? m->ts_ns : ts;
        hd.batch_id = m->batch_id;
        hd.type = m->type;
        hd.len = (uint16_t)len;
        hd.batch_idx = m->batch_idx;
        hd.batch_cnt = m->batch_cnt;
        hd.producer = (uint8_t)producer;
        hd.version = m->version;
        hd.flags = m->flags;
        hd.producer_gen = gen;
        hd.reserved = s; /* bound into the checksum */
        /* Stored field by field from registers: a block copy of hd would re-read it from
         * the stack with loads wider than the stores that built it, and that load waits
         * until the store buffer drains — behind the previous record's stores to slot
         * lines still missing in the cache (70 % of slot_write's samples). */
        slot->ts_ns = hd.ts_ns;
        slot->batch_id = hd.batch_id;
        slot->sum = checksum_of(&hd, payload, len);
        slot->type = hd.type;
        slot->len = hd.len;
        slot->batch_idx = hd.batch_idx;
        slot->batch_cnt = hd.batch_cnt;
        slot->producer = hd.producer;
        slot->version = hd.version;
        slot->flags = hd.flags;
        slot->producer_gen = hd.producer_gen;
        slot->reserved = hd.reserved;
        if (len)
                memcpy(slot->payload, payload, len);

        /* Commit only what is still ours: a newer claim wins, this record is dropped. */
        if (atomic_load_explicit(&slot->ctl, memory_order_relaxed) !=
            RING_CTL(s, RING_SLOT_WRITING))
                return SLOT_LAPPED;
        atomic_store_explicit(&slot->ctl, RING_CTL(s, RING_SLOT_COMMITTED), memory_order_release);
        return SLOT_WRITTEN;
}

/* After the last commit of a call (end: the sequence after it): wake the consumer only if
 * it said it sleeps, and a lazy one only once half the ring is unread. */
static void ring_doorbell(const struct ring *r, struct ring_header *h, uint64_t end)
{
        /* Dekker pairing with ring_wait(): our commits, a full fence, then `sleeping`. */
        atomic_thread_fence(memory_order_seq_cst);
        uint32_t sl = atomic_load_explicit(&h->sleeping, memory_order_relaxed);
        if (!sl)
                return;
        if (sl == RING_SLEEP_LAZY &&
            end - atomic_load_explicit(&h->consumer_seq, memory_order_relaxed) < r->capacity / 2)
                return;
        if (atomic_compare_exchange_strong_explicit(&h->sleeping, &sl, 0, memory_order_seq_cst,
                                                    memory_order_relaxed)) {
                atomic_fetch_add_explicit(&h->wakes, 1, memory_order_relaxed);
                ring_futex(&h->sleeping, FUTEX_WAKE, 1, NULL);
        }
}

static void producer_count(struct ring_producer *p, uint64_t written, uint64_t dropped)
{
        /* Only this process writes its counters: plain stores are enough. */
        if (written)
                atomic_store_explicit(
                    &p->written, atomic_load_explicit(&p->written, memory_order_relaxed) + written,
                    memory_order_relaxed);
        if (dropped)
                atomic_store_explicit(
                    &p->dropped, atomic_load_explicit(&p->dropped, memory_order_relaxed) + dropped,
                    memory_order_relaxed);
}

int ring_write_batch(struct ring *r, int producer, const struct ring_write_meta *m,
                     const void *const *payloads, const size_t *lens, size_t n)
{
        if (_unlikely_(!r || !r->writable || !m || !payloads || !lens))
                return -EINVAL;
        if (_unlikely_(producer < 0 || (unsigned)producer >= RING_MAX_PRODUCERS))
                return -EINVAL;
        if (n == 0)
                return 0;
        if (_unlikely_(n > r->capacity))
                return -E2BIG;
        for (size_t i = 0; i < n; i++)
                if (_unlikely_(lens[i] > RING_PAYLOAD_MAX || (!payloads[i] && lens[i])))
                        return lens[i] > RING_PAYLOAD_MAX ? -EMSGSIZE : -EINVAL;

        struct ring_header *h = r->hdr;
        struct ring_producer *p = &r->producers[producer];
        uint32_t gen = atomic_load_explicit(&p->generation, memory_order_relaxed);
        uint64_t ts = 0;
        for (size_t i = 0; i < n && !ts; i++)
                if (!m[i].ts_ns)
                        ts = ring_record_clock(); /* only when a record has no time of its own */
        /* One claim for the whole batch: the head's cache line moves once. */
        uint64_t s = atomic_fetch_add_explicit(&h->head, n, memory_order_relaxed);
        uint64_t ok = 0;
        bool impossible = s > RING_SEQ_MAX - n; /* a scribbled head: ctl can't hold it */
        /*
         * Slots are fetched for writing ahead of use: a ring larger than the cache misses
         * on every slot otherwise (one record ahead left the writer waiting for memory:
         * 48 → 38 ns a record in batches of 32). RING_PREFETCH_AHEAD records ahead
         * within the batch, and past its end only while this handle's claims follow on
         * one another (nobody else claimed in between): other producers write there.
         */
        bool alone = s == atomic_load_explicit(&r->claim_next, memory_order_relaxed);
        atomic_store_explicit(&r->claim_next, s + n, memory_order_relaxed);
        if (!alone)
                for (size_t j = 1; j < n && j < RING_PREFETCH_AHEAD; j++)
                        prefetch_slot(&r->slots[(s + j) & r->mask], lens[j], 1);
        for (size_t i = 0; i < n && s <= RING_SEQ_MAX - n; i++) {
                if (i + RING_PREFETCH_AHEAD < n)
                        prefetch_slot(&r->slots[(s + i + RING_PREFETCH_AHEAD) & r->mask],
                                      lens[i + RING_PREFETCH_AHEAD], 1);
                else if (alone)
                        prefetch_slot(&r->slots[(s + i + RING_PREFETCH_AHEAD) & r->mask], lens[i],
                                      1);
                else if (i + 1 == n)
                        prefetch_slot(&r->slots[(s + n) & r->mask], lens[i], 1);
                enum slot_write_result k =
                    slot_write(r, producer, gen, s + i, &m[i], payloads[i], lens[i], ts);
                ok += k == SLOT_WRITTEN;
                impossible |= k == SLOT_IMPOSSIBLE;
        }
        producer_count(p, ok, n - ok);
        ring_doorbell(r, h, s + n);
        return ok == n ? 0 : impossible ? -EUCLEAN : -ENOBUFS;
}

int ring_write(struct ring *r, int producer, const struct ring_write_meta *m, const void *payload,
               size_t len)
{
        return ring_write_batch(r, producer, m, &payload, &len, 1);
}

/* ---- read ---- */

void ring_cursor_init(const struct ring *r, struct ring_cursor *c, bool from_oldest)
{
        *c = (struct ring_cursor){ .abandon_ns = RING_DEFAULT_ABANDON_NS };
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        uint64_t cap = r->capacity;
        if (head > RING_SEQ_MAX)
                head = 0; /* scribbled: start anywhere sane, ring_repair() sets it back */
        if (from_oldest)
                c->seq = head > cap ? head - cap : 0;
        else
                c->seq = head;
}

/* Is the slot at the cursor committed, or lapped (so reading makes progress)? */
static bool ring_ready(const struct ring *r, const struct ring_cursor *c, memory_order mo)
{
        if (c->seq >= atomic_load_explicit(&r->hdr->head, mo))
                return false;
        uint64_t w = atomic_load_explicit(&r->slots[c->seq & r->mask].ctl, mo);
        if (RING_CTL_STATE(w) == RING_SLOT_EMPTY)
                return false;
        return RING_CTL_SEQ(w) > c->seq ||
               (RING_CTL_SEQ(w) == c->seq && RING_CTL_STATE(w) == RING_SLOT_COMMITTED);
}

/* Is w, found at the cursor's slot with head just loaded, a state no producer makes? */
static bool ctl_from_future(const struct ring *r, uint64_t w, uint64_t head)
{
        uint64_t ws = RING_CTL_SEQ(w);
        return RING_CTL_STATE(w) > RING_SLOT_COMMITTED || ws >= head + r->capacity ||
               (RING_CTL_STATE(w) == RING_SLOT_COMMITTED && ws >= head);
}

int ring_read(const struct ring *r, struct ring_cursor *c, struct ring_record *out)
{
        if (!r || !c || !out)
                return -EINVAL;
        const struct ring_header *h = r->hdr;
        uint64_t cap = r->capacity;

        for (;;) {
                /* The head's cache line is hot for producers: look at it only when the
                 * records known to be claimed are used up. */
                uint64_t head = c->head_seen;
                if (c->seq >= head) {
                        head = c->head_seen = atomic_load_explicit(&h->head, memory_order_acquire);
                        if (c->seq >= head) {
                                if (c->seq > head) /* the head went back: scribbled */
                                        c->damage |= RING_DAMAGE_HEAD;
                                c->stuck_since_ns = 0;
                                return 0;
                        }
                }
                if (head - c->seq > cap) {
                        if (head > RING_SEQ_MAX || head - c->seq > RING_SEQ_JUMP_MAX) {
                                /* Not a lap behind but a scribbled head: count nothing
                                 * lost, wait for ring_repair(). */
                                c->damage |= RING_DAMAGE_HEAD;
                                c->head_seen = c->seq;
                                c->stuck_since_ns = 0;
                                return 0;
                        }
                        /* Fell a lap behind: everything before head - cap is gone. */
                        uint64_t to = head - cap;
                        c->lost += to - c->seq;
                        c->seq = to;
                        c->stuck_since_ns = 0;
                        continue;
                }
                const struct ring_slot *slot = &r->slots[c->seq & r->mask];
                uint64_t w = atomic_load_explicit(&slot->ctl, memory_order_acquire);
                uint64_t ws = RING_CTL_SEQ(w);
                unsigned st = RING_CTL_STATE(w);

                if (st > RING_SLOT_COMMITTED || (st != RING_SLOT_EMPTY && ws > c->seq)) {
                        /* Slot reused by a newer lap: c->seq was overwritten. Look at the
                         * head again so a reader far behind jumps instead of stepping. */
                        c->head_seen = atomic_load_explicit(&h->head, memory_order_acquire);
                        if (ctl_from_future(r, w, c->head_seen)) {
                                /* Nobody handed that sequence out: the slot was scribbled
                                 * on, and producers drop what lands there until
                                 * ring_repair() empties it. */
                                c->damage |= RING_DAMAGE_SLOT;
                                c->corrupt++;
                        } else
                                c->lost++;
                        c->seq++;
                        c->stuck_since_ns = 0;
                        continue;
                }
                if (st == RING_SLOT_COMMITTED && ws == c->seq) {
                        /* Records known claimed are fetched ahead: RING_PREFETCH_AHEAD
                         * when there is a backlog, else the next one. */
                        if (c->seq + RING_PREFETCH_AHEAD < head)
                                prefetch_slot(&r->slots[(c->seq + RING_PREFETCH_AHEAD) & r->mask],
                                              slot->len, 0);
                        else if (c->seq + 1 < head)
                                prefetch_slot(&r->slots[(c->seq + 1) & r->mask], slot->len, 0);
                        uint16_t len = slot->len;
                        if (len > RING_PAYLOAD_MAX)
                                len = RING_PAYLOAD_MAX;
                        out->seq = c->seq;
                        out->ts_ns = slot->ts_ns;
                        out->batch_id = slot->batch_id;
                        out->type = slot->type;
                        out->len = len;
                        out->batch_idx = slot->batch_idx;
                        out->batch_cnt = slot->batch_cnt;
                        out->flags = slot->flags;
                        out->producer = slot->producer;
                        out->version = slot->version;
                        out->producer_gen = slot->producer_gen;
                        uint32_t sum = slot->sum;
                        /* The length's bound hidden from the compiler: knowing it, it
                         * inlines `rep movsq`, 3× slower than the library's copy for
                         * these lengths (13 vs 4 ns for 256 bytes). */
                        size_t n = len;
                        __asm__("" : "+r"(n));
                        memcpy(out->payload, slot->payload, n);
                        atomic_thread_fence(memory_order_acquire);
                        if (atomic_load_explicit(&slot->ctl, memory_order_relaxed) != w)
                                continue; /* overwritten while copying: re-examine */

                        c->seq++;
                        c->stuck_since_ns = 0;
                        /* Verify on our private copy: the slot may change under us. */
                        struct ring_slot tmp;
                        memcpy(&tmp.ts_ns, &out->ts_ns, 8);
                        tmp.batch_id = out->batch_id;
                        tmp.type = out->type;
                        tmp.len = out->len;
                        tmp.batch_idx = out->batch_idx;
                        tmp.batch_cnt = out->batch_cnt;
                        tmp.producer = out->producer;
                        tmp.version = out->version;
                        tmp.flags = out->flags;
                        tmp.producer_gen = out->producer_gen;
                        tmp.reserved = out->seq; /* the sequence we expect, not the slot's */
                        if (checksum_of(&tmp, out->payload, len) != sum) {
                                c->corrupt++;
                                continue;
                        }
                        return 1;
                }

                /* Claimed but not committed (or not even claimed yet): a writer is busy
                 * or died. Wait for it, but only up to abandon_ns. */
                c->head_seen = atomic_load_explicit(&h->head, memory_order_acquire);
                if (c->seq < c->abandon_below) {
                        /* Claimed before a stall that already lasted abandon_ns (a writer
                         * killed after claiming many): no second wait per record. */
                        c->abandoned++;
                        c->seq++;
                        continue;
                }
                uint64_t now = mono_ns();
                if (!c->stuck_since_ns) {
                        c->stuck_since_ns = now;
                        c->stuck_head = c->head_seen;
                        return -EINPROGRESS;
                }
                if (now - c->stuck_since_ns < c->abandon_ns)
                        return -EINPROGRESS;
                c->abandoned++;
                c->seq++;
                c->abandon_below = c->stuck_head;
                c->stuck_since_ns = 0;
        }
}

uint64_t ring_lag(const struct ring *r, const struct ring_cursor *c)
{
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        return head > c->seq ? head - c->seq : 0;
}

int ring_wait(struct ring *r, const struct ring_cursor *c, uint64_t timeout_ns)
{
        if (!r || !r->writable || !c)
                return -EINVAL;
        struct ring_header *h = r->hdr;

        if (ring_ready(r, c, memory_order_acquire))
                return 1;
        atomic_store_explicit(&h->sleeping, 1, memory_order_seq_cst);
        /* Dekker pairing with the producer's seq_cst commit + load of `sleeping`. */
        if (ring_ready(r, c, memory_order_seq_cst)) {
                atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
                return 1;
        }
        struct timespec ts = { .tv_sec = (time_t)(timeout_ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(timeout_ns % NSEC_PER_SEC) };
        int k = ring_futex(&h->sleeping, FUTEX_WAIT, 1, &ts);
        int e = errno;
        atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
        if (k < 0 && e == EINTR)
                return -EINTR;
        return ring_ready(r, c, memory_order_acquire) ? 1 : 0;
}

int ring_wait_lazy(struct ring *r, const struct ring_cursor *c, uint64_t timeout_ns,
                   _Atomic uint32_t *word, uint32_t seen)
{
        if (!r || !r->writable || !c || !word)
                return -EINVAL;
        struct ring_header *h = r->hdr;
        uint64_t half = r->capacity / 2;

        /* Producers compare their claims with this cursor. */
        atomic_store_explicit(&h->consumer_seq, c->seq, memory_order_relaxed);
        atomic_store_explicit(&h->sleeping, RING_SLEEP_LAZY, memory_order_seq_cst);
        /* Dekker pairing with the producer's fence + load of `sleeping`, and with the caller's
         * waker: its word, then ring_wake(). */
        if (atomic_load_explicit(&h->head, memory_order_seq_cst) - c->seq >= half ||
            atomic_load_explicit(word, memory_order_seq_cst) != seen) {
                atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
                return 1;
        }
        struct timespec ts = { .tv_sec = (time_t)(timeout_ns / NSEC_PER_SEC),
                               .tv_nsec = (long)(timeout_ns % NSEC_PER_SEC) };
        int k = ring_futex(&h->sleeping, FUTEX_WAIT, RING_SLEEP_LAZY, &ts);
        int e = errno;
        atomic_store_explicit(&h->sleeping, 0, memory_order_relaxed);
        if (k < 0 && e == EINTR)
                return -EINTR;
        return ring_ready(r, c, memory_order_acquire) ? 1 : 0;
}

void ring_wake(struct ring *r)
{
        if (!r || !r->writable)
                return;
        atomic_store_explicit(&r->hdr->sleeping, 0, memory_order_seq_cst);
        ring_futex(&r->hdr->sleeping, FUTEX_WAKE, INT_MAX, NULL);
}

void ring_consumer_publish(struct ring *r, const struct ring_cursor *c, uint64_t invalid)
{
        if (!r || !r->writable || !c)
                return;
        struct ring_header *h = r->hdr;
        atomic_store_explicit(&h->consumer_seq, c->seq, memory_order_relaxed);
        atomic_store_explicit(&h->consumer_lost, c->lost, memory_order_relaxed);
        atomic_store_explicit(&h->consumer_abandoned, c->abandoned, memory_order_relaxed);
        atomic_store_explicit(&h->consumer_corrupt, c->corrupt, memory_order_relaxed);
        atomic_store_explicit(&h->consumer_invalid, invalid, memory_order_relaxed);
        atomic_store_explicit(&h->hub_heartbeat_ns, real_ns(), memory_order_release);
}

int ring_consumer_attach(struct ring *r)
{
        if (!r || !r->writable)
                return -EINVAL;
        struct ring_header *h = r->hdr;
        pid_t old = (pid_t)atomic_load_explicit(&h->hub_pid, memory_order_relaxed);
        if (old > 0 && old != getpid() && !(kill(old, 0) < 0 && errno == ESRCH))
                return -EBUSY;
        atomic_store_explicit(&h->hub_pid, (uint32_t)getpid(), memory_order_relaxed);
        atomic_fetch_add_explicit(&h->hub_generation, 1, memory_order_relaxed);
        atomic_store_explicit(&h->hub_heartbeat_ns, real_ns(), memory_order_release);
        return 0;
}

void ring_consumer_detach(struct ring *r)
{
        if (!r || !r->writable)
                return;
        uint32_t me = (uint32_t)getpid();
        atomic_compare_exchange_strong(&r->hdr->hub_pid, &me, 0);
}

/* ---- repair (the consumer only) ---- */

/* Restore the constant header lines from the copy taken at open: 1 when one was wrong. */
static unsigned repair_layout(struct ring *r)
{
        struct ring_header *h = r->hdr;
        const struct ring_header *want = &r->layout;
        unsigned fixed = 0;
#define FIX(field)                      \
        if (h->field != want->field) {  \
                h->field = want->field; \
                fixed = 1;              \
        }
        FIX(abi_version)
        FIX(header_size)
        FIX(slot_size)
        FIX(slot_header_size)
        FIX(capacity)
        FIX(max_producers)
        FIX(producers_offset)
        FIX(slots_offset)
        FIX(total_size)
        FIX(created_ns)
        FIX(mailboxes_offset)
        FIX(mailbox_size)
        FIX(mailbox_slots)
#undef FIX
        uint64_t magic = atomic_load_explicit(&want->magic, memory_order_relaxed);
        if (atomic_load_explicit(&h->magic, memory_order_relaxed) != magic) {
                atomic_store_explicit(&h->magic, magic, memory_order_release);
                fixed = 1;
        }
        return fixed;
}

/* A head behind the cursor or past any plausible value goes back to the cursor. */
static unsigned repair_head(struct ring *r, const struct ring_cursor *c)
{
        uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
        for (;;) {
                if (head >= c->seq && head <= RING_SEQ_MAX && head - c->seq <= RING_SEQ_JUMP_MAX)
                        return 0;
                /* Producers may claim meanwhile: a failed CAS re-reads and re-judges. */
                if (atomic_compare_exchange_weak_explicit(
                        &r->hdr->head, &head, c->seq, memory_order_acq_rel, memory_order_acquire))
                        return 1;
        }
}

/* Empty every slot whose ctl names a sequence never handed out (or state 3). */
static unsigned repair_slots(struct ring *r)
{
        unsigned fixed = 0;
        for (uint64_t i = 0; i < r->capacity; i++) {
                _Atomic uint64_t *ctl = &r->slots[i].ctl;
                uint64_t w = atomic_load_explicit(ctl, memory_order_acquire);
                uint64_t head = atomic_load_explicit(&r->hdr->head, memory_order_acquire);
                if (!ctl_from_future(r, w, head))
                        continue;
                /* Only the value judged: a producer never writes over such a slot. */
                if (atomic_compare_exchange_strong_explicit(ctl, &w, RING_CTL(0, RING_SLOT_EMPTY),
                                                            memory_order_acq_rel,
                                                            memory_order_relaxed))
                        fixed = 1;
        }
        return fixed;
}

unsigned ring_repair(struct ring *r, struct ring_cursor *c)
{
        if (!r || !r->writable || !c)
                return 0;
        unsigned n = repair_layout(r);
        unsigned head = repair_head(r, c);
        n += head;
        if (head || (c->damage & RING_DAMAGE_SLOT))
                n += repair_slots(r);
        c->damage = 0;
        c->head_seen = c->seq; /* look at the head afresh */
        c->stuck_since_ns = 0;
        if (n)
                atomic_fetch_add_explicit(&r->hdr->consumer_repairs, n, memory_order_relaxed);
        return n;
}
