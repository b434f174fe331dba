/*
 * ring.h — the shared-memory ring: many collector producers, one hub consumer.
 *
 * One POSIX shm segment per ring name (/dev/shm/<name>) holding
 *   [ header page | producer registry | command mailboxes | capacity × slot ]
 * Every field's offset is fixed by static_assert; the header names its own sizes so a
 * reader can check the layout before trusting it (ABI version, header, slot, capacity).
 *
 * Memory-ordering contract (the only place acquire/release is used on slots):
 *
 *   slot.ctl = seq << 2 | state   (state EMPTY 0, WRITING 1, COMMITTED 2)
 *
 *   producer                                 consumer / reader
 *   s = fetch_add(head, n)        [relaxed]  h = load(head)  (cached)        [acquire]
 *   per record:                              w = load(ctl)                   [acquire]
 *     if ctl holds seq >= s: drop            if w == COMMITTED(cursor):
 *     store ctl = WRITING(s)      [relaxed]      copy header + payload         (plain)
 *     fence                       [release]      fence                       [acquire]
 *     write header+payload+sum      (plain)      w2 = load(ctl)              [relaxed]
 *     if ctl != WRITING(s): drop                 w2 != w → overwritten while copying
 *     store ctl = COMMITTED(s)    [release]      verify sum (binds cursor) on the copy
 *   after the last record:
 *   fence                         [seq_cst]  sleep: store sleeping = 1     [seq_cst]
 *   load doorbell.sleeping        [relaxed]         re-check ctl/head        [seq_cst]
 *                                                   FUTEX_WAIT(sleeping, 1)
 *
 * The release fence after the claim keeps the claim ahead of the payload stores, so a
 * reader that saw any byte of a newer write also sees the ctl change (a seqlock). The
 * commit store releases the payload to a reader whose ctl load is acquire. There is no
 * locked instruction per record: claim and commit are plain stores. A producer a whole
 * lap late can race a newer one on a slot; then ctl may move backwards or the newer
 * record may carry the late writer's bytes, but never passes as valid: the checksum,
 * computed in the writer's private memory, covers header, payload and the claimed
 * sequence, and the reader checks it against the sequence it expects. The cost of that
 * race (only when the ring is overrun) is a lost or abandoned record, counted.
 *
 * Producers never wait: a claim that finds the slot already holding a newer sequence,
 * or a commit whose slot was taken over, drops the record and counts it. A producer
 * killed mid-write leaves its slot WRITING (or untouched); the consumer skips that
 * sequence once it has waited `abandon_ns` (default 50 ms) and counts it abandoned;
 * the next producer to land on the slot takes it over. The consumer accounts for every
 * sequence exactly once: delivered, lost (overwritten before it was read), abandoned,
 * or corrupt.
 *
 * Wake-up: the consumer sets doorbell.sleeping = 1 [seq_cst], re-checks its slot, and
 * FUTEX_WAITs. A producer, after its last commit of a call, issues one full fence and
 * reads `sleeping`; only when it is 1 does one producer win the CAS 1 → 0 and call
 * FUTEX_WAKE. While the consumer is awake a producer makes no system call at all.
 * A lazy consumer (ring_wait_lazy(): nobody listens to what it reads) publishes its
 * cursor in consumer_seq and sets sleeping = RING_SLEEP_LAZY (2): a producer then wakes it
 * (CAS 2 → 0) only once its claim ends half a ring or more past that cursor, so records
 * wait without a system call and are not lost. A producer of an older build never wakes
 * a lazy consumer (its CAS expects 1), which then drains at its own timeout.
 */
#pragma once

#include <assert.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define RING_MAGIC              UINT64_C(0x31425548474e4952) /* "RINGHUB1" little-endian */
#define RING_ABI_VERSION        3u
#define RING_HEADER_SIZE        4096u
#define RING_SLOT_SIZE          512u
#define RING_SLOT_HDR_SIZE      48u
#define RING_PAYLOAD_MAX        (RING_SLOT_SIZE - RING_SLOT_HDR_SIZE)
#define RING_MAX_PRODUCERS      64u
#define RING_PRODUCER_SIZE      256u
#define RING_NAME_MAX           32u
#define RING_DEFAULT_CAPACITY   4096u
#define RING_MIN_CAPACITY       64u
#define RING_MAX_CAPACITY       (1u << 22)
#define RING_DEFAULT_ABANDON_NS (50ull * 1000 * 1000)
#define RING_MAILBOX_SLOTS      8u   /* commands in flight per producer */
#define RING_MAILBOX_SLOT_SIZE  512u /* 48-byte header + a command record */
#define RING_MAILBOX_HDR_SIZE   128u
#define RING_MAILBOX_SIZE       (RING_MAILBOX_HDR_SIZE + RING_MAILBOX_SLOTS * RING_MAILBOX_SLOT_SIZE)

enum ring_slot_state { RING_SLOT_EMPTY = 0, RING_SLOT_WRITING = 1, RING_SLOT_COMMITTED = 2 };
#define RING_CTL(seq, state) (((uint64_t)(seq) << 2) | (uint64_t)(state))
#define RING_CTL_SEQ(ctl)    ((ctl) >> 2)
#define RING_CTL_STATE(ctl)  ((unsigned)((ctl)&3u))

/* Slot flags */
#define RING_REC_EMPTY_LIST 0x1u /* placeholder: the list of this type is empty */

struct ring_slot {
        _Atomic uint64_t ctl; /* seq << 2 | state */
        uint64_t ts_ns;       /* CLOCK_REALTIME when written */
        uint32_t batch_id;    /* per producer; 0 = not part of a batch */
        uint32_t sum;         /* checksum of ts..payload[len] */
        uint16_t type;        /* enum record_type */
        uint16_t len;         /* payload bytes */
        uint16_t batch_idx;
        uint16_t batch_cnt;
        uint8_t producer; /* registry index */
        uint8_t version;  /* record type version */
        uint16_t flags;
        uint32_t producer_gen; /* registry generation of the writer */
        uint64_t reserved;     /* the writer's claimed sequence (checksummed) */
        uint8_t payload[RING_PAYLOAD_MAX];
};
static_assert(offsetof(struct ring_slot, payload) == RING_SLOT_HDR_SIZE, "slot header size");
static_assert(sizeof(struct ring_slot) == RING_SLOT_SIZE, "slot size");

enum ring_producer_state {
        RING_PRODUCER_FREE = 0,
        RING_PRODUCER_ACTIVE = 1,
        RING_PRODUCER_EXITED = 2
};

struct ring_producer {
        _Atomic uint32_t state; /* enum ring_producer_state */
        _Atomic uint32_t pid;
        char name[RING_NAME_MAX];
        _Atomic uint64_t start_ns;     /* realtime of registration */
        _Atomic uint64_t proc_start;   /* /proc/PID/stat starttime, to detect pid reuse */
        _Atomic uint64_t heartbeat_ns; /* realtime of the last heartbeat */
        _Atomic uint64_t written;      /* records committed */
        _Atomic uint64_t dropped;      /* records given up (lapped while writing) */
        _Atomic uint64_t batches;
        _Atomic uint32_t generation;  /* bumped on every registration (restarts) */
        _Atomic uint32_t interval_ms; /* collector's main interval, for liveness */
        _Atomic uint32_t exit_code;
        uint32_t pad0;
        uint8_t reserved[152];
};
static_assert(sizeof(struct ring_producer) == RING_PRODUCER_SIZE, "producer entry size");

/*
 * A producer's command mailbox (hub or ringhubctl → collector): see mailbox.h for the
 * protocol and its ordering contract. One per registry entry, at mailboxes_offset.
 */
enum ring_mailbox_state {
        RING_MB_FREE = 0,    /* a poster may claim it */
        RING_MB_CLAIMED = 1, /* a poster is writing it (claim_ns says since when) */
        RING_MB_POSTED = 2,  /* complete: the collector may take it */
        RING_MB_TAKEN = 3,   /* the collector is copying it out */
};

struct ring_mailbox_slot {
        _Atomic uint32_t state; /* enum ring_mailbox_state */
        uint16_t type;          /* RT_command */
        uint8_t version;
        uint8_t pad0;
        uint32_t len;              /* payload bytes */
        uint32_t sum;              /* checksum of type, version, len, ticket, payload */
        _Atomic uint64_t ticket;   /* posting order (mailbox next_ticket) */
        _Atomic uint64_t claim_ns; /* realtime of the claim: a dead poster's claim expires */
        uint32_t poster_pid;
        uint32_t pad1;
        uint64_t reserved;
        uint8_t payload[RING_MAILBOX_SLOT_SIZE - 48];
};
static_assert(offsetof(struct ring_mailbox_slot, payload) == 48, "mailbox slot header");
static_assert(sizeof(struct ring_mailbox_slot) == RING_MAILBOX_SLOT_SIZE, "mailbox slot size");

struct ring_mailbox {
        _Atomic uint32_t doorbell; /* futex word: +1 after every post (and to stop a waiter) */
        uint32_t pad0;
        _Atomic uint64_t next_id;     /* request ids: fetch_add by posters */
        _Atomic uint64_t next_ticket; /* posting order */
        /* counters (monotonic; posters and the collector add to them) */
        _Atomic uint64_t posted;    /* commands posted */
        _Atomic uint64_t busy;      /* posts refused: every slot in use */
        _Atomic uint64_t taken;     /* taken by the collector */
        _Atomic uint64_t answered;  /* results written by the collector */
        _Atomic uint64_t rejected;  /* garbage entries refused by the collector */
        _Atomic uint64_t timed_out; /* posters that gave up waiting, or taken past deadline */
        _Atomic uint64_t expired;   /* claims of dead posters reclaimed */
        uint8_t pad1[RING_MAILBOX_HDR_SIZE - 80];
        struct ring_mailbox_slot slot[RING_MAILBOX_SLOTS];
};
static_assert(offsetof(struct ring_mailbox, slot) == RING_MAILBOX_HDR_SIZE, "mailbox header");
static_assert(sizeof(struct ring_mailbox) == RING_MAILBOX_SIZE, "mailbox size");

struct ring_header {
        /* Line 0: constant once magic is set. */
        _Atomic uint64_t magic;
        uint32_t abi_version;
        uint32_t header_size;
        uint32_t slot_size;
        uint32_t slot_header_size;
        uint32_t capacity; /* power of two */
        uint32_t max_producers;
        uint64_t producers_offset;
        uint64_t slots_offset;
        uint64_t total_size;
        uint64_t created_ns;
        /* Line 1: producers' claim counter. */
        _Alignas(64) _Atomic uint64_t head;
        uint8_t pad1[56];
        /* Line 2: doorbell (futex word) and its counters. */
        _Alignas(64) _Atomic uint32_t sleeping;
        uint32_t pad2;
        _Atomic uint64_t wakes; /* FUTEX_WAKE calls made by producers */
        uint8_t pad3[48];
        /* Line 3: published by the consumer (hub) for readers like ringhubctl. */
        _Alignas(64) _Atomic uint64_t consumer_seq;
        _Atomic uint64_t consumer_lost;
        _Atomic uint64_t consumer_abandoned;
        _Atomic uint64_t consumer_corrupt;
        _Atomic uint64_t consumer_invalid;
        _Atomic uint64_t hub_heartbeat_ns;
        _Atomic uint32_t hub_pid;
        _Atomic uint32_t hub_generation;
        _Atomic uint64_t consumer_repairs; /* impossible states the hub repaired (was padding) */
        /* Line 4: constant once magic is set (ABI 3). */
        _Alignas(64) uint64_t mailboxes_offset;
        uint32_t mailbox_size;
        uint32_t mailbox_slots;
        uint8_t pad5[48];
};
static_assert(offsetof(struct ring_header, head) == 64, "head line");
static_assert(offsetof(struct ring_header, sleeping) == 128, "doorbell line");
static_assert(offsetof(struct ring_header, consumer_seq) == 192, "consumer line");
static_assert(offsetof(struct ring_header, mailboxes_offset) == 256, "mailbox line");
static_assert(offsetof(struct ring_header, consumer_repairs) == 248,
              "repairs in the consumer line");
static_assert(sizeof(struct ring_header) <= RING_HEADER_SIZE, "header fits its page");

/*
 * Sequences fit 62 bits (ctl keeps two state bits): at a billion records a second that is
 * 146 years. A head past RING_SEQ_MAX, or one that jumps more than RING_SEQ_JUMP_MAX past
 * the consumer, can only be a corrupted counter.
 */
#define RING_SEQ_MAX      (UINT64_MAX >> 2)
#define RING_SEQ_JUMP_MAX (UINT64_C(1) << 40)

struct ring {
        int fd;
        bool writable;
        uint32_t capacity; /* private copy, taken at open: the shared one may be scribbled */
        size_t map_size;
        struct ring_header *hdr;
        struct ring_producer *producers;
        struct ring_mailbox *mailboxes;
        struct ring_slot *slots;
        uint64_t mask;
        char name[64];
        struct ring_header layout;   /* the constant lines as opened, to check and repair */
        _Atomic uint64_t claim_next; /* where this handle's last claim ended (a hint) */
};

struct ring_open_opts {
        bool create;       /* create when missing (producers and the hub) */
        bool readonly;     /* map read-only (ringhubctl) */
        uint32_t capacity; /* for a new ring; 0 = default */
        mode_t mode;       /* for a new ring; 0 = 0660 */
        gid_t gid;         /* for a new ring; (gid_t)-1 = leave */
};

/* ABI mismatch details for a clear error: set when ring_open fails with -EPROTONOSUPPORT. */
struct ring_abi_info {
        uint32_t found_abi, found_slot_size, found_header_size;
};

/* Ring name from argument, $RINGHUB_RING or "ringhub". Validated: [A-Za-z0-9._-]{1,48}. */
const char *ring_default_name(const char *arg);
int ring_name_valid(const char *name);

int ring_open(const char *name, const struct ring_open_opts *opts, struct ring **ret,
              struct ring_abi_info *ret_abi);
void ring_close(struct ring *r);
int ring_unlink(const char *name);

/* The producer registry and the command mailboxes have their own API: registry.h and
 * mailbox.h. */

struct ring_write_meta {
        uint16_t type;
        uint8_t version;
        uint16_t flags;
        uint32_t batch_id;
        uint16_t batch_idx;
        uint16_t batch_cnt;
        uint64_t ts_ns; /* 0 = now */
};

/*
 * Write one record. Never blocks. Returns 0, -ENOBUFS when the record had to be
 * dropped (counted in the producer's `dropped`), -EUCLEAN when it was dropped because the
 * ring holds an impossible state (a corrupted head or slot; counted too, and the hub
 * repairs it), -EINVAL/-EMSGSIZE for bad arguments.
 */
int ring_write(struct ring *r, int producer, const struct ring_write_meta *m, const void *payload,
               size_t len);

/*
 * Write n records with one claim (m[i], payloads[i], lens[i]); one doorbell check at the
 * end. Returns 0, -ENOBUFS or -EUCLEAN when some were dropped (counted), or
 * -EINVAL/-EMSGSIZE/-E2BIG before anything is written.
 */
int ring_write_batch(struct ring *r, int producer, const struct ring_write_meta *m,
                     const void *const *payloads, const size_t *lens, size_t n);

/* ---- consumer and readers ---- */

struct ring_cursor {
        uint64_t seq;
        uint64_t lost;      /* overwritten before read */
        uint64_t abandoned; /* claimed but never committed within abandon_ns */
        uint64_t corrupt;   /* checksum mismatch */
        uint64_t stuck_since_ns;
        uint64_t stuck_head;    /* head when the current stall began */
        uint64_t abandon_below; /* claimed before an abandoned stall: no second wait */
        uint64_t abandon_ns;
        uint64_t head_seen; /* last head read (private cache, never shared) */
        unsigned damage;    /* RING_DAMAGE_*: impossible states seen, for ring_repair() */
};

#define RING_DAMAGE_HEAD 0x1u /* head behind the cursor, past RING_SEQ_MAX or jumped */
#define RING_DAMAGE_SLOT 0x2u /* a slot's ctl names a sequence never handed out */

/* A record copied out of the ring: safe to use after the slot is reused. */
struct ring_record {
        uint64_t seq;
        uint64_t ts_ns;
        uint32_t batch_id;
        uint16_t type;
        uint16_t len;
        uint16_t batch_idx;
        uint16_t batch_cnt;
        uint16_t flags;
        uint8_t producer;
        uint8_t version;
        uint32_t producer_gen;
        _Alignas(8) uint8_t payload[RING_PAYLOAD_MAX];
};

/* Start at the oldest record still held (for a restarted hub) or at the head. */
void ring_cursor_init(const struct ring *r, struct ring_cursor *c, bool from_oldest);

/*
 * Copy the next record. Returns 1 with *out filled, 0 when nothing is ready, or
 * -EINPROGRESS when the next sequence is claimed but not yet committed (call again after
 * a short wait; it is skipped as abandoned once it has been stuck for abandon_ns).
 * Read-only: never writes to the shared segment.
 */
int ring_read(const struct ring *r, struct ring_cursor *c, struct ring_record *out);

/*
 * Consumer only: sleep until a producer rings or timeout_ns passes. Returns 1 when
 * something is ready, 0 on timeout, -EINTR on a signal.
 */
int ring_wait(struct ring *r, const struct ring_cursor *c, uint64_t timeout_ns);
/*
 * Consumer only: sleep like ring_wait(), but producers wake it only once half the ring is
 * unread (see Wake-up above); ring_wake() and the timeout still do. The caller's own
 * waker bumps *word before ring_wake(): when *word != seen it returns at once (a wake-up
 * that came before the sleep is not lost). Returns 1 when a record is ready (or it did
 * not sleep), 0 otherwise, -EINTR on a signal.
 */
#define RING_SLEEP_LAZY 2u
int ring_wait_lazy(struct ring *r, const struct ring_cursor *c, uint64_t timeout_ns,
                   _Atomic uint32_t *word, uint32_t seen);
/* Wake a ring_wait()er or ring_wait_lazy()er from another thread of the consumer process. */
void ring_wake(struct ring *r);

/* The single consumer: claim the role (-EBUSY while another live hub holds it). */
int ring_consumer_attach(struct ring *r);
void ring_consumer_detach(struct ring *r);

/*
 * Consumer only: find and undo impossible states (something in the ring's group wrote the
 * segment): the constant header lines are restored from what was opened, a head behind
 * the cursor or past any plausible value is set back to the cursor, and slots whose ctl
 * names a sequence never handed out are emptied. Cheap when nothing is wrong (a few
 * loads); the slot sweep runs only after damage. Returns the number of repairs (each also
 * counted in the header's consumer_repairs) and clears c->damage.
 */
unsigned ring_repair(struct ring *r, struct ring_cursor *c);

/* Consumer only: publish progress for readers (ringhubctl stat). */
void ring_consumer_publish(struct ring *r, const struct ring_cursor *c, uint64_t invalid);

/* Records that are written but not yet consumed by c. */
uint64_t ring_lag(const struct ring *r, const struct ring_cursor *c);

uint32_t ring_checksum(const struct ring_slot *s, size_t len);
